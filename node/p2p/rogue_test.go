package p2p_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// The rogue host test: libp2p hosts on the honest nodes' network that are
// not Murmur nodes speak both replication protocols by hand and send what
// invariant 3 lists — forged, malformed, replayed, oversized and
// unauthorised entries — on both paths, as sender and as responder. No
// honest node may store or forward any of it, crash or hang, and honest
// entries written meanwhile must still reach every honest node.
//
// A host that is no member's cannot reach either path at all (the
// transport gate: gate_test.go), so the rogues run with the keys of
// admitted devices — a seized device before its revocation, the attacker
// the gate cannot stop. The one difference that makes: an entry by a key
// the network does not know, sent by a member's node, is kept waiting for
// its author's admission (bounded, never accepted, never forwarded), as it
// would be from an honest node that is ahead.

// rogueSeed makes the junk repeatable.
const rogueSeed = 20260302

// The reconciliation stream's frame types (sync/stream.go): the wire
// format is the contract, so the rogue writes it by hand.
const (
	frameMsg     = 1
	frameEntries = 2
	frameBye     = 3
)

// rogueTurn is how long an honest node waits here on a peer that moves no
// bytes (its idle timeout).
const rogueTurn = 2 * time.Second

func TestRogueHost(t *testing.T) {
	ctx := context.Background()
	hn := startHonest(t, 4)
	kit := makeJunk(t, hn)
	honest := hn.nodes[:3] // linked to the rogues; hn.nodes[3] is linked to honest nodes only
	base := hn.nodes[0].n.Status().Entries

	// Rogue 1 publishes without pubsub signatures or author (what the
	// honest nodes use) and opens reconciliations. Rogue 2 signs its pubsub
	// envelopes (go-libp2p-pubsub's default) and answers reconciliations.
	r1 := newRogue(t, hn, hn.rogueKeys[0], pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(hashID))
	r2 := newRogue(t, hn, hn.rogueKeys[1])
	r1.kit, r2.kit = kit, kit
	r2.h.SetStreamHandler(msync.Protocol(kit.network), r2.respond)
	for _, r := range []*rogue{r1, r2} {
		for _, m := range honest {
			if _, err := hn.mn.LinkPeers(r.h.ID(), m.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
			if _, err := hn.mn.ConnectPeers(r.h.ID(), m.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	rogues := map[peer.ID]bool{r1.h.ID(): true, r2.h.ID(): true}
	r1.reachHonest(t, hn, honest)
	r2.reachHonest(t, hn, honest)

	// The live path. Every message must reach the honest nodes' validation
	// (or, for rogue 2, pubsub's envelope check) before anything is judged.
	t.Run("gossip", func(t *testing.T) {
		for _, j := range kit.gossip {
			r1.publish(t, j.raw)
		}
		r1.publish(t, kit.forgedCopy) // a forged signature on an entry none holds yet...
		hn.waitSeen(t, honest, r1.h.ID(), append(kit.payloads(kit.gossip), kit.forgedCopy))
		r1.publish(t, kit.genuine.Raw()) // ...must not make them drop the genuine one
		r1.publish(t, kit.tooBig)        // over pubsub's message limit: the stream is dropped
		for _, j := range kit.viaSigned {
			r2.publish(t, j.raw)
		}
		hn.waitSeen(t, honest, r2.h.ID(), kit.payloads(kit.viaSigned))
		waitFor(t, 10*time.Second, "the genuine entry relayed by the rogue is accepted everywhere", func() bool {
			for _, m := range hn.nodes {
				if _, err := m.n.Request(kit.genuine.ID().String()); err != nil {
					return false
				}
			}
			return true
		})
		for i := range honest {
			for _, s := range hn.traces[i].all() {
				if s.from == r2.h.ID() && s.event == "validate" {
					t.Errorf("node %d validated a message in a signed envelope; pubsub should drop those first", i)
				}
			}
		}
		// What the first honest node made of each (all three do the same).
		verdicts := map[string][]string{}
		for _, s := range hn.traces[0].all() {
			if rogues[s.from] && s.event != "validate" {
				verdicts[s.data] = append(verdicts[s.data], s.event)
			}
		}
		for _, j := range slices.Concat(kit.gossip, []junk{{"a forged copy of an entry, then", kit.forgedCopy}, {"the genuine entry, relayed (or forwarded first by an honest peer)", kit.genuine.Raw()}}) {
			t.Logf("gossip, rogue 1: %-58s %v", j.name, verdicts[string(j.raw)])
		}
		for _, j := range kit.viaSigned {
			t.Logf("gossip, rogue 2: %-58s %v", j.name, verdicts[string(j.raw)])
		}
		// Invalid messages cost their sender score (GossipSub's P4), and
		// nobody else; a dozen are far from enough to have it ignored.
		waitFor(t, 10*time.Second, "the rogues lose score at every node they sent junk to", func() bool {
			for _, m := range honest {
				sc := m.r.PeerScores()
				if sc[r1.h.ID()] >= 0 || sc[r2.h.ID()] >= 0 {
					return false
				}
			}
			return true
		})
		for i, m := range hn.nodes {
			sc := m.r.PeerScores()
			if i == 0 {
				t.Logf("node 0 scores rogue 1 %.1f, rogue 2 %.1f", sc[r1.h.ID()], sc[r2.h.ID()])
			}
			for p, s := range sc {
				if !rogues[p] && s != 0 {
					t.Errorf("node %d scores honest peer %s %v", i, p, s)
				}
			}
		}
	})
	hn.write(t, "during the attack")

	// The pull path, the rogue opening the session.
	t.Run("sync-initiator", func(t *testing.T) {
		fakeStart := fakeFirstMessage(t)
		junkFrame := frame(frameEntries, entriesPayload(kit.payloads(kit.frame)...))
		forgedFrame := frame(frameEntries, entriesPayload(kit.payloads(kit.forged)...))
		misbehaved := func(err error) bool { return errors.Is(err, msync.ErrPeerMisbehaved) }
		anyErr := func(err error) bool { return err != nil }
		for k, sc := range []struct {
			name string
			send func(w io.Writer, r *bufio.Reader) error
			want func(error) bool
		}{
			{"a valid first message, then junk entries", func(w io.Writer, r *bufio.Reader) error {
				if err := writeAll(w, frame(frameMsg, fakeStart)); err != nil {
					return err
				}
				if err := readTurn(r); err != nil {
					return err
				}
				return writeAll(w, junkFrame, forgedFrame, frame(frameMsg, fakeStart))
			}, misbehaved},
			{"junk entries before any message", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, junkFrame, forgedFrame)
			}, misbehaved},
			{"an unknown frame type", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, frame(9, []byte("hello")))
			}, anyErr},
			{"a huge length prefix", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, binary.AppendUvarint([]byte{frameEntries}, 1<<40))
			}, anyErr},
			{"a truncated frame, then end of stream", func(w io.Writer, _ *bufio.Reader) error {
				err := writeAll(w, frame(frameMsg, fakeStart)[:len(fakeStart)/2])
				if cw, ok := w.(interface{ CloseWrite() error }); ok && err == nil {
					err = cw.CloseWrite()
				}
				return err
			}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
			{"a truncated frame, then silence", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, frame(frameMsg, fakeStart)[:len(fakeStart)/2])
			}, func(err error) bool { return errors.Is(err, msync.ErrIdle) }},
			{"a message of random bytes", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, frame(frameMsg, append([]byte{fakeStart[0]}, kit.random(300)...))) // this release's version byte
			}, func(err error) bool { return errors.Is(err, msync.ErrMalformed) }},
			{"an entry over the size limit in a frame", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, frame(frameEntries, entriesPayload(kit.oversized)))
			}, anyErr},
			{"an entries frame whose lengths overrun it", func(w io.Writer, _ *bufio.Reader) error {
				return writeAll(w, frame(frameEntries, append(binary.AppendUvarint(nil, 500), kit.random(10)...)))
			}, anyErr},
		} {
			to := k % len(honest)
			before := len(hn.sessions[to].with(r1.h.ID()))
			start := time.Now()
			r1.initiate(t, honest[to].r.Host().ID(), kit.network, sc.send)
			var end sessionEnd
			waitFor(t, rogueTurn+time.Minute, sc.name+": the honest session ends", func() bool { // (a hang guard)
				ends := hn.sessions[to].with(r1.h.ID())
				if len(ends) > before {
					end = ends[before]
					return true
				}
				return false
			})
			t.Logf("%s: node %d ended the session after %v: %v (%d entries received, %d refused)",
				sc.name, to, time.Since(start).Round(time.Millisecond), end.err, end.stats.Received, end.stats.Refused)
			if !sc.want(end.err) {
				t.Errorf("%s: the session ended with %v", sc.name, end.err)
			}
		}
	})

	// The pull path, an honest node opening the session to the rogue.
	t.Run("sync-responder", func(t *testing.T) {
		for mode := range respondModes {
			r2.mode.Store(int32(mode))
			from := hn.nodes[mode%len(honest)]
			var (
				err    error
				st     msync.Stats
				gaveUp bool // the test's deadline, not the node, ended the session
			)
			start := time.Now()
			for {
				sctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang guard
				st, err = from.r.SyncWith(sctx, r2.h.ID())
				gaveUp = sctx.Err() != nil
				cancel()
				if !errors.Is(err, msync.ErrBusy) { // an automatic session with the rogue is under way
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			took := time.Since(start)
			t.Logf("rogue answering with %s: %v after %v (%d entries received, %d refused)", respondModes[mode], err, took.Round(time.Millisecond), st.Received, st.Refused)
			if err == nil {
				t.Errorf("rogue answering with %s: the session ended without an error", respondModes[mode])
			}
			if gaveUp {
				t.Errorf("rogue answering with %s: the node never ended the session itself (%v)", respondModes[mode], took)
			}
		}
	})
	hn.write(t, "after the attack")

	want := base + 1 + 2*len(hn.nodes) // the relayed genuine entry, and two requests per node
	waitFor(t, 20*time.Second, "honest entries reach every honest node", func() bool {
		return converged(hn.nodes) && hn.nodes[0].n.Status().Entries == want
	})
	for _, m := range hn.nodes { // stopped, their states can be read entry by entry
		if err := m.r.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	}
	for i, m := range hn.nodes {
		waiting := 0 // unknown authors' entries a rogue member's node sent it
		for id, name := range kit.mayWait {
			st, ok := m.n.State().Has(id)
			switch {
			case !ok:
			case st != crdt.StatusWaiting:
				t.Errorf("node %d holds %s as %v", i, name, st)
			case i >= len(honest):
				t.Errorf("node %d, linked to honest nodes only, holds %s: it was forwarded", i, name)
			default:
				waiting++
			}
		}
		st := m.n.Status()
		if st.Entries != want || st.Waiting != waiting || st.Held != 0 {
			t.Errorf("node %d: %d entries, %d waiting, %d held; want %d, %d, 0", i, st.Entries, st.Waiting, st.Held, want, waiting)
		}
		c, err := m.n.Store().Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Accepted != want || c.Waiting != waiting || c.Held != 0 {
			t.Errorf("node %d stores %+v; want %d accepted, %d waiting and nothing else", i, c, want, waiting)
		}
		for id, name := range kit.mustNotHold {
			if st, ok := m.n.State().Has(id); ok {
				t.Errorf("node %d holds %s (%v)", i, name, st)
			}
			if _, err := m.n.Store().Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("node %d stores %s (%v)", i, name, err)
			}
		}
		for id, raw := range kit.mustKeep {
			if r, err := m.n.Store().Get(ctx, id); err != nil || !bytes.Equal(r.Raw, raw) {
				t.Errorf("node %d: entry %v is not stored as signed (%v)", i, id, err)
			}
		}
	}
	// Nothing the rogues sent went further than the nodes they sent it to:
	// no honest node got any of it from another honest node.
	junk := map[string]string{string(kit.forgedCopy): "a forged copy of the genuine entry", string(kit.tooBig): "a message over the size limit"}
	for _, j := range slices.Concat(kit.gossip, kit.viaSigned, r1.extra(), r2.extra()) {
		junk[string(j.raw)] = j.name
	}
	for i := range hn.nodes {
		for _, s := range hn.traces[i].all() {
			name, isJunk := junk[s.data]
			if !isJunk {
				continue
			}
			switch {
			case !rogues[s.from]:
				t.Errorf("node %d got %s from honest peer %s: it was forwarded", i, name, s.from)
			case s.event == "deliver":
				t.Errorf("node %d delivered %s", i, name)
			}
		}
	}
}

