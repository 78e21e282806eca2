package store

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// keyed is record n of view v (tag, ref) by author a.
func keyed(n int, a crdt.DeviceKey, seq uint64, clock crdt.Clock, k crdt.Keys) Record {
	r := testRecord(n, a, seq, clock)
	r.Keys = k
	return r
}

func ids(recs []Record) []crdt.ID {
	var out []crdt.ID
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// Page walks a view newest first by (clock, ID), across equal clocks and
// clocks of 2^63 and more (negative in SQL), from any cursor, with or
// without a tag; Count agrees.
func TestPageOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		clocks := []crdt.Clock{5, 5, 5, 7, 1 << 63, 1 << 63, math.MaxUint64, math.MaxUint64 - 1, 0, 7, 1<<63 - 1}
		var recs []Record
		for i, c := range clocks {
			recs = append(recs, keyed(i, a, uint64(i+1), c, crdt.Keys{View: crdt.ViewRequest, Tag: uint64(1 + i%2)}))
		}
		other := keyed(100, a, 100, 6, crdt.Keys{View: crdt.ViewResponse, Tag: 1})
		held := keyed(101, a, 101, 6, crdt.Keys{View: crdt.ViewRequest, Tag: 1})
		held.Status = crdt.StatusHeld
		mustPut(t, s, append(slices.Clone(recs), other, held), nil)

		newestFirst := func(rs []Record) []crdt.ID {
			rs = slices.Clone(rs)
			slices.SortFunc(rs, func(x, y Record) int {
				if x.Clock != y.Clock {
					if x.Clock > y.Clock {
						return -1
					}
					return 1
				}
				return -byIDOrder(x, y)
			})
			return ids(rs)
		}
		for _, tag := range []uint64{0, 1, 2} {
			var want []Record
			for _, r := range recs {
				if tag == 0 || r.Keys.Tag == tag {
					want = append(want, r)
				}
			}
			wantIDs := newestFirst(want)
			for _, size := range []int{1, 2, 3, 50} {
				var got []crdt.ID
				var after *crdt.Cursor
				for i := 0; i <= len(recs); i++ {
					page, err := s.Page(ctx, crdt.ViewRequest, tag, nil, after, size)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(page)...)
					if len(page) < size {
						break
					}
					last := page[len(page)-1]
					after = &crdt.Cursor{Clock: last.Clock, ID: last.ID}
				}
				if !slices.Equal(got, wantIDs) {
					t.Fatalf("tag %d, pages of %d: %v, want %v", tag, size, got, wantIDs)
				}
			}
			if n, err := s.Count(ctx, crdt.ViewRequest, tag, nil, nil); err != nil || n != len(want) {
				t.Fatalf("count tag %d: %d, %v; want %d", tag, n, err, len(want))
			}
		}
		// A cursor that is no listed entry.
		page, err := s.Page(ctx, crdt.ViewRequest, 0, nil, &crdt.Cursor{Clock: 1 << 63, ID: crdt.ID{}}, 50)
		if err != nil {
			t.Fatal(err)
		}
		var want []crdt.ID
		for _, id := range newestFirst(recs) {
			r := mustGet(t, s, id)
			if r.Clock < 1<<63 {
				want = append(want, id)
			}
		}
		if !slices.Equal(ids(page), want) {
			t.Fatalf("after (2^63, 0): %v, want %v", ids(page), want)
		}
		if page, err := s.Page(ctx, crdt.ViewRequest, 0, nil, nil, 0); err != nil || len(page) != 0 {
			t.Fatalf("a page of 0: %v, %v", page, err)
		}
	})
}

