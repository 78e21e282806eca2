package web

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node/logs"
)

// A stranger's guesses use up its own ration, not the person's at this
// computer, and wrong ones are logged, a line a minute at most.
func TestPassphraseGuessesAreRationedByAddress(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := newGuessers(func() time.Time { return now })
	stranger, here := netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("127.0.0.1")
	for i := range 5 {
		if !g.allow(stranger) {
			t.Fatalf("guess %d refused", i+1)
		}
	}
	if g.allow(stranger) {
		t.Fatal("a sixth guess at once was allowed")
	}
	if !g.allow(here) {
		t.Fatal("the person at this computer was refused because of a stranger's guesses")
	}
	now = now.Add(3 * time.Second)
	if !g.allow(stranger) {
		t.Fatal("a guess 3 s later was refused")
	}
}

func TestWrongPassphrasesAreLogged(t *testing.T) {
	f := newFixture(t)
	var logged []string
	s := f.srv.Config.Handler.(*Server)
	s.opt.Log = logs.Printf(func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	var due []func()
	s.after = func(_ time.Duration, f func()) { due = append(due, f) }
	c := f.browser()
	f.do(c, "POST", "/unlock", url.Values{"passphrase": {"guess one"}}, nil)
	f.do(c, "POST", "/unlock", url.Values{"passphrase": {"guess two"}}, nil)
	f.do(c, "POST", "/unlock", url.Values{"passphrase": {"guess three"}}, nil)
	if len(logged) != 1 || !strings.Contains(logged[0], "wrong passphrases") || !strings.Contains(logged[0], "1 from") {
		t.Fatalf("logged: %q", logged)
	}
	// The guesses within the minute are told when it is up, even if no
	// guess follows.
	if len(due) != 1 {
		t.Fatalf("%d lines due", len(due))
	}
	due[0]()
	if len(logged) != 2 || !strings.Contains(logged[1], "2 from") {
		t.Fatalf("logged: %q", logged)
	}
}

// Connections beyond the limit from one address are closed at once; the
// others are served.
func TestConnectionsAreLimitedByAddress(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitConnections(raw)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range maxConnsPerAddr {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF && !strings.Contains(fmtErr(err), "reset") {
		t.Fatalf("the connection over the limit was not closed: %v", err)
	}
	// One given back: a new one is served again.
	held[0].Close()
	held = held[1:]
	eventuallyServed := false
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && !eventuallyServed; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			continue
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			eventuallyServed = true // (held open: served)
			held = append(held, c)
			continue
		}
		c.Close()
	}
	if !eventuallyServed {
		t.Fatal("after a connection was given back, a new one is still refused")
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The live page fetching itself, and the live feed, do not keep the
// interface unlocked; the page's use does (/alive).
func TestOnlyUseKeepsTheInterfaceUnlocked(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	live := map[string]string{"X-Murmur-Live": "1"}
	f.advance(10 * time.Minute)
	if resp, _ := f.do(c, "GET", "/", nil, live); resp.StatusCode != http.StatusOK {
		t.Fatalf("a live refresh after 10 minutes: %s", resp.Status)
	}
	// A tab asks how long is left (another may have been in use): asking
	// does not touch the session either.
	if resp, _ := f.do(c, "GET", "/alive", nil, live); resp.Header.Get("X-Murmur-Idle-Left") != "300" {
		t.Fatalf("time left after 10 idle minutes: %q", resp.Header.Get("X-Murmur-Idle-Left"))
	}
	f.advance(6 * time.Minute)
	if resp, _ := f.do(c, "GET", "/", nil, live); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("16 minutes with only live refreshes: %s, want the lock", resp.Status)
	}
	c = f.unlocked()
	f.advance(10 * time.Minute)
	if resp, _ := f.do(c, "GET", "/alive", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("/alive: %s", resp.Status)
	}
	f.advance(10 * time.Minute)
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("in use 10 minutes ago: %s", resp.Status)
	}
}

// A form sent after the lock does nothing, asks for the passphrase, and
// goes back to its page after it.
func TestAFormSentAfterTheLock(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	_, page := f.do(c, "GET", "/requests/new", nil, nil)
	tok := csrfOf(t, page)
	f.advance(16 * time.Minute)
	before := f.n.EntryCount()
	resp, page := f.do(c, "POST", "/requests/new", url.Values{"csrf": {tok}, "kind": {"verification"}, "title": {"Sent too late"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `name="passphrase"`) || !strings.Contains(page, `name="back" value="/requests/new"`) || f.n.EntryCount() != before {
		t.Fatalf("a form sent after the lock: %s\n%s", resp.Status, page)
	}
	resp, _ = f.do(c, "POST", "/unlock", url.Values{"passphrase": {pass}, "back": {"/requests/new"}}, nil)
	old := f.bases[c]
	if f.remember(c, resp); resp.Header.Get("Location") != f.bases[c]+"/requests/new" || f.bases[c] == old {
		t.Fatalf("unlocking: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	for _, back := range []string{"/\t/evil.example/", "//evil.example/", "https://evil.example/", "/\\evil.example"} {
		if localPath(back) {
			t.Errorf("%q is taken for a path of the interface", back)
		}
	}
}

// Sessions beyond the cap push out the least recently used.
func TestSessionsAreCapped(t *testing.T) {
	f := newFixture(t)
	first := f.unlocked()
	for range maxSessions {
		f.advance(3 * time.Second) // (the passphrase's ration)
		f.unlocked()
	}
	if resp, _ := f.do(first, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the oldest of %d sessions: %s", maxSessions+1, resp.Status)
	}
}

// Characters that steer the direction of text are taken out of every page
// and of the CSV: a rogue member's "account \u202e9876", or an isolate or
// mark around digits, does not read the other way round.
func TestDirectionOverridesAreTakenOut(t *testing.T) {
	in := []byte("Send it to account \u202e9876-5432-1000\u202c now \u2014 \u2067ok 1000 2000\u2069 \u200f0788 123\u200f \u061c5\u200e")
	out := withoutOverrides(in)
	if bytes.ContainsFunc(out, steersDirection) || string(out) != "Send it to account 9876-5432-1000 now \u2014 ok 1000 2000 0788 123 5" {
		t.Fatalf("%q", out)
	}
	if got := csvSafe("\u202e=cmd"); got != "'=cmd" {
		t.Fatalf("csvSafe: %q", got)
	}
}

// A request from another site, or from another service on this computer
// (the same site: cookies ignore ports), gets nothing but the pages a
// person may open from a link, and does not keep the session unlocked.
func TestOtherPagesOnThisComputerCannotKeepTheSessionOpen(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	img := map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
	f.advance(10 * time.Minute)
	for _, path := range []string{"/alive", "/", "/events"} {
		if resp, _ := f.do(c, "GET", path, nil, img); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("an image from another page on this computer at %s: %s", path, resp.Status)
		}
	}
	link := map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
	if resp, _ := f.do(c, "GET", "/", nil, link); resp.StatusCode != http.StatusOK {
		t.Fatalf("a link followed from another page on this computer: %s", resp.Status)
	}
	f.advance(6 * time.Minute)
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("16 minutes with only other pages' requests: %s, want the lock", resp.Status)
	}
	// A form from another origin is refused before its body is read.
	c = f.unlocked()
	req, _ := http.NewRequest("POST", f.srv.URL+"/connection/import", strings.NewReader("x"))
	req.Header.Set("Origin", "http://127.0.0.1:1")
	req.Header.Set("Content-Type", "multipart/form-data; boundary=zz")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a form from another origin: %v %v", resp, err)
	}
}
