package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/metrics"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/node/web"
)

func cmdRun(e *env, args []string) (err error) {
	c := newNodeFlags(e, "run", "[--listen MULTIADDR]... [--peer MULTIADDR]... [--no-mdns] [--announce MULTIADDR]... [--relay] [--ui-listen ADDR] [--metrics ADDR] [--log-format text|json] [--log-level LEVEL]",
		"murmur run --peer /ip4/192.0.2.7/tcp/4721/p2p/12D3KooWExample\n  murmur run --announce /ip4/203.0.113.7/udp/4721/quic-v1 --relay")
	listen := c.list("listen", fmt.Sprintf("address to listen on (repeatable; default TCP and QUIC on port %d, TCP only on a private network)", p2p.DefaultPort))
	peers := c.list("peer", "a peer to keep connected to, as printed by its murmur run (repeatable; needed only until the nodes have met: a node remembers the members it has reached, and dials them when it starts); while joining, the inviter's IP address will do")
	noMDNS := c.Bool("no-mdns", false, "do not announce this node on the local network, nor look for members there (mDNS; on by default: on a café's Wi-Fi, anyone there can see that a node announces itself, though not which network or organisation)")
	relay := c.Bool("relay", false, "introduce members' nodes behind NAT to each other (circuit relay for members only; for a node others can reach, such as a server: see README)")
	announce := c.list("announce", "an address where other members' nodes can reach this one: a public IP address with a port, like /ip4/203.0.113.7/tcp/4721 or /ip4/203.0.113.7/udp/4721/quic-v1 (repeatable, at most 8); every member's node learns it")
	logFormat := c.String("log-format", "text", "how the node's log lines (on standard error) are written: text, for a person, or json, one object a line, for a log collector")
	logLevel := c.String("log-level", "info", "which lines are written: error (only what went wrong and stopped something), warn (also what went wrong), info (also what the node did: connections, syncs that moved entries), or debug (also every sync and every entry received live)")
	metricsAt := c.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics: a loopback address and a port, such as 127.0.0.1:9721 (this computer only: scrape it from here, or through an SSH tunnel)")
	uiListen := c.String("ui-listen", web.DefaultAddr, "where the web interface listens: an IP address and a port, or off for none. On loopback (the default) it is for this computer only, at http://ADDR/; any other address is served over TLS, at https://ADDR/, with this node's own certificate, whose fingerprint murmur run prints (see README)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	uiChosen := false
	c.Visit(func(f *flag.Flag) { uiChosen = uiChosen || f.Name == "ui-listen" })
	if err := checkUIListen(*uiListen); err != nil {
		return usagef("--ui-listen %q: %v", *uiListen, err)
	}
	if err := checkMetricsAt(*metricsAt); err != nil {
		return usagef("--metrics %q: %v", *metricsAt, err)
	}
	if v := os.Getenv("MURMUR_TESTNET_PUBLIC"); v != "" {
		// Testnets in network namespaces use the benchmarking range
		// 198.18.0.0/15 for their "internet", which go-libp2p would
		// otherwise never treat as public (no hole punching).
		if err := p2p.TreatAsPublic(v); err != nil {
			return err
		}
	}
	level, err := logs.ParseLevel(*logLevel)
	if err != nil {
		return usagef("--log-level: %v", err)
	}
	log, err := logs.New(e.stderr, logs.Options{Format: *logFormat, Level: level, Clean: plainText})
	if err != nil {
		return usagef("--log-format: %v", err)
	}
	e.log = log // (what is said on the way, in the log's format)
	if strings.EqualFold(*logFormat, "json") {
		// Why the node stopped is a line of the log too, as JSON.
		defer func() {
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				log.Error(e.errorLine(err))
				err = loggedError{err}
			}
		}()
	}
	started := false // (once running, a failure to stop is one)
	defer func() {
		// Stopped (SIGTERM, Ctrl-C) while starting: asked for, not a
		// failure, which a service manager would mark the unit for
		// (launchd would start it again).
		var usage usageError
		if err != nil && !started && e.ctx.Err() != nil && !errors.As(err, &usage) {
			log.Info("stopped before the node had started: nothing was changed")
			err = nil
		}
	}()
	// The metrics' port is taken before the node starts: a port in use
	// is said before the node has met anyone.
	var metricsSrv *metricsServer
	if *metricsAt != "" {
		ln, err := listenLocal(*metricsAt)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		metricsSrv = serveMetrics(ln, log)
		defer metricsSrv.close()
	}
	runLog.Store(log)
	defer runLog.Store(nil)
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	var n *node.Node
	if node.Joining(dir) {
		// First the join: reach the inviter, present the invite.
		if _, err := node.ReadJoin(dir); err != nil {
			return err
		}
		log.Info("joining: reaching the inviter")
		if metricsSrv != nil {
			fmt.Fprintf(e.stdout, "Metrics (this computer only): http://%s/metrics (once joined; until then they answer 503)\n", metricsSrv.at)
		}
		// The inviter's door is looked for at the addresses that came with
		// the code, at those of --peer, and by mDNS.
		j, err := node.BeginJoin(dir, passphraseFrom(e, "Passphrase for "+dir))
		if err != nil {
			return err
		}
		if err := p2p.CompleteJoin(e.ctx, j, p2p.JoinOptions{LAN: !*noMDNS, Peers: *peers.vals, Log: log}); err != nil {
			return err
		}
		n = j.Node()
		// Where the inviter's node listens, as it said; a --peer that was
		// only an IP address (for the door) names no node to keep.
		*peers.vals = slices.DeleteFunc(*peers.vals, func(s string) bool { return !strings.Contains(s, "/p2p/") })
		*peers.vals = append(*peers.vals, n.InviterAddrs()...)
		if err := p2p.RememberJoined(e.ctx, n, n.InviterAddrs(), time.Now()); err != nil {
			log.Warn(fmt.Sprintf("remembering where the inviter's node listens: %v", err))
		}
		log.Info("joined the network")
	} else if n, err = c.open(e); err != nil {
		return err
	}
	defer n.Close()
	self, err := node.PeerID(n.Device())
	if err != nil {
		return err
	}
	var announced []ma.Multiaddr
	for _, s := range *announce.vals {
		a, err := node.ParseHintAddr(s, self, *listen.vals)
		if err != nil {
			return fmt.Errorf("--announce: %w", err)
		}
		announced = append(announced, a)
	}
	r, err := p2p.Start(e.ctx, n, p2p.RunOptions{Listen: *listen.vals, Peers: *peers.vals, MDNS: !*noMDNS, Relay: *relay, Announce: announced, Log: log,
		// (The loopback testnet partitions by --peer lists alone.)
		NoDial: os.Getenv("MURMUR_TESTNET_NO_REDIAL") != ""})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed { // (an error below)
			r.Close()
		}
	}()
	st := n.Status()
	addrs := r.Addrs()
	if isTerminalOut(e.stdout) {
		fmt.Fprintf(e.stdout, "Murmur node of %s is running in %q.\n", st.OrgName, st.NetworkName)
	} else {
		// Into a journal or a file, kept in clear: no names (see logs).
		fmt.Fprintf(e.stdout, "Murmur node of organisation %s is running in network %s (murmur status names them).\n", st.Org[:8], st.Network[:8])
	}
	fmt.Fprintf(e.stdout, "Listening on:\n")
	for _, a := range addrs {
		fmt.Fprintf(e.stdout, "  %s\n", a)
	}
	if best := reachable(addrs); best != "" {
		fmt.Fprintf(e.stdout, "Another member's node can connect with:\n  murmur run --peer %s\n", best)
	}
	if len(announced) > 0 {
		fmt.Fprintf(e.stdout, "Other members' nodes are told they can reach this one at:\n")
		for _, a := range announced {
			fmt.Fprintf(e.stdout, "  %s\n", a)
		}
	}
	if *relay {
		fmt.Fprintf(e.stdout, "This node introduces members' nodes behind NAT to each other (relay for members only).\n")
	}
	if metricsSrv != nil {
		metricsSrv.ready(n, r)
		defer metricsSrv.close() // (before the node closes, below)
		fmt.Fprintf(e.stdout, "Metrics (this computer only): http://%s/metrics\n", metricsSrv.at)
	}
	stopUI := func() {}
	if *uiListen != "off" {
		at, stop, err := serveUI(n, dir, *uiListen, log)
		switch {
		case err == nil:
			defer stop() // (first thing on Ctrl-C too, below)
			stopUI = stop
			url := "http://" + at + "/"
			if uiOverTLS(at) {
				_, fp, _ := n.WebCertificate()
				url = "https://" + at + "/"
				fmt.Fprintf(e.stdout, "Web interface, over TLS: %s\nIts certificate's SHA-256 fingerprint (check that the browser shows the same before giving the passphrase):\n  %s\n", url, fp)
			} else {
				fmt.Fprintf(e.stdout, "Web interface (this computer only): %s\n", url)
			}
			if e.onUI != nil {
				e.onUI(url)
			}
		case uiChosen:
			return err
		default: // (another node on this computer has the default port)
			log.Warn(fmt.Sprintf("no web interface: %v; give another address with --ui-listen", err))
		}
	}
	if isTerminalOut(e.stdout) {
		fmt.Fprintf(e.stdout, "Entries written with murmur commands are sent while this runs. Stop with Ctrl-C.\n")
	} else { // (a service: its manager stops it, with SIGTERM)
		fmt.Fprintf(e.stdout, "Entries written with murmur commands are sent while this runs.\n")
	}
	if f, ok := e.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	started = true
	<-e.ctx.Done()
	log.Info("stopping...")
	stopUI()
	closed = true
	done := make(chan error, 1)
	go func() { done <- closeRunner(r) }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn(fmt.Sprintf("while stopping: %v", err))
		}
		return nil
	case <-time.After(stopWithin):
		return fmt.Errorf("the node did not stop within %v", stopWithin)
	}
}

