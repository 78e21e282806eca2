package node

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lpcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/crypto/hkdf"

	"github.com/murmurnet/murmur/crdt"
)

// foundedPrivate is founded, on a private network.
func foundedPrivate(t *testing.T) (*Node, *Runner) {
	t.Helper()
	f, err := Init(context.Background(), t.TempDir(), InitOptions{Org: "Founders", Quorum: 1, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, loopbackNode(t, f)
}

// The network key is in no invite code, in any form a reader of the code
// can get at: neither its bytes nor the field.
func TestInviteCodeCarriesNoNetworkKey(t *testing.T) {
	f, fr := foundedPrivate(t)
	psk, err := f.NetworkKey()
	if err != nil || len(psk) != 32 {
		t.Fatal(psk, err)
	}
	for _, purpose := range []crdt.InvitePurpose{crdt.InviteOrganisation, crdt.InviteDevice} {
		code := newInvite(t, f, fr, purpose, time.Hour)
		// 140 bits of content: the key's 256 cannot hide in them, but
		// look for any 4 of its bytes at any bit offset anyway.
		raw := codeBits(code.Plain())
		for off := 0; off+32 <= len(raw); off++ {
			for i := 0; i+4 <= len(psk); i++ {
				if raw[off:off+32] == bitsOf(psk[i:i+4]) {
					t.Errorf("the %v code holds 4 bytes of the network key", purpose)
				}
			}
		}
		if _, err := ParseInviteCode(code.String()); err != nil {
			t.Fatal(err)
		}
		t.Logf("a %v code of a private network: %s (%d characters without dashes)", purpose, code, len(code.Plain()))
	}
}

// codeBits are the bits of a code's characters, as '0' and '1'.
func codeBits(plain string) string {
	var sb strings.Builder
	for _, r := range plain {
		fmt.Fprintf(&sb, "%05b", strings.IndexRune(crockford, r))
	}
	return sb.String()
}

func bitsOf(b []byte) string {
	var sb strings.Builder
	for _, x := range b {
		fmt.Fprintf(&sb, "%08b", x)
	}
	return sb.String()
}

// codeDerivedKeys are keys anyone holding the code can compute: the door's
// (HKDF of the secret, as the design says), and others of the secret.
func codeDerivedKeys(code InviteCode) [][]byte {
	dk := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, code.Secret[:], nil, append([]byte("murmur-door-v1"), code.Network[:]...)), dk)
	h := sha256.Sum256(code.Secret[:])
	seed := sha256.Sum256(append([]byte("murmur-invite-v2\n"), code.Secret[:]...))
	padded := make([]byte, 32)
	copy(padded, code.Secret[:])
	return [][]byte{dk, h[:], seed[:], padded}
}

// codeDoorPort is the door's port, computed from the code as the design says.
func codeDoorPort(code InviteCode) int {
	m := hmac.New(sha256.New, code.Secret[:])
	m.Write([]byte("murmur-door-port-v1"))
	return 20000 + int(binary.BigEndian.Uint32(m.Sum(nil))%20000)
}

