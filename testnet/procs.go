package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/murmurnet/murmur/node"
)

// Procs runs every node as a real `murmur run` process listening on its
// own fixed loopback port (TCP and QUIC), with mDNS off, so that it finds
// exactly the peers named by its --peer flags. Data directories are
// prepared in this process (there is no invite yet) and then closed.
//
//   - Write runs `murmur request new --json`: a CLI process writing while
//     the node runs (or while it is down) is the product's path.
//   - Observe runs `murmur status --json` (digest, entries, and traffic,
//     which a running node writes to run.json every second).
//   - Partition: there is no firewall hook, so every running node is
//     stopped (SIGTERM) and started again with --peer flags naming only its
//     own side. Peerstores live in memory and mDNS is off, so the sides
//     cannot find each other.
//   - Heal: every side but the largest is restarted with every node in its
//     --peer flags; they dial the others.
//   - Kill is SIGKILL to the node's process group; Restart starts it again
//     with the same flags (its side's peers).
//   - Drop is not possible: nothing between two processes can drop a
//     message honestly, so Drop reports false and Run notes the skip.
//   - Duplicate and Bulk open the data directories in this process, as a
//     second process (a CLI command, a bundle import) would, and ingest
//     there; the running node picks the entries up from its store.
//
// Every process is killed and reaped by Close, which Run's callers must
// call (also on failure).
type Procs struct {
	// Murmur is the murmur binary; empty: Start builds one (CGO_ENABLED=0)
	// from the module the working directory is in.
	Murmur string
	// Dir holds the data directories and each node's log files; empty: a
	// temporary directory that Close removes unless Keep is set.
	Dir  string
	Keep bool
	// StartTimeout bounds how long a process may take to listen (default 30 s).
	StartTimeout time.Duration
	// Logf receives a line per notable event (builds, restarts); nil: none.
	Logf func(format string, args ...any)

	nw     *foundedNetwork
	nodes  []*procNode
	groups [][]int
	rng    *rand.Rand
	ownDir bool
	reap   gosync.WaitGroup // one reaper goroutine per process
	mu     gosync.Mutex     // guards each procNode's traffic fields during Observe
	once   gosync.Once
	err    error
}

type procNode struct {
	dir    string
	port   int
	addr   string // where the others dial it: /ip4/127.0.0.1/tcp/PORT/p2p/PEER
	peers  []int  // its current --peer list
	stdout string // log files, appended to by every run
	stderr string

	cmd  *exec.Cmd     // nil while down
	done chan struct{} // closed once cmd is reaped

	// Traffic: what earlier runs sent, and the latest the current run
	// reported (run.json is rewritten every second, so up to a second of a
	// killed run's traffic is not counted).
	base, last node.Traffic
}

var _ Driver = (*Procs)(nil)

// Mode names the driver in reports.
func (d *Procs) Mode() string { return "processes (loopback)" }

func (d *Procs) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// Start builds murmur if needed, founds the network, and starts every node
// with every other in its --peer flags.
func (d *Procs) Start(ctx context.Context, nodes int, seed uint64, bulk bool) (err error) {
	if d.StartTimeout == 0 {
		d.StartTimeout = 30 * time.Second
	}
	d.rng = rand.New(rand.NewPCG(seed, 0x64757073)) // "dups"
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "murmur-testnet-"); err != nil {
			return err
		}
		d.ownDir = true
	}
	if d.Murmur == "" {
		t0 := time.Now()
		d.Murmur = filepath.Join(d.Dir, "murmur")
		if err := BuildMurmur(ctx, d.Murmur); err != nil {
			return err
		}
		d.logf("built %s in %v", d.Murmur, time.Since(t0).Round(time.Millisecond))
	}
	nw, opened, err := found(ctx, d.Dir, nodes, seed, bulk)
	if err != nil {
		return err
	}
	for _, n := range opened {
		n.Close()
	}
	d.nw = nw
	taken := map[int]bool{}
	for i := range nodes {
		port, err := freePort(taken)
		if err != nil {
			return err
		}
		d.nodes = append(d.nodes, &procNode{
			dir:    nw.dirs[i],
			port:   port,
			addr:   fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, nw.peers[i]),
			stdout: filepath.Join(d.Dir, fmt.Sprintf("node-%02d.out", i)),
			stderr: filepath.Join(d.Dir, fmt.Sprintf("node-%02d.err", i)),
		})
	}
	all := make([]int, nodes)
	for i := range all {
		all[i] = i
	}
	d.groups = [][]int{all}
	d.setPeers()
	return d.startAll(ctx, all)
}

