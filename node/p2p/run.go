package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/runfile"
	msync "github.com/murmurnet/murmur/sync"
)

// DefaultPort is where a node listens unless told otherwise, on TCP and
// QUIC: a fixed port keeps the addresses peers were given valid across
// restarts. If it is taken, the node takes any free port and says so.
const DefaultPort = addrport.DefaultPort

// RunOptions configure a running node.
type RunOptions struct {
	// Listen addresses (multiaddrs). Default: TCP and QUIC on DefaultPort,
	// all interfaces, IPv4 and IPv6; TCP only for a private network (one
	// whose data directory holds network.psk).
	Listen []string
	// Peers to keep connected to (multiaddrs ending in /p2p/PEERID).
	Peers []string
	// MDNS finds members on the same LAN with no internet.
	MDNS bool
	// Host, if set, is used instead of creating one (in-process tests on
	// go-libp2p's mock network). Listen is then ignored, and the host
	// belongs to the caller: Close leaves it open.
	Host host.Host
	// SyncEvery is the period of anti-entropy with every connected peer;
	// default 30 s. Reconciliation also runs on every new connection.
	SyncEvery time.Duration
	// PollEvery is how often the store is checked for entries written by
	// other processes (CLI commands); default 200 ms.
	PollEvery time.Duration
	// RecheckEvery is how often the standing of connected peers is looked
	// at again, besides whenever a membership entry is accepted or undone
	// (an invite expires with time alone); default 5 s.
	RecheckEvery time.Duration
	// OnGate, if set, is told of every decision of the transport gate
	// (tests and metrics). It runs on libp2p's goroutines: it must not block.
	OnGate func(GateEvent)
	// Gossip and Sync tune the two paths (tests drop messages through them).
	Gossip msync.GossipOptions
	Sync   msync.SyncOptions
	// Log receives one line per notable event (node/logs); nil discards
	// them.
	Log *slog.Logger
	// Relay serves circuit relay v2 to member devices, so that offices
	// behind NAT can be introduced to each other (see nat.go). Only a node
	// others can reach should relay.
	Relay bool
	// Announce: addresses at which others can reach this node (see
	// ParseHintAddr), published as this device's address hint when the
	// node starts (with Relay), unless it says so already.
	Announce []ma.Multiaddr
	// NATEvery is how often relays, introductions and reachability are
	// looked at (nat.go); default 30 s. ReachEvery is how often members
	// are asked again to dial this node back; default 10 minutes.
	NATEvery, ReachEvery time.Duration
	// NoDial: do not dial the member devices this node remembers or has
	// address hints for (tests: only the other side dials).
	NoDial bool
	// AloneAfter is how long with no member's node connected before the
	// node says it is alone; default DefaultAloneAfter.
	AloneAfter time.Duration
	// Clock schedules the runner's own timers (clock.go); default the real
	// clock. Tests pass a ManualClock.
	Clock Clock
}

// Runner is a node taking part in its network. Close stops it.
type Runner struct {
	core Core
	// revokedSaid: the log said this device was revoked (checkRevoked).
	revokedSaid atomic.Bool
	// served are the protocols Start registered on the host: Close
	// removes them (on a host the caller passed in, they would otherwise
	// go on calling into a stopped node).
	served []protocol.ID
	// synced remembers, per member organisation, the last reconciliation
	// this node started with one of its nodes that ended well (node/bundle.go,
	// noteSynced); syncedMu guards it.
	synced   map[crdt.OrgID]syncedNote
	syncedMu gosync.Mutex
	h        host.Host
	gossip   *msync.Gossip
	syncer   *msync.Syncer
	lan      *lanDiscovery
	opt      RunOptions
	log      *slog.Logger // opt.Log
	count    counters     // for the metrics (counters.go)
	clock    Clock
	unlock   func() // releases the data directory's run lock

	ctx       context.Context
	cancel    context.CancelFunc
	wg        gosync.WaitGroup
	closeOnce gosync.Once
	closeErr  error
	spawnMu   gosync.Mutex
	stopping  bool // under spawnMu

	live *throttle     // the live path's rate limit on members (gossip validator)
	pace *rate.Limiter // this device's entries on the live path (publishLoop)

	gated    bool                  // the host has the runner's connection gater
	private  bool                  // the network has a pre-shared key: TCP only
	recheck  chan struct{}         // the gate loop should look at the peers again
	notifiee *network.NotifyBundle // tells the gate loop of new connections

	commits   chan commitReq   // the live path's entries, to the committer (commit.go)
	own       chan *crdt.Entry // this device's new entries, to publish
	syncSoon  chan peer.ID     // peers to reconcile with now
	connected chan peer.ID     // peers that just connected
	peerAddrs []peer.AddrInfo  // --peer, kept connected

	psk          []byte        // the network's pre-shared key, if it is private
	loopbackOnly bool          // every listen address is loopback (or the host is the caller's)
	nat          natState      // paths through NAT (nat.go)
	reachLimiter *rate.Limiter // dial-backs served to others
	reachMu      gosync.Mutex
	reachPeers   map[peer.ID]*rate.Limiter // and to each of them
	book         *peerBook                 // remembered peers and the dial loop (peers.go)
	doors        doors                     // this device's open invites' doors (door.go)
	telling      telling                   // revoked peers being told before they are cut off (told.go)
}

