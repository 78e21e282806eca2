package node

// The node as the peer-to-peer runtime (node/p2p) sees it: the methods of
// p2p.Core, and what the core keeps for the runtime (address hints and
// contacts, the doors' secrets, the network key, what a revoked device is
// told). Each method takes n.mu itself where it needs it; the runtime
// never holds the node's lock.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/addrport"
	"github.com/murmurnet/murmur/node/runfile"
	"github.com/murmurnet/murmur/store"
	msync "github.com/murmurnet/murmur/sync"
)

// doorsName is where this device keeps its open invites' secrets, sealed:
// the runtime opens a door for each (node/p2p/door.go).
const doorsName = "doors.sealed"

// HintMaxAge: an address hint written longer ago than this, by the node's
// clock, is not dialled. Nor is one its author dated more than
// crdt.MaxDrift ahead of the node's clock: its age cannot be told (a
// rogue member's hint dated years ahead would be dialled for years).
const HintMaxAge = 30 * 24 * time.Hour

// memberPeers are the peer IDs of every device with standing.
func (n *Node) memberPeers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []peer.ID
	for _, o := range n.state.Members() {
		for _, d := range o.Devices {
			if _, ok := n.state.Standing(d.Key); !ok {
				continue
			}
			if p, err := PeerID(d.Key); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// deviceName names a device for a log line: its organisation's name.
func (n *Node) deviceNameLocked(p peer.ID) string {
	k, ok := peerDevice(p)
	if !ok {
		return short(p.String())
	}
	org, ok := n.state.Standing(k)
	if !ok {
		return short(p.String())
	}
	if name := n.state.OrgNames()[org]; name != "" {
		return name
	}
	return short(p.String())
}

// HintFromReach keeps this device's address hint true to what members
// found (for a node run without --announce): the addresses they reached
// replace it; if they reached none, a hint that names addresses is taken
// back, so that members stop dialling where this node no longer is (an
// address announced once, then moved). Loopback addresses are never
// published from here. Nothing is written when the hint says so already.
func (n *Node) HintFromReach(reach runfile.Reachability, reached []ma.Multiaddr, relay bool) error {
	switch reach {
	case runfile.ReachPublic:
		var publish []ma.Multiaddr
		for _, a := range reached {
			if !manet.IsIPLoopback(a) {
				publish = append(publish, a)
			}
		}
		if len(publish) == 0 {
			return nil
		}
		return n.PublishAddressHint(publish, relay)
	case runfile.ReachBehindNAT:
		self, err := PeerID(n.device)
		if err != nil {
			return err
		}
		for _, h := range n.AddressHints(n.Now()) {
			if h.Device == self && len(h.Addrs) > 0 {
				return n.PublishAddressHint(nil, relay)
			}
		}
	}
	return nil
}

// AddressHint is a member device's statement of where its node can be
// reached.
type AddressHint struct {
	Device  peer.ID
	Org     crdt.OrgID
	OrgName string
	Addrs   []ma.Multiaddr // without the trailing /p2p/ of Device
	Relay   bool           // the node runs a relay for members
	Written time.Time      // the entry's clock, as its author set it
}

// AddressHints returns the current address hint of every device with
// standing (this one's included) written within HintMaxAge of now.
func (n *Node) AddressHints(now time.Time) []AddressHint {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addressHints(now)
}

func (n *Node) addressHints(now time.Time) []AddressHint {
	names := n.orgNames()
	var out []AddressHint
	for _, h := range n.state.AddressHints() {
		written := millisTime(h.Clock.Millis())
		if now.Sub(written) > HintMaxAge || written.Sub(now) > crdt.MaxDrift*time.Millisecond {
			continue
		}
		p, err := PeerID(h.Device)
		if err != nil {
			continue
		}
		ah := AddressHint{Device: p, Org: h.Org, OrgName: names[h.Org], Relay: h.Relay, Written: written}
		for _, b := range h.Addrs {
			// The same rule as for this device's own hint: another
			// device's (perhaps a rogue one's, or an older release's)
			// that names a host, a loopback address or a relay is not
			// dialled.
			if a, err := ma.NewMultiaddrBytes(b); err == nil {
				if a, err := checkHint(a, p, true); err == nil {
					ah.Addrs = append(ah.Addrs, a)
				}
			}
		}
		if len(ah.Addrs) > 0 {
			out = append(out, ah)
		}
	}
	return out
}

// ParseHintAddr reads an address for an address hint of the node whose
// peer ID is self: a multiaddr another node can dial (see checkHint),
// with or without a trailing /p2p/self. A loopback address is accepted
// only from a node that listens on loopback alone (listen, as --listen
// gives it): a test, or a testnet on one machine.
func ParseHintAddr(s string, self peer.ID, listen []string) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, inputErr("%q is not a multiaddr (like /ip4/203.0.113.7/tcp/%d): %v", s, addrport.DefaultPort, err)
	}
	return checkHint(a, self, len(listen) > 0 && !addrport.BeyondLoopback(listen))
}

