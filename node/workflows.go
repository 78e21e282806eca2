package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
)

// ErrNotFound is returned when an ID or prefix names nothing.
var ErrNotFound = errors.New("not found")

// resolve finds the one ID among ids that ref names: the whole ID or a
// unique prefix of at least 8 characters.
func resolve(what, ref string, ids []string) (int, error) {
	r := strings.ToLower(strings.TrimSpace(ref))
	if len(r) < 8 || len(r) > 64 {
		return 0, inputErr("%s %q: give the ID or at least its first 8 characters", what, ref)
	}
	for _, c := range r {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return 0, inputErr("%s %q is not an ID (IDs are hexadecimal)", what, ref)
		}
	}
	found := -1
	for i, id := range ids {
		if strings.HasPrefix(id, r) {
			if found >= 0 {
				return 0, fmt.Errorf("%s %q is ambiguous: give more characters", what, ref)
			}
			found = i
		}
	}
	if found < 0 {
		return 0, fmt.Errorf("%w: no %s %s", ErrNotFound, what, ref)
	}
	return found, nil
}

// ResolveOrg finds an organisation (admitted or pending) by ID or prefix.
func (n *Node) ResolveOrg(ref string) (crdt.OrgView, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resolveOrg(ref)
}

func (n *Node) resolveOrg(ref string) (crdt.OrgView, error) {
	orgs := n.state.Members()
	ids := make([]string, len(orgs))
	for i, o := range orgs {
		ids[i] = o.ID.String()
	}
	i, err := resolve("organisation", ref, ids)
	if err != nil {
		return crdt.OrgView{}, err
	}
	return orgs[i], nil
}

// ResolveDevice finds a member device by key or prefix.
func (n *Node) ResolveDevice(ref string) (crdt.DeviceView, crdt.OrgView, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resolveDevice(ref)
}

func (n *Node) resolveDevice(ref string) (crdt.DeviceView, crdt.OrgView, error) {
	var ids []string
	var devs []crdt.DeviceView
	var orgs []crdt.OrgView
	for _, o := range n.state.Members() {
		for _, d := range o.Devices {
			ids, devs, orgs = append(ids, d.Key.String()), append(devs, d), append(orgs, o)
		}
	}
	i, err := resolve("device", ref, ids)
	if err != nil {
		return crdt.DeviceView{}, crdt.OrgView{}, err
	}
	return devs[i], orgs[i], nil
}

// ResolveRequest finds a request by ID or prefix.
func (n *Node) ResolveRequest(ref string) (crdt.RequestView, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.resolveRequest(ref)
}

func (n *Node) resolveRequest(ref string) (crdt.RequestView, error) {
	rv, err := n.requestByPrefix(ref)
	if errors.Is(err, ErrNotFound) {
		if why := n.notApplied(ref); why != "" {
			return crdt.RequestView{}, notListed{fmt.Sprintf("request %s %s", strings.TrimSpace(ref), why)}
		}
	}
	if errors.Is(err, ErrNotFound) {
		if req, ok := n.answeredBy(ref); ok {
			return crdt.RequestView{}, notListed{fmt.Sprintf("%s is a response, not a request: it answers request %s (`murmur request show %s`)",
				strings.TrimSpace(ref), req.String()[:8], req.String()[:8])}
		}
	}
	if err != nil {
		return crdt.RequestView{}, fmt.Errorf("%w (`murmur request list` shows the requests this node holds)", err)
	}
	return rv, nil
}

