package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// The node tests that make sense on any store run on each of them, as
// tailscale's tka runs one suite on every Chonk and store/store_test.go on
// every Store: a test written as
//
//	func TestX(t *testing.T) { ForEachStore(t, testX) }
//	func testX(t *testing.T, kind StoreKind) { a, b := apart(t, kind); ... }
//
// runs as TestX/sqlite and TestX/memory. A fixture takes the StoreKind and
// makes each node's data directory with kind.Dir(t); a test that makes one
// itself does the same. A test that needs the database file (doctor,
// repair, backup, wipe, what is readable on disk), kills a process or runs
// the murmur binary gives its fixtures SQLite, and says so.
//
// These names are exported for the tests of package node_test too.

// StoreKind is where a test's nodes keep their entries.
type StoreKind struct {
	Name   string
	memory bool
}

// The stores a node runs on.
var (
	SQLiteStore = StoreKind{Name: "sqlite"}
	MemoryStore = StoreKind{Name: "memory", memory: true}
	Stores      = []StoreKind{SQLiteStore, MemoryStore}
)

// ForEachStore runs test once on each store, as a subtest named after it.
// On the memory store, a run in which no node opened a memory store fails:
// its directories were not made with kind.Dir, and it ran on SQLite twice.
func ForEachStore(t *testing.T, test func(t *testing.T, kind StoreKind)) {
	t.Helper()
	for _, kind := range Stores {
		t.Run(kind.Name, func(t *testing.T) {
			before := memoryOpens.Load()
			test(t, kind)
			if kind.memory && !t.Failed() && memoryOpens.Load() == before {
				t.Error("this run on the memory store opened no node on it: make the nodes' data directories with kind.Dir(t)")
			}
		})
	}
}

// Dir returns a new, empty data directory (made by t.TempDir) whose node
// keeps its entries in s. The memory store of a directory lasts until the
// test ends, so that a node closed and opened again finds its entries as
// it would in murmur.db; nothing else of the directory is in memory.
func (s StoreKind) Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if !s.memory {
		return dir
	}
	m := store.NewMemory()
	memoryDirs.Lock()
	memoryDirs.m[dir] = m
	memoryDirs.Unlock()
	t.Cleanup(func() { // after the cleanups that close the directory's nodes (LIFO)
		memoryDirs.Lock()
		delete(memoryDirs.m, dir)
		memoryDirs.Unlock()
		m.Close()
	})
	return dir
}

// memoryDirs are the data directories whose entries are in memory, with
// their stores; memoryOpens counts the handles opened on them.
var (
	memoryDirs = struct {
		sync.Mutex
		m map[string]store.Store
	}{m: map[string]store.Store{}}
	memoryOpens atomic.Int64
)

func init() {
	memoryStores = func(dir string) store.Store {
		memoryDirs.Lock()
		defer memoryDirs.Unlock()
		m, ok := memoryDirs.m[filepath.Clean(dir)]
		if !ok {
			return nil
		}
		memoryOpens.Add(1)
		return &memoryHandle{Store: m}
	}
}

// memoryHandle is one open of a directory's memory store, as each
// OpenSQLite is one of murmur.db: Close ends this handle, not the store,
// and a closed handle refuses everything (store.ErrClosed) as a closed
// SQLite store does. Two handles on one directory share its entries and
// its one-writer lock, as two processes on one file do.
type memoryHandle struct {
	store.Store
	closed atomic.Bool
}

func (h *memoryHandle) Close() error {
	h.closed.Store(true)
	return nil
}

func (h *memoryHandle) Put(ctx context.Context, recs []store.Record, changes []crdt.Change) (int, error) {
	if h.closed.Load() {
		return 0, store.ErrClosed
	}
	return h.Store.Put(ctx, recs, changes)
}

func (h *memoryHandle) Append(ctx context.Context, author crdt.DeviceKey, fn func(head store.Head, maxClock crdt.Clock) (store.Record, error)) error {
	if h.closed.Load() {
		return store.ErrClosed
	}
	return h.Store.Append(ctx, author, fn)
}

func (h *memoryHandle) Rewrite(ctx context.Context, id crdt.ID, raw []byte, keys crdt.Keys) error {
	if h.closed.Load() {
		return store.ErrClosed
	}
	return h.Store.Rewrite(ctx, id, raw, keys)
}

