package main

// End-to-end test of `murmur run`: two real processes on loopback, a CLI
// command writing to one of them while both run, and Ctrl-C.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// runStatus is the part of `status --json` a running node fills in.
type runStatus struct {
	Entries int      `json:"entries"`
	Digest  string   `json:"digest"`
	Running bool     `json:"running"`
	Addrs   []string `json:"addrs"`
	Peers   []string `json:"peers"`
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningNode is a `murmur run` process.
type runningNode struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{} // closed once the process has exited
	err            error         // from Wait, once done
}

// start runs a long-lived murmur command; the test's cleanup kills it if
// the test did not stop it.
func (c *cli) start(args ...string) *runningNode {
	c.t.Helper()
	if len(args) > 0 && args[0] == "run" && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--ui-listen") }) {
		// Many nodes run at once here: the web interface only where a
		// test asks for it.
		args = append(args, "--ui-listen", "off")
	}
	rn := &runningNode{cmd: exec.Command(murmurBinary(c.t), args...), done: make(chan struct{})}
	rn.cmd.Env = append(slices.Clip(c.env), "MURMUR_DIR="+c.dir)
	rn.cmd.Stdout, rn.cmd.Stderr = &rn.stdout, &rn.stderr
	if err := rn.cmd.Start(); err != nil {
		c.t.Fatalf("starting murmur %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		rn.err = rn.cmd.Wait()
		close(rn.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-rn.done:
		default:
			rn.cmd.Process.Kill()
			<-rn.done
		}
	})
	return rn
}

var loopbackAddr = regexp.MustCompile(`(?m)^\s+(/ip4/127\.0\.0\.1/tcp/\d+/p2p/\w+)$`)

// addr waits for the node to print the loopback TCP address it listens on.
func (rn *runningNode) addr(t *testing.T) string {
	t.Helper()
	var addr string
	eventually(t, 20*time.Second, "murmur run prints its address", func() bool {
		if m := loopbackAddr.FindStringSubmatch(rn.stdout.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case <-rn.done:
			t.Fatalf("murmur run exited: %v\nstdout: %s\nstderr: %s", rn.err, rn.stdout.String(), rn.stderr.String())
		default:
		}
		return false
	})
	return addr
}

// interrupt sends SIGINT and returns how long the process took to exit.
func (rn *runningNode) interrupt(t *testing.T) time.Duration {
	t.Helper()
	return rn.stop(t, os.Interrupt)
}

// stop sends sig and returns how long the process took to exit.
func (rn *runningNode) stop(t *testing.T, sig os.Signal) time.Duration {
	t.Helper()
	start := time.Now()
	if err := rn.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rn.done:
	case <-time.After(time.Minute): // a hang, not slowness
		t.Fatalf("murmur run did not exit a minute after %v\nstderr: %s", sig, rn.stderr.String())
	}
	return time.Since(start)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	// within is what a quiet machine needs; a busy one gets more, for
	// the deadline only turns a hang into a failure.
	within = max(3*within, time.Minute)
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLIRun(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := newCLI(t, dirA), newCLI(t, dirB)
	a.ok("init", "--org", "Alpha Fund", "--open", "--no-passphrase", "--dir", dirA) // (B is provisioned by hand, without the network key)

	// There is no `join` yet: B's data directory is provisioned here with
	// A's genesis, and A admits B's organisation.
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
	na.Close()
	nb.Close()

	runA := a.start("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := runA.addr(t)
	runB := b.start("run", "--dir", dirB, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	runB.addr(t)

	// One node per data directory.
	r := a.run("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	refused(t, r, 1)
	if !strings.Contains(r.stderr, "already running") {
		t.Errorf("a second murmur run should say a node already runs:\n%s", r)
	}

	// (Not a.write, which wants exactly one entry more: B's node writes
	// entries of its own as it starts, its organisation key among them,
	// and they reach A at any moment.)
	var created idOutput
	a.json(&created, "request", "new", "--dir", dirA, "--kind", "verification", "--title", "Does anyone know this applicant?")
	id := created.ID
	var sa, sb runStatus
	eventually(t, 20*time.Second, "the request reaches B", func() bool {
		a.json(&sa, "status", "--dir", dirA)
		b.json(&sb, "status", "--dir", dirB)
		return sb.Entries == sa.Entries && sb.Digest == sa.Digest && len(sa.Peers) > 0 && len(sb.Peers) > 0
	})
	if sa.Entries != 6 { // genesis, A's secret check, A's and B's organisation keys, B's admission, the request
		t.Errorf("%d entries, want 5", sa.Entries)
	}
	var shown struct {
		ID string `json:"id"`
	}
	b.json(&shown, "request", "show", id, "--dir", dirB)
	if shown.ID != id {
		t.Errorf("B shows request %q, want %q", shown.ID, id)
	}
	for name, st := range map[string]runStatus{"A": sa, "B": sb} {
		if !st.Running || len(st.Addrs) == 0 || len(st.Peers) == 0 {
			t.Errorf("status --json of running node %s: running=%v, addrs %v, peers %v", name, st.Running, st.Addrs, st.Peers)
		}
	}

	for name, rn := range map[string]*runningNode{"A": runA, "B": runB} {
		took := rn.interrupt(t)
		if rn.err != nil { // a non-zero exit status, or a signal
			t.Errorf("node %s exited with %v after SIGINT\nstderr: %s", name, rn.err, rn.stderr.String())
		}
		t.Logf("node %s stopped %v after SIGINT", name, took.Round(time.Millisecond))
	}
	for _, dir := range []string{dirA, dirB} {
		if _, err := os.Stat(filepath.Join(dir, "run.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: run.json left behind (%v)", dir, err)
		}
	}
	var after runStatus
	a.json(&after, "status", "--dir", dirA)
	if after.Running || len(after.Peers) != 0 {
		t.Errorf("status after the node stopped: running=%v, peers %v", after.Running, after.Peers)
	}
}
