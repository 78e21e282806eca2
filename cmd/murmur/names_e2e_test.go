package main

// End-to-end tests of names that look like another and of free text that
// can disguise itself (issue 12, the review of point 5).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A name that looks like a member's is refused: with a variation selector
// or a Cyrillic letter where the joiner types it, in exit 2 and one line;
// in full-width letters by the inviter's node, which `run` reports.
func TestCLIJoinRefusesALookalikeName(t *testing.T) {
	t.Parallel()
	a, _ := founded(t)
	ra := a.start("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	var code codeOut
	a.json(&code, "invite", "--addr", ra.addr(t), "--expires", "1h")
	for _, tc := range []struct{ org, want string }{
		{"Alpha Fu\uFE0Fnd", "murmur join: organisation name holds a variation selector after a letter, where it changes nothing a reader sees and makes the name look like another (U+FE0F, character 9)"},
		{"Alph\u0430 Fund", "murmur join: organisation name mixes Latin and Cyrillic letters in one word, which is how a name is made to look like another (U+0430, character 5)"},
		{"Alpha Fu\u180Bnd", "murmur join: organisation name holds a Mongolian variation selector outside Mongolian text, where it only hides (U+180B, character 9)"},
	} {
		j := newCLI(t, t.TempDir())
		r := j.run("join", code.Code, "--addr", code.Addrs[0], "--org", tc.org, "--no-passphrase")
		refused(t, r, 2)
		if got := strings.TrimSpace(r.stderr); got != tc.want {
			t.Errorf("join --org %+q:\ngot  %s\nwant %s", tc.org, got, tc.want)
		}
	}
	j := newCLI(t, t.TempDir())
	j.ok("join", code.Code, "--addr", code.Addrs[0], "--org", "\uFF21\uFF4C\uFF50\uFF48\uFF41 \uFF26\uFF55\uFF4E\uFF44", "--no-passphrase") // Ａｌｐｈａ Ｆｕｎｄ
	r := j.run("run", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if r.code != 1 || !strings.Contains(r.stderr, "the inviter refused: the organisation's name is too close to the name of a member") {
		t.Fatalf("want the run to end with the refusal:\n%s", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "murmur run: ") {
		t.Errorf("want the refusal as the last line on stderr:\n%s", r)
	}
	if st := a.memberStatus(); st.Members != 1 {
		t.Fatalf("members after a look-alike name: %d", st.Members)
	}
}

// Free text refuses direction overrides and controls, in one line naming
// the field, the character and its place, and keeps what documents hold.
func TestCLIFreeTextRefusesOverrides(t *testing.T) {
	c, _ := founded(t)
	ver := c.write("request", "new", "--kind", "verification", "--title", "Does anyone know this applicant?")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"respond", ver[:12], "--type", "comment", "--body", "see invoice\u202Egnp.exe"}, "murmur respond: the text holds a direction override or embedding, which can make text read differently than it is stored (U+202E, character 12)"},
		{[]string{"request", "new", "--kind", "verification", "--title", "t", "--body", "a\u202Db"}, "murmur request new: the text holds a direction override or embedding, which can make text read differently than it is stored (U+202D, character 2)"},
		{[]string{"redact", ver[:12], "--reason", "wrong\u202Efile", "--yes"}, "murmur redact: the reason holds a direction override or embedding, which can make text read differently than it is stored (U+202E, character 6)"},
		{[]string{"directory", "set", "--contact", "call \x1b[2J"}, "murmur directory set: the contact holds a control character (only line breaks and tabs are kept) (U+001B, character 6)"},
	} {
		r := c.run(tc.args...)
		refused(t, r, 2)
		if got := strings.TrimSpace(r.stderr); got != tc.want {
			t.Errorf("murmur %+q:\ngot  %s\nwant %s", tc.args, got, tc.want)
		}
	}
	french := "Rendez-vous\u00A0: lundi à 9\u00A0h, au bu\u00ADreau.\nMerci\u202F!"
	c.write("respond", ver[:12], "--type", "comment", "--body", french)
	var d requestDetail
	c.json(&d, "request", "show", ver[:12])
	if len(d.Responses) != 1 || d.Responses[0].Body != french {
		t.Errorf("the French answer is not kept as written: %+v", d.Responses)
	}
	// A body file written on Windows (CR LF) is taken, its lines ending
	// in LF.
	file := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(file, []byte("First line.\r\nSecond line.\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := c.write("request", "new", "--kind", "verification", "--title", "From a Windows file", "--body-file", file)
	c.json(&d, "request", "show", id[:12])
	if d.Body != "First line.\nSecond line.\n" {
		t.Errorf("a CR LF body file: %q", d.Body)
	}
}
