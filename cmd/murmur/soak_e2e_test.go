package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// The soak (make soak): power cuts, over and over. Alpha's node runs
// while commands write to its data directory, and another organisation's
// node (Beta's) runs throughout, writing too, so that Alpha's node is
// also storing what arrives from the network; at a random moment Alpha's
// node is killed with SIGKILL, and in half of the cycles the commands
// under way with it. After each kill, before anything runs again:
// `murmur doctor`'s whole check (SQLite's integrity_check, every entry
// decoded and its signature verified, every device's chain without gaps)
// must find nothing, and every entry a command acknowledged (exit status 0
// and its ID printed) must be there, accepted. At the end both nodes run
// until they converge, and each holds every entry either side
// acknowledged.
//
// MURMUR_SOAK_CYCLES sets the cycles (make test: 3; make soak: 1000);
// MURMUR_SOAK_SEED the schedule (default 1), printed on failure, which
// replays the same schedule (the moments are the same; what a process had
// done by then depends on the machine).
const (
	soakCyclesEnv = "MURMUR_SOAK_CYCLES"
	soakSeedEnv   = "MURMUR_SOAK_SEED"
	// soakWriters: commands writing to Alpha's directory at once.
	soakWriters = 2
	// soakMaxRun: the longest a cycle lets Alpha's node run before the kill.
	soakMaxRun = 1500 * time.Millisecond
	// soakPause: between one command and the next of a writer, so that
	// the directory grows by tens of entries a cycle, not hundreds.
	soakPause = 50 * time.Millisecond
)

func TestSoak(t *testing.T) {
	cycles, seed := 3, uint64(1)
	if v := os.Getenv(soakCyclesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: give a number of cycles", soakCyclesEnv, v)
		}
		cycles = n
	}
	if v := os.Getenv(soakSeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: give a number", soakSeedEnv, v)
		}
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("soak seed %d (replay: %s=%d %s=%d): %s", seed, soakSeedEnv, seed, soakCyclesEnv, cycles, fmt.Sprintf(format, args...))
	}

	// Alpha founds the network; Beta joins it and runs from then on.
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := ra.addr(t)
	var code codeOut
	a.json(&code, "invite", "--addr", addrA, "--expires", "1h")
	b := newCLI(t, t.TempDir())
	b.json(&joinOut{}, "join", code.Code, "--org", "Beta Collective", "--no-passphrase")
	rb := b.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	addrB := rb.addr(t)
	eventually(t, 30*time.Second, "Beta is admitted", func() bool {
		st := b.memberStatus()
		return !st.Joining && st.Admitted
	})
	ra.stop(t, syscall.SIGTERM)

	ackedA, ackedB := newAcked(), newAcked()
	// Beta writes all along, a command at a time.
	stopB := make(chan struct{})
	doneB := make(chan struct{})
	go func() {
		defer close(doneB)
		for i := 0; ; i++ {
			select {
			case <-stopB:
				return
			case <-time.After(200 * time.Millisecond):
			}
			w := startWrite(t, b, fmt.Sprintf("Beta soak %d", i))
			w.wait(ackedB)
		}
	}()

	kills := map[string]int{}
	for cycle := range cycles {
		rn := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrB)
		var mu gosync.Mutex
		var inFlight []*soakWrite
		stop := make(chan struct{})
		var wg gosync.WaitGroup
		for k := range soakWriters {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(soakPause):
					}
					w := startWrite(t, a, fmt.Sprintf("Alpha soak %d-%d-%d", cycle, k, i))
					mu.Lock()
					inFlight = append(inFlight, w)
					mu.Unlock()
					w.wait(ackedA)
				}
			})
		}
		// The power cut.
		time.Sleep(time.Duration(rng.Int64N(int64(soakMaxRun))))
		everything := rng.IntN(2) == 0
		if err := rn.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			fail("cycle %d: killing the node: %v", cycle, err)
		}
		close(stop)
		if everything {
			mu.Lock()
			for _, w := range inFlight {
				w.kill()
			}
			mu.Unlock()
		}
		wg.Wait()
		<-rn.done
		if everything {
			kills["the node and the commands under way"]++
		} else {
			kills["the node alone"]++
		}
		if errs := ackedA.failures(); len(errs) > 0 {
			fail("cycle %d: a command writing beside a running node failed: %s", cycle, errs[0])
		}

		// Nothing runs on Alpha's directory now: check it as doctor does,
		// and look for every acknowledged entry.
		d, err := node.Diagnose(context.Background(), a.dir, nil)
		if err != nil {
			fail("cycle %d: diagnosing: %v", cycle, err)
		}
		if !d.Healthy {
			fail("cycle %d: the data directory is damaged after a kill: %+v", cycle, d.Findings)
		}
		if missing := missingFrom(t, a.dir, ackedA.ids()); len(missing) > 0 {
			fail("cycle %d: %d acknowledged entries lost, the first %s", cycle, len(missing), missing[0])
		}
	}
	close(stopB)
	<-doneB
	if errs := ackedB.failures(); len(errs) > 0 {
		fail("a command of Beta's failed: %s", errs[0])
	}

	// Both run until they converge; each then holds what either side
	// acknowledged.
	ra = a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrB)
	eventually(t, 60*time.Second, "Alpha and Beta converge", func() bool { return a.memberStatus().Digest == b.memberStatus().Digest })
	ra.stop(t, syscall.SIGTERM)
	rb.stop(t, syscall.SIGTERM)
	all := append(ackedA.ids(), ackedB.ids()...)
	for _, c := range []*cli{a, b} {
		if missing := missingFrom(t, c.dir, all); len(missing) > 0 {
			fail("after converging, %s lacks %d acknowledged entries, the first %s", c.dir, len(missing), missing[0])
		}
	}
	t.Logf("soak, seed %d: %d cycles (killed: %v); %d entries acknowledged by Alpha's commands and %d by Beta's; 0 lost; 0 integrity failures",
		seed, cycles, kills, len(ackedA.ids()), len(ackedB.ids()))
}

