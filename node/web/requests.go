package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/collate"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

var requestKinds = []string{"verification", "referral", "funding", "letter", "alert"}

// option is one choice of a picker: the value sent, the words shown.
type option struct{ Value, Label string }

// regionOptions are the ISO 3166-1 regions, named in the language and in
// its order.
func regionOptions(c *catalogue) []option {
	var out []option
	for _, code := range ident.Regions() {
		out = append(out, option{code, c.RegionName(code)})
	}
	col := collate.New(c.tag)
	slices.SortFunc(out, func(a, b option) int { return col.CompareString(a.Label, b.Label) })
	return out
}

// languageOptions are the languages a request may ask for, named in the
// interface's language: those of the networks first.
func languageOptions(c *catalogue) []option {
	var out []option
	for _, code := range []string{"en", "es", "fr", "ar", "fa", "pt", "ru", "sw", "tr", "zh", "my", "am", "uk", "ps", "ur", "hi", "bn", "id", "th", "vi"} {
		out = append(out, option{code, c.LanguageName(code)})
	}
	return out
}

// currencies offered for a funding request (any ISO 4217 code is taken).
var currencies = []string{"USD", "EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "CAD", "AUD", "JPY",
	"KES", "UGX", "TZS", "RWF", "BIF", "CDF", "ETB", "SOS", "SDG", "NGN", "GHS", "XOF", "XAF", "ZAR", "ZMW", "ZWL", "MWK", "MZN", "AOA",
	"EGP", "MAD", "TND", "DZD", "LYD", "JOD", "LBP", "SYP", "IQD", "YER", "ILS", "IRR", "AFN", "TRY",
	"INR", "PKR", "BDT", "LKR", "NPR", "MMK", "THB", "KHR", "VND", "IDR", "PHP", "CNY", "HKD",
	"UAH", "RUB", "BYN", "GEL", "AMD", "AZN", "KZT", "KGS", "TJS", "PLN", "HUF", "CZK", "RON", "RSD",
	"MXN", "GTQ", "HNL", "NIO", "COP", "VES", "PEN", "BOB", "BRL", "ARS", "CLP", "PYG", "UYU", "CUP", "HTG"}

// deadlines offered for an answer, as node.RequestInput.RespondBy takes
// them.
var deadlines = []string{"24h", "3d", "7d", "14d", "30d"}

// offered: every choice in a new request is one the form offers. One that
// is not comes from a forged form, or a page from before the choices
// changed (a member gone): the node's refusal would name it in the
// command line's words.
func (s *Server) offered(in node.RequestInput) bool {
	if in.Region != "" {
		if _, err := ident.Region(in.Region); err != nil {
			return false
		}
	}
	if in.RespondBy != "" && !slices.Contains(deadlines, in.RespondBy) ||
		in.Urgency != "" && !slices.Contains([]string{"low", "medium", "high"}, in.Urgency) ||
		in.Currency != "" && !slices.Contains(currencies, in.Currency) {
		return false
	}
	for _, n := range in.Needs {
		if !slices.Contains(ident.SupportTypes, n) {
			return false
		}
	}
	for _, l := range in.Languages {
		if _, err := ident.Language(l); err != nil {
			return false
		}
	}
	members := s.n.Members()
	for _, to := range in.To {
		if !slices.ContainsFunc(members, func(m node.MemberInfo) bool { return m.Org == to && m.Admitted }) {
			return false
		}
	}
	return true
}

// requestForm is the new request's page; form holds what was typed.
func (s *Server) requestForm(p page, form url.Values, problem string) {
	if form == nil {
		form = url.Values{}
	}
	kind := form.Get("kind")
	if !slices.Contains(requestKinds, kind) {
		kind = "verification"
	}
	st := s.n.Status()
	var orgs []option
	for _, m := range s.n.Members() {
		if m.Admitted && m.Org != st.Org && hasDevice(m) {
			orgs = append(orgs, option{m.Org, m.Name})
		}
	}
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	p.render("newrequest", map[string]any{"Kind": kind, "Kinds": requestKinds, "Form": form, "Problem": problem,
		"Regions": regionOptions(p.lang), "Languages": languageOptions(p.lang), "Offers": ident.SupportTypes,
		"Currencies": currencies, "Deadlines": deadlines, "Orgs": orgs})
}

// newRequest takes the new request's form. What the form can check, it
// checks in the person's words; what is refused after that is said as the
// node says it; nothing typed is lost.
func (s *Server) newRequest(p page) {
	f := p.r.PostForm
	in := node.RequestInput{Kind: f.Get("kind"), Title: strings.TrimSpace(f.Get("title")), Body: f.Get("body"),
		Region: f.Get("region"), To: f["to"], RespondBy: f.Get("respond_by"), Needs: f["needs"], Languages: f["languages"],
		Sealed: f.Get("sealed") == "on"}
	if in.Kind == "funding" {
		in.Amount, in.Currency = strings.TrimSpace(f.Get("amount")), f.Get("currency")
	}
	if in.Kind == "alert" {
		in.Urgency = f.Get("urgency")
	}
	problem := ""
	switch {
	case !slices.Contains(requestKinds, in.Kind):
		problem = p.lang.T("new.nokind")
	case in.Title == "":
		problem = p.lang.T("new.notitle")
	case in.Region == "" && (in.Kind == "alert" || in.Kind == "referral"):
		problem = p.lang.T("new.noregion")
	case in.Kind == "funding" && (in.Amount == "" || in.Currency == ""):
		problem = p.lang.T("new.noamount")
	case in.Sealed && len(in.To) == 0:
		problem = p.lang.T("new.sealednoto")
	case !s.offered(in):
		problem = p.lang.T("form.badchoice")
	case in.Kind == "funding":
		var ok bool
		if in.Amount, ok = p.lang.amount(in.Amount); !ok {
			problem = p.lang.badAmount()
		}
	}
	if problem != "" {
		s.requestForm(p, f, problem)
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	e, err := s.n.NewRequest(ctx, in)
	if err != nil {
		s.requestForm(p, f, p.refused("new.refused", err))
		return
	}
	p.redirect("/requests/" + e.ID().String() + "?done=opened")
}

// requests lists requests, newest first, a page at a time, of a kind and
// open ones only if asked.
func (s *Server) requests(p page) {
	q := p.r.URL.Query()
	kind := q.Get("kind")
	if !slices.Contains(requestKinds, kind) {
		kind = ""
	}
	open := q.Get("open") == "on"
	rs, more, err := s.n.RequestPage(node.RequestFilter{Kind: kind, Open: open}, q.Get("after"), 50)
	if err != nil {
		p.fail(http.StatusBadRequest, "error.notfound")
		return
	}
	next := ""
	if more > 0 && len(rs) > 0 {
		v := url.Values{"after": {rs[len(rs)-1].ID}}
		if kind != "" {
			v.Set("kind", kind)
		}
		if open {
			v.Set("open", "on")
		}
		next = p.base() + "/requests?" + v.Encode()
	}
	p.render("requests", map[string]any{"Requests": rs, "Kind": kind, "Kinds": requestKinds, "Open": open, "Next": next})
}

// hasDevice: the organisation keeps a device not revoked, so it can still
// read and answer (one whose last device was revoked is not offered as a
// reader or an addressee).
func hasDevice(m node.MemberInfo) bool {
	for _, d := range m.Devices {
		if !d.Revoked {
			return true
		}
	}
	return false
}
