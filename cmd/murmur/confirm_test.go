package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// confirm on a (pretend) terminal asks y/N; without one it needs --yes.
func TestConfirm(t *testing.T) {
	terminal := true
	defer func(f func(io.Reader) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Reader) bool { return terminal }

	for _, tc := range []struct {
		name       string
		terminal   bool
		json, yes  bool
		input      string
		code       int  // exit status of the error; 0: confirmed
		wantPrompt bool // the details and the question are on stderr
	}{
		{"yes on a terminal", true, false, false, "y\n", 0, true},
		{"YES on a terminal", true, false, false, " YES \n", 0, true},
		{"just Enter", true, false, false, "\n", 1, true},
		{"no", true, false, false, "n\n", 1, true},
		{"end of input", true, false, false, "", 1, true},
		{"--yes", true, false, true, "", 0, false},
		{"--json on a terminal", true, true, false, "y\n", 2, false},
		{"--json --yes", true, true, true, "", 0, false},
		{"not a terminal", false, false, false, "y\n", 2, false},
		{"not a terminal, --yes", false, false, true, "", 0, false},
	} {
		terminal = tc.terminal
		var stderr bytes.Buffer
		e := &env{ctx: context.Background(), stdin: strings.NewReader(tc.input), stdout: io.Discard, stderr: &stderr}
		c := newFlags(e, "device revoke", "", "")
		c.json = tc.json
		err := confirm(e, c, tc.yes, []string{"This revokes device 3fa9c1e2d4b5 of Alpha Fund."}, "Revoke this device?", "revoked")
		if got := exitCode(err); got != tc.code {
			t.Errorf("%s: exit %d (%v), want %d", tc.name, got, err, tc.code)
		}
		prompted := strings.Contains(stderr.String(), "This revokes device") && strings.Contains(stderr.String(), "Revoke this device? [y/N] ")
		if prompted != tc.wantPrompt {
			t.Errorf("%s: prompted %v, want %v: %q", tc.name, prompted, tc.wantPrompt, stderr.String())
		}
		if tc.code == 2 && (err == nil || !strings.Contains(err.Error(), "add --yes")) {
			t.Errorf("%s: %v should say to add --yes", tc.name, err)
		}
		var nc notConfirmed
		if tc.code == 1 && !errors.As(err, &nc) {
			t.Errorf("%s: %v, want notConfirmed", tc.name, err)
		}
	}
}
