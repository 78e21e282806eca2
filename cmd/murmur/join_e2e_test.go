package main

import (
	"strings"
	"testing"
	"time"
)

type memberStatus struct {
	Entries  int    `json:"entries"`
	Digest   string `json:"digest"`
	Admitted bool   `json:"admitted"`
	Members  int    `json:"members"`
	Joining  bool   `json:"joining"`
}

func (c *cli) memberStatus() memberStatus {
	c.t.Helper()
	var st memberStatus
	c.json(&st, "status")
	return st
}

// Three organisations with the real binary on loopback: the first founds
// the network and runs; it invites the other two, which join with their
// codes and run (Beta with the code and the address line, `join CODE
// --addr ADDRESS`; Gamma with the code alone and the inviter's address
// given to `murmur run --peer`); each writes; all converge. A code used twice is
// refused.
func TestCLIInviteJoinThreeOrganisations(t *testing.T) {
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := ra.addr(t)

	type org struct {
		c    *cli
		name string
		run  *runningNode
	}
	orgs := []*org{{c: a, name: "Alpha Fund", run: ra}}
	var firstCode string
	for _, name := range []string{"Beta Collective", "Gamma Legal Aid"} {
		var code codeOut
		a.json(&code, "invite", "--addr", addrA, "--expires", "1h")
		if firstCode == "" {
			firstCode = code.Code
		}
		if n := len(strings.ReplaceAll(code.Code, "-", "")); n > 32 || code.QR != code.Code+" 127.0.0.1" {
			t.Fatalf("invite output %+v: %d characters", code, n)
		}
		j := newCLI(t, t.TempDir())
		var out joinOut
		runArgs := []string{"run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
		if name == "Beta Collective" {
			j.json(&out, "join", code.Code, "--addr", code.Addrs[0], "--org", name, "--no-passphrase")
		} else {
			j.json(&out, "join", code.Code, "--org", name, "--no-passphrase")
			runArgs = append(runArgs, "--peer", addrA)
		}
		if !out.Joining || len(out.Network) != 4 {
			t.Fatalf("join output %+v", out)
		}
		if st := j.memberStatus(); !st.Joining {
			t.Fatalf("status before the join completes: %+v", st)
		}
		rj := j.start(runArgs...)
		eventually(t, 30*time.Second, name+" is admitted", func() bool {
			st := j.memberStatus()
			return !st.Joining && st.Admitted
		})
		orgs = append(orgs, &org{c: j, name: name, run: rj})
	}
	for _, o := range orgs {
		o.c.ok("request", "new", "--kind", "verification", "--title", "Written by "+o.name)
	}
	defer func() {
		if t.Failed() {
			for _, o := range orgs {
				t.Logf("%s: %+v\nstderr:\n%s", o.name, o.c.memberStatus(), o.run.stderr.String())
			}
		}
	}()
	eventually(t, 30*time.Second, "the three organisations converge", func() bool {
		first := orgs[0].c.memberStatus()
		if first.Members != 3 || first.Entries != 1+1+2+2+3+3 { // genesis, the secret's check, 2 invites, 2 admissions, 3 requests, 3 organisation keys
			return false
		}
		for _, o := range orgs[1:] {
			if st := o.c.memberStatus(); st.Digest != first.Digest || st.Entries != first.Entries {
				return false
			}
		}
		return true
	})

	// The first code, used already, presented again by a fourth
	// organisation. The door that code opens lets only the device that
	// used it in, so its holder reaches nothing at all (not even a
	// refusal), and is told why that may be.
	d := newCLI(t, t.TempDir())
	d.ok("join", firstCode, "--addr", "127.0.0.1", "--org", "Delta", "--no-passphrase")
	rd := d.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	eventually(t, 30*time.Second, "the reused code's holder says it reaches nothing", func() bool {
		return strings.Count(rd.stderr.String(), "the code may be used or expired") >= 2
	})
	if st := a.memberStatus(); st.Members != 3 {
		t.Fatalf("members after a reused code: %d", st.Members)
	}
	// An altered code is caught by its checksum, before anything is written.
	altered := []byte(firstCode)
	if altered[3] == 'A' {
		altered[3] = 'B'
	} else {
		altered[3] = 'A'
	}
	refused(t, newCLI(t, t.TempDir()).run("join", string(altered), "--org", "Epsilon", "--no-passphrase"), 2)

	for _, o := range orgs {
		t.Logf("%s stopped %v after SIGINT", o.name, o.run.interrupt(t).Round(time.Millisecond))
	}
}
