package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmurnet/murmur/crdt"
)

// Bodies held back. An organisation awaiting admission is given its
// stewards' chains without the bodies of anything but membership entries
// (membershipEntries in node/join.go): a stolen invite code must read nothing.
// Reconciliation works on IDs, and the IDs are the same with or without a
// body, so it does not bring them. Once its organisation is admitted, the
// node asks the member it has just reconciled with for the bodies it
// lacks, over BodiesProtocol (registered through memberHost: only members'
// nodes reach it), and the state fills them in (crdt.State.fill). The
// node then holds the same entries, byte for byte, as one that was never
// pending. A body an accepted redaction took back is neither asked for
// nor served.
//
//	request: up to maxBodyIDs entry IDs (32 bytes each); then the asking
//	         side closes its half of the stream
//	reply:   the whole entries among them that the member holds, accepted
//	         and with their bodies, each a uvarint length and the encoding

const (
	maxBodyIDs     = 256
	maxBodiesReply = 8 << 20
	bodiesTimeout  = time.Minute
	// bodyRounds bounds the requests after one reconciliation (256 bodies
	// each); what is left waits for the next.
	bodyRounds = 64
)

// BodiesProtocol is the protocol on which a member's node hands another
// member's node the bodies of entries it holds without them.
func BodiesProtocol(network crdt.ID) protocol.ID {
	return protocol.ID("/murmur/bodies/1/" + network.String())
}

// serveBodies answers a member's node asking for bodies.
func (r *Runner) serveBodies(s network.Stream) {
	defer s.Close()
	if !r.core.KnownMemberPeer(s.Conn().RemotePeer()) { // (not a peer vouched for after a repair: node/repair.go)
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(bodiesTimeout))
	buf, err := io.ReadAll(io.LimitReader(s, maxBodyIDs*32+1))
	if err != nil || len(buf)%32 != 0 || len(buf) > maxBodyIDs*32 {
		s.Reset()
		return
	}
	ids := make([]crdt.ID, 0, len(buf)/32)
	for i := 0; i < len(buf); i += 32 {
		ids = append(ids, crdt.ID(buf[i:i+32]))
	}
	raws := r.core.Bodies(ids, maxBodiesReply)
	w := bufio.NewWriter(s)
	for _, raw := range raws {
		w.Write(binary.AppendUvarint(nil, uint64(len(raw))))
		w.Write(raw)
	}
	w.Flush()
}

// fetchBodies asks p for the bodies this node lacks, while it gets some.
func (r *Runner) fetchBodies(p peer.ID) error {
	for range bodyRounds {
		ids := r.core.Unfilled(maxBodyIDs)
		if len(ids) == 0 {
			return nil
		}
		got, err := r.askBodies(p, ids)
		if err != nil {
			return err
		}
		filled := r.core.Filled(ids)
		if got == 0 || filled == 0 {
			return nil // p holds none of them: another member may
		}
	}
	return nil
}

// askBodies makes one request, and takes in the entries asked for.
func (r *Runner) askBodies(p peer.ID, ids []crdt.ID) (int, error) {
	ctx, cancel := context.WithTimeout(r.ctx, bodiesTimeout)
	defer cancel()
	s, err := r.h.NewStream(ctx, p, BodiesProtocol(r.core.Network()))
	if err != nil {
		return 0, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(bodiesTimeout))
	asked := make(map[crdt.ID]bool, len(ids))
	req := make([]byte, 0, 32*len(ids))
	for _, id := range ids {
		asked[id] = true
		req = append(req, id[:]...)
	}
	if _, err := s.Write(req); err != nil {
		return 0, err
	}
	if err := s.CloseWrite(); err != nil {
		return 0, err
	}
	br := bufio.NewReader(io.LimitReader(s, int64(maxBodiesReply+binary.MaxVarintLen64*maxBodyIDs)))
	var raws [][]byte
	for len(raws) < len(ids) {
		size, err := binary.ReadUvarint(br)
		if err == io.EOF {
			break
		}
		if err != nil || size > crdt.MaxEntrySize {
			return 0, fmt.Errorf("a malformed answer from %s", short(p.String()))
		}
		raw := make([]byte, size)
		if _, err := io.ReadFull(br, raw); err != nil {
			return 0, fmt.Errorf("a cut answer from %s: %w", short(p.String()), err)
		}
		if e, err := crdt.Verify(raw); err == nil && asked[e.ID()] && !e.Withheld {
			raws = append(raws, raw)
		}
	}
	if len(raws) == 0 {
		return 0, nil
	}
	_, err = r.core.IngestFromPeer(r.ctx, p, raws)
	return len(raws), err
}
