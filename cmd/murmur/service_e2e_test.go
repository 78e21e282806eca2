//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
)

// A node run as a service takes its passphrase from a file, or from
// systemd's credential, with no terminal and nothing in its environment;
// SIGHUP reloads nothing and stops nothing; SIGTERM stops it cleanly.
func TestCLIRunsAsAService(t *testing.T) {
	t.Parallel()
	c := newCLI(t, t.TempDir())
	var out initOut
	c.with("MURMUR_PASSPHRASE=correct horse battery staple").json(&out, "init", "--org", "Alpha Fund")

	files := t.TempDir()
	file := filepath.Join(files, "passphrase")
	if err := os.WriteFile(file, []byte("correct horse battery staple\n"), 0o600); err != nil { // (an editor's line break)
		t.Fatal(err)
	}
	c.with("MURMUR_PASSPHRASE_FILE=" + file).ok("status")
	// (standard input, as the README's commands for the running node give
	// it: the file needs no reader but root)
	c.with("MURMUR_PASSPHRASE_FILE=/dev/stdin").input("correct horse battery staple\n").ok("status")
	// systemd's LoadCredential=murmur-passphrase:… gives the service a
	// directory holding it.
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "murmur-passphrase"), []byte("correct horse battery staple"), 0o400); err != nil {
		t.Fatal(err)
	}
	c.with("CREDENTIALS_DIRECTORY=" + creds).ok("status")

	// A file that is not there, empty or wrong is said so, not asked for.
	// A wrong passphrase is named by where it came from (a service has
	// no prompt to try again at), with what an editor may have added.
	write := func(name, text string) string {
		f := filepath.Join(files, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	wrong := write("wrong", "incorrect horse\n")
	empty := write("empty", "")
	bom := write("bom", "\ufeffcorrect horse battery staple\n")
	spaces := write("spaces", "correct horse battery staple  \n")
	twoBreaks := write("two-breaks", "correct horse battery staple\r\n\r\n")
	utf16 := write("utf16", "\xff\xfec\x00o\x00r\x00r\x00e\x00c\x00t\x00\r\x00\n\x00") // (Notepad's "Unicode")
	wrongCreds := t.TempDir()
	os.WriteFile(filepath.Join(wrongCreds, "murmur-passphrase"), []byte(" incorrect horse"), 0o400)
	for _, tc := range []struct {
		env  []string
		code int
		says []string
	}{
		{[]string{"MURMUR_PASSPHRASE_FILE=" + filepath.Join(files, "missing")}, 2, []string{"missing"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + empty}, 2, []string{"is empty"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + wrong}, 1, []string{"wrong passphrase: the one in " + wrong + " (MURMUR_PASSPHRASE_FILE)"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + bom}, 1, []string{bom, "byte-order mark"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + spaces}, 1, []string{spaces, "ends with spaces"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + twoBreaks}, 1, []string{twoBreaks, "more than one line break"}},
		{[]string{"MURMUR_PASSPHRASE=incorrect horse"}, 1, []string{"wrong passphrase: the one MURMUR_PASSPHRASE gives"}},
		{[]string{"MURMUR_PASSPHRASE=incorrect horse", "MURMUR_PASSPHRASE_FILE=" + file}, 1, []string{"MURMUR_PASSPHRASE gives, which comes before MURMUR_PASSPHRASE_FILE"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + utf16}, 1, []string{utf16, "UTF-16"}},
		{[]string{"MURMUR_PASSPHRASE=correct horse battery staple\n"}, 1, []string{"MURMUR_PASSPHRASE gives, and it ends with a line break"}},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + wrong, "CREDENTIALS_DIRECTORY=" + creds}, 1, []string{wrong, "comes before the service's credential"}},
		{[]string{"CREDENTIALS_DIRECTORY=" + wrongCreds}, 1, []string{"credential murmur-passphrase", "starts with spaces"}},
		// (credentials without the passphrase's: the unit lacks its line)
		{[]string{"CREDENTIALS_DIRECTORY=" + t.TempDir()}, 1, []string{"hold none named murmur-passphrase", "LoadCredential=murmur-passphrase:"}},
	} {
		r := c.with(tc.env...).run("status")
		refused(t, r, tc.code)
		for _, says := range tc.says {
			if !strings.Contains(r.stderr, says) {
				t.Errorf("%s: should say %q:\n%s", tc.env, says, r)
			}
		}
		if strings.Contains(r.stderr, "can read the passphrase") {
			t.Errorf("%s: warned of a file only its owner can read:\n%s", tc.env, r)
		}
	}
	r := c.with("MURMUR_PASSPHRASE_FILE=/dev/stdin").input("incorrect horse\n").run("status")
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "the one read from standard input") {
		t.Errorf("a wrong passphrase on standard input should be named so:\n%s", r)
	}

	// Run with a log for a collector, the line that says why it stopped
	// says it all too, and nothing on the way is out of the log's format.
	os.Chmod(spaces, 0o644)
	r = c.with("MURMUR_PASSPHRASE_FILE="+spaces).run("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "off", "--log-format", "json")
	if r.code != 1 {
		t.Errorf("want exit 1:\n%s", r)
	}
	for l := range strings.Lines(r.stderr) {
		var line struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("not a JSON line: %q", l)
		}
	}
	if !strings.Contains(r.stderr, "ends with spaces") || !strings.Contains(r.stderr, "can read the passphrase") {
		t.Errorf("the JSON log lost what the text says:\n%s", r.stderr)
	}
	os.Chmod(spaces, 0o600)

	// A passphrase file others can read works, with a warning.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	r = c.with("MURMUR_PASSPHRASE_FILE=" + file).run("status")
	if r.code != 0 || !strings.Contains(r.stderr, "Warning: other accounts on this computer can read the passphrase in "+file) || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("a passphrase file others can read should be warned of:\n%s", r)
	}
	os.Chmod(file, 0o600)

	// The service itself.
	rn := c.with("CREDENTIALS_DIRECTORY="+creds).start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	rn.addr(t)
	if err := rn.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "SIGHUP is answered", func() bool { return strings.Contains(rn.stderr.String(), "SIGHUP: nothing to reload") })
	select {
	case <-rn.done:
		t.Fatalf("SIGHUP stopped the node: %v\n%s", rn.err, rn.stderr.String())
	default:
	}
	took := rn.stop(t, syscall.SIGTERM)
	if rn.err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", rn.err, rn.stderr.String())
	}
	t.Logf("stopped %v after SIGTERM", took.Round(time.Millisecond))
}

