package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// apart is a network of two organisations whose nodes never connect:
// Alpha founded it and admitted Beta, and Beta's node holds only what the
// join gave it (the genesis entry and the network secret). Both hold their
// organisation's key. Their entries are kept in kind.
func apart(t *testing.T, kind StoreKind) (a, b *Node) {
	t.Helper()
	ctx := context.Background()
	a, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	shareSecret(t, a, b)
	if _, err := a.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// shareSecret hands the network secret from's node holds to the others'
// nodes, as fetchSecret does once they are admitted.
func shareSecret(t testing.TB, from *Node, to ...*Node) {
	t.Helper()
	secret := heldSecret(t, from)
	for _, n := range to {
		if err := n.storeSecret(secret); err != nil {
			t.Fatal(err)
		}
	}
}

func digest(n *Node) string { s := n.Status(); return fmt.Sprintf("%s/%d", s.Digest, s.Entries) }

func mustImport(t *testing.T, n *Node, files ...string) ImportReport {
	t.Helper()
	rep, err := n.ImportBundles(context.Background(), files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustExport(t *testing.T, n *Node, path string, o BundleOptions) ExportReport {
	t.Helper()
	rep, err := n.ExportBundle(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Two nodes that never connect converge through bundles alone, sealed
// entries included: B's summary goes to A, A's answer comes back, B's
// export goes to A, and A's next export to B.
func TestBundlesAloneConverge(t *testing.T) {
	ForEachStore(t, testBundlesAloneConverge)
}

func testBundlesAloneConverge(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	const marker = "MARKER-7f3a"
	for i := range 5 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Alpha asks %d %s", i, marker), Body: marker + " body"}); err != nil {
			t.Fatal(err)
		}
	}

	// Beta's office carries its summary out.
	sum, err := b.WriteSummary(ctx, file("beta.summary"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Devices != 1 {
		t.Fatalf("Beta's summary describes %d devices, want 1 (the founder's genesis chain)", sum.Devices)
	}
	ans := mustExport(t, a, file("for-beta.bundle"), BundleOptions{For: file("beta.summary")})
	if ans.Entries != a.Status().Entries-1 { // all but the genesis entry, which Beta holds
		t.Fatalf("the answer holds %d entries, want %d", ans.Entries, a.Status().Entries-1)
	}
	rep := mustImport(t, b, file("for-beta.bundle"))
	if rep.New != ans.Entries || rep.Held != 0 || rep.Refused != 0 {
		t.Fatalf("Beta imported %+v", rep)
	}
	if digest(a) != digest(b) {
		t.Fatalf("after the answer: %s and %s", digest(a), digest(b))
	}
	if !b.Status().Admitted {
		t.Fatal("Beta does not know it is admitted")
	}

	// Beta now writes, sealed for Alpha too, and sends what Alpha lacks:
	// the bundle Beta received carries Alpha's summary.
	if _, err := b.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	sealedB, err := b.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Beta's sealed " + marker, Body: "for Alpha " + marker, To: []string{"Alpha"}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	back := mustExport(t, b, file("for-alpha.bundle"), BundleOptions{For: file("for-beta.bundle")})
	if back.Entries != 2 { // Beta's org key and its request
		t.Fatalf("Beta's answer holds %d entries, want 2", back.Entries)
	}
	mustImport(t, a, file("for-alpha.bundle"))
	if digest(a) != digest(b) {
		t.Fatalf("after Beta's answer: %s and %s", digest(a), digest(b))
	}
	if txt, err := readText(t, a, sealedB.ID()); err != nil || !strings.Contains(txt, marker) {
		t.Fatalf("Alpha reads Beta's sealed request: %q, %v", txt, err)
	}

	// Alpha remembers what Beta's node held (from Beta's bundle): --org
	// sends only what is new since.
	sealedA, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Alpha's sealed", Body: "for Beta " + marker, To: []string{"Beta"}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	next := mustExport(t, a, file("next.bundle"), BundleOptions{Org: "Beta"})
	if next.Entries != 1 {
		t.Fatalf("--org Beta holds %d entries, want the 1 written since", next.Entries)
	}
	mustImport(t, b, file("next.bundle"))
	if digest(a) != digest(b) {
		t.Fatalf("at the end: %s and %s", digest(a), digest(b))
	}
	if txt, err := readText(t, b, sealedA.ID()); err != nil || !strings.Contains(txt, "for Beta") {
		t.Fatalf("Beta reads Alpha's sealed request: %q, %v", txt, err)
	}

	// No file shows the marker, the network's ID or an organisation's.
	files, _ := filepath.Glob(file("*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		net, org := a.Network(), a.Org()
		for _, s := range [][]byte{[]byte(marker), []byte("Alpha"), []byte("Beta"), net[:8], org[:8], []byte(hex.EncodeToString(net[:])[:16])} {
			if bytes.Contains(raw, s) {
				t.Errorf("%s holds %q", filepath.Base(f), s)
			}
		}
	}
}

// A bundle that is cut short, altered, of another network, restricted to
// another organisation, or a summary, is refused with one line, and
// nothing is stored.
func TestBundleRefused(t *testing.T) {
	ForEachStore(t, testBundleRefused)
}

func testBundleRefused(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	dir := t.TempDir()
	for i := range 300 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Request %d with some words to fill the file", i)}); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(dir, "good.bundle")
	mustExport(t, a, good, BundleOptions{})
	raw, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	altered := bytes.Clone(raw)
	altered[len(raw)/2] ^= 0x20
	other, err := Init(ctx, kind.Dir(t), InitOptions{Org: "Elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign := filepath.Join(dir, "foreign.bundle")
	mustExport(t, other, foreign, BundleOptions{})
	summary := filepath.Join(dir, "a.summary")
	if _, err := a.WriteSummary(ctx, summary); err != nil {
		t.Fatal(err)
	}
	before := digest(b)
	for _, c := range []struct {
		name string
		file string
		want error
	}{
		{"cut short", write("cut.bundle", raw[:len(raw)-1000]), msync.ErrTruncatedBundle},
		{"cut in half", write("cut2.bundle", raw[:len(raw)/2+7]), msync.ErrTruncatedBundle},
		{"altered", write("altered.bundle", altered), msync.ErrDamagedBundle},
		{"another network", foreign, msync.ErrForeignBundle},
		{"not a bundle", write("notes.txt", []byte("minutes of the meeting, nothing else")), msync.ErrNotBundle},
		{"empty", write("empty.bundle", nil), msync.ErrTruncatedBundle},
		{"a summary", summary, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.ImportBundles(ctx, []string{c.file}, nil)
			if err == nil {
				t.Fatal("imported")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), filepath.Base(c.file)) {
				t.Fatalf("not one line naming the file: %q", err)
			}
			if digest(b) != before {
				t.Fatal("something was stored")
			}
		})
	}
	// Given with a good file, a bad one is named and the good one taken.
	rep, err := b.ImportBundles(ctx, []string{filepath.Join(dir, "cut.bundle"), good, summary, foreign}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.New == 0 || len(rep.Problems) != 2 || len(rep.Skipped) != 1 || digest(a) != digest(b) {
		t.Fatalf("a good file among bad ones: %+v", rep)
	}
}

// A bundle for one organisation opens only there, even for members.
func TestBundleToOneOrganisation(t *testing.T) {
	ForEachStore(t, testBundleToOneOrganisation)
}

func testBundleToOneOrganisation(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	shareSecret(t, a, b, g)
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "For Beta only"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "beta.bundle")
	mustExport(t, a, p, BundleOptions{To: "Beta"})
	before := digest(g)
	if _, err := g.ImportBundles(ctx, []string{p}, nil); err == nil || !strings.Contains(err.Error(), "made for Beta only") {
		t.Fatalf("Gamma imports Beta's bundle: %v", err)
	}
	if digest(g) != before {
		t.Fatal("Gamma stored something")
	}
	if rep := mustImport(t, b, p); rep.New != 1 {
		t.Fatalf("Beta imports %+v", rep)
	}
	if digest(a) != digest(b) {
		t.Fatal("Beta did not catch up")
	}
}

// Importing the same bundle again, or an older one, stores nothing, and
// an import cut off resumes where it stopped and ends identical.
func TestBundleReplayAndResume(t *testing.T) {
	ForEachStore(t, testBundleReplayAndResume)
}

func testBundleReplayAndResume(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	old := importBatch
	importBatch = 16
	t.Cleanup(func() { importBatch = old })
	for i := range 100 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Request %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "all.bundle")
	ex := mustExport(t, a, p, BundleOptions{})

	cctx, cancel := context.WithCancel(ctx)
	_, err := b.ImportBundles(cctx, []string{p}, func(pr Progress) {
		if pr.Done >= 40 {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "run the same import again") {
		t.Fatalf("cut-off import: %v", err)
	}
	// What came is kept (and the reopened node agrees).
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.Status().Entries
	if got <= 1 || got >= ex.Entries+1 {
		t.Fatalf("after the cut, Beta holds %d entries of %d", got, ex.Entries+1)
	}
	rep := mustImport(t, b, p)
	if rep.New+rep.Held != ex.Entries || rep.Held == 0 {
		t.Fatalf("resumed: %+v", rep)
	}
	if digest(a) != digest(b) {
		t.Fatal("not identical after resuming")
	}
	again := mustImport(t, b, p)
	if again.New != 0 || again.Held != ex.Entries {
		t.Fatalf("replayed: %+v", again)
	}
}

// Parts of a split export are taken in any order, in one import or
// several.
func TestBundleSplitAnyOrder(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	for i := range 1000 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Request %d", i), Body: strings.Repeat(fmt.Sprintf("text %d of a longer body that does not compress to nothing %x ", i, i*7919), 6)}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "split.bundle")
	ex := mustExport(t, a, p, BundleOptions{Split: msync.MinBundleSize})
	if len(ex.Files) < 3 {
		t.Fatalf("%d parts, want at least 3", len(ex.Files))
	}
	for _, f := range ex.Files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > msync.MinBundleSize {
			t.Fatalf("part %s: %v, %d bytes", f, err, fi.Size())
		}
	}
	// One part missing: the import says which.
	rep := mustImport(t, b, ex.Files[2:]...)
	if len(rep.Missing) == 0 || !strings.Contains(rep.Missing[0], "001") || rep.Waiting == 0 || rep.Dropped != 0 {
		t.Fatalf("without the first part: %+v", rep)
	}
	// The first part alone: what still waits (for part 002) is said,
	// though it came with the earlier import.
	if rep := mustImport(t, b, ex.Files[0]); rep.StillWaiting == 0 {
		t.Fatalf("with part 002 still missing: %+v", rep)
	}
	if rep := mustImport(t, b, ex.Files[1]); rep.StillWaiting != 0 {
		t.Fatalf("with every part: %+v", rep)
	}
	if digest(a) != digest(b) {
		t.Fatalf("%s and %s", digest(a), digest(b))
	}
}

// --since writes the entries written since a time; --org with nothing
// known is refused with what to do.
func TestBundleSinceAndUnknownOrg(t *testing.T) {
	ForEachStore(t, testBundleSinceAndUnknownOrg)
}

func testBundleSinceAndUnknownOrg(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, _ := apart(t, kind)
	clk := a.now()
	a.SetClock(func() time.Time { return clk })
	for i := range 3 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("Old %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	later := clk.Add(48 * time.Hour)
	a.SetClock(func() time.Time { return later })
	for i := range 2 {
		if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("New %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ex := mustExport(t, a, filepath.Join(t.TempDir(), "since.bundle"), BundleOptions{Since: later.Add(-time.Hour)})
	if ex.Entries != 2 {
		t.Fatalf("--since: %d entries, want 2", ex.Entries)
	}
	if _, err := a.ExportBundle(ctx, filepath.Join(t.TempDir(), "x"), BundleOptions{Org: "Beta"}); !errors.Is(err, ErrNothingKnown) {
		t.Fatalf("--org with nothing known: %v", err)
	}
}

// A member cannot make a node believe another organisation's node holds
// what it does not: the header is signed by the device it names.
func TestBundleMakerIsChecked(t *testing.T) {
	ForEachStore(t, testBundleMakerIsChecked)
}

func testBundleMakerIsChecked(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	key := msync.BundleKey{Secret: heldSecret(t, a), Network: a.Network()}
	g.mu.Lock()
	held, err := g.holdings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all := msync.Summarise(held)
	g.mu.Unlock()
	h := msync.Header{Kind: msync.KindBundle, Network: a.Network(), Device: b.Device(), Made: time.Now(), Part: 1, Summary: all}
	h.Sig = crdt.SignWith(g.key, h.SignedPart()) // Gamma signs, claiming Beta's device
	p := filepath.Join(t.TempDir(), "forged.bundle")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	bw, err := msync.NewBundleWriter(f, key, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(true); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep := mustImport(t, a, p)
	if len(rep.From) != 0 {
		t.Fatalf("the forged bundle is said to come from %v", rep.From)
	}
	a.mu.Lock()
	_, known := a.knownHoldings(ctx)[b.Org()]
	a.mu.Unlock()
	if known {
		t.Fatal("Alpha believes Beta's node holds what Gamma said")
	}
	// Signed by Beta's device, it counts.
	h.Sig = crdt.SignWith(b.key, h.SignedPart())
	f, _ = os.Create(p)
	bw, _ = msync.NewBundleWriter(f, key, h, nil)
	bw.Close(true)
	f.Close()
	if rep := mustImport(t, a, p); len(rep.From) != 1 || rep.From[0] != "Beta" {
		t.Fatalf("Beta's own bundle is said to come from %v", rep.From)
	}
}

// A reconciliation this node started that ended well tells it what the
// other organisation's node holds: --org then writes only what came since.
func TestBundleOrgAfterSync(t *testing.T) {
	ctx := context.Background()
	f, _, b, br, _ := twoOrgs(t)
	// (Alpha's runner starts one with every peer every second or so:
	// loopbackNode.)
	eventually(t, 30*time.Second, "a session Alpha started with Beta's node ends well", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.knownHoldings(ctx)[b.Org()].Cursor > 0
	})
	br.Close()
	total := f.Status().Entries
	for i := range 2 {
		if _, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: fmt.Sprintf("After %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ex := mustExport(t, f, filepath.Join(t.TempDir(), "org.bundle"), BundleOptions{Org: "Beta Collective"})
	if ex.Entries < 2 || ex.Entries >= total {
		t.Fatalf("--org after a sync: %d entries of %d, want the 2 new and few others", ex.Entries, total+2)
	}
}

// Entries another process stores (a bundle imported beside the running
// node) reach the node's peers at once, not at the next periodic
// reconciliation: the runners' clock here moves by less than two seconds,
// by the store poll's period only, so neither periodic ones nor the one
// after gossip's warm-up (2.5 s) ever come; a retry after a session that
// was under way (1 s, on a loaded machine) may.
func TestImportedEntriesReachPeersAtOnce(t *testing.T) {
	ForEachStore(t, testImportedEntriesReachPeersAtOnce)
}

func testImportedEntriesReachPeersAtOnce(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b := apart(t, kind)
	exchange(t, a, b)
	// A third organisation, admitted by Alpha, writes while apart. (Before
	// the nodes run: the admission reaches Beta by their first sync, not by
	// gossip later, which could start a sync of its own.)
	x, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if err := x.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	adm, err := a.Append(ctx, &crdt.Admission{Device: x.Device(), Name: "Gamma"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Ingest(ctx, entriesOf(a)); err != nil {
		t.Fatal(err)
	}
	req, err := x.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Carried by hand"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	clk := p2p.NewManualClock(start)
	// The periodic reconciliation is 5 minutes away at least, on the
	// runners' clock, which the test drives; so the only syncs are the
	// ones the nodes start when they connect and once gossip warmed up
	// (msync.GossipWarmUp), and the one this test is about.
	opts := p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Clock: clk, PollEvery: 20 * time.Millisecond, SyncEvery: 10 * time.Minute}
	ra, err := p2p.Start(t.Context(), a, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ra.Close() })
	opts.Peers = ra.Addrs()
	rb, err := p2p.Start(t.Context(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	eventually(t, 20*time.Second, "the two nodes connect", func() bool { return len(rb.Host().Network().Peers()) > 0 })
	// Let the syncs of the connection and of the warm-up (and any retried
	// because the other side's was under way) happen and end: past the
	// warm-up, no session ends for longer than the warm-up, so that no
	// warm-up sync is due either (a second connection between the two,
	// which their dial loops can make, starts one too).
	sessions, still := -1, 0
	eventually(t, 20*time.Second, "the first syncs end", func() bool {
		clk.Advance(20 * time.Millisecond)
		n := ra.Traffic().Sync.Sessions + rb.Traffic().Sync.Sessions
		if n != sessions {
			sessions, still = n, 0
		} else {
			still++
		}
		return clk.Now().Sub(start) > 2*msync.GossipWarmUp && still >= 150 && b.Has(adm.ID())
	})

	// Another process on Beta's directory stores Gamma's entries.
	other, err := Open(ctx, b.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Ingest(ctx, entriesOf(x)); err != nil {
		t.Fatal(err)
	}
	// Nothing but Beta's node finding them in its store (its poll) starts
	// a sync now, until the periodic one minutes of the clock away.
	eventually(t, 20*time.Second, "Alpha's node receives what was stored beside Beta's", func() bool {
		if clk.Now().Sub(start) < 4*time.Minute {
			clk.Advance(20 * time.Millisecond)
		}
		return a.Has(req.ID())
	})
}

// A revoked device keeps the network secret, but a bundle made after its
// revocation is not sealed for it, and its summary is not answered.
func TestRevokedDeviceCannotReadBundles(t *testing.T) {
	ForEachStore(t, testRevokedDeviceCannotReadBundles)
}

func testRevokedDeviceCannotReadBundles(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	shareSecret(t, a, b, g)
	dir := t.TempDir()
	gsum := filepath.Join(dir, "gamma.summary")
	if _, err := g.WriteSummary(ctx, gsum); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ForceRevokeDevice(ctx, g.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "After Gamma's device was taken"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "after.bundle")
	mustExport(t, a, p, BundleOptions{})
	before := digest(g)
	if _, err := g.ImportBundles(ctx, []string{p}, nil); err == nil || !strings.Contains(err.Error(), "cannot open it") {
		t.Fatalf("the revoked device imports: %v", err)
	}
	if digest(g) != before {
		t.Fatal("the revoked device stored something")
	}
	// What it writes after its revocation, carried to a member, counts
	// for nothing, and the import says so.
	if _, err := g.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Written by whoever holds the device"}); err != nil {
		t.Fatal(err)
	}
	gb := filepath.Join(dir, "from-gamma.bundle")
	mustExport(t, g, gb, BundleOptions{Since: time.Now().Add(-time.Minute)})
	if rep := mustImport(t, a, gb); rep.New != 0 || rep.Refused == 0 {
		t.Fatalf("Alpha imports the revoked device's bundle: %+v", rep)
	}
	// Told of its revocation, it says so.
	exchange(t, a, g)
	if _, err := g.ImportBundles(ctx, []string{p}, nil); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("the revoked device, told, imports: %v", err)
	}
	if _, err := a.ExportBundle(ctx, filepath.Join(dir, "answer.bundle"), BundleOptions{For: gsum}); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked device's summary is answered: %v", err)
	}
	if rep := mustImport(t, b, p); rep.New == 0 {
		t.Fatalf("Beta imports: %+v", rep)
	}
}

// secondDevice adds a device to a's organisation, holding what a holds and
// the network secret, and keeping its entries in kind.
func secondDevice(t *testing.T, kind StoreKind, a *Node, label string) *Node {
	t.Helper()
	ctx := context.Background()
	d, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis(), Org: a.Org()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.DeviceAdded{Device: d.Device(), Org: a.Org(), Label: label}); err != nil {
		t.Fatal(err)
	}
	shareSecret(t, a, d)
	if _, err := d.Ingest(ctx, entriesOf(a)); err != nil {
		t.Fatal(err)
	}
	return d
}

// A device cut off while another device of its organisation was revoked
// (and the organisation's key replaced) still reads the bundles it is
// sent: they are sealed for each device with standing too.
func TestCutOffDeviceReadsAfterSiblingRevoked(t *testing.T) {
	ForEachStore(t, testCutOffDeviceReadsAfterSiblingRevoked)
}

func testCutOffDeviceReadsAfterSiblingRevoked(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, _ := apart(t, kind)
	field := secondDevice(t, kind, a, "field laptop")
	stolen := secondDevice(t, kind, a, "stolen phone")
	if _, err := a.EnsureOrgKey(ctx); err != nil { // the key handed to all three
		t.Fatal(err)
	}
	if _, err := field.Ingest(ctx, entriesOf(a)); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	before, _ := a.currentOrgKey(a.Org())
	a.mu.Unlock()
	if _, err := a.ForceRevokeDevice(ctx, stolen.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	after, err := a.currentOrgKey(a.Org())
	a.mu.Unlock()
	if err != nil || after == before {
		t.Fatalf("the fixture: no new key after the revocation (%v)", err)
	}
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "While the field laptop was cut off"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "for-field.bundle")
	mustExport(t, a, p, BundleOptions{})
	if rep := mustImport(t, field, p); rep.New == 0 {
		t.Fatalf("the field laptop imports: %+v", rep)
	}
	if digest(field) != digest(a) {
		t.Fatal("the field laptop did not catch up")
	}
	if _, err := stolen.ImportBundles(ctx, []string{p}, nil); err == nil {
		t.Fatal("the stolen phone reads the bundle")
	}
}

// A summary made by a device the exporter does not know is not answered
// with a file its maker could not open.
func TestSummaryOfAnUnknownDevice(t *testing.T) {
	ForEachStore(t, testSummaryOfAnUnknownDevice)
}

func testSummaryOfAnUnknownDevice(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, _ := apart(t, kind)
	stranger, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if err := stranger.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	shareSecret(t, a, stranger)
	dir := t.TempDir()
	sum := filepath.Join(dir, "unknown.summary")
	if _, err := stranger.WriteSummary(ctx, sum); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExportBundle(ctx, filepath.Join(dir, "answer"), BundleOptions{For: sum}); err == nil || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("answering an unknown device's summary: %v", err)
	}
}
