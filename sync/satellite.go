package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/murmurnet/murmur/crdt"
)

// A thin link, simulated in process for tests and benchmarks: go-libp2p's
// mock network delivers a write after its latency but holds the next write
// until then, which caps a stream at one write per latency; these streams
// pipeline like a real link instead. Each way, a write books its packets
// on the link one after another at the link's rate, waits while the link
// is booked more than a round trip ahead (a sender's buffer), and arrives
// half a round trip after its last byte left. A packet is lost with the
// profile's probability: it takes the link again, and it and everything
// after it arrive at least a round trip later (in order, as over TCP, or
// over one QUIC stream). What is not simulated: congestion control,
// transport headers, and the handshakes of opening a stream.

// LinkProfile describes a link, the same each way.
type LinkProfile struct {
	Rate float64       // bytes per second
	RTT  time.Duration // round trip
	Loss float64       // fraction of packets lost
}

// shapePacket is the size of a simulated packet.
const shapePacket = 1200

// pacer books one direction of a link.
type pacer struct {
	prof  LinkProfile
	queue time.Duration // how far ahead writers may book the link
	mu    gosync.Mutex
	free  time.Time // when the link is next free (under mu)
	rng   *rand.Rand
}

func newPacer(prof LinkProfile, seed uint64) *pacer {
	return &pacer{prof: prof, queue: max(prof.RTT, 250*time.Millisecond), rng: rand.New(rand.NewPCG(seed, 1))}
}

// book schedules n bytes: when they arrive, and how long the writer waits
// before handing them over.
func (p *pacer) book(n int) (arrive time.Time, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	tx := time.Duration(float64(n) / p.prof.Rate * float64(time.Second))
	p.free = later(now, p.free).Add(tx)
	arrive = p.free.Add(p.prof.RTT / 2)
	for p.prof.Loss > 0 && p.rng.Float64() < p.prof.Loss {
		// Lost: the sender learns of it about a round trip later and
		// sends it again.
		p.free = p.free.Add(tx)
		arrive = later(arrive.Add(p.prof.RTT), p.free.Add(p.prof.RTT/2))
	}
	return arrive, p.free.Sub(now) - p.queue
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// shapedHost is a host whose streams, both the ones it opens and the ones
// it serves, write through a pacer.
type shapedHost struct {
	host.Host
	out *pacer
}

// ShapeHost returns h with its outgoing stream traffic shaped by prof (its
// peer's host shapes the other way). Streams opened through it, and those
// its handlers serve, are shaped; a shaped stream must be closed or reset.
func ShapeHost(h host.Host, prof LinkProfile, seed uint64) host.Host {
	return &shapedHost{Host: h, out: newPacer(prof, seed)}
}

func (h *shapedHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return h.out.wrap(s), nil
}

func (h *shapedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(h.out.wrap(s)) })
}

type shapedChunk struct {
	b     []byte
	at    time.Time
	close func() error // instead of b: close the stream, or its write side
}

type shapedStream struct {
	network.Stream
	p         *pacer
	ch        chan shapedChunk
	reset     chan struct{}
	resetOnce gosync.Once
	closeOnce gosync.Once
	done      chan struct{} // the deliverer has stopped
}

func (p *pacer) wrap(s network.Stream) network.Stream {
	ss := &shapedStream{Stream: s, p: p, ch: make(chan shapedChunk, 256), reset: make(chan struct{}), done: make(chan struct{})}
	go ss.deliver()
	return ss
}

// deliver hands the chunks to the stream underneath as they arrive.
func (s *shapedStream) deliver() {
	defer close(s.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var c shapedChunk
		select {
		case <-s.reset:
			return
		case c = <-s.ch:
		}
		if c.close != nil {
			c.close()
			return
		}
		t.Reset(time.Until(c.at))
		select {
		case <-s.reset:
			return
		case <-t.C:
		}
		if _, err := s.Stream.Write(c.b); err != nil {
			s.Reset()
			return
		}
	}
}

