package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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
	all, err := n.Requests(RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CloseRequest(ctx, all[len(all)-3].ID); err != nil { // and an older request
		t.Fatal(err)
	}
	for _, f := range []RequestFilter{{}, {Kind: "alert"}, {Kind: "letter"}, {Kind: "verification"}, {Open: true}, {Kind: "alert", Open: true}, {Kind: "verification", Open: true}} {
		want, err := n.Requests(RequestFilter{Kind: f.Kind})
		if err != nil {
			t.Fatal(err)
		}
		if f.Open { // (the list of open ones read from the whole list)
			want = slices.DeleteFunc(want, func(r RequestSummary) bool { return r.Status == "closed" })
		}
		for _, size := range []int{1, 2, 3, 5, len(want) + 1} {
			walkPages(t, n, f, want, size)
		}
	}
	if _, _, err := n.RequestPage(RequestFilter{Kind: "letter"}, alerts[0][:12], 3); err == nil {
		t.Fatal("--after an alert in a list of letters was taken")
	}

	// Paging the open requests while each page's last one is closed
	// (review 6: the next page failed): the pages still list, once each
	// and in order, what was open when the walk began.
	for _, kind := range []string{"", "alert", "verification"} {
		f := RequestFilter{Kind: kind, Open: true}
		want, _, err := n.RequestPage(f, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		after := ""
		for range len(want) + 1 {
			page, _, err := n.RequestPage(f, after, 2)
			if err != nil {
				t.Fatalf("%q: the page after %s: %v", kind, after, err)
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				got = append(got, r.ID)
			}
			after = page[len(page)-1].ID[:12]
			if _, err := n.CloseRequest(ctx, after); err != nil {
				t.Fatal(err)
			}
			// --limit 0 from there: the whole rest, which is what was
			// open after it (review 8: refused).
			rest, _, err := n.RequestPage(f, after, 0)
			if err != nil {
				t.Fatalf("%q: the rest after %s, closed since: %v", kind, after, err)
			}
			i := slices.IndexFunc(want, func(r RequestSummary) bool { return strings.HasPrefix(r.ID, after) })
			if len(rest) != len(want)-i-1 || len(rest) > 0 && rest[0].ID != want[i+1].ID {
				t.Fatalf("%q: the rest after %s (closed since) holds %d from %v, want %d", kind, after, len(rest), rest, len(want)-i-1)
			}
		}
		var wantIDs []string
		for _, r := range want {
			wantIDs = append(wantIDs, r.ID)
		}
		if len(want) < 2 || !slices.Equal(got, wantIDs) {
			t.Fatalf("%q: closing each page's last request, the pages list\n%v\nwant\n%v", kind, got, wantIDs)
		}
	}
}

// walkPages walks the list f gives, pages of size at a time, and fails
// unless it is want, each page saying truly whether more follow.
func walkPages(t *testing.T, n *Node, f RequestFilter, want []RequestSummary, size int) {
	t.Helper()
	kind := fmt.Sprintf("%s, open %v", f.Kind, f.Open)
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
		if (more > 0) != (len(got) < len(want)) || more > 1 {
			t.Fatalf("kind %q, pages of %d: %d shown of %d, and more %d", kind, size, len(got), len(want), more)
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

// TestRequestPagesPastManyOpenAlerts: the open alerts, read a page of the
// store's at a time, head the list however many they are, and a page
// that starts among or after them resumes in the right place.
func TestRequestPagesPastManyOpenAlerts(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	var ids []string
	for i := range 150 {
		in := RequestInput{Kind: "alert", Title: fmt.Sprintf("alert %d", i), Region: "TZ"}
		if i%10 == 3 {
			in = RequestInput{Kind: "verification", Title: fmt.Sprintf("request %d", i)}
		}
		e, err := n.NewRequest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID().String())
	}
	for _, i := range []int{0, 70, 149} { // closed alerts are listed in their place
		if _, err := n.CloseRequest(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []RequestFilter{{}, {Kind: "alert"}, {Open: true}} {
		want, err := n.Requests(RequestFilter{Kind: f.Kind})
		if err != nil {
			t.Fatal(err)
		}
		if f.Open {
			want = slices.DeleteFunc(want, func(r RequestSummary) bool { return r.Status == "closed" })
		}
		for _, size := range []int{7, 64, 65, 130} {
			walkPages(t, n, f, want, size)
		}
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
	if len(st.Alerts) != statusAlerts || st.MoreAlerts != 3 || st.OlderAlerts != 0 {
		t.Fatalf("%d alerts shown, %d more, %d older", len(st.Alerts), st.MoreAlerts, st.OlderAlerts)
	}
	if st.Alerts[0].Title != fmt.Sprintf("alert %d", statusAlerts+2) {
		t.Fatalf("the first alert shown is %q, not the newest", st.Alerts[0].Title)
	}
	// A closed alert is not counted; a week later, the others are older,
	// and two new ones are shown.
	if _, err := n.CloseRequest(ctx, st.Alerts[statusAlerts-1].ID); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(AlertWindow + time.Hour)
	n.SetClock(func() time.Time { return later })
	for i := range 2 {
		if _, err := n.NewRequest(ctx, RequestInput{Kind: "alert", Title: fmt.Sprintf("new alert %d", i), Region: "TZ"}); err != nil {
			t.Fatal(err)
		}
	}
	st = n.Status()
	if len(st.Alerts) != 2 || st.MoreAlerts != 0 || st.OlderAlerts != statusAlerts+2 {
		t.Fatalf("a week later: %d alerts shown, %d more, %d older; want 2, 0, %d", len(st.Alerts), st.MoreAlerts, st.OlderAlerts, statusAlerts+2)
	}
}
