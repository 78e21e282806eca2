package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
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
// an address that is not one is refused before anything starts.
func TestCLIRunServesTheWebInterface(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	refused(t, a.run("run", "--ui-listen", "4722"), 2)
	refused(t, a.run("run", "--ui-listen", "localhost:4722"), 2)
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

// Beyond loopback the interface is served over TLS only, with the node's
// own certificate, whose fingerprint murmur run prints; its session cookie
// is Secure.
func TestCLIRunServesTheWebInterfaceOverTLS(t *testing.T) {
	t.Parallel()
	const pass = "MURMUR_PASSPHRASE=correct horse battery staple"
	a := newCLI(t, t.TempDir()).with(pass)
	a.json(&initOut{}, "init", "--org", "Alpha Fund")
	port := freeLoopbackPort(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", fmt.Sprintf("0.0.0.0:%d", port))
	var fp string
	eventually(t, 30*time.Second, "the node prints its certificate's fingerprint", func() bool {
		out := ra.stdout.String()
		_, rest, ok := strings.Cut(out, "fingerprint (check that the browser shows the same before giving the passphrase):\n  ")
		fp, _, _ = strings.Cut(rest, "\n")
		return ok && len(fp) == 95
	})
	var seen string
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, // (checked below, as a person does)
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				seen = node.Fingerprint(raw[0])
				return nil
			}}}}
	resp, err := client.PostForm(fmt.Sprintf("https://127.0.0.1:%d/unlock", port), url.Values{"passphrase": {"correct horse battery staple"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen != fp {
		t.Fatalf("the certificate served has fingerprint %s; murmur run printed %s", seen, fp)
	}
	var secure bool
	for _, c := range resp.Cookies() {
		secure = c.Name == fmt.Sprintf("murmur_session_%d", port) && c.Secure && c.HttpOnly
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("unlocking over TLS: %s, cookies %v", resp.Status, resp.Cookies())
	}
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the interface beyond loopback answers in clear")
		}
	}
}
