package main

// End-to-end tests of the words a person reads (issue 12, points 5 and 8):
// titles in the world's languages, no program internals in errors, local
// times, English plurals, alerts acknowledged, lists that page.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// internalLine matches a line a person should never read: a Go package's
// prefix, or words that name the program's internals.
var internalLine = regexp.MustCompile(`(?m)(^|: |\()(crdt|store|sync|node|murmur|gossip): |invalid entry|cut-off \d|field \d+ (is|:)|reconciliation|malformed encoding|\bnil\b|panic|goroutine`)

func TestCLITitlesInTheWorldsLanguages(t *testing.T) {
	c, _ := founded(t)
	persian := "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \u06A9\u0645\u06A9" // می‌خواهم کمک, with its ZWNJ
	for _, title := range []string{
		persian,
		"\u0915\u094D\u200D\u0937 \u0938\u0939\u093E\u092F\u0924\u093E",                         // Hindi with ZWJ
		"\u09B0\u200D\u09CD\u09AF\u09BE\u09AC \u09A8\u09BF\u09B0\u09CD\u09AF\u09BE\u09A4\u09A8", // Bengali with ZWJ
		"Need a \U0001F469\u200D\u2695\uFE0F and a \U0001F3F3\uFE0F\u200D\U0001F308 shelter",
		"طلب من \u2068Amnesty International\u2069 للمساعدة",
	} {
		id := c.write("request", "new", "--kind", "verification", "--title", title)
		var shown wfRequest
		c.json(&shown, "request", "show", id)
		if shown.Title != title {
			t.Errorf("title %q shown as %q", title, shown.Title)
		}
		if r := c.ok("request", "list"); !strings.Contains(r.stdout, title) {
			t.Errorf("request list does not show %q:\n%s", title, r.stdout)
		}
	}

	// What hides or reorders text is still refused, in words.
	for _, tc := range []struct{ title, want string }{
		{"invoice\u202Egnp.exe", "murmur request new: title holds a direction override or embedding, which can make text read differently than it is stored (U+202E, character 8)"},
		{"pay\u200Cpal", "murmur request new: title holds a zero-width joiner or non-joiner outside a word or emoji that needs it (U+200C, character 4)"},
		{"\u2067unclosed", "murmur request new: title opens a direction isolate it does not close"},
		{"a\u00ADb", "murmur request new: title holds an invisible character (U+00AD, character 2)"},
	} {
		r := c.run("request", "new", "--kind", "verification", "--title", tc.title)
		refused(t, r, 2)
		if got := strings.TrimSpace(r.stderr); got != tc.want {
			t.Errorf("title %q:\ngot  %s\nwant %s", tc.title, got, tc.want)
		}
	}
}

