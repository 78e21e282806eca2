package crdt

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

// Facts answer what a State asks about the entries it was given before.
//
// A State keeps in memory only what its rules need at every step, whose
// size grows with the network and not with its history: the membership
// entries, the entries not accepted (waiting or held, bounded by Limits),
// and the accepted entries of the few kinds that describe the network
// (organisation keys, address hints, secret checks, redactions). Every
// other accepted entry — requests, responses, closes, directory entries,
// grant records, key shares, sealed and unknown kinds: the bulk of a
// log — is handed to its Facts and asked for again when needed. Raft's
// Storage is the model: the State decides, the Facts remember.
//
// After each Step the caller must persist its Ready into the Facts before
// the State is asked anything else: the State reads its Facts as the truth
// about every entry it does not keep. A Facts answers from what was
// persisted; it never judges. The same State over MemoryFacts and over the
// node's store must answer alike (the property tests check the first; the
// store's suite the second).
type Facts interface {
	// Get returns a stored entry (without its body if it was stored so)
	// and its status; ok is false if it is not stored.
	Get(id ID) (e *Entry, st Status, ok bool, err error)
	// Status is what Get says of the entry, without reading it: whether
	// it is stored, its status, and whether it is held without its body.
	Status(id ID) (st Status, withheld, ok bool, err error)
	// Statuses is Status for each of ids, in one question: fn is called
	// for each that is stored, in no particular order.
	Statuses(ids []ID, fn func(id ID, st Status, withheld bool)) error
	// Authored calls fn for every stored entry of author, whatever its
	// status, in no particular order.
	Authored(author DeviceKey, fn func(e *Entry, st Status) error) error
	// Head returns author's accepted entry with the highest seq (the
	// lowest ID among forks), or nil.
	Head(author DeviceKey) (*Entry, error)
	// Device reports how many accepted entries author has, and whether two
	// of them share a sequence number.
	Device(author DeviceKey) (entries int, forked bool, err error)
	// View calls fn for every accepted entry listed in view v, in no
	// particular order.
	View(v View, fn func(*Entry) error) error
	// Refs calls fn for every accepted entry of view v whose Keys.Ref is
	// ref (the responses of a request, the key shares of a sealed entry).
	Refs(v View, ref ID, fn func(*Entry) error) error
	// Referenced calls fn, once each and in no particular order, for
	// those of refs that some accepted entry of view v has as its
	// Keys.Ref: in one question, which of a Step's requests have any
	// close at all (usually none).
	Referenced(v View, refs []ID, fn func(ref ID)) error
	// Grants calls fn for every accepted grant record carrying token.
	Grants(token [32]byte, fn func(*Entry) error) error
	// Withheld calls fn, in ascending ID order, for every accepted entry
	// stored without its body, until fn returns false.
	Withheld(fn func(ID) bool) error
	// Accepted calls fn for every accepted entry's ID, in ascending order.
	Accepted(fn func(ID) error) error
	// Counts reports how many entries are stored by status, and the
	// accepted ones of kinds this release cannot read.
	Counts() (Counts, error)
	// MaxClock is the highest clock of any entry stored.
	MaxClock() (Clock, error)
	// Page returns up to limit accepted entries of view v, newest first
	// (by clock, then ID, both descending), that come after cursor if it
	// is not nil; with tag != 0, only those whose Keys.Tag is tag; with
	// ref not nil, only those whose Keys.Ref is *ref (the zero ID: those
	// with no ref, such as the open requests).
	Page(v View, tag uint64, ref *ID, after *Cursor, limit int) ([]*Entry, error)
	// Range returns up to max accepted entries of view v (ViewNone: of
	// any view, or none) whose IDs lie between lo and hi (both included),
	// in ascending ID order: the entries an ID prefix names.
	Range(v View, lo, hi ID, max int) ([]*Entry, error)
	// Count is how many accepted entries Page would list with the same
	// view, tag and ref, after cursor if it is not nil, and no limit.
	Count(v View, tag uint64, ref *ID, after *Cursor) (int, error)
	// CountUpTo is how many accepted entries of view v with ref have tag
	// (not 0), counted up to max: one organisation's answers of one type
	// to one request, say, which a view counts without reading them.
	CountUpTo(v View, tag uint64, ref ID, max int) (int, error)
	// Stat returns the statistics' inputs stored for request id (the
	// last a Ready gave), ok false if none are.
	Stat(id ID) (st RequestStat, ok bool, err error)
	// Resident calls fn for every stored entry a State keeps in memory:
	// those not accepted (the waiting pool: only given pool), and the
	// accepted ones of kinds for which ResidentKind is true.
	Resident(pool bool, fn func(e *Entry, st Status) error) error
}