func (h *memoryHandle) Update(ctx context.Context, fn func(at store.Mark) (store.Batch, error)) (store.Mark, error) {
	if h.closed.Load() {
		return store.Mark{}, store.ErrClosed
	}
	return h.Store.Update(ctx, fn)
}

func (h *memoryHandle) Mark(ctx context.Context) (store.Mark, error) {
	if h.closed.Load() {
		return store.Mark{}, store.ErrClosed
	}
	return h.Store.Mark(ctx)
}

func (h *memoryHandle) Get(ctx context.Context, id crdt.ID) (store.Record, error) {
	if h.closed.Load() {
		return store.Record{}, store.ErrClosed
	}
	return h.Store.Get(ctx, id)
}

func (h *memoryHandle) Scan(ctx context.Context, after int64, fn func(cursor int64, r store.Record) error) (int64, error) {
	if h.closed.Load() {
		return after, store.ErrClosed
	}
	return h.Store.Scan(ctx, after, fn)
}

func (h *memoryHandle) Counts(ctx context.Context) (store.Counts, error) {
	if h.closed.Load() {
		return store.Counts{}, store.ErrClosed
	}
	return h.Store.Counts(ctx)
}

func (h *memoryHandle) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if h.closed.Load() {
		return nil, store.ErrClosed
	}
	return h.Store.GetMeta(ctx, key)
}

func (h *memoryHandle) SetMeta(ctx context.Context, key string, value []byte) error {
	if h.closed.Load() {
		return store.ErrClosed
	}
	return h.Store.SetMeta(ctx, key, value)
}

func (h *memoryHandle) RecordContact(ctx context.Context, device crdt.DeviceKey, at time.Time, via store.Via, addrs ...[]byte) error {
	if h.closed.Load() {
		return store.ErrClosed
	}
	return h.Store.RecordContact(ctx, device, at, via, addrs...)
}

func (h *memoryHandle) Contacts(ctx context.Context) ([]store.Contact, error) {
	if h.closed.Load() {
		return nil, store.ErrClosed
	}
	return h.Store.Contacts(ctx)
}

// A node on the memory store writes no database file, keeps its entries
// across a close and an open within the test, and refuses in plain words
// what needs the file: the doctor and a repair. A closed handle refuses
// everything, as a closed SQLite store does.
func TestMemoryStoreNode(t *testing.T) {
	ctx := context.Background()
	dir := MemoryStore.Dir(t)
	n, err := Init(ctx, dir, InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Kept in memory"}); err != nil {
		t.Fatal(err)
	}
	want := digest(n)
	closed := n.Store()
	n.Close()
	if _, err := closed.Counts(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("a closed handle counted: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a node on the memory store has a database file: %v", err)
	}
	for _, name := range []string{configName, keyName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("a node on the memory store has no %s: %v", name, err)
		}
	}

	again, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := digest(again); got != want {
		t.Errorf("opened again: %s, want %s", got, want)
	}
	if _, err := Diagnose(ctx, dir, nil); !errors.Is(err, errNoDatabaseFile) {
		t.Errorf("the doctor on a memory node: %v, want errNoDatabaseFile", err)
	}
	if _, err := Repair(ctx, dir, nil, true); !errors.Is(err, errNoDatabaseFile) {
		t.Errorf("a repair on a memory node: %v, want errNoDatabaseFile", err)
	}
	if _, err := Provision(ctx, dir, ProvisionOptions{Genesis: again.Genesis()}); !errors.Is(err, ErrAlreadyInitialised) {
		t.Errorf("provisioning over a memory node: %v, want ErrAlreadyInitialised", err)
	}
	// With its files gone, its store still holds the network: a new node
	// is not made on it, as none is on a murmur.db left behind.
	for _, name := range []string{configName, keyName} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := again.Store().Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Provision(ctx, dir, ProvisionOptions{Genesis: again.Genesis()}); err == nil {
		m.Close()
		t.Error("a node was provisioned onto a memory store in use")
	}
	if after, err := again.Store().Counts(ctx); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("a refused provisioning changed the store: %+v, was %+v (%v)", after, before, err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused provisioning left its key file behind: %v", err)
	}
}