// answeredBy finds the request the one response an ID or prefix names
// answers (a caseworker gave a response's ID where a request's belongs).
func (n *Node) answeredBy(ref string) (crdt.ID, bool) {
	lo, hi := idRange(strings.ToLower(strings.TrimSpace(ref)))
	var ids []crdt.ID
	err := n.store.StoredBetween(context.Background(), lo, hi, 2, func(id crdt.ID, k crdt.Kind, _ crdt.Status) {
		if k == crdt.KindResponse || k == crdt.KindSealed {
			ids = append(ids, id)
		}
	})
	if err != nil || len(ids) != 1 {
		return crdt.ID{}, false
	}
	e, _, ok := n.state.Entry(ids[0])
	if !ok {
		return crdt.ID{}, false
	}
	body := e.ParsedBody()
	if s, ok := body.(*crdt.Sealed); ok {
		body = s.Open()
	}
	if r, ok := body.(*crdt.Response); ok {
		return r.Request, true
	}
	return crdt.ID{}, false
}

// notListed is ErrNotFound for an entry this node stores but does not
// list, in words that do not say it is missing.
type notListed struct{ msg string }

func (e notListed) Error() string { return e.msg }
func (e notListed) Unwrap() error { return ErrNotFound }

// notApplied says why the request an ID or prefix names is stored but not
// listed (it waits for an entry it depends on, or is held), or "" if no
// such request is stored.
func (n *Node) notApplied(ref string) string {
	lo, hi := idRange(strings.ToLower(strings.TrimSpace(ref)))
	var (
		sts   []crdt.Status
		ids   []crdt.ID
		kinds []crdt.Kind
	)
	err := n.store.StoredBetween(context.Background(), lo, hi, 2, func(id crdt.ID, k crdt.Kind, st crdt.Status) {
		if k == crdt.KindRequest || k == crdt.KindSealed {
			sts, ids, kinds = append(sts, st), append(ids, id), append(kinds, k)
		}
	})
	if err != nil || len(sts) != 1 {
		return ""
	}
	switch sts[0] {
	case crdt.StatusWaiting:
		return "is on this node but waits for an earlier entry from its author that has not arrived yet: it can be seen and answered once that arrives (`murmur status` counts the entries waiting)"
	case crdt.StatusHeld:
		if kinds[0] == crdt.KindSealed {
			// Held with its author in good standing: the sealed body's
			// old format (no key commitment), which this network refuses.
			if rec, err := n.store.Get(context.Background(), ids[0]); err == nil {
				if e, err := crdt.Decode(rec.Raw); err == nil {
					if _, ok := n.state.Standing(e.Author); ok {
						return "is on this node but held: it is sealed in the old format, without the commitment to its key that this network requires (its author's node runs an old or altered Murmur); it cannot be shown"
					}
				}
			}
		}
		return "is on this node but held: its author has no standing to write it (a device not, or no longer, admitted)"
	}
	return ""
}

// requestByPrefix finds the request whose ID is, or starts with, ref: by
// an ID range, not by reading every request.
func (n *Node) requestByPrefix(ref string) (crdt.RequestView, error) {
	r := strings.ToLower(strings.TrimSpace(ref))
	if _, err := resolve("request", r, nil); errors.Is(err, ErrInput) {
		return crdt.RequestView{}, err
	}
	lo, hi := idRange(r)
	reqs := n.state.RequestsBetween(lo, hi, 2)
	ids := make([]string, len(reqs))
	for i, rv := range reqs {
		ids[i] = rv.ID.String()
	}
	i, err := resolve("request", r, ids)
	if err != nil {
		return crdt.RequestView{}, err
	}
	return reqs[i], nil
}

// idRange is the range of IDs that start with the hexadecimal prefix p.
func idRange(p string) (lo, hi crdt.ID) {
	lo8, _ := hex.DecodeString((p + strings.Repeat("0", 64))[:64])
	hi8, _ := hex.DecodeString((p + strings.Repeat("f", 64))[:64])
	copy(lo[:], lo8)
	copy(hi[:], hi8)
	return lo, hi
}

// myOrg is this node's organisation, if admitted.
func (n *Node) myOrg() (crdt.OrgView, bool) {
	o, ok := n.state.Org(n.org)
	return o, ok && o.Admitted
}

