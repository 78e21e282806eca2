package crdt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Reasons an entry is refused outright (not kept) or does not stand.
var (
	ErrUnverified   = errors.New("crdt: entry's signature was not checked")
	ErrWrongNetwork = errors.New("crdt: entry belongs to another network")
	ErrBrokenChain  = errors.New("crdt: entry does not follow its author's previous entry")
	ErrNotMember    = errors.New("crdt: author is not a device of an admitted organisation")
	ErrRevoked      = errors.New("crdt: author's device was revoked before this entry")
	// ErrUncommitted: a sealed body without a key commitment (version 1)
	// on a network whose genesis says every sealed body commits: held.
	ErrUncommitted = errors.New("crdt: a sealed body without a key commitment, which this network does not take")
	ErrNoAuthority = errors.New("crdt: author may not make this membership change")
	ErrWithheld    = errors.New("crdt: membership entries must carry their body")
	ErrMissing     = errors.New("crdt: waiting for an entry it depends on")
	ErrPoolFull    = errors.New("crdt: waiting pool full; dropped oldest")
	ErrInvite      = errors.New("crdt: the invite cannot be used")
)

// ErrReadOnly: a State restored without its waiting pool
// (RestoreForReading) was given entries to judge.
var ErrReadOnly = errors.New("crdt: the state was restored for reading only, without its waiting entries")

// Limits bound what a State keeps that is not (yet) accepted.
type Limits struct {
	MaxPending      int   // waiting + held entries
	MaxPendingBytes int64 // their encoded size
}

// DefaultLimits are generous for a network of a few hundred organisations.
// The pool is kept in memory by every process that opens the node (a
// command too), and a member can fill it with entries that never
// become accepted: its bytes are bounded to what a field laptop spares,
// 32 MB (80,000 entries of a typical 400 bytes; the count bounds it
// first). An entry dropped from it comes back with the next
// reconciliation.
func DefaultLimits() Limits { return Limits{MaxPending: 20000, MaxPendingBytes: 32 << 20} }

// record is an entry the State holds, with what it knows about it.
type record struct {
	e       *Entry
	body    any // parsed body of a known kind; nil if unknown or withheld
	status  Status
	reason  error // why waiting or held
	linked  bool  // seq 1, or its previous entry is held and linked
	pending *pendingSlot
}

// resident reports whether r stays in memory after the Step that changed
// it (see Facts).
func (r *record) resident() bool {
	return r.status != StatusAccepted || residentKind(r.e.Kind)
}

func (r *record) id() ID { return r.e.id }

func (r *record) less(o *record) bool {
	if r.e.Clock != o.e.Clock {
		return r.e.Clock < o.e.Clock
	}
	return r.e.id.Less(o.e.id)
}

// State is the replicated state of one network: a pure function of the
// entries it has been given, whatever their order or repetition. It holds
// every entry it was given that is well formed and correctly signed, each
// with a status (accepted, waiting, held); the accepted set, and everything
// derived from it, depends only on which entries were given, never on
// their order. A State is not safe for concurrent use.
type State struct {
	network ID
	limits  Limits
	facts   Facts
	own     *MemoryFacts // facts the State persists itself (NewState)
	err     error        // the first error of its facts: the State is unusable
	// readOnly: restored without the waiting pool (RestoreForReading); it
	// judges nothing.
	readOnly bool

	recs     map[ID]*record                     // resident entries, and during a Step those it loaded
	chains   map[DeviceKey]map[uint64][]*record // author -> seq -> entries (forks)
	waiters  map[ID][]*record                   // unlinked entries by the prev they wait for
	members  map[ID]*record                     // entries of membership kinds
	headWait map[ID]int                         // heads that revocations wait for
	m        *membership

	pending      pendingQueue
	pendingBytes int64
	maxClock     Clock

	v views

	redactedBy map[ID][]*record // redactions (any status) by the entry they name

	// per-Step bookkeeping
	stepping  bool
	loaded    map[*record]bool // entries read from the facts during this Step
	rewritten map[*record]bool // entries whose body changed in this Step
	gone      map[ID]bool      // entries dropped in this Step
	// known: what the facts said, in one question, of the entries given
	// to this Step that the State did not keep (nil: ask one at a time).
	known   map[ID]knownStatus
	dirty   bool               // membership must be replayed
	touched map[*record]bool   // entries to re-evaluate
	before  map[*record]Status // status before this Apply, for Changes
	fresh   map[*record]bool   // entries inserted by this Apply
	revokes map[DeviceKey]bool // devices targeted by candidate revocations
	retouch map[DeviceKey]bool // revoked devices whose chain grew
}

// NewState returns an empty state for the network whose genesis entry has
// the given ID, which keeps its facts in memory itself.
func NewState(network ID, limits Limits) *State {
	own := NewMemoryFacts()
	s := newState(network, limits, own)
	s.own = own
	return s
}

// NewStateOn returns a state over facts that hold no entry yet: the
// caller persists each Step's Ready into them.
func NewStateOn(network ID, limits Limits, facts Facts) *State {
	return newState(network, limits, facts)
}

func newState(network ID, limits Limits, facts Facts) *State {
	s := &State{
		network:  network,
		limits:   limits,
		facts:    facts,
		recs:     map[ID]*record{},
		chains:   map[DeviceKey]map[uint64][]*record{},
		waiters:  map[ID][]*record{},
		members:  map[ID]*record{},
		headWait: map[ID]int{},
		revokes:  map[DeviceKey]bool{},
		v:        newViews(),

		redactedBy: map[ID][]*record{},
	}
	s.m = newMembership(nil)
	return s
}

// Err returns the first error the state's facts returned. A state that
// met one may have lost track of what it holds: the caller must drop it
// and build a new one from what its facts persisted.
func (s *State) Err() error { return s.err }

