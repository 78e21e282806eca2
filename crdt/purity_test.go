package crdt

import (
	"testing"

	"github.com/murmurnet/murmur/testnet/puritytest"
)

// crdt is pure: it never calls the network, SQL, the clock or a random
// source. Time and randomness are arguments; I/O is the caller's.
var purity = puritytest.Rule{
	Self:     "github.com/murmurnet/murmur/crdt",
	Says:     "crdt must not touch the network, SQL, the clock or a random source",
	MinFiles: 10,
}

func TestPureCode(t *testing.T) { puritytest.CheckCode(t, purity) }

func TestPureDependencies(t *testing.T) { puritytest.CheckDependencies(t, purity) }

// The checker itself finds what it must.
func TestPureCodeCatches(t *testing.T) {
	puritytest.CheckCatches(t, purity, map[string]int{
		"package p\nimport \"time\"\nfunc f() { _ = time.Now() }":                           1,
		"package p\nimport clock \"time\"\nfunc f() { _ = clock.Since(clock.Time{}) }":      1,
		"package p\nimport \"crypto/rand\"\nfunc f() { rand.Read(nil) }":                    1,
		"package p\nimport \"math/rand/v2\"\nfunc f() { _ = rand.Int() }":                   1,
		"package p\nimport \"net\"\nvar _ net.Conn":                                         1,
		"package p\nimport \"time\"\nfunc f(t time.Time) time.Duration { return t.Sub(t) }": 0,
		"package p\nimport \"crypto/ed25519\"\nvar _ = ed25519.Sign":                        0,
	})
}
