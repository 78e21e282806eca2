package web

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/node"
)

// A session's cookie goes to its own path only. A browser keeps cookies by
// host, not by port: another service on this computer is sent what was
// set for 127.0.0.1 at its own paths, and cannot know the session's.
func TestSessionCookieStaysOnItsPath(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	base := f.bases[c]
	// Another service on this computer, opened in the same browser.
	var got []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, ck := range r.Cookies() {
			got = append(got, r.URL.Path+": "+ck.Name)
		}
	}))
	defer other.Close()
	for _, path := range []string{"/", "/s/", "/s/guess/", "/requests", "/unlock"} {
		resp, err := c.Get(other.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(got) > 0 {
		t.Fatalf("another service on this computer was sent %v", got)
	}
	// (What it relies on: the path, known, would take it there.)
	if resp, err := c.Get(other.URL + base + "/"); err == nil {
		resp.Body.Close()
	}
	if len(got) == 0 {
		t.Fatal("the cookie jar does not behave as a browser does: the test shows nothing")
	}
	// The cookie at another session's path, or at none, opens nothing.
	var cookie string
	for _, ck := range c.Jar.Cookies(mustURL(t, f.srv.URL+base+"/")) {
		if strings.HasPrefix(ck.Name, "murmur_session_") {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	bare := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/s/AAAAAAAAAAAAAAAAAAAAAA/", "/s//", "/s/" + strings.TrimPrefix(base, "/s/")[:10] + "/"} {
		resp, page := f.do(bare, "GET", path, nil, map[string]string{"Cookie": cookie})
		if resp.StatusCode != http.StatusSeeOther || strings.Contains(page, "Alpha Fund") {
			t.Errorf("the cookie at %s: %s", path, resp.Status)
		}
	}
	if resp, page := f.do(bare, "GET", base+"/", nil, map[string]string{"Cookie": cookie}); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Inbox of Alpha Fund") {
		t.Fatalf("the cookie at its own path: %s", resp.Status)
	}
	// A page of an earlier session (a bookmark) is where the passphrase
	// leads: the page, not what its address would fill in (another page
	// could link to the passphrase page with any).
	b := f.browser()
	resp, _ := f.do(b, "GET", "/s/AAAAAAAAAAAAAAAAAAAAAA/requests/new?kind=alert&title=Evacuate", nil, nil)
	want := "/unlock?" + url.Values{"back": {"/requests/new"}}.Encode()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
		t.Fatalf("an earlier session's page: %s to %q", resp.Status, loc)
	}
	_, page := f.do(b, "GET", resp.Header.Get("Location"), nil, nil)
	if !strings.Contains(page, `name="back" value="/requests/new"`) {
		t.Fatalf("the passphrase page forgets where it was going:\n%s", page)
	}
	for back, want := range map[string]string{"/requests/new?kind=alert&title=Evacuate": "/requests/new", "/s/OLD/members#invite": "/members",
		"/events": "/", "/lock": "/", "//evil.example/": "/", "https://evil.example/": "/"} {
		f.advance(4 * time.Second) // (passphrases are rationed)
		resp, _ = f.do(f.browser(), "POST", "/unlock", url.Values{"passphrase": {pass}, "back": {back}}, nil)
		loc := resp.Header.Get("Location")
		if key, rest := inSession(loc); key == "" || rest != want {
			t.Errorf("after the passphrase, back %q: to %q", back, loc)
		}
	}
	// The Lock button locks every session, not only its own: a second
	// passphrase, in another tab or browser, left the first open.
	f.advance(4 * time.Second)
	b = f.unlocked()
	_, page = f.do(b, "GET", "/", nil, nil)
	if resp, _ := f.do(b, "POST", "/lock", url.Values{"csrf": {csrfOf(t, page)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lock: %s", resp.Status)
	}
	for _, other := range []*http.Client{c, b} {
		if resp, _ := f.do(other, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("a session after the lock: %s", resp.Status)
		}
	}
	// A session's own passphrase page, unlocked, is its home.
	f.advance(4 * time.Second)
	c = f.unlocked()
	if resp, _ := f.do(c, "GET", f.bases[c]+"/unlock", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != f.bases[c]+"/" {
		t.Errorf("the session's passphrase page: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Every link and form of every page stays within the session's path
// (review 15: the requests list's links left it, and asked for the
// passphrase again).
func TestEveryLinkStaysInTheSession(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req, err := f.n.NewRequest(ctx, node.RequestInput{Kind: "letter", Title: "Joint letter"})
	if err != nil {
		t.Fatal(err)
	}
	c := f.unlocked()
	base := f.bases[c]
	attr := regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)
	for _, path := range []string{"/", "/requests", "/requests?kind=letter", "/requests/new", "/requests/" + req.ID().String(), "/directory",
		"/members", "/members/revoke?device=" + f.n.Device().String(), "/grants", "/stats", "/connection"} {
		resp, page := f.do(c, "GET", path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		links := attr.FindAllStringSubmatch(page, -1)
		if len(links) < 10 {
			t.Fatalf("%s: only %d links", path, len(links))
		}
		for _, m := range links {
			l := html.UnescapeString(m[1])
			switch {
			case strings.HasPrefix(l, base+"/"), strings.HasPrefix(l, "/assets/"), l == "/language", l == "/unlock", strings.HasPrefix(l, "#"):
			default:
				t.Errorf("%s links to %q, outside the session's %s", path, l, base)
			}
		}
	}
}
