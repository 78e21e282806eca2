package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filledDB writes n records to a new database at path and closes it (the
// WAL is checkpointed into the file on close).
func filledDB(t testing.TB, path string, n int) {
	t.Helper()
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		if _, err := s.Put(ctx, benchRecords(i, min(1000, n-i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("the WAL outlived the close")
	}
}

// damagePages overwrites pages from..to (1-based, inclusive) with garbage.
func damagePages(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	for p := from; p <= to; p++ {
		if _, err := f.WriteAt(junk, int64(p-1)*4096); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy.db")
	filledDB(t, healthy, 2000)
	if err := CheckFile(healthy); err != nil {
		t.Fatalf("a healthy file: %v", err)
	}
	b, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte // nil: no file
		want string
	}{
		{"missing", nil, "missing"},
		{"empty", []byte{}, "empty"},
		{"header cut", b[:50], "cut short"},
		{"mid-page", b[:len(b)-100], "cut short"},
		{"pages missing", b[:len(b)/2], "cut short"},
		{"overwritten", append([]byte("not a database at all, sorry"), b[28:]...), "does not begin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".db")
			if c.data != nil {
				if err := os.WriteFile(p, c.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckFile(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("CheckFile = %v, want %q (and ErrCorrupt)", err, c.want)
			}
			if msg, ok := DamageOf(err); !ok || msg != err.Error() {
				t.Fatalf("DamageOf = %q, %v", msg, ok)
			}
		})
	}
}

func TestQuickCheckFindsDamagedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	filledDB(t, path, 3000)
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.QuickCheck(context.Background()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	s.Close()
	damagePages(t, path, 100, 110)
	if err := CheckFile(path); err != nil {
		t.Fatalf("the file's shape is whole; CheckFile: %v", err)
	}
	s, err = OpenSQLite(path, testSealKey)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
		return
	}
	defer s.Close()
	err = s.QuickCheck(context.Background())
	if err == nil || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("QuickCheck = %v, want damage", err)
	}
	if msg, ok := DamageOf(err); !ok || !strings.Contains(msg, "damaged") {
		t.Fatalf("DamageOf = %q, %v", msg, ok)
	}
}

// salvaged reads path with Salvage and returns the records by ID.
func salvaged(t *testing.T, path string) (map[[32]byte]Record, SalvageReport) {
	t.Helper()
	got := map[[32]byte]Record{}
	rep, err := Salvage(context.Background(), path, testSealKey, func(r Record) error {
		got[r.ID] = r
		return nil
	}, func(Contact) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != len(got) {
		t.Fatalf("report says %d entries, %d given", rep.Entries, len(got))
	}
	return got, rep
}

func TestSalvage(t *testing.T) {
	const n = 5000
	want := map[[32]byte]Record{}
	for _, r := range benchRecords(0, n) {
		want[r.ID] = r
	}
	check := func(t *testing.T, got map[[32]byte]Record) {
		t.Helper()
		for id, r := range got {
			w, ok := want[id]
			if !ok || !sameRecord(r, w) {
				t.Fatalf("salvaged a record that was never stored, or changed: %x", id[:4])
			}
		}
	}
	t.Run("healthy", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		filledDB(t, path, n)
		got, rep := salvaged(t, path)
		check(t, got)
		if len(got) != n || rep.Unreadable != 0 {
			t.Fatalf("salvaged %d of %d, %d unreadable", len(got), n, rep.Unreadable)
		}
	})
	t.Run("damaged pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		filledDB(t, path, n)
		damagePages(t, path, 150, 160) // inside the table, past its first leaves
		got, rep := salvaged(t, path)
		check(t, got)
		// Some 11 pages of ~9 rows each are lost; the rest is read.
		if len(got) >= n || len(got) < n-400 {
			t.Fatalf("salvaged %d of %d (%d unreadable)", len(got), n, rep.Unreadable)
		}
		t.Logf("salvaged %d of %d, %d positions unreadable", len(got), n, rep.Unreadable)
	})
	t.Run("interior pages overwritten", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		filledDB(t, path, n)
		damagePages(t, path, 2, 6) // the tables' roots: SQLite reaches no leaf through them
		got, rep := salvaged(t, path)
		check(t, got)
		if len(got) < n-100 || rep.FromPages == 0 {
			t.Fatalf("salvaged %d of %d, %d from pages alone", len(got), n, rep.FromPages)
		}
		t.Logf("salvaged %d of %d, %d from pages alone", len(got), n, rep.FromPages)
	})
	t.Run("truncated", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		filledDB(t, path, n)
		st, _ := os.Stat(path)
		if err := os.Truncate(path, st.Size()/2); err != nil {
			t.Fatal(err)
		}
		got, rep := salvaged(t, path)
		check(t, got)
		if len(got) == 0 || len(got) >= n {
			t.Fatalf("salvaged %d of %d from half a file (%+v)", len(got), n, rep)
		}
		t.Logf("salvaged %d of %d, %d positions unreadable", len(got), n, rep.Unreadable)
	})
	t.Run("empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := salvaged(t, path)
		if len(got) != 0 {
			t.Fatalf("salvaged %d from an empty file", len(got))
		}
	})
	t.Run("relative path, entries in the WAL", func(t *testing.T) {
		// What `murmur repair --dir d` reads: a database a crash (or a
		// checkpoint that found the disk full) left with its latest
		// entries in the WAL, named by a relative path.
		dir := t.TempDir()
		live := filepath.Join(dir, "live.db")
		filledDB(t, live, n-500)
		s, err := OpenSQLite(live, testSealKey)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		if _, err := s.Put(ctx, benchRecords(n-500, 500), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordContact(ctx, testKey(1), time.Now(), ViaDirect, contactAddr(1)); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(live + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "d", "murmur.db"+suffix), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Chdir(dir)
		var contacts int
		got := map[[32]byte]Record{}
		rep, err := Salvage(ctx, filepath.Join("d", "murmur.db"), testSealKey, func(r Record) error {
			got[r.ID] = r
			return nil
		}, func(Contact) error { contacts++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		check(t, got)
		if len(got) != n || rep.NotDatabase || rep.FromPages != 0 || rep.Unreadable != 0 || rep.Contacts != 1 || contacts != 1 {
			t.Fatalf("salvaged %d of %d, report %+v, %d contacts given", len(got), n, rep, contacts)
		}
	})
	t.Run("another key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "murmur.db")
		filledDB(t, path, 100)
		other := make([]byte, KeySize)
		rep, err := Salvage(context.Background(), path, other, func(Record) error {
			t.Fatal("a record opened under another key")
			return nil
		}, nil)
		if err != nil || rep.Unreadable != 100 {
			t.Fatalf("Salvage = %+v, %v", rep, err)
		}
	})
}

// BenchmarkQuickCheck100k measures the check a node runs before it starts
// (and every command before it opens the database: see node/doctor.go) on
// a database of 100,000 entries.
func BenchmarkQuickCheck100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "murmur.db")
	filledDB(b, path, 100000)
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/1e6, "MB")
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("quick_check", func(b *testing.B) {
		for b.Loop() {
			if err := s.QuickCheck(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("integrity_check", func(b *testing.B) {
		for b.Loop() {
			if err := s.IntegrityCheck(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckFile", func(b *testing.B) {
		for b.Loop() {
			if err := CheckFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
