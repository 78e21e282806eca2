package seal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"

	"github.com/murmurnet/murmur/crdt"
)

// Sealed bodies (need-to-know). A sealed request or response keeps its
// envelope in clear and encrypts its details (title, text) under a fresh
// content key with XChaCha20-Poly1305; the associated data binds the
// ciphertext to the entry's network, author, sequence number, inner kind and
// envelope, so a ciphertext moved into another entry does not open. The
// content key is wrapped for each recipient organisation's current X25519
// key: an ephemeral key agreement, HKDF-SHA256, XChaCha20-Poly1305 with the
// ciphertext's binding and the organisation as associated data.
//
// Version 2 (issue 11; crdt.Sealed.Commit set) also commits to the content
// key, and its wraps are deterministic (WrapFor): a reader accepts only the
// committed key, whatever wraps other members add in key shares, and
// whoever holds the content key can tell a genuine wrap from a forged one.
// Version 1 bodies are still read (Open).
//
// An organisation's keys are handed to its devices in its org-key entries
// (crdt.OrgKey), each wrapped for a device's X25519 key. A device's X25519
// key derives from its ed25519 seed (the same scalar; the public key is the
// Montgomery form of the device key), so it needs no publishing and is
// protected at rest exactly as the device key is.

// ErrCannotOpen is returned for a sealed body this node cannot read.
var ErrCannotOpen = errors.New("this organisation cannot read the sealed details")

var zeroNonce = make([]byte, chacha20poly1305.NonceSizeX)

// DevicePrivateX25519 is the X25519 private key of the device whose
// ed25519 private key (seed || public) is priv.
func DevicePrivateX25519(priv []byte) []byte {
	h := sha512.Sum512(priv[:32])
	return h[:32] // X25519 clamps, as ed25519 does
}

// DevicePublicX25519 is the X25519 public key of device k.
func DevicePublicX25519(k crdt.DeviceKey) ([32]byte, error) {
	var out [32]byte
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil {
		return out, fmt.Errorf("device key %v is not a curve point", k)
	}
	copy(out[:], p.BytesMontgomery())
	return out, nil
}

func X25519Public(priv []byte) [32]byte {
	var out [32]byte
	pub, _ := curve25519.X25519(priv, curve25519.Basepoint)
	copy(out[:], pub)
	return out
}

// kek derives the key that seals a wrapped key from a key agreement: priv
// with other, where eph is the ephemeral public key and to the recipient's.
func kek(priv []byte, other, eph, to [32]byte, info string) ([]byte, error) {
	shared, err := curve25519.X25519(priv, other[:])
	if err != nil {
		return nil, err // the all-zero output: a low-order key
	}
	k := make([]byte, chacha20poly1305.KeySize)
	salt := append(eph[:], to[:]...)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, salt, []byte(info)), k); err != nil {
		return nil, err
	}
	return k, nil
}

// To seals msg for the X25519 key peer with a fresh ephemeral key; it
// returns the ephemeral public key and the sealed bytes.
func To(peer [32]byte, msg, ad []byte, info string) ([32]byte, []byte, error) {
	ephPriv := random(32)
	eph := X25519Public(ephPriv)
	k, err := kek(ephPriv, peer, eph, peer, info)
	if err != nil {
		return eph, nil, err
	}
	aead, _ := chacha20poly1305.NewX(k)
	return eph, aead.Seal(nil, zeroNonce, msg, ad), nil
}

// OpenFrom opens what To sealed, with the recipient's private key.
func OpenFrom(priv []byte, eph [32]byte, sealed, ad []byte, info string) ([]byte, error) {
	k, err := kek(priv, eph, eph, X25519Public(priv), info)
	if err != nil {
		return nil, err
	}
	aead, _ := chacha20poly1305.NewX(k)
	return aead.Open(nil, zeroNonce, sealed, ad)
}

// Binding is the associated data of a sealed entry's ciphertext. A
// version 2 body (with a key commitment) has its own label, so a body
// cannot be passed off as the other version.
func Binding(network crdt.ID, author crdt.DeviceKey, seq uint64, inner crdt.Kind, envelope []byte, v2 bool) []byte {
	b := []byte("murmur-sealed-v1\n")
	if v2 {
		b = []byte("murmur-sealed-v2\n")
	}
	b = append(b, network[:]...)
	b = append(b, author[:]...)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(inner))
	return append(b, envelope...)
}

