package sync

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
)

// A bundle is a file of entries, for carrying the network where no link
// goes: a USB stick, an SD card, an e-mail attachment, a messenger's file.
// Its entries travel in the stream protocol's ENTRIES frames, compressed
// with DEFLATE, under two layers of encryption:
//
//	file    = magic (16 bytes) | salt (32) | check (16) | outer chunk*
//	outer   = STREAM under the network key of: uvarint(len) | header | inner chunk*
//	inner   = STREAM under the content key of: DEFLATE(ENTRIES* END) | zero padding
//
// The network key derives (HKDF-SHA256) from the network's secret, which
// every admitted member's node holds, with the file's random salt and the
// network's ID: never from anything in the file alone. A non-member learns
// that the file is a Murmur bundle and roughly its size (padded as Padmé
// does: to a size whose low bits are zero, at most 12% more): not the
// network, the organisations or how many entries. check lets a member's
// node tell a file of another network (or not made by a member) from a
// damaged one.
//
// The content key is what keeps a bundle from whoever holds the network
// secret without standing: a revoked device keeps the secret. The node
// makes a random content key and wraps it (Header.To, node-defined) for
// each organisation that may read the bundle; where To is empty (a
// summary), the content key derives from the network secret too.
//
// Both layers are the STREAM construction (as age's payload): chunks of
// 64 KiB, the nonce the chunk's number and a flag on the last one, so
// chunks cannot be reordered, dropped, or cut off at a chunk's end
// without the reader knowing.
//
// A summary file is the same container whose header's Summary says what
// its node holds, and which carries no entries.
const (
	bundleMagic = "murmur-bundle/1\n"
	saltSize    = 32
	checkSize   = 16
	chunkSize   = 64 << 10
	padMin      = 512
	// The smallest bundle and summary files: below these a size would tell
	// how many entries a bundle holds, or how many devices a network has
	// (a wrap for each organisation and device is in every bundle).
	bundleFloor  = 16 << 10
	summaryFloor = 1 << 10

	frameEnd byte = 0x12

	// maxHeader bounds a header: its wraps (one per organisation or
	// device that may read the bundle) and its maker's summary.
	maxHeader = 4 << 20
)

// BundleKind says what a bundle file holds.
type BundleKind byte

const (
	KindBundle  BundleKind = 1 // entries
	KindSummary BundleKind = 2 // a summary only
)

// Errors reading a bundle. Each is one clear line for the person holding
// the file.
var (
	ErrNotBundle       = errors.New("this file is not a Murmur bundle or summary")
	ErrForeignBundle   = errors.New("this file was not made for this network: it comes from another network, or from someone who is not a member")
	ErrTruncatedBundle = errors.New("this file is incomplete: part of it is missing, or bytes were added (copy it again from the original)")
	ErrDamagedBundle   = errors.New("this file is damaged, or was altered or cut short after it was made (copy it again from the original)")
)

// BundleKey is what opens a network's bundles.
type BundleKey struct {
	Secret  []byte // the network secret
	Network crdt.ID
}

func (k BundleKey) derive(salt []byte, label string) []byte {
	info := append([]byte("murmur-bundle-v1 "+label+" "), k.Network[:]...)
	out, err := hkdf.Key(sha256.New, k.Secret, salt, string(info), chacha20poly1305.KeySize)
	if err != nil {
		panic(err) // (32 bytes of SHA-256 HKDF cannot fail)
	}
	return out
}

func (k BundleKey) check(salt []byte) []byte {
	m := hmac.New(sha256.New, k.derive(salt, "check"))
	m.Write([]byte(bundleMagic))
	m.Write(salt)
	return m.Sum(nil)[:checkSize]
}

// Header is what a bundle says of itself, inside the encryption.
type Header struct {
	Kind    BundleKind
	Network crdt.ID
	Device  crdt.DeviceKey // the device whose node made it
	Made    time.Time      // milliseconds
	Set     [16]byte       // the parts of one export share it
	Part    int            // 1-based
	To      []byte         // the recipient's wrap (node-defined); empty: any member
	Summary Summary        // what the maker held when it made the file
	// Sig is Device's signature over SignedPart (the node signs and
	// checks it): which member made the file, and what it held, are then
	// known, not claimed.
	Sig [64]byte
}

