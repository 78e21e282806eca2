package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// A database of 20,000 entries cut to 60% of its length: the repair reads
// back what the remaining pages hold, every entry verified through ingest,
// and every one it keeps is accepted (a chain cut short keeps its start).
// The time it takes is logged (go test -v -run TestRepairLargeDatabase).
func TestRepairLargeDatabase(t *testing.T) {
	total := 20_000
	if raceDetector {
		total = 5_000
	}
	ctx := context.Background()
	dir := t.TempDir()
	full, err := node.Init(ctx, dir, node.InitOptions{Org: "Full"})
	if err != nil {
		t.Fatal(err)
	}
	writers := make([]*outsider, 8)
	for i := range writers {
		writers[i] = newOutsider(fmt.Sprintf("Writer %d", i), byte(i+1))
		writers[i].admit(t, full)
	}
	deliver(t, full, signMany(t, full.Network(), full.State().MaxClock(), writers, total)...)
	before := full.Status().Entries
	full.Close()

	path := filepath.Join(dir, "murmur.db")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()*6/10); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(ctx, dir); err == nil {
		t.Fatal("a truncated database opened")
	}
	start := time.Now()
	rep, err := node.Repair(ctx, dir, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("repair of %d entries (%.1f MB) cut to 60%%: %v; read back %d, %d from pages alone, %d unreadable; %d accepted after",
		before, float64(st.Size())/1e6, took, rep.Salvaged, rep.FromPages, rep.Unreadable, rep.Entries)
	if rep.Salvaged < before/3 || rep.Salvaged >= before || rep.Refused != 0 {
		t.Fatalf("repair: %+v of %d", rep, before)
	}
	n, err := node.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if c := n.Status(); c.Entries != rep.Entries {
		t.Fatalf("the rebuilt node holds %d accepted entries, the repair said %d", c.Entries, rep.Entries)
	}
}

// signMany has the writers sign count request entries between them, in
// parallel (signing is most of the cost of making them), each writer's
// chain in order, all later than clock after (their admissions).
func signMany(t *testing.T, network crdt.ID, after crdt.Clock, writers []*outsider, count int) []*crdt.Entry {
	t.Helper()
	out := make([][]*crdt.Entry, len(writers))
	errs := make([]error, len(writers))
	var wg gosync.WaitGroup
	for w, o := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < count; k += len(writers) {
				raw, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("Applicant %d", k), Region: "TZ"})
				if err != nil {
					errs[w] = err
					return
				}
				e, err := crdt.Sign(o.priv, crdt.Draft{Network: network, Seq: o.seq + 1, Prev: o.head,
					Clock: crdt.NextClock(o.clock, after, after.Millis()+1+uint64(k)), Kind: crdt.KindRequest, Body: raw})
				if err != nil {
					errs[w] = err
					return
				}
				o.seq, o.head, o.clock = e.Seq, e.ID(), e.Clock
				out[w] = append(out[w], e)
			}
		}()
	}
	wg.Wait()
	var all []*crdt.Entry
	for w, es := range out {
		if errs[w] != nil {
			t.Fatal(errs[w])
		}
		all = append(all, es...)
	}
	return all
}
