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

// A listen address this machine cannot bind ends the command with one line
// and exit 1 (before: libp2p's log, then a crash); a port another Murmur
// node holds is refused, not shared.
func TestCLIRunListenRefusals(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	wantLine(t, a.run("run", "--no-mdns", "--listen", "/ip4/192.0.2.77/tcp/4721"), 1, "this machine has no address 192.0.2.77")

	rn := a.start("run", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	addr := rn.addr(t) // /ip4/127.0.0.1/tcp/PORT/p2p/ID
	held, _, _ := strings.Cut(addr, "/p2p/")
	port := strings.TrimPrefix(held, "/ip4/127.0.0.1/tcp/")

	b, _ := founded(t)
	wantLine(t, b.run("run", "--no-mdns", "--listen", held), 1, "port "+port+" is already in use on this machine, perhaps by another Murmur node")
	rn.interrupt(t)
}
