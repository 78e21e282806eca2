package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/murmurnet/murmur/crdt"
)

// Joining. `murmur join CODE` sets a data directory up in a joining state:
// the device key and join.json (the code, the addresses that came with
// it, its expiry, the organisation's name). The next `murmur run` dials
// the inviter's door for the invite (node/p2p/door.go: its peer ID, port and key
// derive from the code's secret) at those addresses, at --peer's, or where
// mDNS finds it, and over the join
// protocol presents a request signed with the invite's key (derived from
// the code's secret, which is never sent), bound to the joiner's device
// key and to the door it is talking to, so that whoever sees the request
// cannot use it for another key or take it elsewhere. The member
// checks the invite it holds (standing, open, not expired), writes the
// admission (or, for a device, the device-added entry) naming the invite,
// and answers with the network's genesis and membership entries; the
// joiner stores them, validated like anything else, and from then on is a
// node like the others. Where the network's quorum needs more stewards,
// the answer is "pending" and nothing else — no entry, no network key, no
// address — and the directory stays joining: its node asks the door again
// (the door of a used invite stays open for its user until it completes
// its join, doorsWanted) until the stewards' approvals let it in. Whoever
// holds a stolen code learns nothing of the network before that.

// joinProtocolFor is the one protocol a node that is not a member may
// speak, to the network whose ID begins with prefix (an invite code's
// prefix). Its name is a hash of that prefix: nothing in it names Murmur
// or the network, so a stranger that reaches an inviting node and probes
// it cannot tell what it runs or which network it belongs to unless it
// knows the network's ID already.
func joinProtocolFor(prefix []byte) protocol.ID {
	h := sha256.New()
	h.Write([]byte("murmur join protocol v2\n"))
	h.Write(prefix)
	return protocol.ID("/" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// joinProtocol is the join protocol of this node's network.
func (n *Node) joinProtocol() protocol.ID { return joinProtocolFor(n.network[:inviteNetLen]) }

const (
	joinName       = "join.json"
	joinCodeName   = "join.sealed" // the invite code, sealed under the device key (version 3)
	maxJoinRequest = 4 << 10
	maxJoinReply   = 16 << 20
	maxJoinEntries = 20000
)

// ErrJoining is returned by Open on a directory whose join is not complete.
var ErrJoining = errors.New("this node has not joined its network yet: run `murmur run` while the inviter is reachable")

// joinState is join.json. Since version 3 the code itself is not in it:
// it is sealed in join.sealed under a key derived from the device key (so
// under the passphrase), and a laptop seized before the join completes
// does not hand over a code that is still valid.
type joinState struct {
	Version int      `json:"version"`
	Code    string   `json:"code,omitempty"`    // version 2 only
	Network string   `json:"network,omitempty"` // the code's prefix of the network ID, hex (version 3)
	Purpose int      `json:"purpose,omitempty"` // the code's purpose (version 3)
	Addrs   []string `json:"addrs,omitempty"`   // where the inviter's door may be reached
	Expires int64    `json:"expires,omitempty"` // the code's expiry, Unix seconds (as read when joining)
	OrgName string   `json:"org_name,omitempty"`
	// Pending is the inviter's last answer while the organisation awaits
	// more stewards' approval ("1 of 2 approvals"), given at PendingAt
	// (Unix seconds); empty before the door first answered.
	Pending   string `json:"pending,omitempty"`
	PendingAt int64  `json:"pending_at,omitempty"`
}

type joinRequest struct {
	Version int    `json:"version"`
	Network string `json:"network"` // the code's prefix of the network ID, hex
	Purpose int    `json:"purpose"`
	OrgName string `json:"org_name,omitempty"`
	Invite  string `json:"invite"` // the invite's public key, hex
	Target  string `json:"target"` // the peer ID of the member asked
	Sig     string `json:"sig"`    // by the invite's key, over joinMessage
}

type joinReply struct {
	Status  string   `json:"status"` // admitted, pending, refused
	Message string   `json:"message,omitempty"`
	Entries [][]byte `json:"entries,omitempty"` // genesis and membership entries
	// Approvals and Needed: a pending organisation's approvals so far,
	// and how many admit it.
	Approvals int `json:"approvals,omitempty"`
	Needed    int `json:"needed,omitempty"`
	// NetworkKey is a private network's pre-shared key (an invite code
	// does not carry it). The reply comes over a channel only the holder
	// of the code could open (the door's), from the peer the code names,
	// after the invite's signature bound to the joiner was checked, and
	// only once the joiner is a member: a pending organisation, which may
	// hold no more than a stolen code, gets neither the key nor entries.
	NetworkKey []byte `json:"network_key,omitempty"`
	// Addrs are where the member's node listens (with /p2p/ID): on a
	// private network the joiner reached its door, not the node.
	Addrs []string `json:"addrs,omitempty"`

	via  ma.Multiaddr // (the joiner's side: where it reached the member)
	note string       // (the member's side: for its log)
}

// joinMessage is what the invite key signs: everything the request claims,
// and who it claims it to.
func joinMessage(r joinRequest, joiner crdt.DeviceKey) []byte {
	return []byte(strings.Join([]string{"murmur-join-v1", r.Network, fmt.Sprint(r.Purpose), r.OrgName, r.Invite, r.Target, joiner.String()}, "\n"))
}

// Joining reports whether dir holds a join that is not complete.
func Joining(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, joinName))
	return err == nil && !Initialised(dir)
}