func (s *State) fail(err error) {
	if err != nil && s.err == nil {
		s.err = err
	}
}

// get returns the record of an entry the state holds: a resident one, or
// one read from its facts (during a Step, kept for the rest of it, so that
// the Step changes it in one place).
func (s *State) get(id ID) *record {
	if r := s.recs[id]; r != nil {
		return r
	}
	if s.err != nil || s.stepping && s.gone[id] {
		return nil
	}
	e, st, ok, err := s.facts.Get(id)
	if err != nil {
		s.fail(err)
		return nil
	}
	if !ok {
		return nil
	}
	return s.load(e, st)
}

// load makes a record of an entry read from the facts.
func (s *State) load(e *Entry, st Status) *record {
	r := &record{e: e, body: e.ParsedBody(), status: st, linked: st != StatusWaiting}
	if s.stepping {
		s.recs[e.id] = r
		s.chainAdd(r)
		s.loaded[r] = true
		if target, ok := redactionTarget(r.body); ok {
			s.redactedBy[target] = append(s.redactedBy[target], r)
		}
	}
	if r.body == nil && e.Withheld && st == StatusAccepted {
		r.body = s.kept(r)
	}
	return r
}

// authored returns every entry of author the state holds (loading, during
// a Step, those it does not keep in memory).
func (s *State) authored(author DeviceKey) []*record {
	if s.err == nil {
		err := s.facts.Authored(author, func(e *Entry, st Status) error {
			if s.recs[e.id] == nil && !(s.stepping && s.gone[e.id]) {
				s.load(e, st)
			}
			return nil
		})
		s.fail(err)
	}
	var out []*record
	for _, rs := range s.chains[author] {
		out = append(out, rs...)
	}
	return out
}

func (s *State) chainAdd(r *record) {
	chain := s.chains[r.e.Author]
	if chain == nil {
		chain = map[uint64][]*record{}
		s.chains[r.e.Author] = chain
	}
	chain[r.e.Seq] = append(chain[r.e.Seq], r)
}

func (s *State) chainRemove(x *record) {
	chain := s.chains[x.e.Author]
	chain[x.e.Seq] = slices.DeleteFunc(chain[x.e.Seq], func(y *record) bool { return y == x })
	if len(chain[x.e.Seq]) == 0 {
		delete(chain, x.e.Seq)
	}
	if len(chain) == 0 {
		delete(s.chains, x.e.Author)
	}
}

// redact drops the bodies that accepted redactions take back, looking at
// the entries of this Apply whose status changed (new ones included): a
// redaction that became accepted, or a target that did.
func (s *State) redact() {
	for r := range s.before {
		if target, ok := redactionTarget(r.body); ok {
			if t := s.get(target); t != nil {
				s.redactIfDue(t)
			}
		} else {
			s.redactIfDue(r)
		}
	}
}

// redactionTarget returns the entry a redaction body (of either kind)
// names.
func redactionTarget(b any) (ID, bool) {
	switch rd := b.(type) {
	case *Redaction:
		return rd.Target, true
	case *RedactionV2:
		return rd.Target, true
	}
	return ID{}, false
}

// isRedaction reports whether entries of kind k are redactions.
func isRedaction(k Kind) bool { return k == KindRedaction || k == KindRedactionV2 }

// redactIfDue drops t's body if an accepted redaction by its own
// organisation names it, keeping what that redaction keeps of it (kept).
// An entry held without its body (given redacted by a peer, or read back
// from the store) takes the kept body too: every node ends with the same
// view of a redacted entry, whether it ever held the words or not.
func (s *State) redactIfDue(t *record) {
	if t.status != StatusAccepted || t.e.Kind.Membership() || isRedaction(t.e.Kind) {
		return
	}
	if s.redactionOf(t) == nil {
		return
	}
	if t.e.Withheld {
		if t.body == nil {
			if k := s.kept(t); k != nil {
				s.v.remove(t)
				t.body = k
				s.v.add(t)
				s.rewritten[t] = true
			}
		}
		return
	}
	s.v.remove(t)
	t.e, t.body = t.e.Redacted(), s.kept(t)
	s.v.add(t)
	s.rewritten[t] = true
}

// redactionOf returns the redaction that counts for t: the earliest (by
// clock, then ID) accepted one by t's own organisation; nil if none.
func (s *State) redactionOf(t *record) *record {
	org := s.orgOf(t)
	if org == (OrgID{}) {
		return nil
	}
	var first *record
	for _, r := range s.redactedBy[t.id()] {
		if r.status == StatusAccepted && s.orgOf(r) == org && (first == nil || r.less(first)) {
			first = r
		}
	}
	return first
}

// redactedByOwn reports whether an accepted redaction by t's own
// organisation names t: its body is taken back for good.
func (s *State) redactedByOwn(t *record) bool { return s.redactionOf(t) != nil }

// kept returns the body a redacted t keeps: what the redaction that counts
// kept of it, decoded against t's own dependencies, if it fits t (the same
// kind; for a sealed t, a request or response envelope). nil when there is
// none: an old Redaction, or a kept body that does not fit.
func (s *State) kept(t *record) any {
	r := s.redactionOf(t)
	if r == nil {
		return nil
	}
	rd, ok := r.body.(*RedactionV2)
	if !ok || rd.KeptKind == 0 {
		return nil
	}
	fits := t.e.Kind == rd.KeptKind ||
		t.e.Kind == KindSealed && (rd.KeptKind == KindRequest || rd.KeptKind == KindResponse)
	if !fits {
		return nil
	}
	b, err := decodeBodyAs(rd.KeptKind, rd.Kept, t.e.Deps, formEnvelope)
	if err != nil {
		return nil
	}
	return b
}

