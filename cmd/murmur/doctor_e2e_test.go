package main

// End-to-end tests of a damaged database (murmur doctor, repair) and of
// backup and restore, with the real binary and two organisations on
// loopback.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// joinedPair founds a network (A, running) and has B join it and run;
// both write, and converge.
func joinedPair(t *testing.T) (a, b *cli, addrA string, rb *runningNode) {
	t.Helper()
	a, _ = founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA = ra.addr(t)
	var code codeOut
	a.json(&code, "invite", "--addr", addrA, "--expires", "1h")
	b = newCLI(t, t.TempDir())
	var out joinOut
	b.json(&out, "join", code.Code, "--addr", code.Addrs[0], "--org", "Beta Collective", "--no-passphrase")
	rb = b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	eventually(t, 30*time.Second, "B is admitted", func() bool {
		st := b.memberStatus()
		return !st.Joining && st.Admitted
	})
	a.ok("request", "new", "--kind", "verification", "--title", "Written by Alpha")
	b.ok("request", "new", "--kind", "verification", "--title", "Written by Beta")
	sameAs(t, b, a, "A and B converge")
	return a, b, addrA, rb
}

// sameAs waits until c holds what want holds.
func sameAs(t *testing.T, c, want *cli, what string) {
	t.Helper()
	eventually(t, 30*time.Second, what, func() bool {
		w, g := want.memberStatus(), c.memberStatus()
		return g.Digest == w.Digest && g.Entries == w.Entries
	})
}

