package store

// Sealing at rest. Everything the SQLite store keeps that says what a case
// is about, or who a colleague is, is sealed with XChaCha20-Poly1305 under a
// key the caller derives from the device key (node/keys.go: storeKey):
//
//   - an entry's bytes, its author and its kind, bound to its ID;
//   - every meta value, bound to its name;
//   - every contact (device, address, how it was reached), bound to the
//     row's key.
//
// What stays in clear is what SQL must compare or order (ARCHITECTURE.md,
// "The database at rest", justifies each column): entry IDs, seqs, clocks
// and statuses, meta names, contact times, and keyed hashes (HMAC-SHA256
// under a second derived key) standing in for an author or a contact's
// device and address, so that a chain's head and a contact's row are still
// one index seek without naming the device.
//
// A sealed value is: version (1 byte) | nonce (24 random bytes) | ciphertext
// and tag. The associated data names what the value is and the row it
// belongs to: a sealed value moved to another row, or another table, does
// not open.

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
)

// KeySize is the length of the key a SQLite store is sealed under.
const KeySize = 32

// ErrWrongKey is returned by OpenSQLite when the database was sealed under
// another key: it belongs to another device, or the key file was replaced.
var ErrWrongKey = errors.New("store: the database does not open with this device's key")

const (
	sealVersion  = 1
	sealOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	// entryPrefix is what an entry's plaintext holds before its bytes:
	// the author and the kind.
	entryPrefix = 32 + 8
	// entryOverhead is how much longer a sealed entry is than its bytes.
	entryOverhead = sealOverhead + entryPrefix
	// blindCacheMax bounds the cache of author hashes.
	blindCacheMax = 4096
)

// Associated-data labels: one per kind of sealed value.
const (
	adEntry   = "murmur-store-entry-v1\n"
	adMeta    = "murmur-store-meta-v1\n"
	adContact = "murmur-store-contact-v1\n"
	adCheck   = "murmur-store-key-check-v1"
)

// checkMeta is the meta row whose sealed, empty value shows at open that
// the key is the one the database was sealed under.
const checkMeta = "store.key-check"

type sealer struct {
	aead  cipher.AEAD
	index []byte // HMAC key for the keyed hashes

	mu     sync.Mutex
	blinds map[crdt.DeviceKey][32]byte // author -> its keyed hash
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store: the sealing key has %d bytes, want %d", len(key), KeySize)
	}
	ek, err := hkdf.Key(sha256.New, key, nil, "murmur-store-seal-v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	ik, err := hkdf.Key(sha256.New, key, nil, "murmur-store-index-v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(ek)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, index: ik, blinds: map[crdt.DeviceKey][32]byte{}}, nil
}

// seal appends to dst the sealed form of plaintext, bound to ad.
func (s *sealer) seal(dst, plaintext, ad []byte) ([]byte, error) {
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	dst = append(dst, sealVersion)
	dst = append(dst, nonce[:]...)
	return s.aead.Seal(dst, nonce[:], plaintext, ad), nil
}

// open returns the plaintext of a value sealed with ad.
func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: a sealed value is damaged or from a newer release", ErrCorrupt)
	}
	nonce := sealed[1 : 1+chacha20poly1305.NonceSizeX]
	pt, err := s.aead.Open(nil, nonce, sealed[1+chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: a sealed value does not open (damaged, moved, or sealed under another key)", ErrCorrupt)
	}
	return pt, nil
}

