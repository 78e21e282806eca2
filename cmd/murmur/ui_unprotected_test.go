package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/node"
)

// A node without a passphrase cannot lock its web interface: it serves it
// to this computer only, and refuses an address beyond it in words.
func TestUnprotectedNodeServesItsInterfaceOnLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	n, err := node.Init(context.Background(), dir, node.InitOptions{Org: "Test Fund"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, stop, err := serveUI(n, dir, "0.0.0.0:0", nil); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		if stop != nil {
			stop()
		}
		t.Fatalf("an unprotected node's interface beyond loopback: %v", err)
	}
	// Port 0: the port the system chose is the one said, written for
	// murmur ui, and served (the interface answers only its own address).
	at, stop, err := serveUI(n, dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("on loopback: %v", err)
	}
	defer stop()
	if strings.HasSuffix(at, ":0") {
		t.Fatalf("served at %s", at)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, uiAddrName)); strings.TrimSpace(string(b)) != at {
		t.Errorf("%s says %q, served at %s", uiAddrName, b, at)
	}
	resp, err := http.Get("http://" + at + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusMisdirectedRequest || resp.StatusCode >= 500 {
		t.Errorf("GET http://%s/: %s", at, resp.Status)
	}
}
