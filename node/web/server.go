// Package web is the node's local web interface (issue 15): pages served
// by `murmur run` on the loopback address, for the people who will never
// open a terminal. Nothing is fetched from anywhere else: every asset is
// embedded. The interface is locked until the passphrase is given, and
// locks again after a spell of inactivity; every write carries a CSRF
// token; the Host header is checked, so that a page on another site that
// rebinds its DNS name to 127.0.0.1 cannot reach it; a strict
// Content-Security-Policy allows no inline script; and nothing is cached
// by the browser (sealed details are decrypted in memory for the page).
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/addrport"
)

//go:embed assets locales templates
var files embed.FS

// DefaultAddr is where the interface listens unless told otherwise.
const DefaultAddr = "127.0.0.1:4722"

// Options configure a Server.
type Options struct {
	// Addr is the host:port the interface is served at: the Host header
	// of every request must name it (or localhost, 127.0.0.1 or [::1] at
	// its port).
	Addr string
	// IdleLock is how long a session may go unused before the interface
	// locks again; 15 minutes if zero.
	IdleLock time.Duration
	// Now is the clock (tests); time.Now if nil.
	Now func() time.Time
	// TLS: the interface is served over TLS (beyond this computer): its
	// cookies are Secure, and a write's Origin is https.
	TLS bool
	// Log, if set, is told of wrong passphrases given (a line a minute at
	// most).
	Log *slog.Logger
}

// Server serves the interface of one node.
type Server struct {
	n     *node.Node
	opt   Options
	tmpl  *template.Template
	cats  *catalogues
	hosts map[string]bool

	cookie string // the session cookie's name (sessionCookie)

	tries *guessers // passphrase attempts, by address

	mu       gosync.Mutex
	sessions map[string]*session
	feeds    int                         // live feeds open
	wrong    map[string]int              // wrong passphrases by address, since wrongLog
	wrongLog time.Time                   // when they were last logged
	wrongDue bool                        // a line is due when the minute is up
	after    func(time.Duration, func()) // time.AfterFunc (tests: their own)
}

type session struct {
	key      string // its pages are under /s/KEY/ (see sessionPath)
	csrf     string
	lastSeen time.Time
}

// A session's pages are under a path of its own, /s/KEY/, KEY random, and
// its cookie is sent for that path only. A browser keeps cookies by host,
// not by port: with the path /, the session went to every other service
// on this computer the browser opened at 127.0.0.1, and a program there
// could lure the browser to itself and replay what it was sent (review
// 14). Another service is now sent the cookie only at a path it cannot
// know: the key is in no page it can read, and no Referer takes it
// elsewhere (Referrer-Policy: same-origin; another port is another
// origin).

// sessionPath is the path of session key's pages.
func sessionPath(key string) string { return "/s/" + key }

// inSession is the session key of path and the path within it, or "" and
// path if path is not a session's.
func inSession(path string) (key, rest string) {
	tail, ok := strings.CutPrefix(path, "/s/")
	if !ok {
		return "", path
	}
	key, rest, _ = strings.Cut(tail, "/")
	return key, "/" + rest
}

// sessionCookie names the session cookie of the interface served at
// port: a browser keeps cookies by host, not by port, and two nodes on one
// computer (a testnet, two organisations' nodes on one laptop) must not
// end each other's sessions.
func sessionCookie(port string) string { return "murmur_session_" + port }

