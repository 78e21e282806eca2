package sync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	gosync "sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmurnet/murmur/crdt"
)

// Verdict is what validation says of an entry offered on the live path.
type Verdict int

const (
	// Accept: valid and applicable; deliver it and forward it.
	Accept Verdict = iota
	// Ignore: not applicable yet (its predecessor or its author's admission
	// has not arrived) or without standing: neither delivered nor forwarded,
	// and the sender is not penalised — reconciliation brings it back in
	// order if it is ever valid.
	Ignore
	// Reject: malformed, badly signed, another network's: dropped, and the
	// sender's score suffers.
	Reject
)

// Validator is the node's validation function, the same one that every
// other path into the node uses. It returns the decoded entry with Accept.
type Validator func(from peer.ID, raw []byte) (Verdict, *crdt.Entry)

// GossipWarmUp is how long after peers meet GossipSub may still drop what
// is published (measured on go-libp2p's mock network: messages published
// within about a second of the peers' subscriptions arriving were lost,
// with default options too). A node reconciles again with a new peer after
// this, so nothing written in that window waits for periodic anti-entropy.
const GossipWarmUp = 2500 * time.Millisecond

// GossipTopic is the topic of a network.
func GossipTopic(network crdt.ID) string { return "/murmur/entries/1/" + network.String() }

// GossipOptions tune the live path.
type GossipOptions struct {
	// QueueSize bounds each peer's outbound queue and the validation queue.
	// The defaults of go-libp2p-pubsub (32) dropped 1-21% of a 10,000-entry
	// burst; a drop is repaired by reconciliation, but costs a round.
	QueueSize int
	// Filter, if set, is consulted before validation: a peer it refuses has
	// its messages ignored (tests use it to drop).
	Filter func(from peer.ID) bool
	// Peers, if set, says who may be a peer of the topic at all (the node
	// passes its membership check): anyone else is never in this node's
	// mesh, is sent no gossip and asked for none (pubsub's peer filter),
	// and what it sends is ignored before validation.
	Peers func(p peer.ID) bool
	// Tracer, if set, sees pubsub events (tests and metrics).
	Tracer pubsub.RawTracer
	// AppScore, if set, is the node's own score of a peer, at most 0, added
	// to what pubsub counts itself (invalid messages): see score.go. It is
	// called for every RPC a peer sends, under pubsub's lock: it must be
	// quick and must not call into pubsub.
	AppScore func(p peer.ID) float64
}

// Gossip is a node's membership of its network's topic.
type Gossip struct {
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription

	cancel    context.CancelFunc
	wg        gosync.WaitGroup
	closeOnce gosync.Once

	sent, received atomic.Int64 // bytes of pubsub RPCs

	scoresMu gosync.Mutex
	scores   map[peer.ID]float64 // the peers' scores, as of the last second

	meshMu gosync.Mutex
	mesh   map[peer.ID]bool // grafted onto this node's mesh of the topic
	h      host.Host
}

// byteCounter is a pubsub tracer that counts the bytes of RPCs.
type byteCounter struct {
	g    *Gossip
	next pubsub.RawTracer
}

func (b byteCounter) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	b.g.sent.Add(int64(rpc.Size()))
	if b.next != nil {
		b.next.SendRPC(rpc, p)
	}
}

func (b byteCounter) RecvRPC(rpc *pubsub.RPC) {
	b.g.received.Add(int64(rpc.Size()))
	if b.next != nil {
		b.next.RecvRPC(rpc)
	}
}

func (b byteCounter) OnNewOutboundStream(p peer.ID, proto protocol.ID) {
	if b.next != nil {
		b.next.OnNewOutboundStream(p, proto)
	}
}
func (b byteCounter) OnClosedOutboundStream(p peer.ID) {
	if b.next != nil {
		b.next.OnClosedOutboundStream(p)
	}
}
func (b byteCounter) Join(topic string) {
	if b.next != nil {
		b.next.Join(topic)
	}
}
func (b byteCounter) Leave(topic string) {
	if b.next != nil {
		b.next.Leave(topic)
	}
}
func (b byteCounter) Graft(p peer.ID, topic string) {
	b.g.meshMu.Lock()
	b.g.mesh[p] = true
	b.g.meshMu.Unlock()
	if b.next != nil {
		b.next.Graft(p, topic)
	}
}
func (b byteCounter) Prune(p peer.ID, topic string) {
	b.g.meshMu.Lock()
	delete(b.g.mesh, p)
	b.g.meshMu.Unlock()
	if b.next != nil {
		b.next.Prune(p, topic)
	}
}
func (b byteCounter) ValidateMessage(m *pubsub.Message) {
	if b.next != nil {
		b.next.ValidateMessage(m)
	}
}
func (b byteCounter) DeliverMessage(m *pubsub.Message) {
	if b.next != nil {
		b.next.DeliverMessage(m)
	}
}
func (b byteCounter) RejectMessage(m *pubsub.Message, reason string) {
	if b.next != nil {
		b.next.RejectMessage(m, reason)
	}
}
func (b byteCounter) DuplicateMessage(m *pubsub.Message) {
	if b.next != nil {
		b.next.DuplicateMessage(m)
	}
}
func (b byteCounter) ThrottlePeer(p peer.ID) {
	if b.next != nil {
		b.next.ThrottlePeer(p)
	}
}
func (b byteCounter) DropRPC(rpc *pubsub.RPC, p peer.ID) {
	if b.next != nil {
		b.next.DropRPC(rpc, p)
	}
}
func (b byteCounter) UndeliverableMessage(m *pubsub.Message) {
	if b.next != nil {
		b.next.UndeliverableMessage(m)
	}
}

