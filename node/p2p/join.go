package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/logs"
)

// Joining, the network's side (node/join.go has the rest): the joiner
// dials the inviter's door and presents its request (CompleteJoin); the
// inviter's node serves the join protocol (serveJoin), where the core
// answers (Core.AnswerJoin).

const (
	maxJoinRequest = 4 << 10
	// joinReplyWindow bounds a join, both sides: the dial, the request and
	// the reply (the genesis and membership entries, base64 in JSON: some
	// 70 KB for twenty organisations). At 32 kbit/s with an 800 ms round
	// trip that reply alone takes about 20 s, so three minutes leave room
	// for a few hundred organisations and for losses; the joiner tries
	// again with backoff.
	joinReplyWindow = 3 * time.Minute
)

// A Joiner is a join under way, as the application core holds it
// (node.BeginJoin): what CompleteJoin needs to reach the inviter's door,
// the request to present there, and what to do with the answer.
type Joiner interface {
	// DeviceKey is the joining device's private key (ed25519, 64 bytes).
	DeviceKey() []byte
	// Invite is the code's secret and its prefix of the network's ID.
	Invite() (secret [inviteSecretLen]byte, prefix []byte)
	// Addrs are the IP addresses to look for the door at: those that
	// came with the code, and those of peers (multiaddrs or IP addresses).
	Addrs(peers []string) []netip.Addr
	// JoinProtocol is the join protocol of the network the code names.
	JoinProtocol() protocol.ID
	// Request is the request to join that target is sent (JSON).
	Request(target peer.ID) ([]byte, error)
	// Answer reads the door's answer from r (reached at via). done: the
	// join ended, well (err nil) or not (err); not done, the door is asked
	// again: err says why the answer could not be read, or (err nil) the
	// organisation awaits more stewards' approval, and pending says how
	// many it has ("1 of 2 approvals").
	Answer(ctx context.Context, r io.Reader, via ma.Multiaddr) (done bool, pending string, err error)
}

// JoinOptions are how CompleteJoin looks for the inviter's door.
type JoinOptions struct {
	LAN   bool         // look for the door on the local network (mDNS) too
	Peers []string     // IP addresses (or multiaddrs) to look for it at, beside the code's
	Log   *slog.Logger // nil: no lines
	// AskEvery is how long a joiner whose organisation awaits more
	// stewards' approval waits before it first asks again (then longer,
	// up to 4 times as long: a minute by default); 15 s if zero.
	AskEvery time.Duration
}

// CompleteJoin reaches the door the inviter opened for the invite of the
// join j (door.go) — at the addresses that came with the code, at the
// IP addresses of opt.Peers (`murmur run --peer`), and, with opt.LAN,
// wherever mDNS finds it under the name the code's secret derives —
// presents the invite, and on success j sets the directory up as a node
// of the network. It retries, backing off, until ctx is done. Where the
// organisation awaits more stewards' approval, the door says only that,
// and it is asked again until the answer lets the organisation in.
// The door's identity derives from the code's secret: only a holder of
// the code can pose as it, and the answer must be the network the code
// names.
func CompleteJoin(ctx context.Context, j Joiner, opt JoinOptions) error {
	log := logs.Or(opt.Log)
	askEvery := opt.AskEvery
	if askEvery <= 0 {
		askEvery = 15 * time.Second
	}
	secret, prefix := j.Invite()
	h, err := joinHost(j.DeviceKey(), doorKey(secret, prefix), opt.LAN)
	if err != nil {
		return err
	}
	defer h.Close()
	target := peer.AddrInfo{ID: doorPeer(secret, prefix)}
	port := doorPort(secret)
	for _, ip := range j.Addrs(opt.Peers) {
		target.Addrs = append(target.Addrs, addrport.Addr{AddrPort: netip.AddrPortFrom(ip, port)}.Multiaddr())
	}
	found := newFoundPeers()
	var ld *lanDiscovery
	if opt.LAN {
		if ld, err = startLANAs(h, func(t time.Time) string { return doorServiceName(secret, t) }, found, time.Now()); err == nil {
			defer ld.Close()
		} else {
			log.Warn(fmt.Sprintf("not looking for the inviter on the local network: %v", err))
			ld = nil
		}
	}
	if len(target.Addrs) == 0 && ld == nil {
		return inputErr("no address to reach the inviter: give the address that came with the code (murmur run --peer ADDRESS), or let mDNS look on the local network")
	}
	backoff, wait := time.Second, askEvery
	said := "" // the last approvals said
	for {
		if ld != nil {
			ld.renew(time.Now()) // (the day may have changed)
		}
		for _, ai := range found.take() { // the door, found on the local network
			if ai.ID == target.ID {
				for _, a := range ai.Addrs {
					if ia, ok := addrport.Of(a); ok && !ia.QUIC && !slices.ContainsFunc(target.Addrs, a.Equal) {
						target.Addrs = append(target.Addrs, a)
					}
				}
			}
		}
		var (
			done    bool
			pending string
		)
		err := errNoAddress
		if len(target.Addrs) > 0 {
			done, pending, err = askToJoin(ctx, h, target, j)
		}
		var next time.Duration
		switch {
		case done:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil && pending != "":
			if pending != said {
				log.Info(fmt.Sprintf("the inviter's node accepted the invite; your organisation awaits the other stewards' approval (%s). Keep this running: it asks again every minute or so, and completes the join within a minute or two of their approval", pending))
				said = pending
			}
			next, wait = wait, min(2*wait, 4*askEvery)
			backoff = time.Second
		default:
			log.Info(fmt.Sprintf("cannot reach the inviter's node yet (%s): it may be stopped or elsewhere, not have opened this invite yet (a running node does within seconds of the invite), or the code may be used or expired; trying again in %v", unreached(err, target.Addrs), backoff.Round(time.Second)))
			next, backoff = backoff, min(2*backoff, time.Minute)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(next):
		}
	}
}

