package p2p_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// orgsNet founds a network of size organisations, one node each, on disk:
// none is running.
func orgsNet(t *testing.T, size int) []*node.Node {
	t.Helper()
	ctx := context.Background()
	founder, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Org 0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { founder.Close() })
	out := []*node.Node{founder}
	for i := 1; i < size; i++ {
		m, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: founder.Genesis()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if _, err := founder.Append(ctx, &crdt.Admission{Device: m.Device(), Name: fmt.Sprintf("Org %d", i)}); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// runOn runs n on loopback TCP at port (0: any), with no mDNS.
func runOn(t *testing.T, n *node.Node, port int, opt p2p.RunOptions) *p2p.Runner {
	t.Helper()
	opt.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	opt.SyncEvery, opt.PollEvery = time.Second, 20*time.Millisecond
	r, err := p2p.Start(t.Context(), n, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// portOf is the TCP port a runner listens on.
func portOf(t *testing.T, r *p2p.Runner) int {
	t.Helper()
	for _, a := range r.Host().Addrs() {
		if p, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			var port int
			fmt.Sscan(p, &port)
			return port
		}
	}
	t.Fatal("no TCP address")
	return 0
}

func peerOf(t *testing.T, n *node.Node) peer.ID {
	t.Helper()
	p, err := node.PeerID(n.Device())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func remembers(n, of *node.Node) bool {
	cs, err := n.Store().Contacts(context.Background())
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Device == of.Device() {
			return true
		}
	}
	return false
}

// holds reports whether n holds the request id (read under the node's
// lock, while it runs).
func holds(n *node.Node, id crdt.ID) bool {
	_, err := n.Request(id.String())
	return err == nil
}

func connected(r *p2p.Runner, p peer.ID) bool {
	return r.Host().Network().Connectedness(p) == network.Connected
}

// meetOnce runs a and b, b given a's address, until each remembers the
// other; it returns their ports, both stopped.
func meetOnce(t *testing.T, a, b *node.Node) (portA, portB int) {
	t.Helper()
	ra := runOn(t, a, 0, p2p.RunOptions{})
	rb := runOn(t, b, 0, p2p.RunOptions{Peers: ra.Addrs()})
	waitFor(t, 30*time.Second, "the first session: each remembers the other", func() bool {
		return remembers(a, b) && remembers(b, a) && b.Status().Admitted
	})
	portA, portB = portOf(t, ra), portOf(t, rb)
	if err := rb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ra.Close(); err != nil {
		t.Fatal(err)
	}
	return portA, portB
}

// Two nodes met once (b was given a's address). Both restart with no
// --peer and no mDNS: they find each other from what they remember, and
// what a wrote while they were apart reaches b.
func TestRestartReconnectsFromMemory(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	portA, portB := meetOnce(t, a, b)

	req, err := a.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Written while apart"})
	if err != nil {
		t.Fatal(err)
	}
	restarted := time.Now().Truncate(time.Second)
	rb := runOn(t, b, portB, p2p.RunOptions{})
	ra := runOn(t, a, portA, p2p.RunOptions{})
	took := waitFor(t, 60*time.Second, "b holds what a wrote while apart", func() bool { return holds(b, req.ID()) })
	t.Logf("reconnected and synced %v after the restart", took)
	if !connected(ra, peerOf(t, b)) || !connected(rb, peerOf(t, a)) {
		t.Fatal("not connected")
	}

	// status names a's organisation, synced a moment ago on the LAN
	// (loopback), connected now.
	var ci node.ContactInfo
	waitFor(t, 20*time.Second, "b's status shows its contact with a", func() bool {
		for _, c := range b.Status().Contacts {
			if c.Org == a.Org().String() {
				ci = c
				return c.Connected
			}
		}
		return false
	})
	if ci.Name != "Org 0" || ci.LastSynced == nil || ci.LastSynced.Before(restarted) || ci.Via != "lan" {
		t.Fatalf("b's contact with a: %+v", ci)
	}
}

// A running node dials back a member's node that restarted (here the
// restarted node does not dial at all).
func TestRunningNodeDialsBackRestartedPeer(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	portA, portB := meetOnce(t, a, b)
	ra := runOn(t, a, portA, p2p.RunOptions{})
	rb := runOn(t, b, portB, p2p.RunOptions{NoDial: true})
	waitFor(t, 60*time.Second, "a reaches b", func() bool { return connected(ra, peerOf(t, b)) })
	if err := rb.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a sees b gone", func() bool { return !connected(ra, peerOf(t, b)) })
	req, err := a.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Written while b was down"})
	if err != nil {
		t.Fatal(err)
	}
	runOn(t, b, portB, p2p.RunOptions{NoDial: true})
	took := waitFor(t, 60*time.Second, "a dials b back and b catches up", func() bool { return holds(b, req.ID()) })
	t.Logf("dialled back and synced %v after b restarted", took)
	for _, c := range ra.Host().Network().ConnsToPeer(peerOf(t, b)) {
		if c.Stat().Direction != network.DirOutbound {
			t.Fatalf("a connection b made, although b does not dial: %v", c.RemoteMultiaddr())
		}
	}
}

// A node that never reached a member's node connects to it from that
// member's address hint, which reached it through a third node.
func TestAddressHintLetsANodeConnect(t *testing.T) {
	ns := orgsNet(t, 3)
	a, b, c := ns[0], ns[1], ns[2]
	ra := runOn(t, a, 0, p2p.RunOptions{})
	rc := runOn(t, c, 0, p2p.RunOptions{Peers: ra.Addrs()})
	rb := runOn(t, b, 0, p2p.RunOptions{Peers: ra.Addrs()})
	waitFor(t, 30*time.Second, "b and c are admitted", func() bool { return b.Status().Admitted && c.Status().Admitted })
	if connected(rb, peerOf(t, c)) {
		t.Fatal("b reached c before any hint")
	}
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", portOf(t, rc)))
	if err := c.PublishAddressHint([]ma.Multiaddr{addr}, true); err != nil {
		t.Fatal(err)
	}
	// (This device's own entries: others' arrive meanwhile.)
	own := func() int {
		for _, m := range c.Members() {
			for _, d := range m.Devices {
				if d.This {
					return d.Entries
				}
			}
		}
		return -1
	}
	entries := own()
	// The same hint again (with the trailing /p2p/ this time) writes nothing.
	if err := c.PublishAddressHint([]ma.Multiaddr{addr.Encapsulate(ma.StringCast("/p2p/" + peerOf(t, c).String()))}, true); err != nil {
		t.Fatal(err)
	}
	if got := own(); got != entries || got < 0 {
		t.Fatalf("an unchanged hint wrote an entry: this device wrote %d entries, was %d", got, entries)
	}
	took := waitFor(t, 60*time.Second, "b connects to c from c's hint", func() bool { return connected(rb, peerOf(t, c)) })
	t.Logf("b reached c %v after c published its hint", took)
	hs := b.AddressHints(time.Now())
	if len(hs) != 1 || hs[0].Device != peerOf(t, c) || !hs[0].Relay || hs[0].OrgName != "Org 2" || !hs[0].Addrs[0].Equal(addr) {
		t.Fatalf("b's view of the hints: %+v", hs)
	}
	// Too old by b's clock: not offered.
	if hs := b.AddressHints(time.Now().Add(node.HintMaxAge + time.Hour)); len(hs) != 0 {
		t.Fatalf("a hint older than %v is offered: %+v", node.HintMaxAge, hs)
	}
	// Dated ahead of b's clock by more than clocks drift: its age cannot
	// be told, so it is not offered either (review 9: a rogue's hint
	// dated years ahead was dialled for years).
	if hs := b.AddressHints(time.Now().Add(-5 * time.Minute)); len(hs) != 1 {
		t.Fatalf("a hint 5 minutes ahead of b's clock is not offered: %+v", hs)
	}
	if hs := b.AddressHints(time.Now().Add(-time.Hour)); len(hs) != 0 {
		t.Fatalf("a hint dated an hour ahead of b's clock is offered: %+v", hs)
	}
}

func TestPublishAddressHintRefusesBadAddresses(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	self := peerOf(t, a)
	for _, s := range []string{
		"/ip4/203.0.113.7",      // no port
		"/ip4/0.0.0.0/tcp/4721", // nobody can dial it
		"/tcp/4721",             // no address
		"/ip4/203.0.113.7/tcp/4721/p2p/" + peerOf(t, b).String(), // another node's
		"not a multiaddr",
		"/dns/office.example.org/tcp/4721", // every member would look it up
		"/ip4/127.0.0.1/tcp/4721",          // this computer only
		"/ip6/fe80::1/tcp/4721",            // its own link only
		"/ip4/203.0.113.7/udp/4721",        // neither TCP nor QUIC
		"/ip4/203.0.113.7/tcp/0",           // no port
		"/ip4/203.0.113.7/tcp/4721/p2p/" + peerOf(t, b).String() + "/p2p-circuit", // through a relay
		"/ip4/255.255.255.255/udp/9/quic-v1",                                      // broadcast (review 9)
		"/ip4/240.0.0.1/tcp/4721",                                                 // reserved
		"/ip4/224.0.0.1/tcp/4721",                                                 // multicast
		"/ip4/203.0.113.7/tcp/4721/tls/sni/evil.example/ws",                       // more than an address and port
		"/ip6/::ffff:127.0.0.1/tcp/4721",                                          // loopback, mapped
	} {
		if _, err := node.ParseHintAddr(s, self, nil); err == nil {
			t.Errorf("%s: accepted", s)
		} else if !errors.Is(err, node.ErrInput) {
			t.Errorf("%s: %v is not an input error", s, err)
		}
	}
	if a, err := node.ParseHintAddr("/ip4/203.0.113.7/udp/4721/quic-v1/p2p/"+self.String(), self, nil); err != nil || strings.Contains(a.String(), "/p2p/") {
		t.Fatalf("an address with this node's ID: %v, %v", a, err)
	}
	// Loopback: only for a node that listens on loopback alone.
	if _, err := node.ParseHintAddr("/ip4/127.0.0.1/tcp/4721", self, []string{"/ip4/127.0.0.1/tcp/0"}); err != nil {
		t.Errorf("a loopback node announcing loopback: %v", err)
	}
	if _, err := node.ParseHintAddr("/ip4/127.0.0.1/tcp/4721", self, []string{"/ip4/0.0.0.0/tcp/4721"}); err == nil {
		t.Error("a node listening beyond loopback announces a loopback address")
	}
}

// A node with no member's node connected for AloneAfter says so, once,
// in the log and in its status.
func TestAloneNodeSaysSo(t *testing.T) {
	ns := orgsNet(t, 2)
	a := ns[0]
	var mu gosync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	said := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "No other member's node reached for") {
				n++
			}
		}
		return n
	}
	// The node's clock is the test's: an hour alone passes when the test
	// says so.
	start := time.Now()
	clock := p2p.NewManualClock(start)
	runOn(t, a, 0, p2p.RunOptions{Log: logs.Printf(logf), Clock: clock})
	if said() > 0 {
		t.Fatal("alone before its time")
	}
	waitFor(t, 20*time.Second, "the log says the node is alone", func() bool {
		if clock.Now().Sub(start) < p2p.DefaultAloneAfter+time.Minute {
			clock.Advance(5 * time.Minute)
		}
		return said() > 0
	})
	var since time.Time
	waitFor(t, 20*time.Second, "status says the node is alone", func() bool {
		clock.Advance(time.Second) // (the run file, which status reads, is rewritten every second)
		st := a.Status()
		if st.AloneSince != nil {
			since = *st.AloneSince
		}
		return st.AloneSince != nil
	})
	// Two more rounds of the run file later (the runner's clock says when
	// to write it), the log has said it once.
	updated := func() string {
		var info struct {
			Updated string `json:"updated"`
		}
		b, _ := os.ReadFile(filepath.Join(a.Dir(), "run.json"))
		json.Unmarshal(b, &info)
		return info.Updated
	}
	for i := 0; i < 3; i++ {
		before := updated()
		waitFor(t, 20*time.Second, "the run file is rewritten", func() bool {
			clock.Advance(time.Second)
			return updated() != before
		})
	}
	if n := said(); n != 1 {
		t.Fatalf("said %d times, want once", n)
	}
	if !since.Equal(start) {
		t.Fatalf("alone since %v, want since the node started (%v)", since, start)
	}
}

