//go:build linux

package p2p

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
	"golang.org/x/sys/unix"
)

// holdPort listens on a free loopback TCP port the way go-libp2p does, with
// SO_REUSEPORT, and returns the port.
func holdPort(t *testing.T) int {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestChosenPortHeldByAnotherNodeIsRefused(t *testing.T) {
	port := holdPort(t)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	_, err := chooseListen([]string{addr}, false, DefaultPort, logs.Printf(t.Logf))
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("a port held with SO_REUSEPORT: %v; want a refusal that says it is in use", err)
	}
	if !portTaken(addr) {
		t.Errorf("portTaken(%s) = false", addr)
	}
}

func TestDefaultPortMovesToAFreeOne(t *testing.T) {
	port := holdPort(t)
	listen := []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port)}
	var said []string
	got, err := chooseListen(listen, true, port, logs.Printf(func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(got, listen) || len(got) != len(listen) {
		t.Fatalf("the default stayed on a port in use: %v", got)
	}
	for _, a := range got {
		if strings.Contains(a, fmt.Sprintf("/%d", port)) {
			t.Errorf("%s still names port %d", a, port)
		}
		if portTaken(a) {
			t.Errorf("moved to %s, which is in use", a)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], fmt.Sprintf("port %d is already in use", port)) {
		t.Errorf("the move should be said once: %q", said)
	}
	// Free ports stay as they are, and nothing is said.
	said = nil
	if again, err := chooseListen(got, true, port, logs.Printf(func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) })); err != nil || !slices.Equal(again, got) || len(said) != 0 {
		t.Errorf("free addresses changed: %v, %v, %q", again, err, said)
	}
}

func TestListenProblemsInPlainWords(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"/ip4/192.0.2.77/tcp/5000", "this machine has no address 192.0.2.77"},
		{"/ip4/127.0.0.1/tcp/0", ""},
		{"/dns4/localhost/tcp/5000", ""}, // a name: left to the host
	} {
		err := listenProblem(tc.addr)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.addr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.addr, err, tc.want)
		}
	}
}

func TestWithPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/ip4/0.0.0.0/tcp/4721", "/ip4/0.0.0.0/tcp/4722"},
		{"/ip6/::/udp/4721/quic-v1", "/ip6/::/udp/4722/quic-v1"},
		{"/ip4/0.0.0.0/tcp/47210", "/ip4/0.0.0.0/tcp/47210"},
		{"/ip4/10.47.21.1/tcp/9", "/ip4/10.47.21.1/tcp/9"},
	} {
		if got := withPort([]string{tc.in}, 4721, 4722)[0]; got != tc.want {
			t.Errorf("withPort(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A runner that cannot listen returns an error (it once dereferenced the
// nil runner its error return had set), releases the data directory, and
// the next start works.
func TestStartThatCannotListenFailsCleanly(t *testing.T) {
	n, err := node.Init(context.Background(), t.TempDir(), node.InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, tc := range []struct{ addr, want string }{
		{"/ip4/192.0.2.77/tcp/4721", "this machine has no address 192.0.2.77"}, // found by the probe
		{"/ip4/127.0.0.1/tcp/0/ws", "TCP (/ip4/0.0.0.0/tcp/4721) or QUIC"},
		{"/ip4/127.0.0.1/udp/0", "TCP (/ip4/0.0.0.0/tcp/4721) or QUIC"},
		{"garbage", "not an address like /ip4/0.0.0.0/tcp/4721"},
	} {
		r, err := Start(t.Context(), n, RunOptions{Listen: []string{tc.addr}, Log: logs.Printf(t.Logf)})
		if err == nil {
			r.Close()
			t.Fatalf("Start on %s: no error", tc.addr)
		}
		if r != nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "node:") {
			t.Errorf("Start on %s: %v (runner %v), want %q", tc.addr, err, r, tc.want)
		}
	}
	r, err := Start(t.Context(), n, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Log: logs.Printf(t.Logf)})
	if err != nil {
		t.Fatalf("Start after failed starts: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}
