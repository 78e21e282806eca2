package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// DefaultPort is where a node listens unless told otherwise, on TCP and
// QUIC: a fixed port keeps the addresses peers were given valid across
// restarts. If it is taken, the node takes any free port and says so.
const DefaultPort = 4721

// RunOptions configure a running node.
type RunOptions struct {
	// Listen addresses (multiaddrs). Default: TCP and QUIC on DefaultPort,
	// all interfaces, IPv4 and IPv6.
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
	// Gossip and Sync tune the two paths (tests drop messages through them).
	Gossip msync.GossipOptions
	Sync   msync.SyncOptions
	// Logf receives one line per notable event; nil discards them.
	Logf func(format string, args ...any)
}

// Runner is a node taking part in its network. Close stops it.
type Runner struct {
	n      *Node
	h      host.Host
	gossip *msync.Gossip
	syncer *msync.Syncer
	mdns   mdns.Service
	opt    RunOptions
	lock   *runLock

	ctx       context.Context
	cancel    context.CancelFunc
	wg        gosync.WaitGroup
	closeOnce gosync.Once
	closeErr  error
	spawnMu   gosync.Mutex
	stopping  bool // under spawnMu

	delivered chan *crdt.Entry // accepted on the live path, to store
	own       chan *crdt.Entry // this device's new entries, to publish
	syncSoon  chan peer.ID     // peers to reconcile with now
	connected chan peer.ID     // peers that just connected
	peerAddrs []peer.AddrInfo  // --peer, kept connected
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
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
}

// Start joins the network: it listens, keeps the given peers connected,
// finds others on the LAN, gossips new entries and reconciles with every
// peer it meets. The node's key must be unlocked.
func (n *Node) Start(opt RunOptions) (r *Runner, err error) {
	if n.key == nil {
		return nil, ErrLocked
	}
	opt.defaults()
	r = &Runner{n: n, opt: opt, delivered: make(chan *crdt.Entry, 4096), own: make(chan *crdt.Entry, 4096), syncSoon: make(chan peer.ID, 256), connected: make(chan peer.ID, 64)}
	for _, s := range opt.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, inputErr("--peer %q is not a multiaddr ending in /p2p/PEERID: %v", s, err)
		}
		r.peerAddrs = append(r.peerAddrs, *ai)
	}
	if opt.Host == nil {
		if r.lock, err = lockRun(n.dir); err != nil {
			return nil, err
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.h = opt.Host; r.h == nil {
		if r.h, err = newHost(n.key, opt.Listen); err != nil {
			return nil, err
		}
	}
	if err := r.subscribeConnections(); err != nil {
		return nil, err
	}
	r.syncer = msync.NewSyncer(r.h, n.network, replica{n}, r.syncOptions())
	r.gossip, err = msync.JoinGossip(r.ctx, r.h, n.network,
		func(from peer.ID, raw []byte) (msync.Verdict, *crdt.Entry) {
			return n.validate(r.ctx, r.h.ID(), from, raw)
		},
		func(_ peer.ID, e *crdt.Entry) {
			select {
			case r.delivered <- e:
			case <-r.ctx.Done():
			}
		}, opt.Gossip)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.onOwn = func(e *crdt.Entry) {
		select {
		case r.own <- e:
		default: // the live path is full: reconciliation carries it instead
		}
	}
	n.mu.Unlock()
	r.spawn(r.storeLoop)
	r.spawn(r.publishLoop)
	r.spawn(r.pollLoop)
	r.spawn(r.antiEntropyLoop)
	for _, ai := range r.peerAddrs {
		r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		r.spawn(func() { r.keepConnected(ai) })
	}
	if opt.MDNS {
		r.mdns = mdns.NewMdnsService(r.h, "murmur-"+n.network.String()[:16], mdnsNotifee{r})
		if err := r.mdns.Start(); err != nil {
			return nil, fmt.Errorf("node: mDNS: %w", err)
		}
	}
	r.writeRunFile()
	return r, nil
}

// HostKey is the device key as a libp2p identity: a node's peer ID is its
// device key, so membership can be checked by peer ID.
func (n *Node) HostKey() (lpcrypto.PrivKey, error) {
	if n.key == nil {
		return nil, ErrLocked
	}
	return lpcrypto.UnmarshalEd25519PrivateKey(n.key)
}

func newHost(key []byte, listen []string) (host.Host, error) {
	priv, err := lpcrypto.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		return nil, err
	}
	opts := func(addrs []string) []libp2p.Option {
		return []libp2p.Option{
			libp2p.Identity(priv),
			libp2p.ListenAddrStrings(addrs...),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Transport(quic.NewTransport),
		}
	}
	h, err := libp2p.New(opts(listen)...)
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
		return nil, fmt.Errorf("node: listening on %v: %w", listen, err)
	}
	h, err2 := libp2p.New(opts(fallback)...)
	if err2 != nil {
		return nil, fmt.Errorf("node: listening on %v: %w", listen, err)
	}
	return h, nil
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
	user := o.OnSessionEnd
	o.OnSessionEnd = func(p peer.ID, st msync.Stats, err error) {
		if st.Received > st.Refused {
			r.opt.Logf("reconciled with %s: %d entries received, %d sent", short(p.String()), st.Received-st.Refused, st.Pushed)
			// What arrived may be news to the other peers too.
			r.syncAllSoon(p)
		} else if st.Pushed > 0 {
			r.opt.Logf("reconciled with %s: %d entries sent", short(p.String()), st.Pushed)
		}
		if user != nil {
			user(p, st, err)
		}
	}
	return o
}

