package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"github.com/murmurnet/murmur/crdt"
)

func TestMain(m *testing.M) {
	// Every goroutine a store starts (database/sql's openers, ...) must be
	// gone once the store is closed.
	goleak.VerifyTestMain(m)
}

// forEachStore runs one test against every implementation: the in-memory
// store and the SQLite one on a fresh file.
func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		s := NewMemory()
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
	t.Run("sqlite", func(t *testing.T) {
		test(t, openTemp(t, filepath.Join(t.TempDir(), "murmur.db")))
	})
}

func openTemp(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// testSealKey is the key test stores are sealed under.
var testSealKey = bytes.Repeat([]byte{0x5e}, KeySize)

func testID(n int) crdt.ID { return crdt.ID(sha256.Sum256(fmt.Appendf(nil, "id-%d", n))) }
func testKey(n int) crdt.DeviceKey {
	return crdt.DeviceKey(sha256.Sum256(fmt.Appendf(nil, "key-%d", n)))
}
func testRaw(n int) []byte { return bytes.Repeat(fmt.Appendf(nil, "raw-%d;", n), 10) }

// testRecord is record n by author a.
func testRecord(n int, a crdt.DeviceKey, seq uint64, clock crdt.Clock) Record {
	return Record{ID: testID(n), Author: a, Seq: seq, Clock: clock, Kind: crdt.KindRequest, Status: crdt.StatusAccepted, Raw: testRaw(n)}
}

func sameRecord(a, b Record) bool {
	return a.ID == b.ID && a.Author == b.Author && a.Seq == b.Seq && a.Clock == b.Clock &&
		a.Kind == b.Kind && a.Status == b.Status && bytes.Equal(a.Raw, b.Raw)
}

func mustPut(t *testing.T, s Store, recs []Record, changes []crdt.Change) int {
	t.Helper()
	n, err := s.Put(context.Background(), recs, changes)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return n
}

func mustGet(t *testing.T, s Store, id crdt.ID) Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func mustCounts(t *testing.T, s Store) Counts {
	t.Helper()
	c, err := s.Counts(context.Background())
	if err != nil {
		t.Fatalf("counts: %v", err)
	}
	return c
}

// scanAll returns every record after cursor, and the cursors.
func scanAll(t *testing.T, s Store, after int64) ([]Record, []int64, int64) {
	t.Helper()
	var recs []Record
	var cursors []int64
	last, err := s.Scan(context.Background(), after, func(c int64, r Record) error {
		recs = append(recs, r)
		cursors = append(cursors, c)
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return recs, cursors, last
}

// appendNext appends record n as the next entry of author's chain, the way
// a node writes: Seq = head.Seq+1 and a clock later than everything seen.
func appendNext(ctx context.Context, s Store, author crdt.DeviceKey, n int) error {
	return s.Append(ctx, author, func(h Head, maxClock crdt.Clock) (Record, error) {
		return Record{
			ID: testID(n), Author: author, Seq: h.Seq + 1, Clock: max(maxClock, h.Clock) + 1,
			Kind: crdt.KindRequest, Status: crdt.StatusAccepted, Raw: testRaw(n),
		}, nil
	})
}

func TestPutIsIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		a := testKey(1)
		r := testRecord(1, a, 1, 10)
		if n := mustPut(t, s, []Record{r}, nil); n != 1 {
			t.Fatalf("first put stored %d, want 1", n)
		}
		again := r
		again.Status = crdt.StatusHeld
		again.Raw = []byte("something else")
		if n := mustPut(t, s, []Record{again}, nil); n != 0 {
			t.Fatalf("second put stored %d, want 0", n)
		}
		if got := mustGet(t, s, r.ID); !sameRecord(got, r) {
			t.Fatalf("stored record changed by a repeated put: %+v", got)
		}
		// The same record twice in one call counts once.
		r2 := testRecord(2, a, 2, 11)
		if n := mustPut(t, s, []Record{r2, r2, r}, nil); n != 1 {
			t.Fatalf("put with duplicates stored %d, want 1", n)
		}
		if c := mustCounts(t, s); c.Accepted != 2 {
			t.Fatalf("counts %+v, want 2 accepted", c)
		}
	})
}