// JoinOptions are the choices made when joining.
type JoinOptions struct {
	OrgName    string // a new organisation's name (organisation invites)
	Passphrase []byte // protects the device key; nil for none
	Now        func() time.Time
}

// PrepareJoin sets dir up to join the network of an invite code. It works
// offline; the next `murmur run` (CompleteJoin) completes the join.
func PrepareJoin(dir string, code InviteCode, opt JoinOptions) (crdt.DeviceKey, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if !opt.Now().Before(code.Expires) {
		return crdt.DeviceKey{}, fmt.Errorf("%w (it expired %s)", ErrInviteExpired, code.Expires.Local().Format("Mon 2 Jan 2006 15:04"))
	}
	if code.Purpose == crdt.InviteOrganisation {
		opt.OrgName = strings.TrimSpace(opt.OrgName)
		if opt.OrgName == "" {
			return crdt.DeviceKey{}, inputErr("this invite is for an organisation: give its name with --org NAME")
		}
		if _, err := crdt.EncodeBody(&crdt.Admission{Device: crdt.DeviceKey{1}, Name: opt.OrgName}); err != nil {
			return crdt.DeviceKey{}, bodyErr(err)
		}
		if err := crdt.CheckNew(&crdt.Admission{Name: opt.OrgName}); err != nil {
			return crdt.DeviceKey{}, bodyErr(err)
		}
		if err := checkOrgName(opt.OrgName); err != nil {
			return crdt.DeviceKey{}, err
		}
	} else if opt.OrgName != "" {
		return crdt.DeviceKey{}, inputErr("this invite is for another device of an organisation: it takes no --org")
	}
	if Initialised(dir) || Joining(dir) {
		return crdt.DeviceKey{}, ErrAlreadyInitialised
	}
	if _, err := os.Stat(filepath.Join(dir, keyName)); err == nil {
		return crdt.DeviceKey{}, fmt.Errorf("%s holds a device key but no node: move it aside or choose another --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return crdt.DeviceKey{}, err
	}
	seed, err := newSeed()
	if err != nil {
		return crdt.DeviceKey{}, err
	}
	device := crdt.PublicKeyOf(crdt.KeyFromSeed(seed))
	kf, err := sealKey(seed, device, opt.Passphrase)
	if err != nil {
		return crdt.DeviceKey{}, err
	}
	kb, _ := json.MarshalIndent(kf, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, keyName), kb, 0o600); err != nil {
		return crdt.DeviceKey{}, err
	}
	if err := sealAtRest(filepath.Join(dir, joinCodeName), crdt.KeyFromSeed(seed), device, crdt.ID{}, "join-code", []byte(code.String())); err != nil {
		os.Remove(filepath.Join(dir, keyName))
		return crdt.DeviceKey{}, err
	}
	js := joinState{Version: 3, Network: hex.EncodeToString(code.Network[:]), Purpose: int(code.Purpose), Expires: code.Expires.Unix(), OrgName: opt.OrgName}
	for _, a := range code.Addrs {
		js.Addrs = append(js.Addrs, a.String())
	}
	jb, _ := json.MarshalIndent(js, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, joinName), jb, 0o600); err != nil {
		os.Remove(filepath.Join(dir, joinCodeName))
		os.Remove(filepath.Join(dir, keyName))
		return crdt.DeviceKey{}, err
	}
	return device, nil
}