// The common ways a person gets a command wrong end in one line of plain
// words, never in a package's name or the program's internals.
func TestCLIRefusalsInPlainWords(t *testing.T) {
	c, _ := founded(t)
	ver := c.write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?")
	damaged := func(file string) *cli {
		d := newCLI(t, t.TempDir())
		d.ok("init", "--org", "Delta", "--no-passphrase")
		if err := writeFile(d.dir, file, "garbage"); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		c    *cli
		code int
		args []string
		want string // the line starts with it
	}{
		{c, 2, []string{"request", "new", "--kind", "alert", "--title", "Raid"}, "murmur request new: an alert needs a region"},
		{c, 2, []string{"request", "new", "--kind", "verification", "--title", "a\x01b"}, "murmur request new: title holds a control character"},
		{c, 2, []string{"request", "new", "--kind", "verification", "--title", "\xff\xfe"}, "murmur request new: the title is not readable text"},
		{c, 2, []string{"request", "new", "--kind", "verification", "--title", "t", "--region", "XX"}, "murmur request new: region \"XX\""},
		{c, 2, []string{"respond", ver, "--type", "accept"}, "murmur respond: a verification request cannot be answered"},
		{c, 2, []string{"respond", ver, "--type", "comment", "--body", "\xff"}, "murmur respond: the text is not readable text (it is not UTF-8)"},
		{c, 2, []string{"directory", "set", "--contact", "\xfe"}, "murmur directory set: the contact is not readable text (it is not UTF-8)"},
		{newCLI(t, t.TempDir()), 2, []string{"init", "--org", "\xff", "--no-passphrase"}, "murmur init: organisation name is not readable text (it is not UTF-8)"},
		{c, 2, []string{"alert", "ack", ver}, "murmur alert ack: " + ver[:12] + " is a verification, not an alert"},
		{c, 1, []string{"request", "show", "ffffffff"}, "murmur request show: "},
		{c, 2, []string{"request", "list", "--after", "ffffffff"}, "murmur request list: --after ffffffff"},
		{c, 2, []string{"request", "list", "--limit", "-1"}, "murmur request list: --limit -1"},
		{c, 2, []string{"directory", "set", "--regions", "XX"}, "murmur directory set: "},
		{c, 1, []string{"init", "--org", "Again", "--no-passphrase"}, "murmur init: this data directory already holds a node"},
		{damaged("murmur.json"), 1, []string{"status"}, "murmur status: murmur.json is damaged"},
		{damaged("device.key"), 1, []string{"request", "list"}, "murmur request list: device key file"},
		{newCLI(t, t.TempDir()), 1, []string{"status"}, "murmur status: no Murmur node in this data directory"},
	}
	for _, tc := range cases {
		r := tc.c.run(tc.args...)
		refused(t, r, tc.code)
		line := strings.TrimSpace(r.stderr)
		if !strings.HasPrefix(line, tc.want) {
			t.Errorf("murmur %s:\ngot  %s\nwant %s...", strings.Join(tc.args, " "), line, tc.want)
		}
		if m := internalLine.FindString(strings.TrimPrefix(line, "murmur ")); m != "" {
			t.Errorf("murmur %s says %q: %s", strings.Join(tc.args, " "), m, line)
		}
	}
}

func TestCLIAlertAck(t *testing.T) {
	c, _ := founded(t)
	first := c.write("request", "new", "--kind", "alert", "--title", "Office raided in Arusha", "--region", "TZ")
	second := c.write("request", "new", "--kind", "alert", "--title", "Journalist detained in Managua", "--region", "NI")
	alertLines := func() []string {
		var out []string
		for _, l := range strings.Split(c.ok("status").stdout, "\n") {
			if strings.Contains(l, "ALERT") || strings.Contains(l, "alert (acknowledged)") {
				out = append(out, l)
			}
		}
		return out
	}
	lines := alertLines()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "!! ALERT "+second[:12]) || !strings.HasPrefix(lines[1], "!! ALERT "+first[:12]) {
		t.Fatalf("status before any acknowledgement, want the newest first:\n%s", strings.Join(lines, "\n"))
	}
	// Times are local, in words: the alert was written moments ago.
	if !strings.Contains(lines[0], ", today ") {
		t.Errorf("the alert's time is not in local words: %s", lines[0])
	}

	r := c.ok("alert", "ack", second[:12])
	if want := "Acknowledged for your organisation: " + second[:12]; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("alert ack said:\n%s\nwant a line starting %q", r.stdout, want)
	}
	lines = alertLines()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "!! ALERT "+first[:12]) || !strings.Contains(lines[1], "alert (acknowledged) "+second[:12]) {
		t.Fatalf("status after acknowledging the newest: want the other one first:\n%s", strings.Join(lines, "\n"))
	}
	list := c.ok("request", "list").stdout
	if !regexp.MustCompile(`(?m)^`+second[:12]+`\s+alert \(acknowledged\)`).MatchString(list) ||
		!regexp.MustCompile(`(?m)^`+first[:12]+`\s+!! ALERT`).MatchString(list) {
		t.Errorf("request list after the acknowledgement:\n%s", list)
	}
	var st struct {
		Alerts []struct {
			ID           string `json:"id"`
			Acknowledged bool   `json:"acknowledged"`
			Created      string `json:"created"`
		} `json:"alerts"`
		OlderAlerts int `json:"older_alerts"`
	}
	c.json(&st, "status")
	if len(st.Alerts) != 2 || st.Alerts[0].ID != first || st.Alerts[0].Acknowledged || st.Alerts[1].ID != second || !st.Alerts[1].Acknowledged {
		t.Fatalf("status --json alerts: %+v", st.Alerts)
	}
	if _, err := time.Parse(time.RFC3339, st.Alerts[0].Created); err != nil {
		t.Errorf("--json keeps RFC 3339: %q (%v)", st.Alerts[0].Created, err)
	}

	// Acknowledging again writes nothing.
	before := c.status().Entries
	var out ackOut
	c.json(&out, "alert", "ack", second)
	if !out.Already || out.ID != "" || out.Alert != second || c.status().Entries != before {
		t.Errorf("a second acknowledgement: %+v, %d entries (was %d)", out, c.status().Entries, before)
	}
}