func TestPutCopiesRaw(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		r := testRecord(1, testKey(1), 1, 1)
		raw := bytes.Clone(r.Raw)
		mustPut(t, s, []Record{r}, nil)
		r.Raw[0] ^= 0xff // the caller reuses its buffer
		got := mustGet(t, s, r.ID)
		if !bytes.Equal(got.Raw, raw) {
			t.Fatal("store kept a reference to the caller's Raw")
		}
		got.Raw[0] ^= 0xff
		if again := mustGet(t, s, r.ID); !bytes.Equal(again.Raw, raw) {
			t.Fatal("Get returned the store's own Raw")
		}
		// nil Raw is stored as empty.
		empty := testRecord(2, testKey(1), 2, 2)
		empty.Raw = nil
		mustPut(t, s, []Record{empty}, nil)
		if got := mustGet(t, s, empty.ID); len(got.Raw) != 0 {
			t.Fatalf("raw %q, want empty", got.Raw)
		}
	})
}

func TestStatusChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		a := testKey(1)
		r1, r2, r3 := testRecord(1, a, 1, 1), testRecord(2, a, 2, 2), testRecord(3, a, 3, 3)
		r3.Status = crdt.StatusWaiting
		mustPut(t, s, []Record{r1, r2, r3}, nil)

		mustPut(t, s, nil, []crdt.Change{
			{ID: r1.ID, From: crdt.StatusAccepted, To: crdt.StatusHeld},
			{ID: r2.ID, From: crdt.StatusAccepted, To: crdt.StatusNone},
			{ID: testID(99), From: crdt.StatusWaiting, To: crdt.StatusAccepted}, // unknown: ignored
			{ID: testID(98), From: crdt.StatusWaiting, To: crdt.StatusNone},     // unknown: ignored
		})
		if got := mustGet(t, s, r1.ID); got.Status != crdt.StatusHeld {
			t.Fatalf("r1 status %v, want held", got.Status)
		}
		if _, err := s.Get(context.Background(), r2.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted record: err %v, want ErrNotFound", err)
		}
		if _, err := s.Get(context.Background(), testID(99)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a change for an unknown ID stored something: %v", err)
		}
		want := Counts{Held: 1, Waiting: 1, Bytes: int64(len(r1.Raw) + len(r3.Raw)), Unknown: map[crdt.Kind]int{}}
		if c := mustCounts(t, s); !reflect.DeepEqual(c, want) {
			t.Fatalf("counts %+v, want %+v", c, want)
		}

		// Records are stored before the changes in the same call apply.
		r4 := testRecord(4, a, 4, 4)
		r4.Status = crdt.StatusWaiting
		n := mustPut(t, s, []Record{r4}, []crdt.Change{{ID: r4.ID, From: crdt.StatusWaiting, To: crdt.StatusAccepted}})
		if n != 1 {
			t.Fatalf("stored %d, want 1", n)
		}
		if got := mustGet(t, s, r4.ID); got.Status != crdt.StatusAccepted {
			t.Fatalf("r4 status %v, want accepted", got.Status)
		}
	})
}

func TestGetNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		_, err := s.Get(context.Background(), testID(1))
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
	})
}

func TestRoundTripsExtremeValues(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		r := Record{
			ID: testID(1), Author: testKey(1), Seq: math.MaxUint64, Clock: math.MaxUint64,
			Kind: crdt.Kind(math.MaxUint64), Status: crdt.StatusWaiting, Raw: testRaw(1),
		}
		r2 := Record{ID: testID(2), Author: testKey(1), Seq: 1 << 63, Clock: 1<<63 + 1, Kind: 1 << 63, Status: crdt.StatusHeld}
		mustPut(t, s, []Record{r, r2}, nil)
		if got := mustGet(t, s, r.ID); !sameRecord(got, r) {
			t.Fatalf("got %+v, want %+v", got, r)
		}
		if got := mustGet(t, s, r2.ID); !sameRecord(got, r2) {
			t.Fatalf("got %+v, want %+v", got, r2)
		}
	})
}