func checkOrgName(s string) error {
	if len(s) > crdt.MaxNameLen {
		return inputErr("the organisation's name is longer than %d bytes", crdt.MaxNameLen)
	}
	if idInBrackets(s) {
		return inputErr("%q holds what looks like an organisation's ID in brackets, the form Murmur shows to tell organisations apart: a reader could take it for another organisation; choose a name without it", s)
	}
	return nil
}

// JoinInfo describes a join in progress.
type JoinInfo struct {
	Code    InviteCode
	OrgName string
	Device  crdt.DeviceKey
	// Pending is the inviter's last word while the organisation awaits
	// more stewards' approval ("1 of 2 approvals"), said at PendingAt;
	// empty until the inviter's node first answered.
	Pending   string
	PendingAt time.Time
}

// unsealJoinCode fills in the secret of info's code from join.sealed
// (join.json version 3 keeps it there, under the device key priv).
func unsealJoinCode(dir string, priv []byte, info *JoinInfo) error {
	if info.Code.Secret != ([inviteSecretLen]byte{}) { // version 2: the code was in clear
		return nil
	}
	raw, err := openAtRest(filepath.Join(dir, joinCodeName), priv, info.Device, crdt.ID{}, "join-code")
	if err != nil {
		return err
	}
	code, err := parseInviteCodeAt(string(raw), info.Code.Expires)
	if err != nil || code.Network != info.Code.Network {
		return fmt.Errorf("%s and %s disagree: move the data directory aside and join again", joinCodeName, joinName)
	}
	info.Code.Secret = code.Secret
	return nil
}

// ReadJoin describes the join in progress in dir (all of its code but the
// secret, which is sealed: see unsealJoinCode).
func ReadJoin(dir string) (JoinInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, joinName))
	if err != nil {
		return JoinInfo{}, err
	}
	var js joinState
	if err := json.Unmarshal(b, &js); err != nil {
		return JoinInfo{}, fmt.Errorf("%s is damaged", joinName)
	}
	var code InviteCode
	switch js.Version {
	case 2: // the code in clear (issue 12's first release)
		if code, err = parseInviteCodeAt(js.Code, time.Unix(js.Expires, 0)); err != nil {
			return JoinInfo{}, err
		}
	case 3: // the code sealed in join.sealed: here, all but its secret
		prefix, err := hex.DecodeString(js.Network)
		if err != nil || len(prefix) != inviteNetLen {
			return JoinInfo{}, fmt.Errorf("%s is damaged", joinName)
		}
		copy(code.Network[:], prefix)
		code.Purpose = crdt.InvitePurpose(js.Purpose)
	default:
		return JoinInfo{}, fmt.Errorf("%s was written by an earlier release of Murmur, for an invite code it no longer accepts: move the data directory aside and join again with a new code", joinName)
	}
	code.Expires = time.Unix(js.Expires, 0).UTC()
	for _, a := range js.Addrs {
		if ip, ok := parseInviteAddr(a); ok {
			code.Addrs = append(code.Addrs, ip)
		}
	}
	kf, err := readKeyFile(filepath.Join(dir, keyName))
	if err != nil {
		return JoinInfo{}, err
	}
	device, err := crdt.ParseDeviceKey(kf.Device)
	if err != nil {
		return JoinInfo{}, err
	}
	info := JoinInfo{Code: code, OrgName: js.OrgName, Device: device, Pending: js.Pending}
	if js.PendingAt != 0 {
		info.PendingAt = time.Unix(js.PendingAt, 0)
	}
	return info, nil
}

