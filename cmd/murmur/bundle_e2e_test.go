package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
)

func nodeProgress(done, total int, bytes int64) node.Progress {
	return node.Progress{Done: done, Total: total, Bytes: bytes}
}

type bundleExportOut struct {
	Entries int      `json:"entries"`
	Bytes   int64    `json:"bytes"`
	Files   []string `json:"files"`
}

type bundleImportOut struct {
	New     int `json:"new"`
	Held    int `json:"held"`
	Refused int `json:"refused"`
}

// joinedThenApart is a founder and a joined organisation that met once
// over loopback (the join, which hands over the network secret) and whose
// nodes are stopped: from now on only files go between them.
func joinedThenApart(t *testing.T) (a, b *cli) {
	t.Helper()
	a, _ = founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := ra.addr(t)
	var code codeOut
	a.json(&code, "invite", "--addr", addrA, "--expires", "1h")
	b = newCLI(t, t.TempDir())
	b.ok("join", code.Code, "--addr", code.Addrs[0], "--org", "Beta Collective", "--no-passphrase")
	probe := filepath.Join(t.TempDir(), "probe.summary")
	if r := b.run("bundle", "summary", probe); r.code != 1 || !strings.Contains(r.stderr, "not joined its network yet") {
		t.Fatalf("a bundle command before the join completes:\n%s", r)
	}
	rb := b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	eventually(t, 30*time.Second, "Beta is admitted and holds the network secret", func() bool {
		return b.memberStatus().Admitted && b.run("bundle", "summary", probe).code == 0
	})
	rb.interrupt(t)
	ra.interrupt(t)
	return a, b
}

