package node

import (
	"context"
	"testing"
)

// A withdrawal with no pledge named takes back every one of the
// organisation's pledges, however many: one entry names at most 31, so
// as many are written as that takes.
func TestWithdrawTakesBackEveryPledge(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	fund, err := a.NewRequest(ctx, RequestInput{Kind: "funding", Title: "Relocation", Amount: "5000", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	const pledges = 70
	for range pledges {
		if _, err := b.Respond(ctx, ResponseInput{Request: fund.ID().String(), Type: "pledge", Amount: "10"}); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	left := b.pledgesLeft(fund.ID().String())
	b.mu.Unlock()
	if left != pledges {
		t.Fatalf("%d pledges stand, want %d", left, pledges)
	}
	if _, err := b.Respond(ctx, ResponseInput{Request: fund.ID().String(), Type: "withdraw"}); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	left = b.pledgesLeft(fund.ID().String())
	b.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d pledges still stand after withdrawing all", left)
	}
	exchange(t, a, b)
	d, err := a.Request(fund.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	if d.Funding == nil || len(d.Funding.Pledged) != 0 {
		t.Fatalf("the requester sees %+v", d.Funding)
	}
}
