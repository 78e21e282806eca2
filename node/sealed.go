package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
	"github.com/murmurnet/murmur/node/seal"
)

// appendSealed writes body (a *crdt.Request or *crdt.Response, checked)
// as a sealed entry readable by the organisations in to.
func (n *Node) appendSealed(ctx context.Context, inner crdt.Kind, body any, to []crdt.OrgID, deps []crdt.ID) (*crdt.Entry, error) {
	var (
		envelope any
		details  crdt.Details
	)
	switch b := body.(type) {
	case *crdt.Request:
		env := *b
		details.Title, details.Text = b.Title, b.Text
		env.Title, env.Text = "", ""
		envelope = &env
	case *crdt.Response:
		env := *b
		details.Text = b.Text
		env.Text = ""
		envelope = &env
	}
	if err := crdt.CheckNew(body); err != nil { // the title, before it is sealed
		return nil, bodyErr(err)
	}
	envRaw, err := crdt.EncodeBody(envelope)
	if err != nil {
		return nil, err
	}
	recips, err := n.recipients(to)
	if err != nil {
		return nil, err
	}
	return n.append(ctx, sealLater(func(seq uint64) (any, error) {
		return seal.Details(n.network, n.device, seq, inner, envRaw, details, recips)
	}), deps...)
}

// recipients pairs each organisation with its current key.
func (n *Node) recipients(orgs []crdt.OrgID) ([]seal.Recipient, error) {
	var out []seal.Recipient
	for _, o := range orgs {
		if slices.ContainsFunc(out, func(r seal.Recipient) bool { return r.Org == o }) {
			continue
		}
		k, err := n.currentOrgKey(o) // only a key no revoked device can hold
		if err != nil {
			return nil, err
		}
		out = append(out, seal.Recipient{Org: o, Key: k})
	}
	return out, nil
}

func nameOr(names map[crdt.OrgID]string, o crdt.OrgID) string {
	if n := names[o]; n != "" {
		return n
	}
	return "organisation " + short(o.String())
}

// unseal opens a sealed entry this node holds, if its organisation may
// read it, and returns the whole body. The details are decrypted in
// memory, never stored. The caller holds n.mu.
func (n *Node) unseal(id crdt.ID) (any, error) {
	e, _, ok := n.state.Entry(id)
	if !ok || e.Kind != crdt.KindSealed {
		return nil, fmt.Errorf("%w: entry %v is not a sealed entry held here", ErrNotFound, id)
	}
	if e.Withheld {
		return nil, fmt.Errorf("%w: its body is not held here", ErrCannotOpen)
	}
	if n.key == nil {
		return nil, fmt.Errorf("%w: the device key is locked (give the passphrase)", ErrCannotOpen)
	}
	whole, _, err := seal.Open(e, n.state.KeyShares(id), n.org, n.cachedKeyring())
	return whole, err
}

// cachedKeyring is keyring, computed again only when the organisation's
// org-key entries change. The caller holds n.mu.
func (n *Node) cachedKeyring() map[[32]byte][]byte {
	es := n.state.OrgKeys(n.org)
	var last crdt.ID
	if len(es) > 0 {
		last = es[len(es)-1].ID()
	}
	if n.ring == nil || n.ringFor != last || n.ringLen != len(es) {
		n.ring, _ = n.keyring()
		n.ringFor, n.ringLen = last, len(es)
	}
	return n.ring
}

// readers lists the organisations that can read sealed entry id, as far
// as this node can tell (seal.Readers): exactly, if this node can read
// it. The caller holds n.mu.
func (n *Node) readers(id crdt.ID) []crdt.OrgID {
	e, _, ok := n.state.Entry(id)
	if !ok || e.Kind != crdt.KindSealed || e.Withheld {
		return nil
	}
	shares := n.state.KeyShares(id)
	var ck []byte
	if n.key != nil {
		_, ck, _ = seal.Open(e, shares, n.org, n.cachedKeyring())
	}
	out := seal.Readers(e, shares, ck, n.state.DeviceOrg)
	if n.key != nil && ck == nil {
		// Unlocked, this device opens none of the wraps for its
		// organisation: a share naming it (a reader's forged one, say)
		// does not make it a reader here.
		out = slices.DeleteFunc(out, func(o crdt.OrgID) bool { return o == n.org })
	}
	return out
}

// sharedWith names the organisations a sealed entry is readable by.
func (n *Node) sharedWith(id crdt.ID, names map[crdt.OrgID]string) []string {
	out := []string{}
	for _, o := range n.readers(id) {
		out = append(out, nameOr(names, o))
	}
	return out
}

// Share gives more organisations access to a sealed request (or
// response): the content key is wrapped for them, the body is not
// re-encrypted. Only an organisation that can read it can share it.
func (n *Node) Share(ctx context.Context, ref string, to []string) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(to) == 0 {
		return nil, inputErr("name the organisations to share with: --to ORG")
	}
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return nil, err
	}
	if !rv.Sealed {
		return nil, refuse("not-sealed", short(rv.ID.String()))
	}
	if rv.Redacted != nil {
		return nil, refuse("sealed-gone", short(rv.ID.String()), nameOr(n.orgNames(), rv.Redacted.Org),
			ident.Moment{Time: millisTime(rv.Redacted.Clock.Millis()), Now: n.now()})
	}
	e, _, _ := n.state.Entry(rv.ID)
	if n.key == nil {
		return nil, ErrLocked
	}
	keys, _ := n.keyring()
	_, ck, err := seal.Open(e, n.state.KeyShares(rv.ID), n.org, keys)
	if err != nil {
		return nil, refuseWrapping(err, "share-unreadable")
	}
	// Only genuine wraps count: a forged share (any member can write one)
	// must not make an organisation look able to read it already.
	already := seal.Readers(e, n.state.KeyShares(rv.ID), ck, n.state.DeviceOrg)
	var orgs []crdt.OrgID
	for _, ref := range to {
		o, err := n.resolveMember(ref) // by name or ID
		if err != nil {
			return nil, err
		}
		if !o.Admitted {
			return nil, refuse("org-not-admitted", o.Name)
		}
		if !slices.Contains(already, o.ID) && !slices.Contains(orgs, o.ID) {
			orgs = append(orgs, o.ID)
		}
	}
	if len(orgs) == 0 {
		return nil, refuse("all-can-read", short(rv.ID.String()))
	}
	recips, err := n.recipients(orgs)
	if err != nil {
		return nil, err
	}
	s, _ := crdt.ParseSealed(e)
	wraps, err := seal.WrapContentKey(ck, seal.BindingOf(e, s), recips)
	if err != nil {
		return nil, err
	}
	return n.append(ctx, &crdt.KeyShare{Target: rv.ID, Wraps: wraps}, rv.ID)
}

// ErrCannotOpen is returned for a sealed body this node cannot read.
var ErrCannotOpen = seal.ErrCannotOpen

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("node: reading randomness: %v", err))
	}
	return b
}

func sortBytes(list [][]byte) { slices.SortFunc(list, bytes.Compare) }
