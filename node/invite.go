package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
)

// An invite code is what one organisation gives another (or itself, for a
// new device) to join: read out over the phone, sent in a message, or
// shown as a QR code. It is 30 characters of Crockford base32, shown in
// six groups of five joined by dashes (the dashes, spaces and case do not
// matter when it is typed; O, I and L are read as 0, 1 and 1):
//
//	2   bits  version (1)
//	1   bit   purpose: 0 an organisation, 1 a device of the inviter's
//	104 bits  secret: the invite's key, its door's key, port, identity
//	          and mDNS name derive from it; it never leaves the code
//	17  bits  expiry: minutes since 1970 (UTC), modulo 2^17 (91 days)
//	16  bits  the first 16 bits of the network's ID
//	10  bits  check: two Reed-Solomon symbols over GF(32)
//
// The check catches every error in one or two characters, so every
// mistyped character and every swap of two characters; a code with fewer
// characters is incomplete, not mistyped. The expiry is read as the one
// moment with those low bits between 60 days before now and 31 days after
// (an invite lasts 30 days at most), so a joiner refuses an expired code
// offline unless it expired more than 60 days ago (then the inviter's
// door, long closed, refuses it).
//
// A code names no address and no peer: the inviting node opens a door for
// the invite (node/p2p/door.go) whose TCP port, pre-shared key and libp2p identity
// derive from the secret, and announces it on the local network by mDNS
// under a name that derives from the secret too. The joiner finds the door
// there, or at the IP addresses that travel beside the code (the second
// line `murmur invite` prints, the QR code, `murmur join --addr`) or that
// `murmur run --peer` gives. The join reply, through the door, hands over
// the network key of a private network.
//
// Codes of earlier releases (100 characters and more, carrying the
// inviter's peer ID and addresses) are no longer accepted: they are told
// apart and the joiner is asked for a new code.

