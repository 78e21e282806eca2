package main

import (
	"errors"
	"fmt"
	"github.com/murmurnet/murmur/node"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestWhen(t *testing.T) {
	nairobi := time.FixedZone("EAT", 3*3600)
	now := time.Date(2026, 12, 1, 14, 30, 0, 0, nairobi) // a Tuesday
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 11, 5, 0, 0, time.UTC), "today 14:05"}, // UTC in, local out
		{time.Date(2026, 12, 1, 0, 0, 0, 0, nairobi), "today 00:00"},
		{time.Date(2026, 11, 30, 20, 59, 0, 0, time.UTC), "yesterday 23:59"},
		{time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC), "today 00:00"},
		{time.Date(2026, 12, 2, 9, 0, 0, 0, nairobi), "tomorrow 09:00"},
		{time.Date(2026, 11, 24, 14, 5, 0, 0, nairobi), "Tue 24 Nov 14:05"},
		{time.Date(2026, 12, 8, 8, 0, 0, 0, nairobi), "Tue 8 Dec 08:00"},
		{time.Date(2025, 12, 1, 14, 5, 0, 0, nairobi), "Mon 1 Dec 2025 14:05"},
		{time.Date(2027, 1, 2, 10, 0, 0, 0, nairobi), "Sat 2 Jan 2027 10:00"},
	}
	for _, c := range cases {
		if got := when(c.t, now); got != c.want {
			t.Errorf("when(%v) = %q, want %q", c.t, got, c.want)
		}
	}
	// Across a new year, yesterday is still yesterday.
	newYear := time.Date(2027, 1, 1, 9, 0, 0, 0, nairobi)
	if got := when(time.Date(2026, 12, 31, 22, 0, 0, 0, nairobi), newYear); got != "yesterday 22:00" {
		t.Errorf("the last evening of the year, seen on new year's morning: %q", got)
	}
	if got := whenText("2026-12-01T11:05:00Z", now); got != "today 14:05" {
		t.Errorf("whenText: %q", got)
	}
	if got := whenText("soon", now); got != "soon" {
		t.Errorf("whenText of text that is no time: %q", got)
	}
}

