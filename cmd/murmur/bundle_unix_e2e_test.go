//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
)

// An import killed with SIGKILL in the middle keeps what it stored, and
// the same import again ends identical. The kill lands at a point the test
// controls: the export's second part is a named pipe, which the import
// reads whole while checking it, and opens again (and waits there, for
// nobody writes it twice) after storing the first part.
func TestCLIBundleImportKilled(t *testing.T) {
	a, b := joinedThenApart(t)
	ctx := context.Background()
	n, err := node.Open(ctx, a.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		if _, err := n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: fmt.Sprintf("Request %d", i), Body: strings.Repeat(fmt.Sprintf("words %d %x ", i, i*7919), 20)}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	dir := t.TempDir()
	var ex bundleExportOut
	a.json(&ex, "bundle", "export", filepath.Join(dir, "all.bundle"), "--split", "200KB")
	if len(ex.Files) < 2 {
		t.Fatalf("export: %+v, want parts", ex)
	}
	last := ex.Files[len(ex.Files)-1]
	content, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(last)
	if err := syscall.Mkfifo(last, 0o600); err != nil {
		t.Fatal(err)
	}
	fed := make(chan error, 1)
	go func() { // one reader, once: the check
		f, err := os.OpenFile(last, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write(content)
			f.Close()
		}
		fed <- err
	}()
	before := b.status().Entries
	imp := exec.Command(murmurBinary(t), append([]string{"bundle", "import"}, ex.Files...)...)
	imp.Env = append(slices.Clip(b.env), "MURMUR_DIR="+b.dir)
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- imp.Wait() }()
	t.Cleanup(func() { imp.Process.Kill() })
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the import stores the parts before the last", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the import ended before the last part: %v", err)
		default:
		}
		return b.status().Entries > before
	})
	if err := imp.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	mid := b.status().Entries
	if mid <= before || mid >= a.status().Entries {
		t.Fatalf("after the kill Beta holds %d entries, %d before: want some of Alpha's %d, not all", mid, before, a.status().Entries)
	}
	// The pipe gives way to the file, and the same import runs again.
	os.Remove(last)
	if err := os.WriteFile(last, content, 0o600); err != nil {
		t.Fatal(err)
	}
	var im bundleImportOut
	b.json(&im, append([]string{"bundle", "import"}, ex.Files...)...)
	sa, sb := a.status(), b.status()
	if im.New+im.Held != ex.Entries || im.New != sb.Entries-mid || im.Refused != 0 || im.New == 0 {
		t.Fatalf("the import again: %+v (Beta had %d entries after the kill, has %d now; the export holds %d)", im, mid, sb.Entries, ex.Entries)
	}
	if sa.Digest != sb.Digest {
		t.Fatalf("not identical: %+v and %+v", sa, sb)
	}
	b.ok("doctor")
}
