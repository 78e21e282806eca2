package crdt

import (
	"bytes"
	"slices"
)

// Governance is who governs the network now, and what awaits approval.
type Governance struct {
	Quorum   int     // the quorum in force
	Needed   int     // approvals a change needs now: the quorum, or every steward while there are fewer
	Stewards []OrgID // ascending
	Pending  []PendingChange
}

// ChangeKind is what a pending change would do.
type ChangeKind int

// The changes that await stewards' approval.
const (
	ChangeAdmission     ChangeKind = iota + 1 // admit an organisation
	ChangeStewardAdd                          // make a member a steward
	ChangeStewardRemove                       // a steward stops being one
	ChangeQuorum                              // set the quorum
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeAdmission:
		return "admission"
	case ChangeStewardAdd:
		return "steward-add"
	case ChangeStewardRemove:
		return "steward-remove"
	case ChangeQuorum:
		return "quorum"
	}
	return "unknown"
}

// PendingChange is a change some stewards approved that has not taken
// effect.
type PendingChange struct {
	Kind       ChangeKind
	Org        OrgID   // admissions and steward changes
	Quorum     int     // quorum changes
	ApprovedBy []OrgID // steward organisations whose approval counts, ascending
	// Blocked says why the approvals in hand are not enough even when
	// they are as many as needed ("" when it only awaits approvals).
	Blocked string
}

// Governance reports the stewards, the quorum and the pending changes:
// admissions, steward changes (one per organisation: towards the standing
// it does not have), then quorum changes, lowest first.
func (s *State) Governance() Governance {
	m := s.m
	g := Governance{Quorum: m.quorum, Needed: m.needed()}
	counting := func(votes []OrgID) []OrgID {
		var out []OrgID
		for _, id := range votes {
			if o := m.orgs[id]; o != nil && o.admitted && o.steward {
				out = append(out, id)
			}
		}
		slices.SortFunc(out, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
		return out
	}
	ids := make([]OrgID, 0, len(m.orgs))
	for id := range m.orgs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		o := m.orgs[id]
		if o.admitted && o.steward {
			g.Stewards = append(g.Stewards, id)
		}
		if !o.admitted {
			g.Pending = append(g.Pending, PendingChange{Kind: ChangeAdmission, Org: id, ApprovedBy: counting(o.approvals)})
		}
	}
	for _, id := range ids {
		votes, ok := m.changeVotes[id]
		if !ok {
			continue
		}
		o := m.orgs[id]
		p := PendingChange{Kind: ChangeStewardAdd, Org: id, ApprovedBy: counting(votes)}
		if o.steward {
			p.Kind = ChangeStewardRemove
			if len(g.Stewards) == 1 {
				p.Blocked = "it is the only steward"
			}
		}
		g.Pending = append(g.Pending, p)
	}
	qs := make([]uint64, 0, len(m.quorumVotes))
	for q := range m.quorumVotes {
		qs = append(qs, q)
	}
	slices.Sort(qs)
	for _, q := range qs {
		p := PendingChange{Kind: ChangeQuorum, Quorum: int(q), ApprovedBy: counting(m.quorumVotes[q])}
		if q > uint64(len(g.Stewards)) {
			p.Blocked = "there are fewer stewards than that"
		}
		g.Pending = append(g.Pending, p)
	}
	return g
}

// ApprovedChange reports whether organisation by has an approval that
// counts towards the pending change p names (its kind, and its
// organisation or quorum).
func (g Governance) ApprovedChange(kind ChangeKind, org OrgID, quorum int, by OrgID) bool {
	for _, p := range g.Pending {
		if p.Kind == kind && p.Org == org && p.Quorum == quorum {
			return slices.Contains(p.ApprovedBy, by)
		}
	}
	return false
}
