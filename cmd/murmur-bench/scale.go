package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// The scale section (issue 14): how a node's commands and its running
// process grow with the size of the network's history. For each size it
// builds a data directory of that many entries with 200-byte bodies from
// five organisations (requests of every kind, responses to them, directory
// entries), then runs the murmur binary on it as a user would: each
// command's median and p99 time, its peak RSS, the time to open the node in
// process, and the peak RSS of `murmur run` once it has loaded the
// directory.

// Targets of issue 14, at 1,000,000 entries.
const (
	scaleTargetEntries = 1_000_000
	scaleTargetMedian  = 100 * time.Millisecond
	scaleTargetRunRSS  = 150 << 20 // bytes
	scaleTargetGrowth  = 1.5       // RSS at 1M over RSS at 100k
)

// scaleCommand is one CLI command the section times.
type scaleCommand struct {
	name string
	args func(d *scaleDir, run int) []string
}

var scaleCommands = []scaleCommand{
	{"status", func(*scaleDir, int) []string { return []string{"status", "--json"} }},
	{"request list", func(*scaleDir, int) []string { return []string{"request", "list", "--json"} }},
	{"request show", func(d *scaleDir, _ int) []string { return []string{"request", "show", d.shown.String(), "--json"} }},
	{"request new", func(_ *scaleDir, run int) []string {
		return []string{"request", "new", "--kind", "verification", "--title", fmt.Sprintf("Scale bench applicant %d", run), "--region", "TZ", "--json"}
	}},
	{"respond", func(d *scaleDir, run int) []string {
		return []string{"respond", d.answerable[run%len(d.answerable)].String(), "--type", "vouch", "--body", "Known to us since 2021.", "--json"}
	}},
	{"request list --inbox", func(*scaleDir, int) []string { return []string{"request", "list", "--inbox", "--json"} }},
	{"stats", func(*scaleDir, int) []string { return []string{"stats", "--json"} }},
}

// scaleDir is a built data directory and what the commands need from it.
type scaleDir struct {
	path       string
	size       int       // entries written by the five organisations
	entries    int       // entries the node holds (theirs and the network's own)
	shown      crdt.ID   // a request with responses, for request show
	answerable []crdt.ID // other organisations' verification requests, one per respond run
	build      time.Duration
}

// scaleRow is what the section measured for one size.
type scaleRow struct {
	dir      *scaleDir
	cmds     []scaleTiming
	open     time.Duration // median node.Open
	runRSS   int64         // murmur run's VmHWM, bytes
	cliRSS   int64         // the largest peak RSS of any command, bytes
	runReady time.Duration // from starting murmur run to its address line
	// status right after a write: the state's digest is computed again
	// (status keeps it until the next write); its time and peak RSS.
	afterWrite    time.Duration
	afterWriteRSS int64
	web           []webTiming // the web interface's pages (webscale.go)
}

type scaleTiming struct {
	name        string
	median, p99 time.Duration
	rss         int64 // peak RSS over the runs, bytes
}

// scale builds a directory of each size in sizes and measures it, runs
// times per command, and prints the table.
func scale(ctx context.Context, w io.Writer, sizes []int, runs int) error {
	tmp, err := os.MkdirTemp("", "murmur-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "murmur")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/murmurnet/murmur/cmd/murmur")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building murmur: %w\n%s", err, out)
	}
	var rows []scaleRow
	for _, n := range sizes {
		d, err := buildScaleDir(ctx, filepath.Join(tmp, fmt.Sprint("n", n)), n, runs)
		if err != nil {
			return fmt.Errorf("building %d entries: %w", n, err)
		}
		row, err := measureScale(ctx, bin, d, runs)
		if err != nil {
			return fmt.Errorf("%d entries: %w", n, err)
		}
		if row.web, err = measureWeb(ctx, d, runs); err != nil {
			return fmt.Errorf("%d entries, the web interface: %w", n, err)
		}
		rows = append(rows, row)
		if keep := os.Getenv("MURMUR_SCALE_KEEP"); keep != "" {
			// (to look at the directory afterwards: moved there whole)
			if err := os.MkdirAll(keep, 0o700); err != nil {
				return err
			}
			if err := os.Rename(d.path, filepath.Join(keep, fmt.Sprint("n", n))); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(d.path); err != nil {
			return err
		}
	}
	printScale(w, rows, runs)
	printWeb(w, rows)
	return nil
}