var errNoAddress = errors.New("not found on the local network yet")

// unreached says in plain words why the door at addrs did not answer: the
// transport's own errors name peer IDs and protocol stacks.
func unreached(err error, addrs []ma.Multiaddr) string {
	if errors.Is(err, errNoAddress) {
		return err.Error()
	}
	var at []string
	for _, a := range addrs {
		if ia, ok := addrport.Of(a); ok && !slices.Contains(at, ia.AddrPort.String()) {
			at = append(at, ia.AddrPort.String())
		}
	}
	where := "at " + strings.Join(at, ", ")
	if len(at) == 0 {
		where = "where it was looked for"
	}
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		return "nothing answers " + where
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline"):
		return "no answer " + where
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		strings.Contains(msg, "unreachable") || strings.Contains(msg, "no route to host"):
		return "no way from here to " + strings.TrimPrefix(where, "at ")
	default:
		return "could not connect " + where
	}
}

// foundPeers collects the peers mDNS finds, for the join loop to ask.
type foundPeers struct {
	mu    gosync.Mutex
	peers []peer.AddrInfo
}

func newFoundPeers() *foundPeers { return &foundPeers{} }

func (f *foundPeers) HandlePeerFound(ai peer.AddrInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.peers) < 64 {
		f.peers = append(f.peers, ai)
	}
}

func (f *foundPeers) take() []peer.AddrInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.peers
	f.peers = nil
	return out
}

func joinHost(priv, psk []byte, lan bool) (host.Host, error) {
	key, err := lpcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	listen := libp2p.NoListenAddrs
	if lan { // mDNS announces where this host listens
		listen = libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0")
	}
	opts := []libp2p.Option{libp2p.Identity(key), libp2p.UserAgent(AgentVersion), listen, libp2p.Transport(tcp.NewTCPTransport)}
	if psk != nil {
		opts = append(opts, libp2p.PrivateNetwork(psk))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	return libp2p.New(opts...)
}

// askToJoin presents the join request at the door target, and has j take
// the answer (Joiner.Answer).
func askToJoin(ctx context.Context, h host.Host, target peer.AddrInfo, j Joiner) (done bool, pending string, err error) {
	cctx, cancel := context.WithTimeout(ctx, joinReplyWindow)
	defer cancel()
	// The join loop backs off on its own: a door that was not open yet a
	// moment ago is dialled at once.
	if sw, ok := h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		sw.Backoff().Clear(target.ID)
	}
	if err := h.Connect(cctx, target); err != nil {
		return false, "", err
	}
	s, err := h.NewStream(cctx, target.ID, j.JoinProtocol())
	if err != nil {
		return false, "", err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(joinReplyWindow))
	req, err := j.Request(target.ID)
	if err != nil {
		return false, "", err
	}
	if _, err := s.Write(req); err != nil {
		return false, "", err
	}
	return j.Answer(ctx, s, s.Conn().RemoteMultiaddr())
}

// serveJoin answers a join request: the one thing a stranger may ask.
func (r *Runner) serveJoin(s network.Stream) { r.serveJoinIf(s, r.core.Admissible) }

// serveJoinIf is serveJoin for a peer that admit lets in (a door's gate).
func (r *Runner) serveJoinIf(s network.Stream, admit func(peer.ID) bool) {
	defer s.Close()
	if !admit(s.Conn().RemotePeer()) { // where no gater ran (the mock network), this is the gate
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(joinReplyWindow))
	if note := r.core.AnswerJoin(context.Background(), s.Conn().RemotePeer(), s.Conn().LocalPeer(), bufio.NewReader(io.LimitReader(s, maxJoinRequest)), s); note != "" {
		r.log.Info(note)
	}
}
