package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The canonical encoding is a record: a sequence of fields, each a one-byte
// tag followed by its value, tags strictly ascending. Which tags exist, and
// the type of each, is fixed by the record's schema; there is exactly one
// encoding of every value:
//
//   - a field whose value is zero or empty is omitted, and a present field
//     holding a zero or empty value is refused;
//   - integers are unsigned varints in their shortest form;
//   - fixed-size values (keys, hashes, signatures) have no length prefix;
//   - byte strings are a varint length and the bytes;
//   - lists are a varint count followed by the elements, each in the form
//     above; where order carries no meaning the elements are strictly
//     ascending (sorted, no duplicates);
//   - a tag the schema does not name, a tag out of order or repeated, and
//     bytes after the last field are refused.
//
// Every length and count is checked against a limit before anything is
// allocated or read.

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("crdt: malformed encoding")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

type encoder struct {
	buf     []byte
	lastTag byte
}

func (w *encoder) tag(t byte) {
	if t <= w.lastTag {
		panic("crdt: encoder fields out of order") // a programming error, never input
	}
	w.lastTag = t
	w.buf = append(w.buf, t)
}

func (w *encoder) uint(t byte, v uint64) {
	if v == 0 {
		return
	}
	w.tag(t)
	w.buf = binary.AppendUvarint(w.buf, v)
}

func (w *encoder) bool(t byte, v bool) {
	if v {
		w.uint(t, 1)
	}
}

func (w *encoder) fixed(t byte, b []byte) {
	if allZero(b) {
		return
	}
	w.tag(t)
	w.buf = append(w.buf, b...)
}

func (w *encoder) bytes(t byte, b []byte) {
	if len(b) == 0 {
		return
	}
	w.tag(t)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
}

func (w *encoder) string(t byte, s string) { w.bytes(t, []byte(s)) }

func (w *encoder) strings(t byte, list []string) {
	if len(list) == 0 {
		return
	}
	w.tag(t)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(list)))
	for _, s := range list {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(s)))
		w.buf = append(w.buf, s...)
	}
}

// byteStrings writes a list of byte strings (the wire form of strings).
func (w *encoder) byteStrings(t byte, list [][]byte) {
	if len(list) == 0 {
		return
	}
	w.tag(t)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(list)))
	for _, b := range list {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
		w.buf = append(w.buf, b...)
	}
}

func (w *encoder) fixedList(t byte, list [][32]byte) {
	if len(list) == 0 {
		return
	}
	w.tag(t)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(list)))
	for _, v := range list {
		w.buf = append(w.buf, v[:]...)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// decoder reads a record. Callers ask for fields in ascending tag order;
// a field that is not next is absent. finish refuses whatever is left.
type decoder struct {
	b    []byte
	off  int
	last byte // tag of the last field consumed
	what string
	err  error
}

func newDecoder(what string, b []byte) *decoder { return &decoder{b: b, what: what} }

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = malformed("%s: %s", d.what, fmt.Sprintf(format, args...))
	}
}

// has consumes the tag of the next field if it is t and reports whether it
// was. A next tag lower than t means a field out of order, repeated, or
// unknown to the schema.
func (d *decoder) has(t byte) bool {
	if d.err != nil || d.off >= len(d.b) {
		return false
	}
	next := d.b[d.off]
	if next <= d.last {
		d.fail("field %d after field %d (out of order or repeated)", next, d.last)
		return false
	}
	if next < t {
		d.fail("unknown field %d", next)
		return false
	}
	if next > t {
		return false
	}
	d.off++
	d.last = t
	return true
}