// A holder of a used invite code (the joiner's, or a photo of it) cannot
// complete a handshake with any member's node, the inviter's included:
// not at the addresses given with the code, not at the members' own, with
// no key the code gives. The dial fails before the handshake names a peer.
// The door of the used invite stays open for its user until it expires
// (a joiner whose reply was lost asks again): it lets no one else in, and
// what answers there is the door's identity, which the code derives, never
// a device's.
func TestUsedInviteCodeOpensNoHandshake(t *testing.T) {
	f, fr := foundedPrivate(t)
	psk, _ := f.NetworkKey()

	// Beta joins with a code, and runs.
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta Collective", "")
	br := loopbackNode(t, b, fr.Addrs()...)
	if k, err := b.NetworkKey(); err != nil || !bytes.Equal(k, psk) {
		t.Fatalf("the joined node does not hold the network key: %v", err)
	}

	// Gamma joins with another; that code is the attacker's.
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	g := join(t, t.TempDir(), code, "Gamma", "")
	gr := loopbackNode(t, g, fr.Addrs()...)
	eventually(t, 30*time.Second, "the three nodes converge", func() bool {
		d := f.Status().Digest
		return b.Status().Digest == d && g.Status().Digest == d
	})
	// The used invite's door: a stranger with every key of the code is
	// not let in, even under the door's own identity.
	doorAI := peer.AddrInfo{ID: doorPeer(code.Secret, code.Network[:]), Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", codeDoorPort(code)))}}
	if stranger, err := joinHost(crdt.KeyFromSeed(make([]byte, 32)), doorKey(code.Secret, code.Network[:]), false); err != nil {
		t.Fatal(err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info := JoinInfo{Code: code, OrgName: "Mallory"}
		if reply, err := askToJoin(ctx, stranger, doorAI, info, crdt.KeyFromSeed(make([]byte, 32))); err == nil {
			t.Errorf("a stranger with the used code was answered at its door: %+v", reply.Status)
		}
		cancel()
		stranger.Close()
	}

	targets := map[string]peer.AddrInfo{}
	for name, r := range map[string]*Runner{"f": fr, "b": br, "g": gr} {
		ai := peer.AddrInfo{ID: r.h.ID()}
		for _, s := range r.Addrs() {
			a, err := peer.AddrInfoFromString(s)
			if err != nil {
				t.Fatal(err)
			}
			ai.Addrs = append(ai.Addrs, a.Addrs...)
		}
		targets[name] = ai
	}
	wrongID := func() peer.ID {
		_, pub, _ := lpcrypto.GenerateEd25519Key(nil)
		id, _ := peer.IDFromPublicKey(pub)
		return id
	}()
	var wg gosync.WaitGroup
	for ki, key := range codeDerivedKeys(code) {
		h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.PrivateNetwork(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		for name, ai := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := h.Connect(ctx, ai); err == nil {
					t.Errorf("key %d from the used code completes a handshake with %s", ki, name)
				}
				// Dialled under another peer ID, the error would name the
				// real one if the handshake got that far.
				err := h.Connect(ctx, peer.AddrInfo{ID: wrongID, Addrs: ai.Addrs})
				if err == nil {
					t.Errorf("key %d from the used code: a handshake with %s under a wrong peer ID succeeded", ki, name)
					return
				}
				for _, r := range []*Runner{fr, br, gr} {
					if strings.Contains(err.Error(), r.h.ID().String()) {
						t.Errorf("key %d from the used code: dialling %s revealed the peer ID %s", ki, name, r.h.ID())
					}
				}
			}()
		}
	}
	wg.Wait()
}

// The door opens for an open invite and closes when the invite expires.
func TestDoorClosesWhenTheInviteExpires(t *testing.T) {
	f, fr := foundedPrivate(t)
	code := newInvite(t, f, fr, crdt.InviteDevice, time.Minute)
	eventually(t, 30*time.Second, "the door opens", func() bool { return fr.openDoors() == 1 })
	f.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	fr.recheckSoon()
	eventually(t, 30*time.Second, "the door closes once the invite expires", func() bool { return fr.openDoors() == 0 })
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", doorPort(code.Secret)), time.Second); err == nil {
		c.Close()
		t.Error("something still listens at the expired invite's door")
	}
}

