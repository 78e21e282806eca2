package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/murmurnet/murmur/crdt"
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

// unlock gives the passphrase in tab at the interface at addr, and returns
// where the session's pages are (sessionPath).
func unlock(t *testing.T, tab context.Context, addr string) string {
	t.Helper()
	do(t, tab, "unlocking "+addr,
		chromedp.Navigate(addr+"/"),
		chromedp.WaitVisible(chromedp.ID("passphrase")),
		chromedp.SendKeys(chromedp.ID("passphrase"), pass+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("inbox")),
	)
	loc := get(t, tab, "the address", chromedp.Location())
	base, ok := strings.CutSuffix(loc, "/")
	if !ok || !strings.HasPrefix(base, addr+"/s/") {
		t.Fatalf("unlocked at %s", loc)
	}
	return base
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
	base = strings.TrimSuffix(get(t, ctx, "the address", chromedp.Location()), "/") // (the session's pages)
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
	// The keyboard's focus on a link of the page stays on it.
	do(t, ctx, "the inbox", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("inbox")), chromedp.Sleep(1500*time.Millisecond),
		chromedp.Focus(`//main//a[contains(., "Does anyone know Amina K.?")]`),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true, ({})`))
	if _, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "letter", Title: "Joint letter on the Arusha arrests"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "waiting for the live update",
		chromedp.WaitVisible(`//a[contains(., "Joint letter on the Arusha arrests")]`),
		shot(t, "inbox"),
		accessible(t, "inbox"),
	)
	if kept := get(t, ctx, "the page", chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
		t.Fatal("the inbox was reloaded: the live update should put the news in place")
	}
	if focus := get(t, ctx, "the focus", chromedp.Evaluate[string](`document.activeElement.textContent`)); !strings.Contains(focus, "Amina K.") {
		t.Fatalf("after the live update the focus is on %q", focus)
	}
	// The list of requests too: its filter, untouched, is not something
	// typed (review 14: a select with no option marked seemed changed).
	do(t, ctx, "the requests", chromedp.Navigate(base+"/requests"), chromedp.WaitVisible(chromedp.ID("kind")), chromedp.Sleep(1500*time.Millisecond))
	if _, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Who knows Juma B.?"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "waiting for the list's live update", chromedp.WaitVisible(`//main//a[contains(., "Who knows Juma B.?")]`))
	for _, pg := range []string{"requests", "requests/new", "directory", "members", "grants", "stats", "connection"} {
		do(t, ctx, "the "+pg+" page", chromedp.Navigate(base+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main h1")), shot(t, strings.ReplaceAll(pg, "/", "-")), accessible(t, pg))
		// Each field's label stands above it, never beside another field
		// (a phone number typed in the e-mail box never matches).
		if beside := get(t, ctx, "the labels", chromedp.Evaluate[string](labelsBeside)); beside != "" {
			t.Errorf("the /%s page has labels beside another field than theirs: %s", pg, beside)
		}
	}
	// On a phone's screen, and at 200% zoom (half the width in CSS
	// pixels): nothing runs off the side.
	for _, width := range []int64{375, 550} {
		do(t, ctx, "a narrow screen", chromedp.EmulateViewport(width, 800))
		for _, pg := range []string{"", "requests", "requests/new", "directory", "members", "grants", "stats", "connection"} {
			do(t, ctx, "the "+pg+" page, narrow", chromedp.Navigate(base+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main h1")))
			if over := get(t, ctx, "its width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`)); over {
				do(t, ctx, "a screenshot", shot(t, fmt.Sprintf("narrow-%d-%s", width, strings.ReplaceAll(pg, "/", "-"))))
				wide := get(t, ctx, "what is wide", chromedp.Evaluate[string](`[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().width)).join(", ")`))
				t.Errorf("the /%s page runs off the side of a %d px wide screen: %s", pg, width, wide)
			}
		}
	}
	do(t, ctx, "the usual screen", chromedp.EmulateReset())
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
	// Persian, too: right to left, in Persian digits.
	do(t, ctx, "choosing Persian",
		chromedp.SetValue(chromedp.ID("lang"), "fa"),
		chromedp.Submit(chromedp.ID("lang")),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="fa"][dir="rtl"] #inbox`)),
		shot(t, "inbox-fa"),
		accessible(t, "Persian inbox"),
	)
}

// labelsBeside names the labels of text boxes and pickers that do not
// stand above their field.
const labelsBeside = `[...document.querySelectorAll("main label[for]")].filter(l => {
	const c = document.getElementById(l.htmlFor);
	if (!c || c.type === "radio" || c.type === "checkbox") return false;
	const a = l.getBoundingClientRect(), b = c.getBoundingClientRect();
	return b.top < a.bottom - 1;
}).map(l => l.htmlFor).join(", ")`

// twoOrgs is two organisations' nodes on loopback, Alpha and Beta, each
// with its interface, unlocked in two tabs of one browser.
type twoOrgsUI struct {
	a, b       *node.Node
	fa, fb     *fixture
	tabA, tabB context.Context
	// pa and pb are where the tabs' sessions' pages are (sessionPath).
	pa, pb string
}

func twoOrgs(t *testing.T) *twoOrgsUI {
	t.Helper()
	a, b := alphaAndBeta(t, 1, false)
	return twoOrgsOn(t, a, b)
}

// twoOrgsOn is twoOrgs on nodes made elsewhere.
func twoOrgsOn(t *testing.T, a, b *node.Node) *twoOrgsUI {
	t.Helper()
	u := &twoOrgsUI{a: a, b: b, fa: fixtureOn(t, a), fb: fixtureOn(t, b), tabA: browse(t)}
	u.pa = unlock(t, u.tabA, u.fa.srv.URL)
	var cancel context.CancelFunc
	u.tabB, cancel = chromedp.NewContext(u.tabA) // (a second tab of the same browser, once it runs)
	t.Cleanup(cancel)
	u.pb = unlock(t, u.tabB, u.fb.srv.URL) // (its cookie is its own: Alpha's session stays)
	return u
}

// open has Alpha open a request from its form, and returns its address.
func (u *twoOrgsUI) open(t *testing.T, kind, title, region, amount string) string {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(u.pa + "/requests/new"),
		chromedp.WaitVisible(chromedp.ID("title")),
		chromedp.Click(chromedp.CSS(`input[name="kind"][value="` + kind + `"]`)),
		chromedp.SendKeys(chromedp.ID("title"), title),
	}
	if region != "" {
		steps = append(steps, chromedp.SetValue(chromedp.ID("region"), region))
	}
	if amount != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.ID("amount"), amount), chromedp.SetValue(chromedp.ID("currency"), "USD"))
	}
	steps = append(steps, chromedp.Submit(chromedp.ID("title")), chromedp.WaitVisible(chromedp.ID("responses")))
	do(t, u.tabA, "Alpha opens "+title, steps...)
	if done := get(t, u.tabA, "the confirmation", chromedp.Text(chromedp.CSS("p.done"))); done == "" {
		t.Fatal("opening a request says nothing")
	}
	loc, _, _ := strings.Cut(get(t, u.tabA, "the request's address", chromedp.Location()), "?")
	return loc
}