// fill gives t, held without its body, the body e carries (e is the same
// entry, whole: the same ID, so a body that hashes to the signed body
// hash). An organisation that was awaiting admission when it joined was
// given its stewards' entries without their bodies (node/join.go); once
// admitted it asks for them, and this is where they arrive. A body that
// an accepted redaction took back is not taken again. The state ends as
// if the whole entry had come first.
func (s *State) fill(t *record, e *Entry) {
	if s.redactedByOwn(t) {
		return
	}
	accepted := t.status == StatusAccepted
	if accepted {
		s.v.remove(t)
	}
	if _, ok := s.before[t]; !ok {
		s.before[t] = t.status // for redact, which looks at these
	}
	if t.status == StatusWaiting || t.status == StatusHeld { // (the pool's bytes: the body too now)
		s.pendingBytes += int64(len(e.raw) - len(t.e.raw))
	}
	t.e, t.body = e, e.ParsedBody()
	if accepted {
		s.v.add(t)
	}
	if accepted && s.uncommitted(t) {
		// Judged again now that its body is known (resolve), as standing
		// judges one that came with its body: held.
		s.touched[t] = true
	}
	if target, ok := redactionTarget(t.body); ok {
		s.redactedBy[target] = append(s.redactedBy[target], t)
	}
	s.rewritten[t] = true
}

// uncommitted says whether r is a sealed body without a key commitment
// (version 1) on a network whose genesis says sealed bodies commit: such
// an entry is held (ErrUncommitted). A body not held here cannot tell.
func (s *State) uncommitted(r *record) bool {
	if r.e.Kind != KindSealed || r.e.Withheld {
		return false
	}
	g := s.get(s.network)
	if g == nil {
		return false
	}
	if gb, ok := g.body.(*Genesis); !ok || !gb.SealedCommitted {
		return false
	}
	b, ok := r.e.parsed.(*Sealed) // (the body as check decoded it)
	if !ok {
		var err error
		if b, err = ParseSealed(r.e); err != nil {
			return false
		}
	}
	return b.Commit == [32]byte{}
}

// Unfilled lists up to max accepted entries held without their body that
// no accepted redaction took back: bodies a node asks its peers for
// (node/bodies.go). Ordered by ID.
func (s *State) Unfilled(max int) []ID {
	var out []ID
	s.fail(s.facts.Withheld(func(id ID) bool {
		if r := s.get(id); r != nil && !s.redactedByOwn(r) {
			out = append(out, id)
		}
		return len(out) < max
	}))
	return out
}

// Network is the ID of the state's network.
func (s *State) Network() ID { return s.network }

// Result is what Apply did with one entry.
type Result struct {
	Status    Status // where the entry stands now; StatusNone if refused
	Reason    error  // why it is waiting or held, or why it was refused
	Duplicate bool   // the state held it already
}

// Apply gives the state one entry. See ApplyBatch.
func (s *State) Apply(e *Entry) (Result, []Change) {
	res, changes := s.ApplyBatch([]*Entry{e})
	return res[0], changes
}

// ApplyBatch gives the state several entries at once, which is faster than
// one at a time and has the same outcome. It returns, for each entry, where
// it stands, and the status changes of entries the state held before (an
// accepted entry can become held when a revocation arrives, a waiting one
// accepted when what it waited for arrives). It is Step for a state made
// by NewState, which persists the Ready itself.
func (s *State) ApplyBatch(es []*Entry) ([]Result, []Change) {
	results, ready := s.Step(es)
	if s.own != nil {
		s.own.Persist(ready)
	}
	return results, ready.Changes
}

// Step gives the state several entries at once. It returns, for each
// entry, where it stands, and what changed, which the caller must persist
// into the state's facts (a state made by NewState does it in ApplyBatch)
// before asking the state anything else. If the facts fail, Err says so
// and the results are not to be trusted.
func (s *State) Step(es []*Entry) ([]Result, Ready) {
	if s.readOnly {
		s.fail(ErrReadOnly)
		results := make([]Result, len(es))
		for i := range results {
			results[i].Reason = ErrReadOnly
		}
		return results, Ready{}
	}
	s.begin()
	defer func() { s.known = nil }()
	if len(es) > 1 {
		s.prefetch(es)
	}
	results := make([]Result, len(es))
	recs := make([]*record, len(es))
	for i, e := range es {
		r, dup, err := s.insert(e)
		switch {
		case err != nil:
			results[i] = Result{Reason: err}
		case dup:
			results[i] = Result{Status: r.status, Reason: r.reason, Duplicate: true}
		default:
			recs[i] = r
		}
	}
	s.resolve()
	ready := s.finish()
	for i, r := range recs {
		if r != nil {
			results[i] = Result{Status: r.status, Reason: r.reason}
			if r.status == StatusNone && r.reason == nil {
				results[i].Reason = ErrPoolFull
			}
		}
	}
	return results, ready
}

func (s *State) begin() {
	s.stepping = true
	s.touched = map[*record]bool{}
	s.before = map[*record]Status{}
	s.fresh = map[*record]bool{}
	s.retouch = map[DeviceKey]bool{}
	s.loaded = map[*record]bool{}
	s.rewritten = map[*record]bool{}
	s.gone = map[ID]bool{}
}