// buildScaleDir founds a network in dir whose founder (the organisation
// whose commands are timed) admits five writing organisations, then has the
// node take in n entries they signed, in batches, as from a peer: requests
// of each kind, responses to earlier requests of other organisations, and
// now and then a directory entry. The entries are spaced 10 s apart and
// end a minute ago.
func buildScaleDir(ctx context.Context, dir string, n, runs int) (*scaleDir, error) {
	t0 := time.Now()
	const step = 10 * time.Second
	begin := t0.Add(-time.Minute - time.Duration(n)*step)
	home, err := node.Init(ctx, dir, node.InitOptions{Org: "Scale home", Now: func() time.Time { return begin }})
	if err != nil {
		return nil, err
	}
	defer home.Close()
	writers := make([]*author, catchUpOrgs)
	for i := range writers {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(3000+i))
		writers[i] = &author{priv: crdt.KeyFromSeed(seed)}
		if _, err := home.Append(ctx, &crdt.Admission{Device: crdt.PublicKeyOf(writers[i].priv), Name: fmt.Sprintf("Scale writer %d", i)}); err != nil {
			return nil, err
		}
	}
	type request struct {
		id  crdt.ID
		typ crdt.RequestType
		by  int
	}
	var requests []request
	d := &scaleDir{path: dir, size: n}
	answered := map[crdt.ID]bool{}
	observed := home.State().MaxClock()
	const batch = 1000
	raws := make([][]byte, 0, batch)
	flush := func() error {
		rep, err := home.Ingest(ctx, raws)
		if err != nil {
			return err
		}
		if rep.Accepted != len(raws) {
			return fmt.Errorf("the node took in %d of %d entries: %d waiting, %d held, refused %v", rep.Accepted, len(raws), rep.Waiting, rep.Held, rep.Refused)
		}
		raws = raws[:0]
		return nil
	}
	startMillis := uint64(begin.UnixMilli())
	for i := range n {
		by := i % len(writers)
		a := writers[by]
		var kind crdt.Kind
		var b any
		var deps []crdt.ID
		switch {
		case i%50 == 0: // a directory change now and then
			kind, b = crdt.KindDirectory, &crdt.Directory{Name: fmt.Sprintf("Scale writer %d", by), Regions: []string{"KE", "TZ"},
				Offers: []string{"emergency-grant", "legal-aid"}, Languages: []string{"en", "sw"}, Contact: "Signal"}
		case i%2 == 1 || len(requests) < 2*len(writers):
			typ := crdt.RequestType(1 + len(requests)%5) // verification, referral, funding, letter, alert
			r := &crdt.Request{Type: typ, Title: fmt.Sprintf("Applicant %d", i), Region: "TZ"}
			if typ == crdt.Funding {
				r.Amount, r.Currency = 4500, "USD"
			}
			kind, b = crdt.KindRequest, r
		default: // a response to a recent request of another organisation
			k := len(requests) - 1 - (i/2)%min(len(requests), 500)
			for requests[k].by == by {
				k--
			}
			req := requests[k]
			resp := &crdt.Response{Request: req.id, Type: []crdt.ResponseType{crdt.Verification: crdt.Vouch, crdt.Referral: crdt.Decline,
				crdt.Funding: crdt.Pledge, crdt.Letter: crdt.SignOn, crdt.Alert: crdt.Comment}[req.typ]}
			if resp.Type == crdt.Pledge {
				resp.Amount, resp.Currency = 100, "USD"
			}
			kind, b, deps = crdt.KindResponse, resp, []crdt.ID{req.id}
			answered[req.id] = true
		}
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: home.Network(), Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, observed, startMillis+uint64(time.Duration(i+1)*step/time.Millisecond)), Deps: deps, Kind: kind, Body: padBody(b)})
		if err != nil {
			return nil, err
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		observed = max(observed, e.Clock)
		if r, ok := b.(*crdt.Request); ok {
			requests = append(requests, request{e.ID(), r.Type, by})
		}
		raws = append(raws, e.Raw())
		if len(raws) == batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if len(raws) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	// request show shows the newest answered request; respond answers
	// the newest verification requests, one per run.
	for k := len(requests) - 1; k >= 0 && (d.shown == crdt.ID{} || len(d.answerable) < runs); k-- {
		r := requests[k]
		if (d.shown == crdt.ID{}) && answered[r.id] {
			d.shown = r.id
		}
		if r.typ == crdt.Verification && len(d.answerable) < runs {
			d.answerable = append(d.answerable, r.id)
		}
	}
	if (d.shown == crdt.ID{}) || len(d.answerable) == 0 {
		return nil, fmt.Errorf("%d entries are too few for the commands (a request with responses, verification requests to answer)", n)
	}
	d.entries = home.Status().Entries
	d.build = time.Since(t0)
	return d, nil
}

