package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCLIWipeConfirmation(t *testing.T) {
	c, _ := founded(t)
	// Not confirmed: nothing wiped.
	r := c.input("no\n").run("wipe")
	refused(t, r, 2)
	if !strings.Contains(r.stderr, "nothing was wiped") || !node0(t, c.dir) {
		t.Fatalf("an unconfirmed wipe:\n%s", r)
	}
	// Not a data directory: nothing wiped.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o600)
	refused(t, newCLI(t, other).run("wipe", "--yes"), 1)
	if b, err := os.ReadFile(filepath.Join(other, "notes.txt")); err != nil || string(b) != "keep me" {
		t.Fatal("wipe touched a directory that is not a data directory")
	}
	// Confirmed at the prompt.
	c.input("wipe\n").ok("wipe")
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory is still there: %v", err)
	}
}

func node0(t *testing.T, dir string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, "device.key"))
	return err == nil
}

// A running member wipes itself with --revoke: its node is stopped, the
// revocation reaches the others, and its data directory is gone.
func TestCLIWipeRevokeWhileRunning(t *testing.T) {
	n := threeOrgs(t)
	g := n.gamma
	n.write(g, "request", "new", "--kind", "verification", "--title", "Written before the seizure")
	n.sync()
	device := g.status().Device
	eventually(t, 10*time.Second, "Gamma's node says which peers it is connected to", func() bool {
		var st struct {
			Peers []string `json:"peers"`
		}
		g.json(&st, "status")
		return len(st.Peers) > 0
	})
	var out struct {
		Wiped   bool `json:"wiped"`
		Revoked bool `json:"revoked"`
		Sent    bool `json:"revocation_sent"`
	}
	r := g.ok("wipe", "--revoke", "--yes", "--no-mdns", "--json")
	oneJSON(t, r, &out)
	if !out.Wiped || !out.Revoked || !out.Sent {
		t.Fatalf("wipe --revoke: %+v\n%s", out, r)
	}
	if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory is still there: %v", err)
	}
	select {
	case <-n.runs[g].done:
	default:
		t.Fatal("the node that ran on the wiped directory is still running")
	}
	eventually(t, 20*time.Second, "the other members know the device is revoked", func() bool {
		for _, c := range []*cli{n.alpha, n.beta} {
			var members []struct {
				Devices []struct {
					Device  string `json:"device"`
					Revoked bool   `json:"revoked"`
				} `json:"devices"`
			}
			c.json(&members, "members")
			revoked := false
			for _, m := range members {
				for _, d := range m.Devices {
					revoked = revoked || d.Device == device && d.Revoked
				}
			}
			if !revoked {
				return false
			}
		}
		return true
	})
}
