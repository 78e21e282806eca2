package node

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// run.json tells another process of this device where the node's peers
// are and who they are, and tells an imaged disk nothing of it: only the
// process and the time are in clear.
func TestRunFileSealsPeers(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	m := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Member", "")
	t.Cleanup(func() { m.Close() })
	mr := loopbackNode(t, m, fr.Addrs()...)
	eventually(t, 20*time.Second, "the founder's node says it is connected to the member's", func() bool {
		info, ok := f.running()
		return ok && len(info.Peers) == 1 && info.Peers[0] == mr.Host().ID().String() && len(info.PeerAddrs) > 0
	})
	raw, err := os.ReadFile(filepath.Join(f.dir, runFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{mr.Host().ID().String(), fr.Host().ID().String(), "127.0.0.1", "/tcp/"} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("run.json holds %q in clear", clear)
		}
	}
	// What anyone may read: the process, and whether it is fresh.
	if info, ok := readRunFile(f.dir); !ok || info.PID != os.Getpid() || len(info.Peers) != 0 {
		t.Errorf("readRunFile: %+v %v", info, ok)
	}
	// Another device's key does not open it.
	other, err := atRestAEAD(crdt.KeyFromSeed(bytes.Repeat([]byte{7}, 32)), m.device, "run")
	if err != nil {
		t.Fatal(err)
	}
	var rf runFile
	if err := json.Unmarshal(raw, &rf); err != nil || len(rf.Sealed) < other.NonceSize() {
		t.Fatalf("run.json: %v", err)
	}
	ns := other.NonceSize()
	if _, err := other.Open(nil, rf.Sealed[:ns], rf.Sealed[ns:], runFileAD(f.network.String(), rf.PID, rf.Updated)); err == nil {
		t.Error("run.json opened under another device's key")
	}
	if st := f.Status(); !st.Running || len(st.Peers) != 1 {
		t.Errorf("status from the sealed run file: running %v, peers %v", st.Running, st.Peers)
	}
}