// Contacts are written to the store when first made, not at every
// reconciliation; what is newer is written when the node stops.
func TestContactsWrittenRarely(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	var mu gosync.Mutex
	sessions := 0
	ra := runOn(t, a, 0, p2p.RunOptions{})
	rb := runOn(t, b, 0, p2p.RunOptions{Peers: ra.Addrs(), Sync: msync.SyncOptions{OnSessionEnd: func(_ peer.ID, _ msync.Stats, err error) {
		if err == nil {
			mu.Lock()
			sessions++
			mu.Unlock()
		}
	}}})
	lastOf := func() time.Time {
		cs, _ := b.Store().Contacts(context.Background())
		var last time.Time
		for _, c := range cs {
			if c.Device == a.Device() && c.Last.After(last) {
				last = c.Last
			}
		}
		return last
	}
	waitFor(t, 30*time.Second, "b remembers a", func() bool { return remembers(b, a) })
	first := lastOf()
	mu.Lock()
	start := sessions
	mu.Unlock()
	waitFor(t, 30*time.Second, "four more reconciliations", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sessions >= start+4
	})
	if got := lastOf(); !got.Equal(first) {
		t.Fatalf("the contact was written again within minutes: %v, then %v", first, got)
	}
	if err := rb.Close(); err != nil {
		t.Fatal(err)
	}
	if got := lastOf(); !got.After(first) {
		t.Fatalf("stopping did not write the latest contact: %v, first %v", got, first)
	}
}