// finish ends a Step: it drops the bodies redactions took back, collects
// what changed, and forgets what need not stay in memory.
func (s *State) finish() Ready {
	s.redact()
	var ready Ready
	closes := s.stepCloses()
	s.storedCloses(&closes)
	for r, from := range s.before {
		switch {
		case s.fresh[r]:
			if r.status != StatusNone {
				ready.Stored = append(ready.Stored, Stored{Entry: r.e, Status: r.status, Keys: s.keys(r, closes)})
			}
		case r.status != from:
			ready.Changes = append(ready.Changes, Change{ID: r.id(), From: from, To: r.status})
			if r.status == StatusAccepted && OrgTagged(keysOf(r.e, r.body).View) && !s.rewritten[r] {
				// Keyed by its organisation, which may be known only now.
				ready.Rekeyed = append(ready.Rekeyed, Rekey{ID: r.id(), Keys: s.keys(r, closes)})
			}
		}
	}
	rewritten := map[ID]bool{}
	for r := range s.rewritten {
		if !s.fresh[r] && r.status != StatusNone && s.recs[r.id()] == r {
			ready.Rewritten = append(ready.Rewritten, Stored{Entry: r.e, Status: r.status, Keys: s.keys(r, closes)})
			rewritten[r.id()] = true
		}
	}
	// The requests whose closes this Step changed are keyed again (open,
	// or closed), unless they were stored or rewritten above.
	for id := range closes.targets {
		r := s.get(id)
		if r == nil || s.fresh[r] || rewritten[id] || r.status == StatusNone || keysOf(r.e, r.body).View != ViewRequest {
			continue
		}
		ready.Rekeyed = append(ready.Rekeyed, Rekey{ID: id, Keys: s.keys(r, closes)})
	}
	s.stepStats(&ready, closes)
	byID := func(a, b ID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(ready.Stats, func(a, b RequestStat) int { return byID(a.ID, b.ID) })
	slices.SortFunc(ready.StatsNew, func(a, b RequestStat) int { return byID(a.ID, b.ID) })
	slices.SortFunc(ready.StatsGone, byID)
	slices.SortFunc(ready.Stored, func(a, b Stored) int { return byID(a.Entry.id, b.Entry.id) })
	slices.SortFunc(ready.Changes, func(a, b Change) int { return byID(a.ID, b.ID) })
	slices.SortFunc(ready.Rewritten, func(a, b Stored) int { return byID(a.Entry.id, b.Entry.id) })
	slices.SortFunc(ready.Rekeyed, func(a, b Rekey) int { return byID(a.ID, b.ID) })
	// What need not stay in memory goes to the facts.
	for r := range s.before {
		s.release(r)
	}
	for r := range s.loaded {
		s.release(r)
	}
	for r := range s.rewritten {
		s.release(r)
	}
	s.touched, s.before, s.fresh, s.retouch = nil, nil, nil, nil
	s.loaded, s.rewritten, s.gone = nil, nil, nil
	s.stepping = false
	return ready
}

// stepCloses are the closes whose standing a Step changed (stored,
// accepted or no longer, given or stripped of their body), by the request
// they may close: each such request is keyed again, as is every entry
// stored before whose status changed (a request may be one).
type stepCloses struct {
	targets map[ID][]*record
	// referenced, if the facts were asked (storedCloses), are the
	// requests that have a close stored before the Step; keys looks for
	// the closes of those alone.
	referenced map[ID]bool
}

// storedCloses asks the facts, in one question, which of the requests
// this Step keys have any close stored before it (usually none), rather
// than one question a request as keys would.
func (s *State) storedCloses(c *stepCloses) {
	var ids []ID
	for r := range s.before {
		if keysOf(r.e, r.body).View == ViewRequest {
			ids = append(ids, r.id())
		}
	}
	for r := range s.rewritten {
		if keysOf(r.e, r.body).View == ViewRequest {
			ids = append(ids, r.id())
		}
	}
	for id := range c.targets {
		ids = append(ids, id)
	}
	if len(ids) < 2 {
		return
	}
	referenced := map[ID]bool{}
	if err := s.facts.Referenced(ViewClose, ids, func(id ID) { referenced[id] = true }); err != nil {
		s.fail(err)
		return
	}
	c.referenced = referenced
}

func (s *State) stepCloses() stepCloses {
	c := stepCloses{targets: map[ID][]*record{}}
	add := func(r *record) {
		if r.e.Kind != KindRequestClosed {
			return
		}
		if b, ok := r.body.(*RequestClosed); ok {
			c.targets[b.Request] = append(c.targets[b.Request], r)
		}
		for _, d := range r.e.Deps { // (a close whose body is gone)
			if _, ok := c.targets[d]; !ok {
				c.targets[d] = nil
			}
		}
	}
	for r, from := range s.before {
		switch {
		case !s.fresh[r] && r.status != from && r.e.Kind != KindRequestClosed:
			// Its organisation may be known only now (its author admitted).
			if _, ok := c.targets[r.id()]; !ok {
				c.targets[r.id()] = nil
			}
		case s.fresh[r] || r.status != from:
			add(r)
		}
	}
	for r := range s.rewritten {
		add(r)
	}
	return c
}

// keys are the keys of r: those its body decides, and for a request
// whether it is closed (ClosedRef), by the rule requestView follows.
func (s *State) keys(r *record, c stepCloses) Keys {
	k := keysOf(r.e, r.body)
	switch k.View {
	case ViewClose, ViewAck:
		k.Tag = OrgTag(s.orgOf(r))
		return k
	case ViewResponse:
		if b, ok := r.body.(*Response); ok {
			k.Tag = ResponseTag(s.orgOf(r), b.Type)
		}
		return k
	case ViewRequest:
	default:
		return k
	}
	id, org := r.id(), s.orgOf(r)
	closes := func(x *record) bool {
		b, ok := x.body.(*RequestClosed)
		return ok && x.status == StatusAccepted && b.Request == id && s.orgOf(x) == org
	}
	// The closes this Step changed first: the facts do not have them yet.
	// Then those stored before by the request's organisation (the tag says
	// whose; usually none, one index seek): the closes other organisations
	// wrote, which count for nothing, are not read at all.
	if slices.ContainsFunc(c.targets[id], closes) {
		k.Ref = ClosedRef
		return k
	}
	if c.referenced != nil && !c.referenced[id] {
		return k
	}
	if slices.ContainsFunc(s.tagged(ViewClose, OrgTag(org), id), closes) {
		k.Ref = ClosedRef
	}
	return k
}

// OrgTag is the tag of the entries of org that Facts lists by organisation
// (Keys.Tag of a close or an acknowledgement): never 0, which lists every
// tag.
func OrgTag(org OrgID) uint64 {
	t := binary.BigEndian.Uint64(org[:8])
	if t == 0 {
		t = 1
	}
	return t
}

// ResponseTag is the tag of org's responses of type t (Keys.Tag of a
// response): a request's views read each organisation's answers of each
// type apart, so that one organisation's thousands cost the others
// nothing. Never 0.
func ResponseTag(org OrgID, t ResponseType) uint64 {
	var b [40]byte
	copy(b[:32], org[:])
	binary.BigEndian.PutUint64(b[32:], uint64(t))
	h := sha256.Sum256(b[:])
	tag := binary.BigEndian.Uint64(h[:8])
	if tag == 0 {
		tag = 1
	}
	return tag
}

// OrgTagged reports whether the tag of an entry of view v names its
// organisation (keys): a store keeps such tags as keyed hashes.
func OrgTagged(v View) bool { return v == ViewClose || v == ViewAck || v == ViewResponse }

// tagged is records for the accepted entries of view v with ref and tag,
// oldest first, read a page at a time.
func (s *State) tagged(v View, tag uint64, ref ID) []*record {
	return s.taggedUpTo(v, tag, ref, maxTaggedPages*taggedPage)
}

// taggedUpTo is tagged for the newest max of those entries.
func (s *State) taggedUpTo(v View, tag uint64, ref ID, max int) []*record {
	var rs []*record
	var after *Cursor
	for read := 0; read < max; read += taggedPage {
		es, err := s.facts.Page(v, tag, &ref, after, min(taggedPage, max-read))
		if err != nil {
			s.fail(err)
			break
		}
		for _, e := range es {
			if r := s.get(e.id); r != nil && r.status == StatusAccepted {
				rs = append(rs, r)
			}
		}
		if len(es) < min(taggedPage, max-read) {
			break
		}
		last := es[len(es)-1]
		after = &Cursor{Clock: last.Clock, ID: last.id}
	}
	sortRecords(rs)
	return rs
}

// Pages of tagged; the bound on pages is a guard (one organisation's
// closes of one request: one or two).
const (
	taggedPage     = 256
	maxTaggedPages = 1 << 20
)

// Restore loads what a new state keeps in memory from facts that hold
// entries already (a node's store, opened again): the entries it keeps in
// memory, with the membership their replay gives. It then judges those
// again, and the Ready holds the status changes that finds (none, for
// facts a State of this release wrote): the caller persists them. It reads
// nothing of the accepted entries it does not keep, except the
// predecessors of waiting ones.
func (s *State) Restore() (Ready, error) {
	return s.restore(true)
}

// RestoreForReading is Restore without the waiting pool: the entries not
// accepted stay in the facts, unread, so that a process that only reads
// (a CLI command that shows something) pays nothing for a full pool. Such
// a State answers every view as Restore's would, but judges no entry:
// Step, Apply, ApplyBatch and Check fail with ErrReadOnly, and Each lists
// the accepted entries only. The Ready it returns is empty unless the
// facts were written by another release (Restore then tells what to
// correct).
func (s *State) RestoreForReading() (Ready, error) {
	s.readOnly = true
	return s.restore(false)
}

// ReadOnly reports whether the State was restored for reading only.
func (s *State) ReadOnly() bool { return s.readOnly }

func (s *State) restore(pool bool) (Ready, error) {
	s.begin()
	var waiting []*record
	err := s.facts.Resident(pool, func(e *Entry, st Status) error {
		if s.recs[e.id] != nil {
			return nil
		}
		r := &record{e: e, body: e.ParsedBody(), status: st, linked: st != StatusWaiting}
		s.recs[e.id] = r
		s.chainAdd(r)
		if target, ok := redactionTarget(r.body); ok {
			s.redactedBy[target] = append(s.redactedBy[target], r)
		}
		if e.Kind.Membership() {
			s.members[e.id] = r
			if rv, ok := r.body.(*DeviceRevoked); ok {
				s.revokes[rv.Device] = true
			}
		}
		switch st {
		case StatusAccepted:
			s.v.add(r)
		case StatusWaiting:
			waiting = append(waiting, r)
			fallthrough
		default:
			s.pending.push(r)
			s.pendingBytes += int64(len(r.e.raw))
		}
		return nil
	})
	s.fail(err)
	if c, err := s.facts.MaxClock(); err == nil {
		s.maxClock = max(s.maxClock, c)
	} else {
		s.fail(err)
	}
	for _, r := range s.members {
		if rv, ok := r.body.(*DeviceRevoked); ok && !rv.Head.IsZero() && s.get(rv.Head) == nil {
			s.headWait[rv.Head]++
		}
	}
	for _, r := range waiting {
		if r.e.Seq == 1 {
			s.setLinked(r)
		} else if p := s.get(r.e.Prev); p != nil && p.linked {
			s.setLinked(r)
		} else {
			s.waiters[r.e.Prev] = append(s.waiters[r.e.Prev], r)
		}
	}
	// Judge again what is kept in memory. The accepted entries that are not
	// kept were judged by the same rules over the same membership.
	s.dirty = false
	s.m = s.replay(nil)
	for _, r := range s.recs {
		s.touched[r] = true
	}
	s.resolve()
	for r := range s.touched {
		delete(s.touched, r)
	}
	ready := s.finish()
	return ready, s.err
}

// release forgets r if it need not stay in memory.
func (s *State) release(r *record) {
	if s.recs[r.id()] != r || r.resident() {
		return
	}
	delete(s.recs, r.id())
	s.chainRemove(r)
	if target, ok := redactionTarget(r.body); ok { // (redactions are resident: defensive)
		s.redactedBy[target] = slices.DeleteFunc(s.redactedBy[target], func(y *record) bool { return y == r })
		if len(s.redactedBy[target]) == 0 {
			delete(s.redactedBy, target)
		}
	}
}

// knownStatus is what the facts said of an entry (prefetch).
type knownStatus struct {
	st       Status
	withheld bool
	stored   bool
}

// prefetch asks the facts, in one question, where the entries es that the
// State does not keep stand (is it held already?), rather than one at a
// time as insert would.
func (s *State) prefetch(es []*Entry) {
	ids := make([]ID, 0, len(es))
	for _, e := range es {
		if s.recs[e.id] == nil {
			ids = append(ids, e.id)
		}
	}
	known := make(map[ID]knownStatus, len(ids))
	for _, id := range ids {
		known[id] = knownStatus{}
	}
	if err := s.facts.Statuses(ids, func(id ID, st Status, withheld bool) {
		known[id] = knownStatus{st, withheld, true}
	}); err != nil {
		s.fail(err)
		return
	}
	s.known = known
}

// status is Facts.Status, answered by prefetch's question if it was asked.
func (s *State) status(id ID) (Status, bool, bool, error) {
	if k, asked := s.known[id]; asked {
		return k.st, k.withheld, k.stored, nil
	}
	return s.facts.Status(id)
}

// insert runs the checks that need no membership and adds the entry.
func (s *State) insert(e *Entry) (*record, bool, error) {
	if !e.verified {
		return nil, false, ErrUnverified
	}
	// Held already? An accepted entry the state does not keep is looked
	// up without being read, unless it waits for the body e carries.
	held := s.recs[e.id] != nil
	if !held && !s.gone[e.id] {
		st, withheld, ok, err := s.status(e.id)
		if err != nil {
			s.fail(err)
			return nil, false, err
		}
		if ok && !(withheld && !e.Withheld) {
			return &record{e: e, status: st}, true, nil
		}
		held = ok
	}
	if held {
		if r := s.get(e.id); r != nil {
			if r.e.Withheld && !e.Withheld {
				s.fill(r, e)
			}
			return r, true, nil
		}
	}
	if e.Kind == KindGenesis {
		if e.id != s.network {
			return nil, false, fmt.Errorf("%w: a genesis entry, but not this network's", ErrWrongNetwork)
		}
	} else if e.Network != s.network {
		return nil, false, ErrWrongNetwork
	}
	if e.Kind.Membership() && e.Withheld {
		return nil, false, ErrWithheld
	}
	var p *record
	if e.Seq > 1 {
		p = s.get(e.Prev)
	}
	if p != nil {
		if err := checkLink(p.e, e); err != nil {
			return nil, false, err
		}
	}
	r := &record{e: e, body: e.ParsedBody()}
	s.recs[e.id] = r
	delete(s.gone, e.id)
	s.fresh[r] = true
	s.before[r] = StatusNone
	s.chainAdd(r)
	if e.Clock > s.maxClock {
		s.maxClock = e.Clock
	}
	if target, ok := redactionTarget(r.body); ok {
		s.redactedBy[target] = append(s.redactedBy[target], r)
	}
	if e.Kind.Membership() {
		s.members[e.id] = r
		s.dirty = true
		if rv, ok := r.body.(*DeviceRevoked); ok {
			s.revokes[rv.Device] = true
			if !rv.Head.IsZero() && s.get(rv.Head) == nil {
				s.headWait[rv.Head]++
			}
		}
	}
	if s.revokes[e.Author] || s.headWait[e.id] > 0 {
		// The chain a revocation accepts may now be known further down.
		s.dirty = true
		s.retouch[e.Author] = true
	}
	delete(s.headWait, e.id)
	s.touched[r] = true

	// Entries that named this one as their predecessor can now be checked;
	// those that do not follow it never will.
	var bad []*record
	for _, c := range s.waiters[e.id] {
		if checkLink(e, c.e) != nil {
			bad = append(bad, c)
		}
	}
	for _, c := range bad {
		s.drop(c, checkLink(e, c.e), true)
	}
	// Link it into its author's chain, and with it whatever waited for it.
	if e.Seq == 1 {
		s.setLinked(r)
	} else if p != nil && p.linked {
		s.setLinked(r)
	} else {
		s.waiters[e.Prev] = append(s.waiters[e.Prev], r)
	}
	return r, false, nil
}

func checkLink(prev, next *Entry) error {
	switch {
	case prev.Author != next.Author:
		return fmt.Errorf("%w: previous entry is another device's", ErrBrokenChain)
	case prev.Seq+1 != next.Seq:
		return fmt.Errorf("%w: previous entry has seq %d, this one %d", ErrBrokenChain, prev.Seq, next.Seq)
	case prev.Clock >= next.Clock:
		return fmt.Errorf("%w: clock %v is not after the previous entry's %v", ErrBrokenChain, next.Clock, prev.Clock)
	}
	return nil
}

// setLinked marks r linked and, transitively, the entries that waited for it.
func (s *State) setLinked(r *record) {
	stack := []*record{r}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.linked {
			continue
		}
		x.linked = true
		s.touched[x] = true
		if x.e.Kind.Membership() {
			s.dirty = true
		}
		for _, c := range s.waiters[x.id()] {
			if !c.linked && c.e.Prev == x.id() {
				stack = append(stack, c)
			}
		}
		delete(s.waiters, x.id())
	}
}

