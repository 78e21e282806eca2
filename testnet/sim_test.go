package testnet

import (
	"context"
	"flag"
	"runtime"
	gosync "sync"
	"testing"
)

var (
	simRuns = flag.Int("sim.runs", 3, "runs of TestSim (make sim: RUNS)")
	simSeed = flag.Uint64("sim.seed", 1, "the first run's seed (make sim: SEED); run k has seed+k")
)

// TestSim plays sim.runs seeded runs of the simulation (sim.go), as many
// at once as there are cores: each must end with every node holding the
// same entries. A failing run's seed is printed, with the command that
// plays it again.
func TestSim(t *testing.T) {
	runs := make([]SimRun, *simRuns)
	errs := make([]error, *simRuns)
	next := make(chan int)
	var wg gosync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range next {
				runs[k], errs[k] = Simulate(context.Background(), *simSeed+uint64(k), SimOptions{Dir: t.TempDir()})
			}
		})
	}
	for k := range *simRuns {
		next <- k
	}
	close(next)
	wg.Wait()

	failed := 0
	events := map[string]int{}
	for k, run := range runs {
		seed := *simSeed + uint64(k)
		if errs[k] != nil {
			t.Fatalf("seed %d: %v (replay: make sim SEED=%d RUNS=1)", seed, errs[k], seed)
		}
		for e, c := range run.Events {
			events[e] += c
		}
		if !run.Converged {
			failed++
			t.Errorf("seed %d did not converge: %s; digests %v (replay: make sim SEED=%d RUNS=1)", seed, run, run.Digests, seed)
		}
		if testing.Verbose() && *simRuns <= 10 {
			t.Log(run)
		}
	}
	t.Logf("sim: %d runs from seed %d, %d converged (%.2f%%); events over all runs: %v", *simRuns, *simSeed, *simRuns-failed, 100*float64(*simRuns-failed)/float64(*simRuns), events)
}
