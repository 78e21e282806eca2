package main

import (
	"bytes"
	"compress/flate"
	"context"
	"strings"
	"testing"
)

// The bundle section must keep working: run it small.
func TestBundlesRuns(t *testing.T) {
	var out bytes.Buffer
	if err := bundles(context.Background(), &out, 500, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"repeated-letter bodies", "case-note bodies", "x catch"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

// Case notes are bodySize bytes, differ from one another, and do not
// compress like a repeated letter.
func TestCaseNotes(t *testing.T) {
	var all bytes.Buffer
	seen := map[string]bool{}
	for i := range 1000 {
		b := caseNote(i)
		if len(b) != bodySize {
			t.Fatalf("case note %d is %d bytes", i, len(b))
		}
		seen[string(b)] = true
		all.Write(b)
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct case notes of 1000", len(seen))
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.DefaultCompression)
	zw.Write(all.Bytes())
	zw.Close()
	if ratio := float64(z.Len()) / float64(all.Len()); ratio < 0.25 {
		t.Fatalf("case notes compress to %.2f of their size: too repetitive to stand for text", ratio)
	} else {
		t.Logf("case notes compress to %.2f of their size", ratio)
	}
}