// stopWithin bounds a stop (a service manager's is 10 s); closeRunner
// stops the node (a test makes it hang).
var (
	stopWithin  = 5 * time.Second
	closeRunner = (*p2p.Runner).Close
)

// reachable picks the address another machine is most likely to reach: a
// non-loopback IPv4 TCP one, else any non-loopback, else the first.
func reachable(addrs []string) string {
	score := func(a string) int {
		s := 0
		if !strings.Contains(a, "/127.") && !strings.Contains(a, "/::1/") {
			s += 4
		}
		if strings.HasPrefix(a, "/ip4/") {
			s += 2
		}
		if strings.Contains(a, "/tcp/") {
			s++
		}
		return s
	}
	best := ""
	for _, a := range addrs {
		if best == "" || score(a) > score(best) {
			best = a
		}
	}
	return best
}

// checkUIListen accepts "off" or an IP address with a port.
func checkUIListen(addr string) error {
	if addr == "off" {
		return nil
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return fmt.Errorf("give an IP address and a port, such as %s, or off", web.DefaultAddr)
	}
	return nil
}

// uiOverTLS: an interface served beyond this computer is served over TLS.
func uiOverTLS(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && !ap.Addr().IsLoopback()
}

// uiAddrName is the file in the data directory that says, while a node
// runs, where its web interface is (murmur ui reads it).
const uiAddrName = "ui.addr"

