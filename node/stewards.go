package node

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/murmurnet/murmur/crdt"
)

// Stewards and the quorum: who may admit organisations, revoke any device
// and change the stewards or the quorum. Each change is approved by one
// entry per steward organisation, and takes effect in crdt's replay once
// the quorum in force has approved it (crdt/membership.go); the checks here
// only spare a person an entry that would count for nothing.

// ResolveMember finds a member organisation by name (case and spacing do
// not matter) or by ID or a prefix of it.
func (n *Node) ResolveMember(ref string) (crdt.OrgView, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resolveMember(ref)
}

// sameName reports whether two organisation names would be taken for one
// another: the same once case, spacing, invisible characters, variation
// selectors, compatibility forms and Cyrillic or Greek look-alikes of Latin
// letters are set aside (crdt.SameName). Both the duplicate check on
// admission and approval (takenName) and the lookup by name use it.
func sameName(a, b string) bool { return crdt.SameName(a, b) }

// bracketed are the parts of a name in brackets, full-width ones too.
var bracketed = regexp.MustCompile(`[(\[{（［｛]([^)\]}）］｝]*)[)\]}）］｝]`)

// idInBrackets reports whether name holds, in brackets, what reads as an
// ID: six or more hexadecimal digits, one a figure at least, spaces and
// punctuation aside —
// "Defenders Fund (78297a05ccf8)", the form the screens use to tell
// organisations apart, would pass for the organisation with that ID.
func idInBrackets(name string) bool {
	for _, m := range bracketed.FindAllStringSubmatch(name, -1) {
		hex, figures := 0, 0
		ok := true
		for _, r := range norm.NFKC.String(m[1]) {
			switch {
			case r >= '0' && r <= '9':
				hex, figures = hex+1, figures+1
			case strings.ContainsRune("abcdefABCDEF", r):
				hex++
			case unicode.IsSpace(r) || unicode.IsPunct(r):
			default:
				ok = false
			}
		}
		if ok && hex >= 6 && figures > 0 {
			return true
		}
	}
	return false
}

func (n *Node) resolveMember(ref string) (crdt.OrgView, error) {
	var named []crdt.OrgView
	for _, o := range n.state.Members() {
		if sameName(o.Name, ref) {
			named = append(named, o)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) > 1:
		ids := make([]string, len(named))
		for i, o := range named {
			ids[i] = o.ID.String()[:12]
		}
		return crdt.OrgView{}, inputError{msg: fmt.Sprintf("%d organisations are called %q: give the ID of the one you mean (%s)",
			len(named), strings.TrimSpace(ref), strings.Join(ids, ", ")), err: ErrNotFound}
	}
	if looksLikeID(ref) {
		o, err := n.resolveOrg(ref)
		if err != nil {
			return o, inputError{msg: err.Error() + " (see murmur members)", err: ErrNotFound}
		}
		return o, nil
	}
	return crdt.OrgView{}, inputError{msg: fmt.Sprintf("no organisation is called %q: give its name or ID as murmur members shows them", strings.TrimSpace(ref)), err: ErrNotFound}
}

