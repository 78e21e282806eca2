//go:build linux

package netns

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// Bounds of the waits. They are generous: the machine may be loaded, and
// a wait ends as soon as its condition holds.
const (
	startTimeout  = 30 * time.Second
	joinTimeout   = 90 * time.Second
	settleTimeout = 90 * time.Second
	// reconnectTimeout bounds convergence after restarts without --peer:
	// room for a redial backoff or two.
	reconnectTimeout = 2 * time.Minute
	// introductionTimeout bounds the wait for two offices behind NAT to
	// be introduced through a relay and punch a direct connection.
	introductionTimeout = 3 * time.Minute
	// satelliteTimeout bounds the day's work over the thin link: the
	// floor is about a minute.
	satelliteTimeout = 6 * time.Minute
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// writeEach writes count requests at each node, once it knows itself
// admitted: a device the network has not admitted yet may not write.
func (r *run) writeEach(nodes []*Node, count int, what string) (string, error) {
	for _, n := range nodes {
		if err := r.admitted(n, settleTimeout); err != nil {
			return "", err
		}
		if _, err := n.Write(r.ctx, count, what); err != nil {
			return "", err
		}
	}
	return "", nil
}

// admitted waits until n holds its own admission (it reaches a
// provisioned node from the founder by reconciliation), polling every
// 200 ms, for at most timeout.
func (r *run) admitted(n *Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := n.Status(r.ctx)
		if err == nil && st.Admitted {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("holds %d entries, none admitting it", st.Entries)
			}
			return fmt.Errorf("%s did not learn of its admission within %v: %w", n.Name, timeout, err)
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// converged waits until nodes agree, holding at least min entries.
func (r *run) converged(nodes []*Node, min int, timeout time.Duration) (string, error) {
	took, err := r.h.converge(r.ctx, nodes, min, timeout)
	if err != nil {
		return "", err
	}
	_, sts, err := r.h.agreement(r.ctx, nodes)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("agreed after %.1f s: %d entries each", took.Seconds(), sts[0].Entries), nil
}

// statusesSay waits until every node's status satisfies cond, and says
// which did not when the time is up.
func (r *run) statusesSay(nodes []*Node, what string, timeout time.Duration, cond func(node.StatusInfo) bool) (string, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		var not []string
		for _, n := range nodes {
			st, err := n.Status(r.ctx)
			if err != nil || !cond(st) {
				not = append(not, fmt.Sprintf("%s (%s)", n.Name, st.Reach))
			}
		}
		if len(not) == 0 {
			return fmt.Sprintf("after %.1f s", time.Since(start).Seconds()), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: not within %v for %s", what, timeout, strings.Join(not, ", "))
		}
		select {
		case <-r.ctx.Done():
			return "", r.ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// entries is what n holds now.
func (r *run) entries(n *Node) int {
	st, err := n.Status(r.ctx)
	if err != nil {
		return 0
	}
	return st.Entries
}

// ---- lan -------------------------------------------------------------

// playLAN: offices 0-2 are on one switch (a bridge), with no route
// anywhere else and no --peer: mDNS is the only way they can meet. Then
// office 3 joins with an invite code whose only address (the line beside
// the code, carried by the QR code's text) is one it cannot reach, so only
// mDNS finds the inviter's door for that invite.
func playLAN(r *run) { playLANWith(r, false) }

// playLANPrivate is playLAN on a private network: the code carries no
// network key, and office 3 must find the inviter's door (node/p2p/door.go)
// under the mDNS name its invite's secret derives, and be handed the key
// there.
func playLANPrivate(r *run) { playLANWith(r, true) }

func playLANWith(r *run, private bool) {
	r.rep.Link = "one LAN: a Linux bridge, no router, no default route; mDNS on, no --peer anywhere"
	r.rep.Topology = "offices 0-3 at 198.18.0.10-13/24 on bridge br0; nothing else"
	names := []string{"office0", "office1", "office2"}
	var nodes []*Node
	var sw *NS
	r.step("make the LAN: a switch and four offices' namespaces", func() (string, error) {
		var err error
		if sw, err = r.lab.Namespace(r.ctx, "switch"); err != nil {
			return "", err
		}
		if err := sw.Bridge(r.ctx, "br0"); err != nil {
			return "", err
		}
		return "", nil
	})
	var spaces []*NS
	r.step("plug the offices into the switch", func() (string, error) {
		for i := range 4 {
			ns, err := r.lab.Namespace(r.ctx, fmt.Sprintf("office%d", i))
			if err != nil {
				return "", err
			}
			if err := r.lab.Plug(r.ctx, ns, "eth0", pfx(fmt.Sprintf("198.18.0.%d/24", 10+i)), sw, "br0"); err != nil {
				return "", err
			}
			spaces = append(spaces, ns)
		}
		return "", nil
	})
	var f *founded
	r.step("found the network: office0 founds, admits office1 and office2", func() (string, error) {
		var err error
		if f, err = foundWith(r.ctx, r.opt.Dir, names, r.opt.Seed, 0, private); err != nil {
			return "", err
		}
		for i, name := range names {
			nodes = append(nodes, r.h.addNode(name, spaces[i], netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 10+i)), f.dirs[i], f.peers[i]))
		}
		return "", nil
	})
	r.step("start offices 0-2 with mDNS and no --peer", func() (string, error) {
		for _, n := range nodes {
			if err := n.Start(r.ctx, startTimeout); err != nil {
				return "", err
			}
		}
		return "", nil
	})
	r.step("write 2 requests at each office", func() (string, error) { return r.writeEach(nodes, 2, "lan") })
	r.step("offices 0-2 agree (mDNS alone)", func() (string, error) { return r.converged(nodes, 1+2+6, settleTimeout) })

	var code, peer3 string
	dir3 := filepath.Join(r.opt.Dir, "office3")
	r.step("office0 invites office3; the code's only address is unreachable", func() (string, error) {
		// 198.19.255.1 is on no link of office3's namespace, which has no
		// route: dialling it fails at once. mDNS must find the door.
		out, err := r.h.murmur(r.ctx, "invite", "--dir", f.dirs[0], "--addr", "/ip4/198.19.255.1/tcp/4721", "--json")
		if err != nil {
			return "", err
		}
		var v struct{ Code, QR string }
		if err := json.Unmarshal(out, &v); err != nil || v.Code == "" || v.QR != v.Code+" 198.19.255.1" {
			return "", fmt.Errorf("murmur invite printed %q: %v", out, err)
		}
		code = v.QR // the code and its (unreachable) address, as the QR code holds them
		out, err = r.h.murmur(r.ctx, "join", code, "--org", "office3", "--no-passphrase", "--dir", dir3, "--json")
		if err != nil {
			return "", err
		}
		var j struct{ Peer string }
		if err := json.Unmarshal(out, &j); err != nil || j.Peer == "" {
			return "", fmt.Errorf("murmur join printed %q: %v", out, err)
		}
		peer3 = j.Peer
		return fmt.Sprintf("code %s, address 198.19.255.1", v.Code), nil
	})
	var office3 *Node
	r.step("office3 runs: the join completes through mDNS", func() (string, error) {
		office3 = r.h.addNode("office3", spaces[3], netip.MustParseAddr("198.18.0.13"), dir3, peer3)
		t0 := time.Now()
		if err := office3.Start(r.ctx, joinTimeout); err != nil {
			return "", err
		}
		return fmt.Sprintf("joined in %.1f s", time.Since(t0).Seconds()), nil
	})
	all := append(slices.Clone(nodes), office3)
	r.step("write 1 request at each of the four offices", func() (string, error) { return r.writeEach(all, 1, "lan after join") })
	r.step("all four offices agree", func() (string, error) { return r.converged(all, 1+2+6+1+1+4, settleTimeout) })
}

// ---- restart ---------------------------------------------------------

// playRestart: three offices on subnets of their own, routed through a
// core router (no NAT), mDNS off, so that only what a node remembers can
// bring it back to the others.
func playRestart(r *run) {
	r.rep.Link = "routed: three /24 subnets through one core router, no NAT, no shaping; mDNS off"
	r.rep.Topology = "office i at 198.18.(20+i).2/24, default route via the core router at 198.18.(20+i).1"
	names := []string{"office0", "office1", "office2"}
	var nodes []*Node
	r.step("make the offices and the core router", func() (string, error) {
		core, err := r.lab.Namespace(r.ctx, "core")
		if err != nil {
			return "", err
		}
		if err := core.Forward(r.ctx); err != nil {
			return "", err
		}
		f, err := found(r.ctx, r.opt.Dir, names, r.opt.Seed, 0)
		if err != nil {
			return "", err
		}
		for i, name := range names {
			ns, err := r.lab.Namespace(r.ctx, name)
			if err != nil {
				return "", err
			}
			if err := r.lab.Link(r.ctx, ns, "eth0", pfx(fmt.Sprintf("198.18.%d.2/24", 20+i)), core, fmt.Sprintf("o%d", i), pfx(fmt.Sprintf("198.18.%d.1/24", 20+i))); err != nil {
				return "", err
			}
			if err := ns.DefaultRoute(r.ctx, netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", 20+i))); err != nil {
				return "", err
			}
			nodes = append(nodes, r.h.addNode(name, ns, netip.MustParseAddr(fmt.Sprintf("198.18.%d.2", 20+i)), f.dirs[i], f.peers[i]))
		}
		return "", nil
	})
	r.step("start office0; offices 1 and 2 with --peer office0", func() (string, error) {
		if err := nodes[0].Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
			return "", err
		}
		for _, n := range nodes[1:] {
			if err := n.Start(r.ctx, startTimeout, "--no-mdns", "--peer", nodes[0].TCPAddr(), "--peer", nodes[0].QUICAddr()); err != nil {
				return "", err
			}
		}
		return "", nil
	})
	want := 1 + 2 // genesis, admissions; then the writes (organisation keys come on top)
	r.step("write 1 request at each office", func() (string, error) { want += 3; return r.writeEach(nodes, 1, "restart") })
	r.step("the three offices agree", func() (string, error) { return r.converged(nodes, want, settleTimeout) })
	r.step("each office learns, from the others' dial-back, that they can reach it", func() (string, error) {
		return r.statusesSay(nodes, "reachable", settleTimeout, func(st node.StatusInfo) bool {
			return st.NAT != nil && st.NAT.Reachability == p2p.ReachPublic && len(st.NAT.Confirmed) > 0
		})
	})
	for _, n := range nodes {
		r.step(fmt.Sprintf("restart %s alone, with no --peer; write there", n.Name), func() (string, error) {
			if err := n.Stop(false); err != nil {
				return "", err
			}
			if err := n.Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
				return "", err
			}
			want++
			return r.writeEach([]*Node{n}, 1, "after its restart")
		})
		r.step("the three offices agree", func() (string, error) { return r.converged(nodes, want, reconnectTimeout) })
	}
	r.step("stop all three; start all three with no --peer", func() (string, error) {
		for _, n := range nodes {
			if err := n.Stop(false); err != nil {
				return "", err
			}
		}
		for _, n := range nodes {
			if err := n.Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
				return "", err
			}
		}
		return "", nil
	})
	r.step("write 1 request at each office", func() (string, error) { want += 3; return r.writeEach(nodes, 1, "after all restarted") })
	r.step("the three offices agree", func() (string, error) { return r.converged(nodes, want, reconnectTimeout) })
}