// DirectoryInput changes this organisation's directory entry; nil fields
// keep their current value.
type DirectoryInput struct {
	Name                               *string
	Regions, Offers, Languages, Groups *[]string
	TurnaroundHours                    *uint64
	Contact                            *string
}

// SetDirectory publishes this organisation's directory entry, keeping the
// fields not given.
func (n *Node) SetDirectory(ctx context.Context, in DirectoryInput) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	// The entry read and the one written are one transaction: two
	// processes changing different fields at once both keep their change.
	var e *crdt.Entry
	err := n.atomically(ctx, func() (err error) {
		e, err = n.setDirectory(ctx, in)
		return err
	})
	return e, err
}

// setDirectory is SetDirectory inside its transaction. The caller holds
// n.mu.
func (n *Node) setDirectory(ctx context.Context, in DirectoryInput) (*crdt.Entry, error) {
	d := crdt.Directory{}
	listed := map[crdt.OrgID]string{} // the other organisations' directory names
	for _, cur := range n.state.Directory() {
		if cur.Org == n.org {
			d = cur.Directory
		} else if cur.Name != "" {
			listed[cur.Org] = cur.Name
		}
	}
	var err error
	if in.Name != nil {
		d.Name = strings.TrimSpace(*in.Name)
		if utf8.RuneCountInString(d.Name) > crdt.MaxNameLen {
			return nil, refuseInput("name-long", crdt.MaxNameLen)
		}
		if idInBrackets(d.Name) {
			return nil, refuseInput("name-brackets", d.Name)
		}
		for id, name := range n.state.OrgNames() {
			if id != n.org && sameName(name, d.Name) {
				return nil, refuseInput("name-of-member", name, short(id.String()))
			}
		}
		for id, name := range listed {
			if sameName(name, d.Name) {
				return nil, refuseInput("name-in-directory", name, short(id.String()))
			}
		}
	}
	for _, f := range []struct {
		in    *[]string
		out   *[]string
		check func(string) (string, error)
	}{{in.Regions, &d.Regions, ident.Region}, {in.Offers, &d.Offers, ident.SupportType}, {in.Languages, &d.Languages, ident.Language}, {in.Groups, &d.Groups, ident.Group}} {
		if f.in != nil {
			if *f.out, err = ident.CanonicalList(*f.in, f.check); err != nil {
				return nil, err
			}
		}
	}
	if in.TurnaroundHours != nil {
		d.TurnaroundHours = *in.TurnaroundHours
	}
	if in.Contact != nil {
		d.Contact = strings.TrimSpace(*in.Contact)
	}
	return n.append(ctx, &d)
}

// RequestInput is a new request as typed.
type RequestInput struct {
	Kind, Title, Body, Region string
	To                        []string
	RespondBy                 string // a duration ("72h", "3d") or a date ("2026-12-01")
	Amount, Currency          string
	Needs, Languages          []string
	Urgency                   string // low, medium, high; empty: not given
	// Sealed: the title and text are readable only by the organisations
	// it is addressed to (To, required) and this one.
	Sealed bool
}

