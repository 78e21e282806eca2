package p2p

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Unfinished handshakes. A connection that comes in holds one of the
// resource manager's transient slots from the moment it is accepted until
// its security handshake names the peer. Those slots are few (go-libp2p's
// default: 32 inbound plus 16 per GiB the manager may use, an eighth of
// the memory: 48 on an 8 GiB machine), and go-libp2p gives a handshake
// 15 s. A stranger who opens idle TCP connections and sends nothing — no
// key needed, not even a byte — held every slot, and every new connection
// was refused: a member's node restarting, or back from a dropped link,
// could not connect, in either direction once both sides were flooded
// (review 3).
// go-libp2p's own per-address limits (8 connections per IPv4 address or
// IPv6 /56, and a connection rate) leave loopback addresses out, and a
// connection that never finishes its handshake counts against them as
// long as any other.
//
// So a host the runner creates (newHost) bounds, per source address (an
// IPv4 address, an IPv6 /56), the inbound connections whose handshake is
// under way to maxHandshakesPerSource, and closes a connection whose
// handshake has not named its peer within handshakeWithin. A stranger at
// one address holds at most that many slots, each for at most that long;
// a member's node connects from another address. A member behind the same
// address as the stranger (one NAT, one machine) still competes with it
// for those few: that risk remains, and so does a stranger with as many
// addresses as there are slots.
const (
	// maxHandshakesPerSource: a member's node dials once per address it
	// knows of ours, and a few members may sit behind one NAT; go-libp2p
	// allows 8 connections per address in all.
	maxHandshakesPerSource = 8
	// handshakeWithin: the network key's nonce, the security protocol's
	// negotiation and its handshake (TLS 1.3 or Noise, with their
	// certificates) are about three round trips and 2 KB each way; at an
	// 800 ms round trip and 32 kbit/s with a lost packet, about 5 s.
	handshakeWithin = 10 * time.Second
)

// maxAccepted bounds handshakes.accepted.
const maxAccepted = 1024

// errHandshakes refuses a connection at the resource manager: its source
// has too many handshakes under way.
var errHandshakes = errors.New("too many unfinished handshakes from this address")

// handshakes is the bookkeeping of one host's inbound handshakes.
type handshakes struct {
	within time.Duration
	mu     sync.Mutex
	// accepted: TCP connections the gater let in, by remote address, until
	// the resource manager opens their scope (go-libp2p does so at once,
	// on the same goroutine): how a timed-out handshake is closed.
	accepted map[string]net.Conn
	under    map[netip.Prefix]int // handshakes under way, per source
}

func newHandshakes(within time.Duration) *handshakes {
	return &handshakes{within: within, accepted: map[string]net.Conn{}, under: map[netip.Prefix]int{}}
}

// source is the address a connection's handshakes are counted under.
func source(a ma.Multiaddr) (netip.Prefix, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 56
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

// handshakeGater is a host's connection gater, which remembers the TCP
// connections it lets in (handshakes.accepted).
type handshakeGater struct {
	connmgr.ConnectionGater // nil: every connection
	hs                      *handshakes
}

func (g handshakeGater) InterceptAccept(a network.ConnMultiaddrs) bool {
	if g.ConnectionGater != nil && !g.ConnectionGater.InterceptAccept(a) {
		return false
	}
	// A TCP connection is the net.Conn itself; QUIC's is not (its
	// handshake is over before the gater sees it, bounded by QUIC).
	if c, ok := a.(net.Conn); ok {
		g.hs.mu.Lock()
		if len(g.hs.accepted) >= maxAccepted {
			// Never, as go-libp2p is: each is taken at once. Otherwise a
			// timed-out handshake is only counted out, and go-libp2p's
			// own timeout closes it.
			clear(g.hs.accepted)
		}
		g.hs.accepted[a.RemoteMultiaddr().String()] = c
		g.hs.mu.Unlock()
	}
	return true
}

func (g handshakeGater) InterceptPeerDial(p peer.ID) bool {
	return g.ConnectionGater == nil || g.ConnectionGater.InterceptPeerDial(p)
}

func (g handshakeGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.ConnectionGater == nil || g.ConnectionGater.InterceptAddrDial(p, a)
}

func (g handshakeGater) InterceptSecured(dir network.Direction, p peer.ID, a network.ConnMultiaddrs) bool {
	return g.ConnectionGater == nil || g.ConnectionGater.InterceptSecured(dir, p, a)
}

func (g handshakeGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.ConnectionGater == nil {
		return true, 0
	}
	return g.ConnectionGater.InterceptUpgraded(c)
}

// handshakeLimit is a host's resource manager, which opens an inbound
// connection's scope only while its source has fewer than
// maxHandshakesPerSource handshakes under way. The handshake is over when
// the scope is told its peer (the security handshake named it) or is done
// (the connection closed); after handshakeWithin, the connection is
// closed.
type handshakeLimit struct {
	network.ResourceManager
	hs *handshakes
}

func (l handshakeLimit) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	if dir != network.DirInbound {
		return l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	}
	l.hs.mu.Lock()
	key := endpoint.String()
	conn := l.hs.accepted[key]
	delete(l.hs.accepted, key)
	src, counted := source(endpoint)
	if counted && l.hs.under[src] >= maxHandshakesPerSource {
		l.hs.mu.Unlock()
		return nil, errHandshakes // (go-libp2p closes the connection)
	}
	if counted {
		l.hs.under[src]++
	}
	l.hs.mu.Unlock()
	s, err := l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil {
		if counted {
			l.hs.end(src)
		}
		return nil, err
	}
	h := &handshaking{ConnManagementScope: s, hs: l.hs, src: src, counted: counted}
	h.mu.Lock()
	h.timer = time.AfterFunc(l.hs.within, func() {
		if h.over() && conn != nil {
			conn.Close()
		}
	})
	h.mu.Unlock()
	return h, nil
}

// GetConnLimit: as streamGate's.
func (l handshakeLimit) GetConnLimit() int {
	if g, ok := l.ResourceManager.(connmgr.GetConnLimiter); ok {
		return g.GetConnLimit()
	}
	return 0
}

func (hs *handshakes) end(src netip.Prefix) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.under[src]--; hs.under[src] <= 0 {
		delete(hs.under, src)
	}
}

// handshaking is the scope of an inbound connection whose handshake may
// be under way.
type handshaking struct {
	network.ConnManagementScope
	hs      *handshakes
	src     netip.Prefix
	counted bool
	once    sync.Once
	mu      sync.Mutex
	timer   *time.Timer
}

// over ends the handshake's count; it says whether this call did.
func (h *handshaking) over() (first bool) {
	h.once.Do(func() {
		first = true
		h.mu.Lock()
		t := h.timer
		h.mu.Unlock()
		if t != nil {
			t.Stop()
		}
		if h.counted {
			h.hs.end(h.src)
		}
	})
	return first
}

func (h *handshaking) SetPeer(p peer.ID) error {
	h.over()
	return h.ConnManagementScope.SetPeer(p)
}

func (h *handshaking) Done() {
	h.over()
	h.ConnManagementScope.Done()
}
