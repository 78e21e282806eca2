package main

// End-to-end tests of the guards of issue 12: no irreversible step from one
// typo, no crash or silent conflict at start, and a revoked device told so.

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// revokedLine is what a device revoked by Alpha Fund is told, when in
// local time: "today 14:05", or the day's name just after midnight.
var revokedLine = regexp.MustCompile(`this device was revoked by Alpha Fund (today at|on [A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}) \d\d:\d\d: nothing it writes is accepted`)

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
	wantLine(t, c.run("steward"), 2, "murmur steward: say which: steward add, steward remove, steward list")
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

// One typo must not cut off the founder's only device: the revocation is
// refused unless forced, and a revocation without a terminal to confirm it
// on needs --yes.
func TestCLIRevokeGuards(t *testing.T) {
	t.Parallel()
	c, out := founded(t)
	same := c.unchanged()
	wantLine(t, c.run("device", "revoke", out.Device[:8], "--yes"), 2,
		"murmur device revoke: not revoked: it is your organisation's last device that is not revoked")
	same(c.run("status"))
	r := c.run("device", "revoke", out.Device[:8], "--yes", "--json")
	wantLine(t, r, 2, "no steward organisation would keep a device")
	same(r)
	// Forced, it still needs a confirmation, which a pipe cannot give.
	r = c.input("y\n").run("device", "revoke", out.Device[:8], "--force")
	wantLine(t, r, 2, "add --yes to confirm")
	same(r)
	r = c.run("device", "revoke", out.Device[:8], "--force", "--json")
	wantLine(t, r, 2, "add --yes to confirm: this cannot be undone, and with --json or without a terminal nobody can be asked (nothing was revoked)")
	same(r)

	// Forced and confirmed: the founder chose to cut itself off.
	var rev struct {
		ID           string  `json:"id"`
		Device       string  `json:"device"`
		OrgName      string  `json:"org_name"`
		ThisDevice   bool    `json:"this_device"`
		LastSeen     *string `json:"last_seen"`
		Irreversible string  `json:"irreversible"`
	}
	c.json(&rev, "device", "revoke", out.Device[:8], "--force", "--yes")
	if rev.Device != out.Device || rev.OrgName != "Alpha Fund" || !rev.ThisDevice || rev.LastSeen == nil || rev.Irreversible == "" {
		t.Errorf("device revoke --json should say what was cut off: %+v", rev)
	}
	var st struct {
		Notice string `json:"revoked_notice"`
	}
	c.json(&st, "status")
	if !revokedLine.MatchString(st.Notice) || !strings.HasPrefix(st.Notice, "this device") {
		t.Errorf("status --json of a revoked device: revoked_notice %q", st.Notice)
	}
	if human := c.ok("status").stdout; !strings.HasPrefix(human, "WARNING: this device was revoked") || !revokedLine.MatchString(strings.SplitN(human, "\n", 2)[0]) {
		t.Errorf("status should open with who revoked this device:\n%s", human)
	}
}

// Between three organisations: a revocation shows what it cuts off and
// needs --yes without a terminal; a redaction needs --yes the same way; a
// referral to one's own organisation is refused; and the device revoked by
// another organisation is told by whom and when, in its status and at its
// next write.
func TestCLIRevokeRedactReferralBetweenOrganisations(t *testing.T) {
	n := threeOrgs(t)
	a, b, g := n.alpha, n.beta, n.gamma
	gDevice := g.status().Device

	n.refusedUnchanged(a, 2, "add --yes to confirm", "device", "revoke", gDevice[:10])
	n.refusedUnchanged(a, 2, "add --yes to confirm", "device", "revoke", gDevice[:10], "--json")
	id := n.write(a, "request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?")
	n.refusedUnchanged(a, 2, "add --yes to confirm", "redact", id[:12], "--reason", "named the applicant")
	n.refusedUnchanged(b, 2, "Beta Collective is your own organisation: a referral is addressed to other organisations",
		"request", "new", "--kind", "referral", "--title", "Legal aid in Arusha", "--region", "TZ", "--to", n.betaID[:8])
	n.write(b, "request", "new", "--kind", "referral", "--title", "Legal aid in Arusha", "--region", "TZ", "--to", n.gID[:8])

	n.sync()
	var rev struct {
		ID       string  `json:"id"`
		Device   string  `json:"device"`
		OrgName  string  `json:"org_name"`
		LastSeen *string `json:"last_seen"`
	}
	a.json(&rev, "device", "revoke", gDevice[:10], "--yes")
	if rev.Device != gDevice || rev.OrgName != "Gamma Legal Aid" || rev.LastSeen == nil || !hexID.MatchString(rev.ID) {
		t.Errorf("device revoke --json: %+v, want Gamma's device, last seen", rev)
	}
	// Alpha's node tells Gamma's before it cuts it off (node/told.go).
	eventually(t, 30*time.Second, "Gamma's node learns it is revoked", func() bool { return g.status().DeviceRevoked })
	r := g.run("request", "new", "--kind", "verification", "--title", "After the revocation")
	refused(t, r, 1)
	if !revokedLine.MatchString(r.stderr) || !strings.HasSuffix(r.stderr, ": nothing it writes is accepted\n") {
		t.Errorf("the revoked device's write:\n%s", r)
	}
	var gst struct {
		Notice string `json:"revoked_notice"`
	}
	g.json(&gst, "status")
	if !revokedLine.MatchString(gst.Notice) {
		t.Errorf("the revoked device's status: revoked_notice %q", gst.Notice)
	}
	eventually(t, 30*time.Second, "Beta's node knows Gamma's device is revoked", func() bool {
		var members []struct {
			Devices []struct {
				Device  string `json:"device"`
				Revoked bool   `json:"revoked"`
			} `json:"devices"`
		}
		b.json(&members, "members")
		for _, m := range members {
			for _, d := range m.Devices {
				if d.Device == gDevice {
					return d.Revoked
				}
			}
		}
		return false
	})
}
