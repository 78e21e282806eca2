package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// bundleBodies are the kinds of body the bundle section measures: the
// repeated letter the other sections use, which DEFLATE all but erases,
// and case notes, which it does not.
var bundleBodies = []struct {
	name string
	body func(int) []byte
}{
	{"repeated-letter bodies", body},
	{"case-note bodies", caseNote},
}

// bundleResult is one measurement of the bundle section.
type bundleResult struct {
	entries   int           // entries exported (those written, and the network's own)
	encoded   int64         // their encoded size
	file      int64         // the bundle's size
	export    time.Duration // ExportBundle
	imported  time.Duration // ImportBundles into a fresh node
	catchUp   time.Duration // the same entries pulled over loopback
	floorTime time.Duration // ed25519 verify + SQLite insert of them, all cores
	new, held int
	// Each round's import and catch-up, sorted.
	imports, pulls []time.Duration
}

// bundles measures, for each kind of body, a bundle of entries written by
// several organisations: its size against the entries' encoded size, the
// time to export it and to import it into a fresh node of the network,
// beside the machine's floor and a catch-up of the same entries over
// loopback, measured in the same run.
//
// If profile is not empty, CPU profiles of the first imports are written to
// profile with the kind of body appended (".repeated-letter", ".case-note").
func bundles(ctx context.Context, w io.Writer, entries int, profile string) error {
	fmt.Fprintf(w, "bundles: %d entries from %d organisations, exported whole (node.ExportBundle) and imported into a fresh member's node (node.ImportBundles); times are medians of %d rounds\n", entries, catchUpOrgs, bundleRounds)
	fmt.Fprintf(w, "  %-24s %8s %9s %8s %9s %9s %14s %9s %9s %9s\n", "bodies", "MB", "B/entry", "x enc.", "export s", "import s", "entries/s", "x floor", "catch-up", "x catch")
	for _, b := range bundleBodies {
		p := ""
		if profile != "" {
			p = profile + "." + strings.TrimSuffix(strings.ReplaceAll(b.name, " ", "-"), "-bodies")
		}
		r, err := measureBundle(ctx, entries, b.body, p)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		n := float64(r.entries)
		fmt.Fprintf(w, "  %-24s %8.2f %9.1f %8.3f %9.2f %9.2f %14.0f %9.2f %8.2fs %9.2f\n", b.name,
			float64(r.file)/1e6, float64(r.file)/n, float64(r.file)/float64(r.encoded),
			r.export.Seconds(), r.imported.Seconds(), n/r.imported.Seconds(),
			r.imported.Seconds()/r.floorTime.Seconds(), r.catchUp.Seconds(), r.imported.Seconds()/r.catchUp.Seconds())
		fmt.Fprintf(w, "  %-24s encoded %.0f B/entry; import took %d new, %d already held; floor (ed25519 verify + SQLite insert, %d cores) %.2f s\n", "",
			float64(r.encoded)/n, r.new, r.held, runtime.GOMAXPROCS(0), r.floorTime.Seconds())
		fmt.Fprintf(w, "  %-24s rounds: import %s s; catch-up %s s\n", "", seconds(r.imports), seconds(r.pulls))
	}
	fmt.Fprintf(w, "  targets: the file no larger than the encoded entries (x enc. <= 1.0); import within 1.2x the catch-up over loopback (x catch <= 1.2)\n")
	return nil
}

// bundleRounds is how many times each of export, import and catch-up is
// measured: on a shared machine one run says little, so the section
// reports medians, and the rounds of import and catch-up alternate.
const bundleRounds = 3