// damage damages the database of the stopped node in dir.
func damage(t *testing.T, dir, how string) {
	t.Helper()
	path := filepath.Join(dir, "murmur.db")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	switch how {
	case "corrupt pages":
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
		for p := int64(2); p <= 4 && p*4096 <= st.Size(); p++ {
			if _, err := f.WriteAt(junk, (p-1)*4096); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	case "truncated":
		err = os.Truncate(path, st.Size()/2)
	case "empty":
		err = os.Truncate(path, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type doctorOut struct {
	Healthy  bool `json:"ok"`
	Findings []struct {
		Part, Problem, Do string
	} `json:"problems"`
	Recovering *struct {
		How string `json:"how"`
	} `json:"recovering"`
}

// Corrupt pages, a truncated file, an empty one: each time the node and
// every command refuse it in one line naming the doctor; the doctor says
// what is wrong (exit 1); the repair rebuilds it; the node writes nothing
// until it has synced; run with a member, it holds every entry the member
// holds and writes again.
func TestCLIDamagedDatabase(t *testing.T) {
	a, b, addrA, rb := joinedPair(t)
	for round, how := range []string{"corrupt pages", "truncated", "empty"} {
		rb.interrupt(t)
		damage(t, b.dir, how)

		r := b.run("status")
		refused(t, r, 1)
		if !strings.Contains(r.stderr, "is damaged") || !strings.Contains(r.stderr, "murmur doctor") {
			t.Errorf("%s: status on a damaged database:\n%s", how, r)
		}
		r = b.run("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
		refused(t, r, 1)
		if !strings.Contains(r.stderr, "murmur run: the database in") || !strings.Contains(r.stderr, "murmur doctor") {
			t.Errorf("%s: run on a damaged database:\n%s", how, r)
		}

		r = b.run("doctor")
		if r.code != 1 || !strings.Contains(r.stdout, "PROBLEM  database") || !strings.Contains(r.stdout, "murmur repair") ||
			strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "murmur doctor: ") || !strings.Contains(r.stderr, "found in "+b.dir) {
			t.Errorf("%s: doctor:\n%s", how, r)
		}
		r = b.run("doctor", "--json")
		var d doctorOut
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 1 || d.Healthy || len(d.Findings) == 0 || d.Findings[0].Part != "database" {
			t.Errorf("%s: doctor --json (%v): %+v\n%s", how, err, d, r)
		}

		r = b.ok("repair")
		if !strings.Contains(r.stdout, "moved aside  murmur.db.damaged-") {
			t.Errorf("%s: repair:\n%s", how, r)
		}
		asides, _ := filepath.Glob(filepath.Join(b.dir, "murmur.db.damaged-*"))
		if len(asides) < round+1 {
			t.Errorf("%s: the damaged files kept: %v", how, asides)
		}
		refused(t, b.run("repair"), 1) // healthy now: nothing to repair

		var healthy doctorOut
		b.json(&healthy, "doctor")
		if !healthy.Healthy || healthy.Recovering == nil || healthy.Recovering.How != "repair" {
			t.Errorf("%s: doctor after the repair: %+v", how, healthy)
		}
		r = b.run("request", "new", "--kind", "verification", "--title", "Too early")
		refused(t, r, 1)
		if !strings.Contains(r.stderr, "writes again once it has synced with a member's node") {
			t.Errorf("%s: a write before the sync:\n%s", how, r)
		}

		rb = b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
		sameAs(t, b, a, how+": the repaired node holds every entry A holds")
		eventually(t, 30*time.Second, how+": the repaired node writes again", func() bool {
			return strings.Contains(rb.stderr.String(), "this device writes again")
		})
		b.ok("request", "new", "--kind", "verification", "--title", "Written by Beta after the "+how+" repair")
		sameAs(t, a, b, how+": A has B's new entry")
	}
	var d doctorOut
	b.json(&d, "doctor")
	if !d.Healthy || d.Recovering != nil {
		t.Fatalf("doctor at the end: %+v", d)
	}
	refused(t, b.run("repair", "--resume-writes"), 1) // nothing waits

	// The network's only node: repaired, it has no one to sync with, and
	// says it may write again only when told to.
	rb.interrupt(t)
	lone, _ := founded(t)
	lone.ok("request", "new", "--kind", "verification", "--title", "Alone")
	damage(t, lone.dir, "corrupt pages")
	lone.ok("repair")
	refused(t, lone.run("request", "new", "--kind", "verification", "--title", "Too early"), 1)
	if out := lone.ok("status").stdout; !strings.Contains(out, "NOTE: this node's database was rebuilt by `murmur repair`") {
		t.Errorf("status after a repair does not say the node waits for a sync:\n%s", out)
	}
	r := lone.ok("repair", "--resume-writes")
	if !strings.Contains(r.stdout, "writes again") {
		t.Errorf("resume:\n%s", r)
	}
	lone.ok("request", "new", "--kind", "verification", "--title", "Alone again")
	if out := lone.ok("status").stdout; strings.Contains(out, "NOTE:") {
		t.Errorf("status after writes resumed still says the node waits:\n%s", out)
	}
}

// A backup needs a passphrase; restored into a fresh directory, the node
// runs, syncs what was written since, and writes again.
func TestCLIBackupRestore(t *testing.T) {
	a, b, addrA, rb := joinedPair(t)
	file := filepath.Join(t.TempDir(), "beta.backup")
	r := b.run("backup", file)
	refused(t, r, 2)
	if !strings.Contains(r.stderr, "choose a passphrase") {
		t.Errorf("a backup without a passphrase:\n%s", r)
	}
	pb := b.with("MURMUR_PASSPHRASE=a long backup passphrase")
	r = pb.ok("backup", file)
	if !strings.Contains(r.stdout, "sealed under the passphrase") {
		t.Errorf("backup:\n%s", r)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Beta Collective") || strings.Contains(string(raw), "Written by") {
		t.Fatalf("the backup holds words in clear")
	}
	refused(t, pb.run("backup", file), 2) // the file exists
	var bo struct {
		Entries int    `json:"entries"`
		Digest  string `json:"digest"`
	}
	pb.json(&bo, "backup", file+".2")
	if st := b.memberStatus(); bo.Digest != st.Digest || bo.Entries == 0 {
		t.Errorf("backup --json: %+v, status digest %s", bo, st.Digest)
	}

	// The old machine is gone; A writes meanwhile.
	rb.interrupt(t)
	a.ok("request", "new", "--kind", "verification", "--title", "Written by Alpha after the backup")

	refused(t, pb.run("restore", file, "--dir", b.dir), 1) // not empty
	fresh := newCLI(t, filepath.Join(t.TempDir(), "restored"))
	r = fresh.with("MURMUR_PASSPHRASE=not the right one").run("restore", file)
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("restore with a wrong passphrase:\n%s", r)
	}
	pf := fresh.with("MURMUR_PASSPHRASE=a long backup passphrase")
	pf.ok("restore", file)
	refused(t, fresh.run("status"), 1) // the key is under the passphrase now
	r = pf.run("request", "new", "--kind", "verification", "--title", "Too early")
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "restored from a backup") {
		t.Errorf("a write before the sync:\n%s", r)
	}
	rf := pf.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	sameAs(t, pf, a, "the restored node holds every entry A holds")
	eventually(t, 30*time.Second, "the restored node writes again", func() bool {
		return strings.Contains(rf.stderr.String(), "this device writes again")
	})
	pf.ok("request", "new", "--kind", "verification", "--title", "Written by the restored Beta")
	sameAs(t, a, pf, "A has the restored node's entry")
}
