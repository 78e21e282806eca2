package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// peerWriter signs entries as a device of another organisation would.
type peerWriter struct {
	priv  []byte
	seq   uint64
	head  crdt.ID
	clock crdt.Clock
}

func (p *peerWriter) sign(t *testing.T, network crdt.ID, body any, deps ...crdt.ID) *crdt.Entry {
	t.Helper()
	raw, err := crdt.EncodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := crdt.Sign(p.priv, crdt.Draft{Network: network, Seq: p.seq + 1, Prev: p.head,
		Clock: crdt.NextClock(p.clock, 0, uint64(time.Now().UnixMilli())), Deps: deps, Kind: crdt.KindOf(body), Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	p.seq, p.head, p.clock = e.Seq, e.ID(), e.Clock
	return e
}

// founderWithPeer founds a network in dir and admits a second organisation,
// whose device p signs entries as that organisation's node would.
func founderWithPeer(t *testing.T, dir string, seed byte) (*Node, *peerWriter) {
	t.Helper()
	ctx := context.Background()
	n, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	p := &peerWriter{priv: crdt.KeyFromSeed(append(make([]byte, 31), seed))}
	if _, err := n.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(p.priv), Name: "Peer org"}); err != nil {
		t.Fatal(err)
	}
	return n, p
}

