package testnet

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the outcome of a scenario. Its JSON form is what
// `murmur-testnet --json` prints.
type Report struct {
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	Nodes    int    `json:"nodes"`
	Seed     uint64 `json:"seed"`
	// Expected is how many entries every node should hold: genesis,
	// admissions, the organisations' keys and everything the scenario
	// wrote.
	Expected int          `json:"expected_entries"`
	PerNode  []NodeReport `json:"per_node"`
	Events   []Event      `json:"events"`
	// Converged: every node holds the same digest and entry count.
	Converged bool `json:"converged"`
	// ConvergedMillis is the time from the last heal being in place (or,
	// with none, from the end of the last step) until a read found every
	// node in agreement (an upper bound, within one poll).
	ConvergedMillis float64 `json:"converged_after_ms"`
	// ConvergedFrom says what ConvergedMillis counts from: "the last heal"
	// or "the last step".
	ConvergedFrom string   `json:"converged_from"`
	TotalBytes    int64    `json:"total_bytes_sent"`
	ElapsedMillis float64  `json:"elapsed_ms"`
	Pass          bool     `json:"pass"`
	Verdict       string   `json:"verdict"`
	Failures      []string `json:"failures"`
	Notes         []string `json:"notes"`
	// Carried: every summary and bundle a courier carried (or set out
	// with and lost), and every replay, in order.
	Carried []Carried `json:"carried,omitempty"`
	// Looks is how many observations were checked for connections across
	// an isolated scenario's cut (each reads every node's peers).
	Looks int `json:"cut_checks,omitempty"`
}

// NodeReport is one node at the end.
type NodeReport struct {
	Node       int    `json:"node"`
	Org        string `json:"org"`
	Peer       string `json:"peer"`
	Entries    int    `json:"entries"`
	Digest     string `json:"digest"`
	Peers      int    `json:"peers"`
	SyncSent   int64  `json:"sync_sent_bytes"`
	GossipSent int64  `json:"gossip_sent_bytes"`
	BytesSent  int64  `json:"bytes_sent"`
}

// Event is one step as it happened (step 0: starting the network).
type Event struct {
	Step       int     `json:"step"`
	What       string  `json:"what"`
	AtMillis   float64 `json:"at_ms"`
	TookMillis float64 `json:"took_ms"`
	Note       string  `json:"note,omitempty"`
}

func (r *Report) fill(obs []Observation) {
	r.PerNode = r.PerNode[:0]
	r.TotalBytes = 0
	for _, o := range obs {
		nr := NodeReport{Node: o.Node, Org: o.Org, Peer: o.Peer, Entries: o.Entries, Digest: o.Digest, Peers: o.Peers,
			SyncSent: o.SyncSent, GossipSent: o.GossipSent, BytesSent: o.SyncSent + o.GossipSent}
		r.PerNode = append(r.PerNode, nr)
		r.TotalBytes += nr.BytesSent
	}
}

// judge writes the verdict: every node holds the same digest and entry
// count, that count is what was written, and no step failed.
func (r *Report) judge() {
	if r.Failures == nil {
		r.Failures = []string{}
	}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	if !r.Converged {
		r.Failures = append(r.Failures, "the nodes did not converge: digests or entry counts differ")
	} else if n := r.PerNode[0].Entries; n != r.Expected {
		r.Failures = append(r.Failures, fmt.Sprintf("every node holds %d entries, but %d were written", n, r.Expected))
	}
	r.Pass = len(r.Failures) == 0
	if r.Pass {
		r.Verdict = fmt.Sprintf("PASS: all %d nodes hold the same %d entries (digest %s), every one written", r.Nodes, r.Expected, shortHex(r.PerNode[0].Digest))
	} else {
		r.Verdict = "FAIL: " + strings.Join(r.Failures, "; ")
	}
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	steps := 0
	for _, e := range r.Events {
		if e.Step > 0 {
			steps++
		}
	}
	fmt.Fprintf(w, "murmur testnet: scenario %s, %s, %d nodes, seed %d, %d steps in %.1fs\n\n", r.Scenario, r.Mode, r.Nodes, r.Seed, steps, r.ElapsedMillis/1000)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\torg\tpeer\tentries\tdigest\tpeers\tsync sent\tgossip sent\tbytes sent\t")
	for _, n := range r.PerNode {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t\n", n.Node, shortHex(n.Org), shortPeer(n.Peer), n.Entries, shortHex(n.Digest), n.Peers, n.SyncSent, n.GossipSent, n.BytesSent)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.Converged {
		fmt.Fprintf(w, "converged %.3fs after %s\n", r.ConvergedMillis/1000, r.ConvergedFrom)
	} else {
		fmt.Fprintf(w, "did not converge\n")
	}
	fmt.Fprintf(w, "bytes sent by all nodes: %d (reconciliation + gossip)\n", r.TotalBytes)
	if len(r.Carried) > 0 {
		r.printCarried(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, r.Verdict)
}

func shortHex(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// shortPeer keeps the end of a peer ID: every ed25519 one starts "12D3KooW".
func shortPeer(s string) string {
	if len(s) > 10 {
		return "…" + s[len(s)-10:]
	}
	return s
}

// printCarried lists what the couriers carried, and sums it up.
func (r *Report) printCarried(w io.Writer) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tleg\tcarried\tfrom\tto\tfiles\tbytes\tentries\tnew\theld\trefused\thow")
	bundles, entries, lost := 0, 0, 0
	var bytes int64
	for _, c := range r.Carried {
		leg := fmt.Sprint(c.Leg)
		if c.Leg == 0 {
			leg = "-"
		}
		if c.Lost {
			lost++
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t-\t-\t-\tLOST: the courier never arrived\n", c.Step, leg, c.What, c.From, c.To, c.Parts, c.Bytes, c.Entries)
			continue
		}
		if c.What != "summary" {
			bundles++
			entries += c.Entries
			bytes += c.Bytes
		}
		if c.What == "summary" {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t-\t-\t-\t-\t\n", c.Step, leg, c.What, c.From, c.To, c.Parts, c.Bytes)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Step, leg, c.What, c.From, c.To, c.Parts, c.Bytes, c.Entries, c.New, c.Held, c.Refused, c.Choice)
	}
	tw.Flush()
	fmt.Fprintf(w, "couriers delivered %d bundles (replays included): %d entries, %d bytes; %d lost on the way\n", bundles, entries, bytes, lost)
	if r.Looks > 0 {
		fmt.Fprintf(w, "the regions were checked for a connection between them %d times after the cut\n", r.Looks)
	}
}
