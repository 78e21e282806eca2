package node

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
)

// Organisation keys (see seal/seal.go). A device holds its organisation's keys
// only as the org-key entries wrap them for it; nothing else is stored.

// keyring returns the private keys of this organisation that its org-key
// entries hand to this device, by public key, and the current public key
// (zero if no key of the organisation counts: crdt.State.OrgKeyViews). It
// opens every wrap for this device, also in entries that no longer count
// (a key the organisation's devices were handed still opens what was sealed
// to it). The node must be unlocked; the caller holds n.mu.
func (n *Node) keyring() (map[[32]byte][]byte, [32]byte) {
	keys := map[[32]byte][]byte{}
	var current [32]byte
	if n.key == nil {
		return keys, current
	}
	mine := seal.DevicePrivateX25519(n.key)
	for _, e := range n.state.OrgKeys(n.org) {
		ok, err := crdt.ParseOrgKey(e)
		if err != nil {
			continue
		}
		for _, w := range ok.Wraps {
			if crdt.DeviceKey(w[:32]) != n.device {
				continue
			}
			pt, err := seal.OpenFrom(mine, [32]byte(w[32:64]), w[64:], seal.OrgKeyAD(n.network, n.org, ok.Public, n.device), "murmur-orgkey-v1")
			if err != nil || len(pt)%32 != 0 {
				continue
			}
			for i := 0; i < len(pt); i += 32 {
				priv := pt[i : i+32]
				keys[seal.X25519Public(priv)] = priv
			}
		}
	}
	if v, ok := n.state.CurrentOrgKey(n.org); ok {
		current = v.Public
	}
	return keys, current
}

// currentOrgKey is org's current public key. If org has none that can be
// trusted, the error says why, in words for the person sealing.
func (n *Node) currentOrgKey(org crdt.OrgID) ([32]byte, error) {
	v, ok := n.state.CurrentOrgKey(org)
	if ok {
		return v.Public, nil
	}
	name := nameOr(n.orgNames(), org)
	if v.Entry == nil {
		return [32]byte{}, fmt.Errorf("%s has published no encryption key yet (its node publishes one when it first runs after admission): nothing can be sealed for it", name)
	}
	dev := n.deviceLabel(v.Device)
	var why string
	switch v.Doubt {
	case crdt.KeyByRevoked:
		why = fmt.Sprintf("its latest encryption key was written by %s, which has since been revoked", dev)
	case crdt.KeyWrappedForRevoked:
		why = fmt.Sprintf("its latest encryption key was handed to %s, which has since been revoked", dev)
	case crdt.KeyWrappedForOther:
		why = fmt.Sprintf("its latest encryption key was handed to %s, which is not one of its devices", dev)
	default: // crdt.KeyBeforeRevocation
		why = fmt.Sprintf("it revoked %s after its latest encryption key was written, and the revoked device may hold that key", dev)
	}
	return [32]byte{}, fmt.Errorf("nothing can be sealed for %s now: %s. Its remaining devices publish a new key when their node next runs; try again once this node has received it", name, why)
}

// deviceLabel names a device for a person: its label and the start of its key.
func (n *Node) deviceLabel(k crdt.DeviceKey) string {
	for _, o := range n.state.Members() {
		for _, d := range o.Devices {
			if d.Key == k && d.Label != "" {
				return fmt.Sprintf("the device %q (%s) of %s", d.Label, short(k.String()), nameOr(n.orgNames(), o.ID))
			}
			if d.Key == k {
				return fmt.Sprintf("the device %s of %s", short(k.String()), nameOr(n.orgNames(), o.ID))
			}
		}
	}
	return "the device " + short(k.String())
}

// EnsureOrgKey makes sure this organisation's keys are handed to each of
// its devices with standing and to none that lost it: it publishes the
// organisation's first key, wraps the keys for a device added since, or
// rotates to a new key when no key of the organisation counts any more (a
// device was revoked: crdt.State.OrgKeyViews). Any device with standing
// may rotate, also one that cannot open the latest key (which a seized
// device may have written for itself alone). Concurrent writers are
// harmless: every org-key entry wraps for every device, and a device opens
// whatever is wrapped for it. It reports whether it wrote.
func (n *Node) EnsureOrgKey(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ensureOrgKey(ctx)
}

func (n *Node) ensureOrgKey(ctx context.Context) (bool, error) {
	if n.key == nil {
		return false, ErrLocked
	}
	if n.recovering != nil { // what the state lacks says nothing yet (repair.go)
		return false, nil
	}
	if _, ok := n.state.Standing(n.device); !ok {
		return false, nil
	}
	var standing []crdt.DeviceKey
	if o, ok := n.state.Org(n.org); ok {
		for _, d := range o.Devices {
			_, ok := n.state.Standing(d.Key)
			if _, err := seal.DevicePublicX25519(d.Key); ok && err == nil { // (a key off the curve is no device's)
				standing = append(standing, d.Key)
			}
		}
	}
	keys, _ := n.keyring()
	cur, counts := n.state.CurrentOrgKey(n.org)
	var covered []crdt.DeviceKey
	if counts {
		ok, err := crdt.ParseOrgKey(cur.Entry)
		if err != nil {
			return false, err
		}
		for _, w := range ok.Wraps {
			covered = append(covered, crdt.DeviceKey(w[:32]))
		}
	}
	rotate := !counts || slices.ContainsFunc(covered, func(d crdt.DeviceKey) bool { return !slices.Contains(standing, d) })
	missing := slices.ContainsFunc(standing, func(d crdt.DeviceKey) bool { return !slices.Contains(covered, d) })
	if !rotate && !missing {
		return false, nil
	}
	// Only the organisation's first device publishes its first key (another
	// may not have received it yet), and only a device that holds the
	// current key hands it on to a device added since: the others wait for
	// one that does.
	if _, holds := keys[cur.Public]; cur.Entry == nil && crdt.OrgIDFor(n.device) != n.org || !rotate && !holds {
		return false, nil
	}
	// The keys to hand over: the current one first, then the others.
	var history [][]byte
	if rotate {
		history = append(history, random(32))
	} else {
		history = append(history, keys[cur.Public])
	}
	for pub, priv := range keys {
		if pub != seal.X25519Public(history[0]) && len(history) < crdt.MaxKeyEpochs {
			history = append(history, priv)
		}
	}
	slices.SortFunc(history[1:], bytes.Compare)
	public := seal.X25519Public(history[0])
	payload := slices.Concat(history...)
	// It replaces the current key and names the revocations it follows.
	replaces, revs := n.state.OrgKeyBasis(n.org)
	body := &crdt.OrgKeyV2{Public: public, Replaces: replaces}
	var deps []crdt.ID
	if !replaces.IsZero() {
		deps = append(deps, replaces)
	}
	deps = append(deps, revs...)
	for _, d := range standing {
		dpub, err := seal.DevicePublicX25519(d)
		if err != nil {
			return false, err
		}
		eph, sealed, err := seal.To(dpub, payload, seal.OrgKeyAD(n.network, n.org, public, d), "murmur-orgkey-v1")
		if err != nil {
			return false, fmt.Errorf("wrapping the organisation key for device %v: %w", d, err)
		}
		body.Wraps = append(body.Wraps, slices.Concat(d[:], eph[:], sealed))
	}
	sortBytes(body.Wraps)
	if _, err := n.append(ctx, body, deps...); err != nil {
		return false, err
	}
	return true, nil
}
