package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// axeSource is axe-core (npm, pinned by the Makefile's browser-tools),
// read once.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv("MURMUR_AXE")
	if path == "" {
		dir, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
		}
		path = filepath.Join(dir, "bin", "axe", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	return string(b), err
})

// accessible runs axe-core on the page and fails the test on any serious
// or critical violation (WCAG 2 A and AA rules).
func accessible(t *testing.T, page string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		src, err := axeSource()
		if err != nil {
			t.Fatalf("the accessibility check needs axe-core: run make browser-tools (it installs it with npm), or name axe.min.js in MURMUR_AXE (%v)", err)
		}
		if _, err := chromedp.Evaluate[bool](src+"\n;true")(ctx, tg); err != nil {
			return chromedp.Void{}, fmt.Errorf("loading axe-core: %w", err)
		}
		found, err := chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => v.id + ": " + v.help + " (" + v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ") + ")")))`, chromedp.EvalAwaitPromise)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("running axe-core: %w", err)
		}
		if found != "[]" {
			t.Errorf("the %s page has serious accessibility violations: %s", page, found)
		}
		return chromedp.Void{}, nil
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
		accessible(t, "lock"),
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
		accessible(t, "new request"),
		chromedp.Focus(chromedp.ID("title")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.ID("responses")),
		shot(t, "request"),
		accessible(t, "request"),
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
		accessible(t, "inbox"),
	)
	for _, pg := range []string{"requests", "directory", "members", "grants", "stats", "connection"} {
		do(t, ctx, "the "+pg+" page", chromedp.Navigate(base+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main h1")), shot(t, pg), accessible(t, pg))
	}
	do(t, ctx, "back to the inbox", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("inbox")))
	// Arabic, chosen in the page: right to left.
	do(t, ctx, "choosing Arabic",
		chromedp.SetValue(chromedp.ID("lang"), "ar"),
		chromedp.Submit(chromedp.ID("lang")),
		chromedp.WaitVisible(chromedp.CSS(`html[dir="rtl"] #inbox`)),
		shot(t, "inbox-ar"),
		accessible(t, "Arabic inbox"),
	)
	if flow := get(t, ctx, "the direction", chromedp.Evaluate[string](`getComputedStyle(document.body).direction`)); flow != "rtl" {
		t.Fatalf("Arabic: direction %q", flow)
	}
}
