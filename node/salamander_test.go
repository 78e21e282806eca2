package node

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"slices"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/seal"
)

// A two-faced sealed request: one XChaCha20-Poly1305 ciphertext that
// opens, under two content keys, to two different titles. XChaCha20-
// Poly1305 does not commit to its key, and its author chooses everything:
// the keystream difference of the two keys is searched for (the details'
// framing bytes must decode under both), and one 16-byte block of the
// associated data (inside an organisation ID of the envelope's To list)
// is solved for so that both Poly1305 tags agree (the "invisible
// salamanders" construction, Dodis et al. 2018; Len et al. 2021).

var p1305 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 130), big.NewInt(5))

func leInt(b []byte) *big.Int {
	r := slices.Clone(b)
	slices.Reverse(r)
	return new(big.Int).SetBytes(r)
}

func keystream(t *testing.T, key []byte, nonce [24]byte, counter uint32, n int) []byte {
	t.Helper()
	c, err := chacha20.NewUnauthenticatedCipher(key, nonce[:])
	if err != nil {
		t.Fatal(err)
	}
	c.SetCounter(counter)
	out := make([]byte, n)
	c.XORKeyStream(out, out)
	return out
}

// polyBlocks are the Poly1305 blocks of the AEAD construction (RFC 8439):
// ad and ct, each padded to 16 bytes, then their lengths.
func polyBlocks(ad, ct []byte) []*big.Int {
	var blocks []*big.Int
	add := func(b []byte) {
		for i := 0; i < len(b); i += 16 {
			blk := make([]byte, 16)
			copy(blk, b[i:min(i+16, len(b))])
			blocks = append(blocks, new(big.Int).Add(leInt(blk), new(big.Int).Lsh(big.NewInt(1), 128)))
		}
	}
	add(ad)
	add(ct)
	lens := binary.LittleEndian.AppendUint64(nil, uint64(len(ad)))
	add(binary.LittleEndian.AppendUint64(lens, uint64(len(ct))))
	return blocks
}

// polyKey is Poly1305's (r, s) for a content key and nonce.
func polyKey(t *testing.T, key []byte, nonce [24]byte) (r, s *big.Int) {
	ks := keystream(t, key, nonce, 0, 32)
	rb := slices.Clone(ks[:16])
	for _, i := range []int{3, 7, 11, 15} {
		rb[i] &= 15
	}
	for _, i := range []int{4, 8, 12} {
		rb[i] &= 252
	}
	return leInt(rb), leInt(ks[16:32])
}

type twoFaced struct {
	envelope, ciphertext []byte
	nonce                [24]byte
	k1, k2               []byte
	title1, title2       string
}

// makeTwoFaced builds a two-faced sealed request at sequence number seq
// of n's device; v2 names the version whose binding is used.
func makeTwoFaced(t *testing.T, n *Node, seq uint64, v2 bool) twoFaced {
	t.Helper()
	letter := func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	for attempt := 0; attempt < 64; attempt++ {
		var f twoFaced
		copy(f.nonce[:], random(24))
		f.k1 = random(32)
		ks1 := keystream(t, f.k1, f.nonce, 1, 3)
		// The details are a one-letter title, [field 1, length 1, letter]:
		// the keystreams must agree on the first two bytes.
		var t1, t2 byte
		for try := 0; try < 1<<22 && t1 == 0; try++ {
			k2 := random(32)
			ks2 := keystream(t, k2, f.nonce, 1, 3)
			if ks1[0] != ks2[0] || ks1[1] != ks2[1] || ks1[2] == ks2[2] {
				continue
			}
			for c := byte('A'); c <= 'z'; c++ {
				if letter(c) && letter(c^ks1[2]^ks2[2]) {
					t1, t2, f.k2 = c, c^ks1[2]^ks2[2], k2
					break
				}
			}
		}
		if t1 == 0 {
			t.Fatal("no second key found")
		}
		f.title1, f.title2 = string(t1), string(t2)
		pt := []byte{1, 1, t1}
		if !bytes.Equal(pt, crdt.EncodeDetails(crdt.Details{Title: f.title1})) {
			t.Fatal("the details' encoding is not what the construction assumes")
		}
		ct := make([]byte, 3)
		for i := range ct {
			ct[i] = pt[i] ^ ks1[i]
		}
		// The envelope addresses one organisation whose ID holds the free block.
		var free crdt.OrgID
		for i := range free {
			free[i] = 0xee
		}
		build := func() []byte {
			env, err := crdt.EncodeBody(&crdt.Request{Type: crdt.Referral, Region: "NI", To: []crdt.OrgID{free}})
			if err != nil {
				t.Fatal(err)
			}
			return env
		}
		env := build()
		binding := seal.Binding(n.network, n.device, seq, crdt.KindRequest, env, v2)
		at := bytes.Index(binding, free[:])
		off := (16 - at%16) % 16 // the first 16-aligned block inside free
		j := (at + off) / 16
		for i := off; i < off+16; i++ {
			free[i] = 0
		}
		env = build()
		binding = seal.Binding(n.network, n.device, seq, crdt.KindRequest, env, v2)
		blocks := polyBlocks(binding, ct)
		q := len(blocks)
		r1, s1 := polyKey(t, f.k1, f.nonce)
		r2, s2 := polyKey(t, f.k2, f.nonce)
		h := func(r *big.Int) *big.Int {
			acc := new(big.Int)
			for _, m := range blocks {
				acc.Add(acc, m).Mul(acc, r).Mod(acc, p1305)
			}
			return acc
		}
		e := big.NewInt(int64(q - j))
		// h_k(x) = h_k(0) + x r_k^e: solve h_1(x) + s_1 = h_2(x) + s_2 (mod p).
		d := new(big.Int).Sub(new(big.Int).Exp(r1, e, p1305), new(big.Int).Exp(r2, e, p1305))
		d.Mod(d, p1305)
		rhs := new(big.Int).Sub(h(r2), h(r1))
		rhs.Add(rhs, s2).Sub(rhs, s1).Mod(rhs, p1305)
		inv := new(big.Int).ModInverse(d, p1305)
		if inv == nil {
			continue
		}
		x := rhs.Mul(rhs, inv).Mod(rhs, p1305)
		if x.BitLen() > 128 {
			continue // not a 16-byte block: another nonce
		}
		xb := make([]byte, 16)
		x.FillBytes(xb)
		slices.Reverse(xb)
		copy(free[off:off+16], xb)
		f.envelope = build()
		binding = seal.Binding(n.network, n.device, seq, crdt.KindRequest, f.envelope, v2)
		a1, _ := chacha20poly1305.NewX(f.k1)
		a2, _ := chacha20poly1305.NewX(f.k2)
		tag1 := a1.Seal(nil, f.nonce[:], pt, binding)
		f.ciphertext = tag1
		p1, err1 := a1.Open(nil, f.nonce[:], tag1, binding)
		p2, err2 := a2.Open(nil, f.nonce[:], tag1, binding)
		if err1 != nil || err2 != nil || bytes.Equal(p1, p2) {
			continue // the tags differ by p (rare): another nonce
		}
		return f
	}
	t.Fatal("no two-faced ciphertext after 64 attempts")
	return twoFaced{}
}