// BuildMurmur builds cmd/murmur of the module the working directory is in
// into out.
func BuildMurmur(ctx context.Context, out string) error {
	// The module is the nearest directory up from here with a go.mod (as
	// the go command finds it; asking `go env GOMOD` failed once under a
	// loaded make check, exit status 1 and nothing said).
	root, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("testnet: finding the module to build murmur from: %w (or give a murmur binary)", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			return fmt.Errorf("testnet: no go.mod in the working directory or above it: run from the repository or give a murmur binary")
		}
		root = up
	}
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.Contains(mod, []byte("module github.com/murmurnet/murmur\n")) {
		return fmt.Errorf("testnet: not inside the murmur module (%s): run from the repository or give a murmur binary", root)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/murmur")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testnet: go build ./cmd/murmur: %w\n%s", err, b)
	}
	return nil
}

// freePort finds a loopback port free for both TCP and UDP (the node
// listens on TCP and QUIC with the same number), not in taken. Another
// program could take it before the node listens; the node then fails to
// start and says so.
func freePort(taken map[int]bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if !taken[port] {
			taken[port] = true
			return port, nil
		}
	}
	return 0, errors.New("testnet: no free loopback port for both TCP and UDP")
}

// setPeers gives every node the others of its group as --peer flags.
func (d *Procs) setPeers() {
	for _, g := range d.groups {
		for _, x := range g {
			d.nodes[x].peers = slices.DeleteFunc(slices.Clone(g), func(y int) bool { return y == x })
		}
	}
}

// startAll starts the nodes, then waits until each listens.
func (d *Procs) startAll(ctx context.Context, nodes []int) error {
	offsets := map[int]int64{}
	for _, i := range nodes {
		off, err := d.spawn(i)
		if err != nil {
			return err
		}
		offsets[i] = off
	}
	for _, i := range nodes {
		if err := d.waitListening(ctx, i, offsets[i]); err != nil {
			return err
		}
	}
	return nil
}

// spawn starts node i's process and returns where its stdout log began.
func (d *Procs) spawn(i int) (int64, error) {
	p := d.nodes[i]
	if p.cmd != nil {
		return 0, fmt.Errorf("testnet: node %d is already running", i)
	}
	args := []string{"run", "--dir", p.dir,
		"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.port),
		"--listen", fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", p.port),
		"--no-mdns", "--ui-listen", "off"} // (one computer, many nodes: no web interface)
	for _, j := range p.peers {
		args = append(args, "--peer", d.nodes[j].addr)
	}
	out, err := os.OpenFile(p.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	errf, err := os.OpenFile(p.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer errf.Close()
	fi, err := out.Stat()
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(errf, "--- testnet: murmur %s\n", strings.Join(args, " "))
	cmd := exec.Command(d.Murmur, args...)
	cmd.Stdout, cmd.Stderr = out, errf
	// Partitions are made by restarting nodes with --peer lists limited to
	// each side (loopback has no firewall): nodes must not dial the
	// members they remember from before. The network-namespace testnet
	// partitions at the routers, and keeps that behaviour on.
	cmd.Env = append(CleanEnv(), "MURMUR_TESTNET_NO_REDIAL=1")
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("testnet: starting node %d: %w", i, err)
	}
	done := make(chan struct{})
	d.reap.Add(1)
	go func() {
		defer d.reap.Done()
		cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return fi.Size(), nil
}

// CleanEnv is this environment without what would point murmur elsewhere.
func CleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MURMUR_DIR=") || strings.HasPrefix(kv, "MURMUR_PASSPHRASE=")
	})
}

