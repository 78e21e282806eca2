//go:build linux

package main

// Proof that commands open no socket: the real binary runs under a seccomp
// filter that kills the process with SIGSYS the moment it calls socket(2)
// or socketpair(2). The filter is installed by this test binary, re-run as
// a helper (TestNoNetworkHelper), which then execs murmur; the filter and
// no_new_privs survive execve and are inherited by every thread and child.
// TestNoNetworkHarnessBites shows that the filter does kill a command that
// needs the network, so the others cannot pass vacuously.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The helper's environment; none of it reaches murmur.
const (
	nonetExecEnv    = "MURMUR_NONET_EXEC"    // the binary to exec under the filter; unset: TestNoNetworkHelper does nothing
	nonetNetlinkEnv = "MURMUR_NONET_NETLINK" // "1": socket(AF_NETLINK, ...) is allowed
	nonetTrapEnv    = "MURMUR_NONET_TRAP"    // "1": SECCOMP_RET_TRAP instead of killing, for a Go traceback
	nonetFailPrefix = "nonet helper: "       // starts the helper's own errors on stderr
	nonetFailCode   = 125                    // the helper's exit status when it could not set up or exec
)

// offlineOpts adjusts the filter for one command.
type offlineOpts struct {
	// allowNetlink lets socket(AF_NETLINK, ...) through: a netlink socket
	// only talks to the local kernel (net.InterfaceAddrs uses one to list
	// this machine's addresses); every other family still kills.
	allowNetlink bool
	// trap makes a forbidden call raise a catchable SIGSYS instead of
	// killing outright: the Go runtime then dies printing the goroutine
	// that made the call. Only for diagnosis (see okOfflineWith).
	trap bool
	// timeout bounds the command (default: a minute, as c.run).
	timeout time.Duration
}

// offlineResult is a command run under the filter.
type offlineResult struct {
	result
	sigsys bool // the filter stopped it: it tried to create a socket
}

func (r offlineResult) String() string {
	s := r.result.String()
	if r.sigsys {
		s = "KILLED BY SIGSYS (it tried to create a socket)\n" + s
	}
	return s
}

// runOffline runs murmur as c.run does (same environment, MURMUR_DIR and
// stdin), with socket creation forbidden.
func (c *cli) runOffline(args ...string) offlineResult {
	c.t.Helper()
	return c.runOfflineWith(offlineOpts{}, args...)
}

func (c *cli) runOfflineWith(o offlineOpts, args ...string) offlineResult {
	c.t.Helper()
	skipUnlessNonetArch(c.t)
	self, err := os.Executable()
	if err != nil {
		c.t.Fatalf("finding the test binary: %v", err)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, append([]string{"-test.run=^TestNoNetworkHelper$", "--"}, args...)...)
	cmd.Env = append(slices.Clip(c.env), nonetExecEnv+"="+murmurBinary(c.t))
	if c.dir != "" {
		cmd.Env = append(cmd.Env, "MURMUR_DIR="+c.dir)
	}
	if o.allowNetlink {
		cmd.Env = append(cmd.Env, nonetNetlinkEnv+"=1")
	}
	if o.trap {
		cmd.Env = append(cmd.Env, nonetTrapEnv+"=1")
	}
	if c.stdin != "" {
		cmd.Stdin = strings.NewReader(c.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := offlineResult{result: result{args: args, stdout: stdout.String(), stderr: withoutSlowOpen(stderr.String())}}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
			r.sigsys = true
		}
		// In trap mode the Go runtime catches the SIGSYS and exits 2.
		if o.trap && strings.Contains(r.stderr, "SIGSYS") {
			r.sigsys = true
		}
	case err != nil:
		r.code, r.startErr = -1, err
	}
	if ctx.Err() != nil {
		c.t.Fatalf("still running after %v, killed:\n%s", timeout, r)
	}
	if r.code == nonetFailCode && strings.HasPrefix(r.stderr, nonetFailPrefix) {
		c.t.Fatalf("the no-network harness failed, murmur did not run: %s", strings.TrimSpace(r.stderr))
	}
	return r
}

// skipUnlessNonetArch skips on architectures the filter is not written for.
func skipUnlessNonetArch(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("the no-network seccomp harness is written for linux/amd64 and linux/arm64 only, not linux/%s", runtime.GOARCH)
	}
}