// padBody encodes b with its text (or contact) padded so that the body is
// exactly bodySize bytes.
func padBody(b any) []byte {
	var text *string
	switch b := b.(type) {
	case *crdt.Request:
		text = &b.Text
	case *crdt.Response:
		text = &b.Text
	case *crdt.Directory:
		text = &b.Contact
	}
	enc, _ := crdt.EncodeBody(b)
	room := bodySize - len(enc) - 3 + len(*text)
	for range 4 { // the length's varint may change with the text
		*text = strings.Repeat("x", room)
		enc, _ = crdt.EncodeBody(b)
		if len(enc) == bodySize {
			return enc
		}
		room += bodySize - len(enc)
	}
	panic(fmt.Sprintf("a padded body is %d bytes", len(enc)))
}

// measureScale runs each command runs times on d's directory, then opens the
// node in process, then starts murmur run.
func measureScale(ctx context.Context, bin string, d *scaleDir, runs int) (scaleRow, error) {
	row := scaleRow{dir: d}
	for _, c := range scaleCommands {
		var took []time.Duration
		for r := range runs {
			args := append(c.args(d, r), "--dir", d.path)
			cmd := exec.CommandContext(ctx, bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			err := cmd.Run()
			took = append(took, time.Since(t0))
			if err != nil {
				return row, fmt.Errorf("murmur %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
			}
		}
		rss, err := measuredRSS(ctx, bin, append(c.args(d, runs), "--dir", d.path))
		if err != nil {
			return row, err
		}
		slices.Sort(took)
		row.cmds = append(row.cmds, scaleTiming{name: c.name, median: took[len(took)/2], p99: percentile(took, 0.99), rss: rss})
		row.cliRSS = max(row.cliRSS, rss)
	}
	write := exec.CommandContext(ctx, bin, append(scaleCommands[3].args(d, runs+1), "--dir", d.path)...)
	if out, err := write.CombinedOutput(); err != nil {
		return row, fmt.Errorf("murmur request new: %w: %s", err, out)
	}
	t0 := time.Now()
	rss, err := measuredRSS(ctx, bin, []string{"status", "--json", "--dir", d.path})
	if err != nil {
		return row, err
	}
	row.afterWrite, row.afterWriteRSS = time.Since(t0), rss
	row.cliRSS = max(row.cliRSS, rss)
	var opens []time.Duration
	for range min(runs, 5) {
		t0 := time.Now()
		n, err := node.Open(ctx, d.path)
		if err != nil {
			return row, err
		}
		opens = append(opens, time.Since(t0))
		n.Close()
	}
	row.open = median(opens)
	row.runRSS, row.runReady, err = measureRun(ctx, bin, d.path)
	return row, err
}

// measureRun starts `murmur run` on dir, waits for its address line (it
// prints it once the node is open and listening) and for run.json, reads
// its peak RSS (VmHWM) and stops it with SIGINT.
func measureRun(ctx context.Context, bin, dir string) (rss int64, ready time.Duration, err error) {
	cmd := exec.CommandContext(ctx, bin, "run", "--dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A pipe of our own, not StdoutPipe: the reader below reads to the end
	// (the process may print after its address), past Wait.
	out, outW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	cmd.Stdout = outW
	t0 := time.Now()
	err = cmd.Start()
	outW.Close()
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if err != nil { // what it said, read once it has stopped
			err = fmt.Errorf("%w; murmur run said: %s", err, stderr.Bytes())
		}
	}()
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if !found && strings.HasPrefix(sc.Text(), "Listening on:") {
				found = true
				listening <- true
			}
		}
		if !found {
			listening <- false // it stopped without listening
		}
	}()
	select {
	case ok := <-listening:
		if !ok {
			return 0, 0, fmt.Errorf("murmur run stopped before it listened")
		}
	case <-time.After(10 * time.Minute):
		return 0, 0, fmt.Errorf("murmur run printed no address in 10 minutes")
	}
	ready = time.Since(t0)
	if err := waitFor(ctx, time.Minute, "murmur run writes run.json", func() bool {
		_, err := os.Stat(filepath.Join(dir, "run.json"))
		return err == nil
	}); err != nil {
		return 0, 0, err
	}
	rss, err = vmHWM(cmd.Process.Pid)
	return rss, ready, err
}

// vmHWM is a process's peak resident set size, from /proc (Linux).
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading murmur run's peak RSS: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// The peak RSS of a command: Go starts a child with vfork, and Linux
// counts the parent's peak (this benchmark's, holding a data directory's
// worth of entries it built) into the child's at its exec. So the command
// is run once more through a small process of this binary (rssFlag),
// which starts it in turn and reports its peak RSS in rssFile.
const (
	rssFlag = "-measure-rss-of"
	rssFile = "MURMUR_BENCH_RSS_FILE"
)

// runMeasured is the small process: it runs args, and writes the peak RSS
// of that process (bytes) to the file rssFile names.
func runMeasured(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "murmur-bench:", err)
		return 1
	}
	if werr := os.WriteFile(os.Getenv(rssFile), fmt.Append(nil, maxRSS(cmd.ProcessState)), 0o600); werr != nil {
		fmt.Fprintln(os.Stderr, "murmur-bench:", werr)
		return 1
	}
	return cmd.ProcessState.ExitCode()
}

