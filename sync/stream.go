package sync

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"

	"github.com/murmurnet/murmur/crdt"
)

// The reconciliation stream carries turns. In its turn a side sends zero or
// more ENTRIES frames (entries the other side lacks), then one MSG frame:
// its reconciliation message. Only one side writes at a time, so neither
// can block the other with full buffers. The session says when it is over:
// a side that sent a message asking nothing, or received one, is done and
// closes. Each ENTRIES frame is validated and stored as it arrives: a cut
// connection keeps what came before it, and the next reconciliation asks
// only for the rest.
//
//	frame = type (1 byte) | length (uvarint) | payload
//	MSG     payload: a Session message
//	ENTRIES payload: entries, each a uvarint length and the entry's encoding
//	BYE     payload: empty; accepted for compatibility, never sent
const (
	frameMsg     byte = 1
	frameEntries byte = 2
	frameBye     byte = 3
)

// Limits of the stream transport.
const (
	maxFrame        = max(MaxMessageSize, entriesPerFrame+crdt.MaxEntrySize+16) // bytes in one frame
	entriesPerFrame = 1 << 20                                                   // an ENTRIES frame is closed once it holds this many bytes
	maxRefusals     = 64                                                        // entries a peer may send that are refused, before the session ends
)

// ErrPeerMisbehaved ends a session whose peer sent too many refused entries.
var ErrPeerMisbehaved = errors.New("sync: peer sent too many invalid entries")

// ErrTurnTimeout ends a session whose peer did not finish its turn within
// SyncOptions.TurnTimeout.
var ErrTurnTimeout = errors.New("sync: the peer did not finish its turn in time")

// ErrBusy is returned by Sync when a reconciliation with the peer is
// already under way, started by either side: it does the work, and two at
// once would send the same entries twice.
var ErrBusy = errors.New("sync: already reconciling with this peer")

// Protocol is the stream protocol of a network's reconciliation.
func Protocol(network crdt.ID) protocol.ID {
	return protocol.ID("/murmur/sync/1/" + network.String())
}

// Replica is what reconciliation needs from a node.
type Replica interface {
	// WithIndex runs fn with the replica's index of accepted entries, under
	// the replica's lock.
	WithIndex(fn func(x *Index))
	// Entries returns the encodings of the accepted entries with these IDs,
	// skipping any no longer accepted.
	Entries(ids []crdt.ID) [][]byte
	// Ingest validates and stores entries from a peer (the node's one
	// validation path) and says how many it refused outright.
	Ingest(ctx context.Context, from peer.ID, raws [][]byte) (refused int, err error)
}

// Stats describe one reconciliation, or the sum of many.
type Stats struct {
	Sessions  int   `json:"sessions"`
	Rounds    int   `json:"rounds"`     // messages this side sent
	SentBytes int64 `json:"sent_bytes"` // on the stream, both messages and entries
	RecvBytes int64 `json:"recv_bytes"`
	Pushed    int   `json:"pushed"`   // entries sent
	Received  int   `json:"received"` // entries received
	Refused   int   `json:"refused"`  // received entries refused
}

func (s *Stats) add(o Stats) {
	s.Sessions++
	s.Rounds += o.Rounds
	s.SentBytes += o.SentBytes
	s.RecvBytes += o.RecvBytes
	s.Pushed += o.Pushed
	s.Received += o.Received
	s.Refused += o.Refused
}

// SyncOptions tune reconciliation.
type SyncOptions struct {
	Session     Options
	TurnTimeout time.Duration // a turn not received within this ends the session; default 60 s
	MaxInbound  int           // reconciliations served at once; default 8
	// SessionsPerMinute bounds the reconciliations one peer may start with
	// this replica: that many at once, then that many a minute; one beyond
	// is reset before a byte of it is read. Default 120. An honest node
	// starts one on connecting, one after gossip's warm-up, one after each
	// session that brought it news and one every anti-entropy period (30
	// s): far fewer. Each costs this node its index lock for a moment
	// even when nothing differs, so a member's node gone rogue starting
	// them back to back would hold up everything else.
	SessionsPerMinute int
	// Allow, if set, says which peers may reconcile with this replica, in
	// either direction: a stream from anyone else is reset before a byte
	// of it is read, and Sync will not start with them (it would push them
	// entries).
	Allow        func(peer.ID) bool
	OnSessionEnd func(p peer.ID, st Stats, err error) // tests and metrics
}

// Syncer serves a network's reconciliation protocol and starts
// reconciliations with peers.
type Syncer struct {
	h     host.Host
	proto protocol.ID
	r     Replica
	opt   SyncOptions
	slots chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup
	once   gosync.Once

	mu      gosync.Mutex
	total   Stats
	closed  bool                      // under mu: no session starts once Close began
	active  map[peer.ID]*claim        // under mu: the session under way with each peer
	started map[peer.ID]*rate.Limiter // under mu: sessions each peer may still start (full ones forgotten)
	swept   time.Time                 // under mu: when started was last cleared of full buckets
}

