package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
)

// One backup restored on two machines: both copies sync, both write, and
// the two entries at one place of the device's chain reach a member. Both
// copies then say so in status, refuse every write and fail the doctor;
// the member's status names the organisation.
func TestRestoredTwiceForks(t *testing.T) {
	f, fr, b, br, _ := twoOrgs(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "beta.backup")
	if _, err := b.Backup(ctx, file, nil); err != nil {
		t.Fatal(err)
	}
	br.Close()
	b.Close()
	d1, d2 := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	for _, d := range []string{d1, d2} {
		if _, err := Restore(ctx, file, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	// start opens a copy and runs it with the founder's node reachable,
	// one copy at a time (the two share a peer ID).
	start := func(dir string) (*Node, *p2p.Runner) {
		n, err := OpenWith(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: fr.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		return n, r
	}
	write := func(n *Node, title string) error {
		_, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: title})
		return err
	}
	n1, r1 := start(d1)
	eventually(t, 30*time.Second, "copy one writes again", func() bool { return n1.Recovering() == nil })
	r1.Close()
	n1.Close()
	n2, r2 := start(d2)
	eventually(t, 30*time.Second, "copy two writes again", func() bool { return n2.Recovering() == nil })
	if err := write(n2, "From copy two"); err != nil {
		t.Fatal(err)
	}
	converged(t, n2, f)
	r2.Close()
	n2.Close()
	// Copy one, not having seen copy two's entry, writes at the same place.
	n1, err := OpenWith(ctx, d1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(n1, "From copy one"); err != nil {
		t.Fatal(err)
	}
	if st := n1.Status(); st.ForkedNotice != "" || len(st.ForkedOrgs) != 0 {
		t.Fatalf("a fork before anyone saw one: %+v", st)
	}
	n1.Close()
	for _, d := range []string{d1, d2} {
		n, r := start(d)
		converged(t, n, f)
		st := n.Status()
		if !strings.Contains(st.ForkedNotice, "this device's key is in use in two places") || !strings.Contains(st.ForkedNotice, "revoke this device") {
			t.Fatalf("%s: status says %q", filepath.Base(d), st.ForkedNotice)
		}
		if err := write(n, "After the fork"); !errors.Is(err, ErrForked) {
			t.Fatalf("%s: a write from a forked device: %v", filepath.Base(d), err)
		}
		r.Close()
		n.Close()
		dg, err := Diagnose(ctx, d, nil)
		if err != nil || dg.Healthy {
			t.Fatalf("%s: the doctor says %+v, %v", filepath.Base(d), dg, err)
		}
		found := false
		for _, fd := range dg.Findings {
			found = found || (strings.Contains(fd.Problem, "in use in two places") && strings.Contains(fd.Do, "revoke"))
		}
		if !found {
			t.Fatalf("%s: the doctor's findings: %+v", filepath.Base(d), dg.Findings)
		}
	}
	st := f.Status()
	if st.ForkedNotice != "" || len(st.ForkedOrgs) != 1 || st.ForkedOrgs[0] != "a device of Beta Collective is in use in two places: ask them to revoke it" {
		t.Fatalf("the founder's status: %q, %q", st.ForkedNotice, st.ForkedOrgs)
	}
	if err := write(f, "The founder still writes"); err != nil {
		t.Fatal(err)
	}
}

// The mark of a rebuilt database is kept in the database too: deleting
// repair.pending by hand does not lift the wait. --resume-writes (the
// network's only node) does.
func TestRepairMarkDeletedByHand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := Init(ctx, dir, InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Alone"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Repair(ctx, dir, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, repairName)); err != nil {
		t.Fatal(err)
	}
	if d, err := Diagnose(ctx, dir, nil); err != nil || d.Recovering == nil {
		t.Fatalf("the doctor, the mark deleted: %+v, %v", d, err)
	}
	n, err := OpenWith(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.Recovering() == nil || n.Status().Recovering == "" {
		t.Fatalf("the wait ended with the file deleted by hand")
	}
	if _, err := os.Stat(filepath.Join(dir, repairName)); err != nil {
		t.Fatalf("repair.pending not written again: %v", err)
	}
	os.Remove(filepath.Join(dir, repairName)) // again, while the node is open
	if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Too early"}); !errors.Is(err, ErrRecovering) {
		t.Fatalf("a write with the mark deleted by hand: %v", err)
	}
	n.Close()
	if _, err := ResumeWrites(ctx, dir, nil, false); err != nil { // the network's only node
		t.Fatal(err)
	}
	n, err = OpenWith(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Recovering() != nil {
		t.Fatalf("still waiting after --resume-writes")
	}
	if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Alone again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeWrites(ctx, dir, nil, false); !errors.Is(err, ErrNotRecovering) {
		t.Fatalf("resume with nothing waiting: %v", err)
	}
}

// --resume-writes is refused in a network with other members, unless
// forced; and writes resume only after a sync with a member that lacked
// nothing the rebuilt database holds.
func TestRecoveryEndsWithAMemberThatLacksNothing(t *testing.T) {
	f, fr, b, br, _ := twoOrgs(t)
	ctx := context.Background()
	// B writes while cut off from the founder, then is backed up.
	br.Close()
	e, err := b.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Never reached the founder"})
	if err != nil {
		t.Fatal(err)
	}
	own := e.ID()
	file := filepath.Join(t.TempDir(), "beta.backup")
	if _, err := b.Backup(ctx, file, nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	d := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, file, d, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeWrites(ctx, d, nil, false); !errors.Is(err, ErrNotAlone) || !errors.Is(err, ErrInput) {
		t.Fatalf("--resume-writes with other members: %v", err)
	}
	n, err := OpenWith(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var mu sync.Mutex
	var log []string
	r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: fr.Addrs(), SyncEvery: time.Second, PollEvery: 20 * time.Millisecond,
		Log: logs.Printf(func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf(format, args...))
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	eventually(t, 30*time.Second, "the restored node writes again", func() bool { return n.Recovering() == nil })
	// (The line that says so is logged just after: on a loaded machine, a
	// moment later.)
	eventually(t, 30*time.Second, "the restored node says it writes again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, "this device writes again") })
	})
	// The wait ended in a session in which the founder lacked nothing:
	// it held the entry that never reached it before writes resumed.
	f.mu.Lock()
	_, _, held := f.state.Entry(own)
	f.mu.Unlock()
	if !held {
		t.Fatalf("writes resumed before the founder held the restored node's entries")
	}
	mu.Lock()
	lacked, resumed := -1, -1
	for i, l := range log {
		if strings.Contains(l, "lacked entries this node holds") && lacked < 0 {
			lacked = i
		}
		if strings.Contains(l, "this device writes again") {
			resumed = i
		}
	}
	mu.Unlock()
	if resumed < 0 || resumed < lacked {
		t.Fatalf("writes resumed before a session with a member that lacked nothing: %q", log)
	}
	converged(t, n, f)
}
