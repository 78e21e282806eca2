package p2p

// Remembered peers and address hints: how a node finds the other members'
// nodes with no --peer and no LAN.
//
// Every time it reaches a member's node (identify completed, or a
// reconciliation succeeded) the runner notes where and how (contacts); it
// writes that to the store at most every contactWriteEvery per device, and
// once more when it stops, so the store is written rarely. On start, and
// with backoff while it runs, it dials the member devices it knows: at the
// addresses where it reached them before (most recent first), at the
// addresses their address hints give, and at those the peerstore still
// holds for a peer that went away. At most maxDials dials run at once, the
// devices reached most recently first.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/runfile"
	"github.com/murmurnet/murmur/store"
)

const (
	// DefaultAloneAfter: a node with no member's node connected for this
	// long says so (RunOptions.AloneAfter).
	DefaultAloneAfter = time.Hour

	maxDials = 8 // dials of remembered members at once
	// dialTimeout bounds one dial (every address of a peer): a TCP or QUIC
	// handshake, then the security and muxer handshakes, is four to six
	// round trips, each of which may be lost and retried on an 800 ms,
	// 10%-loss link.
	dialTimeout       = time.Minute
	dialBackoffMin    = time.Second
	dialBackoffMax    = 5 * time.Minute
	contactWriteEvery = 10 * time.Minute // per device, unless how or where changed
	identifyAddrs     = 4                // a peer's own listen addresses remembered per contact
)

// via says how a connection reaches its peer: through a relay, on the LAN
// (found by mDNS, or at a private, link-local or loopback address), or
// directly.
func via(remote ma.Multiaddr, lan bool) store.Via {
	if _, err := remote.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return store.ViaRelay
	}
	if lan || manet.IsPrivateAddr(remote) || manet.IsIPLoopback(remote) || manet.IsIP6LinkLocal(remote) {
		return store.ViaLAN
	}
	return store.ViaDirect
}

// scope ranks an address: 0 loopback, 1 private or link-local, 2 anything
// else.
func scope(a ma.Multiaddr) int {
	switch {
	case manet.IsIPLoopback(a):
		return 0
	case manet.IsPrivateAddr(a) || manet.IsIP6LinkLocal(a):
		return 1
	}
	return 2
}

// contactNote is what the runner knows of its last contact with a device
// in this run.
type contactNote struct {
	last    time.Time
	via     store.Via
	addrs   [][]byte
	written time.Time // last written to the store (zero: not yet)
	dirty   bool      // newer than what the store holds
}

// dialState is the backoff of one device's node.
type dialState struct {
	backoff  time.Duration
	next     time.Time
	inflight bool
}

// peerBook is the runner's memory of the member devices' nodes.
type peerBook struct {
	mu         gosync.Mutex
	notes      map[peer.ID]*contactNote
	remembered map[peer.ID][]store.Contact // from the store, most recent first
	dials      map[peer.ID]*dialState
	lan        map[peer.ID]bool // found by mDNS
	lastMember time.Time        // a member's node was last connected (or the start; the runner's clock)
	// lastMemberFrom: the latest contact remembered from before the start.
	lastMemberFrom time.Time
	aloneSaid      bool // the log said so for this stretch
	wake           chan struct{}
}

func newPeerBook() *peerBook {
	return &peerBook{notes: map[peer.ID]*contactNote{}, remembered: map[peer.ID][]store.Contact{},
		dials: map[peer.ID]*dialState{}, lan: map[peer.ID]bool{}, wake: make(chan struct{}, 1)}
}

func (b *peerBook) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// startPeers loads the remembered contacts and starts the dial loop (r.book
// is made by Start; subscribeConnections tells it of peers that come and
// go).
func (r *Runner) startPeers() error {
	cs, err := r.core.Contacts(r.ctx)
	if err != nil {
		return err
	}
	r.book.mu.Lock()
	for _, c := range cs {
		// Alone since the last member's node this one reached, before it
		// stopped, not since it started: a laptop that runs an hour a
		// day and reaches no one must still hear it is alone.
		if c.Last.After(time.Time{}) && c.Last.Before(r.book.lastMember) && (r.book.lastMemberFrom.IsZero() || c.Last.After(r.book.lastMemberFrom)) {
			r.book.lastMemberFrom = c.Last
		}
		p, err := peerID(c.Device)
		if err == nil && !slices.ContainsFunc(r.book.remembered[p], func(x store.Contact) bool { return bytes.Equal(x.Addr, c.Addr) }) {
			r.book.remembered[p] = append(r.book.remembered[p], c)
		}
	}
	if !r.book.lastMemberFrom.IsZero() {
		r.book.lastMember = r.book.lastMemberFrom
	}
	r.book.mu.Unlock()
	if !r.opt.NoDial {
		r.spawn(r.dialLoop)
	}
	return nil
}

