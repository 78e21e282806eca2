package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// walFrames returns, for each page the WAL at path holds, the bytes of its
// latest frame (every frame of a WAL written by one store, all committed).
func walFrames(t *testing.T, path string) (int64, map[uint32][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int64(binary.BigEndian.Uint32(b[8:12]))
	out := map[uint32][]byte{}
	for off := int64(walHeaderSize); off+walFrameHead+ps <= int64(len(b)); off += walFrameHead + ps {
		if string(b[off+8:off+16]) != string(b[16:24]) {
			break
		}
		out[binary.BigEndian.Uint32(b[off:])] = b[off+walFrameHead : off+walFrameHead+ps]
	}
	return ps, out
}

// cutCheckpoint does what a checkpoint does on a disk that fills during
// it: it copies the WAL's pages into the database file in page order and
// stops (write fails) at the first page past the file's end that the disk
// has no room for, leaving the WAL as it was. room is how many pages past
// the file's end still fit.
func cutCheckpoint(t *testing.T, path string, room int) {
	t.Helper()
	ps, frames := walFrames(t, path+"-wal")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	end := st.Size() / ps
	pages := slices.Sorted(func(yield func(uint32) bool) {
		for p := range frames {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range pages {
		if int64(p) > end+int64(room) {
			return
		}
		if _, err := f.WriteAt(frames[p], int64(p-1)*ps); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("the WAL held no page past the file's end (%d pages)", end)
}

// A checkpoint that found no room on the disk leaves the database file
// shorter than its header says, and the WAL whole: SQLite reads it whole,
// so CheckFile must not call it damaged. A file that lacks pages the WAL
// does not hold still is.
func TestCheckFileReadsTheWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	filledDB(t, live, 2000)
	s, err := OpenSQLite(live, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, benchRecords(2000, 600), nil); err != nil {
		t.Fatal(err)
	}

	// A copy of the files as a crash would leave them, then the
	// checkpoint cut short by the full disk.
	path := filepath.Join(dir, "murmur.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cutCheckpoint(t, path, 1)
	wal, _ := os.ReadFile(path + "-wal")
	short, _ := os.ReadFile(path)
	if err := checkWithoutWAL(t, path); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("the file alone should read as cut short: %v", err)
	}

	if err := CheckFile(path); err != nil {
		t.Fatalf("CheckFile of a file the WAL completes: %v", err)
	}
	r, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.QuickCheck(ctx); err != nil {
		t.Fatalf("SQLite reads it whole: %v", err)
	}
	if c, err := r.Counts(ctx); err != nil || c.Accepted != 2600 {
		t.Fatalf("Counts = %+v, %v; want 2600", c, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	restore := func(t *testing.T, db, w []byte) {
		t.Helper()
		os.Remove(path + "-shm")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+"-wal", w, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("cut past the WAL", func(t *testing.T) {
		restore(t, short[:len(short)/2], wal)
		if err := CheckFile(path); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("CheckFile = %v, want cut short", err)
		}
	})
	t.Run("WAL of another generation", func(t *testing.T) {
		w := slices.Clone(wal)
		w[16] ^= 0xff // the salt: SQLite ignores a WAL whose checksum fails
		restore(t, short, w)
		if err := CheckFile(path); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("CheckFile = %v, want cut short", err)
		}
	})
	t.Run("last frame damaged", func(t *testing.T) {
		w := slices.Clone(wal)
		w[len(w)-1] ^= 0xff // the commit frame fails its checksum: nothing of it counts
		restore(t, short, w)
		if err := CheckFile(path); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("CheckFile = %v, want cut short", err)
		}
	})
}

// checkWithoutWAL is CheckFile's verdict on the file alone.
func checkWithoutWAL(t *testing.T, path string) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := checkOnce(f)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		return nil
	}
	return d
}