// notePending records in join.json the inviter's answer that the
// organisation awaits more stewards' approval (for status to show).
func notePending(dir, msg string, at time.Time) error {
	p := filepath.Join(dir, joinName)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var js joinState
	if err := json.Unmarshal(b, &js); err != nil {
		return fmt.Errorf("%s is damaged", joinName)
	}
	js.Pending, js.PendingAt = msg, at.Unix()
	jb, _ := json.MarshalIndent(js, "", "  ")
	return writeFileAtomic(p, jb, 0o600)
}

// newJoinRequest is the request to join that target is sent: signed with
// the invite's key, bound to target and to the joiner's device key.
func newJoinRequest(info JoinInfo, priv []byte, target peer.ID) joinRequest {
	ipriv, ipub := inviteKey(info.Code.Secret)
	req := joinRequest{Version: 1, Network: hex.EncodeToString(info.Code.Network[:]), Purpose: int(info.Code.Purpose),
		OrgName: info.OrgName, Invite: hex.EncodeToString(ipub[:]), Target: target.String()}
	sig := crdt.SignWith(ipriv, joinMessage(req, crdt.PublicKeyOf(priv)))
	req.Sig = hex.EncodeToString(sig[:])
	return req
}

// finishJoin turns the joining directory into a node of the network.
func finishJoin(ctx context.Context, dir string, info JoinInfo, seed, priv []byte, reply joinReply) (*Node, error) {
	if len(reply.Entries) == 0 || len(reply.Entries) > maxJoinEntries {
		return nil, fmt.Errorf("the inviter's answer holds no network")
	}
	genesis, err := crdt.Verify(reply.Entries[0])
	if err != nil || genesis.Kind != crdt.KindGenesis || !info.Code.MatchesNetwork(genesis.ID()) {
		return nil, fmt.Errorf("the inviter answered with another network than the invite names")
	}
	org := crdt.OrgIDFor(crdt.PublicKeyOf(priv))
	if info.Code.Purpose == crdt.InviteDevice {
		iv, ok := findInviteOrg(reply.Entries, info.Code)
		if !ok {
			return nil, fmt.Errorf("the inviter's answer does not hold the invite")
		}
		org = iv
	}
	psk := reply.NetworkKey // nil: an open network
	if psk != nil && len(psk) != 32 {
		return nil, fmt.Errorf("the inviter's answer holds a damaged network key")
	}
	// The (sealed) key file stays; join.json gives way to a node.
	n, err := provision(ctx, dir, genesis, seed, org, nil, psk, time.Now)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, joinName))
	os.Remove(filepath.Join(dir, joinCodeName))
	n.joined = memberAddrs(reply)
	if _, err := n.Ingest(ctx, reply.Entries[1:]); err != nil {
		n.Close()
		return nil, err
	}
	// A new organisation admitted at once publishes its encryption key (a
	// device joining its organisation is handed the keys by the inviter).
	if _, err := n.EnsureOrgKey(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// memberAddrs are the addresses a join reply gives for the member's node:
// those at the IP address it was reached at, if any, else all (at most
// maxInviteAddrs); each ends in the member's peer ID.
func memberAddrs(reply joinReply) []string {
	var all, same []string
	viaIP, _ := inviteAddrOf(reply.via)
	for _, s := range reply.Addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil || len(ai.Addrs) != 1 || len(all) == maxInviteAddrs {
			continue
		}
		all = append(all, s)
		if ia, ok := inviteAddrOf(ai.Addrs[0]); ok && reply.via != nil && ia.AddrPort.Addr() == viaIP.AddrPort.Addr() {
			same = append(same, s)
		}
	}
	if len(same) > 0 {
		return same
	}
	return all
}

// InviterAddrs are where the node that answered the join listens (with
// /p2p/ID), as its answer said; empty unless this node just joined.
func (n *Node) InviterAddrs() []string { return n.joined }

