package ident

import (
	"testing"

	"github.com/murmurnet/murmur/testnet/puritytest"
)

// ident is pure, as crdt is (crdt/purity_test.go): it normalises what people
// type and never touches the network, storage, the clock or a random
// source, nor knows the node that uses it.
var purity = puritytest.Rule{
	Self:     "github.com/murmurnet/murmur/node/ident",
	Imports:  []string{"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"},
	Reach:    []string{"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"},
	Says:     "ident must not touch the network, storage, the node, the clock or a random source",
	MinFiles: 4,
}

func TestPureCode(t *testing.T) { puritytest.CheckCode(t, purity) }

func TestPureDependencies(t *testing.T) { puritytest.CheckDependencies(t, purity) }

// The checker itself finds what it must.
func TestPureCodeCatches(t *testing.T) {
	puritytest.CheckCatches(t, purity, map[string]int{
		"package p\nimport \"time\"\nfunc f() { _ = time.Now() }":                            1,
		"package p\nimport clock \"time\"\nfunc f() { _ = clock.Since(clock.Time{}) }":       1,
		"package p\nimport \"crypto/rand\"\nfunc f() { rand.Read(nil) }":                     1,
		"package p\nimport \"math/rand/v2\"\nfunc f() { _ = rand.Int() }":                    1,
		"package p\nimport \"github.com/murmurnet/murmur/node\"\nvar _ = node.ErrInput":      1,
		"package p\nimport \"github.com/murmurnet/murmur/store\"\nvar _ store.Store":         1,
		"package p\nimport \"github.com/libp2p/go-libp2p/core/peer\"\nvar _ peer.ID":         1,
		"package p\nimport \"time\"\nfunc f(t time.Time) time.Duration { return t.Sub(t) }":  0,
		"package p\nimport \"github.com/murmurnet/murmur/crdt\"\nvar _ = crdt.CheckLanguage": 0,
	})
}