// ---- exile -----------------------------------------------------------

// playExile: an exile organisation's server on the public segment, two
// offices each behind a NAT router (nftables masquerade) whose uplink is
// shaped (tc tbf) and lossy (iptables statistic).
func playExile(r *run) {
	const (
		uplink = 2_000_000 // bit/s, each way
		loss   = 0.01
	)
	r.rep.Link = fmt.Sprintf("offices behind NAT (nftables masquerade); each office's uplink %g Mbit/s each way (tc tbf), %g%% random loss each way (iptables statistic); the exile on the public segment",
		float64(uplink)/1e6, 100*loss)
	r.rep.Topology = "public segment (198.18.0.0/15 counted as public through MURMUR_TESTNET_PUBLIC, see LabRange) 198.19.0.64/26 (a bridge): exile 198.19.0.74, router1 198.19.0.65, router2 198.19.0.66; office1 198.18.1.2 behind router1, office2 198.18.2.2 behind router2"
	names := []string{"exile", "office1", "office2"}
	var nodes []*Node
	var exileNS *NS
	var routers []*NS
	r.step("make the public segment, the exile, two NAT routers and two offices", func() (string, error) {
		wan, err := r.lab.Namespace(r.ctx, "wan")
		if err != nil {
			return "", err
		}
		if err := wan.Bridge(r.ctx, "br0"); err != nil {
			return "", err
		}
		if exileNS, err = r.lab.Namespace(r.ctx, "exile"); err != nil {
			return "", err
		}
		if err := r.lab.Plug(r.ctx, exileNS, "eth0", pfx("198.19.0.74/26"), wan, "br0"); err != nil {
			return "", err
		}
		f, err := found(r.ctx, r.opt.Dir, names, r.opt.Seed, 0)
		if err != nil {
			return "", err
		}
		nodes = append(nodes, r.h.addNode("exile", exileNS, netip.MustParseAddr("198.19.0.74"), f.dirs[0], f.peers[0]))
		for i := 1; i <= 2; i++ {
			rt, err := r.lab.Namespace(r.ctx, fmt.Sprintf("router%d", i))
			if err != nil {
				return "", err
			}
			routers = append(routers, rt)
			office, err := r.lab.Namespace(r.ctx, fmt.Sprintf("office%d", i))
			if err != nil {
				return "", err
			}
			if err := r.lab.Plug(r.ctx, rt, "eth0", pfx(fmt.Sprintf("198.19.0.%d/26", 64+i)), wan, "br0"); err != nil {
				return "", err
			}
			if err := r.lab.Link(r.ctx, office, "eth0", pfx(fmt.Sprintf("198.18.%d.2/24", i)), rt, "lan0", pfx(fmt.Sprintf("198.18.%d.1/24", i))); err != nil {
				return "", err
			}
			if err := office.DefaultRoute(r.ctx, netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", i))); err != nil {
				return "", err
			}
			if err := rt.Forward(r.ctx); err != nil {
				return "", err
			}
			if err := rt.Masquerade(r.ctx, "eth0"); err != nil {
				return "", err
			}
			for _, dev := range []string{"eth0", "lan0"} { // up and down
				if err := rt.Shape(r.ctx, dev, uplink, 200*time.Millisecond); err != nil {
					return "", err
				}
				if err := rt.RandomDrop(r.ctx, dev, loss); err != nil {
					return "", err
				}
			}
			// Packets from this office to the other office's router: the
			// direct (hole-punched) path, never the exile.
			other := 3 - i
			if err := rt.CountBetween(r.ctx, "direct", pfx(fmt.Sprintf("198.18.%d.0/24", i)), pfx(fmt.Sprintf("198.19.0.%d/32", 64+other))); err != nil {
				return "", err
			}
			nodes = append(nodes, r.h.addNode(fmt.Sprintf("office%d", i), office, netip.MustParseAddr(fmt.Sprintf("198.18.%d.2", i)), f.dirs[i], f.peers[i]))
		}
		return "", nil
	})
	exile := func() []string {
		return []string{"--no-mdns", "--relay",
			"--announce", "/ip4/198.19.0.74/udp/4721/quic-v1", "--announce", "/ip4/198.19.0.74/tcp/4721"}
	}
	r.step("start the exile (--relay --announce its public address)", func() (string, error) {
		return "", nodes[0].Start(r.ctx, startTimeout, exile()...)
	})
	r.step("start both offices with --peer the exile", func() (string, error) {
		for _, n := range nodes[1:] {
			if err := n.Start(r.ctx, startTimeout, "--no-mdns", "--peer", nodes[0].QUICAddr(), "--peer", nodes[0].TCPAddr()); err != nil {
				return "", err
			}
		}
		return "", nil
	})
	want := 1 + 2 // genesis, admissions; then the writes (organisation keys come on top)
	r.step("write 1 request at each node", func() (string, error) { want += 3; return r.writeEach(nodes, 1, "exile") })
	r.step("all three agree", func() (string, error) { return r.converged(nodes, want, settleTimeout) })
	r.step("each office learns it is behind NAT, and holds a reservation on the exile's relay", func() (string, error) {
		return r.statusesSay(nodes[1:], "behind NAT, reserved", settleTimeout, func(st node.StatusInfo) bool {
			return st.NAT != nil && st.NAT.Reachability == p2p.ReachBehindNAT && len(st.NAT.Reserved) == 1
		})
	})
	r.step("restart every node with no --peer (the exile keeps --relay --announce)", func() (string, error) {
		for _, n := range nodes {
			if err := n.Stop(false); err != nil {
				return "", err
			}
		}
		if err := nodes[0].Start(r.ctx, startTimeout, exile()...); err != nil {
			return "", err
		}
		for _, n := range nodes[1:] {
			if err := n.Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
				return "", err
			}
		}
		return "", nil
	})
	r.step("write 1 request at each node", func() (string, error) { want += 3; return r.writeEach(nodes, 1, "after the restarts") })
	r.step("all three agree", func() (string, error) { return r.converged(nodes, want, reconnectTimeout) })
	r.step("the offices connect to each other directly (introduced by the exile, hole punched)", func() (string, error) {
		// Connected through the relay is not enough: the relayed
		// connection dies with the exile. Each office must say the other
		// is connected now over a direct connection.
		direct := func(st node.StatusInfo, other *Node) bool {
			for _, c := range st.Contacts {
				if c.Name == other.Name && c.Connected && c.Via == "direct" {
					return true
				}
			}
			return false
		}
		deadline := time.Now().Add(introductionTimeout)
		for time.Now().Before(deadline) {
			s1, err1 := nodes[1].Status(r.ctx)
			s2, err2 := nodes[2].Status(r.ctx)
			if err1 == nil && err2 == nil && direct(s1, nodes[2]) && direct(s2, nodes[1]) {
				return "", nil
			}
			select {
			case <-r.ctx.Done():
				return "", r.ctx.Err()
			case <-time.After(time.Second):
			}
		}
		return "", fmt.Errorf("office1 and office2 were not connected to each other directly within %v", introductionTimeout)
	})
	var direct int64
	r.step("cut the exile off: kill its node, take its link down", func() (string, error) {
		if err := nodes[0].Stop(true); err != nil {
			return "", err
		}
		if err := exileNS.IP(r.ctx, "link", "set", "eth0", "down"); err != nil {
			return "", err
		}
		for _, rt := range routers {
			p, _, err := rt.Counted(r.ctx, "direct")
			if err != nil {
				return "", err
			}
			direct += p
		}
		return fmt.Sprintf("%d packets had crossed directly between the offices' NATs", direct), nil
	})
	offices := nodes[1:]
	r.step("write 1 request at office1", func() (string, error) { want++; return r.writeEach(offices[:1], 1, "with the exile gone") })
	r.step("office2 gets it directly", func() (string, error) {
		note, err := r.converged(offices, want, settleTimeout)
		var after int64
		for _, rt := range routers {
			if p, _, e := rt.Counted(r.ctx, "direct"); e == nil {
				after += p
			}
		}
		note = strings.TrimSpace(note + fmt.Sprintf(" (%d packets directly between the NATs since the cut)", after-direct))
		if err == nil && after == direct {
			err = fmt.Errorf("no packet crossed directly between the NATs after the cut")
		}
		return note, err
	})
}

