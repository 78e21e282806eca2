package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// network3 is three organisations running on loopback with the real
// binary: Alpha founded the network, Beta and Gamma joined by invite.
type network3 struct {
	t                    *testing.T
	alpha, beta, gamma   *cli
	alphaID, betaID, gID string
	runs                 map[*cli]*runningNode
}

func threeOrgs(t *testing.T) *network3 {
	t.Helper()
	a, init := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addr := ra.addr(t)
	n := &network3{t: t, alpha: a, alphaID: init.Org, runs: map[*cli]*runningNode{a: ra}}
	for _, name := range []string{"Beta Collective", "Gamma Legal Aid"} {
		var code codeOut
		a.json(&code, "invite", "--addr", addr, "--expires", "1h")
		j := newCLI(t, t.TempDir())
		var out joinOut
		j.json(&out, "join", code.Code, "--org", name, "--no-passphrase")
		n.runs[j] = j.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addr)
		eventually(t, 30*time.Second, name+" is admitted", func() bool {
			st := j.memberStatus()
			return !st.Joining && st.Admitted
		})
		if n.beta == nil {
			n.beta, n.betaID = j, out.Org
		} else {
			n.gamma, n.gID = j, out.Org
		}
	}
	n.sync()
	return n
}

// sync waits until the three hold the same entries.
func (n *network3) sync() {
	n.t.Helper()
	eventually(n.t, 30*time.Second, "the three organisations converge", func() bool {
		a := n.alpha.memberStatus()
		for _, c := range []*cli{n.beta, n.gamma} {
			if st := c.memberStatus(); st.Digest != a.Digest {
				return false
			}
		}
		return true
	})
}

// write runs a command that writes one entry on c, once nothing else is
// on its way (c.write counts the entries).
func (n *network3) write(c *cli, args ...string) string {
	n.t.Helper()
	n.sync()
	return c.write(args...)
}

// refusedUnchanged runs a command that must be refused with exit status
// code, one line on stderr mentioning want, and nothing written anywhere.
func (n *network3) refusedUnchanged(c *cli, code int, want string, args ...string) {
	n.t.Helper()
	n.sync()
	before := n.alpha.memberStatus()
	r := c.run(args...)
	refused(n.t, r, code)
	if !strings.Contains(r.stderr, want) {
		n.t.Errorf("want the error to say %q:\n%s", want, r)
	}
	time.Sleep(300 * time.Millisecond) // time for a wrongly written entry to show
	n.sync()
	if after := n.alpha.memberStatus(); after.Digest != before.Digest {
		n.t.Errorf("a refused command changed the state (%d entries, was %d):\n%s", after.Entries, before.Entries, r)
	}
}

type wfRequest struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Status         string `json:"status"`
	Reopened       bool   `json:"reopened"`
	Urgent         bool   `json:"urgent"`
	AcceptedBy     string `json:"accepted_by"`
	AcceptedByName string `json:"accepted_by_name"`
	Title          string `json:"title"`
	Verification   *struct {
		Vouch, Concern, Unknown int
	} `json:"verification"`
	Referral *struct {
		AcceptedBy string   `json:"accepted_by"`
		Reopened   bool     `json:"reopened"`
		Awaiting   []string `json:"awaiting"`
	} `json:"referral"`
	Funding *struct {
		Amount    float64 `json:"amount"`
		Remaining float64 `json:"remaining"`
		Covered   bool    `json:"covered"`
		Pledged   []struct {
			Currency string  `json:"currency"`
			Amount   float64 `json:"amount"`
		} `json:"pledged"`
		Pledges []struct {
			ID        string `json:"id"`
			Org       string `json:"org"`
			Withdrawn bool   `json:"withdrawn"`
		} `json:"pledges"`
	} `json:"funding"`
	Letter *struct {
		Signatures       int  `json:"signatures"`
		ClosedForSigning bool `json:"closed_for_signing"`
	} `json:"letter"`
}

func (c *cli) show(id string) wfRequest {
	c.t.Helper()
	var r wfRequest
	c.json(&r, "request", "show", id)
	return r
}

