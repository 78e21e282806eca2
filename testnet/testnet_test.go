package testnet

import (
	"bytes"
	"context"
	"fmt"
	"github.com/murmurnet/murmur/testnet/leakcheck"
	"strings"
	"testing"
	"time"
)

// Every test closes its drivers; anything still running after them is a
// goroutine some Close forgot to wait for.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// runInProcess plays sc in process and fails the test unless it passes.
func runInProcess(t *testing.T, sc Scenario) *Report {
	t.Helper()
	d := &InProcess{Dir: t.TempDir()}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, d, sc, Options{SettleTimeout: 90 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatalf("seed %d: %v", sc.Seed, err)
	}
	var b bytes.Buffer
	rep.Print(&b)
	t.Logf("seed %d:\n%s", sc.Seed, b.String())
	if !rep.Pass {
		t.Fatalf("seed %d: %s", sc.Seed, rep.Verdict)
	}
	return rep
}

func TestDefaultScenarioInProcess(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		rep := runInProcess(t, DefaultScenario(5, seed))
		first := rep.PerNode[0]
		for _, n := range rep.PerNode[1:] {
			if n.Digest != first.Digest || n.Entries != first.Entries {
				t.Fatalf("seed %d: node %d holds %d entries (%s), node 0 %d (%s)", seed, n.Node, n.Entries, n.Digest, first.Entries, first.Digest)
			}
		}
	}
}

// A node that was down while 10,000 entries were written elsewhere gets
// every one of them once it is back.
func TestOfflineNodeCatchesUp(t *testing.T) {
	const entries = 10_000
	sc := Scenario{Nodes: 3, Seed: 7, Steps: []Step{
		Kill(2),
		Bulk(0, entries), // signed by node 0's writer organisation, ingested in batches
		Wait(),           // node 1 has them too
		Restart(2),
	}}
	rep := runInProcess(t, sc)
	// Genesis, the secret's check, 2 admissions, 3 bulk writers' admissions, 3 organisation keys, the entries.
	if want := 1 + 1 + 2 + 3 + 3 + entries; rep.Expected != want || rep.PerNode[2].Entries != want {
		t.Fatalf("the restarted node holds %d entries, want %d", rep.PerNode[2].Entries, want)
	}
	t.Logf("the restarted node caught up on %d entries %.0f ms after it started", entries, rep.ConvergedMillis)
}

// Real murmur processes on loopback: a partition with writes on both
// sides, a node killed with SIGKILL and restarted, a heal.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds murmur and runs processes")
	}
	sc := Scenario{Nodes: 3, Seed: 5, Steps: []Step{
		Write(0, 2), Write(1, 1), Write(2, 1),
		Wait(),
		Partition([]int{0}, []int{1, 2}),
		Write(0, 2), Write(1, 2),
		Kill(2),
		Write(1, 1), Write(2, 1), // node 2 writes while down, as a CLI command can
		Restart(2),
		Wait(),
		Heal(),
	}}
	d := &Procs{Logf: t.Logf}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, d, sc, Options{SettleTimeout: time.Minute, PollEvery: 100 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep.Print(&b)
	t.Logf("\n%s", b.String())
	if !rep.Pass {
		d.Keep = true
		t.Fatalf("%s (logs in %s)", rep.Verdict, d.Dir)
	}
	for _, n := range rep.PerNode {
		if n.BytesSent == 0 {
			t.Errorf("node %d reports no bytes sent", n.Node)
		}
	}
}

func TestDefaultScenarioIsSeeded(t *testing.T) {
	a, b := DefaultScenario(7, 3), DefaultScenario(7, 3)
	if fmt.Sprint(a.Steps) != fmt.Sprint(b.Steps) {
		t.Fatal("the same seed gave two schedules")
	}
	if fmt.Sprint(a.Steps) == fmt.Sprint(DefaultScenario(7, 4).Steps) {
		t.Fatal("seeds 3 and 4 gave the same schedule")
	}
	for nodes := 2; nodes <= 20; nodes++ {
		for seed := range uint64(20) {
			sc := DefaultScenario(nodes, seed)
			if err := sc.Validate(); err != nil {
				t.Fatalf("nodes %d, seed %d: %v", nodes, seed, err)
			}
			kinds := map[StepKind]bool{}
			for _, s := range sc.Steps {
				kinds[s.Kind] = true
			}
			for _, k := range []StepKind{StepWrite, StepPartition, StepKill, StepRestart, StepDrop, StepDuplicate, StepHeal} {
				if !kinds[k] {
					t.Fatalf("nodes %d, seed %d: no %s step", nodes, seed, k)
				}
			}
		}
	}
}