// isLinkLocal: 169.254.0.0/16 or fe80::/10.
func isLinkLocal(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	return err == nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast())
}

// checkHint is the rule for an address in a hint, this device's or
// another's: an IP address (a name would make every member's node look it
// up), not link-local or unspecified, nor loopback unless loopbackOK (it
// would point members' nodes at themselves: allowed between nodes on
// loopback alone, see Runner.hints), not through a relay, with a TCP or
// QUIC port.
func checkHint(a ma.Multiaddr, self peer.ID, loopbackOK bool) (ma.Multiaddr, error) {
	if rest, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P {
		id, err := peer.Decode(last.Value())
		if err != nil || id != self {
			return nil, inputErr("%s ends in /p2p/ of another node: give this node's address (its peer ID is %s)", a, self)
		}
		a = rest
	}
	if len(a) == 0 {
		return nil, inputErr("an address needs more than a peer ID")
	}
	switch a[0].Protocol().Code {
	case ma.P_IP4, ma.P_IP6:
	case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		// Every member's node would look the name up, again and again:
		// whoever answers for the name would learn when members are
		// online, and through which resolvers.
		return nil, inputErr("%s names a host: give its IP address (every member's node would look the name up, and whoever runs its DNS would see them)", a)
	default:
		return nil, inputErr("%s does not start with an IP address (/ip4/ or /ip6/)", a)
	}
	if manet.IsIPUnspecified(a) {
		return nil, inputErr("%s is not an address another node can reach (0.0.0.0 or ::): give this computer's public address", a)
	}
	if (manet.IsIPLoopback(a) && !loopbackOK) || isLinkLocal(a) {
		return nil, inputErr("%s is reachable from this computer (or its own link) only: give an address other members' nodes can reach", a)
	}
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return nil, inputErr("%s goes through a relay: give this node's own address", a)
	}
	port, tcpErr := a.ValueForProtocol(ma.P_TCP)
	if tcpErr != nil {
		var udpErr, quicErr error
		port, udpErr = a.ValueForProtocol(ma.P_UDP)
		_, quicErr = a.ValueForProtocol(ma.P_QUIC_V1)
		if udpErr != nil || quicErr != nil {
			return nil, inputErr("%s says neither TCP nor QUIC: end it in /tcp/PORT or /udp/PORT/quic-v1 (like /tcp/%d)", a, addrport.DefaultPort)
		}
	}
	if port == "0" {
		return nil, inputErr("%s has port 0: give the port this node listens on (%d unless --listen says otherwise)", a, addrport.DefaultPort)
	}
	if err := addrport.Dialable(a, loopbackOK); err != nil {
		return nil, inputErr("%s %v: give an IP address and port other members' nodes can dial, like /ip4/203.0.113.7/tcp/%d", a, err, addrport.DefaultPort)
	}
	if len(a.Bytes()) > crdt.MaxAddrLen {
		return nil, inputErr("%s is longer than %d bytes", a, crdt.MaxAddrLen)
	}
	return a, nil
}