// BindingOf is the binding of sealed entry e, whose body is s.
func BindingOf(e *crdt.Entry, s *crdt.Sealed) []byte {
	return Binding(e.Network, e.Author, e.Seq, s.Inner, s.Envelope, s.Commit != [32]byte{})
}

// KeyCommitment commits to a content key (version 2): HMAC-SHA256 keyed
// with the content key over the entry's binding. Finding two content keys
// with one commitment means a SHA-256 collision, so the commitment in the
// signed body names exactly one content key, and with it one plaintext.
func KeyCommitment(ck, binding []byte) [32]byte {
	m := hmac.New(sha256.New, ck)
	m.Write([]byte("murmur-key-commit-v2\n"))
	m.Write(binding)
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func WrapAD(binding []byte, org crdt.OrgID) []byte {
	h := sha256.Sum256(binding)
	return append(append([]byte("murmur-wrap-v1\n"), h[:]...), org[:]...)
}

// Recipient is an organisation and its current key.
type Recipient struct {
	Org crdt.OrgID
	Key [32]byte
}

// WrapFor wraps content key ck for r. The wrap is deterministic: its
// ephemeral key derives (HKDF-SHA256) from the content key, the binding
// and the recipient, so whoever holds the content key can make the wrap
// again and tell a genuine one from a forged one (Readers). The
// ephemeral key stays as secret as the content key it derives from.
func WrapFor(ck, binding []byte, r Recipient) ([]byte, error) {
	h := sha256.Sum256(binding)
	info := append(append([]byte("murmur-wrap-ephemeral-v2\n"), r.Org[:]...), r.Key[:]...)
	ephPriv := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ck, h[:], info), ephPriv); err != nil {
		return nil, err
	}
	eph := X25519Public(ephPriv)
	k, err := kek(ephPriv, r.Key, eph, r.Key, "murmur-wrap-v1")
	if err != nil {
		return nil, fmt.Errorf("sealing for %v: %w", r.Org, err)
	}
	aead, _ := chacha20poly1305.NewX(k)
	sealed := aead.Seal(nil, zeroNonce, ck, WrapAD(binding, r.Org))
	return append(append(append(append([]byte{}, r.Org[:]...), r.Key[:]...), eph[:]...), sealed...), nil
}

// WrapContentKey wraps a content key for each recipient.
func WrapContentKey(ck, binding []byte, to []Recipient) ([][]byte, error) {
	var wraps [][]byte
	for _, r := range to {
		w, err := WrapFor(ck, binding, r)
		if err != nil {
			return nil, err
		}
		wraps = append(wraps, w)
	}
	sortBytes(wraps)
	return wraps, nil
}

// Details encrypts details for recipients. It returns the sealed body, version
// 2: with a commitment to its content key.
func Details(network crdt.ID, author crdt.DeviceKey, seq uint64, inner crdt.Kind, envelope []byte, details crdt.Details, to []Recipient) (*crdt.Sealed, error) {
	binding := Binding(network, author, seq, inner, envelope, true)
	ck := random(chacha20poly1305.KeySize)
	s := &crdt.Sealed{Inner: inner, Envelope: envelope, Commit: KeyCommitment(ck, binding)}
	copy(s.Nonce[:], random(len(s.Nonce)))
	aead, _ := chacha20poly1305.NewX(ck)
	s.Ciphertext = aead.Seal(nil, s.Nonce[:], crdt.EncodeDetails(details), binding)
	var err error
	s.Wraps, err = WrapContentKey(ck, binding, to)
	return s, err
}

// Wrap is one wrap of a content key.
type Wrap struct {
	Org     crdt.OrgID
	Key     [32]byte // the organisation's X25519 key it is sealed to
	Eph     [32]byte
	Wrapped []byte
}

// ParseWrap reads a wrap, which crdt has checked is long enough.
func ParseWrap(w []byte) Wrap {
	var p Wrap
	copy(p.Org[:], w[0:32])
	copy(p.Key[:], w[32:64])
	copy(p.Eph[:], w[64:96])
	p.Wrapped = w[96:]
	return p
}

// allWraps lists the wraps of a sealed body and of its key shares.
func allWraps(s *crdt.Sealed, shares []*crdt.Entry) [][]byte {
	wraps := slices.Clone(s.Wraps)
	for _, sh := range shares {
		if ks, err := crdt.ParseKeyShare(sh); err == nil {
			wraps = append(wraps, ks.Wraps...)
		}
	}
	return wraps
}