// drop removes an entry. With cascade, the entries waiting for it go too:
// they can never follow an entry that is refused for good. Without (an
// entry evicted from the waiting pool may arrive again), they stay.
func (s *State) drop(r *record, reason error, cascade bool) {
	stack := []*record{r}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.recs[x.id()] != x {
			continue
		}
		if _, ok := s.before[x]; !ok {
			s.before[x] = x.status
		}
		s.setStatus(x, StatusNone, reason)
		delete(s.recs, x.id())
		s.gone[x.id()] = true
		if target, ok := redactionTarget(x.body); ok {
			rs := slices.DeleteFunc(s.redactedBy[target], func(y *record) bool { return y == x })
			if len(rs) == 0 {
				delete(s.redactedBy, target)
			} else {
				s.redactedBy[target] = rs
			}
		}
		s.chainRemove(x)
		ws := slices.DeleteFunc(s.waiters[x.e.Prev], func(y *record) bool { return y == x })
		if len(ws) == 0 {
			delete(s.waiters, x.e.Prev)
		} else {
			s.waiters[x.e.Prev] = ws
		}
		if x.e.Kind.Membership() {
			delete(s.members, x.id())
			s.dirty = true
		}
		delete(s.touched, x)
		if cascade {
			stack = append(stack, s.waiters[x.id()]...)
			delete(s.waiters, x.id())
		}
	}
}

