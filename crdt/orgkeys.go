package crdt

import (
	"bytes"
	"slices"
)

// Which organisation key is current.
//
// An organisation's current key is what every member seals to, so it must
// not be something one device can decide for ever. Clocks are chosen by
// their authors, so they play no part. Instead, every org-key entry of the
// organisation is judged by standing and causal order, and only the entries
// that pass count:
//
//   - its author has standing: an entry by a device that is revoked, at any
//     cut-off, never counts (whatever its sequence number: a device seized
//     before its revocation may have written it);
//   - its key was handed to no one else: no entry of the organisation
//     carrying the same key was written by a revoked device or wraps it for
//     a device that is not one of the organisation's devices with standing;
//   - it follows every revocation of the organisation's devices: each such
//     revocation is among its dependencies, or among those of an entry it
//     replaces (transitively, through the organisation's accepted org-key
//     entries). A key written before a revocation, or without knowing of
//     it, was handed to the revoked device or may have been, with the keys
//     before it.
//
// Among the entries that count, the current one is the one with the
// longest chain of replacements (the new form, OrgKeyV2, names the entry it
// replaces); equal chains are ordered by ID. The old form (OrgKey) replaces
// nothing: it has chain length 0, and old-form entries are ordered among
// themselves by clock then ID, as the first release ordered them. They pass
// the same tests, so they still count in an organisation that has revoked
// no device and whose devices have not written the new form; a revocation
// ends them, since an old-form entry names no revocation.
//
// Everything here is a function of the accepted entries and the membership
// replay, so every node agrees whatever order entries arrived in. A writer
// of a new key names what OrgKeyBasis returns.

// OrgKeyDoubt is why an org-key entry does not count.
type OrgKeyDoubt int

// Reasons an org-key entry does not count.
const (
	KeyCounts            OrgKeyDoubt = iota
	KeyByRevoked                     // written by a device since revoked
	KeyWrappedForRevoked             // its key was handed to a device since revoked
	KeyWrappedForOther               // its key was handed to a device that is not one of the organisation's
	KeyBeforeRevocation              // written before (or without knowing of) a revocation in the organisation
)

// OrgKeyView is one of an organisation's org-key entries, judged.
type OrgKeyView struct {
	Entry    *Entry
	Public   [32]byte
	Replaces ID  // the entry it replaces; zero for the first, and for the old form
	Depth    int // its chain of replacements, itself included; 0 for the old form
	Doubt    OrgKeyDoubt
	Device   DeviceKey // the device the doubt is about
}

// Counts reports whether the entry may be used as the organisation's key.
func (v OrgKeyView) Counts() bool { return v.Doubt == KeyCounts }

