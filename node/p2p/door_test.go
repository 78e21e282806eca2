package p2p

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
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
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/logs"
)

// codeDerivedKeys are keys anyone holding the code can compute: the door's
// (HKDF of the secret, as the design says), and others of the secret.
func codeDerivedKeys(code node.InviteCode) [][]byte {
	dk := make([]byte, 32)
	io.ReadFull(hkdf.New(sha256.New, code.Secret[:], nil, append([]byte("murmur-door-v1"), code.Network[:]...)), dk)
	h := sha256.Sum256(code.Secret[:])
	seed := sha256.Sum256(append([]byte("murmur-invite-v2\n"), code.Secret[:]...))
	padded := make([]byte, 32)
	copy(padded, code.Secret[:])
	return [][]byte{dk, h[:], seed[:], padded}
}

// codeDoorPort is the door's port, computed from the code as the design says.
func codeDoorPort(code node.InviteCode) int {
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
		mallory := posing(t, beginJoin(t, code, "Mallory"), crdt.KeyFromSeed(make([]byte, 32)))
		if _, _, err := askToJoin(ctx, stranger, doorAI, mallory); err == nil {
			t.Errorf("a stranger with the used code was answered at its door: %+v", mallory.status)
		}
		cancel()
		stranger.Close()
	}

	targets := map[string]peer.AddrInfo{}
	for name, r := range map[string]*Runner{"f": fr, "b": br, "g": gr} {
		ai := peer.AddrInfo{ID: r.Host().ID()}
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
					if strings.Contains(err.Error(), r.Host().ID().String()) {
						t.Errorf("key %d from the used code: dialling %s revealed the peer ID %s", ki, name, r.Host().ID())
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
	f, err := node.Init(context.Background(), t.TempDir(), node.InitOptions{Org: "Founders", Quorum: 1, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	code, err := f.Invite(context.Background(), node.InviteOptions{Purpose: crdt.InviteDevice, Expires: time.Hour, Addrs: []string{"/ip4/127.0.0.1/tcp/4721"}})
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
	lines := make(chan string, 100)
	fr, err := Start(t.Context(), f, RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, PollEvery: 20 * time.Millisecond, RecheckEvery: 100 * time.Millisecond, Log: logs.Printf(func(format string, args ...any) {
		t.Logf(format, args...)
		select {
		case lines <- fmt.Sprintf(format, args...):
		default:
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fr.Close() })
	deadline := time.After(30 * time.Second)
	for said := false; !said; {
		select {
		case l := <-lines:
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
// yet: it asks until approved) — and for no one else.
func TestDoorLetsItsJoinerAskAgain(t *testing.T) {
	t.Run("admitted, private network", func(t *testing.T) {
		f, fr := foundedPrivate(t)
		askAgain(t, f, fr, "admitted", 2)
	})
	t.Run("awaiting approval, open network", func(t *testing.T) {
		f, fr := founded(t, 2)
		s2, _ := secondSteward(t, f, fr)
		eventually(t, 20*time.Second, "the second steward receives the network secret", s2.HasSecret)
		askAgain(t, f, fr, "pending", 2)
	})
}

func askAgain(t *testing.T, f *node.Node, fr *Runner, status string, members int) {
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	j := beginJoin(t, code, "Beta Collective")
	door := peer.AddrInfo{ID: doorPeer(code.Secret, code.Network[:]), Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", DoorPort(code.Secret)))}}
	eventually(t, 30*time.Second, "the door opens", func() bool {
		fr.doors.mu.Lock()
		defer fr.doors.mu.Unlock()
		return fr.doors.open[code.Secret] != nil
	})
	ask := func(j Joiner) error {
		h, err := joinHost(j.DeviceKey(), doorKey(code.Secret, code.Network[:]), false)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _, err = askToJoin(ctx, h, door, j)
		return err
	}
	first := posing(t, j, j.DeviceKey())
	if err := ask(first); err != nil || first.status != status {
		t.Fatalf("first ask: %+v %s, %v", first.status, first.message, err)
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
	if other := posing(t, j, crdt.KeyFromSeed(make([]byte, 32))); ask(other) == nil {
		t.Fatalf("another device with the used code was answered: %+v", other.status)
	}
	// The joiner again: answered, and its join completes with that answer
	// (or, awaiting approval, it is told so again, and nothing else).
	if err := ask(j); err != nil {
		t.Fatalf("the joiner asking again: %v", err)
	}
	n := j.Node()
	if status == "pending" {
		if n != nil {
			n.Close()
			t.Fatal("awaiting approval, the joiner was answered with a network")
		}
		return
	}
	if n == nil {
		t.Fatal("the joiner asking again: no node")
	}
	defer n.Close()
	if st := n.Status(); st.Admitted != (status == "admitted") {
		t.Fatalf("after asking again: %+v", st)
	}
	if st := f.Status(); st.Members != members && status == "admitted" {
		t.Fatalf("the inviter counts %d members, want %d", st.Members, members)
	}
}

// beginJoin prepares a join of code in a directory of its own.
func beginJoin(t *testing.T, code node.InviteCode, org string) *node.Joiner {
	t.Helper()
	dir := t.TempDir()
	if _, err := node.PrepareJoin(dir, code, node.JoinOptions{OrgName: org}); err != nil {
		t.Fatal(err)
	}
	j, err := node.BeginJoin(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// posingJoiner is a join presented under key priv (its host's identity),
// whose answer is read and not acted on (as if lost).
type posingJoiner struct {
	*node.Joiner
	priv            []byte
	status, message string
}

func posing(t *testing.T, j *node.Joiner, priv []byte) *posingJoiner {
	return &posingJoiner{Joiner: j, priv: priv}
}

func (j *posingJoiner) DeviceKey() []byte { return j.priv }

func (j *posingJoiner) Answer(_ context.Context, r io.Reader, _ ma.Multiaddr) (bool, string, error) {
	var reply struct{ Status, Message string }
	if err := json.NewDecoder(r).Decode(&reply); err != nil {
		return false, "", err
	}
	j.status, j.message = reply.Status, reply.Message
	return true, "", nil
}