// resolve brings every status up to date after insertions.
func (s *State) resolve() {
	if s.dirty {
		s.dropBadRevocations()
		s.dirty = false
		old := s.m
		s.m = s.replay(nil)
		for key := range s.m.changedDevices(old) {
			for _, r := range s.authored(key) {
				s.touched[r] = true
			}
		}
		for _, r := range s.members {
			s.touched[r] = true
		}
	}
	for key := range s.retouch {
		for _, rs := range s.chains[key] {
			for _, r := range rs {
				if r.status == StatusWaiting {
					s.touched[r] = true
				}
			}
		}
	}
	s.retouch = map[DeviceKey]bool{}
	for r := range s.touched {
		if s.recs[r.id()] != r {
			continue
		}
		if _, ok := s.before[r]; !ok {
			s.before[r] = r.status
		}
		st, why := s.evaluate(r)
		s.setStatus(r, st, why)
	}
	s.touched = map[*record]bool{}
	s.evict()
}

// evaluate decides where an entry stands given the current membership.
func (s *State) evaluate(r *record) (Status, error) {
	if !r.linked {
		return StatusWaiting, fmt.Errorf("%w: previous entry %v of its author", ErrMissing, r.e.Prev)
	}
	if r.e.Kind.Membership() {
		return s.m.verdict(r)
	}
	return s.m.standing(s, r)
}

