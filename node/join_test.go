package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
)

// loopbackNode runs n on a loopback TCP port, serving joins.
func loopbackNode(t *testing.T, n *Node, peers ...string) *Runner {
	t.Helper()
	r, err := n.Start(RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newInvite(t *testing.T, n *Node, r *Runner, purpose crdt.InvitePurpose, d time.Duration) InviteCode {
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
	n, err := CompleteJoin(ctx, dir, nil, false, t.Logf)
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

func founded(t *testing.T, quorum int) (*Node, *Runner) {
	t.Helper()
	f, err := Init(context.Background(), t.TempDir(), InitOptions{Org: "Founders", Quorum: quorum})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

func TestJoinWithInvite(t *testing.T) {
	f, fr := founded(t, 1)
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

	// The same code again, for another organisation: refused, nothing admitted.
	before := f.Status()
	join(t, t.TempDir(), code, "Gamma", "used already")
	if after := f.Status(); after.Members != before.Members || after.PendingOrgs != before.PendingOrgs {
		t.Fatalf("a reused invite changed the membership: %+v -> %+v", before, after)
	}
}

func TestJoinRefusals(t *testing.T) {
	f, fr := founded(t, 1)
	before := f.Status()

	// Altered: the right checksum, the wrong secret.
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	altered := code
	altered.Secret[0] ^= 1
	join(t, t.TempDir(), altered, "Altered", "not know the invite")

	// Expired by the member's clock.
	short := newInvite(t, f, fr, crdt.InviteOrganisation, time.Minute)
	f.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	join(t, t.TempDir(), short, "Late", "expired")
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
	f, fr := founded(t, 1)
	// Sealed for the organisation before the new device existed.
	sealed, err := f.NewRequest(context.Background(), RequestInput{Kind: "verification", Title: "Sealed before", Body: "For us only.", To: []string{f.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	code := newInvite(t, f, fr, crdt.InviteDevice, time.Hour)
	d := join(t, t.TempDir(), code, "", "")
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

func TestJoinWaitsForQuorum(t *testing.T) {
	ctx := context.Background()
	f, fr := founded(t, 2)
	// A second steward organisation, admitted while there is one steward.
	s2, err := Provision(ctx, t.TempDir(), ProvisionOptions{Genesis: f.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if _, err := f.Append(ctx, &crdt.Admission{Device: s2.Device(), Name: "Second steward", Steward: true}); err != nil {
		t.Fatal(err)
	}
	s2r := loopbackNode(t, s2, fr.Addrs()...)
	eventually(t, 20*time.Second, "the second steward is admitted", func() bool { return s2.Status().Steward })
	eventually(t, 20*time.Second, "the second steward receives the network secret", s2.HasSecret)

	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	b := join(t, t.TempDir(), code, "Beta", "")
	if st := b.Status(); st.Admitted {
		t.Fatal("admitted with one approval of two")
	}
	// Awaiting admission, its node may connect (to present the invite) but
	// is handed nothing: neither entries nor the network secret.
	if err := b.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	loopbackNode(t, b, fr.Addrs()[0], s2r.Addrs()[0])
	time.Sleep(2 * time.Second)
	if b.HasSecret() {
		t.Fatal("an organisation awaiting admission received the network secret")
	}
	ref := b.Org().String()
	eventually(t, 20*time.Second, "the second steward sees the pending organisation", func() bool {
		_, err := s2.ResolveOrg(ref)
		return err == nil
	})
	if _, err := s2.Approve(ctx, ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the founder sees it admitted", func() bool {
		o, err := f.ResolveOrg(ref)
		return err == nil && o.Admitted
	})
	if _, err := s2.Approve(ctx, ref); err == nil {
		t.Fatal("approved twice")
	}
	eventually(t, 30*time.Second, "once admitted, it receives the network secret", b.HasSecret)
}

func mustPeer(t *testing.T, k crdt.DeviceKey) peer.ID {
	t.Helper()
	p, err := PeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
