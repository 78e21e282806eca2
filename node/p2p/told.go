package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmurnet/murmur/crdt"
)

// A device revoked by another device is cut off by every node that knows
// of the revocation, at once — and so, unless the gossip happened to reach
// it first, it never hears of its own revocation: its status says nothing
// and its writes fail for reasons it cannot see. Before a node cuts a
// connected device off for a revocation, it tells it: it opens one stream
// on the told protocol and sends the revocations and the entries of their
// authors' chains just below them (which the revoked node needs to accept
// them), waits for the answer, then disconnects. The revoked node ingests
// them as any member's entries (verified, judged by the same rules) and
// from then on says who revoked it and when. The stream is the only one
// the gate lets through to a revoked device, outbound only, and it serves
// nothing: the revoked device's own streams are refused all along.

// toldWithin bounds how long a node spends telling a revoked device before
// it cuts it off regardless. What it sends (a revocation and up to
// toldChain entries below it, a few KB; at most toldMax entries) takes
// some 5 to 10 s on a link of 32 kbit/s and an 800 ms round trip; the
// revoked device can do nothing meanwhile, as its own streams are refused.
const toldWithin = 20 * time.Second

// toldChain is how many entries of a revocation's author's chain, below
// the revocation, go with it.
const toldChain = 16

// toldMax bounds what a revoked node reads on the told protocol.
const toldMax = 4 * (toldChain + 1)

func toldProtocol(network crdt.ID) protocol.ID {
	return protocol.ID("/murmur/told/1/" + network.String())
}

// telling is the set of revoked peers being told (the gate looks again
// while it is under way).
type telling struct {
	mu    sync.Mutex
	peers map[peer.ID]bool
}

// tellAndCut tells p of its revocation, then disconnects it; a second call
// while the first is under way does nothing.
func (r *Runner) tellAndCut(p peer.ID) {
	r.telling.mu.Lock()
	if r.telling.peers == nil {
		r.telling.peers = map[peer.ID]bool{}
	}
	busy := r.telling.peers[p]
	r.telling.peers[p] = true
	r.telling.mu.Unlock()
	if busy {
		return
	}
	r.spawn(func() {
		defer func() {
			r.telling.mu.Lock()
			delete(r.telling.peers, p)
			r.telling.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(r.ctx, toldWithin)
		err := r.tell(ctx, p)
		cancel()
		if err != nil && r.ctx.Err() == nil {
			r.log.Warn(fmt.Sprintf("telling %s of its revocation: %v", r.core.DeviceName(p), err))
		}
		r.h.Network().ClosePeer(p)
		r.event(GateEvent{Peer: p, Decision: Disconnected})
	})
}

func (r *Runner) tell(ctx context.Context, p peer.ID) error {
	k, ok := peerDevice(p)
	if !ok {
		return nil
	}
	raws := r.core.ToldEntries(k, toldChain, toldMax)
	if len(raws) == 0 {
		return nil
	}
	s, err := r.h.NewStream(ctx, p, toldProtocol(r.core.Network()))
	if err != nil {
		return err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	w := bufio.NewWriter(s)
	var lb [binary.MaxVarintLen64]byte
	for _, raw := range raws {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(raw)))])
		w.Write(raw)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	var ack [1]byte
	_, err = io.ReadFull(s, ack[:])
	return err
}

// serveTold reads what a member's node tells this one of its revocation,
// and ingests it.
func (r *Runner) serveTold(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(toldWithin))
	br := bufio.NewReader(io.LimitReader(s, int64(toldMax)*(crdt.MaxEntrySize+binary.MaxVarintLen64)))
	var raws [][]byte
	for len(raws) < toldMax {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || n == 0 || n > crdt.MaxEntrySize {
			s.Reset()
			return
		}
		raw := make([]byte, n)
		if _, err := io.ReadFull(br, raw); err != nil {
			s.Reset()
			return
		}
		raws = append(raws, raw)
	}
	if _, err := r.core.IngestFromPeer(r.ctx, s.Conn().RemotePeer(), raws); err != nil && r.ctx.Err() == nil {
		r.log.Warn(fmt.Sprintf("what a member's node told of this device's revocation: %v", err))
	}
	r.checkRevoked()
	s.Write([]byte{1})
}
