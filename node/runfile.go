package node

import (
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
// stale after runFileFresh and is then ignored.
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
	if since, ok := r.aloneSince(time.Now()); ok {
		since = since.UTC()
		info.AloneSince = &since
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	path := filepath.Join(r.n.dir, runFileName)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, path)
	}
}

func removeRunFile(dir string) { os.Remove(filepath.Join(dir, runFileName)) }

// readRunFile returns what a running node says of itself, if it is fresh.
func readRunFile(dir string) (runInfo, bool) {
	var info runInfo
	b, err := os.ReadFile(filepath.Join(dir, runFileName))
	if err != nil || json.Unmarshal(b, &info) != nil {
		return info, false
	}
	return info, time.Since(info.Updated) < runFileFresh
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
