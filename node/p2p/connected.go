package p2p

import (
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// connectedNotes remembers how each peer was last said to be connected, so
// that a person is told once: identify completes once per connection, and
// two nodes often hold two connections (each dialled the other, or TCP and
// QUIC). Only the goroutine reading connection events uses it.
type connectedNotes map[peer.ID]network.Connectedness

// say reports whether p being connected as how is news worth a log line,
// and notes it.
func (s connectedNotes) say(p peer.ID, how network.Connectedness) bool {
	if how == network.NotConnected || s[p] == how {
		return false
	}
	s[p] = how
	return true
}

// changed notes a change of p's connectedness: once p has no connection
// left, its next connection is news again. It reports whether the loss
// is news: p's connection was said.
func (s connectedNotes) changed(p peer.ID, how network.Connectedness) (lost bool) {
	if how == network.NotConnected {
		_, lost = s[p]
		delete(s, p)
	}
	return lost
}
