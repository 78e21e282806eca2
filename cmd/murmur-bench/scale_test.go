package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestMain lets this test binary be the small process that measures a
// command's peak RSS, as the benchmark's own binary is (runMeasured).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == rssFlag {
		os.Exit(runMeasured(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// The scale section must keep working: run it small, with two sizes so
// that the growth lines print too.
func TestScaleRuns(t *testing.T) {
	var out bytes.Buffer
	if err := scale(context.Background(), &out, []int{1000, 2000}, 3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scale: real murmur CLI processes", "request show", "respond", " ms / ", " MB", "murmur run RSS at 2000 / at 1000 entries: ", "murmur run printed its address", "status right after a write"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("1000000, 100_000,0")
	if err != nil || len(got) != 2 || got[0] != 100_000 || got[1] != 1_000_000 {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	if _, err := parseSizes("many"); err == nil {
		t.Fatal("parseSizes took words")
	}
}