// New makes the interface of n.
func New(n *node.Node, opt Options) (*Server, error) {
	if opt.IdleLock <= 0 {
		opt.IdleLock = 15 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	_, port, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("the web interface's address %q: %v", opt.Addr, err)
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	hosts, err := addrport.HostNames(opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("the web interface's address %q: %v", opt.Addr, err)
	}
	s := &Server{n: n, opt: opt, cats: cats, sessions: map[string]*session{},
		tries: newGuessers(opt.Now), wrong: map[string]int{}, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		hosts: hosts, cookie: sessionCookie(port)}
	if s.tmpl, err = template.New("").Funcs(s.funcs()).ParseFS(files, "templates/*.html"); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP is the interface: the Host check and the headers every
// answer carries, then the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // (no-referrer would make the browser send Origin: null with forms)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !s.hosts[strings.ToLower(r.Host)] {
		// A page elsewhere whose name now points here (DNS rebinding)
		// sends its own name: it is answered nothing.
		http.Error(w, "This address does not serve Murmur's interface: open the address murmur run printed instead.", http.StatusMisdirectedRequest)
		return
	}
	// A session's page: its key is taken off the path, for the session
	// to be checked against.
	key, rest := inSession(r.URL.Path)
	r.URL.Path, r.URL.RawPath = rest, ""
	if !fromHere(r) {
		// Another site, or another service on this computer (cookies
		// ignore ports: a page at 127.0.0.1:8080 is the same site), asked
		// for something other than a page to show: nothing, and it keeps
		// no session alive.
		http.Error(w, "", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		limit := int64(formLimit)
		if uploadPaths[r.URL.Path] {
			limit = uploadLimit
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if !s.sameOrigin(r) { // (before any of the body is read)
			s.fail(w, r, s.cats.choose(r), http.StatusForbidden, "error.csrf")
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		s.asset(w, r)
		return
	}
	lang := s.cats.choose(r)
	switch {
	case r.URL.Path == "/unlock":
		// (a session's own passphrase page, unlocked: its home)
		if sess, _ := s.session(r, key); sess != nil && r.Method == http.MethodGet {
			http.Redirect(w, r, sessionPath(key)+"/", http.StatusSeeOther)
			return
		}
		s.unlock(w, r, lang)
		return
	case r.URL.Path == "/language" && r.Method == http.MethodPost:
		s.setLanguage(w, r)
		return
	}
	sess, id := s.session(r, key)
	if sess == nil {
		switch {
		case r.Method == http.MethodGet && r.URL.Path != "/events" && r.URL.Path != "/alive":
			// (where it was going, once the passphrase is given)
			to := "/unlock"
			if back := pageBack(r.URL.Path); back != "/" {
				to += "?" + url.Values{"back": {back}}.Encode()
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
		case r.Method == http.MethodPost:
			// A form sent after the interface locked: nothing is done;
			// the passphrase, then back to the page the form was on.
			s.lockedForm(w, r, lang)
		default:
			s.fail(w, r, lang, http.StatusUnauthorized, "error.locked")
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		sp := page{s: s, w: w, r: r, lang: lang, csrf: sess.csrf, sessionID: id, key: sess.key}
		if uploadPaths[r.URL.Path] {
			// Files take their time; every other request has the
			// server's minute (a stranger's trickle does not hold a
			// connection for good).
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Hour))
		}
		// Files beyond memoryPart go to temporary files, removed when the
		// request ends.
		err := r.ParseForm()
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(memoryPart)
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			key := "error.upload"
			if errors.As(err, &tooBig) {
				key = "error.toolarge"
			}
			sp.fail(http.StatusBadRequest, key)
			return
		}
		// A text box's line breaks come as CRLF (as HTML says): the node
		// keeps LF.
		for _, vs := range r.PostForm {
			for i, v := range vs {
				vs[i] = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
			}
		}
		if !validToken(r.PostFormValue("csrf"), sess.csrf) {
			sp.fail(http.StatusForbidden, "error.csrf")
			return
		}
	}
	p := page{s: s, w: w, r: r, lang: lang, csrf: sess.csrf, sessionID: id, key: sess.key}
	s.route(p)
}

// fromHere: a request from this interface's own pages, or a page the
// person opened (a link followed, an address typed), as the browser's
// Fetch Metadata says; a browser too old to say is taken at its word (the
// cookie is SameSite=Strict, writes carry the token).
func fromHere(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}

// byThePerson: a request that counts as the person using the interface
// (it keeps the session from locking): from its own pages or typed, not
// a page followed from elsewhere.
func byThePerson(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin" || site == "none"
}

// sameOrigin: a write's Origin, when the browser sends one, is this
// interface's own.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // (the token is checked besides)
	}
	scheme := "http://"
	if s.opt.TLS {
		scheme = "https://"
	}
	rest, ok := strings.CutPrefix(o, scheme)
	return ok && s.hosts[strings.ToLower(rest)]
}

func validToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// session is the request's unlocked session, if any; it is touched (an
// idle one is dropped).
func (s *Server) session(r *http.Request, key string) (*session, string) {
	if key == "" {
		return nil, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sess *session
	var id string
	for _, c := range r.CookiesNamed(s.cookie) { // (an old one may come too)
		if v := s.sessions[c.Value]; v != nil && v.key == key {
			sess, id = v, c.Value
			break
		}
	}
	now := s.opt.Now()
	if sess == nil {
		return nil, ""
	}
	if now.Sub(sess.lastSeen) > s.opt.IdleLock {
		delete(s.sessions, id)
		return nil, ""
	}
	// The live feed, and the page fetching itself anew when entries
	// arrive, are not someone at the keyboard: they do not keep the
	// interface unlocked (a busy network, or a rogue member writing every
	// few minutes, would keep it open for good).
	if r.URL.Path != "/events" && r.Header.Get("X-Murmur-Live") == "" && byThePerson(r) {
		sess.lastSeen = now
	}
	return sess, id
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// unlock shows the passphrase form, and takes it.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, lang *catalogue) {
	protected, err := s.n.Protected()
	if err != nil {
		s.fail(w, r, lang, http.StatusInternalServerError, "error.key")
		return
	}
	p := page{s: s, w: w, r: r, lang: lang}
	if r.Method != http.MethodPost {
		data := map[string]any{"Protected": protected}
		if back := pageBack(r.URL.Query().Get("back")); back != "/" {
			data["Back"] = back
		}
		p.render("unlock", data)
		return
	}
	if !s.sameOrigin(r) {
		s.fail(w, r, lang, http.StatusForbidden, "error.csrf")
		return
	}
	if protected {
		addr := clientAddr(r)
		if !s.tries.allow(addr) {
			w.WriteHeader(http.StatusTooManyRequests)
			p.render("unlock", map[string]any{"Protected": true, "Problem": lang.T("unlock.wait")})
			return
		}
		pass := []byte(r.PostFormValue("passphrase"))
		if err := s.n.CheckPassphrase(pass); err != nil {
			msg := lang.T("unlock.wrong")
			if !errors.Is(err, node.ErrWrongPassphrase) {
				msg = lang.T("error.key")
			} else {
				s.logWrong(addr)
			}
			w.WriteHeader(http.StatusUnauthorized)
			p.render("unlock", map[string]any{"Protected": true, "Problem": msg})
			return
		}
	}
	id := random()
	s.mu.Lock()
	if len(s.sessions) >= maxSessions { // the least recently used goes
		oldest := ""
		for k, v := range s.sessions {
			if oldest == "" || v.lastSeen.Before(s.sessions[oldest].lastSeen) {
				oldest = k
			}
		}
		delete(s.sessions, oldest)
	}
	key := random()[:22] // (128 bits)
	s.sessions[id] = &session{key: key, csrf: random(), lastSeen: s.opt.Now()}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: sessionPath(key), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.TLS})
	http.Redirect(w, r, sessionPath(key)+pageBack(r.PostFormValue("back")), http.StatusSeeOther)
}

// pageBack is the page of this interface back names, to go to once the
// passphrase is given: its path only (another page can link to the
// passphrase page with any back: not to a form it filled in), within a
// session (a page of an earlier one), and a page, not the live feed or
// an action; "/" if none.
func pageBack(back string) string {
	if !localPath(back) {
		return "/"
	}
	_, back = inSession(back)
	back, _, _ = strings.Cut(back, "?")
	back, _, _ = strings.Cut(back, "#")
	switch back {
	case "/events", "/alive", "/lock", "/unlock":
		return "/"
	}
	return back
}

