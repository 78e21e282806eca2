package node

import (
	"bytes"
	"crypto/rand"
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
// An organisation's keys are handed to its devices in its org-key entries
// (crdt.OrgKey), each wrapped for a device's X25519 key. A device's X25519
// key derives from its ed25519 seed (the same scalar; the public key is the
// Montgomery form of the device key), so it needs no publishing and is
// protected at rest exactly as the device key is.

// ErrCannotOpen is returned for a sealed body this node cannot read.
var ErrCannotOpen = errors.New("this organisation cannot read the sealed details")

var zeroNonce = make([]byte, chacha20poly1305.NonceSizeX)

// devicePrivateX25519 is the X25519 private key of the device whose
// ed25519 private key (seed || public) is priv.
func devicePrivateX25519(priv []byte) []byte {
	h := sha512.Sum512(priv[:32])
	return h[:32] // X25519 clamps, as ed25519 does
}

// devicePublicX25519 is the X25519 public key of device k.
func devicePublicX25519(k crdt.DeviceKey) ([32]byte, error) {
	var out [32]byte
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil {
		return out, fmt.Errorf("device key %v is not a curve point", k)
	}
	copy(out[:], p.BytesMontgomery())
	return out, nil
}

func x25519Public(priv []byte) [32]byte {
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

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("node: reading randomness: %v", err))
	}
	return b
}

// sealTo seals msg for the X25519 key peer with a fresh ephemeral key; it
// returns the ephemeral public key and the sealed bytes.
func sealTo(peer [32]byte, msg, ad []byte, info string) ([32]byte, []byte, error) {
	ephPriv := random(32)
	eph := x25519Public(ephPriv)
	k, err := kek(ephPriv, peer, eph, peer, info)
	if err != nil {
		return eph, nil, err
	}
	aead, _ := chacha20poly1305.NewX(k)
	return eph, aead.Seal(nil, zeroNonce, msg, ad), nil
}

// openFrom opens what sealTo sealed, with the recipient's private key.
func openFrom(priv []byte, eph [32]byte, sealed, ad []byte, info string) ([]byte, error) {
	k, err := kek(priv, eph, eph, x25519Public(priv), info)
	if err != nil {
		return nil, err
	}
	aead, _ := chacha20poly1305.NewX(k)
	return aead.Open(nil, zeroNonce, sealed, ad)
}

// sealedBinding is the associated data of a sealed entry's ciphertext.
func sealedBinding(network crdt.ID, author crdt.DeviceKey, seq uint64, inner crdt.Kind, envelope []byte) []byte {
	b := []byte("murmur-sealed-v1\n")
	b = append(b, network[:]...)
	b = append(b, author[:]...)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(inner))
	return append(b, envelope...)
}

func wrapAD(binding []byte, org crdt.OrgID) []byte {
	h := sha256.Sum256(binding)
	return append(append([]byte("murmur-wrap-v1\n"), h[:]...), org[:]...)
}

// recipient is an organisation and its current key.
type recipient struct {
	org crdt.OrgID
	key [32]byte
}

// wrapContentKey wraps a content key for each recipient.
func wrapContentKey(ck, binding []byte, to []recipient) ([][]byte, error) {
	var wraps [][]byte
	for _, r := range to {
		eph, sealed, err := sealTo(r.key, ck, wrapAD(binding, r.org), "murmur-wrap-v1")
		if err != nil {
			return nil, fmt.Errorf("sealing for %v: %w", r.org, err)
		}
		w := append(append(append(append([]byte{}, r.org[:]...), r.key[:]...), eph[:]...), sealed...)
		wraps = append(wraps, w)
	}
	sortBytes(wraps)
	return wraps, nil
}