// SignedPart is what Sig signs: the header without its signature, after
// a label.
func (h Header) SignedPart() []byte {
	return append([]byte("murmur-bundle-header-v1\n"), h.encodeUnsigned()...)
}

func (h Header) encode() []byte { return append(h.encodeUnsigned(), h.Sig[:]...) }

func (h Header) encodeUnsigned() []byte {
	b := []byte{1, byte(h.Kind)}
	b = append(b, h.Network[:]...)
	b = append(b, h.Device[:]...)
	b = binary.AppendUvarint(b, uint64(h.Made.UnixMilli()))
	b = append(b, h.Set[:]...)
	b = binary.AppendUvarint(b, uint64(h.Part))
	b = binary.AppendUvarint(b, uint64(len(h.To)))
	b = append(b, h.To...)
	sum := h.Summary.Encode()
	b = binary.AppendUvarint(b, uint64(len(sum)))
	return append(b, sum...)
}

func decodeHeader(p []byte) (Header, error) {
	r := fileReader{b: p}
	var h Header
	v := r.bytes(2)
	if r.err != nil || v[0] != 1 || (BundleKind(v[1]) != KindBundle && BundleKind(v[1]) != KindSummary) {
		return h, ErrDamagedBundle
	}
	h.Kind = BundleKind(v[1])
	copy(h.Network[:], r.bytes(32))
	copy(h.Device[:], r.bytes(32))
	h.Made = time.UnixMilli(int64(r.uvarint() & (1<<62 - 1)))
	copy(h.Set[:], r.bytes(16))
	part := r.uvarint()
	to := r.uvarint()
	if r.err != nil || part == 0 || part > 1<<20 || to > maxHeader {
		return h, ErrDamagedBundle
	}
	h.Part = int(part)
	if to > 0 {
		h.To = append([]byte(nil), r.bytes(int(to))...)
	}
	sum := r.uvarint()
	if r.err != nil || sum > uint64(len(r.b)) {
		return h, ErrDamagedBundle
	}
	s, err := DecodeSummary(r.bytes(int(sum)))
	if err != nil {
		return h, ErrDamagedBundle
	}
	h.Summary = s
	copy(h.Sig[:], r.bytes(64))
	if r.err != nil || len(r.b) != 0 {
		return h, ErrDamagedBundle
	}
	return h, nil
}

// BundleWriter writes one bundle file.
type BundleWriter struct {
	out     *countWriter
	outer   *sealWriter
	inner   *sealWriter
	zw      *flate.Writer
	hdrLen  int64 // bytes of the outer stream before the inner one
	floor   int64 // the smallest file
	frame   []byte
	entries int
	err     error
}

// NewBundleWriter starts a bundle on w. contentKey is the 32-byte key whose
// wraps are in h.To; nil when To is empty.
func NewBundleWriter(w io.Writer, k BundleKey, h Header, contentKey []byte) (*BundleWriter, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if (contentKey == nil) != (len(h.To) == 0) {
		return nil, errors.New("sync: a content key goes with its wraps")
	}
	if contentKey == nil {
		contentKey = k.derive(salt, "content")
	}
	out := &countWriter{w: w}
	out.Write([]byte(bundleMagic))
	out.Write(salt)
	out.Write(k.check(salt))
	if out.err != nil {
		return nil, out.err
	}
	outerAEAD, _ := chacha20poly1305.New(k.derive(salt, "stream"))
	innerAEAD, err := chacha20poly1305.New(contentKey)
	if err != nil {
		return nil, err
	}
	bw := &BundleWriter{out: out, outer: &sealWriter{w: out, aead: outerAEAD}}
	hdr := h.encode()
	if len(hdr) > maxHeader {
		return nil, errors.New("sync: bundle header too large")
	}
	lead := binary.AppendUvarint(nil, uint64(len(hdr)))
	bw.outer.Write(lead)
	bw.outer.Write(hdr)
	bw.hdrLen = int64(len(lead) + len(hdr))
	bw.floor = bundleFloor
	if h.Kind == KindSummary {
		bw.floor = summaryFloor
	}
	bw.inner = &sealWriter{w: bw.outer, aead: innerAEAD}
	bw.zw, _ = flate.NewWriter(bw.inner, flate.DefaultCompression) // (the level is valid)
	return bw, out.err
}

