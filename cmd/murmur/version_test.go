package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/store"
)

// murmur version answers as CLI.md says: version, commit, Go version and
// the data format, which is the database schema this release writes.
func TestVersion(t *testing.T) {
	var out, errs bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
	if code := run(e, []string{"version", "--json"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"version", "commit", "go", "format"} {
		if _, ok := v[k]; !ok {
			t.Errorf("no %q in %s", k, out.String())
		}
	}
	if f, _ := v["format"].(float64); int(f) != store.SchemaVersion() || f < 9 {
		t.Errorf("format %v, want the schema version %d", v["format"], store.SchemaVersion())
	}
	out.Reset()
	if code := run(e, []string{"version"}); code != 0 || !strings.HasPrefix(out.String(), "murmur ") || !strings.Contains(out.String(), "data format") {
		t.Errorf("exit %d, %q", code, out.String())
	}
}
