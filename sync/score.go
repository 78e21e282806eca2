package sync

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// GossipSub peer scoring on the network's topic. Every peer of the topic is
// a member's node (the transport gate), so scoring here is not about
// strangers but about a member's node that misbehaves: one that sends
// invalid messages, or writes (or relays) entries faster than any honest
// node would (the node counts those: its application-specific score).
//
// Nothing is rewarded. An honest peer's score is exactly 0 — it cannot be
// pushed below by a quiet network, a slow link or a busy moment — and a
// misbehaving one cannot bank credit before it misbehaves. Scores are in
// units of one entry sent beyond the rate limit (the node's score has
// weight 1).
const (
	// GossipThreshold: below it, a peer is sent no gossip (IHAVE) and its
	// gossip is ignored. 100 entries beyond the limit: half a second of a
	// flood at 100 times the normal rate, once the flooder's allowance
	// (200 at once) is spent.
	GossipThreshold = -100
	// PublishThreshold: below it, the peer is sent none of this node's own
	// entries outside the mesh (fanout); a peer below 0 is out of the mesh
	// already.
	PublishThreshold = -200
	// GraylistThreshold: below it, every RPC from the peer is dropped
	// unread: the peer is ignored until its penalties fade. Two seconds of
	// a flood at 100 times the normal rate, after its allowance.
	GraylistThreshold = -400
)

// PenaltyDecay is how long a penalty takes to fade to 1% of its value
// (decayed every second): a flooder held at the graylist threshold is back
// above it soon after it stops, but stays out of the mesh and is sent no
// gossip for about 18 minutes (until -100), and is back at 0 after about
// 2 hours. Its entries, and everyone else's, still reach it and come from
// it meanwhile, by reconciliation.
const PenaltyDecay = time.Hour

// invalidWeight weighs P4, the square of the count of invalid messages
// (malformed, forged, another network's: Reject) a peer delivered. An
// honest node sends none; one member's node is not cut off for a few (a bug
// in one release), but 32 take it below the gossip threshold and 64 below
// the graylist — a fraction of a second for a stream of them. Each costs
// this node at most a decode and a signature check.
const invalidWeight = -0.1

// scoreParams are the peer score parameters of topic. app is the node's
// score of a peer (P5), at most 0.
func scoreParams(topic string, app func(peer.ID) float64) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	decay := pubsub.ScoreParameterDecay(PenaltyDecay)
	params := &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{topic: {
			TopicWeight: 1,
			// P1 (time in the mesh), P2 (first deliveries): rewards; off.
			// P3, P3b (too few deliveries from a mesh peer): off — where
			// people write a few entries a minute, every peer delivers
			// "too few".
			TimeInMeshQuantum: time.Second, // (unused with weight 0, but must be set)
			// P4: invalid messages.
			InvalidMessageDeliveriesWeight: invalidWeight,
			InvalidMessageDeliveriesDecay:  decay,
		}},
		// No rewards, so nothing to cap.
		TopicScoreCap: 0,
		// P5: the node's score: minus the entries the peer sent beyond the
		// rate limit, fading with PenaltyDecay.
		AppSpecificScore:  app,
		AppSpecificWeight: 1,
		// P6 (many peers behind one IP address): off. The gate admits
		// members only, and one office's devices share its address.
		IPColocationFactorWeight: 0,
		// P7 (broken IWANT promises, re-grafting too soon): off. An honest
		// node under load breaks promises (its queue full, a message aged
		// out of its cache) and would go negative; gossipsub bounds
		// IHAVE/IWANT per heartbeat and keeps its own backoff anyway.
		BehaviourPenaltyWeight: 0,
		DecayInterval:          time.Second,
		DecayToZero:            0.01,
		// A disconnected peer's (negative) score is kept this long:
		// reconnecting does not wash it.
		RetainScore: PenaltyDecay,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:   GossipThreshold,
		PublishThreshold:  PublishThreshold,
		GraylistThreshold: GraylistThreshold,
		// As without scoring: peer exchange is taken from peers at 0 or
		// above (members do not send it: go-libp2p-pubsub sends it only
		// when asked to), and opportunistic grafting, for a mesh whose
		// median score is below 0, never starts (negative peers are pruned
		// first).
		AcceptPXThreshold:           0,
		OpportunisticGraftThreshold: 0,
	}
	return params, thresholds
}
