package p2p

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmurnet/murmur/crdt"
)

// idleFlood is a stranger without the network key, at one address, who
// keeps opening TCP connections to a node's listen port and sends nothing
// on them: rounds of size connections, each round held for hold, until
// stop (at most 100 rounds).
func idleFlood(t *testing.T, from, to string, size int, hold time.Duration) (stop func()) {
	t.Helper()
	local, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(from, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	stopped := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	wg.Go(func() {
		d := net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}
		for round := 0; round < 100 && !stopped(); round++ {
			var conns []net.Conn
			for i := 0; i < size && !stopped(); i++ {
				if c, err := d.Dial("tcp", to); err == nil {
					conns = append(conns, c)
				}
			}
			select {
			case <-done:
			case <-time.After(hold):
			}
			for _, c := range conns {
				c.Close()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// A stranger's idle connections to a member's node, however many and
// however often renewed, do not keep another member's node from
// connecting to it (review 3, finding 3): a stranger's unfinished
// handshakes are bounded per source address, so they cannot fill the
// slots every new connection needs before its handshake.
func TestStrangerIdleConnectionsDoNotStarveMembers(t *testing.T) {
	f, fr := foundedPrivate(t)
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta Collective", "")

	// The flood, at the founder's listen port, before Beta's node starts.
	to := ""
	for _, s := range fr.Addrs() {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := manet.ToNetAddr(ai.Addrs[0]); err == nil && a.Network() == "tcp" {
			to = a.String()
		}
	}
	if to == "" {
		t.Fatalf("no TCP address among %v", fr.Addrs())
	}
	stop := idleFlood(t, "127.0.0.9", to, 600, 10*time.Second)
	defer stop()
	eventually(t, 5*time.Second, "the stranger's connections reach the founder's node", func() bool {
		return fr.Host().Network().ResourceManager().ViewTransient(func(s network.ResourceScope) error {
			if s.Stat().NumConnsInbound == 0 {
				return errors.New("none yet")
			}
			return nil
		}) == nil
	})

	br := loopbackNode(t, b, fr.Addrs()...)
	fp, bp := mustPeer(t, f.Device()), mustPeer(t, b.Device())
	eventually(t, 10*time.Second, "Beta's node connects to the founder's during the flood", func() bool {
		return br.Host().Network().Connectedness(fp) == network.Connected && fr.Host().Network().Connectedness(bp) == network.Connected
	})
}

// A host's inbound handshakes are bounded per source address, and one
// that does not name its peer in time is closed: checked on the gater
// and resource manager a host gets, with real TCP connections.
func TestHandshakesBoundedPerSourceAndInTime(t *testing.T) {
	rm, err := resourceManager()
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	hs := newHandshakes(200 * time.Millisecond)
	g, l := handshakeGater{hs: hs}, handshakeLimit{ResourceManager: rm, hs: hs}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p := testDevice(t, 7)

	type conn struct {
		client net.Conn
		scope  network.ConnManagementScope
	}
	var all []conn
	defer func() {
		for _, c := range all {
			c.client.Close()
			if c.scope != nil {
				c.scope.Done()
			}
		}
	}()
	// open connects from an address and has the host let it in: the
	// scope, or the resource manager's refusal.
	open := func(from string) (conn, error) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		mc, err := manet.WrapNetConn(s)
		if err != nil {
			t.Fatal(err)
		}
		if !g.InterceptAccept(mc) {
			t.Fatal("the gater refused a connection")
		}
		scope, err := l.OpenConnection(network.DirInbound, true, mc.RemoteMultiaddr())
		if err != nil {
			s.Close()
		}
		all = append(all, conn{c, scope})
		return all[len(all)-1], err
	}
	must := func(from string) conn {
		t.Helper()
		c, err := open(from)
		if err != nil {
			t.Fatalf("a handshake from %s refused: %v", from, err)
		}
		return c
	}
	refused := func(from string) {
		t.Helper()
		if _, err := open(from); !errors.Is(err, errHandshakes) {
			t.Fatalf("one more handshake from %s: %v, want it refused", from, err)
		}
	}

	var first []conn
	for range maxHandshakesPerSource {
		first = append(first, must("127.0.0.9"))
	}
	refused("127.0.0.9")
	must("127.0.0.10") // another source

	// A handshake that named its peer, or whose connection closed, is no
	// longer counted.
	named := first[0]
	if err := named.scope.SetPeer(p); err != nil {
		t.Fatal(err)
	}
	must("127.0.0.9")
	refused("127.0.0.9")
	first[1].scope.Done()
	must("127.0.0.9")
	refused("127.0.0.9")

	// The others time out: the host closes them.
	closed := func(c conn) bool {
		c.client.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := c.client.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	for _, c := range first[2:] {
		eventually(t, time.Second, "an unfinished handshake is closed", func() bool { return closed(c) })
	}
	if closed(named) {
		t.Error("a connection whose handshake named its peer was closed")
	}
	for range maxHandshakesPerSource {
		must("127.0.0.9")
	}
	refused("127.0.0.9")
}