// waitListening polls node i's stdout (from offset) until it prints its
// listen addresses, or fails if the process exits first.
func (d *Procs) waitListening(ctx context.Context, i int, offset int64) error {
	p := d.nodes[i]
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(d.StartTimeout)
	for {
		if b, err := os.ReadFile(p.stdout); err == nil && int64(len(b)) >= offset && bytes.Contains(b[offset:], []byte("Listening on:")) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("testnet: node %d exited while starting (%v): %s", i, p.cmd.ProcessState, tail(p.stderr))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: node %d did not listen within %v: %s", i, d.StartTimeout, tail(p.stderr))
		}
	}
}

// tail is the end of a node's stderr log since its last start, for
// error messages.
func tail(path string) string { return StderrTail(path, "--- testnet: murmur run") }

// StderrTail is the end of a node's stderr log at path since the last line
// that starts with marker (the harness writes one before each start), on
// one line, for error messages.
func StderrTail(path, marker string) string {
	b, _ := os.ReadFile(path)
	if k := bytes.LastIndex(b, []byte(marker)); k >= 0 {
		b = b[k:]
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			b = b[nl+1:]
		}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing on stderr"
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.ReplaceAll(string(b), "\n", " | ")
}

// stop ends the processes of nodes — SIGTERM and a wait for a clean exit,
// or SIGKILL to the process group — and waits until each is reaped.
func (d *Procs) stop(ctx context.Context, nodes []int, kill bool) error {
	var live []int
	for _, i := range nodes {
		if d.nodes[i].cmd != nil {
			live = append(live, i)
		}
	}
	// What each has sent so far, as late as possible.
	if err := d.freshTraffic(ctx, live); err != nil {
		d.logf("reading traffic before stopping %v: %v", live, err)
	}
	for _, i := range live {
		p := d.nodes[i]
		var err error
		if kill {
			err = killProcessGroup(p.cmd)
		} else {
			err = terminate(p.cmd)
		}
		if err != nil {
			select {
			case <-p.done: // it had exited already
			default:
				return fmt.Errorf("testnet: signalling node %d: %w", i, err)
			}
		}
	}
	var errs []error
	for _, i := range live {
		p := d.nodes[i]
		timer := time.NewTimer(10 * time.Second) // murmur run stops within 5 s
		select {
		case <-p.done:
		case <-timer.C:
			killProcessGroup(p.cmd)
			<-p.done
			errs = append(errs, fmt.Errorf("testnet: node %d did not stop within 10 s of SIGTERM; killed", i))
		}
		timer.Stop()
		d.mu.Lock()
		p.base, p.last = addTraffic(p.base, p.last), node.Traffic{}
		d.mu.Unlock()
		p.cmd, p.done = nil, nil
	}
	return errors.Join(errs...)
}

// restart stops the running nodes among nodes cleanly, then starts them
// with their current --peer flags.
func (d *Procs) restart(ctx context.Context, nodes []int) error {
	var live []int
	for _, i := range nodes {
		if d.nodes[i].cmd != nil {
			live = append(live, i)
		}
	}
	if err := d.stop(ctx, live, false); err != nil {
		return err
	}
	return d.startAll(ctx, live)
}

// murmur runs one murmur command and returns its stdout.
func (d *Procs) murmur(ctx context.Context, args ...string) ([]byte, error) {
	return Murmur(ctx, d.Murmur, args...)
}

