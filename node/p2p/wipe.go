package p2p

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// SendRevocation runs node n until a reconciliation has handed its
// entries (its own revocation, in a wipe) to a member's node among peers
// (or one found by mDNS, if lan), or until ctx ends, and reports whether
// one did. The runner reconciles with each peer as it connects; a peer
// that takes the revocation cuts this node off at once, so delivery is
// read from the runner's own count of entries pushed.
func SendRevocation(ctx context.Context, n Core, peers []string, lan bool, log *slog.Logger) (bool, error) {
	r, err := Start(ctx, n, RunOptions{Listen: []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0"}, Peers: peers, MDNS: lan, Log: log})
	if err != nil {
		return false, err
	}
	defer r.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if r.Traffic().Sync.Pushed > 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return false, nil
			}
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}
