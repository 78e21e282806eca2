package crdt

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

// crdt is pure: it never calls the network, SQL, the clock or a random
// source. Time and randomness are arguments; I/O is the caller's. The rule
// is about what crdt's own code calls, not about what the standard library
// links: crypto/ed25519 links crypto/rand (for GenerateKey, never called
// here).
var (
	// Not imported by the package's own files.
	forbiddenImports = []string{"net", "database/sql", "os", "os/exec", "syscall", "math/rand", "math/rand/v2", "crypto/rand", "io/fs"}
	// Not reachable at all, through any dependency.
	forbiddenReach = []string{"net", "database/sql", "os/exec"}
	// Functions of package time that read the clock or wait on it.
	clockCalls = []string{"Now", "Since", "Until", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker", "Sleep"}
)

func forbidden(path string, list []string) bool {
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
			t.Errorf("%s %s: crdt must not touch the network, SQL, the clock or a random source", name, what)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked %d files", checked)
	}
}

// The checker itself finds what it must.
func TestPureCodeCatches(t *testing.T) {
	for src, want := range map[string]int{
		"package p\nimport \"time\"\nfunc f() { _ = time.Now() }":                           1,
		"package p\nimport clock \"time\"\nfunc f() { _ = clock.Since(clock.Time{}) }":      1,
		"package p\nimport \"crypto/rand\"\nfunc f() { rand.Read(nil) }":                    1,
		"package p\nimport \"math/rand/v2\"\nfunc f() { _ = rand.Int() }":                   1,
		"package p\nimport \"time\"\nfunc f(t time.Time) time.Duration { return t.Sub(t) }": 0,
		"package p\nimport \"crypto/ed25519\"\nvar _ = ed25519.Sign":                        0,
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
	for _, dep := range strings.Fields(string(out)) {
		if forbidden(dep, forbiddenReach) {
			t.Errorf("crdt reaches %s", dep)
		}
	}
}