// Device counts accepted entries and sees a fork come and go with status
// changes and deletions.
func TestDeviceForks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		device := func(wantN int, wantForked bool) {
			t.Helper()
			n, forked, err := s.Device(ctx, a)
			if err != nil || n != wantN || forked != wantForked {
				t.Fatalf("device: %d %v %v, want %d %v", n, forked, err, wantN, wantForked)
			}
		}
		device(0, false)
		r1, r2, r2b, r2c := testRecord(1, a, 1, 1), testRecord(2, a, 2, 2), testRecord(3, a, 2, 3), testRecord(4, a, 2, 4)
		r2b.Status, r2c.Status = crdt.StatusHeld, crdt.StatusWaiting
		mustPut(t, s, []Record{r1, r2, r2b, r2c}, nil)
		device(2, false)
		mustPut(t, s, nil, []crdt.Change{{ID: r2b.ID, From: crdt.StatusHeld, To: crdt.StatusAccepted}})
		device(3, true)
		mustPut(t, s, nil, []crdt.Change{{ID: r2c.ID, From: crdt.StatusWaiting, To: crdt.StatusAccepted}})
		device(4, true)
		// Three at seq 2: one fewer is still a fork.
		mustPut(t, s, nil, []crdt.Change{{ID: r2.ID, From: crdt.StatusAccepted, To: crdt.StatusHeld}})
		device(3, true)
		mustPut(t, s, nil, []crdt.Change{{ID: r2b.ID, From: crdt.StatusAccepted, To: crdt.StatusNone}})
		device(2, false)
		// A fork at another seq stays when this one goes.
		r1b := testRecord(5, a, 1, 5)
		mustPut(t, s, []Record{r1b}, []crdt.Change{{ID: r2.ID, From: crdt.StatusHeld, To: crdt.StatusAccepted}})
		device(4, true)
		mustPut(t, s, nil, []crdt.Change{{ID: r2.ID, From: crdt.StatusAccepted, To: crdt.StatusWaiting}})
		device(3, true)
		mustPut(t, s, nil, []crdt.Change{{ID: r1b.ID, From: crdt.StatusAccepted, To: crdt.StatusHeld}})
		device(2, false)
		// A run accepted at once (seqs 1 to 4 of another device), then two
		// at one seq in one batch, then a run with a held entry among it.
		b := testKey(3)
		bDevice := func(wantN int, wantForked bool) {
			t.Helper()
			n, forked, err := s.Device(ctx, b)
			if err != nil || n != wantN || forked != wantForked {
				t.Fatalf("device b: %d %v %v, want %d %v", n, forked, err, wantN, wantForked)
			}
		}
		mustPut(t, s, []Record{testRecord(31, b, 1, 1), testRecord(32, b, 2, 2), testRecord(33, b, 3, 3), testRecord(34, b, 4, 4)}, nil)
		bDevice(4, false)
		held := testRecord(35, b, 6, 6)
		held.Status = crdt.StatusHeld
		mustPut(t, s, []Record{testRecord(36, b, 5, 5), held, testRecord(37, b, 6, 7), testRecord(38, b, 7, 8)}, nil)
		bDevice(7, false)
		mustPut(t, s, []Record{testRecord(39, b, 8, 9), testRecord(40, b, 8, 10)}, nil)
		bDevice(9, true)
		// Another device is its own.
		if n, forked, err := s.Device(ctx, testKey(2)); err != nil || n != 0 || forked {
			t.Fatalf("another device: %d %v %v", n, forked, err)
		}
		if err := appendNext(ctx, s, a, 10); err != nil {
			t.Fatal(err)
		}
		device(3, false)
		head, ok, err := s.AcceptedHead(ctx, a)
		if err != nil || !ok || head.ID != testID(10) {
			t.Fatalf("head %v %v %v, want the appended entry", head.ID, ok, err)
		}
	})
}

// AcceptedHead is the accepted entry of highest seq, lowest ID among
// equals, seqs of 2^63 and more included.
func TestAcceptedHead(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		if _, ok, err := s.AcceptedHead(ctx, a); ok || err != nil {
			t.Fatalf("no entries: %v %v", ok, err)
		}
		recs := []Record{testRecord(1, a, 1, 1), testRecord(2, a, 1<<63-1, 2), testRecord(3, a, 1<<63, 3), testRecord(4, a, 1<<63, 4)}
		waiting := testRecord(5, a, math.MaxUint64, 5)
		waiting.Status = crdt.StatusWaiting
		mustPut(t, s, append(recs, waiting), nil)
		want := testID(3)
		if testID(4).Less(want) {
			want = testID(4)
		}
		if h, ok, err := s.AcceptedHead(ctx, a); err != nil || !ok || h.ID != want {
			t.Fatalf("head %v %v %v, want %v", h.ID, ok, err, want)
		}
		mustPut(t, s, nil, []crdt.Change{{ID: testID(3), To: crdt.StatusNone}, {ID: testID(4), To: crdt.StatusHeld}})
		if h, ok, err := s.AcceptedHead(ctx, a); err != nil || !ok || h.ID != testID(2) {
			t.Fatalf("head %v %v %v, want the entry at 2^63-1", h.ID, ok, err)
		}
	})
}

