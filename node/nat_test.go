package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// A member's node dials this one back from a port of its own: on loopback
// it gets through, so both say they can be reached.
func TestMembersDialBack(t *testing.T) {
	ctx := context.Background()
	steward := foundNetwork(t, node.InitOptions{})
	other, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: steward.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := steward.Append(ctx, &crdt.Admission{Device: other.Device(), Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	opt := node.RunOptions{SyncEvery: time.Second, PollEvery: 20 * time.Millisecond, NATEvery: 200 * time.Millisecond}
	sr, stewardAddr := runLoopback(t, steward, opt)
	opt.Peers = []string{stewardAddr.Addrs[0].String() + "/p2p/" + stewardAddr.ID.String()}
	or, _ := runLoopback(t, other, opt)
	if got := or.NAT().Reachability; got != node.ReachUnknown {
		t.Fatalf("before any member answered, reachability is %q", got)
	}
	waitFor(t, 30*time.Second, "both nodes learn that the other can dial them back", func() bool {
		return or.NAT().Reachability == node.ReachPublic && sr.NAT().Reachability == node.ReachPublic
	})
	if len(or.NAT().Confirmed) == 0 {
		t.Error("reachable, but with no confirmed address")
	}
}
