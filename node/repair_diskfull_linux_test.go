package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/murmurnet/murmur/store"
)

// smallDisk mounts a tmpfs of size at a new directory, unmounted when the
// test ends (see store's TestDiskFullIsNotDamage for why a real file
// system; mounting needs root, as in CI, and the test is skipped without).
func smallDisk(t *testing.T, size string) string {
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

// A repair that runs out of room says the disk is full and leaves the
// database as it was: no half-built database without its mark (which
// would let this device sign at places of its chain it used already).
func TestRepairOnAFullDisk(t *testing.T) {
	for _, c := range []struct {
		name  string
		spare int64 // bytes left free past the database's size
	}{
		{"no room to copy", 0},
		{"no room to read the copy", 8 << 10}, // SQLite finds no room for its -shm
		{"no room to rebuild", 48 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			disk := smallDisk(t, "2m")
			dir := filepath.Join(disk, "d")
			n, err := Init(ctx, dir, InitOptions{Org: "Disk Full Org"})
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Before the repair", Body: string(bytes.Repeat([]byte("b"), 3000))}); err != nil {
					t.Fatal(err)
				}
			}
			want := n.Status().Entries
			n.Close()
			dbPath := filepath.Join(dir, dbName)
			before, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			var st syscall.Statfs_t
			if err := syscall.Statfs(disk, &st); err != nil {
				t.Fatal(err)
			}
			leave := c.spare
			if leave > 0 {
				leave += int64(len(before))
			}
			if err := os.WriteFile(filepath.Join(disk, "filler"), make([]byte, int64(st.Bavail)*st.Bsize-leave), 0o600); err != nil {
				t.Fatal(err)
			}

			_, err = Repair(ctx, dir, nil, true)
			if !errors.Is(err, store.ErrDiskFull) {
				t.Fatalf("a repair on a full disk: %v, want the disk is full", err)
			}
			t.Logf("repair: %v", err)
			after, rerr := os.ReadFile(dbPath)
			if rerr != nil || !bytes.Equal(after, before) {
				t.Fatalf("the database is not as it was (%v)", rerr)
			}
			if _, err := os.Stat(filepath.Join(dir, repairName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed repair left its mark: %v", err)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".damaged-") || strings.HasPrefix(e.Name(), "salvage-") {
					t.Fatalf("a failed repair left %s", e.Name())
				}
			}
			if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
				t.Fatal(err)
			}
			n, err = Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if got := n.Status().Entries; got != want {
				t.Fatalf("%d entries after the failed repair, %d before", got, want)
			}
		})
	}
}
