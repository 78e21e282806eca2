// Package addrport is what the application core (node) and the
// peer-to-peer runtime (node/p2p) both read of an address, neither
// importing the other: an IP address and port over TCP or QUIC, as an
// invite code carries the inviter's addresses and as a door listens; the
// port a node listens on by default; whether an address is over TCP, or
// beyond loopback.
package addrport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// DefaultPort is where a node listens unless told otherwise, on TCP and
// QUIC: a fixed port keeps the addresses peers were given valid across
// restarts. If it is taken, the node takes any free port and says so.
const DefaultPort = 4721

// Addr is an IP address and port, over TCP or QUIC.
type Addr struct {
	AddrPort netip.AddrPort
	QUIC     bool
}

// Multiaddr is the address in libp2p's form.
func (a Addr) Multiaddr() ma.Multiaddr {
	ip := "ip4"
	if a.AddrPort.Addr().Is6() {
		ip = "ip6"
	}
	if a.QUIC {
		return ma.StringCast(fmt.Sprintf("/%s/%s/udp/%d/quic-v1", ip, a.AddrPort.Addr(), a.AddrPort.Port()))
	}
	return ma.StringCast(fmt.Sprintf("/%s/%s/tcp/%d", ip, a.AddrPort.Addr(), a.AddrPort.Port()))
}

// Of reads a multiaddr that is an IP address and a TCP or QUIC port
// (and, perhaps, a peer ID).
func Of(a ma.Multiaddr) (Addr, bool) {
	var ip netip.Addr
	var port uint16
	quic, ok := false, true
	ma.ForEach(a, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			ip, _ = netip.AddrFromSlice(c.RawValue())
		case ma.P_TCP, ma.P_UDP:
			if len(c.RawValue()) == 2 {
				port = binary.BigEndian.Uint16(c.RawValue())
			}
		case ma.P_QUIC_V1:
			quic = true
		case ma.P_P2P:
		default:
			ok = false
		}
		return true
	})
	if !ok || !ip.IsValid() || port == 0 {
		return Addr{}, false
	}
	return Addr{AddrPort: netip.AddrPortFrom(ip.Unmap(), port), QUIC: quic}, true
}

// OverTCP reports whether a is a TCP address: a private network (pnet)
// runs over TCP only, since go-libp2p cannot put its pre-shared key under
// transports that bring their own encryption (QUIC, WebTransport, WebRTC).
func OverTCP(a ma.Multiaddr) bool {
	_, tcpErr := a.ValueForProtocol(ma.P_TCP)
	_, udpErr := a.ValueForProtocol(ma.P_UDP)
	return tcpErr == nil && udpErr != nil
}

// BeyondLoopback reports whether some listen address is not loopback.
func BeyondLoopback(listen []string) bool {
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil || !manet.IsIPLoopback(a) {
			return true
		}
	}
	return false
}

// Dialable says why a is not an address to dial another member's node at
// (one remembered, advertised by the node itself, or in an address hint),
// or nil if it is: exactly an IP address and a TCP port, or a UDP port and
// QUIC, nothing before or after (a name would make this node look it up,
// for whoever runs its DNS to see; anything after the port would change
// what it speaks); an address a host can have: not unspecified,
// link-local, multicast, broadcast or reserved, nor loopback unless
// loopbackOK; not port 0.
func Dialable(a ma.Multiaddr, loopbackOK bool) error {
	if len(a) == 0 || a[0].Protocol().Code != ma.P_IP4 && a[0].Protocol().Code != ma.P_IP6 {
		return errors.New("does not start with an IP address (/ip4/ or /ip6/)")
	}
	if !(len(a) == 2 && a[1].Protocol().Code == ma.P_TCP ||
		len(a) == 3 && a[1].Protocol().Code == ma.P_UDP && a[2].Protocol().Code == ma.P_QUIC_V1) {
		return errors.New("is not an IP address followed by /tcp/PORT or /udp/PORT/quic-v1 alone")
	}
	ip, ok := netip.AddrFromSlice(a[0].RawValue())
	if !ok || len(a[1].RawValue()) != 2 {
		return errors.New("is not a valid address")
	}
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified():
		return errors.New("is no host's address (0.0.0.0 or ::)")
	case ip.IsLoopback() && !loopbackOK:
		return errors.New("is the computer's own (loopback)")
	case ip.IsLinkLocalUnicast() || ip.IsMulticast():
		return errors.New("is link-local or multicast")
	case ip.Is4() && (zeroNet4.Contains(ip) || reserved4.Contains(ip)):
		return errors.New("is a reserved or broadcast address")
	case binary.BigEndian.Uint16(a[1].RawValue()) == 0:
		return errors.New("has port 0")
	}
	return nil
}

var (
	zeroNet4  = netip.MustParsePrefix("0.0.0.0/8")   // "this network"
	reserved4 = netip.MustParsePrefix("240.0.0.0/4") // reserved, and the broadcast address
)

// HostNames is every Host (name or address, with the port) by which a
// request on this computer may name a web server listening at addr
// (host:port): addr itself; localhost, 127.0.0.1 and [::1] at its port;
// and, when addr is every address (0.0.0.0, ::), each of this computer's
// addresses at its port. A request that names another host came through a
// name made to point here (DNS rebinding) and is refused by the web
// interface and the metrics alike. Compare with the Host lower-cased.
func HostNames(addr string) (map[string]bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{strings.ToLower(addr): true}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		names[h+":"+port] = true
	}
	if host == "0.0.0.0" || host == "::" || host == "" {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					names[net.JoinHostPort(ipn.IP.String(), port)] = true
				}
			}
		}
	}
	return names, nil
}