func storedStatus(t *testing.T, n *Node, id crdt.ID) crdt.Status {
	t.Helper()
	r, err := n.Store().Get(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return crdt.StatusNone
	}
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func TestIngestWaitsThenApplies(t *testing.T) {
	ForEachStore(t, testIngestWaitsThenApplies)
}

func testIngestWaitsThenApplies(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	n, p := founderWithPeer(t, kind.Dir(t), 0)
	e1 := p.sign(t, n.Network(), &crdt.Request{Type: crdt.Verification, Title: "one"})
	e2 := p.sign(t, n.Network(), &crdt.Request{Type: crdt.Verification, Title: "two"})

	// The second arrives first: kept on disk, waiting.
	rep, err := n.Ingest(ctx, [][]byte{e2.Raw()})
	if err != nil || rep.Waiting != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	if st := storedStatus(t, n, e2.ID()); st != crdt.StatusWaiting {
		t.Fatalf("stored as %v", st)
	}
	// Its predecessor arrives (with a duplicate, a forgery and a stranger).
	forged := append([]byte{}, e1.Raw()...)
	forged[len(forged)-1] ^= 1 // the body no longer matches its hash
	other := &peerWriter{priv: crdt.KeyFromSeed(append(make([]byte, 31), 9))}
	foreign := other.sign(t, crdt.ID{7}, &crdt.Request{Type: crdt.Verification, Title: "another network"})
	rep, err = n.Ingest(ctx, [][]byte{e1.Raw(), e2.Raw(), forged, foreign.Raw()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 1 || rep.Duplicate != 1 || len(rep.Refused) != 2 {
		t.Fatalf("%+v", rep)
	}
	for _, e := range []*crdt.Entry{e1, e2} {
		if st := storedStatus(t, n, e.ID()); st != crdt.StatusAccepted {
			t.Fatalf("entry %d stored as %v", e.Seq, st)
		}
	}
	if st := storedStatus(t, n, foreign.ID()); st != crdt.StatusNone {
		t.Fatal("an entry of another network was stored")
	}
	c, _ := n.Store().Counts(ctx)
	if c.Accepted != 6 || c.Waiting != 0 || c.Held != 0 { // with the genesis, the founders' key and the secret's check
		t.Fatalf("store counts %+v", c)
	}

	// What is on disk gives the same state after a restart.
	want := n.State().Digest()
	n.Close()
	again, err := Open(ctx, n.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.State().Digest() != want {
		t.Fatal("digest changed across a restart")
	}
}

// Another process stores a revocation: the statuses it changes are stored
// in the same transaction (no crash can leave the revocation without
// them), and this process's refresh sees them.
func TestRefreshRecordsStatusChangesOfOlderEntries(t *testing.T) {
	ForEachStore(t, testRefreshRecordsStatusChangesOfOlderEntries)
}

func testRefreshRecordsStatusChangesOfOlderEntries(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	dir := kind.Dir(t)
	a, p := founderWithPeer(t, dir, 3)
	e1 := p.sign(t, a.Network(), &crdt.Request{Type: crdt.Verification, Title: "one"})
	e2 := p.sign(t, a.Network(), &crdt.Request{Type: crdt.Verification, Title: "two"})
	if _, err := a.Ingest(ctx, [][]byte{e1.Raw(), e2.Raw()}); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(ctx); err != nil { // a has now seen everything stored
		t.Fatal(err)
	}
	b, err := Open(ctx, dir) // the other process
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	rev, err := b.RevokeDevice(ctx, crdt.PublicKeyOf(p.priv).String(), ptr(uint64(1)))
	if err != nil {
		t.Fatal(err)
	}
	if st := storedStatus(t, a, e2.ID()); st != crdt.StatusHeld {
		t.Fatalf("as the revocation was stored, the entry past the cut-off was stored as %v", st)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.State().Has(rev.ID()); st != crdt.StatusAccepted {
		t.Fatalf("revocation %v", st)
	}
	if st := storedStatus(t, a, e2.ID()); st != crdt.StatusHeld {
		t.Fatalf("entry past the cut-off stored as %v", st)
	}
}

func ptr[T any](v T) *T { return &v }

func TestInitRefusesHalfMadeDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if err := os.Remove(filepath.Join(dir, configName)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, dbName))
	if _, err := Init(ctx, dir, InitOptions{Org: "Founders"}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("got %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, dbName))
	if string(before) != string(after) {
		t.Fatal("the refused init changed the database")
	}
}

func TestOpenDoesNotCreateADatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	for _, f := range []string{dbName, dbName + "-wal", dbName + "-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("opened a directory without its database")
	}
	if _, err := os.Stat(filepath.Join(dir, dbName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Open created a database")
	}
}

// A command that only reads leaves the waiting pool on disk (its state is
// restored for reading); the first write loads it, so what waits is
// judged with what arrives.
func TestReadingLeavesThePoolOnDisk(t *testing.T) {
	ForEachStore(t, func(t *testing.T, kind StoreKind) {
		ctx := context.Background()
		n, p := founderWithPeer(t, kind.Dir(t), 0)
		var es []*crdt.Entry
		for i := range 5 {
			es = append(es, p.sign(t, n.Network(), &crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("request %d", i)}))
		}
		for _, e := range es[1:] { // the first is missing: the others wait
			if _, err := n.Ingest(ctx, [][]byte{e.Raw()}); err != nil {
				t.Fatal(err)
			}
		}
		want := n.Status()
		if want.Waiting != 4 {
			t.Fatalf("%d waiting, want 4", want.Waiting)
		}
		if kind.memory {
			return // (nothing to open again)
		}
		n.Close()
		// The doctor counts them, and finds nothing wrong.
		d, err := Diagnose(ctx, n.Dir(), nil)
		if err != nil || !d.Healthy || !slices.ContainsFunc(d.Checked, func(c string) bool {
			return strings.Contains(c, "4 entries wait for ones this node has not received yet")
		}) {
			t.Fatalf("doctor: %v %+v", err, d)
		}
		again, err := Open(ctx, n.Dir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Close() })
		if st := again.Status(); st.Digest != want.Digest || st.Entries != want.Entries || st.Waiting != 4 {
			t.Fatalf("opened again: %+v, want %+v", st, want)
		}
		if _, err := again.Requests(RequestFilter{}); err != nil {
			t.Fatal(err)
		}
		again.mu.Lock()
		readOnly, pool := again.state.ReadOnly(), again.pool
		again.mu.Unlock()
		if !readOnly || pool {
			t.Fatalf("after reading: the state is read-only %v, holds the pool %v", readOnly, pool)
		}
		// The missing entry arrives: the four waiting are accepted with it.
		rep, err := again.Ingest(ctx, [][]byte{es[0].Raw()})
		if err != nil {
			t.Fatal(err)
		}
		if c := again.Status(); rep.Accepted != 1 || c.Waiting != 0 || c.Entries != want.Entries+5 {
			t.Fatalf("the missing entry arrived: %+v; then %d waiting, %d entries (want 0, %d)", rep, c.Waiting, c.Entries, want.Entries+5)
		}
		for _, e := range es {
			if st := storedStatus(t, again, e.ID()); st != crdt.StatusAccepted {
				t.Fatalf("entry %d stored as %v", e.Seq, st)
			}
		}
	})
}
