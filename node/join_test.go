package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/logs"
	"github.com/murmurnet/murmur/node/p2p"
)

// loopbackNode runs n on a loopback TCP port, serving joins.
func loopbackNode(t *testing.T, n *Node, peers ...string) *p2p.Runner {
	t.Helper()
	r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	// within is what a quiet machine needs; a busy one gets more, for
	// the deadline only turns a hang into a failure.
	within = max(3*within, time.Minute)
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newInvite(t *testing.T, n *Node, r *p2p.Runner, purpose crdt.InvitePurpose, d time.Duration) InviteCode {
	t.Helper()
	code, err := n.Invite(context.Background(), InviteOptions{Purpose: purpose, Expires: d, Addrs: r.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// join prepares dir with code and completes the join; it fails the test
// unless the result is wantErr (a substring of the error; "" for none).
func join(t *testing.T, dir string, code InviteCode, org, wantErr string) *Node {
	t.Helper()
	if _, err := PrepareJoin(dir, code, JoinOptions{OrgName: org}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := completeJoin(ctx, dir, nil, false, nil, t.Logf)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("joining: got %v, want %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// joinReachesNothing prepares dir with code and checks that the join
// completes nowhere: no door answers for it (a door lets in only the
// holder of an open invite, or the one who used it).
func joinReachesNothing(t *testing.T, dir string, code InviteCode, org string) {
	t.Helper()
	if _, err := PrepareJoin(dir, code, JoinOptions{OrgName: org}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	n, err := completeJoin(ctx, dir, nil, false, nil, t.Logf)
	if err == nil {
		n.Close()
		t.Fatal("the join completed")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("joining: got %v, want no answer at all", err)
	}
}

// founded founds a network whose founding node keeps its entries in kind,
// and runs it on a loopback port.
func founded(t *testing.T, kind StoreKind, quorum int) (*Node, *p2p.Runner) {
	t.Helper()
	f, err := Init(context.Background(), kind.Dir(t), InitOptions{Org: "Founders", Quorum: quorum})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

func TestJoinWithInvite(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	b := join(t, t.TempDir(), code, "Beta Collective", "")
	if st := b.Status(); !st.Admitted || st.OrgName != "Beta Collective" {
		t.Fatalf("joined node's status: %+v", st)
	}
	br := loopbackNode(t, b, fr.Addrs()...)
	if _, err := b.NewRequest(context.Background(), RequestInput{Kind: "verification", Title: "Written right after joining"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the two nodes converge", func() bool {
		return f.Status().Digest == b.Status().Digest && f.Status().Entries == b.Status().Entries
	})
	_ = br

	// The same code again, for another organisation: its door lets only
	// Beta's device in; nothing is admitted.
	before := f.Status()
	joinReachesNothing(t, t.TempDir(), code, "Gamma")
	if after := f.Status(); after.Members != before.Members || after.PendingOrgs != before.PendingOrgs {
		t.Fatalf("a reused invite changed the membership: %+v -> %+v", before, after)
	}
}

// A stranger may connect to the inviting node while the invite is unused,
// to present it; once the invite is used, no other stranger is let in
// (before issue 11's review, the node let strangers in until the used
// invite expired).
func TestUsedInviteLetsNoStrangerIn(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	stranger := func() peer.ID {
		k, _, err := lpcrypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if f.Admissible(stranger()) {
		t.Fatal("a stranger was let in with no invite open")
	}
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	if !f.Admissible(stranger()) {
		t.Fatal("a stranger was refused while an invite is open")
	}
	b := join(t, t.TempDir(), code, "Beta Collective", "")
	if f.Admissible(stranger()) {
		t.Fatal("a stranger was let in once the only invite was used")
	}
	bp, err := peer.IDFromPublicKey(mustPub(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Admissible(bp) {
		t.Fatal("the organisation that used the invite was refused")
	}
}

// mustPub is n's device key as a libp2p public key.
func mustPub(t *testing.T, n *Node) lpcrypto.PubKey {
	t.Helper()
	k, err := n.HostKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.GetPublic()
}

func TestJoinRefusals(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	before := f.Status()

	// Altered: the right check, the wrong secret. No door opens for it.
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	altered := code
	altered.Secret[0] ^= 1
	joinReachesNothing(t, t.TempDir(), altered, "Altered")

	// Expired by the member's clock: the door refuses it, or has closed.
	short := newInvite(t, f, fr, crdt.InviteOrganisation, time.Minute)
	f.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	dir := t.TempDir()
	if _, err := PrepareJoin(dir, short, JoinOptions{OrgName: "Late"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	if n, err := completeJoin(ctx, dir, nil, false, nil, t.Logf); err == nil {
		n.Close()
		t.Fatal("an expired invite was used")
	} else if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired invite: %v", err)
	}
	cancel()
	f.SetClock(time.Now)

	// A device invite presented as an organisation's.
	dev := newInvite(t, f, fr, crdt.InviteDevice, time.Hour)
	dev.Purpose = crdt.InviteOrganisation
	join(t, t.TempDir(), dev, "Pretender", "for something else")

	if after := f.Status(); after.Members != before.Members || after.PendingOrgs != 0 {
		t.Fatalf("a refused join changed the membership: %+v", after)
	}
}

func TestJoinSecondDevice(t *testing.T) {
	ForEachStore(t, testJoinSecondDevice)
}

func testJoinSecondDevice(t *testing.T, kind StoreKind) {
	f, fr := founded(t, kind, 1)
	// Sealed for the organisation before the new device existed.
	sealed, err := f.NewRequest(context.Background(), RequestInput{Kind: "verification", Title: "Sealed before", Body: "For us only.", To: []string{f.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	code := newInvite(t, f, fr, crdt.InviteDevice, time.Hour)
	d := join(t, kind.Dir(t), code, "", "")
	if d.Org() != f.Org() {
		t.Fatalf("the new device is in organisation %v, want %v", d.Org(), f.Org())
	}
	if !f.MemberPeer(mustPeer(t, d.Device())) {
		t.Fatal("the founder does not know the new device")
	}
	// The inviting device handed it the organisation's keys: once it has
	// the entries, it reads what was sealed before it joined.
	loopbackNode(t, d, fr.Addrs()...)
	eventually(t, 20*time.Second, "the new device reads the sealed request", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		whole, err := d.unseal(sealed.ID())
		return err == nil && whole.(*crdt.Request).Text == "For us only."
	})
}

// secondSteward admits a second steward organisation, whose node runs on
// loopback, connected to the founder's.
func secondSteward(t *testing.T, f *Node, fr *p2p.Runner) (*Node, *p2p.Runner) {
	t.Helper()
	psk, err := f.networkKey() // (nil: an open network)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Provision(context.Background(), t.TempDir(), ProvisionOptions{Genesis: f.Genesis(), NetworkKey: psk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if _, err := f.Append(context.Background(), &crdt.Admission{Device: s2.Device(), Name: "Second steward", Steward: true}); err != nil {
		t.Fatal(err)
	}
	s2r := loopbackNode(t, s2, fr.Addrs()...)
	eventually(t, 20*time.Second, "the second steward is admitted", func() bool { return s2.Status().Steward })
	return s2, s2r
}

// joinLater prepares dir with code and completes the join in the
// background, as `murmur run` on a joining directory does: the channel
// gives the node once the join completes (an organisation awaiting more
// stewards' approval keeps asking until then).
func joinLater(t *testing.T, dir string, code InviteCode, org string) <-chan *Node {
	t.Helper()
	if _, err := PrepareJoin(dir, code, JoinOptions{OrgName: org}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	out := make(chan *Node, 1)
	go func() {
		defer cancel()
		n, err := completeJoin(ctx, dir, nil, false, nil, t.Logf)
		if err != nil {
			t.Logf("joining: %v", err)
			close(out)
			return
		}
		out <- n
		close(out)
	}()
	t.Cleanup(func() {
		cancel()
		if n, ok := <-out; ok && n != nil {
			n.Close()
		}
	})
	return out
}

// awaitPending waits until the inviter's node has answered the join in dir
// that the organisation awaits more stewards' approval, and returns what
// it said.
func awaitPending(t *testing.T, dir string) string {
	t.Helper()
	var said string
	eventually(t, 20*time.Second, "the inviter's node answers that the organisation awaits approval", func() bool {
		info, err := ReadJoin(dir)
		said = info.Pending
		return err == nil && said != ""
	})
	return said
}

// joined waits for a join started with joinLater to complete.
func joined(t *testing.T, c <-chan *Node) *Node {
	t.Helper()
	select {
	case n, ok := <-c:
		if !ok {
			t.Fatal("the join did not complete")
		}
		t.Cleanup(func() { n.Close() })
		return n
	case <-time.After(3 * time.Minute):
		t.Fatal("the join did not complete within 3 minutes")
	}
	return nil
}

func TestJoinWaitsForQuorum(t *testing.T) {
	ctx := context.Background()
	f, fr := founded(t, SQLiteStore, 2)
	// A second steward organisation, admitted while there is one steward.
	s2, _ := secondSteward(t, f, fr)
	eventually(t, 20*time.Second, "the second steward receives the network secret", s2.HasSecret)

	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	dir := t.TempDir()
	later := joinLater(t, dir, code, "Beta")
	if said := awaitPending(t, dir); said != "1 of 2 approvals" {
		t.Fatalf("the inviter said %q, want 1 of 2 approvals", said)
	}
	// Awaiting admission, the directory is still joining: no node.
	if Initialised(dir) || !Joining(dir) {
		t.Fatal("the directory of an organisation awaiting approval holds a node")
	}
	ref := crdt.OrgIDFor(mustDevice(t, dir)).String()
	eventually(t, 20*time.Second, "the second steward sees the pending organisation", func() bool {
		_, err := s2.ResolveOrg(ref)
		return err == nil
	})
	if _, err := s2.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Approve(ctx, ref); err == nil {
		t.Fatal("approved twice")
	}
	// Its node asks again, by itself, and completes the join.
	b := joined(t, later)
	if st := b.Status(); !st.Admitted || st.OrgName != "Beta" {
		t.Fatalf("the joined node's status: %+v", st)
	}
	loopbackNode(t, b, fr.Addrs()[0])
	eventually(t, 30*time.Second, "once admitted, it receives the network secret", b.HasSecret)
}

// mustDevice is the device key of the join in dir.
func mustDevice(t *testing.T, dir string) crdt.DeviceKey {
	t.Helper()
	info, err := ReadJoin(dir)
	if err != nil {
		t.Fatal(err)
	}
	return info.Device
}

func mustPeer(t *testing.T, k crdt.DeviceKey) peer.ID {
	t.Helper()
	p, err := PeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// filesHold reports which files under dir hold marker (every file: the
// database, its WAL, the key files).
func filesHold(t *testing.T, dir, marker string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A stolen invite code for an organisation, on a private network whose
// quorum is two, yields nothing before the other steward approves: the
// inviter's door answers "pending" and nothing else. The joining
// directory holds no network key, no entry, no organisation's name and
// nothing of the stewards' cases, and with what it holds no member's node
// can be reached. Once approved, the joiner's node (asking again by
// itself) completes the join and holds what a node that never waited
// holds.
func TestPendingJoinerReceivesNothing(t *testing.T) {
	ctx := context.Background()
	const title, text = "MARKER-title-7f3a9c", "MARKER-text-1b5e2d"
	f, err := Init(ctx, t.TempDir(), InitOptions{Org: "Founders-MARKER-org", Network: "MARKER-network", Quorum: 2, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fr := loopbackNode(t, f)
	req, err := f.NewRequest(ctx, RequestInput{Kind: "verification", Title: title, Body: text})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Respond(ctx, ResponseInput{Request: req.ID().String(), Type: "comment", Body: text + "-reply"}); err != nil {
		t.Fatal(err)
	}
	s2, s2r := secondSteward(t, f, fr)
	psk, err := f.networkKey()
	if err != nil || len(psk) != 32 {
		t.Fatalf("the founder's network key: %v", err)
	}

	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	dir := t.TempDir()
	later := joinLater(t, dir, code, "Beta")
	awaitPending(t, dir)
	// Asked again and again while it waits, the door says no more.
	info, err := ReadJoin(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := info.PendingAt
	eventually(t, 20*time.Second, "the joiner asks again", func() bool {
		info, err := ReadJoin(dir)
		return err == nil && info.PendingAt.After(first)
	})
	if Initialised(dir) {
		t.Fatal("the pending directory holds a node")
	}
	if _, err := os.Stat(filepath.Join(dir, pskName)); !os.IsNotExist(err) {
		t.Fatalf("the pending directory holds %s (%v)", pskName, err)
	}
	for _, m := range []string{title, text, "MARKER-org", "MARKER-network", "Second steward", string(psk)} {
		if files := filesHold(t, dir, m); len(files) > 0 {
			t.Fatalf("the pending directory's files %v hold %q", files, m)
		}
	}
	// With what the directory holds (its device key, the code), no
	// member's node lets it in: neither with no network key nor with the
	// door's.
	seed, err := readDeviceSeed(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range [][]byte{nil, p2p.DoorKey(code.Secret, code.Network[:])} {
		h, err := joinHost(crdt.KeyFromSeed(seed), key)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{fr.Addrs()[0], s2r.Addrs()[0]} {
			ai, err := peer.AddrInfoFromString(a)
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = h.Connect(cctx, *ai)
			cancel()
			if err == nil {
				t.Fatalf("the pending joiner's key reached a member's node at %s", a)
			}
		}
		h.Close()
	}

	// Approved by the second steward, it completes the join by itself.
	ref := crdt.OrgIDFor(info.Device).String()
	eventually(t, 20*time.Second, "the second steward sees the pending organisation", func() bool {
		_, err := s2.ResolveOrg(ref)
		return err == nil
	})
	if _, err := s2.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	b := joined(t, later)
	if got, err := b.networkKey(); err != nil || !bytes.Equal(got, psk) {
		t.Fatalf("the admitted node's network key: %v", err)
	}
	loopbackNode(t, b, fr.Addrs()[0], s2r.Addrs()[0])
	eventually(t, 60*time.Second, "once admitted, it reads the earlier request", func() bool {
		d, err := b.Request(req.ID().String())
		return err == nil && !d.Withheld && d.Title == title
	})
	b.mu.Lock()
	be, _, _ := b.state.Entry(req.ID())
	b.mu.Unlock()
	f.mu.Lock()
	fe, _, _ := f.state.Entry(req.ID())
	f.mu.Unlock()
	if !bytes.Equal(be.Raw(), fe.Raw()) {
		t.Fatal("the admitted node's copy of the request differs from the steward's")
	}
	eventually(t, 30*time.Second, "its state is the steward's", func() bool {
		return b.Status().Digest == f.Status().Digest
	})
}

// Presenting the invite to another steward's node, as whoever holds a
// stolen code can (it signs a request for any member), collects no second
// approval: the organisation stays pending until a steward approves it.
func TestPendingJoinerCannotCollectApprovals(t *testing.T) {
	ctx := context.Background()
	f, fr := founded(t, SQLiteStore, 2)
	s2, s2r := secondSteward(t, f, fr)

	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	eventually(t, 20*time.Second, "the second steward holds the invite", func() bool {
		s2.mu.Lock()
		defer s2.mu.Unlock()
		_, pub := inviteKey(code.Secret)
		_, ok := s2.state.InviteByKey(pub)
		return ok
	})
	// Before anyone approved, the other steward's node is asked first.
	seed, err := newSeed()
	if err != nil {
		t.Fatal(err)
	}
	priv := crdt.KeyFromSeed(seed)
	h, err := joinHost(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	info := JoinInfo{Code: code, OrgName: "Thief", Device: crdt.PublicKeyOf(priv)}
	s2ai, err := peer.AddrInfoFromString(s2r.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	// Its transport gate lets no stranger in (only the inviting node's
	// does), and behind it the join protocol would refuse too.
	if reply, err := askToJoin(ctx, h, *s2ai, info, priv); err == nil {
		t.Fatalf("the other steward's node let the stranger in: %s (%s)", reply.Status, reply.Message)
	}
	askS2 := func() joinReply {
		var req bytes.Buffer
		if err := json.NewEncoder(&req).Encode(newJoinRequest(info, priv, s2ai.ID)); err != nil {
			t.Fatal(err)
		}
		return s2.answerJoin(ctx, h.ID(), s2ai.ID, &req)
	}
	if reply := askS2(); reply.Status != "refused" {
		t.Fatalf("the other steward's node, asked first: %s (%s)", reply.Status, reply.Message)
	}
	// Then the inviting steward's (one approval), then the other's again.
	fai, err := peer.AddrInfoFromString(fr.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := askToJoin(ctx, h, *fai, info, priv); err != nil || reply.Status != "pending" {
		t.Fatalf("the inviter: %s (%s) %v", reply.Status, reply.Message, err)
	} else if len(reply.Entries) > 0 || reply.NetworkKey != nil || len(reply.Addrs) > 0 || reply.Approvals != 1 || reply.Needed != 2 {
		t.Fatalf("the pending answer carries more than its approvals: %d entries, key %v, addresses %v, %d of %d", len(reply.Entries), reply.NetworkKey != nil, reply.Addrs, reply.Approvals, reply.Needed)
	}
	ref := crdt.OrgIDFor(info.Device).String()
	eventually(t, 20*time.Second, "the second steward sees the pending organisation", func() bool {
		_, err := s2.ResolveOrg(ref)
		return err == nil
	})
	if reply := askS2(); reply.Status != "pending" {
		t.Fatalf("the other steward's node, asked again: %s (%s)", reply.Status, reply.Message)
	}
	for _, n := range []*Node{f, s2} {
		if o, err := n.ResolveOrg(ref); err != nil || o.Admitted || o.Approvals != 1 {
			t.Fatalf("the organisation: %+v %v, want pending with one approval", o, err)
		}
	}
	// A steward's deliberate approval admits it.
	if _, err := s2.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
}

// A laptop seized between `murmur join` and the join's completion holds the
// invite code sealed under its passphrase, not in clear: no file of the
// data directory shows the code, typed or without its dashes, and the
// join still completes with the passphrase.
func TestPendingJoinKeepsTheCodeSealed(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	dir := t.TempDir()
	pass := []byte("a long enough passphrase")
	if _, err := PrepareJoin(dir, code, JoinOptions{OrgName: "Beta", Passphrase: pass}); err != nil {
		t.Fatal(err)
	}
	typed := code.String()
	for _, marker := range []string{typed, strings.ReplaceAll(typed, "-", ""), fmt.Sprintf("%x", code.Secret[:])} {
		if files := filesHold(t, dir, marker); len(files) > 0 {
			t.Fatalf("the pending join shows the code (%q) in %v", marker, files)
		}
	}
	info, err := ReadJoin(dir) // what status shows of a pending join, without the passphrase
	if err != nil || info.Code.Network != code.Network || info.OrgName != "Beta" {
		t.Fatalf("ReadJoin: %+v %v", info, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := completeJoin(ctx, dir, func() ([]byte, error) { return pass, nil }, false, nil, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := os.Stat(filepath.Join(dir, joinCodeName)); !os.IsNotExist(err) {
		t.Errorf("the sealed code outlives the join: %v", err)
	}
}

// completeJoin is `murmur run` on a joining directory: BeginJoin, then
// the runtime reaches the inviter (p2p.CompleteJoin).
func completeJoin(ctx context.Context, dir string, pass PassphraseSource, lan bool, peers []string, logf func(string, ...any)) (*Node, error) {
	j, err := BeginJoin(dir, pass)
	if err != nil {
		return nil, err
	}
	if err := p2p.CompleteJoin(ctx, j, p2p.JoinOptions{LAN: lan, Peers: peers, Log: logs.Printf(logf), AskEvery: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	return j.Node(), nil
}

// joinHost and askToJoin are the joiner's side of the join protocol, as
// p2p.CompleteJoin speaks it, for the tests that ask with a request and a
// key of their own.
func joinHost(priv, psk []byte) (host.Host, error) {
	key, err := lpcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{libp2p.Identity(key), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport)}
	if psk != nil {
		opts = append(opts, libp2p.PrivateNetwork(psk))
	}
	return libp2p.New(opts...)
}

func askToJoin(ctx context.Context, h host.Host, target peer.AddrInfo, info JoinInfo, priv []byte) (joinReply, error) {
	if err := h.Connect(ctx, target); err != nil {
		return joinReply{}, err
	}
	s, err := h.NewStream(ctx, target.ID, joinProtocolFor(info.Code.Network[:]))
	if err != nil {
		return joinReply{}, err
	}
	defer s.Close()
	if err := json.NewEncoder(s).Encode(newJoinRequest(info, priv, target.ID)); err != nil {
		return joinReply{}, err
	}
	var reply joinReply
	if err := json.NewDecoder(io.LimitReader(s, maxJoinReply)).Decode(&reply); err != nil {
		return joinReply{}, fmt.Errorf("reading the inviter's answer: %w", err)
	}
	return reply, nil
}

// The door of an organisation invite stays open past the invite's expiry
// for the organisation that used it while it awaits the stewards'
// approval (for up to joinerGrace), so that a slow approval does not
// strand it: asked again, the inviter answers it, and no one else.
func TestPendingJoinerIsAnsweredPastTheExpiry(t *testing.T) {
	ctx := context.Background()
	f, fr := founded(t, SQLiteStore, 2)
	s2, _ := secondSteward(t, f, fr)
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	ask := func(seed byte) joinReply {
		priv := crdt.KeyFromSeed(bytes.Repeat([]byte{seed}, 32))
		info := JoinInfo{Code: code, OrgName: fmt.Sprintf("Joiner %d", seed), Device: crdt.PublicKeyOf(priv)}
		self := mustPeer(t, f.Device())
		var req bytes.Buffer
		if err := json.NewEncoder(&req).Encode(newJoinRequest(info, priv, self)); err != nil {
			t.Fatal(err)
		}
		return f.answerJoin(ctx, mustPeer(t, crdt.PublicKeyOf(priv)), self, &req)
	}
	wanted := func() bool {
		want, err := f.DoorsWanted()
		if err != nil {
			t.Fatal(err)
		}
		_, ok := want[code.Secret]
		return ok
	}
	if r := ask(1); r.Status != "pending" {
		t.Fatalf("first ask: %s (%s)", r.Status, r.Message)
	}
	// Two days later, the invite long expired.
	f.SetClock(func() time.Time { return time.Now().Add(48 * time.Hour) })
	if !wanted() {
		t.Fatal("the door closed on the organisation awaiting approval")
	}
	if r := ask(1); r.Status != "pending" {
		t.Fatalf("the joiner asking again past the expiry: %s (%s)", r.Status, r.Message)
	}
	if r := ask(2); r.Status != "refused" {
		t.Fatalf("another joiner with the expired code: %s (%s)", r.Status, r.Message)
	}
	// Approved, it is answered with the network.
	ref := crdt.OrgIDFor(crdt.PublicKeyOf(crdt.KeyFromSeed(bytes.Repeat([]byte{1}, 32)))).String()
	eventually(t, 20*time.Second, "the second steward sees the pending organisation", func() bool {
		_, err := s2.ResolveOrg(ref)
		return err == nil
	})
	// The second steward approves two days later too, long after the
	// invite expired (review 10: an approval citing the expired invite
	// was refused, so a slow steward could never admit it).
	s2.SetClock(func() time.Time { return time.Now().Add(48 * time.Hour) })
	if _, err := s2.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the inviter sees the organisation admitted", func() bool {
		o, err := f.ResolveOrg(ref)
		return err == nil && o.Admitted
	})
	if r := ask(1); r.Status != "admitted" || len(r.Entries) == 0 {
		t.Fatalf("the approved joiner asking past the expiry: %s (%s)", r.Status, r.Message)
	}
	// Not for ever: past the grace, the door shuts.
	f.SetClock(func() time.Time { return time.Now().Add(time.Hour + joinerGrace + time.Minute) })
	if wanted() {
		t.Fatal("the door stays open past the grace")
	}
	if r := ask(1); r.Status != "refused" {
		t.Fatalf("past the grace: %s (%s)", r.Status, r.Message)
	}
}