// A code made while the node is stopped is good once it runs; a door
// whose port is taken is said plainly, and opens once the port is free.
func TestDoorOfACodeMadeOffline(t *testing.T) {
	f, err := Init(context.Background(), t.TempDir(), InitOptions{Org: "Founders", Quorum: 1, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	code, err := f.Invite(context.Background(), InviteOptions{Purpose: crdt.InviteDevice, Expires: time.Hour, Addrs: []string{"/ip4/127.0.0.1/tcp/4721"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(code.Addrs) != 1 || code.Addrs[0].String() != "127.0.0.1" {
		t.Fatalf("the code comes with %v, not the address given", code.Addrs)
	}
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", doorPort(code.Secret)))
	if err != nil {
		t.Skipf("the door's port is in use on this machine: %v", err)
	}
	logs := make(chan string, 100)
	fr, err := f.Start(t.Context(), RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond, Logf: func(format string, args ...any) {
		t.Logf(format, args...)
		select {
		case logs <- fmt.Sprintf(format, args...):
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fr.Close() })
	deadline := time.After(30 * time.Second)
	for said := false; !said; {
		select {
		case l := <-logs:
			said = strings.Contains(l, "cannot open the door") && strings.Contains(l, fmt.Sprint(doorPort(code.Secret)))
		case <-deadline:
			t.Fatal("the runner did not say that the door's port is taken")
		}
	}
	taken.Close()
	eventually(t, 30*time.Second, "the door opens once its port is free", func() bool { return fr.openDoors() == 1 })
	d := join(t, t.TempDir(), code, "", "")
	if d.Org() != f.Org() {
		t.Fatalf("the device joined %v, want %v", d.Org(), f.Org())
	}
	// The door stays open for the device that used the invite: asked
	// again (its reply lost), it is answered again.
	if fr.openDoors() != 1 {
		t.Errorf("%d doors open after the invite was used, want its user's", fr.openDoors())
	}
}

// A joiner whose reply was lost asks again and is answered again: the door
// of a used invite stays open, until it expires, for the organisation that
// used it — admitted, or awaiting more stewards' approval (no standing
// yet) — and for no one else.
func TestDoorLetsItsJoinerAskAgain(t *testing.T) {
	t.Run("admitted, private network", func(t *testing.T) {
		f, fr := foundedPrivate(t)
		askAgain(t, f, fr, "admitted", 2)
	})
	t.Run("awaiting approval, open network", func(t *testing.T) {
		f, fr := founded(t, SQLiteStore, 2)
		s2, _ := secondSteward(t, f, fr)
		eventually(t, 20*time.Second, "the second steward receives the network secret", s2.HasSecret)
		askAgain(t, f, fr, "pending", 2)
	})
}

func askAgain(t *testing.T, f *Node, fr *Runner, status string, members int) {
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	dir := t.TempDir()
	if _, err := PrepareJoin(dir, code, JoinOptions{OrgName: "Beta Collective"}); err != nil {
		t.Fatal(err)
	}
	info, err := ReadJoin(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := readDeviceSeed(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	priv := crdt.KeyFromSeed(seed)
	if err := unsealJoinCode(dir, priv, &info); err != nil {
		t.Fatal(err)
	}
	door := peer.AddrInfo{ID: doorPeer(code.Secret, code.Network[:]), Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", DoorPort(code)))}}
	eventually(t, 30*time.Second, "the door opens", func() bool {
		fr.doors.mu.Lock()
		defer fr.doors.mu.Unlock()
		return fr.doors.open[code.Secret] != nil
	})
	ask := func(priv []byte) (joinReply, error) {
		h, err := joinHost(priv, doorKey(code.Secret, code.Network[:]), false)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return askToJoin(ctx, h, door, info, priv)
	}
	if r, err := ask(priv); err != nil || r.Status != status {
		t.Fatalf("first ask: %+v %s, %v", r.Status, r.Message, err)
	}
	// (That answer is lost.) The runner sees the invite used.
	eventually(t, 30*time.Second, "the runner sees the invite used", func() bool {
		fr.recheckSoon()
		fr.doors.mu.Lock()
		defer fr.doors.mu.Unlock()
		o := fr.doors.open[code.Secret]
		return o != nil && o.usedBy.Load() != nil && *o.usedBy.Load() != ""
	})
	// Someone else with the code: not let in.
	if r, err := ask(crdt.KeyFromSeed(make([]byte, 32))); err == nil {
		t.Fatalf("another device with the used code was answered: %+v", r.Status)
	}
	// The joiner again: answered, and its join completes with that answer.
	r, err := ask(priv)
	if err != nil || r.Status != status {
		t.Fatalf("the joiner asking again: %+v, %v", r.Status, err)
	}
	n, err := finishJoin(context.Background(), dir, info, seed, priv, r)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if st := n.Status(); st.Admitted != (status == "admitted") {
		t.Fatalf("after asking again: %+v", st)
	}
	if st := f.Status(); st.Members != members && status == "admitted" {
		t.Fatalf("the inviter counts %d members, want %d", st.Members, members)
	}
}