// MURMUR_PASSPHRASE_FILE=/dev/stdin (or -) reads standard input as it was
// handed over. Opened again by its name, a file redirected by root (sudo
// -u murmur … < /etc/murmur/passphrase, the README's command) was checked
// against the murmur user, and refused: the README's setup failed at its
// first murmur command. Here standard input is a reader, not the test
// process's own: opening /dev/stdin would find nothing there.
func TestPassphraseFromStandardInputAsHandedOver(t *testing.T) {
	for _, name := range []string{"/dev/stdin", "-"} {
		e := &env{ctx: context.Background(), stdin: strings.NewReader("correct horse battery staple\n"), getenv: func(k string) string {
			if k == "MURMUR_PASSPHRASE_FILE" {
				return name
			}
			return ""
		}}
		p, ok, err := passphraseGiven(e)
		if err != nil || !ok || string(p) != "correct horse battery staple" {
			t.Errorf("MURMUR_PASSPHRASE_FILE=%s: %q, %v, %v", name, p, ok, err)
		}
	}
}

// Closing the terminal murmur run was started from (its window, an SSH
// session: the kernel sends SIGHUP) stops the node, as Ctrl-C does; only
// a service takes SIGHUP for "reload nothing". It used to go on running
// unseen, listening, its directory locked.
func TestClosingTheTerminalStopsTheNode(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux), which gives the node a terminal, is not installed")
	}
	c, _ := founded(t)
	cmd := exec.Command(script, "-qfec", murmurBinary(t)+" run --listen /ip4/127.0.0.1/tcp/0 --no-mdns --ui-listen off", "/dev/null")
	cmd.Env = append(slices.Clip(c.env), "MURMUR_DIR="+c.dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	eventually(t, 30*time.Second, "the node runs", func() bool { _, ok := node.Running(c.dir); return ok })
	pid, _ := node.Running(c.dir)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // (if it went on)
	cmd.Process.Kill()                                       // the terminal goes away
	eventually(t, 30*time.Second, "the node stops", func() bool { return syscall.Kill(pid, 0) != nil })
}