// lockedForm answers a form sent after the interface locked: nothing was
// done; the passphrase form, which then goes back to the page the form
// was on.
func (s *Server) lockedForm(w http.ResponseWriter, r *http.Request, lang *catalogue) {
	protected, err := s.n.Protected()
	if err != nil {
		s.fail(w, r, lang, http.StatusInternalServerError, "error.key")
		return
	}
	back := "/"
	switch path := r.URL.Path; {
	case path == "/requests/new", path == "/directory", path == "/grants", path == "/members", path == "/connection":
		back = path
	case strings.HasPrefix(path, "/requests/"):
		back = path[:strings.LastIndexByte(path, '/')]
	case strings.HasPrefix(path, "/members/"):
		back = "/members"
	case strings.HasPrefix(path, "/connection/"):
		back = "/connection"
	}
	if !localPath(back) {
		back = "/"
	}
	w.WriteHeader(http.StatusUnauthorized)
	p := page{s: s, w: w, r: r, lang: lang}
	p.render("unlock", map[string]any{"Protected": protected, "Problem": lang.T("error.lockedform"), "Back": back})
}

// localPath: back is a path of this interface to go back to, and nothing
// a browser could read as another site's address.
func localPath(back string) bool {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		return false
	}
	for _, r := range back {
		if r <= ' ' || r == '\\' || r == 0x7f {
			return false
		}
	}
	return true
}

// clientAddr is the address a request came from.
func clientAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// logWrong notes a wrong passphrase from addr, and logs the count, a line
// a minute at most: at once if no line was written in the last minute,
// else when the minute is up (so that the last guesses are told too).
func (s *Server) logWrong(addr netip.Addr) {
	if s.opt.Log == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrong[addr.String()]++
	if wait := time.Minute - s.opt.Now().Sub(s.wrongLog); wait > 0 {
		if !s.wrongDue {
			s.wrongDue = true
			s.after(wait, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.wrongDue = false
				s.flushWrong()
			})
		}
		return
	}
	s.flushWrong()
}

// flushWrong logs the wrong passphrases counted since the last line. The
// caller holds s.mu.
func (s *Server) flushWrong() {
	if len(s.wrong) == 0 {
		return
	}
	var parts []string
	for a, k := range s.wrong {
		parts = append(parts, fmt.Sprintf("%d from %s", k, a))
	}
	slices.Sort(parts)
	s.opt.Log.Warn("web interface: wrong passphrases given (counted a minute at a time): " + strings.Join(parts, ", "))
	s.wrong, s.wrongLog = map[string]int{}, s.opt.Now()
}

// lock locks the interface: every session of it, not only this one (a
// second passphrase, in another tab or browser, left the first open:
// review 15).
func (s *Server) lock(p page) {
	s.mu.Lock()
	clear(s.sessions)
	s.mu.Unlock()
	http.SetCookie(p.w, &http.Cookie{Name: s.cookie, Value: "", Path: p.base(), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.TLS, MaxAge: -1})
	http.Redirect(p.w, p.r, "/unlock", http.StatusSeeOther)
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(files, strings.TrimPrefix(r.URL.Path, "/"))
	if err != nil || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(r.URL.Path, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Write(b)
}

// fail answers with a page that says what happened and what to do, in
// the person's language: never a raw error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, lang *catalogue, code int, key string) {
	page{s: s, w: w, r: r, lang: lang}.fail(code, key)
}

// fail is Server.fail within a session (the page keeps its navigation and
// its Lock button).
func (p page) fail(code int, key string) {
	p.w.WriteHeader(code)
	p.render("problem", map[string]any{"Problem": p.lang.T(key)})
}
