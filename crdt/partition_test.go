package crdt

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Revocation in a partition: five nodes split {0,1,2} | {3,4}. The device
// of organisation 4 is seized; on its side it keeps writing — requests,
// responses, a new device for itself, a revocation of the steward — while
// on the other side the steward revokes it at the last entry that side
// had seen. Each node only holds what its side wrote until the heal; then
// each receives everything it lacks, in an order drawn from the seed.
// Every node must end with the same accepted set, none of the seized
// device's entries past the cut-off among it.
func TestRevocationInPartition(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		devs := []*tdev{newDev(seed*10 + 1), newDev(seed*10 + 2), newDev(seed*10 + 3), newDev(seed*10 + 4), newDev(seed*10 + 5)}
		steward, seized := devs[0], devs[4]
		n := newNet(t, steward, 1)
		for i, d := range devs[1:] {
			n.admit(steward, d, fmt.Sprintf("Org %d", i+1), i == 3) // the seized one's organisation is a steward too
		}
		var reqs []*Entry
		for _, d := range devs {
			reqs = append(reqs, n.request(d, "before the partition"))
		}
		common := len(n.all)

		// The partition: each side writes; sides[i] lists what side i saw.
		sides := [2][]*Entry{}
		write := func(side int, e *Entry) { sides[side] = append(sides[side], e) }
		seenByA := seized.seq
		for step := 0; step < 20+rng.IntN(20); step++ {
			switch k := rng.IntN(10); {
			case k < 3: // honest writes on side A
				d := devs[rng.IntN(3)]
				write(0, n.respond(d, reqs[rng.IntN(len(reqs))], Comment))
			case k < 5: // honest writes on side B
				write(1, n.request(devs[3], fmt.Sprintf("B %d", step)))
			case k < 8: // the seized device, on side B
				write(1, n.request(seized, fmt.Sprintf("seized %d", step)))
			case k == 8: // it adds itself a device
				x := newDev(seed*1000 + uint64(step))
				write(1, n.addDevice(seized, x, seized.org()))
				write(1, n.request(x, "from the added device"))
			default: // it revokes the steward, at what it has seen of it
				write(1, n.revoke(seized, steward, uint64(rng.IntN(int(steward.seq)+1))))
			}
		}
		// Side A's steward revokes the seized device at what side A saw.
		rev := n.revoke(steward, seized, seenByA)
		write(0, rev)

		// Before the heal: each node holds the common history and its side's.
		var finals []*State
		for node := 0; node < 5; node++ {
			side := 0
			if node >= 3 {
				side = 1
			}
			s := NewState(n.network, Limits{MaxPending: 1 << 20, MaxPendingBytes: 1 << 40})
			for _, e := range n.all[:common] {
				s.Apply(e)
			}
			mine := append([]*Entry{}, sides[side]...)
			rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for _, e := range mine {
				s.Apply(e)
			}
			// The heal: the other side's entries, in a seeded order,
			// some twice.
			theirs := append([]*Entry{}, sides[1-side]...)
			for _, e := range sides[1-side] {
				if rng.IntN(4) == 0 {
					theirs = append(theirs, e)
				}
			}
			rng.Shuffle(len(theirs), func(i, j int) { theirs[i], theirs[j] = theirs[j], theirs[i] })
			for _, e := range theirs {
				s.Apply(e)
			}
			finals = append(finals, s)
		}
		want := dump(finals[0])
		for i, s := range finals[1:] {
			if got := dump(s); got != want {
				t.Fatalf("seed %d: node %d differs from node 0:\n%s", seed, i+1, firstDiff(want, got))
			}
		}
		s := finals[0]
		if status(s, rev) != StatusAccepted {
			t.Fatalf("seed %d: the steward's revocation does not stand: %v", seed, s.Why(rev.ID()))
		}
		for _, e := range n.all {
			if e.Author == seized.key && e.Seq > seenByA && e.ID() != rev.ID() && status(s, e) == StatusAccepted && e.Kind != KindDeviceRevoked {
				t.Fatalf("seed %d: the seized device's entry %d (%v) past the cut-off %d is accepted", seed, e.Seq, e.Kind, seenByA)
			}
		}
		checkInvariants(t, seed, s)
	}
}
