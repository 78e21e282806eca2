package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// stateSummary is what a state says: its digest, counts, every entry's
// status, and the views, in a comparable form.
func stateSummary(s *crdt.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digest %x\n", s.Digest())
	c := s.Counts()
	fmt.Fprintf(&b, "counts %d %d %d %v\n", c.Accepted, c.Waiting, c.Held, c.Unknown)
	var lines []string
	s.Each(func(e *crdt.Entry, st crdt.Status) {
		lines = append(lines, fmt.Sprintf("%v %v withheld=%v", e.ID(), st, e.Withheld))
	})
	slices.Sort(lines)
	b.WriteString(strings.Join(lines, "\n"))
	views, err := json.Marshal([]any{s.Requests(), s.Directory(), s.Members()})
	if err != nil {
		panic(err)
	}
	b.WriteString("\n")
	b.Write(views)
	return b.String()
}

// The persisted state, killed and reopened at random points: for any
// order of delivery, a state given the entries in batches over the SQLite
// store, which is closed and opened again (a new state restored from it)
// at random points, ends as a state that took every entry in one go.
func TestReopenedStoreGivesTheSameState(t *testing.T) {
	cases := 8
	if testing.Short() || raceDetector {
		cases = 2
	}
	ctx := context.Background()
	for c := range cases {
		seed := *factsSeed + 1000 + uint64(c)
		n := factsHistory(t, seed)
		rng := rand.New(rand.NewPCG(seed, 5))
		batches := deliveries(t, n, rng) // (some bodies never arrive)
		want := crdt.NewState(n.network, crdt.DefaultLimits())
		want.ApplyBatch(slices.Concat(batches...))

		path := filepath.Join(t.TempDir(), "murmur.db")
		s, err := OpenSQLite(path, testSealKey)
		if err != nil {
			t.Fatal(err)
		}
		st := crdt.NewStateOn(n.network, crdt.DefaultLimits(), Facts(ctx, s))
		reopened := 0
		for i, batch := range batches {
			_, ready := st.Step(batch)
			if err := st.Err(); err != nil {
				t.Fatalf("seed %d, batch %d: %v", seed, i, err)
			}
			if _, err := s.Update(ctx, func(Mark) (Batch, error) { return BatchOf(ready), nil }); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(3) == 0 {
				reopened++
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = OpenSQLite(path, testSealKey); err != nil {
					t.Fatal(err)
				}
				st = crdt.NewStateOn(n.network, crdt.DefaultLimits(), Facts(ctx, s))
				fixes, err := st.Restore()
				if err != nil {
					t.Fatal(err)
				}
				if len(fixes.Stored)+len(fixes.Changes)+len(fixes.Rewritten) > 0 {
					t.Fatalf("seed %d, batch %d: restored from the store, the state changed it: %+v", seed, i, fixes)
				}
			}
		}
		if reopened == 0 {
			t.Logf("seed %d: never reopened", seed)
		}
		if got, w := stateSummary(st), stateSummary(want); got != w {
			t.Fatalf("seed %d: the state read back from disk differs:\n%s", seed, firstDiff(w, got))
		}
		s.Close()
	}
}
