package node

import (
	"context"
	"fmt"
	"testing"
)

// TestRequestPagesAreTheList: walking `request list` page by page, with
// any page size and kind, gives the whole list in its order (open alerts
// first, then newest first), and each page says truly how many follow,
// though a page reads only what it shows.
func TestRequestPagesAreTheList(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	var alerts []string
	for i := range 14 {
		in := RequestInput{Kind: "verification", Title: fmt.Sprintf("request %d", i)}
		switch i % 4 {
		case 1:
			in = RequestInput{Kind: "alert", Title: fmt.Sprintf("alert %d", i), Region: "TZ"}
		case 2:
			in = RequestInput{Kind: "letter", Title: fmt.Sprintf("letter %d", i)}
		}
		e, err := n.NewRequest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if in.Kind == "alert" {
			alerts = append(alerts, e.ID().String())
		}
	}
	if _, err := n.CloseRequest(ctx, alerts[1]); err != nil { // a closed alert is not at the head
		t.Fatal(err)
	}
	for _, kind := range []string{"", "alert", "letter", "verification"} {
		f := RequestFilter{Kind: kind}
		want, err := n.Requests(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1, 2, 3, 5, len(want) + 1} {
			var got []string
			after := ""
			for range len(want) + 1 {
				page, more, err := n.RequestPage(f, after, size)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					got = append(got, r.ID)
				}
				if more != len(want)-len(got) {
					t.Fatalf("kind %q, pages of %d: %d shown, %d said to follow, want %d", kind, size, len(got), more, len(want)-len(got))
				}
				if more == 0 {
					break
				}
				after = page[len(page)-1].ID[:12]
			}
			if len(got) != len(want) {
				t.Fatalf("kind %q, pages of %d: %d requests, want %d", kind, size, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i].ID {
					t.Fatalf("kind %q, pages of %d: item %d is %s, want %s", kind, size, i, got[i][:12], want[i].ID[:12])
				}
			}
		}
	}
	if _, _, err := n.RequestPage(RequestFilter{Kind: "letter"}, alerts[0][:12], 3); err == nil {
		t.Fatal("--after an alert in a list of letters was taken")
	}
}

// Status shows the ten newest open alerts and counts the others, and
// reads no more alerts than it may.
func TestStatusShowsTenAlertsAndCountsTheRest(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	for i := range statusAlerts + 3 {
		if _, err := n.NewRequest(ctx, RequestInput{Kind: "alert", Title: fmt.Sprintf("alert %d", i), Region: "TZ"}); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Status()
	if len(st.Alerts) != statusAlerts || st.MoreAlerts != 3 || st.OlderAlerts != 0 || st.AlertsAtLeast {
		t.Fatalf("%d alerts shown, %d more, %d older, at least %v", len(st.Alerts), st.MoreAlerts, st.OlderAlerts, st.AlertsAtLeast)
	}
	if st.Alerts[0].Title != fmt.Sprintf("alert %d", statusAlerts+2) {
		t.Fatalf("the first alert shown is %q, not the newest", st.Alerts[0].Title)
	}
}
