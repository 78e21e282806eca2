package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// The transport gate, on real hosts over loopback TCP (go-libp2p's mock
// network takes no connection gater from outside its package; the last
// test here shows what the runner does there instead).

// gateLog records a runner's gate decisions.
type gateLog struct {
	mu     gosync.Mutex
	events []p2p.GateEvent
}

func (l *gateLog) record(ev p2p.GateEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// count is how many decisions d were taken about p (of any protocol, or of
// the protocols named).
func (l *gateLog) count(p peer.ID, d p2p.GateDecision, protos ...protocol.ID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Peer == p && ev.Decision == d && (len(protos) == 0 || slices.Contains(protos, ev.Protocol)) {
			n++
		}
	}
	return n
}

// connLog counts the connections a host completed, by peer: a connection
// the gate refuses is never completed.
type connLog struct {
	mu gosync.Mutex
	n  map[peer.ID]int
}

func watchConns(t *testing.T, h host.Host) *connLog {
	l := &connLog{n: map[peer.ID]int{}}
	nb := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		l.mu.Lock()
		l.n[c.RemotePeer()]++
		l.mu.Unlock()
	}}
	h.Network().Notify(nb)
	t.Cleanup(func() { h.Network().StopNotify(nb) })
	return l
}

func (l *connLog) count(p peer.ID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[p]
}

// runLoopback runs n on a real host listening on loopback TCP.
func runLoopback(t *testing.T, n *node.Node, opt p2p.RunOptions) (*p2p.Runner, peer.AddrInfo) {
	t.Helper()
	opt.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r, err := p2p.Start(t.Context(), n, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, a := range r.Addrs() {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			ai, err := peer.AddrInfoFromString(a)
			if err != nil {
				t.Fatal(err)
			}
			return r, *ai
		}
	}
	t.Fatalf("no loopback TCP address among %v", r.Addrs())
	return nil, peer.AddrInfo{}
}

