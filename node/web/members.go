package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/murmurnet/murmur/node"
)

// members lists the organisations: stewards, members, those awaiting
// admission (with the approve button, for a steward), and their devices.
func (s *Server) members(p page, problem, done string) {
	st := s.n.Status()
	ms := s.n.Members()
	g := s.n.Governance()
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	p.render("members", map[string]any{"Members": ms, "Gov": g, "Status": st, "Problem": problem, "Done": done})
}

// approveForm is what a steward checks before approving: the
// organisation's full ID, to compare with the organisation itself by a
// channel already trusted, and who invited it.
func (s *Server) approveForm(p page, org, problem string) {
	for _, m := range s.n.Members() {
		if m.Org == org && !m.Admitted {
			if problem != "" {
				p.w.WriteHeader(http.StatusUnprocessableEntity)
			}
			g := s.n.Governance()
			var by []string
			for _, pi := range g.Pending {
				if pi.Org == org {
					for _, a := range pi.ApprovedBy {
						by = append(by, a.Name)
					}
				}
			}
			p.render("approve", map[string]any{"M": m, "Gov": g, "Problem": problem, "Spoken": spokenID(m.Org), "ApprovedBy": by})
			return
		}
	}
	s.members(p, p.lang.T("members.notpending"), "")
}

// spokenID is an organisation ID in groups of four, to read out.
func spokenID(id string) string {
	var parts []string
	for i := 0; i+4 <= len(id) && i < 16; i += 4 {
		parts = append(parts, id[i:i+4])
	}
	return strings.Join(parts, " ")
}

// approve is a steward's approval of an organisation awaiting admission,
// once confirmed.
func (s *Server) approve(p page) {
	org := strings.TrimSpace(p.r.PostFormValue("org"))
	if !slices.ContainsFunc(s.n.Members(), func(m node.MemberInfo) bool { return m.Org == org && !m.Admitted }) {
		s.members(p, p.lang.T("members.notpending"), "")
		return
	}
	if p.r.PostFormValue("confirm") != "yes" {
		s.approveForm(p, org, p.lang.T("approve.confirmfirst"))
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.Approve(ctx, org); err != nil {
		s.members(p, p.refused("members.notapproved", err), "")
		return
	}
	p.redirect("/members?done=approved")
}
