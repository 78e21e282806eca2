package p2p

import (
	"testing"

	msync "github.com/murmurnet/murmur/sync"
)

// After the database was rebuilt, only a session with a member that
// lacked nothing ends the wait (node/repair.go; fork_test.go there shows
// the whole story): a session that pushed or owed entries ends nothing.
func TestLackedNothing(t *testing.T) {
	for _, c := range []struct {
		st   msync.Stats
		want bool
	}{{msync.Stats{Received: 3}, true}, {msync.Stats{Pushed: 1}, false}, {msync.Stats{Unsent: 2}, false}} {
		if got := lackedNothing(c.st); got != c.want {
			t.Errorf("lackedNothing(%+v) = %v", c.st, got)
		}
	}
}