// NewRequest opens a request.
func (n *Node) NewRequest(ctx context.Context, in RequestInput) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	typ, ok := crdt.ParseRequestType(strings.ToLower(strings.TrimSpace(in.Kind)))
	if !ok {
		return nil, inputErr("unknown request kind %q: use verification, referral, funding, letter or alert", in.Kind)
	}
	req := &crdt.Request{Type: typ, Title: strings.TrimSpace(in.Title), Text: in.Body}
	switch {
	case req.Title == "":
		return nil, refuseInput("title-missing")
	case strings.ContainsAny(req.Title, "\n\r\t"):
		return nil, refuseInput("title-lines")
	case len(req.Title) > crdt.MaxTitleLen:
		return nil, refuseInput("title-long", utf8.RuneCountInString(req.Title), fitting(req.Title, crdt.MaxTitleLen))
	case len(req.Text) > crdt.MaxBodySize-1024:
		return nil, refuseInput("text-long", utf8.RuneCountInString(req.Text), fitting(req.Text, crdt.MaxBodySize-1024))
	case !utf8.ValidString(req.Title):
		return nil, refuseInput("title-not-text")
	case !utf8.ValidString(req.Text):
		return nil, refuseInput("text-not-text")
	}
	var err error
	if in.Region != "" {
		if req.Region, err = ident.Region(in.Region); err != nil {
			return nil, err
		}
	} else if typ == crdt.Alert || typ == crdt.Referral {
		return nil, inputErr("%s needs a region (--region, an ISO 3166-1 code such as TZ)", anyKind(typ))
	}
	if in.Amount != "" || in.Currency != "" {
		if typ != crdt.Funding {
			return nil, inputErr("only funding requests carry an amount")
		}
		if in.Amount == "" || in.Currency == "" {
			return nil, inputErr("a funding request needs both --amount and --currency")
		}
		if req.Amount, err = ident.Amount(in.Amount); err != nil {
			return nil, err
		}
		if req.Currency, err = ident.Currency(in.Currency); err != nil {
			return nil, err
		}
	} else if typ == crdt.Funding {
		return nil, inputErr("a funding request needs an amount: --amount N --currency C")
	}
	if in.RespondBy != "" {
		t, err := parseDeadline(in.RespondBy, n.now())
		if err != nil {
			return nil, err
		}
		req.RespondBy = uint64(t.UnixMilli())
	}
	for _, ref := range in.To {
		o, err := n.resolveMember(ref) // by name or ID
		if err != nil {
			return nil, err
		}
		if !o.Admitted {
			return nil, refuse("org-not-admitted", o.Name)
		}
		if o.ID == n.org && typ == crdt.Referral {
			// It could never be answered: an organisation does not accept
			// its own referral. (Other requests may be sealed for this
			// organisation's eyes only.)
			return nil, refuseInput("referral-to-self", o.Name)
		}
		if !slices.Contains(req.To, o.ID) {
			req.To = append(req.To, o.ID)
		}
	}
	slices.SortFunc(req.To, func(a, b crdt.OrgID) int { return strings.Compare(a.String(), b.String()) })
	if req.Needs, err = ident.CanonicalList(in.Needs, ident.SupportType); err != nil {
		return nil, err
	}
	if req.Languages, err = ident.CanonicalList(in.Languages, ident.Language); err != nil {
		return nil, err
	}
	if in.Urgency != "" {
		u := slices.Index([]string{"low", "medium", "high"}, strings.ToLower(strings.TrimSpace(in.Urgency)))
		if u < 0 {
			return nil, inputErr("--urgency %q: use low, medium or high", in.Urgency)
		}
		req.Urgency = uint64(u + 1)
	}
	if in.Sealed {
		if len(req.To) == 0 {
			return nil, inputErr("a sealed request names the organisations that may read it: add --to ORG")
		}
		return n.appendSealed(ctx, crdt.KindRequest, req, append([]crdt.OrgID{n.org}, req.To...), nil)
	}
	return n.append(ctx, req)
}

// parseDeadline reads "72h", "3d", "2w", "90m" (from now) or a date
// ("2026-12-01", the end of that day in the local time of the person
// typing it, as "now" gives it) or an RFC 3339 time.
func parseDeadline(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := inputErr("--respond-by %q: give a duration (72h, 3d, 2w) or a date (2026-12-01)", s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, inputErr("--respond-by %s is in the past", s)
		}
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, now.Location()); err == nil {
		t = t.AddDate(0, 0, 1).Add(-time.Millisecond) // a day is not always 24 h
		if !t.After(now) {
			return time.Time{}, inputErr("--respond-by %s is in the past", s)
		}
		return t, nil
	}
	if len(s) < 2 {
		return time.Time{}, bad
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	v, err := strconv.ParseUint(s[:len(s)-1], 10, 32)
	if unit == 0 || err != nil || v == 0 || time.Duration(v) > 5*366*24*time.Hour/unit {
		return time.Time{}, bad
	}
	return now.Add(time.Duration(v) * unit), nil
}

