// Command murmur-fuzz runs the long fuzzing campaign (make fuzz): each
// fuzz target for at least -cpu of CPU time (default an hour), in chunks
// of -chunk, measured as the CPU the fuzzing processes used, not the wall
// clock (on a busy machine the two differ); then it keeps the inputs that
// found new coverage in the package's testdata/fuzz/TARGET, where `go
// test` replays them on every run and git keeps them; and it reports the
// coverage that the kept inputs reach in the decoders and in the state
// rules.
//
// A crash stops the campaign: Go writes the failing input to
// testdata/fuzz/TARGET, `go test -run TARGET/NAME` replays it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// target is a fuzz target and its package.
type target struct{ pkg, name string }

var targets = []target{
	{"./crdt", "FuzzDecode"},
	{"./crdt", "FuzzApply"},
	{"./crdt", "FuzzDeliveryOrder"},
	{"./sync", "FuzzReceive"},
	{"./sync", "FuzzDecodeEntries"},
	{"./sync", "FuzzReadBundle"},
}

// The code whose coverage is reported, by file: the decoders of what
// arrives from the network or from a file, and the state's rules.
var reported = []struct{ what, file string }{
	{"decoders", "crdt/codec.go"},
	{"decoders", "crdt/entry.go"},
	{"decoders", "crdt/body.go"},
	{"decoders", "sync/recon.go"},
	{"decoders", "sync/stream.go"},
	{"decoders", "sync/bundle.go"},
	{"state rules", "crdt/state.go"},
	{"state rules", "crdt/membership.go"},
	{"state rules", "crdt/revocations.go"},
	{"state rules", "crdt/governance.go"},
	{"state rules", "crdt/workflows.go"},
	{"state rules", "crdt/facts.go"},
	{"state rules", "crdt/orgkeys.go"},
}

func main() {
	cpu := flag.Duration("cpu", time.Hour, "CPU time per target, at least")
	chunk := flag.Duration("chunk", 10*time.Minute, "wall time of one go test -fuzz run")
	only := flag.String("only", "", "run only this target (by name)")
	parallel := flag.Int("parallel", 0, "fuzzing workers (go test -parallel; default: one per core)")
	coverOnly := flag.Bool("cover", false, "only report the coverage of the kept inputs")
	flag.Parse()
	if *only != "" && !slices.ContainsFunc(targets, func(t target) bool { return t.name == *only }) {
		fmt.Fprintf(os.Stderr, "murmur-fuzz: no fuzz target %q\n", *only)
		os.Exit(2)
	}
	if !*coverOnly {
		for _, t := range targets {
			if *only != "" && t.name != *only {
				continue
			}
			if err := campaign(t, *cpu, *chunk, *parallel); err != nil {
				fmt.Fprintf(os.Stderr, "murmur-fuzz: %s: %v\n", t.name, err)
				os.Exit(1)
			}
		}
	}
	if err := coverage(); err != nil {
		fmt.Fprintf(os.Stderr, "murmur-fuzz: coverage: %v\n", err)
		os.Exit(1)
	}
}

// campaign fuzzes t until it has used cpu of CPU time, then keeps the
// inputs that found new coverage.
func campaign(t target, cpu, chunk time.Duration, parallel int) error {
	var used time.Duration
	var execs int64
	start := time.Now()
	for used < cpu {
		args := []string{"test", t.pkg, "-run", "^$", "-fuzz", "^" + t.name + "$", "-fuzztime", chunk.String()}
		if parallel > 0 {
			args = append(args, "-parallel", strconv.Itoa(parallel))
		}
		cmd := exec.Command("go", args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if cmd.ProcessState != nil {
			used += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		execs += lastExecs(out.String())
		if err != nil {
			if strings.Contains(out.String(), "context deadline exceeded") && !strings.Contains(out.String(), "Failing input written") {
				// golang/go#75804: the coordinator can fail a run that
				// ends on its deadline while a worker is busy; nothing was
				// found. The next chunk goes on.
				continue
			}
			return fmt.Errorf("%v\n%s", err, out.String())
		}
		fmt.Printf("%s: %s of CPU so far (%s on the clock), %d inputs run\n", t.name, used.Round(time.Second), time.Since(start).Round(time.Second), execs)
	}
	kept, err := keep(t)
	if err != nil {
		return err
	}
	fmt.Printf("%s: done: %s of CPU, %d inputs run, no failure; %d inputs that found new coverage kept in %s\n",
		t.name, used.Round(time.Second), execs, kept, filepath.Join(t.pkg, "testdata", "fuzz", t.name))
	return nil
}

// lastExecs is the count of inputs run that go test -fuzz reported last
// ("fuzz: elapsed: 3s, execs: 1234 (411/sec), new interesting: ...").
func lastExecs(out string) int64 {
	var n int64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), "execs: ")
		if !ok {
			continue
		}
		f, _, _ := strings.Cut(rest, " ")
		if v, err := strconv.ParseInt(f, 10, 64); err == nil {
			n = v
		}
	}
	return n
}

