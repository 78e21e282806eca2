package node

// A forked device key. Two different entries accepted at one place of a
// device's chain mean its key signs in two places: a backup restored on
// two machines, or a data directory copied and run twice. Nothing stops
// the copy from writing as this device, so the key is compromised: once
// this node sees its own device forked it signs nothing more, and status,
// doctor and every write say what to do (revoke the device from another
// device of the organisation or by a steward; set up a new device).

import (
	"errors"
	"fmt"
)

// ErrForked matches (errors.Is) a write refused because this device's key
// is in use in two places.
var ErrForked = errors.New("this device's key is in use in two places")

// forkAdvice is what to do about this device's forked key, in words.
const forkAdvice = "anyone holding the copy can write as this device, so it writes nothing more: from another device of your organisation, or by asking a steward, revoke this device (`murmur device revoke`), then set this machine up as a new device (`murmur wipe`, then `murmur join` with a device invite)"

type forkedError struct{ msg string }

func (e forkedError) Error() string        { return e.msg }
func (e forkedError) Is(target error) bool { return target == ErrForked }

// forkedNotice is the refusal of a write from a device whose key signed
// two different entries at one place of its chain; nil otherwise. The
// caller holds n.mu.
func (n *Node) forkedNotice() error {
	if dv, ok := n.state.Device(n.device); ok && dv.Forked {
		return forkedError{"this device's key is in use in two places: two different entries were signed with it at one place of its chain (a backup restored on two machines, or a copied data directory?); " + forkAdvice}
	}
	return nil
}

// forkedOthers names, one line per organisation, other organisations'
// devices whose key is in use in two places. The caller holds n.mu.
func (n *Node) forkedOthers() []string {
	var out []string
	for _, o := range n.state.Members() {
		forked := false
		for _, dv := range o.Devices {
			forked = forked || (dv.Forked && dv.Key != n.device)
		}
		if !forked {
			continue
		}
		if o.ID == n.org {
			out = append(out, "another device of this organisation is in use in two places: revoke it (`murmur device revoke`) and set it up again as a new device")
			continue
		}
		name := o.Name
		if name == "" {
			name = o.ID.String()[:12]
		}
		out = append(out, fmt.Sprintf("a device of %s is in use in two places: ask them to revoke it", name))
	}
	return out
}
