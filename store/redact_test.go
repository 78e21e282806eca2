package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

func TestRedactReplacesRaw(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		mustPut(t, s, []Record{testRecord(1, a, 1, 1), testRecord(2, a, 2, 2)}, nil)
		if err := s.Rewrite(ctx, testID(1), []byte("redacted"), crdt.Keys{}); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, testID(1)); string(got.Raw) != "redacted" {
			t.Fatalf("after Redact: %q", got.Raw)
		}
		if got := mustGet(t, s, testID(2)); !bytes.Equal(got.Raw, testRaw(2)) {
			t.Fatalf("another record changed: %q", got.Raw)
		}
		if err := s.Rewrite(ctx, testID(99), []byte("x"), crdt.Keys{}); err != nil {
			t.Fatalf("an unknown ID: %v", err)
		}
	})
}

// The bytes a redaction replaces (sealed, as every entry is) are not left in
// the database's files: not in a free page, not in the WAL.
func TestRedactLeavesNoTraceInTheFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "murmur.db")
	s := openTemp(t, path)
	marker := []byte("SECRET-BODY-MARKER-7731")
	var recs []Record
	for i := 0; i < 50; i++ {
		r := testRecord(i, testKey(1), uint64(i+1), 1)
		if i == 7 {
			r.Raw = bytes.Repeat(marker, 200) // several pages' worth
		}
		recs = append(recs, r)
	}
	mustPut(t, s, recs, nil)
	// The marker itself is sealed: look for the sealed bytes of the entry.
	id7 := testID(7)
	if err := s.readers.QueryRow(`SELECT sealed FROM entries WHERE id = ?`, id7[:]).Scan(&marker); err != nil {
		t.Fatal(err)
	}
	marker = marker[len(marker)-64:]
	contains := func() []string {
		var where []string
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
			if bytes.Contains(b, marker) {
				where = append(where, de.Name())
			}
		}
		return where
	}
	if len(contains()) == 0 {
		t.Fatal("the marker is in no file before the redaction: the test would prove nothing")
	}
	if err := s.Rewrite(ctx, testID(7), []byte("redacted"), crdt.Keys{}); err != nil {
		t.Fatal(err)
	}
	if where := contains(); len(where) > 0 {
		t.Fatalf("the redacted bytes are still in %v", where)
	}
}