// PublishAddressHint publishes this device's address hint: its node can be
// reached at addrs (each checked as by ParseHintAddr, but loopback addresses
// are allowed: see Runner.hints), and runs a relay for
// members if relay. Nothing is written when the device's current hint says
// the same already.
func (n *Node) PublishAddressHint(addrs []ma.Multiaddr, relay bool) error {
	self, err := PeerID(n.device)
	if err != nil {
		return err
	}
	var raw [][]byte
	for _, a := range addrs {
		a, err := checkHint(a, self, true)
		if err != nil {
			return err
		}
		raw = append(raw, a.Bytes())
	}
	slices.SortFunc(raw, bytes.Compare)
	raw = slices.CompactFunc(raw, bytes.Equal)
	if len(raw) > crdt.MaxHintAddrs {
		return inputErr("%d addresses: an address hint holds at most %d", len(raw), crdt.MaxHintAddrs)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recovering != nil { // published once the node has caught up (repair.go)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Another process may have published one a moment ago.
	_ = n.refresh(ctx) // (if it fails, what the state holds is answered)
	var cur *crdt.AddressHintView
	for _, h := range n.state.AddressHints() {
		if h.Device == n.device {
			cur = &h
		}
	}
	if cur == nil && len(raw) == 0 {
		return nil
	}
	if cur != nil && cur.Relay == relay && slices.EqualFunc(cur.Addrs, raw, bytes.Equal) {
		return nil
	}
	_, err = n.append(ctx, &crdt.AddressHint{Addrs: raw, Relay: relay})
	return err
}

// otherMembers reports whether any device with standing other than this
// one exists: only then can a node be alone.
func (n *Node) otherMembers() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.state.Members() {
		for _, d := range o.Devices {
			if _, ok := n.state.Standing(d.Key); ok && d.Key != n.device {
				return true
			}
		}
	}
	return false
}

// ContactInfo is a member organisation's last contact with this node.
type ContactInfo struct {
	Org        string     `json:"org"`
	Name       string     `json:"name"`
	LastSynced *time.Time `json:"last_synced"` // null: never reached
	Via        string     `json:"via"`         // lan, direct or relay; empty if never
	Connected  bool       `json:"connected"`   // a device's node is connected now
	// LastBundle is when the newest bundle or summary its node made, that
	// this node has read, was made: news that came by file.
	LastBundle *time.Time `json:"last_bundle,omitempty"`
}

// contacts is each member organisation's last contact (other than this
// device), from the store and from the running node's run.json; info is
// run.json if the node runs. The caller holds n.mu.
func (n *Node) contacts(info *runInfo) []ContactInfo {
	type last struct {
		at  time.Time
		via string
	}
	byDevice := map[crdt.DeviceKey]last{}
	note := func(k crdt.DeviceKey, at time.Time, via string) {
		if cur, ok := byDevice[k]; !ok || at.After(cur.at) {
			byDevice[k] = last{at, via}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cs, err := n.store.Contacts(ctx); err == nil {
		for _, c := range cs {
			note(c.Device, c.Last, c.Via.String())
		}
	}
	connected := map[crdt.DeviceKey]bool{}
	if info != nil {
		for _, c := range info.Contacts {
			if k, err := crdt.ParseDeviceKey(c.Device); err == nil {
				note(k, c.Last, c.Via)
			}
		}
		for _, s := range info.Peers {
			if p, err := peer.Decode(s); err == nil {
				if k, ok := peerDevice(p); ok {
					connected[k] = true
				}
			}
		}
	}
	out := []ContactInfo{}
	byFile := n.knownHoldings(ctx)
	for _, o := range n.state.Members() {
		if !o.Admitted {
			continue
		}
		ci := ContactInfo{Org: o.ID.String(), Name: o.Name}
		if k, ok := byFile[o.ID]; ok && k.Seen > 0 {
			at := time.UnixMilli(k.Seen).UTC()
			ci.LastBundle = &at
		}
		others := false
		for _, d := range o.Devices {
			if d.Key == n.device || d.Revoked {
				continue
			}
			others = true
			ci.Connected = ci.Connected || connected[d.Key]
			if l, ok := byDevice[d.Key]; ok && (ci.LastSynced == nil || l.at.After(*ci.LastSynced)) {
				at := l.at.UTC()
				ci.LastSynced, ci.Via = &at, l.via
			}
		}
		if others {
			out = append(out, ci)
		}
	}
	return out
}

// networkKey is the data directory's pre-shared network key, or nil if the
// network is not private.
func (n *Node) networkKey() ([]byte, error) {
	psk, err := openAtRest(filepath.Join(n.dir, pskName), n.key, n.device, n.network, "network-key")
	switch {
	case errors.Is(err, os.ErrNotExist) && n.cfg.Private:
		return nil, fmt.Errorf("this node's network is private, but %s is missing from %s: without it no member can be reached", pskName, n.dir)
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the network key: %w", err)
	case len(psk) != 32:
		return nil, fmt.Errorf("%s in %s holds %d bytes, not 32: it is damaged", pskName, n.dir, len(psk))
	}
	return psk, nil
}

// NetworkKey is the network's pre-shared key (nil on an open network). The
// node must be unlocked: the key is sealed at rest.
func (n *Node) NetworkKey() ([]byte, error) { return n.networkKey() }

// ToldEntries are the revocations of device k with what the revoked node
// needs to accept them (up to toldChain entries before each), oldest
// first, at most toldMax (the runtime tells them: node/p2p/told.go).
func (n *Node) ToldEntries(k crdt.DeviceKey, toldChain, toldMax int) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][]byte
	for _, rv := range n.state.Revocations(k) {
		e, _, ok := n.state.Entry(rv.ID)
		if !ok {
			continue
		}
		chain := []*crdt.Entry{e}
		for cur := e; cur.Seq > 1 && len(chain) <= toldChain; {
			prev, _, ok := n.state.Entry(cur.Prev)
			if !ok {
				break
			}
			chain, cur = append(chain, prev), prev
		}
		for i := len(chain) - 1; i >= 0; i-- {
			out = append(out, chain[i].Raw())
		}
	}
	if len(out) > toldMax {
		out = out[len(out)-toldMax:]
	}
	return out
}

// doorSecret is one invite secret this device keeps for its door.
type doorSecret struct {
	Secret  []byte `json:"secret"`
	Expires int64  `json:"expires"` // Unix milliseconds
	// Clashes counts the joins refused because the name was too close to
	// a member's (answerJoin): kept here, so that a restart does not give
	// whoever holds a stolen code more tries.
	Clashes int `json:"clashes,omitempty"`
}

// key is the public key of the invite whose secret d keeps (ok false for
// a damaged entry).
func (d doorSecret) key() (pub [32]byte, ok bool) {
	var s [inviteSecretLen]byte
	if len(d.Secret) != inviteSecretLen {
		return pub, false
	}
	copy(s[:], d.Secret)
	_, pub = inviteKey(s)
	return pub, true
}

// doorSecrets reads this device's kept invite secrets (none if there is
// no file).
func (n *Node) doorSecrets() ([]doorSecret, error) {
	b, err := openAtRest(filepath.Join(n.dir, doorsName), n.key, n.device, n.network, "door-secrets")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []doorSecret
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s is damaged", doorsName)
	}
	return out, nil
}

