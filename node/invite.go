package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmurnet/murmur/crdt"
)

// An invite code is what one organisation gives another (or itself, for a
// new device) to join: read out over the phone, sent in a message, or
// shown as a QR code. It is a binary record, written in Crockford base32
// in groups of five, ending in a checksum that catches typos:
//
//	1  byte   version (high 4 bits) | private network (bit 2) | purpose (bits 0-1)
//	3  bytes  expiry, hours since 2020-01-01 UTC
//	10 bytes  secret: the invite's key is derived from it; it never leaves the code
//	32 bytes  the inviter's device key, which is its node's peer ID
//	16 bytes  the first half of the network's ID
//	1  byte   number of addresses (at most 4), then for each:
//	          type (bit 0: IPv6, bit 1: QUIC), address (4 or 16 bytes),
//	          port (2 bytes; open networks only)
//	3  bytes  checksum: the first bytes of the SHA-256 of all of the above
//
// About 120 characters for a network with one IPv4 address. A code never
// carries the network's pre-shared key: on a private network the joiner
// reaches the inviter's door (door.go) at the port and under the key its
// secret derives, and the join reply hands it the network key. Version 1
// codes carried the key (after the network's ID) and the ports; a joiner
// still reads them.

const (
	inviteVersion   = 2
	inviteVersionV1 = 1
	inviteSecretLen = 10
	inviteNetLen    = 16
	maxInviteAddrs  = 4
	crockford       = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

var inviteEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors about invite codes.
var (
	ErrInviteTypo    = errors.New("the invite code is mistyped (its checksum does not match): check it character by character")
	ErrInviteExpired = errors.New("the invite code has expired: ask for a new one")
	ErrInviteFormat  = errors.New("this is not a Murmur invite code")
)

// InviteCode is what an invite code says.
type InviteCode struct {
	Purpose    crdt.InvitePurpose
	Expires    time.Time // to the hour
	Secret     [inviteSecretLen]byte
	Inviter    crdt.DeviceKey
	Network    [inviteNetLen]byte // prefix of the network's ID
	Private    bool               // the network has a pre-shared key: the joiner dials the inviter's door
	NetworkKey []byte             // only in a version 1 code: the pre-shared key itself
	Addrs      []InviteAddr       // on a private network, at the door's port
}

// InviteAddr is one address of the inviter's node.
type InviteAddr struct {
	AddrPort netip.AddrPort
	QUIC     bool
}

// Multiaddr is the address in libp2p's form.
func (a InviteAddr) Multiaddr() ma.Multiaddr {
	ip := "ip4"
	if a.AddrPort.Addr().Is6() {
		ip = "ip6"
	}
	if a.QUIC {
		return ma.StringCast(fmt.Sprintf("/%s/%s/udp/%d/quic-v1", ip, a.AddrPort.Addr(), a.AddrPort.Port()))
	}
	return ma.StringCast(fmt.Sprintf("/%s/%s/tcp/%d", ip, a.AddrPort.Addr(), a.AddrPort.Port()))
}

// InviterAddrInfo is how to reach the inviter.
func (c InviteCode) InviterAddrInfo() (peer.AddrInfo, error) {
	id, err := PeerID(c.Inviter)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	ai := peer.AddrInfo{ID: id}
	for _, a := range c.Addrs {
		ai.Addrs = append(ai.Addrs, a.Multiaddr())
	}
	return ai, nil
}

// inviteKey derives the invite's key pair from its secret.
func inviteKey(secret [inviteSecretLen]byte) (priv []byte, pub [32]byte) {
	seed := sha256.Sum256(append([]byte("murmur-invite-v1\n"), secret[:]...))
	priv = crdt.KeyFromSeed(seed[:])
	copy(pub[:], priv[32:])
	return priv, pub
}

// MatchesNetwork reports whether id is the network the code names.
func (c InviteCode) MatchesNetwork(id crdt.ID) bool {
	return bytes.Equal(id[:inviteNetLen], c.Network[:])
}

func (c InviteCode) binary() []byte {
	version := byte(inviteVersion)
	if c.NetworkKey != nil {
		version = inviteVersionV1 // (tests of old codes)
	}
	b := []byte{version<<4 | byte(c.Purpose&3)}
	if c.Private || c.NetworkKey != nil {
		b[0] |= 4
	}
	hours := min(max((c.Expires.Unix()-inviteEpoch.Unix())/3600, 0), 1<<24-1)
	b = append(b, byte(hours>>16), byte(hours>>8), byte(hours))
	b = append(b, c.Secret[:]...)
	b = append(b, c.Inviter[:]...)
	b = append(b, c.Network[:]...)
	b = append(b, c.NetworkKey...)
	b = append(b, byte(len(c.Addrs)))
	for _, a := range c.Addrs {
		t := byte(0)
		if a.AddrPort.Addr().Is6() {
			t |= 1
		}
		if a.QUIC {
			t |= 2
		}
		b = append(b, t)
		b = append(b, a.AddrPort.Addr().AsSlice()...)
		if version == inviteVersionV1 || !c.Private {
			b = binary.BigEndian.AppendUint16(b, a.AddrPort.Port())
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:3]...)
}

// String is the code as people handle it: groups of five characters.
func (c InviteCode) String() string {
	text := base32Encode(c.binary())
	var groups []string
	for len(text) > 5 {
		groups, text = append(groups, text[:5]), text[5:]
	}
	return strings.Join(append(groups, text), "-")
}

// ParseInviteCode reads a code as typed: case, spaces and dashes do not
// matter, and O, I and L are read as 0, 1 and 1.
func ParseInviteCode(s string) (InviteCode, error) {
	b, ok := base32Decode(s)
	if !ok || len(b) < 1+3+inviteSecretLen+32+inviteNetLen+1+3 {
		return InviteCode{}, ErrInviteFormat
	}
	body, sum := b[:len(b)-3], b[len(b)-3:]
	if want := sha256.Sum256(body); !bytes.Equal(want[:3], sum) {
		return InviteCode{}, ErrInviteTypo
	}
	version := body[0] >> 4
	if version != inviteVersion && version != inviteVersionV1 {
		return InviteCode{}, fmt.Errorf("%w (version %d: it needs a newer release of Murmur)", ErrInviteFormat, body[0]>>4)
	}
	var c InviteCode
	c.Purpose = crdt.InvitePurpose(body[0] & 3)
	private := body[0]&4 != 0
	c.Private = private && version != inviteVersionV1
	portLen := 2
	if c.Private {
		portLen = 0 // the door's, derived from the secret
	}
	c.Expires = expiryHour(int64(body[1])<<16 | int64(body[2])<<8 | int64(body[3]))
	p := body[4:]
	p = p[copy(c.Secret[:], p):]
	p = p[copy(c.Inviter[:], p):]
	p = p[copy(c.Network[:], p):]
	if private && version == inviteVersionV1 {
		if len(p) < 33 {
			return InviteCode{}, ErrInviteFormat
		}
		c.NetworkKey, p = append([]byte{}, p[:32]...), p[32:]
	}
	n := int(p[0])
	p = p[1:]
	if n > maxInviteAddrs {
		return InviteCode{}, ErrInviteFormat
	}
	for i := 0; i < n; i++ {
		if len(p) < 1 {
			return InviteCode{}, ErrInviteFormat
		}
		t, l := p[0], 4
		if t&1 != 0 {
			l = 16
		}
		if len(p) < 1+l+portLen {
			return InviteCode{}, ErrInviteFormat
		}
		ip, _ := netip.AddrFromSlice(p[1 : 1+l])
		port := doorPort(c.Secret)
		if portLen > 0 {
			port = binary.BigEndian.Uint16(p[1+l:])
		}
		c.Addrs = append(c.Addrs, InviteAddr{AddrPort: netip.AddrPortFrom(ip, port), QUIC: t&2 != 0})
		p = p[1+l+portLen:]
	}
	if len(p) != 0 || (c.Private && slices.ContainsFunc(c.Addrs, func(a InviteAddr) bool { return a.QUIC })) || (c.Purpose != crdt.InviteOrganisation && c.Purpose != crdt.InviteDevice) {
		return InviteCode{}, ErrInviteFormat
	}
	return c, nil
}

// expiryHour is the time h hours after the epoch, in UTC.
func expiryHour(h int64) time.Time { return time.Unix(inviteEpoch.Unix()+h*3600, 0).UTC() }

func base32Encode(b []byte) string {
	var sb strings.Builder
	var acc uint32
	bits := 0
	for _, x := range b {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(crockford[acc>>uint(bits)&31])
		}
	}
	if bits > 0 {
		sb.WriteByte(crockford[acc<<uint(5-bits)&31])
	}
	return sb.String()
}

