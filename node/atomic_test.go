package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// Two processes closing one request at once (two handles on one data
// directory): one close is written, the other is refused as the request
// is closed already. The check and the write are one transaction.
func TestConcurrentClosesWriteOne(t *testing.T) {
	ForEachStore(t, testConcurrentClosesWriteOne)
}

func testConcurrentClosesWriteOne(t *testing.T, kind StoreKind) {
	concurrently(t, kind, 5, func(ctx context.Context, h *Node, req string) error {
		_, err := h.CloseRequest(ctx, req)
		return err
	})
}

// The same for a redaction, an acknowledgement of an alert and a
// revocation: checked and written in one transaction, each is written
// once.
func TestConcurrentWorkflowsWriteOne(t *testing.T) {
	ForEachStore(t, func(t *testing.T, kind StoreKind) {
		concurrently(t, kind, 5, func(ctx context.Context, h *Node, req string) error {
			_, err := h.Redact(ctx, req, "posted by mistake")
			return err
		})
		concurrently(t, kind, 5, func(ctx context.Context, h *Node, req string) error {
			_, already, err := h.AckAlert(ctx, req)
			if already {
				return errors.New("acknowledged already")
			}
			return err
		})
	})
}

// concurrently runs do on four handles on one data directory at once,
// each on the same new alert: exactly one must succeed, and the node then
// holds want accepted entries.
func concurrently(t *testing.T, kind StoreKind, want int, do func(ctx context.Context, h *Node, req string) error) {
	t.Helper()
	ctx := context.Background()
	a, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	req, err := a.NewRequest(ctx, RequestInput{Kind: "alert", Title: "Act on me once", Region: "TZ"})
	if err != nil {
		t.Fatal(err)
	}
	handles := []*Node{a}
	for range 3 {
		h, err := Open(ctx, a.Dir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		if err := h.Unlock(nil); err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(handles))
	for i, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(ctx, h, req.ID().String())
		}()
	}
	wg.Wait()
	done := 0
	for _, err := range errs {
		if err == nil {
			done++
		}
	}
	if done != 1 {
		t.Fatalf("%d written (errors %v), want 1", done, errs)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := a.State().Counts(); c.Accepted != want { // genesis, org key, secret check, the request, one more
		t.Fatalf("%d entries accepted, want %d", c.Accepted, want)
	}
}

// Two handles on one data directory (two processes of one device) append
// in turn: each Append continues the chain the other left, whatever the
// one before it remembers of its own last write, and no fork appears.
func TestAppendsFollowAnotherProcess(t *testing.T) {
	ForEachStore(t, func(t *testing.T, kind StoreKind) {
		ctx := context.Background()
		a, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		b, err := Open(ctx, a.Dir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if err := b.Unlock(nil); err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for i, h := range []*Node{a, a, b, a, b, b, a, a} {
			e, err := h.NewRequest(ctx, RequestInput{Kind: "alert", Title: fmt.Sprintf("Alert %d", i), Region: "TZ"})
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			seqs = append(seqs, e.Seq)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("sequence numbers %v: not one chain", seqs)
			}
		}
		for _, h := range []*Node{a, b} {
			if err := h.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if dv, ok := h.State().Device(h.Device()); !ok || dv.Forked || dv.Entries != int(seqs[len(seqs)-1]) {
				t.Fatalf("this device: %+v (known %v), want %d entries and no fork", dv, ok, seqs[len(seqs)-1])
			}
		}
	})
}