func (opt *RunOptions) defaults() {
	if len(opt.Listen) == 0 && opt.Host == nil {
		for _, f := range []string{"/ip4/0.0.0.0/tcp/%d", "/ip4/0.0.0.0/udp/%d/quic-v1", "/ip6/::/tcp/%d", "/ip6/::/udp/%d/quic-v1"} {
			opt.Listen = append(opt.Listen, fmt.Sprintf(f, DefaultPort))
		}
	}
	if opt.SyncEvery == 0 {
		opt.SyncEvery = 30 * time.Second
	}
	if opt.PollEvery == 0 {
		opt.PollEvery = 200 * time.Millisecond
	}
	if opt.RecheckEvery == 0 {
		opt.RecheckEvery = 5 * time.Second
	}
	if opt.NATEvery == 0 {
		opt.NATEvery = natEvery
	}
	if opt.ReachEvery == 0 {
		opt.ReachEvery = reachEvery
	}
	opt.Log = logs.Or(opt.Log)
	if opt.AloneAfter == 0 {
		opt.AloneAfter = DefaultAloneAfter
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
}

// Start joins the network: it listens, keeps the given peers connected,
// finds others on the LAN, gossips new entries and reconciles with every
// peer it meets. The node's key must be unlocked. The runner lives until
// ctx ends or Close is called, whichever comes first; once ctx has ended,
// its loops are stopped, and Close still takes back its handlers and
// closes its host.
func Start(ctx context.Context, n Core, opt RunOptions) (r *Runner, err error) {
	if err := n.CheckRunnable(ctx); err != nil {
		return nil, err
	}
	if err := n.LoadPool(ctx); err != nil {
		return nil, err
	}
	chosenListen := len(opt.Listen) > 0
	opt.defaults()
	r = &Runner{core: n, opt: opt, live: newThrottle(), pace: rate.NewLimiter(authorRate, authorBurst), recheck: make(chan struct{}, 1), commits: make(chan commitReq, commitBatch), own: make(chan *crdt.Entry, 4096), syncSoon: make(chan peer.ID, 256), connected: make(chan peer.ID, 64)}
	r.clock = opt.Clock
	r.log = opt.Log
	r.book = newPeerBook()
	r.book.lastMember = r.clock.Now()
	r.doors = doors{open: map[[inviteSecretLen]byte]*door{}, failed: map[[inviteSecretLen]byte]bool{}}
	var psk []byte
	if opt.Host == nil {
		if psk, err = n.NetworkKey(); err != nil {
			return nil, err
		}
	}
	r.psk = psk
	r.loopbackOnly = opt.Host != nil || !addrport.BeyondLoopback(r.opt.Listen)
	r.reachLimiter = rate.NewLimiter(reachLimit, 3)
	r.reachPeers = map[peer.ID]*rate.Limiter{}
	if r.private = psk != nil; r.private {
		tcp, other := tcpListen(opt.Listen)
		if len(tcp) == 0 {
			return nil, inputErr("this network is private, and a private network runs over TCP only: give a TCP --listen address (not %s)", strings.Join(other, ", "))
		}
		if chosenListen && len(other) > 0 {
			opt.Log.Info(fmt.Sprintf("this network is private, and a private network runs over TCP only: not listening on %s", strings.Join(other, ", ")))
		}
		r.opt.Listen = tcp
	}
	if len(opt.Announce) > crdt.MaxHintAddrs {
		return nil, inputErr("%d addresses to announce: at most %d", len(opt.Announce), crdt.MaxHintAddrs)
	}
	for _, s := range opt.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, inputErr("--peer %q is not a multiaddr ending in /p2p/PEERID: %v", s, err)
		}
		for _, a := range ai.Addrs {
			if !dialableAt(a, true) {
				return nil, inputErr("--peer %q: Murmur dials IP addresses only, with a TCP port or a UDP port and QUIC (a host name is never looked up: its DNS server would learn when this node is online); give the peer's IP address", s)
			}
		}
		r.peerAddrs = append(r.peerAddrs, *ai)
	}
	if opt.Host == nil {
		if r.unlock, err = n.LockRun(); err != nil {
			return nil, err
		}
	}
	if n.RecoveryPending() {
		n.Vouch(r.peerAddrs)
		opt.Log.Info("the database was rebuilt: this device writes nothing until it has synced with a member's node")
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	started := r // (an error return sets r to nil)
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if r.h = opt.Host; r.h == nil {
		r.gated = true
		// A port another node holds is refused, not shared (listen.go).
		if r.opt.Listen, err = chooseListen(r.opt.Listen, !chosenListen, DefaultPort, opt.Log); err != nil {
			return nil, err
		}
		var key lpcrypto.PrivKey
		if key, err = n.HostKey(); err != nil {
			return nil, err
		}
		if r.h, err = newHost(key, r.opt.Listen, psk, gater{core: n, event: r.event, dialable: r.dialableByHost}, r.streamAllowed, natOptions(n, r.opt.Listen, opt.Relay)...); err != nil {
			return nil, err
		}
	}
	// The gate loop hears of every new connection (on a host without the
	// gater, a revoked device may still connect) and of every membership
	// change.
	r.notifiee = &network.NotifyBundle{ConnectedF: func(network.Network, network.Conn) { r.recheckSoon() }}
	r.h.Network().Notify(r.notifiee)
	n.Observe(nil, r.recheckSoon)
	r.spawn(r.gateLoop)
	if err := r.subscribeConnections(); err != nil {
		return nil, err
	}
	// The network's protocols are served to members' nodes only (see
	// gate.go). A protocol for strangers — presenting an invite — is
	// registered on r.h itself.
	members := memberHost{Host: r.h, r: r}
	netID := n.Network()
	r.h.SetStreamHandler(n.JoinProtocol(), r.serveJoin)
	members.SetStreamHandler(SecretProtocol(netID), r.serveSecret)
	members.SetStreamHandler(BodiesProtocol(netID), r.serveBodies)
	members.SetStreamHandler(reachProtocol(netID), r.serveReach)
	members.SetStreamHandler(toldProtocol(netID), r.serveTold)
	r.served = []protocol.ID{n.JoinProtocol(), SecretProtocol(netID), BodiesProtocol(netID), reachProtocol(netID), toldProtocol(netID)}
	user := r.opt.Sync.OnSessionEnd // a successful session is a contact (peers.go)
	r.opt.Sync.OnSessionEnd = func(p peer.ID, st msync.Stats, err error) {
		r.sessionEnded(p, err)
		if user != nil {
			user(p, st, err)
		}
	}
	r.syncer = msync.NewSyncer(members, netID, replica{n}, r.syncOptions())
	r.gossip, err = msync.JoinGossip(r.ctx, members, netID, r.validate,
		func(peer.ID, *crdt.Entry) {}, // (the validator took it in: see validate)
		r.gossipOptions())
	if err != nil {
		return nil, err
	}
	n.Observe(func(e *crdt.Entry) {
		r.count.written.Add(1)
		select {
		case r.own <- e:
		default: // the live path is full: reconciliation carries it instead
		}
	}, r.recheckSoon)
	r.spawn(r.commitLoop)
	r.spawn(r.publishLoop)
	r.spawn(r.pollLoop)
	r.spawn(r.antiEntropyLoop)
	if len(opt.Announce) > 0 {
		// Written only when it differs from this device's current hint.
		if err := n.PublishAddressHint(opt.Announce, opt.Relay); err != nil {
			return nil, fmt.Errorf("telling the other members where this node can be reached: %w", err)
		}
	}
	if opt.Host == nil {
		// (A host from the caller — go-libp2p's mock network in tests —
		// has no real addresses to map, confirm or punch through.)
		r.spawn(r.natLoop)
	}
	if err := r.startPeers(); err != nil { // dial the members it knows (peers.go)
		return nil, err
	}
	for _, ai := range r.peerAddrs {
		r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		r.spawn(func() { r.keepConnected(ai) })
	}
	if opt.MDNS {
		if r.lan, err = startLAN(r.h, lanKey(netID, r.psk), mdnsNotifee{r}, time.Now()); err != nil {
			return nil, fmt.Errorf("mDNS: %w", err)
		}
		r.spawn(r.lanLoop)
	}
	r.writeRunFile()
	r.recheckSoon() // (opens the doors of this device's open invites)
	return r, nil
}