// keep copies the inputs go's fuzzing cache holds for t (those that found
// new coverage) into the package's testdata, where they are replayed by
// every go test and committed.
func keep(t target) (int, error) {
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		return 0, err
	}
	imp, err := exec.Command("go", "list", t.pkg).Output()
	if err != nil {
		return 0, err
	}
	from := filepath.Join(strings.TrimSpace(string(out)), "fuzz", strings.TrimSpace(string(imp)), t.name)
	to := filepath.Join(t.pkg, "testdata", "fuzz", t.name)
	des, err := os.ReadDir(from)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return 0, err
	}
	kept := 0
	for _, de := range des {
		dst := filepath.Join(to, de.Name())
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, de.Name())) // (a few hundred bytes)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			return kept, err
		}
		kept++
	}
	return kept, nil
}

// coverage runs the fuzz targets over their kept inputs (as go test does,
// without fuzzing) and reports, for the decoders and the state rules, the
// share of statements they reach.
func coverage() error {
	dir, err := os.MkdirTemp("", "murmur-fuzz-cover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	byPkg := map[string][]string{}
	var pkgs []string
	for _, t := range targets {
		if byPkg[t.pkg] == nil {
			pkgs = append(pkgs, t.pkg)
		}
		byPkg[t.pkg] = append(byPkg[t.pkg], t.name)
	}
	type tally struct{ stmts, covered int }
	byFile := map[string]*tally{}
	for i, pkg := range pkgs {
		profile := filepath.Join(dir, fmt.Sprintf("%d.out", i))
		cmd := exec.Command("go", "test", pkg, "-run", "^("+strings.Join(byPkg[pkg], "|")+")$", "-count=1", "-coverprofile", profile)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		f, err := os.Open(profile)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// github.com/murmurnet/murmur/crdt/state.go:12.34,15.2 3 1
			line := sc.Text()
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, "mode:") {
				continue
			}
			fields := strings.Fields(rest)
			if len(fields) != 3 {
				continue
			}
			n, _ := strconv.Atoi(fields[1])
			c, _ := strconv.Atoi(fields[2])
			short := strings.TrimPrefix(name, "github.com/murmurnet/murmur/")
			t := byFile[short]
			if t == nil {
				t = &tally{}
				byFile[short] = t
			}
			t.stmts += n
			if c > 0 {
				t.covered += n
			}
		}
		f.Close()
	}
	fmt.Println("Coverage reached by the fuzz targets' kept inputs (go test, no fuzzing):")
	sums := map[string]*tally{}
	for _, r := range reported {
		t := byFile[r.file]
		if t == nil || t.stmts == 0 {
			fmt.Printf("  %-12s %-22s (not reached)\n", r.what, r.file)
			continue
		}
		fmt.Printf("  %-12s %-22s %5.1f%% of %d statements\n", r.what, r.file, 100*float64(t.covered)/float64(t.stmts), t.stmts)
		if sums[r.what] == nil {
			sums[r.what] = &tally{}
		}
		sums[r.what].stmts += t.stmts
		sums[r.what].covered += t.covered
	}
	for _, what := range []string{"decoders", "state rules"} {
		if t := sums[what]; t != nil {
			fmt.Printf("  %-12s %-22s %5.1f%% of %d statements\n", what, "(all)", 100*float64(t.covered)/float64(t.stmts), t.stmts)
		}
	}
	return nil
}
