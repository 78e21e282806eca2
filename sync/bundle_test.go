package sync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

func bundleKey(b byte) BundleKey {
	return BundleKey{Secret: bytes.Repeat([]byte{b}, 32), Network: crdt.ID{b, 1}}
}

// writeBundle writes entries of the given sizes and returns the file and
// the entries.
func writeBundle(t *testing.T, k BundleKey, sizes []int, toKey []byte) ([]byte, [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	h := Header{Kind: KindBundle, Network: k.Network, Made: time.UnixMilli(1700000000000), Part: 1,
		Summary: Summary{Heads: []Head{{Device: ShortID{1}, Seq: 3, ID: ShortID{9}}}}}
	if toKey != nil {
		h.To = []byte("wrap")
	}
	bw, err := NewBundleWriter(&buf, k, h, toKey)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	for i, n := range sizes {
		e := make([]byte, n)
		for j := range e {
			if j < 160 {
				e[j] = byte(rng.IntN(256)) // keys, hashes, signature
			} else {
				e[j] = byte('a' + rng.IntN(8)) // a body, compressible
			}
		}
		copy(e, fmt.Sprintf("entry-%d-", i))
		want = append(want, e)
		if err := bw.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Close(true); err != nil {
		t.Fatal(err)
	}
	if n := int64(buf.Len()); padme(n) != n {
		t.Fatalf("bundle of %d bytes is not padded (to %d)", n, padme(n))
	}
	return buf.Bytes(), want
}

func readBundle(file []byte, k BundleKey, toKey []byte) (Header, [][]byte, error) {
	br, err := OpenBundle(bytes.NewReader(file), k)
	if err != nil {
		return Header{}, nil, err
	}
	if toKey != nil {
		br.Unseal(toKey)
	}
	var got [][]byte
	for {
		es, err := br.Next()
		if err == io.EOF {
			if !br.Last() {
				return br.Header(), got, errors.New("not last")
			}
			return br.Header(), got, nil
		}
		if err != nil {
			return br.Header(), got, err
		}
		got = append(got, es...)
	}
}

func TestBundleRoundTrip(t *testing.T) {
	k := bundleKey(7)
	for _, tc := range []struct {
		name  string
		sizes []int
		to    []byte
	}{
		{"empty", nil, nil},
		{"one", []int{300}, nil},
		{"many", repeat(2000, 400), nil},
		{"large entries", repeat(20, 60000), nil},
		{"restricted", repeat(500, 400), bytes.Repeat([]byte{5}, 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, want := writeBundle(t, k, tc.sizes, tc.to)
			h, got, err := readBundle(file, k, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if h.Summary.Heads[0].Seq != 3 || h.Network != k.Network || h.Made.UnixMilli() != 1700000000000 {
				t.Fatalf("header %+v", h)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d entries, wrote %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("entry %d differs", i)
				}
			}
		})
	}
}

func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

// Every cut of a bundle, at a chunk's end or inside one, and every
// altered byte, is refused: nothing is read as if the file were whole.
func TestBundleCutOrAltered(t *testing.T) {
	k := bundleKey(7)
	file, _ := writeBundle(t, k, repeat(1500, 400), nil) // several chunks
	if len(file) < 3*chunkSize {
		t.Fatalf("bundle of %d bytes: want several chunks", len(file))
	}
	cuts := []int{0, 10, prefixSize, prefixSize + 1, prefixSize + chunkSize + 16, prefixSize + 2*(chunkSize+16), len(file) - 1, len(file) - 16, len(file) - 512}
	for _, cut := range cuts {
		_, _, err := readBundle(file[:cut], k, nil)
		want := ErrTruncatedBundle // a cut within the magic too: a copy that stopped
		if cut > 0 && padme(int64(cut)) == int64(cut) && errors.Is(err, ErrDamagedBundle) {
			continue // cut where a whole bundle could end: it can only say damaged or cut short
		}
		if !errors.Is(err, want) {
			t.Errorf("cut at %d of %d: %v, want %v", cut, len(file), err, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		i := len(bundleMagic) + rng.IntN(len(file)-len(bundleMagic))
		bad := bytes.Clone(file)
		bad[i] ^= 1 << rng.IntN(8)
		_, _, err := readBundle(bad, k, nil)
		if !errors.Is(err, ErrDamagedBundle) && !errors.Is(err, ErrForeignBundle) {
			t.Errorf("byte %d altered: %v", i, err)
		}
	}
	// Chunks swapped.
	bad := bytes.Clone(file)
	a, b := prefixSize, prefixSize+chunkSize+16
	copy(bad[a:b], file[b:b+chunkSize+16])
	copy(bad[b:b+chunkSize+16], file[a:b])
	if _, _, err := readBundle(bad, k, nil); !errors.Is(err, ErrDamagedBundle) {
		t.Errorf("chunks swapped: %v", err)
	}
}

func TestBundleOfAnotherNetwork(t *testing.T) {
	file, _ := writeBundle(t, bundleKey(7), repeat(10, 400), nil)
	for _, k := range []BundleKey{bundleKey(8), {Secret: bundleKey(7).Secret, Network: crdt.ID{9}}} {
		if _, _, err := readBundle(file, k, nil); !errors.Is(err, ErrForeignBundle) {
			t.Errorf("key %v: %v", k.Network, err)
		}
	}
	if _, _, err := readBundle([]byte("hello, this is a text file of some length, not a bundle at all"), bundleKey(7), nil); !errors.Is(err, ErrNotBundle) {
		t.Errorf("text file: %v", err)
	}
}

// A restricted bundle's entries do not open without the recipient's key,
// even for a member holding the network secret.
func TestRestrictedBundle(t *testing.T) {
	k := bundleKey(7)
	to := bytes.Repeat([]byte{5}, 32)
	file, _ := writeBundle(t, k, repeat(50, 400), to)
	if _, _, err := readBundle(file, k, nil); !errors.Is(err, ErrSealed) {
		t.Errorf("without the key: %v", err)
	}
	if _, _, err := readBundle(file, k, bytes.Repeat([]byte{6}, 32)); !errors.Is(err, ErrDamagedBundle) {
		t.Errorf("with another key: %v", err)
	}
}

// The file holds no byte string of the entries, nor the network ID.
func TestBundleRevealsNothing(t *testing.T) {
	k := bundleKey(7)
	file, want := writeBundle(t, k, repeat(100, 400), nil)
	for _, e := range want[:10] {
		if bytes.Contains(file, e[:12]) {
			t.Fatalf("entry %q found in the file", e[:12])
		}
	}
	if bytes.Contains(file, k.Network[:8]) {
		t.Fatal("network ID found in the file")
	}
}

// hold is entry seq of device dev on branch b (1 the main chain; a fork
// branch b leaves the main chain at seq b).
func hold(dev byte, seq uint64, b byte) Holding {
	id := func(seq uint64) crdt.ID {
		if b > 1 && seq < uint64(b) {
			return crdt.ID{1, byte(seq), dev}
		}
		return crdt.ID{b, byte(seq), dev}
	}
	h := Holding{Author: crdt.DeviceKey{dev}, Seq: seq, ID: id(seq), Clock: crdt.Clock(seq*10 + uint64(dev))}
	if seq > 1 {
		h.Prev = id(seq - 1)
	}
	return h
}

func TestSummaryRoundTrip(t *testing.T) {
	s := Summarise([]Holding{hold(1, 1, 1), hold(1, 2, 1), hold(1, 4, 1), hold(2, 1, 1), hold(2, 2, 1), hold(2, 2, 2), hold(3, 2, 1)})
	if len(s.Heads) != 2 || s.Heads[0].Seq != 2 || s.Heads[1].Seq != 2 || s.Heads[1].ID != (ShortID{}) {
		t.Fatalf("heads %+v", s.Heads)
	}
	if len(s.Extra) != 2 {
		t.Fatalf("extra %+v", s.Extra)
	}
	got, err := DecodeSummary(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	enc := s.Encode()
	for i := range enc { // every cut refused
		if _, err := DecodeSummary(enc[:i]); err == nil {
			t.Errorf("cut at %d decodes", i)
		}
	}
	if _, err := DecodeSummary(append(enc, 0)); err == nil {
		t.Error("trailing byte decodes")
	}
}

// Lacks returns exactly what the summary's node does not hold, for random
// chains with gaps and forks on either side.
func TestSummaryLacksExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 300 {
		var all []Holding
		for dev := byte(1); dev <= 5; dev++ {
			n := uint64(rng.IntN(8))
			fork := uint64(2 + rng.IntN(6)) // a second history from seq fork on, sometimes
			for seq := uint64(1); seq <= n; seq++ {
				all = append(all, hold(dev, seq, 1))
				if rng.IntN(4) == 0 && seq >= fork {
					all = append(all, hold(dev, seq, byte(fork)))
				}
			}
		}
		// The recipient holds a random subset; the exporter holds another.
		var theirs, mine []Holding
		for _, h := range all {
			if rng.IntN(3) > 0 {
				theirs = append(theirs, h)
			}
			if rng.IntN(3) > 0 {
				mine = append(mine, h)
			}
		}
		// The exporter's are accepted entries: each with the one before.
		byID := map[crdt.ID]Holding{}
		for _, h := range all {
			byID[h.ID] = h
		}
		in := map[crdt.ID]bool{}
		for i := 0; i < len(mine); i++ {
			in[mine[i].ID] = true
			if p, ok := byID[mine[i].Prev]; ok && !in[p.ID] {
				in[p.ID] = true
				mine = append(mine, p)
			}
		}
		s := Summarise(theirs)
		s, _ = DecodeSummary(s.Encode())
		sent := map[crdt.ID]bool{}
		for _, h := range s.Lacks(mine) {
			sent[h.ID] = true
		}
		has := map[crdt.ID]bool{}
		for _, h := range theirs {
			has[h.ID] = true
		}
		for _, h := range mine {
			if !has[h.ID] && !sent[h.ID] {
				t.Fatalf("round %d: %x lacked but not sent", round, h.ID[:3])
			}
		}
	}
}

func TestSummaryLacksNothingWhenEqual(t *testing.T) {
	var hs []Holding
	for dev := byte(1); dev <= 20; dev++ {
		for seq := uint64(1); seq <= 50; seq++ {
			hs = append(hs, hold(dev, seq, 1))
		}
	}
	s := Summarise(hs)
	if got := s.Lacks(hs); len(got) != 0 {
		t.Fatalf("equal sets: %d lacked", len(got))
	}
	if n := len(s.Encode()); n > 20*20 {
		t.Fatalf("summary of 20 devices takes %d bytes", n)
	}
	more := append(hs, hold(1, 51, 1), hold(21, 1, 1))
	if got := s.Lacks(more); len(got) != 2 {
		t.Fatalf("two new: %d lacked", len(got))
	}
}

// A member's file made to cost its reader (the same entry a million
// times, which DEFLATE shrinks a thousandfold) is refused early.
func TestBundleThatInflatesHugely(t *testing.T) {
	k := bundleKey(7)
	var buf bytes.Buffer
	bw, err := NewBundleWriter(&buf, k, Header{Kind: KindBundle, Network: k.Network, Part: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := bytes.Repeat([]byte("x"), 400)
	for range 400000 {
		bw.Add(e)
	}
	if err := bw.Close(true); err != nil {
		t.Fatal(err)
	}
	br, err := OpenBundle(bytes.NewReader(buf.Bytes()), k)
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for {
		es, err := br.Next()
		if errors.Is(err, ErrDamagedBundle) {
			break
		}
		if err != nil {
			t.Fatalf("after %d entries: %v, want it refused as damaged", read, err)
		}
		read += len(es)
	}
	if read > buf.Len()/entryMinBytes+entrySlack+2000 {
		t.Fatalf("read %d entries from a file of %d bytes before refusing", read, buf.Len())
	}
}

// Long bodies of one repeated character, which compress two hundredfold,
// are read: what one node writes, every node reads.
func TestBundleOfVeryCompressibleEntries(t *testing.T) {
	k := bundleKey(7)
	var buf bytes.Buffer
	bw, err := NewBundleWriter(&buf, k, Header{Kind: KindBundle, Network: k.Network, Part: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	for range 400 {
		e := bytes.Repeat([]byte("a"), 60<<10)
		for j := range 160 { // the signature, hashes and key
			e[j] = byte(rng.IntN(256))
		}
		bw.Add(e)
	}
	if err := bw.Close(true); err != nil {
		t.Fatal(err)
	}
	_, got, err := readBundle(buf.Bytes(), k, nil)
	if err != nil || len(got) != 400 {
		t.Fatalf("read %d of 400 entries from %d bytes: %v", len(got), buf.Len(), err)
	}
}

func TestPadme(t *testing.T) {
	prev := int64(0)
	for n := int64(1); n < 50<<20; n = n*5/4 + 1 {
		p := padme(n)
		if p < n || p < padMin || float64(p-n) > 0.12*float64(n)+padMin || padme(p) != p || p < prev {
			t.Fatalf("padme(%d) = %d", n, p)
		}
		prev = p
	}
}

func TestBundleWithBytesAdded(t *testing.T) {
	k := bundleKey(7)
	file, _ := writeBundle(t, k, repeat(50, 400), nil)
	for _, extra := range [][]byte{{0}, []byte("hello"), make([]byte, 512)} {
		if _, _, err := readBundle(append(bytes.Clone(file), extra...), k, nil); err == nil {
			t.Errorf("%d bytes added: read as whole", len(extra))
		}
	}
}

// Any bytes given as a bundle are refused or read, never a panic or a
// hang; a summary that decodes encodes to the same bytes.
func FuzzReadBundle(f *testing.F) {
	k := bundleKey(7)
	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, k, Header{Kind: KindBundle, Network: k.Network, Part: 1, Summary: Summary{Heads: []Head{{Device: ShortID{1}, Seq: 2}}}}, nil)
	bw.Add([]byte("an entry"))
	bw.Close(true)
	f.Add(buf.Bytes())
	f.Add(Summary{Heads: []Head{{Device: ShortID{1}, Seq: 2, ID: ShortID{3}}}, Extra: []ShortID{{4}}}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSummary(b); err == nil && !bytes.Equal(s.Encode(), b) {
			t.Fatalf("summary %x re-encodes as %x", b, s.Encode())
		}
		br, err := OpenBundle(bytes.NewReader(b), k)
		if err != nil {
			return
		}
		for range 1 << 16 {
			if _, err := br.Next(); err != nil {
				return
			}
		}
		t.Fatal("a bundle of a fuzzed file never ends")
	})
}
