package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Plant 1,000 marker strings in the bodies of requests and responses, then
// wipe: the data directory is gone, and every file it held — looked at
// through a hard link taken before the wipe, which keeps the same inode —
// has been overwritten: none of the markers can be read back.
func TestWipeLeavesNothingReadable(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	n, err := Init(ctx, dir, InitOptions{Org: "Alpha Fund", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	const markers = 1000
	marker := func(i int) string { return fmt.Sprintf("MARKER-%04d-zq", i) }
	var last string
	sealed := map[int]bool{}
	for i := 0; i < markers; i++ {
		if i%4 == 0 { // a sealed request: its marker is never in clear
			sealed[i] = true
			if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "sealed " + marker(i), Body: "details " + marker(i), To: []string{n.Org().String()}, Sealed: true}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if i%2 == 0 || last == "" {
			e, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "case " + marker(i), Body: "details " + marker(i)})
			if err != nil {
				t.Fatal(err)
			}
			last = e.ID().String()
			continue
		}
		if _, err := n.Respond(ctx, ResponseInput{Request: last, Type: "comment", Body: "note " + marker(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.RecordGrant(ctx, GrantInput{Applicants: []string{"id:" + marker(0)}, Amount: "1", Currency: "USD", Support: "medical"}); err != nil {
		t.Fatal(err)
	}
	n.Close()

	// Hard links to every file, taken before the wipe.
	links := filepath.Join(t.TempDir(), "links")
	if err := os.Mkdir(links, 0o700); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, de := range des {
		if err := os.Link(filepath.Join(dir, de.Name()), filepath.Join(links, de.Name())); err != nil {
			t.Skipf("hard links are not available here: %v", err)
		}
		fi, _ := de.Info()
		sizes[de.Name()] = fi.Size()
	}
	found := func() (int, []string) {
		seen := map[int]bool{}
		defer func() {
			for i := range seen {
				if sealed[i] {
					t.Errorf("the marker of sealed request %d is in clear", i)
				}
			}
		}()
		var where []string
		for name := range sizes {
			b, err := os.ReadFile(filepath.Join(links, name))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < markers; i++ {
				if bytes.Contains(b, []byte(marker(i))) && !seen[i] {
					seen[i] = true
					where = append(where, name)
				}
			}
		}
		return len(seen), where
	}
	// The database is sealed at rest: no marker is in clear even before
	// the wipe. What the wipe must destroy is then the sealed bytes (the
	// device key opens them): samples of every file's random-looking
	// content, taken before.
	if n, where := found(); n != 0 {
		t.Fatalf("before the wipe, %d markers are in clear (in %v)", n, where)
	}
	samples := contentSamples(t, links)
	if len(samples[dbName]) < 100 {
		t.Fatalf("only %d samples of %s's sealed content: the test would prove nothing", len(samples[dbName]), dbName)
	}
	for _, name := range []string{keyName, pskName, secretName, dbName} {
		if _, ok := sizes[name]; !ok {
			t.Fatalf("no %s to wipe: %v", name, sizes)
		}
	}

	if err := Wipe(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory is still there: %v", err)
	}
	if n, where := found(); n != 0 {
		t.Fatalf("%d markers can still be read after the wipe (in %v)", n, where)
	}
	for name, ss := range samples {
		b, err := os.ReadFile(filepath.Join(links, name))
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, sample := range ss {
			if bytes.Contains(b, sample) {
				left++
			}
		}
		if left > 0 {
			t.Errorf("%s: %d of %d samples of its content survive the wipe", name, left, len(ss))
		}
	}
	for name, size := range sizes {
		fi, err := os.Stat(filepath.Join(links, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != size {
			t.Errorf("%s: %d bytes after the wipe, %d before (overwritten in place, not truncated)", name, fi.Size(), size)
		}
	}
}

// contentSamples takes, from each file in dir, 32-byte windows every 256
// bytes that look random (at least 24 distinct byte values: sealed bytes,
// keys), which a wipe must leave in no file.
func contentSamples(t *testing.T, dir string) map[string][][]byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+32 <= len(b); off += 256 {
			w := b[off : off+32]
			distinct := map[byte]bool{}
			for _, c := range w {
				distinct[c] = true
			}
			if len(distinct) >= 24 {
				out[de.Name()] = append(out[de.Name()], bytes.Clone(w))
			}
		}
	}
	return out
}

func TestWipeRefusesWhatIsNotADataDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "thesis.txt"), []byte("years of work"), 0o600)
	if IsDataDir(dir) {
		t.Fatal("a directory of someone's files taken for a data directory")
	}
}
