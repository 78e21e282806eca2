package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
	"github.com/murmurnet/murmur/node/p2p"
)

const pass = "correct horse battery staple"

// fixture is a node with a passphrase, its interface served on loopback,
// and a clock the test moves.
type fixture struct {
	t   *testing.T
	n   *node.Node
	srv *httptest.Server
	mu  gosync.Mutex
	// bases are the unlocked browsers' session paths (sessionPath): do
	// sends a page's path there.
	bases map[*http.Client]string
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	n, err := node.Init(context.Background(), t.TempDir(), node.InitOptions{Org: "Alpha Fund", Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return fixtureOn(t, n)
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// browser is a client with cookies that follows no redirect.
func (f *fixture) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.url(c, path), body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return f.send(c, req)
}

// url is where browser c finds path: a page of its session is under the
// session's path (sessionPath).
func (f *fixture) url(c *http.Client, path string) string {
	f.mu.Lock()
	base := f.bases[c]
	f.mu.Unlock()
	if base != "" && !strings.HasPrefix(path, "/s/") && !strings.HasPrefix(path, "/assets/") && !strings.HasPrefix(path, "/unlock") && path != "/language" {
		path = base + path
	}
	return f.srv.URL + path
}

// remember keeps where c's session is, from the answer to its passphrase.
func (f *fixture) remember(c *http.Client, resp *http.Response) {
	f.t.Helper()
	base, _, _ := strings.Cut(resp.Header.Get("Location"), "?")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(base, "/s/") || strings.Count(base, "/") < 3 {
		f.t.Fatalf("unlocking: %s, to %q", resp.Status, resp.Header.Get("Location"))
	}
	base = base[:3+strings.IndexByte(base[3:], '/')]
	f.mu.Lock()
	if f.bases == nil {
		f.bases = map[*http.Client]string{}
	}
	f.bases[c] = base
	f.mu.Unlock()
}

// send sends req and reads the answer.
func (f *fixture) send(c *http.Client, req *http.Request) (*http.Response, string) {
	f.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// unlocked is a browser that gave the passphrase.
func (f *fixture) unlocked() *http.Client {
	f.t.Helper()
	c := f.browser()
	resp, _ := f.do(c, "POST", "/unlock", url.Values{"passphrase": {pass}}, nil)
	f.remember(c, resp)
	return c
}

// csrfOf is the token in a page's forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="csrf" value="`)
	if !ok {
		t.Fatal("the page has no CSRF token")
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

func TestLockedUntilThePassphrase(t *testing.T) {
	f := newFixture(t)
	c := f.browser()
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/unlock" {
		t.Fatalf("locked home: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, page := f.do(c, "POST", "/unlock", url.Values{"passphrase": {"wrong guess"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "does not open this node") {
		t.Fatalf("a wrong passphrase: %s\n%s", resp.Status, page)
	}
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after a wrong passphrase: %s", resp.Status)
	}
	resp, _ = f.do(c, "POST", "/unlock", url.Values{"passphrase": {pass}}, nil)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "murmur_session_") {
			cookie = ck
		}
	}
	f.remember(c, resp)
	// Its cookie goes to the session's own path only: not to another
	// service on this computer (cookies ignore ports), which cannot know
	// the path.
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != f.bases[c] || len(cookie.Path) < len("/s/")+22 {
		t.Fatalf("the session cookie: %+v", cookie)
	}
	resp, page = f.do(c, "GET", "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Inbox of Alpha Fund") {
		t.Fatalf("unlocked home: %s\n%s", resp.Status, page)
	}
	// Idle past the lock: locked again.
	f.advance(16 * time.Minute)
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/unlock" {
		t.Fatalf("after 16 idle minutes: %s", resp.Status)
	}
	// Locked by hand.
	c = f.unlocked()
	_, page = f.do(c, "GET", "/", nil, nil)
	if resp, _ := f.do(c, "POST", "/lock", url.Values{"csrf": {csrfOf(t, page)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lock: %s", resp.Status)
	}
	if resp, _ := f.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after locking: %s", resp.Status)
	}
}

func TestEveryAnswerIsGuarded(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	resp, _ := f.do(c, "GET", "/", nil, nil)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: %q", cc)
	}
	// A page elsewhere whose name was rebound to 127.0.0.1 sends its
	// own name: it gets nothing, unlocked session or not.
	_, port, _ := strings.Cut(strings.TrimPrefix(f.srv.URL, "http://"), ":")
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.attacker.example:" + port} {
		resp, page := f.do(c, "GET", "/", nil, map[string]string{"Host": host})
		if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(page, "Alpha Fund") {
			t.Errorf("Host %s: %s", host, resp.Status)
		}
	}
	// (The cookie is the browser's for each name: localhost's is another.)
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		if resp, _ := f.do(f.browser(), "GET", "/unlock", nil, map[string]string{"Host": host}); resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %s", host, resp.Status)
		}
	}
}

