package main

import (
	"context"
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
	if stop, err := serveUI(n, dir, "0.0.0.0:0", nil); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		if stop != nil {
			stop()
		}
		t.Fatalf("an unprotected node's interface beyond loopback: %v", err)
	}
	stop, err := serveUI(n, dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("on loopback: %v", err)
	}
	stop()
}
