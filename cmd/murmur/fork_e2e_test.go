package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type forkStatus struct {
	ForkedNotice string   `json:"forked_notice"`
	ForkedOrgs   []string `json:"forked_orgs"`
}

// One backup restored on two machines. Writes resume only after a sync
// (--resume-writes is refused while the network has other members, unless
// --force); once both copies wrote at one place of the device's chain,
// status, doctor and every write on a copy say its key is in use in two
// places, and the founder's status names the organisation.
func TestCLIRestoredTwice(t *testing.T) {
	a, b, addrA, rb := joinedPair(t)
	const pass = "MURMUR_PASSPHRASE=a long backup passphrase"
	file := filepath.Join(t.TempDir(), "beta.backup")
	b.with(pass).ok("backup", file)
	rb.interrupt(t)
	c1 := newCLI(t, filepath.Join(t.TempDir(), "one")).with(pass)
	c2 := newCLI(t, filepath.Join(t.TempDir(), "two")).with(pass)
	c1.ok("restore", file)
	c2.ok("restore", file)

	r := c1.run("repair", "--resume-writes")
	refused(t, r, 2)
	if !strings.Contains(r.stderr, "run `murmur run` with a member's node reachable") {
		t.Errorf("--resume-writes in a network with other members:\n%s", r)
	}
	r1 := c1.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	eventually(t, 30*time.Second, "copy one writes again", func() bool {
		return strings.Contains(r1.stderr.String(), "this device writes again")
	})
	c1.ok("request", "new", "--kind", "verification", "--title", "From copy one")
	sameAs(t, a, c1, "A has copy one's entry")
	r1.interrupt(t)

	// Copy two, told to write without a sync, writes at the same place.
	c2.ok("repair", "--resume-writes", "--force")
	c2.ok("request", "new", "--kind", "verification", "--title", "From copy two")
	var st forkStatus
	c2.json(&st, "status")
	if st.ForkedNotice != "" {
		t.Fatalf("a fork before anyone saw one: %+v", st)
	}
	r2 := c2.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	eventually(t, 30*time.Second, "copy two sees the fork", func() bool {
		var st forkStatus
		c2.json(&st, "status")
		return st.ForkedNotice != ""
	})
	sameAs(t, a, c2, "A has copy two's entry")
	r2.interrupt(t)
	r1 = c1.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	eventually(t, 30*time.Second, "copy one sees the fork", func() bool {
		var st forkStatus
		c1.json(&st, "status")
		return st.ForkedNotice != ""
	})
	r1.interrupt(t)

	for _, c := range []*cli{c1, c2} {
		out := c.ok("status").stdout
		if !strings.HasPrefix(out, "WARNING: this device's key is in use in two places") || !strings.Contains(out, "revoke this device") {
			t.Errorf("status on a forked copy:\n%s", out)
		}
		r := c.run("request", "new", "--kind", "verification", "--title", "After the fork")
		refused(t, r, 1)
		if !strings.Contains(r.stderr, "this device's key is in use in two places") {
			t.Errorf("a write from a forked copy:\n%s", r)
		}
		r = c.run("doctor")
		if r.code != 1 || !strings.Contains(r.stdout, "in use in two places") || !strings.Contains(r.stdout, "murmur device revoke") {
			t.Errorf("doctor on a forked copy:\n%s", r)
		}
	}
	out := a.ok("status").stdout
	if !strings.Contains(out, "WARNING: a device of Beta Collective is in use in two places: ask them to revoke it.") || strings.Contains(out, "this device's key") {
		t.Errorf("the founder's status:\n%s", out)
	}
	a.ok("request", "new", "--kind", "verification", "--title", "Alpha still writes")
}
