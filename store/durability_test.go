package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// TestDurability is the crash test the issue asks for: a child process
// appends entries and reports each one it has committed; it is killed with
// SIGKILL at random moments, 50 times, on the same database file; after each
// kill the database must pass PRAGMA integrity_check and hold every entry
// that was reported committed.
//
// The child is this test binary run again with -test.run=TestDurabilityChild
// and the database path and its seed in the environment.

var durabilitySeed = flag.Uint64("durability.seed", 0,
	"seed of TestDurability's kill schedule (default: $"+durabilitySeedEnv+", else 1)")

const (
	durabilitySeedEnv = "MURMUR_DURABILITY_SEED"
	childDBEnv        = "MURMUR_STORE_CHILD_DB"
	childSeedEnv      = "MURMUR_STORE_CHILD_SEED"

	// childMaxOps bounds a child that is never killed, so it cannot run away.
	childMaxOps = 100000

	reportPrefix = "committed "

	durabilityRounds      = 50
	durabilityShortRounds = 10
	maxKillDelay          = 40 * time.Millisecond
	childDeadline         = 30 * time.Second // for the first report, and for the exit after a kill
)

// durabilityAuthor is the device whose chain the child appends to, across
// all rounds: after every crash its next append must continue the chain.
var durabilityAuthor = crdt.DeviceKey{0: 'd', 1: 'u', 2: 'r', 31: 1}

// synthRaw is the raw of the synthetic entry id: 200-300 bytes derived from
// the ID, so that the parent can check content as well as presence.
func synthRaw(id crdt.ID) []byte {
	n := 200 + int(id[0])%101
	return bytes.Repeat(id[:], n/32+1)[:n]
}

// TestDurabilityChild is the child's side: it does nothing unless
// TestDurability started it.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(childDBEnv)
	if path == "" {
		t.Skip("the child process of TestDurability")
	}
	seed, err := strconv.ParseUint(os.Getenv(childSeedEnv), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", childSeedEnv, err)
	}
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0x6d75726d7572))
	randomID := func() crdt.ID {
		var id crdt.ID
		copy(id[:], randomBytes(rng, 32))
		return id
	}
	out := bufio.NewWriter(os.Stdout)
	for range childMaxOps {
		var committed []crdt.ID
		if rng.IntN(4) == 0 {
			// A batch, as sync would store it: entries by other authors.
			recs := make([]Record, 1+rng.IntN(16))
			for i := range recs {
				id := randomID()
				recs[i] = Record{
					ID: id, Author: crdt.DeviceKey(randomID()), Seq: rng.Uint64N(1000), Clock: crdt.Clock(rng.Uint64N(1 << 40)),
					Kind: crdt.KindRequest, Status: crdt.Status(1 + rng.IntN(3)), Raw: synthRaw(id),
				}
				committed = append(committed, id)
			}
			if _, err := s.Put(ctx, recs, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			id := randomID()
			err := s.Append(ctx, durabilityAuthor, func(h Head, maxClock crdt.Clock) (Record, error) {
				return Record{
					ID: id, Author: durabilityAuthor, Seq: h.Seq + 1, Clock: max(h.Clock, maxClock) + 1,
					Kind: crdt.KindRequest, Status: crdt.StatusAccepted, Raw: synthRaw(id),
				}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			committed = append(committed, id)
		}
		// Reported only once the call has returned: the parent holds the
		// store to every ID it reads here. A batch is at most 16 lines,
		// well under PIPE_BUF, so it reaches the pipe in one write.
		for _, id := range committed {
			fmt.Fprintf(out, "%s%s\n", reportPrefix, id)
		}
		if err := out.Flush(); err != nil {
			t.Fatal(err) // the parent has gone
		}
	}
}

func durabilitySeedValue(t *testing.T) uint64 {
	if *durabilitySeed != 0 {
		return *durabilitySeed
	}
	if v := os.Getenv(durabilitySeedEnv); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", durabilitySeedEnv, err)
		}
		return seed
	}
	return 1
}

