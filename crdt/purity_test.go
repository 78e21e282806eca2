package crdt

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// crdt is pure: no network, no SQL, no clock, no random source. Time and
// randomness are arguments; I/O is the caller's.
var (
	// Not imported by the package's own files.
	forbiddenDirect = []string{"net", "database/sql", "os", "os/exec", "syscall", "time", "math/rand", "math/rand/v2", "crypto/rand", "io/fs"}
	// Not reachable at all, through any dependency.
	forbiddenReach = []string{"net", "database/sql", "os/exec", "math/rand", "math/rand/v2", "crypto/rand"}
)

func forbidden(path string, list []string) bool {
	for _, f := range list {
		if path == f || strings.HasPrefix(path, f+"/") {
			return true
		}
	}
	return strings.Contains(path, "libp2p") || strings.Contains(path, "sqlite")
}

func TestPureImports(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden(path, forbiddenDirect) {
				t.Errorf("%s imports %s: crdt must not touch the network, SQL, the clock or a random source", name, path)
			}
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
