package p2p

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/node/addrport"
)

// The transport gate. A node talks to the nodes of member devices and to
// nobody else, at three levels:
//
//   - the connection: a libp2p connection gater (gater, below) refuses a
//     peer once the security handshake has named it, before a muxer is
//     negotiated or any stream opened, unless it is a member's node or —
//     inbound, while an invite this device issued is open — anyone (who
//     can do nothing but present the invite). The node of any other member
//     refuses strangers whatever invites are open elsewhere: the invite
//     code names its inviter's addresses, and the joiner dials those. Outbound, it dials members only. go-libp2p's
//     mock network takes no gater from outside its package, so a node
//     running on a host it did not create (RunOptions.Host) relies on the
//     next two levels alone;
//   - the stream: on a host the runner creates, the resource manager
//     (streamGate, below) refuses every stream between this node and a
//     peer without standing, in either direction and of any protocol —
//     libp2p's own included: identify, its pushes, ping — except the one
//     a guest may open, the join protocol. A guest is therefore never told
//     the host's agent, protocols or addresses (identify would tell them
//     to anyone connected). Besides, every handler of the network's
//     protocols (reconciliation, gossip) is registered through memberHost,
//     which resets a stream from a peer without standing before the
//     handler sees it (the only stream gate on the mock network). The join
//     protocol is registered on the host itself: it is the one a stranger
//     may use;
//   - the state: whenever a membership entry is accepted or undone (and
//     every RecheckEvery, since an invite expires with time alone), the
//     runner looks at its connected peers again and disconnects those that
//     may no longer connect — a revoked device from the moment its
//     revocation is known, whichever path brought it.

// GateDecision is what the gate did.
type GateDecision int

const (
	// ConnIncoming: a connection came in and goes on to the handshakes
	// (real hosts; Peer is empty: who it is is not known yet). On a private
	// network, one without the key fails there and is heard of no more.
	ConnIncoming GateDecision = iota
	// ConnRefused: the connection gater refused a connection (real hosts).
	ConnRefused
	// Disconnected: a connected peer lost its standing and was cut off.
	Disconnected
	// StreamRefused: a stream was reset before its handler saw it (or, one
	// this node opened, before a byte of it was written): one of the
	// network's protocols, or on a host the runner creates any protocol
	// but the join protocol, with a peer without standing.
	StreamRefused
	// StreamServed: a stream of one of the network's protocols was handed
	// to its handler.
	StreamServed
)

func (d GateDecision) String() string {
	switch d {
	case ConnIncoming:
		return "connection incoming"
	case ConnRefused:
		return "connection refused"
	case Disconnected:
		return "disconnected"
	case StreamRefused:
		return "stream refused"
	case StreamServed:
		return "stream served"
	}
	return fmt.Sprintf("GateDecision(%d)", int(d))
}

// GateEvent is one decision of the gate, for RunOptions.OnGate.
type GateEvent struct {
	Peer     peer.ID
	Decision GateDecision
	Protocol protocol.ID // for stream decisions
}

// standing is where a peer stands with this node.
type standing int

const (
	stranger standing = iota // a key the network does not know, and no invite of this device open
	guest                    // a key the network does not know, while an invite of this device is open
	member                   // a device with standing
	former                   // a device of the network without standing: revoked
)

func (s standing) String() string {
	return [...]string{"not a member", "a guest (an invite is open)", "a member", "revoked"}[s]
}

// standingOf says where p stands (the core decides, under its lock).
func standingOf(c Core, p peer.ID) standing {
	member_, former_, invitesOpen := c.Standing(p)
	switch {
	case member_:
		return member
	case former_:
		return former
	case invitesOpen:
		return guest
	}
	return stranger
}

// gater is the connection gate of a host the runner creates.
type gater struct {
	core  Core
	event func(GateEvent)
	// dialable is the rule every address this host dials must pass
	// (Runner.dialable); nil: any (a door, which dials nothing).
	dialable func(ma.Multiaddr) bool
}

var _ connmgr.ConnectionGater = gater{}

