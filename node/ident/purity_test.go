package ident

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ident is pure, as crdt is (crdt/purity_test.go): it normalises what people
// type and never touches the network, storage, the clock or a random source,
// nor knows the node that uses it.
var (
	// Not imported by the package's own files.
	forbiddenImports = []string{"net", "database/sql", "os", "os/exec", "syscall", "math/rand", "math/rand/v2", "crypto/rand", "io/fs",
		"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"}
	// Not reachable at all, through any dependency.
	forbiddenReach = []string{"net", "database/sql", "os/exec",
		"github.com/murmurnet/murmur/node", "github.com/murmurnet/murmur/store", "github.com/murmurnet/murmur/sync"}
	// Functions of package time that read the clock or wait on it.
	clockCalls = []string{"Now", "Since", "Until", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker", "Sleep"}
)

const self = "github.com/murmurnet/murmur/node/ident"

func forbidden(path string, list []string) bool {
	if path == self {
		return false
	}
	for _, f := range list {
		if path == f || strings.HasPrefix(path, f+"/") {
			return true
		}
	}
	return strings.Contains(path, "libp2p") || strings.Contains(path, "sqlite")
}

// impurities lists what a source file imports or calls against the rule.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var out []string
	timeNames := map[string]bool{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if forbidden(path, forbiddenImports) {
			out = append(out, "imports "+path)
		}
		if path == "time" {
			name := "time"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if name == "." || name == "_" {
				out = append(out, "imports time as "+name)
			}
			timeNames[name] = true
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && timeNames[x.Name] && x.Obj == nil {
			for _, c := range clockCalls {
				if sel.Sel.Name == c {
					out = append(out, fmt.Sprintf("%s: uses time.%s", fset.Position(sel.Pos()), c))
				}
			}
		}
		return true
	})
	return out
}

func TestPureCode(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, what := range impurities(fset, f) {
			t.Errorf("%s %s: ident must not touch the network, storage, the node, the clock or a random source", name, what)
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("checked %d files", checked)
	}
}

// The checker itself finds what it must.
func TestPureCodeCatches(t *testing.T) {
	for src, want := range map[string]int{
		"package p\nimport \"time\"\nfunc f() { _ = time.Now() }":                            1,
		"package p\nimport clock \"time\"\nfunc f() { _ = clock.Since(clock.Time{}) }":       1,
		"package p\nimport \"crypto/rand\"\nfunc f() { rand.Read(nil) }":                     1,
		"package p\nimport \"math/rand/v2\"\nfunc f() { _ = rand.Int() }":                    1,
		"package p\nimport \"github.com/murmurnet/murmur/node\"\nvar _ = node.ErrInput":      1,
		"package p\nimport \"github.com/murmurnet/murmur/store\"\nvar _ store.Store":         1,
		"package p\nimport \"github.com/libp2p/go-libp2p/core/peer\"\nvar _ peer.ID":         1,
		"package p\nimport \"time\"\nfunc f(t time.Time) time.Duration { return t.Sub(t) }":  0,
		"package p\nimport \"github.com/murmurnet/murmur/crdt\"\nvar _ = crdt.CheckLanguage": 0,
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := impurities(fset, f); len(got) != want {
			t.Errorf("%q: found %v, want %d", src, got, want)
		}
	}
}

func TestPureDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps gave %d packages, not ending with %s", len(deps), self)
	}
	for _, dep := range deps {
		if forbidden(dep, forbiddenReach) {
			t.Errorf("ident reaches %s", dep)
		}
	}
}
