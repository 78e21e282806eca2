package p2p

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/crypto/hkdf"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
)

// The door. On a private network every connection is encrypted under the
// network's pre-shared key before libp2p's own handshake, so a node
// without the key cannot even learn a member node's peer ID (its device
// key). An invite code must not carry that key: a code is read out, sent,
// photographed, and stays valid in whoever saw it long after it is used.
// Instead, while an invite of this device is unexpired, the running node
// opens a door for it: a second libp2p host, TCP only, on a port derived
// from the invite's secret (doorPort), on the same IP addresses as the
// node's host, under a pre-shared key derived from the secret (doorKey),
// with an identity derived from the secret (doorIdentity: the code names
// no peer, and a door is never a device), announced by mDNS under a name
// derived from the secret (doorServiceName), serving the join protocol
// and nothing else. The joiner dials the door port at the IP addresses
// that travel beside the code (or that mDNS gives for the door), presents
// the invite, and the join reply — over the door's encrypted channel —
// hands it the network key. Once the invite is used the door lets in only
// the device (or organisation) that used it, so that a joiner whose reply
// was lost asks again; once it expires the door closes (after the join
// exchange in progress), and whoever holds the code finds nothing that
// answers with the key it derives. A code made while the node is stopped
// stays good: port, key, identity and name are functions of the secret,
// and the runner opens the door when it starts. The secrets of this
// device's invites are kept in doors.sealed, sealed under the device key
// like network.psk.
//
// Open networks (no pre-shared key) have doors too, since a code names no
// peer to dial; the door's key there protects nothing but the invite.

const (
	doorsName    = "doors.sealed" // (node keeps the secrets in it: node/runtime.go)
	doorPortBase = 20000
	doorPortSpan = 20000
)

// doorPort is the TCP port of the door of the invite with this secret.
func doorPort(secret [inviteSecretLen]byte) uint16 {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("murmur-door-port-v1"))
	return uint16(doorPortBase + binary.BigEndian.Uint32(m.Sum(nil))%doorPortSpan)
}

// doorKey is the pre-shared key of the door of the invite with this
// secret, on the network whose ID begins with prefix (the code's).
func doorKey(secret [inviteSecretLen]byte, prefix []byte) []byte {
	k := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, secret[:], nil, append([]byte("murmur-door-v1"), prefix...)), k)
	return k
}

// doorIdentity is the private key of the door of the invite with this
// secret: its libp2p identity (peer ID), which the joiner derives from the
// code to dial it.
func doorIdentity(secret [inviteSecretLen]byte, prefix []byte) []byte {
	seed := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, secret[:], nil, append([]byte("murmur-door-identity-v1"), prefix...)), seed)
	return crdt.KeyFromSeed(seed)
}

// doorPeer is the peer ID of the door of the invite with this secret.
func doorPeer(secret [inviteSecretLen]byte, prefix []byte) peer.ID {
	id, _ := peerID(crdt.PublicKeyOf(doorIdentity(secret, prefix)))
	return id
}

// doorServiceName is the mDNS service name under which the door of the
// invite with this secret is announced during the day that holds t: only
// the holder of the code can compute it, and it changes every day.
func doorServiceName(secret [inviteSecretLen]byte, t time.Time) string {
	m := hmac.New(sha256.New, secret[:])
	fmt.Fprintf(m, "murmur door lan v1\n%d", t.Unix()/int64(lanPeriod/time.Second))
	return "_" + hex.EncodeToString(m.Sum(nil)[:7]) + "._udp"
}

// doors are a runner's open doors.
type doors struct {
	mu     gosync.Mutex
	open   map[[inviteSecretLen]byte]*door
	failed map[[inviteSecretLen]byte]bool // said already that it cannot open
	// unreadable: said already that the invites' secrets cannot be read.
	unreadable bool
	closed     bool
}

