package main

import "testing"

// The node and the commands run under soft memory limits, unless
// GOMEMLIMIT gives one.
func TestMemoryLimit(t *testing.T) {
	none := func(string) string { return "" }
	if l, ok := memoryLimit([]string{"run", "--dir", "d"}, none); !ok || l != runMemoryLimit || l > 150<<20 {
		t.Fatalf("run: %d %v", l, ok)
	}
	if l, ok := memoryLimit([]string{"status"}, none); !ok || l != commandMemoryLimit {
		t.Fatalf("status: %d %v", l, ok)
	}
	if _, ok := memoryLimit([]string{"run"}, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}); ok {
		t.Fatal("a limit set over GOMEMLIMIT")
	}
}
