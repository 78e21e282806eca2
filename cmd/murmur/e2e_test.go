package main

// End-to-end tests of the command-line contract (CLI.md in the shared docs):
// they build the murmur binary once, run it as a separate process on
// temporary data directories, and check its --json output, exit statuses
// and refusals of bad input.

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

var (
	buildOnce sync.Once
	binDir    string // holds the binary; removed by TestMain
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// murmurBinary builds the command once per test process, with cgo off to
// prove the static build works.
func murmurBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if binDir, buildErr = os.MkdirTemp("", "murmur-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "murmur")
		cmd := exec.Command(goTool, "build", "-o", binPath, "./cmd/murmur")
		cmd.Dir = filepath.Join("..", "..") // the module root; tests run in the package directory
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%w: %s", err, out)
			return
		}
		if runtime.GOOS == "linux" { // static: no program interpreter, no shared libraries
			f, err := elf.Open(binPath)
			if err != nil {
				buildErr = err
				return
			}
			defer f.Close()
			libs, err := f.ImportedLibraries()
			if err != nil || len(libs) > 0 || f.Section(".interp") != nil {
				buildErr = fmt.Errorf("the binary is not static: needs %v (%v)", libs, err)
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building murmur: %v", buildErr)
	}
	return binPath
}

// cli runs the binary on one data directory.
type cli struct {
	t     *testing.T
	dir   string   // MURMUR_DIR; empty: not set
	env   []string // more environment
	stdin string   // empty: /dev/null, which is not a terminal
}

// baseEnv is the test process's environment without anything that could
// point the binary at a real data directory or passphrase.
func baseEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MURMUR_") || k == "HOME" || k == "XDG_DATA_HOME" || k == "CREDENTIALS_DIRECTORY" {
			continue
		}
		env = append(env, kv)
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"))
}

func newCLI(t *testing.T, dir string) *cli {
	return &cli{t: t, dir: dir, env: baseEnv(t)}
}

// with returns a copy of c with more environment.
func (c *cli) with(env ...string) *cli {
	d := *c
	d.env = append(slices.Clip(c.env), env...)
	return &d
}

// input returns a copy of c that feeds s on standard input.
func (c *cli) input(s string) *cli {
	d := *c
	d.stdin = s
	return &d
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
	startErr       error // the process did not start
}

func (r result) String() string {
	args := strings.Join(r.args, " ")
	if len(args) > 200 {
		args = args[:200] + "..."
	}
	return fmt.Sprintf("murmur %s: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	// The deadline only turns a hang into a failure: on a machine busy
	// with other work, a command may take many times its usual time.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, murmurBinary(c.t), args...)
	cmd.Env = c.env
	if c.dir != "" {
		cmd.Env = append(slices.Clip(cmd.Env), "MURMUR_DIR="+c.dir)
	}
	if c.stdin != "" {
		cmd.Stdin = strings.NewReader(c.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: withoutSlowOpen(stderr.String())}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		r.code, r.startErr = -1, err
	}
	return r
}

// withoutSlowOpen is a command's stderr without the line that says its
// open is slow: on a loaded machine it comes with any open (it is said
// after a time on the clock), and tests never assert on elapsed time.
func withoutSlowOpen(stderr string) string {
	var b strings.Builder
	for l := range strings.Lines(stderr) {
		if !strings.HasPrefix(l, "Opening is taking a while") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// ok runs a command that must succeed and print nothing on stderr.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.startErr != nil {
		c.t.Fatalf("running murmur %s: %v", strings.Join(args, " "), r.startErr)
	}
	if r.code != 0 || r.stderr != "" {
		c.t.Fatalf("want success and a quiet stderr:\n%s", r)
	}
	return r
}

// json runs a command with --json that must succeed, and decodes its output.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	r := c.ok(append(args, "--json")...)
	oneJSON(c.t, r, v)
}

// oneJSON decodes stdout, which must hold exactly one JSON value.
func oneJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON (%v):\n%s", err, r)
	}
	var more json.RawMessage
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON value (%v):\n%s", err, r)
	}
}