func (s *State) setStatus(r *record, st Status, why error) {
	r.reason = why
	if st == StatusAccepted {
		r.reason = nil
	}
	if r.status == st {
		return
	}
	if r.status == StatusAccepted {
		s.v.remove(r)
	}
	if st == StatusAccepted {
		s.v.add(r)
	}
	wasPending := r.status == StatusWaiting || r.status == StatusHeld
	isPending := st == StatusWaiting || st == StatusHeld
	if wasPending && !isPending {
		s.pending.remove(r)
		s.pendingBytes -= int64(len(r.e.raw))
	}
	if isPending && !wasPending {
		s.pending.push(r)
		s.pendingBytes += int64(len(r.e.raw))
	}
	r.status = st
}

// evict drops the oldest waiting or held entries while over the limits.
func (s *State) evict() {
	for s.pending.len() > 0 && (s.pending.len() > s.limits.MaxPending || s.pendingBytes > s.limits.MaxPendingBytes) {
		s.drop(s.pending.oldest(), ErrPoolFull, false)
	}
	if s.dirty { // a dropped membership entry changes nothing accepted, but keep the replay exact
		s.resolve()
	}
}

// Has reports whether the state holds the entry, and its status.
func (s *State) Has(id ID) (Status, bool) {
	if r := s.recs[id]; r != nil {
		return r.status, true
	}
	if s.stepping && s.gone[id] {
		return StatusNone, false
	}
	st, _, ok, err := s.facts.Status(id) // (not read: only its status)
	if err != nil {
		s.fail(err)
		return StatusNone, false
	}
	return st, ok
}

// Entry returns a held entry and its status.
func (s *State) Entry(id ID) (*Entry, Status, bool) {
	r := s.get(id)
	if r == nil {
		return nil, StatusNone, false
	}
	return r.e, r.status, true
}

// Why returns the reason an entry is waiting or held.
func (s *State) Why(id ID) error {
	if r := s.recs[id]; r != nil {
		return r.reason
	}
	return nil
}

// MaxClock is the highest clock of any entry held.
func (s *State) MaxClock() Clock { return s.maxClock }

// Head returns the accepted entry of author with the highest seq (the lowest
// ID among forks), or nil.
func (s *State) Head(author DeviceKey) *Entry {
	e, err := s.facts.Head(author)
	s.fail(err)
	return e
}

// Counts reports how many entries the state holds, by status.
type Counts struct {
	Accepted, Waiting, Held int
	Unknown                 map[Kind]int // accepted entries of kinds this release cannot read
}

// Counts returns how many entries are held, by status.
func (s *State) Counts() Counts {
	c, err := s.facts.Counts()
	s.fail(err)
	if c.Unknown == nil {
		c.Unknown = map[Kind]int{}
	}
	return c
}

// Each calls fn for every entry the state holds, whatever its status, in
// no particular order. fn must not call back into the State.
// (A State restored for reading holds no entry that is not accepted.)
func (s *State) Each(fn func(e *Entry, st Status)) {
	s.Accepted(func(e *Entry) { fn(e, StatusAccepted) })
	for _, r := range s.recs {
		if r.status != StatusAccepted {
			fn(r.e, r.status)
		}
	}
}