// strangerHost is a libp2p host whose key no network knows. psk, if not
// nil, is the pre-shared network key it dials with.
func strangerHost(t *testing.T, psk []byte) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay()}
	if psk != nil {
		opts = append(opts, libp2p.PrivateNetwork(psk))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// foundNetwork founds a network of one steward organisation.
func foundNetwork(t *testing.T, opt node.InitOptions) *node.Node {
	t.Helper()
	opt.Org = "Steward"
	n, err := node.Init(context.Background(), t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// sameState fails unless n holds what it held when before was taken.
func sameState(t *testing.T, n *node.Node, before node.StatusInfo) {
	t.Helper()
	after := n.Status()
	if after.Digest != before.Digest || after.Entries != before.Entries || after.Waiting != before.Waiting || after.Held != before.Held {
		t.Errorf("the member's state changed: %d entries (%d waiting, %d held), digest %.16s; before %d (%d, %d), %.16s",
			after.Entries, after.Waiting, after.Held, after.Digest, before.Entries, before.Waiting, before.Held, before.Digest)
	}
}

// ourProtocols are the stream protocols a node serves members.
func ourProtocols(network crdt.ID) []protocol.ID {
	return append([]protocol.ID{msync.Protocol(network), p2p.SecretProtocol(network)}, gossipProtocols()...)
}

func gossipProtocols() []protocol.ID {
	return []protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11, pubsub.GossipSubID_v10, pubsub.FloodSubID}
}

// dialMany has h dial member until total of its dials have reached the
// member (came is how many connections the member has seen come in), one
// after the other, each time asking for a stream of ours, and returns how
// many streams opened. Given untilSeen, a dial ends once the member has
// seen it come in: without the network key, neither side of a dial may
// ever finish its handshake. Otherwise it ends when it fails or succeeds.
//
// A dial that ends without a connection coming in is tried again: on a
// busy machine, the dialler's swarm may hand a new dial the outcome of the
// one before (still being torn down) without dialling at all. Each try
// has a timeout, and a dial a few tries in a row; they only turn a hang
// into a failure.
func dialMany(t *testing.T, h host.Host, member peer.AddrInfo, net crdt.ID, total int, came func() int, untilSeen bool) int {
	t.Helper()
	const tries = 5
	h.Peerstore().AddAddrs(member.ID, member.Addrs, peerstore.PermanentAddrTTL)
	backoff := h.Network().(*swarm.Swarm).Backoff()
	base, opened, again := came(), 0, 0
	for i := range total {
		reached := func() bool { return came()-base > i }
		for try := 0; !reached(); try++ {
			if try == tries {
				t.Fatalf("dial %d of %d did not reach the member in %d tries", i+1, total, tries)
			}
			if try > 0 {
				again++
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			done := make(chan error, 1)
			go func() {
				st, err := h.NewStream(ctx, member.ID, ourProtocols(net)...)
				if err == nil {
					st.Reset()
				}
				done <- err
			}()
			var err error
		wait:
			for {
				select {
				case err = <-done:
					break wait
				case <-time.After(5 * time.Millisecond):
					if untilSeen && reached() {
						cancel()
					}
				}
			}
			cancel()
			if err == nil {
				opened++
			} else if i == 0 && try == 0 {
				t.Logf("the stranger's first try: %v", err)
			}
			backoff.Clear(member.ID) // or the swarm would not dial again for a while
			// The dialler may count a connection made that the member then
			// refuses (its side of the handshake ends first): the next try
			// would use it instead of dialling.
			waitFor(t, 20*time.Second, "the dialler sees its connection closed", func() bool {
				return h.Network().Connectedness(member.ID) != network.Connected
			})
		}
	}
	if again > 0 {
		t.Logf("%d dials did not reach the member and were tried again", again)
	}
	return opened
}

func TestNonMemberDialsAMemberAThousandTimes(t *testing.T) {
	const dials = 1000
	wrongKey := bytes.Repeat([]byte{0x5A}, 32)
	for _, tc := range []struct {
		name    string
		private bool
		key     func(valid []byte) []byte // the dialler's network key
		gated   bool                      // whether the dial reaches the gater
	}{
		{"open network", false, func([]byte) []byte { return nil }, true},
		{"private network, the dialler has the key", true, func(k []byte) []byte { return k }, true},
		{"private network, the dialler has a wrong key", true, func([]byte) []byte { return wrongKey }, false},
		{"private network, the dialler has no key", true, func([]byte) []byte { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := foundNetwork(t, node.InitOptions{Private: tc.private})
			var psk []byte
			if tc.private {
				var err error
				if psk, err = n.NetworkKey(); err != nil || len(psk) != 32 {
					t.Fatal(psk, err)
				}
				if raw, _ := os.ReadFile(filepath.Join(n.Dir(), "network.psk")); bytes.Contains(raw, psk) {
					t.Fatal("the network key is stored in clear")
				}
			}
			gl := &gateLog{}
			r, member := runLoopback(t, n, p2p.RunOptions{OnGate: gl.record})
			conns := watchConns(t, r.Host())
			before := n.Status()

			hosts := []host.Host{strangerHost(t, tc.key(psk))}
			start := time.Now()
			came := func() int { return gl.count("", p2p.ConnIncoming) }
			// A gated dial fails at the gate by itself; cut short when it
			// came in, it might end before the gate decides.
			if opened := dialMany(t, hosts[0], member, n.Network(), dials, came, !tc.gated); opened != 0 {
				t.Fatalf("the strangers opened %d streams", opened)
			}
			took := time.Since(start)

			// Each connection that came in is refused at the gate, or (with
			// no key or a wrong one) never gets that far.
			want := 0
			if tc.gated {
				want = came()
				waitFor(t, 30*time.Second, "the gater's decisions are in", func() bool { return refusedAny(gl, hosts) >= want })
			}
			refused, served, reset, completed := refusedAny(gl, hosts), 0, 0, 0
			for _, h := range hosts {
				served += gl.count(h.ID(), p2p.StreamServed)
				reset += gl.count(h.ID(), p2p.StreamRefused)
				completed += conns.count(h.ID())
			}
			t.Logf("%d dials by %d host(s) in %v; the member saw %d connections come in, its gater refused %d; it completed %d, served %d streams, reset %d",
				dials, len(hosts), took.Round(time.Millisecond), gl.count("", p2p.ConnIncoming), refused, completed, served, reset)
			if c := came(); c < dials {
				t.Errorf("%d connections came in, want %d", c, dials)
			}
			if refused != want {
				t.Errorf("the gater refused %d connections, want %d", refused, want)
			}
			if completed != 0 {
				t.Errorf("the member completed %d connections with the strangers", completed)
			}
			if served+reset != 0 {
				t.Errorf("%d streams of the strangers reached the member's handlers", served+reset)
			}
			if tr := r.Traffic(); tr.Sync.Sessions != 0 || tr.GossipRecv != 0 {
				t.Errorf("the member reconciled %d times and received %d bytes of gossip", tr.Sync.Sessions, tr.GossipRecv)
			}
			sameState(t, n, before)
		})
	}
}

// redialRefused has h dial member again and ask for a stream of ours: the
// member's gater refuses the connection. (With TCP and noise the dialler
// may count the connection made — its side of the handshake is over first
// — but it is closed before a stream can be opened.)
func redialRefused(t *testing.T, h host.Host, member peer.AddrInfo, net crdt.ID, gl *gateLog) {
	t.Helper()
	waitFor(t, 5*time.Second, "the dialler sees the old connection closed", func() bool {
		return h.Network().Connectedness(member.ID) != network.Connected
	})
	refused := gl.count(h.ID(), p2p.ConnRefused)
	h.Network().(*swarm.Swarm).Backoff().Clear(member.ID)
	h.Peerstore().AddAddrs(member.ID, member.Addrs, peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := h.NewStream(ctx, member.ID, ourProtocols(net)...); err == nil {
		st.Reset()
		t.Fatalf("dialling again, %s opened a %s stream", h.ID(), st.Protocol())
	}
	waitFor(t, 5*time.Second, "the gater refuses the dialler", func() bool { return gl.count(h.ID(), p2p.ConnRefused) > refused })
}

func refusedAny(gl *gateLog, hosts []host.Host) int {
	n := 0
	for _, h := range hosts {
		n += gl.count(h.ID(), p2p.ConnRefused)
	}
	return n
}

func TestOpenInviteAdmitsAStrangerToTheTransportOnly(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64 // how far the member's clock is ahead
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	n := foundNetwork(t, node.InitOptions{Now: clock})
	if _, err := n.Append(ctx, &crdt.Invite{Key: [32]byte{1, 2, 3}, Expires: uint64(clock().Add(time.Hour).UnixMilli()), Purpose: crdt.InviteOrganisation}); err != nil {
		t.Fatal(err)
	}
	gl, tr := &gateLog{}, &topicTrace{}
	r, member := runLoopback(t, n, p2p.RunOptions{OnGate: gl.record, RecheckEvery: 50 * time.Millisecond, SyncEvery: 200 * time.Millisecond,
		Gossip: msync.GossipOptions{Tracer: tr}})
	before := n.Status()

	// The stranger speaks both of the network's protocols: it answers
	// reconciliations (counting them) and takes part in the topic.
	s := strangerHost(t, nil)
	var asked atomic.Int32
	s.SetStreamHandler(msync.Protocol(n.Network()), func(st network.Stream) {
		asked.Add(1)
		st.Reset()
	})
	psCtx, psCancel := context.WithCancel(ctx)
	ps, err := pubsub.NewGossipSub(psCtx, s, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(hashID))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(msync.GossipTopic(n.Network()))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Cancel()
		topic.Close()
		psCancel()
	})

	if err := s.Connect(ctx, member); err != nil {
		t.Fatalf("a stranger cannot connect while an invite is open: %v", err)
	}
	// Reconciliation: its stream is reset before a byte of it is read...
	st, err := s.NewStream(ctx, member.ID, msync.Protocol(n.Network()))
	if err == nil {
		if _, err = st.Write(frame(frameMsg, fakeFirstMessage(t))); err == nil {
			_, err = st.Read(make([]byte, 1))
		}
		st.Reset()
	}
	if err == nil {
		t.Fatal("the member answered the stranger's reconciliation")
	}
	// The network secret of the double-funding check: refused likewise.
	if st, err := s.NewStream(ctx, member.ID, p2p.SecretProtocol(n.Network())); err == nil {
		_, err = st.Read(make([]byte, 1))
		st.Reset()
		if err == nil {
			t.Fatal("the member handed the stranger the network secret")
		}
	}
	// ...and the member does not start one with it.
	if _, err := r.SyncWith(ctx, s.ID()); !errors.Is(err, msync.ErrNotAllowed) {
		t.Errorf("the member's reconciliation with the stranger: %v, want %v", err, msync.ErrNotAllowed)
	}
	// Gossip: its streams are reset too, so what it publishes goes nowhere.
	stranger := newOutsider("Stranger", 0xEE)
	e, err := crdt.Sign(stranger.priv, crdt.Draft{Network: n.Network(), Seq: 1, Clock: crdt.NextClock(0, 0, uint64(time.Now().UnixMilli())), Kind: crdt.KindRequest, Body: requestBody(t, "From a stranger")})
	if err != nil {
		t.Fatal(err)
	}
	// (Its pubsub never opens one by itself: identify does not answer a
	// stranger, so it never learns that the member speaks gossip. Asked
	// for one outright, the member resets it.)
	gossipProtos := gossipProtocols()
	if st, err := s.NewStream(ctx, member.ID, gossipProtos...); err == nil {
		_, err = st.Read(make([]byte, 1))
		st.Reset()
		if err == nil {
			t.Fatal("the member answered the stranger's gossip stream")
		}
	}
	waitFor(t, 10*time.Second, "the stranger's gossip stream is refused", func() bool {
		if err := topic.Publish(ctx, e.Raw()); err != nil {
			t.Fatal(err)
		}
		return gl.count(s.ID(), p2p.StreamRefused, gossipProtos...) > 0
	})
	if err := topic.Publish(ctx, e.Raw()); err != nil {
		t.Fatal(err)
	}
	if s.Network().Connectedness(member.ID) != network.Connected {
		t.Fatal("the member cut the stranger off while the invite is open")
	}

	// The invite expires (the member's clock moves on): the stranger is cut
	// off at the next look, and refused from then on.
	skew.Store(int64(2 * time.Hour))
	took := waitFor(t, 10*time.Second, "the stranger is disconnected once no invite is open", func() bool {
		return s.Network().Connectedness(member.ID) != network.Connected
	})
	t.Logf("disconnected %v after the invite expired", took.Round(time.Millisecond))
	redialRefused(t, s, member, n.Network(), gl)

	t.Logf("stranger: %d streams refused (%d of gossip), %d served; %d connections refused after the invite expired",
		gl.count(s.ID(), p2p.StreamRefused), gl.count(s.ID(), p2p.StreamRefused, gossipProtos...),
		gl.count(s.ID(), p2p.StreamServed), gl.count(s.ID(), p2p.ConnRefused))
	if c := gl.count(s.ID(), p2p.StreamServed); c != 0 {
		t.Errorf("%d of the stranger's streams were served", c)
	}
	if c := asked.Load(); c != 0 {
		t.Errorf("the member asked the stranger to reconcile %d times", c)
	}
	for _, m := range tr.all() {
		if m.from == s.ID() {
			t.Errorf("the member's gossip took in a message from the stranger (%s)", m.event)
		}
	}
	sameState(t, n, before)
}

// Two members on real hosts; the steward revokes the other's device from
// the command line (another process: the running node picks it up from
// the store).
func TestRevokedDeviceIsDisconnectedAndRefused(t *testing.T) {
	ctx := context.Background()
	steward := foundNetwork(t, node.InitOptions{})
	other, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: steward.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := steward.Append(ctx, &crdt.Admission{Device: other.Device(), Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	gl := &gateLog{}
	opt := p2p.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, OnGate: gl.record}
	sr, stewardAddr := runLoopback(t, steward, opt)
	opt.Peers = []string{stewardAddr.Addrs[0].String() + "/p2p/" + stewardAddr.ID.String()}
	opt.OnGate = nil
	or, _ := runLoopback(t, other, opt)
	otherID := or.Host().ID()
	both := []*meshNode{{n: steward, r: sr}, {n: other, r: or}}
	waitFor(t, 20*time.Second, "the other member is admitted and in sync", func() bool { return other.Status().Admitted && converged(both) })
	req, err := other.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "Before the seizure"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the other member's entry reaches the steward", func() bool {
		_, err := steward.Request(req.ID().String())
		return err == nil
	})

	cli, err := node.Open(ctx, steward.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := cli.RevokeDevice(ctx, other.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	waitFor(t, 10*time.Second, "the steward disconnects the revoked device", func() bool {
		return sr.Host().Network().Connectedness(otherID) != network.Connected
	})
	waitFor(t, 5*time.Second, "the revoked node sees the connection closed", func() bool {
		return or.Host().Network().Connectedness(stewardAddr.ID) != network.Connected
	})
	t.Logf("disconnected %v after the revocation was written", time.Since(start).Round(time.Millisecond))
	// (The gate says so once the connection is closed: by then either
	// side may have seen it go.)
	waitFor(t, 5*time.Second, "the gate says it disconnected the revoked device", func() bool {
		return gl.count(otherID, p2p.Disconnected) > 0
	})

	// What the revoked device writes now has no way to the steward: every
	// connection is refused (the revoked node keeps trying on its own too).
	late, err := other.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "After the seizure"})
	switch {
	case errors.Is(err, node.ErrRefused): // the revocation reached it first
		t.Logf("the revoked node refused to write: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		t.Logf("the revoked node wrote %.16s (it has not heard of its revocation)", late.ID())
	}
	redialRefused(t, or.Host(), stewardAddr, steward.Network(), gl)
	if late != nil {
		if _, err := steward.Request(late.ID().String()); err == nil {
			t.Error("the revoked device's later entry reached the steward")
		}
	}
	if sr.Host().Network().Connectedness(otherID) == network.Connected {
		t.Error("the revoked device is connected again")
	}
	t.Logf("revoked device: %d connections refused, %d disconnections", gl.count(otherID, p2p.ConnRefused), gl.count(otherID, p2p.Disconnected))
}

// On go-libp2p's mock network there is no gater: a member learns of a
// revocation (by writing it, or from the network) and cuts the revoked
// device off, and cuts it off again whenever it connects.
func TestRevocationDisconnectsOnTheMockNetwork(t *testing.T) {
	gl := &gateLog{}
	nodes, mn := mesh(t, 3, p2p.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond, OnGate: gl.record})
	waitFor(t, 20*time.Second, "the network settles", func() bool { return converged(nodes) && nodes[2].n.Status().Admitted })
	ctx := context.Background()
	revoked := nodes[2].r.Host().ID()
	if _, err := nodes[0].n.RevokeDevice(ctx, nodes[2].n.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	connected := func() bool {
		for _, m := range nodes[:2] {
			if m.r.Host().Network().Connectedness(revoked) == network.Connected {
				return true
			}
		}
		return false
	}
	took := waitFor(t, 10*time.Second, "both members disconnect the revoked device", func() bool { return !connected() })
	t.Logf("both disconnected %v after the revocation", took.Round(time.Millisecond))

	late, err := nodes[2].n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "After the seizure"})
	if err != nil && !errors.Is(err, node.ErrRefused) {
		t.Fatal(err)
	}
	cuts := gl.count(revoked, p2p.Disconnected)
	if _, err := mn.ConnectPeers(revoked, nodes[1].r.Host().ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new connection is cut at once", func() bool {
		return !connected() && gl.count(revoked, p2p.Disconnected) > cuts
	})
	if late != nil {
		for i, m := range nodes[:2] {
			if _, err := m.n.Request(late.ID().String()); err == nil {
				t.Errorf("node %d holds the revoked device's later entry", i)
			}
		}
	}
	if c := gl.count(revoked, p2p.StreamServed); c == 0 {
		t.Error("no stream of the revoked device was ever served: the test proves nothing")
	}
	t.Logf("revoked device: %d disconnections, %d streams refused since", gl.count(revoked, p2p.Disconnected), gl.count(revoked, p2p.StreamRefused))
}