// ---- satellite -------------------------------------------------------

// playSatellite: the ground office and the remote office are joined only
// through the testnet's UDP forwarder, which plays a satellite link.
func playSatellite(r *run) {
	prof := Profile{Rate: 32_000, Delay: 400 * time.Millisecond, Loss: 0.10}
	if r.opt.Satellite.Rate > 0 {
		prof = r.opt.Satellite
	}
	const entries, orgs = 500, 20
	r.rep.Link = fmt.Sprintf("satellite, each way: %v; QUIC only, through the testnet's UDP forwarder (no other route)", prof)
	r.rep.Topology = "ground 198.18.10.2 -- [sat: forwarder 198.18.10.1 | 198.18.11.1:4721] -- remote 198.18.11.2 (--peer the forwarder's address)"
	var nodes []*Node
	var fw *Forwarder
	var f *founded
	r.step("make ground, satellite and remote namespaces; start the forwarder", func() (string, error) {
		var err error
		if f, err = found(r.ctx, r.opt.Dir, []string{"ground", "remote"}, r.opt.Seed, orgs); err != nil {
			return "", err
		}
		ground, err := r.lab.Namespace(r.ctx, "ground")
		if err != nil {
			return "", err
		}
		sat, err := r.lab.Namespace(r.ctx, "sat")
		if err != nil {
			return "", err
		}
		remote, err := r.lab.Namespace(r.ctx, "remote")
		if err != nil {
			return "", err
		}
		if err := r.lab.Link(r.ctx, ground, "eth0", pfx("198.18.10.2/24"), sat, "g0", pfx("198.18.10.1/24")); err != nil {
			return "", err
		}
		if err := r.lab.Link(r.ctx, remote, "eth0", pfx("198.18.11.2/24"), sat, "r0", pfx("198.18.11.1/24")); err != nil {
			return "", err
		}
		// sat does not forward: the only way across is the forwarder.
		fw = &Forwarder{Listen: netip.MustParseAddrPort("198.18.11.1:4721"), Upstream: netip.MustParseAddr("198.18.10.1"),
			Target: netip.MustParseAddrPort("198.18.10.2:4721"), Up: prof, Down: prof, Seed: r.opt.Seed}
		if err := fw.Start(sat.Full); err != nil {
			return "", err
		}
		r.lab.AddCloser(fw.Close)
		nodes = append(nodes, r.h.addNode("ground", ground, netip.MustParseAddr("198.18.10.2"), f.dirs[0], f.peers[0]),
			r.h.addNode("remote", remote, netip.MustParseAddr("198.18.11.2"), f.dirs[1], f.peers[1]))
		return "", nil
	})
	r.step("start ground; start remote with --peer ground through the satellite", func() (string, error) {
		if err := nodes[0].Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
			return "", err
		}
		via := fmt.Sprintf("/ip4/198.18.11.1/udp/4721/quic-v1/p2p/%s", nodes[0].Peer)
		return "", nodes[1].Start(r.ctx, startTimeout, "--no-mdns", "--peer", via)
	})
	setup := 1 + 1 + orgs // genesis, admissions; organisation keys come on top
	r.step(fmt.Sprintf("both agree on the membership (%d organisations)", 2+orgs), func() (string, error) {
		note, err := r.converged(nodes, setup, reconnectTimeout) // a few kB: seconds at the floor
		if err == nil {
			setup = r.entries(nodes[0])
		}
		return note, err
	})
	var raws [][]byte
	var size int
	var up0, down0 LinkStats
	r.step(fmt.Sprintf("a day's work: %d entries from %d organisations, taken in at ground", entries, orgs), func() (string, error) {
		var err error
		if raws, size, err = dayOfWork(f.network, f.writers, entries, r.opt.Seed); err != nil {
			return "", err
		}
		up0, down0 = fw.Stats()
		if err := ingest(r.ctx, nodes[0].Dir, raws); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d bytes encoded", size), nil
	})
	t0 := time.Now()
	var took time.Duration
	r.step("remote holds the day's work", func() (string, error) {
		var err error
		took, err = r.h.converge(r.ctx, nodes, setup+entries, satelliteTimeout)
		if err != nil {
			took = time.Since(t0)
			return fmt.Sprintf("remote holds %d entries of %d", r.entries(nodes[1]), setup+entries), err
		}
		return fmt.Sprintf("in %.1f s", took.Seconds()), nil
	})
	up, down := fw.Stats()
	dw, uw := down.WireBytes-down0.WireBytes, up.WireBytes-up0.WireBytes
	floor := time.Duration(int64(size) * 8 * int64(time.Second) / int64(prof.Rate))
	wireFloor := time.Duration(dw * 8 * int64(time.Second) / int64(prof.Rate))
	r.rep.Numbers = append(r.rep.Numbers,
		fmt.Sprintf("entries' encoded size: %d bytes; the link's floor for them: %.1f s", size, floor.Seconds()),
		fmt.Sprintf("on the wire, ground to remote: %d bytes (%.2fx the entries), %d packets, %d lost, %d dropped at the full queue", dw, float64(dw)/float64(size), down.Packets-down0.Packets, down.Lost-down0.Lost, down.QueueDrop-down0.QueueDrop),
		fmt.Sprintf("on the wire, remote to ground: %d bytes, %d packets, %d lost, %d dropped at the full queue", uw, up.Packets-up0.Packets, up.Lost-up0.Lost, up.QueueDrop-up0.QueueDrop),
		fmt.Sprintf("time: %.1f s = %.2fx the floor for the entries; the wire bytes' own floor %.1f s", took.Seconds(), took.Seconds()/floor.Seconds(), wireFloor.Seconds()))
	if r.err != nil {
		r.rep.Numbers[len(r.rep.Numbers)-1] = fmt.Sprintf("time: did not finish within %.0f s (the floor for the entries is %.1f s)", took.Seconds(), floor.Seconds())
	}
}

