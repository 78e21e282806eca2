//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/testnet"
)

// needLab skips a test that needs namespaces where they cannot be made.
func needLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no network namespaces")
	}
	if err := Available(); err != nil {
		t.Skipf("network namespaces cannot be made here: %v (CI runs these tests as root)", err)
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("ip netns does not work here: %v: %s", err, out)
	}
}

// udpIn opens a UDP socket at addr inside ns.
func udpIn(t *testing.T, ns *NS, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := inNamespace(ns.Full, func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive counts datagrams until none comes for quiet (bounded by max),
// and returns the count and the last sender.
func receive(c *net.UDPConn, quiet time.Duration, max int) (int, netip.AddrPort) {
	buf := make([]byte, 2048)
	var from netip.AddrPort
	n := 0
	for n < max {
		c.SetReadDeadline(time.Now().Add(quiet))
		_, a, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		from = a
		n++
	}
	return n, from
}

// A router masquerades an office behind its public address, drops at
// random what it is told to, and shapes a link; closing the lab leaves no
// namespace behind.
func TestLabRouter(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// What a crashed run left: a namespace of a process that is gone.
	stale := fmt.Sprintf("%s%d-1-crashed", Prefix, deadPID(t))
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", stale, err, out)
	}
	lab, err := NewLab(ctx, t.Logf)
	if err != nil {
		exec.Command("ip", "netns", "delete", stale).Run()
		t.Fatal(err)
	}
	defer lab.Close()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), stale) {
		exec.Command("ip", "netns", "delete", stale).Run()
		t.Fatalf("namespace %s of a dead process is still there after NewLab", stale)
	}
	office, err1 := lab.Namespace(ctx, "office")
	router, err2 := lab.Namespace(ctx, "router")
	public, err3 := lab.Namespace(ctx, "public")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lab.Link(ctx, office, "eth0", pfx("198.18.1.2/24"), router, "lan0", pfx("198.18.1.1/24")))
	must(lab.Link(ctx, router, "eth0", pfx("198.19.0.1/24"), public, "eth0", pfx("198.19.0.10/24")))
	must(office.DefaultRoute(ctx, netip.MustParseAddr("198.18.1.1")))
	must(router.Forward(ctx))
	must(router.Masquerade(ctx, "eth0"))
	if err := lab.Link(ctx, office, "bad0", pfx("10.0.0.1/24"), router, "bad1", netip.Prefix{}); err == nil {
		t.Fatal("an address outside 198.18.0.0/15 was accepted")
	}

	server := udpIn(t, public, "198.19.0.10:9000")
	client := udpIn(t, office, "198.18.1.2:0")
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.19.0.10:9000"))
	send := func(count, size int) {
		t.Helper()
		msg := make([]byte, size)
		for range count {
			if _, err := client.WriteToUDP(msg, to); err != nil {
				t.Fatal(err)
			}
		}
	}

	// NAT: the server sees the router's address, not the office's; the
	// router counts what it forwards.
	must(router.CountBetween(ctx, "out", pfx("198.18.1.0/24"), pfx("198.19.0.10/32")))
	send(10, 100)
	n, from := receive(server, 2*time.Second, 10)
	if n != 10 || from.Addr() != netip.MustParseAddr("198.19.0.1") {
		t.Fatalf("got %d of 10 datagrams, from %v; want all, from the router's 198.19.0.1", n, from)
	}
	if p, b, err := router.Counted(ctx, "out"); err != nil || p != 10 || b != 10*128 {
		t.Fatalf("the router counted %d packets, %d bytes (%v); want 10, 1280", p, b, err)
	}

	// Random drop: half of what leaves the router towards the server.
	must(router.RandomDrop(ctx, "eth0", 0.5))
	send(400, 100)
	n, _ = receive(server, 2*time.Second, 400)
	// Binomial(400, 0.5): mean 200, sd 10.
	if n < 120 || n > 280 {
		t.Fatalf("%d of 400 datagrams arrived through a 50%% drop", n)
	}
	t.Logf("random drop: %d of 400 arrived", n)
	out, err := router.Exec(ctx, "iptables", "-F")
	if err != nil {
		t.Fatal(err, out)
	}

	// tbf: 32 kbit/s with a queue of 100 ms; a burst of 200 kB sent at once
	// mostly does not fit (bucket and queue hold a few kB).
	must(router.Shape(ctx, "eth0", 32000, 100*time.Millisecond))
	send(200, 1000)
	n, _ = receive(server, 3*time.Second, 200)
	if n == 0 || n > 100 {
		t.Fatalf("%d of 200 1-kB datagrams crossed a 32 kbit/s link with a small queue", n)
	}
	t.Logf("tbf: %d of a burst of 200 arrived", n)

	full := office.Full
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	out2, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out2), full) {
		t.Fatalf("namespace %s is still there after Close", full)
	}
}

