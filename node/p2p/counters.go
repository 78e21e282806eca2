package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	msync "github.com/murmurnet/murmur/sync"
)

// What the runner counts, for the metrics (node/metrics): counters since
// it started, read at any time without a lock.

// Drop is why the live path (gossip) did not take in and forward an entry
// it was sent.
type Drop int

const (
	DropInvalid Drop = iota // malformed, badly signed, another network's: the sender is blamed
	DropRepeat              // held here already (a replay, or reconciliation was first)
	DropRate                // beyond its author's or sender's rate: reconciliation brings it
	DropWaiting             // kept, but waiting for what it depends on, or without standing here
	DropNotKept             // not stored: the waiting pool full, a failed write, the runner stopping
	numDrops
)

func (d Drop) String() string {
	return [...]string{"invalid", "repeat", "rate", "waiting", "not_kept"}[d]
}

// Counters is a snapshot of what the runner counted since it started.
type Counters struct {
	// Written: this device's entries the runner saw written (here, or by
	// a command while it ran), each sent on the live path or left to
	// reconciliation.
	Written uint64
	// ReceivedGossip and ReceivedSync: other devices' entries taken in
	// from the network, by each path.
	ReceivedGossip, ReceivedSync uint64
	// Delivered: entries the live path took in and forwarded; Dropped:
	// those it did not, by why.
	Delivered uint64
	Dropped   [numDrops]uint64
	// Sessions: reconciliations, by [started here][ended well].
	Sessions [2][2]uint64
	// Rounds, SentBytes, ReceivedBytes: over every session.
	Rounds, SentBytes, ReceivedBytes uint64
}

type counters struct {
	written, receivedGossip, receivedSync, delivered atomic.Uint64
	dropped                                          [numDrops]atomic.Uint64
	sessions                                         [2][2]atomic.Uint64
	rounds, sentBytes, receivedBytes                 atomic.Uint64
}

func (c *counters) session(st msync.Stats, err error) {
	c.sessions[b2i(st.Initiator)][b2i(err == nil)].Add(1)
	c.rounds.Add(uint64(max(st.Rounds, 0)))
	c.sentBytes.Add(uint64(max(st.SentBytes, 0)))
	c.receivedBytes.Add(uint64(max(st.RecvBytes, 0)))
	c.receivedSync.Add(uint64(max(st.Received-st.Refused, 0)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Counters is what the runner counted since it started.
func (r *Runner) Counters() Counters {
	c := &r.count
	out := Counters{Written: c.written.Load(), ReceivedGossip: c.receivedGossip.Load(), ReceivedSync: c.receivedSync.Load(),
		Delivered: c.delivered.Load(), Rounds: c.rounds.Load(), SentBytes: c.sentBytes.Load(), ReceivedBytes: c.receivedBytes.Load()}
	for i := range c.dropped {
		out.Dropped[i] = c.dropped[i].Load()
	}
	for i := range c.sessions {
		for j := range c.sessions[i] {
			out.Sessions[i][j] = c.sessions[i][j].Load()
		}
	}
	return out
}

// Scores are the gossip scores of the peers of the network's topic: 0 for
// an honest peer, below for one that sent invalid entries or flooded
// (msync.GossipThreshold and below: cut off from gossip for a while).
func (r *Runner) Scores() map[peer.ID]float64 { return r.gossip.Scores() }

// GossipPeers are the peers this node exchanges the network's topic with.
func (r *Runner) GossipPeers() []peer.ID { return r.gossip.Peers() }