// Open decrypts a sealed entry with the content key found in its own
// wraps or in shares, and returns the whole body (*crdt.Request or
// *crdt.Response) and the content key. Any member can write a key share,
// so a wrap that opens proves nothing: every wrap for org is tried, and
// only a content key that matches the body's commitment (version 2) or,
// for a version 1 body, under which its ciphertext opens, is accepted.
func Open(e *crdt.Entry, shares []*crdt.Entry, org crdt.OrgID, keys map[[32]byte][]byte) (any, []byte, error) {
	s, err := crdt.ParseSealed(e)
	if err != nil {
		return nil, nil, err
	}
	binding := BindingOf(e, s)
	committed := s.Commit != [32]byte{}
	var lastErr error = ErrCannotOpen
	for _, raw := range allWraps(s, shares) {
		w := ParseWrap(raw)
		if w.Org != org {
			continue
		}
		priv, ok := keys[w.Key]
		if !ok {
			if lastErr == ErrCannotOpen {
				lastErr = fmt.Errorf("%w: sealed for a key of this organisation this device does not hold", ErrCannotOpen)
			}
			continue
		}
		ck, err := OpenFrom(priv, w.Eph, w.Wrapped, WrapAD(binding, org), "murmur-wrap-v1")
		if err != nil {
			lastErr = fmt.Errorf("%w: its key wrap does not open (tampered?)", ErrCannotOpen)
			continue
		}
		if committed {
			if c := KeyCommitment(ck, binding); !hmac.Equal(c[:], s.Commit[:]) {
				lastErr = fmt.Errorf("%w: a key wrap for it hands a key that is not its own (forged?)", ErrCannotOpen)
				continue
			}
		}
		aead, _ := chacha20poly1305.NewX(ck)
		pt, err := aead.Open(nil, s.Nonce[:], s.Ciphertext, binding)
		if err != nil {
			lastErr = fmt.Errorf("%w: the ciphertext does not open with its key (moved from another entry, or tampered)", ErrCannotOpen)
			continue
		}
		whole, err := s.Combine(pt, e.Deps)
		if err != nil {
			lastErr = fmt.Errorf("%w: %v", ErrCannotOpen, err)
			continue
		}
		return whole, ck, nil
	}
	return nil, nil, lastErr
}

// Readers lists the organisations that can read a sealed entry, as
// far as this node can tell, in order of first wrap. With the content key
// ck of a version 2 body, a wrap counts only if it is genuine: made again
// from ck, it is the same bytes. Otherwise (a version 1 body, whose wraps
// are random, or a node that cannot read it) a wrap counts if the author
// wrote it, or a device of an organisation that counts wrote its share:
// a member that cannot read the entry cannot make another look able to.
// orgOf names a device's organisation.
func Readers(e *crdt.Entry, shares []*crdt.Entry, ck []byte, orgOf func(crdt.DeviceKey) (crdt.OrgID, bool)) []crdt.OrgID {
	s, err := crdt.ParseSealed(e)
	if err != nil {
		return nil
	}
	var out []crdt.OrgID
	add := func(o crdt.OrgID) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if ck != nil && s.Commit != [32]byte{} {
		binding := BindingOf(e, s)
		for _, raw := range allWraps(s, shares) {
			w := ParseWrap(raw)
			if again, err := WrapFor(ck, binding, Recipient{w.Org, w.Key}); err == nil && bytes.Equal(again, raw) {
				add(w.Org)
			}
		}
		return out
	}
	for _, w := range s.Wraps {
		add(ParseWrap(w).Org)
	}
	// Shares by readers' devices, until no more readers are found (each
	// pass adds one at least, or ends).
	done := make([]bool, len(shares))
	for progress := true; progress; {
		progress = false
		for i, sh := range shares {
			o, ok := orgOf(sh.Author)
			if done[i] || !ok || !slices.Contains(out, o) {
				continue
			}
			done[i], progress = true, true
			if ks, err := crdt.ParseKeyShare(sh); err == nil {
				for _, w := range ks.Wraps {
					add(ParseWrap(w).Org)
				}
			}
		}
	}
	return out
}

func sortBytes(list [][]byte) { slices.SortFunc(list, bytes.Compare) }
