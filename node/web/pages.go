package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
)

// page is one request being answered, with what its template needs.
type page struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	lang      *catalogue
	csrf      string
	sessionID string
	key       string // the session's path key (sessionPath)
}

// base is the path the session's pages are under; "" without one.
func (p page) base() string {
	if p.key == "" {
		return ""
	}
	return sessionPath(p.key)
}

// redirect sends the browser to path, a page of the session.
func (p page) redirect(path string) {
	http.Redirect(p.w, p.r, p.base()+path, http.StatusSeeOther)
}

// titles are the pages' titles (a request's page has its own).
var titles = map[string]string{"home": "nav.home", "requests": "nav.requests", "newrequest": "nav.new", "directory": "nav.directory",
	"grants": "nav.grants", "stats": "nav.stats", "connection": "nav.connection", "members": "nav.members", "invite": "invite.title",
	"revoke": "revoke.title", "approve": "approve.title", "unlock": "unlock.title", "problem": "problem.title"}

// render writes template name within the layout. It renders to a buffer
// first: a template that fails shows the problem page, not half a page.
func (p page) render(name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Lang"] = p.lang
	data["Langs"] = p.s.cats.list
	data["CSRF"] = p.csrf
	data["Unlocked"] = p.csrf != ""
	data["Base"] = p.base()
	data["Path"] = p.base() + p.r.URL.Path
	data["Page"] = name
	if p.csrf != "" {
		data["AloneSince"] = p.s.n.AloneSince()
		data["DeviceRevoked"] = p.s.n.DeviceRevoked()
		data["IdleSeconds"] = int(p.s.opt.IdleLock / time.Second)
		// A page answering a form (an invite's code, a check's result)
		// is not fetched again for news: that would lose it.
		data["Static"] = p.r.Method != http.MethodGet
	}
	if _, ok := data["Title"]; !ok && titles[name] != "" {
		data["Title"] = p.lang.T(titles[name])
	}
	var b bytes.Buffer
	if err := p.s.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		b.Reset()
		data["Problem"] = p.lang.T("error.internal")
		if p.s.tmpl.ExecuteTemplate(&b, "problem", data) != nil {
			http.Error(p.w, p.lang.T("error.internal"), http.StatusInternalServerError)
			return
		}
	}
	p.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	p.w.Write(withoutOverrides(b.Bytes()))
}

// withoutOverrides is a page without the characters that steer the
// direction of text: embeddings and overrides (U+202A to U+202E),
// isolates (U+2066 to U+2069) and the direction marks (U+200E, U+200F,
// U+061C). A member's node can send them in words every node keeps (the
// writer's node refuses only some), to make "account 9876 5432" read
// "5432 9876". Names, titles and texts people type are laid out by the
// browser instead (<bdi dir="auto">, dir="auto", unicode-bidi: plaintext).
func withoutOverrides(b []byte) []byte {
	if !bytes.ContainsFunc(b, dropped) {
		return b
	}
	return bytes.Map(func(r rune) rune {
		if dropped(r) {
			return -1
		}
		return r
	}, b)
}

// dropped: a character that steers direction, or a mark of a part to lay
// out apart that a page wrote as text (isolated: problemHTML writes them as
// <bdi>).
func dropped(r rune) bool { return steersDirection(r) || r == isolateStart || r == isolateEnd }

