package node

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

var codeNow = time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)

func randomCode(rng *rand.Rand) InviteCode {
	c := InviteCode{Purpose: crdt.InvitePurpose(1 + rng.IntN(2)),
		Expires: codeNow.Add(time.Duration(rng.IntN(30*24*60)) * time.Minute)}
	for _, b := range [][]byte{c.Secret[:], c.Network[:]} {
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
	}
	return c
}

func TestInviteCodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for i := 0; i < 2000; i++ {
		c := randomCode(rng)
		text := c.String()
		if n := len(c.Plain()); n != inviteSymbols || n > 32 || strings.ReplaceAll(text, "-", "") != c.Plain() {
			t.Fatalf("case %d: %q is %d characters without dashes", i, text, n)
		}
		got, err := parseInviteCodeAt(text, codeNow)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, got, c)
		}
		// As typed by someone: lowercase, spaces, O for 0, L for 1, no dashes.
		typed := strings.NewReplacer("0", "O", "1", "l", "-", " ").Replace(strings.ToLower(text))
		if got, err := parseInviteCodeAt(typed, codeNow); err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: typed form %q not read: %v", i, typed, err)
		}
	}
}

// The QR code's text: the code and the addresses that travel beside it,
// read back whole.
func TestInviteCodeWithAddresses(t *testing.T) {
	c := randomCode(rand.New(rand.NewPCG(1, 1)))
	c.Addrs = []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("2001:db8::7")}
	got, err := parseInviteCodeAt(c.QRText(), codeNow)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("QR text %q read as %+v, %v", c.QRText(), got, err)
	}
	if line := c.AddrLine(); line != "192.168.1.20 2001:db8::7" {
		t.Errorf("address line %q", line)
	}
	// An address given as a multiaddr or with a port means its IP.
	for _, s := range []string{"/ip4/192.168.1.20/tcp/4721", "192.168.1.20:4721"} {
		if ip, err := ParseInviteAddr(s); err != nil || ip != c.Addrs[0] {
			t.Errorf("%q read as %v, %v", s, ip, err)
		}
	}
}

// Every single mistyped character and every swap of two characters (next
// to each other or not) is caught, in every position: the check is a
// Reed-Solomon code of distance 3.
func TestInviteCodeCatchesTyposAndSwaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 3))
	for i := 0; i < 40; i++ {
		plain := randomCode(rng).Plain()
		for pos := 0; pos < len(plain); pos++ {
			for _, r := range crockford {
				if byte(r) == plain[pos] {
					continue
				}
				bad := plain[:pos] + string(r) + plain[pos+1:]
				if _, err := parseInviteCodeAt(bad, codeNow); !errors.Is(err, ErrInviteTypo) {
					t.Fatalf("%s → %s (position %d): %v, want a typo", plain, bad, pos, err)
				}
			}
			for q := pos + 1; q < len(plain); q++ {
				if plain[q] == plain[pos] {
					continue
				}
				b := []byte(plain)
				b[pos], b[q] = b[q], b[pos]
				if _, err := parseInviteCodeAt(string(b), codeNow); !errors.Is(err, ErrInviteTypo) {
					t.Fatalf("%s → %s (swap %d, %d): %v, want a typo", plain, b, pos, q, err)
				}
			}
		}
	}
}

// A code cut short is incomplete, not foreign; one with a character not
// in the alphabet is not a code; a long code of an earlier release is
// told apart.
func TestInviteCodeIncompleteForeignOld(t *testing.T) {
	c := randomCode(rand.New(rand.NewPCG(7, 7)))
	text := c.String()
	for _, cut := range []int{1, 5, 6, 20, len(text) - 1} {
		_, err := parseInviteCodeAt(text[:cut], codeNow)
		if !errors.Is(err, ErrInviteIncomplete) {
			t.Errorf("%q: %v, want incomplete", text[:cut], err)
		}
	}
	if _, err := parseInviteCodeAt(text[:len(text)-1], codeNow); err == nil || !strings.Contains(err.Error(), "29 of its 30 characters") {
		t.Errorf("cut by one: %v", err)
	}
	for _, s := range []string{"hello, world", "", "https://example.org/x", text + "-UUUUU"} {
		if _, err := parseInviteCodeAt(s, codeNow); !errors.Is(err, ErrInviteFormat) {
			t.Errorf("%q: %v, want not a code", s, err)
		}
	}
	if !oldInviteCode(oldSyms(t)) {
		t.Error("a code of the previous release is not recognised as one")
	}
	if _, err := parseInviteCodeAt(string(oldCodeText(t)), codeNow); !errors.Is(err, ErrInviteOld) {
		t.Errorf("a code of the previous release: %v, want %v", err, ErrInviteOld)
	}
}

// oldCodeText builds a code as the previous release wrote them: version 2,
// SHA-256 checksum, base32 of ~70 bytes.
func oldCodeText(t *testing.T) string {
	body := []byte{2<<4 | 1, 0, 0x50, 0}
	for i := 0; i < 10+32+16; i++ {
		body = append(body, byte(i*7))
	}
	body = append(body, 1, 0, 203, 0, 113, 5, 0x12, 0x71)
	sum := sha256.Sum256(body)
	body = append(body, sum[:3]...)
	var sb strings.Builder
	var acc uint32
	bits := 0
	for _, x := range body {
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

func oldSyms(t *testing.T) []byte {
	var out []byte
	for _, r := range oldCodeText(t) {
		out = append(out, byte(strings.IndexRune(crockford, r)))
	}
	return out
}

// The expiry is read as the moment with the code's low bits nearest
// before now + 31 days: exact to the minute, refused offline once passed.
func TestInviteCodeExpiry(t *testing.T) {
	for _, d := range []time.Duration{-59 * 24 * time.Hour, -time.Minute, 0, time.Minute, 72 * time.Hour, 30 * 24 * time.Hour} {
		exp := codeNow.Add(d)
		got := expiryFrom(expiryField(exp), codeNow)
		if !got.Equal(exp) {
			t.Errorf("expiry now%+v read as %v, want %v", d, got, exp)
		}
	}
}
