//go:build linux

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace a lab makes: Prefix, the
// process ID, a dash, the lab's own name for it. A lab removes what an
// earlier run of a process that no longer exists left behind.
const Prefix = "mtn"

// Lab is a set of Linux network namespaces made for one run, with the
// links between them. Everything it makes lives inside its namespaces
// (veth pairs are created from inside them, bridges and rules too), so
// removing the namespaces removes all of it; nothing is added to the
// namespace the lab runs in. Close removes them, and must be called.
type Lab struct {
	id   string // Prefix + pid + "-" + a counter: unique per lab
	logf func(format string, args ...any)

	mu       gosync.Mutex
	spaces   []*NS
	closers  []func() error // forwarders, node processes: closed before the namespaces go
	closed   bool
	vethSeq  int
	closeErr error
}

// NS is one network namespace of a lab.
type NS struct {
	lab  *Lab
	Name string // the lab's name for it ("office1")
	Full string // the namespace's name for `ip netns`
}

var labSeq struct {
	gosync.Mutex
	n int
}

// Available says why namespaces cannot be made here, or nil: the lab
// needs root and the ip, tc, nft and iptables commands.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	var missing []string
	for _, c := range []string{"ip", "tc", "nft", "iptables"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing commands: %s (apt-get install iproute2 nftables iptables)", strings.Join(missing, ", "))
	}
	return nil
}

// NewLab removes namespaces that crashed earlier runs left behind, and
// returns an empty lab. logf receives one line per command run (nil: none).
func NewLab(ctx context.Context, logf func(format string, args ...any)) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	labSeq.Lock()
	labSeq.n++
	n := labSeq.n
	labSeq.Unlock()
	l := &Lab{id: fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), n), logf: logf}
	if err := RemoveStale(ctx, logf); err != nil {
		logf("removing namespaces of earlier runs: %v", err)
	}
	return l, nil
}

var staleName = regexp.MustCompile(`^` + Prefix + `(\d+)-\d+-`)

// RemoveStale removes the namespaces of labs whose process is gone, after
// killing any process still inside them.
func RemoveStale(ctx context.Context, logf func(string, ...any)) error {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // a lab of a live process, perhaps this one
		}
		logf("removing namespace %s, left by process %d", f[0], pid)
		errs = append(errs, removeNamespace(ctx, f[0]))
	}
	return errors.Join(errs...)
}

// removeNamespace kills what runs inside a namespace, then deletes it.
func removeNamespace(ctx context.Context, full string) error {
	for range 3 {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", full).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond) // let the kernel reap them; bounded by the loop
	}
	if b, err := exec.CommandContext(ctx, "ip", "netns", "delete", full).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", full, err, bytes.TrimSpace(b))
	}
	return nil
}

// run runs a command and returns its output, or an error with its stderr.
func (l *Lab) run(ctx context.Context, name string, args ...string) (string, error) {
	l.logf("$ %s %s", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Namespace makes a namespace, with its loopback up.
func (l *Lab) Namespace(ctx context.Context, name string) (*NS, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("the lab is closed")
	}
	ns := &NS{lab: l, Name: name, Full: l.id + "-" + name}
	l.spaces = append(l.spaces, ns) // removed by Close even if the rest fails
	l.mu.Unlock()
	if _, err := l.run(ctx, "ip", "netns", "add", ns.Full); err != nil {
		return nil, err
	}
	return ns, ns.IP(ctx, "link", "set", "lo", "up")
}

// Exec runs a command inside the namespace and returns its output.
func (ns *NS) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return ns.lab.run(ctx, "ip", append([]string{"netns", "exec", ns.Full, name}, args...)...)
}

// IP runs `ip ARGS` inside the namespace.
func (ns *NS) IP(ctx context.Context, args ...string) error {
	_, err := ns.lab.run(ctx, "ip", append([]string{"-n", ns.Full}, args...)...)
	return err
}

// Sysctl sets a sysctl inside the namespace (net.* are per namespace).
func (ns *NS) Sysctl(ctx context.Context, key, value string) error {
	_, err := ns.Exec(ctx, "sysctl", "-q", "-w", key+"="+value)
	return err
}