// Close leaves the network: it stops every goroutine it started, closes the
// host, and returns once all are gone. It is safe to call twice.
func (r *Runner) Close() error {
	r.closeOnce.Do(func() {
		r.n.mu.Lock()
		r.n.onOwn = nil
		r.n.mu.Unlock()
		r.spawnMu.Lock()
		r.stopping = true
		r.spawnMu.Unlock()
		if r.cancel != nil {
			r.cancel()
		}
		var errs []error
		if r.mdns != nil {
			errs = append(errs, r.mdns.Close())
		}
		if r.gossip != nil {
			errs = append(errs, r.gossip.Close())
		}
		if r.syncer != nil {
			errs = append(errs, r.syncer.Close())
		}
		r.wg.Wait()
		if r.h != nil && r.opt.Host == nil {
			errs = append(errs, r.h.Close())
		}
		removeRunFile(r.n.dir)
		if r.lock != nil {
			r.lock.release()
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Run is Start, then Close when ctx is done.
func (n *Node) Run(ctx context.Context, opt RunOptions) error {
	r, err := n.Start(opt)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return r.Close()
}

// Host is the runner's libp2p host.
func (r *Runner) Host() host.Host { return r.h }

// Addrs are the addresses peers can dial, each ending in /p2p/PEERID.
func (r *Runner) Addrs() []string {
	var out []string
	for _, a := range r.h.Addrs() {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+r.h.ID().String())).String())
	}
	return out
}

// Peers are the peers connected now.
func (r *Runner) Peers() []peer.ID { return r.h.Network().Peers() }

// Traffic is what a running node has exchanged so far.
type Traffic struct {
	Sync       msync.Stats `json:"sync"`        // reconciliation: sessions' totals
	GossipSent int64       `json:"gossip_sent"` // bytes of pubsub RPCs
	GossipRecv int64       `json:"gossip_recv"`
}

// Traffic returns what the node has exchanged since it started.
func (r *Runner) Traffic() Traffic {
	t := Traffic{Sync: r.syncer.Totals()}
	t.GossipSent, t.GossipRecv = r.gossip.Traffic()
	return t
}

// SyncWith reconciles with p now, or returns msync.ErrBusy if a session
// with p (started by either side) is under way.
func (r *Runner) SyncWith(ctx context.Context, p peer.ID) (msync.Stats, error) {
	return r.syncer.Sync(ctx, p)
}

// storeLoop stores what the live path accepted, in batches.
func (r *Runner) storeLoop() {
	var batch []*crdt.Entry
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.delivered:
			batch = append(batch[:0], e)
		}
	drain:
		for len(batch) < 512 {
			select {
			case e := <-r.delivered:
				batch = append(batch, e)
			default:
				break drain
			}
		}
		if _, err := r.n.IngestVerified(r.ctx, batch); err != nil && r.ctx.Err() == nil {
			r.opt.Logf("storing entries from the network: %v", err)
		}
	}
}