// AgentVersion is what a node's host calls itself in identify, to the
// members' nodes that may ask (a stranger is never answered: see
// streamGate). It names no software of ours: the libp2p stack's, as any
// of its users might.
const AgentVersion = "libp2p"

// newHost creates the node's host: TCP and QUIC, or with a pre-shared
// network key (psk) TCP only, behind the connection gate and, if allow is
// not nil, the stream gate (streamGate), with the resource manager's
// per-peer limits and the bound on a source's unfinished handshakes
// (handshake.go).
func newHost(priv lpcrypto.PrivKey, listen []string, psk []byte, gate connmgr.ConnectionGater, allow func(peer.ID, protocol.ID, network.Direction) bool, extra ...libp2p.Option) (host.Host, error) {
	try := func(addrs []string) (host.Host, error) {
		// A host that fails to start closes its resource manager: each
		// attempt has its own.
		rm, err := resourceManager()
		if err != nil {
			return nil, err
		}
		// Inbound handshakes, bounded per source and in time (handshake.go).
		hs := newHandshakes(handshakeWithin)
		rm = handshakeLimit{ResourceManager: rm, hs: hs}
		if allow != nil {
			rm = streamGate{ResourceManager: rm, allow: allow}
		}
		o := []libp2p.Option{
			libp2p.Identity(priv),
			libp2p.UserAgent(AgentVersion),
			libp2p.ListenAddrStrings(addrs...),
			libp2p.ConnectionGater(handshakeGater{ConnectionGater: gate, hs: hs}),
			libp2p.ResourceManager(rm),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Muxer(yamux.ID, yamuxTransport()),
			// No name is ever looked up: a member's node is dialled at IP
			// addresses only, and a host name a rogue advertised would
			// tell its DNS server when this node is online (review 10).
			libp2p.MultiaddrResolver(noDNS{}),
		}
		o = append(o, extra...)
		if psk != nil {
			// Every connection is encrypted under the network key before
			// libp2p's own handshake, which go-libp2p can do over TCP only.
			o = append(o, libp2p.PrivateNetwork(psk))
		} else {
			o = append(o, libp2p.Transport(quic.NewTransport))
		}
		h, err := libp2p.New(o...)
		if err != nil {
			rm.Close() // (safe if libp2p closed it already)
		}
		return h, err
	}
	h, err := try(listen)
	if err == nil {
		return h, nil
	}
	// The default port may be taken (another node on this machine): any
	// free port will do, at the cost of an address that changes.
	def := fmt.Sprintf("/%d", DefaultPort)
	var fallback []string
	for _, a := range listen {
		fallback = append(fallback, replaceSuffixPort(a, def))
	}
	if slices.Equal(fallback, listen) {
		return nil, fmt.Errorf("cannot listen on %s: %w", strings.Join(listen, " "), err)
	}
	h, err2 := try(fallback)
	if err2 != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", strings.Join(listen, " "), err)
	}
	return h, nil
}