// sawOnLAN: mDNS found p.
func (r *Runner) sawOnLAN(p peer.ID) {
	if r.book == nil {
		return
	}
	r.book.mu.Lock()
	r.book.lan[p] = true
	r.book.mu.Unlock()
}

// lanDialDelay is how long the node with the higher peer ID waits before
// dialling a member's node that mDNS found (see dialFoundOnLAN).
const lanDialDelay = 3 * time.Second

// dialFoundOnLAN hands p, a member's node that mDNS found, to the dial
// loop, which dials it and, if that fails, again with backoff: mDNS tells
// of a node only once while its announcement lives, so one failed dial
// must not leave two offices on one LAN apart.
//
// Two nodes find each other by mDNS at the same moment. Over TCP, each
// dials from its listening port (go-libp2p sets SO_REUSEPORT), so two
// simultaneous dials become one TCP connection on which both sides start
// the security handshake as its initiator, and both fail. So the node with
// the lower peer ID dials at once and the other waits lanDialDelay
// (jittered), and dials only if still not connected.
func (r *Runner) dialFoundOnLAN(p peer.ID) {
	b := r.book
	now := r.clock.Now()
	next := now
	if r.h.ID() > p {
		next = now.Add(jitter(lanDialDelay))
	}
	b.mu.Lock()
	d := b.dials[p]
	if d == nil {
		d = &dialState{backoff: dialBackoffMin}
		b.dials[p] = d
	}
	if !d.inflight {
		d.next = next
	}
	b.mu.Unlock()
	b.poke()
}

// sessionEnded notes a successful reconciliation as a contact.
func (r *Runner) sessionEnded(p peer.ID, err error) {
	if err == nil && r.book != nil {
		r.reached(p)
	}
}

// reached notes that p, a member's node, is connected now: where and how,
// written to the store unless written recently with the same addresses.
func (r *Runner) reached(p peer.ID) {
	addrs, how, ok := r.contactAddrs(p)
	if !ok {
		return
	}
	now := r.clock.Now()
	others := r.anyMemberExcept(p)
	b := r.book
	b.mu.Lock()
	wasAlone := now.Sub(b.lastMember) > 2*time.Second && !others
	b.lastMember, b.aloneSaid = now, false
	if d := b.dials[p]; d != nil {
		d.backoff, d.next = dialBackoffMin, now
	}
	if wasAlone {
		// The network is back: try the others again soon.
		for q, d := range b.dials {
			if q != p && !d.inflight {
				d.backoff, d.next = dialBackoffMin, now.Add(jitter(dialBackoffMin))
			}
		}
		b.poke()
	}
	note := b.notes[p]
	if note == nil {
		note = &contactNote{}
		b.notes[p] = note
	}
	changed := note.via != how || !slices.EqualFunc(note.addrs, addrs, bytes.Equal)
	note.last, note.via, note.addrs, note.dirty = now, how, addrs, true
	write := changed || now.Sub(note.written) >= contactWriteEvery
	if write {
		note.written, note.dirty = now, false
	}
	b.mu.Unlock()
	if write {
		r.writeContact(p, now, how, addrs)
	}
}

func (r *Runner) writeContact(p peer.ID, at time.Time, how store.Via, addrs [][]byte) {
	k, ok := peerDevice(p)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.core.RecordContact(ctx, k, at, how, addrs...); err != nil && !errors.Is(err, store.ErrClosed) {
		r.log.Warn(fmt.Sprintf("remembering where %s was reached: %v", r.core.DeviceName(p), err))
		return
	}
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	rem := r.book.remembered[p]
	for _, a := range addrs {
		rem = slices.DeleteFunc(rem, func(c store.Contact) bool { return bytes.Equal(c.Addr, a) })
		rem = append(rem, store.Contact{Device: k, Addr: a, Last: at, Via: how})
	}
	slices.SortStableFunc(rem, func(x, y store.Contact) int { return y.Last.Compare(x.Last) })
	r.book.remembered[p] = rem[:min(len(rem), store.MaxContactAddrs)]
}

// flushContacts writes the contacts noted since their last write (Close).
func (r *Runner) flushContacts() {
	if r.book == nil {
		return
	}
	type pending struct {
		p    peer.ID
		note contactNote
	}
	var todo []pending
	r.book.mu.Lock()
	for p, note := range r.book.notes {
		if note.dirty {
			todo = append(todo, pending{p, *note})
			note.dirty = false
		}
	}
	r.book.mu.Unlock()
	for _, t := range todo {
		r.writeContact(t.p, t.note.last, t.note.via, t.note.addrs)
	}
}