// Accepted calls fn for every accepted entry, in ID order.
func (s *State) Accepted(fn func(*Entry)) {
	for _, id := range s.acceptedIDs() {
		if r := s.get(id); r != nil {
			fn(r.e)
		}
	}
}

func (s *State) acceptedIDs() []ID {
	var ids []ID
	s.fail(s.facts.Accepted(func(id ID) error {
		ids = append(ids, id)
		return nil
	}))
	return ids
}

// Digest is a hash of the state: of the network and the set of accepted
// entries, from which everything else in the state is derived. Two states
// with the same accepted entries have the same digest, whatever order the
// entries came in and whichever release computed it (a newer release may
// read more kinds, but accepts the same set).
func (s *State) Digest() [32]byte {
	digest := func(n int, each func(func(ID) error) error) ([32]byte, int, error) {
		h := sha256.New()
		h.Write([]byte("murmur-state-v1\n"))
		h.Write(s.network[:])
		h.Write(binary.AppendUvarint(nil, uint64(n)))
		seen := 0
		err := each(func(id ID) error {
			h.Write(id[:])
			seen++
			return nil
		})
		var out [32]byte
		h.Sum(out[:0])
		return out, seen, err
	}
	// Streamed: the count first, from the facts' tally, then the IDs as
	// they come; if the facts changed in between (another process wrote),
	// again, and at last from one list held in memory.
	for range 3 {
		n := s.Counts().Accepted
		d, seen, err := digest(n, s.facts.Accepted)
		if err != nil {
			s.fail(err)
			break
		}
		if seen == n {
			return d
		}
	}
	ids := s.acceptedIDs()
	d, _, _ := digest(len(ids), func(fn func(ID) error) error {
		for _, id := range ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		return nil
	})
	return d
}

// pendingQueue orders waiting and held entries by arrival, for eviction.
type pendingSlot struct{ r *record }

type pendingQueue struct {
	slots []*pendingSlot // arrival order; removed slots have r == nil
	head  int
	n     int
}

func (q *pendingQueue) push(r *record) {
	sl := &pendingSlot{r: r}
	r.pending = sl
	q.slots = append(q.slots, sl)
	q.n++
}

func (q *pendingQueue) remove(r *record) {
	if r.pending != nil {
		r.pending.r = nil
		r.pending = nil
		q.n--
	}
}

func (q *pendingQueue) len() int { return q.n }

func (q *pendingQueue) oldest() *record {
	for q.head < len(q.slots) && q.slots[q.head].r == nil {
		q.head++
	}
	if q.head > 1024 && q.head > len(q.slots)/2 { // compact
		q.slots = append([]*pendingSlot{}, q.slots[q.head:]...)
		q.head = 0
	}
	return q.slots[q.head].r
}

// Check answers, without changing the state, where an entry would stand if
// applied: the one validation used before anything is stored or forwarded.
// It runs the same checks and the same membership replay as Apply.
func (s *State) Check(e *Entry) (Status, error) {
	if s.readOnly {
		return StatusNone, ErrReadOnly
	}
	if !e.verified {
		return StatusNone, ErrUnverified
	}
	if r := s.get(e.id); r != nil {
		return r.status, r.reason
	}
	if e.Kind == KindGenesis {
		if e.id != s.network {
			return StatusNone, fmt.Errorf("%w: a genesis entry, but not this network's", ErrWrongNetwork)
		}
		return StatusAccepted, nil
	}
	if e.Network != s.network {
		return StatusNone, ErrWrongNetwork
	}
	if e.Kind.Membership() && e.Withheld {
		return StatusNone, ErrWithheld
	}
	r := &record{e: e, body: e.ParsedBody(), linked: e.Seq == 1}
	if e.Seq > 1 {
		p := s.get(e.Prev)
		if p != nil {
			if err := checkLink(p.e, e); err != nil {
				return StatusNone, err
			}
		}
		r.linked = p != nil && p.linked
	}
	if !r.linked {
		return StatusWaiting, fmt.Errorf("%w: previous entry %v of its author", ErrMissing, e.Prev)
	}
	if !e.Kind.Membership() {
		return s.m.standing(s, r)
	}
	if rv, ok := r.body.(*DeviceRevoked); ok && rv.Cutoff > 0 {
		if h := s.get(rv.Head); h != nil && (h.e.Author != rv.Device || h.e.Seq != rv.Cutoff) {
			return StatusNone, fmt.Errorf("%w: revocation's head is not the device's entry at its cut-off", ErrInvalid)
		}
	}
	return s.replay(r).verdict(r)
}

// Redacted lists org's entries whose words its redaction took back.
func (s *State) Redacted(org OrgID) []ID {
	var out []ID
	for id := range s.redactedBy {
		if t := s.get(id); t != nil && s.orgOf(t) == org && s.redactionOf(t) != nil {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// RedactableBetween lists the accepted entries of org whose IDs lie
// between lo and hi (both included) and whose bodies a redaction by org
// would take back: not membership entries, not redactions, not withheld
// already. Ordered by ID; it reads at most max entries of the range.
func (s *State) RedactableBetween(org OrgID, lo, hi ID, max int) []ID {
	es, err := s.facts.Range(ViewNone, lo, hi, max)
	s.fail(err)
	var out []ID
	for _, e := range es {
		if r := s.get(e.id); r != nil && r.status == StatusAccepted && !r.e.Withheld && !r.e.Kind.Membership() && !isRedaction(r.e.Kind) && s.orgOf(r) == org {
			out = append(out, e.id)
		}
	}
	return out
}