// refused checks a refusal: the exit status, nothing on stdout, one line
// on stderr.
func refused(t *testing.T, r result, code int) {
	t.Helper()
	if r.startErr != nil {
		t.Fatalf("running %s: %v", r, r.startErr)
	}
	if r.code != code {
		t.Errorf("want exit status %d:\n%s", code, r)
	}
	if r.stdout != "" {
		t.Errorf("a refusal printed on stdout:\n%s", r)
	}
	if line := strings.TrimSuffix(r.stderr, "\n"); line == "" || strings.Contains(line, "\n") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("want one line on stderr:\n%s", r)
	}
}

type statusOut struct {
	Network       string `json:"network"`
	Org           string `json:"org"`
	OrgName       string `json:"org_name"`
	Device        string `json:"device"`
	Entries       int    `json:"entries"`
	Digest        string `json:"digest"`
	DeviceRevoked bool   `json:"device_revoked"`
}

func (c *cli) status() statusOut {
	c.t.Helper()
	var st statusOut
	c.json(&st, "status")
	return st
}

// unchanged records the state; calling the result checks that the
// accepted set has not changed since.
func (c *cli) unchanged() func(what result) {
	c.t.Helper()
	before := c.status()
	return func(what result) {
		c.t.Helper()
		if after := c.status(); after.Entries != before.Entries || after.Digest != before.Digest {
			c.t.Errorf("the state changed (%d entries, was %d):\n%s", after.Entries, before.Entries, what)
		}
	}
}

type initOut struct {
	Network string `json:"network"`
	Org     string `json:"org"`
	Device  string `json:"device"`
	Peer    string `json:"peer"`
}

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// founded returns a cli on a new network founded by "Alpha Fund", with no
// passphrase.
func founded(t *testing.T) (*cli, initOut) {
	t.Helper()
	c := newCLI(t, t.TempDir())
	var out initOut
	c.json(&out, "init", "--org", "Alpha Fund", "--no-passphrase")
	return c, out
}

type idOutput struct {
	ID string `json:"id"`
}

// write runs a command that writes one entry and returns its ID, checking
// that the state grew by exactly that entry.
func (c *cli) write(args ...string) string {
	c.t.Helper()
	before := c.status()
	var out idOutput
	c.json(&out, args...)
	if !hexID.MatchString(out.ID) {
		c.t.Fatalf("%s: id %q is not a 64-character hex ID", strings.Join(args, " "), out.ID)
	}
	if after := c.status(); after.Entries != before.Entries+1 {
		c.t.Fatalf("%s: %d entries after, %d before; want one more", strings.Join(args, " "), after.Entries, before.Entries)
	}
	return out.ID
}

// files reads every file in dir.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[de.Name()] = b
	}
	return m
}

func TestCLIInit(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	for name, v := range map[string]string{"network": out.Network, "org": out.Org, "device": out.Device} {
		if !hexID.MatchString(v) {
			t.Errorf("init: %s %q is not a 64-character hex ID", name, v)
		}
	}
	if !strings.HasPrefix(out.Peer, "12D3KooW") {
		t.Errorf("init: peer %q is not an ed25519 libp2p peer ID", out.Peer)
	}
	st := c.status()
	if st.Network != out.Network || st.Org != out.Org || st.Device != out.Device || st.OrgName != "Alpha Fund" || st.Entries != 3 { // genesis, the founders' key, the secret's check
		t.Errorf("status after init: %+v; init said %+v", st, out)
	}

	before := files(t, c.dir)
	refused(t, c.run("init", "--org", "Alpha Fund", "--no-passphrase"), 1)
	refused(t, c.run("init", "--org", "Usurper", "--no-passphrase", "--json"), 1)
	if after := files(t, c.dir); len(after) != len(before) {
		t.Errorf("a refused init changed the files: %d, were %d", len(after), len(before))
	} else {
		for name, b := range before {
			if !bytes.Equal(after[name], b) {
				t.Errorf("a refused init changed %s", name)
			}
		}
	}
	if again := c.status(); again != st {
		t.Errorf("status after a refused init: %+v, was %+v", again, st)
	}

	// --dir works without MURMUR_DIR, and wins over it.
	other := t.TempDir()
	plain := newCLI(t, "")
	var out2 initOut
	plain.json(&out2, "init", "--dir", other, "--org", "Beta Collective", "--no-passphrase")
	var st2 statusOut
	plain.json(&st2, "status", "--dir", other)
	if st2.OrgName != "Beta Collective" || st2.Network != out2.Network || st2.Network == out.Network {
		t.Errorf("status --dir: %+v", st2)
	}
	c.json(&st2, "status", "--dir", other)
	if st2.OrgName != "Beta Collective" {
		t.Errorf("status --dir with MURMUR_DIR set elsewhere: %+v", st2)
	}
	// Neither: the user data directory, which holds no node here.
	r := plain.run("status")
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "murmur init") {
		t.Errorf("status in an empty data directory should say to run murmur init:\n%s", r)
	}
}