func TestScanOrderAndResume(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		// More than one page, stored in several calls, in an order that is
		// neither ID order nor seq order.
		const n = 2*scanPage + 123
		var want []Record
		for batch := 0; batch < n; batch += 500 {
			var recs []Record
			for i := batch; i < min(batch+500, n); i++ {
				recs = append(recs, testRecord(i, testKey(i%7), uint64(n-i), crdt.Clock(i)))
			}
			mustPut(t, s, recs, nil)
			want = append(want, recs...)
		}
		got, cursors, last := scanAll(t, s, 0)
		if len(got) != n {
			t.Fatalf("scanned %d records, want %d", len(got), n)
		}
		for i := range got {
			if !sameRecord(got[i], want[i]) {
				t.Fatalf("record %d: got %s, want %s", i, got[i].ID, want[i].ID)
			}
			if i > 0 && cursors[i] <= cursors[i-1] {
				t.Fatalf("cursors not increasing: %d then %d", cursors[i-1], cursors[i])
			}
		}
		if last != cursors[n-1] {
			t.Fatalf("scan returned cursor %d, want %d", last, cursors[n-1])
		}

		// Resuming from a cursor visits exactly the records after it.
		mid := 1500
		rest, _, last2 := scanAll(t, s, cursors[mid])
		if len(rest) != n-mid-1 || rest[0].ID != want[mid+1].ID || last2 != last {
			t.Fatalf("resume from %d: %d records, first %s, last cursor %d", cursors[mid], len(rest), rest[0].ID, last2)
		}
		// Nothing new: the cursor given is returned.
		if none, _, c := scanAll(t, s, last); len(none) != 0 || c != last {
			t.Fatalf("scan past the end: %d records, cursor %d, want 0, %d", len(none), c, last)
		}

		// A cursor is never reused, even after the newest record is deleted:
		// a reader that has passed it must still see what comes next.
		mustPut(t, s, nil, []crdt.Change{{ID: want[n-1].ID, To: crdt.StatusNone}})
		fresh := testRecord(n, testKey(1), 1, 1)
		mustPut(t, s, []Record{fresh}, nil)
		newer, newCursors, _ := scanAll(t, s, last)
		if len(newer) != 1 || newer[0].ID != fresh.ID || newCursors[0] <= last {
			t.Fatalf("after deleting the newest record, a new one was not seen past cursor %d: %v", last, newCursors)
		}

		// An error from fn stops the scan, is returned, and the cursor is
		// that of the last record fn accepted.
		errStop := errors.New("stop")
		visited := 0
		c, err := s.Scan(context.Background(), 0, func(int64, Record) error {
			visited++
			if visited == 3 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || visited != 3 || c != cursors[1] {
			t.Fatalf("scan with failing fn: err %v, visited %d, cursor %d; want errStop, 3, %d", err, visited, c, cursors[1])
		}
	})
}

func TestScanCallsBackIntoStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		const n = scanPage + 10
		var recs []Record
		for i := range n {
			recs = append(recs, testRecord(i, testKey(1), uint64(i+1), crdt.Clock(i+1)))
		}
		mustPut(t, s, recs, nil)
		ctx := context.Background()
		visited := 0
		_, err := s.Scan(ctx, 0, func(_ int64, r Record) error {
			visited++
			got, err := s.Get(ctx, r.ID)
			if err != nil {
				return err
			}
			if !sameRecord(got, r) {
				return fmt.Errorf("get %s inside scan returned another record", r.ID)
			}
			if visited%500 == 0 {
				// Writing from inside a scan must not deadlock.
				if _, err := s.Put(ctx, []Record{testRecord(10000+visited, testKey(2), 1, 1)}, nil); err != nil {
					return err
				}
				if _, err := s.Counts(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if visited < n {
			t.Fatalf("visited %d, want at least %d", visited, n)
		}
	})
}

func TestAppendHead(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a, b := testKey(1), testKey(2)
		expect := func(author crdt.DeviceKey, wantHead Head, wantMax crdt.Clock) {
			t.Helper()
			errPeek := errors.New("peek")
			err := s.Append(ctx, author, func(h Head, maxClock crdt.Clock) (Record, error) {
				if h != wantHead || maxClock != wantMax {
					t.Errorf("head %+v max %v, want %+v max %v", h, maxClock, wantHead, wantMax)
				}
				return Record{}, errPeek
			})
			if !errors.Is(err, errPeek) {
				t.Fatalf("append: %v", err)
			}
		}

		expect(a, Head{}, 0) // empty store

		for i := 1; i <= 3; i++ {
			if err := appendNext(ctx, s, a, i); err != nil {
				t.Fatal(err)
			}
		}
		expect(a, Head{Seq: 3, ID: testID(3), Clock: 3}, 3)
		expect(b, Head{}, 3) // another author: empty chain, same max clock

		// A fork at seq 3: the lower ID is the head, whatever the order.
		low := testRecord(10, a, 3, 50)
		low.ID = crdt.ID{31: 1}
		high := testRecord(11, a, 3, 60)
		high.ID = crdt.ID(bytes.Repeat([]byte{0xff}, 32))
		mustPut(t, s, []Record{high}, nil)
		expect(a, Head{Seq: 3, ID: testID(3), Clock: 3}, 60)
		mustPut(t, s, []Record{low}, nil)
		expect(a, Head{Seq: 3, ID: low.ID, Clock: 50}, 60)

		// The next append goes on top of the head; an older seq stored
		// later does not move it.
		if err := appendNext(ctx, s, a, 4); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, testID(4))
		if got.Seq != 4 || got.Clock != 61 {
			t.Fatalf("appended seq %d clock %v, want 4, 61", got.Seq, got.Clock)
		}
		mustPut(t, s, []Record{testRecord(12, a, 2, 5)}, nil)
		expect(a, Head{Seq: 4, ID: testID(4), Clock: 61}, 61)

		// A deleted head is no longer the head; the highest clock stays
		// (a clock once used is not given again).
		mustPut(t, s, nil, []crdt.Change{{ID: testID(4), To: crdt.StatusNone}})
		expect(a, Head{Seq: 3, ID: low.ID, Clock: 50}, 61)
	})
}

