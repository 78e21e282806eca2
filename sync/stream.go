package sync

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
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
// more entry frames (entries the other side lacks), then one MSG frame (its
// reconciliation message) or one MORE frame. Only one side writes at a time,
// so neither can block the other with full buffers. The session says when
// it is over: a side that sent a message asking nothing, or received one,
// is done and closes.
//
// Entries travel in frames of about entriesPerFrame bytes, and each frame
// is validated and stored as it arrives: a cut connection keeps what came
// before it, and the next reconciliation asks only for the rest. A turn
// pushes at most SyncOptions.TurnBytes of entries. A side that owes more
// holds its message back and ends its turn with MORE; the peer answers
// with GO, an empty turn, and the pushing goes on. A side sends its
// message only once it has pushed everything it owes, so a message that
// ends the conversation still tells the peer that what it asked for has
// arrived.
//
//	frame = type (1 byte) | length (uvarint) | payload
//	MSG      payload: a Session message
//	ENTRIES  payload: entries, each a uvarint length and the entry's encoding
//	BYE      payload: empty; accepted for compatibility, never sent
//	MORE     payload: empty; the sender owes more entries: answer GO
//	GO       payload: empty; the answer to MORE
//	DEFLATED payload: an ENTRIES payload compressed with DEFLATE (RFC 1951),
//	         sent instead of ENTRIES only when shorter; it must inflate to
//	         at most maxEntriesPayload bytes
const (
	frameMsg      byte = 1
	frameEntries  byte = 2
	frameBye      byte = 3
	frameMore     byte = 4
	frameGo       byte = 5
	frameDeflated byte = 6
)

// Limits of the stream transport.
//
// entriesPerFrame is chosen for a 32 kbit/s link: a 16 KiB frame takes
// about 4 s there, so a cut loses at most a few seconds of transfer, while
// the frame header (3 bytes) costs 0.02% and DEFLATE's 32 KiB window still
// sees the whole frame. An entry larger than a frame travels alone.
const (
	entriesPerFrame   = 16 << 10                                                      // an entry frame is closed before it would exceed this
	maxEntriesPayload = max(entriesPerFrame, crdt.MaxEntrySize+binary.MaxVarintLen32) // bytes of entries in one frame, inflated
	maxFrame          = max(MaxMessageSize, maxEntriesPayload)                        // bytes in one frame on the wire
	maxRefusals       = 64                                                            // entries a peer may send that are refused, before the session ends
	// writeChunk bounds one write to the stream, so that a write makes
	// progress, or times out, within seconds even at 32 kbit/s.
	writeChunk = 16 << 10
	// maxTurnBytes bounds the bytes of entries one turn pushes on a fast
	// link.
	maxTurnBytes = 8 << 20
	// fetchBatch is how many entries are read from the replica at a time
	// to be pushed.
	fetchBatch = 32
)

// Defaults of SyncOptions.
const (
	// DefaultIdleTimeout ends a session in which no byte moved either way
	// for this long. It is chosen for an 800 ms round trip and a 32 kbit/s
	// link with 10% loss: a frame takes 4 s there, and a lost packet
	// retransmitted with exponential backoff (QUIC's PTO and TCP's RTO
	// start near 1-2 s at such a round trip) stalls a stream for about a
	// minute only after five losses in a row. A session may last as long
	// as it keeps moving.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultTurnBytes caps the entries a session's first turn pushes
	// (counted before compression). A side that ends its turn hears nothing
	// until the peer has read all of it, so a turn, and a message after
	// it, must cross the link well within the idle timeout: 128 KiB take
	// 32 s at 32 kbit/s, some 40 s with 10% loss. The MORE and GO round
	// trip that each further turn costs (0.8 s there) adds 2.5%. Later
	// turns push what the last one showed the link carries in a third of
	// the idle timeout (at least this, at most maxTurnBytes), so that a
	// fast link is not held to turns sized for a thin one.
	DefaultTurnBytes = 128 << 10
)

// ErrPeerMisbehaved ends a session whose peer sent too many refused entries.
var ErrPeerMisbehaved = errors.New("sync: peer sent too many invalid entries")

// ErrIdle ends a session in which no byte moved, either way, for
// SyncOptions.IdleTimeout.
var ErrIdle = errors.New("sync: the link went quiet")

