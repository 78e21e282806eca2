package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The catch-up benchmark must keep working: run it small.
func TestCatchUpRuns(t *testing.T) {
	var out bytes.Buffer
	if err := catchUp(context.Background(), &out, 2000, time.Microsecond); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"catch-up: a fresh node pulls 2000 entries", "x the floor", "bytes on the wire per entry", "x the encoded size"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}
