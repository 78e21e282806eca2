package main

import (
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// An invite code a person can read out: at most 32 characters (30, in six
// groups of five), printed with the exact expiry in local time, the
// addresses beside it and a QR code (unless --no-qr). A code whose
// validity is zero or negative is refused; a join refuses, offline, a
// code that has expired, one cut short (incomplete), and one of an
// earlier release, each with one line on stderr and nothing written.
func TestCLIShortInviteCode(t *testing.T) {
	a, _ := founded(t)

	// Validity zero or negative: refused before anything is written.
	unchanged := a.unchanged()
	for _, d := range []string{"0s", "0", "-5m", "-1d"} {
		r := a.run("invite", "--expires", d, "--addr", "192.0.2.7")
		refused(t, r, 2)
		if !strings.Contains(r.stderr, "--expires") {
			t.Errorf("--expires %s: %s", d, r.stderr)
		}
		unchanged(r)
	}

	// The human output: the code, the exact expiry in local time, the
	// address line, the QR code, what to type on the new machine.
	a = a.with("TZ=Asia/Kolkata") // +05:30: an expiry rounded to the hour would show
	r := a.ok("invite", "--expires", "90m", "--addr", "192.0.2.7", "--addr", "/ip4/198.51.100.4/tcp/4721")
	var code string
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.TrimSpace(line); len(f) == 35 && strings.Count(f, "-") == 5 {
			code = f
		}
	}
	if code == "" {
		t.Fatalf("no code of 30 characters in six groups:\n%s", r.stdout)
	}
	parsed, err := node.ParseInviteCode(code)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Kolkata")
	want := parsed.Expires.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	if !strings.Contains(r.stdout, "until "+want+":") {
		t.Errorf("the invite does not say it is valid until %s:\n%s", want, r.stdout)
	}
	if d := time.Until(parsed.Expires); d < 89*time.Minute || d > 91*time.Minute {
		t.Errorf("the code expires in %v, want 90 minutes", d)
	}
	for _, s := range []string{"192.0.2.7 198.51.100.4", "█", "▀", "The QR code holds", "murmur join CODE --addr 192.0.2.7 --addr 198.51.100.4 --org"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("the invite's output lacks %q:\n%s", s, r.stdout)
		}
	}
	if r := a.ok("device", "invite", "--no-qr", "--addr", "192.0.2.7"); strings.Contains(r.stdout, "█") || strings.Contains(r.stdout, "▀") || strings.Contains(r.stdout, "QR code") {
		t.Errorf("--no-qr printed a QR code:\n%s", r.stdout)
	}
	var out codeOut
	a.json(&out, "invite", "--expires", "2h", "--addr", "192.0.2.7")
	if n := len(strings.ReplaceAll(out.Code, "-", "")); n != 30 || out.QR != out.Code+" 192.0.2.7" || len(out.Addrs) != 1 {
		t.Errorf("invite --json: %+v (%d characters)", out, n)
	}

	// The QR code's text, pasted whole: the code and the address.
	j := newCLI(t, t.TempDir())
	j.ok("join", out.QR, "--org", "Beta Collective", "--no-passphrase")
	var js struct {
		Joining bool     `json:"joining"`
		Addrs   []string `json:"inviter_addrs"`
		Expires string   `json:"invite_expires"`
	}
	j.json(&js, "status")
	if !js.Joining || len(js.Addrs) != 1 || js.Addrs[0] != "192.0.2.7" || js.Expires != out.Expires {
		t.Errorf("status after joining with the QR text: %+v (invite expires %s)", js, out.Expires)
	}

	// Joins refused offline: nothing is written in the data directory.
	expired := node.InviteCode{Purpose: crdt.InviteOrganisation, Expires: time.Now().Add(-2 * time.Minute).Truncate(time.Minute)}
	rand.Read(expired.Secret[:])
	for _, tc := range []struct {
		what, code string
		exit       int
		says       string
	}{
		{"expired", expired.String(), 1, "has expired"},
		{"cut short", out.Code[:len(out.Code)-3], 2, "incomplete: it has 27 of its 30 characters"},
		{"mistyped", out.Code[:4] + string("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", out.Code[4])+1)%32]) + out.Code[5:], 2, "mistyped"},
		{"of an earlier release", oldCode(), 2, "from an earlier release of Murmur and is no longer accepted"},
		{"foreign", "https://example.org/invite", 2, "not a Murmur invite code"},
	} {
		dir := filepath.Join(t.TempDir(), "joiner")
		j := newCLI(t, dir)
		r := j.run("join", tc.code, "--org", "Beta Collective", "--no-passphrase")
		refused(t, r, tc.exit)
		if !strings.Contains(r.stderr, tc.says) {
			t.Errorf("a code %s: stderr %q, want %q", tc.what, r.stderr, tc.says)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("a code %s: the data directory was created", tc.what)
		}
	}
}

// oldCode is a code as the previous release wrote them: version 2, an
// organisation invite with one address, a SHA-256 checksum, 117
// characters of base32 in groups of five.
func oldCode() string {
	body := []byte{2<<4 | 1, 0, 0x50, 0}
	for i := 0; i < 10+32+16; i++ {
		body = append(body, byte(i*7))
	}
	body = append(body, 1, 0, 203, 0, 113, 5, 0x12, 0x71)
	sum := sha256.Sum256(body)
	body = append(body, sum[:3]...)
	const abc = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var sb strings.Builder
	var acc uint32
	bits := 0
	for _, x := range body {
		acc = acc<<8 | uint32(x)
		for bits += 8; bits >= 5; {
			bits -= 5
			sb.WriteByte(abc[acc>>uint(bits)&31])
			if sb.Len()%6 == 5 {
				sb.WriteByte('-')
			}
		}
	}
	if bits > 0 {
		sb.WriteByte(abc[acc<<uint(5-bits)&31])
	}
	return sb.String()
}