// claim is a session's hold on its peer: one session runs with a peer at a
// time, or both would push the same entries.
type claim struct {
	initiator  bool
	cancel     context.CancelFunc
	superseded bool // under Syncer.mu: the peer's own session replaced it
}

// claim registers a session with p, or returns nil if one is under way.
// When both sides start one at once (both reconcile with a peer that has
// just connected), each keeps the session started by the peer with the
// lower ID, so both keep the same one.
func (s *Syncer) claim(p peer.ID, initiator bool, cancel context.CancelFunc) *claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.active[p]; cur != nil {
		if initiator || !cur.initiator || p > s.h.ID() {
			return nil
		}
		cur.superseded = true
		cur.cancel()
	}
	c := &claim{initiator: initiator, cancel: cancel}
	s.active[p] = c
	return c
}

// release ends c's hold on p.
func (s *Syncer) release(p peer.ID, c *claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[p] == c {
		delete(s.active, p)
	}
}

func (s *Syncer) superseded(c *claim) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.superseded
}

// ErrClosed is returned by Sync after Close.
var ErrClosed = errors.New("sync: closed")

// ErrNotAllowed is returned by Sync for a peer SyncOptions.Allow refuses.
var ErrNotAllowed = errors.New("sync: the peer may not reconcile with this replica")

