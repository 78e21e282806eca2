package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A network is private unless its founder says --open: its nodes then
// show their device keys to no one without the network key.
func TestCLIInitIsPrivateByDefault(t *testing.T) {
	priv, open := t.TempDir(), t.TempDir()
	newCLI(t, priv).ok("init", "--org", "Alpha Fund", "--no-passphrase", "--dir", priv)
	newCLI(t, open).ok("init", "--org", "Alpha Fund", "--open", "--no-passphrase", "--dir", open)
	if _, err := os.Stat(filepath.Join(priv, "network.psk")); err != nil {
		t.Errorf("murmur init made no network key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(open, "network.psk")); err == nil {
		t.Error("murmur init --open made a network key")
	}
}

// --open and --private together are a contradiction, refused before
// anything is made; init and status say which kind the network is.
func TestCLIPrivateOrOpenSaidPlainly(t *testing.T) {
	dir := t.TempDir()
	c := newCLI(t, dir)
	r := c.run("init", "--org", "Alpha Fund", "--open", "--private", "--no-passphrase", "--dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "contradict") {
		t.Fatalf("--open --private: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "murmur.json")); err == nil {
		t.Fatal("a network was made all the same")
	}
	r = c.ok("init", "--org", "Alpha Fund", "--no-passphrase", "--dir", dir)
	if !strings.Contains(r.stdout, "The network is private") {
		t.Errorf("init does not say the network is private:\n%s", r.stdout)
	}
	if r := c.ok("status", "--dir", dir); !strings.Contains(r.stdout, "), private\n") {
		t.Errorf("status does not say the network is private:\n%s", r.stdout)
	}
	open := t.TempDir()
	r = newCLI(t, open).ok("init", "--org", "Beta", "--open", "--quorum", "2", "--no-passphrase", "--dir", open)
	if !strings.Contains(r.stdout, "The network is open") || !strings.Contains(r.stdout, "its approval alone admits") {
		t.Errorf("init --open --quorum 2 does not say what it made:\n%s", r.stdout)
	}
}