// InterceptPeerDial: a node dials members' nodes only. (The joining side
// of an invite dials from a host of its own.) Refusing here, before any
// address is tried, also keeps the dial from counting against the peer in
// the swarm's backoff: once the peer's admission arrives, the next try
// goes through.
func (g gater) InterceptPeerDial(p peer.ID) bool { return g.core.MemberPeer(p) }

// InterceptAddrDial: the peer was judged by InterceptPeerDial; the
// address must pass the one rule every address this node dials passes
// (addrport.Dialable), wherever it was learnt — a hint, a contact, or what
// a member's node advertised over identify, which go-libp2p keeps in the
// peerstore and would otherwise dial as it is (review 10: a rogue's LAN
// addresses, its host names).
func (g gater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool {
	return g.dialable == nil || g.dialable(a)
}

// InterceptAccept: who is calling is not known before the handshake.
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool {
	g.event(GateEvent{Decision: ConnIncoming})
	return true
}

// InterceptSecured is the gate proper: the handshake has proved the peer's
// identity (its device key), and nothing else has happened yet.
func (g gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	ok := false
	if dir == network.DirInbound {
		ok = g.core.Admissible(p)
	} else {
		ok = g.core.MemberPeer(p)
	}
	if !ok {
		g.event(GateEvent{Peer: p, Decision: ConnRefused})
	}
	return ok
}

// InterceptUpgraded: the peer was judged by InterceptSecured.
func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// streamGate is the resource manager of a host the runner creates, with
// the stream gate: a stream's protocol is set (inbound, once multistream
// has agreed on it, before its handler runs; outbound, before a byte of it
// is written) through the stream's scope, and the gate's scope refuses it
// unless allow says yes. A refused stream is reset.
type streamGate struct {
	network.ResourceManager
	allow func(p peer.ID, proto protocol.ID, dir network.Direction) bool
}

func (g streamGate) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := g.ResourceManager.OpenStream(p, dir)
	if err != nil {
		return nil, err
	}
	return gatedStream{StreamManagementScope: s, p: p, dir: dir, allow: g.allow}, nil
}

// GetConnLimit: go-libp2p compares the resource manager's connection limit
// with the connection manager's.
func (g streamGate) GetConnLimit() int {
	if l, ok := g.ResourceManager.(connmgr.GetConnLimiter); ok {
		return l.GetConnLimit()
	}
	return 0
}

type gatedStream struct {
	network.StreamManagementScope
	p     peer.ID
	dir   network.Direction
	allow func(peer.ID, protocol.ID, network.Direction) bool
}

// errNotMember refuses a stream at the stream gate.
var errNotMember = errors.New("not a member of this network")

func (s gatedStream) SetProtocol(proto protocol.ID) error {
	if !s.allow(s.p, proto, s.dir) {
		return errNotMember
	}
	return s.StreamManagementScope.SetProtocol(proto)
}

// streamAllowed is the stream gate's rule: every stream with a member's
// node; with anyone else, only the join protocol, opened by them, while
// they may connect at all (an invite of this device is open).
func (r *Runner) streamAllowed(p peer.ID, proto protocol.ID, dir network.Direction) bool {
	if r.core.MemberPeer(p) {
		return true
	}
	if dir == network.DirInbound && proto == r.core.JoinProtocol() && r.core.Admissible(p) {
		return true
	}
	if dir == network.DirOutbound && proto == toldProtocol(r.core.Network()) && standingOf(r.core, p) == former {
		return true // telling a revoked device of its revocation (told.go)
	}
	r.event(GateEvent{Peer: p, Decision: StreamRefused, Protocol: proto})
	return false
}

// memberHost is the host as the network's own protocols see it: a stream
// handler registered through it serves members' nodes only. Everything
// else is the host's.
type memberHost struct {
	host.Host
	r *Runner
}

func (h memberHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.r.membersOnly(handler))
}

func (h memberHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.r.membersOnly(handler))
}