// yamuxWriteTimeout bounds how long yamux, the multiplexer on TCP
// connections (and so on a private network's only ones), waits for one of
// its frames, or a keep-alive ping, to be written before it resets the
// whole connection. go-libp2p's default, 10 s, is shorter than one 64 KiB
// yamux frame takes at 32 kbit/s (16 s), so a thin link lost its
// connection mid-sync. Two minutes leave room for a frame queued behind
// others and for retransmissions at an 800 ms round trip with loss; a
// dead connection is still found by the keep-alive (every 30 s, answered
// within this timeout).
const yamuxWriteTimeout = 2 * time.Minute

// yamuxTransport is go-libp2p's yamux configuration with yamuxWriteTimeout.
func yamuxTransport() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.ConnectionWriteTimeout = yamuxWriteTimeout
	return &t
}

// Per-peer limits of go-libp2p's resource manager on the hosts the runner
// creates; everything else is go-libp2p's default, scaled to the machine
// (an eighth of its memory, half its file descriptors). A member's node
// needs one connection (a few while both sides dial at once, over TCP and
// QUIC) and a handful of streams: gossip one each way, one reconciliation
// at a time (two while both start one), identify, the join protocol. The
// limits leave room for that several times over, and keep one peer — a
// member's node gone rogue — from taking more than its share: go-libp2p's
// defaults let one peer hold 256 inbound streams plus 128 per GiB, and 64
// MiB plus 128 MiB per GiB of buffers.
var (
	peerLimit = rcmgr.BaseLimit{
		ConnsInbound:    4,
		ConnsOutbound:   8, // the swarm dials up to 8 of a peer's addresses at once
		Conns:           8,
		StreamsInbound:  32,
		StreamsOutbound: 32,
		Streams:         64,
		// Buffers (stream receive windows, which grow up to 16 MiB on a
		// fast link): a reconciliation catching up at full speed fits.
		Memory: 32 << 20,
	}
	// peerLimitIncrease is added for each GiB the resource manager may
	// use: more memory, for faster links; the same connections and
	// streams, which a member's node needs whatever the machine.
	peerLimitIncrease = rcmgr.BaseLimitIncrease{Memory: 16 << 20}
)

// resourceManager is go-libp2p's resource manager with the limits above.
func resourceManager() (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	base, inc := peerLimit, peerLimitIncrease
	// File descriptors: as go-libp2p sets them.
	base.FD, inc.FDFraction = limits.PeerBaseLimit.FD, limits.PeerLimitIncrease.FDFraction
	limits.PeerBaseLimit, limits.PeerLimitIncrease = base, inc
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
}

