package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/store"
)

// damageDB damages a closed node's database the way named.
func damageDB(t *testing.T, dir, how string) {
	t.Helper()
	path := filepath.Join(dir, dbName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("the WAL outlived the close")
	}
	switch how {
	case "empty":
		err = os.Truncate(path, 0)
	case "truncated":
		err = os.Truncate(path, st.Size()/2)
	case "corrupt pages":
		var f *os.File
		if f, err = os.OpenFile(path, os.O_RDWR, 0); err == nil {
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for p := int64(2); p*4096 < st.Size() && p <= 4; p++ { // the schema's first tables' pages
				f.WriteAt(junk, (p-1)*4096)
			}
			f.Close()
		}
	default:
		t.Fatalf("no damage %q", how)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// twoOrgs is a founder and a joined organisation, both running, each with
// a few entries, converged.
func twoOrgs(t *testing.T) (f *Node, fr *p2p.Runner, b *Node, br *p2p.Runner, bdir string) {
	t.Helper()
	f, fr = founded(t, SQLiteStore, 1)
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	bdir = t.TempDir()
	b = join(t, bdir, code, "Beta Collective", "")
	br = loopbackNode(t, b, fr.Addrs()...)
	ctx := context.Background()
	for i := range 5 {
		for _, n := range []*Node{f, b} {
			if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Request " + string(rune('A'+i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	converged(t, f, b)
	return f, fr, b, br, bdir
}

func converged(t *testing.T, a, b *Node) {
	t.Helper()
	eventually(t, 30*time.Second, "the two nodes converge", func() bool {
		sa, sb := a.Status(), b.Status()
		return sa.Digest == sb.Digest && sa.Entries == sb.Entries
	})
}

func TestRepairThenSyncFromAMember(t *testing.T) {
	for _, c := range []struct {
		damage  string
		founder bool // damage the founder's database (else the joined organisation's)
	}{
		{"empty", false},
		{"truncated", true},
		{"corrupt pages", false},
		{"empty", true},
	} {
		name := c.damage
		if c.founder {
			name += " founder"
		}
		t.Run(name, func(t *testing.T) {
			f, fr, b, br, bdir := twoOrgs(t)
			ctx := context.Background()
			// The damaged one is v; the other, healthy, is w.
			v, vr, vdir, w, wr := b, br, bdir, f, fr
			if c.founder {
				v, vr, vdir, w, wr = f, fr, f.Dir(), b, br
			}
			want := w.Status()
			ownBefore := v.state.Head(v.device).Seq
			vr.Close()
			v.Close()
			damageDB(t, vdir, c.damage)

			// Every open refuses it, in one line that names the doctor.
			_, err := Open(ctx, vdir)
			var de *DamagedError
			if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "murmur doctor") {
				t.Fatalf("open of a damaged database: %v", err)
			}
			d, err := Diagnose(ctx, vdir, nil)
			if err != nil || d.Healthy || len(d.Findings) == 0 || !strings.Contains(d.Findings[0].Do, "murmur repair") {
				t.Fatalf("diagnosis %+v, %v", d, err)
			}

			rep, err := Repair(ctx, vdir, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Aside) == 0 {
				t.Fatalf("nothing moved aside: %+v", rep)
			}
			if _, err := os.Stat(rep.Aside[0]); err != nil {
				t.Fatalf("the damaged file is gone: %v", err)
			}
			t.Logf("repair: %+v", rep)
			if d, err := Diagnose(ctx, vdir, nil); err != nil || !d.Healthy || d.Recovering == nil {
				t.Fatalf("diagnosis after the repair: %+v, %v", d, err)
			}
			if _, err := Repair(ctx, vdir, nil, false); !errors.Is(err, ErrHealthy) {
				t.Fatalf("a second repair: %v", err)
			}

			v2, err := Open(ctx, vdir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { v2.Close() })
			if err := v2.Unlock(nil); err != nil {
				t.Fatal(err)
			}
			// It signs nothing until it has synced.
			if _, err := v2.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Too early"}); !errors.Is(err, ErrRecovering) {
				t.Fatalf("a write before the sync: %v", err)
			}
			v2r, err := p2p.Start(t.Context(), v2, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: wr.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { v2r.Close() })
			eventually(t, 30*time.Second, "the repaired node holds every entry the member holds, and writes again", func() bool {
				st := v2.Status()
				return st.Digest == want.Digest && st.Entries == want.Entries && v2.Recovering() == nil
			})
			if _, err := os.Stat(filepath.Join(vdir, repairName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the mark outlived the sync: %v", err)
			}
			e, err := v2.NewRequest(ctx, RequestInput{Kind: "verification", Title: "After the repair"})
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := v2.state.Entry(e.ID()); got.Seq != ownBefore+1 {
				t.Fatalf("the first entry after the repair is at %d of the chain; the chain was at %d", got.Seq, ownBefore)
			}
			converged(t, v2, w)
		})
	}
}

func TestBackupRestore(t *testing.T) {
	f, fr, b, _, _ := twoOrgs(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "beta.backup")
	if _, err := b.Backup(ctx, file, nil); err != nil { // no passphrase on the key, none on the backup
		t.Fatal(err)
	}
	pass := []byte("correct horse battery")
	pfile := filepath.Join(t.TempDir(), "beta-pass.backup")
	rep, err := b.Backup(ctx, pfile, pass)
	if err != nil || !rep.Protected || rep.Entries == 0 {
		t.Fatalf("backup: %+v, %v", rep, err)
	}
	raw, _ := os.ReadFile(pfile)
	if strings.Contains(string(raw), "Beta Collective") || strings.Contains(string(raw), "Request A") {
		t.Fatalf("the backup holds names in clear")
	}
	if _, err := b.Backup(ctx, pfile, pass); !errors.Is(err, ErrInput) {
		t.Fatalf("a backup over an existing file: %v", err)
	}

	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o600)
	if _, err := Restore(ctx, pfile, nonEmpty, func() ([]byte, error) { return pass, nil }); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, pfile, fresh, func() ([]byte, error) { return []byte("wrong passphrase"), nil }); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("restore with a wrong passphrase: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left %s behind", fresh)
	}
	rr, err := Restore(ctx, pfile, fresh, func() ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatal(err)
	}
	if rr.Device != b.Device().String() || rr.Entries != b.Status().Entries {
		t.Fatalf("restored %+v; the node had %d entries", rr, b.Status().Entries)
	}
	// The original stops (the restored one replaces it on a new machine).
	b.Close()
	if _, err := Open(ctx, fresh); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("the restored key is not under the passphrase: %v", err)
	}
	rn, err := OpenWith(ctx, fresh, func() ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Close() })
	if _, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Written after the backup"}); err != nil {
		t.Fatal(err)
	}
	rr2, err := p2p.Start(t.Context(), rn, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: fr.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rr2.Close() })
	converged(t, rn, f)
	eventually(t, 30*time.Second, "the restored node writes again", func() bool { return rn.Recovering() == nil })
	if _, err := rn.NewRequest(ctx, RequestInput{Kind: "verification", Title: "From the restored node"}); err != nil {
		t.Fatal(err)
	}
	converged(t, rn, f)
}