// looksLikeID: hexadecimal, long enough to be an ID prefix.
func looksLikeID(ref string) bool {
	r := strings.TrimSpace(ref)
	if len(r) < 8 || len(r) > 64 {
		return false
	}
	for _, c := range strings.ToLower(r) {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// ChangeOutcome is where a change stands once this organisation approved
// it.
type ChangeOutcome struct {
	Entry      string   `json:"id"`
	Change     string   `json:"change"` // steward-add, steward-remove or quorum
	Org        string   `json:"org,omitempty"`
	Name       string   `json:"name,omitempty"`
	Quorum     int      `json:"quorum,omitempty"`
	InEffect   bool     `json:"in_effect"`
	ApprovedBy []string `json:"approved_by"` // names of the steward organisations whose approval counts
	Needed     int      `json:"needed"`
}

// ChangeSteward is this steward organisation's approval that the
// organisation ref names becomes a steward (steward true) or stops being
// one.
func (n *Node) ChangeSteward(ctx context.Context, ref string, steward bool) (ChangeOutcome, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	o, err := n.resolveMember(ref)
	if err != nil {
		return ChangeOutcome{}, err
	}
	if err := n.mayGovern("change who the stewards are"); err != nil {
		return ChangeOutcome{}, err
	}
	g := n.state.Governance()
	kind := crdt.ChangeStewardAdd
	if !steward {
		kind = crdt.ChangeStewardRemove
	}
	switch {
	case !o.Admitted:
		return ChangeOutcome{}, fmt.Errorf("%s is not admitted yet: the stewards approve its admission first (murmur approve)", o.Name)
	case steward && o.Steward:
		return ChangeOutcome{}, fmt.Errorf("%s is a steward already", o.Name)
	case !steward && !o.Steward:
		return ChangeOutcome{}, fmt.Errorf("%s is not a steward", o.Name)
	case steward && !slices.ContainsFunc(o.Devices, func(d crdt.DeviceView) bool { return !d.Revoked }):
		return ChangeOutcome{}, fmt.Errorf("every device of %s is revoked: as a steward it could never approve anything, and changes needing its approval would wait for ever", o.Name)
	case !steward && len(g.Stewards) == 1:
		return ChangeOutcome{}, fmt.Errorf("%s is the network's only steward: name another one first (murmur steward add ORG), or nobody could ever admit or revoke again", o.Name)
	case g.ApprovedChange(kind, o.ID, 0, n.org):
		return ChangeOutcome{}, fmt.Errorf("your organisation has approved this already; it awaits %s", n.awaiting(g, kind, o.ID, 0))
	}
	e, err := n.append(ctx, &crdt.StewardChange{Org: o.ID, Steward: steward})
	if err != nil {
		return ChangeOutcome{}, err
	}
	out := n.outcome(e, kind, o.ID, 0)
	now, _ := n.state.Org(o.ID)
	out.InEffect = now.Steward == steward
	return out, nil
}

// SetQuorum is this steward organisation's approval of a new quorum.
func (n *Node) SetQuorum(ctx context.Context, q int) (ChangeOutcome, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if q < 1 || q > crdt.MaxQuorum {
		return ChangeOutcome{}, inputErr("a quorum is a number of stewards from 1 to %d, not %d", crdt.MaxQuorum, q)
	}
	if err := n.mayGovern("change the quorum"); err != nil {
		return ChangeOutcome{}, err
	}
	g := n.state.Governance()
	switch {
	case q == g.Quorum:
		return ChangeOutcome{}, fmt.Errorf("the quorum is %d already", q)
	case q > len(g.Stewards):
		return ChangeOutcome{}, fmt.Errorf("there %s: a quorum of %d could never be met; name more stewards first (murmur steward add ORG)",
			onlyCount(len(g.Stewards), "steward"), q)
	case g.ApprovedChange(crdt.ChangeQuorum, crdt.OrgID{}, q, n.org):
		return ChangeOutcome{}, fmt.Errorf("your organisation has approved this already; it awaits %s", n.awaiting(g, crdt.ChangeQuorum, crdt.OrgID{}, q))
	}
	e, err := n.append(ctx, &crdt.QuorumChange{Quorum: uint64(q)})
	if err != nil {
		return ChangeOutcome{}, err
	}
	out := n.outcome(e, crdt.ChangeQuorum, crdt.OrgID{}, q)
	out.InEffect = n.state.Quorum() == q
	return out, nil
}

func onlyCount(k int, what string) string {
	if k == 1 {
		return fmt.Sprintf("is only 1 %s", what)
	}
	return fmt.Sprintf("are only %d %ss", k, what)
}

// mayGovern: only a steward organisation's approval counts. The caller
// holds n.mu.
func (n *Node) mayGovern(what string) error {
	mine, ok := n.myOrg()
	if ok && mine.Steward {
		return nil
	}
	var names []string
	for _, id := range n.state.Governance().Stewards {
		names = append(names, n.orgName(id))
	}
	return fmt.Errorf("only stewards approve a change; your organisation is not one, so it cannot %s (the stewards: %s)", what, strings.Join(names, ", "))
}

func (n *Node) orgName(id crdt.OrgID) string {
	if o, ok := n.state.Org(id); ok && o.Name != "" {
		return o.Name
	}
	return id.String()[:12]
}

// awaiting says how many more approvals a pending change needs.
func (n *Node) awaiting(g crdt.Governance, kind crdt.ChangeKind, org crdt.OrgID, q int) string {
	for _, p := range g.Pending {
		if p.Kind == kind && p.Org == org && p.Quorum == q {
			if p.Blocked != "" {
				return "nothing more: it cannot take effect while " + p.Blocked
			}
			more := g.Needed - len(p.ApprovedBy)
			if more == 1 {
				return "1 more steward's approval"
			}
			return fmt.Sprintf("%d more stewards' approvals", more)
		}
	}
	return "other stewards"
}

// outcome describes a change after this organisation's approval e.
func (n *Node) outcome(e *crdt.Entry, kind crdt.ChangeKind, org crdt.OrgID, q int) ChangeOutcome {
	g := n.state.Governance()
	out := ChangeOutcome{Entry: e.ID().String(), Change: kind.String(), Quorum: q, ApprovedBy: []string{}, Needed: g.Needed}
	if kind != crdt.ChangeQuorum {
		out.Org, out.Name = org.String(), n.orgName(org)
	}
	for _, p := range g.Pending {
		if p.Kind == kind && p.Org == org && p.Quorum == q {
			for _, id := range p.ApprovedBy {
				out.ApprovedBy = append(out.ApprovedBy, n.orgName(id))
			}
		}
	}
	return out
}

// GovernanceInfo is who the stewards are, the quorum, and what awaits
// approval.
type GovernanceInfo struct {
	Quorum   int           `json:"quorum"`
	Needed   int           `json:"needed"` // approvals a change needs now: the quorum, or every steward while there are fewer
	Stewards []OrgRef      `json:"stewards"`
	Pending  []PendingInfo `json:"pending"`
}

// OrgRef names an organisation.
type OrgRef struct {
	Org  string `json:"org"`
	Name string `json:"name"`
}

// PendingInfo is a change some stewards approved that has not taken
// effect.
type PendingInfo struct {
	Change     string   `json:"change"` // admission, steward-add, steward-remove or quorum
	Org        string   `json:"org,omitempty"`
	Name       string   `json:"name,omitempty"`
	Quorum     int      `json:"quorum,omitempty"`
	ApprovedBy []OrgRef `json:"approved_by"`
	Needed     int      `json:"needed"`
	Blocked    string   `json:"blocked,omitempty"` // why it cannot take effect however many approve
}

// Governance reports the stewards, the quorum and the pending changes.
func (n *Node) Governance() GovernanceInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := n.state.Governance()
	ref := func(id crdt.OrgID) OrgRef { return OrgRef{Org: id.String(), Name: n.orgName(id)} }
	out := GovernanceInfo{Quorum: g.Quorum, Needed: g.Needed, Stewards: []OrgRef{}, Pending: []PendingInfo{}}
	for _, id := range g.Stewards {
		out.Stewards = append(out.Stewards, ref(id))
	}
	for _, p := range g.Pending {
		pi := PendingInfo{Change: p.Kind.String(), Quorum: p.Quorum, ApprovedBy: []OrgRef{}, Needed: g.Needed, Blocked: p.Blocked}
		if p.Kind != crdt.ChangeQuorum {
			pi.Org, pi.Name = p.Org.String(), n.orgName(p.Org)
		}
		for _, id := range p.ApprovedBy {
			pi.ApprovedBy = append(pi.ApprovedBy, ref(id))
		}
		out.Pending = append(out.Pending, pi)
	}
	return out
}

// takenName refuses an organisation's name that an admitted member has
// already once case, spacing,
// invisible characters and look-alike letters are set aside (sameName):
// two names that look the same would be mistaken for each other, in
// members, in --to and on every screen. id is the organisation being
// admitted. The caller holds n.mu.
func (n *Node) takenName(name string, id crdt.OrgID) error {
	if idInBrackets(name) {
		return refuse("joiner-name-brackets", name)
	}
	// Only admitted members hold their names: an organisation awaiting
	// admission does not, or whoever holds a stolen code could squat the
	// rightful joiner's name for as long as it waits (review 10). Of two
	// that wait under one name, the first admitted takes it (Approve checks
	// again).
	for _, o := range n.state.Members() {
		if o.ID != id && o.Admitted && sameName(o.Name, name) {
			return refuse("joiner-name-taken", o.Name, o.ID.String()[:12])
		}
	}
	return nil
}
