package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestConnectedSaidOncePerPeer(t *testing.T) {
	s := connectedNotes{}
	a, b := peer.ID("a"), peer.ID("b")
	steps := []struct {
		what string
		do   func() bool
		want bool
	}{
		{"a's first connection", func() bool { return s.say(a, network.Connected) }, true},
		{"a's second connection (it dialled back)", func() bool { return s.say(a, network.Connected) }, false},
		{"a's third connection (QUIC beside TCP)", func() bool { return s.say(a, network.Connected) }, false},
		{"b through a relay", func() bool { return s.say(b, network.Limited) }, true},
		{"b through the relay again", func() bool { return s.say(b, network.Limited) }, false},
		{"b directly, after the relay", func() bool { return s.say(b, network.Connected) }, true},
		{"a connection to a that closed before it was read", func() bool { return s.say(a, network.NotConnected) }, false},
		{"a still connected after one of its connections closed", func() bool {
			s.changed(a, network.Connected)
			return s.say(a, network.Connected)
		}, false},
		{"a again after it was gone", func() bool {
			s.changed(a, network.NotConnected)
			return s.say(a, network.Connected)
		}, true},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Errorf("%s: said %v, want %v", st.what, got, st.want)
		}
	}
}
