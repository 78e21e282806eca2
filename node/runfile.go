package node

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
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

type runInfo struct {
	PID   int      `json:"pid"`
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs"`
	Peers []string `json:"peers"`
	// PeerAddrs: where the connected peers were reached (with /p2p/ID),
	// for a wipe that sends its revocation after stopping this node.
	PeerAddrs []string   `json:"peer_addrs"`
	Traffic   Traffic    `json:"traffic"`
	NAT       *NATStatus `json:"nat,omitempty"`
	Updated   time.Time  `json:"updated"`
	// Contacts: the member devices' nodes reached in this run, and when
	// last (the store has them too, written less often).
	Contacts []runContact `json:"contacts,omitempty"`
	// AloneSince: no member's node has been connected since then, for
	// longer than RunOptions.AloneAfter.
	AloneSince *time.Time `json:"alone_since,omitempty"`
}

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

func (r *Runner) writeRunFile() {
	if r.opt.Host != nil {
		return // in-process tests: no directory of their own to describe
	}
	info := runInfo{PID: os.Getpid(), Peer: r.h.ID().String(), Addrs: r.Addrs(), Peers: []string{}, Traffic: r.Traffic(), Updated: time.Now().UTC()}
	nat := r.NAT()
	info.NAT = &nat
	for _, p := range r.Peers() {
		info.Peers = append(info.Peers, p.String())
		// Where it listens (identify told us), else where we reached it.
		addrs := r.h.Peerstore().Addrs(p)
		if len(addrs) == 0 {
			for _, c := range r.h.Network().ConnsToPeer(p) {
				addrs = append(addrs, c.RemoteMultiaddr())
			}
		}
		for i, a := range addrs {
			if i == 4 {
				break
			}
			info.PeerAddrs = append(info.PeerAddrs, a.String()+"/p2p/"+p.String())
		}
	}
	info.Contacts = r.runContacts()
	if since, ok := r.aloneSince(r.clock.Now()); ok {
		since = since.UTC()
		info.AloneSince = &since
	}
	plain, _ := json.Marshal(info)
	nonce := make([]byte, r.n.runAEAD.NonceSize(), r.n.runAEAD.NonceSize()+len(plain)+r.n.runAEAD.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return
	}
	f := runFile{PID: info.PID, Updated: info.Updated}
	f.Sealed = r.n.runAEAD.Seal(nonce, nonce, plain, runFileAD(r.n.network.String(), f.PID, f.Updated))
	b, _ := json.Marshal(f)
	path := filepath.Join(r.n.dir, runFileName)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, path)
	}
}

func removeRunFile(dir string) { os.Remove(filepath.Join(dir, runFileName)) }

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