func TestCLIPassphrase(t *testing.T) {
	t.Parallel()
	const pass = "MURMUR_PASSPHRASE=correct horse battery staple"

	// No passphrase, no terminal and no --no-passphrase: nothing is created.
	empty := newCLI(t, t.TempDir())
	r := empty.run("init", "--org", "Beta Collective", "--json")
	refused(t, r, 2)
	if !strings.Contains(r.stderr, "MURMUR_PASSPHRASE") {
		t.Errorf("init without a passphrase should name MURMUR_PASSPHRASE:\n%s", r)
	}
	if left := files(t, empty.dir); len(left) != 0 {
		t.Errorf("a refused init left %d files", len(left))
	}

	// A passphrase from the environment is held to the same minimum.
	short := newCLI(t, t.TempDir())
	refused(t, short.with("MURMUR_PASSPHRASE=1234").run("init", "--org", "Beta Collective"), 2)
	if left := files(t, short.dir); len(left) != 0 {
		t.Errorf("a refused init left %d files", len(left))
	}

	c := newCLI(t, t.TempDir())
	var out initOut
	c.with(pass).json(&out, "init", "--org", "Beta Collective")
	before := files(t, c.dir)
	same := c.with(pass).unchanged()
	write := []string{"request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?", "--json"}

	// Every command that opens the data directory needs the passphrase,
	// reading ones too; a wrong one is refused and changes nothing.
	for _, read := range [][]string{{"status"}, {"members", "--json"}, {"request", "list"}, {"directory", "list"}, {"stats"}} {
		r := c.with("MURMUR_PASSPHRASE=incorrect horse").run(read...)
		refused(t, r, 1)
		if !strings.Contains(r.stderr, "passphrase") {
			t.Errorf("%v with a wrong passphrase should say so:\n%s", read, r)
		}
		refused(t, c.run(read...), 1) // no terminal, no MURMUR_PASSPHRASE
		c.with(pass).ok(read...)
	}
	if after := files(t, c.dir); len(after) != len(before) || !bytes.Equal(after["murmur.db"], before["murmur.db"]) || !bytes.Equal(after["device.key"], before["device.key"]) {
		t.Error("refused commands changed the data directory")
	}

	r = c.with("MURMUR_PASSPHRASE=incorrect horse").run(write...)
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "passphrase") {
		t.Errorf("a wrong passphrase should be named as such:\n%s", r)
	}
	same(r)

	r = c.run(write...) // stdin is /dev/null: no terminal to ask on
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "MURMUR_PASSPHRASE") {
		t.Errorf("with no terminal, the error should say to set MURMUR_PASSPHRASE:\n%s", r)
	}
	same(r)

	c.with(pass).write(write[:len(write)-1]...)
}