func (s *shapedStream) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := min(len(b)-n, shapePacket)
		at, wait := s.p.book(k)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.reset:
				t.Stop()
				return n, network.ErrReset
			}
		}
		select {
		case s.ch <- shapedChunk{b: bytes.Clone(b[n : n+k]), at: at}:
		case <-s.reset:
			return n, network.ErrReset
		case <-s.done:
			return n, network.ErrReset
		}
		n += k
	}
	return n, nil
}

// endWrites queues fn after the data written so far.
func (s *shapedStream) endWrites(fn func() error) error {
	s.closeOnce.Do(func() {
		select {
		case s.ch <- shapedChunk{close: fn}:
		case <-s.reset:
		case <-s.done:
		}
	})
	return nil
}

func (s *shapedStream) CloseWrite() error { return s.endWrites(s.Stream.CloseWrite) }

func (s *shapedStream) Close() error {
	s.Stream.CloseRead()
	return s.endWrites(s.Stream.Close)
}

func (s *shapedStream) Reset() error {
	s.resetOnce.Do(func() { close(s.reset) })
	return s.Stream.Reset()
}

func (s *shapedStream) ResetWithError(network.StreamErrorCode) error { return s.Reset() }

// memReplica is a replica in memory that keeps every entry whose signature
// verifies: what a benchmark of the transport needs, without a store.
type memReplica struct {
	mu   gosync.Mutex
	x    *Index
	raws map[crdt.ID][]byte
}

func newMemReplica(es []*crdt.Entry) *memReplica {
	r := &memReplica{x: NewIndex(), raws: map[crdt.ID][]byte{}}
	for _, e := range es {
		r.add(e)
	}
	return r
}

func (r *memReplica) add(e *crdt.Entry) {
	if r.x.Add(Item{Clock: e.Clock, ID: e.ID()}) {
		r.raws[e.ID()] = e.Raw()
	}
}

func (r *memReplica) WithIndex(fn func(*Index)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.x)
}

func (r *memReplica) Entries(ids []crdt.ID) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, id := range ids {
		if raw, ok := r.raws[id]; ok {
			out = append(out, raw)
		}
	}
	return out
}

// memVerified is a batch memReplica verified.
type memVerified struct {
	es      []*crdt.Entry
	refused int
}

func (v *memVerified) Len() int { return len(v.es) + v.refused }

func (r *memReplica) Verify(raws [][]byte) Verified {
	v := &memVerified{}
	for _, raw := range raws {
		e, err := crdt.Verify(raw)
		if err != nil {
			v.refused++
			continue
		}
		v.es = append(v.es, e)
	}
	return v
}

func (r *memReplica) Ingest(_ context.Context, _ peer.ID, v Verified) (int, error) {
	b := v.(*memVerified)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range b.es {
		r.add(e)
	}
	return b.refused, nil
}

func (r *memReplica) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.x.Len()
}

// SatelliteResult is what a transfer over a simulated link took.
type SatelliteResult struct {
	Entries    int
	EntryBytes int64         // the entries' encodings
	WireBytes  int64         // on the sync streams, both ways: messages, entries, frames
	Took       time.Duration // until the receiver held every entry
	Floor      time.Duration // WireBytes at the link's rate
	Sessions   int
}

