package crdt

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Entry is one signed record of the replicated log.
//
// Its encoding (see codec.go for the rules) is a record of three fields:
//
//	1 header     bytes     the signed part, below
//	2 signature  [64]byte  ed25519 by Author over "murmur-entry-v1\n" + header
//	3 body       bytes     omitted when empty, withheld or redacted
//
// and the header is a record:
//
//	1 format    uint      always 1
//	2 network   [32]byte  the network's ID; omitted in the genesis entry,
//	                      whose own ID becomes the network's ID
//	3 author    [32]byte  ed25519 public key of the writing device
//	4 seq       uint      1 for a device's first entry, then +1 each
//	5 prev      [32]byte  ID of the author's entry seq-1 (omitted at seq 1)
//	6 clock     uint      hybrid logical clock (see Clock)
//	7 deps      list      IDs of entries this one builds on, ascending
//	8 kind      uint      how to read the body (see Kind)
//	9 bodyhash  [32]byte  SHA-256 of the body
//
// The signature covers the body's hash, not the body, so a body can be
// withheld or redacted while the entry stays verifiable. The entry's ID is
// the SHA-256 of the signed message.
type Entry struct {
	Network  ID
	Author   DeviceKey
	Seq      uint64
	Prev     ID
	Clock    Clock
	Deps     []ID
	Kind     Kind
	BodyHash [32]byte
	Sig      [64]byte
	// Body is the body's bytes; nil when Withheld.
	Body []byte
	// Withheld is set when the encoding carried no body although BodyHash
	// is not the hash of an empty body.
	Withheld bool

	id     ID
	header []byte
	raw    []byte
	// verified is set once the signature has been checked (Verify), or the
	// entry has been vouched for by its holder (Trusted, Sign).
	verified bool
	// parsed is the body as check decoded it (ParsedBody): decoding it
	// again for the state cost a tenth of storing an entry.
	parsed any
}

const formatVersion = 1

var (
	signDomain = []byte("murmur-entry-v1\n")
	emptyHash  = sha256.Sum256(nil)
)

// Errors for entries that are refused before any state is consulted.
var (
	ErrTooLarge     = errors.New("crdt: entry too large")
	ErrBadSignature = errors.New("crdt: bad signature")
	ErrBodyMismatch = errors.New("crdt: body does not match its hash")
	ErrInvalid      = errors.New("crdt: invalid entry")
)

