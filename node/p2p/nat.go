package p2p

// Paths through NAT.
//
// Every node is a full replica, so a member whose node others can reach
// (an exile organisation's server, an office with a public address)
// already carries everything between the offices that reach it. What is
// left is to find it and to need it less:
//
//   - keeping NAT mappings open: go-libp2p's QUIC sends a keep-alive every
//     15 s and yamux over TCP every 30 s, inside the shortest UDP timeout
//     routers use (30 s for a flow that never answered, 2 to 5 minutes
//     for one that did) and far inside TCP's; a node holds its
//     connections to members for as long as both run;
//   - port mapping: a node listening beyond loopback asks its router for a
//     mapping (UPnP or NAT-PMP, go-libp2p's NATPortMap);
//   - reachability: a member's node is asked to dial this node back
//     (reachProtocol, below). go-libp2p's AutoNAT cannot do this job in a
//     Murmur network: its servers dial back from a throwaway key, which
//     the transport gate refuses like any stranger's, so every node would
//     believe itself unreachable. The member dials back from its own
//     device key, through a second host that opens no listener, so the
//     dial comes from a port the router has never seen;
//   - a node found reachable publishes its confirmed addresses as an
//     address hint; so does `murmur run --announce`;
//   - a relay for members only: `murmur run --relay` serves circuit relay
//     v2 to member devices only (relayACL), with go-libp2p's default
//     limits (2 minutes and 128 KiB a circuit): enough to introduce two
//     offices, not to carry their sync;
//   - introductions: a node that is not known to be reachable keeps a
//     reservation on up to maxRelays member relays, found in address
//     hints; and every node tries the members it is not connected to
//     through those relays. The side that receives such a relayed
//     connection starts hole punching (DCUtR, go-libp2p's holepunch
//     service); the direct connection that results outlives the relay.
//     Reconciliation and gossip never run over the relayed connection
//     itself (go-libp2p refuses streams on a limited connection unless a
//     protocol asks for it, and ours do not).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	quicgo "github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/runfile"
)

const (
	// natEvery is how often reservations, introductions and reachability
	// are looked at. A relay's reservation lasts an hour.
	natEvery = 30 * time.Second
	// maxRelays: reservations kept at once. Two relays survive one of them
	// going away.
	maxRelays = 2
	// reserveAhead: a reservation is renewed this long before it expires.
	reserveAhead = 15 * time.Minute
	// natDialTimeout bounds one dial through a relay or one dial-back: a
	// few round trips of 800 ms, with room for loss.
	natDialTimeout = 45 * time.Second
	// dialBackTimeout bounds one dial-back. A router that drops what it
	// did not ask for never answers, so the dial-back waits this long for
	// every address that is not reachable (all at once): long enough for a
	// TCP handshake that loses its SYN twice (1 + 2 + 4 s) or a QUIC
	// handshake with a loss or two at 800 ms, short enough not to hold the
	// asking node's other work.
	dialBackTimeout = 15 * time.Second
	// askTimeout bounds one question to a member: the dial-backs and a
	// few round trips.
	askTimeout = dialBackTimeout + 15*time.Second
	// reachEvery: how often a node asks again whether it can be reached.
	reachEvery = 10 * time.Minute
	// maxIntroductions: dials through relays at once.
	maxIntroductions = 4
	// maxReachAddrs bounds the addresses one dial-back request may name.
	maxReachAddrs = 8
)

// Reachability says whether other members' nodes can open a connection to
// this node (run.json carries it: node/runfile).
type Reachability = runfile.Reachability

const (
	ReachUnknown   = runfile.ReachUnknown   // no member has said yet
	ReachPublic    = runfile.ReachPublic    // a member dialled back, or --relay/--announce says so
	ReachBehindNAT = runfile.ReachBehindNAT // members tried, and could not
)

// natOptions are the host options for the paths above.
func natOptions(n Core, listen []string, relay bool) []libp2p.Option {
	o := []libp2p.Option{libp2p.EnableHolePunching()}
	if addrport.BeyondLoopback(listen) {
		// A node bound to loopback has nothing to map, and a test must
		// not send anything beyond it.
		o = append(o, libp2p.NATPortMap())
	}
	if relay {
		o = append(o,
			libp2p.EnableRelayService(relayv2.WithACL(relayACL{n})),
			// go-libp2p starts its relay service only once the host
			// believes itself publicly reachable, which its AutoNAT
			// cannot tell behind the gate (see above): the operator
			// who turns the relay on says so.
			libp2p.ForceReachabilityPublic())
	}
	return o
}