// findInviteOrg finds, among the entries, the device invite of the code,
// and returns the organisation it invites to.
func findInviteOrg(raws [][]byte, code InviteCode) (crdt.OrgID, bool) {
	_, pub := inviteKey(code.Secret)
	for _, raw := range raws {
		if e, err := crdt.Verify(raw); err == nil {
			if iv, ok := e.ParsedBody().(*crdt.Invite); ok && iv.Key == pub && iv.Purpose == crdt.InviteDevice {
				return iv.Org, true
			}
		}
	}
	return crdt.OrgID{}, false
}

func joinRefusal(format string, args ...any) joinReply {
	return joinReply{Status: "refused", Message: fmt.Sprintf(format, args...)}
}

func (n *Node) answerJoin(ctx context.Context, from, self peer.ID, r io.Reader) joinReply {
	var req joinRequest
	if err := json.NewDecoder(r).Decode(&req); err != nil || req.Version != 1 {
		return joinRefusal("a malformed request")
	}
	joiner, ok := peerDevice(from)
	if !ok {
		return joinRefusal("your node's identity is not a device key")
	}
	var inviteKey [32]byte
	var sig [64]byte
	if b, err := hex.DecodeString(req.Invite); err != nil || len(b) != 32 {
		return joinRefusal("a malformed request")
	} else {
		copy(inviteKey[:], b)
	}
	if b, err := hex.DecodeString(req.Sig); err != nil || len(b) != 64 {
		return joinRefusal("a malformed request")
	} else {
		copy(sig[:], b)
	}
	if req.Target != self.String() || !crdt.VerifyWith(inviteKey, joinMessage(req, joiner), sig) {
		return joinRefusal("the request is not signed by the invite for this node")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// The invite may have been written a moment ago by a CLI command on
	// this data directory: look at the store first.
	_ = n.refresh(ctx) // (if it fails, what the state holds is answered)
	if req.Network != hex.EncodeToString(n.network[:inviteNetLen]) {
		return joinRefusal("this node belongs to another network")
	}
	iv, ok := n.state.InviteByKey(inviteKey)
	if !ok {
		return joinRefusal("this node does not know the invite: ask the member who gave it to you")
	}
	user := crdt.OrgIDFor(joiner).String()
	if iv.Purpose == crdt.InviteDevice {
		user = joiner.String()
	}
	if iv.Author == n.device && !n.doorKept(iv.Key) {
		return joinRefusal("the invite was closed by the inviter's node: ask for a new one")
	}
	switch {
	case int(iv.Purpose) != req.Purpose:
		return joinRefusal("the invite is for something else")
	case iv.UsedBy != "" && iv.UsedBy != user:
		return joinRefusal("the invite was used already: ask for a new one")
	case uint64(n.now().UnixMilli()) > iv.Expires && !(iv.UsedBy == user && n.awaitsJoiner(iv)):
		return joinRefusal("the invite has expired: ask for a new one")
	}
	var (
		err   error
		wrote bool
	)
	switch iv.Purpose {
	case crdt.InviteOrganisation:
		wrote, err = n.admitJoiner(ctx, joiner, req.OrgName, iv)
	case crdt.InviteDevice:
		err = n.addJoinerDevice(ctx, joiner, iv)
	}
	if errors.Is(err, errNameClash) {
		// Said the same whatever the member, and counted (in
		// doors.sealed, so that a restart gives no more tries): whoever
		// holds a stolen code must not be able to test names against the
		// membership (reviews 10 and 11).
		r := joinRefusal("the organisation's name is too close to the name of a member: move this data directory aside and join again with the same code under another name (murmur join CODE --org NAME)")
		count, cerr := n.noteClash(iv.Key)
		switch {
		case cerr != nil:
			r.note = fmt.Sprintf("someone holding the invite that expires %s tried to join under a name too close to a member's: refused (the count of such tries could not be kept: %v)", localMillis(iv.Expires), cerr)
		case count >= joinClashLimit:
			r.note = fmt.Sprintf("someone holding the invite that expires %s tried %d names too close to members' names: this node closed the invite; if its rightful joiner still needs one, make a new invite",
				localMillis(iv.Expires), joinClashLimit)
		default:
			r.note = fmt.Sprintf("someone holding the invite that expires %s tried to join under a name too close to a member's: refused (%d of %d before this node closes the invite)",
				localMillis(iv.Expires), count, joinClashLimit)
		}
		return r
	}
	if err != nil {
		return joinRefusal("%v", err)
	}
	if _, member := n.state.Standing(joiner); !member {
		// Awaiting more stewards' approval: this, and nothing else. The
		// joiner asks again (the door stays open for it).
		o, _ := n.state.Org(crdt.OrgIDFor(joiner))
		needed := n.state.Governance().Needed
		r := joinReply{Status: "pending", Message: fmt.Sprintf("%d of %d approvals", o.Approvals, needed), Approvals: o.Approvals, Needed: needed}
		if wrote {
			id := o.ID.String()[:8]
			r.note = fmt.Sprintf("organisation %s joined with an invite of this node and awaits the other stewards' approval (%d of %d): each approves with murmur approve %s",
				id, o.Approvals, needed, id)
		}
		return r
	}
	psk, err := n.networkKey()
	if err != nil {
		return joinRefusal("this node cannot read its network's key")
	}
	reply := joinReply{Status: "admitted", Entries: n.membershipEntries(), NetworkKey: psk}
	if info, ok := n.running(); ok {
		reply.Addrs = info.Addrs
	}
	if wrote {
		org, _ := n.state.Standing(joiner)
		reply.note = fmt.Sprintf("organisation %s's device %s joined the network with an invite of this node", org.String()[:8], joiner.String()[:8])
	}
	return reply
}

// joinClashLimit is how many names too close to a member's an invite may
// be presented with before this node closes it.
const joinClashLimit = 3

// errNameClash: a joining organisation's name is too close to a member's.
var errNameClash = errors.New("the name is too close to a member's")

// doorKept reports whether this node still keeps the secret of its
// invite with public key pub (dropDoorSecret forgets it). The caller
// holds n.mu.
func (n *Node) doorKept(pub [32]byte) bool {
	kept, err := n.doorSecrets()
	if err != nil {
		return true // (unreadable: doorsWanted says so; the invite's own checks still hold)
	}
	return slices.ContainsFunc(kept, func(d doorSecret) bool { p, ok := d.key(); return ok && p == pub })
}

// joinerGrace is how long past its expiry the door of a used organisation
// invite stays open for the organisation that used it, while it has not
// completed its join: the stewards' approvals may take days.
const joinerGrace = 30 * 24 * time.Hour

// awaitsJoiner reports whether iv, an invite that was used, still waits
// for its user to complete the join: an organisation invite whose
// organisation's first device has written nothing yet (a node that
// completed its join writes its organisation's key at once), within
// joinerGrace of the invite's expiry. The caller holds n.mu.
func (n *Node) awaitsJoiner(iv crdt.InviteView) bool {
	if iv.Purpose != crdt.InviteOrganisation || iv.UsedBy == "" ||
		uint64(n.now().UnixMilli()) > iv.Expires+uint64(joinerGrace.Milliseconds()) {
		return false
	}
	org, err := crdt.ParseOrgID(iv.UsedBy)
	if err != nil {
		return false
	}
	o, ok := n.state.Org(org)
	if !ok {
		return false
	}
	for _, d := range o.Devices {
		if d.Entries > 0 {
			return false
		}
	}
	return true
}

// admitJoiner writes this steward's admission of the joining organisation,
// unless it has approved it already (wrote: it wrote one now). A name too
// close to a member's is errNameClash, which names no one.
func (n *Node) admitJoiner(ctx context.Context, joiner crdt.DeviceKey, name string, iv crdt.InviteView) (wrote bool, err error) {
	mine, ok := n.myOrg()
	if !ok || !mine.Steward {
		return false, fmt.Errorf("this node cannot admit organisations: ask the steward who invited you")
	}
	o, known := n.state.Org(crdt.OrgIDFor(joiner))
	if known && (o.Admitted || n.approvedBy(o.ID)) {
		return false, nil // a retry: already done
	}
	// The name as a name first (what it may hold, its length), then
	// against the members': a name refused for its form must not tell
	// whether it matched one.
	if _, err := crdt.EncodeBody(&crdt.Admission{Device: joiner, Name: name}); err != nil {
		return false, bodyErr(err)
	}
	if err := crdt.CheckNew(&crdt.Admission{Name: name}); err != nil {
		return false, bodyErr(err)
	}
	if err := checkOrgName(name); err != nil {
		return false, err
	}
	if n.takenName(name, crdt.OrgIDFor(joiner)) != nil {
		return false, errNameClash
	}
	// Where admission takes more than one steward, presenting the invite
	// is one approval: the inviting organisation's. Presented to other
	// stewards' nodes it must not collect theirs, or a stolen code would
	// admit itself (at once, asking two nodes before either hears of the
	// other's admission). They approve with `murmur approve`.
	if n.state.Quorum() > 1 && iv.Org != n.org {
		if known {
			return false, nil // awaiting approval: the answer says so
		}
		return false, fmt.Errorf("where admission takes more than one steward, an invite is presented to the node of the organisation that gave it")
	}
	if _, err := n.append(ctx, &crdt.Admission{Device: joiner, Name: name}, iv.ID); err != nil {
		return false, err
	}
	return true, nil
}

// addJoinerDevice writes the device-added entry for a device invite.
func (n *Node) addJoinerDevice(ctx context.Context, joiner crdt.DeviceKey, iv crdt.InviteView) error {
	if org, ok := n.state.Standing(joiner); ok && org == iv.Org {
		return nil // a retry: already done
	}
	mine, ok := n.myOrg()
	if !ok || (mine.ID != iv.Org && !mine.Steward) {
		return fmt.Errorf("this node cannot add devices to that organisation")
	}
	if _, err := n.append(ctx, &crdt.DeviceAdded{Device: joiner, Org: iv.Org, Label: "joined with an invite"}, iv.ID); err != nil {
		return err
	}
	if iv.Org == n.org { // hand the organisation's keys to the new device
		_, err := n.ensureOrgKey(ctx)
		return err
	}
	return nil
}

// approvedBy reports whether this organisation has approved org's admission.
func (n *Node) approvedBy(org crdt.OrgID) bool { return n.state.ApprovedBy(org, n.org) }

// membershipEntries are the genesis first, then the accepted membership
// entries, in an order they can be applied in, for a joiner that is a
// member (a pending organisation is sent none). Their authors' earlier
// entries go too: a chain is accepted whole.
func (n *Node) membershipEntries() [][]byte {
	g, _, _ := n.state.Entry(n.network)
	out := [][]byte{g.Raw()}
	// A membership entry is accepted once its author's chain up to it is
	// held: its author's earlier entries (requests, keys...) go too. Only
	// those chains are read, not the log.
	size := 0
	n.state.MembershipChains(func(e *crdt.Entry) bool {
		// (Within the reply's limits; what does not fit comes with the
		// first reconciliation.)
		if e.Kind == crdt.KindGenesis {
			return true
		}
		raw := e.Raw()
		if len(out) >= maxJoinEntries || size+len(raw) >= maxJoinReply/2 {
			return false
		}
		out = append(out, raw)
		size += len(raw)
		return true
	})
	return out
}

// Approve is a steward's approval of an organisation awaiting admission
// (where the quorum is more than one), named by its name or ID: an
// admission of its own, naming the invite the organisation joined with.
func (n *Node) Approve(ctx context.Context, ref string) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	o, err := n.resolveMember(ref) // by name or ID
	if err != nil {
		return nil, err
	}
	mine, ok := n.myOrg()
	switch {
	case !ok || !mine.Steward:
		return nil, refuse("approve-not-steward")
	case o.Admitted:
		return nil, refuse("admitted-already", o.Name)
	case n.approvedBy(o.ID):
		return nil, refuse("approved-already", o.Name)
	}
	if err := n.takenName(o.Name, o.ID); err != nil {
		return nil, err
	}
	// It does not cite the invite the organisation joined with: the
	// invite was used (in time) by the first admission, and an approval
	// citing it is judged against its expiry (crdt checkInvites), so one
	// given after the invite expired would be refused — and a slow
	// steward could never admit the organisation.
	return n.append(ctx, &crdt.Admission{Device: o.First, Name: o.Name})
}