const (
	inviteVersion   = 1
	inviteSecretLen = 13
	inviteNetLen    = 2
	inviteSymbols   = 30 // characters of a code
	inviteCheckSyms = 2
	expiryBits      = 17
	// expiryAhead is how far after now an expiry is read to lie at most
	// (an invite lasts 30 days at most; a day for clocks that are off).
	expiryAhead    = 31 * 24 * time.Hour
	maxInviteAddrs = 4
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// Errors about invite codes.
var (
	ErrInviteTypo       = errors.New("the invite code is mistyped (its check does not match): check it character by character")
	ErrInviteIncomplete = errors.New("the invite code is incomplete")
	ErrInviteExpired    = errors.New("the invite code has expired: ask for a new one")
	ErrInviteFormat     = errors.New("this is not a Murmur invite code")
	ErrInviteOld        = errors.New("this invite code is from an earlier release of Murmur and is no longer accepted: ask for a new one")
)

// InviteCode is what an invite code says, and the addresses that travel
// beside it.
type InviteCode struct {
	Purpose crdt.InvitePurpose
	Expires time.Time // to the minute
	Secret  [inviteSecretLen]byte
	Network [inviteNetLen]byte // the first bytes of the network's ID
	// Addrs are IP addresses where the inviter's door may be reached (its
	// port derives from the secret). They are not part of the typed
	// code: the second line of an invite, and the QR code, carry them.
	Addrs []netip.Addr
}

// inviteKey derives the invite's key pair from its secret.
func inviteKey(secret [inviteSecretLen]byte) (priv []byte, pub [32]byte) {
	seed := sha256.Sum256(append([]byte("murmur-invite-v2\n"), secret[:]...))
	priv = crdt.KeyFromSeed(seed[:])
	copy(pub[:], priv[32:])
	return priv, pub
}

// MatchesNetwork reports whether id is the network the code names.
func (c InviteCode) MatchesNetwork(id crdt.ID) bool {
	return [inviteNetLen]byte(id[:inviteNetLen]) == c.Network
}

// expiryField is the code's expiry field for t.
func expiryField(t time.Time) uint32 {
	return uint32(t.Unix()/60) & (1<<expiryBits - 1)
}

// expiryFrom is the moment an expiry field names, read at now.
func expiryFrom(field uint32, now time.Time) time.Time {
	const span = 1 << expiryBits
	low := now.Add(expiryAhead).Unix()/60 - span
	m := low + ((int64(field)-low)%span+span)%span
	return time.Unix(m*60, 0).UTC()
}

// symbols are the code's data symbols (5 bits each), without the check.
func (c InviteCode) symbols() []byte {
	var bits bitWriter
	bits.put(inviteVersion, 2)
	p := uint64(0)
	if c.Purpose == crdt.InviteDevice {
		p = 1
	}
	bits.put(p, 1)
	for _, b := range c.Secret {
		bits.put(uint64(b), 8)
	}
	bits.put(uint64(expiryField(c.Expires)), expiryBits)
	for _, b := range c.Network {
		bits.put(uint64(b), 8)
	}
	return bits.syms
}

// Plain is the code without dashes: 30 characters.
func (c InviteCode) Plain() string {
	syms := c.symbols()
	syms = append(syms, rsCheck(syms)...)
	out := make([]byte, len(syms))
	for i, s := range syms {
		out[i] = crockford[s]
	}
	return string(out)
}

// String is the code as people handle it: six groups of five characters.
func (c InviteCode) String() string {
	text := c.Plain()
	var groups []string
	for len(text) > 5 {
		groups, text = append(groups, text[:5]), text[5:]
	}
	return strings.Join(append(groups, text), "-")
}

// AddrLine is the line of addresses that travels beside the code (empty
// if there are none).
func (c InviteCode) AddrLine() string {
	var out []string
	for _, a := range c.Addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}

// QRText is what the QR code holds: the code and its addresses, one line
// that `murmur join` reads whole.
func (c InviteCode) QRText() string {
	return strings.ToUpper(strings.TrimSpace(c.String() + " " + c.AddrLine()))
}

// ParseInviteCode reads a code as typed, optionally followed by IP
// addresses of the inviter (as the QR code holds them): case, spaces and
// dashes do not matter, and O, I and L are read as 0, 1 and 1.
func ParseInviteCode(s string) (InviteCode, error) { return parseInviteCodeAt(s, time.Now()) }

func parseInviteCodeAt(s string, now time.Time) (InviteCode, error) {
	var text strings.Builder
	var addrs []netip.Addr
	for _, tok := range strings.Fields(s) {
		if ip, ok := parseInviteAddr(tok); ok {
			if len(addrs) < maxInviteAddrs && !slices.Contains(addrs, ip) {
				addrs = append(addrs, ip)
			}
			continue
		}
		text.WriteString(tok)
	}
	var syms []byte
	for _, r := range strings.ToUpper(text.String()) {
		switch r {
		case '-', '_':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		v := strings.IndexRune(crockford, r)
		if v < 0 {
			return InviteCode{}, ErrInviteFormat
		}
		syms = append(syms, byte(v))
	}
	switch {
	case len(syms) == 0:
		return InviteCode{}, ErrInviteFormat
	case len(syms) < inviteSymbols:
		return InviteCode{}, fmt.Errorf("%w: it has %d of its %d characters", ErrInviteIncomplete, len(syms), inviteSymbols)
	case len(syms) > inviteSymbols && oldInviteCode(syms):
		return InviteCode{}, ErrInviteOld
	case len(syms) > inviteSymbols:
		return InviteCode{}, fmt.Errorf("%w (it is longer than %d characters)", ErrInviteFormat, inviteSymbols)
	case !rsValid(syms):
		return InviteCode{}, ErrInviteTypo
	}
	bits := bitReader{syms: syms[:inviteSymbols-inviteCheckSyms]}
	if v := bits.get(2); v != inviteVersion {
		return InviteCode{}, fmt.Errorf("%w (version %d: it needs a newer release of Murmur)", ErrInviteFormat, v)
	}
	c := InviteCode{Purpose: crdt.InviteOrganisation, Addrs: addrs}
	if bits.get(1) == 1 {
		c.Purpose = crdt.InviteDevice
	}
	for i := range c.Secret {
		c.Secret[i] = byte(bits.get(8))
	}
	c.Expires = expiryFrom(uint32(bits.get(expiryBits)), now)
	for i := range c.Network {
		c.Network[i] = byte(bits.get(8))
	}
	return c, nil
}

// parseInviteAddr reads an address given beside a code: an IP address,
// an IP address and port (the port is ignored: the door's derives from
// the secret), or a multiaddr.
func parseInviteAddr(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "/") {
		if a, err := ma.NewMultiaddr(s); err == nil {
			for _, p := range []int{ma.P_IP4, ma.P_IP6} {
				if v, err := a.ValueForProtocol(p); err == nil {
					if ip, err := netip.ParseAddr(v); err == nil {
						return ip.Unmap(), true
					}
				}
			}
		}
	}
	return netip.Addr{}, false
}

// ParseInviteAddr reads an address given beside a code (join --addr).
func ParseInviteAddr(s string) (netip.Addr, error) {
	if ip, ok := parseInviteAddr(strings.TrimSpace(s)); ok {
		return ip, nil
	}
	return netip.Addr{}, inputErr("%q is not an IP address (for example 192.168.1.20)", s)
}

// oldInviteCode reports whether syms are a code of an earlier release:
// base32 bytes whose last three are the SHA-256 checksum of the others,
// version 1 or 2.
func oldInviteCode(syms []byte) bool {
	var b []byte
	var acc uint32
	bits := 0
	for _, s := range syms {
		acc = acc<<5 | uint32(s)
		bits += 5
		if bits >= 8 {
			bits -= 8
			b = append(b, byte(acc>>uint(bits)))
		}
	}
	if len(b) < 8 {
		return false
	}
	body, sum := b[:len(b)-3], b[len(b)-3:]
	want := sha256.Sum256(body)
	v := body[0] >> 4
	return string(want[:3]) == string(sum) && (v == 1 || v == 2)
}

// bitWriter packs bits, most significant first, into 5-bit symbols.
type bitWriter struct {
	syms []byte
	acc  uint64
	n    int
}

func (w *bitWriter) put(v uint64, bits int) {
	for i := bits - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.n++
		if w.n == 5 {
			w.syms = append(w.syms, byte(w.acc))
			w.acc, w.n = 0, 0
		}
	}
}

