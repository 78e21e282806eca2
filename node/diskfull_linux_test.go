package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/murmurnet/murmur/store"
	"github.com/murmurnet/murmur/testnet/smalldisk"
)

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
			disk := smalldisk.Mount(t, "2m")
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
			if err := os.WriteFile(filepath.Join(disk, "filler"), make([]byte, int64(st.Bavail)*int64(st.Bsize)-leave), 0o600); err != nil {
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

// Requests written one command at a time (open, write, close) onto a disk
// that fills: each write that fails says the disk is full, never that the
// database is damaged, and once there is room every acknowledged request
// is there and writes go on.
func TestDiskFullWhileWriting(t *testing.T) {
	ctx := context.Background()
	disk := smalldisk.Mount(t, "1200k")
	dir := filepath.Join(disk, "d")
	n, err := Init(ctx, dir, InitOptions{Org: "Disk Full Org"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if err := os.WriteFile(filepath.Join(disk, "filler"), make([]byte, 700<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	body := string(bytes.Repeat([]byte("b"), 4000))
	acked := map[string]string{} // title by ID
	write := func(title string) error {
		n, err := Open(ctx, dir)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.Unlock(nil); err != nil {
			return err
		}
		e, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: title, Body: body})
		if err == nil {
			acked[e.ID().String()] = title
		}
		return err
	}
	fails := 0
	for i := 0; i < 400 && fails < 3; i++ {
		title := "fill " + strconv.Itoa(i)
		err := write(title)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrDiskFull) && strings.Contains(err.Error(), store.ErrDiskFull.Error()):
			fails++
		default:
			t.Fatalf("write %d (%d acknowledged): %v; want the disk is full", i, len(acked), err)
		}
	}
	if fails == 0 || len(acked) == 0 {
		t.Fatalf("%d writes acknowledged, %d refused: the disk did not fill as meant", len(acked), fails)
	}
	t.Logf("%d requests written before the disk filled", len(acked))
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := write("after freeing"); err != nil {
		t.Fatalf("a write once there is room: %v", err)
	}
	d, err := Diagnose(ctx, dir, nil)
	if err != nil || !d.Healthy {
		t.Fatalf("doctor after the full disk: %+v, %v", d, err)
	}
	n, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for id, title := range acked {
		if d, err := n.Request(id); err != nil || d.Title != title {
			t.Fatalf("the acknowledged request %q: %+v, %v", title, d, err)
		}
	}
}
