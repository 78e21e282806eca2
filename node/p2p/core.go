// Package p2p is the peer-to-peer runtime of a Murmur node: the libp2p
// host and its gate, gossip and reconciliation, the join, secret, bodies,
// told and dial-back protocols, the live path's throttle and committer,
// the peer book and its dial loop, mDNS, the paths through NAT, and the
// doors of open invites. It owns no state of the network: it asks the
// application core (package node, through Core) and tells it what arrived.
// It does not import node; cmd wires the two.
package p2p

import (
	"context"
	"io"
	"time"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/runfile"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// Core is what the runtime asks of the application core (*node.Node),
// named in the core's terms. Every method takes the core's lock itself
// where it needs it: the runtime never holds it.
type Core interface {
	// Identity and keys.

	// Network is the network's ID.
	Network() crdt.ID
	// HostKey is the device key as a libp2p identity (an error if the key
	// is locked).
	HostKey() (lpcrypto.PrivKey, error)
	// NetworkKey is a private network's pre-shared key; nil if it is open.
	NetworkKey() ([]byte, error)
	// CheckRunnable fails if the node cannot run: its key is locked, or
	// its database is damaged.
	CheckRunnable(ctx context.Context) error
	// LoadPool has the core hold the entries waiting for what they lack
	// (a process that only reads leaves them on disk): a running node
	// judges entries all the time.
	LoadPool(ctx context.Context) error

	// Standing: who may connect, and what a peer is called.

	// Standing says where p stands, in one look: a member device's node,
	// a revoked device's, or neither while an invite of this device is
	// open (the gate's guest).
	Standing(p peer.ID) (member, revoked, invitesOpen bool)
	// MemberPeer: p is the node of a device with standing (or, while the
	// database recovers, one named with --peer: Vouch).
	MemberPeer(p peer.ID) bool
	// KnownMemberPeer: the state knows p as a device with standing.
	KnownMemberPeer(p peer.ID) bool
	// Admissible: p may connect at all (a member, or anyone not revoked
	// while an invite of this device is open).
	Admissible(p peer.ID) bool
	// MemberPeers are the nodes of every device with standing.
	MemberPeers() []peer.ID
	// OtherMembers: some device other than this one has standing.
	OtherMembers() bool
	// DeviceName is how log lines name p's node: by IDs, never by name.
	DeviceName(p peer.ID) string
	// RevokedNotice says who revoked this device and when; "" if it is
	// not revoked.
	RevokedNotice() string

	// Entries.

	// WithIndex calls fn with the reconciliation index (sync.Replica).
	WithIndex(fn func(x *msync.Index))
	// AcceptedEntries are the accepted entries among ids, to serve.
	AcceptedEntries(ids []crdt.ID) [][]byte
	// IngestFromPeer takes in what a peer sent (reconciliation, bodies,
	// what it told), and reports how many entries were refused.
	IngestFromPeer(ctx context.Context, from peer.ID, raws [][]byte) (refused int, err error)
	// VerifyEntries decodes raws and checks their signatures, touching no
	// state; IngestVerifiedFromPeer then takes the batch in as
	// IngestFromPeer does. Reconciliation verifies a batch while the one
	// before is stored.
	VerifyEntries(raws [][]byte) msync.Verified
	IngestVerifiedFromPeer(ctx context.Context, from peer.ID, v msync.Verified) (refused int, err error)
	// LiveCheck is where an entry on the live path stands, in one look:
	// held already, signed by a known device, and whether it may wait in
	// the state for what it lacks (its author is a device, or from is a
	// member's node). st is the held entry's status; for one not held
	// that may not wait, the state's judgement of it, not kept.
	LiveCheck(e *crdt.Entry, from peer.ID) (st crdt.Status, held, device, mayWait bool)
	// CommitLive gives the live path's entries to the state in one step
	// and stores what it decided, in one transaction.
	CommitLive(ctx context.Context, es []*crdt.Entry) ([]crdt.Result, error)
	// Bodies are the accepted entries among ids with their bodies, within
	// max bytes in all.
	Bodies(ids []crdt.ID, max int) [][]byte
	// Unfilled are up to max entries held without their bodies (held back
	// while this organisation awaited admission).
	Unfilled(max int) []crdt.ID
	// Filled is how many of ids are now held with their bodies.
	Filled(ids []crdt.ID) int
	// ToldEntries are the revocations of device k with what the revoked
	// node needs to accept them (up to chain entries before each), oldest
	// first, at most max.
	ToldEntries(k crdt.DeviceKey, chain, max int) [][]byte
	// Cursor is how far the store's log goes.
	Cursor(ctx context.Context) (int64, error)

	// What changed: this device wrote an entry (own), membership changed
	// (membership). Observe(nil, nil) stops both. Both are called under the
	// core's lock: they must not block.
	Observe(own func(*crdt.Entry), membership func())
	// Refresh brings the state up to what other processes stored.
	Refresh(ctx context.Context) error
	// TakePolledNews is how many entries of other devices the refreshes
	// since the last call found (then forgets them).
	TakePolledNews() int
	// Damaged is err as the damaged-database error, or nil if err is not
	// about a damaged database.
	Damaged(err error) error

	// Recovery after the database was rebuilt (node/repair.go).

	// RecoveryPending: the database was rebuilt, and this device writes
	// nothing until it has synced with a member's node.
	RecoveryPending() bool
	// Vouch lets peers through the gate while the node recovers.
	Vouch(peers []peer.AddrInfo)
	// EndRecovery ends the recovery (a sync with a member's node that
	// lacked nothing); it reports whether there was one.
	EndRecovery() bool

	// The network secret and the organisation's keys.

	// NeedsSecret: the node holds no network secret, or not the anchored one.
	NeedsSecret() bool
	// SecretToServe is the secret to hand a member's node, if held and
	// anchored.
	SecretToServe() ([]byte, bool)
	// MayTakeSecretFrom fails if p's node may not hand this node the
	// secret (no anchor yet, and p is not a steward's node).
	MayTakeSecretFrom(p peer.ID) error
	// TakeSecret keeps the secret p handed over, if it is still needed
	// and checks out; replaced: it took the place of one held.
	TakeSecret(p peer.ID, secret []byte) (kept, replaced bool, err error)
	// EnsureOrgKey and EnsureSecretCheck write, when due, the
	// organisation's keys and the network secret's anchor.
	EnsureOrgKey(ctx context.Context) (bool, error)
	EnsureSecretCheck(ctx context.Context) (bool, error)

	// Addresses and contacts.

	// Now is the node's clock (address hints are aged by it).
	Now() time.Time
	// PeerHints are the members' nodes' address hints written within
	// their maximum age of now; RelayHints those of nodes that relay.
	// Most recent first.
	PeerHints(now time.Time) []peer.AddrInfo
	RelayHints(now time.Time) []peer.AddrInfo
	// PublishAddressHint writes this device's address hint, unless it
	// says so already.
	PublishAddressHint(addrs []ma.Multiaddr, relay bool) error
	// HintFromReach keeps this device's hint true to what members found.
	HintFromReach(reach runfile.Reachability, reached []ma.Multiaddr, relay bool) error
	// Contacts and RecordContact: the member devices' nodes reached, and
	// when (kept in the store).
	Contacts(ctx context.Context) ([]store.Contact, error)
	RecordContact(ctx context.Context, k crdt.DeviceKey, at time.Time, how store.Via, addrs ...[]byte) error
	// SyncedOrg is the member organisation of p's device, other than this
	// device's own; RememberSynced notes that its node held everything
	// this node held at cursor (bundles: node/bundle.go).
	SyncedOrg(p peer.ID) (crdt.OrgID, bool)
	RememberSynced(ctx context.Context, org crdt.OrgID, cursor int64, at time.Time)

	// Joining and doors.

	// JoinProtocol is the join protocol of this node's network.
	JoinProtocol() protocol.ID
	// AnswerJoin reads a join request from r and writes the answer to w;
	// note, if not empty, is for the node's log (an organisation joined,
	// a refused name).
	AnswerJoin(ctx context.Context, from, self peer.ID, r io.Reader, w io.Writer) (note string)
	// DoorsWanted are the secrets of this device's open invites, each
	// with who used it ("" if no one yet).
	DoorsWanted() (map[[inviteSecretLen]byte]string, error)

	// The running node's files.

	// LockRun takes the data directory's run lock (one node runs on it).
	LockRun() (release func(), err error)
	// WriteRunFile says what the running node is (run.json);
	// RemoveRunFile takes it back.
	WriteRunFile(info runfile.Info)
	RemoveRunFile()
}

// An invite code's secret, and its prefix of the network's ID
// (node/invite.go).
const (
	inviteSecretLen = 13
	inviteNetLen    = 2
)