// answer has Beta answer Alpha's request at path, from its page.
func (u *twoOrgsUI) answer(t *testing.T, path, typ, amount, words string) {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(u.pb + path),
		chromedp.WaitVisible(chromedp.ID("body")),
		chromedp.Click(chromedp.CSS(`input[name="type"][value="` + typ + `"]`)),
		chromedp.SendKeys(chromedp.ID("body"), words),
	}
	if amount != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.ID("amount"), amount))
	}
	steps = append(steps, chromedp.Submit(chromedp.ID("body")), chromedp.WaitVisible(`//li[contains(., "`+words+`")]`))
	do(t, u.tabB, "Beta answers with "+typ, steps...)
}

// Two organisations' nodes, each with its interface, in one browser: Alpha
// opens a request in its page; Beta's inbox shows it without a reload;
// Beta vouches from the request's page; Alpha's page offers the news and
// shows Beta's answer in the tally.
func TestBrowserTwoOrganisations(t *testing.T) {
	u := twoOrgs(t)
	do(t, u.tabB, "Beta's inbox", chromedp.Navigate(u.pb+"/"), chromedp.WaitVisible(chromedp.ID("inbox")), chromedp.Sleep(1500*time.Millisecond))
	reqURL := u.open(t, "verification", "Does anyone know Joseph M.?", "CD", "")
	if h1 := get(t, u.tabA, "the title", chromedp.Text(chromedp.CSS("h1"))); h1 != "Does anyone know Joseph M.?" {
		t.Fatalf("Alpha's request page: %q", h1)
	}
	do(t, u.tabB, "Beta's inbox shows it without a reload",
		chromedp.WaitVisible(`//section[.//h2[@id="inbox"]]//a[contains(., "Does anyone know Joseph M.?")]`),
		shot(t, "beta-inbox"),
		accessible(t, "Beta's inbox"),
	)
	path := strings.TrimPrefix(reqURL, u.pa)
	do(t, u.tabA, "Alpha starts a comment", chromedp.SendKeys(chromedp.ID("body"), "A first thought"))
	u.answer(t, path, "vouch", "", "We supported him in 2024; his work is known to us.")
	do(t, u.tabB, "a screenshot", shot(t, "beta-answered"))
	// Someone at Alpha is typing a comment: the page offers the news
	// rather than replacing what is being typed; shown, it is in place
	// without a reload.
	do(t, u.tabA, "Alpha sees the answer",
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true, ({})`),
		chromedp.WaitVisible(`//p[@id="notice"]//button`),
	)
	if typed := get(t, u.tabA, "the comment being typed", chromedp.Value(chromedp.ID("body"))); typed != "A first thought" {
		t.Fatalf("the comment being typed became %q", typed)
	}
	do(t, u.tabA, "showing the news",
		chromedp.Click(`//p[@id="notice"]//button`),
		chromedp.WaitVisible(`//p[contains(., "1 vouch")]`),
		shot(t, "alpha-tally"),
		accessible(t, "Alpha's request with an answer"),
	)
	if kept := get(t, u.tabA, "the page", chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
		t.Fatal("Alpha's page was reloaded")
	}
	if loc, _, _ := strings.Cut(get(t, u.tabA, "Alpha's page", chromedp.Location()), "?"); loc != reqURL {
		t.Fatalf("Alpha's page moved to %s", loc)
	}
}