// Refs, Grants, View and Withheld list accepted entries by their keys,
// follow status changes and rewrites, and never list ViewNone.
func TestKeyedLists(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		req := testID(1)
		tok1, tok2 := [32]byte{1}, [32]byte{2}
		recs := []Record{
			keyed(1, a, 1, 1, crdt.Keys{View: crdt.ViewRequest, Tag: 3}),
			keyed(2, a, 2, 2, crdt.Keys{View: crdt.ViewResponse, Ref: req}),
			keyed(3, a, 3, 3, crdt.Keys{View: crdt.ViewResponse, Ref: req}),
			keyed(4, a, 4, 4, crdt.Keys{View: crdt.ViewClose, Ref: req}),
			keyed(5, a, 5, 5, crdt.Keys{View: crdt.ViewGrant, Tokens: [][32]byte{tok1, tok2}}),
			keyed(6, a, 6, 6, crdt.Keys{View: crdt.ViewGrant, Tokens: [][32]byte{tok2}}),
			keyed(7, a, 7, 7, crdt.Keys{Tokens: [][32]byte{tok1}}), // ViewNone: listed nowhere
		}
		recs[2].Withheld, recs[0].Withheld = true, true
		mustPut(t, s, recs, nil)
		list := func(fn func(func(Record) error) error) []crdt.ID {
			t.Helper()
			var out []crdt.ID
			if err := fn(func(r Record) error { out = append(out, r.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(out, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
			return out
		}
		sorted := func(ns ...int) []crdt.ID {
			var out []crdt.ID
			for _, n := range ns {
				out = append(out, testID(n))
			}
			slices.SortFunc(out, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
			return out
		}
		check := func(what string, got, want []crdt.ID) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
		refs := func(v crdt.View) []crdt.ID {
			return list(func(fn func(Record) error) error { return s.Refs(ctx, v, req, fn) })
		}
		grants := func(tok [32]byte) []crdt.ID {
			return list(func(fn func(Record) error) error { return s.Grants(ctx, tok, fn) })
		}
		view := func(v crdt.View) []crdt.ID {
			return list(func(fn func(Record) error) error { return s.View(ctx, v, fn) })
		}
		withheld := func() []crdt.ID {
			var out []crdt.ID
			if err := s.Withheld(ctx, func(id crdt.ID) bool { out = append(out, id); return true }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		referenced := func(v crdt.View, among ...crdt.ID) []crdt.ID {
			t.Helper()
			var out []crdt.ID
			if err := s.Referenced(ctx, v, among, func(id crdt.ID) { out = append(out, id) }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		check("referenced by closes", referenced(crdt.ViewClose, testID(9), req, req, crdt.ID{}), []crdt.ID{req})
		check("referenced by acknowledgements", referenced(crdt.ViewAck, req), nil)
		check("referenced, none asked", referenced(crdt.ViewClose), nil)
		check("responses", refs(crdt.ViewResponse), sorted(2, 3))
		check("closes", refs(crdt.ViewClose), sorted(4))
		check("refs of another view", refs(crdt.ViewAck), nil)
		check("grants of token 1", grants(tok1), sorted(5))
		check("grants of token 2", grants(tok2), sorted(5, 6))
		check("view none", view(crdt.ViewNone), nil)
		check("requests", view(crdt.ViewRequest), sorted(1))
		check("withheld", withheld(), sorted(1, 3))
		if got := mustGet(t, s, testID(2)); got.Keys.View != crdt.ViewResponse || got.Keys.Ref != (crdt.ID{}) || got.Withheld { // (the ref is kept as a keyed hash)
			t.Fatalf("keys read back: %+v withheld=%v", got.Keys, got.Withheld)
		}

		mustPut(t, s, nil, []crdt.Change{
			{ID: testID(2), From: crdt.StatusAccepted, To: crdt.StatusHeld},
			{ID: testID(6), From: crdt.StatusAccepted, To: crdt.StatusNone},
			{ID: testID(3), From: crdt.StatusAccepted, To: crdt.StatusWaiting},
		})
		check("responses after changes", refs(crdt.ViewResponse), nil)
		check("referenced by responses after changes", referenced(crdt.ViewResponse, req), nil)
		check("grants of token 2 after a deletion", grants(tok2), sorted(5))
		check("withheld after a change", withheld(), sorted(1))
		// A rewrite moves the keys and tokens.
		if err := s.Rewrite(ctx, testID(5), []byte("rewritten"), crdt.Keys{View: crdt.ViewGrant, Tokens: [][32]byte{tok2}}); err != nil {
			t.Fatal(err)
		}
		check("grants of token 1 after a rewrite", grants(tok1), nil)
		check("grants of token 2 after a rewrite", grants(tok2), sorted(5))
		if err := s.Rewrite(ctx, testID(1), []byte("rewritten"), crdt.Keys{}); err != nil {
			t.Fatal(err)
		}
		check("requests after a rewrite to no view", view(crdt.ViewRequest), nil)
		check("withheld after a rewrite (not an entry: not withheld)", withheld(), nil)
	})
}

// Rewrite follows an entry from its withheld form to its whole one and
// back; Withheld and the stored bytes follow it.
func TestRewriteBodyArrives(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		n := factsHistory(t, 7)
		var e *crdt.Entry
		for _, x := range n.all {
			if x.Kind == crdt.KindRequest {
				e = x
				break
			}
		}
		if e == nil {
			t.Fatal("the history has no request")
		}
		bare := e.Redacted()
		r := StoredRecord(crdt.Stored{Entry: bare, Status: crdt.StatusAccepted, Keys: crdt.Keys{View: crdt.ViewRequest}})
		if !r.Withheld {
			t.Fatal("the redacted form is not withheld: the test would prove nothing")
		}
		mustPut(t, s, []Record{r}, nil)
		withheld := func() int {
			n := 0
			if err := s.Withheld(ctx, func(crdt.ID) bool { n++; return true }); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if withheld() != 1 {
			t.Fatal("the withheld entry is not listed")
		}
		keys := crdt.Keys{View: crdt.ViewRequest, Tag: 2}
		if err := s.Rewrite(ctx, e.ID(), e.Raw(), keys); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, e.ID())
		if got.Withheld || string(got.Raw) != string(e.Raw()) || !reflect.DeepEqual(got.Keys, keys) {
			t.Fatalf("after the body arrived: withheld=%v keys=%+v", got.Withheld, got.Keys)
		}
		if withheld() != 0 {
			t.Fatal("an entry with its body is listed withheld")
		}
		if page, err := s.Page(ctx, crdt.ViewRequest, 2, nil, nil, 10); err != nil || len(page) != 1 {
			t.Fatalf("page of its tag: %d, %v", len(page), err)
		}
		if err := s.Rewrite(ctx, e.ID(), bare.Raw(), crdt.Keys{View: crdt.ViewRequest}); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, e.ID()); !got.Withheld || withheld() != 1 {
			t.Fatal("redacted again, the entry is not withheld")
		}
	})
}

// MaxClock is the highest clock ever stored; Resident lists what a State
// keeps in memory.
func TestMaxClockAndResident(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if c, err := s.MaxClock(ctx); err != nil || c != 0 {
			t.Fatalf("empty: %v %v", c, err)
		}
		a := testKey(1)
		hint := testRecord(3, a, 3, 3)
		hint.Kind = crdt.KindAddressHint
		admission := testRecord(4, a, 4, 4)
		admission.Kind = crdt.KindAdmission
		waiting := testRecord(5, a, 5, 1<<63+5)
		waiting.Status = crdt.StatusWaiting
		mustPut(t, s, []Record{testRecord(1, a, 1, 1), testRecord(2, a, 2, 2), hint, admission, waiting}, nil)
		if c, err := s.MaxClock(ctx); err != nil || c != 1<<63+5 {
			t.Fatalf("max clock %v %v", c, err)
		}
		residentOf := func(pool bool) []crdt.ID {
			var out []crdt.ID
			if err := s.Resident(ctx, pool, func(r Record) error { out = append(out, r.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(out, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
			return out
		}
		resident := func() []crdt.ID { return residentOf(true) }
		// Without the pool: the accepted resident kinds only.
		want := []crdt.ID{testID(3), testID(4)}
		slices.SortFunc(want, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
		if got := residentOf(false); !slices.Equal(got, want) {
			t.Fatalf("resident without the pool %v, want %v", got, want)
		}
		want = []crdt.ID{testID(3), testID(4), testID(5)}
		slices.SortFunc(want, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
		if got := resident(); !slices.Equal(got, want) {
			t.Fatalf("resident %v, want %v", got, want)
		}
		mustPut(t, s, nil, []crdt.Change{
			{ID: testID(5), From: crdt.StatusWaiting, To: crdt.StatusNone},
			{ID: testID(1), From: crdt.StatusAccepted, To: crdt.StatusHeld},
		})
		want = []crdt.ID{testID(1), testID(3), testID(4)}
		slices.SortFunc(want, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
		if got := resident(); !slices.Equal(got, want) {
			t.Fatalf("resident after changes %v, want %v", got, want)
		}
		if c, err := s.MaxClock(ctx); err != nil || c != 1<<63+5 {
			t.Fatalf("max clock after the deletion %v %v: it must not go back", c, err)
		}
		var accepted []crdt.ID
		if err := s.AcceptedIDs(ctx, func(id crdt.ID) error { accepted = append(accepted, id); return nil }); err != nil {
			t.Fatal(err)
		}
		want = []crdt.ID{testID(2), testID(3), testID(4)}
		slices.SortFunc(want, func(x, y crdt.ID) int { return byIDOrder(Record{ID: x}, Record{ID: y}) })
		if !slices.Equal(accepted, want) {
			t.Fatalf("accepted %v, want %v", accepted, want)
		}
		stop := errors.New("stop")
		if err := s.AcceptedIDs(ctx, func(crdt.ID) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("an error from fn: %v", err)
		}
		if need, err := s.NeedsKeys(ctx); err != nil || need {
			t.Fatalf("a new store needs keys: %v %v", need, err)
		}
	})
}

// TestFactsQueryPlans keeps every question of a State an index seek or a
// walk of a small partial index: none reads the whole table, none sorts.
// Withheld, AcceptedIDs, Resident and NeedsKeys walk an index (the first
// three partial ones, AcceptedIDs the ID index: it lists every accepted
// entry); the others search.
func TestFactsQueryPlans(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	ctx := context.Background()
	k, id := testKey(1), testID(1)
	queries := map[string][]any{
		authoredQuery: {k[:], 0, 0, 1}, acceptedSeqHigh: {k[:]}, acceptedSeqLow: {k[:]}, acceptedAtSeq: {k[:], 1},
		deviceQuery: {k[:]}, viewQuery: {1, 0, id[:], 1}, refsQuery: {1, id[:], 0, id[:], 1}, rangeQuery: {id[:], id[:], 1, 2}, rangeAnyQuery: {id[:], id[:], 2}, getManyQuery: manyIDs(id), grantsQuery: {id[:], id[:], 1},
		countQuery: {1}, countTagQuery: {1, 1}, countUpToQuery: {2, id[:], 1, 10}, referencedQuery: append([]any{3}, manyIDs(id)...),
		withheldQuery: {id[:], 1}, idsQuery: {id[:], 1}, notAcceptedQuery: nil, residentQuery: {0, 1}, residentAcceptedQuery: {0, 1}, needsKeysQuery: nil,
		forkedAmong: {k[:], "[1,2]"}, rowsInSeqRange: {k[:], 1, 5}, acceptedAtCount: {k[:], 1}, forkedAnywhere: {k[:]},
	}
	for _, tag := range []bool{false, true} {
		for _, rf := range []refFilter{anyRef, noRef, oneRef} {
			for _, high := range []bool{false, true} {
				for _, from := range []bool{false, true} {
					args := []any{1}
					if rf == oneRef {
						args = append(args, id[:])
					}
					if tag {
						args = append(args, 1)
					}
					if from {
						args = append(args, 1, id[:])
					}
					queries[pageQuery(tag, rf, high, from)] = append(args, 50)
					queries[pageSelect("SELECT COUNT(*)", tag, rf, high, from)] = args
				}
			}
		}
	}
	walks := map[string]bool{withheldQuery: true, idsQuery: true, notAcceptedQuery: true, residentQuery: true, residentAcceptedQuery: true, needsKeysQuery: true}
	// Sorts the entries of one author at one seq: one, or the few of a fork.
	sortsFew := map[string]bool{acceptedAtSeq: true}
	for q, args := range queries {
		rows, err := s.readers.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			// (A subquery's rows, read back: the count of at most LIMIT rows;
			// the arguments of a VALUES clause.)
			scan := strings.HasPrefix(step, "SCAN ") && step != "SCAN CONSTANT ROW" && !strings.HasPrefix(step, "SCAN json_each") && !strings.HasPrefix(step, "SCAN (subquery") && !strings.HasSuffix(step, "-ROW VALUES CLAUSE")
			if strings.Contains(step, "TEMP B-TREE") && !sortsFew[q] || scan && !walks[q] || scan && !strings.Contains(step, "INDEX") {
				t.Errorf("%s\nplan: %v", q, plan)
			}
		}
		t.Logf("%s\n\t%s", q, strings.Join(plan, "\n\t"))
	}
}

// manyIDs are GetMany's arguments: id, as often as the query names one.
func manyIDs(id crdt.ID) []any {
	out := make([]any, getManyChunk)
	for i := range out {
		out[i] = id[:]
	}
	return out
}