func TestAppendHighValues(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		mustPut(t, s, []Record{
			testRecord(1, a, 5, 1<<62),
			testRecord(2, testKey(2), 1, 1<<63+7),
			testRecord(3, testKey(3), 1, 1<<63-1),
		}, nil)
		check := func(wantSeq uint64, wantMax crdt.Clock) {
			t.Helper()
			errPeek := errors.New("peek")
			err := s.Append(ctx, a, func(h Head, maxClock crdt.Clock) (Record, error) {
				if h.Seq != wantSeq || maxClock != wantMax {
					t.Errorf("head seq %d max %d, want %d, %d", h.Seq, uint64(maxClock), wantSeq, uint64(wantMax))
				}
				return Record{}, errPeek
			})
			if !errors.Is(err, errPeek) {
				t.Fatal(err)
			}
		}
		check(5, 1<<63+7)
		mustPut(t, s, []Record{testRecord(4, a, 1<<63+1, math.MaxUint64), testRecord(5, a, 1<<62, 9)}, nil)
		check(1<<63+1, math.MaxUint64)
	})
}

func TestAppendFnErrorRollsBack(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		if err := appendNext(ctx, s, a, 1); err != nil {
			t.Fatal(err)
		}
		before := mustCounts(t, s)

		errRefused := errors.New("refused")
		err := s.Append(ctx, a, func(Head, crdt.Clock) (Record, error) {
			return testRecord(2, a, 2, 2), errRefused
		})
		if err != errRefused { // not errors.Is: the contract is "returned as it is"
			t.Fatalf("err %v, want errRefused itself", err)
		}
		if _, err := s.Get(ctx, testID(2)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("record of a failed append was stored: %v", err)
		}
		if c := mustCounts(t, s); !reflect.DeepEqual(c, before) {
			t.Fatalf("counts %+v after a failed append, want %+v", c, before)
		}

		// A record by another author, or one already stored, is refused.
		err = s.Append(ctx, a, func(h Head, _ crdt.Clock) (Record, error) {
			return testRecord(3, testKey(2), h.Seq+1, 3), nil
		})
		if !errors.Is(err, ErrWrongAuthor) {
			t.Fatalf("wrong author: err %v, want ErrWrongAuthor", err)
		}
		err = s.Append(ctx, a, func(h Head, _ crdt.Clock) (Record, error) {
			return testRecord(1, a, h.Seq+1, 3), nil
		})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("existing ID: err %v, want ErrExists", err)
		}
		if c := mustCounts(t, s); !reflect.DeepEqual(c, before) {
			t.Fatalf("counts %+v after refused appends, want %+v", c, before)
		}

		// The store still works after all that.
		if err := appendNext(ctx, s, a, 4); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, testID(4)); got.Seq != 2 {
			t.Fatalf("seq %d, want 2", got.Seq)
		}
	})
}