// A command waiting for its passphrase stops on SIGTERM (or Ctrl-C): here
// the passphrase file is a FIFO no one writes to, which used to hold the
// command until SIGKILL. It says so, and changes nothing.
func TestStoppedWhileWaitingForThePassphrase(t *testing.T) {
	t.Parallel()
	c := newCLI(t, t.TempDir())
	c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("init", "--org", "Alpha Fund")
	before := c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("status", "--json").stdout
	fifo := filepath.Join(t.TempDir(), "passphrase")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}} {
		rn := c.with("MURMUR_PASSPHRASE_FILE=" + fifo).start(args...)
		eventually(t, 30*time.Second, "murmur waits on the FIFO", func() bool { return onFIFO(rn.cmd.Process.Pid) })
		rn.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-rn.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("murmur %s: still waiting for the passphrase after SIGTERM", args[0])
		}
		if !strings.Contains(rn.stderr.String(), "stopped") {
			t.Errorf("murmur %s stopped at the passphrase says: %q", args[0], rn.stderr.String())
		}
	}
	if after := c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("status", "--json").stdout; after != before {
		t.Errorf("the directory changed:\n%s\n%s", before, after)
	}
}

// onFIFO reports whether a thread of process pid waits to open a FIFO
// (Linux: the kernel function it sleeps in).
func onFIFO(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, f := range tasks {
		if b, _ := os.ReadFile(f); string(b) == "wait_for_partner" {
			return true
		}
	}
	return false
}

// A stop asked for while murmur run is still starting is a stop, not a
// failure: it exits 0 (a service manager marked the unit failed, and
// launchd would start it again). The stop lands while it waits for its
// passphrase, then just after it has been given it (opening the
// database, starting the network, or running already).
func TestStoppedWhileStartingIsNoFailure(t *testing.T) {
	t.Parallel()
	c := newCLI(t, t.TempDir())
	c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("init", "--org", "Alpha Fund")
	for _, give := range []bool{false, true} {
		fifo := filepath.Join(t.TempDir(), "passphrase")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		rn := c.with("MURMUR_PASSPHRASE_FILE="+fifo).start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
		eventually(t, 30*time.Second, "murmur run waits for its passphrase", func() bool { return onFIFO(rn.cmd.Process.Pid) })
		if give {
			if err := os.WriteFile(fifo, []byte("correct horse battery staple\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		rn.cmd.Process.Signal(syscall.SIGTERM)
		<-rn.done
		if code := rn.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("stopped (passphrase given: %v): exit %d\n%s", give, code, rn.stderr.String())
		}
	}
}

// Root running a command on a data directory another user owns (the
// service's, /var/lib/murmur) is refused, saying whose it is and how to
// run it: what root wrote there (a repaired database, the write-ahead
// log, a join's files) the service's node could not open, and it no
// longer started. Only wipe may go ahead.
func TestRootIsRefusedAnotherUsersDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
	c, _ := founded(t)
	const nobody = 65534
	filepath.WalkDir(c.dir, func(p string, _ os.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, nobody, nobody)
		}
		return err
	})
	before := map[string]bool{}
	entries, _ := os.ReadDir(c.dir)
	for _, e := range entries {
		before[e.Name()] = true
	}
	for _, args := range [][]string{{"status"}, {"repair", "--force"}, {"doctor"}, {"request", "new", "--kind", "verification", "--title", "t"}, {"run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}} {
		r := c.run(args...)
		refused(t, r, 2)
		if !strings.Contains(r.stderr, "runs as root") || !strings.Contains(r.stderr, "sudo -u ") {
			t.Errorf("murmur %s as root on another user's directory: %q", args[0], r.stderr)
		}
	}
	entries, _ = os.ReadDir(c.dir)
	for _, e := range entries {
		fi, _ := e.Info()
		if st := fi.Sys().(*syscall.Stat_t); !before[e.Name()] || st.Uid != nobody {
			t.Errorf("%s: written by root", e.Name())
		}
	}
	c.ok("wipe", "--yes")
}

