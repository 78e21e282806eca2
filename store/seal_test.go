package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// writeOldDatabase writes, at path, a database as the release before
// sealing left it: the schema of the first version migrations (their SQL,
// which that release ran), and rows stored in clear by its statements.
func writeOldDatabase(t *testing.T, path string, version int, recs []Record, meta map[string][]byte, contacts []Contact) {
	t.Helper()
	ms, err := parseMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	src, err := dsn(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range ms[:version] {
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	if _, err := db.Exec("PRAGMA user_version = " + strconv.Itoa(version)); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := db.Exec(`INSERT OR IGNORE INTO entries (id, author, seq, clock, kind, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID[:], r.Author[:], int64(r.Seq), int64(r.Clock), int64(r.Kind), int64(r.Status), r.Raw); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range meta {
		if _, err := db.Exec(`INSERT INTO meta (key, value) VALUES (?, ?)`, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range contacts {
		if _, err := db.Exec(`INSERT INTO contacts (device, addr, last, via) VALUES (?, ?, ?, ?)`,
			c.Device[:], c.Addr, c.Last.UnixMilli(), int64(c.Via)); err != nil {
			t.Fatal(err)
		}
	}
}

// filesHolding lists the files under dir (the WAL and shared memory
// included) whose raw bytes contain any of markers, with the first found.
func filesHolding(t *testing.T, dir string, markers [][]byte) []string {
	t.Helper()
	var where []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(b, m) {
				where = append(where, fmt.Sprintf("%s holds %q", filepath.Base(path), m))
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return where
}

// markedData is records, meta and contacts each holding a marker, and the
// markers: entry bytes, an author key, a meta value, a contact's device and
// address.
func markedData(n int) (recs []Record, meta map[string][]byte, contacts []Contact, markers [][]byte) {
	author := crdt.DeviceKey([32]byte(bytes.Repeat([]byte("AUTHOR-KEY-MARK!"), 2)))
	device := crdt.DeviceKey([32]byte(bytes.Repeat([]byte("DEVICE-KEY-MARK!"), 2)))
	markers = append(markers, author[:16], device[:16])
	for i := range n {
		m := fmt.Appendf(nil, "ENTRY-MARKER-%04d", i)
		markers = append(markers, m)
		recs = append(recs, Record{ID: testID(i), Author: author, Seq: uint64(i + 1), Clock: crdt.Clock(i + 1),
			Kind: crdt.KindRequest, Status: crdt.StatusAccepted, Raw: append(bytes.Repeat([]byte{'.'}, 100), m...)})
	}
	meta = map[string][]byte{"network": []byte("META-VALUE-MARKER")}
	markers = append(markers, meta["network"])
	contacts = []Contact{{Device: device, Addr: []byte("/ip4/198.18.7.7/tcp/4001-ADDR-MARKER"), Last: time.UnixMilli(1_800_000_000_000), Via: ViaDirect}}
	markers = append(markers, []byte("ADDR-MARKER"))
	return recs, meta, contacts, markers
}

// Nothing a store keeps is in its files in clear: not the entries' bytes,
// not their authors, not meta values, not contacts; WAL and shared memory
// included, while the store is open and after it is closed.
func TestSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSQLite(filepath.Join(dir, "murmur.db"), testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	recs, meta, contacts, markers := markedData(300)
	mustPut(t, s, recs, nil)
	for k, v := range meta {
		if err := s.SetMeta(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range contacts {
		if err := s.RecordContact(ctx, c.Device, c.Last, c.Via, c.Addr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "murmur.db-wal")); err != nil {
		t.Fatalf("no WAL while open: %v", err)
	}
	if where := filesHolding(t, dir, markers); len(where) > 0 {
		t.Errorf("while open: %v", where)
	}
	checkReadsBack(t, s, recs, meta, contacts)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if where := filesHolding(t, dir, markers); len(where) > 0 {
		t.Errorf("after close: %v", where)
	}

	// Another key does not open it.
	other := bytes.Repeat([]byte{0x17}, KeySize)
	if s, err := OpenSQLite(filepath.Join(dir, "murmur.db"), other); !errors.Is(err, ErrWrongKey) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open with another key: %v, want ErrWrongKey", err)
	}
}

func checkReadsBack(t *testing.T, s *SQLite, recs []Record, meta map[string][]byte, contacts []Contact) {
	t.Helper()
	ctx := context.Background()
	got, _, _ := scanAll(t, s, 0)
	if len(got) != len(recs) {
		t.Fatalf("scan: %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !sameRecord(got[i], recs[i]) {
			t.Fatalf("scan: record %d is %+v, want %+v", i, got[i], recs[i])
		}
		if g := mustGet(t, s, recs[i].ID); !sameRecord(g, recs[i]) {
			t.Fatalf("get: record %d is %+v", i, g)
		}
	}
	for k, v := range meta {
		if g, err := s.GetMeta(ctx, k); err != nil || !bytes.Equal(g, v) {
			t.Fatalf("meta %q: %q, %v", k, g, err)
		}
	}
	cs, err := s.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameContacts(t, cs, contacts)
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, r := range recs {
		size += int64(len(r.Raw))
	}
	if c.Accepted != len(recs) || c.Bytes != size {
		t.Fatalf("counts %+v, want %d accepted of %d bytes", c, len(recs), size)
	}
}

// A database written in clear by the release before sealing (schema 2) is
// sealed in place when it is opened: every row reads back the same, the
// chain goes on, and no clear byte of it is left in any file.
func TestUpgradeSealsOldDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "murmur.db")
	recs, meta, contacts, markers := markedData(300)
	writeOldDatabase(t, path, 2, recs, meta, contacts)
	if where := filesHolding(t, dir, markers); len(where) == 0 {
		t.Fatal("the old database holds no marker in clear: the test would prove nothing")
	}
	s := openTemp(t, path)
	if !slices.Equal(s.applied, []int{3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("applied %v, want [3 4 5 6 7 8 9 10 11]", s.applied)
	}
	if where := filesHolding(t, dir, markers); len(where) > 0 {
		t.Errorf("after the upgrade: %v", where)
	}
	checkReadsBack(t, s, recs, meta, contacts)
	if err := appendNext(context.Background(), s, recs[0].Author, 5000); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, testID(5000)); got.Seq != uint64(len(recs)+1) {
		t.Fatalf("the chain goes on at seq %d, want %d", got.Seq, len(recs)+1)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A sealed entry moved onto another row does not open: the ID is bound in.
func TestSealedEntryIsBoundToItsID(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	a := testKey(1)
	mustPut(t, s, []Record{testRecord(1, a, 1, 1), testRecord(2, a, 2, 2)}, nil)
	id1, id2 := testID(1), testID(2)
	if _, err := s.writer.Exec(`UPDATE entries SET sealed = (SELECT sealed FROM entries WHERE id = ?) WHERE id = ?`, id1[:], id2[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), id2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get of a row holding another entry's sealed bytes: %v, want ErrCorrupt", err)
	}
}