// ResponseInput is an answer as typed.
type ResponseInput struct {
	Request, Type, Body, Amount, Currency string
	// Pledge names the pledge a withdrawal withdraws (ID or prefix); empty:
	// every pledge of this organisation on the request.
	Pledge string
	// Sealed: the text is readable only by the requesting organisation and
	// this one. Open: the text is in clear, for every member, even on a
	// sealed request. With neither, a response to a sealed request is
	// sealed for the organisations that can read the request, and one to
	// an open request is in clear.
	Sealed, Open bool
}

// Respond answers a request. Its checks (closed? signed already?) and
// the answer are one transaction: two processes answering at once cannot
// both pass them.
//
// A withdrawal with no pledge named takes back all of this organisation's
// pledges on the request: one entry names at most crdt.MaxDeps-1 of them,
// so as many withdrawals are written as that takes (e is the last).
func (n *Node) Respond(ctx context.Context, in ResponseInput) (e *crdt.Entry, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := strings.EqualFold(strings.TrimSpace(in.Type), crdt.Withdraw.String()) && in.Pledge == ""
	for range maxWithdrawals {
		err = n.atomically(ctx, func() error {
			e, err = n.respond(ctx, in)
			return err
		})
		if err != nil || !all || n.pledgesLeft(in.Request) == 0 {
			break
		}
	}
	return e, err
}

// answerRefused says why this organisation may not answer rv with typ
// now, or nil. The caller holds n.mu.
func (n *Node) answerRefused(rv crdt.RequestView, typ crdt.ResponseType) error {
	req, o, names := rv.Request, rv.Outcome, n.orgNames()
	switch {
	case rv.Org == n.org && typ != crdt.Comment && typ != crdt.SignOn && typ != crdt.Withdraw:
		return refuse("own-request")
	case (typ == crdt.Accept || typ == crdt.Decline) && len(req.To) > 0 && !o.Reopened && !slices.Contains(req.To, n.org):
		return refuse("referral-elsewhere")
	case typ == crdt.Accept && o.AcceptedBy != nil && o.AcceptedBy.Org != n.org:
		return refuse("referral-taken", names[o.AcceptedBy.Org])
	case typ == crdt.Accept && o.AcceptedBy != nil:
		return refuse("referral-accepted")
	case typ == crdt.SignOn && req.RespondBy > 0 && n.past(req.RespondBy):
		return refuse("letter-closed", ident.Moment{Time: millisTime(req.RespondBy), Now: n.now()})
	case typ == crdt.SignOn && slices.ContainsFunc(o.Signatures, func(r crdt.ResponseView) bool { return r.Org == n.org }):
		return refuse("letter-signed")
	}
	return nil
}

// Answers are the answers this organisation may give to the request ref
// now, as `respond --type` names them: those Respond would not refuse for
// who it is or what was said before (a closed request takes none; a
// withdrawal needs a pledge standing).
func (n *Node) Answers(ref string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return nil, err
	}
	if rv.Closed || rv.Withheld {
		return nil, nil
	}
	var out []string
	for _, name := range []string{"vouch", "concern", "unknown", "accept", "decline", "pledge", "withdraw", "sign", "comment"} {
		typ, _ := crdt.ParseResponseType(name)
		if !typ.Fits(rv.Request.Type) || n.answerRefused(rv, typ) != nil || typ == crdt.Withdraw && n.pledgesLeft(ref) == 0 {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}

// maxWithdrawals bounds the withdrawals one Respond writes: 31 pledges
// each, more than any organisation makes on one request.
const maxWithdrawals = 1024

// pledgesLeft is how many of this organisation's pledges on the request
// ref stand. The caller holds n.mu.
func (n *Node) pledgesLeft(ref string) int {
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return 0
	}
	left := 0
	for _, p := range rv.Outcome.Pledges {
		if p.Org == n.org && !p.Withdrawn {
			left++
		}
	}
	return left
}