// honestNet is a network of running nodes on a mock network, each with a
// trace of its gossip and a log of its reconciliations.
type honestNet struct {
	mn       mocknet.Mocknet
	nodes    []*meshNode
	traces   []*topicTrace
	sessions []*sessionLog
	insider  *outsider // an admitted device whose key the test holds; no node runs it
	insider2 *outsider
	// rogueKeys are admitted devices whose keys the rogue hosts run with.
	rogueKeys [2]*outsider
}

func startHonest(t *testing.T, size int) *honestNet {
	t.Helper()
	ctx := context.Background()
	founder, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Org 0"})
	if err != nil {
		t.Fatal(err)
	}
	hn := &honestNet{nodes: []*meshNode{{n: founder}}, insider: newOutsider("Insider", 0x51), insider2: newOutsider("Insider 2", 0x52)}
	for i := 1; i < size; i++ {
		m, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: founder.Genesis()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := founder.Append(ctx, &crdt.Admission{Device: m.Device(), Name: fmt.Sprintf("Org %d", i)}); err != nil {
			t.Fatal(err)
		}
		hn.nodes = append(hn.nodes, &meshNode{n: m})
	}
	hn.insider.admit(t, founder)
	hn.insider2.admit(t, founder)
	hn.rogueKeys = [2]*outsider{newOutsider("Rogue 1", 0x61), newOutsider("Rogue 2", 0x62)}
	for _, o := range hn.rogueKeys {
		o.admit(t, founder)
	}
	hn.mn = mocknet.New()
	t.Cleanup(func() { hn.mn.Close() })
	for i, m := range hn.nodes {
		t.Cleanup(func() { m.n.Close() })
		key, err := m.n.HostKey()
		if err != nil {
			t.Fatal(err)
		}
		h, err := hn.mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4721", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		tr, log := &topicTrace{}, &sessionLog{}
		hn.traces, hn.sessions = append(hn.traces, tr), append(hn.sessions, log)
		if m.r, err = p2p.Start(t.Context(), m.n, p2p.RunOptions{Host: h, SyncEvery: 2 * time.Second, PollEvery: 20 * time.Millisecond,
			Gossip: msync.GossipOptions{Tracer: tr},
			Sync:   msync.SyncOptions{IdleTimeout: rogueTurn, OnSessionEnd: log.record}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.r.Close() })
	}
	for i, a := range hn.nodes {
		for _, b := range hn.nodes[i+1:] {
			if _, err := hn.mn.LinkPeers(a.r.Host().ID(), b.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
			if _, err := hn.mn.ConnectPeers(a.r.Host().ID(), b.r.Host().ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Settled: genesis, the founders' key and secret check, an admission
	// and a key for each other organisation, the insiders' and rogues'
	// admissions. (Each node publishes its organisation's key once it
	// knows it is admitted.)
	waitFor(t, 20*time.Second, "the honest network settles", func() bool {
		return converged(hn.nodes) && hn.nodes[0].n.Status().Entries == 3+2*(size-1)+4
	})
	return hn
}

// write has every honest node open a request.
func (hn *honestNet) write(t *testing.T, when string) {
	t.Helper()
	for i, m := range hn.nodes {
		if _, err := m.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: fmt.Sprintf("Written by node %d %s", i, when)}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitSeen waits until each node took in each payload from the peer: the
// attack reached them.
func (hn *honestNet) waitSeen(t *testing.T, nodes []*meshNode, from peer.ID, payloads [][]byte) {
	t.Helper()
	waitFor(t, 30*time.Second, "the honest nodes take in what the rogue sent", func() bool {
		for i := range nodes {
			got := map[string]bool{}
			for _, s := range hn.traces[i].all() {
				if s.from == from {
					got[s.data] = true
				}
			}
			for _, p := range payloads {
				if !got[string(p)] {
					return false
				}
			}
		}
		return true
	})
}

// topicTrace is a pubsub tracer that records every message a node's gossip
// took in, with the peer it came from and what became of it.
type topicTrace struct {
	mu   gosync.Mutex
	seen []tracedMsg
}

type tracedMsg struct {
	from  peer.ID
	data  string
	event string
}

func (tr *topicTrace) add(m *pubsub.Message, event string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seen = append(tr.seen, tracedMsg{from: m.ReceivedFrom, data: string(m.Data), event: event})
}

func (tr *topicTrace) all() []tracedMsg {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
}

func (tr *topicTrace) ValidateMessage(m *pubsub.Message)           { tr.add(m, "validate") }
func (tr *topicTrace) DeliverMessage(m *pubsub.Message)            { tr.add(m, "deliver") }
func (tr *topicTrace) RejectMessage(m *pubsub.Message, why string) { tr.add(m, "reject: "+why) }
func (tr *topicTrace) DuplicateMessage(m *pubsub.Message)          { tr.add(m, "duplicate") }
func (tr *topicTrace) UndeliverableMessage(*pubsub.Message)        {}
func (tr *topicTrace) OnNewOutboundStream(peer.ID, protocol.ID)    {}
func (tr *topicTrace) OnClosedOutboundStream(peer.ID)              {}
func (tr *topicTrace) Join(string)                                 {}
func (tr *topicTrace) Leave(string)                                {}
func (tr *topicTrace) Graft(peer.ID, string)                       {}
func (tr *topicTrace) Prune(peer.ID, string)                       {}
func (tr *topicTrace) ThrottlePeer(peer.ID)                        {}
func (tr *topicTrace) RecvRPC(*pubsub.RPC)                         {}
func (tr *topicTrace) SendRPC(*pubsub.RPC, peer.ID)                {}
func (tr *topicTrace) DropRPC(*pubsub.RPC, peer.ID)                {}

func (l *sessionLog) with(p peer.ID) []sessionEnd {
	var out []sessionEnd
	for _, e := range l.all() {
		if e.peer == p {
			out = append(out, e)
		}
	}
	return out
}

// junk is one thing a rogue sends.
type junk struct {
	name string
	raw  []byte
}

// junkKit is everything the rogues send.
type junkKit struct {
	network    crdt.ID
	rng        *rand.Rand
	gossip     []junk // published by rogue 1
	viaSigned  []junk // published by rogue 2, in signed pubsub envelopes
	frame      []junk // in one reconciliation ENTRIES frame
	forged     []junk // enough refused entries to end a session
	oversized  []byte
	tooBig     []byte // over pubsub's message limit
	forgedCopy []byte // genuine with a flipped signature bit, published first
	genuine    *crdt.Entry
	// mustNotHold are IDs that junk entries claim; no honest node may hold
	// them. mayWait are entries of keys the network does not know: a node
	// they were sent to by a member's node may keep them waiting, no more. mustKeep are entries the nodes hold that junk forged copies
	// of, with the bytes they must keep.
	mustNotHold map[crdt.ID]string
	mayWait     map[crdt.ID]string
	mustKeep    map[crdt.ID][]byte
}

func (k *junkKit) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k.rng.UintN(256))
	}
	return b
}

func (k *junkKit) payloads(js []junk) [][]byte {
	var out [][]byte
	for _, j := range js {
		out = append(out, j.raw)
	}
	return out
}

// flipSig returns raw with one bit of its signature flipped.
func flipSig(raw []byte) []byte {
	out := slices.Clone(raw)
	n, k := binary.Uvarint(out[1:]) // field 1, the header: tag, length, bytes
	out[1+k+int(n)+1] ^= 1          // then tag 2 and the signature
	return out
}

// handSigned encodes and signs an entry by hand, so that it can break the
// limits crdt.Sign keeps: a request of priv's device with this body.
func handSigned(priv []byte, network crdt.ID, seq uint64, prev crdt.ID, clock crdt.Clock, body []byte) ([]byte, crdt.ID) {
	author := crdt.PublicKeyOf(priv)
	h := []byte{1, 1, 2}
	h = append(h, network[:]...)
	h = append(h, 3)
	h = append(h, author[:]...)
	h = binary.AppendUvarint(append(h, 4), seq)
	if seq > 1 {
		h = append(append(h, 5), prev[:]...)
	}
	h = binary.AppendUvarint(append(h, 6), uint64(clock))
	h = binary.AppendUvarint(append(h, 8), uint64(crdt.KindRequest))
	bh := sha256.Sum256(body)
	h = append(append(h, 9), bh[:]...)
	msg := append([]byte("murmur-entry-v1\n"), h...)
	sig := ed25519.Sign(ed25519.PrivateKey(priv), msg)
	raw := binary.AppendUvarint([]byte{1}, uint64(len(h)))
	raw = append(append(raw, h...), 2)
	raw = append(append(raw, sig...), 3)
	raw = binary.AppendUvarint(raw, uint64(len(body)))
	return append(raw, body...), sha256.Sum256(msg)
}

func requestBody(t *testing.T, title string) []byte {
	t.Helper()
	b, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: title})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makeJunk builds everything the rogues send. It signs the insider's
// entries before anything reads the founder's state concurrently.
func makeJunk(t *testing.T, hn *honestNet) *junkKit {
	t.Helper()
	ctx := context.Background()
	founder := hn.nodes[0].n
	k := &junkKit{network: founder.Network(), rng: rand.New(rand.NewPCG(rogueSeed, 1)), mustNotHold: map[crdt.ID]string{}, mayWait: map[crdt.ID]string{}, mustKeep: map[crdt.ID][]byte{}}
	t.Logf("junk from seed %d", rogueSeed)
	never := func(name string, id crdt.ID, raw []byte) junk {
		k.mustNotHold[id] = name
		return junk{name, raw}
	}

	// The insider is a member: its genuine first entry is relayed by the
	// rogue after a forged copy; the rest of its chain is only ever sent
	// with flipped signatures.
	// (The nodes run: nothing here reads their states, only their stores.)
	clock := func(prev crdt.Clock) crdt.Clock {
		return crdt.NextClock(prev, 0, uint64(time.Now().UnixMilli()))
	}
	in := hn.insider
	sign := func(o *outsider, title string) *crdt.Entry {
		e, err := crdt.Sign(o.priv, crdt.Draft{Network: k.network, Seq: o.seq + 1, Prev: o.head, Clock: clock(o.clock), Kind: crdt.KindRequest, Body: requestBody(t, title)})
		if err != nil {
			t.Fatal(err)
		}
		o.seq, o.head, o.clock = e.Seq, e.ID(), e.Clock
		return e
	}
	k.genuine = sign(in, "Genuine, relayed by a rogue")
	k.forgedCopy = flipSig(k.genuine.Raw())
	k.mustKeep[k.genuine.ID()] = k.genuine.Raw()
	second := sign(in, "Never published with its own signature")
	for i := 0; i < 80; i++ {
		e := sign(in, fmt.Sprintf("Forged %d", i))
		k.forged = append(k.forged, never("a member's entry with a flipped signature bit", e.ID(), flipSig(e.Raw())))
	}
	bodyOver := bytes.Repeat([]byte{'x'}, crdt.MaxBodySize+1)
	overRaw, overID := handSigned(in.priv, k.network, in.seq+1, in.head, clock(in.clock), bodyOver)
	k.oversized, _ = handSigned(in.priv, k.network, in.seq+1, in.head, clock(in.clock), bytes.Repeat([]byte{'x'}, crdt.MaxEntrySize))
	if len(k.oversized) <= crdt.MaxEntrySize || len(overRaw) > crdt.MaxEntrySize {
		t.Fatalf("oversized entries of %d and %d bytes", len(k.oversized), len(overRaw))
	}
	// The hand encoder must agree with crdt.Sign where crdt.Sign can sign.
	if check, _ := handSigned(in.priv, k.network, second.Seq, second.Prev, second.Clock, second.Body); !bytes.Equal(check, second.Raw()) {
		t.Fatal("handSigned does not encode as crdt.Sign does")
	}
	// A second insider's valid entry, sent only in a signed pubsub envelope.
	enveloped := sign(hn.insider2, "Valid, but in a signed envelope")

	// Entries the network holds, replayed; one of them with a forged signature.
	var replays []junk
	var admission []byte
	if _, err := founder.Store().Scan(ctx, 0, func(_ int64, r store.Record) error {
		if r.Kind == crdt.KindOrgKey || r.Kind == crdt.KindOrgKeyV2 {
			// Written by each organisation's node as it starts: it may
			// still be on its way (live) when the replays are sent.
			k.mustKeep[r.ID] = r.Raw
			return nil
		}
		replays = append(replays, junk{fmt.Sprintf("a replay of the network's %v entry", r.Kind), r.Raw})
		k.mustKeep[r.ID] = r.Raw
		if r.Kind == crdt.KindAdmission && admission == nil {
			admission = r.Raw
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Another network's entries: valid signatures, wrong network.
	other, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	otherAdm, err := other.Append(ctx, &crdt.Admission{Device: in.key, Name: "Insider elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	otherGenesis, err := crdt.Verify(other.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	other.Close()

	// A key that is not a member, writing a correct chain, and admitting itself.
	stranger := newOutsider("Stranger", 0xEE)
	var strangers []junk
	for i := 0; i < 3; i++ {
		e := sign(stranger, fmt.Sprintf("Not a member %d", i))
		k.mayWait[e.ID()] = "an entry by a key that is not a member"
		strangers = append(strangers, junk{k.mayWait[e.ID()], e.Raw()})
	}
	selfAdmission, err := crdt.EncodeBody(&crdt.Admission{Device: stranger.key, Name: "Stranger"})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := crdt.Sign(stranger.priv, crdt.Draft{Network: k.network, Seq: stranger.seq + 1, Prev: stranger.head, Clock: clock(stranger.clock), Kind: crdt.KindAdmission, Body: selfAdmission})
	if err != nil {
		t.Fatal(err)
	}
	k.mayWait[sa.ID()] = "a non-member admitting itself"
	strangers = append(strangers, junk{k.mayWait[sa.ID()], sa.Raw()})

	common := []junk{
		{"random bytes (1)", k.random(1)},
		{"random bytes (64)", k.random(64)},
		{"random bytes (3000)", k.random(3000)},
		{"a truncated entry", second.Raw()[:len(second.Raw())/2]},
		never("an entry with trailing garbage", second.ID(), append(slices.Clone(second.Raw()), 4, 1)),
		never("a member's unpublished entry with a flipped signature bit", second.ID(), flipSig(second.Raw())),
		{"a held admission with a flipped signature bit", flipSig(admission)},
		never("a member's entry with a body over the limit", overID, overRaw),
		never("another network's genesis", otherGenesis.ID(), otherGenesis.Raw()),
		never("another network's admission", otherAdm.ID(), otherAdm.Raw()),
	}
	common = append(append(common, replays...), strangers...)
	k.frame = common
	k.gossip = append(slices.Clone(common), junk{"an entry over the size limit", k.oversized})
	k.tooBig = k.random(200 << 10)
	k.viaSigned = []junk{
		{"random bytes, signed envelope", k.random(100)},
		{"a flipped signature, signed envelope", flipSig(k.forged[0].raw)},
		{"a replay, signed envelope", replays[0].raw},
		{"another network's genesis, signed envelope", otherGenesis.Raw()},
		{"a non-member's entry, signed envelope", strangers[0].raw},
		never("a valid entry in a signed envelope", enveloped.ID(), enveloped.Raw()),
	}
	return k
}

// hashID names a pubsub message by its bytes.
func hashID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// rogue is a libp2p host that is not a Murmur node, with an admitted
// device's key.
type rogue struct {
	h      host.Host
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	kit    *junkKit
	mode   atomic.Int32 // how it answers reconciliations (respondModes)
	probes struct {
		gosync.Mutex
		sent []junk
	}
}

func newRogue(t *testing.T, hn *honestNet, as *outsider, opts ...pubsub.Option) *rogue {
	t.Helper()
	key, err := lpcrypto.UnmarshalEd25519PrivateKey(as.priv)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hn.mn.AddPeer(key, ma.StringCast(fmt.Sprintf("/ip4/10.0.1.%d/tcp/4721", len(hn.mn.Peers()))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// It sends each message to every peer of the topic (flood publish), as
	// an attacker would: an honest node that already pruned it from its
	// mesh would otherwise only ask for its messages by IWANT, and take in
	// none if their batched reply is over its message limit.
	ps, err := pubsub.NewGossipSub(ctx, h, append(opts, pubsub.WithMaxMessageSize(1<<20), pubsub.WithFloodPublish(true))...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{h: h}
	if r.topic, err = ps.Join(msync.GossipTopic(hn.nodes[0].n.Network())); err != nil {
		t.Fatal(err)
	}
	if r.sub, err = r.topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.sub.Cancel()
		r.topic.Close()
		cancel()
	})
	return r
}

func (r *rogue) publish(t *testing.T, raw []byte) {
	t.Helper()
	if err := r.topic.Publish(context.Background(), raw); err != nil {
		t.Fatalf("rogue publishing: %v", err)
	}
}

// reachHonest waits until the rogue's messages reach the honest nodes:
// GossipSub drops what is published before peers' subscriptions have
// settled. It publishes random probes (junk too) until each node saw one.
func (r *rogue) reachHonest(t *testing.T, hn *honestNet, nodes []*meshNode) {
	t.Helper()
	rng := rand.New(rand.NewPCG(rogueSeed, uint64(len(r.h.ID()))))
	waitFor(t, 20*time.Second, "the rogue's messages reach the honest nodes", func() bool {
		peers := r.topic.ListPeers()
		for _, m := range nodes {
			if !slices.Contains(peers, m.r.Host().ID()) {
				return false
			}
		}
		for i := range nodes {
			reached := false
			for _, s := range hn.traces[i].all() {
				reached = reached || s.from == r.h.ID()
			}
			if !reached {
				probe := make([]byte, 40)
				for j := range probe {
					probe[j] = byte(rng.UintN(256))
				}
				r.probes.Lock()
				r.probes.sent = append(r.probes.sent, junk{"a probe of random bytes", probe})
				r.probes.Unlock()
				r.publish(t, probe)
				time.Sleep(50 * time.Millisecond)
				return false
			}
		}
		return true
	})
}

func (r *rogue) extra() []junk {
	r.probes.Lock()
	defer r.probes.Unlock()
	return slices.Clone(r.probes.sent)
}

// initiate opens a reconciliation with p and plays send on it, then waits
// for the honest side to hang up (the rogue gives up after a while).
func (r *rogue) initiate(t *testing.T, p peer.ID, network crdt.ID, send func(w io.Writer, rd *bufio.Reader) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := r.h.NewStream(ctx, p, msync.Protocol(network))
	if err != nil {
		t.Fatalf("rogue opening a reconciliation: %v", err)
	}
	giveUp := time.AfterFunc(rogueTurn+time.Minute, func() { s.Reset() }) // a hang guard
	defer giveUp.Stop()
	defer s.Reset()
	rd := bufio.NewReader(s)
	send(s, rd) // fails once the honest side hangs up: that is the point
	io.Copy(io.Discard, rd)
}

// respondModes are the ways the rogue answers an honest node's first message.
var respondModes = []string{"junk entries", "an unknown frame type", "a huge length prefix", "a truncated frame", "silence", "a message of random bytes"}

func (r *rogue) respond(s network.Stream) {
	giveUp := time.AfterFunc(2*rogueTurn+time.Minute, func() { s.Reset() }) // a hang guard
	defer giveUp.Stop()
	defer s.Reset()
	rd := bufio.NewReader(s)
	if readTurn(rd) != nil {
		return
	}
	k := r.kit
	switch r.mode.Load() {
	case 0:
		writeAll(s, frame(frameEntries, entriesPayload(k.payloads(k.frame)...)), frame(frameEntries, entriesPayload(k.payloads(k.forged)...)), frame(frameMsg, []byte{1, 0, 0}))
	case 1:
		writeAll(s, frame(0xEE, nil))
	case 2:
		writeAll(s, binary.AppendUvarint([]byte{frameMsg}, 1<<50))
	case 3:
		writeAll(s, frame(frameMsg, bytes.Repeat([]byte{1}, 100))[:20])
		s.CloseWrite()
	case 4: // silence
	case 5:
		writeAll(s, frame(frameMsg, []byte{1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 7, 7, 7}))
	}
	io.Copy(io.Discard, rd)
}

// fakeFirstMessage is a valid first reconciliation message over a set of
// made-up entries.
func fakeFirstMessage(t *testing.T) []byte {
	t.Helper()
	x := msync.NewIndex()
	rng := rand.New(rand.NewPCG(rogueSeed, 2))
	for i := 0; i < 50; i++ {
		var id crdt.ID
		for j := range id {
			id[j] = byte(rng.UintN(256))
		}
		x.Add(msync.Item{Clock: crdt.Clock(rng.Uint64N(1 << 50)), ID: id})
	}
	msg, err := msync.NewSession(x, msync.Options{}).Start()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func frame(typ byte, payload []byte) []byte {
	return append(binary.AppendUvarint([]byte{typ}, uint64(len(payload))), payload...)
}

func entriesPayload(raws ...[]byte) []byte {
	var p []byte
	for _, raw := range raws {
		p = append(binary.AppendUvarint(p, uint64(len(raw))), raw...)
	}
	return p
}

func writeAll(w io.Writer, frames ...[]byte) error {
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return nil
}

// readTurn reads the other side's turn: frames up to a message or BYE.
func readTurn(r *bufio.Reader) error {
	for {
		typ, err := r.ReadByte()
		if err != nil {
			return err
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		if n > 8<<20 {
			return fmt.Errorf("frame of %d bytes", n)
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return err
		}
		if typ == frameMsg || typ == frameBye {
			return nil
		}
	}
}