// bitReader unpacks what bitWriter packed.
type bitReader struct {
	syms []byte
	pos  int // in bits
}

func (r *bitReader) get(bits int) uint64 {
	var v uint64
	for i := 0; i < bits; i++ {
		s := r.syms[r.pos/5]
		v = v<<1 | uint64(s>>(4-uint(r.pos%5))&1)
		r.pos++
	}
	return v
}

// GF(32), primitive polynomial x^5 + x^2 + 1: the field of the check.
var gfExp, gfLog = func() (exp [62]byte, log [32]byte) {
	x := 1
	for i := 0; i < 31; i++ {
		exp[i], exp[i+31] = byte(x), byte(x)
		log[x] = byte(i)
		x <<= 1
		if x&32 != 0 {
			x ^= 0x25
		}
	}
	return
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

// rsCheck are the two check symbols of data: the remainder of
// data(x)·x² divided by (x − α)(x − α²), a Reed-Solomon code of distance
// 3 for up to 31 symbols.
func rsCheck(data []byte) []byte {
	g1, g0 := gfExp[1]^gfExp[2], gfExp[3] // x² + g1·x + g0
	var r1, r0 byte
	for _, d := range data {
		f := d ^ r1
		r1 = r0 ^ gfMul(f, g1)
		r0 = gfMul(f, g0)
	}
	return []byte{r1, r0}
}

// rsValid reports whether the code word's syndromes at α and α² are zero.
func rsValid(word []byte) bool {
	for _, root := range []byte{gfExp[1], gfExp[2]} {
		var s byte
		for _, c := range word {
			s = gfMul(s, root) ^ c
		}
		if s != 0 {
			return false
		}
	}
	return true
}

// InviteOptions shape a new invite.
type InviteOptions struct {
	Purpose crdt.InvitePurpose
	Expires time.Duration // default 72 hours
	Addrs   []string      // addresses where joiners can reach this node (IP addresses or multiaddrs); default: as it runs, or this machine's addresses
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
		return InviteCode{}, refuse("not-admitted")
	case opt.Purpose == crdt.InviteOrganisation && !mine.Steward:
		return InviteCode{}, refuse("invite-not-steward")
	}
	c := InviteCode{Purpose: opt.Purpose}
	if _, err := rand.Read(c.Secret[:]); err != nil {
		return InviteCode{}, err
	}
	copy(c.Network[:], n.network[:])
	// To the minute, rounded up: the code, the entry and what is shown
	// all say the same moment.
	expires := n.now().Add(opt.Expires + time.Minute - 1).Truncate(time.Minute)
	c.Expires = expires.UTC()
	addrs, err := n.inviteAddrs(opt.Addrs)
	if err != nil {
		return InviteCode{}, err
	}
	c.Addrs = addrs
	_, pub := inviteKey(c.Secret)
	// The runner opens the door for it: it must know the secret. Kept
	// before the invite is written, so the runner never sees an invite of
	// this device it has no secret for.
	if err := n.keepDoorSecret(c.Secret, expires); err != nil {
		return InviteCode{}, err
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

// inviteAddrs picks the IP addresses where a joiner can reach this node's
// door: those given, else those the running node listens on, else this
// machine's. Public ones first, loopback last.
func (n *Node) inviteAddrs(given []string) ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, s := range given {
		ip, ok := parseInviteAddr(s)
		if !ok {
			return nil, inputErr("--addr %q is not an address (for example 203.0.113.5 or /ip4/203.0.113.5/tcp/4721)", s)
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		if info, ok := n.running(); ok {
			for _, s := range info.Addrs {
				if a, err := ma.NewMultiaddr(s); err == nil && addrport.OverTCP(a) {
					if ia, ok := inviteAddrOf(a); ok {
						ips = append(ips, ia.AddrPort.Addr())
					}
				}
			}
		}
	}
	if len(ips) == 0 {
		ifaddrs, _ := net.InterfaceAddrs()
		for _, ia := range ifaddrs {
			if ipn, ok := ia.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
					ips = append(ips, ip.Unmap())
				}
			}
		}
	}
	var out []netip.Addr
	for _, rank := range []func(netip.Addr) bool{
		func(ip netip.Addr) bool { return ip.Is4() && !ip.IsLoopback() && !ip.IsPrivate() },
		func(ip netip.Addr) bool { return ip.Is4() && ip.IsPrivate() },
		func(ip netip.Addr) bool { return ip.Is6() && ip.IsGlobalUnicast() },
		func(ip netip.Addr) bool { return ip.IsLoopback() },
	} {
		for _, ip := range ips {
			if !slices.Contains(out, ip) && rank(ip) && len(out) < maxInviteAddrs {
				out = append(out, ip)
			}
		}
	}
	if len(out) == 0 {
		return nil, refuse("invite-no-address")
	}
	return out, nil
}

// inviteAddr is an IP address and port, over TCP or QUIC.
type inviteAddr = addrport.Addr

func inviteAddrOf(a ma.Multiaddr) (inviteAddr, bool) { return addrport.Of(a) }