// relayACL: a relay serves member devices only, on both ends of a circuit.
type relayACL struct{ core Core }

func (a relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return a.core.KnownMemberPeer(p) }
func (a relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	return a.core.KnownMemberPeer(src) && a.core.KnownMemberPeer(dest)
}

// natState is what the runner knows of its paths through NAT.
type natState struct {
	mu           gosync.Mutex
	reach        Reachability
	confirmed    []ma.Multiaddr        // addresses a member dialled back
	reservations map[peer.ID]time.Time // relay → when our reservation ends
	relays       []peer.ID             // member relays known from hints
	asked        time.Time             // when reachability was last asked
	told         map[string]bool       // log lines said once
}

// NATStatus is what `status` shows of the paths through NAT.
type NATStatus = runfile.NATStatus

// NAT returns what the runner knows of its paths through NAT.
func (r *Runner) NAT() NATStatus {
	s := &r.nat
	s.mu.Lock()
	defer s.mu.Unlock()
	st := NATStatus{Reachability: s.reach, Relaying: r.opt.Relay}
	if st.Reachability == "" {
		st.Reachability = ReachUnknown
	}
	for _, a := range s.confirmed {
		st.Confirmed = append(st.Confirmed, a.String())
	}
	for _, p := range s.relays {
		st.Relays = append(st.Relays, p.String())
	}
	now := time.Now()
	for p, until := range s.reservations {
		if until.After(now) {
			st.Reserved = append(st.Reserved, p.String())
		}
	}
	sort.Strings(st.Reserved)
	return st
}

func (s *natState) once(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.told == nil {
		s.told = map[string]bool{}
	}
	if s.told[key] {
		return false
	}
	s.told[key] = true
	return true
}

// natLoop keeps this node introducible and reachable: see the top of this
// file.
func (r *Runner) natLoop() {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.natStep(time.Now())
		every := r.opt.NATEvery
		if r.reachability() == ReachUnknown {
			// Not asked yet (no member was connected): soon again.
			every = min(every, 5*time.Second)
		}
		t.Reset(every/2 + time.Duration(rand.Int64N(int64(every))))
	}
}

func (r *Runner) natStep(now time.Time) {
	relays := r.memberRelays(now)
	r.nat.mu.Lock()
	r.nat.relays = nil
	for _, ai := range relays {
		r.nat.relays = append(r.nat.relays, ai.ID)
	}
	reach := r.nat.reach
	askedLongAgo := now.Sub(r.nat.asked) >= r.opt.ReachEvery
	r.nat.mu.Unlock()

	// Until members have said whether they can reach this node, it
	// reserves on the relays it knows too: asking takes a while, and an
	// office must not wait for that to be introduced.
	if !r.opt.Relay && reach != ReachPublic {
		for _, ai := range relays {
			r.keepReservation(ai, now)
		}
	}
	r.introduce(relays)
	if askedLongAgo || reach == ReachUnknown || reach == "" {
		r.askReachability(now)
	}
}

func (r *Runner) reachability() Reachability {
	r.nat.mu.Lock()
	defer r.nat.mu.Unlock()
	if r.nat.reach == "" {
		return ReachUnknown
	}
	return r.nat.reach
}

// memberRelays are the relays of member devices other than this one, from
// their address hints, most recent first.
func (r *Runner) memberRelays(now time.Time) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, h := range r.hints(r.core.RelayHints(now)) {
		if h.ID == r.h.ID() || !r.core.MemberPeer(h.ID) || len(h.Addrs) == 0 {
			continue
		}
		out = append(out, h)
	}
	return out[:min(len(out), maxRelays)]
}

// keepReservation holds a slot on relay ai, through which members that
// cannot reach this node directly are introduced to it.
func (r *Runner) keepReservation(ai peer.AddrInfo, now time.Time) {
	r.nat.mu.Lock()
	until, ok := r.nat.reservations[ai.ID]
	r.nat.mu.Unlock()
	if ok && until.Sub(now) > reserveAhead && r.h.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, natDialTimeout)
	defer cancel()
	if err := r.h.Connect(ctx, ai); err != nil {
		if r.ctx.Err() == nil && r.nat.once("relay-unreachable "+ai.ID.String()) {
			r.log.Warn(fmt.Sprintf("cannot reach the relay of %s: %v", r.core.DeviceName(ai.ID), plainDialError(err)))
		}
		return
	}
	rsvp, err := relayclient.Reserve(ctx, r.h, ai)
	if err != nil {
		if r.ctx.Err() == nil && r.nat.once("relay-refused "+ai.ID.String()) {
			r.log.Warn(fmt.Sprintf("the relay of %s did not take a reservation: %v", r.core.DeviceName(ai.ID), err))
		}
		return
	}
	r.nat.mu.Lock()
	if r.nat.reservations == nil {
		r.nat.reservations = map[peer.ID]time.Time{}
	}
	_, had := r.nat.reservations[ai.ID]
	r.nat.reservations[ai.ID] = rsvp.Expiration
	r.nat.mu.Unlock()
	if !had {
		r.log.Info(fmt.Sprintf("members who cannot reach this node directly are introduced through the relay of %s", r.core.DeviceName(ai.ID)))
	}
}