func steersDirection(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"T":       func(c *catalogue, key string, args ...any) string { return c.T(key, args...) },
		"problem": problemHTML,
		"when": func(c *catalogue, rfc3339 string) string {
			t, err := time.Parse(time.RFC3339, rfc3339)
			if err != nil {
				return rfc3339
			}
			return c.Time(t)
		},
		"whenp": func(c *catalogue, rfc3339 *string) string {
			if rfc3339 == nil {
				return ""
			}
			t, err := time.Parse(time.RFC3339, *rfc3339)
			if err != nil {
				return *rfc3339
			}
			return c.Time(t)
		},
		"short": func(id string) string {
			if len(id) > 12 {
				return id[:12]
			}
			return id
		},
		"kind": func(c *catalogue, kind string) string { return c.T("kind." + kind) },
		"whent": func(c *catalogue, t *time.Time) string {
			if t == nil {
				return ""
			}
			return c.Time(*t)
		},
		"add":     func(a, b int) int { return a + b },
		"percent": func(c *catalogue, v *float64) string { return c.Percent(*v) },
		"hours":   func(c *catalogue, v *float64) string { return c.Hours(*v) },
		"amount": func(c *catalogue, v any) string { // node's money: hundredths
			r := reflect.ValueOf(v)
			if r.Kind() == reflect.Pointer {
				if r.IsNil() {
					return ""
				}
				r = r.Elem()
			}
			if !r.CanUint() {
				return fmt.Sprint(v)
			}
			return c.Amount(r.Uint())
		},
		"num":        func(c *catalogue, v int) string { return c.Number(v) },
		"join":       func(c *catalogue, names []string) string { return strings.Join(names, c.T("list.sep")) },
		"day":        func(c *catalogue, date string) string { return c.Day(date) },
		"region":     func(c *catalogue, code string) string { return c.RegionName(code) },
		"language":   func(c *catalogue, code string) string { return c.LanguageName(code) },
		"paragraphs": func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") },
		"list":       func(v ...string) []string { return v },
		"has": func(f map[string][]string, key, v string) bool {
			for _, x := range f[key] {
				if x == v {
					return true
				}
			}
			return false
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
}

// route answers an unlocked session's request.
func (s *Server) route(p page) {
	path, method := p.r.URL.Path, p.r.Method
	switch {
	case path == "/" && method == http.MethodGet:
		s.home(p)
	case path == "/lock" && method == http.MethodPost:
		s.lock(p)
	case path == "/events" && method == http.MethodGet:
		s.events(p)
	case path == "/alive" && method == http.MethodGet:
		// Touched, unless asked with X-Murmur-Live: then it only says how
		// long is left, for a tab idle while another was used.
		p.w.Header().Set("X-Murmur-Idle-Left", fmt.Sprint(int(s.idleLeft(p.sessionID)/time.Second)))
		p.w.WriteHeader(http.StatusNoContent)
	case path == "/connection" && method == http.MethodGet:
		s.connection(p, "", nil)
	case path == "/connection/import" && method == http.MethodPost:
		s.importBundles(p)
	case path == "/connection/export" && method == http.MethodPost:
		s.exportBundle(p)
	case path == "/connection/summary" && method == http.MethodPost:
		s.summary(p)
	case path == "/stats" && method == http.MethodGet:
		s.stats(p)
	case path == "/grants" && method == http.MethodGet:
		s.grants(p, nil, "", nil)
	case path == "/grants" && method == http.MethodPost:
		s.grantAction(p)
	case path == "/directory" && method == http.MethodGet:
		s.directory(p, nil, "", "")
	case path == "/directory" && method == http.MethodPost:
		s.setDirectory(p)
	case path == "/members" && method == http.MethodGet:
		done := ""
		if p.r.URL.Query().Get("done") == "approved" {
			done = p.lang.T("members.approved")
		}
		s.members(p, "", done)
	case path == "/members/approve" && method == http.MethodGet:
		s.approveForm(p, p.r.URL.Query().Get("org"), "")
	case path == "/members/approve" && method == http.MethodPost:
		s.approve(p)
	case path == "/members/invite" && method == http.MethodPost:
		s.invite(p)
	case path == "/members/revoke" && method == http.MethodGet:
		s.revokeForm(p, p.r.URL.Query().Get("device"), "")
	case path == "/members/revoke" && method == http.MethodPost:
		s.revoke(p)
	case path == "/requests" && method == http.MethodGet:
		s.requests(p)
	case path == "/requests/new" && method == http.MethodGet:
		s.requestForm(p, p.r.URL.Query(), "")
	case path == "/requests/new" && method == http.MethodPost:
		s.newRequest(p)
	case strings.HasPrefix(path, "/requests/"):
		rest := strings.TrimPrefix(path, "/requests/")
		id, action, _ := strings.Cut(rest, "/")
		switch {
		case action == "" && method == http.MethodGet:
			s.request(p, id, "", nil)
		case action == "respond" && method == http.MethodPost:
			s.respond(p, id)
		case action == "signatories.csv" && method == http.MethodGet:
			s.signatoriesCSV(p, id)
		case action == "share" && method == http.MethodPost:
			s.share(p, id)
		case action == "ack" && method == http.MethodPost:
			s.ack(p, id)
		case action == "close" && method == http.MethodPost:
			s.closeRequest(p, id)
		default:
			p.fail(http.StatusNotFound, "error.notfound")
		}
	default:
		p.fail(http.StatusNotFound, "error.notfound")
	}
}

// home is the inbox: open alerts, then what awaits this organisation's
// answer, soonest deadline first, then the latest on its own requests.
func (s *Server) home(p page) {
	st := s.n.Status()
	alerts, _, err := s.n.RequestPage(node.RequestFilter{Kind: "alert", Open: true}, "", 20)
	if err != nil {
		p.fail(http.StatusInternalServerError, "error.internal")
		return
	}
	inbox, _, err := s.n.RequestPage(node.RequestFilter{Inbox: true}, "", 50)
	if err != nil {
		p.fail(http.StatusInternalServerError, "error.internal")
		return
	}
	inbox = withoutAlerts(inbox)
	// Its own among the latest requests (a page of them: the whole list
	// is one click away).
	var ours []node.RequestSummary
	recent, _, err := s.n.RequestPage(node.RequestFilter{}, "", 50)
	if err == nil {
		for _, rq := range recent {
			if rq.Org == st.Org && len(ours) < 10 {
				ours = append(ours, rq)
			}
		}
	}
	p.render("home", map[string]any{"Status": st, "Alerts": alerts, "Inbox": inbox, "Ours": ours})
}

func withoutAlerts(rs []node.RequestSummary) []node.RequestSummary {
	out := rs[:0:0]
	for _, r := range rs {
		if r.Kind != "alert" {
			out = append(out, r)
		}
	}
	return out
}

// request is one request's page, with the form to answer it.
func (s *Server) request(p page, id, problem string, form map[string]string) {
	d, err := s.n.Request(id)
	if err != nil {
		if errors.Is(err, node.ErrNotFound) {
			p.fail(http.StatusNotFound, "error.notfound")
			return
		}
		p.fail(http.StatusBadRequest, "error.notfound")
		return
	}
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	done := ""
	if d := p.r.URL.Query().Get("done"); problem == "" && slices.Contains([]string{"opened", "answered", "shared", "acked", "closed"}, d) {
		done = p.lang.T("done." + d)
	}
	st := s.n.Status()
	types, _ := s.n.Answers(id)
	if d.Sealed && !d.Readable {
		types = nil // (answering what it cannot read: no)
	}
	title := d.Title
	if d.Sealed && !d.Readable {
		title = p.lang.T("request.unreadable")
	}
	// What was refused is said at the top, where the page opens (an
	// answer's refusal, by its form far below, went unseen: review 14).
	data := map[string]any{"R": d, "Status": st, "Problem": problem, "Done": done, "Form": form, "Types": types, "Title": title,
		"Pledges": slices.Contains(types, "pledge"), "Currencies": currencies}
	if d.Currency != "" && !slices.Contains(currencies, d.Currency) {
		data["Currencies"] = append([]string{d.Currency}, currencies...)
	}
	if d.Sealed && d.Readable {
		// Those it may be shared with: admitted members not reading it yet.
		var more []option
		for _, m := range s.n.Members() {
			if m.Admitted && hasDevice(m) && !slices.Contains(d.SharedWith, m.Name) {
				more = append(more, option{m.Org, m.Name})
			}
		}
		data["ShareWith"] = more
	}
	switch {
	case d.Referral != nil && d.Status == "open" && !d.Withheld && (!d.Sealed || d.Readable):
		if sug, err := s.n.Suggest(d.ID); err == nil {
			if len(sug) > 5 {
				sug = sug[:5]
			}
			data["Suggestions"] = sug
		}
	case d.Letter != nil:
		if _, sigs, err := s.n.Signatories(d.ID); err == nil {
			data["Signatories"] = sigs
		}
	case d.Funding != nil && d.Funding.Amount > 0:
		for _, m := range d.Funding.Pledged {
			if m.Currency == d.Funding.Currency {
				data["Percent"] = min(100, int(100*uint64(m.Amount)/uint64(d.Funding.Amount)))
			}
		}
	}
	p.render("request", data)
}

// share gives more organisations access to a sealed request.
func (s *Server) share(p page, id string) {
	to := p.r.PostForm["to"]
	if len(to) == 0 {
		s.request(p, id, p.lang.T("share.none"), nil)
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.Share(ctx, id, to); err != nil {
		s.request(p, id, p.refused("share.refused", err), nil)
		return
	}
	p.redirect("/requests/" + id + "?done=shared")
}

// ack acknowledges an alert for this organisation.
func (s *Server) ack(p page, id string) {
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, _, err := s.n.AckAlert(ctx, id); err != nil {
		s.request(p, id, p.refused("ack.refused", err), nil)
		return
	}
	p.redirect("/requests/" + id + "?done=acked")
}

// closeRequest closes one of this organisation's requests, once confirmed:
// it leaves every member's inbox.
func (s *Server) closeRequest(p page, id string) {
	if p.r.PostFormValue("confirm") != "yes" {
		s.request(p, id, p.lang.T("close.confirmfirst"), nil)
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.CloseRequest(ctx, id); err != nil {
		s.request(p, id, p.refused("close.refused", err), nil)
		return
	}
	p.redirect("/requests/" + id + "?done=closed")
}

// signatoriesCSV is a letter's signatories, ready to publish.
func (s *Server) signatoriesCSV(p page, id string) {
	_, sigs, err := s.n.Signatories(id)
	if err != nil {
		p.fail(http.StatusNotFound, "error.notfound")
		return
	}
	p.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	p.w.Header().Set("Content-Disposition", `attachment; filename="signatories-`+time.Now().Format("2006-01-02")+`.csv"`)
	p.w.Write([]byte("\ufeff")) // (so that spreadsheets read the names as UTF-8)
	cw := csv.NewWriter(p.w)
	cw.Write([]string{p.lang.T("csv.organisation"), p.lang.T("csv.signed")})
	for _, sg := range sigs {
		signed := sg.Signed
		if t, err := time.Parse(time.RFC3339, sg.Signed); err == nil {
			signed = t.Local().Format("2006-01-02 15:04")
		}
		cw.Write([]string{csvSafe(sg.Name), signed})
	}
	cw.Flush()
}

// csvSafe keeps a name from being read as a formula by a spreadsheet, and
// from reading another way round (no direction overrides).
func csvSafe(s string) string {
	s = string(withoutOverrides([]byte(s)))
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// respond takes the answer form; a refusal is shown on the request's page
// with what was typed, so that nothing is lost.
func (s *Server) respond(p page, id string) {
	in := node.ResponseInput{Request: id, Type: p.r.PostFormValue("type"), Body: p.r.PostFormValue("body"),
		Amount: p.r.PostFormValue("amount"), Currency: p.r.PostFormValue("currency")}
	form := map[string]string{"type": in.Type, "body": in.Body, "amount": in.Amount, "currency": in.Currency}
	switch {
	case in.Type == "":
		s.request(p, id, p.lang.T("respond.notype"), form)
		return
	case in.Type == "comment" && strings.TrimSpace(in.Body) == "":
		s.request(p, id, p.lang.T("respond.nocomment"), form)
		return
	}
	if in.Amount != "" {
		var ok bool
		if in.Amount, ok = p.lang.amount(in.Amount); !ok {
			s.request(p, id, p.lang.badAmount(), form)
			return
		}
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.Respond(ctx, in); err != nil {
		s.request(p, id, p.refused("respond.refused", err), form)
		return
	}
	p.redirect("/requests/" + id + "?done=answered")
}

// refused is the message key with the node's refusal err, in the
// person's language: a refusal the node names (node.Refusal) is said from
// the catalogue; any other, in the node's English words, said to be so
// (in «», which keep them apart in a right-to-left page).
func (p page) refused(key string, err error) string {
	var r *node.Refusal
	if errors.As(err, &r) {
		if _, ok := p.lang.Messages["refusal."+r.Code]; ok {
			return p.lang.T(key, p.lang.refusal(r))
		}
	}
	msg := isolated(plainError(err))
	if p.lang.Tag != "en" {
		msg = p.lang.T("error.english", msg)
	}
	return p.lang.T(key, msg)
}

// plainError is a refusal as the node words it (its words are for people;
// the interface does not show internal errors, see fail).
func plainError(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"node: ", "crdt: ", "store: "} {
		msg = strings.ReplaceAll(msg, prefix, "")
	}
	return msg
}

// events is the live feed: an event whenever the node holds more entries,
// for the page to refresh what it shows (assets/app.js).
func (s *Server) events(p page) {
	fl, ok := p.w.(http.Flusher)
	if !ok {
		p.fail(http.StatusInternalServerError, "error.internal")
		return
	}
	s.mu.Lock()
	full := s.feeds >= maxFeeds
	if !full {
		s.feeds++
	}
	s.mu.Unlock()
	if full {
		p.fail(http.StatusServiceUnavailable, "error.busy")
		return
	}
	defer func() { s.mu.Lock(); s.feeds--; s.mu.Unlock() }()
	http.NewResponseController(p.w).SetReadDeadline(time.Time{}) // (a feed lasts; the server's read timeout is for requests)
	p.w.Header().Set("Content-Type", "text/event-stream")
	p.w.WriteHeader(http.StatusOK)
	fl.Flush()
	last := s.n.EntryCount()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.r.Context().Done():
			return
		case <-tick.C:
		}
		if s.sessionGone(p.sessionID) {
			fmt.Fprintf(p.w, "event: locked\ndata: \n\n")
			fl.Flush()
			return
		}
		if now := s.n.EntryCount(); now != last {
			last = now
			fmt.Fprintf(p.w, "event: changed\ndata: %d\n\n", now)
			fl.Flush()
		}
	}
}

// idleLeft is how long the session has before it locks.
func (s *Server) idleLeft(id string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil {
		return 0
	}
	return max(0, s.opt.IdleLock-s.opt.Now().Sub(sess.lastSeen))
}

// sessionGone reports whether the session locked (idle, or by hand).
func (s *Server) sessionGone(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	return sess == nil || s.opt.Now().Sub(sess.lastSeen) > s.opt.IdleLock
}
