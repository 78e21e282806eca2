package node

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

func randomCode(rng *rand.Rand) InviteCode {
	c := InviteCode{Purpose: crdt.InvitePurpose(1 + rng.IntN(2)), Expires: expiryHour(int64(rng.IntN(1 << 24)))}
	for _, b := range [][]byte{c.Secret[:], c.Inviter[:], c.Network[:]} {
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
	}
	switch rng.IntN(3) {
	case 0: // a version 1 code of a private network: it held the key
		c.NetworkKey = make([]byte, 32)
		for i := range c.NetworkKey {
			c.NetworkKey[i] = byte(rng.UintN(256))
		}
	case 1:
		c.Private = true
	}
	for i := 0; i < rng.IntN(maxInviteAddrs+1); i++ {
		var ip netip.Addr
		if rng.IntN(2) == 0 {
			ip = netip.AddrFrom4([4]byte{byte(rng.UintN(256)), 1, 2, 3})
		} else {
			ip = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(rng.UintN(256))})
		}
		a := InviteAddr{AddrPort: netip.AddrPortFrom(ip, uint16(1+rng.IntN(65535))), QUIC: rng.IntN(2) == 0}
		if c.Private { // at the door: TCP, its port
			a = InviteAddr{AddrPort: netip.AddrPortFrom(ip, doorPort(c.Secret))}
		}
		c.Addrs = append(c.Addrs, a)
	}
	return c
}

func TestInviteCodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for i := 0; i < 2000; i++ {
		c := randomCode(rng)
		got, err := ParseInviteCode(c.String())
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, got, c)
		}
		// As typed by someone: lowercase, spaces, O for 0, L for 1.
		typed := strings.NewReplacer("0", "O", "1", "l", "-", " ").Replace(strings.ToLower(c.String()))
		if got, err := ParseInviteCode(typed); err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: typed form not read: %v", i, err)
		}
	}
}

func TestInviteCodeCatchesTypos(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 3))
	caught := 0
	for i := 0; i < 2000; i++ {
		text := randomCode(rng).String()
		pos := rng.IntN(len(text))
		if text[pos] == '-' {
			continue
		}
		repl := crockford[rng.IntN(len(crockford))]
		if repl == text[pos] {
			continue
		}
		bad := text[:pos] + string(repl) + text[pos+1:]
		_, err := ParseInviteCode(bad)
		if err == nil {
			t.Fatalf("a typo at %d went unnoticed: %s", pos, bad)
		}
		if errors.Is(err, ErrInviteTypo) || errors.Is(err, ErrInviteFormat) {
			caught++
		} else {
			t.Fatalf("a typo gave %v", err)
		}
	}
	if caught == 0 {
		t.Fatal("no typo caught")
	}
	if _, err := ParseInviteCode("hello"); !errors.Is(err, ErrInviteFormat) {
		t.Fatalf("not a code: %v", err)
	}
}

func TestInviteCodeLength(t *testing.T) {
	c := InviteCode{Purpose: crdt.InviteOrganisation, Expires: time.Now(),
		Addrs: []InviteAddr{{AddrPort: netip.MustParseAddrPort("203.0.113.5:4721")}}}
	text := c.String()
	if n := len(strings.ReplaceAll(text, "-", "")); n > 120 {
		t.Fatalf("%d characters: too long to read out", n)
	}
	t.Logf("a public network's code with one address: %d characters in %d groups", len(strings.ReplaceAll(text, "-", "")), strings.Count(text, "-")+1)
}
