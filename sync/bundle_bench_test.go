package sync

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// benchWords are what the benchmark's request texts are drawn from: a few
// hundred words, so that DEFLATE takes the text to about a third, as it
// does prose, and not to nothing, as it does one repeated letter.
var benchWords = strings.Fields(`the a of to and in for on with after before at by from was were is are has had have been
	his her their our they she he we who which that this when while since until about against police officers soldiers
	militia unknown men group local authorities district court magistrate prosecutor lawyer family children mother brother
	colleagues neighbours landlord employer arrested detained released charged questioned summoned beaten threatened
	followed photographed visited raided searched seized evicted dismissed suspended banned blocked hacked reported
	published posted filmed interviewed organised attended protested appealed fled moved hid returned stayed asks needs
	phone laptop camera office house home shop farm land school clinic hospital station cell prison border bus taxi night
	morning evening week month year days weeks months story article broadcast report video photos documents evidence
	statement complaint case hearing bail fee rent transport food medicine treatment shelter housing relocation visa
	passport safe urgent serious injured sick elderly alone publicly secretly warrant reason notice access contact support
	mining company plantation project road market cooperative union network committee council election campaign vote
	candidate party opposition government ministry governor chief village town region north south east west corruption
	violence abuse torture harassment intimidation surveillance censorship discrimination rights freedom expression
	assembly press justice health education partner organisation verified confirmed trusted referred`)

// benchBundleEntries signs n request entries, from five authors, whose
// bodies are case-note text (text) or one repeated letter, and returns
// them with their total encoded size.
func benchBundleEntries(b *testing.B, n int, text bool) ([][]byte, int64) {
	b.Helper()
	network := crdt.ID{9, 9}
	type author struct {
		priv  []byte
		seq   uint64
		head  crdt.ID
		clock crdt.Clock
	}
	authors := make([]*author, 5)
	for i := range authors {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(100+i))
		authors[i] = &author{priv: crdt.KeyFromSeed(seed)}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	raws := make([][]byte, n)
	var total int64
	for i := range raws {
		r := &crdt.Request{Type: crdt.Verification, Title: fmt.Sprintf("Applicant %d", i), Region: "TZ"}
		if text {
			var sb strings.Builder
			fmt.Fprintf(&sb, "Ref TZ-%05d. ", rng.IntN(100000))
			for sb.Len() < 160 {
				sb.WriteString(benchWords[rng.IntN(len(benchWords))])
				sb.WriteByte(' ')
			}
			r.Text = sb.String()
		} else {
			r.Text = strings.Repeat("x", 160)
		}
		body, err := crdt.EncodeBody(r)
		if err != nil {
			b.Fatal(err)
		}
		a := authors[i%len(authors)]
		e, err := crdt.Sign(a.priv, crdt.Draft{Network: network, Seq: a.seq + 1, Prev: a.head,
			Clock: crdt.NextClock(a.clock, 0, 1700000000000+uint64(i)), Kind: crdt.KindRequest, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		a.seq, a.head, a.clock = e.Seq, e.ID(), e.Clock
		raws[i] = e.Raw()
		total += int64(len(raws[i]))
	}
	return raws, total
}

func benchBundleWrite(raws [][]byte, k BundleKey) ([]byte, error) {
	var buf bytes.Buffer
	bw, err := NewBundleWriter(&buf, k, Header{Kind: KindBundle, Network: k.Network, Made: time.UnixMilli(1700000000000), Part: 1}, nil)
	if err != nil {
		return nil, err
	}
	for _, raw := range raws {
		if err := bw.Add(raw); err != nil {
			return nil, err
		}
	}
	if err := bw.Close(true); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BenchmarkBundleWrite writes a bundle of 10,000 signed entries (the
// framing, DEFLATE and the encryption), and reports its size against the
// entries' encoded size (target: at most 1).
func BenchmarkBundleWrite(b *testing.B) {
	for _, text := range []bool{true, false} {
		b.Run(bodiesName(text), func(b *testing.B) {
			raws, encoded := benchBundleEntries(b, 10_000, text)
			k := BundleKey{Secret: bytes.Repeat([]byte{7}, 32), Network: crdt.ID{9, 9}}
			b.SetBytes(encoded)
			var file []byte
			for b.Loop() {
				var err error
				if file, err = benchBundleWrite(raws, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(file))/float64(len(raws)), "file-bytes/entry")
			b.ReportMetric(float64(len(file))/float64(encoded), "x-encoded")
		})
	}
}

// BenchmarkBundleRead reads such a bundle back whole: the decryption,
// inflation and framing an import pays before it verifies anything.
func BenchmarkBundleRead(b *testing.B) {
	for _, text := range []bool{true, false} {
		b.Run(bodiesName(text), func(b *testing.B) {
			raws, encoded := benchBundleEntries(b, 10_000, text)
			k := BundleKey{Secret: bytes.Repeat([]byte{7}, 32), Network: crdt.ID{9, 9}}
			file, err := benchBundleWrite(raws, k)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(encoded)
			for b.Loop() {
				br, err := OpenBundle(bytes.NewReader(file), k)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					es, err := br.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got += len(es)
				}
				if got != len(raws) {
					b.Fatalf("read %d entries of %d", got, len(raws))
				}
			}
		})
	}
}

func bodiesName(text bool) string {
	if text {
		return "bodies=text"
	}
	return "bodies=repeated"
}