func TestWritesNeedTheToken(t *testing.T) {
	f := newFixture(t)
	req, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Does anyone know this applicant?", Region: "NI"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + req.ID().String()
	c := f.unlocked()
	resp, page := f.do(c, "GET", path, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Does anyone know this applicant?") {
		t.Fatalf("the request's page: %s", resp.Status)
	}
	tok := csrfOf(t, page)
	before := f.n.EntryCount()
	for name, form := range map[string]url.Values{
		"no token":    {"type": {"comment"}, "body": {"no token"}},
		"wrong token": {"type": {"comment"}, "body": {"wrong"}, "csrf": {tok + "x"}},
	} {
		if resp, page := f.do(c, "POST", path+"/respond", form, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "nothing was changed") {
			t.Errorf("%s: %s", name, resp.Status)
		}
	}
	// The right token from another site's page: refused too.
	if resp, _ := f.do(c, "POST", path+"/respond", url.Values{"type": {"comment"}, "csrf": {tok}}, map[string]string{"Origin": "http://attacker.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin: %s", resp.Status)
	}
	if f.n.EntryCount() != before {
		t.Fatal("a refused write wrote")
	}
	// On its own request, an organisation is offered comments only.
	if strings.Contains(page, `value="vouch"`) || !strings.Contains(page, `value="comment"`) {
		t.Errorf("the answers offered on the organisation's own request:\n%s", page)
	}
	resp, _ = f.do(c, "POST", path+"/respond", url.Values{"type": {"comment"}, "body": {"We asked the Kampala office."}, "csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusSeeOther || f.n.EntryCount() != before+1 {
		t.Fatalf("answering: %s, %d entries (was %d)", resp.Status, f.n.EntryCount(), before)
	}
	_, page = f.do(c, "GET", path, nil, nil)
	if !strings.Contains(page, "We asked the Kampala office.") || !strings.Contains(page, "Responses (1)") {
		t.Fatalf("the answer is not on the page:\n%s", page)
	}
	// A refusal says why, in plain words, and keeps what was typed.
	resp, page = f.do(c, "POST", path+"/respond", url.Values{"type": {"vouch"}, "body": {"Typed with care"}, "csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Typed with care") || !strings.Contains(page, "Not sent") {
		t.Fatalf("a refused answer: %s\n%s", resp.Status, page)
	}
}

func TestLanguages(t *testing.T) {
	f := newFixture(t)
	c := f.browser()
	for accept, want := range map[string]string{
		"ar-EG,ar;q=0.9": `lang="ar" dir="rtl"`,
		"fr-FR,fr;q=0.9": `lang="fr" dir="ltr"`,
		"es-419":         `lang="es" dir="ltr"`,
		"de-DE":          `lang="en" dir="ltr"`,
		"":               `lang="en" dir="ltr"`,
	} {
		_, page := f.do(c, "GET", "/unlock", nil, map[string]string{"Accept-Language": accept})
		if !strings.Contains(page, want) {
			t.Errorf("Accept-Language %q: want %s", accept, want)
		}
	}
	// Chosen in the interface, it stays.
	if resp, _ := f.do(c, "POST", "/language", url.Values{"lang": {"ar"}, "back": {"/unlock"}}, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/unlock" {
		t.Fatalf("choosing a language: %s", resp.Status)
	}
	_, page := f.do(c, "GET", "/unlock", nil, map[string]string{"Accept-Language": "fr"})
	if !strings.Contains(page, `dir="rtl"`) || !strings.Contains(page, "فتح القفل") {
		t.Fatalf("the chosen language is not kept:\n%s", page)
	}
	// Every catalogue has every English message.
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cats.list {
		for k := range cats.byTag["en"].Messages {
			if _, ok := c.Messages[k]; !ok {
				t.Errorf("%s lacks %s", c.Tag, k)
			}
		}
	}
}

func TestOpenARequestFromTheForm(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	resp, page := f.do(c, "GET", "/requests/new", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<option value="TZ">Tanzania</option>`) || !strings.Contains(page, `value="legal-aid"`) {
		t.Fatalf("the form: %s", resp.Status)
	}
	tok := csrfOf(t, page)
	before := f.n.EntryCount()
	// What the form checks, it says in plain words, and keeps what was typed.
	resp, page = f.do(c, "POST", "/requests/new", url.Values{"csrf": {tok}, "kind": {"funding"}, "title": {"Relocation of a journalist"},
		"body": {"Three months' rent."}, "region": {"TZ"}, "needs": {"relocation"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "needs an amount and a currency") ||
		!strings.Contains(page, "Three months&#39; rent.") || !strings.Contains(page, `value="relocation" checked`) {
		t.Fatalf("a funding request without an amount: %s\n%s", resp.Status, page)
	}
	resp, _ = f.do(c, "POST", "/requests/new", url.Values{"csrf": {tok}, "kind": {"funding"}, "title": {"Relocation of a journalist"},
		"body": {"Three months' rent."}, "region": {"TZ"}, "needs": {"relocation"}, "amount": {"4,500"}, "currency": {"USD"}, "respond_by": {"7d"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || f.n.EntryCount() != before+1 {
		t.Fatalf("opening it: %s", resp.Status)
	}
	resp, page = f.do(c, "GET", resp.Header.Get("Location"), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Relocation of a journalist") {
		t.Fatalf("its page: %s", resp.Status)
	}
	_, page = f.do(c, "GET", "/requests?kind=funding&open=on", nil, nil)
	if !strings.Contains(page, "Relocation of a journalist") {
		t.Fatal("the list of open funding requests does not show it")
	}
	_, page = f.do(c, "GET", "/requests?kind=letter", nil, nil)
	if strings.Contains(page, "Relocation of a journalist") {
		t.Fatal("the list of letters shows it")
	}
	// The pickers speak the person's language.
	_, page = f.do(c, "GET", "/requests/new", nil, map[string]string{"Accept-Language": "fr"})
	if !strings.Contains(page, `<option value="TZ">Tanzanie</option>`) || !strings.Contains(page, "Aide juridique") {
		t.Fatal("the French form does not name regions and support in French")
	}
}

// fixtureOn is newFixture's interface for a node made elsewhere.
func fixtureOn(t *testing.T, n *node.Node) *fixture {
	t.Helper()
	f := &fixture{t: t, n: n, now: time.Now()}
	srv := httptest.NewUnstartedServer(nil)
	s, err := New(n, Options{Addr: srv.Listener.Addr().String(), Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s
	srv.Start()
	t.Cleanup(srv.Close)
	f.srv = srv
	return f
}

func loopback(t *testing.T, n *node.Node, peers ...string) *p2p.Runner {
	t.Helper()
	r, err := p2p.Start(t.Context(), n, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, SyncEvery: time.Second, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// alphaAndBeta are two organisations' nodes running on loopback, both
// keys under pass: Alpha founds the network (quorum), and admits Beta (as
// a steward, if steward).
func alphaAndBeta(t *testing.T, quorum int, steward bool) (a, b *node.Node) {
	t.Helper()
	a, b, _ = alphaAndBetaRunning(t, quorum, steward)
	return a, b
}

// alphaAndBetaRunning is alphaAndBeta, with Beta's runner.
func alphaAndBetaRunning(t *testing.T, quorum int, steward bool) (a, b *node.Node, rb *p2p.Runner) {
	t.Helper()
	ctx := context.Background()
	a, err := node.Init(ctx, t.TempDir(), node.InitOptions{Org: "Alpha Fund", Quorum: quorum, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ra := loopback(t, a)
	b, err = node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: a.Genesis(), Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Unlock(func() ([]byte, error) { return []byte(pass), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta Collective", Steward: steward}); err != nil {
		t.Fatal(err)
	}
	rb = loopback(t, b, ra.Addrs()...)
	eventually(t, "Beta is admitted", func() bool { st := b.Status(); return st.Admitted && st.Steward == steward })
	return a, b, rb
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 minutes", what)
		}
	}
}

// A steward approves an organisation awaiting admission from the members
// page; a member that is not a steward is offered no such button.
func TestApproveFromTheMembersPage(t *testing.T) {
	ctx := context.Background()
	a, b := alphaAndBeta(t, 2, true)
	// Gamma presented its invite to Alpha: one approval of two.
	gamma := crdt.PublicKeyOf(crdt.KeyFromSeed(make([]byte, 32)))
	if _, err := a.Append(ctx, &crdt.Admission{Device: gamma, Name: "Gamma Legal Aid"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Beta sees Gamma", func() bool { _, err := b.ResolveOrg(crdt.OrgIDFor(gamma).String()); return err == nil })
	f := fixtureOn(t, b)
	c := f.unlocked()
	resp, page := f.do(c, "GET", "/members", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "awaiting admission: 1 of 2 approvals") || !strings.Contains(page, "Approve Gamma Legal Aid") {
		t.Fatalf("the members page: %s\n%s", resp.Status, page)
	}
	id := crdt.OrgIDFor(gamma).String()
	// The approval asks the steward to check the ID with the organisation,
	// and says who invited it.
	resp, page = f.do(c, "GET", "/members/approve?org="+id, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, id[:4]+" "+id[4:8]) || !strings.Contains(page, "Alpha Fund") || !strings.Contains(page, `name="confirm"`) {
		t.Fatalf("the approval's page: %s\n%s", resp.Status, page)
	}
	before := b.EntryCount()
	resp, page = f.do(c, "POST", "/members/approve", url.Values{"csrf": {csrfOf(t, page)}, "org": {id}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Tick the box") || b.EntryCount() != before {
		t.Fatalf("approving unconfirmed: %s\n%s", resp.Status, page)
	}
	resp, _ = f.do(c, "POST", "/members/approve", url.Values{"csrf": {csrfOf(t, page)}, "org": {id}, "confirm": {"yes"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approving: %s", resp.Status)
	}
	if _, page = f.do(c, "GET", resp.Header.Get("Location"), nil, nil); !strings.Contains(page, "Approved.") {
		t.Fatalf("after approving:\n%s", page)
	}
	if o, err := b.ResolveOrg(crdt.OrgIDFor(gamma).String()); err != nil || !o.Admitted {
		t.Fatalf("Gamma after the second approval: %+v %v", o, err)
	}
	// Approved already: said plainly, nothing written.
	before = b.EntryCount()
	resp, page = f.do(c, "POST", "/members/approve", url.Values{"csrf": {csrfOf(t, page)}, "org": {id}, "confirm": {"yes"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "admitted already") || b.EntryCount() != before {
		t.Fatalf("approving twice: %s\n%s", resp.Status, page)
	}
}

func TestDirectoryPage(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	_, page := f.do(c, "GET", "/directory", nil, nil)
	tok := csrfOf(t, page)
	resp, page := f.do(c, "POST", "/directory", url.Values{"csrf": {tok}, "regions": {"TZ", "KE"}, "offers": {"legal-aid"}, "languages": {"sw"}, "groups": {"journalists"}, "turnaround": {"two days"}, "contact": {"signal: +255 700 000 000"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "whole number of hours") || !strings.Contains(page, `value="signal: `) {
		t.Fatalf("a bad answer time: %s", resp.Status)
	}
	resp, page = f.do(c, "POST", "/directory", url.Values{"csrf": {tok}, "regions": {"TZ", "KE"}, "offers": {"legal-aid"}, "languages": {"sw"}, "groups": {"journalists"}, "turnaround": {"48"}, "contact": {"signal: +255 700 000 000"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Published.") {
		t.Fatalf("publishing: %s\n%s", resp.Status, page)
	}
	for query, want := range map[string]bool{"": true, "?region=TZ": true, "?region=NI": false, "?offers=legal-aid&group=journalists": true, "?language=sw": true, "?offers=shelter": false} {
		_, page := f.do(c, "GET", "/directory"+query, nil, nil)
		_, list, _ := strings.Cut(page, `class="filter"`)
		list, _, _ = strings.Cut(list, `id="yours"`)
		if got := strings.Contains(list, "Alpha Fund"); got != want {
			t.Errorf("directory%s lists Alpha Fund: %v, want %v", query, got, want)
		}
	}
	if _, page := f.do(c, "GET", "/directory?region=TZ", nil, nil); !strings.Contains(page, "Legal aid") || !strings.Contains(page, "48 hours") || !strings.Contains(page, "Journalists") {
		t.Fatal("the entry is not shown in words")
	}
}

// The double-funding check from its page: it says what it does and does
// not protect against; a check finds a grant recorded before; what is
// refused keeps what was typed.
func TestDoubleFundingCheckPage(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	_, page := f.do(c, "GET", "/grants", nil, nil)
	if !strings.Contains(page, "tells no one") || !strings.Contains(page, "It does not protect against") {
		t.Fatal("the page does not say what the check does and does not do")
	}
	tok := csrfOf(t, page)
	resp, page := f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"check"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "at least one identifier") {
		t.Fatalf("no identifier: %s", resp.Status)
	}
	resp, page = f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"check"}, "phone": {"+255 700 123 456"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "No grant to this applicant") {
		t.Fatalf("a first check: %s\n%s", resp.Status, page)
	}
	before := f.n.EntryCount()
	resp, page = f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"record"}, "phone": {"+255 700 123 456"}, "name": {"Amina K"}, "country": {"TZ"},
		"amount": {"1200"}, "currency": {"USD"}, "support": {"relocation"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Recorded") || f.n.EntryCount() != before+1 {
		t.Fatalf("recording: %s\n%s", resp.Status, page)
	}
	if strings.Contains(page, "Amina K") {
		t.Fatal("the page keeps the applicant's name once recorded")
	}
	_, page = f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"check"}, "name": {"amina  k"}, "country": {"TZ"}}, nil)
	if !strings.Contains(page, "Alpha Fund") || !strings.Contains(page, "USD 1,200.00") || !strings.Contains(page, "Relocation") {
		t.Fatalf("the check does not find the grant:\n%s", page)
	}
	resp, page = f.do(c, "POST", "/grants", url.Values{"csrf": {tok}, "action": {"record"}, "email": {"a@example.org"}, "amount": {"lots"}, "currency": {"USD"}, "support": {"relocation"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "The amount is not a number") || !strings.Contains(page, `value="a@example.org"`) {
		t.Fatalf("a bad amount: %s\n%s", resp.Status, page)
	}
}

// A letter's page lists its signatories and gives them as CSV; a funding
// request's shows what is needed and what is pledged.
func TestOutcomesOnTheRequestPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.unlocked()
	letter, err := f.n.NewRequest(ctx, node.RequestInput{Kind: "letter", Title: "Free the Arusha five"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + letter.ID().String()
	_, page := f.do(c, "GET", path, nil, nil)
	if resp, _ := f.do(c, "POST", path+"/respond", url.Values{"csrf": {csrfOf(t, page)}, "type": {"sign"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing: %s", resp.Status)
	}
	_, page = f.do(c, "GET", path, nil, nil)
	if !strings.Contains(page, "Signatures (1)") || !strings.Contains(page, "signatories.csv") {
		t.Fatalf("the letter's page:\n%s", page)
	}
	resp, csv := f.do(c, "GET", path+"/signatories.csv", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(csv, "Alpha Fund,") {
		t.Fatalf("the CSV: %s %q", resp.Status, csv)
	}
	funding, err := f.n.NewRequest(ctx, node.RequestInput{Kind: "funding", Title: "Rent for a relocated family", Amount: "4500", Currency: "USD", Region: "KE"})
	if err != nil {
		t.Fatal(err)
	}
	_, page = f.do(c, "GET", "/requests/"+funding.ID().String(), nil, nil)
	if !strings.Contains(page, "Needed: USD 4,500.00") || !strings.Contains(page, "<progress") || !strings.Contains(page, "Kenya") {
		t.Fatalf("the funding request's page:\n%s", page)
	}
}

func TestStatsPage(t *testing.T) {
	f := newFixture(t)
	if _, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Who knows her?", Region: "TZ", RespondBy: "3d"}); err != nil {
		t.Fatal(err)
	}
	c := f.unlocked()
	resp, page := f.do(c, "GET", "/stats", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "How requests are answered") || !strings.Contains(page, "<table>") || !strings.Contains(page, "Tanzania") {
		t.Fatalf("the stats page: %s\n%s", resp.Status, page)
	}
}

func TestChartBars(t *testing.T) {
	half, all, none := 0.5, 1.0, 0.0
	rows := []node.StatsRow{{Kind: "verification", OnTimeShare: &half}, {Kind: "funding"}, {Kind: "letter", OnTimeShare: &all}, {Kind: "alert", OnTimeShare: &none}}
	c := barsOf("on time", rows, func(r node.StatsRow) string { return r.Kind },
		func(r node.StatsRow) (float64, bool) {
			if r.OnTimeShare == nil {
				return 0, false
			}
			return 100 * *r.OnTimeShare, true
		}, func(v float64) string { return fmt.Sprintf("%.0f%%", v) }, 100)
	if len(c.Bars) != 3 || c.Bars[0].Label != "verification" || c.Bars[1].Label != "letter" || c.Bars[2].Value != "0%" {
		t.Fatalf("bars: %+v", c.Bars)
	}
	if c.Bars[1].Width != 2*c.Bars[0].Width || c.Bars[2].Width != 1 || c.Bars[1].Y <= c.Bars[0].Y {
		t.Fatalf("bar sizes: %+v", c.Bars)
	}
}

// A sealed request shows a lock and who can read it, and is shared with
// a button; an alert is acknowledged with one.
func TestShareAndAcknowledge(t *testing.T) {
	ctx := context.Background()
	a, b := alphaAndBeta(t, 1, false)
	if _, err := b.EnsureOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	req, err := a.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "A name we must protect", Body: "Details only we hold.", To: []string{a.Org().String()}, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	f := fixtureOn(t, a)
	c := f.unlocked()
	path := "/requests/" + req.ID().String()
	_, page := f.do(c, "GET", path, nil, nil)
	if !strings.Contains(page, "🔒") || !strings.Contains(page, "Readable only by") || !strings.Contains(page, "Share this sealed request") {
		t.Fatalf("the sealed request's page:\n%s", page)
	}
	if resp, page := f.do(c, "POST", path+"/share", url.Values{"csrf": {csrfOf(t, page)}}, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Tick at least one") {
		t.Fatalf("sharing with no one: %s", resp.Status)
	}
	tok := csrfOf(t, page)
	eventually(t, "sharing, once Alpha's node holds Beta's key", func() bool {
		resp, _ := f.do(c, "POST", path+"/share", url.Values{"csrf": {tok}, "to": {b.Org().String()}}, nil)
		return resp.StatusCode == http.StatusSeeOther
	})
	eventually(t, "Beta reads it", func() bool {
		d, err := b.Request(req.ID().String())
		return err == nil && d.Readable && d.Body == "Details only we hold."
	})
	alert, err := b.NewRequest(ctx, node.RequestInput{Kind: "alert", Title: "Raid on the Arusha office", Region: "TZ"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Alpha holds the alert", func() bool { _, err := a.Request(alert.ID().String()); return err == nil })
	path = "/requests/" + alert.ID().String()
	_, page = f.do(c, "GET", path, nil, nil)
	if resp, _ := f.do(c, "POST", path+"/ack", url.Values{"csrf": {csrfOf(t, page)}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("acknowledging: %s", resp.Status)
	}
	if _, page := f.do(c, "GET", path, nil, nil); !strings.Contains(page, "has acknowledged this alert") {
		t.Fatal("the alert is not shown acknowledged")
	}
	// The connection page: who is connected, each member's last contact.
	eventually(t, "the connection page shows Beta connected", func() bool {
		_, page := f.do(c, "GET", "/connection", nil, nil)
		return strings.Contains(page, "connected now: 1.") && strings.Contains(page, "Beta Collective")
	})
}

// An invite made on the members page shows its code and QR code; a
// device is revoked only once the confirmation is ticked.
func TestInviteAndRevokeFromTheMembersPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.unlocked()
	_, page := f.do(c, "GET", "/members", nil, nil)
	tok := csrfOf(t, page)
	resp, page := f.do(c, "POST", "/members/invite", url.Values{"csrf": {tok}, "purpose": {"organisation"}, "expires": {"24h"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<svg class="qr"`) || !strings.Contains(page, "Valid once, until") {
		t.Fatalf("the invite: %s\n%s", resp.Status, page)
	}
	_, rest, _ := strings.Cut(page, `<p class="code"><code>`)
	text, _, _ := strings.Cut(rest, "</code>")
	if _, err := node.ParseInviteCode(text); err != nil {
		t.Fatalf("the code shown (%q): %v", text, err)
	}
	// A second device of this organisation, then its revocation.
	d, err := node.Provision(ctx, t.TempDir(), node.ProvisionOptions{Genesis: f.n.Genesis(), Org: f.n.Org()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := f.n.Append(ctx, &crdt.DeviceAdded{Device: d.Device(), Org: f.n.Org(), Label: "field laptop"}); err != nil {
		t.Fatal(err)
	}
	_, page = f.do(c, "GET", "/members", nil, nil)
	if !strings.Contains(page, "/members/revoke?device="+d.Device().String()) {
		t.Fatal("no way to revoke the second device")
	}
	_, page = f.do(c, "GET", "/members/revoke?device="+d.Device().String(), nil, nil)
	if !strings.Contains(page, "field laptop") || !strings.Contains(page, "cannot be undone") {
		t.Fatalf("the revocation's confirmation:\n%s", page)
	}
	before := f.n.EntryCount()
	if resp, page := f.do(c, "POST", "/members/revoke", url.Values{"csrf": {tok}, "device": {d.Device().String()}}, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Tick the box") || f.n.EntryCount() != before {
		t.Fatalf("revoking unconfirmed: %s", resp.Status)
	}
	resp, page = f.do(c, "POST", "/members/revoke", url.Values{"csrf": {tok}, "device": {d.Device().String()}, "confirm": {"yes"}}, nil)
	// (The revocation, and the organisation's key rotated past it.)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Revoked device") || f.n.EntryCount() <= before {
		t.Fatalf("revoking: %s, %d entries (%d before)\n%s", resp.Status, f.n.EntryCount(), before, page[strings.Index(page, "<main"):])
	}
	// This organisation's last device needs the box that says so.
	before = f.n.EntryCount()
	resp, page = f.do(c, "POST", "/members/revoke", url.Values{"csrf": {tok}, "device": {f.n.Device().String()}, "confirm": {"yes"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || f.n.EntryCount() != before || !strings.Contains(page, "understand") {
		t.Fatalf("revoking the last device without the box: %s\n%s", resp.Status, page)
	}
}

// Dates and numbers follow the language: its names of months and days, its
// separators, its digits.
func TestDatesAndNumbersFollowTheLanguage(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 16, 2, 0, 0, time.Local)
	for _, c := range []struct{ lang, time, day, amount, share, count string }{
		{"en", "Thu 3 Dec 2026 16:02", "20 Nov 2026", "4,500.00", "40%", "12,345"},
		{"es", "jue 3 dic 2026, 16:02", "20 nov 2026", "4.500,00", "40 %", "12.345"},
		{"fr", "jeu. 3 déc. 2026 à 16:02", "20 nov. 2026", "4 500,00", "40 %", "12 345"},
		{"ar", "الخميس ٣ ديسمبر ٢٠٢٦، ١٦:٠٢", "٢٠ نوفمبر ٢٠٢٦", "٤٬٥٠٠٫٠٠", "٤٠٪", "١٢٬٣٤٥"},
		{"fa", "پنجشنبه ۳ دسامبر ۲۰۲۶، ساعت ۱۶:۰۲", "۲۰ نوامبر ۲۰۲۶", "۴٬۵۰۰٫۰۰", "۴۰٪", "۱۲٬۳۴۵"},
	} {
		l := cats.byTag[c.lang]
		got := []string{l.Time(at), l.Day("2026-11-20"), l.Amount(450000), l.Percent(0.4), l.Number(12345)}
		want := []string{c.time, c.day, c.amount, c.share, c.count}
		// (the spaces that do not break, and the Arabic letter mark, are
		// compared as what they look like)
		plain := strings.NewReplacer("\u00a0", " ", "\u202f", " ", "\u061c", "")
		for i := range got {
			if plain.Replace(got[i]) != want[i] {
				t.Errorf("%s: %q, want %q", c.lang, got[i], want[i])
			}
		}
	}
}

// An amount is read the way the person's language writes it: "4.500" is
// four thousand five hundred in Spanish, Arabic digits are digits, and
// an amount that could be read a thousandfold wrong is refused with an
// example, keeping what was typed.
func TestAmountsTypedTheLanguagesWay(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	for _, tc := range []struct{ lang, typed, shown string }{
		{"es", "4.500", "USD 4.500,00"},
		{"fr", "4 500,5", "USD 4\u00a0500,50"},
		{"ar", "١٢٠٠", "USD ١٬٢٠٠٫٠٠"},
		{"en", "1,250.75", "USD 1,250.75"},
	} {
		hdr := map[string]string{"Accept-Language": tc.lang}
		_, page := f.do(c, "GET", "/requests/new", nil, hdr)
		resp, _ := f.do(c, "POST", "/requests/new", url.Values{"csrf": {csrfOf(t, page)}, "kind": {"funding"}, "title": {"Rent, " + tc.lang},
			"amount": {tc.typed}, "currency": {"USD"}, "region": {"KE"}}, hdr)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %q: %s", tc.lang, tc.typed, resp.Status)
		}
		if _, page = f.do(c, "GET", resp.Header.Get("Location"), nil, hdr); !strings.Contains(page, tc.shown) {
			t.Errorf("%s: %q is not shown as %q", tc.lang, tc.typed, tc.shown)
		}
	}
	hdr := map[string]string{"Accept-Language": "es"}
	_, page := f.do(c, "GET", "/requests/new", nil, hdr)
	before := f.n.EntryCount()
	resp, page := f.do(c, "POST", "/requests/new", url.Values{"csrf": {csrfOf(t, page)}, "kind": {"funding"}, "title": {"Rent"},
		"amount": {"1,500"}, "currency": {"USD"}}, hdr)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "4.500,50") || !strings.Contains(page, `value="1,500"`) || f.n.EntryCount() != before {
		t.Fatalf("an amount Spanish reads as 1.5 with three decimals: %s\n%s", resp.Status, page)
	}
}

// The answer form offers only the answers this organisation may give now,
// ticks none of them, and takes a text box's line breaks (CRLF, as
// browsers send them); no answer chosen, or an empty comment, is refused
// in words with what was typed kept.
func TestTheAnswerForm(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.unlocked()
	letter, err := f.n.NewRequest(ctx, node.RequestInput{Kind: "letter", Title: "Free the Arusha five"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + letter.ID().String()
	_, page := f.do(c, "GET", path, nil, nil)
	if !strings.Contains(page, `value="sign"`) || strings.Contains(page, " checked>") || strings.Contains(page, `id="amount"`) {
		t.Fatalf("the answer form of our own letter:\n%s", page)
	}
	tok := csrfOf(t, page)
	resp, page := f.do(c, "POST", path+"/respond", url.Values{"csrf": {tok}, "body": {"Our words"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Choose your answer first") || !strings.Contains(page, "Our words") {
		t.Fatalf("no answer chosen: %s\n%s", resp.Status, page)
	}
	if resp, page = f.do(c, "POST", path+"/respond", url.Values{"csrf": {tok}, "type": {"comment"}, "body": {" \r\n "}}, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "A comment needs words") {
		t.Fatalf("an empty comment: %s\n%s", resp.Status, page)
	}
	if resp, _ = f.do(c, "POST", path+"/respond", url.Values{"csrf": {tok}, "type": {"sign"}, "body": {"First paragraph.\r\nSecond paragraph."}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing with two paragraphs: %s", resp.Status)
	}
	d, err := f.n.Request(letter.ID().String())
	if err != nil || len(d.Responses) != 1 || d.Responses[0].Body != "First paragraph.\nSecond paragraph." {
		t.Fatalf("the signature's words: %+v %v", d.Responses, err)
	}
	if _, page = f.do(c, "GET", path, nil, nil); strings.Contains(page, `value="sign"`) || !strings.Contains(page, `value="comment"`) {
		t.Fatalf("signed already, the form still offers to sign:\n%s", page)
	}
	// Our own funding request: comments only, so no pledge to type.
	funding, err := f.n.NewRequest(ctx, node.RequestInput{Kind: "funding", Title: "Rent", Amount: "100", Currency: "AUD"})
	if err != nil {
		t.Fatal(err)
	}
	if _, page = f.do(c, "GET", "/requests/"+funding.ID().String(), nil, nil); strings.Contains(page, `id="amount"`) || strings.Contains(page, `value="pledge"`) {
		t.Fatalf("our own funding request offers a pledge:\n%s", page)
	}
}

// What a revocation takes away for good is said in the person's language,
// from the node's facts, not its English words.
func TestRevocationCostInTheLanguage(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	hdr := map[string]string{"Accept-Language": "es"}
	resp, page := f.do(c, "GET", "/members/revoke?device="+f.n.Device().String(), nil, hdr)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Es el último dispositivo de su organización") || strings.Contains(page, "last device") || !strings.Contains(page, `name="force"`) {
		t.Fatalf("revoking our last device, in Spanish: %s\n%s", resp.Status, page)
	}
}

// An organisation closes its own request from its page, once confirmed.
func TestCloseARequest(t *testing.T) {
	f := newFixture(t)
	c := f.unlocked()
	req, err := f.n.NewRequest(context.Background(), node.RequestInput{Kind: "verification", Title: "Who knows her?"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/requests/" + req.ID().String()
	_, page := f.do(c, "GET", path, nil, nil)
	tok := csrfOf(t, page)
	if resp, page := f.do(c, "POST", path+"/close", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Tick the box") {
		t.Fatalf("closing unconfirmed: %s", resp.Status)
	}
	if resp, _ := f.do(c, "POST", path+"/close", url.Values{"csrf": {tok}, "confirm": {"yes"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("closing: %s", resp.Status)
	}
	if d, err := f.n.Request(req.ID().String()); err != nil || d.Status != "closed" {
		t.Fatalf("after closing: %+v %v", d, err)
	}
	if _, page = f.do(c, "GET", path, nil, nil); strings.Contains(page, "/close") {
		t.Fatal("a closed request still offers to close it")
	}
}

// The by-region chart adds up each region's kinds (shares add up), and
// keeps the regions with the most requests decided; short times are said
// in minutes.
func TestByRegionAndShortTimes(t *testing.T) {
	rows := []node.StatsRow{
		{Kind: "verification", Region: "KE", Requests: 4, Due: 4, OnTime: 1},
		{Kind: "funding", Region: "KE", Requests: 2, Due: 2, OnTime: 2},
		{Kind: "verification", Region: "TZ", Requests: 9, Due: 0},
		{Kind: "alert", Region: "", Requests: 1, Due: 1, OnTime: 1},
	}
	got := byRegion(rows, 12)
	if len(got) != 2 || got[0].Region != "KE" || got[0].Due != 6 || *got[0].OnTimeShare != 0.5 || got[1].Region != "" {
		t.Fatalf("by region: %+v", got)
	}
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	if h := cats.byTag["en"].Hours(0.33); h != "20 min" {
		t.Fatalf("a third of an hour: %q", h)
	}
	if h := cats.byTag["en"].Hours(2.5); h != "2.5 h" {
		t.Fatalf("two and a half hours: %q", h)
	}
}

func TestDigitsTypedInArabicOrPersian(t *testing.T) {
	if got := ident.ASCIIDigits("٤٨ / ۷۲"); got != "48 / 72" {
		t.Fatalf("%q", got)
	}
}