// measuredRSS runs murmur with args once through runMeasured.
func measuredRSS(ctx context.Context, bin string, args []string) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	out := filepath.Join(filepath.Dir(bin), "rss")
	cmd := exec.CommandContext(ctx, self, append([]string{rssFlag, bin}, args...)...)
	cmd.Env = append(os.Environ(), rssFile+"="+out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("murmur %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// percentile is the nearest-rank percentile p of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(k, len(ds)-1))]
}

func printScale(w io.Writer, rows []scaleRow, runs int) {
	fmt.Fprintf(w, "scale: real murmur CLI processes on a data directory of N entries with 200-byte bodies from %d organisations (requests of each kind, responses, directory entries); median / p99 of %d runs, peak RSS\n", catchUpOrgs, runs)
	fmt.Fprintf(w, "  request list: its first page (50 requests, the CLI's default); request new, respond: one new entry each run, durably written\n")
	fmt.Fprintf(w, "  peak RSS: of one more run of each command, started from a small process (a child Go starts inherits its parent's peak)\n")
	fmt.Fprintf(w, "  targets at %d entries: every command's median at most %v; murmur run at most %d MB; RSS at 1M at most %.1fx RSS at 100k\n",
		scaleTargetEntries, scaleTargetMedian, scaleTargetRunRSS>>20, scaleTargetGrowth)
	fmt.Fprintf(w, "  %10s %8s", "entries", "build")
	for _, c := range scaleCommands {
		fmt.Fprintf(w, " %27s", c.name)
	}
	fmt.Fprintf(w, " %9s %14s\n", "open", "murmur run")
	for _, r := range rows {
		fmt.Fprintf(w, "  %10d %7.1fs", r.dir.entries, r.dir.build.Seconds())
		for _, c := range r.cmds {
			fmt.Fprintf(w, " %27s", fmt.Sprintf("%s / %s, %s", ms(c.median), ms(c.p99), mb(c.rss)))
		}
		fmt.Fprintf(w, " %9s %14s\n", ms(r.open), mb(r.runRSS))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %d entries: status right after a write %s, %s (the state's digest is computed again, then kept until the next write)\n",
			r.dir.entries, ms(r.afterWrite), mb(r.afterWriteRSS))
	}
	// The targets, for the rows they apply to: medians and murmur run's
	// RSS at 1M or more; growth between the sizes measured.
	for _, r := range rows {
		if r.dir.size < scaleTargetEntries {
			continue
		}
		for _, c := range r.cmds {
			fmt.Fprintf(w, "  %d entries: %-20s median %9s, target %v: %s\n", r.dir.size, c.name, ms(c.median), scaleTargetMedian, met(c.median <= scaleTargetMedian))
		}
		fmt.Fprintf(w, "  %d entries: murmur run     RSS %9s, target %d MB: %s\n", r.dir.size, mb(r.runRSS), scaleTargetRunRSS>>20, met(r.runRSS <= scaleTargetRunRSS))
	}
	for i := 1; i < len(rows); i++ {
		lo, hi := rows[i-1], rows[i]
		if hi.dir.size <= lo.dir.size {
			continue
		}
		for _, g := range []struct {
			what   string
			lo, hi int64
		}{{"murmur run RSS", lo.runRSS, hi.runRSS}, {"largest CLI RSS", lo.cliRSS, hi.cliRSS}} {
			ratio := float64(g.hi) / float64(g.lo)
			verdict := met(ratio <= scaleTargetGrowth)
			if hi.dir.size < scaleTargetEntries {
				verdict = fmt.Sprintf("(judged from 100,000 to %d)", scaleTargetEntries)
			}
			fmt.Fprintf(w, "  %s at %d / at %d entries: %.2fx, target %.1fx: %s\n", g.what, hi.dir.size, lo.dir.size, ratio, scaleTargetGrowth, verdict)
		}
	}
	if len(rows) > 0 && rows[len(rows)-1].dir.size < scaleTargetEntries {
		fmt.Fprintf(w, "  (the targets are judged at %d entries: make bench-scale runs that size beside 100,000)\n", scaleTargetEntries)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %d entries: murmur run printed its address %.2f s after it started\n", r.dir.size, r.runReady.Seconds())
	}
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

// parseSizes reads -scale: entries, comma-separated (100000,1000000).
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-scale %q: give entries as whole numbers, comma-separated (100000,1000000)", s)
		}
		if n > 0 {
			sizes = append(sizes, n)
		}
	}
	slices.Sort(sizes)
	return sizes, nil
}