// anyMemberExcept reports whether a member's node other than p is
// connected.
func (r *Runner) anyMemberExcept(p peer.ID) bool {
	for _, q := range r.h.Network().Peers() {
		if q != p && r.core.MemberPeer(q) {
			return true
		}
	}
	return false
}

// lost: p's node went away; dial it back, from the shortest backoff.
func (r *Runner) lost(p peer.ID) {
	b := r.book
	b.mu.Lock()
	d := b.dials[p]
	if d == nil {
		d = &dialState{}
		b.dials[p] = d
	}
	if !d.inflight {
		d.backoff, d.next = dialBackoffMin, r.clock.Now().Add(jitter(dialBackoffMin))
	}
	b.mu.Unlock()
	b.poke()
}

// contactAddrs are where p is reached now, as binary multiaddrs, and how:
// the address this node dialled; for a connection p made, the addresses p
// listens on (identify) in the same scope as the connection's, or wider.
func (r *Runner) contactAddrs(p peer.ID) ([][]byte, store.Via, bool) {
	conns := r.h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return nil, 0, false
	}
	r.book.mu.Lock()
	lan := r.book.lan[p]
	r.book.mu.Unlock()
	best := store.Via(0)
	var out [][]byte
	add := func(a ma.Multiaddr) {
		if rest, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P && last.Value() == p.String() {
			a = rest
		}
		if len(a) == 0 || len(a.Bytes()) > crdt.MaxAddrLen || !r.dialable(a) {
			return
		}
		if !slices.ContainsFunc(out, func(b []byte) bool { return bytes.Equal(b, a.Bytes()) }) {
			out = append(out, a.Bytes())
		}
	}
	for _, c := range conns {
		remote := c.RemoteMultiaddr()
		if v := via(remote, lan); best == 0 || v < best {
			best = v
		}
		if c.Stat().Direction == network.DirOutbound {
			add(remote)
			continue
		}
		n := 0
		listen := r.h.Peerstore().Addrs(p)
		slices.SortFunc(listen, func(x, y ma.Multiaddr) int { return bytes.Compare(x.Bytes(), y.Bytes()) })
		for _, a := range listen {
			if n < identifyAddrs && (scope(a) >= scope(remote) || scope(a) == 2) {
				add(a)
				n++
			}
		}
	}
	if len(out) == 0 {
		return nil, 0, false
	}
	slices.SortFunc(out, bytes.Compare) // the same addresses compare equal next time (reached)
	return out, best, true
}

// dialable says whether a is an address to remember a member's node at
// and dial again (addrport.Dialable: an IP address and port, no name that
// would be looked up, no broadcast or reserved address; loopback only
// between nodes on loopback alone); through a relay, whether the relay's
// is one. A member's node advertises its own addresses: a rogue one could
// otherwise have every node it reached look up a name it controls, or dial
// a service on their own computer, at each start.
func (r *Runner) dialable(a ma.Multiaddr) bool { return dialableAt(a, r.loopbackOnly) }

// dialableAt is the address rule (addrport.Dialable), through a relay the
// relay's address.
func dialableAt(a ma.Multiaddr, loopbackOK bool) bool {
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		relay, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
		return addrport.Dialable(relay, loopbackOK) == nil
	}
	return addrport.Dialable(a, loopbackOK) == nil
}

