package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/murmurnet/murmur/crdt"
)

// Suggestion is a member whose directory entry fits a request.
type Suggestion struct {
	Org      string `json:"org"`
	Name     string `json:"name"`                // admitted under
	ListedAs string `json:"listed_as,omitempty"` // its directory entry's name, if another`
	Score    int    `json:"score"`
	Why      string `json:"why"`
	Matched  struct {
		Needs     []string `json:"needs"`
		Region    bool     `json:"region"`
		Languages []string `json:"languages"`
	} `json:"matched"`
	Addressed bool   `json:"addressed"` // the request is addressed to it
	Answer    string `json:"answer"`    // its standing answer, if any: accept, decline
}

// Scores of a match. A support type the case needs is what a referral is
// about; the region, then a shared language, come next; a quick typical
// turnaround breaks ties, and counts more on an urgent case.
const (
	scoreNeed     = 4
	scoreRegion   = 3
	scoreLanguage = 2
	scoreQuick    = 1 // typical turnaround within 72 hours
)

// Suggest ranks the members whose directory entries fit a request (a
// referral, usually): best first, each with why. Members that declined it
// are left out; the requester's own organisation too. Only members that
// offer a needed support type or cover the region are listed.
func (n *Node) Suggest(ref string) ([]Suggestion, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return nil, err
	}
	if rv.Withheld {
		return nil, fmt.Errorf("request %s: its details are not held here", short(rv.ID.String()))
	}
	req := rv.Request
	if len(req.Needs) == 0 && req.Region == "" {
		return nil, fmt.Errorf("request %s names no needs and no region: there is nothing to match members on", short(rv.ID.String()))
	}
	answers := map[crdt.OrgID]crdt.ResponseType{}
	for _, p := range rv.Outcome.Positions {
		answers[p.Org] = p.Type
	}
	admitted := map[crdt.OrgID]string{}
	for _, o := range n.state.Members() {
		if o.Admitted {
			admitted[o.ID] = o.Name
		}
	}
	out := []Suggestion{}
	for _, d := range n.state.Directory() {
		name, ok := admitted[d.Org]
		if !ok || d.Org == rv.Org || answers[d.Org] == crdt.Decline {
			continue
		}
		name, listedAs := listedName(name, d.Name)
		s := Suggestion{Org: d.Org.String(), Name: name, ListedAs: listedAs, Addressed: slices.Contains(req.To, d.Org)}
		s.Matched.Needs, s.Matched.Languages = []string{}, []string{}
		if a, ok := answers[d.Org]; ok {
			s.Answer = a.String()
		}
		var why []string
		for _, need := range req.Needs {
			if slices.Contains(d.Offers, need) {
				s.Matched.Needs = append(s.Matched.Needs, need)
				s.Score += scoreNeed
			}
		}
		if len(s.Matched.Needs) > 0 {
			why = append(why, fmt.Sprintf("offers %s", strings.Join(s.Matched.Needs, ", ")))
			if missing := len(req.Needs) - len(s.Matched.Needs); missing > 0 {
				why[len(why)-1] += fmt.Sprintf(" (%d of %d needs)", len(s.Matched.Needs), len(req.Needs))
			}
		}
		if req.Region != "" && slices.Contains(d.Regions, req.Region) {
			s.Matched.Region = true
			s.Score += scoreRegion
			why = append(why, "covers "+req.Region)
		}
		if len(s.Matched.Needs) == 0 && !s.Matched.Region {
			continue
		}
		for _, l := range req.Languages {
			if slices.ContainsFunc(d.Languages, func(x string) bool { return sameLanguage(x, l) }) {
				s.Matched.Languages = append(s.Matched.Languages, l)
				s.Score += scoreLanguage
			}
		}
		if len(s.Matched.Languages) > 0 {
			why = append(why, "works in "+strings.Join(s.Matched.Languages, ", "))
		}
		if d.TurnaroundHours > 0 && d.TurnaroundHours <= 72 {
			s.Score += scoreQuick
			if req.Urgency >= 3 {
				s.Score += scoreQuick
			}
			why = append(why, fmt.Sprintf("answers in about %d h", d.TurnaroundHours))
		}
		if s.Addressed {
			why = append(why, "already addressed")
		}
		if s.Answer == "accept" {
			why = append(why, "has accepted")
		}
		s.Why = strings.Join(why, "; ")
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Suggestion) int {
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

// sameLanguage: "pt" matches "pt-BR" and the other way round.
func sameLanguage(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	return a == b || strings.HasPrefix(a, b+"-") || strings.HasPrefix(b, a+"-")
}