// keyed is the keyed hash of parts under a label.
func (s *sealer) keyed(label string, parts ...[]byte) []byte {
	var h hash.Hash = hmac.New(sha256.New, s.index)
	h.Write([]byte(label))
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

// author is the keyed hash stored in place of an entry's author.
func (s *sealer) author(a crdt.DeviceKey) []byte {
	s.mu.Lock()
	b, ok := s.blinds[a]
	s.mu.Unlock()
	if ok {
		return b[:]
	}
	copy(b[:], s.keyed("author", a[:]))
	s.mu.Lock()
	if len(s.blinds) >= blindCacheMax {
		clear(s.blinds)
	}
	s.blinds[a] = b
	s.mu.Unlock()
	return b[:]
}

func entryAD(id []byte) []byte {
	return append([]byte(adEntry), id...)
}

// sealEntry is the sealed column of an entry: author, kind and bytes.
func (s *sealer) sealEntry(id crdt.ID, author crdt.DeviceKey, kind crdt.Kind, raw []byte) ([]byte, error) {
	pt := make([]byte, entryPrefix, entryPrefix+len(raw))
	copy(pt, author[:])
	binary.BigEndian.PutUint64(pt[32:], uint64(kind))
	pt = append(pt, raw...)
	return s.seal(make([]byte, 0, len(pt)+sealOverhead), pt, entryAD(id[:]))
}

// openEntry fills r's author, kind and bytes from the sealed column of the
// entry whose ID is already in r.
func (s *sealer) openEntry(r *Record, sealed []byte) error {
	pt, err := s.open(sealed, entryAD(r.ID[:]))
	if err != nil {
		return fmt.Errorf("entry %s: %w", r.ID, err)
	}
	if len(pt) < entryPrefix {
		return fmt.Errorf("%w: entry %s: sealed value too short", ErrCorrupt, r.ID)
	}
	copy(r.Author[:], pt[:32])
	r.Kind = crdt.Kind(binary.BigEndian.Uint64(pt[32:entryPrefix]))
	r.Raw = pt[entryPrefix:]
	return nil
}

func metaAD(key string) []byte { return []byte(adMeta + key) }

// contactKey is the stored key of a contact row: keyed hashes of the device
// and of the address.
func (s *sealer) contactKey(device crdt.DeviceKey, addr []byte) (dev, ad []byte) {
	return s.keyed("contact-device", device[:]), s.keyed("contact-addr", device[:], addr)
}

func contactAD(dev, addr []byte) []byte {
	b := append([]byte(adContact), dev...)
	return append(b, addr...)
}

// sealContact seals a contact's device, how it was reached and address.
func (s *sealer) sealContact(dev, addrKey []byte, device crdt.DeviceKey, via Via, addr []byte) ([]byte, error) {
	pt := make([]byte, 0, 33+len(addr))
	pt = append(pt, device[:]...)
	pt = append(pt, byte(via))
	pt = append(pt, addr...)
	return s.seal(nil, pt, contactAD(dev, addrKey))
}

func (s *sealer) openContact(dev, addrKey, sealed []byte) (Contact, error) {
	pt, err := s.open(sealed, contactAD(dev, addrKey))
	if err != nil {
		return Contact{}, fmt.Errorf("contact: %w", err)
	}
	if len(pt) < 33 {
		return Contact{}, fmt.Errorf("%w: contact: sealed value too short", ErrCorrupt)
	}
	var c Contact
	copy(c.Device[:], pt[:32])
	c.Via = Via(pt[32])
	c.Addr = pt[33:]
	return c, nil
}

// MeasureSealing seals and opens each of raws as the SQLite store does
// (under a throwaway key) and returns the mean time per entry of each: the
// work sealing at rest adds to storing and to loading an entry. For
// murmur-bench.
func MeasureSealing(raws [][]byte) (sealPer, openPer time.Duration, err error) {
	if len(raws) == 0 {
		return 0, 0, nil
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, 0, err
	}
	s, err := newSealer(key)
	if err != nil {
		return 0, 0, err
	}
	sealed := make([][]byte, len(raws))
	ids := make([]crdt.ID, len(raws))
	for i, raw := range raws {
		ids[i] = crdt.ID(sha256.Sum256(raw)) // stands for the ID, which the caller has already
	}
	var author crdt.DeviceKey
	t0 := time.Now()
	for i, raw := range raws {
		author[0] = byte(i)
		s.author(author)
		if sealed[i], err = s.sealEntry(ids[i], author, crdt.KindRequest, raw); err != nil {
			return 0, 0, err
		}
	}
	sealPer = time.Since(t0) / time.Duration(len(raws))
	t0 = time.Now()
	for i := range sealed {
		r := Record{ID: ids[i]}
		if err := s.openEntry(&r, sealed[i]); err != nil {
			return 0, 0, err
		}
	}
	return sealPer, time.Since(t0) / time.Duration(len(raws)), nil
}