func replaceSuffixPort(addr, port string) string {
	for _, proto := range []string{"/tcp", "/udp"} {
		if i := indexOf(addr, proto+port); i >= 0 {
			return addr[:i] + proto + "/0" + addr[i+len(proto+port):]
		}
	}
	return addr
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// spawn starts a goroutine the runner owns, unless Close has begun.
func (r *Runner) spawn(fn func()) {
	r.spawnMu.Lock()
	defer r.spawnMu.Unlock()
	if r.stopping {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

func (r *Runner) syncOptions() msync.SyncOptions {
	o := r.opt.Sync
	o.Allow = r.core.MemberPeer // in both directions: what the node holds is for members
	if allow := r.opt.Sync.Allow; allow != nil {
		o.Allow = func(p peer.ID) bool { return r.core.MemberPeer(p) && allow(p) }
	}
	user := o.OnSessionEnd
	o.OnSessionEnd = func(p peer.ID, st msync.Stats, err error) {
		r.count.session(st, err)
		r.logSession(p, st, err)
		if st.Received > st.Refused {
			// What arrived may be news to the other peers too.
			r.syncAllSoon(p)
		}
		if user != nil {
			user(p, st, err)
		}
	}
	return o
}

// logSession says how a reconciliation ended, on either side (this node
// started it, or the peer did): what moved, and, for one that failed, why.
// A session that moved nothing and ended well is not worth a line.
func (r *Runner) logSession(p peer.ID, st msync.Stats, err error) {
	who, got := r.core.DeviceName(p), st.Received-st.Refused
	if err == nil {
		if got > 0 || st.Pushed > 0 {
			r.log.Info(fmt.Sprintf("synced with %s in %s: %s received, %d sent", who, spellDuration(st.Elapsed), entries(got), st.Pushed), sessionAttrs(p, st)...)
		} else {
			r.log.Debug(fmt.Sprintf("synced with %s in %s: nothing to exchange", who, spellDuration(st.Elapsed)), sessionAttrs(p, st)...)
		}
		return
	}
	if r.ctx.Err() != nil || errors.Is(err, msync.ErrBusy) {
		return // closing, or the peer's own session does the work
	}
	if st.RecvBytes == 0 && !errors.Is(err, msync.ErrIdle) {
		// The peer hung up before answering: both sides started at once
		// and it kept its own session (see msync.Syncer), or it is busy.
		return
	}
	moved := entries(got) + " received"
	if owed := st.Pushed + st.Unsent; owed > 0 {
		moved += fmt.Sprintf(", %d of %d sent", st.Pushed, owed)
	}
	if st.Refused > 0 {
		moved += fmt.Sprintf(", %d refused", st.Refused)
	}
	r.log.Warn(fmt.Sprintf("sync with %s failed after %s: %s; %s", who, spellDuration(st.Elapsed), moved, r.whySyncFailed(err)), append(sessionAttrs(p, st), "err", err)...)
}

// entries is "1 entry" or "N entries".
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// whySyncFailed says in a few words why a session failed.
func (r *Runner) whySyncFailed(err error) string {
	switch {
	case errors.Is(err, msync.ErrIdle):
		idle := r.opt.Sync.IdleTimeout
		if idle <= 0 {
			idle = msync.DefaultIdleTimeout
		}
		return "the link went quiet for " + spellDuration(idle)
	case errors.Is(err, msync.ErrPeerMisbehaved):
		return "the peer sent too many invalid entries"
	case errors.Is(err, network.ErrReset), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.ErrClosedPipe), errors.Is(err, net.ErrClosed):
		return "the connection was cut"
	case errors.Is(err, msync.ErrVersion):
		return "the other node runs a release that syncs differently: upgrade the older one"
	case errors.Is(err, msync.ErrTooManyRounds):
		return "the two held too much that differed to finish at once: the next sync continues"
	case errors.Is(err, msync.ErrMalformed), errors.Is(err, msync.ErrTooLarge):
		return "the other node sent something this release cannot read"
	case errors.Is(err, msync.ErrBusy):
		return "a sync with this member was already under way"
	case errors.Is(err, msync.ErrNotAllowed):
		return "that node is not a member's node as far as this one knows"
	}
	return strings.TrimPrefix(err.Error(), "sync: ")
}

// spellDuration writes d for a log line: "45 s", "3 min 10 s", "2 h 5 min".
func spellDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 1:
		return "under a second"
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600 && s%60 == 0:
		return fmt.Sprintf("%d min", s/60)
	case s < 3600:
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %d min", s/3600, s/60%60)
}

// gossipOptions: only members' nodes are peers of the topic (and this node,
// whose own messages pass the same validator), and a peer that sends
// entries beyond the rate limit loses score.
func (r *Runner) gossipOptions() msync.GossipOptions {
	o := r.opt.Gossip
	o.AppScore = func(p peer.ID) float64 { return r.live.score(p, r.clock.Now()) }
	self := r.h.ID()
	o.Peers = func(p peer.ID) bool { return p == self || r.core.MemberPeer(p) }
	if peers := r.opt.Gossip.Peers; peers != nil {
		o.Peers = func(p peer.ID) bool { return (p == self || r.core.MemberPeer(p)) && peers(p) }
	}
	return o
}

// How long Close waits for the runner's goroutines: first with the host
// open, then after closing it (which ends what blocks on the network).
// Together within the 10 s a service manager gives a stopping process.
var (
	closeWait      = 6 * time.Second
	closeAfterHost = 2 * time.Second
)

// Close leaves the network: it removes the protocol handlers it registered,
// stops every goroutine it started, closes the host, and returns once all
// are gone, or with an error after closeWait+closeAfterHost. It is safe to
// call twice.
func (r *Runner) Close() error {
	r.closeOnce.Do(func() {
		r.core.Observe(nil, nil)
		if r.notifiee != nil {
			r.h.Network().StopNotify(r.notifiee)
		}
		for _, p := range r.served {
			r.h.RemoveStreamHandler(p)
		}
		r.spawnMu.Lock()
		r.stopping = true
		r.spawnMu.Unlock()
		if r.cancel != nil {
			r.cancel()
		}
		var errs []error
		if r.lan != nil {
			errs = append(errs, r.lan.Close())
		}
		if r.gossip != nil {
			errs = append(errs, r.gossip.Close())
		}
		if r.syncer != nil {
			errs = append(errs, r.syncer.Close())
		}
		stopped := make(chan struct{})
		go func() { r.wg.Wait(); close(stopped) }()
		waited := false
		select {
		case <-stopped:
			waited = true
		case <-time.After(closeWait):
			// Something blocks on the network: closing the host below
			// unblocks it.
		}
		errs = append(errs, r.closeDoors())
		if waited {
			r.flushContacts()
			r.flushSynced()
		}
		if r.h != nil && r.opt.Host == nil {
			errs = append(errs, r.h.Close())
		}
		if !waited {
			select {
			case <-stopped:
				r.flushContacts()
				r.flushSynced()
			case <-time.After(closeAfterHost):
				errs = append(errs, fmt.Errorf("stopped with some tasks still running after %v", closeWait+closeAfterHost))
			}
		}
		r.core.RemoveRunFile()
		if r.unlock != nil {
			r.unlock()
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Run is Start, then Close when ctx is done.
func Run(ctx context.Context, n Core, opt RunOptions) error {
	r, err := Start(ctx, n, opt)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return r.Close()
}

// Host is the runner's libp2p host.
func (r *Runner) Host() host.Host { return r.h }

// InMesh reports whether what this node publishes reaches p directly now
// (msync.Gossip.InMesh).
func (r *Runner) InMesh(p peer.ID) bool { return r.gossip.InMesh(p) }

// Addrs are the addresses peers can dial, each ending in /p2p/PEERID: TCP
// ones only on a private network.
func (r *Runner) Addrs() []string {
	var out []string
	for _, a := range r.h.Addrs() {
		if r.private && !addrport.OverTCP(a) {
			continue
		}
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+r.h.ID().String())).String())
	}
	return out
}

// Peers are the peers connected now.
func (r *Runner) Peers() []peer.ID { return r.h.Network().Peers() }

// Traffic is what a running node has exchanged so far.
type Traffic = runfile.Traffic

// Traffic returns what the node has exchanged since it started.
func (r *Runner) Traffic() Traffic {
	t := Traffic{Sync: r.syncer.Totals()}
	t.GossipSent, t.GossipRecv = r.gossip.Traffic()
	return t
}

// PeerScores are the GossipSub scores this node gives its peers, as of the
// last second: 0 for a member's node that behaves; below
// msync.GraylistThreshold, one whose messages it drops unread.
func (r *Runner) PeerScores() map[peer.ID]float64 { return r.gossip.Scores() }

// Throttle describes the live path's rate limit on members so far.
func (r *Runner) Throttle() ThrottleStats { return r.live.stats() }

// SyncWith reconciles with p now, or returns msync.ErrBusy if a session
// with p (started by either side) is under way.
func (r *Runner) SyncWith(ctx context.Context, p peer.ID) (msync.Stats, error) {
	return r.syncer.Sync(ctx, p)
}

// publishLoop sends this device's new entries on the live path, within the
// rate every peer allows an author (authorRate, authorBurst): beyond it,
// peers would drop them and blame this node. Those beyond travel by
// reconciliation instead, so an import or a script writing in bulk slows
// nothing but itself.
func (r *Runner) publishLoop() {
	var told time.Time
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.own:
			if !r.pace.Allow() {
				if now := r.clock.Now(); now.Sub(told) > time.Minute {
					r.log.Info(fmt.Sprintf("writing faster than entries are sent one by one (%d at once, then %d a second): the rest follow with the next sync", authorBurst, authorRate))
					told = now
				}
				continue
			}
			if err := r.gossip.Publish(r.ctx, e.Raw()); err != nil && r.ctx.Err() == nil {
				r.log.Warn(fmt.Sprintf("publishing: %v", err))
			}
		}
	}
}

