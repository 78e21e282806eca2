// Package puritytest checks that a package is pure, as crdt is: its own
// code never calls the network, storage, the clock or a random source
// (time and randomness are arguments; I/O is the caller's), and nothing
// it depends on reaches the network, SQL or other processes. The rule is
// about what the package's own code calls, not about what the standard
// library links: crypto/ed25519 links crypto/rand (for GenerateKey, never
// called). crdt, node/ident and node/seal run it from their tests; it is
// for tests only (it runs the go tool), and is not itself pure.
package puritytest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Rule is what one pure package may not do.
type Rule struct {
	// Self is the package's import path.
	Self string
	// Imports are forbidden to the package's own files, besides those
	// every pure package is denied (BaseImports).
	Imports []string
	// Reach are forbidden anywhere among its dependencies, besides
	// BaseReach.
	Reach []string
	// RandomFile, if set, is the one file that may import crypto/rand.
	RandomFile string
	// Says is what a failure says the package must not do.
	Says string
	// MinFiles is how many source files the package has at least (a
	// check that reads none would pass).
	MinFiles int
}

var (
	// BaseImports are never imported by a pure package's own files.
	BaseImports = []string{"net", "database/sql", "os", "os/exec", "syscall", "math/rand", "math/rand/v2", "crypto/rand", "io/fs"}
	// BaseReach are reached by no dependency of a pure package.
	BaseReach = []string{"net", "database/sql", "os/exec"}
	// clockCalls are the functions of package time that read the clock
	// or wait on it.
	clockCalls = []string{"Now", "Since", "Until", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker", "Sleep"}
)

func (r Rule) forbidden(path string, list []string) bool {
	if path == r.Self {
		return false
	}
	for _, f := range list {
		if path == f || strings.HasPrefix(path, f+"/") {
			return true
		}
	}
	return strings.Contains(path, "libp2p") || strings.Contains(path, "sqlite")
}

// Impurities lists what a source file imports or calls against the rule.
func (r Rule) Impurities(fset *token.FileSet, f *ast.File) []string {
	var out []string
	imports := append(append([]string{}, BaseImports...), r.Imports...)
	timeNames := map[string]bool{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if path == "crypto/rand" && r.RandomFile != "" && filepath.Base(fset.Position(f.Pos()).Filename) == r.RandomFile {
			continue
		}
		if r.forbidden(path, imports) {
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

// CheckCode checks the package's own source files, in the current
// directory (a test's).
func CheckCode(t *testing.T, r Rule) {
	t.Helper()
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
		for _, what := range r.Impurities(fset, f) {
			t.Errorf("%s %s: %s", name, what, r.Says)
		}
		checked++
	}
	if checked < r.MinFiles {
		t.Fatalf("checked %d files, want %d or more", checked, r.MinFiles)
	}
}

// CheckDependencies checks every package the one in the current directory,
// and any package below it, depends on (a package below crdt/ is part of
// crdt too).
func CheckDependencies(t *testing.T, r Rule) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, r.Self) {
		t.Fatalf("go list -deps gave %d packages, without %s", len(deps), r.Self)
	}
	reach := append(append([]string{}, BaseReach...), r.Reach...)
	for _, dep := range deps {
		if r.forbidden(dep, reach) {
			t.Errorf("%s reaches %s", r.Self, dep)
		}
	}
}

// CheckCatches checks that the rule finds, in each source, as many
// impurities as it says.
func CheckCatches(t *testing.T, r Rule, cases map[string]int) {
	t.Helper()
	for src, want := range cases {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Impurities(fset, f); len(got) != want {
			t.Errorf("%q: found %v, want %d", src, got, want)
		}
	}
}
