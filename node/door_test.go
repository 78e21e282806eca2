package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/p2p"
)

// foundedPrivate is founded, on a private network.
func foundedPrivate(t *testing.T) (*Node, *p2p.Runner) {
	t.Helper()
	f, err := Init(context.Background(), t.TempDir(), InitOptions{Org: "Founders", Quorum: 1, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

// The network key is in no invite code, in any form a reader of the code
// can get at: neither its bytes nor the field.
func TestInviteCodeCarriesNoNetworkKey(t *testing.T) {
	f, fr := foundedPrivate(t)
	psk, err := f.NetworkKey()
	if err != nil || len(psk) != 32 {
		t.Fatal(psk, err)
	}
	for _, purpose := range []crdt.InvitePurpose{crdt.InviteOrganisation, crdt.InviteDevice} {
		code := newInvite(t, f, fr, purpose, time.Hour)
		// 140 bits of content: the key's 256 cannot hide in them, but
		// look for any 4 of its bytes at any bit offset anyway.
		raw := codeBits(code.Plain())
		for off := 0; off+32 <= len(raw); off++ {
			for i := 0; i+4 <= len(psk); i++ {
				if raw[off:off+32] == bitsOf(psk[i:i+4]) {
					t.Errorf("the %v code holds 4 bytes of the network key", purpose)
				}
			}
		}
		if _, err := ParseInviteCode(code.String()); err != nil {
			t.Fatal(err)
		}
		t.Logf("a %v code of a private network: %s (%d characters without dashes)", purpose, code, len(code.Plain()))
	}
}

// codeBits are the bits of a code's characters, as '0' and '1'.
func codeBits(plain string) string {
	var sb strings.Builder
	for _, r := range plain {
		fmt.Fprintf(&sb, "%05b", strings.IndexRune(crockford, r))
	}
	return sb.String()
}

func bitsOf(b []byte) string {
	var sb strings.Builder
	for _, x := range b {
		fmt.Fprintf(&sb, "%08b", x)
	}
	return sb.String()
}