// deadPID is a process ID no process has.
func deadPID(t *testing.T) int {
	for pid := 4_000_000; pid > 3_000_000; pid -= 7919 {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return pid
		}
	}
	t.Skip("no free process ID found for a stale namespace")
	return 0
}

// The forwarder carries datagrams both ways between a client and a
// target in namespaces with no route between them, through the link it
// emulates.
func TestForwarderInNamespaces(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := NewLab(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	a, err1 := lab.Namespace(ctx, "a")
	mid, err2 := lab.Namespace(ctx, "mid")
	b, err3 := lab.Namespace(ctx, "b")
	if err := errors.Join(err1, err2, err3,
		lab.Link(ctx, a, "eth0", pfx("198.18.10.2/24"), mid, "a0", pfx("198.18.10.1/24")),
		lab.Link(ctx, b, "eth0", pfx("198.18.11.2/24"), mid, "b0", pfx("198.18.11.1/24"))); err != nil {
		t.Fatal(err)
	}
	fw := &Forwarder{Listen: netip.MustParseAddrPort("198.18.11.1:4721"), Upstream: netip.MustParseAddr("198.18.10.1"),
		Target: netip.MustParseAddrPort("198.18.10.2:4721"), Up: Profile{Loss: 0.5}, Down: Profile{Delay: 50 * time.Millisecond}, Seed: 3}
	if err := fw.Start(mid.Full); err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	target := udpIn(t, a, "198.18.10.2:4721")
	client := udpIn(t, b, "198.18.11.2:0")
	for i := range 200 {
		if _, err := client.WriteToUDP([]byte(fmt.Sprint(i)), net.UDPAddrFromAddrPort(fw.Listen)); err != nil {
			t.Fatal(err)
		}
	}
	n, from := receive(target, 2*time.Second, 200)
	if n < 60 || n > 140 { // Binomial(200, 0.5): sd 7
		t.Fatalf("%d of 200 crossed a link losing half", n)
	}
	if from.Addr() != netip.MustParseAddr("198.18.10.1") {
		t.Fatalf("the target heard from %v, want the forwarder's 198.18.10.1", from)
	}
	// The answer goes back to the client, from the forwarder's address.
	if _, err := target.WriteToUDPAddrPort([]byte("answer"), from); err != nil {
		t.Fatal(err)
	}
	got, back := receive(client, 3*time.Second, 1)
	if got != 1 || back != fw.Listen {
		t.Fatalf("the client got %d answers from %v, want 1 from %v", got, back, fw.Listen)
	}
	up, down := fw.Stats()
	if up.Packets != 200 || up.Lost != int64(200-n) || down.Delivered != 1 {
		t.Fatalf("stats: up %+v, down %+v", up, down)
	}
}

// The murmur binary the scenario tests run, built once on first use.
var murmurBin struct {
	once gosync.Once
	dir  string
	path string
	err  error
}

func murmur(t *testing.T) string {
	murmurBin.once.Do(func() {
		if murmurBin.dir, murmurBin.err = os.MkdirTemp("", "murmur-netns-bin-"); murmurBin.err == nil {
			murmurBin.path = filepath.Join(murmurBin.dir, "murmur")
			murmurBin.err = testnet.BuildMurmur(context.Background(), murmurBin.path)
		}
	})
	if murmurBin.err != nil {
		t.Fatal(murmurBin.err)
	}
	return murmurBin.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if murmurBin.dir != "" {
		os.RemoveAll(murmurBin.dir)
	}
	os.Exit(code)
}

// play runs a scenario and fails the test unless it passes.
func play(t *testing.T, name string, timeout time.Duration) {
	needLab(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// No Dir: Run makes its own and keeps it (logs, data) if the scenario
	// fails; the report names it.
	rep, err := Run(ctx, name, Options{Murmur: murmur(t), Seed: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Logf("\n%s", b.String())
	if !rep.Pass {
		t.Fatalf("scenario %s: %s", name, rep.Verdict)
	}
}

func TestScenarioLAN(t *testing.T)        { play(t, "lan", 5*time.Minute) }
func TestScenarioLANPrivate(t *testing.T) { play(t, "lan-private", 5*time.Minute) }
func TestScenarioRestart(t *testing.T)    { play(t, "restart", 10*time.Minute) }
func TestScenarioExile(t *testing.T)      { play(t, "exile", 12*time.Minute) }
func TestScenarioSatellite(t *testing.T)  { play(t, "satellite", 10*time.Minute) }

func TestScenarioSatelliteTCP(t *testing.T) { play(t, "satellite-tcp", 10*time.Minute) }

// Two offices behind the lab's NAT routers can punch a direct UDP path
// to each other, as DCUtR does: each learns its public address from a
// server on the public segment (as identify tells a libp2p node), then
// both send to the other's at once. The exile scenario relies on it.
func TestNATHolePunch(t *testing.T) {
	needLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := NewLab(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wan, err := lab.Namespace(ctx, "wan")
	must(err)
	must(wan.Bridge(ctx, "br0"))
	public, err := lab.Namespace(ctx, "public")
	must(err)
	must(lab.Plug(ctx, public, "eth0", pfx("198.19.0.74/26"), wan, "br0"))
	var offices []*NS
	for i := 1; i <= 2; i++ {
		rt, err := lab.Namespace(ctx, fmt.Sprintf("router%d", i))
		must(err)
		office, err := lab.Namespace(ctx, fmt.Sprintf("office%d", i))
		must(err)
		must(lab.Plug(ctx, rt, "eth0", pfx(fmt.Sprintf("198.19.0.%d/26", 64+i)), wan, "br0"))
		must(lab.Link(ctx, office, "eth0", pfx(fmt.Sprintf("198.18.%d.2/24", i)), rt, "lan0", pfx(fmt.Sprintf("198.18.%d.1/24", i))))
		must(office.DefaultRoute(ctx, netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", i))))
		must(rt.Forward(ctx))
		must(rt.Masquerade(ctx, "eth0"))
		offices = append(offices, office)
	}
	observer := udpIn(t, public, "198.19.0.74:3478")
	socks := []*net.UDPConn{udpIn(t, offices[0], "198.18.1.2:4721"), udpIn(t, offices[1], "198.18.2.2:4721")}
	var mapped []netip.AddrPort
	for _, c := range socks {
		if _, err := c.WriteToUDPAddrPort([]byte("who am I"), netip.MustParseAddrPort("198.19.0.74:3478")); err != nil {
			t.Fatal(err)
		}
		n, from := receive(observer, 2*time.Second, 1)
		if n != 1 {
			t.Fatal("the observer heard nothing")
		}
		mapped = append(mapped, from)
	}
	if mapped[0].Addr() != netip.MustParseAddr("198.19.0.65") || mapped[1].Addr() != netip.MustParseAddr("198.19.0.66") {
		t.Fatalf("public addresses %v, want the routers'", mapped)
	}
	// Before any punch, office2's router lets nothing in from office1.
	socks[0].WriteToUDPAddrPort([]byte("unasked"), mapped[1])
	if n, _ := receive(socks[1], time.Second, 1); n != 0 {
		t.Fatal("an unsolicited datagram crossed the NAT")
	}
	// Both send at once (three rounds, as DCUtR retries); both must hear
	// the other, from the other's public address.
	for range 3 {
		socks[0].WriteToUDPAddrPort([]byte("punch"), mapped[1])
		socks[1].WriteToUDPAddrPort([]byte("punch"), mapped[0])
	}
	for i, c := range socks {
		n, from := receive(c, 2*time.Second, 1)
		if n != 1 || from != mapped[1-i] {
			t.Fatalf("office%d heard %d datagrams, from %v; want one from %v", i+1, n, from, mapped[1-i])
		}
	}
}
