package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// memory is the in-memory Store. It mirrors the SQLite store's behaviour,
// including where it allows re-entry: a function passed to Scan or Append
// runs with no data lock held, so it may read the store; Append's function
// runs while the write lock is held, so (as with SQLite) it must not write.
type memory struct {
	// writeMu is the one-writer lock: Put, SetMeta and the whole of Append,
	// fn included, hold it, so nothing is stored between fn reading the head
	// and the insert.
	writeMu sync.Mutex

	mu      sync.RWMutex // guards everything below
	closed  bool
	last    int64 // cursor of the last record stored; never reused
	gen     int64 // moved by every write of entries (Mark)
	changed int64 // moved when a stored entry is accepted or no longer is (Mark)
	byID    map[crdt.ID]*memEntry
	ordered []*memEntry // by cursor
	maxClk  crdt.Clock  // the highest clock ever stored
	meta    map[string][]byte
	// contacts: per device, by address (a string of its bytes).
	contacts map[crdt.DeviceKey]map[string]Contact
	// stats: the statistics' inputs by request; statsBuilt, whether they
	// are complete.
	stats      map[crdt.ID]crdt.RequestStat
	statsBuilt bool
}

type memEntry struct {
	cursor int64
	rec    Record
}

// NewMemory returns an empty in-memory Store with the same semantics as the
// SQLite one, for tests.
func NewMemory() Store {
	return &memory{byID: map[crdt.ID]*memEntry{}, meta: map[string][]byte{}, contacts: map[crdt.DeviceKey]map[string]Contact{},
		stats: map[crdt.ID]crdt.RequestStat{}, statsBuilt: true}
}

func cloneRecord(r Record) Record {
	r.Raw = bytes.Clone(r.Raw)
	if r.Raw == nil {
		r.Raw = []byte{}
	}
	r.Keys = cloneKeys(r.Keys)
	return r
}

// readBack is r as a reader gets it: a copy, without the ref and grant tokens
// (the SQLite store keeps only keyed hashes of them)
// (the SQLite store keeps only their keyed hashes).
func readBack(r Record) Record {
	r = cloneRecord(r)
	r.Keys.Tokens, r.Keys.Ref = nil, crdt.ID{}
	return r
}

func cloneKeys(k crdt.Keys) crdt.Keys {
	k.Tokens = slices.Clone(k.Tokens)
	if len(k.Tokens) == 0 {
		k.Tokens = nil
	}
	return k
}

// insertLocked stores r unless its ID is stored and reports whether it did.
func (m *memory) insertLocked(r Record) bool {
	if _, ok := m.byID[r.ID]; ok {
		return false
	}
	m.last++
	e := &memEntry{cursor: m.last, rec: cloneRecord(r)}
	m.byID[r.ID] = e
	m.ordered = append(m.ordered, e)
	m.maxClk = max(m.maxClk, r.Clock)
	return true
}

// after returns the index in m.ordered of the first entry with a cursor
// greater than c.
func (m *memory) after(c int64) int {
	return sort.Search(len(m.ordered), func(i int) bool { return m.ordered[i].cursor > c })
}

func (m *memory) Put(ctx context.Context, recs []Record, changes []crdt.Change) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: put: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.putLocked(recs, changes), nil
}

func (m *memory) putLocked(recs []Record, changes []crdt.Change) int {
	m.gen++
	added := 0
	for _, r := range recs {
		if m.insertLocked(r) {
			added++
		}
	}
	for _, c := range changes {
		e, ok := m.byID[c.ID]
		if !ok {
			continue
		}
		m.noteChange(e.rec.Status, c.To)
		if c.To != crdt.StatusNone {
			e.rec.Status = c.To
			continue
		}
		m.deleteLocked(e)
	}
	return added
}

// noteChange moves the changed mark if a stored entry's move from one
// status to another changes the accepted set.
func (m *memory) noteChange(from, to crdt.Status) {
	if from != to && (from == crdt.StatusAccepted || to == crdt.StatusAccepted) {
		m.changed++
	}
}

func (m *memory) deleteLocked(e *memEntry) {
	delete(m.byID, e.rec.ID)
	i := m.after(e.cursor - 1)
	m.ordered = append(m.ordered[:i], m.ordered[i+1:]...)
}

func (m *memory) Append(ctx context.Context, author crdt.DeviceKey, fn func(head Head, maxClock crdt.Clock) (Record, error)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: append: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()

	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	var head Head
	maxClock := m.maxClk // the highest ever stored, as SQLite's clock mark
	found := false
	for _, e := range m.ordered {
		r := &e.rec
		if r.Author == author && (!found || r.Seq > head.Seq || r.Seq == head.Seq && r.ID.Less(head.ID)) {
			head = Head{Seq: r.Seq, ID: r.ID, Clock: r.Clock}
			found = true
		}
	}
	m.mu.RUnlock()

	r, err := fn(head, maxClock)
	if err != nil {
		return err
	}
	if r.Author != author {
		return fmt.Errorf("store: append: %w: record by %s, chain of %s", ErrWrongAuthor, r.Author, author)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.gen++
	if !m.insertLocked(r) {
		return fmt.Errorf("store: append: %w: %s", ErrExists, r.ID)
	}
	return nil
}

// GetMany implements Store.
func (m *memory) GetMany(ctx context.Context, ids []crdt.ID) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: get many: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []Record
	seen := map[crdt.ID]bool{}
	for _, id := range ids {
		if e, ok := m.byID[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, readBack(e.rec))
		}
	}
	return out, nil
}