func TestCLIBundleRoundTrip(t *testing.T) {
	a, b := joinedThenApart(t)
	dir := t.TempDir()
	f := func(name string) string { return filepath.Join(dir, name) }
	for i := range 3 {
		a.write("request", "new", "--kind", "verification", "--title", "Alpha asks SECRETWORD "+string(rune('A'+i)))
	}
	for i := range 2 {
		b.write("request", "new", "--kind", "verification", "--title", "Beta asks SECRETWORD "+string(rune('A'+i)))
	}
	if a.status().Digest == b.status().Digest {
		t.Fatal("the fixture: the two nodes agree before any bundle")
	}

	// Beta's summary out, Alpha's answer back, Beta's answer to that out.
	var sum struct {
		Devices int `json:"devices"`
	}
	b.json(&sum, "bundle", "summary", f("beta.summary"))
	if sum.Devices != 2 {
		t.Fatalf("summary: %+v, want the two devices", sum)
	}
	var ex bundleExportOut
	a.json(&ex, "bundle", "export", f("for-beta.bundle"), "--for", f("beta.summary"))
	if ex.Entries != 3 || len(ex.Files) != 1 || ex.Bytes <= 0 {
		t.Fatalf("Alpha's answer: %+v, want Alpha's 3 requests", ex)
	}
	var im bundleImportOut
	b.json(&im, "bundle", "import", f("for-beta.bundle"))
	if im != (bundleImportOut{New: 3}) {
		t.Fatalf("Beta imports: %+v", im)
	}
	// A file of that name is never replaced.
	r0 := a.run("bundle", "export", f("for-beta.bundle"), "--for", f("beta.summary"))
	refused(t, r0, 2)
	if !strings.Contains(r0.stderr, "exists already") {
		t.Fatalf("export over a file: %s", r0)
	}
	b.json(&im, "bundle", "import", f("for-beta.bundle"))
	if im != (bundleImportOut{Held: 3}) {
		t.Fatalf("Beta imports the same again: %+v", im)
	}
	b.json(&ex, "bundle", "export", f("for-alpha.bundle"), "--for", f("for-beta.bundle"))
	if ex.Entries != 2 {
		t.Fatalf("Beta's answer: %+v, want Beta's 2 requests", ex)
	}
	r := a.ok("bundle", "import", f("for-alpha.bundle"))
	if !strings.Contains(r.stdout, "2 new, 0 already held, 0 refused") || !strings.Contains(r.stdout, "Beta Collective") {
		t.Fatalf("import says:\n%s", r)
	}
	if sa, sb := a.status(), b.status(); sa.Digest != sb.Digest || sa.Entries != sb.Entries {
		t.Fatalf("after one round trip: %+v and %+v", sa, sb)
	}
	if st := a.ok("status"); !strings.Contains(st.stdout, "Beta Collective: last synced") || !strings.Contains(st.stdout, "latest bundle read here was made") {
		t.Fatalf("status does not tell of the news that came by file:\n%s", st.stdout)
	}
	for _, name := range []string{"beta.summary", "for-beta.bundle", "for-alpha.bundle"} {
		raw, err := os.ReadFile(f(name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("SECRETWORD")) || bytes.Contains(raw, []byte("Beta")) || bytes.Contains(raw, []byte(a.status().Network[:12])) {
			t.Fatalf("%s shows what it carries", name)
		}
	}

	// --org: Alpha knows what Beta's node held from Beta's bundle.
	a.write("request", "new", "--kind", "verification", "--title", "One more")
	a.json(&ex, "bundle", "export", f("org.bundle"), "--org", "Beta Collective")
	if ex.Entries != 1 {
		t.Fatalf("--org: %+v, want the one new entry", ex)
	}

	// Refusals: one line, exit 1, nothing stored.
	raw, _ := os.ReadFile(f("org.bundle"))
	os.WriteFile(f("cut.bundle"), raw[:len(raw)-100], 0o600)
	other, _ := founded(t)
	other.ok("bundle", "export", f("other.bundle"))
	same := b.unchanged()
	for _, c := range []struct {
		file, says string
	}{
		{f("cut.bundle"), "incomplete"},
		{f("other.bundle"), "not made for this network"},
		{f("beta.summary"), "is a summary"},
		{f("missing.bundle"), "missing.bundle"},
	} {
		r := b.run("bundle", "import", c.file)
		refused(t, r, 1)
		if !strings.Contains(r.stderr, c.says) {
			t.Errorf("importing %s says %q, want %q", filepath.Base(c.file), r.stderr, c.says)
		}
		same(r)
	}
	refused(t, a.run("bundle", "export", f("x.bundle"), "--for", f("beta.summary"), "--org", "Beta Collective"), 2)
	refused(t, a.run("bundle", "export", f("x.bundle"), "--split", "1KB"), 2)
	refused(t, a.run("bundle", "export", f("x.bundle"), "--since", "last tuesday"), 2)
	refused(t, a.run("bundle", "export", f("x.bundle"), "--org", "Nobody"), 2)
	refused(t, a.run("bundle", "import"), 2)
	if _, err := os.Stat(f("x.bundle")); err == nil {
		t.Fatal("a refused export left a file")
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	old := isTerminalOut
	isTerminalOut = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminalOut = old })
	b := newProgressBar(&env{stderr: &buf}, false, "importing")
	b.show(nodeProgress(100, 200, 1000)) // below progressMin: nothing
	if buf.Len() != 0 {
		t.Fatalf("a bar for 200 entries: %q", buf.String())
	}
	b.show(nodeProgress(250, 1000, 2_500_000))
	b.done()
	if s := buf.String(); !strings.Contains(s, "250 of 1000 entries") || !strings.Contains(s, "2.5 MB") || !strings.Contains(s, "[######") {
		t.Fatalf("bar: %q", s)
	}
	// After a second, it says how long is left, from the pace so far.
	buf.Reset()
	slow := newProgressBar(&env{stderr: &buf}, false, "importing")
	slow.start = time.Now().Add(-10 * time.Second)
	slow.show(nodeProgress(500, 1000, 1))
	if s := buf.String(); !strings.Contains(s, "about 11 s left") {
		t.Fatalf("bar after 10 s at half way: %q", s)
	}
	buf.Reset()
	j := newProgressBar(&env{stderr: &buf}, true, "importing")
	j.show(nodeProgress(250, 1000, 1))
	if buf.Len() != 0 {
		t.Fatalf("a bar with --json: %q", buf.String())
	}
}
