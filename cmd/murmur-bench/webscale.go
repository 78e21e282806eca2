package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/web"
)

// The web interface at scale (issue 15: a page weighs under 200 KB and
// renders in under 100 ms at 100,000 entries): each page rendered by the
// interface in this process, on the node of the scale directory opened as
// murmur run opens it, runs times; its median, and its weight with the
// stylesheet and script it loads.

const (
	webTargetEntries = 100_000
	webTargetRender  = 100 * time.Millisecond
	webTargetWeight  = 200 << 10
)

type webTiming struct {
	page   string
	median time.Duration
	weight int // bytes: the page, its stylesheet and its script
}

func measureWeb(ctx context.Context, d *scaleDir, runs int) ([]webTiming, error) {
	n, err := node.Open(ctx, d.path)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	if err := n.Unlock(nil); err != nil {
		return nil, err
	}
	const addr = "127.0.0.1:4722"
	s, err := web.New(n, web.Options{Addr: addr})
	if err != nil {
		return nil, err
	}
	do := func(method, path string, form url.Values, cookie string) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	un := do("POST", "/unlock", url.Values{}, "")
	cookie := strings.Split(un.Header().Get("Set-Cookie"), ";")[0]
	base := strings.TrimSuffix(un.Header().Get("Location"), "/") // (the session's pages)
	if un.Code != http.StatusSeeOther || cookie == "" || !strings.HasPrefix(base, "/s/") {
		return nil, fmt.Errorf("unlocking the interface: %d", un.Code)
	}
	assets := len(do("GET", "/assets/style.css", nil, "").Body.Bytes()) + len(do("GET", "/assets/app.js", nil, "").Body.Bytes())
	pages := []struct{ name, path string }{
		{"inbox", "/"}, {"requests", "/requests"}, {"request", "/requests/" + d.shown.String()},
		{"new request", "/requests/new"}, {"directory", "/directory"}, {"members", "/members"},
		{"stats", "/stats"}, {"connection", "/connection"},
	}
	var out []webTiming
	for _, p := range pages {
		var took []time.Duration
		size := 0
		for range max(runs, 1) {
			t0 := time.Now()
			rec := do("GET", base+p.path, nil, cookie)
			took = append(took, time.Since(t0))
			if rec.Code != http.StatusOK {
				return nil, fmt.Errorf("the %s page: %d", p.name, rec.Code)
			}
			size = rec.Body.Len()
		}
		slices.Sort(took)
		out = append(out, webTiming{page: p.name, median: took[len(took)/2], weight: size + assets})
	}
	return out, nil
}

func printWeb(w io.Writer, rows []scaleRow) {
	fmt.Fprintf(w, "web interface: each page rendered in this process on the node of the directory (median); weight with its stylesheet and script\n")
	for _, r := range rows {
		var parts []string
		for _, p := range r.web {
			parts = append(parts, fmt.Sprintf("%s %s, %d KB", p.page, ms(p.median), (p.weight+1023)>>10))
		}
		fmt.Fprintf(w, "  %d entries: %s\n", r.dir.entries, strings.Join(parts, "; "))
	}
	for _, r := range rows {
		if r.dir.size < webTargetEntries {
			continue
		}
		for _, p := range r.web {
			fmt.Fprintf(w, "  %d entries: web %-12s %9s (target %v), %4d KB (target %d KB): %s\n", r.dir.size, p.page, ms(p.median), webTargetRender, (p.weight+1023)>>10, webTargetWeight>>10,
				met(p.median <= webTargetRender && p.weight <= webTargetWeight))
		}
	}
}
