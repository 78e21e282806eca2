package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type changeOut struct {
	ID         string   `json:"id"`
	Change     string   `json:"change"`
	Org        string   `json:"org"`
	Name       string   `json:"name"`
	Quorum     int      `json:"quorum"`
	InEffect   bool     `json:"in_effect"`
	ApprovedBy []string `json:"approved_by"`
	Needed     int      `json:"needed"`
}

type orgRefOut struct {
	Org  string `json:"org"`
	Name string `json:"name"`
}

type governanceOut struct {
	Quorum   int         `json:"quorum"`
	Needed   int         `json:"needed"`
	Stewards []orgRefOut `json:"stewards"`
	Pending  []struct {
		Change     string      `json:"change"`
		Org        string      `json:"org"`
		Name       string      `json:"name"`
		Quorum     int         `json:"quorum"`
		ApprovedBy []orgRefOut `json:"approved_by"`
		Needed     int         `json:"needed"`
		Blocked    string      `json:"blocked"`
	} `json:"pending"`
}

func (c *cli) governance() governanceOut {
	c.t.Helper()
	var g governanceOut
	c.json(&g, "steward", "list")
	return g
}

func stewardNames(g governanceOut) []string {
	var names []string
	for _, s := range g.Stewards {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

// approve runs a steward's approval of a change on c, once the network
// has converged, and checks that it wrote one entry.
func (n *network3) approve(c *cli, args ...string) changeOut {
	n.t.Helper()
	n.sync()
	before := c.status()
	var out changeOut
	c.json(&out, args...)
	if !hexID.MatchString(out.ID) {
		n.t.Fatalf("%s: id %q", strings.Join(args, " "), out.ID)
	}
	if after := c.status(); after.Entries != before.Entries+1 {
		n.t.Fatalf("%s: %d entries after, %d before; want one more", strings.Join(args, " "), after.Entries, before.Entries)
	}
	return out
}

// TestCLIStewardsAndQuorum is the test through the binary: a
// founder plus two named stewards with quorum 2. One approval is not
// enough and two are. A steward removed by the quorum can no longer
// approve.
func TestCLIStewardsAndQuorum(t *testing.T) {
	t.Parallel()
	n := threeOrgs(t)

	// With the quorum at 1, the founder names Beta (by name, any case
	// and spacing) and raises the quorum to 2 alone.
	if out := n.approve(n.alpha, "steward", "add", "  beta   COLLECTIVE "); !out.InEffect || out.Name != "Beta Collective" || out.Org != n.betaID {
		t.Fatalf("steward add Beta: %+v", out)
	}
	if out := n.approve(n.alpha, "quorum", "set", "2"); !out.InEffect {
		t.Fatalf("quorum set 2: %+v", out)
	}

	// One approval is not enough (Gamma named by an ID prefix)...
	out := n.approve(n.alpha, "steward", "add", n.gID[:10])
	if out.InEffect || out.Needed != 2 || !slices.Equal(out.ApprovedBy, []string{"Alpha Fund"}) {
		t.Fatalf("one approval of two: %+v", out)
	}
	n.sync()
	g := n.beta.governance()
	if g.Quorum != 2 || !slices.Equal(stewardNames(g), []string{"Alpha Fund", "Beta Collective"}) || len(g.Pending) != 1 ||
		g.Pending[0].Change != "steward-add" || g.Pending[0].Org != n.gID || len(g.Pending[0].ApprovedBy) != 1 {
		t.Fatalf("Beta sees: %+v", g)
	}
	human := n.beta.ok("members").stdout
	for _, want := range []string{"stewards  Alpha Fund, Beta Collective", "quorum    2", "make Gamma Legal Aid a steward — approved by Alpha Fund; 1 of 2"} {
		if !strings.Contains(human, want) {
			t.Errorf("members should say %q:\n%s", want, human)
		}
	}
	var members []struct {
		Org           string `json:"org"`
		Steward       bool   `json:"steward"`
		StewardChange *struct {
			Change     string      `json:"change"`
			ApprovedBy []orgRefOut `json:"approved_by"`
		} `json:"steward_change"`
	}
	n.beta.json(&members, "members")
	for _, m := range members {
		if m.Org == n.gID && (m.Steward || m.StewardChange == nil || m.StewardChange.Change != "steward-add" || len(m.StewardChange.ApprovedBy) != 1) {
			t.Fatalf("members --json on Gamma: %+v", m)
		}
	}
	// The same organisation approving again is not a second approval.
	n.refusedUnchanged(n.alpha, 1, "approved this already", "steward", "add", "Gamma Legal Aid")

	// ...and two are.
	if out := n.approve(n.beta, "steward", "add", "gamma legal aid"); !out.InEffect {
		t.Fatalf("second approval: %+v", out)
	}
	n.sync()
	if g := n.alpha.governance(); len(g.Stewards) != 3 || len(g.Pending) != 0 {
		t.Fatalf("after two approvals: %+v", g)
	}

	// The quorum removes Beta: one approval, then two.
	if out := n.approve(n.alpha, "steward", "remove", "Beta Collective"); out.InEffect {
		t.Fatalf("removed with one approval: %+v", out)
	}
	if out := n.approve(n.gamma, "steward", "remove", n.betaID[:8]); !out.InEffect {
		t.Fatalf("not removed with two approvals: %+v", out)
	}
	n.sync()
	if g := n.beta.governance(); !slices.Equal(stewardNames(g), []string{"Alpha Fund", "Gamma Legal Aid"}) {
		t.Fatalf("stewards after the removal: %+v", g)
	}
	// Beta can no longer approve anything.
	n.refusedUnchanged(n.beta, 1, "only stewards approve a change", "quorum", "set", "3")
	n.refusedUnchanged(n.beta, 1, "only stewards approve a change", "steward", "remove", "Gamma Legal Aid")
	// Beta is still a member, and writes: to Gamma, named by its name.
	id := n.write(n.beta, "request", "new", "--kind", "verification", "--title", "Still a member", "--region", "TZ", "--to", "gamma legal aid")
	var req struct {
		To []string `json:"to"`
	}
	n.beta.json(&req, "request", "show", id)
	if !slices.Equal(req.To, []string{n.gID}) {
		t.Fatalf("--to by name: %v, want Gamma %s", req.To, n.gID)
	}
	n.refusedUnchanged(n.beta, 2, `no organisation is called "Nobody Known"`, "request", "new", "--kind", "verification", "--title", "To nobody", "--to", "Nobody Known")
}

// With a quorum of two, an organisation that joins with an invite waits,
// with the binary: its node says it awaits the other stewards' approval,
// status says how many it has, its directory holds no network key, and
// once the other steward approves, its running node completes the join by
// itself.
func TestCLIPendingJoinCompletesOnApproval(t *testing.T) {
	t.Parallel()
	n := threeOrgs(t)
	n.approve(n.alpha, "steward", "add", "Beta Collective")
	n.approve(n.alpha, "quorum", "set", "2")
	var code codeOut
	n.alpha.json(&code, "invite", "--addr", n.runs[n.alpha].addr(t), "--expires", "1h")
	d := newCLI(t, t.TempDir())
	d.ok("join", code.Code, "--addr", code.Addrs[0], "--org", "Delta Defenders", "--no-passphrase")
	rd := d.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	defer func() {
		if t.Failed() {
			t.Logf("the joiner's log:\n%s\nthe inviter's log:\n%s", rd.stderr.String(), n.runs[n.alpha].stderr.String())
		}
	}()
	eventually(t, 30*time.Second, "the joiner says it awaits approval", func() bool {
		return strings.Contains(rd.stderr.String(), "awaits the other stewards' approval (1 of 2 approvals)")
	})
	var st struct {
		Joining bool   `json:"joining"`
		Pending string `json:"pending"`
	}
	d.json(&st, "status")
	if !st.Joining || st.Pending != "1 of 2 approvals" {
		t.Fatalf("status while pending: %+v", st)
	}
	if human := d.ok("status").stdout; !strings.Contains(human, "Delta Defenders awaits the other stewards' approval: 1 of 2 approvals") || !strings.Contains(human, "Give the stewards your organisation's ID") {
		t.Fatalf("status while pending says:\n%s", human)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "network.psk")); !os.IsNotExist(err) {
		t.Fatalf("the pending directory holds the network key (%v)", err)
	}
	eventually(t, 30*time.Second, "Beta sees Delta", func() bool {
		return strings.Contains(n.beta.ok("members").stdout, "Delta Defenders")
	})
	n.beta.ok("approve", "Delta Defenders")
	eventually(t, 2*time.Minute, "Delta's node completes the join", func() bool {
		st := d.memberStatus()
		return !st.Joining && st.Admitted
	})
}

// Refusals a single steward meets, without a network.
func TestCLIStewardRefusals(t *testing.T) {
	t.Parallel()
	c, init := founded(t)
	check := c.unchanged()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"steward", "remove", "alpha fund"}, 1, "the network's only steward"},
		{[]string{"steward", "remove", init.Org[:8]}, 1, "the network's only steward"},
		{[]string{"steward", "add", "Alpha Fund"}, 1, "is a steward already"},
		{[]string{"steward", "add", "Nobody Known"}, 2, `no organisation is called "Nobody Known"`},
		{[]string{"steward", "add", "0000000000"}, 2, "no organisation"},
		{[]string{"steward", "add"}, 2, "takes ORG"},
		{[]string{"quorum", "set", "2"}, 1, "there is only 1 steward: a quorum of 2 could never be met"},
		{[]string{"quorum", "set", "1"}, 1, "the quorum is 1 already"},
		{[]string{"quorum", "set", "0"}, 2, "from 1 to 255"},
		{[]string{"quorum", "set", "two"}, 2, "is not a number"},
	} {
		r := c.run(tc.args...)
		refused(t, r, tc.code)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("want %q:\n%s", tc.want, r)
		}
		check(r)
	}
	g := c.governance()
	if g.Quorum != 1 || g.Needed != 1 || len(g.Stewards) != 1 || g.Stewards[0].Org != init.Org || len(g.Pending) != 0 {
		t.Fatalf("steward list: %+v", g)
	}
	if r := c.ok("steward", "add", "--help"); !strings.Contains(r.stdout, "The last steward") {
		t.Errorf("steward add --help:\n%s", r.stdout)
	}
}

// An organisation cannot join under a member's name, whatever its case
// and spacing: the joiner's run says why, and nothing is admitted.
func TestCLIJoinRefusesAMembersName(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	var code codeOut
	a.json(&code, "invite", "--addr", ra.addr(t), "--expires", "1h")
	j := newCLI(t, t.TempDir())
	j.ok("join", code.Code, "--addr", code.Addrs[0], "--org", "alpha FUND", "--no-passphrase")
	r := j.run("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if r.code != 1 || !strings.Contains(r.stderr, "the inviter refused: the organisation's name is too close to the name of a member") {
		t.Fatalf("want the run to end with the refusal:\n%s", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "murmur run: ") {
		t.Errorf("want the refusal as the last line on stderr:\n%s", r)
	}
	if st := a.memberStatus(); st.Members != 1 {
		t.Fatalf("members after a refused name: %d", st.Members)
	}
}
