// Package metrics serves a running node's metrics in Prometheus' text
// format (murmur run --metrics 127.0.0.1:PORT): what an operator watches
// to see that the node is connected, that entries flow, and which
// member organisations it has not heard from.
//
// Every value is read when the metrics are scraped, from counters the
// runner keeps and from what `murmur status` shows: scraping writes
// nothing and takes no lock for longer than status does.
//
// Organisations and devices are named by their IDs, not their names: a
// monitoring server that keeps these series does not thereby hold the
// list of who is in the network (`murmur status --json` maps IDs to
// names). Nothing here says what any entry holds.
package metrics

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/p2p"
)

// Source is what the metrics are read from: the node and its runner.
type Source interface {
	Status() node.StatusInfo
	// PeerMember is the organisation and the device whose node p is;
	// member is false if the device has no standing.
	PeerMember(p peer.ID) (org, device string, member bool)
}

// Runner is the running node's side of Source.
type Runner interface {
	Peers() []peer.ID
	GossipPeers() []peer.ID
	Counters() p2p.Counters
	Scores() map[peer.ID]float64
}

// Handler serves the metrics of n, run by r, at /metrics; now is the
// clock the time since each contact is measured on. at is the loopback
// address (IP and port) it is served at: a request that names another
// host is refused (421), so that a web page whose name was made to point
// at this computer (DNS rebinding) cannot read them through the browser.
func Handler(n Source, r Runner, now func() time.Time, at string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{n: n, r: r, now: now},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serve := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	hosts, _ := addrport.HostNames(at) // (none if at is not host:port)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, req *http.Request) {
		if !hosts[strings.ToLower(req.Host)] {
			http.Error(w, "This address does not serve Murmur's metrics.", http.StatusMisdirectedRequest)
			return
		}
		serve.ServeHTTP(w, req)
	})
	return mux
}

var (
	peersConnected = prometheus.NewDesc("murmur_peers_connected",
		"Member nodes this node is connected to now.", nil, nil)
	entries = prometheus.NewDesc("murmur_entries",
		"Entries this node holds, by status: accepted (part of the log), waiting (for what they depend on), held (signed by a device without standing).", []string{"status"}, nil)
	written = prometheus.NewDesc("murmur_entries_written_total",
		"This device's entries written since the node started (here or by a murmur command while it ran).", nil, nil)
	received = prometheus.NewDesc("murmur_entries_received_total",
		"Other devices' entries taken in from the network since the node started, by path: gossip (live) or sync (reconciliation).", []string{"path"}, nil)
	delivered = prometheus.NewDesc("murmur_gossip_delivered_total",
		"Entries the live path (gossip) took in and forwarded.", nil, nil)
	dropped = prometheus.NewDesc("murmur_gossip_dropped_total",
		"Entries the live path dropped, by reason: invalid (the sender is blamed), repeat (held already), rate (beyond what its author may send at once: reconciliation brings it), not_kept (not stored: the waiting pool full, or the node stopping).", []string{"reason"}, nil)
	waiting = prometheus.NewDesc("murmur_gossip_waiting_total",
		"Entries the live path kept but did not forward because they wait for an entry they depend on (usually accepted moments later, when it arrives).", nil, nil)
	sessions = prometheus.NewDesc("murmur_sync_sessions_total",
		"Reconciliation sessions, by who started them (here: this node; peer: the other) and how they ended (ok, failed).", []string{"started", "result"}, nil)
	rounds = prometheus.NewDesc("murmur_sync_rounds_total",
		"Messages this node sent in reconciliation sessions (rounds).", nil, nil)
	syncBytes = prometheus.NewDesc("murmur_sync_bytes_total",
		"Bytes of reconciliation sessions, entries included, by direction (sent, received).", []string{"direction"}, nil)
	score = prometheus.NewDesc("murmur_gossip_peer_score",
		"Gossip score of each member device's node this node exchanges entries with live: 0 for an honest node; below -100 it is sent no gossip, below -400 it is ignored for a while.", []string{"device"}, nil)
	sinceContact = prometheus.NewDesc("murmur_member_seconds_since_contact",
		"Seconds since this node was last in contact (connected, or a sync that ended well) with a node of each admitted member organisation; 0 while one is connected, +Inf if never.", []string{"org"}, nil)
)

type collector struct {
	n   Source
	r   Runner
	now func() time.Time
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{peersConnected, entries, written, received, delivered, dropped, waiting, sessions, rounds, syncBytes, score, sinceContact} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	members := 0
	connected := map[string]bool{} // organisations with a node connected now
	for _, p := range c.r.Peers() {
		if org, _, ok := c.n.PeerMember(p); ok {
			members++
			connected[org] = true
		}
	}
	gauge(peersConnected, float64(members))

	st := c.n.Status()
	gauge(entries, float64(st.Entries), "accepted")
	gauge(entries, float64(st.Waiting), "waiting")
	gauge(entries, float64(st.Held), "held")
	now := c.now()
	for _, ci := range st.Contacts {
		since := math.Inf(1)
		switch {
		case ci.Connected || connected[ci.Org]:
			since = 0
		case ci.LastSynced != nil:
			since = max(now.Sub(*ci.LastSynced).Seconds(), 0)
		}
		gauge(sinceContact, since, ci.Org)
	}

	k := c.r.Counters()
	counter(written, k.Written)
	counter(received, k.ReceivedGossip, "gossip")
	counter(received, k.ReceivedSync, "sync")
	counter(delivered, k.Delivered)
	for d := range p2p.Drop(len(k.Dropped)) {
		if d == p2p.DropWaiting {
			counter(waiting, k.Dropped[d])
			continue
		}
		counter(dropped, k.Dropped[d], d.String())
	}
	for here, who := range []string{"peer", "here"} {
		for ok, result := range []string{"failed", "ok"} {
			counter(sessions, k.Sessions[here][ok], who, result)
		}
	}
	counter(rounds, k.Rounds)
	counter(syncBytes, k.SentBytes, "sent")
	counter(syncBytes, k.ReceivedBytes, "received")
	scores := c.r.Scores()
	for _, p := range c.r.GossipPeers() {
		_, device, _ := c.n.PeerMember(p)
		if device == "" {
			device = p.String()
		}
		gauge(score, scores[p], device) // (0 until scored: a second after it joins)
	}
}
