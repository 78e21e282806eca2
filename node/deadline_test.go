package node

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
)

// A deadline at 2^63 ms or later (an entry carries it unsigned) is far in
// the future everywhere: not shown as 1969 or a negative year, not
// overdue, and a letter with one is still open for signing, as the rules
// count it.
func TestDeadlinesBeyondTheYear9999(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	exchange(t, a, b)
	for _, by := range []uint64{1 << 63, math.MaxUint64} {
		e, err := a.Append(ctx, &crdt.Request{Type: crdt.Letter, Title: "Joint statement", RespondBy: by})
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, a, b)
		d, err := b.Request(e.ID().String())
		if err != nil {
			t.Fatal(err)
		}
		if d.RespondBy == nil || !strings.HasPrefix(*d.RespondBy, "9999-12-31") || d.Overdue {
			t.Fatalf("deadline %d: shown %v, overdue %v", by, d.RespondBy, d.Overdue)
		}
		if !strings.HasPrefix(d.Created, "20") {
			t.Fatalf("created %q", d.Created)
		}
		if _, err := b.Respond(ctx, ResponseInput{Request: e.ID().String(), Type: "sign"}); err != nil {
			t.Fatalf("deadline %d: signing refused: %v", by, err)
		}
	}
}
