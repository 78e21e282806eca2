package p2p_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
	msync "github.com/murmurnet/murmur/sync"
)

// startNodes is meshOf without the mock network.
func startNodes(t *testing.T, opts []p2p.RunOptions) []*meshNode {
	t.Helper()
	nodes, _ := meshOf(t, opts)
	return nodes
}

// logLines collects a runner's log.
type logLines struct {
	mu    gosync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *logLines) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return line
	}
	return ""
}

// stall makes m's node take reconciliations and never answer, until the
// test ends; it says on the channel who opened each.
func stall(t *testing.T, m *meshNode) <-chan peer.ID {
	opened := make(chan peer.ID, 16)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	m.r.Host().SetStreamHandler(msync.Protocol(m.n.Network()), func(s network.Stream) {
		select {
		case opened <- s.Conn().RemotePeer():
		default:
		}
		<-release
		s.Reset()
	})
	return opened
}

func never(peer.ID) bool { return false }

// (e) Anti-entropy does not wait on one slow peer: while a session with a
// stalled peer waits out its (long) idle timeout, this node reconciles
// with the others.
func TestAntiEntropyDoesNotWaitOnAStalledPeer(t *testing.T) {
	const hour = time.Hour
	var mu gosync.Mutex
	var initiated []peer.ID // A's sessions that ended well, started by A
	nodes := startNodes(t, []p2p.RunOptions{
		// A: ignores gossip, so what it gets comes by reconciliation; a
		// stalled session would hold it for two minutes.
		{SyncEvery: 500 * time.Millisecond, PollEvery: 20 * time.Millisecond, Gossip: msync.GossipOptions{Filter: never},
			Sync: msync.SyncOptions{IdleTimeout: 2 * time.Minute, OnSessionEnd: func(p peer.ID, st msync.Stats, err error) {
				if err == nil && st.Initiator {
					mu.Lock()
					defer mu.Unlock()
					initiated = append(initiated, p)
				}
			}}},
		// B: stalls below; starts no sessions of its own after connecting.
		{SyncEvery: hour, PollEvery: 20 * time.Millisecond, Gossip: msync.GossipOptions{Filter: never}},
		// C: writes; starts no sessions of its own after connecting.
		{SyncEvery: hour, PollEvery: 20 * time.Millisecond},
	})
	a, b, c := nodes[0], nodes[1], nodes[2]
	waitFor(t, 30*time.Second, "B and C admitted", func() bool { return b.n.Status().Admitted && c.n.Status().Admitted })
	opened := stall(t, b)
	timeout := time.After(30 * time.Second)
	for byA := false; !byA; {
		select {
		case p := <-opened: // (C may open one too, after its warm-up)
			byA = p == a.r.Host().ID()
		case <-timeout:
			t.Fatal("A did not start a session with B")
		}
	}
	// A's session with B now waits for two minutes. A still starts
	// sessions with C, and pulls what C writes.
	mu.Lock()
	before := len(initiated)
	mu.Unlock()
	waitFor(t, 30*time.Second, "A syncs with C while its session with B stalls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range initiated[before:] {
			if p == c.r.Host().ID() {
				return true
			}
		}
		return false
	})
	req, err := c.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Written while B stalls"})
	if err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 30*time.Second, "A pulls C's entry while its session with B stalls", func() bool {
		_, err := a.n.Request(req.ID().String())
		return err == nil
	})
	t.Logf("A pulled C's entry %v after it was written, its session with B stalled", took.Round(time.Millisecond))
}

// Anti-entropy runs at most four sessions at once: with six peers that
// all stall, A holds four sessions open at a time, and starts another
// once one of them ends.
func TestAntiEntropySessionsAreBounded(t *testing.T) {
	const hour = time.Hour
	opts := []p2p.RunOptions{{SyncEvery: 300 * time.Millisecond, PollEvery: 20 * time.Millisecond, Gossip: msync.GossipOptions{Filter: never},
		Sync: msync.SyncOptions{IdleTimeout: 10 * time.Minute}}}
	for range 6 {
		// The others start no session (nor serve one, until they stall
		// below): each session is one A started.
		opts = append(opts, p2p.RunOptions{SyncEvery: hour, PollEvery: 20 * time.Millisecond, Gossip: msync.GossipOptions{Filter: never},
			Sync: msync.SyncOptions{Allow: never}})
	}
	nodes := startNodes(t, opts)
	a, others := nodes[0], nodes[1:]
	// Every other node takes A's reconciliations and never answers, until
	// told; each says when A opens one with it. A stream stays open until
	// A gives up the session or the node is told to end it.
	var mu gosync.Mutex
	open, most := 0, 0 // A's sessions open now, and at most so far
	byA := make(chan int, 64)
	release := make([]chan struct{}, len(others))
	for i, m := range others {
		release[i] = make(chan struct{})
		rel := release[i]
		t.Cleanup(func() {
			select {
			case <-rel:
			default:
				close(rel)
			}
		})
		m.r.Host().SetStreamHandler(msync.Protocol(m.n.Network()), func(s network.Stream) {
			if s.Conn().RemotePeer() != a.r.Host().ID() {
				s.Reset()
				return
			}
			mu.Lock()
			open++
			most = max(most, open)
			mu.Unlock()
			ended := make(chan struct{})
			go func() { // (until A resets the stream, or this side does)
				io.Copy(io.Discard, s)
				mu.Lock()
				open--
				mu.Unlock()
				close(ended)
			}()
			byA <- i
			select {
			case <-rel:
			case <-ended:
			}
			s.Reset()
		})
	}
	atMost := func(when string) {
		mu.Lock()
		defer mu.Unlock()
		if most > 4 {
			t.Fatalf("%s: A held %d sessions open at once", when, most)
		}
	}
	held := map[int]bool{}
	timeout := time.After(90 * time.Second)
	for len(held) < 4 {
		select {
		case i := <-byA:
			held[i] = true
		case <-timeout:
			t.Fatalf("A opened sessions with %d peers, want 4", len(held))
		}
	}
	// Several of A's periods go by.
	time.Sleep(2 * time.Second)
	atMost("four peers stalling")
	// One ends: a session with a peer A had not reached starts.
	for i := range held {
		close(release[i])
		break
	}
	timeout = time.After(90 * time.Second)
	for started := false; !started; {
		select {
		case i := <-byA:
			started = !held[i]
		case <-timeout:
			t.Fatal("A started no session with another peer once one ended")
		}
	}
	atMost("after one ended")
}

