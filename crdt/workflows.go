package crdt

import (
	"bytes"
	"slices"
	"strings"
)

// What a request's responses add up to. Every rule here is a function of
// the set of accepted responses (taken in clock-then-ID order), never of
// the order they arrived in, and reads only what the entries carry: no
// wall clock. A response that breaks a rule (an accept from an
// organisation the referral is not addressed to, a signature after the
// deadline, a position taken on one's own request) is kept and listed, but
// does not count: the node refuses to write such a response, but another
// release, or a member's node gone rogue, may.

// Outcome is what a request's responses add up to.
type Outcome struct {
	// Positions is each other organisation's standing answer: its latest
	// vouch, concern or unknown (a verification), accept or decline (a
	// referral). The requesting organisation takes no position on its own
	// request. Ordered by organisation ID.
	Positions []ResponseView

	// AcceptedBy is the acceptance that counts on a referral: the earliest
	// standing accept from an addressee, or (the referral open again) from
	// anyone.
	AcceptedBy *ResponseView
	// Reopened: the referral was addressed to organisations that have all
	// declined it; it is open to every member now.
	Reopened bool

	// Pledges lists every pledge to a funding request, oldest first.
	Pledges []PledgeView
	// Pledged sums the pledges not withdrawn, per currency (sorted).
	Pledged []Money
	// Remaining is what is left of the request's amount in its currency.
	Remaining uint64
	// Covered: the pledges in the request's currency reach its amount.
	Covered bool

	// Signatures is one per organisation that signed a letter: its earliest
	// signature dated (by its clock) on or before the deadline. Oldest
	// first.
	Signatures []ResponseView
}

// PledgeView is a pledge and whether its author withdrew it.
type PledgeView struct {
	ResponseView
	Withdrawn   bool
	WithdrawnBy ID // the withdrawal, if Withdrawn
}

// Money is an amount (hundredths) in a currency.
type Money struct {
	Currency string
	Amount   uint64
}

// outcome adds up resps (sorted by clock, then ID), the responses that fit
// req, a request of org.
func outcome(org OrgID, req *Request, resps []ResponseView) Outcome {
	var o Outcome
	switch req.Type {
	case Verification, Referral:
		latest := map[OrgID]ResponseView{}
		for _, r := range resps {
			if r.Org != org && r.Type != Comment {
				latest[r.Org] = r // sorted: the last one wins
			}
		}
		for _, r := range latest {
			o.Positions = append(o.Positions, r)
		}
		slices.SortFunc(o.Positions, func(a, b ResponseView) int { return bytes.Compare(a.Org[:], b.Org[:]) })
		if req.Type == Referral {
			o.AcceptedBy, o.Reopened = referral(req, latest, resps)
		}
	case Funding:
		o.Pledges, o.Pledged = pledges(resps)
		var got uint64
		for _, m := range o.Pledged {
			if m.Currency == req.Currency {
				got = m.Amount
			}
		}
		o.Covered = got >= req.Amount
		if !o.Covered {
			o.Remaining = req.Amount - got
		}
	case Letter:
		signed := map[OrgID]bool{}
		for _, r := range resps {
			if r.Type == SignOn && !signed[r.Org] && (req.RespondBy == 0 || r.Clock.Millis() <= req.RespondBy) {
				signed[r.Org] = true
				o.Signatures = append(o.Signatures, r)
			}
		}
	}
	return o
}

// referral: the acceptance that counts, and whether every addressee
// declined. latest holds each other organisation's standing position.
func referral(req *Request, latest map[OrgID]ResponseView, resps []ResponseView) (*ResponseView, bool) {
	reopened := len(req.To) > 0
	for _, to := range req.To {
		if p, ok := latest[to]; !ok || p.Type != Decline {
			reopened = false
		}
	}
	for _, r := range resps { // the earliest standing accept that counts
		p, ok := latest[r.Org]
		if !ok || p.ID != r.ID || r.Type != Accept {
			continue
		}
		if len(req.To) == 0 || reopened || slices.Contains(req.To, r.Org) {
			return &r, reopened
		}
	}
	return nil, reopened
}

// pledges lists the pledges among resps, marks those withdrawn — a
// withdrawal withdraws the pledges it names among its dependencies that its
// own organisation made — and sums the rest per currency.
func pledges(resps []ResponseView) ([]PledgeView, []Money) {
	var out []PledgeView
	at := map[ID]int{}
	for _, r := range resps {
		if r.Type == Pledge {
			at[r.ID] = len(out)
			out = append(out, PledgeView{ResponseView: r})
		}
	}
	for _, w := range resps {
		if w.Type != Withdraw {
			continue
		}
		for _, d := range w.Deps {
			if i, ok := at[d]; ok && out[i].Org == w.Org && !out[i].Withdrawn {
				out[i].Withdrawn, out[i].WithdrawnBy = true, w.ID
			}
		}
	}
	sums := map[string]uint64{}
	for _, p := range out {
		if !p.Withdrawn {
			sums[p.Currency] = addSat(sums[p.Currency], p.Amount)
		}
	}
	var total []Money
	for c, a := range sums {
		total = append(total, Money{Currency: c, Amount: a})
	}
	slices.SortFunc(total, func(a, b Money) int { return strings.Compare(a.Currency, b.Currency) })
	return out, total
}

func addSat(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// GrantView is a grant record.
type GrantView struct {
	ID    ID
	Org   OrgID
	Clock Clock
	Grant
}

// GrantsMatching lists the grant records that carry any of tokens, oldest
// first, each once.
func (s *State) GrantsMatching(tokens [][32]byte) []GrantView {
	seen := map[ID]bool{}
	var rs []*record
	for _, t := range tokens {
		s.fail(s.facts.Grants(t, func(e *Entry) error {
			if !seen[e.id] {
				seen[e.id] = true
				if r := s.get(e.id); r != nil {
					rs = append(rs, r)
				}
			}
			return nil
		}))
	}
	sortRecords(rs)
	out := make([]GrantView, len(rs))
	for i, r := range rs {
		out[i] = GrantView{ID: r.id(), Org: s.orgOf(r), Clock: r.e.Clock, Grant: *r.body.(*Grant)}
	}
	return out
}

// GrantKeyChecks counts the grant records by the key check they carry: how
// many were made under each network secret.
func (s *State) GrantKeyChecks() map[[8]byte]int {
	out := map[[8]byte]int{}
	for _, r := range s.records(ViewGrant, nil) {
		if g, ok := r.body.(*Grant); ok {
			out[g.KeyCheck]++
		}
	}
	return out
}