func (n *Node) respond(ctx context.Context, in ResponseInput) (*crdt.Entry, error) {
	typ, ok := crdt.ParseResponseType(strings.ToLower(strings.TrimSpace(in.Type)))
	if !ok {
		return nil, inputErr("unknown response type %q: use vouch, concern or unknown (verification), accept or decline (referral), pledge or withdraw (funding), sign (letter), or comment", in.Type)
	}
	if len(in.Body) > crdt.MaxBodySize-1024 {
		return nil, refuseInput("text-long", utf8.RuneCountInString(in.Body), fitting(in.Body, crdt.MaxBodySize-1024))
	}
	rv, err := n.resolveRequest(in.Request)
	if err != nil {
		return nil, err
	}
	if rv.Withheld {
		return nil, refuse("details-not-held", short(rv.ID.String()))
	}
	req := rv.Request
	if !typ.Fits(req.Type) {
		return nil, inputErr("%s request cannot be answered with %q", anyKind(req.Type), typ)
	}
	if rv.Closed {
		return nil, refuse("request-closed", short(rv.ID.String()))
	}
	if err := n.answerRefused(rv, typ); err != nil {
		return nil, err
	}
	o := rv.Outcome
	resp := &crdt.Response{Request: rv.ID, Type: typ, Text: in.Body}
	deps := []crdt.ID{rv.ID}
	if typ == crdt.Withdraw {
		if in.Amount != "" || in.Currency != "" {
			return nil, inputErr("a withdrawal takes back whole pledges: give --pledge ID (or nothing, for all of yours), not an amount")
		}
		var ours []crdt.PledgeView
		for _, p := range o.Pledges {
			if p.Org == n.org && !p.Withdrawn {
				ours = append(ours, p)
			}
		}
		if in.Pledge != "" {
			ids := make([]string, len(ours))
			for i, p := range ours {
				ids[i] = p.ID.String()
			}
			i, err := resolve("pledge of your organisation on this request", in.Pledge, ids)
			if err != nil {
				return nil, err
			}
			ours = ours[i : i+1]
		}
		if len(ours) == 0 {
			return nil, refuse("no-pledge")
		}
		if len(ours) > crdt.MaxDeps-1 {
			ours = ours[:crdt.MaxDeps-1] // the rest by another withdrawal
		}
		for _, p := range ours {
			deps = append(deps, p.ID)
		}
	} else if in.Pledge != "" {
		return nil, inputErr("--pledge names the pledge a withdrawal takes back: use it with --type withdraw")
	}
	if in.Amount != "" || in.Currency != "" {
		if typ != crdt.Pledge {
			return nil, inputErr("only pledges carry an amount")
		}
		if resp.Amount, err = ident.Amount(in.Amount); err != nil {
			return nil, err
		}
		cur := in.Currency
		if cur == "" {
			cur = req.Currency
		}
		if resp.Currency, err = ident.Currency(cur); err != nil {
			return nil, err
		}
	} else if typ == crdt.Pledge {
		return nil, refuseInput("pledge-amount", req.Currency)
	}
	switch {
	case in.Sealed && in.Open:
		return nil, inputErr("--sealed and --open contradict each other: give one")
	case in.Sealed:
		if resp.Text == "" {
			return nil, inputErr("a sealed response seals its text: give --body")
		}
		return n.appendSealed(ctx, crdt.KindResponse, resp, []crdt.OrgID{n.org, rv.Org}, deps)
	case rv.Sealed && !in.Open && resp.Text != "":
		// A reply to a sealed request is sealed by default, for those who
		// can read the request (genuine readers only: a forged key share
		// does not make its writer one).
		to := append([]crdt.OrgID{n.org, rv.Org}, n.readers(rv.ID)...)
		return n.appendSealed(ctx, crdt.KindResponse, resp, to, deps)
	}
	return n.append(ctx, resp, deps...)
}

