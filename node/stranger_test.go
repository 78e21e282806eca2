package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/p2p"
)

// What a stranger learns. An outsider built on go-libp2p alone (no code of
// ours) dials a member's node while an invite is open on another member's
// node, and then dials the inviting node. The first drops it; the second
// lets it connect (to present an invite) but tells it nothing: no agent
// naming Murmur, no protocol naming the network, no addresses.
func TestStrangerLearnsNothing(t *testing.T) {
	ctx := context.Background()
	f, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha Fund Kampala"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var fLog, bLog gateRecord
	fr := runGated(t, f, &fLog)
	// A second organisation joins with an invite of f's, and runs.
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	b := join(t, t.TempDir(), code, "Beta Collective", "")
	br := runGated(t, b, &bLog, fr.Addrs()...)
	// f opens another invite; b hears of it (an invite is open in the
	// network, but not one of b's).
	open := newInvite(t, f, fr, crdt.InviteDevice, time.Hour)
	eventually(t, 20*time.Second, "b knows f's open invite", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, iv := range b.state.Invites() {
			if _, pub := inviteKey(open.Secret); iv.Key == pub {
				return true
			}
		}
		return false
	})

	netID := f.Network()
	secrets := []string{netID.String(), hex.EncodeToString(netID[:8]), "murmur", "Alpha Fund", "Beta Collective"}
	leaks := func(what string, got []byte) {
		t.Helper()
		low := bytes.ToLower(got)
		for _, s := range secrets {
			if bytes.Contains(low, bytes.ToLower([]byte(s))) {
				t.Errorf("%s holds %q", what, s)
			}
		}
	}

	s, idents := outsider(t)
	// The member's node with no invite of its own drops the stranger.
	bAddr := loopbackAddr(t, br)
	if err := s.Connect(ctx, bAddr); err == nil && !within(10*time.Second, func() bool {
		return s.Network().Connectedness(bAddr.ID) != network.Connected
	}) {
		t.Error("b kept the stranger connected while only f has an invite open")
	}
	if !within(10*time.Second, func() bool { return bLog.count(s.ID(), p2p.ConnRefused) > 0 }) {
		t.Error("b's gate did not refuse the stranger")
	}
	if ag, err := s.Peerstore().Get(bAddr.ID, "p2p.AgentVersion"); err == nil {
		t.Errorf("b told the stranger its agent: %v", ag)
	}

	// The inviting node lets it connect, to present an invite, and no more.
	fAddr := loopbackAddr(t, fr)
	if err := s.Connect(ctx, fAddr); err != nil {
		t.Fatalf("the stranger cannot reach the inviting node: %v", err)
	}
	idents.wait(t, fr.Host().ID())
	if ag, err := s.Peerstore().Get(fr.Host().ID(), "p2p.AgentVersion"); err == nil {
		leaks("the agent f gave the stranger", []byte(ag.(string)))
	}
	protos, _ := s.Peerstore().GetProtocols(fr.Host().ID())
	for _, p := range protos {
		leaks("a protocol f listed to the stranger", []byte(p))
	}
	for _, a := range s.Peerstore().Addrs(fr.Host().ID()) {
		if !a.Equal(fAddr.Addrs[0]) {
			t.Errorf("the stranger learnt f's address %v", a)
		}
	}
	// Asked outright, f's identify answers nothing: neither its agent, nor
	// its protocols, nor its listen addresses.
	raw := askIdentify(t, s, fr.Host().ID())
	leaks("f's identify answer", raw)
	for _, a := range fr.Host().Addrs() {
		if bytes.Contains(raw, a.Bytes()) {
			t.Errorf("f's identify answer holds its address %v", a)
		}
	}
	if len(raw) > 0 {
		t.Errorf("f answered the stranger's identify with %d bytes", len(raw))
	}
	if s.Network().Connectedness(fr.Host().ID()) != network.Connected {
		t.Error("the inviting node dropped the stranger while its invite is open")
	}
	t.Logf("b refused the stranger's connection %d times; f refused %d of its streams", bLog.count(s.ID(), p2p.ConnRefused), fLog.count(s.ID(), p2p.StreamRefused))

	// The join itself still works: a device joins with the open invite.
	d := join(t, t.TempDir(), open, "", "")
	if d.Org() != f.Org() {
		t.Fatalf("the new device is in organisation %v, want %v", d.Org(), f.Org())
	}
}

// within reports whether cond holds before d has passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// gateRecord records gate decisions.
type gateRecord struct {
	mu  gosync.Mutex
	evs []p2p.GateEvent
}

func (g *gateRecord) add(ev p2p.GateEvent) {
	g.mu.Lock()
	g.evs = append(g.evs, ev)
	g.mu.Unlock()
}

func (g *gateRecord) count(p peer.ID, d p2p.GateDecision) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := 0
	for _, ev := range g.evs {
		if ev.Peer == p && ev.Decision == d {
			c++
		}
	}
	return c
}

func runGated(t *testing.T, n *Node, g *gateRecord, peers ...string) *p2p.Runner {
	t.Helper()
	r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond,
		RecheckEvery: 100 * time.Millisecond, OnGate: g.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func loopbackAddr(t *testing.T, r *p2p.Runner) peer.AddrInfo {
	t.Helper()
	for _, a := range r.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			ai, err := peer.AddrInfoFromString(a)
			if err != nil {
				t.Fatal(err)
			}
			return *ai
		}
	}
	t.Fatalf("no loopback TCP address among %v", r.Addrs())
	return peer.AddrInfo{}
}

// identifications records which peers the outsider's identify finished
// with (completed or failed).
type identifications struct {
	mu   gosync.Mutex
	done map[peer.ID]bool
}

func (i *identifications) wait(t *testing.T, p peer.ID) {
	t.Helper()
	eventually(t, 10*time.Second, "the stranger's identify of "+p.ShortString()+" ends", func() bool {
		i.mu.Lock()
		defer i.mu.Unlock()
		return i.done[p]
	})
}

// outsider is a plain go-libp2p host: go-libp2p's defaults but TCP only,
// with a key no network knows.
func outsider(t *testing.T) (host.Host, *identifications) {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ids := &identifications{done: map[peer.ID]bool{}}
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerIdentificationFailed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	go func() {
		for ev := range sub.Out() {
			var p peer.ID
			switch e := ev.(type) {
			case event.EvtPeerIdentificationCompleted:
				p = e.Peer
			case event.EvtPeerIdentificationFailed:
				p = e.Peer
			}
			ids.mu.Lock()
			ids.done[p] = true
			ids.mu.Unlock()
		}
	}()
	return h, ids
}

// askIdentify opens an identify stream to p and returns what p sent on it.
func askIdentify(t *testing.T, h host.Host, p peer.ID) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, protocol.ID(identify.ID))
	if err != nil {
		return nil
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	raw, _ := io.ReadAll(io.LimitReader(s, 64<<10))
	return raw
}