// seal encrypts details for recipients. It returns the sealed body.
func seal(network crdt.ID, author crdt.DeviceKey, seq uint64, inner crdt.Kind, envelope []byte, details crdt.Details, to []recipient) (*crdt.Sealed, error) {
	binding := sealedBinding(network, author, seq, inner, envelope)
	ck := random(chacha20poly1305.KeySize)
	s := &crdt.Sealed{Inner: inner, Envelope: envelope}
	copy(s.Nonce[:], random(len(s.Nonce)))
	aead, _ := chacha20poly1305.NewX(ck)
	s.Ciphertext = aead.Seal(nil, s.Nonce[:], crdt.EncodeDetails(details), binding)
	var err error
	s.Wraps, err = wrapContentKey(ck, binding, to)
	return s, err
}

// parsedWrap is one wrap of a content key.
type parsedWrap struct {
	org     crdt.OrgID
	key     [32]byte
	eph     [32]byte
	wrapped []byte
}

func parseWrap(w []byte) parsedWrap {
	var p parsedWrap
	copy(p.org[:], w[0:32])
	copy(p.key[:], w[32:64])
	copy(p.eph[:], w[64:96])
	p.wrapped = w[96:]
	return p
}

// contentKey finds a wrap for org among wraps, opens it with one of the
// organisation's private keys (by public key), and returns the content key.
func contentKey(binding []byte, wraps [][]byte, org crdt.OrgID, keys map[[32]byte][]byte) ([]byte, error) {
	var lastErr error = ErrCannotOpen
	for _, raw := range wraps {
		w := parseWrap(raw)
		if w.org != org {
			continue
		}
		priv, ok := keys[w.key]
		if !ok {
			lastErr = fmt.Errorf("%w: sealed for a key of this organisation this device does not hold", ErrCannotOpen)
			continue
		}
		ck, err := openFrom(priv, w.eph, w.wrapped, wrapAD(binding, org), "murmur-wrap-v1")
		if err != nil {
			lastErr = fmt.Errorf("%w: its key wrap does not open (tampered?)", ErrCannotOpen)
			continue
		}
		return ck, nil
	}
	return nil, lastErr
}

// openSealed decrypts a sealed entry with the content key found in its own
// wraps or in shares, and returns the whole body (*crdt.Request or
// *crdt.Response) and the content key.
func openSealed(e *crdt.Entry, shares []*crdt.Entry, org crdt.OrgID, keys map[[32]byte][]byte) (any, []byte, error) {
	s, err := crdt.ParseSealed(e)
	if err != nil {
		return nil, nil, err
	}
	binding := sealedBinding(e.Network, e.Author, e.Seq, s.Inner, s.Envelope)
	wraps := s.Wraps
	for _, sh := range shares {
		if ks, err := crdt.ParseKeyShare(sh); err == nil {
			wraps = append(wraps, ks.Wraps...)
		}
	}
	ck, err := contentKey(binding, wraps, org, keys)
	if err != nil {
		return nil, nil, err
	}
	aead, _ := chacha20poly1305.NewX(ck)
	pt, err := aead.Open(nil, s.Nonce[:], s.Ciphertext, binding)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the ciphertext does not open with its key (moved from another entry, or tampered)", ErrCannotOpen)
	}
	whole, err := s.Combine(pt, e.Deps)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCannotOpen, err)
	}
	return whole, ck, nil
}

// sealedWrapOrgs lists the organisations a sealed entry's content key is
// wrapped for, in it and in its shares.
func sealedWrapOrgs(e *crdt.Entry, shares []*crdt.Entry) []crdt.OrgID {
	s, err := crdt.ParseSealed(e)
	if err != nil {
		return nil
	}
	seen := map[crdt.OrgID]bool{}
	var out []crdt.OrgID
	add := func(wraps [][]byte) {
		for _, w := range wraps {
			if p := parseWrap(w); !seen[p.org] {
				seen[p.org] = true
				out = append(out, p.org)
			}
		}
	}
	add(s.Wraps)
	for _, sh := range shares {
		if ks, err := crdt.ParseKeyShare(sh); err == nil {
			add(ks.Wraps)
		}
	}
	return out
}

func sortBytes(list [][]byte) { slices.SortFunc(list, bytes.Compare) }