func TestDiagnoseFindings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Will be altered"})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if d, err := Diagnose(ctx, dir, nil); err != nil || !d.Healthy || d.Entries == 0 {
		t.Fatalf("a healthy directory: %+v, %v", d, err)
	}

	// An entry whose stored bytes changed (its signature no longer
	// verifies), and a network secret that no longer opens.
	priv, err := readDeviceKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := storeKey(priv, crdt.PublicKeyOf(priv))
	st, err := store.OpenSQLite(filepath.Join(dir, dbName), sk)
	if err != nil {
		t.Fatal(err)
	}
	altered := append([]byte(nil), e.Raw()...)
	altered[len(altered)-1] ^= 1 // in the body: the signature no longer matches
	if err := st.Rewrite(ctx, e.ID(), altered, crdt.Keys{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.WriteFile(filepath.Join(dir, secretName), []byte(`{"version":1,"nonce":"AAAA","sealed":"AAAA"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Diagnose(ctx, dir, nil)
	if err != nil || d.Healthy {
		t.Fatalf("diagnosis: %+v, %v", d, err)
	}
	var parts []string
	for _, f := range d.Findings {
		parts = append(parts, f.Part+": "+f.Problem+" / "+f.Do)
	}
	all := strings.Join(parts, "\n")
	for _, want := range []string{"network.secret: network.secret does not open", "database: 1 of the", "no longer verify", "murmur repair"} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}

	// The repair leaves out what no longer verifies; the rest stays.
	rep, err := Repair(ctx, dir, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Refused != 1 || rep.Salvaged < 4 {
		t.Fatalf("repair: %+v", rep)
	}
	n, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, _, ok := n.state.Entry(e.ID()); ok {
		t.Fatalf("the altered entry is back")
	}

	// A damaged device key: nothing more can be read.
	if err := os.WriteFile(filepath.Join(dir, keyName), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err = Diagnose(ctx, dir, nil)
	if err != nil || d.Healthy || d.Findings[0].Part != "device key" || !strings.Contains(d.Findings[0].Do, "murmur restore") {
		t.Fatalf("a damaged key: %+v, %v", d, err)
	}
}

// Own entries lost from the middle of this device's chain: the doctor
// says so; after the repair, the entries after the gap wait, and the
// doctor counts on the sync to fill it.
func TestDiagnoseOwnChainGap(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	var lost crdt.ID
	for i := range 4 {
		e, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Request " + string(rune('A'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			lost = e.ID()
		}
	}
	f.Close()
	priv, _ := readDeviceKey(dir, nil)
	sk, _ := storeKey(priv, crdt.PublicKeyOf(priv))
	st, err := store.OpenSQLite(filepath.Join(dir, dbName), sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, nil, []crdt.Change{{ID: lost, From: crdt.StatusAccepted, To: crdt.StatusNone}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	d, err := Diagnose(ctx, dir, nil)
	if err != nil || d.Healthy || !strings.Contains(d.Findings[0].Problem, "own chain of entries has a gap") {
		t.Fatalf("diagnosis: %+v, %v", d, err)
	}
	if _, err := Repair(ctx, dir, nil, false); err != nil {
		t.Fatal(err)
	}
	d, err = Diagnose(ctx, dir, nil)
	if err != nil || !d.Healthy || d.Recovering == nil {
		t.Fatalf("diagnosis after the repair: %+v, %v", d, err)
	}
	if _, err := Repair(ctx, dir, nil, false); !errors.Is(err, ErrHealthy) {
		t.Fatalf("a second repair: %v", err)
	}
}

// A backup and its restore count the same entries, those that wait for an
// earlier one included, and the restore says how many wait (review 6:
// 126 written, 106 restored).
func TestRestoreCountsWhatTheBackupHeld(t *testing.T) {
	ctx := context.Background()
	n, p := founderWithPeer(t, t.TempDir(), 3)
	p.sign(t, n.Network(), &crdt.Request{Type: crdt.Verification, Title: "one"}) // never arrives
	later := p.sign(t, n.Network(), &crdt.Request{Type: crdt.Verification, Title: "two"})
	if rep, err := n.Ingest(ctx, [][]byte{later.Raw()}); err != nil || rep.Waiting != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	file := filepath.Join(t.TempDir(), "founders.backup")
	rep, err := n.Backup(ctx, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := Restore(ctx, file, filepath.Join(t.TempDir(), "restored"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Entries != rep.Entries || rr.Waiting != 1 || rr.Held != 0 {
		t.Fatalf("the backup wrote %d entries; the restore says %d, %d waiting, %d held", rep.Entries, rr.Entries, rr.Waiting, rr.Held)
	}
}