func (bw *BundleWriter) writeFrame(typ byte, payload []byte) {
	if bw.err != nil {
		return
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = typ
	n := binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, bw.err = bw.zw.Write(hdr[:1+n]); bw.err == nil {
		_, bw.err = bw.zw.Write(payload)
	}
}

// Add appends one entry's encoding.
func (bw *BundleWriter) Add(raw []byte) error {
	if len(bw.frame) > 0 && len(bw.frame)+len(raw) > entriesPerFrame {
		bw.flushFrame()
	}
	bw.frame = binary.AppendUvarint(bw.frame, uint64(len(raw)))
	bw.frame = append(bw.frame, raw...)
	bw.entries++
	return bw.err
}

func (bw *BundleWriter) flushFrame() {
	if len(bw.frame) > 0 {
		bw.writeFrame(frameEntries, bw.frame)
		bw.frame = bw.frame[:0]
	}
}

// Size is the bytes of the file so far, once what is buffered is written
// out (Flush).
func (bw *BundleWriter) Size() int64 {
	return bw.out.n + int64(len(bw.outer.buf)+len(bw.inner.buf)) + 2*chacha20poly1305.Overhead
}

// Flush pushes the entries added so far through the compressor, so that
// Size counts them. Each flush costs a few bytes and some compression.
func (bw *BundleWriter) Flush() error {
	bw.flushFrame()
	if bw.err == nil {
		bw.err = bw.zw.Flush()
	}
	return bw.err
}

// Entries is the number of entries added.
func (bw *BundleWriter) Entries() int { return bw.entries }

// Close ends the bundle: last says whether it is the last part of its
// export. The underlying writer is not closed.
func (bw *BundleWriter) Close(last bool) error {
	bw.flushFrame()
	end := binary.AppendUvarint(nil, uint64(bw.entries))
	if last {
		end = append(end, 1)
	} else {
		end = append(end, 0)
	}
	bw.writeFrame(frameEnd, end)
	if bw.err == nil {
		bw.err = bw.zw.Close()
	}
	if bw.err == nil { // pad, so the size says little about the count
		if pad := padding(bw.hdrLen, bw.inner.plain+int64(len(bw.inner.buf)), bw.floor); pad > 0 {
			_, bw.err = bw.inner.Write(make([]byte, pad))
		}
	}
	if bw.err == nil {
		bw.err = bw.inner.close()
	}
	if bw.err == nil {
		bw.err = bw.outer.close()
	}
	return bw.err
}

const prefixSize = len(bundleMagic) + saltSize + checkSize

// streamSize is the size of a STREAM of plain bytes.
func streamSize(plain int64) int64 {
	return plain + max(1, (plain+chunkSize-1)/chunkSize)*chacha20poly1305.Overhead
}

// fileSize is the size of a bundle file whose header takes hdr bytes and
// whose inner stream is plain bytes long.
func fileSize(hdr, plain int64) int64 {
	return int64(prefixSize) + streamSize(hdr+streamSize(plain))
}

// padme is the size a file of size n is padded to: n with its lowest bits
// cleared upwards, keeping only about log2(log2(n)) significant bits (the
// Padmé scheme of Nikitin et al.: at most 12% added, and sizes that
// reveal little more than their order of magnitude), and at least padMin.
func padme(n int64) int64 {
	if n <= padMin {
		return padMin
	}
	e := bits.Len64(uint64(n)) - 1 // floor(log2 n)
	z := e - bits.Len64(uint64(e)) // the bits to clear
	mask := int64(1)<<z - 1
	return (n + mask) &^ mask
}

// padding is how many zero bytes to add to an inner stream of plain bytes
// so that the file's size is one padme gives, and at least floor (a size
// padme gives).
func padding(hdr, plain, floor int64) int64 {
	pad := int64(0)
	for range 8 { // a chunk's tag added on the way may need another round
		size := fileSize(hdr, plain+pad)
		target := max(floor, padme(size))
		if target == size {
			break
		}
		pad += target - size
	}
	return pad
}

// BundleReader reads one bundle file.
type BundleReader struct {
	outer   *openReader
	rest    *bufio.Reader // the outer stream after the header
	key     BundleKey
	salt    []byte
	inner   *openReader
	zr      io.ReadCloser
	br      *bufio.Reader
	h       Header
	content []byte
	count   int
	last    bool
	done    bool
}

// ErrSealed is returned by Next for a bundle whose wraps (Header.To) were
// not opened: Unseal first.
var ErrSealed = errors.New("sync: the bundle's content key is needed")

// OpenBundle reads a bundle's header. A bundle with wraps (Header.To)
// needs Unseal before its entries can be read.
func OpenBundle(r io.Reader, k BundleKey) (*BundleReader, error) {
	pre := make([]byte, prefixSize)
	if n, err := io.ReadFull(r, pre); err != nil {
		if k := min(n, len(bundleMagic)); string(pre[:k]) == bundleMagic[:k] {
			return nil, ErrTruncatedBundle // empty, or cut within the first bytes: a copy that stopped
		}
		return nil, ErrNotBundle
	}
	if string(pre[:len(bundleMagic)]) != bundleMagic {
		return nil, ErrNotBundle
	}
	salt := pre[len(bundleMagic) : len(bundleMagic)+saltSize]
	if subtle.ConstantTimeCompare(pre[len(bundleMagic)+saltSize:], k.check(salt)) != 1 {
		return nil, ErrForeignBundle
	}
	aead, _ := chacha20poly1305.New(k.derive(salt, "stream"))
	br := &BundleReader{key: k, salt: bytes.Clone(salt), outer: &openReader{r: bufio.NewReaderSize(r, chunkSize+chacha20poly1305.Overhead+1), aead: aead, read: int64(prefixSize)}}
	br.rest = bufio.NewReaderSize(br.outer, chunkSize+chacha20poly1305.Overhead+1)
	n, err := binary.ReadUvarint(br.rest)
	if err != nil {
		return nil, br.cause(err)
	}
	if n > maxHeader {
		return nil, ErrDamagedBundle
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(br.rest, hdr); err != nil {
		return nil, br.cause(err)
	}
	if br.h, err = decodeHeader(hdr); err != nil {
		return nil, err
	}
	if br.h.Network != k.Network {
		return nil, ErrForeignBundle
	}
	if len(br.h.To) == 0 {
		br.content = k.derive(br.salt, "content")
	}
	return br, nil
}

// Header is the bundle's header.
func (br *BundleReader) Header() Header { return br.h }

// Unseal gives the content key that one of the header's wraps held.
func (br *BundleReader) Unseal(contentKey []byte) { br.content = bytes.Clone(contentKey) }

// frame reads one frame of the decompressed stream, telling a cut-off or
// altered file from a malformed frame.
func (br *BundleReader) frame() (byte, []byte, error) {
	if br.inner == nil {
		if br.content == nil {
			return 0, nil, ErrSealed
		}
		aead, err := chacha20poly1305.New(br.content)
		if err != nil {
			return 0, nil, ErrDamagedBundle
		}
		br.inner = &openReader{r: bufio.NewReaderSize(br.rest, chunkSize+chacha20poly1305.Overhead+1), aead: aead}
		br.zr = flate.NewReader(br.inner)
		br.br = bufio.NewReader(br.zr)
	}
	typ, payload, err := readFrame(br.br)
	if err != nil {
		return 0, nil, br.cause(err)
	}
	return typ, payload, nil
}

// Every entry holds at least 128 bytes no compressor can shrink (its
// signature, body hash and the hash of its author's previous entry, which
// is in no other entry of the file). A file with more than one entry for
// every entryMinBytes it holds (plus entrySlack) repeats entries, which
// honest nodes never write: it was made to cost its reader a signature
// check per copy (DEFLATE shrinks a repeated entry a thousandfold).
// Long bodies of one repeated character compress far, but each is one
// entry, so they pass.
const (
	entryMinBytes = 64
	entrySlack    = 1024
)

// cause turns an error met reading the stream into the file's problem.
func (br *BundleReader) cause(err error) error {
	if br.outer.err != nil {
		return br.outer.err
	}
	if br.inner != nil && br.inner.err != nil {
		if errors.Is(br.inner.err, ErrTruncatedBundle) {
			return ErrDamagedBundle // the outer layer was whole: the inner one was made so
		}
		return br.inner.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ErrDamagedBundle // every chunk opened: the maker wrote it so
	}
	return ErrDamagedBundle
}

// Next returns the entries of the next frame. At the end of the bundle it
// reads the rest of the file, so that every byte of it has been checked,
// and returns io.EOF.
func (br *BundleReader) Next() ([][]byte, error) {
	if br.done {
		return nil, io.EOF
	}
	typ, payload, err := br.frame()
	if err != nil {
		return nil, err
	}
	switch typ {
	case frameEntries:
		es, err := splitEntries(payload)
		if err != nil || len(es) == 0 {
			return nil, ErrDamagedBundle
		}
		br.count += len(es)
		if int64(br.count) > br.outer.read/entryMinBytes+entrySlack {
			return nil, ErrDamagedBundle
		}
		return es, nil
	case frameEnd:
		r := fileReader{b: payload}
		n := r.uvarint()
		last := r.bytes(1)
		if r.err != nil || len(r.b) != 0 || n != uint64(br.count) || last[0] > 1 {
			return nil, ErrDamagedBundle
		}
		br.last = last[0] == 1
		// The rest is DEFLATE's end and the padding: read it all, so that
		// a cut or altered tail is noticed too.
		for _, r := range []io.Reader{br.br, br.inner, br.rest} {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, br.cause(err)
			}
		}
		br.done = true
		return nil, io.EOF
	}
	return nil, ErrDamagedBundle
}

// Last reports, after Next returned io.EOF, whether the bundle was the
// last part of its export.
func (br *BundleReader) Last() bool { return br.last }

// Count is the number of entries read so far.
func (br *BundleReader) Count() int { return br.count }

// counterNonce is chunk n's nonce: its number, and a flag on the last one.
func counterNonce(n uint64, last bool) []byte {
	nonce := make([]byte, chacha20poly1305.NonceSize)
	binary.BigEndian.PutUint64(nonce[3:11], n)
	if last {
		nonce[11] = 1
	}
	return nonce
}

// sealWriter encrypts a stream in chunks of chunkSize.
type sealWriter struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte
	n     uint64
	plain int64 // plaintext bytes sealed so far
}