// A Joiner is the join in a data directory, unlocked, while the runtime
// reaches the inviter's door (p2p.CompleteJoin): it says where the door
// is and what to present there, and takes the answer.
type Joiner struct {
	dir        string
	info       JoinInfo
	seed, priv []byte
	node       *Node
}

// BeginJoin reads the join in dir and unlocks its device key.
func BeginJoin(dir string, pass PassphraseSource) (*Joiner, error) {
	info, err := ReadJoin(dir)
	if err != nil {
		return nil, err
	}
	seed, err := readDeviceSeed(dir, pass)
	if err != nil {
		return nil, err
	}
	priv := crdt.KeyFromSeed(seed)
	if err := unsealJoinCode(dir, priv, &info); err != nil {
		return nil, err
	}
	return &Joiner{dir: dir, info: info, seed: seed, priv: priv}, nil
}

// DeviceKey is the joining device's private key.
func (j *Joiner) DeviceKey() []byte { return j.priv }

// Invite is the code's secret and its prefix of the network's ID.
func (j *Joiner) Invite() (secret [inviteSecretLen]byte, prefix []byte) {
	return j.info.Code.Secret, j.info.Code.Network[:]
}

// Addrs are the IP addresses that came with the code, and those of peers
// (multiaddrs or IP addresses: `murmur run --peer`).
func (j *Joiner) Addrs(peers []string) []netip.Addr {
	ips := append([]netip.Addr(nil), j.info.Code.Addrs...)
	for _, s := range peers {
		if ip, ok := parseInviteAddr(s); ok && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	return ips
}

// JoinProtocol is the join protocol of the network the code names.
func (j *Joiner) JoinProtocol() protocol.ID { return joinProtocolFor(j.info.Code.Network[:]) }

// Request is the request to join that target is sent (JSON, one line).
func (j *Joiner) Request(target peer.ID) ([]byte, error) {
	b, err := json.Marshal(newJoinRequest(j.info, j.priv, target))
	return append(b, '\n'), err
}

// Answer reads the inviter's answer, reached at via, and on success sets
// the directory up as a node of the network (Node). done: the join ended,
// well or not (err); not done: the answer could not be read (err), or the
// organisation awaits more stewards' approval (pending says how many it
// has: the directory stays joining, and the door is asked again).
func (j *Joiner) Answer(ctx context.Context, r io.Reader, via ma.Multiaddr) (done bool, pending string, err error) {
	var reply joinReply
	if err := json.NewDecoder(io.LimitReader(r, maxJoinReply)).Decode(&reply); err != nil {
		return false, "", fmt.Errorf("reading the inviter's answer: %w", err)
	}
	reply.via = via
	switch reply.Status {
	case "refused":
		return true, "", fmt.Errorf("the inviter refused: %s", reply.Message)
	case "pending":
		msg := "not approved yet"
		if reply.Needed > 0 && reply.Needed <= 255 && reply.Approvals >= 0 && reply.Approvals < reply.Needed {
			msg = fmt.Sprintf("%d of %d approvals", reply.Approvals, reply.Needed)
		}
		if err := notePending(j.dir, msg, time.Now()); err != nil {
			return false, "", err
		}
		return false, msg, nil
	case "admitted":
	default:
		return false, "", fmt.Errorf("the inviter's answer is not one this release knows")
	}
	n, err := finishJoin(ctx, j.dir, j.info, j.seed, j.priv, reply)
	if err != nil {
		return true, "", err
	}
	j.node = n
	return true, "", nil
}

// Node is the node the join made (opened and unlocked), once Answer took
// an answer that let it in.
func (j *Joiner) Node() *Node { return j.node }
