// Package store keeps a node's entries on disk. It knows nothing of
// validation or networking: the crdt State decides what an entry's status
// is, and the store makes that durable. Two implementations share one
// contract and one test suite: SQLite (modernc.org/sqlite, pure Go) for real
// use and an in-memory one for tests.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// ErrNotFound is returned when a record or meta key is not stored.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("store: closed")

// ErrDiskFull: a write found no room on the disk. Nothing of it was
// written; the store is as it was, and works again once there is room.
var ErrDiskFull = errors.New("the disk is full: nothing was written; free some space (or move the data directory to a larger disk) and try again")

// ErrExists is returned by Append when the record fn returns has an ID that
// is already stored: an entry written here must be new.
var ErrExists = errors.New("store: entry already stored")

// ErrWrongAuthor is returned by Append when the record fn returns is not by
// the author whose chain the transaction locked.
var ErrWrongAuthor = errors.New("store: record is not by the author appended to")

// Record is one stored entry with the fields the store indexes.
type Record struct {
	ID     crdt.ID
	Author crdt.DeviceKey
	Seq    uint64
	Clock  crdt.Clock
	Kind   crdt.Kind
	Status crdt.Status
	Raw    []byte // the entry's canonical encoding, exactly as received

	// Keys are what the entry is found by (decided by the crdt State: see
	// crdt.Keys), and Withheld whether Raw is the entry without its body.
	// Keys.Tokens are stored as keyed hashes only: a record reads back
	// without them. A record whose keys are not known (stored by a release
	// before keys were kept, until SetKeys) reads back with zero Keys.
	Keys     crdt.Keys
	Withheld bool
}

// StoredRecord is the record of an entry as a crdt State hands it to its
// facts (crdt.Ready's Stored).
func StoredRecord(s crdt.Stored) Record {
	e := s.Entry
	return Record{ID: e.ID(), Author: e.Author, Seq: e.Seq, Clock: e.Clock, Kind: e.Kind, Status: s.Status,
		Raw: e.Raw(), Keys: s.Keys, Withheld: e.Withheld}
}

// Head is the top of one author's chain: the stored entry with the highest
// Seq (lowest ID among equals). Zero when the author has no entries.
type Head struct {
	Seq   uint64
	ID    crdt.ID
	Clock crdt.Clock
}

// Counts is how many records the store holds, by status, and their size.
type Counts struct {
	Accepted, Waiting, Held int
	Bytes                   int64             // sum of len(Raw) over all records
	Unknown                 map[crdt.Kind]int // accepted records of kinds this release cannot read (never nil)
}

// Querier answers a crdt State's questions (crdt.Facts) from a store.
type Querier interface {
	// Authored calls fn for every record of author, whatever its status,
	// in no particular order.
	Authored(ctx context.Context, author crdt.DeviceKey, fn func(Record) error) error
	// AcceptedHead returns author's accepted record with the highest seq
	// (the lowest ID among equal seqs); ok is false if it has none.
	AcceptedHead(ctx context.Context, author crdt.DeviceKey) (r Record, ok bool, err error)
	// Device reports how many accepted records author has, and whether
	// two of them share a seq. It reads one small row, whatever the size
	// of the log.
	Device(ctx context.Context, author crdt.DeviceKey) (entries int, forked bool, err error)
	// View calls fn for every accepted record of view v.
	View(ctx context.Context, v crdt.View, fn func(Record) error) error
	// Refs calls fn for every accepted record of view v whose Keys.Ref is
	// ref.
	Refs(ctx context.Context, v crdt.View, ref crdt.ID, fn func(Record) error) error
	// Referenced calls fn, once each, for those of refs that some accepted
	// record of view v has as its Keys.Ref.
	Referenced(ctx context.Context, v crdt.View, refs []crdt.ID, fn func(crdt.ID)) error
	// Grants calls fn for every accepted record carrying token in its
	// Keys.Tokens.
	Grants(ctx context.Context, token [32]byte, fn func(Record) error) error
	// Withheld calls fn, in ascending ID order, for every accepted record
	// stored without its body, until fn returns false.
	Withheld(ctx context.Context, fn func(crdt.ID) bool) error
	// AcceptedIDs calls fn for the ID of every accepted record, ascending.
	AcceptedIDs(ctx context.Context, fn func(crdt.ID) error) error
	// MaxClock is the highest clock of any record ever stored here
	// (a record deleted since still counts).
	MaxClock(ctx context.Context) (crdt.Clock, error)
	// Page returns up to limit accepted records of view v, newest first
	// (by clock, then ID, both descending), after cursor if it is not
	// nil; with tag != 0, only those whose Keys.Tag is tag.
	// With ref not nil, only those whose Keys.Ref is *ref.
	Page(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor, limit int) ([]Record, error)
	// Count is how many accepted records view v lists (with tag != 0, of
	// that tag).
	// After cursor, if it is not nil, as Page lists them.
	Count(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor) (int, error)
	// CountUpTo is how many accepted records of view v with ref have tag
	// (not 0), counted up to max.
	CountUpTo(ctx context.Context, v crdt.View, tag uint64, ref crdt.ID, max int) (int, error)
	// Statuses is Status for each of ids: fn is called for each that is
	// stored, in no particular order.
	Statuses(ctx context.Context, ids []crdt.ID, fn func(id crdt.ID, st crdt.Status, withheld bool)) error
	// Range returns up to limit accepted records of view v (ViewNone: of
	// any view, or none) whose IDs lie between lo and hi (both included),
	// by ID.
	Range(ctx context.Context, v crdt.View, lo, hi crdt.ID, limit int) ([]Record, error)
	// StoredBetween calls fn for up to limit stored records of any status
	// whose IDs lie between lo and hi (both included), by ID, with their
	// kind and status (not their bytes): what an ID prefix names that is
	// not accepted, such as an entry waiting for an earlier one.
	StoredBetween(ctx context.Context, lo, hi crdt.ID, limit int, fn func(id crdt.ID, kind crdt.Kind, st crdt.Status)) error
	// Resident calls fn for every record a crdt State keeps in memory:
	// those not accepted (the waiting pool: only given pool), and accepted
	// ones of kinds for which crdt.ResidentKind is true.
	Resident(ctx context.Context, pool bool, fn func(Record) error) error
}