// Cursor is a position in a view listed newest first: the entry last
// shown.
type Cursor struct {
	Clock Clock
	ID    ID
}

// before reports whether an entry at (c, id) comes after cursor in a list
// that is newest first.
func (cu *Cursor) before(c Clock, id ID) bool {
	return cu == nil || c < cu.Clock || c == cu.Clock && id.Less(cu.ID)
}

// View is the list of the read side an accepted entry belongs to.
type View uint8

// The views a Facts indexes accepted entries by.
const (
	ViewNone      View = iota
	ViewRequest        // requests, sealed ones included
	ViewResponse       // responses, by request (Ref)
	ViewClose          // closes, by request (Ref)
	ViewAck            // alert acknowledgements, by request (Ref)
	ViewDirectory      // directory entries, by author device (Ref)
	ViewGrant          // grant records (also by token: Keys.Tokens)
	ViewShare          // key shares, by the sealed entry they share (Ref)
)

// Keys are what a Facts finds an entry by, decided by the State from the
// entry's body (or, for a redacted one, what its redaction kept) and, for
// a request, whether it is closed.
type Keys struct {
	View   View
	Tag    uint64 // a request's type
	Ref    ID     // the entry it names; for a request, ClosedRef once closed
	Tokens [][32]byte
}

// ClosedRef is the Ref of a closed request: a request with no ref is open,
// so that the open ones are listed without reading the closed (Page with
// the zero ID as ref). It names no entry.
var ClosedRef = ID(sha256.Sum256([]byte("murmur: a closed request")))

// Rekey is a stored entry whose keys changed while its bytes did not: a
// request closed, or open again (its close undone).
type Rekey struct {
	ID   ID
	Keys Keys
}

// Stored is an entry as a State hands it to its Facts.
type Stored struct {
	Entry  *Entry
	Status Status
	Keys   Keys
}

// Ready is what one Step changed, for the caller to persist into the
// State's Facts (and to act on: index, publish) in one transaction.
type Ready struct {
	// Stored are the entries given to this Step that the State keeps, with
	// their status.
	Stored []Stored
	// Changes are the status changes of entries stored before (To
	// StatusNone: the entry is dropped), ordered by ID.
	Changes []Change
	// Rewritten are entries stored before whose stored form changed: a
	// body a redaction took back (Entry is then without it), or a body that
	// arrived for an entry held without one. Keys are their new keys.
	Rewritten []Stored
	// Rekeyed are entries stored before whose keys changed, ordered by
	// ID: requests closed or opened again.
	Rekeyed []Rekey
	// Stats are the statistics' inputs of the requests this Step may
	// have changed (stats.go), ordered by ID; StatsNew those of the
	// requests it stored (none were stored for them before); StatsGone
	// the requests whose inputs were stored and no longer count (not
	// accepted, or their body taken back).
	Stats     []RequestStat
	StatsNew  []RequestStat
	StatsGone []ID
}

// keysOf decides the keys of an entry whose (possibly kept) body is body.
func keysOf(e *Entry, body any) Keys {
	switch b := body.(type) {
	case *Directory:
		return Keys{View: ViewDirectory, Ref: ID(e.Author)}
	case *Request:
		return Keys{View: ViewRequest, Tag: uint64(b.Type)}
	case *Response:
		return Keys{View: ViewResponse, Ref: b.Request}
	case *RequestClosed:
		return Keys{View: ViewClose, Ref: b.Request}
	case *AlertAck:
		return Keys{View: ViewAck, Ref: b.Request}
	case *Grant:
		return Keys{View: ViewGrant, Tokens: b.Tokens}
	case *KeyShare:
		return Keys{View: ViewShare, Ref: b.Target}
	case nil, *Sealed:
		// A withheld body: the entry still counts as a request (a sealed
		// one without dependencies is a request: a response names its).
		if e.Kind == KindRequest || e.Kind == KindSealed && len(e.Deps) == 0 {
			return Keys{View: ViewRequest}
		}
	}
	return Keys{}
}

