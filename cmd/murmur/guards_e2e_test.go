package main

// End-to-end tests of the guards of issue 12: no irreversible step from one
// typo, no crash or silent conflict at start, and a revoked device told so.

import (
	"encoding/json"
	"strings"
	"testing"
)

// wantLine checks a refusal (exit status, nothing on stdout, one line on
// stderr) and that the line says want.
func wantLine(t *testing.T, r result, code int, want string) {
	t.Helper()
	refused(t, r, code)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr should say %q:\n%s", want, r)
	}
}

func TestCLINoCommandAndHelpJSON(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	wantLine(t, c.run(), 2, "no command given")

	var list struct {
		Commands []struct {
			Name    string `json:"name"`
			Summary string `json:"summary"`
		} `json:"commands"`
	}
	oneJSON(t, c.ok("help", "--json"), &list)
	if len(list.Commands) != len(commands) {
		t.Fatalf("help --json lists %d commands, want %d", len(list.Commands), len(commands))
	}
	for i, cmd := range commands {
		if list.Commands[i].Name != cmd.name || list.Commands[i].Summary == "" {
			t.Errorf("help --json command %d: %+v, want %q", i, list.Commands[i], cmd.name)
		}
	}
	var one struct {
		Name  string `json:"name"`
		Usage string `json:"usage"`
	}
	oneJSON(t, c.ok("help", "device", "revoke", "--json"), &one)
	if one.Name != "device revoke" || !strings.Contains(one.Usage, "usage: murmur device revoke") {
		t.Errorf("help device revoke --json: %+v", one)
	}
	if json.Valid([]byte(c.ok("--help").stdout)) {
		t.Errorf("murmur --help should print text, not JSON")
	}
	wantLine(t, c.run("help", "nonsense", "--json"), 2, "unknown command")
}
