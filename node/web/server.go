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
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/murmurnet/murmur/node"
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
}

// Server serves the interface of one node.
type Server struct {
	n     *node.Node
	opt   Options
	tmpl  *template.Template
	cats  *catalogues
	hosts map[string]bool

	cookie string // the session cookie's name (sessionCookie)

	mu       gosync.Mutex
	sessions map[string]*session
	tries    *rate.Limiter // passphrase attempts, for everyone together
}

type session struct {
	csrf     string
	lastSeen time.Time
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
	s := &Server{n: n, opt: opt, cats: cats, sessions: map[string]*session{},
		// Each attempt costs the key's KDF; a guesser gets one a few seconds.
		tries: rate.NewLimiter(rate.Every(3*time.Second), 5),
		hosts: map[string]bool{opt.Addr: true}, cookie: sessionCookie(port)}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		s.hosts[h+":"+port] = true
	}
	if host, _, _ := net.SplitHostPort(opt.Addr); host == "0.0.0.0" || host == "::" || host == "" {
		// Served on every address: any of this machine's, at the port.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					s.hosts[net.JoinHostPort(ipn.IP.String(), port)] = true
				}
			}
		}
	}
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
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		limit := int64(formLimit)
		if uploadPaths[r.URL.Path] {
			limit = uploadLimit
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		s.asset(w, r)
		return
	}
	lang := s.cats.choose(r)
	switch {
	case r.URL.Path == "/unlock":
		s.unlock(w, r, lang)
		return
	case r.URL.Path == "/language" && r.Method == http.MethodPost:
		s.setLanguage(w, r)
		return
	}
	sess, id := s.session(r)
	if sess == nil {
		if r.Method == http.MethodGet && r.URL.Path != "/events" {
			http.Redirect(w, r, "/unlock", http.StatusSeeOther)
			return
		}
		s.fail(w, r, lang, http.StatusUnauthorized, "error.locked")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
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
			s.fail(w, r, lang, http.StatusBadRequest, key)
			return
		}
		// A text box's line breaks come as CRLF (as HTML says): the node
		// keeps LF.
		for _, vs := range r.PostForm {
			for i, v := range vs {
				vs[i] = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
			}
		}
		if !s.sameOrigin(r) || !validToken(r.PostFormValue("csrf"), sess.csrf) {
			s.fail(w, r, lang, http.StatusForbidden, "error.csrf")
			return
		}
	}
	p := page{s: s, w: w, r: r, lang: lang, csrf: sess.csrf, sessionID: id}
	s.route(p)
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
func (s *Server) session(r *http.Request) (*session, string) {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return nil, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[c.Value]
	now := s.opt.Now()
	if sess == nil {
		return nil, ""
	}
	if now.Sub(sess.lastSeen) > s.opt.IdleLock {
		delete(s.sessions, c.Value)
		return nil, ""
	}
	if r.URL.Path != "/events" { // (the live feed is not someone at the keyboard)
		sess.lastSeen = now
	}
	return sess, c.Value
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
		p.render("unlock", map[string]any{"Protected": protected})
		return
	}
	if !s.sameOrigin(r) {
		s.fail(w, r, lang, http.StatusForbidden, "error.csrf")
		return
	}
	if protected {
		if !s.tries.Allow() {
			w.WriteHeader(http.StatusTooManyRequests)
			p.render("unlock", map[string]any{"Protected": true, "Problem": lang.T("unlock.wait")})
			return
		}
		pass := []byte(r.PostFormValue("passphrase"))
		if err := s.n.CheckPassphrase(pass); err != nil {
			msg := lang.T("unlock.wrong")
			if !errors.Is(err, node.ErrWrongPassphrase) {
				msg = lang.T("error.key")
			}
			w.WriteHeader(http.StatusUnauthorized)
			p.render("unlock", map[string]any{"Protected": true, "Problem": msg})
			return
		}
	}
	id := random()
	s.mu.Lock()
	s.sessions[id] = &session{csrf: random(), lastSeen: s.opt.Now()}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.TLS})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// lock ends the session.
func (s *Server) lock(p page) {
	s.mu.Lock()
	delete(s.sessions, p.sessionID)
	s.mu.Unlock()
	http.SetCookie(p.w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.TLS, MaxAge: -1})
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
	w.WriteHeader(code)
	p := page{s: s, w: w, r: r, lang: lang}
	p.render("problem", map[string]any{"Problem": lang.T(key)})
}