// invalid returns an error that is ErrInvalid (errors.Is) and reads as
// only what is wrong: its text may reach a person who typed a title, so it
// carries no package prefix.
func invalid(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

// ID is the entry's identifier.
func (e *Entry) ID() ID { return e.id }

// Raw is the entry's canonical encoding. Do not modify it.
func (e *Entry) Raw() []byte { return e.raw }

// Verified reports whether the signature was checked or vouched for.
func (e *Entry) Verified() bool { return e.verified }

// Draft is what an author decides; Sign adds the rest.
type Draft struct {
	Network ID // zero for a genesis entry
	Seq     uint64
	Prev    ID
	Clock   Clock
	Deps    []ID
	Kind    Kind
	Body    []byte
}

// Sign builds and signs an entry with an ed25519 private key in the form
// crypto/ed25519 uses (seed || public key). It checks the same static rules
// as Decode, so that nothing is signed that peers would refuse.
func Sign(key []byte, d Draft) (*Entry, error) {
	if len(key) != PrivateKeySize {
		return nil, invalid("private key has %d bytes", len(key))
	}
	if PublicKeyOf(KeyFromSeed(key)) != PublicKeyOf(key) {
		return nil, invalid("private key does not match its public half")
	}
	e := &Entry{
		Network:  d.Network,
		Seq:      d.Seq,
		Prev:     d.Prev,
		Clock:    d.Clock,
		Deps:     sortedIDs(d.Deps),
		Kind:     d.Kind,
		BodyHash: sha256.Sum256(d.Body),
		Body:     append([]byte{}, d.Body...),
	}
	e.Author = PublicKeyOf(key)
	e.header = e.encodeHeader()
	e.Sig = ed25519Sign(key, e.signedMessage())
	e.raw = e.encode()
	e.id = sha256.Sum256(e.signedMessage())
	if err := e.check(); err != nil {
		return nil, err
	}
	e.verified = true
	return e, nil
}

func sortedIDs(in []ID) []ID {
	if len(in) == 0 {
		return nil
	}
	out := append([]ID{}, in...)
	// insertion sort with dedupe: deps are few
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Less(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	n := 1
	for i := 1; i < len(out); i++ {
		if out[i] != out[n-1] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

func (e *Entry) signedMessage() []byte {
	msg := make([]byte, 0, len(signDomain)+len(e.header))
	return append(append(msg, signDomain...), e.header...)
}

func (e *Entry) encodeHeader() []byte {
	w := &encoder{buf: make([]byte, 0, 200+32*len(e.Deps))}
	w.uint(1, formatVersion)
	w.fixed(2, e.Network[:])
	w.fixed(3, e.Author[:])
	w.uint(4, e.Seq)
	w.fixed(5, e.Prev[:])
	w.uint(6, uint64(e.Clock))
	deps := make([][32]byte, len(e.Deps))
	for i, d := range e.Deps {
		deps[i] = d
	}
	w.fixedList(7, deps)
	w.uint(8, uint64(e.Kind))
	w.fixed(9, e.BodyHash[:])
	return w.buf
}

func (e *Entry) encode() []byte {
	w := &encoder{buf: make([]byte, 0, len(e.header)+len(e.Body)+80)}
	w.bytes(1, e.header)
	w.fixed(2, e.Sig[:])
	if !e.Withheld {
		w.bytes(3, e.Body)
	}
	return w.buf
}

// Decode reads an entry's canonical encoding and checks every rule that
// needs no state and no signature: sizes, field order and form, header
// consistency, and that the body matches its hash. It does not check the
// signature: see Verify. Re-encoding a decoded entry gives the same bytes.
func Decode(raw []byte) (*Entry, error) {
	if len(raw) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxEntrySize)
	}
	e := &Entry{raw: raw}
	d := newDecoder("entry", raw)
	e.header = d.bytes(1, MaxHeaderSize)
	d.fixed(2, e.Sig[:])
	body := d.bytes(3, MaxBodySize)
	if err := d.finish(); err != nil {
		return nil, err
	}
	if e.header == nil {
		return nil, malformed("entry: no header")
	}
	if e.Sig == [64]byte{} {
		return nil, malformed("entry: no signature")
	}
	h := newDecoder("header", e.header)
	if v := h.uint(1); v != formatVersion && h.err == nil {
		return nil, malformed("header: format %d, this release reads format %d", v, formatVersion)
	}
	h.fixed(2, e.Network[:])
	h.fixed(3, e.Author[:])
	e.Seq = h.uint(4)
	h.fixed(5, e.Prev[:])
	e.Clock = Clock(h.uint(6))
	for _, dep := range h.fixedList(7, MaxDeps) {
		e.Deps = append(e.Deps, ID(dep))
	}
	e.Kind = Kind(h.uint(8))
	h.fixed(9, e.BodyHash[:])
	if err := h.finish(); err != nil {
		return nil, err
	}
	switch {
	case body != nil:
		e.Body = body
	case e.BodyHash == emptyHash:
		e.Body = []byte{}
	default:
		e.Withheld = true
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	e.id = sha256.Sum256(e.signedMessage())
	return e, nil
}

// check holds the static rules shared by Sign and Decode.
func (e *Entry) check() error {
	switch {
	case e.Author.IsZero():
		return invalid("no author")
	case e.Seq == 0:
		return invalid("no sequence number")
	case e.Seq == 1 && !e.Prev.IsZero():
		return invalid("first entry of a device names a previous entry")
	case e.Seq > 1 && e.Prev.IsZero():
		return invalid("entry %d of a device names no previous entry", e.Seq)
	case e.Clock == 0:
		return invalid("no clock")
	case e.Kind == 0:
		return invalid("no kind")
	case len(e.Deps) > MaxDeps:
		return invalid("%d dependencies, limit %d", len(e.Deps), MaxDeps)
	case len(e.Body) > MaxBodySize:
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrTooLarge, len(e.Body), MaxBodySize)
	case len(e.header) > MaxHeaderSize:
		return fmt.Errorf("%w: header of %d bytes, limit %d", ErrTooLarge, len(e.header), MaxHeaderSize)
	}
	if (e.Kind == KindGenesis) != e.Network.IsZero() {
		return invalid("only a genesis entry omits the network, and it must")
	}
	if e.Kind == KindGenesis && e.Seq != 1 {
		return invalid("genesis must be its author's first entry")
	}
	if !e.Withheld && sha256.Sum256(e.Body) != e.BodyHash {
		return ErrBodyMismatch
	}
	if e.Kind.Known() && !e.Withheld {
		b, err := decodeBody(e.Kind, e.Body, e.Deps)
		if err != nil {
			return err
		}
		e.parsed = b
	}
	return nil
}

// Verify decodes an entry received from anywhere and checks its signature.
func Verify(raw []byte) (*Entry, error) {
	e, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	if !ed25519Verify(e.Author, e.signedMessage(), &e.Sig) {
		return nil, ErrBadSignature
	}
	e.verified = true
	return e, nil
}

// Trusted decodes an entry this node verified before (read back from its
// own store) without paying for the signature check again.
func Trusted(raw []byte) (*Entry, error) {
	e, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	e.verified = true
	return e, nil
}

// Redacted returns a copy of e without its body. It keeps the ID and the
// signature: the entry stays verifiable.
func (e *Entry) Redacted() *Entry {
	c := *e
	c.Body, c.Withheld, c.parsed = nil, e.BodyHash != emptyHash, nil
	if !c.Withheld {
		c.Body = []byte{}
	}
	c.raw = c.encode()
	return &c
}