// A node that remembers many members' nodes dials at most 8 at once, the
// most recently reached first. Each remembered address is a listener that
// accepts and then says nothing, so every dial hangs until its timeout.
func TestDialsAreBoundedAndRecentFirst(t *testing.T) {
	ctx := context.Background()
	a, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Org 0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	const devices = 20
	var mu gosync.Mutex
	var order []int // device indexes in the order their nodes were dialled
	open, most := 0, 0
	base := time.Now().Add(-time.Hour)
	for i := 0; i < devices; i++ {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		var k crdt.DeviceKey
		copy(k[:], priv.Public().(ed25519.PublicKey))
		if _, err := a.Append(ctx, &crdt.Admission{Device: k, Name: fmt.Sprintf("Org %d", i+1)}); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				order = append(order, i)
				open++
				most = max(most, open)
				mu.Unlock()
				go func() {
					io.Copy(io.Discard, c) // until the dialler gives up
					c.Close()
					mu.Lock()
					open--
					mu.Unlock()
				}()
			}
		}()
		addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port))
		// Device i was reached i minutes after the first.
		if err := a.Store().RecordContact(ctx, k, base.Add(time.Duration(i)*time.Minute), store.ViaLAN, addr.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	runOn(t, a, 0, p2p.RunOptions{})
	waitFor(t, 30*time.Second, "8 dials under way", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) >= 8
	})
	// A few more rounds of the dial loop (it looks every second).
	updated := func() string {
		b, _ := os.ReadFile(filepath.Join(a.Dir(), "run.json"))
		return string(b)
	}
	for i := 0; i < 3; i++ {
		before := updated()
		waitFor(t, 20*time.Second, "the run file is rewritten", func() bool { return updated() != before })
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 8 {
		t.Fatalf("%d dials at once, want at most 8", most)
	}
	first := slices.Clone(order[:8])
	slices.Sort(first)
	if want := []int{12, 13, 14, 15, 16, 17, 18, 19}; !slices.Equal(first, want) {
		t.Fatalf("dialled first %v, want the 8 most recently reached %v", first, want)
	}
}