// A command given --dir suggests the next ones with the same --dir,
// written so that a shell reads the directory back whole: a newcomer who
// copies a suggested line opens the data directory just made, not the
// default one.
func TestSuggestionsKeepTheDataDirectory(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "") // (no MURMUR_DIR)
	dir := filepath.Join(t.TempDir(), "Alpha's data")
	r := c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("init", "--org", "Alpha Fund", "--dir", dir)
	var status string
	for l := range strings.Lines(r.stdout) {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "murmur ") && !strings.Contains(l, "--dir") {
			t.Errorf("a suggestion without --dir: %q", l)
		}
		if strings.HasPrefix(l, "murmur status") {
			status = l
		}
	}
	if status == "" {
		t.Fatalf("init suggests no murmur status:\n%s", r.stdout)
	}
	// The line as a person would paste it into a shell.
	sh := exec.Command("sh", "-c", strings.Replace(status, "murmur", murmurBinary(t), 1))
	sh.Env = append(slices.Clip(c.env), "MURMUR_PASSPHRASE=correct horse battery staple")
	out, err := sh.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Alpha Fund") {
		t.Fatalf("%s: %v\n%s", status, err, out)
	}

	// Without --dir, none.
	d := newCLI(t, t.TempDir())
	r = d.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("init", "--org", "Beta Fund")
	if strings.Contains(r.stdout, "--dir") {
		t.Errorf("suggestions name --dir, which was not given:\n%s", r.stdout)
	}
}

func TestShellWord(t *testing.T) {
	for s, want := range map[string]string{
		"/var/lib/murmur":   "/var/lib/murmur",
		"/home/a/my data":   "'/home/a/my data'",
		"/home/a/it's":      `'/home/a/it'\''s'`,
		"~/x":               "'~/x'",
		"/tmp/$HOME":        "'/tmp/$HOME'",
		"/home/zoë/données": "/home/zoë/données",
		"/tmp/a\nb":         `$'/tmp/a\x0ab'`,
		"/it's\x1b[31m":     `$'/it\'s\x1b[31m'`,
		"/c1\u0085":         `$'/c1\xc2\x85'`,
	} {
		got := shellWord(s)
		if got != want {
			t.Errorf("shellWord(%q) = %s, want %s", s, got, want)
		}
		if bash, err := exec.LookPath("bash"); err == nil { // (what a person's shell reads back)
			out, err := exec.Command(bash, "-c", "printf %s "+got).Output()
			if err != nil || string(out) != s {
				t.Errorf("bash reads %s back as %q (%v), not %q", got, out, err, s)
			}
		}
	}
}

// A passphrase chosen for a service (init, join, a backup's) must open the
// key later, typed as well as given: one holding what an editor added
// (a byte-order mark, spaces, a second line) is refused, and so is one
// given two ways at once. Nothing is created.
func TestInitRefusesAnOddPassphrase(t *testing.T) {
	t.Parallel()
	files := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(files, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		env  []string
		says string
	}{
		{[]string{"MURMUR_PASSPHRASE_FILE=" + write("bom", "\ufeffcorrect horse battery staple\n")}, "byte-order mark"},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + write("space", "correct horse battery staple \n")}, "ends with spaces or tabs"},
		{[]string{"MURMUR_PASSPHRASE_FILE=" + write("lines", "correct horse\nbattery staple\n")}, "has more than one line"},
		{[]string{"MURMUR_PASSPHRASE= correct horse battery staple"}, "starts with spaces"},
		{[]string{"MURMUR_PASSPHRASE=correct horse battery staple", "MURMUR_PASSPHRASE_FILE=" + write("ok", "correct horse battery staple\n")}, "both set"},
		{[]string{"MURMUR_PASSPHRASE=" + strings.Repeat("c", 4097)}, "too long"},
	} {
		c := newCLI(t, filepath.Join(t.TempDir(), "data"))
		r := c.with(tc.env...).run("init", "--org", "Alpha Fund")
		refused(t, r, 2)
		if !strings.Contains(r.stderr, tc.says) || !strings.Contains(r.stderr, "nothing was created") {
			t.Errorf("%s: should say so, and that nothing was created:\n%s", tc.says, r)
		}
		if _, err := os.Stat(c.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused init left %s", tc.says, c.dir)
		}
	}
	// The longest passphrase init takes is read back from a file, line
	// break and all.
	long := strings.Repeat("c", 4096)
	c := newCLI(t, t.TempDir())
	c.with("MURMUR_PASSPHRASE="+long).ok("init", "--org", "Alpha Fund")
	c.with("MURMUR_PASSPHRASE_FILE=" + write("long", long+"\r\n")).ok("status")
}