// keepDoorSecret adds an invite's secret to doors.sealed, dropping those
// of expired invites.
func (n *Node) keepDoorSecret(secret [inviteSecretLen]byte, expires time.Time) error {
	if n.key == nil {
		return ErrLocked
	}
	kept, err := n.doorSecrets()
	if err != nil {
		return err
	}
	now := n.now().UnixMilli()
	// (A used invite's door may stay open for its joiner past the expiry:
	// awaitsJoiner.)
	kept = slices.DeleteFunc(kept, func(d doorSecret) bool {
		return d.Expires+joinerGrace.Milliseconds() < now || len(d.Secret) != inviteSecretLen
	})
	kept = append(kept, doorSecret{Secret: secret[:], Expires: expires.UnixMilli()})
	b, _ := json.Marshal(kept)
	return sealAtRest(filepath.Join(n.dir, doorsName), n.key, n.device, n.network, "door-secrets", b)
}

// noteClash counts a refused name for this device's invite with public
// key pub, and returns how many there were; at joinClashLimit it forgets
// the invite's secret (dropDoorSecret). The caller holds n.mu.
func (n *Node) noteClash(pub [32]byte) (int, error) {
	if n.key == nil {
		return 0, ErrLocked
	}
	kept, err := n.doorSecrets()
	if err != nil {
		return 0, err
	}
	count := 0
	for i := range kept {
		if p, ok := kept[i].key(); ok && p == pub {
			kept[i].Clashes++
			count = kept[i].Clashes
		}
	}
	if count == 0 {
		return joinClashLimit, nil // (no secret kept: closed already)
	}
	if count >= joinClashLimit {
		return count, n.dropDoorSecret(pub)
	}
	b, _ := json.Marshal(kept)
	return count, sealAtRest(filepath.Join(n.dir, doorsName), n.key, n.device, n.network, "door-secrets", b)
}