// CloseRequest closes one of this organisation's requests.
func (n *Node) CloseRequest(ctx context.Context, ref string) (e *crdt.Entry, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	// The check and the close are one transaction: two processes closing
	// at once cannot both find it open.
	err = n.atomically(ctx, func() error {
		rv, err := n.resolveRequest(ref)
		if err != nil {
			return err
		}
		if rv.Org != n.org {
			return refuse("not-author", short(rv.ID.String()))
		}
		if rv.Closed {
			return refuse("closed-already", short(rv.ID.String()))
		}
		e, err = n.append(ctx, &crdt.RequestClosed{Request: rv.ID}, rv.ID)
		return err
	})
	return e, err
}

// RevokeDevice revokes a device. cutoff, if not nil, is the last of its
// entries to accept; by default, everything of it this node holds.
//
// A revocation that would cut off an organisation's last device, or leave
// too few stewards to admit anyone, is refused with ErrIrreversible
// (revocationRisk); ForceRevokeDevice writes it anyway.
func (n *Node) RevokeDevice(ctx context.Context, ref string, cutoff *uint64) (*crdt.Entry, error) {
	return n.revokeDevice(ctx, ref, cutoff, false)
}

// ForceRevokeDevice is RevokeDevice without the check for an irreversible
// revocation: for `--force`, and for a wipe, which destroys the keys
// anyway.
func (n *Node) ForceRevokeDevice(ctx context.Context, ref string, cutoff *uint64) (*crdt.Entry, error) {
	return n.revokeDevice(ctx, ref, cutoff, true)
}

func (n *Node) revokeDevice(ctx context.Context, ref string, cutoff *uint64, force bool) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	// The checks and the revocation are one transaction.
	var e *crdt.Entry
	err := n.atomically(ctx, func() (err error) {
		e, err = n.revokeDeviceTx(ctx, ref, cutoff, force)
		return err
	})
	return e, err
}

// revokeDeviceTx is revokeDevice inside its transaction. The caller holds
// n.mu.
func (n *Node) revokeDeviceTx(ctx context.Context, ref string, cutoff *uint64, force bool) (*crdt.Entry, error) {
	dv, ov, err := n.resolveDevice(ref)
	if err != nil {
		return nil, err
	}
	mine, ok := n.myOrg()
	if !ok {
		return nil, refuse("not-admitted")
	}
	if notice := n.revokedNotice(); notice != nil {
		return nil, notice
	}
	if ov.ID != n.org && !mine.Steward {
		return nil, refuse("revoke-not-yours", short(dv.Key.String()), ov.Name)
	}
	if !force {
		if err := revocationRisk(n.state.Members(), n.state.Quorum(), n.org, dv.Key); err != nil {
			return nil, err
		}
	}
	head := n.state.Head(dv.Key)
	rev := &crdt.DeviceRevoked{Device: dv.Key}
	if head != nil {
		rev.Cutoff, rev.Head = head.Seq, head.ID()
	}
	if cutoff != nil {
		if *cutoff > rev.Cutoff {
			return nil, inputErr("--cutoff %d: this node holds entries of that device only up to %d", *cutoff, rev.Cutoff)
		}
		for rev.Cutoff > *cutoff { // walk down the chain to the named entry
			if rev.Cutoff == 1 {
				rev.Cutoff, rev.Head = 0, crdt.ID{}
				break
			}
			cur, _, _ := n.state.Entry(rev.Head)
			prev, _, ok := n.state.Entry(cur.Prev)
			if !ok {
				return nil, fmt.Errorf("entry %d of that device is not held here; it cannot be named as the cut-off", rev.Cutoff-1)
			}
			rev.Cutoff, rev.Head = prev.Seq, prev.ID()
		}
	}
	if dv.Revoked && rev.Cutoff >= dv.Cutoff {
		return nil, refuse("revoked-already", short(dv.Key.String()), dv.Cutoff)
	}
	var deps []crdt.ID
	if rev.Cutoff > 0 {
		deps = append(deps, rev.Head)
	}
	e, err := n.append(ctx, rev, deps...)
	if err == nil && ov.ID == n.org && dv.Key != n.device {
		// A new organisation key, which the revoked device does not get.
		_, err = n.ensureOrgKey(ctx)
	}
	return e, err
}