// acked gathers the IDs commands acknowledged, and the commands that
// failed without being killed.
type acked struct {
	mu   gosync.Mutex
	set  []crdt.ID
	errs []string
}

func newAcked() *acked { return &acked{} }

func (a *acked) ids() []crdt.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.set)
}

func (a *acked) failures() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.errs)
}

// soakWrite is one `murmur request new` under way.
type soakWrite struct {
	cmd            *exec.Cmd
	stdout, stderr strings.Builder
	mu             gosync.Mutex
	killed         bool
}

func startWrite(t *testing.T, c *cli, title string) *soakWrite {
	w := &soakWrite{cmd: exec.Command(murmurBinary(t), "request", "new", "--kind", "verification", "--title", title, "--json")}
	w.cmd.Env = append(slices.Clip(c.env), "MURMUR_DIR="+c.dir)
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Errorf("starting murmur request new: %v", err)
		w.killed = true
		w.cmd = nil
	}
	return w
}

// kill is the power cut for a command under way.
func (w *soakWrite) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.killed = true
	if w.cmd != nil && w.cmd.Process != nil {
		w.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// wait waits for the command and notes its entry if it acknowledged one.
func (w *soakWrite) wait(to *acked) {
	if w.cmd == nil {
		return
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	killed := w.killed
	w.mu.Unlock()
	to.mu.Lock()
	defer to.mu.Unlock()
	if err != nil {
		if !killed {
			to.errs = append(to.errs, fmt.Sprintf("%v: %s", err, strings.TrimSpace(w.stderr.String())))
		}
		return
	}
	var out idOutput
	err = json.Unmarshal([]byte(w.stdout.String()), &out)
	id, perr := crdt.ParseID(out.ID)
	if err != nil || perr != nil {
		to.errs = append(to.errs, fmt.Sprintf("exit status 0 without an ID: %q", w.stdout.String()))
		return
	}
	to.set = append(to.set, id)
}

// missingFrom opens the data directory dir (no node may run on it) and
// returns the IDs among ids it does not hold accepted.
func missingFrom(t *testing.T, dir string, ids []crdt.ID) []crdt.ID {
	t.Helper()
	n, err := node.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	defer n.Close()
	var missing []crdt.ID
	for _, id := range ids {
		if !n.Has(id) {
			missing = append(missing, id)
		}
	}
	return missing
}