// Satellite measures a node with none of raws catching up from one that
// holds them all, over a link shaped by prof (simulated in process, see
// above): sessions are started one after another until every entry has
// arrived, at most 20. opt tunes both sides.
func Satellite(ctx context.Context, prof LinkProfile, raws [][]byte, opt SyncOptions) (SatelliteResult, error) {
	res := SatelliteResult{Entries: len(raws)}
	var es []*crdt.Entry
	for _, raw := range raws {
		e, err := crdt.Verify(raw)
		if err != nil {
			return res, err
		}
		es = append(es, e)
		res.EntryBytes += int64(len(raw))
	}
	mn, err := mocknet.FullMeshConnected(2)
	if err != nil {
		return res, err
	}
	defer mn.Close()
	hosts := mn.Hosts()
	network := crdt.ID{'s', 'a', 't'}
	full, fresh := newMemReplica(es), newMemReplica(nil)
	sa := NewSyncer(ShapeHost(hosts[0], prof, 1), network, full, opt)
	defer sa.Close()
	sb := NewSyncer(ShapeHost(hosts[1], prof, 2), network, fresh, opt)
	defer sb.Close()
	start := time.Now()
	var errs []error
	for fresh.len() < full.len() && res.Sessions < 20 {
		st, err := sb.Sync(ctx, hosts[0].ID())
		res.Sessions++
		res.WireBytes += st.SentBytes + st.RecvBytes
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	res.Took = time.Since(start)
	res.Floor = time.Duration(float64(res.WireBytes) / prof.Rate * float64(time.Second))
	if n := fresh.len(); n < full.len() {
		return res, fmt.Errorf("%d of %d entries after %d sessions: %w", n, full.len(), res.Sessions, errors.Join(errs...))
	}
	return res, nil
}

// satelliteWords make up the free text of the entries SatelliteEntries
// signs: plain words, as caseworkers write them, which compress about as
// well as their notes do.
var satelliteWords = strings.Fields(`the applicant family household rent arrears school fees medical
clinic referral verified visited office documents missing identity card
village district camp registered since month year children elderly
support requested urgent follow up next week caseworker notes phone
contacted neighbour confirmed address not known previously assisted
by another organisation amount shared cost transport food water shelter
winter blankets fuel please confirm whether you know this person`)

// SatelliteEntries signs a day's work: n entries by orgs organisations,
// four requests for each response, each with a few sentences of text
// (about 460 bytes encoded on average, like the day measured over a
// satellite link: 500 entries, 230 KB). The entries chain per author but
// the authors are not admitted anywhere: they are for the transport.
func SatelliteEntries(n, orgs int, seed uint64) ([][]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	type author struct {
		key   []byte
		seq   uint64
		head  crdt.ID
		clock crdt.Clock
	}
	authors := make([]*author, orgs)
	for i := range authors {
		s := make([]byte, 32)
		s[0], s[1] = byte(i), byte(seed)
		authors[i] = &author{key: crdt.KeyFromSeed(s)}
	}
	syllables := []string{"ka", "mo", "ri", "sa", "tu", "ne", "li", "ba", "zo", "he", "wa", "di"}
	name := func() string {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		return b.String()
	}
	// A few sentences, with a name, a phone number and an amount in them.
	text := func(words int) string {
		var b strings.Builder
		for i := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch rng.IntN(12) {
			case 0:
				b.WriteString(name())
			case 1:
				fmt.Fprintf(&b, "+255 7%08d", rng.IntN(100_000_000))
			case 2:
				fmt.Fprintf(&b, "%d", rng.IntN(500_000))
			default:
				b.WriteString(satelliteWords[rng.IntN(len(satelliteWords))])
			}
		}
		return b.String()
	}
	network := crdt.ID{'s', 'a', 't'}
	var requests []crdt.ID
	out := make([][]byte, 0, n)
	for i := range n {
		a := authors[rng.IntN(orgs)]
		var body []byte
		var kind crdt.Kind
		var deps []crdt.ID
		var err error
		if i%5 == 4 && len(requests) > 0 {
			kind = crdt.KindResponse
			deps = []crdt.ID{requests[rng.IntN(len(requests))]}
			body, err = crdt.EncodeBody(&crdt.Response{Request: deps[0], Type: crdt.Vouch, Text: text(10 + rng.IntN(15))})
		} else {
			kind = crdt.KindRequest
			body, err = crdt.EncodeBody(&crdt.Request{Type: crdt.Verification, Title: text(3 + rng.IntN(4)), Text: text(18 + rng.IntN(20)), Region: "TZ"})
		}
		if err != nil {
			return nil, err
		}
		e, err := crdt.Sign(a.key, crdt.Draft{Network: network, Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, 0, 1_700_000_000_000+uint64(i)*60_000), Deps: deps, Kind: kind, Body: body})
		if err != nil {
			return nil, err
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		if kind == crdt.KindRequest {
			requests = append(requests, e.ID())
		}
		out = append(out, e.Raw())
	}
	return out, nil
}
