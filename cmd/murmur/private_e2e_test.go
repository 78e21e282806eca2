package main

import (
	"os"
	"path/filepath"
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
