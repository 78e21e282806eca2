package node

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
)

// logLines collects a runner's log for a test to wait on.
type logLines struct {
	mu    gosync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func heldSecret(t testing.TB, n *Node) []byte {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	s, err := n.networkSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A rogue member writes a grant record under a secret of its own and hands
// that secret to a newcomer. The newcomer refuses it (it is not the secret
// the founder anchored), and ends up with the genuine one from an honest
// member's node.
func TestRogueNetworkSecretRefused(t *testing.T) {
	ctx := context.Background()
	f, fr := founded(t, SQLiteStore, 1)
	genuine := heldSecret(t, f)
	if kc, ok := f.state.NetworkKeyCheck(); !ok || kc != keyCheck(genuine) {
		t.Fatalf("the founder did not anchor its secret (%x, %v)", kc, ok)
	}

	// The rogue: an ordinary member, admitted, with the genuine secret...
	m := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Rogue", "")
	mr := loopbackNode(t, m, fr.Addrs()...)
	eventually(t, 20*time.Second, "the rogue receives the network secret", m.HasSecret)
	// ...which it swaps for its own, and records a grant under it.
	bogus := bytes.Repeat([]byte{0x66}, secretSize)
	m.mu.Lock()
	err := m.storeSecret(bogus)
	m.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RecordGrant(ctx, GrantInput{Applicants: []string{"id:12345678"}, Amount: "100", Currency: "USD", Support: "legal-aid"}); err != nil {
		t.Fatal(err)
	}
	// Its node serves that secret to whoever asks, as a rogue's would.
	mr.Host().SetStreamHandler(p2p.SecretProtocol(m.Network()), func(s network.Stream) {
		defer s.Close()
		s.Write(append([]byte{1}, bogus...))
	})
	eventually(t, 20*time.Second, "the founder holds the rogue's grant record", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.state.GrantKeyChecks()[keyCheck(bogus)] == 1
	})

	// The newcomer joins through the founder, then meets only the rogue.
	c := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Newcomer", "")
	// (The rogue's node must know of the admission before the founder's
	// goes away, or its gate would refuse the newcomer.)
	eventually(t, 30*time.Second, "the rogue's node knows the newcomer is admitted", func() bool {
		o, err := m.ResolveOrg(c.Org().String())
		return err == nil && o.Admitted
	})
	if err := fr.Close(); err != nil {
		t.Fatal(err)
	}
	var log logLines
	if err := c.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	cr, err := p2p.Start(t.Context(), c, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: mr.Addrs(), SyncEvery: time.Second,
		PollEvery: 20 * time.Millisecond, Log: logs.Printf(log.logf)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cr.Close() })
	eventually(t, 30*time.Second, "the newcomer holds the rogue's grant record", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.state.GrantKeyChecks()[keyCheck(bogus)] == 1
	})
	eventually(t, 30*time.Second, "the newcomer is offered the rogue's secret", func() bool {
		return log.has("refused") || c.HasSecret()
	})
	if c.HasSecret() {
		if bytes.Equal(heldSecret(t, c), bogus) {
			t.Fatal("the newcomer took the rogue's secret")
		}
		t.Fatal("the newcomer has a secret it can only have had from the rogue")
	}

	// An honest member's node hands it the genuine secret.
	fr2 := loopbackNode(t, f)
	ai, err := peer.AddrInfoFromString(fr2.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Host().Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the newcomer receives the genuine secret", c.HasSecret)
	if !bytes.Equal(heldSecret(t, c), genuine) {
		t.Fatal("the newcomer holds a secret other than the founder's")
	}
}

// A network founded before secret-check entries existed has no anchor:
// the founder's (a steward's) node that holds the secret writes it, and a
// new member then receives that secret.
func TestStewardAnchorsAnOldNetworksSecret(t *testing.T) {
	ctx := context.Background()
	seed, err := newSeed()
	if err != nil {
		t.Fatal(err)
	}
	body, err := crdt.EncodeBody(&crdt.Genesis{NetworkName: "Old network", OrgName: "Founders", Quorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := crdt.Sign(crdt.KeyFromSeed(seed), crdt.Draft{Seq: 1, Clock: crdt.NextClock(0, 0, uint64(time.Now().UnixMilli())), Kind: crdt.KindGenesis, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Provision(ctx, t.TempDir(), ProvisionOptions{Genesis: g.Raw(), Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	secret := bytes.Repeat([]byte{0x42}, secretSize)
	f.mu.Lock()
	err = f.storeSecret(secret)
	_, anchored := f.state.NetworkKeyCheck()
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if anchored {
		t.Fatal("an old network's genesis alone anchors a secret")
	}
	fr := loopbackNode(t, f)
	eventually(t, 20*time.Second, "the steward's node anchors the secret", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		kc, ok := f.state.NetworkKeyCheck()
		return ok && kc == keyCheck(secret)
	})
	if wrote, err := f.EnsureSecretCheck(ctx); err != nil || wrote {
		t.Fatalf("anchored twice (%v, %v)", wrote, err)
	}
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta", "")
	loopbackNode(t, b, fr.Addrs()...)
	eventually(t, 20*time.Second, "the new member receives the anchored secret", b.HasSecret)
	if !bytes.Equal(heldSecret(t, b), secret) {
		t.Fatal("the new member holds another secret")
	}
	// A node that took a wrong secret before the network had an anchor
	// (from a rogue member's node, under an earlier release) replaces it.
	b.mu.Lock()
	err = b.storeSecret(bytes.Repeat([]byte{0x66}, secretSize))
	b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the wrong secret is replaced by the anchored one", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		s, err := b.networkSecret()
		return err == nil && bytes.Equal(s, secret)
	})
}