// Murmur runs one command of the murmur binary bin, in CleanEnv, and
// returns its stdout; an error carries its stderr.
func Murmur(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = CleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("testnet: murmur %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Write runs `murmur request new` count times on node i's directory.
func (d *Procs) Write(ctx context.Context, i, count int) error {
	if d.nw == nil {
		return errNotStarted
	}
	for k := range count {
		out, err := d.murmur(ctx, "request", "new", "--dir", d.nodes[i].dir, "--kind", "verification",
			"--title", fmt.Sprintf("testnet: node %d, write %d", i, k+1), "--json")
		if err != nil {
			return err
		}
		var v struct{ ID string }
		if err := json.Unmarshal(out, &v); err != nil || v.ID == "" {
			return fmt.Errorf("testnet: murmur request new printed %q: %v", out, err)
		}
	}
	return nil
}

// withDir opens node i's data directory in this process, as another
// command would while the node runs.
func (d *Procs) withDir(ctx context.Context, i int, fn func(n *node.Node) error) error {
	if d.nw == nil {
		return errNotStarted
	}
	n, err := node.Open(ctx, d.nodes[i].dir)
	if err != nil {
		return err
	}
	defer n.Close()
	return fn(n)
}

// Bulk ingests count entries of node i's bulk writer into its directory.
func (d *Procs) Bulk(ctx context.Context, i, count int) error {
	raws, err := d.nw.bulk[i].sign(d.nw.id, i, count)
	if err != nil {
		return err
	}
	return d.withDir(ctx, i, func(n *node.Node) error {
		_, err := ingestAll(ctx, n, raws)
		return err
	})
}

// Partition restarts every running node with --peer flags for its side.
func (d *Procs) Partition(ctx context.Context, groups [][]int) error {
	d.groups = groups
	d.setPeers()
	all := make([]int, len(d.nodes))
	for i := range all {
		all[i] = i
	}
	// All stop before any starts: no connection across sides survives.
	return d.restart(ctx, all)
}

// Heal restarts every side but the largest with every node as a peer.
func (d *Procs) Heal(ctx context.Context) error {
	old := d.groups
	all := make([]int, len(d.nodes))
	for i := range all {
		all[i] = i
	}
	d.groups = [][]int{all}
	d.setPeers()
	largest := 0
	for g := range old {
		if len(old[g]) > len(old[largest]) {
			largest = g
		}
	}
	var again []int
	for g := range old {
		if g != largest {
			again = append(again, old[g]...)
		}
	}
	return d.restart(ctx, again)
}

// Kill sends SIGKILL to node i's process group.
func (d *Procs) Kill(ctx context.Context, i int) error {
	if d.nodes[i].cmd == nil {
		return fmt.Errorf("testnet: node %d is not running", i)
	}
	return d.stop(ctx, []int{i}, true)
}

// Restart starts node i again with its --peer flags.
func (d *Procs) Restart(ctx context.Context, i int) error {
	return d.startAll(ctx, []int{i})
}

// Drop cannot be done with processes.
func (d *Procs) Drop(context.Context, float64) (bool, error) { return false, nil }

// Duplicate ingests count of node i's entries again into the directories
// of i and its side.
func (d *Procs) Duplicate(ctx context.Context, i, count int, side []int) (int, error) {
	var raws [][]byte
	if err := d.withDir(ctx, i, func(n *node.Node) error {
		var err error
		raws, err = accepted(ctx, n.Store())
		return err
	}); err != nil {
		return 0, err
	}
	raws = choose(raws, count, d.rng)
	dups := 0
	for _, x := range slices.Compact(slices.Sorted(slices.Values(append([]int{i}, side...)))) {
		if err := d.withDir(ctx, x, func(n *node.Node) error {
			rep, err := ingestAll(ctx, n, raws)
			dups += rep.Duplicate
			return err
		}); err != nil {
			return dups, err
		}
	}
	return dups, nil
}

// Observe runs `murmur status --json` for each node, all at once.
func (d *Procs) Observe(ctx context.Context, nodes []int) ([]Observation, error) {
	if d.nw == nil {
		return nil, errNotStarted
	}
	sts := make([]node.StatusInfo, len(nodes))
	errs := make([]error, len(nodes))
	var wg gosync.WaitGroup
	for k, i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := d.murmur(ctx, "status", "--dir", d.nodes[i].dir, "--json")
			if err == nil {
				err = json.Unmarshal(out, &sts[k])
			}
			errs[k] = err
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err // the commands were killed for it
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Observation, len(nodes))
	for k, i := range nodes {
		p, st := d.nodes[i], sts[k]
		if st.Traffic != nil && p.cmd != nil && sent(*st.Traffic) >= sent(p.last) {
			p.last = *st.Traffic // unless the file is older than what freshTraffic read
		}
		t := addTraffic(p.base, p.last)
		out[k] = Observation{Node: i, Org: st.Org, Peer: st.Peer, Entries: st.Entries, Digest: st.Digest,
			Peers: len(st.Peers), PeerIDs: st.Peers, Secret: st.GrantSecret, SyncSent: t.Sync.SentBytes, GossipSent: t.GossipSent}
	}
	return out, nil
}

var _ Courier = (*Procs)(nil)

// Summary runs `murmur bundle summary` on node i's data directory.
func (d *Procs) Summary(ctx context.Context, i int, file string) (int64, error) {
	if _, err := d.bundleCmd(ctx, nil, "summary", "--dir", d.nodes[i].dir, "--json", file); err != nil {
		return 0, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Export runs `murmur bundle export` on node i's data directory.
func (d *Procs) Export(ctx context.Context, i int, file string, o ExportChoice) (Exported, error) {
	args := []string{"export", "--dir", d.nodes[i].dir, "--json"}
	switch {
	case o.For != "":
		args = append(args, "--for", o.For)
	case o.Org != "":
		args = append(args, "--org", o.Org)
	}
	if o.Split > 0 {
		args = append(args, "--split", fmt.Sprint(o.Split))
	}
	var v struct {
		Entries int      `json:"entries"`
		Bytes   int64    `json:"bytes"`
		Files   []string `json:"files"`
	}
	_, err := d.bundleCmd(ctx, &v, append(args, file)...)
	return Exported{Entries: v.Entries, Bytes: v.Bytes, Files: v.Files}, err
}

// Import runs `murmur bundle import` on node i's data directory.
func (d *Procs) Import(ctx context.Context, i int, files []string) (Imported, error) {
	var v struct {
		New     int `json:"new"`
		Held    int `json:"held"`
		Refused int `json:"refused"`
	}
	_, err := d.bundleCmd(ctx, &v, append([]string{"import", "--dir", d.nodes[i].dir, "--json"}, files...)...)
	return Imported(v), err
}

// bundleCmd runs `murmur bundle ARGS` and decodes its JSON into v (nil: none).
func (d *Procs) bundleCmd(ctx context.Context, v any, args ...string) ([]byte, error) {
	if d.nw == nil {
		return nil, errNotStarted
	}
	out, err := d.murmur(ctx, append([]string{"bundle"}, args...)...)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			return nil, fmt.Errorf("testnet: murmur bundle %s printed %q: %w", args[0], out, err)
		}
	}
	return out, nil
}

// runFile is the part of a running node's run.json the harness reads.
type runFile struct {
	PID     int          `json:"pid"`
	Traffic node.Traffic `json:"traffic"`
	Updated time.Time    `json:"updated"`
}

// freshTraffic waits (up to 5 s) until each running node among nodes has
// rewritten its run.json — every second — since this call began, and
// takes the traffic from it. Without the wait, a node that ran for less
// than a second would report none, and each stop would lose up to a
// second of traffic.
func (d *Procs) freshTraffic(ctx context.Context, nodes []int) error {
	since := time.Now()
	left := map[int]bool{}
	for _, i := range nodes {
		if d.nodes[i].cmd != nil {
			left[i] = true
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := since.Add(5 * time.Second)
	for len(left) > 0 {
		for i := range left {
			p := d.nodes[i]
			b, err := os.ReadFile(filepath.Join(p.dir, "run.json"))
			var rf runFile
			if err != nil || json.Unmarshal(b, &rf) != nil || rf.PID != p.cmd.Process.Pid || !rf.Updated.After(since) {
				continue // not written yet, or by an earlier run
			}
			d.mu.Lock()
			p.last = rf.Traffic
			d.mu.Unlock()
			delete(left, i)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: nodes %v did not rewrite run.json within 5 s", slices.Sorted(maps.Keys(left)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func sent(t node.Traffic) int64 { return t.Sync.SentBytes + t.GossipSent }

// Close kills every process, waits until each is reaped, and removes a
// temporary directory unless Keep is set.
func (d *Procs) Close() error {
	d.once.Do(func() {
		var errs []error
		for i, p := range d.nodes {
			if p.cmd != nil {
				if err := killProcessGroup(p.cmd); err != nil {
					select {
					case <-p.done:
					default:
						errs = append(errs, fmt.Errorf("testnet: killing node %d: %w", i, err))
					}
				}
			}
		}
		d.reap.Wait()
		for _, p := range d.nodes {
			p.cmd, p.done = nil, nil
		}
		if d.ownDir && !d.Keep {
			errs = append(errs, os.RemoveAll(d.Dir))
		}
		d.err = errors.Join(errs...)
	})
	return d.err
}