func base32Decode(s string) ([]byte, bool) {
	var out []byte
	var acc uint32
	bits := 0
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ', '\t', '\n', '\r':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		v := strings.IndexRune(crockford, r)
		if v < 0 {
			return nil, false
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>uint(bits)))
		}
	}
	// The last character's spare bits are zero in a code this wrote: a
	// typo there would otherwise change nothing the checksum covers.
	if bits >= 5 || acc&(1<<uint(bits)-1) != 0 {
		return nil, false
	}
	return out, true
}

// InviteOptions shape a new invite.
type InviteOptions struct {
	Purpose crdt.InvitePurpose
	Expires time.Duration // default 72 hours
	Addrs   []string      // multiaddrs where joiners can reach this node; default: as it runs, or this machine's addresses
}

// Invite writes an invite and returns its code.
func (n *Node) Invite(ctx context.Context, opt InviteOptions) (InviteCode, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if opt.Expires == 0 {
		opt.Expires = 72 * time.Hour
	}
	if opt.Expires < time.Minute || opt.Expires > 30*24*time.Hour {
		return InviteCode{}, inputErr("--expires must be between 1 minute and 30 days")
	}
	mine, ok := n.myOrg()
	switch {
	case !ok:
		return InviteCode{}, fmt.Errorf("this organisation is not admitted yet")
	case opt.Purpose == crdt.InviteOrganisation && !mine.Steward:
		return InviteCode{}, fmt.Errorf("only stewards invite organisations: ask one (murmur members shows them) to run murmur invite")
	}
	c := InviteCode{Purpose: opt.Purpose, Inviter: n.device}
	if _, err := rand.Read(c.Secret[:]); err != nil {
		return InviteCode{}, err
	}
	copy(c.Network[:], n.network[:])
	expires := n.now().Add(opt.Expires)
	// The code says the hour after: the entry's expiry, to the
	// millisecond, is the one that counts.
	c.Expires = expiryHour((expires.Unix() - inviteEpoch.Unix() + 3599) / 3600)
	psk, err := n.networkKey()
	if err != nil {
		return InviteCode{}, err
	}
	// The code never carries the network key: a private network's joiner
	// knocks at this device's door for the invite (door.go).
	c.Private = psk != nil
	port := uint16(0)
	if c.Private {
		port = doorPort(c.Secret)
	}
	addrs, err := n.inviteAddrs(opt.Addrs, port)
	if err != nil {
		return InviteCode{}, err
	}
	c.Addrs = addrs
	_, pub := inviteKey(c.Secret)
	if c.Private {
		// The runner opens the door for it: it must know the secret. Kept
		// before the invite is written, so the runner never sees an invite
		// of this device it has no secret for.
		if err := n.keepDoorSecret(c.Secret, expires); err != nil {
			return InviteCode{}, err
		}
	}
	inv := &crdt.Invite{Key: pub, Expires: uint64(expires.UnixMilli()), Purpose: opt.Purpose}
	if opt.Purpose == crdt.InviteDevice {
		inv.Org = n.org
	}
	if _, err := n.append(ctx, inv); err != nil {
		return InviteCode{}, err
	}
	return c, nil
}