// ResidentKind reports whether accepted entries of kind k stay in a
// State's memory: the kinds its rules read at every step, whose number
// grows with the network, not with its history.
func ResidentKind(k Kind) bool { return residentKind(k) }

func residentKind(k Kind) bool {
	switch k {
	case KindOrgKey, KindOrgKeyV2, KindAddressHint, KindSecretCheck, KindRedaction, KindRedactionV2:
		return true
	}
	return k.Membership()
}

// MemoryFacts keep everything in memory. A State made by NewState uses one
// and persists each Ready into it itself.
type MemoryFacts struct {
	entries  map[ID]*memFact
	byAuthor map[DeviceKey]map[ID]*memFact
	views    map[View]map[ID]*memFact
	refs     map[View]map[ID]map[ID]*memFact
	grants   map[[32]byte]map[ID]*memFact
	stats    map[ID]RequestStat
	maxClock Clock
}

type memFact struct {
	e    *Entry
	st   Status
	keys Keys
}

// NewMemoryFacts returns empty Facts.
func NewMemoryFacts() *MemoryFacts {
	return &MemoryFacts{
		entries:  map[ID]*memFact{},
		byAuthor: map[DeviceKey]map[ID]*memFact{},
		views:    map[View]map[ID]*memFact{},
		refs:     map[View]map[ID]map[ID]*memFact{},
		grants:   map[[32]byte]map[ID]*memFact{},
		stats:    map[ID]RequestStat{},
	}
}

func put[K comparable](m map[K]map[ID]*memFact, k K, f *memFact) {
	if m[k] == nil {
		m[k] = map[ID]*memFact{}
	}
	m[k][f.e.id] = f
}