// Keyer fills in the keys of records stored before keys were kept.
type Keyer interface {
	// NeedsKeys reports whether some records were stored without their
	// keys (by a release before they were kept).
	NeedsKeys(ctx context.Context) (bool, error)
	// SetKeys sets, in one transaction, the status, keys and withheld flag
	// of records already stored (by ID; the other fields are ignored, an
	// unknown ID is skipped). A node replays its log once, sets the keys
	// its State decided, and NeedsKeys is then false.
	SetKeys(ctx context.Context, recs []Record) error
}

// Via is how a node reached another.
type Via uint8

// The ways a node reaches another, from the cheapest.
const (
	ViaLAN    Via = 1 // the local network (found by mDNS, or a private, link-local or loopback address)
	ViaDirect Via = 2 // a direct connection across the internet
	ViaRelay  Via = 3 // through a relay (a /p2p-circuit address)
)

func (v Via) String() string {
	switch v {
	case ViaLAN:
		return "lan"
	case ViaDirect:
		return "direct"
	case ViaRelay:
		return "relay"
	}
	return "unknown"
}

// MaxContactAddrs is how many addresses are remembered per device: the most
// recently used ones.
const MaxContactAddrs = 8

// Contact is one address at which this node reached a device, when it last
// did (to the millisecond), and how.
type Contact struct {
	Device crdt.DeviceKey
	Addr   []byte // a binary multiaddr
	Last   time.Time
	Via    Via
}