// dropDoorSecret forgets the secret of this device's invite with public
// key pub: its door closes at the runner's next look, and never opens
// again (answerJoin refuses it). The caller holds n.mu.
func (n *Node) dropDoorSecret(pub [32]byte) error {
	if n.key == nil {
		return ErrLocked
	}
	kept, err := n.doorSecrets()
	if err != nil {
		return err
	}
	kept = slices.DeleteFunc(kept, func(d doorSecret) bool { p, ok := d.key(); return !ok || p == pub })
	b, _ := json.Marshal(kept)
	return sealAtRest(filepath.Join(n.dir, doorsName), n.key, n.device, n.network, "door-secrets", b)
}

// doorsWanted are the secrets of this device's open invites (written,
// standing, not expired), each with who used it ("" if no one yet: an
// organisation's ID, or a device key). The door of a used invite stays
// open, until the invite expires, for the one who used it: a joiner whose
// reply was lost asks again. For an organisation that has not completed
// its join (awaiting more stewards' approval: its node asks again until
// admitted) it stays open past the expiry too, for up to joinerGrace.
func (n *Node) doorsWanted() (map[[inviteSecretLen]byte]string, error) {
	kept, err := n.doorSecrets()
	if err != nil || len(kept) == 0 {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := uint64(n.now().UnixMilli())
	open := map[[32]byte]string{}
	for _, iv := range n.state.Invites() {
		if iv.Author == n.device && (iv.Expires > now || n.awaitsJoiner(iv)) {
			open[iv.Key] = iv.UsedBy
		}
	}
	out := map[[inviteSecretLen]byte]string{}
	for _, d := range kept {
		var s [inviteSecretLen]byte
		if len(d.Secret) != inviteSecretLen {
			continue
		}
		copy(s[:], d.Secret)
		_, pub := inviteKey(s)
		if used, ok := open[pub]; ok {
			out[s] = used
		}
	}
	return out, nil
}

// HostKey is the device key as a libp2p identity: a node's peer ID is its
// device key, so membership can be checked by peer ID.
func (n *Node) HostKey() (lpcrypto.PrivKey, error) {
	if n.key == nil {
		return nil, ErrLocked
	}
	return lpcrypto.UnmarshalEd25519PrivateKey(n.key)
}

// Standing says where p stands with this node, in one look: the node of a
// device with standing (member); of a device of the network without
// standing (revoked); or neither, while an invite of this device is open
// to it (invitesOpen: it may connect to present it, inviteOpenTo).
func (n *Node) Standing(p peer.ID) (member, revoked, invitesOpen bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.memberPeer(p):
		return true, false, false
	case n.formerPeer(p):
		return false, true, false
	}
	return false, false, n.inviteOpenTo(p)
}

// CheckRunnable fails if the node cannot run: its key is locked, or its
// database is damaged.
func (n *Node) CheckRunnable(ctx context.Context) error {
	if n.key == nil {
		return ErrLocked
	}
	return n.checkPages(ctx)
}

// KnownMemberPeer reports whether the state knows p as the node of a
// device with standing (not merely vouched for after a repair).
func (n *Node) KnownMemberPeer(p peer.ID) bool { return n.knownMemberPeer(p) }

// MemberPeers are the nodes of every device with standing.
func (n *Node) MemberPeers() []peer.ID { return n.memberPeers() }