// introduce tries, through each known relay, the member devices this node
// has no direct connection to. The swarm tries a peer's direct addresses
// before relayed ones; once a relayed connection is up, the side that
// received it starts hole punching.
func (r *Runner) introduce(relays []peer.AddrInfo) {
	if len(relays) == 0 {
		return
	}
	var wg gosync.WaitGroup
	slots := make(chan struct{}, maxIntroductions)
	for _, p := range r.core.MemberPeers() {
		if p == r.h.ID() || slices.ContainsFunc(relays, func(ai peer.AddrInfo) bool { return ai.ID == p }) {
			continue
		}
		if r.h.Network().Connectedness(p) == network.Connected || r.h.Network().Connectedness(p) == network.Limited {
			continue
		}
		var circuits []ma.Multiaddr
		for _, rl := range relays {
			for _, a := range rl.Addrs {
				c, err := ma.NewMultiaddr(a.String() + "/p2p/" + rl.ID.String() + "/p2p-circuit")
				if err == nil {
					circuits = append(circuits, c)
				}
			}
		}
		select {
		case slots <- struct{}{}:
		case <-r.ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(r.ctx, natDialTimeout)
			defer cancel()
			r.h.Connect(ctx, peer.AddrInfo{ID: p, Addrs: circuits}) // (a member not behind any of these relays is simply not found)
		}()
	}
	wg.Wait()
}

// plainDialError is a dial error without go-libp2p's list of every address
// tried.
func plainDialError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer"
	}
	s := err.Error()
	if i := strings.Index(s, ":"); i > 0 && len(s) > 120 {
		return s[:i]
	}
	return s
}

// The dial-back ("can you reach me?"). The asking node sends the addresses
// it listens on; the member's node tries their ports at the IP address it
// sees the connection come from (the NAT's outside, or the node itself),
// never at an IP the asker names, and answers with those it reached.
//
//	request: JSON {"addrs": [multiaddr, …]}   (at most maxReachAddrs, 4 KiB)
//	answer:  JSON {"reached": [multiaddr, …]}
func reachProtocol(net crdt.ID) protocol.ID {
	return protocol.ID("/murmur/reach/1/" + net.String())
}

type reachRequest struct {
	Addrs []string `json:"addrs"`
}

type reachAnswer struct {
	Reached []string `json:"reached"`
}

// askReachability asks up to three connected members to dial this node
// back, and records what they found.
func (r *Runner) askReachability(now time.Time) {
	if len(r.opt.Announce) > 0 {
		// The operator said where this node can be reached, and its hint
		// says so already.
		r.nat.mu.Lock()
		r.nat.reach, r.nat.asked = ReachPublic, now
		r.nat.mu.Unlock()
		return
	}
	var ours []string
	for _, a := range r.h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		if r.private && !addrport.OverTCP(a) {
			continue
		}
		ours = append(ours, a.String())
		if len(ours) == maxReachAddrs/2 {
			break
		}
	}
	if len(ours) == 0 {
		return
	}
	answered := 0
	said := map[string]int{} // how many organisations said they reached each address
	var heard []ma.Multiaddr
	// One device an organisation: a member organisation adds devices at
	// will, and two of one rogue's must not count as two members (review
	// 10). This organisation's own devices count as one.
	askedOrg := map[crdt.OrgID]bool{}
	for _, p := range r.h.Network().Peers() {
		if answered == 3 {
			break
		}
		if !r.core.MemberPeer(p) || r.h.Network().Connectedness(p) != network.Connected {
			continue
		}
		org, _ := r.core.SyncedOrg(p) // (zero: this organisation's)
		if askedOrg[org] {
			continue
		}
		if protos, err := r.h.Peerstore().SupportsProtocols(p, reachProtocol(r.core.Network())); err != nil || len(protos) == 0 {
			continue
		}
		got, err := r.askOne(p, ours)
		if err != nil {
			continue
		}
		askedOrg[org] = true
		answered++
		for _, a := range got {
			if !slices.ContainsFunc(heard, a.Equal) {
				heard = append(heard, a)
			}
			said[string(a.Bytes())]++
		}
	}
	if answered == 0 {
		return
	}
	reached := confirmedReach(heard, said, answered, r.ownIPs())
	reach := ReachBehindNAT
	if len(reached) > 0 {
		reach = ReachPublic
	}
	r.nat.mu.Lock()
	before := r.nat.reach
	r.nat.reach, r.nat.confirmed, r.nat.asked = reach, reached, now
	r.nat.mu.Unlock()
	if reach != before {
		switch reach {
		case ReachPublic:
			r.log.Info("other members can reach this node directly")
		case ReachBehindNAT:
			if r.opt.Relay {
				r.log.Warn("this node relays, but other members cannot reach it: run it where they can, and give its public address with --announce")
			} else {
				r.log.Warn("other members cannot reach this node directly (it is behind a router or firewall): it keeps its connections open and is introduced through members' relays")
			}
		}
	}
	if err := r.core.HintFromReach(reach, reached, r.opt.Relay); err != nil && r.ctx.Err() == nil {
		r.log.Warn(fmt.Sprintf("telling the other members where this node can be reached: %v", err))
	}
}