// Store is the persistence contract. Every method is safe for concurrent
// use; writes are serialised (one writer), and a write that returned nil is
// durable: a crash or power loss afterwards does not lose it.
type Store interface {
	// Put stores the records whose IDs are not stored yet (a stored ID is
	// left untouched: insert is idempotent) and applies the status changes
	// (To == StatusNone deletes the record; a change for an unknown ID is
	// ignored), all in one transaction. It returns how many records were
	// newly stored.
	Put(ctx context.Context, recs []Record, changes []crdt.Change) (int, error)

	// Append stores one entry written on this node. fn is called inside an
	// exclusive write transaction with the head of author's chain and the
	// highest clock ever stored (MaxClock), and returns the record to store; nobody, in this
	// process or another one on the same data directory, can store an entry
	// between fn reading the head and the commit. An error from fn aborts
	// the transaction and is returned as it is.
	Append(ctx context.Context, author crdt.DeviceKey, fn func(head Head, maxClock crdt.Clock) (Record, error)) error

	// Update runs fn inside one exclusive write transaction, with the
	// store's mark as the transaction begins, and writes the batch fn
	// returns (records, status changes, rewrites) in it: nobody, in this
	// process or another on the same file, writes between fn and the
	// commit. An error from fn aborts and is returned as it is. It returns
	// the mark after the commit.
	Update(ctx context.Context, fn func(at Mark) (Batch, error)) (Mark, error)

	// Mark is where the store stands now.
	Mark(ctx context.Context) (Mark, error)

	// ChainHead returns the head of author's chain (whatever the status
	// of its entries) and the highest clock stored.
	ChainHead(ctx context.Context, author crdt.DeviceKey) (Head, crdt.Clock, error)

	// AcceptedItems calls fn with the clock and ID of every accepted
	// record, in no particular order, reading no sealed value.
	AcceptedItems(ctx context.Context, fn func(crdt.Clock, crdt.ID) error) error

	// Rewrite replaces the stored bytes of an entry with another form of
	// the same entry (same ID), and its keys: its redacted form (without
	// its body), or its whole form when a body arrives for an entry stored
	// without one. Whether the entry is stored withheld follows raw. The
	// bytes it replaces are not left readable in the store's files: SQLite
	// overwrites freed content (secure_delete) and the WAL is checkpointed
	// and truncated. An unknown ID is ignored.
	Rewrite(ctx context.Context, id crdt.ID, raw []byte, keys crdt.Keys) error

	// Get returns the record with this ID, or ErrNotFound.
	Get(ctx context.Context, id crdt.ID) (Record, error)
	// GetMany returns the records stored among ids, in no particular
	// order (those not stored are left out).
	GetMany(ctx context.Context, ids []crdt.ID) ([]Record, error)
	// Status reports whether the record with this ID is stored, its
	// status, and whether it is held without its body, without opening
	// it.
	Status(ctx context.Context, id crdt.ID) (st crdt.Status, withheld, ok bool, err error)

	// Scan calls fn for every record stored after cursor (0: from the first),
	// in the order they were stored, and returns the cursor of the last one
	// it visited. A node uses it to load, and to pick up entries that another
	// process appended. An error from fn stops the scan and is returned.
	Scan(ctx context.Context, after int64, fn func(cursor int64, r Record) error) (int64, error)

	// Counts reports how many records are stored, by status.
	Counts(ctx context.Context) (Counts, error)

	// The questions a crdt State asks its facts (see Facts, which adapts a
	// Store to crdt.Facts). Each is answered by an index. Only accepted
	// records are listed by AcceptedHead, Device, View, Refs, Grants,
	// Withheld, AcceptedIDs, Page and Count; records whose keys are not
	// known (NeedsKeys) are listed by none of View, Refs, Grants, Page and
	// Count. A function passed to one of them runs with no transaction
	// open: it may call other methods.
	Querier
	Keyer

	// GetMeta and SetMeta keep small named values (the network ID, ...).
	GetMeta(ctx context.Context, key string) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error

	// RecordContact notes that this node reached device at each of addrs
	// at time at, by way of via (local data: never replicated). A device
	// keeps its MaxContactAddrs most recent addresses; older ones are
	// forgotten. A time earlier than the one stored for an address does
	// not move it back.
	RecordContact(ctx context.Context, device crdt.DeviceKey, at time.Time, via Via, addrs ...[]byte) error

	// Contacts lists every remembered address, most recent first (then by
	// device and address).
	Contacts(ctx context.Context) ([]Contact, error)

	// Stat returns the statistics' inputs stored for request id (see
	// crdt.RequestStat; a Batch writes them), ok false if none are.
	Stat(ctx context.Context, id crdt.ID) (st crdt.RequestStat, ok bool, err error)
	// OpenByDeadline calls fn with the open requests, as their statistics'
	// inputs say (StatsBuilt must hold), that are not alerts, of kind if
	// not 0: in the inbox's order (OpenRequest.Before), from the first
	// after `after` if not nil, until fn returns false or none is left.
	OpenByDeadline(ctx context.Context, kind crdt.RequestType, after *OpenRequest, fn func(OpenRequest) bool) error
	// StatsTotals is what the statistics' inputs add up to, per kind and
	// region, with the unanswered requests whose deadline is before now
	// (Unix milliseconds): a row per group, not per request.
	StatsTotals(ctx context.Context, now uint64) ([]StatsGroup, error)
	// StatsBuilt reports whether the statistics' inputs are complete: a
	// store that held requests before it kept them (migration 10), or
	// whose entries were keyed again (SetKeys), lacks some until a node
	// fills them in and writes a Batch with StatsBuilt.
	StatsBuilt(ctx context.Context) (bool, error)

	// Close releases the store. It is safe to call more than once.
	Close() error
}