// publishLoop sends this device's new entries on the live path.
func (r *Runner) publishLoop() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.own:
			if err := r.gossip.Publish(r.ctx, e.Raw()); err != nil && r.ctx.Err() == nil {
				r.opt.Logf("publishing: %v", err)
			}
		}
	}
}

// pollLoop picks up entries other processes stored (a CLI command writes
// while the node runs), which the observer then queues for publishing, and
// keeps the run file fresh for `status`.
func (r *Runner) pollLoop() {
	t := time.NewTicker(r.opt.PollEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		if err := r.n.Refresh(r.ctx); err != nil && r.ctx.Err() == nil {
			r.opt.Logf("reading the store: %v", err)
		}
		if time.Since(last) >= time.Second {
			r.writeRunFile()
			last = time.Now()
		}
	}
}

// antiEntropyLoop reconciles with peers as they connect, after a
// reconciliation brought news, and periodically with every peer: whatever
// the live path dropped comes back here.
func (r *Runner) antiEntropyLoop() {
	period := func() time.Duration { // jittered, so peers do not all sync at once
		return r.opt.SyncEvery/2 + time.Duration(rand.Int64N(int64(r.opt.SyncEvery)))
	}
	t := time.NewTimer(period())
	defer t.Stop()
	// A new peer is reconciled with at once, and again once gossip has
	// warmed up: what was published in between may not have reached it.
	again := map[peer.ID]time.Time{}
	// One session runs with a peer at a time (msync.ErrBusy): when one is
	// under way, a reconciliation that must happen after it is tried again.
	retry := func(p peer.ID) {
		due := time.Now().Add(time.Second)
		if d, ok := again[p]; !ok || d.Before(due) {
			again[p] = due
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case p := <-r.syncSoon:
			if r.syncOne(p) {
				retry(p)
			}
		case p := <-r.connected:
			r.syncOne(p) // busy: the session under way (the peer's) is this one
			again[p] = time.Now().Add(msync.GossipWarmUp)
		case now := <-tick.C:
			for p, due := range again {
				if now.After(due) {
					delete(again, p)
					if r.syncOne(p) {
						retry(p)
					}
				}
			}
		case <-t.C:
			for _, p := range r.h.Network().Peers() {
				r.syncOne(p)
			}
			t.Reset(period())
		}
	}
}

// syncOne reconciles with p, and reports whether it could not because a
// session with p was under way.
func (r *Runner) syncOne(p peer.ID) (busy bool) {
	if r.h.Network().Connectedness(p) != network.Connected || !r.speaksSync(p) {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
	defer cancel()
	st, err := r.syncer.Sync(ctx, p)
	switch {
	case errors.Is(err, msync.ErrBusy):
		return true
	case err == nil || r.ctx.Err() != nil:
	case st.Rounds > 0 && st.RecvBytes == 0:
		// The peer hung up on our first message: we both started at once
		// and it kept its own session (see msync.Syncer), or it is busy.
	default:
		r.opt.Logf("reconciling with %s: %v", short(p.String()), err)
	}
	return false
}

// speaksSync: only peers that announced the network's protocol are asked.
func (r *Runner) speaksSync(p peer.ID) bool {
	protos, err := r.h.Peerstore().SupportsProtocols(p, msync.Protocol(r.n.network))
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
// connects (once identify has told us its protocols).
func (r *Runner) subscribeConnections() error {
	sub, err := r.h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return err
	}
	r.spawn(func() {
		defer sub.Close()
		for {
			select {
			case <-r.ctx.Done():
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				p := ev.(event.EvtPeerIdentificationCompleted).Peer
				if r.speaksSync(p) {
					r.opt.Logf("connected to %s", short(p.String()))
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
// reached.
func (r *Runner) keepConnected(ai peer.AddrInfo) {
	backoff := time.Second
	for {
		if r.h.Network().Connectedness(ai.ID) != network.Connected {
			ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
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
		case <-time.After(wait):
		}
	}
}

type mdnsNotifee struct{ r *Runner }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	r := m.r
	if ai.ID == r.h.ID() || r.ctx.Err() != nil {
		return
	}
	r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	if r.h.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	r.spawn(func() {
		ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
		defer cancel()
		r.h.Connect(ctx, ai)
	})
}