// A session that fails is logged as failed, with what it moved, on both
// sides; one that succeeds is logged as synced.
func TestFailedSessionsAreLogged(t *testing.T) {
	var la, lb logLines
	nodes := startNodes(t, []p2p.RunOptions{
		{SyncEvery: hour(), PollEvery: 20 * time.Millisecond, Log: logs.Printf(la.logf), Sync: msync.SyncOptions{IdleTimeout: time.Second}},
		{SyncEvery: hour(), PollEvery: 20 * time.Millisecond, Log: logs.Printf(lb.logf), Sync: msync.SyncOptions{IdleTimeout: time.Second}},
	})
	a, b := nodes[0], nodes[1]
	waitFor(t, 30*time.Second, "B admitted", func() bool { return b.n.Status().Admitted })
	// Each side names the other by its organisation's and device's IDs.
	aID, bID := b.n.DeviceName(a.r.Host().ID()), a.n.DeviceName(b.r.Host().ID())
	if !strings.HasPrefix(bID, "organisation "+b.n.Org().String()[:8]+"'s device "+b.n.Device().String()[:8]) {
		t.Fatalf("A names B's node %q", bID)
	}
	waitFor(t, 10*time.Second, "a success line on each side", func() bool {
		return la.find("synced with "+bID, " received") != "" && lb.find("synced with "+aID, " received") != ""
	})

	// A as the initiator, B gone silent.
	stall(t, b)
	// (A session A started on its own may be under way, B silent to it
	// too: then this one is refused as busy, and that one fails.)
	_, err := a.r.SyncWith(context.Background(), b.r.Host().ID())
	if err == nil {
		t.Fatal("a session with a silent peer succeeded")
	}
	var line string
	deadline := time.Now().Add(10 * time.Second)
	for line == "" && time.Now().Before(deadline) {
		line = la.find("sync with "+bID+" failed after", "0 entries received", "the link went quiet for 1 s")
		time.Sleep(10 * time.Millisecond)
	}
	if line == "" {
		t.Fatalf("no failure line on the initiator's side (the session: %v); log:\n%s", err, strings.Join(la.all(), "\n"))
	}
	t.Log(line)

	// A as the responder, its initiator gone silent half-way through its
	// first message.
	quiet := func() int { return strings.Count(strings.Join(la.all(), "\n"), "the link went quiet") }
	before := quiet()
	s, err := b.r.Host().NewStream(context.Background(), a.r.Host().ID(), msync.Protocol(a.n.Network()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte{1, 40, 1, 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a failure line on the responder's side", func() bool {
		return quiet() > before
	})
	for _, l := range la.all() {
		if strings.Contains(l, "failed") && strings.Contains(l, " sent") && !strings.Contains(l, " of ") {
			t.Fatalf("a failed session claims what it sent: %s", l)
		}
	}
}

func hour() time.Duration { return time.Hour }

// A member's node lost is said at info, by its IDs: an operator at the
// default level sees the link drop, not only the next sync that fails.
func TestLostConnectionIsSaidAtInfo(t *testing.T) {
	var la logLines
	log, err := logs.New(logWriter{&la}, logs.Options{Format: "text", Level: slog.LevelInfo})
	if err != nil {
		t.Fatal(err)
	}
	nodes := startNodes(t, []p2p.RunOptions{{SyncEvery: hour(), Log: log}, {SyncEvery: hour()}})
	a, b := nodes[0], nodes[1]
	waitFor(t, 30*time.Second, "B admitted", func() bool { return b.n.Status().Admitted })
	bID := a.n.DeviceName(b.r.Host().ID())
	waitFor(t, 30*time.Second, "A says it is connected to B", func() bool { return la.find("connected to "+bID) != "" })
	b.r.Close()
	b.r.Host().Close()
	waitFor(t, 30*time.Second, "A says it lost B", func() bool { return la.find("no longer connected to "+bID) != "" })
	if l := la.find("no longer connected to " + bID); strings.Contains(l, "debug:") || strings.Contains(l, "warning:") {
		t.Errorf("not at info: %q", l)
	}
}

// logWriter is a log's writer into logLines.
type logWriter struct{ l *logLines }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.logf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
