package p2p

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	msync "github.com/murmurnet/murmur/sync"
)

// testDevice is a device key made from a seed byte, and its node's peer ID.
func testDevice(t *testing.T, seed byte) (crdt.DeviceKey, peer.ID) {
	t.Helper()
	k := crdt.PublicKeyOf(crdt.KeyFromSeed(bytes.Repeat([]byte{seed}, 32)))
	p, err := node.PeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

// The throttle runs on a clock the test steps: nothing here sleeps.
func TestThrottle(t *testing.T) {
	now := time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	flooder, flooderPeer := testDevice(t, 1)
	writer, writerPeer := testDevice(t, 2)
	_, relayPeer := testDevice(t, 3)

	t.Run("an author's burst, then its rate", func(t *testing.T) {
		th := newThrottle()
		for i := range authorBurst {
			if !th.admit(writerPeer, writer, true, now) {
				t.Fatalf("entry %d of a burst of %d refused", i+1, authorBurst)
			}
		}
		if th.admit(writerPeer, writer, true, now) {
			t.Fatal("an entry beyond the burst was taken")
		}
		if !th.admit(flooderPeer, flooder, true, now) {
			t.Fatal("another author's entry was refused: buckets are per author")
		}
		later := now.Add(time.Second / authorRate)
		if !th.admit(writerPeer, writer, true, later) || th.admit(writerPeer, writer, true, later) {
			t.Fatalf("after 1/%d s: want exactly one more entry", authorRate)
		}
		if st := th.stats(); st.Throttled != 2 || st.Blamed != 0 || th.score(writerPeer, later) != 0 {
			t.Fatalf("%+v, score %v: a writer within its sender allowance is throttled, not blamed", st, th.score(writerPeer, later))
		}
	})

	t.Run("entries held already count against their sender, not their author", func(t *testing.T) {
		// A flooder whose entries reconciliation delivered first replays
		// them on the live path: blamed all the same.
		th := newThrottle()
		for range senderBurst + 10 {
			th.replayed(flooderPeer, flooder, true, now)
		}
		if st := th.stats(); st.Blamed != 10 || th.score(flooderPeer, now) >= 0 {
			t.Fatalf("%+v, score %v: 10 replays beyond the sender's allowance, want 10 blamed", st, th.score(flooderPeer, now))
		}
		// The author's own allowance is untouched: its next new entries,
		// from another peer, are taken.
		if !th.admit(relayPeer, flooder, true, now) {
			t.Fatal("replays used up the author's allowance")
		}
		// An honest relay replaying within the author's rate is not blamed.
		for i := range authorBurst {
			th.replayed(relayPeer, writer, true, now.Add(time.Duration(i)*time.Second/authorRate))
		}
		if th.score(relayPeer, now.Add(time.Minute)) != 0 {
			t.Fatal("a relay within the author's rate was blamed for replays")
		}
	})

	t.Run("a flooder is blamed, an honest relay is not", func(t *testing.T) {
		th := newThrottle()
		// The flooder sends 100 times the sustained rate for 10 s; the
		// relay forwards what its own limit let through (the first burst,
		// then authorRate), each a moment after the flooder's own copy
		// of other entries took the bucket.
		const perSecond = 100 * authorRate
		taken, relayed := 0, 0
		for tick := range 10 * perSecond {
			at := now.Add(time.Duration(tick) * time.Second / perSecond)
			if th.admit(flooderPeer, flooder, true, at) {
				taken++
			}
			if tick < authorBurst || tick%(perSecond/authorRate) == 0 {
				th.admit(relayPeer, flooder, true, at.Add(time.Millisecond))
				relayed++
			}
		}
		end := now.Add(10 * time.Second)
		want := authorBurst + 10*authorRate
		if taken > want {
			t.Errorf("took %d of the flooder's entries, at most %d expected", taken, want)
		}
		blame := float64(10*perSecond - senderBurst - 10*authorRate)
		if s := th.score(flooderPeer, end); s > -blame*0.99 || s < -blame*1.01 {
			t.Errorf("flooder's score %v, want about %v", s, -blame)
		}
		if s := th.score(relayPeer, end); s != 0 {
			t.Errorf("the relay, which forwarded %d entries within the limit, scores %v", relayed, s)
		}
		if s := th.score(flooderPeer, end); s > msync.GraylistThreshold {
			t.Errorf("flooder's score %v, above the graylist threshold %v", s, msync.GraylistThreshold)
		}
		// Then it stops, and its penalty fades: 1% left after PenaltyDecay.
		for _, after := range []time.Duration{time.Minute, 10 * time.Minute, msync.PenaltyDecay} {
			t.Logf("%v after the flood: the flooder scores %.1f", after, th.score(flooderPeer, end.Add(after)))
		}
		if s := th.score(flooderPeer, end.Add(msync.PenaltyDecay)); s < -blame*0.0101 || s > -blame*0.0099 {
			t.Errorf("after %v the flooder scores %v, want 1%% of %v", msync.PenaltyDecay, s, -blame)
		}
	})

	t.Run("keys the network does not know", func(t *testing.T) {
		th := newThrottle()
		// A member's node sends entries signed by ever new keys: they
		// share one allowance, its allowance for unknown keys.
		for i := range senderBurst {
			var k crdt.DeviceKey
			k[0], k[1] = byte(i), byte(i>>8)
			if !th.admit(flooderPeer, k, false, now) {
				t.Fatalf("unknown key %d refused within the allowance", i)
			}
		}
		if th.admit(flooderPeer, crdt.DeviceKey{0xFF, 0xFF}, false, now) {
			t.Fatal("an unknown key's entry beyond the sender's allowance was taken")
		}
		if st := th.stats(); st.Authors != 0 || st.Senders != 1 || th.score(flooderPeer, now) != -1 {
			t.Fatalf("%+v, score %v: want one sender bucket, no author bucket, one entry blamed", st, th.score(flooderPeer, now))
		}
	})

	t.Run("memory", func(t *testing.T) {
		th := newThrottle()
		th.admit(writerPeer, writer, true, now)
		for range 300 {
			th.admit(flooderPeer, flooder, true, now)
		}
		if st := th.stats(); st.Authors != 2 || st.Senders != 2 || st.Penalised != 1 {
			t.Fatalf("%+v", st)
		}
		// Idle: buckets fill up again, and are forgotten at the next sweep.
		idle := now.Add(time.Duration(senderBurst/authorRate)*time.Second + throttleSweep)
		th.admit(writerPeer, writer, true, idle)
		if st := th.stats(); st.Authors != 1 || st.Senders != 1 || st.Penalised != 1 {
			t.Fatalf("after %v idle: %+v; want only the writer's new buckets and the flooder's penalty", idle.Sub(now), st)
		}
		// The penalty is forgotten once faded below penaltyFloor.
		gone := idle.Add(3 * msync.PenaltyDecay)
		th.admit(writerPeer, writer, true, gone)
		if st := th.stats(); st.Penalised != 0 || th.score(flooderPeer, gone) != 0 {
			t.Fatalf("3 decay periods on: %+v", st)
		}
	})
}
