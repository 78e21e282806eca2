package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/murmurnet/murmur/testnet/smalldisk"
)

// fill writes the file path, in dir's file system, until only leave
// bytes are free there.
func fill(t *testing.T, path string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize) // (int32 on 32-bit platforms)
	if free <= leave {
		t.Fatalf("only %d bytes free, %d to leave", free, leave)
	}
	if err := os.WriteFile(path, make([]byte, free-leave), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A disk that fills while entries are written, each by its own open as a
// command does (CheckFile, open, quick check, write, close): every write
// that fails says the disk is full, never that the database is damaged,
// and once there is room again the database opens whole, with every
// entry whose write was acknowledged, and takes writes again.
func TestDiskFullIsNotDamage(t *testing.T) {
	ctx := context.Background()
	dir := smalldisk.Mount(t, "600k")
	path := filepath.Join(dir, "murmur.db")
	filledDB(t, path, 200)
	fill(t, filepath.Join(dir, "filler"), 160<<10)

	// once is one command's write of recs; it returns the first error.
	once := func(recs []Record) error {
		if err := CheckFile(path); err != nil {
			return err
		}
		s, err := OpenSQLite(path, testSealKey)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.QuickCheck(ctx); err != nil {
			return err
		}
		_, err = s.Put(ctx, recs, nil)
		return err
	}
	acked := benchRecords(0, 200)
	next, fails := 200, 0
	for i := 0; i < 400 && fails < 5; i++ {
		recs := benchRecords(next, 20)
		err := once(recs)
		switch {
		case err == nil:
			acked = append(acked, recs...)
			next += len(recs)
		case errors.Is(err, ErrDiskFull):
			fails++ // and again: a full disk stays full, not damaged
			if err.Error() != ErrDiskFull.Error() {
				t.Fatalf("write %d: %q, want ErrDiskFull's words alone", i, err)
			}
		default:
			t.Fatalf("write %d (%d entries acknowledged): %v; want the disk is full", i, len(acked), err)
		}
	}
	if fails == 0 {
		t.Fatalf("the disk never filled (%d entries written)", len(acked))
	}
	t.Logf("%d entries acknowledged before the disk filled", len(acked))

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	more := benchRecords(next, 20)
	if err := once(more); err != nil {
		t.Fatalf("a write once there is room again: %v", err)
	}
	acked = append(acked, more...)
	if err := CheckFile(path); err != nil {
		t.Fatalf("CheckFile after the full disk: %v", err)
	}
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range acked {
		got, err := s.Get(ctx, r.ID)
		if err != nil || !sameRecord(got, r) {
			t.Fatalf("an acknowledged entry (%d of %d) was lost: %v", r.Clock, len(acked), err)
		}
	}
	if c, err := s.Counts(ctx); err != nil || c.Accepted != len(acked) {
		t.Fatalf("Counts = %+v, %v; want %d", c, err, len(acked))
	}
}

// An open that finds the disk full (the -shm beside the database cannot
// be created) says so too, and the database opens once there is room.
func TestDiskFullAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := smalldisk.Mount(t, "600k")
	path := filepath.Join(dir, "murmur.db")
	filledDB(t, path, 200)
	fill(t, filepath.Join(dir, "filler"), 0)
	if err := CheckFile(path); err != nil {
		t.Fatalf("CheckFile: %v", err)
	}
	s, err := OpenSQLite(path, testSealKey)
	if err == nil {
		s.Close()
		t.Fatalf("the open found room on a full disk")
	}
	if !errors.Is(err, ErrDiskFull) || err.Error() != ErrDiskFull.Error() {
		t.Fatalf("open on a full disk: %q, want ErrDiskFull's words", err)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(path); err != nil {
		t.Fatalf("CheckFile: %v", err)
	}
	s = openTemp(t, path)
	if err := s.QuickCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Accepted != 200 {
		t.Fatalf("Counts = %+v, %v", c, err)
	}
}
