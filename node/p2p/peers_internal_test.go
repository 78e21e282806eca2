package p2p

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/store"
)

func TestVia(t *testing.T) {
	for _, c := range []struct {
		addr string
		lan  bool
		want store.Via
	}{
		{"/ip4/203.0.113.7/tcp/4721", false, store.ViaDirect},
		{"/ip4/203.0.113.7/tcp/4721", true, store.ViaLAN}, // found by mDNS
		{"/ip4/192.168.1.20/tcp/4721", false, store.ViaLAN},
		{"/ip4/127.0.0.1/udp/4721/quic-v1", false, store.ViaLAN},
		{"/ip6/fe80::1/tcp/4721", false, store.ViaLAN},
		{"/ip4/203.0.113.7/tcp/4721/p2p/12D3KooWRnFi4SYap7Ve4jKaXW9MisBMbSg2F6ftrogYaJAbzQaX/p2p-circuit", false, store.ViaRelay},
		{"/ip4/192.168.1.20/tcp/4721/p2p/12D3KooWRnFi4SYap7Ve4jKaXW9MisBMbSg2F6ftrogYaJAbzQaX/p2p-circuit", true, store.ViaRelay},
	} {
		if got := via(ma.StringCast(c.addr), c.lan); got != c.want {
			t.Errorf("%s (mDNS %v): %v, want %v", c.addr, c.lan, got, c.want)
		}
	}
}