func TestCLIStatusAndMembers(t *testing.T) {
	t.Parallel()
	c, out := founded(t)

	var st map[string]any
	c.json(&st, "status")
	types := map[string]string{
		"network": "string", "org": "string", "org_name": "string", "device": "string", "peer": "string",
		"entries": "number", "digest": "string", "members": "number", "running": "bool", "peers": "array", "addrs": "array",
	}
	for field, want := range types {
		v, ok := st[field]
		if !ok {
			t.Errorf("status --json has no %q", field)
			continue
		}
		if got := jsonType(v); got != want {
			t.Errorf("status --json %q is a %s (%v), want a %s", field, got, v, want)
		}
	}
	want := map[string]any{"network": out.Network, "org": out.Org, "org_name": "Alpha Fund", "device": out.Device, "peer": out.Peer,
		"entries": 3.0, "members": 1.0, "running": false} // genesis, the founders' key, the secret's check
	for field, w := range want {
		if st[field] != w {
			t.Errorf("status --json %q = %v, want %v", field, st[field], w)
		}
	}
	if d, _ := st["digest"].(string); !hexID.MatchString(d) {
		t.Errorf("digest %q is not 64 hex digits", d)
	}
	for _, f := range []string{"peers", "addrs"} {
		if l, _ := st[f].([]any); len(l) != 0 {
			t.Errorf("%s = %v while no node runs", f, l)
		}
	}

	var members []map[string]any
	c.json(&members, "members")
	if len(members) != 1 {
		t.Fatalf("members: %v", members)
	}
	m := members[0]
	if m["org"] != out.Org || m["name"] != "Alpha Fund" || m["steward"] != true {
		t.Errorf("members[0] = %v", m)
	}
	devs, _ := m["devices"].([]any)
	if len(devs) != 1 {
		t.Fatalf("members[0].devices = %v", m["devices"])
	}
	d, _ := devs[0].(map[string]any)
	if d["device"] != out.Device || d["revoked"] != false {
		t.Errorf("members[0].devices[0] = %v", d)
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return "?"
}

type directoryOut struct {
	Org       string   `json:"org"`
	Name      string   `json:"name"`
	ListedAs  string   `json:"listed_as"`
	Regions   []string `json:"regions"`
	Offers    []string `json:"offers"`
	Languages []string `json:"languages"`
	Groups    []string `json:"groups"`
}

func TestCLIDirectory(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	c.write("directory", "set", "--regions", "tz,ke", "--offers", "Legal-Aid,emergency-grant", "--languages", "EN", "--groups", "journalists")

	list := func(args ...string) []directoryOut {
		t.Helper()
		var l []directoryOut
		c.json(&l, append([]string{"directory", "list"}, args...)...)
		return l
	}
	l := list()
	if len(l) != 1 {
		t.Fatalf("directory list: %+v", l)
	}
	want := directoryOut{Org: out.Org, Name: "Alpha Fund", Regions: []string{"KE", "TZ"}, Offers: []string{"emergency-grant", "legal-aid"},
		Languages: []string{"en"}, Groups: []string{"journalists"}}
	if !equalDir(l[0], want) {
		t.Errorf("directory list:\n got %+v\nwant %+v", l[0], want)
	}
	for _, f := range []struct {
		args []string
		n    int
	}{
		{[]string{"--region", "KE"}, 1}, {[]string{"--region", "tz"}, 1}, {[]string{"--region", "NI"}, 0},
		{[]string{"--offers", "legal-aid"}, 1}, {[]string{"--offers", "shelter"}, 0},
		{[]string{"--region", "TZ", "--offers", "emergency-grant"}, 1}, {[]string{"--region", "NI", "--offers", "legal-aid"}, 0},
	} {
		if got := list(f.args...); len(got) != f.n {
			t.Errorf("directory list %s: %d entries, want %d", strings.Join(f.args, " "), len(got), f.n)
		}
	}

	// Its own name for the entry is shown beside the one it was admitted
	// under, which a directory entry cannot replace.
	c.write("directory", "set", "--name", "Alpha Legal Desk")
	want.ListedAs = "Alpha Legal Desk"
	if l := list(); len(l) != 1 || !equalDir(l[0], want) {
		t.Errorf("after setting only the name:\n got %+v\nwant %+v", l, want)
	}

	same := c.unchanged()
	for _, args := range [][]string{
		{"directory", "set", "--regions", "XX"},
		{"directory", "set", "--regions", "TZ,UK"},
		{"directory", "set", "--offers", "hugs"},
		{"directory", "set", "--languages", "not a language"},
		{"directory", "set", "--groups", "everyone"},
		{"directory", "list", "--region", "XX"},
		{"directory", "list", "--offers", "hugs"},
	} {
		r := c.run(append(args, "--json")...)
		refused(t, r, 2)
		same(r)
	}
}

func equalDir(a, b directoryOut) bool {
	return a.Org == b.Org && a.Name == b.Name && a.ListedAs == b.ListedAs && slices.Equal(a.Regions, b.Regions) && slices.Equal(a.Offers, b.Offers) &&
		slices.Equal(a.Languages, b.Languages) && slices.Equal(a.Groups, b.Groups)
}

type requestOut struct {
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Title     string  `json:"title"`
	Region    string  `json:"region"`
	Org       string  `json:"org"`
	Status    string  `json:"status"`
	Created   string  `json:"created"`
	RespondBy *string `json:"respond_by"`
	Responses int     `json:"responses"`
}

type responseOut struct {
	ID       string   `json:"id"`
	Org      string   `json:"org"`
	Type     string   `json:"type"`
	Body     string   `json:"body"`
	Amount   *float64 `json:"amount"`
	Currency string   `json:"currency"`
	Created  string   `json:"created"`
}

type requestDetail struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Title     string        `json:"title"`
	Body      string        `json:"body"`
	Region    string        `json:"region"`
	Org       string        `json:"org"`
	Status    string        `json:"status"`
	Created   string        `json:"created"`
	RespondBy *string       `json:"respond_by"`
	To        []string      `json:"to"`
	Amount    *float64      `json:"amount"`
	Currency  string        `json:"currency"`
	Responses []responseOut `json:"responses"`
}