// ErrBusy is returned by Sync when a reconciliation with the peer is
// already under way, started by either side: it does the work, and two at
// once would send the same entries twice.
var ErrBusy = errors.New("sync: already reconciling with this peer")

// Protocol is the stream protocol of a network's reconciliation. Version 2
// added the MORE, GO and DEFLATED frames, which a version 1 peer refuses.
func Protocol(network crdt.ID) protocol.ID {
	return protocol.ID("/murmur/sync/2/" + network.String())
}

// Replica is what reconciliation needs from a node.
type Replica interface {
	// WithIndex runs fn with the replica's index of accepted entries, under
	// the replica's lock.
	WithIndex(fn func(x *Index))
	// Entries returns the encodings of the accepted entries with these IDs,
	// skipping any no longer accepted.
	Entries(ids []crdt.ID) [][]byte
	// Verify decodes entries from a peer and checks their signatures,
	// touching no state; Ingest then validates and stores the batch (the
	// node's one validation path) and says how many entries were refused
	// outright, by either. A session verifies a batch while it stores the
	// one before: Verify runs beside Ingest, and each is called in order.
	Verify(raws [][]byte) Verified
	Ingest(ctx context.Context, from peer.ID, v Verified) (refused int, err error)
}

// Verified is a batch of entries a Replica's Verify checked, for its
// Ingest.
type Verified interface {
	Len() int // entries in the batch, refused ones too
}

// Stats describe one reconciliation, or the sum of many.
type Stats struct {
	Sessions  int   `json:"sessions"`
	Rounds    int   `json:"rounds"`     // messages this side sent
	SentBytes int64 `json:"sent_bytes"` // on the stream, both messages and entries
	RecvBytes int64 `json:"recv_bytes"`
	// Pushed counts the entries sent that the peer has seen through: it
	// took its turn after them, or the session ended well.
	Pushed   int `json:"pushed"`
	Unsent   int `json:"unsent"`   // entries this side owed the peer when the session failed
	Received int `json:"received"` // entries received (and stored, unless refused)
	Refused  int `json:"refused"`  // received entries refused
	// Turns counts this side's turns that pushed entries: what it owed
	// went in turns capped in bytes (TurnBytes, then sized by the link).
	Turns int `json:"turns"`
	// Elapsed is how long the session lasted.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Initiator: this side started the session (one session's stats only).
	Initiator bool `json:"-"`
}

func (s *Stats) add(o Stats) {
	s.Sessions++
	s.Rounds += o.Rounds
	s.SentBytes += o.SentBytes
	s.RecvBytes += o.RecvBytes
	s.Pushed += o.Pushed
	s.Unsent += o.Unsent
	s.Received += o.Received
	s.Refused += o.Refused
	s.Turns += o.Turns
	s.Elapsed += o.Elapsed
}

