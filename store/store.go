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
	Bytes                   int64 // sum of len(Raw) over all records
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
	// highest clock stored, and returns the record to store; nobody, in this
	// process or another one on the same data directory, can store an entry
	// between fn reading the head and the commit. An error from fn aborts
	// the transaction and is returned as it is.
	Append(ctx context.Context, author crdt.DeviceKey, fn func(head Head, maxClock crdt.Clock) (Record, error)) error

	// Redact replaces the stored bytes of an entry with its redacted form
	// (the same entry without its body: same ID). The bytes it replaces are
	// not left readable in the store's files: SQLite overwrites freed
	// content (secure_delete) and the WAL is checkpointed and truncated.
	// An unknown ID is ignored.
	Redact(ctx context.Context, id crdt.ID, raw []byte) error

	// Get returns the record with this ID, or ErrNotFound.
	Get(ctx context.Context, id crdt.ID) (Record, error)

	// Scan calls fn for every record stored after cursor (0: from the first),
	// in the order they were stored, and returns the cursor of the last one
	// it visited. A node uses it to load, and to pick up entries that another
	// process appended. An error from fn stops the scan and is returned.
	Scan(ctx context.Context, after int64, fn func(cursor int64, r Record) error) (int64, error)

	// Counts reports how many records are stored, by status.
	Counts(ctx context.Context) (Counts, error)

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

	// Close releases the store. It is safe to call more than once.
	Close() error
}
