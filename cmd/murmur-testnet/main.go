// Command murmur-testnet runs a local network of Murmur nodes through the
// default scenario (see package testnet) and prints a report: per node, its
// entries, digest and bytes sent; the time from the last heal until every
// node agreed. It exits 0 only if every node ends with the same digest and
// entry count (and holds every entry written), 1 otherwise, 2 on a wrong
// command line. `make testnet` runs it with real processes.
//
// With -scenario sneakernet it plays instead, on loopback and without root,
// the sneakernet scenario: a region cut off entirely that syncs with the
// capital only through bundles carried by couriers on a seeded schedule
// (`murmur bundle summary/export/import` on the nodes' data directories);
// the report lists every file carried.
//
// With -scenario NAME (lan, exile, satellite, restart) it plays instead
// one of the scenarios in network namespaces (package testnet/netns): each
// node a real murmur process in a Linux network namespace of its own,
// behind routers, NATs and emulated links the run makes and removes. It
// needs root. The report names the scenario and the link profile and ends
// in PASS or FAIL; the exit status is 0 only on PASS.
//
//	murmur-testnet [-scenario default|sneakernet] [-nodes N] [-seed S] [-mode procs|inprocess] [-timeout D] [-json]
//	murmur-testnet -scenario lan|exile|satellite|restart|satellite-tcp [-seed S] [-keep] [-v]
//	murmur-testnet -bench   # the testnet benchmarks (convergence, live latency)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/murmurnet/murmur/testnet"
	"github.com/murmurnet/murmur/testnet/netns"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// envInt is the environment variable's value, else def.
