package p2p

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/murmurnet/murmur/crdt"
	msync "github.com/murmurnet/murmur/sync"
)

// The live path's limits on a member (see ARCHITECTURE.md, "Misbehaving
// members"). People write a few entries a minute; a steward admitting a
// batch of organisations, or someone closing a backlog of requests, a few
// dozen at once. The limits leave ample room for that and none for a
// flood. Entries beyond them are not lost: they are valid, and
// reconciliation brings them, at its own pace.
const (
	// authorRate is how many entries of one author device the live path
	// takes per second, sustained: 7,200 an hour.
	authorRate = 2
	// authorBurst is how many it takes at once, after a quiet spell.
	authorBurst = 100
	// senderBurst is how many entries of one author a peer may send at
	// once before it is blamed for those beyond (at authorRate, sustained).
	// An honest node sends only what its own limit let through — its own
	// entries, or another author's it took in and forwards — so it never
	// comes near: the room over authorBurst absorbs delays on the way
	// (50 s of them at the sustained rate).
	senderBurst = 2 * authorBurst
	// penaltyFloor: a penalty that has faded below this is forgotten, as
	// pubsub forgets its own counters (DecayToZero).
	penaltyFloor = 0.01
	// throttleSweep is how often full buckets and faded penalties are
	// forgotten.
	throttleSweep = time.Minute
)

// throttle is the live path's rate limit on members, consulted by the
// gossip validator for every entry a peer sends (not for this node's own:
// those are paced before they are published). It keeps:
//
//   - for each author device, what the live path takes of its entries: a
//     token bucket (authorRate, authorBurst). Entries beyond it are neither
//     delivered nor forwarded, whoever sent them;
//   - for each peer and each author, what the peer sent of that author's
//     entries: a bucket (authorRate, senderBurst). A peer sending beyond it
//     is blamed for each entry over, whatever became of it: its penalty
//     grows by one, fading with msync.PenaltyDecay, and is its
//     application-specific GossipSub score, negated. Blame follows what
//     the sender did, not what the author's bucket had left: a flooder
//     cannot get an honest relay blamed by racing it to its peers.
//     Entries by keys the network does not know are counted per peer
//     together (the zero author), since there is no bound on such keys;
//   - each blamed peer's penalty.
//
// Its memory is bounded by the network's membership: authors are devices
// the state knows (the caller makes sure), senders are members' nodes
// (only they reach the validator), and a bucket full again or a faded
// penalty holds nothing worth keeping and is forgotten.
type throttle struct {
	mu        sync.Mutex
	authors   map[crdt.DeviceKey]*rate.Limiter
	senders   map[sender]*rate.Limiter
	penalties map[peer.ID]penalty
	swept     time.Time
	throttled int64 // entries refused so far
	blamed    int64 // entries blamed on their sender so far
}

// sender is a peer, as the sender of one author's entries (the zero
// author: keys the network does not know).
type sender struct {
	peer   peer.ID
	author crdt.DeviceKey
}

// penalty is a peer's count of entries sent beyond the limit, as of at.
type penalty struct {
	value float64
	at    time.Time
}

func newThrottle() *throttle {
	return &throttle{authors: map[crdt.DeviceKey]*rate.Limiter{}, senders: map[sender]*rate.Limiter{}, penalties: map[peer.ID]penalty{}}
}

// replayed counts against from an entry by author that this node held
// already: the sender's allowance only (a replay must not use up the
// author's, or a member replaying someone's history would hold back their
// new entries). An honest relay forwards only what it took itself, within
// the author's rate: it stays within its allowance however reconciliation
// races it. A flooder whose entries reached this node first by
// reconciliation is blamed all the same.
func (t *throttle) replayed(from peer.ID, author crdt.DeviceKey, known bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	if !known {
		author = crdt.DeviceKey{}
	}
	t.countSender(from, author, now)
}

// countSender takes one of what from may send of author's entries, and
// blames it if there was none left. The caller holds t.mu.
func (t *throttle) countSender(from peer.ID, author crdt.DeviceKey, now time.Time) bool {
	s := sender{from, author}
	sl := t.senders[s]
	if sl == nil {
		sl = rate.NewLimiter(authorRate, senderBurst)
		t.senders[s] = sl
	}
	within := sl.AllowN(now, 1)
	if !within {
		p := t.penalties[from]
		t.penalties[from] = penalty{value: decayed(p, now) + 1, at: now}
		t.blamed++
	}
	return within
}

// admit counts an entry by author that from sent, and says whether the live
// path may take it. known says whether author is a device of the network;
// if not, only the sender's allowance for unknown keys applies.
func (t *throttle) admit(from peer.ID, author crdt.DeviceKey, known bool, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	if !known {
		author = crdt.DeviceKey{}
	}
	within := t.countSender(from, author, now)
	ok := within
	if known {
		al := t.authors[author]
		if al == nil {
			al = rate.NewLimiter(authorRate, authorBurst)
			t.authors[author] = al
		}
		ok = al.AllowN(now, 1)
	}
	if !ok {
		t.throttled++
	}
	return ok
}

// score is p's application-specific score: minus its penalty.
func (t *throttle) score(p peer.ID, now time.Time) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	pen, ok := t.penalties[p]
	if !ok {
		return 0
	}
	return -decayed(pen, now)
}

// decayed is p's value at now: 1% of it is left after msync.PenaltyDecay.
func decayed(p penalty, now time.Time) float64 {
	if p.value == 0 {
		return 0
	}
	return p.value * math.Pow(penaltyFloor, now.Sub(p.at).Seconds()/msync.PenaltyDecay.Seconds())
}

// sweep forgets full buckets and faded penalties, once a throttleSweep.
// The caller holds t.mu.
func (t *throttle) sweep(now time.Time) {
	if now.Sub(t.swept) < throttleSweep {
		return
	}
	t.swept = now
	for k, l := range t.authors {
		if l.TokensAt(now) >= authorBurst {
			delete(t.authors, k)
		}
	}
	for k, l := range t.senders {
		if l.TokensAt(now) >= senderBurst {
			delete(t.senders, k)
		}
	}
	for p, pen := range t.penalties {
		if decayed(pen, now) < penaltyFloor {
			delete(t.penalties, p)
		}
	}
}

// ThrottleStats describe the live path's rate limit on members.
type ThrottleStats struct {
	Authors   int   // author devices with a bucket (wrote in the last minute or so)
	Senders   int   // (peer, author) pairs with a bucket
	Penalised int   // peers with a penalty
	Throttled int64 // entries not taken on the live path so far
	Blamed    int64 // entries sent beyond the limit so far
}

func (t *throttle) stats() ThrottleStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return ThrottleStats{Authors: len(t.authors), Senders: len(t.senders), Penalised: len(t.penalties), Throttled: t.throttled, Blamed: t.blamed}
}