// inviteAddrs picks where a joiner can reach this node: the addresses
// given, else those the running node listens on, else this machine's
// addresses on the default port. Public ones first, loopback last. With
// door not 0 (a private network) the addresses are TCP, at the door's port.
func (n *Node) inviteAddrs(given []string, door uint16) ([]InviteAddr, error) {
	private := door != 0
	var mas []ma.Multiaddr
	for _, s := range given {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, inputErr("--addr %q is not a multiaddr (for example /ip4/203.0.113.5/tcp/4721)", s)
		}
		mas = append(mas, a)
	}
	if len(mas) == 0 {
		if info, ok := n.running(); ok {
			for _, s := range info.Addrs {
				if a, err := ma.NewMultiaddr(s); err == nil {
					mas = append(mas, a)
				}
			}
		}
	}
	if len(mas) == 0 {
		ifaddrs, _ := net.InterfaceAddrs()
		for _, ia := range ifaddrs {
			if ipn, ok := ia.(*net.IPNet); ok {
				if a, err := manet.FromIP(ipn.IP); err == nil {
					mas = append(mas, a.Encapsulate(ma.StringCast(fmt.Sprintf("/tcp/%d", DefaultPort))))
				}
			}
		}
	}
	var out []InviteAddr
	seen := map[InviteAddr]bool{}
	for _, rank := range []func(netip.Addr) bool{
		func(ip netip.Addr) bool { return ip.Is4() && !ip.IsLoopback() && !ip.IsPrivate() },
		func(ip netip.Addr) bool { return ip.Is4() && ip.IsPrivate() },
		func(ip netip.Addr) bool { return ip.Is6() && ip.IsGlobalUnicast() },
		func(ip netip.Addr) bool { return ip.IsLoopback() },
	} {
		for _, a := range mas {
			ia, ok := inviteAddrOf(a)
			if ok && private && !ia.QUIC {
				ia.AddrPort = netip.AddrPortFrom(ia.AddrPort.Addr(), door)
			}
			if !ok || seen[ia] || !rank(ia.AddrPort.Addr()) || (private && ia.QUIC) || len(out) == maxInviteAddrs {
				continue
			}
			seen[ia] = true
			out = append(out, ia)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address to put in the invite: give one with --addr, or start the node (murmur run) first")
	}
	return out, nil
}

func inviteAddrOf(a ma.Multiaddr) (InviteAddr, bool) {
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
		return InviteAddr{}, false
	}
	return InviteAddr{AddrPort: netip.AddrPortFrom(ip.Unmap(), port), QUIC: quic}, true
}
