// Command murmur-bench measures how fast a node takes in and writes entries,
// beside the floor of the machine it runs on, measured in the same run:
// what any implementation must pay per entry (an ed25519 verification and a
// SQLite insert of the same bytes). Ratios, not bare times, are what
// compare across machines. `make bench` runs it.
package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
	"github.com/murmurnet/murmur/testnet"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == rssFlag {
		os.Exit(runMeasured(os.Args[2:]))
	}
	cfg := config{}
	flag.IntVar(&cfg.entries, "entries", 100_000, "entries to ingest")
	flag.IntVar(&cfg.batch, "batch", 1000, "entries per ingest batch (one transaction each)")
	flag.IntVar(&cfg.appends, "appends", 1000, "local appends (one durable commit each)")
	flag.IntVar(&cfg.authors, "authors", 20, "organisations writing the ingested entries")
	recon := flag.Bool("recon", true, "also print the reconciliation table (N = 10k, 100k, 1M)")
	flag.IntVar(&cfg.catchUp, "catchup", 100_000, "entries a fresh node pulls from a peer over loopback (0: skip)")
	flag.IntVar(&cfg.bundle, "bundle", 10_000, "entries in the bundle exported and imported, beside a catch-up of the same entries (0: skip)")
	flag.IntVar(&cfg.satellite, "satellite", 1, "a day's work over a simulated 32 kbit/s, 800 ms link: 1 at full scale (about 80 s), N to run it N times faster and scale back, 0 to skip")
	flag.BoolVar(&cfg.testnet, "testnet", true, "also measure a 20-node in-process testnet: convergence after a heal, propagation latency")
	flag.StringVar(&cfg.importProfile, "importprofile", "", "write CPU profiles of the bundle section's imports to this file (the kind of body appended)")
	scaleSizes := flag.String("scale", "100000", "entries in the scale section's data directories, comma-separated (100000,1000000); 0: skip")
	flag.IntVar(&cfg.scaleRuns, "scale-runs", 15, "runs of each CLI command in the scale section")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	only := flag.String("only", "", "run only this part: recon (the reconciliation table), catchup (a fresh node pulling -catchup entries over loopback), bundle (bundle size, export and import), satellite (a day's work over a simulated 32 kbit/s, 800 ms link), scale (CLI commands and murmur run on large data directories)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "murmur-bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	sizes, err := parseSizes(*scaleSizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "murmur-bench:", err)
		os.Exit(2)
	}
	cfg.scale = sizes
	switch *only {
	case "":
	case "scale":
		if err := scale(context.Background(), os.Stdout, cfg.scale, cfg.scaleRuns); err != nil {
			fmt.Fprintln(os.Stderr, "murmur-bench: scale:", err)
			os.Exit(1)
		}
		return
	case "recon":
		reconTable(os.Stdout, reconNs, reconDs)
		return
	case "catchup":
		if err := catchUp(context.Background(), os.Stdout, cfg.catchUp, 0); err != nil {
			fmt.Fprintln(os.Stderr, "murmur-bench: catch-up:", err)
			os.Exit(1)
		}
		return
	case "bundle":
		if err := bundles(context.Background(), os.Stdout, cfg.bundle, cfg.importProfile); err != nil {
			fmt.Fprintln(os.Stderr, "murmur-bench: bundles:", err)
			os.Exit(1)
		}
		return
	case "satellite":
		if err := satellite(context.Background(), os.Stdout, max(cfg.satellite, 1)); err != nil {
			fmt.Fprintln(os.Stderr, "murmur-bench: satellite:", err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintf(os.Stderr, "murmur-bench: -only %q: the parts are: recon, catchup, bundle, satellite, scale\n", *only)
		os.Exit(2)
	}
	if *recon {
		cfg.reconN = reconNs
	}
	if err := run(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "murmur-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	entries, batch, appends, authors int
	reconN                           []int // set sizes for the reconciliation table; none: skip it
	catchUp                          int   // entries a fresh node pulls over loopback; 0: skip
	bundle                           int   // entries in the bundle exported and imported; 0: skip
	importProfile                    string
	satellite                        int   // the satellite profile's time scale (1: real time); 0: skip
	testnet                          bool  // 20-node convergence and propagation latency
	scale                            []int // data directory sizes for the scale section; none: skip
	scaleRuns                        int   // runs of each CLI command there
}

const bodySize = 200

type author struct {
	priv  []byte
	seq   uint64
	head  crdt.ID
	clock crdt.Clock
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	tmp, err := os.MkdirTemp("", "murmur-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// A network whose founder admitted cfg.authors organisations; the
	// ingesting node starts from a copy of that (genesis and admissions).
	now := time.Now()
	founder, err := node.Init(ctx, filepath.Join(tmp, "founder"), node.InitOptions{Org: "Bench founders", Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	authors := make([]*author, cfg.authors)
	for i := range authors {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(i+1))
		authors[i] = &author{priv: crdt.KeyFromSeed(seed)}
		if _, err := founder.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(authors[i].priv), Name: fmt.Sprintf("Org %d", i)}); err != nil {
			return err
		}
	}
	founder.Close()
	for _, name := range []string{"ingest", "ingest-one", "append"} {
		if err := copyDir(filepath.Join(tmp, "founder"), filepath.Join(tmp, name)); err != nil {
			return err
		}
	}

	// Entries signed elsewhere, each with a 200-byte body.
	network := founder.Network()
	raws := make([][]byte, cfg.entries)
	start := uint64(now.UnixMilli())
	for i := range raws {
		a := authors[i%len(authors)]
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: network, Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, 0, start+uint64(i)), Kind: crdt.KindRequest, Body: body(i)})
		if err != nil {
			return err
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		raws[i] = e.Raw()
	}
	entryBytes := len(raws[0])

	floor, err := measureFloor(filepath.Join(tmp, "floor.db"), raws, cfg.batch, 1)
	if err != nil {
		return err
	}
	floorAll, err := measureFloor(filepath.Join(tmp, "floor-all.db"), raws, cfg.batch, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	ingest, err := measureIngest(ctx, filepath.Join(tmp, "ingest"), raws, cfg.batch, true)
	if err != nil {
		return err
	}
	ingestOne, err := measureIngest(ctx, filepath.Join(tmp, "ingest-one"), raws, cfg.batch, false)
	if err != nil {
		return err
	}
	sealPer, openPer, err := store.MeasureSealing(raws)
	if err != nil {
		return err
	}
	durableFloor, appendRate, appendRatio, err := measureAppend(ctx, filepath.Join(tmp, "durable.db"), filepath.Join(tmp, "append"), raws[:min(cfg.appends, len(raws))])
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "murmur-bench: %s/%s, %d cores, %s; entries with a %d-byte body (%d bytes encoded)\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), bodySize, entryBytes)
	tw := func(what string, rate float64, unit, vs string) {
		fmt.Fprintf(w, "  %-62s %10.0f %-10s %s\n", what, rate, unit, vs)
	}
	tw(fmt.Sprintf("floor: ed25519 verify + SQLite insert, 1 core, batches of %d", cfg.batch), floor, "entries/s", "")
	tw(fmt.Sprintf("floor: the same, verifying on all %d cores", runtime.GOMAXPROCS(0)), floorAll, "entries/s", "")
	tw(fmt.Sprintf("ingest: decode, verify, validate, store, batches of %d", cfg.batch), ingest, "entries/s",
		fmt.Sprintf("%.2fx the 1-core floor, %.2fx the all-core floor (target 0.7x); verifying a batch while the one before is stored, as sync and import do", ingest/floor, ingest/floorAll))
	tw("ingest, one batch at a time", ingestOne, "entries/s",
		fmt.Sprintf("%.2fx the 1-core floor, %.2fx the all-core floor", ingestOne/floor, ingestOne/floorAll))
	sealShare := sealPer.Seconds() * ingest // the share of the ingest time
	fmt.Fprintf(w, "  %-62s %10.1f %-10s %s\n", "sealing at rest (XChaCha20-Poly1305): seal one entry, in ingest", sealPer.Seconds()*1e6, "µs",
		fmt.Sprintf("%.1f%% of ingest: %.3fx the time it would take without; opening one at load %.1f µs", 100*sealShare, 1/(1-sealShare), openPer.Seconds()*1e6))
	tw("floor: ed25519 sign + SQLite insert, one durable commit each", durableFloor, "entries/s", "")
	tw("append: local write (sign, check, one durable commit each)", appendRate, "entries/s",
		fmt.Sprintf("%.2fx the durable floor, %.2fx the batched 1-core floor", appendRatio, appendRate/floor))
	fmt.Fprintf(w, "\n  %d entries ingested, %d appended; durable = WAL with synchronous=FULL (an fsync per commit); the durable floor and append\n  alternate in %d rounds (medians shown), as a disk's commit time on a shared machine swings from one minute to the next.\n", len(raws), min(cfg.appends, len(raws)), appendRounds)
	if len(cfg.reconN) > 0 {
		reconTable(w, cfg.reconN, reconDs)
	}
	if cfg.catchUp > 0 {
		fmt.Fprintln(w)
		if err := catchUp(ctx, w, cfg.catchUp, sealPer); err != nil {
			return fmt.Errorf("catch-up: %w", err)
		}
	}
	if cfg.bundle > 0 {
		fmt.Fprintln(w)
		if err := bundles(ctx, w, cfg.bundle, cfg.importProfile); err != nil {
			return fmt.Errorf("bundles: %w", err)
		}
	}
	if cfg.satellite > 0 {
		fmt.Fprintln(w)
		if err := satellite(ctx, w, cfg.satellite); err != nil {
			return fmt.Errorf("satellite: %w", err)
		}
	}
	if len(cfg.scale) > 0 {
		fmt.Fprintln(w)
		if err := scale(ctx, w, cfg.scale, cfg.scaleRuns); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	if cfg.testnet {
		fmt.Fprintln(w)
		if err := testnet.Bench(ctx, w); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	return nil
}

// The reconciliation table's rows: set sizes and differences.
var (
	reconNs = []int{10_000, 100_000, 1_000_000}
	reconDs = []int{0, 1, 100, 10_000}
)

// reconTable prints reconciliation's round trips and bytes (messages only:
// the entries themselves travel besides) for sets of N with d differences.
func reconTable(w io.Writer, ns, ds []int) {
	fmt.Fprintf(w, "\nreconciliation, messages only (targets: N=1M, d=1 in at most 3 round trips and 1.5 KB, as Negentropy's analysis gets; N=1M, d=10,000 in at most 6)\n")
	fmt.Fprintf(w, "  %9s %7s %12s %14s\n", "N", "d", "round trips", "bytes")
	for _, r := range msync.ReconTable(ns, ds) {
		ok := ""
		if !r.Converged {
			ok = "  DID NOT CONVERGE"
		}
		fmt.Fprintf(w, "  %9d %7d %12d %14d%s\n", r.N, r.D, r.RoundTrips, r.TotalBytes, ok)
	}
}

// body is a request body of exactly bodySize bytes.
func body(i int) []byte {
	r := &crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("Applicant %d", i), Region: "TZ"}
	b, _ := crdt.EncodeBody(r)
	r.Text = strings.Repeat("x", bodySize-len(b)-3)
	b, _ = crdt.EncodeBody(r)
	if len(b) != bodySize {
		panic(fmt.Sprintf("body is %d bytes", len(b)))
	}
	return b
}

const floorSchema = `CREATE TABLE entries (cursor INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, raw BLOB NOT NULL)`

func openFloor(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(floorSchema)
	return db, err
}

// measureFloor: verify each entry's signature (crypto/ed25519, spread over
// cores goroutines) and insert its bytes under its ID, one transaction per
// batch.
func measureFloor(path string, raws [][]byte, batch, cores int) (float64, error) {
	db, err := openFloor(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	type parsed struct {
		pub, msg, sig, id []byte
	}
	ps := make([]parsed, len(raws))
	for i, raw := range raws { // parsing is not part of the floor
		e, err := crdt.Decode(raw)
		if err != nil {
			return 0, err
		}
		id := e.ID()
		ps[i] = parsed{pub: e.Author[:], msg: signedMessage(raw), sig: e.Sig[:], id: id[:]}
	}
	t0 := time.Now()
	for lo := 0; lo < len(ps); lo += batch {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		stmt, err := tx.Prepare(`INSERT OR IGNORE INTO entries (id, raw) VALUES (?, ?)`)
		if err != nil {
			return 0, err
		}
		hi := min(lo+batch, len(ps))
		if !verifyRange(ps[lo:hi], cores, func(p parsed) bool { return ed25519.Verify(p.pub, p.msg, p.sig) }) {
			return 0, fmt.Errorf("floor: a signature does not verify")
		}
		for i := lo; i < hi; i++ {
			if _, err := stmt.Exec(ps[i].id, raws[i]); err != nil {
				return 0, err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(len(ps)) / time.Since(t0).Seconds(), nil
}

// verifyRange checks every item with cores goroutines.
func verifyRange[T any](items []T, cores int, ok func(T) bool) bool {
	results := make([]bool, len(items))
	var wg sync.WaitGroup
	chunk := (len(items) + cores - 1) / cores
	for lo := 0; lo < len(items); lo += chunk {
		hi := min(lo+chunk, len(items))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				results[i] = ok(items[i])
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if !r {
			return false
		}
	}
	return true
}

// signedMessage rebuilds what the author signed: the domain and the header
// (field 1 of the entry's encoding).
func signedMessage(raw []byte) []byte {
	n, k := binary.Uvarint(raw[1:])
	return append([]byte("murmur-entry-v1\n"), raw[1+k:1+k+int(n)]...)
}

// measureDurableFloor: sign and insert, one durable commit per entry.
// measureIngest gives raws to the node a batch at a time: verifying one
// while the one before is stored, as a sync session does, if pipelined;
// or else one Ingest after another.
func measureIngest(ctx context.Context, dir string, raws [][]byte, batch int, pipelined bool) (float64, error) {
	n, err := node.Open(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	check := func(lo int, rep node.IngestReport) error {
		if rep.Accepted != min(batch, len(raws)-lo) {
			return fmt.Errorf("ingest: batch at %d: %d accepted, %d waiting, %d refused", lo, rep.Accepted, rep.Waiting, len(rep.Refused))
		}
		return nil
	}
	t0 := time.Now()
	if !pipelined {
		for lo := 0; lo < len(raws); lo += batch {
			rep, err := n.Ingest(ctx, raws[lo:min(lo+batch, len(raws))])
			if err == nil {
				err = check(lo, rep)
			}
			if err != nil {
				return 0, err
			}
		}
		return float64(len(raws)) / time.Since(t0).Seconds(), nil
	}
	type verified struct {
		lo int
		v  *node.Verified
	}
	queue := make(chan verified, 1)
	done := make(chan error, 1)
	go func() {
		var err error
		for b := range queue {
			if err != nil {
				continue
			}
			var rep node.IngestReport
			if rep, err = n.IngestVerified(ctx, b.v); err == nil {
				err = check(b.lo, rep)
			}
		}
		done <- err
	}()
	for lo := 0; lo < len(raws); lo += batch {
		queue <- verified{lo, node.Verify(raws[lo:min(lo+batch, len(raws))])}
	}
	close(queue)
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(len(raws)) / time.Since(t0).Seconds(), nil
}

// appendRounds is how many rounds measureAppend alternates.
const appendRounds = 5

// measureAppend measures the durable floor (sign and insert raws, one
// durable commit each) and the node's local write of as many entries
// (Append: sign, check, one durable commit each), in alternating rounds so
// that both see the same disk. It returns the medians of the rounds'
// floor, append rate and ratio of the two.
func measureAppend(ctx context.Context, floorPath, dir string, raws [][]byte) (floor, rate, ratio float64, err error) {
	db, err := openFloor(floorPath)
	if err != nil {
		return 0, 0, 0, err
	}
	defer db.Close()
	n, err := node.Open(ctx, dir)
	if err != nil {
		return 0, 0, 0, err
	}
	defer n.Close()
	if err := n.Unlock(nil); err != nil {
		return 0, 0, 0, err
	}
	// The bodies Append takes, parsed before the clock starts.
	bodies := make([]any, len(raws))
	for i := range bodies {
		e, err := crdt.Trusted(mustSign(body(i)))
		if err != nil {
			return 0, 0, 0, err
		}
		bodies[i] = e.ParsedBody()
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	var floors, rates, ratios []float64
	per := max(len(raws)/appendRounds, 1)
	for lo := 0; lo < len(raws); lo += per {
		hi := min(lo+per, len(raws))
		t0 := time.Now()
		for i := lo; i < hi; i++ {
			sig := ed25519.Sign(priv, raws[i])
			if _, err := db.Exec(`INSERT INTO entries (id, raw) VALUES (?, ?)`, sig[:32], raws[i]); err != nil {
				return 0, 0, 0, fmt.Errorf("durable floor %d: %w", i, err)
			}
		}
		f := float64(hi-lo) / time.Since(t0).Seconds()
		t0 = time.Now()
		for i := lo; i < hi; i++ {
			if _, err := n.Append(ctx, bodies[i]); err != nil {
				return 0, 0, 0, err
			}
		}
		r := float64(hi-lo) / time.Since(t0).Seconds()
		floors, rates, ratios = append(floors, f), append(rates, r), append(ratios, r/f)
	}
	return median(floors), median(rates), median(ratios), nil
}

// mustSign wraps a body in a throwaway entry so it can be parsed back.
func mustSign(b []byte) []byte {
	seed := make([]byte, 32)
	e, err := crdt.Sign(crdt.KeyFromSeed(seed), crdt.Draft{Network: crdt.ID{1}, Seq: 1, Clock: 1, Kind: crdt.KindRequest, Body: b})
	if err != nil {
		panic(err)
	}
	return e.Raw()
}

func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
