package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

// The double-funding check: record a grant this organisation made, or
// check whether any member recorded one to an applicant. Identifiers are
// blinded on this node before anything is looked up or written; a check
// tells no one.

// applicants are the identifiers typed in the form, each with its kind.
func applicants(f url.Values) []string {
	var out []string
	for _, k := range []string{"name", "phone", "email", "id"} {
		for _, v := range f[k] {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, k+":"+v)
			}
		}
	}
	return out
}

func (s *Server) grants(p page, form url.Values, problem string, result map[string]any) {
	if form == nil {
		form = url.Values{}
	}
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	data := map[string]any{"Form": form, "Problem": problem, "Regions": regionOptions(p.lang), "Offers": ident.SupportTypes,
		"Currencies": currencies, "HasSecret": s.n.HasSecret()}
	for k, v := range result {
		data[k] = v
	}
	p.render("grants", data)
}

// grantAction takes the form: check, or record.
func (s *Server) grantAction(p page) {
	f := p.r.PostForm
	ids := applicants(f)
	if len(ids) == 0 {
		s.grants(p, f, p.lang.T("grants.noid"), nil)
		return
	}
	country := f.Get("country")
	switch f.Get("action") {
	case "record":
		amount := f.Get("amount")
		if strings.TrimSpace(amount) != "" {
			var ok bool
			if amount, ok = p.lang.amount(amount); !ok {
				s.grants(p, f, p.lang.badAmount(), nil)
				return
			}
		}
		ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
		defer cancel()
		rec, err := s.n.RecordGrant(ctx, node.GrantInput{Applicants: ids, Country: country, Amount: amount,
			Currency: f.Get("currency"), Support: f.Get("support"), Date: f.Get("date")})
		if err != nil {
			s.grants(p, f, s.grantProblem(p, err), nil)
			return
		}
		// What was typed is not kept on the page once recorded.
		s.grants(p, nil, "", map[string]any{"Recorded": true, "Matches": rec.Earlier})
	default:
		res, err := s.n.CheckGrant(ids, country)
		if err != nil {
			s.grants(p, f, s.grantProblem(p, err), nil)
			return
		}
		s.grants(p, f, "", map[string]any{"Checked": true, "Matches": res.Matches, "NotComparable": res.NotComparable})
	}
}

func (s *Server) grantProblem(p page, err error) string {
	if errors.Is(err, node.ErrNoSecret) {
		return p.lang.T("grants.nosecret")
	}
	return p.refused("grants.refused", err)
}