// Status implements Store.
func (m *memory) Statuses(ctx context.Context, ids []crdt.ID, fn func(crdt.ID, crdt.Status, bool)) error {
	for _, id := range ids {
		st, withheld, ok, err := m.Status(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			fn(id, st, withheld)
		}
	}
	return nil
}

func (m *memory) Status(ctx context.Context, id crdt.ID) (crdt.Status, bool, bool, error) {
	if err := ctx.Err(); err != nil {
		return crdt.StatusNone, false, false, fmt.Errorf("store: status: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return crdt.StatusNone, false, false, ErrClosed
	}
	e, ok := m.byID[id]
	if !ok {
		return crdt.StatusNone, false, false, nil
	}
	return e.rec.Status, withheldRaw(e.rec.Raw), true, nil
}

func (m *memory) Get(ctx context.Context, id crdt.ID) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("store: get: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Record{}, ErrClosed
	}
	e, ok := m.byID[id]
	if !ok {
		return Record{}, fmt.Errorf("%w: entry %s", ErrNotFound, id)
	}
	return readBack(e.rec), nil
}

func (m *memory) Scan(ctx context.Context, after int64, fn func(cursor int64, r Record) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return after, fmt.Errorf("store: scan: %w", err)
	}
	for {
		// Copy a page under the lock and call fn without it, as the SQLite
		// store does, so fn may call other methods.
		m.mu.RLock()
		if m.closed {
			m.mu.RUnlock()
			return after, ErrClosed
		}
		i := m.after(after)
		end := min(i+scanPage, len(m.ordered))
		page := make([]memEntry, 0, end-i)
		for _, e := range m.ordered[i:end] {
			page = append(page, memEntry{cursor: e.cursor, rec: readBack(e.rec)})
		}
		m.mu.RUnlock()

		for _, e := range page {
			if err := ctx.Err(); err != nil {
				return after, fmt.Errorf("store: scan: %w", err)
			}
			if err := fn(e.cursor, e.rec); err != nil {
				return after, err
			}
			after = e.cursor
		}
		if len(page) < scanPage {
			return after, nil
		}
	}
}

func (m *memory) Counts(ctx context.Context) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, fmt.Errorf("store: counts: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Counts{}, ErrClosed
	}
	c := Counts{Unknown: map[crdt.Kind]int{}}
	for _, e := range m.ordered {
		addCount(&c, e.rec.Status, 1, int64(len(e.rec.Raw)))
		if e.rec.Status == crdt.StatusAccepted && !e.rec.Kind.Known() {
			c.Unknown[e.rec.Kind]++
		}
	}
	return c, nil
}

func (m *memory) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: get meta: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	v, ok := m.meta[key]
	if !ok {
		return nil, fmt.Errorf("%w: meta %q", ErrNotFound, key)
	}
	return append([]byte{}, v...), nil
}

func (m *memory) SetMeta(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: set meta: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.meta[key] = append([]byte{}, value...)
	return nil
}

// Close does not take writeMu, so it may be called from inside Append's fn.
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memory) Rewrite(ctx context.Context, id crdt.ID, raw []byte, keys crdt.Keys) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: rewrite: %w", err)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.rewriteLocked(id, raw, keys)
	return nil
}

func (m *memory) rewriteLocked(id crdt.ID, raw []byte, keys crdt.Keys) {
	m.gen++
	if e := m.byID[id]; e != nil {
		e.rec.Raw = bytes.Clone(raw)
		if e.rec.Raw == nil {
			e.rec.Raw = []byte{}
		}
		e.rec.Keys = cloneKeys(keys)
		e.rec.Withheld = withheldRaw(raw)
	}
}

// contactOrder is Contacts' order: most recent first, then by device and
// address.
func contactOrder(a, b Contact) int {
	if c := b.Last.Compare(a.Last); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Device[:], b.Device[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.Addr, b.Addr)
}

func (m *memory) RecordContact(ctx context.Context, device crdt.DeviceKey, at time.Time, via Via, addrs ...[]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: record contact: %w", err)
	}
	if len(addrs) == 0 {
		return nil
	}
	at = time.UnixMilli(at.UnixMilli()) // the precision SQLite keeps
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	byAddr := m.contacts[device]
	if byAddr == nil {
		byAddr = map[string]Contact{}
		m.contacts[device] = byAddr
	}
	for _, a := range addrs {
		if cur, ok := byAddr[string(a)]; ok && at.Before(cur.Last) {
			continue
		}
		byAddr[string(a)] = Contact{Device: device, Addr: append([]byte{}, a...), Last: at, Via: via}
	}
	if len(byAddr) > MaxContactAddrs {
		all := make([]Contact, 0, len(byAddr))
		for _, c := range byAddr {
			all = append(all, c)
		}
		slices.SortFunc(all, contactOrder)
		for _, c := range all[MaxContactAddrs:] {
			delete(byAddr, string(c.Addr))
		}
	}
	return nil
}

func (m *memory) Contacts(ctx context.Context) ([]Contact, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []Contact
	for _, byAddr := range m.contacts {
		for _, c := range byAddr {
			c.Addr = bytes.Clone(c.Addr)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, contactOrder)
	return out, nil
}