// pollLoop picks up entries other processes stored (a CLI command writes
// while the node runs), which the observer then queues for publishing, and
// keeps the run file fresh for `status`. Both run on the runner's clock.
func (r *Runner) pollLoop() {
	last := r.clock.Now()
	saidDamaged := false
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.clock.After(r.opt.PollEvery):
		}
		err := r.core.Refresh(r.ctx)
		if r.core.TakePolledNews() > 0 {
			// Another process stored other devices' entries (a bundle
			// import): news for the peers, as after a session that
			// brought some.
			r.syncAllSoon("")
		}
		if err != nil && r.ctx.Err() == nil {
			if d := r.core.Damaged(err); d != nil {
				if !saidDamaged { // once: it stays damaged
					r.log.Error(fmt.Sprintf("%v (stop the node first)", d))
					saidDamaged = true
				}
			} else {
				r.log.Warn(fmt.Sprintf("reading the store: %v", err))
			}
		}
		if now := r.clock.Now(); now.Sub(last) >= time.Second {
			r.writeRunFile()
			last = now
		}
	}
}

// Timeouts on the sync path, for an 800 ms round trip and a 32 kbit/s link
// with loss:
//   - a session ends when nothing moved for msync.DefaultIdleTimeout (90
//     s), and opening its stream gets as long; it has no length limit;
//   - yamux (TCP) resets a connection after yamuxWriteTimeout (2 min);
//   - asking for the network secret: secretTimeout (1 min);
//   - a join: joinReplyWindow (3 min);
//   - dialling a peer (remembered, hinted, --peer, mDNS): dialTimeout (1
//     min): a TCP handshake that loses its SYN twice (1 + 2 + 4 s), then a
//     few round trips of security and multiplexer handshakes; a failed
//     dial is retried with backoff;
//   - through a relay, or a members' dial-back: natDialTimeout (45 s);
//   - an inbound connection's handshake, until it names the peer:
//     handshakeWithin (10 s; handshake.go);
//   - gossip keeps pubsub's own timers (1 s heartbeat): on a thin link its
//     per-peer queue fills and messages are dropped, and reconciliation
//     carries what gossip dropped.
//
// maxSyncSessions bounds the reconciliations this node starts at once,
// each with a different peer: a peer behind a slow or stalled link holds
// one of them (a stalled one until the idle timeout, see
// msync.SyncOptions), not the others.
const maxSyncSessions = 4