// Funding and a letter across two organisations: Beta pledges towards
// Alpha's funding request and Alpha sees the progress bar move; Beta
// signs Alpha's letter and Alpha's page lists it, ready as CSV.
func TestBrowserFundingAndLetter(t *testing.T) {
	u := twoOrgs(t)
	funding := u.open(t, "funding", "Rent for a relocated family", "KE", "1000")
	u.answer(t, strings.TrimPrefix(funding, u.pa), "pledge", "400", "We can give 400 this month.")
	do(t, u.tabA, "Alpha sees the pledge",
		chromedp.Navigate(funding),
		chromedp.WaitVisible(`//li[contains(., "We can give 400 this month.")]`),
		shot(t, "alpha-funding"),
		accessible(t, "a funding request with a pledge"),
	)
	if v := get(t, u.tabA, "the progress", chromedp.Evaluate[string](`document.querySelector("progress").getAttribute("value")`)); v != "40" {
		t.Fatalf("the progress bar stands at %q, want 40", v)
	}
	letter := u.open(t, "letter", "Free the Arusha five", "", "")
	u.answer(t, strings.TrimPrefix(letter, u.pa), "sign", "", "Beta Collective signs.")
	do(t, u.tabA, "Alpha sees the signature",
		chromedp.Navigate(letter),
		chromedp.WaitVisible(`//h2[contains(., "Signatures (1)")]`),
		shot(t, "alpha-letter"),
	)
	if list := get(t, u.tabA, "the signatories", chromedp.Text(chromedp.ID("letter"))); !strings.Contains(list, "Signatures (1)") {
		t.Fatalf("the letter's signatories: %q", list)
	}
	resp, csv := u.fa.do(u.fa.unlocked(), "GET", strings.TrimPrefix(letter, u.pa)+"/signatories.csv", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(csv, "Beta Collective") {
		t.Fatalf("the signatories as CSV: %s %q", resp.Status, csv)
	}
}

// A referral and a sealed request across two organisations: Beta
// publishes what it offers on its directory page; Alpha's referral page
// suggests Beta, says why, and shows that Beta took it. Alpha shares a
// sealed request with Beta by its button, and Beta's page shows what it
// says.
func TestBrowserReferralAndSharing(t *testing.T) {
	u := twoOrgs(t)
	do(t, u.tabB, "Beta publishes its directory entry",
		chromedp.Navigate(u.pb+"/directory"),
		chromedp.WaitVisible(chromedp.CSS("details.regions summary")),
		chromedp.Click(chromedp.CSS("details.regions summary")),
		chromedp.Click(chromedp.CSS(`input[name="regions"][value="KE"]`)),
		chromedp.Click(chromedp.CSS(`input[name="offers"][value="legal-aid"]`)),
		chromedp.Submit(chromedp.ID("contact")),
		chromedp.WaitVisible(`//p[contains(., "Published.")]`),
		shot(t, "beta-directory"),
	)
	eventually(t, "Alpha holds Beta's directory entry", func() bool {
		ds, err := u.a.Directory(node.DirectoryFilter{Offers: "legal-aid"})
		return err == nil && len(ds) == 1
	})
	do(t, u.tabA, "Alpha opens a referral",
		chromedp.Navigate(u.pa+"/requests/new"),
		chromedp.WaitVisible(chromedp.ID("title")),
		chromedp.Click(chromedp.CSS(`input[name="kind"][value="referral"]`)),
		chromedp.SendKeys(chromedp.ID("title"), "A lawyer for a detained journalist in Mombasa"),
		chromedp.SetValue(chromedp.ID("region"), "KE"),
		chromedp.Click(chromedp.CSS(`input[name="needs"][value="legal-aid"]`)),
		chromedp.Submit(chromedp.ID("title")),
		chromedp.WaitVisible(chromedp.ID("suggest")),
		shot(t, "alpha-referral"),
		accessible(t, "a referral with suggestions"),
	)
	if why := get(t, u.tabA, "the suggestions", chromedp.Text(`//section[.//h2[@id="suggest"]]`)); !strings.Contains(why, "Beta Collective") || !strings.Contains(why, "Legal aid") {
		t.Fatalf("Alpha's referral suggests: %q", why)
	}
	referral, _, _ := strings.Cut(get(t, u.tabA, "the referral's address", chromedp.Location()), "?")
	u.answer(t, strings.TrimPrefix(referral, u.pa), "accept", "", "We take it: our Mombasa lawyer calls today.")
	do(t, u.tabA, "Alpha sees who took it",
		chromedp.Navigate(referral),
		chromedp.WaitVisible(`//p[contains(., "Taken by Beta Collective.")]`),
		shot(t, "alpha-referral-taken"),
	)
	// A sealed request only Alpha reads, shared with Beta by the button.
	ctx := context.Background()
	if _, err := u.b.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	sealed, err := u.a.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "A name we must protect", Body: "Her lawyer's number: +255 700 000 111.", To: []string{u.a.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + sealed.ID().String()
	eventually(t, "Beta holds the sealed request", func() bool { _, err := u.b.Request(sealed.ID().String()); return err == nil })
	do(t, u.tabB, "Beta cannot read it",
		chromedp.Navigate(u.pb+path),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if body := get(t, u.tabB, "Beta's page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(body, "+255 700 000 111") {
		t.Fatal("Beta's page shows the sealed details before they were shared")
	}
	eventually(t, "Alpha's node holds Beta's key (the nodes agree)", func() bool { return u.a.Status().Digest == u.b.Status().Digest })
	do(t, u.tabA, "Alpha shares it with Beta",
		chromedp.Navigate(u.pa+path),
		chromedp.WaitVisible(chromedp.CSS("details.share summary")),
		chromedp.Click(chromedp.CSS("details.share summary")),
		chromedp.Click(chromedp.CSS(`details.share input[name="to"][value="`+u.b.Org().String()+`"]`)),
		shot(t, "alpha-share"),
		chromedp.Submit(chromedp.CSS(`details.share form`)),
		chromedp.WaitVisible(`//dd[contains(., "Beta Collective")]`),
	)
	eventually(t, "Beta reads it", func() bool { d, err := u.b.Request(sealed.ID().String()); return err == nil && d.Readable })
	do(t, u.tabB, "Beta's page shows the details",
		chromedp.Navigate(u.pb+path),
		chromedp.WaitVisible(`//div[contains(@class, "body")]//p[contains(., "+255 700 000 111")]`),
		shot(t, "beta-sealed-shared"),
		accessible(t, "a shared sealed request"),
	)
}

// A steward approves a waiting organisation on its members page; then,
// with their nodes apart, a request travels from Alpha to Beta in files
// the browser saves and uploads: Beta's summary, Alpha's bundle of what
// Beta lacks.
func TestBrowserApprovalAndBundles(t *testing.T) {
	ctx := context.Background()
	a, b, rb := alphaAndBetaRunning(t, 2, true)
	u := twoOrgsOn(t, a, b)
	gamma := crdt.PublicKeyOf(crdt.KeyFromSeed(make([]byte, 32)))
	if _, err := a.Append(ctx, &crdt.Admission{Device: gamma, Name: "Gamma Legal Aid"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Beta sees Gamma waiting", func() bool { _, err := b.ResolveOrg(crdt.OrgIDFor(gamma).String()); return err == nil })
	do(t, u.tabB, "Beta approves Gamma",
		chromedp.Navigate(u.pb+"/members"),
		chromedp.WaitVisible(`//a[contains(., "Approve Gamma Legal Aid")]`),
		shot(t, "beta-members-pending"),
		chromedp.Click(`//a[contains(., "Approve Gamma Legal Aid")]`),
		chromedp.WaitVisible(chromedp.CSS(`input[name="confirm"]`)),
		shot(t, "beta-approve-check"),
		accessible(t, "the approval's check"),
		chromedp.Click(chromedp.CSS(`input[name="confirm"]`)),
		chromedp.Click(`//button[contains(., "Approve Gamma Legal Aid")]`),
		chromedp.WaitVisible(`//p[contains(., "Approved.")]`),
		shot(t, "beta-approved"),
	)
	eventually(t, "Alpha's node counts Gamma admitted", func() bool {
		o, err := a.ResolveOrg(crdt.OrgIDFor(gamma).String())
		return err == nil && o.Admitted
	})
	// Apart now: only files carry what Alpha writes.
	eventually(t, "Beta holds the network's secret", b.HasSecret)
	rb.Close()
	req, err := a.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "Carried on a USB stick", Region: "UG"})
	if err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	saveTo := func(dir string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir})
			return err
		})
	}
	saved := func(dir string) string {
		var path string
		eventually(t, "the browser saves the file", func() bool {
			es, _ := os.ReadDir(dir)
			for _, e := range es {
				if fi, err := e.Info(); err == nil && fi.Size() > 0 && !strings.HasSuffix(e.Name(), ".crdownload") {
					path = filepath.Join(dir, e.Name())
					return true
				}
			}
			return false
		})
		return path
	}
	summaryDir, bundleDir := filepath.Join(downloads, "summary"), filepath.Join(downloads, "bundle")
	do(t, u.tabB, "Beta saves a summary",
		saveTo(summaryDir),
		chromedp.Navigate(u.pb+"/connection"),
		chromedp.WaitVisible(`//button[contains(., "Save a summary")]`),
		shot(t, "beta-connection"),
		accessible(t, "the connection page with bundles"),
		chromedp.Click(`//button[contains(., "Save a summary")]`),
	)
	summary := saved(summaryDir)
	do(t, u.tabA, "Alpha makes a bundle of what Beta lacks",
		saveTo(bundleDir),
		chromedp.Navigate(u.pa+"/connection"),
		chromedp.WaitVisible(chromedp.ID("basis-for")),
		chromedp.Click(chromedp.ID("basis-for")),
		chromedp.SetUploadFiles(chromedp.ID("for"), []string{summary}),
		chromedp.Click(`//button[contains(., "Make the bundle and save it")]`),
	)
	bundle := saved(bundleDir)
	do(t, u.tabB, "Beta takes the bundle in",
		chromedp.Navigate(u.pb+"/connection"),
		chromedp.WaitVisible(chromedp.ID("files")),
		chromedp.SetUploadFiles(chromedp.ID("files"), []string{bundle}),
		chromedp.Click(`//button[contains(., "Take them in")]`),
		chromedp.WaitVisible(`//div[@role="status"]//p[contains(., "New entries:")]`),
		shot(t, "beta-imported"),
	)
	if got := get(t, u.tabB, "the outcome", chromedp.Text(`//div[@role="status"]`)); strings.Contains(got, "New entries: 0.") || !strings.Contains(got, "Alpha Fund") {
		t.Fatalf("Beta's import: %q", got)
	}
	if _, err := b.Request(req.ID().String()); err != nil {
		t.Fatalf("Beta lacks Alpha's request after the import: %v", err)
	}
}

// In the browser, the session's cookie is for its own path only: another
// service on this computer (another port, which cookies ignore) is not
// sent it.
func TestBrowserSessionCookieStaysOnItsPath(t *testing.T) {
	f := newFixture(t)
	ctx := browse(t)
	base := unlock(t, ctx, f.srv.URL)
	path := strings.TrimPrefix(base, f.srv.URL)
	cookiesAt := func(u string) int {
		got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range got.Cookies {
			if strings.HasPrefix(c.Name, "murmur_session_") {
				n++
			}
		}
		return n
	}
	for _, elsewhere := range []string{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/s/", f.srv.URL + "/", f.srv.URL + "/requests"} {
		if cookiesAt(elsewhere) != 0 {
			t.Errorf("the session cookie goes to %s", elsewhere)
		}
	}
	if cookiesAt(base+"/") != 1 || cookiesAt("http://127.0.0.1:8080"+path+"/") != 1 {
		t.Fatal("the session cookie is not where the test expects it: it shows nothing")
	}
}