// begin registers a session, unless Close has begun.
func (s *Syncer) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// NewSyncer registers the protocol handler on h. Close removes it and waits
// for the sessions it serves.
func NewSyncer(h host.Host, net crdt.ID, r Replica, opt SyncOptions) *Syncer {
	if opt.TurnTimeout == 0 {
		opt.TurnTimeout = time.Minute
	}
	if opt.MaxInbound == 0 {
		opt.MaxInbound = 8
	}
	if opt.SessionsPerMinute == 0 {
		opt.SessionsPerMinute = 120
	}
	s := &Syncer{h: h, proto: Protocol(net), r: r, opt: opt, slots: make(chan struct{}, opt.MaxInbound), active: map[peer.ID]*claim{}, started: map[peer.ID]*rate.Limiter{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	h.SetStreamHandler(s.proto, s.serve)
	return s
}

// Close stops serving and waits for sessions in progress to end.
func (s *Syncer) Close() error {
	s.once.Do(func() {
		s.h.RemoveStreamHandler(s.proto)
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

// Totals returns the sum of all sessions' statistics so far.
func (s *Syncer) Totals() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// mayStart takes one of the sessions p may start now, if it has one left.
// A peer's bucket is forgotten once full again (it then holds nothing a new
// one would not), so only peers that started sessions in the last minute
// or so are remembered.
func (s *Syncer) mayStart(p peer.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	perMinute := s.opt.SessionsPerMinute
	if now.Sub(s.swept) > time.Minute {
		for q, l := range s.started {
			if l.TokensAt(now) >= float64(perMinute) {
				delete(s.started, q)
			}
		}
		s.swept = now
	}
	l := s.started[p]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute)
		s.started[p] = l
	}
	return l.AllowN(now, 1)
}

func (s *Syncer) serve(st network.Stream) {
	if s.opt.Allow != nil && !s.opt.Allow(st.Conn().RemotePeer()) {
		st.Reset()
		return
	}
	if !s.mayStart(st.Conn().RemotePeer(), time.Now()) {
		st.Reset() // too many: the peer tries again later
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		st.Reset() // busy: the peer tries again later
		return
	}
	defer func() { <-s.slots }()
	if !s.begin() {
		st.Reset()
		return
	}
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	p := st.Conn().RemotePeer()
	c := s.claim(p, false, cancel)
	if c == nil {
		st.Reset() // ours is under way: the peer's Sync returns ErrBusy
		return
	}
	defer s.release(p, c)
	s.run(ctx, st, false, c)
}

// Sync reconciles with peer p, as the initiator. It returns ErrBusy if a
// session with p is under way, or if p's own, started at the same time,
// takes its place.
func (s *Syncer) Sync(ctx context.Context, p peer.ID) (Stats, error) {
	if s.opt.Allow != nil && !s.opt.Allow(p) {
		return Stats{}, ErrNotAllowed
	}
	if !s.begin() {
		return Stats{}, ErrClosed
	}
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	c := s.claim(p, true, cancel)
	if c == nil {
		return Stats{}, ErrBusy
	}
	defer s.release(p, c)
	st, err := s.h.NewStream(ctx, p, s.proto)
	if err != nil {
		if s.superseded(c) {
			return Stats{}, ErrBusy
		}
		return Stats{}, fmt.Errorf("sync: opening a stream to %s: %w", p, err)
	}
	return s.run(ctx, st, true, c)
}

// conn counts the bytes of a stream.
type conn struct {
	network.Stream
	in, out int64
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Stream.Read(b)
	c.in += int64(n)
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Stream.Write(b)
	c.out += int64(n)
	return n, err
}

func (s *Syncer) run(ctx context.Context, st network.Stream, initiator bool, cl *claim) (stats Stats, err error) {
	c := &conn{Stream: st}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	// The turn timeout is enforced by a timer as well as by the stream's
	// deadlines, which not every transport implements (go-libp2p's mock
	// network ignores them): a peer that stops mid-turn must not hold the
	// session, and an inbound slot, forever.
	var timedOut atomic.Bool
	turn := time.AfterFunc(s.opt.TurnTimeout, func() {
		timedOut.Store(true)
		st.Reset()
	})
	defer func() {
		stop()
		turn.Stop()
		if err != nil {
			st.Reset()
			switch {
			case s.superseded(cl):
				err = ErrBusy
			case timedOut.Load():
				err = fmt.Errorf("%w (%v)", ErrTurnTimeout, s.opt.TurnTimeout)
			}
		} else {
			st.Close()
		}
		stats.SentBytes, stats.RecvBytes = c.out, c.in
		s.mu.Lock()
		s.total.add(stats)
		s.mu.Unlock()
		if s.opt.OnSessionEnd != nil {
			s.opt.OnSessionEnd(st.Conn().RemotePeer(), stats, err)
		}
	}()
	from := st.Conn().RemotePeer()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	var sess *Session
	s.r.WithIndex(func(x *Index) { sess = NewSession(x, s.opt.Session) })

	if initiator {
		var first []byte
		s.r.WithIndex(func(*Index) { first, err = sess.Start() })
		if err != nil {
			return stats, err
		}
		turn.Reset(s.opt.TurnTimeout)
		if err := s.endTurn(st, w, nil, first, &stats); err != nil {
			return stats, err
		}
	}
	for {
		turn.Reset(s.opt.TurnTimeout)
		st.SetReadDeadline(time.Now().Add(s.opt.TurnTimeout))
		msg, bye, err := s.readTurn(ctx, from, r, &stats)
		if err != nil {
			return stats, err
		}
		if bye {
			return stats, nil
		}
		var reply []byte
		var push []crdt.ID
		s.r.WithIndex(func(*Index) { reply, push, _, err = sess.Receive(msg) })
		if err != nil {
			return stats, err
		}
		if reply == nil { // the peer said it is done, and asked for nothing
			return stats, nil
		}
		if err := s.endTurn(st, w, push, reply, &stats); err != nil {
			return stats, err
		}
		if sess.Done() { // this reply asked nothing: the peer needs no answer
			return stats, nil
		}
	}
}

// readTurn reads the peer's turn: entries, then a message or BYE.
func (s *Syncer) readTurn(ctx context.Context, from peer.ID, r *bufio.Reader, stats *Stats) (msg []byte, bye bool, err error) {
	for {
		typ, payload, err := readFrame(r)
		if err != nil {
			return nil, false, err
		}
		switch typ {
		case frameMsg:
			return payload, false, nil
		case frameBye:
			return nil, true, nil
		case frameEntries:
			raws, err := splitEntries(payload)
			if err != nil {
				return nil, false, err
			}
			refused, err := s.r.Ingest(ctx, from, raws)
			stats.Received += len(raws)
			stats.Refused += refused
			if err != nil {
				return nil, false, err
			}
			if stats.Refused > maxRefusals {
				return nil, false, ErrPeerMisbehaved
			}
		default:
			return nil, false, fmt.Errorf("sync: unknown frame type %d", typ)
		}
	}
}

// endTurn sends the entries the peer lacks, then the message.
func (s *Syncer) endTurn(st network.Stream, w *bufio.Writer, push []crdt.ID, msg []byte, stats *Stats) error {
	st.SetWriteDeadline(time.Now().Add(s.opt.TurnTimeout))
	var frame []byte
	for len(push) > 0 {
		k := min(len(push), 512)
		for _, raw := range s.r.Entries(push[:k]) {
			frame = binary.AppendUvarint(frame, uint64(len(raw)))
			frame = append(frame, raw...)
			stats.Pushed++
			if len(frame) >= entriesPerFrame {
				if err := writeFrame(w, frameEntries, frame); err != nil {
					return err
				}
				frame = frame[:0]
			}
		}
		push = push[k:]
	}
	if len(frame) > 0 {
		if err := writeFrame(w, frameEntries, frame); err != nil {
			return err
		}
	}
	stats.Rounds++
	if err := writeFrame(w, frameMsg, msg); err != nil {
		return err
	}
	return w.Flush()
}

func writeFrame(w *bufio.Writer, typ byte, payload []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = typ
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, err := w.Write(hdr[:1+n]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("sync: frame of %d bytes, limit %d", n, maxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return typ, payload, nil
}

// splitEntries reads an ENTRIES payload.
func splitEntries(p []byte) ([][]byte, error) {
	var out [][]byte
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || n == 0 || n > crdt.MaxEntrySize || n > uint64(len(p)-k) {
			return nil, fmt.Errorf("sync: malformed entries frame")
		}
		out = append(out, p[k:k+int(n)])
		p = p[k+int(n):]
	}
	return out, nil
}
