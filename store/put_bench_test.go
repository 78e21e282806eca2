package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// benchRecords is n records shaped like the benchmark's entries: 20
// authors, 385 bytes each.
func benchRecords(from, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		k := from + i
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(k))
		raw := make([]byte, 385)
		for j := 0; j < len(raw); j += 32 {
			h := sha256.Sum256(append(seed[:], byte(j)))
			copy(raw[j:], h[:])
		}
		recs[i] = Record{ID: crdt.ID(sha256.Sum256(raw)), Author: testKey(k % 20), Seq: uint64(k/20 + 1), Clock: crdt.Clock(k + 1),
			Kind: crdt.KindRequest, Status: crdt.StatusAccepted, Raw: raw}
	}
	return recs
}

// BenchmarkPutBatch is what ingest pays the store per entry: batches of
// 1,000 records in one durable transaction each (sealing included).
func BenchmarkPutBatch(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "murmur.db"), testSealKey)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		recs := benchRecords(i, min(batch, b.N-i))
		b.StartTimer()
		if _, err := s.Put(ctx, recs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanLoad is what loading the store at open pays per entry
// (opening included).
func BenchmarkScanLoad(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "murmur.db"), testSealKey)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 20000
	for i := 0; i < n; i += 1000 {
		if _, err := s.Put(ctx, benchRecords(i, 1000), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		if _, err := s.Scan(ctx, 0, func(int64, Record) error {
			done++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
