package seal

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"

	"github.com/murmurnet/murmur/testnet/puritytest"
)

// seal is pure, as crdt is (crdt/purity_test.go): it takes keys and bytes and
// returns bytes, and never touches the network, storage or the clock, nor
// knows the node that uses it. Its one source of randomness is random in
// random.go, the only file that may import crypto/rand, and which holds
// nothing else.
var purity = puritytest.Rule{
	Self:       "github.com/murmurnet/murmur/node/seal",
	Imports:    []string{"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"},
	Reach:      []string{"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"},
	RandomFile: randomFile,
	Says:       "seal must not touch the network, storage, the node or the clock, and reads randomness only in " + randomFile,
	MinFiles:   3,
}

// randomFile is the file of the package's one random source.
const randomFile = "random.go"

func TestPureCode(t *testing.T) { puritytest.CheckCode(t, purity) }

func TestPureDependencies(t *testing.T) { puritytest.CheckDependencies(t, purity) }

// The file allowed crypto/rand holds the random source and nothing else,
// so that no other code reaches crypto/rand through it unnoticed.
func TestOneRandomSource(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), randomFile, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			names = append(names, d.Name.Name)
		case *ast.GenDecl:
			if d.Tok != token.IMPORT {
				names = append(names, d.Tok.String())
			}
		}
	}
	if len(names) != 1 || names[0] != "random" {
		t.Errorf("%s declares %v, want only func random", randomFile, names)
	}
}

// The checker itself finds what it must.
func TestPureCodeCatches(t *testing.T) {
	puritytest.CheckCatches(t, purity, map[string]int{
		"package p\nimport \"time\"\nfunc f() { _ = time.Now() }":                           1,
		"package p\nimport clock \"time\"\nfunc f() { _ = clock.Since(clock.Time{}) }":      1,
		"package p\nimport \"crypto/rand\"\nfunc f() { rand.Read(nil) }":                    1,
		"package p\nimport \"math/rand/v2\"\nfunc f() { _ = rand.Int() }":                   1,
		"package p\nimport \"github.com/murmurnet/murmur/node\"\nvar _ = node.ErrInput":     1,
		"package p\nimport \"github.com/murmurnet/murmur/store\"\nvar _ store.Store":        1,
		"package p\nimport \"github.com/libp2p/go-libp2p/core/peer\"\nvar _ peer.ID":        1,
		"package p\nimport \"time\"\nfunc f(t time.Time) time.Duration { return t.Sub(t) }": 0,
		"package p\nimport \"golang.org/x/crypto/curve25519\"\nvar _ = curve25519.X25519":   0,
	})
}