// OrgKeyViews judges org's accepted org-key entries, best first: longest
// chain of replacements, then (old form) latest clock, then lowest ID. The
// first that counts is the current key.
func (s *State) OrgKeyViews(org OrgID) []OrgKeyView {
	var rs []*record
	for _, r := range s.v.orgKeys {
		if s.orgOf(r) == org {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	j := s.newKeyJudge(org, rs)
	out := make([]OrgKeyView, len(rs))
	for i, r := range rs {
		out[i] = j.view(r)
	}
	slices.SortFunc(out, func(a, b OrgKeyView) int {
		if a.Depth != b.Depth {
			return b.Depth - a.Depth
		}
		if a.Depth == 0 && a.Entry.Clock != b.Entry.Clock {
			if a.Entry.Clock > b.Entry.Clock {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.Entry.id[:], b.Entry.id[:])
	})
	return out
}

// CurrentOrgKey returns org's current key: the best of its org-key entries
// that counts. If none counts, it returns the best one (for its doubt) and
// false; with no entry at all, a zero view and false.
func (s *State) CurrentOrgKey(org OrgID) (OrgKeyView, bool) {
	vs := s.OrgKeyViews(org)
	for _, v := range vs {
		if v.Counts() {
			return v, true
		}
	}
	if len(vs) > 0 {
		return vs[0], false
	}
	return OrgKeyView{}, false
}

// OrgKeyBasis is what a new org-key entry of org written now must name for
// it to count: the entry it replaces (the current one; when none counts, the
// best one written by a device with standing; zero when there is none) and,
// as further dependencies, the revocations of org's devices that entry does
// not follow already, in ID order. At most MaxDeps-1 are returned: an
// organisation with more writes more than one entry to catch up.
func (s *State) OrgKeyBasis(org OrgID) (replaces ID, revocations []ID) {
	vs := s.OrgKeyViews(org)
	var basis *OrgKeyView
	for i := range vs {
		if vs[i].Counts() {
			basis = &vs[i]
			break
		}
	}
	if basis == nil {
		for i := range vs {
			if len(s.m.revs[vs[i].Entry.Author]) == 0 {
				basis = &vs[i]
				break
			}
		}
	}
	var rs []*record
	for _, r := range s.v.orgKeys {
		if s.orgOf(r) == org {
			rs = append(rs, r)
		}
	}
	j := s.newKeyJudge(org, rs)
	var follows map[ID]bool
	if basis != nil {
		replaces = basis.Entry.id
		follows = j.follows(s.v.orgKeys[replaces])
	}
	for _, id := range j.revIDs {
		if !follows[id] && len(revocations) < MaxDeps-1 {
			revocations = append(revocations, id)
		}
	}
	return replaces, revocations
}

// keyJudge holds what judging one organisation's org-key entries needs.
type keyJudge struct {
	s       *State
	org     OrgID
	revs    map[ID]DeviceKey // effective revocations of the organisation's devices, by ID: the device
	revIDs  []ID             // ... in ID order
	exposed map[[32]byte]OrgKeyView
	depth   map[ID]int
	fol     map[ID]map[ID]bool
}

func (s *State) newKeyJudge(org OrgID, rs []*record) *keyJudge {
	j := &keyJudge{s: s, org: org, revs: map[ID]DeviceKey{}, exposed: map[[32]byte]OrgKeyView{}, depth: map[ID]int{}, fol: map[ID]map[ID]bool{}}
	if o := s.m.orgs[org]; o != nil {
		for _, d := range o.devices {
			for _, rv := range s.m.revs[d] {
				j.revs[rv.rec.id()] = d
				j.revIDs = append(j.revIDs, rv.rec.id())
			}
		}
	}
	slices.SortFunc(j.revIDs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	// A key handed to anyone but the organisation's devices with standing
	// is doubted wherever it appears. Entries in ID order, so that the doubt
	// reported does not depend on map order.
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b *record) int { return bytes.Compare(a.e.id[:], b.e.id[:]) })
	for _, r := range sorted {
		pub, wraps := orgKeyFields(r)
		if _, done := j.exposed[pub]; done {
			continue
		}
		if doubt, dev := j.exposure(r, wraps); doubt != KeyCounts {
			j.exposed[pub] = OrgKeyView{Doubt: doubt, Device: dev}
		}
	}
	return j
}

func orgKeyFields(r *record) (pub [32]byte, wraps [][]byte) {
	switch b := r.body.(type) {
	case *OrgKey:
		return b.Public, b.Wraps
	case *OrgKeyV2:
		return b.Public, b.Wraps
	}
	return pub, nil
}

// exposure is the doubt an entry casts on its key: its author was revoked,
// or it wraps the key for a device without standing in the organisation.
func (j *keyJudge) exposure(r *record, wraps [][]byte) (OrgKeyDoubt, DeviceKey) {
	if len(j.s.m.revs[r.e.Author]) > 0 {
		return KeyByRevoked, r.e.Author
	}
	for _, w := range wraps {
		d := DeviceKey(w[:32])
		ds := j.s.m.devices[d]
		switch {
		case ds == nil || ds.org != j.org:
			return KeyWrappedForOther, d
		case len(j.s.m.revs[d]) > 0:
			return KeyWrappedForRevoked, d
		}
	}
	return KeyCounts, DeviceKey{}
}

// replaced is the accepted org-key entry of the organisation that r
// replaces, if any.
func (j *keyJudge) replaced(r *record) *record {
	b, ok := r.body.(*OrgKeyV2)
	if !ok || b.Replaces.IsZero() {
		return nil
	}
	p := j.s.v.orgKeys[b.Replaces]
	if p == nil || j.s.orgOf(p) != j.org {
		return nil
	}
	return p
}

// chain is r's chain of replacements, r first. Each link is an earlier
// entry (among r's dependencies, so named by hash), so the chain is finite;
// the bound only guards against a cycle no one can sign.
func (j *keyJudge) chain(r *record) []*record {
	var out []*record
	for x := r; x != nil && len(out) <= len(j.s.v.orgKeys); x = j.replaced(x) {
		out = append(out, x)
	}
	return out
}

func (j *keyJudge) depthOf(r *record) int {
	if _, ok := r.body.(*OrgKeyV2); !ok {
		return 0
	}
	if d, ok := j.depth[r.id()]; ok {
		return d
	}
	c := j.chain(r)
	// From the far end: an old-form entry at the end adds nothing.
	d := 0
	for i := len(c) - 1; i >= 0; i-- {
		if _, ok := c[i].body.(*OrgKeyV2); ok {
			d++
		}
		j.depth[c[i].id()] = d
	}
	return j.depth[r.id()]
}

// follows is the set of the organisation's revocations r follows: those
// among its dependencies or its chain's.
func (j *keyJudge) follows(r *record) map[ID]bool {
	if r == nil {
		return nil
	}
	if f, ok := j.fol[r.id()]; ok {
		return f
	}
	c := j.chain(r)
	acc := map[ID]bool{}
	for i := len(c) - 1; i >= 0; i-- {
		if f, ok := j.fol[c[i].id()]; ok {
			acc = f
			continue
		}
		next := make(map[ID]bool, len(acc))
		for id := range acc {
			next[id] = true
		}
		for _, d := range c[i].e.Deps {
			if _, ok := j.revs[d]; ok {
				next[d] = true
			}
		}
		j.fol[c[i].id()] = next
		acc = next
	}
	return acc
}

func (j *keyJudge) view(r *record) OrgKeyView {
	pub, _ := orgKeyFields(r)
	v := OrgKeyView{Entry: r.e, Public: pub, Depth: j.depthOf(r)}
	if b, ok := r.body.(*OrgKeyV2); ok {
		v.Replaces = b.Replaces
	}
	if x, ok := j.exposed[pub]; ok {
		if own, dev := j.exposure(r, nil); own == KeyByRevoked {
			v.Doubt, v.Device = own, dev // its own author first
		} else {
			v.Doubt, v.Device = x.Doubt, x.Device
		}
		return v
	}
	f := j.follows(r)
	for _, id := range j.revIDs {
		if !f[id] {
			v.Doubt, v.Device = KeyBeforeRevocation, j.revs[id]
			break
		}
	}
	return v
}