func (r *Runner) askOne(p peer.ID, addrs []string) ([]ma.Multiaddr, error) {
	ctx, cancel := context.WithTimeout(r.ctx, askTimeout)
	defer cancel()
	s, err := r.h.NewStream(ctx, p, reachProtocol(r.core.Network()))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(askTimeout))
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := json.NewEncoder(s).Encode(reachRequest{Addrs: addrs}); err != nil {
		s.Reset()
		return nil, err
	}
	s.CloseWrite()
	var ans reachAnswer
	if err := json.NewDecoder(io.LimitReader(s, 4<<10)).Decode(&ans); err != nil {
		s.Reset()
		return nil, err
	}
	var out []ma.Multiaddr
	for _, a := range ans.Reached {
		m, err := ma.NewMultiaddr(a)
		if err == nil && len(out) < maxReachAddrs && askedFor(addrs, m) && !slices.ContainsFunc(out, m.Equal) {
			out = append(out, m)
		}
	}
	return out, nil
}

// askedFor says whether m is one of the addresses asked about (the same
// transport and port) at some IP address: what an honest member's dial-back
// can answer (reachCandidates), nothing else.
func askedFor(asked []string, m ma.Multiaddr) bool {
	ip, err := manet.ToIP(m)
	if err != nil {
		return false
	}
	for _, s := range asked {
		if a, err := ma.NewMultiaddr(s); err == nil {
			if o := withIP(a, ip); o != nil && o.Equal(m) {
				return true
			}
		}
	}
	return false
}

// confirmedReach keeps, of the addresses members said they reached this
// node at (heard; said counts the members that said each), those to
// believe. One member's word is not enough for an address at an IP this
// computer does not have (a NAT's, which only the members see): a rogue
// member could answer any IP, and this node would publish it in its hint,
// for every member to dial, and stop keeping relay reservations. Such an
// address needs two members; an address on this computer's own interfaces
// needs one, if only one answered, else two.
func confirmedReach(heard []ma.Multiaddr, said map[string]int, answered int, own []net.IP) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range heard {
		n := said[string(a.Bytes())]
		ip, err := manet.ToIP(a)
		if err != nil {
			continue
		}
		mine := slices.ContainsFunc(own, ip.Equal)
		if n >= 2 || n >= answered && mine {
			out = append(out, a)
		}
	}
	return out
}

// ownIPs are this computer's addresses that the node listens on.
func (r *Runner) ownIPs() []net.IP {
	addrs, err := r.h.Network().InterfaceListenAddresses()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if ip, err := manet.ToIP(a); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// reachLimit: dial-backs this node makes for others, in all (each one
// costs up to maxReachAddrs dials); reachPeerLimit: for any one member, so
// that one asking without end does not starve the others' questions.
var (
	reachLimit     = rate.Every(10 * time.Second)
	reachPeerLimit = rate.Every(30 * time.Second)
)

// serveReach dials the asking member back (members only: registered
// through memberHost).
func (r *Runner) serveReach(s network.Stream) {
	defer s.Close()
	if !r.reachAllowed(s.Conn().RemotePeer(), time.Now()) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(askTimeout))
	var req reachRequest
	if err := json.NewDecoder(io.LimitReader(s, 4<<10)).Decode(&req); err != nil {
		s.Reset()
		return
	}
	p := s.Conn().RemotePeer()
	candidates := reachCandidates(req.Addrs, s.Conn().RemoteMultiaddr(), r.private)
	reached := make([]bool, len(candidates))
	var wg gosync.WaitGroup
	for i, a := range candidates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reached[i] = r.dialBack(p, a)
		}()
	}
	wg.Wait()
	var ans reachAnswer
	for i, a := range candidates {
		if reached[i] {
			ans.Reached = append(ans.Reached, a.String())
		}
	}
	json.NewEncoder(s).Encode(ans)
}