// antiEntropyLoop reconciles with peers as they connect, after a
// reconciliation brought news, and periodically with every peer: whatever
// the live path dropped comes back here. Sessions with different peers run
// side by side, up to maxSyncSessions; the rest wait their turn.
func (r *Runner) antiEntropyLoop() {
	period := func() time.Duration { // jittered, so peers do not all sync at once
		return r.opt.SyncEvery/2 + time.Duration(rand.Int64N(int64(r.opt.SyncEvery)))
	}
	periodic := r.clock.After(period())
	// A new peer is reconciled with at once, and again once gossip has
	// warmed up: what was published in between may not have reached it.
	again := map[peer.ID]time.Time{}
	// One session runs with a peer at a time (msync.ErrBusy): when one is
	// under way, a reconciliation that must happen after it is tried again.
	retry := func(p peer.ID) {
		due := r.clock.Now().Add(time.Second)
		if d, ok := again[p]; !ok || d.Before(due) {
			again[p] = due
		}
	}
	type ended struct {
		p               peer.ID
		busy, retryBusy bool
	}
	done := make(chan ended)
	running := map[peer.ID]bool{}
	var waiting []peer.ID           // for a free slot, in order
	waitRetry := map[peer.ID]bool{} // the waiting peers: whether to retry if busy
	// start reconciles with p in a goroutine of its own, or queues it.
	// retryBusy: if a session with p is under way, try again after it.
	start := func(p peer.ID, retryBusy bool) {
		switch {
		case running[p]:
			if retryBusy {
				retry(p)
			}
		case len(running) >= maxSyncSessions:
			if _, ok := waitRetry[p]; !ok {
				waiting = append(waiting, p)
			}
			waitRetry[p] = waitRetry[p] || retryBusy
		default:
			running[p] = true
			r.spawn(func() {
				busy := r.syncOne(p)
				select {
				case done <- ended{p, busy, retryBusy}:
				case <-r.ctx.Done():
				}
			})
		}
	}
	tick := r.clock.After(250 * time.Millisecond)
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-done:
			delete(running, e.p)
			if e.busy && e.retryBusy {
				retry(e.p)
			}
			for len(waiting) > 0 && len(running) < maxSyncSessions {
				p := waiting[0]
				waiting = waiting[1:]
				rb := waitRetry[p]
				delete(waitRetry, p)
				start(p, rb)
			}
		case p := <-r.syncSoon:
			start(p, true)
		case p := <-r.connected:
			start(p, false) // busy: the session under way (the peer's) is this one
			again[p] = r.clock.Now().Add(msync.GossipWarmUp)
		case now := <-tick:
			for p, due := range again {
				if now.After(due) {
					delete(again, p)
					start(p, true)
				}
			}
			tick = r.clock.After(250 * time.Millisecond)
		case <-periodic:
			for _, p := range r.h.Network().Peers() {
				start(p, false)
			}
			periodic = r.clock.After(period())
		}
	}
}

// syncOne reconciles with p, and reports whether it could not because a
// session with p was under way. The session has no deadline of its own: it
// lasts as long as it keeps moving (msync.SyncOptions.IdleTimeout, which
// also bounds opening it), and Close ends it. How it ended is logged by
// logSession, on both sides.
func (r *Runner) syncOne(p peer.ID) (busy bool) {
	if r.h.Network().Connectedness(p) != network.Connected || !r.speaksSync(p) || !r.core.MemberPeer(p) {
		return false
	}
	before := int64(0) // what this node held as the session began
	if c, err := r.core.Cursor(r.ctx); err == nil {
		before = c
	}
	st, err := r.syncer.Sync(r.ctx, p)
	needs := r.core.NeedsSecret()
	if err == nil && st.Unsent == 0 {
		r.noteSynced(p, before)
	}
	if err == nil && needs && r.core.MemberPeer(r.h.ID()) {
		// Admitted, and the double-funding check's secret not here yet (or
		// not the anchored one): any member's node can hand it over.
		if err := r.fetchSecret(p); err != nil {
			r.log.Warn(fmt.Sprintf("asking %s for the network secret: %v", r.core.DeviceName(p), err))
		}
	}
	if err == nil && r.core.RecoveryPending() && !lackedNothing(st) && r.core.KnownMemberPeer(p) {
		// The member lacked entries the rebuilt database holds: it is
		// behind, and may lack this device's newest entries too. Writes
		// resume after a sync with a member that lacked nothing
		// (node/repair.go): the next periodic one with this member, say, now
		// it has them.
		r.log.Warn(fmt.Sprintf("%s lacked entries this node holds: this device writes again once a member's node holds all it holds", r.core.DeviceName(p)))
	} else if err == nil && r.core.KnownMemberPeer(p) && r.core.EndRecovery() {
		// The rebuilt database holds all this member holds, this
		// device's own entries included: it may write again (node/repair.go).
		r.log.Info(fmt.Sprintf("caught up with %s since the database was rebuilt: this device writes again", r.core.DeviceName(p)))
		r.recheckSoon()
		if len(r.opt.Announce) > 0 {
			if err := r.core.PublishAddressHint(r.opt.Announce, r.opt.Relay); err != nil {
				r.log.Warn(fmt.Sprintf("telling the other members where this node can be reached: %v", err))
			}
		}
	}
	if err == nil && r.core.MemberPeer(r.h.ID()) {
		// Admitted: bodies held back while the organisation awaited
		// admission (bodies.go).
		if err := r.fetchBodies(p); err != nil {
			r.log.Warn(fmt.Sprintf("asking %s for the content held back before admission: %v", r.core.DeviceName(p), err))
		}
	}
	switch {
	case errors.Is(err, msync.ErrBusy):
		return true
	case err == nil || r.ctx.Err() != nil || errors.Is(err, msync.ErrNotAllowed):
	case st.Elapsed == 0:
		// No session began (the stream did not open), so logSession said
		// nothing.
		r.log.Warn(fmt.Sprintf("could not start syncing with %s: %v", r.core.DeviceName(p), err))
	}
	return false
}

// speaksSync: only peers that announced the network's protocol are asked.
func (r *Runner) speaksSync(p peer.ID) bool {
	protos, err := r.h.Peerstore().SupportsProtocols(p, msync.Protocol(r.core.Network()))
	return err == nil && len(protos) > 0
}

func (r *Runner) syncAllSoon(except peer.ID) {
	for _, p := range r.h.Network().Peers() {
		if p != except {
			select {
			case r.syncSoon <- p:
			default:
			}
		}
	}
}