// door is one open door. Once its invite expires (or leaves the log's
// open invites of this device) it is shut:
// it takes no new connection, and closes once the join exchange in
// progress has ended (the joiner hangs up after the reply; closing at once
// could cut the reply off in flight), or after joinReplyWindow at most.
type door struct {
	h      host.Host
	lan    *lanDiscovery // its mDNS announcement, if the runner has mDNS
	shut   atomic.Bool
	since  time.Time              // shut since
	usedBy atomic.Pointer[string] // who used the invite ("" no one yet): only they may come back
}

// lets reports whether the door lets p in: anyone while the invite is
// unused, then only the device or organisation that used it.
func (d *door) lets(p peer.ID) bool {
	if d.shut.Load() {
		return false
	}
	used := d.usedBy.Load()
	if used == nil || *used == "" {
		return true
	}
	k, ok := peerDevice(p)
	return ok && (k.String() == *used || crdt.OrgIDFor(k).String() == *used)
}

// usedBy reports whether p's device (or its organisation) used the invite.
func (d *door) usedByPeer(p peer.ID) bool {
	used := d.usedBy.Load()
	if used == nil || *used == "" {
		return false
	}
	k, ok := peerDevice(p)
	return ok && (k.String() == *used || crdt.OrgIDFor(k).String() == *used)
}

// admits is a door's judgement of p: the door lets p in, and p is one the
// node admits (gate.go) or the one who used the invite — which, where its
// organisation awaits more stewards' approval, has no standing yet — unless
// the network knows its device as revoked.
func (o *door) admits(n Core, p peer.ID) bool {
	if !o.lets(p) {
		return false
	}
	if o.usedByPeer(p) {
		_, revoked, _ := n.Standing(p)
		return !revoked
	}
	return n.Admissible(p)
}

// doorGater is a door's connection gate: the node's (gate.go), and no new
// connection once the door is shut.
type doorGater struct {
	gater
	d *door
}

func (g doorGater) InterceptAccept(a network.ConnMultiaddrs) bool {
	return !g.d.shut.Load() && g.gater.InterceptAccept(a)
}

func (g doorGater) InterceptSecured(dir network.Direction, p peer.ID, a network.ConnMultiaddrs) bool {
	if dir == network.DirInbound && g.d.admits(g.core, p) {
		return true
	}
	g.event(GateEvent{Peer: p, Decision: ConnRefused})
	return false
}

// doorListen are the door's listen addresses: TCP at port on the IP
// addresses the node's host listens on.
func doorListen(listen []string, port uint16) []string {
	var out []string
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil || !addrport.OverTCP(a) {
			continue
		}
		ia, ok := addrport.Of(a)
		if !ok {
			if ip4, err := a.ValueForProtocol(ma.P_IP4); err == nil {
				ia.AddrPort = netip.AddrPortFrom(netip.MustParseAddr(ip4), 1)
			} else if ip6, err := a.ValueForProtocol(ma.P_IP6); err == nil {
				ia.AddrPort = netip.AddrPortFrom(netip.MustParseAddr(ip6), 1)
			} else {
				continue
			}
		}
		ia.AddrPort = netip.AddrPortFrom(ia.AddrPort.Addr(), port)
		if m := ia.Multiaddr().String(); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// reconcileDoors opens a door for each open invite of this device and
// closes the others (a door with a join exchange in progress closes at a
// later look). Only a private network's node on a host it created has
// doors.
func (r *Runner) reconcileDoors() {
	if !r.gated {
		return
	}
	want, err := r.core.DoorsWanted()
	d := &r.doors
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if err != nil && !d.unreadable {
		r.log.Warn(fmt.Sprintf("cannot read this node's open invites (%s): no one can join with them through this node (%v); make a new invite", doorsName, err))
	}
	d.unreadable = err != nil
	now := time.Now()
	for s, o := range d.open {
		used, ok := want[s]
		switch {
		case ok:
			o.usedBy.Store(&used)
			o.shut.Store(false)
			if o.lan != nil {
				o.lan.renew(now)
			}
			continue
		case !o.shut.Load():
			o.shut.Store(true)
			o.since = now
		}
		if len(o.h.Network().Conns()) > 0 && now.Sub(o.since) < joinReplyWindow {
			continue // (a disconnection makes the gate loop look again)
		}
		o.close()
		delete(d.open, s)
		r.log.Info("closed the door for an invite: it has expired or is withdrawn")
	}
	for s, used := range want {
		if d.open[s] != nil {
			continue
		}
		port := doorPort(s)
		listen := doorListen(r.opt.Listen, port)
		err := portsFree(listen)
		o := &door{}
		o.usedBy.Store(&used)
		if err == nil {
			netID := r.core.Network()
			prefix := netID[:inviteNetLen]
			var key lpcrypto.PrivKey
			if key, err = lpcrypto.UnmarshalEd25519PrivateKey(doorIdentity(s, prefix)); err == nil {
				o.h, err = newHost(key, listen, doorKey(s, prefix), doorGater{gater: gater{core: r.core, event: r.event}, d: o}, r.doorAllowed(o))
			}
		}
		if err != nil {
			if !d.failed[s] {
				r.log.Warn(fmt.Sprintf("cannot open the door for an invite on TCP port %d (%v): that invite cannot be used until the port is free", port, err))
				d.failed[s] = true
			}
			continue
		}
		o.h.SetStreamHandler(r.core.JoinProtocol(), func(st network.Stream) {
			r.serveJoinIf(st, func(p peer.ID) bool { return o.admits(r.core, p) })
		})
		o.h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(network.Network, network.Conn) { r.recheckSoon() }})
		if r.opt.MDNS {
			secret := s
			o.lan, err = startLANAs(o.h, func(t time.Time) string { return doorServiceName(secret, t) }, ignorePeers{}, now)
			if err != nil {
				r.log.Warn(fmt.Sprintf("not announcing the door for an invite on the local network: %v", err))
			}
		}
		d.open[s] = o
		delete(d.failed, s)
		r.log.Info(fmt.Sprintf("opened the door for an invite on TCP port %d", port))
	}
}

