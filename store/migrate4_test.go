package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// writeSchema3 writes, at path, a database as the release before keys
// were kept left it: migrations 1 to 3 applied (with their Go step), and
// rows sealed by that release's statement.
func writeSchema3(t *testing.T, path string, recs []Record) {
	t.Helper()
	ctx := context.Background()
	ms, err := parseMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := newSealer(testSealKey)
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
	if _, _, err := migrate(ctx, db, ms[:3], seal); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		sealed, err := seal.sealEntry(r.ID, r.Author, r.Kind, r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT OR IGNORE INTO entries (id, author, seq, clock, status, sealed) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID[:], seal.author(r.Author), int64(r.Seq), int64(r.Clock), int64(r.Status), sealed); err != nil {
			t.Fatal(err)
		}
	}
}

// A database of schema 3 gains the keys columns: kinds, withheld flags,
// counts, device tallies, resident rows and the clock mark are right at
// once; the keys are unknown (NeedsKeys) and no view lists a row until
// SetKeys sets them.
func TestUpgradeKeepsKeysUnknownUntilSet(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "murmur.db")
	n := factsHistory(t, 3)
	var recs []Record
	keys := map[crdt.ID]crdt.Keys{}
	mem := NewMemory() // the same records, with their keys: what the store must answer after SetKeys
	defer mem.Close()
	for i, e := range n.all {
		if i%4 == 3 && !e.Kind.Membership() {
			e = e.Redacted()
		}
		st := crdt.StatusAccepted
		switch i % 7 {
		case 5:
			st = crdt.StatusWaiting
		case 6:
			st = crdt.StatusHeld
		}
		k := crdt.Keys{View: crdt.View(1 + i%7), Tag: uint64(i % 3), Ref: testID(i % 5)}
		if k.View == crdt.ViewRequest { // a request is open (no ref) or closed, as the State keys it
			k.Ref = crdt.ID{}
			if i%2 == 0 {
				k.Ref = crdt.ClosedRef
			}
		}
		if i%6 == 0 {
			k.Tokens = [][32]byte{{byte(i % 4)}}
		}
		keys[e.ID()] = k
		recs = append(recs, StoredRecord(crdt.Stored{Entry: e, Status: st, Keys: k}))
	}
	// A fork, an unknown kind, a resident kind, a high clock, bytes that
	// are not an entry.
	a := testKey(1)
	fork1, fork2 := testRecord(9001, a, 1, 1), testRecord(9002, a, 1, 2)
	unknown := testRecord(9003, a, 2, 1<<63+9)
	unknown.Kind = crdt.Kind(200)
	hint := testRecord(9004, a, 3, 4)
	hint.Kind = crdt.KindAddressHint
	recs = append(recs, fork1, fork2, unknown, hint)
	for _, r := range recs {
		r.Keys.Tokens = slices.Clone(r.Keys.Tokens)
		mustPut(t, mem, []Record{r}, nil)
	}
	bare := make([]Record, len(recs)) // as schema 3 read them back: no keys
	for i, r := range recs {
		r.Keys = crdt.Keys{}
		bare[i] = r
	}
	writeSchema3(t, path, bare)

	s := openTemp(t, path)
	if !slices.Equal(s.applied, []int{4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("applied %v, want [4 5 6 7 8 9 10 11]", s.applied)
	}
	if need, err := s.NeedsKeys(ctx); err != nil || !need {
		t.Fatalf("needs keys: %v %v, want true", need, err)
	}
	for _, r := range bare {
		got := mustGet(t, s, r.ID)
		if !sameRecord(got, r) || got.Withheld != r.Withheld || !reflect.DeepEqual(got.Keys, crdt.Keys{}) {
			t.Fatalf("%v reads back %+v", r.ID, got)
		}
	}
	// What does not need keys is right already.
	same := func(stage string) {
		t.Helper()
		if got, want := mustCounts(t, s), mustCounts(t, mem); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: counts %+v, want %+v", stage, got, want)
		}
		authors := map[crdt.DeviceKey]bool{}
		for _, r := range recs {
			authors[r.Author] = true
		}
		for au := range authors {
			n1, f1, err1 := s.Device(ctx, au)
			n2, f2, err2 := mem.Device(ctx, au)
			if n1 != n2 || f1 != f2 || err1 != nil || err2 != nil {
				t.Fatalf("%s: device %v: %d %v, want %d %v (%v %v)", stage, au, n1, f1, n2, f2, err1, err2)
			}
			h1, ok1, _ := s.AcceptedHead(ctx, au)
			h2, ok2, _ := mem.AcceptedHead(ctx, au)
			if ok1 != ok2 || h1.ID != h2.ID {
				t.Fatalf("%s: head of %v: %v, want %v", stage, au, h1.ID, h2.ID)
			}
		}
		resident := func(st Store) []crdt.ID {
			var out []crdt.ID
			if err := st.Resident(ctx, true, func(r Record) error { out = append(out, r.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(out, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
			return out
		}
		if got, want := resident(s), resident(mem); !slices.Equal(got, want) {
			t.Fatalf("%s: resident %v, want %v", stage, got, want)
		}
		withheld := func(st Store) []crdt.ID {
			var out []crdt.ID
			if err := st.Withheld(ctx, func(id crdt.ID) bool { out = append(out, id); return true }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got, want := withheld(s), withheld(mem); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("%s: withheld %v, want %v", stage, got, want)
		}
		c1, _ := s.MaxClock(ctx)
		c2, _ := mem.MaxClock(ctx)
		if c1 != c2 || c1 != 1<<63+9 {
			t.Fatalf("%s: max clock %v, want %v", stage, c1, c2)
		}
	}
	same("after the upgrade")
	if n, forked, _ := s.Device(ctx, a); n != 4 || !forked {
		t.Fatalf("the forked device: %d %v", n, forked)
	}
	// No view lists a row whose keys are unknown.
	listed := func(st Store) int {
		n := 0
		count := func(Record) error { n++; return nil }
		for v := crdt.View(0); v <= crdt.ViewShare; v++ {
			if err := st.View(ctx, v, count); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := st.Refs(ctx, v, testID(i), count); err != nil {
					t.Fatal(err)
				}
			}
			for tag := range uint64(3) {
				c, err := st.Count(ctx, v, tag, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				page, err := st.Page(ctx, v, tag, nil, nil, 1000)
				if err != nil {
					t.Fatal(err)
				}
				n += c + len(page)
			}
		}
		for tok := range 4 {
			if err := st.Grants(ctx, [32]byte{byte(tok)}, count); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	if n := listed(s); n != 0 {
		t.Fatalf("rows with unknown keys are listed %d times", n)
	}
	want := listed(mem)
	if want == 0 {
		t.Fatal("the records are listed nowhere with their keys: the test would prove nothing")
	}

	// The node replays its log and sets the keys, in pages.
	for i := 0; i < len(recs); i += 10 {
		if err := s.SetKeys(ctx, recs[i:min(i+10, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if need, err := s.NeedsKeys(ctx); err != nil || need {
		t.Fatalf("needs keys after SetKeys: %v %v", need, err)
	}
	if got := listed(s); got != want {
		t.Fatalf("after SetKeys, listed %d times, want %d", got, want)
	}
	same("after SetKeys")
	// SetKeys also corrects a status, as the replay decides it.
	moved := []Record{fork2, recs[0]}
	moved[0].Status, moved[1].Status = crdt.StatusHeld, crdt.StatusNone
	if err := s.SetKeys(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if err := mem.SetKeys(ctx, moved); err != nil {
		t.Fatal(err)
	}
	same("after SetKeys changed statuses")
	if n, forked, _ := s.Device(ctx, a); n != 3 || forked {
		t.Fatalf("the device no longer forked: %d %v", n, forked)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}
