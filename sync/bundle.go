package sync

import (
	"bufio"
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
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmurnet/murmur/crdt"
)

// A bundle is a file of entries, for carrying the network where no link
// goes: a USB stick, an SD card, an e-mail attachment, a messenger's file.
// It is the stream protocol's entry frames (frameEntries), after a header,
// compressed with DEFLATE and then encrypted.
//
//	file     = magic (16 bytes) | salt (32) | check (16) | chunk*
//	chunk    = ChaCha20-Poly1305 of up to chunkSize bytes of the stream
//	stream   = DEFLATE(frame*) | zero padding
//	frames   = HEADER (ENTRIES | SEALED)* END
//
// The key derives (HKDF-SHA256) from the network's secret, which only
// members hold, with the file's random salt and the network's ID: never
// from anything in the file alone. A non-member learns that the file is a
// Murmur bundle and roughly its size (the stream is padded to a multiple of
// padTo): not the network, the organisations or how many entries. check
// lets a member's node tell a bundle of another network (or not made by a
// member) from a damaged one. The chunks are the STREAM construction (as
// age's payload): the nonce is the chunk's number and a flag on the last
// one, so chunks cannot be reordered, dropped, or cut off at a chunk's end
// without the reader knowing.
//
// A bundle for one organisation (Header.To) also seals its entries to that
// organisation: each ENTRIES frame, compressed on its own, is encrypted
// under a key only the recipient can derive (the node wraps it for the
// organisation's key and puts the wrap in the header), and travels as a
// SEALED frame.
//
// A summary file is the same container holding only a header, whose
// Summary says what its node holds.
const (
	bundleMagic = "murmur-bundle/1\n"
	saltSize    = 32
	checkSize   = 16
	chunkSize   = 64 << 10
	padTo       = 512

	frameHeader byte = 0x10
	frameSealed byte = 0x11
	frameEnd    byte = 0x12
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
	ErrNotBundle       = errors.New("this is not a Murmur bundle")
	ErrForeignBundle   = errors.New("this bundle was not made for this network: it comes from another network, or from someone who is not a member")
	ErrTruncatedBundle = errors.New("this bundle is cut short: part of the file is missing (copy it again from the original)")
	ErrDamagedBundle   = errors.New("this bundle is damaged, or was altered or cut short after it was made (copy it again from the original)")
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

const maxHeaderTo = 1 << 10

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
	if r.err != nil || part == 0 || part > 1<<20 || to > maxHeaderTo {
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
	seal    *sealWriter
	zw      *flate.Writer
	to      cipher.AEAD // seals ENTRIES frames for Header.To, or nil
	toN     uint64
	deflate *deflater
	frame   []byte // entries being gathered
	entries int
	err     error
}

// NewBundleWriter starts a bundle on w. toKey, for a bundle restricted to
// one organisation, is the 32-byte key whose wrap is in h.To.
func NewBundleWriter(w io.Writer, k BundleKey, h Header, toKey []byte) (*BundleWriter, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	out := &countWriter{w: w}
	out.Write([]byte(bundleMagic))
	out.Write(salt)
	out.Write(k.check(salt))
	if out.err != nil {
		return nil, out.err
	}
	aead, _ := chacha20poly1305.New(k.derive(salt, "stream"))
	bw := &BundleWriter{out: out, seal: &sealWriter{w: out, aead: aead}}
	bw.zw, _ = flate.NewWriter(bw.seal, flate.DefaultCompression) // (the level is valid)
	if toKey != nil {
		bw.to, _ = chacha20poly1305.New(toKey[:chacha20poly1305.KeySize])
		bw.deflate = newDeflater()
	}
	bw.writeFrame(frameHeader, h.encode())
	return bw, bw.err
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
	if len(bw.frame) == 0 {
		return
	}
	if bw.to == nil {
		bw.writeFrame(frameEntries, bw.frame)
	} else {
		typ, payload := frameEntries, bw.frame
		if packed := bw.deflate.pack(nil, bw.frame); len(packed) < len(bw.frame) {
			typ, payload = frameDeflated, packed
		}
		inner := append([]byte{typ}, payload...)
		bw.writeFrame(frameSealed, bw.to.Seal(nil, counterNonce(bw.toN, false), inner, nil))
		bw.toN++
	}
	bw.frame = bw.frame[:0]
}

// Size is the bytes of the file so far, once what is buffered is written
// out (Flush).
func (bw *BundleWriter) Size() int64 {
	return bw.out.n + int64(len(bw.seal.buf)) + chacha20poly1305.Overhead
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
	if bw.err == nil { // pad the stream, so the size says little about the count
		if pad := padding(bw.seal.plain + int64(len(bw.seal.buf))); pad > 0 {
			_, bw.err = bw.seal.Write(make([]byte, pad))
		}
	}
	if bw.err == nil {
		bw.err = bw.seal.close()
	}
	return bw.err
}

const prefixSize = len(bundleMagic) + saltSize + checkSize

// fileSize is the size of a bundle file whose stream is plain bytes long.
func fileSize(plain int64) int64 {
	chunks := max(1, (plain+chunkSize-1)/chunkSize)
	return int64(prefixSize) + plain + chunks*chacha20poly1305.Overhead
}

// padding is how many bytes to add to a stream of plain bytes so that the
// file's size is a multiple of padTo.
func padding(plain int64) int64 {
	pad := int64(0)
	for range 4 { // adding a chunk's tag may need one more round
		pad += (padTo - fileSize(plain+pad)%padTo) % padTo
		if fileSize(plain+pad)%padTo == 0 {
			break
		}
	}
	return pad
}

// BundleReader reads one bundle file.
type BundleReader struct {
	open     *openReader
	zr       io.ReadCloser
	inflated *countReader // what the compressed stream inflated to so far
	br       *bufio.Reader
	h        Header
	to       cipher.AEAD
	toN      uint64
	count    int
	last     bool
	done     bool
}

// OpenBundle reads a bundle's header. A restricted bundle (Header.To set)
// needs Unseal before its entries can be read.
func OpenBundle(r io.Reader, k BundleKey) (*BundleReader, error) {
	pre := make([]byte, len(bundleMagic)+saltSize+checkSize)
	if n, err := io.ReadFull(r, pre); err != nil {
		if n >= len(bundleMagic) && string(pre[:len(bundleMagic)]) == bundleMagic {
			return nil, ErrTruncatedBundle
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
	br := &BundleReader{open: &openReader{r: bufio.NewReaderSize(r, chunkSize+chacha20poly1305.Overhead+1), aead: aead, read: int64(prefixSize)}}
	br.zr = flate.NewReader(br.open)
	br.inflated = &countReader{r: br.zr}
	br.br = bufio.NewReader(br.inflated)
	typ, payload, err := br.frame()
	if err != nil {
		return nil, err
	}
	if typ != frameHeader {
		return nil, ErrDamagedBundle
	}
	if br.h, err = decodeHeader(payload); err != nil {
		return nil, err
	}
	if br.h.Network != k.Network {
		return nil, ErrForeignBundle
	}
	return br, nil
}

// Header is the bundle's header.
func (br *BundleReader) Header() Header { return br.h }

// Unseal gives the key of a bundle restricted to one organisation.
func (br *BundleReader) Unseal(toKey []byte) {
	br.to, _ = chacha20poly1305.New(toKey[:chacha20poly1305.KeySize])
}

// frame reads one frame of the decompressed stream, telling a cut-off or
// altered file from a malformed frame.
func (br *BundleReader) frame() (byte, []byte, error) {
	typ, payload, err := readFrame(br.br)
	if err != nil {
		return 0, nil, br.cause(err)
	}
	if br.inflated.n > maxInflation*br.open.read+inflationSlack {
		// A file that inflates to far more than entries do was made to
		// cost its reader, not by a Murmur node.
		return 0, nil, ErrDamagedBundle
	}
	return typ, payload, nil
}

// A bundle may inflate to maxInflation times its size, plus
// inflationSlack: honest entries (signatures, keys and hashes do not
// compress) inflate to three times at most, unless bodies are long runs of
// one character, which the slack leaves room for.
const (
	maxInflation   = 64
	inflationSlack = 8 << 20
)

// countReader counts what it reads.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// cause turns an error met reading the stream into the file's problem.
func (br *BundleReader) cause(err error) error {
	if br.open.err != nil {
		return br.open.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ErrTruncatedBundle
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
	for {
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
			return es, nil
		case frameSealed:
			if br.to == nil {
				return nil, ErrDamagedBundle
			}
			inner, err := br.to.Open(nil, counterNonce(br.toN, false), payload, nil)
			br.toN++
			if err != nil || len(inner) == 0 || inner[0] != frameEntries && inner[0] != frameDeflated {
				return nil, ErrDamagedBundle
			}
			es, err := decodeEntries(inner[0], inner[1:])
			if err != nil || len(es) == 0 {
				return nil, ErrDamagedBundle
			}
			br.count += len(es)
			return es, nil
		case frameEnd:
			r := fileReader{b: payload}
			n := r.uvarint()
			last := r.bytes(1)
			if r.err != nil || len(r.b) != 0 || n != uint64(br.count) || last[0] > 1 {
				return nil, ErrDamagedBundle
			}
			br.last = last[0] == 1
			// The rest is DEFLATE's end and the padding: read it all, so
			// that a cut or altered tail is noticed too.
			if _, err := io.Copy(io.Discard, br.br); err != nil {
				return nil, br.cause(err)
			}
			if _, err := io.Copy(io.Discard, br.open); err != nil {
				return nil, br.cause(err)
			}
			br.done = true
			return nil, io.EOF
		default:
			return nil, ErrDamagedBundle
		}
	}
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
			if o.read%padTo != 0 {
				// Every bundle's size is a multiple of padTo: this one
				// was cut inside a chunk.
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

// FrameOverhead is a bound on the bytes Close adds to a bundle's Size
// after a Flush: the end frame, DEFLATE's end and the padding.
const FrameOverhead = padTo + chacha20poly1305.Overhead + 64
