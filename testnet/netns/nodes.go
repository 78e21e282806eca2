//go:build linux

package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/testnet"
)

// Node is one organisation's murmur node, run as a real `murmur run`
// process inside its namespace.
type Node struct {
	Name string
	NS   *NS
	IP   netip.Addr // where it listens (port 4721, TCP and QUIC)
	Dir  string
	Peer string // libp2p peer ID

	h      *harness
	stdout string
	stderr string
	mu     gosync.Mutex
	cmd    *exec.Cmd     // nil while down
	done   chan struct{} // closed once cmd is reaped
}

// port is where every node listens: each has a namespace of its own.
const port = 4721

// TCPAddr and QUICAddr are where another node dials this one.
func (n *Node) TCPAddr() string {
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", n.IP, port, n.Peer)
}

func (n *Node) QUICAddr() string {
	return fmt.Sprintf("/ip4/%s/udp/%d/quic-v1/p2p/%s", n.IP, port, n.Peer)
}

// harness runs murmur commands for a scenario.
type harness struct {
	bin   string
	dir   string
	lab   *Lab
	logf  func(format string, args ...any)
	reap  gosync.WaitGroup
	nodes []*Node
}

// murmur runs a murmur command (outside any namespace: commands other
// than run only read and write the data directory) and returns its stdout.
func (h *harness) murmur(ctx context.Context, args ...string) ([]byte, error) {
	return testnet.Murmur(ctx, h.bin, args...)
}

// addNode registers a node whose data directory is dir.
func (h *harness) addNode(name string, ns *NS, ip netip.Addr, dir, peer string) *Node {
	n := &Node{Name: name, NS: ns, IP: ip, Dir: dir, Peer: peer, h: h,
		stdout: filepath.Join(h.dir, name+".out"), stderr: filepath.Join(h.dir, name+".err")}
	h.nodes = append(h.nodes, n)
	return n
}

// Start runs `murmur run` for n inside its namespace, listening on its
// address (TCP and QUIC), with extra flags (--peer, --no-mdns, ...), and
// waits until it prints its addresses (for a joining node, once the join
// is complete) or timeout passes.
func (n *Node) Start(ctx context.Context, timeout time.Duration, extra ...string) error {
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		return fmt.Errorf("%s is already running", n.Name)
	}
	n.mu.Unlock()
	args := []string{"netns", "exec", n.NS.Full, n.h.bin, "run", "--dir", n.Dir,
		"--listen", fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", n.IP, port),
		"--listen", fmt.Sprintf("/ip4/%s/tcp/%d", n.IP, port)}
	args = append(args, extra...)
	out, err := os.OpenFile(n.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	errf, err := os.OpenFile(n.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer errf.Close()
	fi, err := out.Stat()
	if err != nil {
		return err
	}
	offset := fi.Size()
	fmt.Fprintf(errf, "--- testnet %s: ip %s\n", time.Now().Format("15:04:05"), strings.Join(args, " "))
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = out, errf
	cmd.Env = append(testnet.CleanEnv(), "MURMUR_TESTNET_PUBLIC="+LabRange.String())
	// A process group of its own, so that a stop reaches all of it; and
	// killed with this process, should that die without cleaning up (the
	// next lab removes the namespace).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	n.h.reap.Add(1)
	go func() {
		defer n.h.reap.Done()
		cmd.Wait()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	n.h.logf("%s: started in namespace %s: murmur run %s", n.Name, n.NS.Name, strings.Join(extra, " "))

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if b, err := os.ReadFile(n.stdout); err == nil && int64(len(b)) >= offset && bytes.Contains(b[offset:], []byte("Listening on:")) {
			return nil
		}
		select {
		case <-done:
			n.mu.Lock()
			n.cmd, n.done = nil, nil
			n.mu.Unlock()
			return fmt.Errorf("%s exited while starting (%v): %s", n.Name, cmd.ProcessState, tail(n.stderr))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s did not start within %v: %s", n.Name, timeout, tail(n.stderr))
		case <-tick.C:
		}
	}
}

// Running says whether n's process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Stop ends n's process: SIGTERM and up to 10 s for a clean stop (murmur
// stops within 5 s), else SIGKILL; with kill, SIGKILL at once.
func (n *Node) Stop(kill bool) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.done = nil, nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop within 10 s of SIGTERM; killed", n.Name)
	}
}

// Status runs `murmur status --json` on n's directory.
func (n *Node) Status(ctx context.Context) (node.StatusInfo, error) {
	var st node.StatusInfo
	out, err := n.h.murmur(ctx, "status", "--dir", n.Dir, "--json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(out, &st)
}

// Write runs `murmur request new` on n's directory, count times, and
// returns the new entries' IDs.
func (n *Node) Write(ctx context.Context, count int, what string) ([]string, error) {
	var ids []string
	for k := range count {
		out, err := n.h.murmur(ctx, "request", "new", "--dir", n.Dir, "--kind", "verification",
			"--title", fmt.Sprintf("%s: %s, write %d", what, n.Name, k+1), "--json")
		if err != nil {
			return ids, err
		}
		var v struct{ ID string }
		if err := json.Unmarshal(out, &v); err != nil || v.ID == "" {
			return ids, fmt.Errorf("murmur request new printed %q: %v", out, err)
		}
		ids = append(ids, v.ID)
	}
	return ids, nil
}

// tail is the end of a node's stderr log since its last start.
func tail(path string) string { return testnet.StderrTail(path, "--- testnet ") }

// close stops every node and waits until each process is reaped.
func (h *harness) close() error {
	var errs []error
	for _, n := range h.nodes {
		n.mu.Lock()
		cmd := n.cmd
		n.cmd, n.done = nil, nil
		n.mu.Unlock()
		if cmd != nil {
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("killing %s: %w", n.Name, err))
			}
		}
	}
	h.reap.Wait()
	return errors.Join(errs...)
}

// agreement reads every node's status and says whether they hold the
// same entries; what describes each (entries, digest prefix, peers).
func (h *harness) agreement(ctx context.Context, nodes []*Node) (agree bool, sts []node.StatusInfo, err error) {
	sts = make([]node.StatusInfo, len(nodes))
	errs := make([]error, len(nodes))
	var wg gosync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sts[i], errs[i] = n.Status(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, nil, err
	}
	agree = true
	for _, st := range sts[1:] {
		if st.Digest != sts[0].Digest || st.Entries != sts[0].Entries {
			agree = false
		}
	}
	return agree, sts, nil
}

// describe is one line per node: name, entries, peers.
func describe(nodes []*Node, sts []node.StatusInfo) string {
	var parts []string
	for i, n := range nodes {
		if i < len(sts) {
			d := sts[i].Digest
			if len(d) > 8 {
				d = d[:8]
			}
			parts = append(parts, fmt.Sprintf("%s %d entries (%s), %d peers", n.Name, sts[i].Entries, d, len(sts[i].Peers)))
		}
	}
	return strings.Join(parts, "; ")
}

// converge waits until nodes agree and each holds at least min entries
// (and every ID in must, if any), polling every second, for at most
// timeout. It returns how long that took, or an error naming what each
// held at the end.
func (h *harness) converge(ctx context.Context, nodes []*Node, min int, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last string
	for {
		agree, sts, err := h.agreement(ctx, nodes)
		if err == nil {
			last = describe(nodes, sts)
			if agree && sts[0].Entries >= min {
				return time.Since(t0), nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w; at the end: %s", ctx.Err(), last)
		case <-deadline.C:
			return 0, fmt.Errorf("no agreement within %v: %s", timeout, last)
		case <-tick.C:
		}
	}
}