// SyncOptions tune reconciliation.
type SyncOptions struct {
	Session Options
	// IdleTimeout ends a session in which no byte moved, either way, for
	// this long; default DefaultIdleTimeout. Opening the stream gets as
	// long.
	IdleTimeout time.Duration
	// TurnBytes caps the bytes of entries one turn pushes; the rest
	// follows in later turns of the same session. Default
	// DefaultTurnBytes.
	TurnBytes  int
	MaxInbound int // reconciliations served at once; default 8
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
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = DefaultIdleTimeout
	}
	if opt.TurnBytes <= 0 {
		opt.TurnBytes = DefaultTurnBytes
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

// IdleTimeout is how long a session may go without moving a byte.
func (s *Syncer) IdleTimeout() time.Duration { return s.opt.IdleTimeout }

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

// hasAllowance reports whether p has a session a minute left to start,
// without taking it (mayStart takes it).
func (s *Syncer) hasAllowance(p peer.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.started[p]
	return l == nil || l.TokensAt(now) >= 1
}

func (s *Syncer) serve(st network.Stream) {
	if s.opt.Allow != nil && !s.opt.Allow(st.Conn().RemotePeer()) {
		st.Reset()
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
	// A peer over its sessions a minute is refused before its claim, which
	// could otherwise supersede (cancel) this node's own session with it.
	if !s.hasAllowance(p, time.Now()) {
		st.Reset() // too many: the peer tries again later
		return
	}
	c := s.claim(p, false, cancel)
	if c == nil {
		st.Reset() // ours is under way: the peer's Sync returns ErrBusy
		return
	}
	defer s.release(p, c)
	// (Counted once it could start: a stream refused because a session
	// with the peer was still ending, as one right after another can be,
	// is no session started.)
	if !s.mayStart(p, time.Now()) {
		st.Reset() // too many: the peer tries again later
		return
	}
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
	// Opening the stream (a round trip or two of protocol negotiation)
	// gets as long as a session may go quiet.
	octx, ocancel := context.WithTimeout(ctx, s.opt.IdleTimeout)
	st, err := s.h.NewStream(octx, p, s.proto)
	ocancel()
	if err != nil {
		if s.superseded(c) {
			return Stats{}, ErrBusy
		}
		return Stats{}, fmt.Errorf("sync: opening a stream to %s: %w", p, err)
	}
	return s.run(ctx, st, true, c)
}

// conn counts the bytes of a stream and notes when the last one moved. A
// read or a write that moves nothing for the idle timeout fails by the
// stream's deadline, which it sets before each call; the session's
// watchdog (see run) covers transports that ignore deadlines.
type conn struct {
	network.Stream
	idle    time.Duration
	in, out int64
	last    atomic.Int64 // unix nanoseconds when a byte last moved, either way
}

func (c *conn) moved() { c.last.Store(time.Now().UnixNano()) }

// quiet is how long no byte has moved.
func (c *conn) quiet() time.Duration { return time.Since(time.Unix(0, c.last.Load())) }

func (c *conn) Read(b []byte) (int, error) {
	c.Stream.SetReadDeadline(time.Now().Add(c.idle))
	n, err := c.Stream.Read(b)
	if n > 0 {
		c.in += int64(n)
		c.moved()
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		k := min(len(b)-done, writeChunk)
		c.Stream.SetWriteDeadline(time.Now().Add(c.idle))
		n, err := c.Stream.Write(b[done : done+k])
		done += n
		if n > 0 {
			c.out += int64(n)
			c.moved()
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// session is one reconciliation on one stream.
type session struct {
	s     *Syncer
	c     *conn
	from  peer.ID
	r     *bufio.Reader
	w     *bufio.Writer
	sess  *Session
	stats Stats

	held     []byte    // our message, held back until we owe nothing
	pending  []crdt.ID // entries we owe, not yet read from the replica
	ready    [][]byte  // entries we owe, read from the replica, not yet sent
	inFlight int       // entries sent since the peer last spoke
	turnCap  int       // bytes of entries our next turn may push
	turnSent int       // bytes of entries our last turn pushed
	turnAt   time.Time // when we began writing our last turn
	deflate  *deflater // compresses entry frames, made when first needed
	frame    []byte    // the entry frame being filled
	packed   []byte    // scratch for a compressed frame
}

func (s *Syncer) run(ctx context.Context, st network.Stream, initiator bool, cl *claim) (stats Stats, err error) {
	began := time.Now()
	c := &conn{Stream: st, idle: s.opt.IdleTimeout}
	c.moved()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	// The watchdog resets a stream on which nothing moved for the idle
	// timeout: the stream's deadlines do the same, but not every transport
	// implements them (go-libp2p's mock network ignores them), and a peer
	// that goes silent must not hold the session, and an inbound slot,
	// forever.
	var quiet atomic.Bool
	var watchMu gosync.Mutex
	var watch *time.Timer
	ended := false // under watchMu
	watchMu.Lock()
	watch = time.AfterFunc(s.opt.IdleTimeout, func() {
		watchMu.Lock()
		defer watchMu.Unlock()
		if ended {
			return
		}
		if q := c.quiet(); q < s.opt.IdleTimeout {
			watch.Reset(s.opt.IdleTimeout - q)
			return
		}
		quiet.Store(true)
		st.Reset()
	})
	watchMu.Unlock()
	ss := &session{s: s, c: c, from: st.Conn().RemotePeer(), r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
	ss.stats.Initiator = initiator
	ss.turnCap = s.opt.TurnBytes
	defer func() {
		stop()
		watchMu.Lock()
		ended = true
		watch.Stop()
		watchMu.Unlock()
		stats = ss.stats
		if err != nil {
			st.Reset()
			var ne net.Error
			switch {
			case s.superseded(cl):
				err = ErrBusy
			case quiet.Load() || errors.As(err, &ne) && ne.Timeout():
				err = fmt.Errorf("%w for %v", ErrIdle, s.opt.IdleTimeout)
			}
			stats.Unsent = ss.owed()
		} else {
			st.Close()
			stats.Pushed += ss.inFlight
		}
		stats.SentBytes, stats.RecvBytes = c.out, c.in
		stats.Elapsed = time.Since(began)
		s.mu.Lock()
		s.total.add(stats)
		s.mu.Unlock()
		if s.opt.OnSessionEnd != nil {
			s.opt.OnSessionEnd(ss.from, stats, err)
		}
	}()
	s.r.WithIndex(func(x *Index) { ss.sess = NewSession(x, s.opt.Session) })

	if initiator {
		s.r.WithIndex(func(*Index) { ss.held, err = ss.sess.Start() })
		if err != nil {
			return stats, err
		}
		if _, err := ss.sendTurn(); err != nil {
			return stats, err
		}
	}
	for {
		kind, msg, err := ss.readTurn(ctx)
		if err != nil {
			return stats, err
		}
		switch kind {
		case frameBye:
			return stats, nil
		case frameMore:
			// The peer owes us more entries: give it the turn back. (We
			// owe nothing now: we sent our message, or GO.)
			if ss.held != nil {
				return stats, fmt.Errorf("sync: the peer sent MORE instead of GO")
			}
			if err := writeFrame(ss.w, frameGo, nil); err != nil {
				return stats, err
			}
			if err := ss.w.Flush(); err != nil {
				return stats, err
			}
			continue
		case frameGo:
			if ss.held == nil {
				return stats, fmt.Errorf("sync: the peer answered MORE that was never sent")
			}
			ss.sizeTurn()
		case frameMsg:
			if ss.held != nil {
				return stats, fmt.Errorf("sync: the peer sent a message instead of GO")
			}
			var reply []byte
			var push []crdt.ID
			s.r.WithIndex(func(*Index) { reply, push, _, err = ss.sess.Receive(msg) })
			if err != nil {
				return stats, err
			}
			if reply == nil { // the peer said it is done, and asked for nothing
				return stats, nil
			}
			ss.held, ss.pending = reply, push
		}
		sentMsg, err := ss.sendTurn()
		if err != nil {
			return stats, err
		}
		if sentMsg && ss.sess.Done() { // this reply asked nothing: the peer needs no answer
			return stats, nil
		}
	}
}

// owed counts the entries we still owe the peer, including those sent
// that it has not seen through.
func (ss *session) owed() int { return ss.inFlight + len(ss.ready) + len(ss.pending) }

// Entries are stored as they arrive: a frame's entries are stored before
// the next frame is awaited, unless the next one is here already (a fast
// link), the entries waiting are younger than storeBatchAge and fewer than
// storeBatchBytes: then they wait for it, so that a fast link stores in
// batches (one commit each) and a slow one frame by frame.
const (
	storeBatchBytes = 1 << 20
	storeBatchAge   = 250 * time.Millisecond
)

// readTurn reads the peer's turn: entries, then a message, MORE, GO or BYE.
// It stores the entries as they arrive, and those that arrived whole when
// the turn is cut. Storing runs beside reading and verifying (storer); the
// turn ends when all are stored, so that the message that ends it is
// answered from an index that holds them.
func (ss *session) readTurn(ctx context.Context) (kind byte, msg []byte, err error) {
	var batch [][]byte
	var batchBytes int
	var since time.Time
	st := newStorer(ctx, ss)
	// store hands the batch over to be stored, waiting for a slot if
	// block; if not, and none is free, the batch grows until one is (a
	// fast link stores in big batches, which cost less each).
	store := func(block bool) error {
		if len(batch) == 0 {
			return st.failed()
		}
		started, err := st.start(batch, block)
		if started {
			batch, batchBytes = nil, 0
		}
		return err
	}
	defer func() {
		if err != nil {
			store(true) // what arrived whole is kept
		}
		if werr := st.wait(); werr != nil {
			err = werr // (the cause: a read it cut short fails too)
		}
	}()
	for first := true; ; first = false {
		typ, payload, err := readFrame(ss.r)
		if err != nil {
			return 0, nil, err
		}
		if first {
			// The peer took its turn: it has read what we sent before.
			ss.stats.Pushed += ss.inFlight
			ss.inFlight = 0
		}
		switch typ {
		case frameMsg, frameMore, frameGo, frameBye:
			if typ != frameMsg && len(payload) != 0 {
				return 0, nil, fmt.Errorf("sync: frame %d with a payload", typ)
			}
			if err := store(true); err != nil {
				return 0, nil, err
			}
			return typ, payload, nil
		case frameEntries, frameDeflated:
			raws, err := decodeEntries(typ, payload)
			if err != nil {
				return 0, nil, err
			}
			if len(batch) == 0 {
				since = time.Now()
			}
			batch = append(batch, raws...)
			for _, raw := range raws {
				batchBytes += len(raw)
			}
			full := batchBytes >= storeBatchBytes || time.Since(since) >= storeBatchAge
			if full || ss.r.Buffered() == 0 {
				if err := store(full); err != nil {
					return 0, nil, err
				}
			}
		default:
			return 0, nil, fmt.Errorf("sync: unknown frame type %d", typ)
		}
	}
}

// storesQueued bounds the batches of one turn verified and not yet
// stored: reading waits for room, so what a session holds unstored stays
// bounded (the batch being read, these, and the one being stored).
const storesQueued = 1

// storer stores a turn's batches, in order, beside the reading and
// verifying of the next.
type storer struct {
	ctx   context.Context
	ss    *session
	slots chan struct{} // one per batch verified and not yet stored
	queue chan Verified
	done  chan struct{}

	refusedBefore int // by the session's turns before

	mu                gosync.Mutex
	received, refused int
	err               error
}

func newStorer(ctx context.Context, ss *session) *storer {
	st := &storer{ctx: ctx, ss: ss, refusedBefore: ss.stats.Refused, slots: make(chan struct{}, storesQueued+1),
		queue: make(chan Verified, storesQueued+1), done: make(chan struct{})}
	go st.run()
	return st
}

func (st *storer) run() {
	defer close(st.done)
	for v := range st.queue {
		if st.failed() == nil {
			refused, err := st.ss.s.r.Ingest(st.ctx, st.ss.from, v)
			st.mu.Lock()
			st.received += v.Len()
			st.refused += refused
			if err != nil && st.err == nil {
				st.err = err
			}
			st.mu.Unlock()
			if st.failed() != nil {
				// The reader may wait on a peer that went quiet: the
				// session ends now, with this error (wait).
				st.ss.c.Reset()
			}
		}
		<-st.slots
	}
}

// failed says whether a batch stored so far failed, or the peer sent too
// many entries refused.
func (st *storer) failed() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil && st.refusedBefore+st.refused > maxRefusals {
		st.err = ErrPeerMisbehaved
	}
	return st.err
}

// start verifies batch and queues it to be stored, once there is room if
// block, or else only if there is room now; it says whether it did.
func (st *storer) start(batch [][]byte, block bool) (bool, error) {
	if err := st.failed(); err != nil {
		return false, err
	}
	if block {
		select {
		case st.slots <- struct{}{}:
		case <-st.ctx.Done():
			return false, st.ctx.Err()
		}
	} else {
		select {
		case st.slots <- struct{}{}:
		default:
			return false, nil
		}
	}
	st.queue <- st.ss.s.r.Verify(batch) // (room: one slot each)
	return true, nil
}

// wait returns when every batch queued is stored, and counts them into the
// session's stats. The storer takes no more batches.
func (st *storer) wait() error {
	close(st.queue)
	<-st.done
	err := st.failed()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ss.stats.Received += st.received
	st.ss.stats.Refused += st.refused
	return err
}

// sendTurn pushes what we owe, up to TurnBytes of it, then sends our held
// message if nothing is left to push (and reports that it did), or MORE.
func (ss *session) sendTurn() (sentMsg bool, err error) {
	budget := ss.turnCap
	ss.turnAt = time.Now()
	defer func() {
		if ss.turnSent = ss.turnCap - budget; ss.turnSent > 0 {
			ss.stats.Turns++
		}
	}()
	for budget > 0 {
		if len(ss.ready) == 0 {
			if len(ss.pending) == 0 {
				break
			}
			k := min(len(ss.pending), fetchBatch)
			ss.ready = ss.s.r.Entries(ss.pending[:k])
			ss.pending = ss.pending[k:]
			continue
		}
		raw := ss.ready[0]
		if len(ss.frame) > 0 && len(ss.frame)+binary.MaxVarintLen32+len(raw) > entriesPerFrame {
			if err := ss.flushEntries(); err != nil {
				return false, err
			}
		}
		ss.frame = binary.AppendUvarint(ss.frame, uint64(len(raw)))
		ss.frame = append(ss.frame, raw...)
		ss.ready[0] = nil
		ss.ready = ss.ready[1:]
		ss.inFlight++
		budget -= len(raw)
	}
	if err := ss.flushEntries(); err != nil {
		return false, err
	}
	if len(ss.ready) > 0 || len(ss.pending) > 0 {
		err = writeFrame(ss.w, frameMore, nil)
	} else {
		ss.stats.Rounds++
		err = writeFrame(ss.w, frameMsg, ss.held)
		ss.held, sentMsg = nil, true
	}
	if err != nil {
		return false, err
	}
	return sentMsg, ss.w.Flush()
}

// sizeTurn sizes our next turn by the last: the peer's GO came once it had
// read all of it, so it crossed the link at about turnSent over the time
// since. The next turn may push what crosses in a third of the idle
// timeout at that rate, at least TurnBytes and at most maxTurnBytes, and
// grows by at most 4 times a turn.
func (ss *session) sizeTurn() {
	took := time.Since(ss.turnAt)
	if ss.turnSent <= 0 || took <= 0 {
		return
	}
	rate := float64(ss.turnSent) / took.Seconds()
	next := rate * (ss.s.opt.IdleTimeout / 3).Seconds()
	ss.turnCap = int(min(next, float64(4*ss.turnCap), maxTurnBytes))
	ss.turnCap = max(ss.turnCap, ss.s.opt.TurnBytes)
}

// flushEntries writes the entry frame being filled, compressed if that
// makes it shorter.
func (ss *session) flushEntries() error {
	if len(ss.frame) == 0 {
		return nil
	}
	if ss.deflate == nil {
		ss.deflate = newDeflater()
	}
	typ, payload := frameEntries, ss.frame
	if ss.packed = ss.deflate.pack(ss.packed[:0], ss.frame); len(ss.packed) < len(ss.frame) {
		typ, payload = frameDeflated, ss.packed
	}
	err := writeFrame(ss.w, typ, payload)
	ss.frame = ss.frame[:0]
	return err
}

// deflater compresses entry frames. A flate.Writer takes hundreds of
// kilobytes: one serves a session.
type deflater struct {
	buf bytes.Buffer
	zw  *flate.Writer
}

func newDeflater() *deflater {
	d := &deflater{}
	d.zw, _ = flate.NewWriter(&d.buf, flate.DefaultCompression) // (the level is valid)
	return d
}

// pack appends p, compressed, to dst.
func (d *deflater) pack(dst, p []byte) []byte {
	d.buf.Reset()
	d.zw.Reset(&d.buf)
	d.zw.Write(p) // (a bytes.Buffer does not fail)
	d.zw.Close()
	return append(dst, d.buf.Bytes()...)
}

// inflate decompresses a DEFLATED payload, refusing one that would inflate
// beyond maxEntriesPayload: a small frame must not take much memory.
func inflate(p []byte) ([]byte, error) {
	zr := flate.NewReader(bytes.NewReader(p))
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxEntriesPayload+1))
	if err != nil {
		return nil, fmt.Errorf("sync: malformed compressed entries frame: %w", err)
	}
	if len(out) > maxEntriesPayload {
		return nil, fmt.Errorf("sync: compressed entries frame inflates beyond %d bytes", maxEntriesPayload)
	}
	return out, nil
}

// decodeEntries reads an ENTRIES or DEFLATED payload.
func decodeEntries(typ byte, payload []byte) ([][]byte, error) {
	if typ == frameDeflated {
		var err error
		if payload, err = inflate(payload); err != nil {
			return nil, err
		}
	}
	// (A plain ENTRIES frame is bounded by maxFrame as it is read: larger
	// than honest peers send, which a peer's refused entries then count
	// against it.)
	return splitEntries(payload)
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
