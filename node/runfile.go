package node

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node/runfile"
)

// A running node describes itself in run.json, rewritten every second, so
// that `murmur status` in another process can show its peers and
// addresses. A node killed without warning leaves the file behind; it goes
// stale after runFileFresh and is then ignored. Only the process and the
// time are in clear (to stop the node, and to tell a stale file): where its
// peers are, and who they are, is sealed under a key derived from the
// device key, as the database is, so an imaged disk does not give them away.
const (
	runFileName  = "run.json"
	runLockName  = "run.lock"
	runFileFresh = 5 * time.Second
)

// ErrAlreadyRunning is returned when another node runs on the directory.
var ErrAlreadyRunning = errors.New("a node is already running on this data directory")

type runInfo = runfile.Info

// Traffic is what a running node has exchanged so far (run.json).
type Traffic = runfile.Traffic

// NATStatus is what `status` shows of the paths through NAT (run.json).
type NATStatus = runfile.NATStatus

// runFile is run.json on disk.
type runFile struct {
	PID     int       `json:"pid"`
	Updated time.Time `json:"updated"`
	// Sealed: the runInfo, nonce first (XChaCha20-Poly1305, Node.runAEAD).
	Sealed []byte `json:"sealed"`
}

// runFileAD binds the sealed part to its network and process.
func runFileAD(network string, pid int, updated time.Time) []byte {
	return fmt.Appendf(nil, "murmur-run-v1\n%s\n%d\n%s", network, pid, updated.Format(time.RFC3339Nano))
}

// WriteRunFile writes run.json: what the running node says of itself,
// sealed (see above).
func (n *Node) WriteRunFile(info runfile.Info) {
	plain, _ := json.Marshal(info)
	nonce := make([]byte, n.runAEAD.NonceSize(), n.runAEAD.NonceSize()+len(plain)+n.runAEAD.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return
	}
	f := runFile{PID: info.PID, Updated: info.Updated}
	f.Sealed = n.runAEAD.Seal(nonce, nonce, plain, runFileAD(n.network.String(), f.PID, f.Updated))
	b, _ := json.Marshal(f)
	path := filepath.Join(n.dir, runFileName)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, path)
	}
}

// RemoveRunFile removes run.json (the node stops).
func (n *Node) RemoveRunFile() { os.Remove(filepath.Join(n.dir, runFileName)) }

// LockRun takes the run lock of the node's directory: one node runs on it.
func (n *Node) LockRun() (release func(), err error) {
	l, err := lockRun(n.dir)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// Running reports whether a node runs on dir, and which process: what
// anyone may read of run.json, without the device key.
func Running(dir string) (pid int, ok bool) {
	info, ok := readRunFile(dir)
	return info.PID, ok
}

// readRunFile returns which process runs a node on dir, and whether it
// said so recently: what anyone may read of run.json.
func readRunFile(dir string) (runInfo, bool) {
	var f runFile
	b, err := os.ReadFile(filepath.Join(dir, runFileName))
	if err != nil || json.Unmarshal(b, &f) != nil {
		return runInfo{}, false
	}
	return runInfo{PID: f.PID, Updated: f.Updated}, time.Since(f.Updated) < runFileFresh && processAlive(f.PID)
}

// running returns what the node running on n's directory says of itself,
// if it said so recently and it opens with this device's key.
func (n *Node) running() (runInfo, bool) {
	var f runFile
	b, err := os.ReadFile(filepath.Join(n.dir, runFileName))
	if err != nil || json.Unmarshal(b, &f) != nil || time.Since(f.Updated) >= runFileFresh || !processAlive(f.PID) {
		return runInfo{}, false
	}
	ns := n.runAEAD.NonceSize()
	if len(f.Sealed) < ns {
		return runInfo{}, false
	}
	plain, err := n.runAEAD.Open(nil, f.Sealed[:ns], f.Sealed[ns:], runFileAD(n.network.String(), f.PID, f.Updated))
	var info runInfo
	if err != nil || json.Unmarshal(plain, &info) != nil {
		return runInfo{}, false
	}
	info.PID, info.Updated = f.PID, f.Updated
	return info, true
}

func lockRun(dir string) (*runLock, error) {
	l, err := acquireRunLock(filepath.Join(dir, runLockName))
	if err != nil {
		if info, ok := readRunFile(dir); ok {
			return nil, fmt.Errorf("%w (process %d)", ErrAlreadyRunning, info.PID)
		}
		return nil, fmt.Errorf("%w: %v", ErrAlreadyRunning, err)
	}
	return l, nil
}

// natStatusLine is one line for people.
func natStatusLine(st NATStatus, names func(string) string) string {
	code, via := NATReach(st, names)
	if code == "nat-relayed" {
		return fmt.Sprintf(natWords[code], strings.Join(via, ", "))
	}
	return natWords[code]
}

// NATReach is how other members reach this node, as a code an interface
// words (natWords has the command line's), and the organisations whose
// relay it is reached through (nat-relayed).
func NATReach(st NATStatus, names func(string) string) (code string, via []string) {
	switch {
	case st.Relaying && st.Reachability == runfile.ReachPublic:
		return "relay-public", nil
	case st.Relaying && st.Reachability == runfile.ReachBehindNAT:
		return "relay-nat", nil
	case st.Relaying:
		return "relay", nil
	case st.Reachability == runfile.ReachPublic:
		return "public", nil
	case st.Reachability == runfile.ReachBehindNAT && len(st.Reserved) > 0:
		for _, p := range st.Reserved {
			via = append(via, names(p))
		}
		return "nat-relayed", via
	case st.Reachability == runfile.ReachBehindNAT:
		return "nat", nil
	}
	return "unknown", nil
}

var natWords = map[string]string{
	"relay-public": "Other members can reach this node directly, and it introduces members' nodes behind NAT to each other (relay).",
	"relay-nat":    "This node relays, but other members cannot reach it: run it where they can, and give its public address with --announce.",
	"relay":        "This node relays for members; whether they can reach it is not known yet.",
	"public":       "Other members can reach this node directly.",
	"nat-relayed":  "Behind a router: other members reach this node through the relay of %s.",
	"nat":          "Behind a router, and no member's relay is known yet: this node reaches others, but they cannot open a connection to it.",
	"unknown":      "Whether other members can reach this node directly is not known yet.",
}

// DeviceRevoked reports whether this device was revoked: the web
// interface's banner, without the cost of Status.
func (n *Node) DeviceRevoked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	dv, ok := n.state.Device(n.device)
	return ok && dv.Revoked
}

// AloneSince is when the running node last had a member's node connected,
// if that was more than an hour ago (nil otherwise, or if no node runs):
// what the web interface's banner says, without the cost of Status.
func (n *Node) AloneSince() *time.Time {
	if info, ok := n.running(); ok {
		return info.AloneSince
	}
	return nil
}