func TestCLIRequests(t *testing.T) {
	t.Parallel()
	c, out := founded(t)

	start := time.Now()
	ids := map[string]string{
		"verification": c.write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?", "--body", "Name withheld; see the case file."),
		"referral":     c.write("request", "new", "--kind", "referral", "--title", "Legal aid in Arusha", "--region", "tz", "--needs", "legal-aid"),
		"funding":      c.write("request", "new", "--kind", "funding", "--title", "Relocation, 3 months", "--region", "NI", "--amount", "4500", "--currency", "usd"),
		"letter":       c.write("request", "new", "--kind", "letter", "--title", "Free the Arusha three", "--respond-by", "72h"),
		"alert":        c.write("request", "new", "--kind", "alert", "--title", "Office raided", "--region", "KE"),
	}
	end := time.Now()

	var list []requestOut
	c.json(&list, "request", "list")
	if len(list) != 5 {
		t.Fatalf("request list: %d requests, want 5", len(list))
	}
	if list[0].Kind != "alert" || list[4].Kind != "verification" {
		t.Errorf("request list is not newest first: %s ... %s", list[0].Kind, list[4].Kind)
	}
	for _, r := range list {
		if r.ID != ids[r.Kind] || r.Org != out.Org || r.Status != "open" || r.Responses != 0 || r.Title == "" {
			t.Errorf("listed %s: %+v", r.Kind, r)
		}
		if _, err := time.Parse(time.RFC3339, r.Created); err != nil {
			t.Errorf("listed %s: created %q: %v", r.Kind, r.Created, err)
		}
		if wantRegion := map[string]string{"referral": "TZ", "funding": "NI", "alert": "KE"}[r.Kind]; r.Region != wantRegion {
			t.Errorf("listed %s: region %q, want %q", r.Kind, r.Region, wantRegion)
		}
		if (r.RespondBy != nil) != (r.Kind == "letter") {
			t.Errorf("listed %s: respond_by %v", r.Kind, r.RespondBy)
		}
	}
	// The raw JSON has every field the contract names, respond_by null
	// where there is no deadline.
	var raw []map[string]any
	c.json(&raw, "request", "list")
	for _, r := range raw {
		for _, f := range []string{"id", "kind", "title", "region", "org", "status", "created", "respond_by", "responses"} {
			if _, ok := r[f]; !ok {
				t.Errorf("request list --json: no %q in %v", f, r)
			}
		}
	}

	c.json(&list, "request", "list", "--kind", "funding")
	if len(list) != 1 || list[0].ID != ids["funding"] {
		t.Errorf("request list --kind funding: %+v", list)
	}

	var d requestDetail
	c.json(&d, "request", "show", ids["letter"][:8])
	if d.ID != ids["letter"] || d.Kind != "letter" || d.RespondBy == nil || d.To == nil || d.Responses == nil {
		t.Fatalf("request show letter: %+v", d)
	}
	by, err := time.Parse(time.RFC3339, *d.RespondBy)
	if err != nil {
		t.Fatal(err)
	}
	if by.Before(start.Add(72*time.Hour).Add(-time.Second)) || by.After(end.Add(72*time.Hour)) {
		t.Errorf("--respond-by 72h gave %v; the command ran between %v and %v", by, start, end)
	}
	c.json(&d, "request", "show", ids["funding"][:8])
	if d.Amount == nil || *d.Amount != 4500 || d.Currency != "USD" || d.Region != "NI" {
		t.Errorf("request show funding: amount %v %q, region %q", d.Amount, d.Currency, d.Region)
	}
	c.json(&d, "request", "show", ids["verification"])
	if d.Body != "Name withheld; see the case file." || d.Status != "open" {
		t.Errorf("request show verification: %+v", d)
	}

	// One's own request takes comments.
	c.write("respond", ids["verification"][:8], "--type", "comment", "--body", "Still looking.")
	c.json(&d, "request", "show", ids["verification"][:12])
	if len(d.Responses) != 1 {
		t.Fatalf("responses after a comment: %+v", d.Responses)
	}
	if r := d.Responses[0]; !hexID.MatchString(r.ID) || r.Org != out.Org || r.Type != "comment" || r.Body != "Still looking." || r.Amount != nil || r.Created == "" {
		t.Errorf("the comment as shown: %+v", r)
	}

	c.write("request", "close", ids["alert"][:8])
	same := c.unchanged()
	r := c.run("request", "close", ids["alert"], "--json")
	refused(t, r, 1)
	same(r)
	c.json(&list, "request", "list", "--open")
	if len(list) != 4 || slices.ContainsFunc(list, func(r requestOut) bool { return r.ID == ids["alert"] }) {
		t.Errorf("request list --open after closing the alert: %+v", list)
	}
	c.json(&d, "request", "show", ids["alert"][:8])
	if d.Status != "closed" {
		t.Errorf("closed alert shows status %q", d.Status)
	}
	c.json(&list, "request", "list", "--kind", "alert", "--open")
	if len(list) != 0 {
		t.Errorf("request list --kind alert --open: %+v", list)
	}

	// Bodies from a file and from standard input, up to the limit.
	body := "Line one.\n\nLine three, with ünïcode.\n"
	path := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	id := c.write("request", "new", "--kind", "verification", "--title", "From a file", "--body-file", path)
	c.json(&d, "request", "show", id)
	if d.Body != body {
		t.Errorf("--body-file: body %q, want %q", d.Body, body)
	}
	id = c.input(body).write("request", "new", "--kind", "verification", "--title", "From stdin", "--body-file", "-")
	c.json(&d, "request", "show", id)
	if d.Body != body {
		t.Errorf("--body-file -: body %q, want %q", d.Body, body)
	}
	limit := crdt.MaxBodySize - 1024
	big := strings.Repeat("a", limit)
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	id = c.write("request", "new", "--kind", "verification", "--title", "At the limit", "--body-file", path)
	c.json(&d, "request", "show", id)
	if len(d.Body) != limit {
		t.Errorf("body at the limit came back with %d bytes, want %d", len(d.Body), limit)
	}
}

