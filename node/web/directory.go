package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

// directory lists the members' directory entries, filtered by region,
// support offered, language and group; this organisation's own entry
// comes with the form to change it.
func (s *Server) directory(p page, form url.Values, problem, done string) {
	q := p.r.URL.Query()
	f := node.DirectoryFilter{Region: q.Get("region"), Offers: q.Get("offers"), Language: q.Get("language"), Group: q.Get("group")}
	entries, err := s.n.Directory(f)
	if err != nil {
		entries = nil
		if problem == "" {
			problem = p.lang.T("directory.badfilter")
		}
	}
	st := s.n.Status()
	var mine *node.DirectoryInfo
	all, _ := s.n.Directory(node.DirectoryFilter{})
	for i := range all {
		if all[i].Org == st.Org {
			mine = &all[i]
		}
	}
	if form == nil {
		form = url.Values{}
		if mine != nil {
			form["regions"], form["offers"], form["languages"], form["groups"] = mine.Regions, mine.Offers, mine.Languages, mine.Groups
			form.Set("contact", mine.Contact)
			if mine.TurnaroundHours > 0 {
				form.Set("turnaround", strconv.FormatUint(mine.TurnaroundHours, 10))
			}
		}
	}
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	p.render("directory", map[string]any{"Entries": entries, "Filter": f, "Mine": mine, "Form": form, "Problem": problem, "Done": done,
		"Regions": regionOptions(p.lang), "Languages": languageOptions(p.lang), "Offers": ident.SupportTypes, "Groups": ident.Groups})
}

// setDirectory publishes this organisation's entry from the form.
func (s *Server) setDirectory(p page) {
	f := p.r.PostForm
	regions, offers, languages, groups := f["regions"], f["offers"], f["languages"], f["groups"]
	contact := strings.TrimSpace(f.Get("contact"))
	in := node.DirectoryInput{Regions: &regions, Offers: &offers, Languages: &languages, Groups: &groups, Contact: &contact}
	if t := strings.TrimSpace(f.Get("turnaround")); t != "" {
		h, err := strconv.ParseUint(ident.ASCIIDigits(t), 10, 32)
		if err != nil || h == 0 {
			s.directory(p, f, p.lang.T("directory.badturnaround"), "")
			return
		}
		in.TurnaroundHours = &h
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.SetDirectory(ctx, in); err != nil {
		s.directory(p, f, p.refused("directory.refused", err), "")
		return
	}
	s.directory(p, nil, "", p.lang.T("directory.saved"))
}