// OtherMembers reports whether a device other than this one has standing.
func (n *Node) OtherMembers() bool { return n.otherMembers() }

// DeviceName is how log lines name p's device.
//
// Log lines name a node by its organisation's ID and its device's, as
// `murmur members` prints them (the first 8 characters), never by name:
// lines are kept in clear (in a journal, in a file) where the database is
// sealed, and must not hold the list of who is in the network.
func (n *Node) DeviceName(p peer.ID) string {
	org, dev, member := n.PeerMember(p)
	switch {
	case dev == "":
		return "node " + short(p.String())
	case !member:
		return "device " + dev[:8]
	}
	return fmt.Sprintf("organisation %s's device %s", org[:8], dev[:8])
}

// WithIndex calls fn with the reconciliation index.
func (n *Node) WithIndex(fn func(x *msync.Index)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	x, err := n.indexNow(context.Background())
	if err != nil {
		x = msync.NewIndex() // (answered as empty: the store is failing, and says so elsewhere)
	}
	fn(x)
}

// AcceptedEntries are the accepted entries among ids, to serve a peer.
func (n *Node) AcceptedEntries(ids []crdt.ID) [][]byte {
	// The stored bytes as they are, read without the node's lock (ingest
	// goes on meanwhile): what the store holds as accepted, the state
	// accepted (one transaction writes both), and an entry served need not
	// be decoded.
	recs, err := n.store.GetMany(context.Background(), ids)
	if err != nil {
		return nil
	}
	out := make([][]byte, 0, len(recs))
	for _, r := range recs {
		if r.Status == crdt.StatusAccepted {
			out = append(out, r.Raw)
		}
	}
	return out
}

// IngestFromPeer takes in what a peer sent (ingestFromPeer), and reports
// how many entries were refused.
func (n *Node) IngestFromPeer(ctx context.Context, from peer.ID, raws [][]byte) (int, error) {
	rep, err := n.ingestFromPeer(ctx, from, Verify(raws))
	return len(rep.Refused), err
}

// VerifyEntries is Verify, for reconciliation (sync.Replica): a session
// verifies a batch while the one before is stored. It leaves out, unread,
// the entries the reconciliation index holds (accepted here already):
// sessions with several peers at once often bring the same entries, and
// checking a signature costs some forty times the look. (A body this node
// lacks comes by the bodies protocol, not by reconciliation, which counts
// the entry held.) The index is read under its own lock, not n.mu, which
// the batch before may hold while it is stored.
func (n *Node) VerifyEntries(raws [][]byte) msync.Verified {
	items := make([]msync.Item, len(raws))
	decoded := make([]bool, len(raws))
	for i, raw := range raws {
		if e, err := crdt.Decode(raw); err == nil {
			items[i], decoded[i] = msync.Item{Clock: e.Clock, ID: e.ID()}, true
		}
	}
	fresh := raws[:0:0]
	held := 0
	n.indexMu.RLock()
	for i, raw := range raws {
		if decoded[i] && n.index != nil && n.index.Has(items[i]) {
			held++
			continue
		}
		fresh = append(fresh, raw)
	}
	n.indexMu.RUnlock()
	v := Verify(fresh)
	v.rep.Duplicate += held
	return v
}

// IngestVerifiedFromPeer is IngestFromPeer for a batch VerifyEntries
// checked.
func (n *Node) IngestVerifiedFromPeer(ctx context.Context, from peer.ID, v msync.Verified) (int, error) {
	b, ok := v.(*Verified)
	if !ok {
		return 0, fmt.Errorf("node: a batch not verified here (%T)", v)
	}
	rep, err := n.ingestFromPeer(ctx, from, b)
	return len(rep.Refused), err
}

// LiveCheck is where an entry on the live path (gossip) stands, in one
// look: held already, and with which status; signed by a key the network
// knows as a device; and whether it may wait in the state for what it
// lacks (its author is a device, or from is a member's node: see
// ingestFromPeer). One that is not held and may not wait is judged here
// without being kept, so that strangers cannot fill the bounded waiting
// pool: st is then the state's judgement.
func (n *Node) LiveCheck(e *crdt.Entry, from peer.ID) (st crdt.Status, held, device, mayWait bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, held = n.state.Has(e.ID())
	_, device = n.state.DeviceOrg(e.Author)
	mayWait = device || n.memberPeer(from)
	if !held && !mayWait {
		if err := n.withPool(context.Background()); err != nil {
			return crdt.StatusNone, false, device, false
		}
		st, _ = n.state.Check(e)
		n.judging(judgedLive, e)
	}
	return st, held, device, mayWait
}

