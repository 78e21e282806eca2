package addrport

import (
	"net"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestDialable(t *testing.T) {
	for s, want := range map[string]bool{
		"/ip4/203.0.113.7/tcp/4721":                         true,
		"/ip4/192.168.1.20/udp/4721/quic-v1":                true, // a LAN's, or a VPN's
		"/ip6/2001:db8::7/tcp/4721":                         true,
		"/ip4/127.0.0.1/tcp/4721":                           false,
		"/ip6/::ffff:127.0.0.1/tcp/4721":                    false,
		"/ip4/0.0.0.0/tcp/4721":                             false,
		"/ip4/0.1.2.3/tcp/4721":                             false,
		"/ip4/169.254.169.254/tcp/80":                       false,
		"/ip4/224.0.0.1/tcp/4721":                           false,
		"/ip4/255.255.255.255/udp/9/quic-v1":                false,
		"/ip4/240.0.0.1/tcp/4721":                           false,
		"/ip4/203.0.113.7/tcp/0":                            false,
		"/ip4/203.0.113.7/udp/4721":                         false,
		"/ip4/203.0.113.7/tcp/4721/ws":                      false,
		"/ip4/203.0.113.7/tcp/4721/tls/sni/evil.example/ws": false,
		"/dns4/rogue.example/tcp/4721":                      false,
		"/dns4/localhost/tcp/22":                            false,
	} {
		if got := Dialable(ma.StringCast(s), false) == nil; got != want {
			t.Errorf("Dialable(%s) = %v, want %v", s, got, want)
		}
	}
	if err := Dialable(ma.StringCast("/ip4/127.0.0.1/tcp/4721"), true); err != nil {
		t.Errorf("loopback between nodes on loopback alone: %v", err)
	}
}

// The Host names a server at an address answers to: its own, this
// computer's loopback names at its port, and on every address each of this
// computer's addresses; never another port or another name.
func TestHostNames(t *testing.T) {
	names, err := HostNames("127.0.0.1:9721")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"127.0.0.1:9721", "localhost:9721", "[::1]:9721"} {
		if !names[h] {
			t.Errorf("%s refused", h)
		}
	}
	for _, h := range []string{"127.0.0.1:9722", "evil.example:9721", "localhost", "127.0.0.1"} {
		if names[h] {
			t.Errorf("%s admitted", h)
		}
	}
	all, err := HostNames("0.0.0.0:4722")
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := net.InterfaceAddrs(); len(addrs) > 0 {
		ipn := addrs[0].(*net.IPNet)
		if !all[net.JoinHostPort(ipn.IP.String(), "4722")] {
			t.Errorf("served on every address, %s refused", ipn.IP)
		}
	}
	if _, err := HostNames("no port"); err == nil {
		t.Error("an address without a port taken")
	}
}