// Link connects a and b with a veth pair: interface aIf in a with address
// aAddr, bIf in b with bAddr (an invalid prefix: no address, as for a
// bridge port). Both ends are up.
func (l *Lab) Link(ctx context.Context, a *NS, aIf string, aAddr netip.Prefix, b *NS, bIf string, bAddr netip.Prefix) error {
	if err := checkAddr(aAddr); err != nil {
		return err
	}
	if err := checkAddr(bAddr); err != nil {
		return err
	}
	if err := a.IP(ctx, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Full); err != nil {
		return err
	}
	for _, end := range []struct {
		ns   *NS
		dev  string
		addr netip.Prefix
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if end.addr.IsValid() {
			if err := end.ns.IP(ctx, "addr", "add", end.addr.String(), "dev", end.dev); err != nil {
				return err
			}
		}
		if err := end.ns.IP(ctx, "link", "set", end.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Lab addresses are in 198.18.0.0/15, the range set aside for testing
// networks (RFC 2544); none leaves the lab: no namespace of it has a link
// to the host's own network. go-libp2p counts 198.18.0.0/15 as unroutable
// (manet.IsPublicAddr), so a node whose only outside address is there would
// never believe it has a public address, and its hole punching (DCUtR)
// would never start: the lab's murmur processes run with
// MURMUR_TESTNET_PUBLIC set to LabRange, which makes them count it as the
// public internet. Segments that play the internet take PublicRange.
var (
	LabRange    = netip.MustParsePrefix("198.18.0.0/15")
	PublicRange = netip.MustParsePrefix("198.19.0.64/26")
)

func checkAddr(p netip.Prefix) error {
	if p.IsValid() && !LabRange.Contains(p.Addr()) && !PublicRange.Contains(p.Addr()) {
		return fmt.Errorf("testnet: %v is outside %v and %v, the only ranges the lab uses", p, LabRange, PublicRange)
	}
	return nil
}

// Bridge makes a Linux bridge in ns (a switch: one LAN), up, with
// multicast snooping off so that mDNS reaches every port.
func (ns *NS) Bridge(ctx context.Context, name string) error {
	if err := ns.IP(ctx, "link", "add", name, "type", "bridge", "mcast_snooping", "0"); err != nil {
		return err
	}
	return ns.IP(ctx, "link", "set", name, "up")
}

// Plug connects ns to the bridge br of sw with a veth pair: interface dev
// in ns with address addr, its peer a port of br.
func (l *Lab) Plug(ctx context.Context, ns *NS, dev string, addr netip.Prefix, sw *NS, br string) error {
	l.mu.Lock()
	l.vethSeq++
	port := fmt.Sprintf("p%d", l.vethSeq)
	l.mu.Unlock()
	if err := l.Link(ctx, ns, dev, addr, sw, port, netip.Prefix{}); err != nil {
		return err
	}
	return sw.IP(ctx, "link", "set", port, "master", br)
}

// DefaultRoute routes everything not on a link of ns through gw.
func (ns *NS) DefaultRoute(ctx context.Context, gw netip.Addr) error {
	return ns.IP(ctx, "route", "add", "default", "via", gw.String())
}

// Route routes dst through gw.
func (ns *NS) Route(ctx context.Context, dst netip.Prefix, gw netip.Addr) error {
	return ns.IP(ctx, "route", "add", dst.String(), "via", gw.String())
}

// Forward makes ns a router: it forwards packets between its links.
func (ns *NS) Forward(ctx context.Context) error {
	return ns.Sysctl(ctx, "net.ipv4.ip_forward", "1")
}

// Masquerade puts whatever ns routes out of dev behind ns's address there
// (nftables source NAT), with a home router's firewall: nothing new comes
// in through dev, to ns or beyond it; only answers to what went out.
// Dropping the unasked packets before conntrack confirms them matters for
// hole punching: an unasked packet that the router accepted would hold
// the port the office's own first packet out needs, and the NAT would
// then map that one to another port.
func (ns *NS) Masquerade(ctx context.Context, dev string) error {
	rules := fmt.Sprintf(`table ip murmur_nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %[1]q masquerade
	}
	chain in {
		type filter hook input priority filter; policy accept;
		iifname %[1]q ct state new drop
	}
	chain through {
		type filter hook forward priority filter; policy accept;
		iifname %[1]q ct state new drop
	}
}
`, dev)
	return ns.nft(ctx, rules)
}

// nft loads a ruleset into ns.
func (ns *NS) nft(ctx context.Context, rules string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Full, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	ns.lab.logf("$ ip netns exec %s nft -f - <<%s", ns.Full, rules)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", ns.Name, err, bytes.TrimSpace(b))
	}
	return nil
}

// CountBetween counts, in ns (a router), the packets it forwards from
// src to dst, readable with Counted.
func (ns *NS) CountBetween(ctx context.Context, name string, src, dst netip.Prefix) error {
	rules := fmt.Sprintf(`table ip murmur_count {
	chain counted {
		type filter hook forward priority filter; policy accept;
	}
}
add rule ip murmur_count counted ip saddr %s ip daddr %s counter comment %q
`, src, dst, name)
	return ns.nft(ctx, rules)
}

var counterRe = regexp.MustCompile(`counter packets (\d+) bytes (\d+) comment "([^"]*)"`)

// Counted returns the packets and bytes a counter made by CountBetween saw.
func (ns *NS) Counted(ctx context.Context, name string) (packets, bytes int64, err error) {
	out, err := ns.Exec(ctx, "nft", "list", "table", "ip", "murmur_count")
	if err != nil {
		return 0, 0, err
	}
	for _, m := range counterRe.FindAllStringSubmatch(out, -1) {
		if m[3] == name {
			p, _ := strconv.ParseInt(m[1], 10, 64)
			b, _ := strconv.ParseInt(m[2], 10, 64)
			return p, b, nil
		}
	}
	return 0, 0, fmt.Errorf("no counter %q in %s", name, ns.Name)
}

// Shape limits what leaves ns through dev to rate bit/s (tc tbf), with a
// queue of about queue worth of traffic at that rate.
func (ns *NS) Shape(ctx context.Context, dev string, rate int, queue time.Duration) error {
	burst := max(rate/8/50, 1600)                                             // 20 ms of traffic, at least a full packet
	limit := max(int(int64(rate)/8*int64(queue)/int64(time.Second)), 2*burst) // bytes that may wait
	_, err := ns.Exec(ctx, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", strconv.Itoa(rate)+"bit", "burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit))
	return err
}

// RandomDrop drops probability p of the packets that leave ns through dev
// (iptables statistic, random mode), whether ns sends or forwards them.
func (ns *NS) RandomDrop(ctx context.Context, dev string, p float64) error {
	prob := strconv.FormatFloat(p, 'f', 4, 64)
	for _, chain := range []string{"OUTPUT", "FORWARD"} {
		if _, err := ns.Exec(ctx, "iptables", "-A", chain, "-o", dev, "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// AddCloser registers fn to run when the lab closes, before its
// namespaces go (last registered, first run).
func (l *Lab) AddCloser(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}

// Close runs the closers, then kills whatever still runs in the lab's
// namespaces and removes them. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	closers, spaces := l.closers, l.spaces
	l.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range spaces {
		if err := removeNamespace(ctx, ns.Full); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}