func TestValidateRefusesImpossibleScenarios(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   Scenario
	}{
		{"one node", Scenario{Nodes: 1}},
		{"node out of range", Scenario{Nodes: 3, Steps: []Step{Write(3, 1)}}},
		{"no count", Scenario{Nodes: 3, Steps: []Step{Write(0, 0)}}},
		{"kill twice", Scenario{Nodes: 3, Steps: []Step{Kill(1), Kill(1), Restart(1)}}},
		{"restart a running node", Scenario{Nodes: 3, Steps: []Step{Restart(1)}}},
		{"down at the end", Scenario{Nodes: 3, Steps: []Step{Kill(1)}}},
		{"partition misses a node", Scenario{Nodes: 3, Steps: []Step{Partition([]int{0}, []int{1})}}},
		{"node in two groups", Scenario{Nodes: 3, Steps: []Step{Partition([]int{0, 1}, []int{1, 2})}}},
		{"one group", Scenario{Nodes: 3, Steps: []Step{Partition([]int{0, 1, 2})}}},
		{"drop everything", Scenario{Nodes: 3, Steps: []Step{Drop(1)}}},
	} {
		if err := tc.sc.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// The benchmarks' code runs (at a tiny size: no timing is asserted; Bench
// itself is for the bench command).
func TestBenchMeasurementsRunSmall(t *testing.T) {
	ctx := context.Background()
	conv, err := MeasureConvergence(ctx, 4, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Entries != 3*4+1+2*50 || conv.BytesAfterHeal <= 0 {
		t.Fatalf("%+v", conv)
	}
	lat, err := MeasureLatency(ctx, 4, 10, 20*time.Millisecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	if lat.P50 <= 0 || lat.P99 < lat.P50 || lat.Max < lat.P99 {
		t.Fatalf("%+v", lat)
	}
	t.Logf("4 nodes: converged %v after the heal; latency p50 %v, p99 %v", conv.Took, lat.P50, lat.P99)
}

// The sneakernet scenario: a region cut off entirely converges with the
// capital through bundles alone, and no node of one region is ever
// connected to a node of the other.
func TestSneakernetInProcess(t *testing.T) {
	// Seed 0: a split answer, a courier lost with the summary, another
	// lost with the reply, a replayed bundle, --for and --org replies.
	sc := SneakernetScenario(5, 0)
	rep := runInProcess(t, sc)
	if rep.Scenario != "sneakernet" || rep.Looks == 0 {
		t.Fatalf("scenario %q, %d checks of the cut", rep.Scenario, rep.Looks)
	}
	arrived, lost, parts := 0, 0, 0
	for _, c := range rep.Carried {
		switch {
		case c.Lost:
			lost++
		case c.What == "bundle":
			arrived++
			parts = max(parts, c.Parts)
		}
	}
	if arrived < 3 || lost != 2 || parts < 2 {
		t.Fatalf("%d bundles arrived, %d couriers lost, at most %d parts: %+v", arrived, lost, parts, rep.Carried)
	}
	// runInProcess fails the test on any crossing (a failure of the
	// report); the last look at every node shows none either.
	for _, n := range rep.PerNode {
		if n.Peers != map[bool]int{true: 2, false: 1}[n.Node < 3] {
			t.Errorf("node %d has %d peers at the end, want only its own region", n.Node, n.Peers)
		}
	}
}

// The check of the cut sees a connection across it: here a heal, which a
// sneakernet scenario never has.
func TestIsolationCheckSeesACrossing(t *testing.T) {
	sc := Scenario{Name: "crossing", Nodes: 4, Seed: 1, Isolated: true, Steps: []Step{
		Partition([]int{0, 1}, []int{2, 3}),
		Write(0, 1),
		Heal(),
	}}
	d := &InProcess{Dir: t.TempDir()}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, d, sc, Options{SettleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || !strings.Contains(rep.Verdict, "across the cut") {
		t.Fatalf("a heal across an isolated partition went unseen: %s", rep.Verdict)
	}
}

func TestSneakernetScenarioIsSeeded(t *testing.T) {
	first, again := SneakernetScenario(5, 3), SneakernetScenario(5, 3)
	if fmt.Sprint(first.Steps) != fmt.Sprint(again.Steps) {
		t.Fatal("the same seed gave two schedules")
	}
	kinds := map[string]bool{}
	for nodes := 4; nodes <= 9; nodes++ {
		for seed := range uint64(30) {
			sc := SneakernetScenario(nodes, seed)
			if err := sc.Validate(); err != nil {
				t.Fatalf("nodes %d, seed %d: %v", nodes, seed, err)
			}
			var last Step
			for _, s := range sc.Steps {
				switch {
				case s.Kind == StepExchange && s.Split:
					kinds["split"] = true
				case s.Kind == StepExchange && s.Lost > 0:
					kinds["lost"] = true
				case s.Kind == StepReplay:
					kinds["replay"] = true
				case s.Kind == StepHeal:
					t.Fatalf("nodes %d, seed %d: the regions are healed", nodes, seed)
				}
				if s.Kind == StepExchange {
					last = s
				}
			}
			if last.Kind != StepExchange || last.Lost != 0 {
				t.Fatalf("nodes %d, seed %d: the last trip %v does not arrive", nodes, seed, last)
			}
		}
	}
	if len(kinds) != 3 {
		t.Fatalf("over 180 schedules only %v", kinds)
	}
	if err := SneakernetScenario(3, 1).Validate(); err == nil {
		t.Fatal("a sneakernet of 3 nodes was accepted")
	}
}