// okOffline runs a command under the filter that must succeed, with a
// quiet stderr, and open no socket.
func (c *cli) okOffline(args ...string) result {
	c.t.Helper()
	return c.okOfflineWith(offlineOpts{}, args...)
}

func (c *cli) okOfflineWith(o offlineOpts, args ...string) result {
	c.t.Helper()
	r := c.runOfflineWith(o, args...)
	if r.startErr != nil {
		c.t.Fatalf("running murmur %s: %v", strings.Join(args, " "), r.startErr)
	}
	if r.sigsys {
		// Again in trap mode, for the stack of the call. The state may
		// hold what the first run wrote before it died: the test has failed.
		o.trap = true
		trace := c.runOfflineWith(o, args...).stderr
		if len(trace) > 8000 { // the caller is in the first goroutine shown
			trace = trace[:8000] + "\n..."
		}
		c.t.Fatalf("murmur %s tried to create a socket:\n%s\n\nrun again in trap mode, where the Go runtime shows the caller:\n%s",
			strings.Join(args, " "), r, trace)
	}
	if r.code != 0 || r.stderr != "" {
		c.t.Fatalf("want success and a quiet stderr with no network:\n%s", r)
	}
	return r.result
}

// jsonOffline runs a command with --json under the filter that must
// succeed, and decodes its output.
func (c *cli) jsonOffline(v any, args ...string) {
	c.t.Helper()
	r := c.okOffline(append(args, "--json")...)
	oneJSON(c.t, r, v)
}

// TestNoNetworkHelper is not a test: run with nonetExecEnv set, it puts
// this process under the no-socket filter and becomes the named binary
// with the arguments after "--". Otherwise it does nothing.
func TestNoNetworkHelper(t *testing.T) {
	path := os.Getenv(nonetExecEnv)
	if path == "" {
		return
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, nonetFailPrefix+format+"\n", args...)
		os.Exit(nonetFailCode)
	}
	allowNetlink, trap := os.Getenv(nonetNetlinkEnv) == "1", os.Getenv(nonetTrapEnv) == "1"
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MURMUR_NONET_") {
			env = append(env, kv)
		}
	}
	filter, err := noSocketFilter(runtime.GOARCH, allowNetlink, trap)
	if err != nil {
		fail("%v", err)
	}
	// The filter is per thread: lock this goroutine to its thread, so
	// that the thread which installs it (TSYNC also gives it to the
	// others) is the one that calls execve.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("prctl(PR_SET_NO_NEW_PRIVS): %v", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		fail("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %v", errno)
	}
	if r1 != 0 { // TSYNC: the ID of a thread that could not take the filter
		fail("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d could not be synchronised", r1)
	}
	err = syscall.Exec(path, append([]string{path}, flag.Args()...), env)
	fail("exec %s: %v", path, err)
}

// noSocketFilter is a classic BPF program over struct seccomp_data (nr at
// offset 0, arch at 4, args[0] at 16: its low 32 bits on these
// little-endian architectures, and socket(2)'s domain is an int, so they
// are all the kernel reads):
//
//	arch != this architecture's AUDIT_ARCH → kill the process
//	amd64: nr >= 0x40000000 (the x32 ABI numbers socket differently) → deny
//	nr == socketpair → deny
//	nr == socket → deny; with allowNetlink, allow if domain == AF_NETLINK
//	anything else → allow
//
// deny is SECCOMP_RET_KILL_PROCESS (SIGSYS, which cannot be caught), or
// with trap SECCOMP_RET_TRAP. socketpair(2) only makes local AF_UNIX pairs,
// but murmur has no use for it, and a rule with no exceptions is easier to
// trust. The syscall numbers are the compiling architecture's, which is
// the one the filter is for (goarch is runtime.GOARCH).
func noSocketFilter(goarch string, allowNetlink, trap bool) ([]unix.SockFilter, error) {
	var arch uint32
	switch goarch {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return nil, fmt.Errorf("no seccomp filter for %s", goarch)
	}
	deny := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	if trap {
		deny = unix.SECCOMP_RET_TRAP
	}

	// A tiny assembler: jumps name their targets ("" is the next
	// instruction), resolved at the end.
	type insn struct {
		f      unix.SockFilter
		jt, jf string
	}
	var prog []insn
	labels := map[string]int{}
	label := func(name string) { labels[name] = len(prog) }
	load := func(off uint32) {
		prog = append(prog, insn{f: unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}})
	}
	jump := func(op uint16, k uint32, jt, jf string) {
		prog = append(prog, insn{f: unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k}, jt: jt, jf: jf})
	}
	ret := func(k uint32) { prog = append(prog, insn{f: unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}}) }

	const offNr, offArch, offArg0 = 0, 4, 16
	load(offArch)
	jump(unix.BPF_JEQ, arch, "", "killArch")
	load(offNr)
	if goarch == "amd64" {
		jump(unix.BPF_JGE, 0x40000000, "deny", "")
	}
	jump(unix.BPF_JEQ, unix.SYS_SOCKETPAIR, "deny", "")
	if allowNetlink {
		jump(unix.BPF_JEQ, unix.SYS_SOCKET, "", "allow")
		load(offArg0)
		jump(unix.BPF_JEQ, unix.AF_NETLINK, "allow", "deny")
	} else {
		jump(unix.BPF_JEQ, unix.SYS_SOCKET, "deny", "allow")
	}
	label("deny")
	ret(deny)
	label("allow")
	ret(unix.SECCOMP_RET_ALLOW)
	label("killArch")
	ret(unix.SECCOMP_RET_KILL_PROCESS)

	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		out[i] = in.f
		for _, j := range []struct {
			name string
			dst  *uint8
		}{{in.jt, &out[i].Jt}, {in.jf, &out[i].Jf}} {
			if j.name == "" {
				continue
			}
			to, ok := labels[j.name]
			if !ok || to <= i || to-i-1 > 255 {
				return nil, fmt.Errorf("bad jump from %d to %q", i, j.name)
			}
			*j.dst = uint8(to - i - 1)
		}
	}
	return out, nil
}

