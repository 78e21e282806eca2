package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
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
	// leads.
	b := f.browser()
	resp, _ := f.do(b, "GET", "/s/AAAAAAAAAAAAAAAAAAAAAA/requests/new?kind=letter", nil, nil)
	want := "/unlock?" + url.Values{"back": {"/requests/new?kind=letter"}}.Encode()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
		t.Fatalf("an earlier session's page: %s to %q", resp.Status, loc)
	}
	_, page := f.do(b, "GET", resp.Header.Get("Location"), nil, nil)
	if !strings.Contains(page, `name="back" value="/requests/new?kind=letter"`) {
		t.Fatalf("the passphrase page forgets where it was going:\n%s", page)
	}
	resp, _ = f.do(b, "POST", "/unlock", url.Values{"passphrase": {pass}, "back": {"/requests/new?kind=letter"}}, nil)
	f.remember(b, resp)
	if loc := resp.Header.Get("Location"); loc != f.bases[b]+"/requests/new?kind=letter" {
		t.Fatalf("after the passphrase: %q", loc)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
