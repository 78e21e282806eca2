package p2p

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	msync "github.com/murmurnet/murmur/sync"
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

// Why a sync failed is said without the sync package's words.
func TestWhySyncFailedInPlainWords(t *testing.T) {
	r := &Runner{}
	for _, err := range []error{msync.ErrIdle, msync.ErrPeerMisbehaved, msync.ErrVersion, msync.ErrTooManyRounds,
		msync.ErrMalformed, msync.ErrTooLarge, msync.ErrBusy, msync.ErrNotAllowed, io.EOF} {
		why := r.whySyncFailed(fmt.Errorf("sync: a session: %w", err))
		if strings.Contains(why, "sync:") || strings.Contains(why, "reconcil") || why == "" {
			t.Errorf("%v: said as %q", err, why)
		}
	}
}
