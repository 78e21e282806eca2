package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

// Invites and revocations, from the members page.

var inviteDurations = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "3d": 72 * time.Hour, "7d": 7 * 24 * time.Hour}

// invite makes an invite code and shows it, with its QR code.
func (s *Server) invite(p page) {
	purpose := crdt.InviteOrganisation
	if p.r.PostFormValue("purpose") == "device" {
		purpose = crdt.InviteDevice
	}
	d, ok := inviteDurations[p.r.PostFormValue("expires")]
	if !ok {
		d = 72 * time.Hour
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	code, err := s.n.Invite(ctx, node.InviteOptions{Purpose: purpose, Expires: d})
	if err != nil {
		s.members(p, p.refused("invite.refused", err), "")
		return
	}
	var addrs []string
	for _, a := range code.Addrs {
		addrs = append(addrs, a.String())
	}
	expires := code.Expires
	p.render("invite", map[string]any{"Code": code.String(), "Expires": &expires, "Addrs": addrs, "Device": purpose == crdt.InviteDevice,
		"QR": qrSVG(code.QRText(), p.lang.T("invite.qrlabel"))})
}

// qrSVG draws text as a QR code in SVG (no script, no image fetched).
func qrSVG(text, label string) template.HTML {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return ""
	}
	const quiet = 4
	size := code.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"></rect><path fill="#000" d="`, template.HTMLEscapeString(label), size, size, size*6, size*6, size, size)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"></path></svg>`)
	return template.HTML(b.String()) // (numbers only, made here)
}

// noDevice is what a revocation's device, not found, is told: named by a
// stale page or a forged form (the node's words are the command line's).
func (s *Server) noDevice(p page, err error) string {
	if errors.Is(err, node.ErrNotFound) || errors.Is(err, node.ErrInput) {
		return p.lang.T("revoke.nodevice")
	}
	return p.refused("revoke.refused", err)
}

// revokeForm shows what revoking a device cuts off, as the CLI asks
// before it does.
func (s *Server) revokeForm(p page, device, problem string) {
	plan, err := s.n.PlanRevocation(p.r.Context(), device)
	if err != nil {
		s.members(p, s.noDevice(p, err), "")
		return
	}
	if problem != "" {
		p.w.WriteHeader(http.StatusUnprocessableEntity)
	}
	p.render("revoke", map[string]any{"Plan": plan, "Problem": problem})
}

// revoke revokes a device once confirmed; a revocation the node would
// refuse without --force takes the box that says so.
func (s *Server) revoke(p page) {
	device := p.r.PostFormValue("device")
	if p.r.PostFormValue("confirm") != "yes" {
		s.revokeForm(p, device, p.lang.T("revoke.confirmfirst"))
		return
	}
	plan, err := s.n.PlanRevocation(p.r.Context(), device)
	if err != nil {
		s.members(p, s.noDevice(p, err), "")
		return
	}
	ctx, cancel := context.WithTimeout(p.r.Context(), 30*time.Second)
	defer cancel()
	revoke := s.n.RevokeDevice
	if plan.Risk != nil {
		if p.r.PostFormValue("force") != "yes" {
			s.revokeForm(p, device, p.lang.T("revoke.forcefirst"))
			return
		}
		revoke = s.n.ForceRevokeDevice
	}
	if _, err := revoke(ctx, plan.Device, nil); err != nil {
		s.revokeForm(p, device, p.refused("revoke.refused", err))
		return
	}
	s.members(p, "", p.lang.T("revoke.done", plan.Device[:12], plan.OrgName))
}
