package web

import (
	"net/http"
	"strings"
	"testing"
)

// The interface answers at its own name; its passphrase page elsewhere
// offers to move there; /here answers only the interface's own pages.
func TestOwnName(t *testing.T) {
	f := newFixture(t)
	c := f.browser()
	own := strings.TrimPrefix(f.ui(), "http://")
	_, port, _ := strings.Cut(strings.TrimPrefix(f.srv.URL, "http://"), ":")
	if own != "murmur-"+port+".localhost:"+port {
		t.Fatalf("own name %q", own)
	}
	resp, page := f.do(c, "GET", "/unlock", nil, nil)
	if !strings.Contains(page, `data-move="http://`+own+`"`) {
		t.Fatalf("the passphrase page at 127.0.0.1 does not offer the move:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http://"+own+";") {
		t.Fatalf("CSP %q", csp)
	}
	if _, page := f.do(c, "GET", "/unlock", nil, map[string]string{"Host": own}); strings.Contains(page, "data-move") {
		t.Fatal("the passphrase page at its own name offers to move")
	}
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{own, f.srv.URL, http.StatusNoContent},
		{own, "http://localhost:" + port, http.StatusNoContent},
		{own, "http://127.0.0.1:8080", http.StatusNotFound}, // another service
		{own, "", http.StatusNotFound},
		{"127.0.0.1:" + port, f.srv.URL, http.StatusNotFound},
		{"evil.example:" + port, f.srv.URL, http.StatusMisdirectedRequest},
	} {
		hdr := map[string]string{"Host": tc.host, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		resp, _ := f.do(c, "GET", "/here", nil, hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("/here at %s from %q: %s, want %d", tc.host, tc.origin, resp.Status, tc.want)
		}
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); (tc.want == http.StatusNoContent) != (acao == tc.origin && acao != "") {
			t.Errorf("/here at %s from %q: Access-Control-Allow-Origin %q", tc.host, tc.origin, acao)
		}
	}
	// Served beyond this computer (over TLS) it has no such name.
	s, err := New(f.n, Options{Addr: "0.0.0.0:4722", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.own != "" || strings.Contains(s.csp, "localhost") {
		t.Fatalf("served over TLS, own name %q, CSP %q", s.own, s.csp)
	}
}
