package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// A Relaxed write commits without waiting for the disk (synchronous
// NORMAL); every other write waits for it (FULL), including the first one
// after a relaxed one. Both are stored.
func TestRelaxedWritesDoNotWaitForTheDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	s := openTemp(t, path)
	ctx := context.Background()
	mode := func() int {
		t.Helper()
		var m int
		if err := s.writer.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	put := func(ctx context.Context, i int) {
		t.Helper()
		rec := testRecord(i, testKey(1), uint64(i), crdt.Clock(i))
		if _, err := s.Update(ctx, func(Mark) (Batch, error) { return Batch{Put: []Record{rec}}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	put(Relaxed(ctx), 1)
	if m := mode(); m != 1 {
		t.Fatalf("synchronous %d after a relaxed write, want 1 (NORMAL)", m)
	}
	put(ctx, 2)
	if m := mode(); m != 2 {
		t.Fatalf("synchronous %d after a durable write, want 2 (FULL)", m)
	}
	s.Close()
	s = openTemp(t, path)
	n := 0
	if _, err := s.Scan(ctx, 0, func(int64, Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d records after reopening, want 2", n)
	}
}