// MURMUR_PASSPHRASE_FILE=- on a terminal (the README's command typed
// without its `cat … |`) asks for the passphrase unseen, as the prompt
// does, rather than reading what is typed in plain sight.
func TestPassphraseFromATerminalIsNotEchoed(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux), which gives the command a terminal, is not installed")
	}
	const pass = "correct horse battery staple"
	c := newCLI(t, t.TempDir())
	c.with("MURMUR_PASSPHRASE="+pass).ok("init", "--org", "Alpha Fund")
	cmd := exec.Command(script, "-qfec", murmurBinary(t)+" status", "/dev/null")
	cmd.Env = append(slices.Clip(c.env), "MURMUR_DIR="+c.dir, "MURMUR_PASSPHRASE_FILE=-")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	eventually(t, 30*time.Second, "the passphrase is asked for", func() bool { return strings.Contains(out.String(), "Passphrase for") })
	fmt.Fprintf(in, "%s\n", pass)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "Alpha Fund") {
			t.Fatalf("status with the passphrase typed: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("status did not end:\n%s", out.String())
	}
	if strings.Contains(out.String(), "horse") {
		t.Errorf("the passphrase typed was shown:\n%s", out.String())
	}
}

// A data directory the command may not read (another user's, the command
// run without sudo -u) is said so, with whose it is: never "no node here:
// run murmur init", which would found another network.
func TestUnreadableDirectoryIsNotAnEmptyOne(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as another user (CI runs as root)")
	}
	c, _ := founded(t)
	// Another user may reach the directory, not read it; and may run the
	// program.
	for d := filepath.Dir(c.dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(c.dir), "murmur")
	if b, err := os.ReadFile(murmurBinary(t)); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copying the program", err)
	}
	const nobody = 65534
	for _, args := range [][]string{{"status"}, {"doctor"}, {"request", "list"}} {
		cmd := exec.Command(bin, append(args, "--dir", c.dir)...)
		cmd.Env = append(slices.Clip(c.env), "MURMUR_PASSPHRASE=correct horse battery staple")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "init") || !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "belongs to the user root") {
			t.Errorf("murmur %s as another user: %v\n%s", args[0], err, out)
		}
	}
}

// What a command suggests in its errors and findings names the --dir it
// was given: copied, it acts on the same data directory.
func TestAdviceKeepsTheDataDirectory(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	dir := filepath.Join(t.TempDir(), "no node here")
	r := c.run("status", "--dir", dir)
	refused(t, r, 1)
	if want := "`murmur init --org NAME --dir " + shellWord(dir) + "`"; !strings.Contains(r.stderr, want) {
		t.Errorf("want %s in:\n%s", want, r)
	}
	// (e.withDir, on what the node's messages suggest)
	e := &env{dir: "/srv/my data"}
	for in, want := range map[string]string{
		"run `murmur repair`: then `murmur run` fetches the rest": "run `murmur repair --dir '/srv/my data'`: then `murmur run --dir '/srv/my data'` fetches the rest",
		"(`murmur restore FILE --dir NEWDIR`), or `murmur wipe`":  "(`murmur restore FILE --dir NEWDIR`), or `murmur wipe --dir '/srv/my data'`",
		"no command here, `not murmur` and an unclosed `murmur x": "no command here, `not murmur` and an unclosed `murmur x",
	} {
		if got := e.withDir(in); got != want {
			t.Errorf("withDir(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestBrowserIsNotGivenThePassphrase(t *testing.T) {
	got := withoutSecrets([]string{"PATH=/bin", "MURMUR_PASSPHRASE=secret", "MURMUR_PASSPHRASE_FILE=/etc/p", "CREDENTIALS_DIRECTORY=/run/c", "DISPLAY=:0", "MURMUR_DIR=/d"})
	if want := []string{"PATH=/bin", "DISPLAY=:0", "MURMUR_DIR=/d"}; !slices.Equal(got, want) {
		t.Errorf("withoutSecrets = %q, want %q", got, want)
	}
}

// A passphrase file another user owns is warned of: that user can read it,
// whatever its mode says.
func TestPassphraseFileOfAnotherUserIsWarnedOf(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the file to another user (CI runs as root)")
	}
	c := newCLI(t, t.TempDir())
	c.with("MURMUR_PASSPHRASE=correct horse battery staple").ok("init", "--org", "Alpha Fund")
	file := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(file, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.with("MURMUR_PASSPHRASE_FILE=" + file).ok("status") // root's: no warning
	const nobody = 65534
	if err := os.Chown(file, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	r := c.with("MURMUR_PASSPHRASE_FILE=" + file).run("status")
	if r.code != 0 || !strings.Contains(r.stderr, "belongs to the user ") || strings.Contains(r.stderr, "other accounts") {
		t.Errorf("a passphrase file another user owns (mode 0600):\n%s", r)
	}
}
