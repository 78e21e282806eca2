package crdt

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

func benchEntries(b *testing.B, n int) (*tnet, []*Entry) {
	f := newDev(1)
	net := newNet(b, f, 1)
	var es []*Entry
	for i := 0; i < n; i++ {
		es = append(es, net.request(f, fmt.Sprintf("request %d with a title of ordinary length", i)))
	}
	return net, es
}

func BenchmarkDecode(b *testing.B) {
	_, es := benchEntries(b, 1)
	raw := es[0].Raw()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	_, es := benchEntries(b, 1)
	raw := es[0].Raw()
	b.Run("murmur", func(b *testing.B) {
		for b.Loop() {
			if _, err := Verify(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib-ed25519-only", func(b *testing.B) {
		e := es[0]
		msg := e.signedMessage()
		for b.Loop() {
			if !ed25519.Verify(e.Author[:], msg, e.Sig[:]) {
				b.Fatal("bad")
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	f := newDev(1)
	body, _ := EncodeBody(&Request{Type: Verification, Title: "t"})
	b.Run("murmur", func(b *testing.B) {
		for b.Loop() {
			Sign(f.priv, Draft{Network: ID{1}, Seq: 1, Clock: 1, Kind: KindRequest, Body: body})
		}
	})
	b.Run("stdlib-ed25519-only", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(f.priv, body)
		}
	})
}

// BenchmarkApply: the steady state, a new entry by a member on top of a
// state that already holds many.
func BenchmarkApply(b *testing.B) {
	net, es := benchEntries(b, 20000)
	s := NewState(net.network, DefaultLimits())
	s.Apply(net.all[0])
	s.ApplyBatch(es[:10000])
	rest := es[10000:]
	i := 0
	for b.Loop() {
		if i == len(rest) {
			b.StopTimer()
			s = NewState(net.network, DefaultLimits())
			s.Apply(net.all[0])
			s.ApplyBatch(es[:10000])
			i = 0
			b.StartTimer()
		}
		s.Apply(rest[i])
		i++
	}
}