// signTwoFaced seals f as n's next entry: the content key k1 wrapped for
// org1, k2 for org2, both under the organisation key cur; with commit,
// as version 2, committing to k1.
func signTwoFaced(t *testing.T, n *Node, seq uint64, f twoFaced, org1, org2 crdt.OrgID, cur [32]byte, commit bool) *crdt.Entry {
	t.Helper()
	head := n.state.Head(n.device)
	s := &crdt.Sealed{Inner: crdt.KindRequest, Envelope: f.envelope, Nonce: f.nonce, Ciphertext: f.ciphertext}
	binding := seal.Binding(n.network, n.device, seq, crdt.KindRequest, f.envelope, commit)
	if commit {
		s.Commit = seal.KeyCommitment(f.k1, binding)
	}
	w1, err := seal.WrapFor(f.k1, binding, seal.Recipient{Org: org1, Key: cur})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := seal.WrapFor(f.k2, binding, seal.Recipient{Org: org2, Key: cur})
	if err != nil {
		t.Fatal(err)
	}
	s.Wraps = [][]byte{w1, w2}
	sortBytes(s.Wraps)
	e, err := crdt.Sign(n.key, crdt.Draft{Network: n.network, Seq: seq, Prev: head.ID(), Clock: head.Clock + 1, Kind: crdt.KindSealed, Body: mustEncode(t, s)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// No author can show two recipients different text with one ciphertext:
// the two-faced request opens, as version 1, to one title for each of two
// organisations; as version 2 the second organisation's key does not
// match the commitment and it is refused.
func TestTwoFacedCiphertextIsRefused(t *testing.T) {
	n, _ := sealedFixture(t, SQLiteStore)
	n.mu.Lock()
	defer n.mu.Unlock()
	keys, cur := n.keyring()
	other := crdt.OrgID{0x0e, 0x1f} // a second recipient, under the same key for the test
	seq := n.state.Head(n.device).Seq + 1
	title := func(e *crdt.Entry, org crdt.OrgID) (string, error) {
		whole, _, err := seal.Open(e, nil, org, keys)
		if err != nil {
			return "", err
		}
		return whole.(*crdt.Request).Title, nil
	}

	f := makeTwoFaced(t, n, seq, false)
	v1 := signTwoFaced(t, n, seq, f, n.org, other, cur, false)
	got1, err1 := title(v1, n.org)
	got2, err2 := title(v1, other)
	if err1 != nil || err2 != nil || got1 != f.title1 || got2 != f.title2 || got1 == got2 {
		t.Fatalf("the construction: version 1 shows %q (%v) and %q (%v)", got1, err1, got2, err2)
	}

	f = makeTwoFaced(t, n, seq, true)
	v2 := signTwoFaced(t, n, seq, f, n.org, other, cur, true)
	if got, err := title(v2, n.org); err != nil || got != f.title1 {
		t.Fatalf("the committed reader: %q, %v", got, err)
	}
	if got, err := title(v2, other); err == nil {
		t.Fatalf("one version 2 ciphertext shows %q to one organisation and %q to another", f.title1, got)
	}
}
