package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// The node and the commands run under soft memory limits, unless
// GOMEMLIMIT gives one.
func TestMemoryLimit(t *testing.T) {
	none := func(string) string { return "" }
	if l, ok := memoryLimit([]string{"run", "--dir", "d"}, none); !ok || l != runMemoryLimit || l > 150<<20 {
		t.Fatalf("run: %d %v", l, ok)
	}
	if l, ok := memoryLimit([]string{"status"}, none); !ok || l != commandMemoryLimit {
		t.Fatalf("status: %d %v", l, ok)
	}
	if _, ok := memoryLimit([]string{"run"}, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}); ok {
		t.Fatal("a limit set over GOMEMLIMIT")
	}
}

// An open that takes a while says why, so that it does not look hung.
func TestSlowOpenSaysWhy(t *testing.T) {
	dir := t.TempDir()
	var out, errs bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
	if code := run(e, []string{"init", "--org", "Alpha", "--no-passphrase", "--dir", dir}); code != 0 {
		t.Fatalf("init: %d: %s", code, errs.String())
	}
	// An open that lasts until the command has said why (or a minute).
	said := &lockedBuffer{}
	e.stderr = said
	beforeAfter, beforeOpen := openSlowAfter, openWith
	openSlowAfter = 10 * time.Millisecond
	openWith = func(ctx context.Context, dir string, pass node.PassphraseSource) (*node.Node, error) {
		for deadline := time.Now().Add(time.Minute); !strings.Contains(said.String(), "Opening is taking a while") && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		return beforeOpen(ctx, dir, pass)
	}
	t.Cleanup(func() { openSlowAfter, openWith = beforeAfter, beforeOpen })
	if code := run(e, []string{"status", "--dir", dir}); code != 0 {
		t.Fatalf("status: %d: %s", code, said.String())
	}
	if !strings.Contains(said.String(), "Opening is taking a while") {
		t.Fatalf("stderr: %q", said.String())
	}
}

// A node that does not stop in time, once it had started, is a failure
// (exit 1, which a service manager records), not the "stopped while
// starting" that a stop during the start is.
func TestFailingToStopIsAFailure(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	errs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &out, stderr: errs, getenv: func(string) string { return "" }}
	if code := run(e, []string{"init", "--org", "Alpha", "--no-passphrase", "--dir", dir}); code != 0 {
		t.Fatalf("init: %d: %s", code, errs.String())
	}
	release := make(chan struct{})
	beforeWithin, beforeClose := stopWithin, closeRunner
	stopWithin = 10 * time.Millisecond
	closed := make(chan struct{})
	closeRunner = func(r *p2p.Runner) error {
		defer close(closed)
		<-release
		return r.Close()
	}
	t.Cleanup(func() {
		close(release) // (the node is closed after all)
		<-closed
		stopWithin, closeRunner = beforeWithin, beforeClose
	})
	e.onUI = func(string) { cancel() } // (started: stop it)
	code := run(e, []string{"run", "--dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--ui-listen", "127.0.0.1:0"})
	if code != 1 || !strings.Contains(errs.String(), "did not stop within") || strings.Contains(errs.String(), "before the node had started") {
		t.Fatalf("exit %d:\n%s", code, errs.String())
	}
}