func (d *decoder) varint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong integer")
		return 0
	}
	if n > 1 && d.b[d.off+n-1] == 0 {
		d.fail("integer not in shortest form")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.fail("truncated: need %d bytes, %d left", n, len(d.b)-d.off)
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

func (d *decoder) uint(t byte) uint64 {
	if !d.has(t) {
		return 0
	}
	v := d.varint()
	if v == 0 && d.err == nil {
		d.fail("field %d holds zero (must be omitted)", t)
	}
	return v
}

func (d *decoder) uintMax(t byte, max uint64) uint64 {
	v := d.uint(t)
	if v > max {
		d.fail("field %d: %d exceeds %d", t, v, max)
	}
	return v
}

func (d *decoder) bool(t byte) bool {
	v := d.uint(t)
	if v > 1 {
		d.fail("field %d: boolean holds %d", t, v)
	}
	return v == 1
}

func (d *decoder) fixed(t byte, out []byte) {
	if !d.has(t) {
		return
	}
	b := d.take(len(out))
	if d.err != nil {
		return
	}
	if allZero(b) {
		d.fail("field %d is all zero (must be omitted)", t)
		return
	}
	copy(out, b)
}

func (d *decoder) length(t byte, max int) int {
	n := d.varint()
	if d.err != nil {
		return 0
	}
	if n == 0 {
		d.fail("field %d is empty (must be omitted)", t)
		return 0
	}
	if n > uint64(max) {
		d.fail("field %d: length %d exceeds %d", t, n, max)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(t byte, max int) []byte {
	if !d.has(t) {
		return nil
	}
	return d.take(d.length(t, max))
}

func (d *decoder) string(t byte, max int) string {
	b := d.bytes(t, max)
	if d.err == nil && !utf8.Valid(b) {
		d.fail("field %d is not UTF-8", t)
	}
	return string(b)
}

// strings reads a list of at most maxCount strings of at most maxLen bytes;
// sorted requires strict ascending order.
func (d *decoder) strings(t byte, maxCount, maxLen int, sorted bool) []string {
	if !d.has(t) {
		return nil
	}
	n := d.length(t, maxCount)
	if d.err != nil {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		l := d.varint()
		if d.err != nil {
			break
		}
		if l == 0 || l > uint64(maxLen) {
			d.fail("field %d: element length %d not in 1..%d", t, l, maxLen)
			break
		}
		b := d.take(int(l))
		if d.err != nil {
			break
		}
		if !utf8.Valid(b) {
			d.fail("field %d: element is not UTF-8", t)
			break
		}
		s := string(b)
		if sorted && i > 0 && s <= out[i-1] {
			d.fail("field %d: elements not strictly ascending", t)
			break
		}
		out = append(out, s)
	}
	return out
}

// byteStrings reads a list of at most maxCount byte strings, each of
// minLen..maxLen bytes, in strictly ascending order.
func (d *decoder) byteStrings(t byte, maxCount, minLen, maxLen int) [][]byte {
	if !d.has(t) {
		return nil
	}
	n := d.length(t, maxCount)
	if d.err != nil {
		return nil
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		l := d.varint()
		if d.err != nil {
			break
		}
		if l < uint64(minLen) || l > uint64(maxLen) {
			d.fail("field %d: element length %d not in %d..%d", t, l, minLen, maxLen)
			break
		}
		b := d.take(int(l))
		if d.err != nil {
			break
		}
		if i > 0 && string(b) <= string(out[i-1]) {
			d.fail("field %d: elements not strictly ascending", t)
			break
		}
		out = append(out, b)
	}
	return out
}

// fixedList reads a list of at most maxCount 32-byte values in strictly
// ascending order.
func (d *decoder) fixedList(t byte, maxCount int) [][32]byte {
	if !d.has(t) {
		return nil
	}
	n := d.length(t, maxCount)
	if d.err != nil {
		return nil
	}
	raw := d.take(32 * n)
	if d.err != nil {
		return nil
	}
	out := make([][32]byte, n)
	for i := range out {
		copy(out[i][:], raw[32*i:])
		if i > 0 && string(out[i][:]) <= string(out[i-1][:]) {
			d.fail("field %d: elements not strictly ascending", t)
			return nil
		}
	}
	return out
}

// finish refuses anything after the last known field.
func (d *decoder) finish() error {
	if d.err == nil && d.off < len(d.b) {
		if d.b[d.off] <= d.last {
			d.fail("field %d after field %d (out of order or repeated)", d.b[d.off], d.last)
		} else {
			d.fail("unknown field %d", d.b[d.off])
		}
	}
	return d.err
}