// subscribeConnections schedules a reconciliation with every peer that
// connects (once identify has told us its protocols), and tells the peer
// book (peers.go) of members' nodes reached and lost.
func (r *Runner) subscribeConnections() error {
	sub, err := r.h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)})
	if err != nil {
		return err
	}
	r.spawn(func() {
		defer sub.Close()
		said := connectedNotes{} // a person is told once per peer
		for {
			select {
			case <-r.ctx.Done():
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				if ch, ok := ev.(event.EvtPeerConnectednessChanged); ok {
					if said.changed(ch.Peer, ch.Connectedness) {
						r.log.Info(fmt.Sprintf("no longer connected to %s", r.core.DeviceName(ch.Peer)), "peer", ch.Peer.String())
					}
					if ch.Connectedness != network.Connected && r.core.MemberPeer(ch.Peer) {
						r.lost(ch.Peer)
					}
					continue
				}
				p := ev.(event.EvtPeerIdentificationCompleted).Peer
				if !r.core.MemberPeer(p) {
					// (A peer that is not a member yet is reconciled
					// with when it gains standing: see enforce.)
					continue
				}
				r.reached(p)
				if r.speaksSync(p) {
					if how := r.h.Network().Connectedness(p); said.say(p, how) {
						if how == network.Limited {
							r.log.Info(fmt.Sprintf("reached %s through a relay: trying to open a direct connection", r.core.DeviceName(p)))
						} else {
							r.log.Info(fmt.Sprintf("connected to %s", r.core.DeviceName(p)))
						}
					}
					select {
					case r.connected <- p:
					case <-r.ctx.Done():
					}
				}
			}
		}
	})
	return nil
}

// keepConnected dials a configured peer whenever it is not connected,
// backing off (1 s doubling to a minute, jittered) while it cannot be
// reached. A peer that is not a member's node as far as this node knows is
// not dialled (the gate would refuse it) but looked at again every second:
// its admission may be on its way.
func (r *Runner) keepConnected(ai peer.AddrInfo) {
	backoff := time.Second
	told := false
	for {
		if !r.core.MemberPeer(ai.ID) {
			if !told {
				r.log.Info(fmt.Sprintf("not connecting to %s: not a member's node as far as this node knows (yet)", r.core.DeviceName(ai.ID)))
				told = true
			}
			select {
			case <-r.ctx.Done():
				return
			case <-r.clock.After(time.Second):
			}
			continue
		}
		told = false
		if r.h.Network().Connectedness(ai.ID) != network.Connected {
			ctx, cancel := context.WithTimeout(r.ctx, dialTimeout)
			err := r.h.Connect(ctx, ai)
			cancel()
			if err == nil {
				backoff = time.Second
			} else if r.ctx.Err() == nil {
				backoff = min(2*backoff, time.Minute)
			}
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-r.ctx.Done():
			return
		case <-r.clock.After(wait):
		}
	}
}

// lanLoop moves the mDNS announcement to the next period's name (lan.go)
// once the period changes: it looks every minute of the runner's clock.
// The name itself follows the wall clock, as on the other members' nodes.
func (r *Runner) lanLoop() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.clock.After(time.Minute):
			if err := r.lan.renew(time.Now()); err != nil {
				r.log.Warn(fmt.Sprintf("looking for members on the local network: %v", err))
			}
		}
	}
}

type mdnsNotifee struct{ r *Runner }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	r := m.r
	if ai.ID == r.h.ID() || r.ctx.Err() != nil {
		return
	}
	r.sawOnLAN(ai.ID)
	r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	if r.h.Network().Connectedness(ai.ID) == network.Connected || !r.core.MemberPeer(ai.ID) {
		return // (a node not known as a member's is not dialled: see gater)
	}
	r.dialFoundOnLAN(ai.ID) // (peers.go)
}

// lackedNothing reports whether, in a sync session this node began, the
// peer already held every entry this node holds: nothing was pushed, and
// nothing was left owed. Only such a session with a member ends the wait
// after a rebuild (see above).
func lackedNothing(st msync.Stats) bool { return st.Pushed == 0 && st.Unsent == 0 }

func (r *Runner) writeRunFile() {
	if r.opt.Host != nil {
		return // in-process tests: no directory of their own to describe
	}
	info := runfile.Info{PID: os.Getpid(), Peer: r.h.ID().String(), Addrs: r.Addrs(), Peers: []string{}, Traffic: r.Traffic(), Updated: time.Now().UTC()}
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
	r.core.WriteRunFile(info)
}

// noDNS is the multiaddr resolver of a Murmur host: it resolves nothing.
type noDNS struct{}

var errNoDNS = errors.New("host names are not looked up")

// namesRefused counts the names noDNS was asked for (tests).
var namesRefused atomic.Int64

func (noDNS) ResolveDNSAddr(context.Context, peer.ID, ma.Multiaddr, int, int) ([]ma.Multiaddr, error) {
	namesRefused.Add(1)
	return nil, errNoDNS
}

func (noDNS) ResolveDNSComponent(context.Context, ma.Multiaddr, int) ([]ma.Multiaddr, error) {
	namesRefused.Add(1)
	return nil, errNoDNS
}

// sessionAttrs are a reconciliation's fields in a JSON log line.
func sessionAttrs(p peer.ID, st msync.Stats) []any {
	return []any{"peer", p.String(), "started_here", st.Initiator, "rounds", st.Rounds, "sent_bytes", st.SentBytes, "received_bytes", st.RecvBytes,
		"entries_received", st.Received - st.Refused, "entries_refused", st.Refused, "entries_sent", st.Pushed, "seconds", st.Elapsed.Seconds()}
}