func (s *sealWriter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for len(s.buf) > chunkSize { // a full chunk with more after it: not the last
		if _, err := s.w.Write(s.aead.Seal(nil, counterNonce(s.n, false), s.buf[:chunkSize], nil)); err != nil {
			return 0, err
		}
		s.n++
		s.plain += chunkSize
		s.buf = append(s.buf[:0], s.buf[chunkSize:]...)
	}
	return len(p), nil
}

func (s *sealWriter) close() error {
	_, err := s.w.Write(s.aead.Seal(nil, counterNonce(s.n, true), s.buf, nil))
	s.plain += int64(len(s.buf))
	s.buf = nil
	return err
}

// openReader decrypts what sealWriter wrote.
type openReader struct {
	r     *bufio.Reader
	aead  cipher.AEAD
	n     uint64
	plain []byte
	done  bool
	err   error
	chunk []byte
	read  int64 // bytes of the file read, its prefix included
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

func (o *openReader) next() error {
	if o.chunk == nil {
		o.chunk = make([]byte, chunkSize+chacha20poly1305.Overhead)
	}
	k, err := io.ReadFull(o.r, o.chunk)
	last := false
	switch {
	case err == io.EOF:
		return ErrTruncatedBundle // the chunk before was not the last
	case err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		return err
	default:
		if _, perr := o.r.Peek(1); perr == io.EOF {
			last = true
		}
	}
	o.read += int64(k)
	c := o.chunk[:k]
	out, aerr := o.aead.Open(nil, counterNonce(o.n, last), c, nil)
	if aerr != nil {
		if last {
			if _, e := o.aead.Open(nil, counterNonce(o.n, false), c, nil); e == nil {
				return ErrTruncatedBundle // a whole chunk, but not the last
			}
			if o.r.Buffered() == 0 && padme(o.read) != o.read {
				// Every bundle's size is one padme gives: this one was
				// cut, or has bytes added.
				return ErrTruncatedBundle
			}
		}
		return ErrDamagedBundle
	}
	o.n++
	o.done = last
	o.plain = out
	return nil
}

// countWriter counts what it writes; the first error sticks.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	k, err := c.w.Write(p)
	c.n += int64(k)
	c.err = err
	return k, err
}

// MinBundleSize is the smallest part size an export can be split into.
const MinBundleSize = 64_000

// CloseOverhead is a bound on the bytes Close adds to a bundle of size n
// after a Flush: the end frame, DEFLATE's end, the last tags and the
// padding.
func CloseOverhead(n int64) int64 { return max(bundleFloor, padme(n+128)) - n + 128 }