// measureBundle builds a network of a founder, catchUpOrgs writing
// organisations and 2 x bundleRounds fresh members' nodes: importers,
// which receive the network's secret from the founder's node (as every
// admitted member's node does) and later each import the bundle, and
// pullers, which each catch up over loopback.
//
// If profile is not empty, a CPU profile of the first import is written
// there.
func measureBundle(ctx context.Context, entries int, bodyOf func(int) []byte, profile string) (bundleResult, error) {
	var res bundleResult
	tmp, err := os.MkdirTemp("", "murmur-bundle-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	now := time.Now()
	full, err := node.Init(ctx, filepath.Join(tmp, "full"), node.InitOptions{Org: "Bundle founders", Now: func() time.Time { return now }})
	if err != nil {
		return res, err
	}
	defer full.Close()
	var importers, pullers []*node.Node
	for i := range 2 * bundleRounds {
		n, err := node.Provision(ctx, filepath.Join(tmp, fmt.Sprint("fresh", i)), node.ProvisionOptions{Genesis: full.Genesis()})
		if err != nil {
			return res, err
		}
		defer n.Close()
		if err := n.Unlock(nil); err != nil {
			return res, err
		}
		if _, err := full.Append(ctx, &crdt.Admission{Device: n.Device(), Name: fmt.Sprint("Fresh ", i)}); err != nil {
			return res, err
		}
		if i%2 == 0 {
			importers = append(importers, n)
		} else {
			pullers = append(pullers, n)
		}
	}
	writers := make([]*author, catchUpOrgs)
	for i := range writers {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(2000+i))
		writers[i] = &author{priv: crdt.KeyFromSeed(seed)}
		if _, err := full.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(writers[i].priv), Name: fmt.Sprintf("Writer %d", i)}); err != nil {
			return res, err
		}
	}

	// The importers get the network's secret the way a member's node
	// does: from a member's node they sync with, once admitted. They stop
	// before the entries are written, so that these reach them by the
	// bundle only.
	listen := []string{"/ip4/127.0.0.1/tcp/0"}
	fullR, err := p2p.Start(ctx, full, p2p.RunOptions{Listen: listen})
	if err != nil {
		return res, err
	}
	defer fullR.Close()
	for _, imp := range importers {
		if err := func() error {
			impR, err := p2p.Start(ctx, imp, p2p.RunOptions{Listen: listen})
			if err != nil {
				return err
			}
			defer impR.Close()
			if err := impR.Host().Connect(ctx, peer.AddrInfo{ID: fullR.Host().ID(), Addrs: fullR.Host().Addrs()}); err != nil {
				return fmt.Errorf("connecting an importer: %w", err)
			}
			return waitFor(ctx, 2*time.Minute, "an importer receives the network's secret", imp.HasSecret)
		}(); err != nil {
			return res, err
		}
	}

	raws := make([][]byte, entries)
	start := uint64(now.UnixMilli()) + 1
	for i := range raws {
		a := writers[i%len(writers)]
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: full.Network(), Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, full.State().MaxClock(), start+uint64(i)), Kind: crdt.KindRequest, Body: bodyOf(i)})
		if err != nil {
			return res, err
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		raws[i] = e.Raw()
	}
	const batch = 1000
	for lo := 0; lo < len(raws); lo += batch {
		rep, err := full.Ingest(ctx, raws[lo:min(lo+batch, len(raws))])
		if err != nil {
			return res, err
		}
		if rep.Accepted != min(batch, len(raws)-lo) {
			return res, fmt.Errorf("the full node took in %+v", rep)
		}
	}
	var wantIDs []crdt.ID
	full.State().Accepted(func(e *crdt.Entry) { wantIDs = append(wantIDs, e.ID()) })
	holdsAll := func(n *node.Node) func() bool {
		return func() bool {
			for _, id := range wantIDs {
				if !n.Has(id) {
					return false
				}
			}
			return true
		}
	}

	var floors []time.Duration
	for r := range bundleRounds {
		floor, err := measureFloor(filepath.Join(tmp, fmt.Sprintf("floor-%d.db", r)), raws, batch, runtime.GOMAXPROCS(0))
		if err != nil {
			return res, err
		}
		floors = append(floors, time.Duration(float64(time.Second)*float64(len(raws))/floor))
	}
	res.floorTime = median(floors)

	// The export: every accepted entry the full node holds, all of them
	// written by then (no peer is connected).
	var encoded int64
	full.State().Accepted(func(e *crdt.Entry) { encoded += int64(len(e.Raw())) })
	var exp node.ExportReport
	var exports []time.Duration
	for r := range bundleRounds {
		t0 := time.Now()
		exp, err = full.ExportBundle(ctx, filepath.Join(tmp, fmt.Sprintf("all-%d.murmur", r)), node.BundleOptions{})
		if err != nil {
			return res, fmt.Errorf("export: %w", err)
		}
		exports = append(exports, time.Since(t0))
	}
	res.export = median(exports)
	res.entries, res.encoded, res.file = exp.Entries, encoded, exp.Bytes

	// Rounds: a catch-up of the same entries over loopback (as catchUp
	// measures it), then an import into a fresh node.
	var pulls, imports []time.Duration
	for r := range bundleRounds {
		took, _, err := pull(ctx, fullR, pullers[r], holdsAll(pullers[r]), entries)
		if err != nil {
			return res, err
		}
		pulls = append(pulls, took)

		p := ""
		if r == 0 {
			p = profile
		}
		stop, err := startProfile(p)
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		imp, err := importers[r].ImportBundles(ctx, exp.Files, nil)
		took = time.Since(t0)
		if err := stop(); err != nil {
			return res, err
		}
		if err != nil {
			return res, fmt.Errorf("import: %w", err)
		}
		imports = append(imports, took)
		res.new, res.held = imp.New, imp.Held
		if imp.Refused > 0 || imp.Waiting > 0 || imp.New < entries || !holdsAll(importers[r])() {
			return res, fmt.Errorf("the import took %+v: it should hold all %d entries", imp, len(wantIDs))
		}
	}
	res.catchUp, res.imported = median(pulls), median(imports)
	res.pulls, res.imports = pulls, imports
	return res, nil
}