// ---- satellite-tcp ---------------------------------------------------

// playSatelliteTCP: the same day's work over TCP alone, through tc tbf at
// 32 kbit/s on both ends of the link, as the issue measured it (nothing
// crossed in 10 minutes: yamux reset any connection whose write blocked
// for 10 s, and one 64 KiB yamux frame takes 16 s at that rate). UDP is
// dropped both ways, so QUIC cannot carry it instead.
func playSatelliteTCP(r *run) {
	const rate = 32_000
	const entries, orgs = 500, 20
	r.rep.Link = fmt.Sprintf("one link, %d bit/s each way (tc tbf, 2 s of queue), TCP only (UDP dropped)", rate)
	r.rep.Topology = "ground 198.18.12.2 -- remote 198.18.12.3 (--peer ground's TCP address)"
	var nodes []*Node
	var f *founded
	r.step("make ground and remote, one shaped link between them, UDP dropped", func() (string, error) {
		var err error
		if f, err = found(r.ctx, r.opt.Dir, []string{"ground", "remote"}, r.opt.Seed, orgs); err != nil {
			return "", err
		}
		ground, err := r.lab.Namespace(r.ctx, "ground")
		if err != nil {
			return "", err
		}
		remote, err := r.lab.Namespace(r.ctx, "remote")
		if err != nil {
			return "", err
		}
		if err := r.lab.Link(r.ctx, ground, "eth0", pfx("198.18.12.2/24"), remote, "eth0", pfx("198.18.12.3/24")); err != nil {
			return "", err
		}
		for _, ns := range []*NS{ground, remote} {
			if err := ns.Shape(r.ctx, "eth0", rate, 2*time.Second); err != nil {
				return "", err
			}
			if _, err := ns.Exec(r.ctx, "iptables", "-A", "OUTPUT", "-p", "udp", "-j", "DROP"); err != nil {
				return "", err
			}
		}
		nodes = append(nodes, r.h.addNode("ground", ground, netip.MustParseAddr("198.18.12.2"), f.dirs[0], f.peers[0]),
			r.h.addNode("remote", remote, netip.MustParseAddr("198.18.12.3"), f.dirs[1], f.peers[1]))
		return "", nil
	})
	r.step("start ground; start remote with --peer ground over TCP", func() (string, error) {
		if err := nodes[0].Start(r.ctx, startTimeout, "--no-mdns"); err != nil {
			return "", err
		}
		return "", nodes[1].Start(r.ctx, startTimeout, "--no-mdns", "--peer", fmt.Sprintf("/ip4/198.18.12.2/tcp/4721/p2p/%s", nodes[0].Peer))
	})
	setup := 1 + 1 + orgs
	r.step(fmt.Sprintf("both agree on the membership (%d organisations)", 2+orgs), func() (string, error) {
		note, err := r.converged(nodes, setup, reconnectTimeout)
		if err == nil {
			setup = r.entries(nodes[0])
		}
		return note, err
	})
	var size int
	r.step(fmt.Sprintf("a day's work: %d entries from %d organisations, taken in at ground", entries, orgs), func() (string, error) {
		raws, n, err := dayOfWork(f.network, f.writers, entries, r.opt.Seed)
		if err != nil {
			return "", err
		}
		size = n
		return fmt.Sprintf("%d bytes encoded", size), ingest(r.ctx, nodes[0].Dir, raws)
	})
	t0 := time.Now()
	var took time.Duration
	r.step("remote holds the day's work", func() (string, error) {
		var err error
		if took, err = r.h.converge(r.ctx, nodes, setup+entries, satelliteTimeout); err != nil {
			took = time.Since(t0)
			return fmt.Sprintf("remote holds %d entries of %d", r.entries(nodes[1]), setup+entries), err
		}
		return fmt.Sprintf("in %.1f s", took.Seconds()), nil
	})
	floor := time.Duration(int64(size) * 8 * int64(time.Second) / rate)
	r.rep.Numbers = append(r.rep.Numbers,
		fmt.Sprintf("entries' encoded size: %d bytes; the link's floor for them: %.1f s", size, floor.Seconds()),
		fmt.Sprintf("time: %.1f s = %.2fx the floor for the entries (compressed frames can beat it)", took.Seconds(), took.Seconds()/floor.Seconds()))
}
