package p2p

import (
	"bytes"
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

type recorded struct {
	k     crdt.DeviceKey
	at    time.Time
	how   store.Via
	addrs [][]byte
}

type recorder struct{ got []recorded }

func (r *recorder) RecordContact(_ context.Context, k crdt.DeviceKey, at time.Time, how store.Via, addrs ...[]byte) error {
	r.got = append(r.got, recorded{k, at, how, addrs})
	return nil
}

// The inviter's addresses a join brought are remembered as contacts of
// the inviter's device, without the /p2p part, each with how it is
// reached; what is not such an address is left out.
func TestRememberJoined(t *testing.T) {
	k := crdt.PublicKeyOf(crdt.KeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	p, err := peerID(k)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)
	var r recorder
	in := []string{"/ip4/127.0.0.1/udp/4001/quic-v1/p2p/" + p.String(), "/ip4/203.0.113.7/tcp/4001/p2p/" + p.String(), "not an address", "/ip4/203.0.113.7/tcp/4001"}
	if err := RememberJoined(context.Background(), &r, in, now); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		addr string
		how  store.Via
	}{{"/ip4/127.0.0.1/udp/4001/quic-v1", store.ViaLAN}, {"/ip4/203.0.113.7/tcp/4001", store.ViaDirect}}
	if len(r.got) != len(want) {
		t.Fatalf("%d contacts recorded, want %d: %+v", len(r.got), len(want), r.got)
	}
	for i, w := range want {
		g := r.got[i]
		a, err := ma.NewMultiaddrBytes(g.addrs[0])
		if g.k != k || !g.at.Equal(now) || g.how != w.how || len(g.addrs) != 1 || err != nil || a.String() != w.addr {
			t.Errorf("contact %d: %+v (%v), want %s %v", i, g, a, w.addr, w.how)
		}
	}
}