// InMesh reports whether p, connected now, is in this node's mesh of the
// topic: what this node publishes from now on reaches p directly.
// (GossipSub drops what is published before its mesh forms: see
// GossipWarmUp.) Tests wait on it instead of sleeping through the warm-up.
func (g *Gossip) InMesh(p peer.ID) bool {
	g.meshMu.Lock()
	in := g.mesh[p]
	g.meshMu.Unlock()
	return in && g.h.Network().Connectedness(p) == network.Connected
}

// Traffic is the bytes of gossip sent and received so far.
func (g *Gossip) Traffic() (sent, received int64) { return g.sent.Load(), g.received.Load() }

// entryMessageID names a message by the hash of its bytes. An entry's
// encoding is canonical, so the same entry has the same message ID whoever
// publishes it, and travels once. It is not the entry's ID: that covers the
// signed header only, so a copy with a forged signature would share it, and
// pubsub, which marks a message ID seen before the validator runs, would
// then drop the genuine entry as a repeat of the forgery.
func entryMessageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// JoinGossip joins the network's topic on h and calls deliver, from one
// goroutine, with every entry the validator accepted. Close leaves.
func JoinGossip(ctx context.Context, h host.Host, network crdt.ID, validate Validator, deliver func(from peer.ID, e *crdt.Entry), opt GossipOptions) (*Gossip, error) {
	if opt.QueueSize == 0 {
		opt.QueueSize = 8192
	}
	opts := []pubsub.Option{
		// Entries carry their own signatures: signing pubsub messages again
		// is redundant (and measured 5-10x slower).
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(entryMessageID),
		pubsub.WithPeerOutboundQueueSize(opt.QueueSize),
		pubsub.WithValidateQueueSize(opt.QueueSize),
		pubsub.WithMaxMessageSize(crdt.MaxEntrySize + 4096),
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &Gossip{cancel: cancel, mesh: map[peer.ID]bool{}, h: h}
	opts = append(opts, pubsub.WithRawTracer(byteCounter{g: g, next: opt.Tracer}))
	name := GossipTopic(network)
	app := opt.AppScore
	if app == nil {
		app = func(peer.ID) float64 { return 0 }
	}
	params, thresholds := scoreParams(name, app)
	opts = append(opts, pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(g.setScores), time.Second))
	if opt.Peers != nil {
		opts = append(opts, pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return opt.Peers(p) }))
	}
	var err error
	if g.ps, err = pubsub.NewGossipSub(ctx, h, opts...); err != nil {
		cancel()
		return nil, fmt.Errorf("sync: gossip: %w", err)
	}
	err = g.ps.RegisterTopicValidator(name, func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if (opt.Peers != nil && !opt.Peers(from)) || (opt.Filter != nil && !opt.Filter(from)) {
			return pubsub.ValidationIgnore
		}
		v, e := validate(from, m.Data)
		switch v {
		case Accept:
			m.ValidatorData = e
			return pubsub.ValidationAccept
		case Reject:
			return pubsub.ValidationReject
		}
		return pubsub.ValidationIgnore
	})
	if err == nil {
		g.topic, err = g.ps.Join(name)
	}
	if err == nil {
		g.sub, err = g.topic.Subscribe(pubsub.WithBufferSize(opt.QueueSize))
	}
	if err != nil {
		cancel()
		if g.topic != nil {
			g.topic.Close()
		}
		return nil, fmt.Errorf("sync: gossip: %w", err)
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			m, err := g.sub.Next(ctx)
			if err != nil {
				return // cancelled, or the subscription closed
			}
			if e, ok := m.ValidatorData.(*crdt.Entry); ok {
				deliver(m.ReceivedFrom, e)
			}
		}
	}()
	return g, nil
}

// Publish sends an entry to the network's topic.
func (g *Gossip) Publish(ctx context.Context, raw []byte) error {
	if err := g.topic.Publish(ctx, raw); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sync: publish: %w", err)
	}
	return nil
}

func (g *Gossip) setScores(s map[peer.ID]float64) {
	g.scoresMu.Lock()
	defer g.scoresMu.Unlock()
	g.scores = s
}

// Scores returns the score of every peer pubsub keeps one for (those
// connected, and disconnected ones with a negative score), as of the last
// second: 0 for a member's node that behaves, below GraylistThreshold for
// one whose messages are being dropped.
func (g *Gossip) Scores() map[peer.ID]float64 {
	g.scoresMu.Lock()
	defer g.scoresMu.Unlock()
	return maps.Clone(g.scores)
}

// Peers lists the peers this node exchanges the topic with.
func (g *Gossip) Peers() []peer.ID { return g.topic.ListPeers() }

// Close leaves the topic and waits for the delivery goroutine. It is safe
// to call twice.
func (g *Gossip) Close() error {
	g.closeOnce.Do(func() {
		g.sub.Cancel()
		g.cancel()
		g.wg.Wait()
		g.topic.Close()
		// pubsub leaves its handlers on the host when its context ends: on
		// a host that outlives this topic they would serve a stopped router.
		for _, p := range pubsub.GossipSubDefaultProtocols {
			g.h.RemoveStreamHandler(p)
		}
	})
	return nil
}