func seconds(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(out, " ")
}

// median is the middle of xs (the upper one if there are two); it sorts
// xs.
func median[T cmp.Ordered](xs []T) T {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// startProfile starts a CPU profile written to path, if not empty, and
// returns what stops it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// waitFor waits, until the deadline, for ok.
func waitFor(ctx context.Context, limit time.Duration, what string, ok func() bool) error {
	deadline := time.After(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("%s: not after %v", what, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Case notes: what a protection network's requests say, made by a
// generator seeded with the entry's number: names, places, numbers and
// sentences of words drawn from a vocabulary of a few hundred, so that the
// text compresses under DEFLATE to about 30% (English prose: 35-40%), not
// like one repeated letter (to almost nothing).
var (
	noteNames   = strings.Fields("Amina Joseph Halima Baraka Neema Juma Rehema Emmanuel Zawadi Daudi Furaha Hassan Upendo Salim Grace Omari Mariam Kassim Agnes Rashidi Esther Musa Tumaini Bakari Fatuma Elias Saida Peter Winfrida Idrisa Anyango Otieno Wanjiru Kamau Achieng Odhiambo Nakato Okello Uwase Habimana")
	noteSurname = strings.Fields("Mwakyusa Kimaro Nyerere Massawe Mrema Shirima Mushi Lyimo Komba Mbwambo Temba Swai Urassa Kessy Minja Moshi Msuya Ngowi Haule Mapunda Ochieng Mutua Wambui Kiprop Nsubuga Mugisha Niyonzima Bizimana Ndayishimiye Kabila")
	noteRegions = strings.Fields("TZ KE UG RW BI CD MZ ZM MW ET")
	notePlaces  = strings.Fields("Arusha Dodoma Mwanza Mbeya Tanga Morogoro Kigoma Moshi Iringa Musoma Bukoba Songea Nairobi Kisumu Mombasa Eldoret Nakuru Kampala Gulu Mbarara Kigali Huye Goma Bukavu Bujumbura Gitega Lilongwe Blantyre Lusaka Maputo")
	noteRoles   = []string{"journalist", "lawyer", "land rights defender", "trade unionist", "student leader", "radio host", "monitor", "election observer", "LGBTI activist", "environmental defender", "paralegal", "teacher", "nurse", "blogger"}
	noteTitles  = []string{"Relocation for %s in %s", "Legal fees for %s, %s", "Medical care: %s, %s", "Rent for %s after eviction in %s", "Verification of %s from %s", "Security for %s, %s", "Emergency grant: %s, %s"}
	noteWords   = strings.Fields(`the a of to and in for on with after before at by from was were is are has had have been
		his her their our its they she he we who which that this these there when while since until about against
		police officers soldiers militia unknown men group local authorities district commissioner court magistrate
		prosecutor lawyer family children wife husband mother brother sister colleagues neighbours landlord employer
		arrested detained released charged questioned summoned beaten threatened followed photographed visited raided
		searched seized confiscated evicted dismissed suspended banned blocked hacked reported published posted filmed
		interviewed organised attended protested petitioned appealed fled moved hid returned stayed asked needs requests
		phone laptop camera office house home shop farm land plot school clinic hospital station cell prison border
		bus taxi motorcycle night morning evening week month year days weeks months hours twice three times again
		story article broadcast report video photos documents evidence statement complaint case file hearing bail
		fine fee rent transport food medicine treatment surgery counselling shelter housing relocation visa passport
		safe unsafe urgent serious minor injured sick pregnant elderly young alone together quickly slowly publicly
		secretly without warrant charge reason notice permission consent access contact support help funds money
		mining company plantation project dam road market cooperative union association network committee council
		election campaign vote ballot candidate party opposition ruling government ministry minister governor chief
		village town ward region province capital north south east west near outside inside across along through
		corruption violence abuse torture harassment intimidation surveillance censorship discrimination eviction
		rights freedom expression assembly association press speech justice dignity equality health education land
		partner organisation verified confirmed knows known trusted referred recommended checked called met`)
)

// caseNote is a request body of exactly bodySize bytes whose text reads
// like a case note.
func caseNote(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 0x6d75726d7572))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	place := pick(notePlaces)
	r := &crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf(pick(noteTitles), pick(noteRoles), place), Region: pick(noteRegions)}
	var text strings.Builder
	fmt.Fprintf(&text, "Ref %s-%05d. %s %s, %s, %s, born %d.", r.Region, rng.IntN(100000), pick(noteNames), pick(noteSurname), pick(noteRoles), place, 1950+rng.IntN(55))
	for text.Len() < bodySize {
		text.WriteByte(' ')
		for k := 4 + rng.IntN(10); k > 0; k-- {
			text.WriteString(pick(noteWords))
			text.WriteByte(' ')
		}
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&text, "on %d %s", 1+rng.IntN(28), pick(strings.Fields("January February March April May June July August September October November December")))
		case 1:
			fmt.Fprintf(&text, "%d USD", 50*(1+rng.IntN(60)))
		case 2:
			fmt.Fprintf(&text, "+255 7%02d %03d %03d", rng.IntN(100), rng.IntN(1000), rng.IntN(1000))
		default:
			text.WriteString(pick(notePlaces))
		}
		text.WriteByte('.')
	}
	// Cut the text to fit; the length's varint may shrink with it, so
	// fit again (a few rounds at most).
	b, _ := crdt.EncodeBody(r)
	all := text.String()
	room := bodySize - len(b) - 3
	for range 4 {
		r.Text = all[:room]
		b, _ = crdt.EncodeBody(r)
		if len(b) == bodySize {
			break
		}
		room += bodySize - len(b)
	}
	if len(b) != bodySize {
		panic(fmt.Sprintf("case note is %d bytes", len(b)))
	}
	return b
}
