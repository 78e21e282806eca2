package node

import (
	"context"
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
	ctx := context.Background()
	a, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	req, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Close me once"})
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
			_, errs[i] = h.CloseRequest(ctx, req.ID().String())
		}()
	}
	wg.Wait()
	closed := 0
	for _, err := range errs {
		if err == nil {
			closed++
		}
	}
	if closed != 1 {
		t.Fatalf("%d closes written (errors %v), want 1", closed, errs)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c := a.State().Counts(); c.Accepted != 5 { // genesis, org key, secret check, the request, one close
		t.Fatalf("%d entries accepted, want 5", c.Accepted)
	}
}