// TestAppendFnMayRead: fn runs inside the write transaction but may read
// the store (it must not write: that would wait for itself).
func TestAppendFnMayRead(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := testKey(1)
		if err := appendNext(ctx, s, a, 1); err != nil {
			t.Fatal(err)
		}
		err := s.Append(ctx, a, func(h Head, maxClock crdt.Clock) (Record, error) {
			prev, err := s.Get(ctx, h.ID)
			if err != nil {
				return Record{}, err
			}
			if _, err := s.Counts(ctx); err != nil {
				return Record{}, err
			}
			if _, err := s.Scan(ctx, 0, func(int64, Record) error { return nil }); err != nil {
				return Record{}, err
			}
			return testRecord(2, a, prev.Seq+1, maxClock+1), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, testID(2)); got.Seq != 2 {
			t.Fatalf("seq %d, want 2", got.Seq)
		}
	})
}

func TestCounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		if c := mustCounts(t, s); !reflect.DeepEqual(c, Counts{Unknown: map[crdt.Kind]int{}}) {
			t.Fatalf("empty store counts %+v", c)
		}
		var recs []Record
		want := Counts{Unknown: map[crdt.Kind]int{}}
		statuses := []crdt.Status{crdt.StatusAccepted, crdt.StatusWaiting, crdt.StatusHeld}
		for i := range 30 {
			r := testRecord(i, testKey(i%3), uint64(i), crdt.Clock(i))
			r.Status = statuses[i%3]
			r.Raw = bytes.Repeat([]byte{byte(i)}, 200+i)
			if i%5 == 0 {
				r.Kind = crdt.Kind(100 + i%2) // kinds this release cannot read
				if r.Status == crdt.StatusAccepted {
					want.Unknown[r.Kind]++
				}
			}
			recs = append(recs, r)
			want.Bytes += int64(len(r.Raw))
		}
		want.Accepted, want.Waiting, want.Held = 10, 10, 10
		mustPut(t, s, recs, nil)
		if c := mustCounts(t, s); !reflect.DeepEqual(c, want) {
			t.Fatalf("counts %+v, want %+v", c, want)
		}
		// Counts follow status changes, deletions and rewrites.
		mustPut(t, s, nil, []crdt.Change{
			{ID: recs[0].ID, From: crdt.StatusAccepted, To: crdt.StatusHeld},      // unknown kind
			{ID: recs[1].ID, From: crdt.StatusWaiting, To: crdt.StatusNone},       // deleted
			{ID: recs[2].ID, From: crdt.StatusHeld, To: crdt.StatusAccepted},      // accepted now
			{ID: recs[15].ID, From: crdt.StatusAccepted, To: crdt.StatusAccepted}, // no change
		})
		if err := s.Rewrite(context.Background(), recs[3].ID, []byte("shorter"), crdt.Keys{}); err != nil {
			t.Fatal(err)
		}
		want.Unknown[recs[0].Kind]--
		if want.Unknown[recs[0].Kind] == 0 {
			delete(want.Unknown, recs[0].Kind)
		}
		want.Waiting--
		want.Bytes -= int64(len(recs[1].Raw) + len(recs[3].Raw) - len("shorter"))
		if c := mustCounts(t, s); !reflect.DeepEqual(c, want) {
			t.Fatalf("after changes: counts %+v, want %+v", c, want)
		}
	})
}

func TestMeta(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if _, err := s.GetMeta(ctx, "network"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing key: err %v, want ErrNotFound", err)
		}
		for _, v := range [][]byte{[]byte("first"), []byte("second, longer"), {}} {
			if err := s.SetMeta(ctx, "network", v); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetMeta(ctx, "network")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, v) || got == nil {
				t.Fatalf("got %q, want %q", got, v)
			}
		}
		if err := s.SetMeta(ctx, "other", []byte{0, 1, 2}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetMeta(ctx, "network"); len(got) != 0 {
			t.Fatalf("setting one key changed another: %q", got)
		}
	})
}