// CommitLive gives the live path's entries to the state in one step and
// stores what it decided, in one transaction (the runtime's committer
// groups them).
func (n *Node) CommitLive(ctx context.Context, es []*crdt.Entry) ([]crdt.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	// Peers' entries (this device's own were stored durably when written):
	// a power cut may take the last of them back, and reconciliation
	// brings them again (store.Relaxed).
	results, err := n.step(store.Relaxed(ctx), es)
	if err == nil {
		for i, res := range results {
			if !res.Duplicate {
				n.judging(judgedLive, es[i])
			}
		}
	}
	return results, err
}

// Bodies are the accepted entries among ids, with their bodies, within max
// bytes in all: what a member's node that holds them without is handed
// once its organisation is admitted. A body an accepted redaction took
// back is not served.
func (n *Node) Bodies(ids []crdt.ID, max int) [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	var raws [][]byte
	size := 0
	for _, id := range ids {
		e, st, ok := n.state.Entry(id)
		if !ok || st != crdt.StatusAccepted || e.Withheld || size+len(e.Raw()) > max {
			continue
		}
		raws = append(raws, e.Raw())
		size += len(e.Raw())
	}
	return raws
}

// Unfilled are up to max entries held without their bodies.
func (n *Node) Unfilled(max int) []crdt.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state.Unfilled(max)
}

// Filled is how many of ids are held with their bodies.
func (n *Node) Filled(ids []crdt.ID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	filled := 0
	for _, id := range ids {
		if e, _, ok := n.state.Entry(id); ok && !e.Withheld {
			filled++
		}
	}
	return filled
}

// Cursor is how far the store's log goes.
func (n *Node) Cursor(ctx context.Context) (int64, error) {
	m, err := n.store.Mark(ctx)
	return m.Cursor, err
}

// Observe sets what is told when this device's entry is accepted (own)
// and when membership changes (membership); nil stops either. Both are
// called under n.mu: they must not block.
func (n *Node) Observe(own func(*crdt.Entry), membership func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onOwn, n.onMembership = own, membership
}

// TakePolledNews returns, and forgets, how many entries of other devices
// the refreshes since the last call found in the store.
func (n *Node) TakePolledNews() int { return n.takePolledNews() }

// Damaged is err as ErrDamaged (with what to do), or nil if err does not
// say the database is damaged.
func (n *Node) Damaged(err error) error {
	if d := damaged(n.dir, err); errors.Is(d, ErrDamaged) {
		return d
	}
	return nil
}

// RecoveryPending reports whether the database was rebuilt and this
// device has not synced with a member since (repair.go).
func (n *Node) RecoveryPending() bool { return n.Recovering() != nil }

// Vouch lets the peers named with --peer through the gate while the node
// recovers (repair.go).
func (n *Node) Vouch(peers []peer.AddrInfo) { n.vouch(peers) }

// EndRecovery ends the wait after a rebuild (repair.go); it reports
// whether there was one.
func (n *Node) EndRecovery() bool { return n.endRecovery() }

// NeedsSecret reports whether this node should ask for the network
// secret (needsSecret).
func (n *Node) NeedsSecret() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.needsSecret()
}

// SecretToServe is the network secret to hand a member's node: held here,
// and the anchored one if there is an anchor.
func (n *Node) SecretToServe() ([]byte, bool) {
	secret, err := n.networkSecret()
	n.mu.Lock()
	anchor, anchored := n.state.NetworkKeyCheck()
	n.mu.Unlock()
	if err != nil || anchored && keyCheck(secret) != anchor {
		return nil, false
	}
	return secret, true
}