func TestPluralAndArticle(t *testing.T) {
	cases := []struct{ got, want string }{
		{plural(0, "entry"), "0 entries"},
		{plural(1, "entry"), "1 entry"},
		{plural(2, "entry"), "2 entries"},
		{plural(1, "response"), "1 response"},
		{plural(3, "response"), "3 responses"},
		{plural(2, "day"), "2 days"},
		{plural(2, "address"), "2 addresses"},
		{plural(2, "match"), "2 matches"},
		{plural(2, "person", "people"), "2 people"},
		{plural(1, "person", "people"), "1 person"},
		{plural(12, "open alert"), "12 open alerts"},
		{article("alert") + " alert", "an alert"},
		{article("referral") + " referral", "a referral"},
		{article("") + " x", "a x"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestPage(t *testing.T) {
	var ids []string
	for i := range 120 {
		ids = append(ids, fmt.Sprintf("%03dabc", i))
	}
	id := func(s string) string { return s }
	got, more, err := page(ids, id, "", defaultLimit)
	if err != nil || len(got) != 50 || more != 70 || got[0] != "000abc" {
		t.Fatalf("first page: %d items, %d more, %v", len(got), more, err)
	}
	got, more, err = page(ids, id, got[len(got)-1], 50)
	if err != nil || len(got) != 50 || more != 20 || got[0] != "050abc" {
		t.Fatalf("second page: %d items from %v, %d more, %v", len(got), got[0], more, err)
	}
	got, more, _ = page(ids, id, "099", 50)
	if len(got) != 20 || more != 0 || got[19] != "119abc" {
		t.Fatalf("last page by prefix: %d items, %d more", len(got), more)
	}
	if got, more, _ = page(ids, id, "", 0); len(got) != 120 || more != 0 {
		t.Fatalf("--limit 0: %d items, %d more", len(got), more)
	}
	if _, _, err = page(ids, id, "zzz", 50); err == nil || exitCode(err) != 2 {
		t.Fatalf("an unknown --after: %v", err)
	}
}

var internalWords = regexp.MustCompile(`(^|: )(crdt|store|sync|node|murmur): |invalid entry|cut-off \d|field \d+ is not UTF-8|reconciliation`)

func TestPlainError(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{errors.New("crdt: invalid entry: title is empty"), "title is empty"},
		{fmt.Errorf("store: append: %w", errors.New("store: entry already stored")), "entry already stored"},
		{errors.New("the database in /d is not this network's (store: not found: meta)"), "the database in /d is not this network's (not found: meta)"},
		{errors.New("node: murmur.json is damaged\n or from a newer release"), "murmur.json is damaged or from a newer release"},
		{errors.New("a verification request cannot be answered with \"accept\""), "a verification request cannot be answered with \"accept\""},
		{errors.New("the node's address: 1.2.3.4:5"), "the node's address: 1.2.3.4:5"},
		{errors.New("cannot read /tmp/e\x1b[31mred\rx"), "cannot read /tmp/e?[31mred x"}, // (nothing a terminal acts on)
	}
	for _, c := range cases {
		got := plainError(c.err)
		if got != c.want {
			t.Errorf("plainError(%q) = %q, want %q", c.err, got, c.want)
		}
		if internalWords.MatchString(got) {
			t.Errorf("plainError(%q) = %q still reads like internals", c.err, got)
		}
	}
}

// The line under a page repeats the filters, and offers a --limit only
// from the top of the list.
func TestNextPageKeepsTheFilters(t *testing.T) {
	got := nextPage(3, "more request", "request list", flagArgs("--open", "true", "--kind", "alert", "--inbox", "false"), "0774cd6a1400", "", 2)
	if want := "3 more requests: murmur request list --open --kind alert --after 0774cd6a1400 (or --limit 5)"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	got = nextPage(1, "more organisation", "directory list", flagArgs("--region", "TZ", "--offers", "legal aid"), "c12e8b000000", "c121bb", 7)
	if want := `1 more organisation: murmur directory list --region TZ --offers "legal aid" --after c12e8b000000`; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// An --after prefix that names two items is refused, not taken as the
// first.
func TestPageRefusesAnAmbiguousAfter(t *testing.T) {
	list := []string{"c12e8b", "c121bb", "d00000"}
	if _, _, err := page(list, func(s string) string { return s }, "c12", 1); err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Fatalf("an ambiguous --after: %v", err)
	}
	if got, more, err := page(list, func(s string) string { return s }, "c121", 1); err != nil || len(got) != 1 || got[0] != "d00000" || more != 0 {
		t.Fatalf("a unique --after: %v %d %v", got, more, err)
	}
}

func TestHoursWord(t *testing.T) {
	for h, want := range map[float64]string{
		0:      "1 min", // answered at once still took some time
		0.01:   "1 min",
		0.25:   "15 min",
		0.999:  "1.0 h",
		1:      "1.0 h",
		47.9:   "47.9 h",
		48:     "2.0 days",
		24 * 9: "9.0 days",
	} {
		if got := hoursWord(h); got != want {
			t.Errorf("hoursWord(%v) = %q, want %q", h, got, want)
		}
	}
}

func TestRoundCount(t *testing.T) {
	for n, want := range map[int]int{1002: 1000, 1000: 1000, 3999: 3000, 40: 40, 47: 40} {
		if got := roundCount(n); got != want {
			t.Errorf("roundCount(%d) = %d, want %d", n, got, want)
		}
	}
}

// A time its writer's clock dated ahead of this computer's shows as now
// within the drift nodes allow, else as dated and said to be ahead (a
// seized device's entry dated 2076; review 9).
func TestWroteAhead(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)
	for ahead, want := range map[time.Duration]string{
		-time.Hour:                "today 13:30",
		5 * time.Minute:           "today 14:30",
		50 * 365 * 24 * time.Hour: "Wed 18 Nov 2076 14:30 (by a clock ahead of this computer's)",
	} {
		if got := wrote(now.Add(ahead), now); got != want {
			t.Errorf("%v ahead: %q, want %q", ahead, got, want)
		}
	}
}

func TestAddedWords(t *testing.T) {
	one := node.RevocationPlan{Added: []node.AddedDevice{{Device: "0123456789abcdef", Label: "phone"}}}
	if got, want := addedWords(one), `It added device 0123456789ab ("phone"), which keeps its standing: if whoever holds this device may hold that one too, revoke it as well (murmur device revoke 0123456789ab).`; got != want {
		t.Errorf("one: %q", got)
	}
	two := node.RevocationPlan{Added: []node.AddedDevice{{Device: "0123456789abcdef"}, {Device: "fedcba9876543210"}}}
	if got := addedWords(two); !strings.Contains(got, "device 0123456789ab, device fedcba987654, which keep their standing") || !strings.Contains(got, "revoke 0123456789ab, then fedcba987654") {
		t.Errorf("two: %q", got)
	}
}