// membersOnly wraps a stream handler so that it sees members' streams only.
func (r *Runner) membersOnly(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if !r.core.MemberPeer(p) {
			r.event(GateEvent{Peer: p, Decision: StreamRefused, Protocol: s.Protocol()})
			s.Reset()
			return
		}
		r.event(GateEvent{Peer: p, Decision: StreamServed, Protocol: s.Protocol()})
		handler(s)
	}
}

func (r *Runner) event(ev GateEvent) {
	if r.opt.OnGate != nil {
		r.opt.OnGate(ev)
	}
}

// recheckSoon asks the gate loop to look at the connected peers again. It
// never blocks: the node calls it under its lock, from the state's observer (Core.Observe).
func (r *Runner) recheckSoon() {
	select {
	case r.recheck <- struct{}{}:
	default: // a look is due already
	}
}

// gateLoop disconnects peers that may no longer connect: at once when the
// membership changes (or a peer connects), and every RecheckEvery of the
// runner's clock.
func (r *Runner) gateLoop() {
	every := r.clock.After(r.opt.RecheckEvery)
	outsiders := map[peer.ID]bool{} // connected peers that were not members at the last look
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.recheck:
		case <-every:
			every = r.clock.After(r.opt.RecheckEvery)
		}
		outsiders = r.enforce(outsiders)
		r.reconcileDoors()
		// Membership changed, or time passed: hand the organisation's keys
		// to a device added since, or rotate them after a revocation.
		if _, err := r.core.EnsureOrgKey(r.ctx); err != nil && r.ctx.Err() == nil {
			r.log.Warn(fmt.Sprintf("organisation key: %v", err))
		}
		// A steward's node anchors the network secret where no one has
		// (a network founded before anchors: node/grant.go).
		if _, err := r.core.EnsureSecretCheck(r.ctx); err != nil && r.ctx.Err() == nil {
			r.log.Warn(fmt.Sprintf("anchoring the network's secret: %v", err))
		}
	}
}

// enforce looks at every connected peer once, and returns the connected
// peers that are not members. A peer is cut off when it is revoked; when it
// is a stranger and no invite is open any more (unless a stream it opened
// is still open — its join exchange ends first; the next look takes it);
// never while it is a member or a guest. On a host without the runner's
// gater (the mock network) a stranger may have connected before this node
// heard of its admission, so strangers are left to the stream gate there.
func (r *Runner) enforce(before map[peer.ID]bool) map[peer.ID]bool {
	now := map[peer.ID]bool{}
	for _, p := range r.h.Network().Peers() {
		st := standingOf(r.core, p)
		cut := st == former || (st == stranger && r.gated && !r.inboundStreams(p))
		switch {
		case cut && st == former:
			r.log.Info(fmt.Sprintf("disconnecting %s: %v", r.core.DeviceName(p), st))
			r.tellAndCut(p) // it hears of its revocation first (told.go)
		case cut:
			r.log.Info(fmt.Sprintf("disconnecting %s: %v", r.core.DeviceName(p), st))
			r.h.Network().ClosePeer(p)
			r.event(GateEvent{Peer: p, Decision: Disconnected})
		case st == member && before[p]:
			// It gained standing while connected (this node just heard of
			// its admission): what it was refused is due now.
			select {
			case r.syncSoon <- p:
			default:
			}
		case st != member:
			now[p] = true
		}
	}
	return now
}

// inboundStreams reports whether p has a stream open that it opened. (This
// node's own, such as pubsub's to every peer, do not keep it connected.)
func (r *Runner) inboundStreams(p peer.ID) bool {
	for _, c := range r.h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if s.Stat().Direction == network.DirInbound {
				return true
			}
		}
	}
	return false
}

// tcpListen splits listen addresses into those a private network can use
// and the others.
func tcpListen(listen []string) (tcp, other []string) {
	for _, s := range listen {
		if a, err := ma.NewMultiaddr(s); err == nil && !addrport.OverTCP(a) {
			other = append(other, s)
			continue
		}
		tcp = append(tcp, s) // unparsable: libp2p says what is wrong with it
	}
	return tcp, other
}
