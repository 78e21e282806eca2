package p2p

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// The join loop says why the inviter's node did not answer in plain
// words: no peer ID, no protocol stack.
func TestUnreachedInPlainWords(t *testing.T) {
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/37324"), ma.StringCast("/ip4/127.0.0.1/tcp/37324")}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("failed to dial 12D3KooWAbc: all dials failed\n  * [/ip4/127.0.0.1/tcp/37324] dial tcp4 127.0.0.1:37324: connect: %w", syscall.ECONNREFUSED), "nothing answers at 127.0.0.1:37324"},
		{fmt.Errorf("failed to dial: %w", context.DeadlineExceeded), "no answer at 127.0.0.1:37324"},
		{fmt.Errorf("dial: %w", syscall.EHOSTUNREACH), "no way from here to 127.0.0.1:37324"},
		{fmt.Errorf("failed to negotiate security protocol: EOF"), "could not connect at 127.0.0.1:37324"},
		{errNoAddress, errNoAddress.Error()},
	} {
		got := unreached(c.err, addrs)
		if got != c.want {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
		if strings.Contains(got, "12D3") || strings.Contains(got, "/ip4/") {
			t.Errorf("%q names transport internals", got)
		}
	}
}