// serveUI serves n's web interface at addr until stop is called; at is
// addr with the port the system chose for port 0.
func serveUI(n *node.Node, dir, addr string, log *slog.Logger) (at string, stop func(), err error) {
	log = logs.Or(log)
	secure := uiOverTLS(addr)
	if secure {
		// Without a passphrase, the lock opens for anyone: beyond this
		// computer, that would give strangers a steward's powers.
		if protected, err := n.Protected(); err != nil || !protected {
			return "", nil, fmt.Errorf("this node has no passphrase, so its web interface cannot be locked: it is served to this computer only (give --ui-listen a loopback address, such as %s)", web.DefaultAddr)
		}
	}
	ln, err := listenLocal(addr)
	if err != nil {
		return "", nil, err
	}
	at = ln.Addr().String()
	s, err := web.New(n, web.Options{Addr: at, TLS: secure, Log: log})
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	ln = web.LimitConnections(ln)
	if secure {
		cert, _, err := n.WebCertificate()
		if err != nil {
			ln.Close()
			return "", nil, err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: time.Minute, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(fmt.Sprintf("the web interface stopped: %v", err))
		}
	}()
	os.WriteFile(filepath.Join(dir, uiAddrName), []byte(at+"\n"), 0o600)
	var once gosync.Once
	return at, func() {
		once.Do(func() {
			srv.Close() // (live feeds never go idle: no Shutdown)
			os.Remove(filepath.Join(dir, uiAddrName))
		})
	}, nil
}

// listenLocal listens on addr (an IP address and a port) for one of the
// node's own servers, saying plainly when another program has the port.
func listenLocal(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is in use (by another program, or another Murmur node on this computer)", addr)
		}
		return nil, fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	return ln, nil
}

// runLog is murmur run's logger while it runs: main's SIGHUP line goes
// through it, in the format chosen.
var runLog atomic.Pointer[slog.Logger]

// checkMetricsAt accepts "" (no metrics) or a loopback address with a
// port. Metrics are not served beyond this computer: they say when the
// node last heard from each member organisation, and there is no
// passphrase in front of them.
func checkMetricsAt(addr string) error {
	if addr == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("give a loopback IP address and a port, such as 127.0.0.1:9721 (an address, not a name such as localhost)")
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("metrics are served on this computer only (127.0.0.1 or ::1); scrape them from here, or through an SSH tunnel")
	}
	return nil
}

// metricsServer serves --metrics from the moment its port is taken: while
// a joining node waits for its inviter (for hours, perhaps), a scrape is
// answered 503, joining; then the node's metrics.
type metricsServer struct {
	at      string
	hosts   map[string]bool
	metrics atomic.Pointer[http.Handler]
	srv     *http.Server
}

func serveMetrics(ln net.Listener, log *slog.Logger) *metricsServer {
	m := &metricsServer{at: ln.Addr().String()}
	m.hosts, _ = addrport.HostNames(m.at)
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(fmt.Sprintf("the metrics stopped: %v", err))
		}
	}()
	return m
}

// ready serves n's metrics, run by r, from now on.
func (m *metricsServer) ready(n *node.Node, r *p2p.Runner) {
	h := metrics.Handler(n, r, time.Now, m.at)
	m.metrics.Store(&h)
}

func (m *metricsServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if h := m.metrics.Load(); h != nil {
		(*h).ServeHTTP(w, req)
		return
	}
	if req.URL.Path != "/metrics" {
		http.NotFound(w, req)
		return
	}
	if !m.hosts[strings.ToLower(req.Host)] {
		http.Error(w, "This address does not serve Murmur's metrics.", http.StatusMisdirectedRequest)
		return
	}
	http.Error(w, "This node is joining its network: its metrics follow once it has joined.", http.StatusServiceUnavailable)
}

func (m *metricsServer) close() { m.srv.Close() }
