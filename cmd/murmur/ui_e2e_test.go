package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freeLoopbackPort is a TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `murmur run` serves the web interface on the loopback address it is
// given, locked, and answers nothing to a request naming another host;
// an address beyond this computer is refused before anything starts.
func TestCLIRunServesTheWebInterface(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	refused(t, a.run("run", "--ui-listen", "0.0.0.0:4722"), 2)
	refused(t, a.run("run", "--ui-listen", "4722"), 2)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", addr)
	eventually(t, 30*time.Second, "the node says where its web interface is", func() bool {
		return strings.Contains(ra.stdout.String(), "Web interface (this computer only): http://"+addr+"/")
	})
	get := func(host string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, page := get(addr); code != http.StatusOK || !strings.Contains(page, "Murmur is locked") {
		t.Fatalf("the interface: %d\n%s", code, page)
	}
	if code, _ := get("attacker.example"); code != http.StatusMisdirectedRequest {
		t.Fatalf("another host's name: %d", code)
	}
}

// murmur ui with no node running starts one with its web interface (and,
// without a desktop, prints where it is); with a node running, it points
// at that node's interface and returns.
func TestCLIUIStartsOrFindsTheNode(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	ra := a.start("ui", "--no-browser", "--ui-listen", addr)
	eventually(t, 30*time.Second, "murmur ui starts the node and says where its interface is", func() bool {
		return strings.Contains(ra.stdout.String(), "Open http://"+addr+"/ in a browser")
	})
	r := a.ok("ui", "--no-browser")
	if !strings.Contains(r.stdout, "Open http://"+addr+"/ in a browser") {
		t.Fatalf("murmur ui beside a running node: %s", r)
	}
	refused(t, newCLI(t, t.TempDir()).run("ui", "--no-browser"), 1)
}
