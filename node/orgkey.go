package node

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/murmurnet/murmur/crdt"
)

// Organisation keys (see seal.go). A device holds its organisation's keys
// only as the org-key entries wrap them for it; nothing else is stored.

func orgKeyAD(network crdt.ID, org crdt.OrgID, public [32]byte, device crdt.DeviceKey) []byte {
	b := []byte("murmur-orgkey-v1\n")
	b = append(b, network[:]...)
	b = append(b, org[:]...)
	b = append(b, public[:]...)
	return append(b, device[:]...)
}

// keyring returns the private keys of this organisation that its org-key
// entries hand to this device, by public key, and the current public key
// (zero if the organisation has published none). The node must be
// unlocked; the caller holds n.mu.
func (n *Node) keyring() (map[[32]byte][]byte, [32]byte) {
	keys := map[[32]byte][]byte{}
	var current [32]byte
	if n.key == nil {
		return keys, current
	}
	mine := devicePrivateX25519(n.key)
	for _, e := range n.state.OrgKeys(n.org) {
		ok, err := crdt.ParseOrgKey(e)
		if err != nil {
			continue
		}
		current = ok.Public
		for _, w := range ok.Wraps {
			if crdt.DeviceKey(w[:32]) != n.device {
				continue
			}
			pt, err := openFrom(mine, [32]byte(w[32:64]), w[64:], orgKeyAD(n.network, n.org, ok.Public, n.device), "murmur-orgkey-v1")
			if err != nil || len(pt)%32 != 0 {
				continue
			}
			for i := 0; i < len(pt); i += 32 {
				priv := pt[i : i+32]
				keys[x25519Public(priv)] = priv
			}
		}
	}
	return keys, current
}

// currentOrgKey is org's current public key, if it has published one.
func (n *Node) currentOrgKey(org crdt.OrgID) ([32]byte, bool) {
	es := n.state.OrgKeys(org)
	if len(es) == 0 {
		return [32]byte{}, false
	}
	ok, err := crdt.ParseOrgKey(es[len(es)-1])
	if err != nil {
		return [32]byte{}, false
	}
	return ok.Public, true
}

// EnsureOrgKey makes sure this organisation's keys are handed to each of
// its devices with standing and to none that lost it: it publishes the
// organisation's first key, wraps the keys for a device added since, or
// rotates to a new key once a device was revoked. Concurrent writers are
// harmless: every org-key entry wraps for every device, and a device
// opens whatever is wrapped for it. It reports whether it wrote.
func (n *Node) EnsureOrgKey(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ensureOrgKey(ctx)
}

func (n *Node) ensureOrgKey(ctx context.Context) (bool, error) {
	if n.key == nil {
		return false, ErrLocked
	}
	if _, ok := n.state.Standing(n.device); !ok {
		return false, nil
	}
	var standing []crdt.DeviceKey
	if o, ok := n.state.Org(n.org); ok {
		for _, d := range o.Devices {
			_, ok := n.state.Standing(d.Key)
			if _, err := devicePublicX25519(d.Key); ok && err == nil { // (a key off the curve is no device's)
				standing = append(standing, d.Key)
			}
		}
	}
	keys, current := n.keyring()
	es := n.state.OrgKeys(n.org)
	var covered []crdt.DeviceKey
	if len(es) > 0 {
		ok, err := crdt.ParseOrgKey(es[len(es)-1])
		if err != nil {
			return false, err
		}
		for _, w := range ok.Wraps {
			covered = append(covered, crdt.DeviceKey(w[:32]))
		}
	}
	rotate := len(es) == 0 || slices.ContainsFunc(covered, func(d crdt.DeviceKey) bool { return !slices.Contains(standing, d) })
	missing := slices.ContainsFunc(standing, func(d crdt.DeviceKey) bool { return !slices.Contains(covered, d) })
	if !rotate && !missing {
		return false, nil
	}
	// Only the organisation's first device publishes its first key (another
	// may not have received it yet), and only a device that holds the
	// current key hands keys on: the others wait for one that does.
	if _, holds := keys[current]; len(es) == 0 && crdt.OrgIDFor(n.device) != n.org || len(es) > 0 && !holds {
		return false, nil
	}
	// The keys to hand over: the current one first, then the others.
	var history [][]byte
	if rotate {
		history = append(history, random(32))
	} else {
		history = append(history, keys[current])
	}
	for pub, priv := range keys {
		if pub != x25519Public(history[0]) && len(history) < crdt.MaxKeyEpochs {
			history = append(history, priv)
		}
	}
	slices.SortFunc(history[1:], bytes.Compare)
	public := x25519Public(history[0])
	payload := slices.Concat(history...)
	body := &crdt.OrgKey{Public: public}
	for _, d := range standing {
		dpub, err := devicePublicX25519(d)
		if err != nil {
			return false, err
		}
		eph, sealed, err := sealTo(dpub, payload, orgKeyAD(n.network, n.org, public, d), "murmur-orgkey-v1")
		if err != nil {
			return false, fmt.Errorf("wrapping the organisation key for device %v: %w", d, err)
		}
		body.Wraps = append(body.Wraps, slices.Concat(d[:], eph[:], sealed))
	}
	sortBytes(body.Wraps)
	if _, err := n.append(ctx, body); err != nil {
		return false, err
	}
	return true, nil
}