func TestCLIRefusals(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	verif := c.write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?")
	fund := c.write("request", "new", "--kind", "funding", "--title", "Relocation", "--amount", "4500", "--currency", "USD")

	tmp := t.TempDir()
	over := strings.Repeat("a", 70_000)
	overFile := filepath.Join(tmp, "over.txt")
	if err := os.WriteFile(overFile, []byte(over), 0o600); err != nil {
		t.Fatal(err)
	}
	madeUp := "5f0e6d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170"
	if strings.HasPrefix(verif, madeUp[:8]) || strings.HasPrefix(fund, madeUp[:8]) {
		t.Fatal("the made-up ID names a real request: pick another")
	}

	same := c.unchanged()
	for _, tc := range []struct {
		name  string
		code  int
		stdin string
		args  []string
	}{
		{"unknown request kind", 2, "", []string{"request", "new", "--kind", "petition", "--title", "x"}},
		{"unknown response type", 2, "", []string{"respond", verif, "--type", "applaud"}},
		{"region XX", 2, "", []string{"request", "new", "--kind", "alert", "--title", "x", "--region", "XX"}},
		{"region UK", 2, "", []string{"request", "new", "--kind", "referral", "--title", "x", "--region", "UK"}},
		{"three-letter region", 2, "", []string{"request", "new", "--kind", "alert", "--title", "x", "--region", "TZA"}},
		{"referral without a region", 2, "", []string{"request", "new", "--kind", "referral", "--title", "x"}},
		{"funding without an amount", 2, "", []string{"request", "new", "--kind", "funding", "--title", "x"}},
		{"amount without a currency", 2, "", []string{"request", "new", "--kind", "funding", "--title", "x", "--amount", "100"}},
		{"amount that is not a number", 2, "", []string{"request", "new", "--kind", "funding", "--title", "x", "--amount", "lots", "--currency", "USD"}},
		{"deadline that is not one", 2, "", []string{"request", "new", "--kind", "letter", "--title", "x", "--respond-by", "soon"}},
		{"control character in the title", 2, "", []string{"request", "new", "--kind", "verification", "--title", "a\x01b"}},
		{"response to a made-up request", 1, "", []string{"respond", madeUp, "--type", "comment"}},
		{"response to a too-short prefix", 2, "", []string{"respond", verif[:7], "--type", "comment"}},
		{"show a made-up request", 1, "", []string{"request", "show", madeUp}},
		{"close a made-up request", 1, "", []string{"request", "close", madeUp[:8]}},
		{"body file over the limit", 2, "", []string{"request", "new", "--kind", "verification", "--title", "x", "--body-file", overFile}},
		{"body on stdin over the limit", 2, over, []string{"request", "new", "--kind", "verification", "--title", "x", "--body-file", "-"}},
		{"body argument over the limit", 2, "", []string{"request", "new", "--kind", "verification", "--title", "x", "--body", over}},
		{"response body over the limit", 2, "", []string{"respond", verif, "--type", "comment", "--body", over}},
		{"missing body file", 2, "", []string{"request", "new", "--kind", "verification", "--title", "x", "--body-file", filepath.Join(tmp, "missing")}},
		{"both --body and --body-file", 2, "", []string{"request", "new", "--kind", "verification", "--title", "x", "--body", "b", "--body-file", overFile}},
		{"pledge to a verification request", 2, "", []string{"respond", verif, "--type", "pledge", "--amount", "100", "--currency", "USD"}},
		{"pledge to one's own request", 1, "", []string{"respond", fund, "--type", "pledge", "--amount", "100"}},
		{"vouch for one's own request", 1, "", []string{"respond", verif, "--type", "vouch"}},
		{"unknown flag", 2, "", []string{"status", "--frobnicate"}},
		{"unknown flag on a write", 2, "", []string{"request", "new", "--kind", "verification", "--title", "x", "--colour", "red"}},
		{"missing --title", 2, "", []string{"request", "new", "--kind", "verification"}},
		{"missing --kind", 2, "", []string{"request", "new", "--title", "x"}},
		{"missing --type", 2, "", []string{"respond", verif}},
		{"missing ID", 2, "", []string{"request", "show"}},
		{"extra argument", 2, "", []string{"status", "extra"}},
		{"init without --org", 2, "", []string{"init", "--no-passphrase"}},
		{"unknown command", 2, "", []string{"frobnicate"}},
		{"unknown subcommand", 2, "", []string{"request", "frobnicate"}},
		{"a group with no subcommand", 2, "", []string{"steward"}},
		{"revoke an unknown device", 1, "", []string{"device", "revoke", madeUp}},
		{"revoke a too-short prefix", 2, "", []string{"device", "revoke", out.Device[:4]}},
		{"list an unknown kind", 2, "", []string{"request", "list", "--kind", "petition"}},
	} {
		for _, asJSON := range []bool{false, true} {
			args := tc.args
			if asJSON {
				args = append(slices.Clip(args), "--json")
			}
			r := c.input(tc.stdin).run(args...)
			if errors.Is(r.startErr, syscall.E2BIG) { // the OS's limit on one argument is below ours
				t.Logf("%s: not tried: %v", tc.name, r.startErr)
				continue
			}
			refused(t, r, tc.code)
			same(r)
		}
	}
}