// reachAllowed takes a dial-back from p's allowance, then from the
// node's, if both have one left.
func (r *Runner) reachAllowed(p peer.ID, now time.Time) bool {
	r.reachMu.Lock()
	defer r.reachMu.Unlock()
	l := r.reachPeers[p]
	if l == nil {
		if len(r.reachPeers) >= 1024 { // (members only ask; forget them all now and then)
			clear(r.reachPeers)
		}
		l = rate.NewLimiter(reachPeerLimit, 3)
		r.reachPeers[p] = l
	}
	if l.TokensAt(now) < 1 || !r.reachLimiter.AllowN(now, 1) {
		return false
	}
	return l.AllowN(now, 1)
}

// reachCandidates are the addresses a dial-back tries for a request from
// remote: the ports the asker names, at the IP address its connection
// comes from, never at an IP it names — a member must not be able to point
// this node at another host (a port scan of this node's LAN, or a flood of
// someone else's). A relayed connection has no such IP: nothing is tried.
func reachCandidates(asked []string, remote ma.Multiaddr, private bool) []ma.Multiaddr {
	if _, err := remote.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return nil // (its IP is the relay's)
	}
	seen, err := manet.ToIP(remote)
	if err != nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, str := range asked[:min(len(asked), maxReachAddrs)] {
		a, err := ma.NewMultiaddr(str)
		if err != nil || (private && !addrport.OverTCP(a)) {
			continue
		}
		if o := withIP(a, seen); o != nil && !slices.ContainsFunc(out, o.Equal) {
			out = append(out, o)
		}
	}
	return out
}

// withIP is a with its IP address replaced by ip, or nil.
func withIP(a ma.Multiaddr, ip net.IP) ma.Multiaddr {
	first, rest := ma.SplitFirst(a)
	if first == nil || (first.Protocol().Code != ma.P_IP4 && first.Protocol().Code != ma.P_IP6) {
		return nil
	}
	ipm, err := manet.FromIP(ip)
	if err != nil {
		return nil
	}
	return ipm.Encapsulate(rest)
}

// dialBack opens a connection to p at a from a port of its own (one the
// router in front of p has not seen): a TCP connection, or a QUIC
// handshake under this device's key (p's gate admits members only), closed
// at once. It is not a libp2p host: a second host with this device's
// identity would run identify, and p would take its empty protocol list
// for this node's.
func (r *Runner) dialBack(p peer.ID, a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.ctx, dialBackTimeout)
	defer cancel()
	if port, err := a.ValueForProtocol(ma.P_TCP); err == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	port, err := a.ValueForProtocol(ma.P_UDP)
	if err != nil || r.psk != nil {
		return false
	}
	if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err != nil {
		return false
	}
	priv, err := r.core.HostKey()
	if err != nil {
		return false
	}
	id, err := libp2ptls.NewIdentity(priv)
	if err != nil {
		return false
	}
	conf, _ := id.ConfigForPeer(p)
	conf.NextProtos = []string{"libp2p"}
	c, err := quicgo.DialAddr(ctx, net.JoinHostPort(ip.String(), port), conf, &quicgo.Config{})
	if err != nil {
		return false
	}
	c.CloseWithError(0, "")
	return true
}

// TreatAsPublic makes the process treat the given IPv4 ranges (comma
// separated CIDRs) as public internet addresses. Testnets in network
// namespaces use 198.18.0.0/15, which go-libp2p otherwise takes for
// unroutable: it would neither hole punch nor map ports there. Call it
// before starting a node; never in production.
func TreatAsPublic(cidrs string) error {
	for _, c := range strings.Split(cidrs, ",") {
		_, want, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			return inputErr("MURMUR_TESTNET_PUBLIC: %q is not a CIDR range: %v", c, err)
		}
		drop := func(nets []*net.IPNet) []*net.IPNet {
			return slices.DeleteFunc(nets, func(n *net.IPNet) bool {
				return n.Contains(want.IP) || want.Contains(n.IP)
			})
		}
		manet.Unroutable4 = drop(manet.Unroutable4)
		manet.Private4 = drop(manet.Private4)
	}
	return nil
}
