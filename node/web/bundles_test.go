package web

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/node"
)

// upload is a file in a multipart form.
type upload struct{ field, name, data string }

// post sends a multipart form, as a browser does for a form with files.
func (f *fixture) post(c *http.Client, path string, fields url.Values, files ...upload) (*http.Response, string) {
	f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, u := range files {
		w, err := mw.CreateFormFile(u.field, u.name)
		if err != nil {
			f.t.Fatal(err)
		}
		io.WriteString(w, u.data)
	}
	mw.Close()
	req, err := http.NewRequest("POST", f.url(c, path), &body)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return f.send(c, req)
}

// A request travels from Alpha's node to Beta's, which never connect
// again, in files made and taken in on their connection pages: Beta saves
// a summary, Alpha makes a bundle of what it lacks, Beta takes it in.
func TestBundlesOnTheConnectionPage(t *testing.T) {
	a, b, rb := alphaAndBetaRunning(t, 1, false)
	eventually(t, "Beta holds the network's secret", b.HasSecret)
	rb.Close()
	req, err := a.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Carried on a USB stick", Region: "KE"})
	if err != nil {
		t.Fatal(err)
	}
	fa, fb := fixtureOn(t, a), fixtureOn(t, b)
	ca, cb := fa.unlocked(), fb.unlocked()
	_, page := fb.do(cb, "GET", "/connection", nil, nil)
	if !strings.Contains(page, "Take in bundles a member gave you") || !strings.Contains(page, "Save a summary") {
		t.Fatalf("the connection page offers no bundles:\n%s", page)
	}
	tokB := csrfOf(t, page)
	resp, summary := fb.do(cb, "POST", "/connection/summary", url.Values{"csrf": {tokB}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), ".summary") || len(summary) == 0 {
		t.Fatalf("saving a summary: %s %q", resp.Status, resp.Header.Get("Content-Disposition"))
	}
	_, page = fa.do(ca, "GET", "/connection", nil, nil)
	tokA := csrfOf(t, page)
	resp, bundle := fa.post(ca, "/connection/export", url.Values{"csrf": {tokA}, "basis": {"for"}}, upload{"for", "beta.summary", summary})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), ".bundle") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("making a bundle for Beta: %s %q\n%s", resp.Status, resp.Header.Get("Content-Disposition"), bundle)
	}
	resp, page = fb.post(cb, "/connection/import", url.Values{"csrf": {tokB}}, upload{"files", "for-beta.bundle", bundle})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "New entries: ") || strings.Contains(page, "New entries: 0.") || !strings.Contains(page, "Alpha Fund") {
		t.Fatalf("taking the bundle in: %s\n%s", resp.Status, page)
	}
	if _, err := b.Request(req.ID().String()); err != nil {
		t.Fatalf("Beta lacks the request after the import: %v", err)
	}
	// The same file again: nothing new.
	if _, page = fb.post(cb, "/connection/import", url.Values{"csrf": {tokB}}, upload{"files", "for-beta.bundle", bundle}); !strings.Contains(page, "New entries: 0.") {
		t.Fatalf("the same bundle again:\n%s", page)
	}
	// What is not a bundle is named, in words, and nothing is taken in.
	before := b.EntryCount()
	resp, page = fb.post(cb, "/connection/import", url.Values{"csrf": {tokB}}, upload{"files", "../holiday.jpg", "\xff\xd8\xff\xe0 not a bundle"})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "holiday.jpg could not be read") || strings.Contains(page, "..") || b.EntryCount() != before {
		t.Fatalf("a photo taken for a bundle: %s\n%s", resp.Status, page)
	}
	resp, page = fb.post(cb, "/connection/import", url.Values{"csrf": {tokB}}, upload{"files", "beta.summary", summary})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "is a summary, not a bundle") {
		t.Fatalf("a summary taken for a bundle: %s\n%s", resp.Status, page)
	}
	if resp, page = fb.post(cb, "/connection/import", url.Values{"csrf": {tokB}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Choose at least one bundle file") {
		t.Fatalf("no file chosen: %s\n%s", resp.Status, page)
	}
	if resp, page = fa.post(ca, "/connection/export", url.Values{"csrf": {tokA}, "basis": {"org"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Choose the organisation") {
		t.Fatalf("a bundle for no organisation: %s\n%s", resp.Status, page)
	}
	// Everything, sealed for Beta alone, is a download too.
	resp, bundle = fa.post(ca, "/connection/export", url.Values{"csrf": {tokA}, "basis": {"all"}, "to": {b.Org().String()}})
	if resp.StatusCode != http.StatusOK || len(bundle) == 0 {
		t.Fatalf("a bundle for Beta alone: %s", resp.Status)
	}
	// A file needs the token like every write.
	if resp, _ := fb.post(cb, "/connection/import", nil, upload{"files", "for-beta.bundle", bundle}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an import without the token: %s", resp.Status)
	}
}

// A form larger than any the interface makes is refused in words, before
// it is read whole.
func TestOversizedFormsAreRefused(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	_, page := f.do(c, "GET", "/grants", nil, nil)
	resp, page := f.do(c, "POST", "/grants", url.Values{"csrf": {csrfOf(t, page)}, "name": {strings.Repeat("x", 2<<20)}}, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "too large") {
		t.Fatalf("a 2 MiB form: %s\n%s", resp.Status, page)
	}
}