// portsFree checks that the door's addresses can be listened on (a
// libp2p host that fails to listen leaves goroutines behind).
func portsFree(listen []string) error {
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return err
		}
		ia, ok := addrport.Of(a)
		if !ok {
			return fmt.Errorf("%s is not an address to listen on", s)
		}
		l, err := net.Listen("tcp", ia.AddrPort.String())
		if err != nil {
			return err
		}
		l.Close()
	}
	return nil
}

// doorAllowed is a door's stream gate: the join protocol, opened by the
// other side, by whom the door lets in; nothing else.
func (r *Runner) doorAllowed(o *door) func(peer.ID, protocol.ID, network.Direction) bool {
	return func(p peer.ID, proto protocol.ID, dir network.Direction) bool {
		if dir == network.DirInbound && proto == r.core.JoinProtocol() && o.admits(r.core, p) {
			return true
		}
		r.event(GateEvent{Peer: p, Decision: StreamRefused, Protocol: proto})
		return false
	}
}

// close closes the door's announcement and host.
func (o *door) close() error {
	if o.lan != nil {
		o.lan.Close()
	}
	return o.h.Close()
}

// ignorePeers is the notifee of a door's mDNS service: a door dials no one.
type ignorePeers struct{}

func (ignorePeers) HandlePeerFound(peer.AddrInfo) {}

// closeDoors closes every door (the runner stops).
func (r *Runner) closeDoors() error {
	d := &r.doors
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	var errs []error
	for s, o := range d.open {
		errs = append(errs, o.close())
		delete(d.open, s)
	}
	return errors.Join(errs...)
}

// openDoors is how many doors are open (tests).
func (r *Runner) openDoors() int {
	r.doors.mu.Lock()
	defer r.doors.mu.Unlock()
	return len(r.doors.open)
}

// DoorPort is the TCP port at which the inviting node lets in the holder
// of the invite code with this secret (node.InviteCode's).
func DoorPort(secret [inviteSecretLen]byte) uint16 { return doorPort(secret) }

// DoorKey is the pre-shared key of the door of the invite with this
// secret, on the network whose ID begins with prefix: what a holder of the
// code can pass, and nothing else of the network.
func DoorKey(secret [inviteSecretLen]byte, prefix []byte) []byte { return doorKey(secret, prefix) }
