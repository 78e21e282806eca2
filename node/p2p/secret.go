package p2p

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmurnet/murmur/crdt"
)

// The network secret (the double-funding check's: node/grant.go) is handed
// from member's node to member's node over SecretProtocol; the core says
// whether to hand it out and whether to keep what was handed over.
const (
	// secretSize is the network secret's length.
	secretSize = 32
	// secretTimeout bounds asking a peer for the secret: opening a stream
	// (a round trip or two) and 33 bytes back. A minute leaves room for an
	// 800 ms round trip with packets lost and retransmitted with backoff;
	// on failure the next reconciliation asks again.
	secretTimeout = time.Minute
)

// SecretProtocol is the protocol on which a member's node hands the network
// secret to another member's node.
func SecretProtocol(network crdt.ID) protocol.ID {
	return protocol.ID("/murmur/secret/1/" + network.String())
}

// fetchSecret asks p for the network secret and keeps it. A secret whose
// key check is not the anchored one (crdt.State.NetworkKeyCheck) is
// refused: a member's node handing out a wrong secret would make this
// node's records and checks match nothing. Where the network has no anchor
// yet, the secret is taken from a steward's node only, and not if it
// matches none of the grant records held here (Core.TakeSecret).
func (r *Runner) fetchSecret(p peer.ID) error {
	ctx, cancel := context.WithTimeout(r.ctx, secretTimeout)
	defer cancel()
	if err := r.core.MayTakeSecretFrom(p); err != nil {
		return err
	}
	s, err := r.h.NewStream(ctx, p, SecretProtocol(r.core.Network()))
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(secretTimeout))
	buf := make([]byte, 1+secretSize)
	if _, err := io.ReadFull(s, buf); err != nil {
		return fmt.Errorf("no secret from %s: %w", short(p.String()), err)
	}
	if buf[0] != 1 {
		return fmt.Errorf("secret from %s in an unknown format", short(p.String()))
	}
	kept, replaced, err := r.core.TakeSecret(p, buf[1:])
	switch {
	case err != nil || !kept:
		return err
	case replaced:
		r.log.Warn(fmt.Sprintf("the network's secret held here was not the one the stewards anchored: replaced with the one from %s (grants recorded here under the old one cannot be compared)", r.core.DeviceName(p)))
		return nil
	}
	r.log.Info(fmt.Sprintf("received the network's secret from %s: the double-funding check (murmur grant) is ready", r.core.DeviceName(p)))
	return nil
}

// serveSecret hands the network secret to a member's node (registered
// through memberHost: no one else reaches it).
func (r *Runner) serveSecret(s network.Stream) {
	defer s.Close()
	if !r.core.KnownMemberPeer(s.Conn().RemotePeer()) { // (not a peer vouched for after a repair: node/repair.go)
		s.Reset()
		return
	}
	secret, ok := r.core.SecretToServe()
	if !ok {
		s.Reset() // not held here (yet), or not the anchored one: the peer asks another
		return
	}
	s.SetWriteDeadline(time.Now().Add(secretTimeout))
	s.Write(append([]byte{1}, secret...))
}
