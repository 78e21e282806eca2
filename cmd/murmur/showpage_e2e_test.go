package main

import (
	"fmt"
	"strings"
	"testing"
)

// `request show` lists the latest responses, and pages back to earlier
// ones with --before, as its output says how.
func TestCLIRequestShowPagesBack(t *testing.T) {
	a := newCLI(t, t.TempDir())
	a.ok("init", "--org", "Alpha Fund", "--no-passphrase")
	req := a.write("request", "new", "--kind", "verification", "--title", "Who knows this lawyer?")
	var written []string
	for i := range 5 {
		written = append(written, a.write("respond", req[:12], "--type", "comment", "--body", fmt.Sprint("note ", i)))
	}
	type shown struct {
		Responses []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"responses"`
		Earlier bool `json:"earlier_responses"`
		Count   int  `json:"response_count"` // all of them, whatever the page
	}
	var walked []string
	before := ""
	for range len(written) + 1 {
		var s shown
		args := []string{"request", "show", req[:12], "--limit", "2"}
		if before != "" {
			args = append(args, "--before", before)
		}
		a.json(&s, args...)
		if s.Count != len(written) {
			t.Fatalf("response_count %d on a page of %d, want %d", s.Count, len(s.Responses), len(written))
		}
		var ids []string
		for _, r := range s.Responses {
			ids = append(ids, r.ID)
		}
		walked = append(ids, walked...)
		text := a.ok(args...).stdout
		hint := fmt.Sprintf("murmur request show %s --before %s --limit 2", req[:8], walked[0][:8]) // (the page size kept)
		if s.Earlier != strings.Contains(text, hint) {
			t.Fatalf("earlier responses %v, but the text says (want %q):\n%s", s.Earlier, hint, text)
		}
		if !s.Earlier {
			break
		}
		before = walked[0][:8]
	}
	if strings.Join(walked, " ") != strings.Join(written, " ") {
		t.Fatalf("the pages list\n%v\nwant, oldest first\n%v", walked, written)
	}

	// Bad input is refused plainly, and changes nothing.
	same := a.unchanged()
	for _, args := range [][]string{
		{"--before", "00000000"},                // no such response
		{"--before", req[:12]},                  // the request itself, not a response to it
		{"--before", "xyz"},                     // not an ID
		{"--limit", "0"}, {"--limit", "100000"}, // out of range
	} {
		r := a.run(append([]string{"request", "show", req[:12]}, args...)...)
		refused(t, r, 2)
		if strings.Contains(r.stderr, "node.") || strings.Contains(r.stderr, "crdt") {
			t.Errorf("the refusal names internals:\n%s", r)
		}
	}
	same(result{args: []string{"request show with bad paging"}})

	// A response's ID where a request's belongs is named for what it is,
	// with the request it answers.
	r := a.run("request", "show", written[0][:12])
	if r.code == 0 || !strings.Contains(r.stderr, "is a response, not a request: it answers request "+req[:8]) {
		t.Errorf("request show RESPONSE:\n%s", r)
	}
}