// A node that reached a member before it stopped counts the time alone
// from then, not from its start: a laptop that runs an hour a day and
// reaches no one still hears that it is alone (review 9).
func TestAloneCountsFromTheLastContactBeforeTheStart(t *testing.T) {
	ns := orgsNet(t, 2)
	a, b := ns[0], ns[1]
	rb := runOn(t, b, 0, p2p.RunOptions{})
	ra := runOn(t, a, 0, p2p.RunOptions{Peers: rb.Addrs()})
	waitFor(t, 20*time.Second, "a remembers where it reached b", func() bool {
		cs, err := a.Contacts(context.Background())
		return err == nil && len(cs) > 0
	})
	ra.Close()
	rb.Close()
	var mu gosync.Mutex
	alone := false
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		alone = alone || strings.HasPrefix(fmt.Sprintf(format, args...), "No other member's node reached for")
	}
	// Two hours later, b's node is gone.
	start := time.Now().Add(2 * time.Hour)
	clock := p2p.NewManualClock(start)
	runOn(t, a, 0, p2p.RunOptions{Log: logs.Printf(logf), Clock: clock})
	waitFor(t, 20*time.Second, "the log says the node is alone", func() bool {
		if clock.Now().Sub(start) < 10*time.Minute {
			clock.Advance(time.Second)
		}
		mu.Lock()
		defer mu.Unlock()
		return alone
	})
}