// The control: `murmur run` must listen, so the filter kills it, quickly.
// Without this the tests below could pass with a filter that does nothing.
func TestNoNetworkHarnessBites(t *testing.T) {
	t.Parallel()
	skipUnlessNonetArch(t)
	c, _ := founded(t)
	runArgs := []string{"run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	for _, tc := range []struct {
		name string
		o    offlineOpts
	}{
		{"strict", offlineOpts{}},
		{"netlink allowed", offlineOpts{allowNetlink: true}}, // still no TCP or UDP socket
		{"trap", offlineOpts{trap: true}},
	} {
		start := time.Now()
		tc.o.timeout = 2 * time.Minute // a hang guard: the socket call ends it long before
		r := c.runOfflineWith(tc.o, runArgs...)
		if r.startErr != nil {
			t.Fatalf("%s: %v", tc.name, r.startErr)
		}
		if !r.sigsys {
			t.Errorf("%s: murmur run was not stopped by SIGSYS:\n%s", tc.name, r)
			continue
		}
		// In trap mode the Go runtime names the caller.
		if tc.o.trap && !strings.Contains(r.stderr, "socket") {
			t.Errorf("trap mode: no socket call in the traceback:\n%s", r.stderr)
		}
		t.Logf("%s: killed by SIGSYS after %v", tc.name, time.Since(start).Round(time.Millisecond))
	}
}

