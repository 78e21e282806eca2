package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The benchmark command must keep working: run it small.
func TestBenchRuns(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{entries: 300, batch: 100, appends: 20, authors: 3, reconN: []int{1000}, satellite: 64}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"floor: ed25519 verify + SQLite insert", "ingest:", "append:", "x the 1-core floor", "round trips", "satellite: a day's work", "on the wire / entries"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