// MayTakeSecretFrom fails if p's node may not hand this node the network
// secret: where the network has no anchor yet, only a steward's may.
func (n *Node) MayTakeSecretFrom(p peer.ID) error {
	n.mu.Lock()
	_, anchored := n.state.NetworkKeyCheck()
	steward := n.stewardPeer(p)
	n.mu.Unlock()
	if !anchored && !steward {
		return fmt.Errorf("no steward has anchored the network's secret yet: it is taken from a steward's node only")
	}
	return nil
}

// TakeSecret keeps the network secret p's node handed over, if this node
// still needs one and it checks out: it is the anchored one; or, with no
// anchor, p is a steward's node and the secret matches the grant records
// held here, if any. replaced: it took the place of one held.
func (n *Node) TakeSecret(p peer.ID, secret []byte) (kept, replaced bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.needsSecret() {
		return false, false, nil
	}
	replacing := n.HasSecret()
	if anchor, ok := n.state.NetworkKeyCheck(); ok {
		if keyCheck(secret) != anchor {
			return false, false, fmt.Errorf("%s handed out a network secret other than the one the stewards anchored: refused", short(p.String()))
		}
	} else if !n.stewardPeer(p) {
		return false, false, fmt.Errorf("no steward has anchored the network's secret yet: it is taken from a steward's node only")
	} else if checks := n.state.GrantKeyChecks(); len(checks) > 0 && checks[keyCheck(secret)] == 0 {
		return false, false, fmt.Errorf("%s handed out a network secret that matches none of the grant records held here: refused", short(p.String()))
	}
	if err := n.storeSecret(secret); err != nil {
		return false, false, err
	}
	return true, replacing, nil
}

// PeerHints are the address hints of the devices with standing (this
// one's included) written within HintMaxAge of now, as peers to dial;
// RelayHints those of the nodes that relay for members. Most recent first.
func (n *Node) PeerHints(now time.Time) []peer.AddrInfo { return n.peerHints(now, false) }

// RelayHints: see PeerHints.
func (n *Node) RelayHints(now time.Time) []peer.AddrInfo { return n.peerHints(now, true) }

func (n *Node) peerHints(now time.Time, relays bool) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, h := range n.AddressHints(now) {
		if !relays || h.Relay {
			out = append(out, peer.AddrInfo{ID: h.Device, Addrs: h.Addrs})
		}
	}
	return out
}

// Contacts are the member devices' nodes this node reached, as the store
// remembers them.
func (n *Node) Contacts(ctx context.Context) ([]store.Contact, error) { return n.store.Contacts(ctx) }

// RecordContact remembers that device k's node was reached at, how, and
// where.
func (n *Node) RecordContact(ctx context.Context, k crdt.DeviceKey, at time.Time, how store.Via, addrs ...[]byte) error {
	return n.store.RecordContact(ctx, k, at, how, addrs...)
}

// SyncedOrg is the member organisation of p's device, unless it is this
// device's own.
func (n *Node) SyncedOrg(p peer.ID) (crdt.OrgID, bool) {
	k, ok := peerDevice(p)
	if !ok {
		return crdt.OrgID{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	org, ok := n.state.Standing(k)
	if !ok || org == n.org {
		return crdt.OrgID{}, false
	}
	return org, true
}

// RememberSynced notes that org's node held everything this node had
// stored up to cursor, at time at (bundle.go).
func (n *Node) RememberSynced(ctx context.Context, org crdt.OrgID, cursor int64, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rememberSynced(ctx, org, cursor, at)
}

// JoinProtocol is the join protocol of this node's network.
func (n *Node) JoinProtocol() protocol.ID { return n.joinProtocol() }

// AnswerJoin reads a join request from r, sent by from to self, and
// writes the answer to w.
func (n *Node) AnswerJoin(ctx context.Context, from, self peer.ID, r io.Reader, w io.Writer) (note string) {
	reply := n.answerJoin(ctx, from, self, r)
	json.NewEncoder(w).Encode(reply)
	return reply.note
}

// DoorsWanted are the secrets of this device's open invites, each with
// who used it (doorsWanted).
func (n *Node) DoorsWanted() (map[[inviteSecretLen]byte]string, error) { return n.doorsWanted() }