func TestCLISelfRevocation(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	req := c.write("request", "new", "--kind", "verification", "--title", "Before the seizure")
	c.write("device", "revoke", out.Device[:8], "--force", "--yes")

	st := c.status()
	if !st.DeviceRevoked {
		t.Errorf("status after revoking this device: device_revoked is false")
	}
	var members []struct {
		Devices []struct {
			Device  string `json:"device"`
			Revoked bool   `json:"revoked"`
		} `json:"devices"`
	}
	c.json(&members, "members")
	if len(members) != 1 || len(members[0].Devices) != 1 || !members[0].Devices[0].Revoked {
		t.Errorf("members after revoking this device: %+v", members)
	}

	same := c.unchanged()
	for _, args := range [][]string{
		{"request", "new", "--kind", "verification", "--title", "After the seizure"},
		{"respond", req, "--type", "comment", "--body", "still here"},
		{"directory", "set", "--name", "Alpha"},
		{"request", "close", req},
		{"device", "revoke", out.Device, "--yes"},
	} {
		r := c.run(append(args, "--json")...)
		refused(t, r, 1)
		// Who revoked it and when, in local time ("today 14:05", or
		// "Tue 1 Dec 23:59" just after midnight).
		if !revokedLine.MatchString(r.stderr) {
			t.Errorf("a write by a revoked device should say who revoked it and when:\n%s", r)
		}
		same(r)
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := c.ok(args...)
		if !strings.Contains(r.stdout, "usage: murmur COMMAND") || !strings.Contains(r.stdout, "\nexample:\n  murmur ") {
			t.Errorf("murmur %s does not print the usage with an example:\n%s", strings.Join(args, " "), r)
		}
		for _, cmd := range commands {
			if !strings.Contains(r.stdout, cmd.name) {
				t.Errorf("murmur %s does not list %q", strings.Join(args, " "), cmd.name)
			}
		}
	}
	for _, cmd := range commands {
		if cmd.run == nil {
			continue
		}
		words := strings.Fields(cmd.name)
		r := c.ok(append(words, "--help")...)
		if strings.Count(r.stdout, "usage: murmur "+cmd.name) != 1 || !strings.Contains(r.stdout, "\nexample:\n  murmur "+cmd.name) {
			t.Errorf("murmur %s --help should print the usage once, with an example:\n%s", cmd.name, r)
		}
		if again := c.ok(append([]string{"help"}, words...)...); again.stdout != r.stdout {
			t.Errorf("murmur help %s differs from murmur %s --help", cmd.name, cmd.name)
		}
	}
	r := c.ok("request", "new", "--help")
	for _, flag := range []string{"-kind", "-title", "-body-file", "-region", "-respond-by", "-amount", "-currency", "-dir", "-json"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("request new --help does not explain %s", flag)
		}
	}
	refused(t, c.run("help", "nonsense"), 2)
	refused(t, c.run("nonsense"), 2)
}
