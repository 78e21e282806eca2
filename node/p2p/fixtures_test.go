package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
)

// The runtime's tests run it on real nodes (package node), kept in
// SQLite stores in temporary directories. These fixtures are node's own
// (node/join_test.go, bundle_test.go, seal_forge_test.go), through its
// exported API.

// The application core is what the runtime takes.
var _ Core = (*node.Node)(nil)

// loopbackNode runs n on a loopback TCP port, serving joins.
func loopbackNode(t *testing.T, n *node.Node, peers ...string) *Runner {
	t.Helper()
	r, err := Start(t.Context(), n, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

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
		time.Sleep(20 * time.Millisecond)
	}
}

// founded founds a network and runs its founding node on a loopback port.
func founded(t *testing.T, quorum int) (*node.Node, *Runner) {
	t.Helper()
	f, err := node.Init(context.Background(), t.TempDir(), node.InitOptions{Org: "Founders", Quorum: quorum})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

// foundedPrivate is founded, on a private network.
func foundedPrivate(t *testing.T) (*node.Node, *Runner) {
	t.Helper()
	f, err := node.Init(context.Background(), t.TempDir(), node.InitOptions{Org: "Founders", Quorum: 1, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

func newInvite(t *testing.T, n *node.Node, r *Runner, purpose crdt.InvitePurpose, d time.Duration) node.InviteCode {
	t.Helper()
	code, err := n.Invite(context.Background(), node.InviteOptions{Purpose: purpose, Expires: d, Addrs: r.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// completeJoin is `murmur run` on a joining directory: the join's local
// steps (node) around reaching the inviter (CompleteJoin).
func completeJoin(ctx context.Context, dir string, logf func(string, ...any)) (*node.Node, error) {
	j, err := node.BeginJoin(dir, nil)
	if err != nil {
		return nil, err
	}
	if err := CompleteJoin(ctx, j, JoinOptions{Log: logs.Printf(logf), AskEvery: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	return j.Node(), nil
}

// join prepares dir with code and completes the join; it fails the test
// unless the result is wantErr (a substring of the error; "" for none).
func join(t *testing.T, dir string, code node.InviteCode, org, wantErr string) *node.Node {
	t.Helper()
	if _, err := node.PrepareJoin(dir, code, node.JoinOptions{OrgName: org}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := completeJoin(ctx, dir, t.Logf)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("joining: got %v, want %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// secondSteward admits a second steward organisation, whose node runs.
func secondSteward(t *testing.T, f *node.Node, fr *Runner) (*node.Node, *Runner) {
	t.Helper()
	s2, err := node.Provision(context.Background(), t.TempDir(), node.ProvisionOptions{Genesis: f.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if _, err := f.Append(context.Background(), &crdt.Admission{Device: s2.Device(), Name: "Second steward", Steward: true}); err != nil {
		t.Fatal(err)
	}
	s2r := loopbackNode(t, s2, fr.Addrs()...)
	eventually(t, 20*time.Second, "the second steward is admitted", func() bool { return s2.Status().Steward })
	return s2, s2r
}

// apart is a network of two organisations whose nodes never connect:
// Alpha founded it and admitted Beta, and Beta's node holds only what the
// join gave it (the genesis entry and the network secret). Both hold their
// organisation's key.
func apart(t *testing.T) (a, b *node.Node) {
	t.Helper()
	ctx := context.Background()
	a, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	// The network secret, as fetchSecret hands it over.
	secret, ok := a.SecretToServe()
	if !ok {
		t.Fatal("the founder holds no network secret")
	}
	if kept, _, err := b.TakeSecret(mustPeer(t, a.Device()), secret); !kept || err != nil {
		t.Fatalf("taking the network secret: %v", err)
	}
	if _, err := a.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// exchange hands every node what the others hold, by hand (no network).
func exchange(t *testing.T, nodes ...*node.Node) {
	t.Helper()
	for range 2 { // a second round for what the first one's order left waiting
		for _, src := range nodes {
			var raws [][]byte
			src.State().Accepted(func(e *crdt.Entry) { raws = append(raws, e.Raw()) })
			for _, dst := range nodes {
				if dst == src {
					continue
				}
				if _, err := dst.Ingest(context.Background(), raws); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func mustPeer(t *testing.T, k crdt.DeviceKey) peer.ID {
	t.Helper()
	p, err := node.PeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