func del[K comparable](m map[K]map[ID]*memFact, k K, id ID) {
	delete(m[k], id)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

func (m *MemoryFacts) index(f *memFact, add bool) {
	if f.keys.View == ViewNone {
		return
	}
	id := f.e.id
	if add {
		put(m.views, f.keys.View, f)
	} else {
		del(m.views, f.keys.View, id)
	}
	if f.keys.Ref != (ID{}) {
		if m.refs[f.keys.View] == nil {
			m.refs[f.keys.View] = map[ID]map[ID]*memFact{}
		}
		if add {
			put(m.refs[f.keys.View], f.keys.Ref, f)
		} else {
			del(m.refs[f.keys.View], f.keys.Ref, id)
		}
	}
	for _, t := range f.keys.Tokens {
		if add {
			put(m.grants, t, f)
		} else {
			del(m.grants, t, id)
		}
	}
}

// Persist applies a Ready.
func (m *MemoryFacts) Persist(r Ready) {
	for _, s := range r.Stored {
		if m.entries[s.Entry.id] != nil {
			continue
		}
		f := &memFact{e: s.Entry, st: s.Status, keys: s.Keys}
		m.entries[f.e.id] = f
		put(m.byAuthor, f.e.Author, f)
		m.index(f, true)
		m.maxClock = max(m.maxClock, f.e.Clock)
	}
	for _, c := range r.Changes {
		f := m.entries[c.ID]
		if f == nil {
			continue
		}
		if c.To == StatusNone {
			m.index(f, false)
			delete(m.entries, c.ID)
			del(m.byAuthor, f.e.Author, c.ID)
			continue
		}
		f.st = c.To
	}
	for _, s := range r.Rewritten {
		if f := m.entries[s.Entry.id]; f != nil {
			m.index(f, false)
			f.e, f.keys = s.Entry, s.Keys
			m.index(f, true)
		}
	}
	for _, k := range r.Rekeyed {
		if f := m.entries[k.ID]; f != nil {
			m.index(f, false)
			f.keys = k.Keys
			m.index(f, true)
		}
	}
	for _, st := range r.Stats {
		m.stats[st.ID] = st
	}
	for _, st := range r.StatsNew {
		m.stats[st.ID] = st
	}
	for _, id := range r.StatsGone {
		delete(m.stats, id)
	}
}

// Stat implements Facts.
func (m *MemoryFacts) Stat(id ID) (RequestStat, bool, error) {
	st, ok := m.stats[id]
	return st, ok, nil
}

// Stats calls fn for the statistics' inputs of every request, in no
// particular order.
func (m *MemoryFacts) Stats(fn func(RequestStat)) {
	for _, st := range m.stats {
		fn(st)
	}
}

// Status implements Facts.
func (m *MemoryFacts) Status(id ID) (Status, bool, bool, error) {
	if f := m.entries[id]; f != nil {
		return f.st, f.e.Withheld, true, nil
	}
	return StatusNone, false, false, nil
}

// Statuses implements Facts.
func (m *MemoryFacts) Statuses(ids []ID, fn func(ID, Status, bool)) error {
	for _, id := range ids {
		if f := m.entries[id]; f != nil {
			fn(id, f.st, f.e.Withheld)
		}
	}
	return nil
}

// Get implements Facts.
func (m *MemoryFacts) Get(id ID) (*Entry, Status, bool, error) {
	if f := m.entries[id]; f != nil {
		return f.e, f.st, true, nil
	}
	return nil, StatusNone, false, nil
}

// Authored implements Facts.
func (m *MemoryFacts) Authored(author DeviceKey, fn func(*Entry, Status) error) error {
	for _, f := range m.byAuthor[author] {
		if err := fn(f.e, f.st); err != nil {
			return err
		}
	}
	return nil
}

// Head implements Facts.
func (m *MemoryFacts) Head(author DeviceKey) (*Entry, error) {
	var best *Entry
	for _, f := range m.byAuthor[author] {
		if f.st != StatusAccepted {
			continue
		}
		if best == nil || f.e.Seq > best.Seq || f.e.Seq == best.Seq && f.e.id.Less(best.id) {
			best = f.e
		}
	}
	return best, nil
}

// Device implements Facts.
func (m *MemoryFacts) Device(author DeviceKey) (int, bool, error) {
	n, forked := 0, false
	seqs := map[uint64]bool{}
	for _, f := range m.byAuthor[author] {
		if f.st == StatusAccepted {
			n++
			forked = forked || seqs[f.e.Seq]
			seqs[f.e.Seq] = true
		}
	}
	return n, forked, nil
}

func eachAccepted(fs map[ID]*memFact, fn func(*Entry) error) error {
	for _, f := range fs {
		if f.st == StatusAccepted {
			if err := fn(f.e); err != nil {
				return err
			}
		}
	}
	return nil
}

// View implements Facts.
func (m *MemoryFacts) View(v View, fn func(*Entry) error) error {
	return eachAccepted(m.views[v], fn)
}

// Refs implements Facts.
func (m *MemoryFacts) Refs(v View, ref ID, fn func(*Entry) error) error {
	return eachAccepted(m.refs[v][ref], fn)
}

// Referenced implements Facts.
func (m *MemoryFacts) Referenced(v View, refs []ID, fn func(ID)) error {
	seen := map[ID]bool{}
	for _, ref := range refs {
		if seen[ref] || ref == (ID{}) {
			continue
		}
		seen[ref] = true
		for _, f := range m.refs[v][ref] {
			if f.st == StatusAccepted {
				fn(ref)
				break
			}
		}
	}
	return nil
}

// Grants implements Facts.
func (m *MemoryFacts) Grants(token [32]byte, fn func(*Entry) error) error {
	return eachAccepted(m.grants[token], fn)
}

func (m *MemoryFacts) sorted(keep func(*memFact) bool) []ID {
	var ids []ID
	for id, f := range m.entries {
		if keep(f) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// Withheld implements Facts.
func (m *MemoryFacts) Withheld(fn func(ID) bool) error {
	for _, id := range m.sorted(func(f *memFact) bool { return f.st == StatusAccepted && f.e.Withheld }) {
		if !fn(id) {
			break
		}
	}
	return nil
}

// Accepted implements Facts.
func (m *MemoryFacts) Accepted(fn func(ID) error) error {
	for _, id := range m.sorted(func(f *memFact) bool { return f.st == StatusAccepted }) {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// Counts implements Facts.
func (m *MemoryFacts) Counts() (Counts, error) {
	c := Counts{Unknown: map[Kind]int{}}
	for _, f := range m.entries {
		switch f.st {
		case StatusAccepted:
			c.Accepted++
			if !f.e.Kind.Known() {
				c.Unknown[f.e.Kind]++
			}
		case StatusWaiting:
			c.Waiting++
		case StatusHeld:
			c.Held++
		}
	}
	return c, nil
}

// MaxClock implements Facts.
func (m *MemoryFacts) MaxClock() (Clock, error) { return m.maxClock, nil }

// among are the facts of view v that may have ref: those of that ref
// alone, when it names one.
func (m *MemoryFacts) among(v View, ref *ID) map[ID]*memFact {
	if ref != nil && *ref != (ID{}) {
		return m.refs[v][*ref]
	}
	return m.views[v]
}

// Page implements Facts.
func (m *MemoryFacts) Page(v View, tag uint64, ref *ID, after *Cursor, limit int) ([]*Entry, error) {
	var out []*Entry
	for _, f := range m.among(v, ref) {
		if f.lists(tag, ref) && after.before(f.e.Clock, f.e.id) {
			out = append(out, f.e)
		}
	}
	slices.SortFunc(out, func(a, b *Entry) int {
		if a.Clock != b.Clock {
			if a.Clock > b.Clock {
				return -1
			}
			return 1
		}
		return -bytes.Compare(a.id[:], b.id[:])
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// lists reports whether Page lists f in its view with tag and ref.
func (f *memFact) lists(tag uint64, ref *ID) bool {
	return f.st == StatusAccepted && (tag == 0 || f.keys.Tag == tag) && (ref == nil || f.keys.Ref == *ref)
}

// Count implements Facts.
func (m *MemoryFacts) Count(v View, tag uint64, ref *ID, after *Cursor) (int, error) {
	n := 0
	for _, f := range m.among(v, ref) {
		if f.lists(tag, ref) && after.before(f.e.Clock, f.e.id) {
			n++
		}
	}
	return n, nil
}

// CountUpTo implements Facts.
func (m *MemoryFacts) CountUpTo(v View, tag uint64, ref ID, max int) (int, error) {
	n, err := m.Count(v, tag, &ref, nil)
	return min(n, max), err
}

// Resident implements Facts.
func (m *MemoryFacts) Resident(pool bool, fn func(*Entry, Status) error) error {
	for _, f := range m.entries {
		if pool && f.st != StatusAccepted || f.st == StatusAccepted && residentKind(f.e.Kind) {
			if err := fn(f.e, f.st); err != nil {
				return err
			}
		}
	}
	return nil
}

// Range implements Facts.
func (m *MemoryFacts) Range(v View, lo, hi ID, max int) ([]*Entry, error) {
	var out []*Entry
	for _, id := range m.sorted(func(f *memFact) bool {
		return f.st == StatusAccepted && (v == ViewNone || f.keys.View == v) && bytes.Compare(f.e.id[:], lo[:]) >= 0 && bytes.Compare(f.e.id[:], hi[:]) <= 0
	}) {
		if len(out) == max {
			break
		}
		out = append(out, m.entries[id].e)
	}
	return out, nil
}

// Each calls fn for every entry stored, with its status and keys, in no
// particular order: what a store that lost its keys needs to have them
// again (a node's store from before keys existed).
func (m *MemoryFacts) Each(fn func(Stored)) {
	for _, f := range m.entries {
		fn(Stored{Entry: f.e, Status: f.st, Keys: f.keys})
	}
}

// Facts returns the facts of a state made by NewState.
func (s *State) Facts() *MemoryFacts { return s.own }
