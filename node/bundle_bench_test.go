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

// BenchmarkImportBundle imports a bundle of 10,000 entries from five
// organisations into a fresh node of the network (the founder's whole
// log): what `murmur bundle import` does, without the command. With
// -cpuprofile it shows where an import's time goes.
func BenchmarkImportBundle(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	f, err := Init(ctx, b.TempDir(), InitOptions{Org: "Founders", Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	type author struct {
		priv  []byte
		seq   uint64
		head  crdt.ID
		clock crdt.Clock
	}
	authors := make([]*author, 5)
	for i := range authors {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(10+i))
		authors[i] = &author{priv: crdt.KeyFromSeed(seed)}
		if _, err := f.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(authors[i].priv), Name: fmt.Sprint("Org ", i)}); err != nil {
			b.Fatal(err)
		}
	}
	const count = 10_000
	raws := make([][]byte, count)
	for i := range raws {
		body, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: fmt.Sprint("Applicant ", i), Region: "TZ",
			Text: fmt.Sprintf("Ref TZ-%05d. %s", i*7919%100000, strings.Repeat("detained questioned released ", 5))})
		if err != nil {
			b.Fatal(err)
		}
		a := authors[i%len(authors)]
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: f.Network(), Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, f.State().MaxClock(), uint64(now.UnixMilli())+1+uint64(i)), Kind: crdt.KindRequest, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		raws[i] = e.Raw()
	}
	if rep, err := f.Ingest(ctx, raws); err != nil || rep.Accepted != count {
		b.Fatalf("%+v, %v", rep, err)
	}
	// The importing device: one of the founder's organisation, on a fresh
	// data directory each round (the bundle is sealed for the devices the
	// exporter knows).
	seed := make([]byte, 32)
	binary.BigEndian.PutUint64(seed, 99)
	if _, err := f.Append(ctx, &crdt.DeviceAdded{Device: crdt.PublicKeyOf(crdt.KeyFromSeed(seed)), Org: f.Org(), Label: "importer"}); err != nil {
		b.Fatal(err)
	}
	exp, err := f.ExportBundle(ctx, filepath.Join(b.TempDir(), "all.murmur"), BundleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n, err := Provision(ctx, b.TempDir(), ProvisionOptions{Genesis: f.Genesis(), Seed: seed, Org: f.Org()})
		if err != nil {
			b.Fatal(err)
		}
		shareSecret(b, f, n)
		b.StartTimer()
		rep, err := n.ImportBundles(ctx, exp.Files, nil)
		b.StopTimer()
		if err != nil || rep.New != exp.Entries-1 {
			b.Fatalf("%+v, %v", rep, err)
		}
		n.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(exp.Entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