func short(id string) string { return id[:12] }

func formatMillis(ms uint64) string {
	return millisTime(ms).UTC().Format(time.RFC3339)
}

// Redact takes back the words of one of this organisation's entries (a
// request's title and text, a response's text, a sealed entry's details, a
// directory entry, a grant record): every node drops its body and keeps
// the entry, so the log stays verifiable, and keeps its envelope (a
// request's type, region, addressees and deadline; a response's type and
// amount), so that it keeps its place in every count. The reason is
// required: every member is shown who redacted what, when and why.
func (n *Node) Redact(ctx context.Context, ref, reason string) (*crdt.Entry, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.myOrg(); !ok {
		return nil, refuse("not-admitted")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, inputErr("a redaction needs a reason: members are shown who redacted what, when and why")
	}
	if strings.ContainsRune(reason, 0) || len(reason) > crdt.MaxNoteLen {
		return nil, inputErr("the reason is at most %d bytes of text", crdt.MaxNoteLen)
	}
	// The check and the redaction are one transaction: two processes
	// redacting one entry at once cannot both find it unredacted.
	var e *crdt.Entry
	err := n.atomically(ctx, func() (err error) {
		e, err = n.redact(ctx, ref, reason)
		return err
	})
	return e, err
}

// redact is Redact inside its transaction. The caller holds n.mu.
func (n *Node) redact(ctx context.Context, ref, reason string) (*crdt.Entry, error) {
	id, err := n.redactable(ref)
	if err != nil {
		if done := n.state.Redacted(n.org); len(done) > 0 {
			dids := make([]string, len(done))
			for k, id := range done {
				dids[k] = id.String()
			}
			if k, err2 := resolve("redacted entry", ref, dids); err2 == nil {
				if v, ok := n.state.Redaction(done[k]); ok {
					return nil, fmt.Errorf("%s was redacted already, on %s: %s", short(dids[k]), millisTime(v.Clock.Millis()).Local().Format("Mon 2 Jan 2006 15:04"), v.Reason)
				}
			}
		}
		return nil, err
	}
	target, _, ok := n.state.Entry(id)
	if !ok {
		return nil, fmt.Errorf("entry %s is not held here", short(id.String()))
	}
	kind, kept, err := crdt.Keep(target)
	if err != nil {
		return nil, err
	}
	return n.append(ctx, &crdt.RedactionV2{Target: id, Reason: reason, KeptKind: kind, Kept: kept}, id)
}

// redactable resolves ref (an ID or its first characters) among the
// entries of this organisation whose bodies a redaction would take back.
// It reads only the entries whose IDs start so. The caller holds n.mu.
func (n *Node) redactable(ref string) (crdt.ID, error) {
	const what = "entry of your organisation with a body to redact"
	r := strings.ToLower(strings.TrimSpace(ref))
	if _, err := resolve(what, r, nil); errors.Is(err, ErrInput) {
		return crdt.ID{}, err
	}
	lo, hi := idRange(r)
	cands := n.state.RedactableBetween(n.org, lo, hi, 64)
	ids := make([]string, len(cands))
	for i, id := range cands {
		ids[i] = id.String()
	}
	i, err := resolve(what, r, ids)
	if err != nil {
		return crdt.ID{}, err
	}
	return cands[i], nil
}
