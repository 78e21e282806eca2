package p2p

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The runtime talks to the application core through Core only: neither
// this package nor anything of this module it imports imports node.
func TestRuntimeDoesNotImportTheCore(t *testing.T) {
	const module = "github.com/murmurnet/murmur"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var visit func(pkg string, via []string)
	visit = func(pkg string, via []string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		if pkg == module+"/node" {
			t.Errorf("%s imports node", strings.Join(via, " → "))
			return
		}
		dir := filepath.Join(root, strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/"))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path == module || strings.HasPrefix(path, module+"/") {
					visit(path, append(via[:len(via):len(via)], path))
				}
			}
		}
	}
	visit(module+"/node/p2p", []string{"node/p2p"})
	if !seen[module+"/node/runfile"] || !seen[module+"/crdt"] {
		t.Fatalf("the walk missed what node/p2p imports: %v", seen)
	}
}