func TestDurability(t *testing.T) {
	if os.Getenv(childDBEnv) != "" {
		t.Skip("in the child process")
	}
	seed := durabilitySeedValue(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kill schedule seed %d: rerun with go test -run=TestDurability ./store/ -durability.seed=%d", seed, seed)
		}
	})
	rounds := durabilityRounds
	if testing.Short() {
		rounds = durabilityShortRounds
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "murmur.db")

	committed := map[crdt.ID]bool{} // every ID reported over all rounds
	chain := 0
	for round := range rounds {
		delay := time.Duration(rng.Int64N(int64(maxKillDelay) + 1))
		ids := killChildAfter(t, path, rng.Uint64(), delay)
		if len(ids) == 0 {
			t.Fatalf("round %d: no commit reported", round)
		}
		for _, id := range ids {
			committed[id] = true
		}
		chain = checkAfterCrash(t, round, path, ids, committed)
	}
	t.Logf("%d rounds; %d entries reported committed; the appended chain is %d long", rounds, len(committed), chain)
}

// killChildAfter starts a child on path, waits for its first report, lets
// it run for delay more, kills it with SIGKILL and returns every ID it
// reported.
func killChildAfter(t *testing.T, path string, childSeed uint64, delay time.Duration) []crdt.ID {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBEnv+"="+path, childSeedEnv+"="+strconv.FormatUint(childSeed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// The reader owns lines until it closes done.
	var lines []string
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // EOF; a fragment without '\n' was cut by the kill and is not a report
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
			if len(lines) == 1 {
				close(first)
			}
		}
	}()
	exited := false
	stop := func() { // leave no process or goroutine behind
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait() // closes stdout, which ends the reader
			<-done
			exited = true
		}
	}
	defer stop()

	select {
	case <-first:
	case <-done:
		stop()
		t.Fatalf("child exited before reporting a commit: %v\n%s", cmd.ProcessState, stderr.Bytes())
	case <-time.After(childDeadline):
		stop() // stderr is the child's until Wait has returned
		t.Fatalf("child reported no commit within %v\n%s", childDeadline, stderr.Bytes())
	}

	time.Sleep(delay) // the kill schedule itself, not a wait for a condition
	// Process.Kill is SIGKILL: no handler runs, no buffer is flushed.
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(childDeadline):
		t.Fatalf("child still writing %v after SIGKILL", childDeadline)
	}
	err = cmd.Wait()
	exited = true
	if code := cmd.ProcessState.ExitCode(); code != -1 { // -1: ended by a signal
		if code != 0 {
			t.Fatalf("child failed (%v) before it was killed:\n%s", err, stderr.Bytes())
		}
		t.Logf("child ran its %d operations before the kill", childMaxOps)
	}

	ids := make([]crdt.ID, 0, len(lines))
	for _, line := range lines {
		hex, ok := strings.CutPrefix(line, reportPrefix)
		if !ok {
			continue // the test framework's own output
		}
		id, err := crdt.ParseID(hex)
		if err != nil {
			t.Fatalf("child reported %q: %v", line, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkAfterCrash opens the database the child was killed on and checks it:
// integrity, every ID reported in this round and before, and that the
// appended chain has one entry per seq from 1 up. It returns the length of
// the chain.
func checkAfterCrash(t *testing.T, round int, path string, ids []crdt.ID, committed map[crdt.ID]bool) int {
	t.Helper()
	ctx := context.Background()
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatalf("round %d: open after kill: %v", round, err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	for _, id := range ids {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("round %d: entry %s was reported committed: %v", round, id, err)
		}
		if !bytes.Equal(r.Raw, synthRaw(id)) {
			t.Fatalf("round %d: entry %s has the wrong raw", round, id)
		}
	}

	// Earlier rounds' entries are still there, and the chain is whole.
	stored := map[crdt.ID]bool{}
	seqs := map[uint64]bool{}
	chain := 0
	_, err = s.Scan(ctx, 0, func(_ int64, r Record) error {
		stored[r.ID] = true
		if r.Author == durabilityAuthor {
			if seqs[r.Seq] {
				return fmt.Errorf("two entries with seq %d", r.Seq)
			}
			seqs[r.Seq] = true
			chain++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: scan: %v", round, err)
	}
	for id := range committed {
		if !stored[id] {
			t.Fatalf("round %d: entry %s, reported in an earlier round, is gone", round, id)
		}
	}
	for seq := uint64(1); seq <= uint64(chain); seq++ {
		if !seqs[seq] {
			t.Fatalf("round %d: chain of %d entries lacks seq %d", round, chain, seq)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return chain
}
