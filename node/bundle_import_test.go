package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// An import of several batches, cut off after its first batch and run
// again, ends with every entry, each taken once; the second run reads as
// held what the first stored.
func TestImportBundleInBatchesResumes(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	f, err := Init(ctx, t.TempDir(), InitOptions{Org: "Founders", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := Provision(ctx, t.TempDir(), ProvisionOptions{Genesis: f.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := f.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	if err := b.storeSecret(heldSecret(t, f)); err != nil { // (what fetchSecret does once admitted)
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	binary.BigEndian.PutUint64(seed, 7)
	priv := crdt.KeyFromSeed(seed)
	if _, err := f.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(priv), Name: "Writers"}); err != nil {
		t.Fatal(err)
	}
	count := 2*importBatch + 100
	var raws [][]byte
	var head crdt.ID
	var clock crdt.Clock
	for i := range count {
		body, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprint("Applicant ", i), Region: "TZ"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := crdt.Sign(priv, crdt.Draft{Network: f.Network(), Seq: uint64(i + 1), Prev: head,
			Clock: crdt.NextClock(clock, f.State().MaxClock(), uint64(now.UnixMilli())+1+uint64(i)), Kind: crdt.KindRequest, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		head, clock = e.ID(), e.Clock
		raws = append(raws, e.Raw())
	}
	if rep, err := f.Ingest(ctx, raws); err != nil || rep.Accepted != count {
		t.Fatalf("%+v, %v", rep, err)
	}
	path := filepath.Join(t.TempDir(), "all.murmur")
	exp, err := f.ExportBundle(ctx, path, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}

	cut, stop := context.WithCancel(ctx)
	defer stop()
	first, err := b.ImportBundles(cut, exp.Files, func(p Progress) {
		if p.Done > 0 {
			stop() // after the first batch
		}
	})
	if err == nil || !strings.Contains(err.Error(), "import interrupted") {
		t.Fatalf("cut off: %+v, %v", first, err)
	}
	if first.New == 0 || first.New >= count {
		t.Fatalf("cut off after the first batch, it took %d new entries", first.New)
	}
	again, err := b.ImportBundles(ctx, exp.Files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Refused != 0 || again.Waiting != 0 || first.New+again.New != exp.Entries-1 || again.New+again.Held != exp.Entries {
		// (b held the genesis before)
		t.Fatalf("first %+v, then %+v, of %d exported", first, again, exp.Entries)
	}
	for _, raw := range raws {
		e, _ := crdt.Decode(raw)
		if !b.Has(e.ID()) {
			t.Fatalf("entry %d not imported", e.Seq)
		}
	}
}