// Every command that reads or writes the local state works with no
// network at all, and does not try to open any.
func TestOfflineCommandsOpenNoSocket(t *testing.T) {
	t.Parallel()
	skipUnlessNonetArch(t)
	c, out := founded(t)
	c.okOffline("status")
	var st statusOut
	c.jsonOffline(&st, "status")
	if st.Org != out.Org || st.Entries != 3 { // genesis, the founders' key, the secret's check
		t.Fatalf("status --json with no network: %+v", st)
	}
	c.okOffline("members")
	var members []map[string]any
	c.jsonOffline(&members, "members")
	if len(members) != 1 {
		t.Errorf("members --json with no network: %v", members)
	}
	c.okOffline("steward", "list")

	entries := st.Entries
	write := func(args ...string) string {
		t.Helper()
		var id idOutput
		c.jsonOffline(&id, args...)
		if !hexID.MatchString(id.ID) {
			t.Fatalf("%s: id %q", strings.Join(args, " "), id.ID)
		}
		entries++
		return id.ID
	}

	write("directory", "set", "--regions", "TZ,KE", "--offers", "legal-aid", "--languages", "en,sw", "--groups", "journalists")
	c.okOffline("directory", "set", "--name", "Alpha Legal Desk") // and in human form
	entries++
	c.okOffline("directory", "list")
	var dir []directoryOut
	c.jsonOffline(&dir, "directory", "list", "--region", "TZ", "--offers", "legal-aid")
	if len(dir) != 1 || dir[0].ListedAs != "Alpha Legal Desk" {
		t.Errorf("directory list --json with no network: %+v", dir)
	}

	req := write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?", "--body", "Name withheld.")
	c.okOffline("request", "new", "--kind", "alert", "--title", "Office raided", "--region", "KE")
	entries++
	c.okOffline("request", "list")
	c.okOffline("request", "list", "--inbox")
	var list []requestOut
	c.jsonOffline(&list, "request", "list", "--kind", "verification")
	if len(list) != 1 || list[0].ID != req {
		t.Errorf("request list --json with no network: %+v", list)
	}
	c.okOffline("request", "show", req[:8])
	write("respond", req[:8], "--type", "comment", "--body", "x")
	var d requestDetail
	c.jsonOffline(&d, "request", "show", req)
	if len(d.Responses) != 1 || d.Responses[0].Body != "x" {
		t.Errorf("request show --json with no network: %+v", d)
	}
	write("request", "close", req[:8])
	c.okOffline("request", "show", req)
	// Refusals take the same paths to the store, and stop there.
	for _, args := range [][]string{{"request", "close", req, "--json"}, {"request", "show", strings.Repeat("0", 64)}} {
		r := c.runOffline(args...)
		if r.sigsys {
			t.Fatalf("a refusal tried to create a socket:\n%s", r)
		}
		refused(t, r.result, 1)
	}

	// An invite with the address given, and one for a device, in both
	// forms. Their codes are usable by join, which is offline too.
	const addr = "/ip4/192.0.2.7/tcp/4721"
	var code codeOut
	c.jsonOffline(&code, "invite", "--addr", addr, "--expires", "1h")
	entries++
	c.okOffline("invite", "--addr", addr, "--qr")
	entries++
	c.okOffline("device", "invite", "--addr", addr)
	entries++
	// With no --addr, invite lists this machine's addresses, which takes a
	// netlink socket: a question to the local kernel that reaches no one.
	// Any other socket still kills it.
	c.okOfflineWith(offlineOpts{allowNetlink: true}, "invite", "--json")
	entries++

	// The double-funding check: recording and checking, computed here,
	// told to no one.
	var rec struct {
		ID string `json:"id"`
	}
	c.jsonOffline(&rec, "grant", "record", "--applicant", "Amina Yusuf", "--applicant", "+255 712 345 678", "--country", "TZ",
		"--amount", "1500", "--currency", "USD", "--support", "emergency-grant")
	entries++
	var check struct {
		Matches []struct {
			ID string `json:"id"`
		} `json:"matches"`
	}
	c.jsonOffline(&check, "grant", "check", "--applicant", "0712 345 678", "--country", "TZ")
	if len(check.Matches) != 1 || check.Matches[0].ID != rec.ID {
		t.Errorf("grant check with no network: %+v, want the grant %s", check, rec.ID)
	}
	c.okOffline("grant", "check", "--applicant", "yusuf amina", "--country", "tz")
	c.okOffline("stats")
	c.okOffline("request", "signatories", "--help")

	c.jsonOffline(&st, "status")
	if st.Entries != entries {
		t.Errorf("after the writes with no network: %d entries, want %d", st.Entries, entries)
	}
	c.okOffline("help")
	c.okOffline("request", "new", "--help")

	j := newCLI(t, t.TempDir())
	var jo joinOut
	j.jsonOffline(&jo, "join", code.Code, "--org", "Beta Collective", "--no-passphrase")
	if !jo.Joining {
		t.Errorf("join --json with no network: %+v", jo)
	}
	j.okOffline("status")
	var js joiningOut
	j.jsonOffline(&js, "status")
	if !js.Joining || js.OrgName != "Beta Collective" {
		t.Errorf("status --json of a joining node with no network: %+v", js)
	}
	j.okOffline("wipe", "--yes") // without --revoke, a wipe tells no one either
	if _, err := os.Stat(j.dir); !os.IsNotExist(err) {
		t.Errorf("wipe with no network left %s behind: %v", j.dir, err)
	}

	// Last, as it stops this device from writing.
	write("device", "revoke", out.Device[:8], "--force", "--yes")
	c.jsonOffline(&st, "status")
	if !st.DeviceRevoked || st.Entries != entries {
		t.Errorf("status after revoking this device with no network: %+v, want %d entries", st, entries)
	}
}
