package node

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/node/ident"
)

// Every refusal the code gives names a code with English words, and
// gives its words as many facts as they say.
func TestEveryRefusalHasItsWords(t *testing.T) {
	words := ident.RefusalCodes()
	verbs := regexp.MustCompile(`%(\[\d+\])?[sdqv]`)
	// The name of each function that makes a refusal, and where its code is
	// among its arguments.
	makers := map[string]int{"refuse": 0, "refuseInput": 0, "refuseWrapping": 1, "Refuse": 0, "RefuseInput": 0}
	used := map[string]bool{}
	for _, dir := range []string{".", "ident"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") || filepath.Base(name) == "refusal.go" {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, name, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var fn string
				switch x := call.Fun.(type) {
				case *ast.Ident:
					fn = x.Name
				case *ast.SelectorExpr:
					fn = x.Sel.Name
				}
				at, ok := makers[fn]
				if !ok || len(call.Args) <= at {
					return true
				}
				lit, ok := call.Args[at].(*ast.BasicLit)
				if !ok {
					t.Errorf("%s: %s without a literal code", fset.Position(call.Pos()), fn)
					return true
				}
				code, _ := strconv.Unquote(lit.Value)
				used[code] = true
				format, ok := words[code]
				if !ok {
					t.Errorf("%s: refusal %q has no words", fset.Position(call.Pos()), code)
					return true
				}
				if want, got := len(verbs.FindAllString(format, -1)), len(call.Args)-at-1; want != got {
					t.Errorf("%s: refusal %q says %d facts, is given %d", fset.Position(call.Pos()), code, want, got)
				}
				return true
			})
		}
	}
	for code := range words {
		if !used[code] {
			t.Errorf("refusal %q is defined but never given", code)
		}
	}
}