// dialableByHost is the rule the host's connection gate holds every dial
// to — whatever asked for it: this node's own dialling, identify's
// addresses in the peerstore, hole punching: the address rule (dialable),
// and besides, an address the operator gave (--peer), which may be on this
// computer. Loopback is otherwise dialled only by a node on loopback
// alone: a rogue member must not make a node knock on its own computer's
// services (its web interface, say) through hole punching (review 11).
func (r *Runner) dialableByHost(a ma.Multiaddr) bool {
	if r.dialable(a) {
		return true
	}
	for _, ai := range r.peerAddrs {
		if slices.ContainsFunc(ai.Addrs, a.Equal) {
			return true
		}
	}
	return false
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// candidate is a member device's node to dial, and where.
type candidate struct {
	p      peer.ID
	addrs  []ma.Multiaddr
	recent time.Time // last reached (or its hint written)
}

// candidates lists the member devices' nodes that are not connected, with
// the addresses this node knows for them, most recently reached first.
func (r *Runner) candidates(now time.Time) []candidate {
	self := r.h.ID()
	byPeer := map[peer.ID]*candidate{}
	add := func(p peer.ID, a ma.Multiaddr, when time.Time) {
		if p == self || (r.private && !addrport.OverTCP(a)) || !r.dialable(a) {
			return
		}
		c := byPeer[p]
		if c == nil {
			c = &candidate{p: p}
			byPeer[p] = c
		}
		if !slices.ContainsFunc(c.addrs, a.Equal) {
			c.addrs = append(c.addrs, a)
		}
		if when.After(c.recent) {
			c.recent = when
		}
	}
	r.book.mu.Lock()
	for p, cs := range r.book.remembered {
		for _, c := range cs {
			if a, err := ma.NewMultiaddrBytes(c.Addr); err == nil {
				add(p, a, c.Last)
			}
		}
	}
	var seen []peer.ID
	for p := range r.book.dials {
		seen = append(seen, p)
	}
	r.book.mu.Unlock()
	for _, h := range r.hints(r.core.PeerHints(r.core.Now())) { // aged by the node's clock
		for _, a := range h.Addrs {
			add(h.ID, a, time.Time{}) // a hint is no sign the node was reached
		}
	}
	// A node that went away while this one ran: where the peerstore last
	// knew it.
	for _, p := range seen {
		for _, a := range r.h.Peerstore().Addrs(p) {
			add(p, a, time.Time{})
		}
	}
	out := make([]candidate, 0, len(byPeer))
	for p, c := range byPeer {
		if r.h.Network().Connectedness(p) == network.Connected || !r.core.MemberPeer(p) {
			continue
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if c := b.recent.Compare(a.recent); c != 0 {
			return c
		}
		return strings.Compare(string(a.p), string(b.p))
	})
	return out
}

// dialLoop dials the member devices' nodes this node knows of and is not
// connected to, each with its own backoff (dialBackoffMin doubling to
// dialBackoffMax, jittered), at most maxDials at once; and says when the
// node has been alone for long.
func (r *Runner) dialLoop() {
	sem := make(chan struct{}, maxDials)
	for {
		now := r.clock.Now()
		r.checkAlone(now)
		r.checkRevoked()
		for _, c := range r.candidates(now) {
			b := r.book
			b.mu.Lock()
			d := b.dials[c.p]
			if d == nil {
				d = &dialState{backoff: dialBackoffMin, next: now}
				b.dials[c.p] = d
			}
			due := !d.inflight && !now.Before(d.next)
			if due {
				select {
				case sem <- struct{}{}:
					d.inflight = true
				default:
					due = false
				}
			}
			b.mu.Unlock()
			if !due {
				continue
			}
			r.spawn(func() {
				defer func() { <-sem }()
				r.dial(c)
			})
		}
		select {
		case <-r.ctx.Done():
			return
		case <-r.book.wake:
		case <-r.clock.After(time.Second):
		}
	}
}

func (r *Runner) dial(c candidate) {
	ctx, cancel := context.WithTimeout(r.ctx, dialTimeout)
	err := r.h.Connect(ctx, peer.AddrInfo{ID: c.p, Addrs: c.addrs})
	cancel()
	most := r.backoffMax() // (before b.mu: it takes the node's lock)
	b := r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.dials[c.p]
	d.inflight = false
	if err == nil {
		d.backoff, d.next = dialBackoffMin, r.clock.Now()
		return
	}
	d.next = r.clock.Now().Add(jitter(d.backoff))
	d.backoff = min(2*d.backoff, most)
}

// pendingBackoffMax caps the dial backoff of a node whose device has no
// standing yet (its organisation awaits the stewards' approval): members'
// nodes refuse it until then, and it must not wait minutes to learn it was
// admitted.
const pendingBackoffMax = 10 * time.Second

func (r *Runner) backoffMax() time.Duration {
	if !r.core.KnownMemberPeer(r.h.ID()) {
		return pendingBackoffMax
	}
	return dialBackoffMax
}

// checkAlone notes whether a member's node is connected, and says once
// when none has been for AloneAfter.
func (r *Runner) checkAlone(now time.Time) {
	connected := r.anyMemberExcept("")
	b := r.book
	b.mu.Lock()
	if connected {
		b.lastMember, b.aloneSaid = now, false
	}
	since, said := b.lastMember, b.aloneSaid
	b.mu.Unlock()
	if connected || said || now.Sub(since) < r.opt.AloneAfter || !r.core.OtherMembers() {
		return
	}
	b.mu.Lock()
	b.aloneSaid = true
	b.mu.Unlock()
	r.log.Warn(AloneMessage(now.Sub(since)))
}

// checkRevoked says once, as a warning, that this device was revoked: the
// operator of a node run as a service reads its log, not its status. By
// no name (log lines are kept in clear): murmur status says who and when.
func (r *Runner) checkRevoked() {
	if r.revokedSaid.Load() || r.core.RevokedNotice() == "" || !r.revokedSaid.CompareAndSwap(false, true) {
		return
	}
	r.log.Warn("this device has been revoked: other members' nodes no longer connect to it, and nothing it writes is accepted (murmur status says by whom and when)")
}

// aloneSince is when the last member's node went away, if that was
// AloneAfter or longer ago.
func (r *Runner) aloneSince(now time.Time) (time.Time, bool) {
	if r.book == nil {
		return time.Time{}, false
	}
	r.book.mu.Lock()
	since, said := r.book.lastMember, r.book.aloneSaid
	r.book.mu.Unlock()
	return since, said && now.Sub(since) >= r.opt.AloneAfter
}

// AloneMessage is what a node says when it has reached no other member's
// node for d.
func AloneMessage(d time.Duration) string {
	return fmt.Sprintf("No other member's node reached for %s: check this computer's internet connection; "+
		"if it works, ask another member for their node's address (shown by their `murmur run`) and start with `murmur run --peer ADDRESS`", roughly(d))
}

// roughly is a duration in plain words: "40 min", "2 h", "3 days".
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func (r *Runner) runContacts() []runfile.Contact {
	if r.book == nil {
		return nil
	}
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	var out []runfile.Contact
	for p, note := range r.book.notes {
		if k, ok := peerDevice(p); ok {
			out = append(out, runfile.Contact{Device: k.String(), Last: note.last.UTC(), Via: note.via.String()})
		}
	}
	return out
}

// hints are the address hints this runner may dial: a loopback address
// points at this very machine, and is dialled only by a node that itself
// listens on loopback alone (tests, a testnet on one machine), never by one
// a member gone rogue could point at a local service.
func (r *Runner) hints(hs []peer.AddrInfo) []peer.AddrInfo {
	if r.loopbackOnly {
		return hs
	}
	out := hs[:0]
	for _, h := range hs {
		h.Addrs = slices.DeleteFunc(h.Addrs, manet.IsIPLoopback)
		if len(h.Addrs) > 0 {
			out = append(out, h)
		}
	}
	return out
}

// syncedNote is a reconciliation with a member organisation's node not yet
// written to the store: written at most every contactWriteEvery, and when
// the node stops.
type syncedNote struct {
	cursor  int64
	at      time.Time
	written time.Time
	dirty   bool
}

// noteSynced notes that p's node held, at the end of a session that began
// when this node's cursor was before, everything this node then held.
func (r *Runner) noteSynced(p peer.ID, before int64) {
	org, ok := r.core.SyncedOrg(p)
	if !ok {
		return
	}
	r.syncedMu.Lock()
	defer r.syncedMu.Unlock()
	if r.synced == nil {
		r.synced = map[crdt.OrgID]syncedNote{}
	}
	now := r.core.Now()
	note := r.synced[org]
	if before <= note.cursor {
		return
	}
	note.cursor, note.at, note.dirty = before, now, true
	if now.Sub(note.written) >= contactWriteEvery {
		r.core.RememberSynced(r.ctx, org, note.cursor, note.at)
		note.written, note.dirty = now, false
	}
	r.synced[org] = note
}

// flushSynced writes what noteSynced has not yet (Close).
func (r *Runner) flushSynced() {
	r.syncedMu.Lock()
	defer r.syncedMu.Unlock()
	for org, note := range r.synced {
		if note.dirty {
			r.core.RememberSynced(context.Background(), org, note.cursor, note.at)
		}
	}
}

// RememberJoined notes the addresses of the node that answered this node's
// join (with /p2p/ID, as InviterAddrs gives them) as where that member was
// reached now: a node stopped right after joining, before it connected to
// anyone, still finds the network at its next start without --peer.
func RememberJoined(ctx context.Context, c interface {
	RecordContact(ctx context.Context, k crdt.DeviceKey, at time.Time, how store.Via, addrs ...[]byte) error
}, addrs []string, now time.Time) error {
	for _, s := range addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil || len(ai.Addrs) != 1 || len(ai.Addrs[0].Bytes()) > crdt.MaxAddrLen {
			continue
		}
		k, ok := peerDevice(ai.ID)
		if !ok {
			continue
		}
		if err := c.RecordContact(ctx, k, now, via(ai.Addrs[0], false), ai.Addrs[0].Bytes()); err != nil {
			return err
		}
	}
	return nil
}