func TestClose(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		mustPut(t, s, []Record{testRecord(1, testKey(1), 1, 1)}, nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		calls := map[string]error{}
		_, calls["put"] = s.Put(ctx, []Record{testRecord(2, testKey(1), 2, 2)}, nil)
		calls["append"] = appendNext(ctx, s, testKey(1), 3)
		_, calls["get"] = s.Get(ctx, testID(1))
		_, calls["scan"] = s.Scan(ctx, 0, func(int64, Record) error { return nil })
		_, calls["counts"] = s.Counts(ctx)
		_, calls["getmeta"] = s.GetMeta(ctx, "k")
		calls["setmeta"] = s.SetMeta(ctx, "k", nil)
		calls["recordcontact"] = s.RecordContact(ctx, testKey(1), time.Now(), ViaDirect, []byte{1})
		_, calls["contacts"] = s.Contacts(ctx)
		if sq, ok := s.(*SQLite); ok {
			calls["integrity"] = sq.IntegrityCheck(ctx)
		}
		for name, err := range calls {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after close: err %v, want ErrClosed", name, err)
			}
		}
	})
}

func TestCanceledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Put(ctx, []Record{testRecord(1, testKey(1), 1, 1)}, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("put: err %v, want context.Canceled", err)
		}
		if err := appendNext(ctx, s, testKey(1), 2); !errors.Is(err, context.Canceled) {
			t.Fatalf("append: err %v, want context.Canceled", err)
		}
		if _, err := s.Get(ctx, testID(1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("get: err %v, want context.Canceled", err)
		}
		if c := mustCounts(t, s); !reflect.DeepEqual(c, Counts{Unknown: map[crdt.Kind]int{}}) {
			t.Fatalf("a canceled call stored something: %+v", c)
		}
	})
}

// concurrentAppends runs workers goroutines, each appending perWorker
// entries to one author's chain through stores[w%len(stores)], and checks
// that the chain has seqs 1..n with none repeated.
func concurrentAppends(t *testing.T, stores []Store, workers, perWorker int) {
	t.Helper()
	ctx := context.Background()
	author := testKey(1)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range perWorker {
				if err := appendNext(ctx, s, author, w*perWorker+i); err != nil {
					errs <- fmt.Errorf("worker %d append %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	n := workers * perWorker
	recs, _, _ := scanAll(t, stores[0], 0)
	seen := map[uint64]crdt.ID{}
	var lastClock crdt.Clock
	for _, r := range recs {
		if other, dup := seen[r.Seq]; dup {
			t.Fatalf("two entries with seq %d: %s and %s", r.Seq, other, r.ID)
		}
		seen[r.Seq] = r.ID
		if r.Clock <= lastClock {
			t.Fatalf("clock of seq %d is %v, not after %v", r.Seq, r.Clock, lastClock)
		}
		lastClock = r.Clock
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		if _, ok := seen[seq]; !ok {
			t.Fatalf("seq %d missing; %d records", seq, len(recs))
		}
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
}

func TestConcurrentAppendsOneSeqEach(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		concurrentAppends(t, []Store{s}, 6, 20)
	})
}

// TestConcurrentAppendsTwoHandles models two processes (a node and a CLI
// command) appending to the same file: only SQLite's own lock (BEGIN
// IMMEDIATE) keeps them apart.
func TestConcurrentAppendsTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	a, b := openTemp(t, path), openTemp(t, path)
	concurrentAppends(t, []Store{a, b}, 6, 20)
}

// TestWriteLockTakenAtBegin checks that a write transaction holds SQLite's
// write lock from BEGIN, before it has written anything: that is what keeps
// another process from storing an entry between Append reading the head and
// its insert.
func TestWriteLockTakenAtBegin(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "murmur.db")
	s := openTemp(t, path)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM entries").Scan(&n); err != nil {
		t.Fatal(err)
	}

	// Another "process": its own connection, not waiting for locks.
	other, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('k', x'00')"); err == nil {
		t.Fatal("another connection wrote while a write transaction that had only read was open")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('k', x'00')"); err != nil {
		t.Fatalf("write after the transaction ended: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "murmur.db")
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := parseMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.applied) != len(migrations) {
		t.Fatalf("new database: applied %v, want all %d migrations", s.applied, len(migrations))
	}
	a := testKey(1)
	for i := 1; i <= 5; i++ {
		if err := appendNext(ctx, s, a, i); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, s, []Record{testRecord(6, testKey(2), 1, 1)}, []crdt.Change{{ID: testID(2), To: crdt.StatusHeld}})
	if err := s.SetMeta(ctx, "network", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	before, _, lastBefore := scanAll(t, s, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTemp(t, path)
	if len(s2.applied) != 0 {
		t.Fatalf("reopen applied migrations %v again", s2.applied)
	}
	var version int
	if err := s2.readers.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) {
		t.Fatalf("user_version %d, want %d", version, len(migrations))
	}
	after, _, lastAfter := scanAll(t, s2, 0)
	if len(after) != len(before) || lastAfter != lastBefore {
		t.Fatalf("reopened store has %d records up to %d, want %d up to %d", len(after), lastAfter, len(before), lastBefore)
	}
	for i := range after {
		if !sameRecord(after[i], before[i]) {
			t.Fatalf("record %d changed across reopen", i)
		}
	}
	if v, err := s2.GetMeta(ctx, "network"); err != nil || string(v) != "n1" {
		t.Fatalf("meta after reopen: %q, %v", v, err)
	}
	if err := appendNext(ctx, s2, a, 7); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s2, testID(7)); got.Seq != 6 {
		t.Fatalf("append after reopen got seq %d, want 6", got.Seq)
	}
	if err := s2.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, []Record{testRecord(1, testKey(1), 1, 1)}, nil)
	if _, err := s.writer.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := OpenSQLite(path, testSealKey)
	if err == nil {
		s2.Close()
		t.Fatal("opened a database with a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("err %v, want ErrSchemaTooNew naming version 999", err)
	}
	t.Log(err) // what a user would read

	// The refused database is untouched.
	src, err := dsn(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version, rows int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM entries").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if version != 999 || rows != 1 {
		t.Fatalf("refused database changed: version %d, %d rows", version, rows)
	}
}

func TestParseMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := parseMigrations(fstest.MapFS{
		"migrations/0002_more.sql":  file("two"),
		"migrations/0001_first.sql": file("one"),
		"migrations/README":         file("ignored"),
	})
	if err != nil || len(ms) != 2 || ms[0].sql != "one" || ms[1].version != 2 {
		t.Fatalf("got %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": file(""), "migrations/0003_c.sql": file("")},
		"duplicate": {"migrations/0001_a.sql": file(""), "migrations/0001_b.sql": file("")},
		"no number": {"migrations/first.sql": file("")},
		"zero":      {"migrations/0000_a.sql": file("")},
	} {
		if _, err := parseMigrations(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The embedded ones are valid.
	if _, err := parseMigrations(migrationFiles); err != nil {
		t.Fatal(err)
	}
}

// TestPragmas checks that every connection, the writer's and the readers',
// has the settings durability depends on.
func TestPragmas(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	ctx := context.Background()
	for name, db := range map[string]*sql.DB{"writer": s.writer, "reader": s.readers} {
		var mode string
		var sync, busy int
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 || busy != busyTimeoutMillis {
			t.Errorf("%s: journal_mode %s synchronous %d busy_timeout %d, want wal 2 (FULL) %d", name, mode, sync, busy, busyTimeoutMillis)
		}
	}
	if _, err := s.readers.ExecContext(ctx, "DELETE FROM meta"); err == nil {
		t.Error("a reader connection can write")
	}
}

// TestQueryPlans keeps Append and Get index seeks (Append's highest clock
// is the clock mark, one row): a full scan there would
// make every write cost O(entries).
func TestQueryPlans(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	ctx := context.Background()
	key := testKey(1)
	queries := map[string][]any{
		headHigh: {key[:]}, headLow: {key[:]},
		`SELECT sealed FROM entries WHERE id = ?`:                 {key[:]},
		`SELECT id FROM entries WHERE cursor > ? ORDER BY cursor`: {int64(0)},
	}
	for q, args := range queries {
		rows, err := s.readers.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
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
			if step == "SCAN entries" || strings.Contains(step, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("%s\nplan: %v", q, plan)
			}
		}
		t.Logf("%s\n\t%s", q, strings.Join(plan, "\n\t"))
	}
}

func TestIntegrityCheck(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	mustPut(t, s, []Record{testRecord(1, testKey(1), 1, 1)}, nil)
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}