// Alerts older than a week leave status (they are still listed by request
// list); the window is driven by the node's clock, not waited for.
func TestStatusShowsTheWeeksAlerts(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ctx := context.Background()
	n, err := node.Init(ctx, dir, node.InitOptions{Org: "Alpha Fund", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	old, err := n.NewRequest(ctx, node.RequestInput{Kind: "alert", Title: "Last month's raid", Region: "TZ"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(8 * 24 * time.Hour)
	recent, err := n.NewRequest(ctx, node.RequestInput{Kind: "alert", Title: "Today's raid", Region: "TZ"})
	if err != nil {
		t.Fatal(err)
	}
	st := n.Status()
	if len(st.Alerts) != 1 || st.Alerts[0].ID != recent.ID().String() || st.OlderAlerts != 1 {
		t.Fatalf("status alerts %+v, %d older; want only %v, one older", st.Alerts, st.OlderAlerts, recent.ID())
	}
	list, _ := n.Requests(node.RequestFilter{Kind: "alert", Open: true})
	if len(list) != 2 || list[1].ID != old.ID().String() {
		t.Fatalf("request list --kind alert: %+v", list)
	}
	var b strings.Builder
	printAlerts(&b, st, now)
	if want := "1 open alert older than a week: murmur request list --kind alert --open\n"; !strings.Contains(b.String(), want) {
		t.Errorf("status says:\n%s\nwant %q", b.String(), want)
	}
}

func TestCLIRequestListPages(t *testing.T) {
	c, _ := founded(t)
	var ids []string
	for i := range defaultLimit + 3 {
		var out idOutput
		c.json(&out, "request", "new", "--kind", "verification", "--title", fmt.Sprintf("Applicant %d", i))
		ids = append(ids, out.ID)
	}
	r := c.ok("request", "list")
	rows := strings.Count(r.stdout, "verification")
	if rows != defaultLimit {
		t.Errorf("request list shows %d requests, want %d", rows, defaultLimit)
	}
	last := ids[len(ids)-defaultLimit] // newest first
	want := fmt.Sprintf("More requests: murmur request list --after %s\n", last[:12])
	if !strings.HasSuffix(r.stdout, want) {
		t.Errorf("request list ends:\n%s\nwant %q", r.stdout[max(0, len(r.stdout)-200):], want)
	}
	var next []wfRequest
	c.json(&next, "request", "list", "--after", last[:12])
	if len(next) != 3 || next[2].ID != ids[0] {
		t.Errorf("the next page: %d requests", len(next))
	}
	r = c.ok("request", "list", "--after", last[:12])
	if strings.Contains(r.stdout, "More") {
		t.Errorf("the last page says there is more:\n%s", r.stdout)
	}
	var all []wfRequest
	c.json(&all, "request", "list", "--limit", "0")
	if len(all) != len(ids) {
		t.Errorf("--limit 0: %d requests, want %d", len(all), len(ids))
	}
	if r := c.ok("request", "list", "--limit", "1"); !strings.Contains(r.stdout, "More requests: murmur request list --limit 1 --after ") {
		t.Errorf("--limit 1:\n%s", r.stdout)
	}
	// "1 response", not "1 responses".
	c.write("respond", ids[0], "--type", "comment", "--body", "We know them.")
	if r := c.ok("request", "show", ids[0]); !strings.Contains(r.stdout, "\n1 response\n") || strings.Contains(r.stdout, "responses") {
		t.Errorf("request show:\n%s", r.stdout)
	}
}

// A node that meets another says so once, by the organisation's and the
// device's IDs (never by name: the log is kept in clear), however many
// connections libp2p opens between them.
func TestCLIConnectedSaidOnce(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := newCLI(t, dirA), newCLI(t, dirB)
	a.ok("init", "--org", "Alpha Fund", "--open", "--no-passphrase", "--dir", dirA)
	ctx := context.Background()
	na, err := node.Open(ctx, dirA)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := node.Provision(ctx, dirB, node.ProvisionOptions{Genesis: na.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	if err := na.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := na.Append(ctx, &crdt.Admission{Device: nb.Device(), Name: "Beta Collective"}); err != nil {
		t.Fatal(err)
	}
	nodeName := func(n *node.Node) string {
		return "organisation " + n.Org().String()[:8] + "'s device " + n.Device().String()[:8]
	}
	nameA, nameB := nodeName(na), "organisation "+crdt.OrgIDFor(nb.Device()).String()[:8]+"'s device "+nb.Device().String()[:8]
	na.Close()
	nb.Close()

	runA := a.start("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := runA.addr(t)
	runB := b.start("run", "--dir", dirB, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	runB.addr(t)
	var sa, sb runStatus
	eventually(t, 30*time.Second, "A and B converge", func() bool {
		a.json(&sa, "status", "--dir", dirA)
		b.json(&sb, "status", "--dir", dirB)
		return sa.Digest == sb.Digest && len(sa.Peers) > 0 && len(sb.Peers) > 0
	})
	// A writes after they met: B receives it over the same connections.
	id := a.write("request", "new", "--dir", dirA, "--kind", "verification", "--title", "Anyone?")
	eventually(t, 30*time.Second, "B receives the request", func() bool {
		return b.run("request", "show", id, "--dir", dirB).code == 0
	})
	runA.interrupt(t)
	runB.interrupt(t)
	for name, tc := range map[string]struct {
		rn   *runningNode
		peer string
	}{"A": {runA, nameB}, "B": {runB, nameA}} {
		log := tc.rn.stderr.String()
		if n := strings.Count(log, "connected to "+tc.peer+"\n") - strings.Count(log, "no longer connected to "+tc.peer+"\n"); n != 1 {
			t.Errorf("node %s said %d times that it connected to %s:\n%s", name, n, tc.peer, log)
		}
		if m := internalLine.FindString(log); m != "" {
			t.Errorf("node %s's log says %q:\n%s", name, m, log)
		}
	}
}

func writeFile(dir, name, content string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
}

// Times are printed in the local time of whoever reads them; --json gives
// RFC 3339. A date typed as a deadline is the end of that day, locally.
func TestCLITimesAreLocal(t *testing.T) {
	for _, zone := range []string{"Asia/Kathmandu", "America/Managua"} {
		if _, err := time.LoadLocation(zone); err != nil {
			t.Fatalf("this test reads time zones from the system's tz database (package tzdata): %v", err)
		}
	}
	c, _ := founded(t)
	nepal := c.with("TZ=Asia/Kathmandu") // UTC+05:45
	id := nepal.write("request", "new", "--kind", "letter", "--title", "Release the journalists", "--respond-by", "2030-06-01")
	if r := nepal.ok("request", "show", id); !strings.Contains(r.stdout, "\n  by       Sat 1 Jun 2030 23:59\n") {
		t.Errorf("the deadline in Kathmandu:\n%s", r.stdout)
	}
	var shown struct {
		RespondBy string `json:"respond_by"`
		Created   string `json:"created"`
	}
	nepal.json(&shown, "request", "show", id)
	if shown.RespondBy != "2030-06-01T18:14:59Z" {
		t.Errorf("--json respond_by %q, want RFC 3339 in UTC", shown.RespondBy)
	}
	// Read in Nicaragua (UTC-6), the same deadline is that day's noon.
	if r := c.with("TZ=America/Managua").ok("request", "show", id); !strings.Contains(r.stdout, "\n  by       Sat 1 Jun 2030 12:14\n") {
		t.Errorf("the deadline in Managua:\n%s", r.stdout)
	}
	if r := nepal.ok("request", "list"); !strings.Contains(r.stdout, "Sat 1 Jun 2030 23:59") {
		t.Errorf("request list:\n%s", r.stdout)
	}
}
