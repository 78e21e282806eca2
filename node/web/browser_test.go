package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/murmurnet/murmur/node"
)

// The browser tests drive Debian's Chromium, headless, against the
// interface on loopback. They are not skipped when it is missing: `make
// test` installs it, and a run without it fails saying how to get it.

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("MURMUR_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Chromium: install it with `apt-get install -y chromium` (make test does, where it can), or name it in MURMUR_CHROMIUM")
	return ""
}

// browse is a headless Chromium tab, closed with the test.
func browse(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1100, 1250),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { tcancel(); cancel(); acancel() })
	return ctx
}

// shot saves a screenshot of the page under the test's artifacts (go
// test -artifacts keeps them).
func shot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.CaptureScreenshot()(ctx, tg) // (the viewport: a full-page capture misplaces right-to-left pages)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644)
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// With the keyboard only: unlock, open a request, see it; the inbox
// shows a request written elsewhere without a reload; Arabic lays the
// page out right to left.
func TestBrowserKeyboardOnly(t *testing.T) {
	f := newFixture(t)
	ctx := browse(t)
	base := f.srv.URL
	do(t, ctx, "unlocking",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("passphrase")),
		shot(t, "locked"),
		chromedp.SendKeys(chromedp.ID("passphrase"), pass+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("inbox")),
	)
	if text := get(t, ctx, "the title", chromedp.Text(chromedp.CSS("h1"))); text != "Inbox of Alpha Fund" {
		t.Fatalf("after unlocking: %q", text)
	}
	// A new request, by keyboard: the fields in turn, Enter to send.
	do(t, ctx, "opening a request",
		chromedp.Navigate(base+"/requests/new"),
		chromedp.WaitVisible(chromedp.ID("title")),
		chromedp.Focus(chromedp.ID("title")),
		chromedp.KeyEvent("Does anyone know Amina K.?"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("She asks for a grant after her arrest in Arusha."),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("Tanzania"), // a select picks by typing
		shot(t, "new-request"),
		chromedp.Focus(chromedp.ID("title")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("responses")),
		shot(t, "request"),
	)
	if text := get(t, ctx, "the title", chromedp.Text(chromedp.CSS("h1"))); text != "Does anyone know Amina K.?" {
		t.Fatalf("the request's page: %q", text)
	}
	if region := get(t, ctx, "the region", chromedp.Text(chromedp.CSS("dl.facts"))); !strings.Contains(region, "Tanzania") {
		t.Fatalf("the request's facts: %q", region)
	}
	// Written elsewhere (a CLI command, a member's node): the inbox page
	// shows it by itself.
	do(t, ctx, "the inbox", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("inbox")), chromedp.Sleep(1500*time.Millisecond))
	if _, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "letter", Title: "Joint letter on the Arusha arrests"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "waiting for the live update",
		chromedp.WaitVisible(`//a[contains(., "Joint letter on the Arusha arrests")]`),
		shot(t, "inbox"),
	)
	// Arabic, chosen in the page: right to left.
	do(t, ctx, "choosing Arabic",
		chromedp.SetValue(chromedp.ID("lang"), "ar"),
		chromedp.Submit(chromedp.ID("lang")),
		chromedp.WaitVisible(chromedp.CSS(`html[dir="rtl"] #inbox`)),
		shot(t, "inbox-ar"),
	)
	if flow := get(t, ctx, "the direction", chromedp.Evaluate[string](`getComputedStyle(document.body).direction`)); flow != "rtl" {
		t.Fatalf("Arabic: direction %q", flow)
	}
}
