// Package smalldisk gives a test a small file system that fills up: a
// tmpfs of a few hundred KB, mounted for the test and unmounted after.
//
// A real file system is what a full-disk test needs: SQLite meets the full
// disk in its own writes (WAL frames, a checkpoint extending the file, the
// -shm), in an order a fault injected at one of our calls would not
// reproduce, and modernc.org/sqlite offers no hook below its VFS. Mounting
// needs root (CAP_SYS_ADMIN), which CI has; elsewhere the test is skipped,
// saying why.
package smalldisk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size ("300k") at a new directory and returns
// it; it is unmounted when the test ends.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounting a %s tmpfs was refused (%v): this test needs root, as in CI", size, err)
		}
		t.Fatalf("mounting a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
