package web

import (
	"context"
	"net/http"
	"strings"
	"time"
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

// approve is a steward's approval of an organisation awaiting admission.
func (s *Server) approve(p page) {
	org := strings.TrimSpace(p.r.PostFormValue("org"))
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.n.Approve(ctx, org); err != nil {
		s.members(p, p.refused("members.notapproved", err), "")
		return
	}
	s.members(p, "", p.lang.T("members.approved"))
}