func envInt(name string, def uint64) (uint64, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a number", name, s)
	}
	return v, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	defNodes, err := envInt("NODES", 5)
	if err == nil {
		var defSeed uint64
		if defSeed, err = envInt("SEED", 1); err == nil {
			return runWith(ctx, args, stdout, stderr, int(defNodes), defSeed)
		}
	}
	fmt.Fprintf(stderr, "murmur-testnet: %v\n", err)
	return 2
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, defNodes int, defSeed uint64) int {
	fs := flag.NewFlagSet("murmur-testnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", defNodes, "nodes in the network (default: $NODES, else 5)")
	seed := fs.Uint64("seed", defSeed, "seed of the schedule (default: $SEED, else 1)")
	mode := fs.String("mode", "procs", "procs: real murmur processes on loopback; inprocess: go-libp2p's mock network")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	settle := fs.Duration("settle", time.Minute, "longest wait for the nodes to agree, at each wait step and at the end")
	asJSON := fs.Bool("json", false, "print the report as one JSON value")
	murmur := fs.String("murmur", "", "murmur binary to run (default: build ./cmd/murmur)")
	keep := fs.Bool("keep", false, "procs: keep the data directories and node logs (kept anyway if the run fails)")
	bench := fs.Bool("bench", false, "run the testnet benchmarks instead of the scenario")
	scenario := fs.String("scenario", "", "default (or empty): the default scenario on loopback; sneakernet: a region cut off, synced by bundles alone, on loopback; or a scenario in network namespaces (needs root): "+strings.Join(netns.Names(), ", "))
	satRate := fs.Int("sat-rate", 0, "-scenario satellite: the link's rate in bit/s each way (default 32000)")
	satRTT := fs.Duration("sat-rtt", 800*time.Millisecond, "-scenario satellite with -sat-rate: round trip")
	satLoss := fs.Float64("sat-loss", 0.10, "-scenario satellite with -sat-rate: loss each way (0 to 1)")
	verbose := fs.Bool("v", false, "-scenario: also print every command that builds the namespaces")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: murmur-testnet [flags]\n\nRuns the default testnet scenario and exits 0 only if every node ends with the same entries.\n\nexample:\n  murmur-testnet -nodes 7 -seed 3\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "murmur-testnet: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	loopback := *scenario == "" || *scenario == "default" || *scenario == "sneakernet"
	if !loopback {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "timeout" })
		if !set {
			*timeout = 20 * time.Minute // each scenario bounds its own waits
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		opt := netns.Options{Murmur: *murmur, Keep: *keep, Seed: *seed}
		if *satRate > 0 {
			opt.Satellite.Rate, opt.Satellite.Delay, opt.Satellite.Loss = *satRate, *satRTT/2, *satLoss
		}
		return runScenario(ctx, *scenario, opt, *asJSON, *verbose, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *bench {
		if err := testnet.Bench(ctx, stdout); err != nil {
			fmt.Fprintf(stderr, "murmur-testnet: %v\n", err)
			return 1
		}
		return 0
	}
	if *nodes < 2 {
		fmt.Fprintf(stderr, "murmur-testnet: -nodes %d: a network needs at least 2 nodes\n", *nodes)
		return 2
	}
	sc := testnet.DefaultScenario(*nodes, *seed)
	rerun := fmt.Sprintf("-nodes %d -seed %d", *nodes, *seed)
	if *scenario == "sneakernet" {
		if *nodes < 4 {
			fmt.Fprintf(stderr, "murmur-testnet: -scenario sneakernet -nodes %d: two regions of at least 2 nodes need 4 or more\n", *nodes)
			return 2
		}
		sc = testnet.SneakernetScenario(*nodes, *seed)
		rerun = "-scenario sneakernet " + rerun
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	var d testnet.Driver
	var procs *testnet.Procs
	poll := 50 * time.Millisecond
	switch *mode {
	case "procs":
		procs = &testnet.Procs{Murmur: *murmur, Keep: *keep, Logf: logf}
		d = procs
		poll = 100 * time.Millisecond // each look runs a `murmur status` per node
	case "inprocess":
		d = &testnet.InProcess{}
	default:
		fmt.Fprintf(stderr, "murmur-testnet: -mode %q: use procs or inprocess\n", *mode)
		return 2
	}
	name := sc.Name
	if name == "" {
		name = "default"
	}
	fmt.Fprintf(stderr, "murmur-testnet: scenario %s, %s, %d nodes, seed %d (rerun with %s)\n", name, d.Mode(), *nodes, *seed, rerun)
	rep, err := testnet.Run(ctx, d, sc, testnet.Options{SettleTimeout: *settle, PollEvery: poll, Logf: logf})
	if procs != nil && (err != nil || !rep.Pass) {
		procs.Keep = true // the logs say what happened
	}
	if cerr := d.Close(); cerr != nil {
		fmt.Fprintf(stderr, "murmur-testnet: stopping the nodes: %v\n", cerr)
	}
	if procs != nil && procs.Keep {
		fmt.Fprintf(stderr, "murmur-testnet: data directories and node logs are in %s\n", procs.Dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "murmur-testnet: seed %d: %v\n", *seed, err)
		fmt.Fprintf(stderr, "murmur-testnet: the same run again: murmur-testnet %s\n", rerun)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		fmt.Fprintln(stdout)
		rep.Print(stdout)
	}
	if !rep.Pass {
		fmt.Fprintf(stderr, "murmur-testnet: seed %d failed; the same run again: murmur-testnet %s\n", *seed, rerun)
		return 1
	}
	return 0
}

// runScenario plays a scenario in network namespaces and prints its report.
func runScenario(ctx context.Context, name string, opt netns.Options, asJSON, verbose bool, stdout, stderr io.Writer) int {
	if err := netns.Available(); err != nil {
		fmt.Fprintf(stderr, "murmur-testnet: -scenario %s: %v\n", name, err)
		return 1
	}
	opt.Logf = func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	if verbose {
		opt.Commands = opt.Logf
	}
	fmt.Fprintf(stderr, "murmur-testnet: scenario %s: %s\n", name, netns.About(name))
	rep, err := netns.Run(ctx, name, opt)
	if err != nil {
		fmt.Fprintf(stderr, "murmur-testnet: %v\n", err)
		return 2
	}
	if asJSON {
		rep.JSON(stdout)
	} else {
		fmt.Fprintln(stdout)
		rep.Print(stdout)
	}
	if !rep.Pass {
		return 1
	}
	return 0
}