func (c *cli) inbox() []wfRequest {
	c.t.Helper()
	var rs []wfRequest
	c.json(&rs, "request", "list", "--inbox")
	return rs
}

func titles(rs []wfRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Title)
	}
	return out
}

// The coordination workflows, end to end, across three organisations.
func TestCLIWorkflows(t *testing.T) {
	n := threeOrgs(t)
	a, b, g := n.alpha, n.beta, n.gamma

	t.Run("directory", func(t *testing.T) {
		n.write(b, "directory", "set", "--regions", "NI,GT", "--offers", "relocation,legal-aid", "--languages", "es",
			"--groups", "journalists", "--turnaround", "48", "--contact", "Signal, ask for the duty officer")
		n.write(g, "directory", "set", "--regions", "TZ,KE", "--offers", "emergency-grant,psychosocial", "--languages", "sw,en",
			"--groups", "women-defenders,land-environmental-defenders")
		n.sync()
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--region", "ni"}, "Beta Collective"},
			{[]string{"--offers", "emergency-grant"}, "Gamma Legal Aid"},
			{[]string{"--language", "es"}, "Beta Collective"},
			{[]string{"--group", "women-defenders"}, "Gamma Legal Aid"},
			{[]string{"--region", "KE", "--offers", "psychosocial", "--language", "sw"}, "Gamma Legal Aid"},
			{[]string{"--region", "KE", "--offers", "relocation"}, ""},
		} {
			var list []directoryOut
			a.json(&list, append([]string{"directory", "list"}, c.args...)...)
			var got string
			for _, d := range list {
				got += d.Name
			}
			if got != c.want {
				t.Errorf("directory list %v: %q, want %q", c.args, got, c.want)
			}
		}
		refused(t, a.run("directory", "list", "--offers", "cash"), 2)
		refused(t, a.run("directory", "list", "--region", "XX"), 2)

		// Lists page: --limit, then --after the last one shown.
		var all, first, rest []directoryOut
		a.json(&all, "directory", "list")
		a.json(&first, "directory", "list", "--limit", "1")
		if len(all) != 2 || len(first) != 1 {
			t.Fatalf("directory list: %d entries, --limit 1: %d", len(all), len(first))
		}
		a.json(&rest, "directory", "list", "--after", first[0].Org[:12])
		if len(rest) != 1 || rest[0].Org == first[0].Org {
			t.Errorf("directory list --after: %+v", rest)
		}
		if r := a.ok("directory", "list", "--limit", "1"); !strings.Contains(r.stdout, "1 more organisation: murmur directory list --after "+first[0].Org[:12]) {
			t.Errorf("directory list --limit 1:\n%s", r.stdout)
		}
		var ms, msRest []struct {
			Org string `json:"org"`
		}
		a.json(&ms, "members", "--limit", "2")
		a.json(&msRest, "members", "--after", ms[1].Org[:12])
		if len(ms) != 2 || len(msRest) != 1 {
			t.Errorf("members --limit 2: %d, then --after: %d", len(ms), len(msRest))
		}
		if r := a.ok("members", "--limit", "1"); !strings.Contains(r.stdout, "2 more organisations: murmur members --after "+ms[0].Org[:12]) {
			t.Errorf("members --limit 1:\n%s", r.stdout)
		}
		refused(t, a.run("members", "--limit", "-1"), 2)
	})

	t.Run("verification", func(t *testing.T) {
		id := n.write(a, "request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?", "--region", "TZ", "--respond-by", "3d")
		n.sync()
		n.write(b, "respond", id, "--type", "vouch", "--body", "We funded them in 2024.")
		n.write(g, "respond", id, "--type", "concern", "--body", "Their story changed twice.")
		n.refusedUnchanged(b, 2, "cannot be answered", "respond", id, "--type", "pledge", "--amount", "100", "--currency", "USD")
		n.refusedUnchanged(b, 1, "another organisation", "request", "close", id)
		n.sync()
		v := a.show(id).Verification
		if v == nil || v.Vouch != 1 || v.Concern != 1 || v.Unknown != 0 {
			t.Fatalf("verification summary %+v", v)
		}
		n.write(b, "respond", id, "--type", "unknown", "--body", "On reflection, we cannot say.") // changes its mind
		n.sync()
		if v := a.show(id).Verification; v.Vouch != 0 || v.Concern != 1 || v.Unknown != 1 {
			t.Fatalf("after Beta changed its answer: %+v", v)
		}
		if r := a.ok("request", "show", id); !strings.Contains(r.stdout, "Verification: 0 vouch, 1 concern, 1 unknown") {
			t.Errorf("request show does not summarise:\n%s", r.stdout)
		}
	})

	t.Run("referral", func(t *testing.T) {
		id := n.write(a, "request", "new", "--kind", "referral", "--title", "Journalist needs relocation", "--region", "NI",
			"--needs", "relocation", "--languages", "es", "--urgency", "high", "--to", n.gID, "--respond-by", "2d")
		n.sync()
		var sugg []struct {
			Org   string `json:"org"`
			Name  string `json:"name"`
			Score int    `json:"score"`
			Why   string `json:"why"`
		}
		a.json(&sugg, "request", "suggest", id)
		if len(sugg) == 0 || sugg[0].Org != n.betaID || !strings.Contains(sugg[0].Why, "offers relocation") || !strings.Contains(sugg[0].Why, "covers NI") {
			t.Fatalf("suggestions %+v", sugg)
		}
		for _, s := range sugg {
			if s.Org == n.gID {
				t.Errorf("Gamma (no relocation, not in NI) suggested: %+v", s)
			}
		}
		if in := titles(g.inbox()); !contains(in, "Journalist needs relocation") {
			t.Errorf("Gamma's inbox lacks the referral addressed to it: %q", in)
		}
		if out := a.ok("request", "show", id).stdout; !strings.Contains(out, "  to       Gamma") {
			t.Errorf("request show does not name the organisation the referral is addressed to:\n%s", out)
		}
		n.refusedUnchanged(b, 1, "addressed to other organisations", "respond", id, "--type", "accept")
		n.write(g, "respond", id, "--type", "decline", "--body", "No capacity in Central America.")
		n.sync()
		r := a.show(id)
		if r.Status != "open" || !r.Reopened || r.Referral == nil || !r.Referral.Reopened {
			t.Fatalf("after every addressee declined: %+v", r)
		}
		if out := a.ok("request", "list"); !strings.Contains(out.stdout, "open again") {
			t.Errorf("request list does not show the referral open again:\n%s", out.stdout)
		}
		if in := titles(b.inbox()); !contains(in, "Journalist needs relocation") {
			t.Errorf("the reopened referral is not in Beta's inbox: %q", in)
		}
		n.write(b, "respond", id, "--type", "accept", "--body", "We can take it.")
		n.sync()
		if r := a.show(id); r.Status != "accepted" || r.AcceptedBy != n.betaID || r.AcceptedByName != "Beta Collective" {
			t.Fatalf("after Beta accepted: %+v", r)
		}
		if in := titles(g.inbox()); contains(in, "Journalist needs relocation") {
			t.Errorf("an accepted referral is still in Gamma's inbox")
		}
		n.refusedUnchanged(g, 1, "already accepted", "respond", id, "--type", "accept")
	})

	t.Run("funding", func(t *testing.T) {
		id := n.write(a, "request", "new", "--kind", "funding", "--title", "Legal fees for three defenders", "--amount", "3000", "--currency", "USD")
		n.sync()
		n.write(b, "respond", id, "--type", "pledge", "--amount", "1000")
		n.write(g, "respond", id, "--type", "pledge", "--amount", "2500", "--currency", "usd")
		n.sync()
		f := a.show(id)
		if f.Status != "covered" || f.Funding == nil || !f.Funding.Covered || f.Funding.Remaining != 0 || len(f.Funding.Pledges) != 2 {
			t.Fatalf("after 3500 of 3000 pledged: %+v %+v", f, f.Funding)
		}
		var gammas string
		for _, p := range f.Funding.Pledges {
			if p.Org == n.gID {
				gammas = p.ID
			}
		}
		n.refusedUnchanged(b, 1, "no pledge", "respond", id, "--type", "withdraw", "--pledge", gammas[:12])
		n.refusedUnchanged(a, 1, "own request", "respond", id, "--type", "pledge", "--amount", "10")
		n.write(g, "respond", id, "--type", "withdraw", "--body", "Our budget was cut.")
		n.sync()
		f = a.show(id)
		if f.Status != "open" || f.Funding.Covered || f.Funding.Remaining != 2000 || len(f.Funding.Pledged) != 1 || f.Funding.Pledged[0].Amount != 1000 {
			t.Fatalf("after Gamma withdrew: %+v %+v", f, f.Funding)
		}
		if out := a.ok("request", "show", id); !strings.Contains(out.stdout, "2000.00 USD remaining") || !strings.Contains(out.stdout, "(withdrawn)") {
			t.Errorf("request show:\n%s", out.stdout)
		}
	})

	t.Run("letter", func(t *testing.T) {
		id := n.write(a, "request", "new", "--kind", "letter", "--title", "Release the detained journalists",
			"--body", "We, the undersigned organisations, call for...", "--respond-by", "2d")
		n.sync()
		n.write(a, "respond", id, "--type", "sign")
		n.write(b, "respond", id, "--type", "sign")
		n.refusedUnchanged(b, 1, "already signed", "respond", id, "--type", "sign")
		n.sync()
		var sig []struct {
			Org    string `json:"org"`
			Name   string `json:"name"`
			Signed string `json:"signed"`
		}
		g.json(&sig, "request", "signatories", id)
		if len(sig) != 2 || sig[0].Name != "Alpha Fund" || sig[1].Name != "Beta Collective" || sig[1].Signed == "" {
			t.Fatalf("signatories %+v", sig)
		}
		rows, err := csv.NewReader(strings.NewReader(g.ok("request", "signatories", id, "--format", "csv").stdout)).ReadAll()
		if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "org,name,signed" || rows[2][1] != "Beta Collective" {
			t.Fatalf("csv %q %v", rows, err)
		}
		if txt := g.ok("request", "signatories", id).stdout; !strings.Contains(txt, "Release the detained journalists") || !strings.Contains(txt, "Signed by 2 organisations") {
			t.Errorf("text:\n%s", txt)
		}
		refused(t, g.run("request", "signatories", id, "--format", "pdf"), 2)

		// A letter whose deadline passes: a signature after it is refused.
		deadline := time.Now().Add(5 * time.Second).Truncate(time.Second)
		late := n.write(a, "request", "new", "--kind", "letter", "--title", "A letter closing soon", "--respond-by", deadline.UTC().Format(time.RFC3339))
		n.sync()
		time.Sleep(time.Until(deadline.Add(500 * time.Millisecond)))
		n.refusedUnchanged(g, 1, "deadline", "respond", late, "--type", "sign")
		if l := g.show(late).Letter; l == nil || !l.ClosedForSigning || l.Signatures != 0 {
			t.Fatalf("letter past its deadline: %+v", l)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		n.write(g, "request", "new", "--kind", "alert", "--title", "Office raided in Arusha", "--region", "TZ")
		n.sync()
		var list []wfRequest
		a.json(&list, "request", "list")
		if len(list) == 0 || list[0].Title != "Office raided in Arusha" || !list[0].Urgent {
			t.Fatalf("the alert is not first in the list: %q", titles(list))
		}
		if st := a.ok("status"); !strings.HasPrefix(st.stdout, "!! ALERT") {
			t.Errorf("status does not start with the alert:\n%s", st.stdout)
		}
		if in := b.inbox(); len(in) > 0 && in[0].Title == "Office raided in Arusha" {
			t.Errorf("an alert for TZ heads the inbox of Beta, which covers NI and GT")
		}
		// Gamma covers TZ but wrote it; Alpha has no directory entry: it sees all.
		if in := a.inbox(); len(in) == 0 || in[0].Title != "Office raided in Arusha" {
			t.Errorf("the alert does not head Alpha's inbox: %q", titles(in))
		}
	})

	t.Run("inbox and stats", func(t *testing.T) {
		// Beta's inbox: what awaits it, soonest deadline first.
		n.write(b, "directory", "set", "--regions", "NI,GT,TZ")
		id1 := n.write(g, "request", "new", "--kind", "verification", "--title", "Due in a week", "--to", n.betaID, "--respond-by", "1w")
		id2 := n.write(g, "request", "new", "--kind", "verification", "--title", "Due tomorrow", "--to", n.betaID, "--respond-by", "1d")
		n.sync()
		in := titles(b.inbox())
		i1, i2 := index(in, "Due in a week"), index(in, "Due tomorrow")
		if i1 < 0 || i2 < 0 || i2 > i1 {
			t.Fatalf("Beta's inbox %q: want both, tomorrow's first", in)
		}
		n.write(b, "respond", id2, "--type", "vouch")
		if in := titles(b.inbox()); contains(in, "Due tomorrow") || !contains(in, "Due in a week") {
			t.Errorf("after answering: %q", in)
		}
		_ = id1
		n.sync()
		var st struct {
			Rows  []map[string]any `json:"rows"`
			Kinds []struct {
				Kind     string   `json:"kind"`
				Requests int      `json:"requests"`
				Answered int      `json:"answered"`
				Median   *float64 `json:"median_first_response_hours"`
				Share    *float64 `json:"on_time_share"`
			} `json:"kinds"`
			Total struct {
				Requests int `json:"requests"`
			} `json:"total"`
		}
		a.json(&st, "stats")
		if st.Total.Requests < 8 || len(st.Rows) == 0 {
			t.Fatalf("stats %+v", st)
		}
		for _, k := range st.Kinds {
			if k.Kind == "verification" {
				if k.Requests != 3 || k.Answered != 2 || k.Median == nil || k.Share == nil || *k.Share != 1 {
					t.Errorf("verification stats %+v (median %v, share %v)", k, k.Median, k.Share)
				}
			}
		}
		if out := a.ok("stats"); !strings.Contains(out.stdout, "verification") {
			t.Errorf("stats:\n%s", out.stdout)
		}
	})

	t.Run("redaction", func(t *testing.T) {
		const marker = "REDACT-ME-4412-defender-home-address"
		id := n.write(a, "request", "new", "--kind", "verification", "--title", "A case", "--body", "Lives at "+marker)
		resp := n.write(b, "respond", id, "--type", "comment", "--body", "Seen.")
		n.sync()
		if !strings.Contains(b.ok("request", "show", id).stdout, marker) {
			t.Fatal("Beta cannot read the body before the redaction")
		}
		// The database is sealed at rest: the body is in no file in clear
		// even before the redaction. That the redaction leaves no trace of
		// its sealed bytes either is TestRedactLeavesNoTraceInTheFiles
		// (store), and that no node's store keeps it is
		// TestRedactionTakesBackWordsNotFacts (node); here, that every
		// node shows it gone.
		if inFiles(b, marker) {
			t.Fatal("the body is in clear in Beta's files: the database should be sealed at rest")
		}
		n.refusedUnchanged(b, 1, "no entry", "redact", id, "--reason", "x", "--yes")        // not Beta's
		n.refusedUnchanged(a, 1, "no entry", "redact", resp[:12], "--reason", "x", "--yes") // not Alpha's
		n.write(a, "redact", id, "--reason", "named the defender's address", "--yes")
		n.sync()
		for _, c := range []*cli{a, b, g} {
			var d struct {
				Title    string `json:"title"`
				Kind     string `json:"kind"`
				Body     string `json:"body"`
				Redacted *struct {
					OrgName string `json:"org_name"`
					At      string `json:"at"`
					Reason  string `json:"reason"`
				} `json:"redacted"`
				Responses []struct {
					Body string `json:"body"`
				} `json:"responses"`
			}
			c.json(&d, "request", "show", id)
			if d.Title != "" || d.Body != "" || d.Kind != "verification" || d.Redacted == nil || d.Redacted.OrgName != "Alpha Fund" ||
				d.Redacted.Reason != "named the defender's address" || len(d.Responses) != 1 || d.Responses[0].Body != "Seen." {
				t.Errorf("after the redaction: %+v %+v", d, d.Redacted)
			} else if _, err := time.Parse(time.RFC3339, d.Redacted.At); err != nil {
				t.Errorf("the redaction's date in JSON: %v", err)
			}
			eventually(t, 10*time.Second, "no file of the data directory holds the redacted body", func() bool { return !inFiles(c, marker) })
			if out := c.ok("request", "list").stdout; !strings.Contains(out, "redacted by Alpha Fund on ") || !strings.Contains(out, ": named the defender's address") {
				t.Errorf("request list does not say who redacted what and why:\n%s", out)
			}
		}
		n.refusedUnchanged(a, 1, "was redacted already, on ", "redact", id, "--reason", "again", "--yes")
	})

	// Issue 12, point 2: a redaction takes back words, not facts.
	t.Run("redaction keeps the facts", func(t *testing.T) {
		const concern, secret = "CONCERNMARK-5150 names a witness", "REFMARK-8808 safe house"
		ver := n.write(a, "request", "new", "--kind", "verification", "--title", "Is this lawyer known?", "--region", "TZ")
		n.write(b, "respond", ver, "--type", "vouch", "--body", "We worked with them.")
		cid := n.write(g, "respond", ver, "--type", "concern", "--body", concern)
		ref := n.write(a, "request", "new", "--kind", "referral", "--sealed", "--to", n.gID, "--to", n.betaID, "--title", "REFMARK-8808",
			"--body", secret, "--region", "NI", "--respond-by", "3d")
		n.sync()
		n.write(g, "respond", ref, "--type", "accept", "--body", "We take them.")
		n.sync()
		type facts struct {
			Kind         string   `json:"kind"`
			Region       string   `json:"region"`
			Status       string   `json:"status"`
			RespondBy    *string  `json:"respond_by"`
			To           []string `json:"to"`
			Verification *struct {
				Vouch, Concern, Unknown int
				Positions               []struct {
					OrgName string `json:"org_name"`
					Type    string `json:"type"`
				} `json:"positions"`
			} `json:"verification"`
			Referral *struct {
				AcceptedByName string   `json:"accepted_by_name"`
				Awaiting       []string `json:"awaiting"`
			} `json:"referral"`
			Responses []struct {
				OrgName string `json:"org_name"`
				Type    string `json:"type"`
			} `json:"responses"`
		}
		shown := func(c *cli, id string) facts {
			var f facts
			c.json(&f, "request", "show", id)
			return f
		}
		before := map[*cli][2]facts{}
		for _, c := range []*cli{a, b, g} {
			before[c] = [2]facts{shown(c, ver), shown(c, ref)}
		}
		if v := before[a][0].Verification; v == nil || v.Vouch != 1 || v.Concern != 1 {
			t.Fatalf("before: %+v", v)
		}
		if r := before[a][1].Referral; r == nil || r.AcceptedByName != "Gamma Legal Aid" {
			t.Fatalf("before: %+v", r)
		}

		// Without a reason: refused, exit 2, one line that says what to do.
		n.refusedUnchanged(g, 2, "--reason", "redact", cid)
		n.refusedUnchanged(g, 2, "--reason", "redact", cid, "--reason", "  ")
		n.write(g, "redact", cid, "--reason", "named a witness", "--yes")
		n.write(a, "redact", ref, "--reason", "wrong case file attached", "--yes")
		n.sync()
		for _, c := range []*cli{a, b, g} {
			if after := [2]facts{shown(c, ver), shown(c, ref)}; !reflect.DeepEqual(after, before[c]) {
				t.Errorf("%s: the facts changed:\n got %+v\nwant %+v", c.dir, after, before[c])
			}
			for _, m := range []string{"CONCERNMARK-5150", "REFMARK-8808"} {
				if out := c.ok("request", "show", ver).stdout + c.ok("request", "show", ref).stdout + c.ok("request", "list").stdout; strings.Contains(out, m) {
					t.Errorf("%s still shows %s", c.dir, m)
				}
				if inFiles(c, m) {
					t.Errorf("%s is in a file of %s", m, c.dir)
				}
			}
			out := c.ok("request", "show", ver).stdout
			if !strings.Contains(out, "Verification: 1 vouch, 1 concern, 0 unknown") || !strings.Contains(out, "concern  Gamma Legal Aid: redacted by Gamma Legal Aid on ") ||
				!strings.Contains(out, ": named a witness") {
				t.Errorf("request show after the redaction of the concern:\n%s", out)
			}
			out = c.ok("request", "show", ref).stdout
			if !strings.Contains(out, "REFERRAL: redacted by Alpha Fund on ") || !strings.Contains(out, ": wrong case file attached") ||
				!strings.Contains(out, "Referral: accepted by Gamma Legal Aid") || !strings.Contains(out, "region   NI") {
				t.Errorf("request show after the redaction of the referral:\n%s", out)
			}
		}
		// Its author still sees the referral's state, but the details are
		// gone: there is nothing to share.
		n.refusedUnchanged(a, 1, "nothing to share", "request", "share", ref, "--to", n.betaID)
	})

	t.Run("sealed", func(t *testing.T) {
		const title, body, reply = "SEALMARK-title-9913", "SEALMARK-body-5521 lives in Leon", "SEALMARK-reply-7720"
		id := n.write(a, "request", "new", "--kind", "referral", "--sealed", "--to", n.gID, "--title", title, "--body", body, "--region", "NI", "--needs", "relocation")
		n.sync()
		type shown struct {
			Title      string   `json:"title"`
			Body       string   `json:"body"`
			Region     string   `json:"region"`
			Sealed     bool     `json:"sealed"`
			Readable   bool     `json:"readable"`
			SharedWith []string `json:"shared_with"`
			Responses  []struct {
				Body   string `json:"body"`
				Sealed bool   `json:"sealed"`
			} `json:"responses"`
		}
		var s shown
		g.json(&s, "request", "show", id)
		if !s.Sealed || !s.Readable || s.Title != title || s.Body != body || s.Region != "NI" {
			t.Fatalf("the recipient's view: %+v", s)
		}
		b.json(&s, "request", "show", id)
		if !s.Sealed || s.Readable || s.Title != "(sealed)" || s.Body != "" || s.Region != "NI" || len(s.SharedWith) != 2 {
			t.Fatalf("a non-recipient's view: %+v", s)
		}
		for _, m := range []string{"SEALMARK-title", "SEALMARK-body"} {
			for _, c := range []*cli{a, b, g} {
				if inFiles(c, m) {
					t.Fatalf("%s is in clear in %s", m, c.dir)
				}
			}
		}
		n.refusedUnchanged(b, 1, "only an organisation that can read", "request", "share", id, "--to", n.betaID)
		// Gamma, a recipient, refers it on to Beta.
		n.write(g, "request", "share", id, "--to", n.betaID)
		n.sync()
		b.json(&s, "request", "show", id)
		if !s.Readable || s.Body != body || len(s.SharedWith) != 3 {
			t.Fatalf("after the share, Beta's view: %+v", s)
		}
		// A sealed response: the requester and the responder read it.
		n.write(g, "respond", id, "--type", "comment", "--sealed", "--body", reply)
		n.sync()
		a.json(&s, "request", "show", id)
		if len(s.Responses) != 1 || !s.Responses[0].Sealed || s.Responses[0].Body != reply {
			t.Fatalf("the requester's view of the sealed response: %+v", s.Responses)
		}
		b.json(&s, "request", "show", id)
		if len(s.Responses) != 1 || s.Responses[0].Body != "(sealed)" {
			t.Fatalf("Beta's view of a response sealed for Alpha and Gamma: %+v", s.Responses)
		}
		if inFiles(b, "SEALMARK-reply") {
			t.Fatal("the sealed reply is in clear in Beta's files")
		}
		n.refusedUnchanged(a, 2, "--to", "request", "new", "--kind", "verification", "--sealed", "--title", "to nobody")

		// A reply to a sealed request, with neither --sealed nor --open, is
		// sealed for those who can read the request: Alpha and Gamma here.
		const quiet, loud = "QUIETMARK-reply-3391", "LOUDMARK-reply-8812"
		id2 := n.write(a, "request", "new", "--kind", "referral", "--sealed", "--to", n.gID, "--title", "Second sealed case", "--body", "For Gamma.", "--region", "NI")
		n.sync()
		n.write(g, "respond", id2, "--type", "comment", "--body", quiet)
		n.sync()
		a.json(&s, "request", "show", id2)
		if len(s.Responses) != 1 || !s.Responses[0].Sealed || s.Responses[0].Body != quiet {
			t.Fatalf("the requester's view of a reply sealed by default: %+v", s.Responses)
		}
		b.json(&s, "request", "show", id2)
		if len(s.Responses) != 1 || !s.Responses[0].Sealed || s.Responses[0].Body != "(sealed)" {
			t.Fatalf("Beta's view of a reply sealed by default: %+v", s.Responses)
		}
		if inFiles(b, "QUIETMARK") {
			t.Fatal("a reply to a sealed request, sealed by default, is in clear in Beta's files")
		}
		// Clear text is asked for with --open.
		n.refusedUnchanged(g, 2, "contradict", "respond", id2, "--type", "comment", "--sealed", "--open", "--body", "x")
		n.write(g, "respond", id2, "--type", "comment", "--open", "--body", loud)
		n.sync()
		b.json(&s, "request", "show", id2)
		inClear := false
		for _, r := range s.Responses {
			inClear = inClear || (r.Body == loud && !r.Sealed)
		}
		if len(s.Responses) != 2 || !inClear {
			t.Fatalf("Beta's view of a reply written with --open: %+v", s.Responses)
		}
		// The one who replies is told that the reply is sealed, and how not to.
		if r := g.run("respond", id2, "--type", "comment", "--body", "QUIETMARK-again"); r.code != 0 || !strings.Contains(r.stdout, "sealed like the request") || !strings.Contains(r.stdout, "--open") {
			t.Fatalf("the reply sealed by default does not say so:\n%s", r)
		}
	})

	t.Run("grants", func(t *testing.T) {
		eventually(t, 20*time.Second, "every member holds the network secret", func() bool {
			for _, c := range []*cli{b, g} {
				var st struct {
					Secret bool `json:"grant_secret"`
				}
				c.json(&st, "status")
				if !st.Secret {
					return false
				}
			}
			return true
		})
		var rec struct {
			ID      string `json:"id"`
			Earlier []any  `json:"earlier"`
		}
		b.json(&rec, "grant", "record", "--applicant", "Yusuf, Amina", "--applicant", "+255 712 345 678", "--country", "TZ",
			"--amount", "1500", "--currency", "USD", "--support", "emergency-grant")
		n.sync()
		var res struct {
			Matches []struct {
				Org      string  `json:"org"`
				Date     string  `json:"date"`
				Amount   float64 `json:"amount"`
				Currency string  `json:"currency"`
				Support  string  `json:"support"`
			} `json:"matches"`
		}
		g.json(&res, "grant", "check", "--applicant", "0712-345-678", "--country", "tz")
		if len(res.Matches) != 1 || res.Matches[0].Org != n.betaID || res.Matches[0].Amount != 1500 || res.Matches[0].Support != "emergency-grant" ||
			res.Matches[0].Date != time.Now().UTC().Format("2006-01-02") {
			t.Fatalf("grant check: %+v", res)
		}
		g.json(&res, "grant", "check", "--applicant", "Someone Else", "--country", "TZ")
		if len(res.Matches) != 0 {
			t.Fatalf("another applicant matched: %+v", res)
		}
		n.refusedUnchanged(g, 2, "country", "grant", "record", "--applicant", "Amina Yusuf", "--amount", "10", "--currency", "USD", "--support", "medical")
		n.refusedUnchanged(g, 2, "support type", "grant", "record", "--applicant", "id:AB123456", "--amount", "10", "--currency", "USD", "--support", "cash")
	})
}

func contains(list []string, s string) bool { return index(list, s) >= 0 }

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// inFiles reports whether any file of c's data directory holds marker.
func inFiles(c *cli, marker string) bool {
	des, _ := os.ReadDir(c.dir)
	for _, de := range des {
		if bs, _ := os.ReadFile(filepath.Join(c.dir, de.Name())); strings.Contains(string(bs), marker) {
			return true
		}
	}
	return false
}
