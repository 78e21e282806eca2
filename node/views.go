package node

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
	"github.com/murmurnet/murmur/store"
)

// The shapes below are what `--json` prints (../shared/CLI.md fixes the
// field names; fields may be added, never renamed).

// StatusInfo is this node and its state.
type StatusInfo struct {
	Network      string         `json:"network"`
	NetworkName  string         `json:"network_name"`
	Org          string         `json:"org"`
	OrgName      string         `json:"org_name"`
	Device       string         `json:"device"`
	Peer         string         `json:"peer"`
	Entries      int            `json:"entries"`
	Digest       string         `json:"digest"`
	Members      int            `json:"members"`
	Running      bool           `json:"running"`
	Peers        []string       `json:"peers"`
	Addrs        []string       `json:"addrs"`
	Admitted     bool           `json:"admitted"`
	Steward      bool           `json:"steward"`
	Revoked      bool           `json:"device_revoked"`
	PendingOrgs  int            `json:"pending_orgs"`
	Waiting      int            `json:"waiting"`
	Held         int            `json:"held"`
	UnknownKinds map[string]int `json:"unknown_kinds"`
	Forked       []string       `json:"forked_devices"`
	Private      bool           `json:"private"`
	Dir          string         `json:"dir"`
	Traffic      *Traffic       `json:"traffic,omitempty"` // while a node runs
	// NAT: whether other members can reach this node, and through which
	// relays it is introduced (while a node runs).
	NAT *NATStatus `json:"nat,omitempty"`
	// Reach is NAT in one line for people (while a node runs).
	Reach string `json:"reach,omitempty"`
	// ReachCode and ReachVia are Reach for an interface to word (NATReach).
	ReachCode string   `json:"-"`
	ReachVia  []string `json:"-"`
	// GrantSecret: this node holds the network secret the double-funding
	// check needs.
	GrantSecret bool `json:"grant_secret"`
	// Alerts are the open alerts of the last 7 days (AlertWindow), those
	// this organisation has not acknowledged first, then newest first:
	// shown before anything else. OlderAlerts counts the open ones before.
	Alerts      []RequestSummary `json:"alerts"`
	OlderAlerts int              `json:"older_alerts"`
	// MoreAlerts: open alerts of the last week beyond the ten in Alerts.
	MoreAlerts int `json:"more_alerts,omitempty"`
	// Contacts: each member organisation's last contact with this node.
	Contacts []ContactInfo `json:"contacts"`
	// AloneSince: the running node has reached no other member's node
	// since then, more than an hour ago (omitted otherwise).
	AloneSince *time.Time `json:"alone_since,omitempty"`
	// RevokedNotice: who revoked this device and when, in words (omitted
	// if it is not revoked).
	RevokedNotice string `json:"revoked_notice,omitempty"`
	// Recovering: the database was rebuilt (repair, restore) and this
	// device writes nothing until it has synced with a member's node, in
	// words (omitted otherwise).
	Recovering string `json:"recovering,omitempty"`
	// ForkedNotice: this device's key signed two different entries at one
	// place of its chain (it is in use in two places), and what to do, in
	// words (omitted otherwise). This node then writes nothing (fork.go).
	ForkedNotice string `json:"forked_notice,omitempty"`
	// ForkedOrgs: one line per organisation with another device in use in
	// two places.
	ForkedOrgs []string `json:"forked_orgs"`
}

// absDir is dir as a full path, for people to find it from anywhere (a
// relative --dir is relative to wherever the command ran).
func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// Status describes this node. A node that runs fills in Running, Peers and
// Addrs; a command reading the data directory leaves them empty.
func (n *Node) Status() StatusInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.state
	c := s.Counts()
	d := n.digest()
	pid, _ := PeerID(n.device)
	st := StatusInfo{
		Network: n.network.String(), NetworkName: s.NetworkName(), Org: n.org.String(), Device: n.device.String(),
		Peer: pid.String(), Entries: c.Accepted, Digest: hex.EncodeToString(d[:]), Peers: []string{}, Addrs: []string{},
		Waiting: c.Waiting, Held: c.Held, UnknownKinds: map[string]int{}, Forked: []string{}, Private: n.cfg.Private, Dir: absDir(n.dir),
	}
	for k, v := range c.Unknown {
		st.UnknownKinds[k.String()] = v
	}
	st.GrantSecret = n.HasSecret()
	al := n.recentAlerts(n.orgNames())
	st.Alerts, st.MoreAlerts, st.OlderAlerts = al.shown, al.more, al.older
	info, running := n.running()
	if running {
		st.Running, st.Addrs, st.Peers, st.Traffic, st.AloneSince = true, info.Addrs, info.Peers, &info.Traffic, info.AloneSince
		if info.NAT != nil {
			st.NAT = info.NAT
			names := func(p string) string {
				id, err := peer.Decode(p)
				if err != nil {
					return p
				}
				return n.deviceNameLocked(id)
			}
			st.Reach = natStatusLine(*info.NAT, names)
			st.ReachCode, st.ReachVia = NATReach(*info.NAT, names)
		}
		st.Contacts = n.contacts(&info)
	} else {
		st.Contacts = n.contacts(nil)
	}
	for _, o := range s.Members() {
		if o.Admitted {
			st.Members++
		} else {
			st.PendingOrgs++
		}
		if o.ID == n.org {
			st.OrgName, st.Admitted, st.Steward = o.Name, o.Admitted, o.Steward
		}
		for _, dv := range o.Devices {
			if dv.Forked {
				st.Forked = append(st.Forked, dv.Key.String())
			}
			if dv.Key == n.device {
				st.Revoked = dv.Revoked
			}
		}
	}
	if err := n.revokedNotice(); err != nil {
		st.RevokedNotice = err.Error()
	}
	if err := n.forkedNotice(); err != nil {
		st.ForkedNotice = err.Error()
	}
	st.ForkedOrgs = append([]string{}, n.forkedOthers()...)
	if n.recovering != nil { // (the running node, in another process, may have synced since)
		if m := n.loadMark(context.Background()); m != nil {
			st.Recovering = (&RecoveringError{Mark: *m}).Error()
		}
	}
	return st
}

// digest is the state's digest, which reads every accepted entry's ID:
// kept in the store with the generation it was computed at, and computed
// again only when the store has changed since. The caller holds n.mu.
func (n *Node) digest() [32]byte {
	ctx := context.Background()
	var gen [8]byte
	binary.BigEndian.PutUint64(gen[:], uint64(n.mark.Gen))
	if b, err := n.store.GetMeta(ctx, "digest"); err == nil && len(b) == 40 && [8]byte(b[:8]) == gen {
		return [32]byte(b[8:])
	}
	d := n.state.Digest()
	_ = n.store.SetMeta(ctx, "digest", append(gen[:], d[:]...)) // (a cache: if it is not kept, it is computed again)
	return d
}

// MemberInfo is one organisation.
type MemberInfo struct {
	Org       string       `json:"org"`
	Name      string       `json:"name"`
	Steward   bool         `json:"steward"`
	Admitted  bool         `json:"admitted"`
	Approvals int          `json:"approvals"`
	Devices   []DeviceInfo `json:"devices"`
	// NameShared: another organisation, admitted or awaiting admission,
	// has a name that looks the same (one awaiting admission does not
	// hold its name): approve by the ID the joiner's status shows.
	NameShared bool `json:"name_shared,omitempty"`
}

// DeviceInfo is one device.
type DeviceInfo struct {
	Device  string `json:"device"`
	Label   string `json:"label,omitempty"`
	Revoked bool   `json:"revoked"`
	Cutoff  uint64 `json:"cutoff,omitempty"`
	Forked  bool   `json:"forked"`
	Entries int    `json:"entries"`
	This    bool   `json:"this_device"`
	// AddedBy is the device of the same organisation that added this one
	// (`device invite`), if one did: revoking a seized device leaves those
	// it added standing.
	AddedBy string `json:"added_by,omitempty"`
}

// Members lists the organisations.
func (n *Node) Members() []MemberInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []MemberInfo{}
	orgs := n.state.Members()
	for _, o := range orgs {
		m := MemberInfo{Org: o.ID.String(), Name: o.Name, Steward: o.Steward, Admitted: o.Admitted, Approvals: o.Approvals, Devices: []DeviceInfo{}}
		m.NameShared = slices.ContainsFunc(orgs, func(x crdt.OrgView) bool { return x.ID != o.ID && sameName(x.Name, o.Name) })
		for _, d := range o.Devices {
			di := DeviceInfo{Device: d.Key.String(), Label: d.Label, Revoked: d.Revoked, Cutoff: d.Cutoff,
				Forked: d.Forked, Entries: d.Entries, This: d.Key == n.device}
			if slices.ContainsFunc(o.Devices, func(s crdt.DeviceView) bool { return s.Key == d.AddedBy && s.Key != d.Key }) {
				di.AddedBy = d.AddedBy.String()
			}
			m.Devices = append(m.Devices, di)
		}
		out = append(out, m)
	}
	return out
}

// DirectoryInfo is one organisation's directory entry.
type DirectoryInfo struct {
	Org  string `json:"org"`
	Name string `json:"name"` // the name the organisation was admitted under
	// ListedAs: the name its directory entry gives, when it differs (a
	// member cannot pass for another by its directory entry).
	ListedAs        string   `json:"listed_as,omitempty"`
	Regions         []string `json:"regions"`
	Offers          []string `json:"offers"`
	Languages       []string `json:"languages"`
	Groups          []string `json:"groups"`
	TurnaroundHours uint64   `json:"turnaround_hours,omitempty"`
	Contact         string   `json:"contact,omitempty"`
	Updated         string   `json:"updated"`
}

// listedName is how an organisation is named where its directory entry
// is shown: by the name it was admitted under (every member approved
// it, and no two look alike); the entry's own name, if it differs, only
// beside it.
func listedName(admitted, listed string) (name, listedAs string) {
	switch {
	case admitted == "":
		return listed, ""
	case listed == "" || sameName(listed, admitted):
		return admitted, ""
	}
	return admitted, listed
}

// DirectoryFilter narrows the directory; empty fields match everything.
type DirectoryFilter struct{ Region, Offers, Language, Group string }

// Directory lists directory entries that match the filter, by name.
func (n *Node) Directory(f DirectoryFilter) ([]DirectoryInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var err error
	if f.Region != "" {
		if f.Region, err = ident.Region(f.Region); err != nil {
			return nil, err
		}
	}
	if f.Offers != "" {
		if f.Offers, err = ident.SupportType(f.Offers); err != nil {
			return nil, err
		}
	}
	if f.Language != "" {
		if f.Language, err = ident.Language(f.Language); err != nil {
			return nil, err
		}
	}
	if f.Group != "" {
		if f.Group, err = ident.Group(f.Group); err != nil {
			return nil, err
		}
	}
	names := map[crdt.OrgID]string{}
	for _, o := range n.state.Members() {
		names[o.ID] = o.Name
	}
	out := []DirectoryInfo{}
	for _, d := range n.state.Directory() {
		if f.Region != "" && !slices.Contains(d.Regions, f.Region) || f.Offers != "" && !slices.Contains(d.Offers, f.Offers) ||
			f.Language != "" && !slices.ContainsFunc(d.Languages, func(l string) bool { return l == f.Language || strings.HasPrefix(l, f.Language+"-") }) ||
			f.Group != "" && !slices.Contains(d.Groups, f.Group) {
			continue
		}
		name, listedAs := listedName(names[d.Org], d.Name)
		out = append(out, DirectoryInfo{Org: d.Org.String(), Name: name, ListedAs: listedAs, Regions: nonNil(d.Regions), Offers: nonNil(d.Offers),
			Languages: nonNil(d.Languages), Groups: nonNil(d.Groups), TurnaroundHours: d.TurnaroundHours, Contact: d.Contact,
			Updated: formatMillis(d.Clock.Millis())})
	}
	slices.SortFunc(out, func(a, b DirectoryInfo) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// money prints hundredths as a JSON number with two decimals.
type money uint64

func (m money) MarshalJSON() ([]byte, error) { return []byte(ident.FormatAmount(uint64(m))), nil }

// RequestSummary is one line of `request list`.
type RequestSummary struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Title     string   `json:"title"`
	Region    string   `json:"region"`
	Org       string   `json:"org"`
	OrgName   string   `json:"org_name"`
	Status    string   `json:"status"`
	Created   string   `json:"created"`
	RespondBy *string  `json:"respond_by"`
	Overdue   bool     `json:"overdue"`
	To        []string `json:"to"`
	Responses int      `json:"responses"`
	// ResponsesMore: there are more answers than Responses counts (one
	// organisation gave over a thousand of one type).
	ResponsesMore bool `json:"responses_more,omitempty"`
	// AcceptedBy is the organisation whose acceptance of a referral counts.
	AcceptedBy     string `json:"accepted_by,omitempty"`
	AcceptedByName string `json:"accepted_by_name,omitempty"`
	// Reopened: every organisation a referral was addressed to declined
	// it; it is open to all members again.
	Reopened bool `json:"reopened"`
	// Urgent marks an alert that is not closed: shown first.
	Urgent bool `json:"urgent"`
	// Acknowledged: this organisation acknowledged the alert (murmur alert
	// ack).
	Acknowledged bool `json:"acknowledged"`
	// Sealed: the title and text are readable only by some organisations;
	// Readable: this node's organisation is one of them (and the device
	// key is unlocked). An unreadable sealed request's title is "(sealed)".
	Sealed   bool `json:"sealed"`
	Readable bool `json:"readable"`
	// Redacted: the requesting organisation took back the title and text
	// (and sealed details); the rest stands. Null if not.
	Redacted *RedactionInfo `json:"redacted"`
}

// ResponseInfo is one answer in `request show`.
type ResponseInfo struct {
	ID       string `json:"id"`
	Org      string `json:"org"`
	OrgName  string `json:"org_name"`
	Type     string `json:"type"`
	Body     string `json:"body"`
	Amount   *money `json:"amount"`
	Currency string `json:"currency"`
	Created  string `json:"created"`
	Sealed   bool   `json:"sealed"`
	// Redacted: its organisation took back its text; its type and amount
	// still count. Null if not.
	Redacted *RedactionInfo `json:"redacted"`
}

// RequestDetail is `request show`.
type RequestDetail struct {
	RequestSummary
	Body      string   `json:"body"`
	Amount    *money   `json:"amount"`
	Currency  string   `json:"currency"`
	Needs     []string `json:"needs"`
	Languages []string `json:"languages"`
	Urgency   string   `json:"urgency"`
	Withheld  bool     `json:"withheld"`
	// SharedWith names the organisations that can read a sealed request.
	SharedWith []string `json:"shared_with"`
	// ToNames are the names of the organisations in To, in its order.
	ToNames []string `json:"to_names"`
	// AckedBy names the organisations that acknowledged an alert.
	AckedBy []string `json:"acked_by,omitempty"`
	// ResponseCount is the summary's count of responses, which the list
	// below shadows in JSON ("responses"): all of them, not the page.
	ResponseCount int `json:"response_count"`
	// Responses, shallower than the summary's count, is what "responses"
	// holds in JSON.
	Responses []ResponseInfo `json:"responses"`
	// EarlierResponses: responses older than those listed remain
	// (`request show --before` the first listed shows them).
	EarlierResponses bool `json:"earlier_responses"`
	// What the responses add up to, for the request's kind.
	Verification *VerificationSummary `json:"verification,omitempty"`
	Referral     *ReferralSummary     `json:"referral,omitempty"`
	Funding      *FundingSummary      `json:"funding,omitempty"`
	Letter       *LetterSummary       `json:"letter,omitempty"`
}

// PositionInfo is one organisation's standing answer.
type PositionInfo struct {
	Org      string         `json:"org"`
	OrgName  string         `json:"org_name"`
	Type     string         `json:"type"`
	Body     string         `json:"body"`
	Created  string         `json:"created"`
	Redacted *RedactionInfo `json:"redacted"` // its text was taken back; it still counts
}

// VerificationSummary: each organisation's latest answer, counted.
type VerificationSummary struct {
	Vouch     int            `json:"vouch"`
	Concern   int            `json:"concern"`
	Unknown   int            `json:"unknown"`
	Positions []PositionInfo `json:"positions"`
}

// ReferralSummary: who took the case, who declined, who has not answered.
type ReferralSummary struct {
	AcceptedBy     string         `json:"accepted_by"`
	AcceptedByName string         `json:"accepted_by_name"`
	Reopened       bool           `json:"reopened"`
	Positions      []PositionInfo `json:"positions"`
	Awaiting       []string       `json:"awaiting"` // addressees that have not answered (names)
}

// MoneyInfo is an amount in a currency.
type MoneyInfo struct {
	Currency string `json:"currency"`
	Amount   money  `json:"amount"`
}

// PledgeInfo is one pledge.
type PledgeInfo struct {
	ID        string `json:"id"`
	Org       string `json:"org"`
	OrgName   string `json:"org_name"`
	Amount    money  `json:"amount"`
	Currency  string `json:"currency"`
	Withdrawn bool   `json:"withdrawn"`
	Created   string `json:"created"`
}

// FundingSummary: the need, what is pledged (per currency), what remains.
type FundingSummary struct {
	Amount    money        `json:"amount"`
	Currency  string       `json:"currency"`
	Pledged   []MoneyInfo  `json:"pledged"`
	Remaining money        `json:"remaining"`
	Covered   bool         `json:"covered"`
	Pledges   []PledgeInfo `json:"pledges"`
}

// LetterSummary: the signatures that count, and whether signing is over.
type LetterSummary struct {
	Signatures       int  `json:"signatures"`
	ClosedForSigning bool `json:"closed_for_signing"`
}

func (n *Node) orgNames() map[crdt.OrgID]string { return n.state.OrgNames() }

func (n *Node) summary(rv crdt.RequestView, names map[crdt.OrgID]string) RequestSummary {
	s := RequestSummary{ID: rv.ID.String(), Org: rv.Org.String(), OrgName: names[rv.Org], Status: "open",
		Created: formatMillis(rv.Clock.Millis()), To: []string{}, Responses: rv.ResponseCount, ResponsesMore: rv.ResponsesMore, Kind: "unknown",
		Redacted: redactionInfo(rv.Redacted, names)}
	o := rv.Outcome
	switch {
	case rv.Closed:
		s.Status = "closed"
	case o.AcceptedBy != nil:
		s.Status = "accepted"
	case o.Covered:
		s.Status = "covered"
	}
	if a := o.AcceptedBy; a != nil {
		s.AcceptedBy, s.AcceptedByName = a.Org.String(), names[a.Org]
	}
	s.Reopened = o.Reopened && o.AcceptedBy == nil
	if r := rv.Request; r != nil {
		s.Urgent = r.Type == crdt.Alert && !rv.Closed
		s.Acknowledged = r.Type == crdt.Alert && slices.Contains(rv.AckedBy, n.org)
		s.Kind, s.Title, s.Region = r.Type.String(), r.Title, r.Region
		s.Readable = !rv.Sealed
		if rv.Sealed {
			s.Sealed, s.Title = true, "(sealed)"
			if rv.Redacted != nil {
				s.Title = "" // the details are gone, for everyone
			} else if whole, err := n.unseal(rv.ID); err == nil {
				s.Title, s.Readable = whole.(*crdt.Request).Title, true
			}
		}
		if r.RespondBy > 0 {
			t := formatMillis(r.RespondBy)
			s.RespondBy = &t
			s.Overdue = s.Status == "open" && n.past(r.RespondBy)
		}
		for _, o := range r.To {
			s.To = append(s.To, o.String())
		}
	}
	return s
}

// RequestFilter narrows `request list`.
type RequestFilter struct {
	Open  bool
	Kind  string
	Inbox bool // awaiting this organisation's answer
}

// parseKind is a --kind: 0 for any.
func parseKind(s string) (crdt.RequestType, error) {
	if s == "" {
		return 0, nil
	}
	kind, ok := crdt.ParseRequestType(strings.ToLower(s))
	if !ok {
		return 0, inputErr("unknown request kind %q: use verification, referral, funding, letter or alert", s)
	}
	return kind, nil
}

// eachRequest walks the requests newest first (of kind, if not 0; only
// the open ones if open), a page at a time, reading only those it passes
// to fn, until fn returns false.
func (n *Node) eachRequest(kind crdt.RequestType, open bool, keep func(crdt.ID, crdt.Clock, crdt.OrgID, *crdt.Request) bool, fn func(rv crdt.RequestView) bool) {
	const page = 256
	var after *crdt.Cursor
	for {
		batch, next := n.state.RequestPageOf(kind, open, after, page, keep)
		for _, rv := range batch {
			if !fn(rv) {
				return
			}
		}
		if next == nil {
			return
		}
		after = next
	}
}

// Requests lists requests: newest first, or for the inbox soonest deadline
// first. The open ones and the inbox read only the open requests.
func (n *Node) Requests(f RequestFilter) ([]RequestSummary, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kind, err := parseKind(f.Kind)
	if err != nil {
		return nil, err
	}
	names := n.orgNames()
	var mine *crdt.DirectoryView
	if f.Inbox {
		mine = n.ownDirectory()
	}
	var views []crdt.RequestView
	var keep func(crdt.ID, crdt.Clock, crdt.OrgID, *crdt.Request) bool
	if f.Inbox { // (a request that cannot await us is not read further)
		keep = func(_ crdt.ID, _ crdt.Clock, org crdt.OrgID, req *crdt.Request) bool {
			return n.mayAwaitUs(org, req, mine)
		}
	}
	n.eachRequest(kind, f.Open || f.Inbox, keep, func(rv crdt.RequestView) bool {
		if kind != 0 && (rv.Request == nil || rv.Request.Type != kind) || f.Open && rv.Closed {
			return true
		}
		if !f.Inbox || n.awaitsUs(rv, mine) {
			views = append(views, rv)
		}
		return true
	})
	// Open alerts come first everywhere, newest first; then, in the inbox,
	// the soonest deadline (requests without one last, oldest first).
	if f.Inbox {
		views = inboxOrder(views, func(rv crdt.RequestView) (bool, uint64) { return urgent(rv), deadline(rv) })
	} else {
		slices.SortStableFunc(views, func(a, b crdt.RequestView) int {
			return cmp.Compare(b2i(urgent(b)), b2i(urgent(a)))
		})
	}
	out := []RequestSummary{}
	for _, rv := range views {
		out = append(out, n.summary(rv, names))
	}
	return out, nil
}

// ownDirectory is this organisation's directory entry, or nil. The
// caller holds n.mu.
func (n *Node) ownDirectory() *crdt.DirectoryView {
	for _, d := range n.state.Directory() {
		if d.Org == n.org {
			return &d
		}
	}
	return nil
}

// inboxPage is one page of the inbox, in its order: the open alerts that
// await this organisation, newest first; then the other open requests
// that do, by deadline (store.OpenRequest.Before). It reads candidates in
// that order (the alerts by the index of open requests, the others by the
// index of their deadlines) until the page is full and one more is
// found: more is 1 if any follow, else 0. --after names a request whose
// place the page starts after, listed or not (answered or closed since).
func (n *Node) inboxPage(f RequestFilter, after string, limit int) ([]RequestSummary, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kind, err := parseKind(f.Kind)
	if err != nil {
		return nil, 0, err
	}
	// (A data directory from before the statistics' inputs has them
	// filled in once, here as at `murmur stats`: the order reads them.)
	ctx := context.Background()
	if err := n.buildStats(ctx); err != nil {
		return nil, 0, err
	}
	names, mine := n.orgNames(), n.ownDirectory()
	inAlerts := kind == 0 || kind == crdt.Alert
	var alertsAfter *crdt.Cursor
	var from *store.OpenRequest
	if after != "" {
		rv, err := n.requestByPrefix(after)
		if err == nil && (rv.Request == nil || kind != 0 && rv.Request.Type != kind) {
			err = ErrNotFound
		}
		if errors.Is(err, ErrNotFound) {
			return nil, 0, inputErr("--after %s: no such item in this list (it may have been filtered out)", after)
		}
		if err != nil {
			return nil, 0, err
		}
		if rv.Request.Type == crdt.Alert {
			alertsAfter = &crdt.Cursor{Clock: rv.Clock, ID: rv.ID}
		} else {
			inAlerts, from = false, &store.OpenRequest{ID: rv.ID, Created: rv.Clock, RespondBy: rv.Request.RespondBy}
		}
	}
	page, more := []RequestSummary{}, 0
	take := func(rv crdt.RequestView) bool { // (false: the page is full and one more follows)
		if !n.awaitsUs(rv, mine) {
			return true
		}
		if len(page) == limit {
			more = 1
			return false
		}
		page = append(page, n.summary(rv, names))
		return true
	}
	going := true
	for inAlerts && going {
		batch, next := n.state.RequestPageOf(crdt.Alert, true, alertsAfter, 64, func(_ crdt.ID, _ crdt.Clock, org crdt.OrgID, req *crdt.Request) bool {
			return n.mayAwaitUs(org, req, mine)
		})
		for _, rv := range batch {
			if going = take(rv); !going {
				break
			}
		}
		if next == nil {
			break
		}
		alertsAfter = next
	}
	if going && kind != crdt.Alert {
		err := n.store.OpenByDeadline(ctx, kind, from, func(o store.OpenRequest) bool {
			rv := n.state.RequestsBetween(o.ID, o.ID, 1)
			return len(rv) != 1 || take(rv[0])
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return page, more, n.state.Err()
}

// RequestPage is one page of `request list`: at most limit requests (0:
// all) after the one whose ID starts with after (from the first if
// empty), and 1 if more follow, else 0 (not how many: counting them would
// read every request after the page). The open alerts come first: a page
// among them reads the alerts it shows; a page past them (State.RestPage)
// reads the requests it shows, and passes the open alerts newer than them
// at a row each. The inbox is inboxPage.
func (n *Node) RequestPage(f RequestFilter, after string, limit int) ([]RequestSummary, int, error) {
	if limit == 0 && after != "" {
		// The whole rest of the list, read as a page is: a request that
		// left the list since (closed, answered) still has its place.
		limit = math.MaxInt32
	}
	if f.Inbox && limit > 0 {
		return n.inboxPage(f, after, limit)
	}
	if f.Inbox || limit == 0 {
		all, err := n.Requests(f)
		if err != nil {
			return nil, 0, err
		}
		return pageOf(all, after, limit)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	kind, err := parseKind(f.Kind)
	if err != nil {
		return nil, 0, err
	}
	s, onlyOpen := n.state, f.Open
	// The open alerts, newest first, head the list; the rest follows,
	// newest first. A page reads the requests it shows, and counts the
	// rest in the store's indexes.
	alertsFirst := kind == 0 || kind == crdt.Alert
	inRest := !alertsFirst
	var cursor *crdt.Cursor // the request --after names
	if after != "" {
		// (One closed since the page that listed it still has its place:
		// the page goes on after it.)
		rv, err := n.requestByPrefix(after)
		if err == nil && kind != 0 && (rv.Request == nil || rv.Request.Type != kind) {
			err = ErrNotFound
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, 0, inputErr("--after %s: no such item in this list (it may have been filtered out)", after)
			}
			return nil, 0, err
		}
		cursor = &crdt.Cursor{Clock: rv.Clock, ID: rv.ID}
		// An alert closed since was listed among the open alerts, if
		// the list is of open requests only.
		wasUrgent := urgent(rv) || onlyOpen && rv.Request != nil && rv.Request.Type == crdt.Alert
		inRest = !alertsFirst || !wasUrgent
	}
	// One more than the page is read: whether more follow, not how many
	// (counting them would read every request after the page).
	want := limit + 1
	var views []crdt.RequestView
	if !inRest {
		views = s.RequestPage(crdt.Alert, true, cursor, want)
		if len(views) < want {
			inRest, cursor = true, nil
		}
	}
	if inRest {
		views = append(views, s.RestPage(kind, onlyOpen, cursor, want-len(views))...)
	}
	more := 0
	if len(views) > limit {
		more, views = 1, views[:limit]
	}
	names := n.orgNames()
	out := make([]RequestSummary, len(views))
	for i, rv := range views {
		out[i] = n.summary(rv, names)
	}
	return out, more, nil
}

// pageOf is RequestPage's page of a whole list.
func pageOf(list []RequestSummary, after string, limit int) ([]RequestSummary, int, error) {
	if after != "" {
		ids := make([]string, len(list))
		for i, r := range list {
			ids[i] = r.ID
		}
		i, err := resolve("request", after, ids)
		if errors.Is(err, ErrNotFound) {
			return nil, 0, inputErr("--after %s: no such item in this list (it may have been filtered out)", after)
		}
		if err != nil {
			return nil, 0, err
		}
		list = list[i+1:]
	}
	if limit == 0 || len(list) <= limit {
		return list, 0, nil
	}
	return list[:limit], len(list) - limit, nil
}

func deadline(rv crdt.RequestView) uint64 {
	if rv.Request == nil || rv.Request.RespondBy == 0 {
		return ^uint64(0)
	}
	return rv.Request.RespondBy
}

// inboxOrder puts requests listed newest first in the inbox's order: the
// open alerts first, newest first as everywhere else (the latest "office
// raided" is the one to see); then the soonest deadline, those without one
// last, the oldest first among equals (it has waited longest). of says
// whether one is an open alert, and its deadline.
func inboxOrder[T any](newestFirst []T, of func(T) (alert bool, deadline uint64)) []T {
	var alerts, rest []T
	for _, x := range newestFirst {
		if a, _ := of(x); a {
			alerts = append(alerts, x)
		} else {
			rest = append(rest, x)
		}
	}
	slices.Reverse(rest)
	slices.SortStableFunc(rest, func(a, b T) int {
		_, da := of(a)
		_, db := of(b)
		return cmp.Compare(da, db)
	})
	return append(alerts, rest...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func urgent(rv crdt.RequestView) bool {
	return !rv.Closed && rv.Request != nil && rv.Request.Type == crdt.Alert
}

// awaitsUs says whether a request awaits this organisation's answer: it is
// someone else's, still open (not closed, not a referral someone took, not
// a funding need already covered, not a letter past its deadline), this
// organisation has not answered it, and it is addressed to us — or open to
// all (a referral whose addressees all declined is open to all again) and
// fitting our directory entry's regions and support types. An alert for a
// region we cover stays until we answer it (a comment: "seen, on it").
func (n *Node) awaitsUs(rv crdt.RequestView, mine *crdt.DirectoryView) bool {
	if rv.Closed || !n.mayAwaitUs(rv.Org, rv.Request, mine) || slices.Contains(rv.RespondedBy, n.org) {
		return false
	}
	req, o := rv.Request, rv.Outcome
	switch {
	case o.AcceptedBy != nil, o.Covered:
		return false
	case len(req.To) > 0 && !o.Reopened:
		return slices.Contains(req.To, n.org)
	}
	return matchesUs(req, mine)
}

// mayAwaitUs is what a request says by itself (its organisation and
// body, before its answers are read) of whether it awaits this
// organisation's answer: false if it cannot.
func (n *Node) mayAwaitUs(org crdt.OrgID, req *crdt.Request, mine *crdt.DirectoryView) bool {
	switch {
	case org == n.org || req == nil:
		return false
	case req.Type == crdt.Letter && req.RespondBy > 0 && n.past(req.RespondBy):
		return false
	case len(req.To) > 0:
		return true // (to us, or reopened to everyone: the answers say)
	}
	return matchesUs(req, mine)
}

// matchesUs reports whether a request for everyone is in this
// organisation's regions and offers (mine, its directory entry).
func matchesUs(req *crdt.Request, mine *crdt.DirectoryView) bool {
	if mine == nil {
		return true // no directory entry yet: everything open is ours to see
	}
	if req.Region != "" && len(mine.Regions) > 0 && !slices.Contains(mine.Regions, req.Region) {
		return false
	}
	if req.Type != crdt.Alert && len(req.Needs) > 0 && len(mine.Offers) > 0 &&
		!slices.ContainsFunc(req.Needs, func(s string) bool { return slices.Contains(mine.Offers, s) }) {
		return false
	}
	return true
}

// Request shows one request with its latest responses.
func (n *Node) Request(ref string) (RequestDetail, error) {
	return n.RequestShow(ref, ShowOptions{})
}

// ShowOptions page the responses `request show` lists.
type ShowOptions struct {
	// Limit is how many: 0 for crdt.ShowResponses.
	Limit int
	// Before names the response (ID or prefix) the listed ones come
	// before; empty: the latest.
	Before string
}

// MaxShowResponses is the most responses one `request show` lists.
const MaxShowResponses = 1000

// RequestShow shows one request with a page of its responses: the latest
// o.Limit before o.Before, oldest first.
func (n *Node) RequestShow(ref string, o ShowOptions) (RequestDetail, error) {
	if o.Limit < 0 || o.Limit > MaxShowResponses {
		return RequestDetail{}, inputErr("--limit %d: give a number from 1 to %d", o.Limit, MaxShowResponses)
	}
	if o.Limit == 0 {
		o.Limit = crdt.ShowResponses
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return RequestDetail{}, err
	}
	var before *crdt.Cursor
	if o.Before != "" {
		r := strings.ToLower(strings.TrimSpace(o.Before))
		if _, err := resolve("response", r, nil); errors.Is(err, ErrInput) {
			return RequestDetail{}, err
		}
		lo, hi := idRange(r)
		cs := n.state.AnswerCursors(rv.ID, lo, hi, 2)
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID.String()
		}
		i, err := resolve("response", r, ids)
		if errors.Is(err, ErrNotFound) {
			return RequestDetail{}, inputErr("--before %s: no response to this request has that ID", o.Before)
		}
		if err != nil {
			return RequestDetail{}, err
		}
		before = &cs[i]
	}
	// (rv's outcome read the answers it counts; the page reads those it
	// lists.)
	answers, earlier := n.state.AnswersBefore(rv.ID, before, o.Limit)
	names := n.orgNames()
	d := RequestDetail{RequestSummary: n.summary(rv, names), Withheld: rv.Withheld, Needs: []string{}, Languages: []string{}, Responses: []ResponseInfo{}, SharedWith: []string{}, ToNames: []string{}}
	d.ResponseCount = d.RequestSummary.Responses
	if r := rv.Request; r != nil {
		for _, o := range r.To {
			name := names[o]
			if name == "" {
				name = o.String()[:12]
			}
			d.ToNames = append(d.ToNames, name)
		}
		for _, org := range rv.AckedBy {
			d.AckedBy = append(d.AckedBy, nameOr(names, org))
		}
	}
	if r := rv.Request; r != nil {
		d.Body, d.Currency, d.Needs, d.Languages = r.Text, r.Currency, nonNil(r.Needs), nonNil(r.Languages)
		if rv.Sealed {
			d.SharedWith = n.sharedWith(rv.ID, names)
			if whole, err := n.unseal(rv.ID); err == nil {
				d.Body = whole.(*crdt.Request).Text
			}
		}
		if r.Urgency >= 1 && r.Urgency <= 3 {
			d.Urgency = []string{"low", "medium", "high"}[r.Urgency-1]
		}
		if r.Amount > 0 {
			m := money(r.Amount)
			d.Amount = &m
		}
	}
	for _, x := range answers {
		ri := ResponseInfo{ID: x.ID.String(), Org: x.Org.String(), OrgName: names[x.Org], Type: x.Type.String(), Body: x.Text,
			Currency: x.Currency, Created: formatMillis(x.Clock.Millis()), Sealed: x.Sealed, Redacted: redactionInfo(x.Redacted, names)}
		if x.Sealed && x.Redacted == nil {
			ri.Body = "(sealed)"
			if whole, err := n.unseal(x.ID); err == nil {
				ri.Body = whole.(*crdt.Response).Text
			}
		}
		if x.Amount > 0 {
			m := money(x.Amount)
			ri.Amount = &m
		}
		d.Responses = append(d.Responses, ri)
	}
	d.EarlierResponses = earlier
	if rv.Request != nil {
		n.addOutcome(&d, rv, names)
	}
	return d, nil
}

func positionInfo(r crdt.ResponseView, names map[crdt.OrgID]string) PositionInfo {
	return PositionInfo{Org: r.Org.String(), OrgName: names[r.Org], Type: r.Type.String(), Body: r.Text, Created: formatMillis(r.Clock.Millis()),
		Redacted: redactionInfo(r.Redacted, names)}
}

// addOutcome fills in what the responses add up to.
func (n *Node) addOutcome(d *RequestDetail, rv crdt.RequestView, names map[crdt.OrgID]string) {
	req, o := rv.Request, rv.Outcome
	switch req.Type {
	case crdt.Verification:
		v := &VerificationSummary{Positions: []PositionInfo{}}
		for _, p := range o.Positions {
			switch p.Type {
			case crdt.Vouch:
				v.Vouch++
			case crdt.Concern:
				v.Concern++
			case crdt.NotKnown:
				v.Unknown++
			}
			v.Positions = append(v.Positions, positionInfo(p, names))
		}
		d.Verification = v
	case crdt.Referral:
		f := &ReferralSummary{Reopened: d.Reopened, Positions: []PositionInfo{}, Awaiting: []string{}}
		if a := o.AcceptedBy; a != nil {
			f.AcceptedBy, f.AcceptedByName = a.Org.String(), names[a.Org]
		}
		answered := map[crdt.OrgID]bool{}
		for _, p := range o.Positions {
			answered[p.Org] = true
			f.Positions = append(f.Positions, positionInfo(p, names))
		}
		for _, to := range req.To {
			if !answered[to] {
				f.Awaiting = append(f.Awaiting, names[to])
			}
		}
		d.Referral = f
	case crdt.Funding:
		f := &FundingSummary{Amount: money(req.Amount), Currency: req.Currency, Remaining: money(o.Remaining), Covered: o.Covered,
			Pledged: []MoneyInfo{}, Pledges: []PledgeInfo{}}
		for _, m := range o.Pledged {
			f.Pledged = append(f.Pledged, MoneyInfo{Currency: m.Currency, Amount: money(m.Amount)})
		}
		for _, p := range o.Pledges {
			f.Pledges = append(f.Pledges, PledgeInfo{ID: p.ID.String(), Org: p.Org.String(), OrgName: names[p.Org], Amount: money(p.Amount),
				Currency: p.Currency, Withdrawn: p.Withdrawn, Created: formatMillis(p.Clock.Millis())})
		}
		d.Funding = f
	case crdt.Letter:
		d.Letter = &LetterSummary{Signatures: len(o.Signatures), ClosedForSigning: rv.Closed || req.RespondBy > 0 && n.past(req.RespondBy)}
	}
}

// Now is the node's wall clock (replaceable in tests).
func (n *Node) Now() time.Time { return n.now() }

// now reads the node's wall clock; a running node's goroutines read it
// while a test may replace it.
func (n *Node) now() time.Time { return (*n.wall.Load())() }

// SetClock replaces the node's wall clock (tests, the testnet).
func (n *Node) SetClock(now func() time.Time) { n.wall.Store(&now) }

// Signatory is an organisation that signed a letter.
type Signatory struct {
	Org    string `json:"org"`
	Name   string `json:"name"`
	Signed string `json:"signed"`
}

// Signatories lists the organisations whose signatures on a letter count
// (one each, on or before its deadline), in the order they signed.
func (n *Node) Signatories(ref string) (RequestSummary, []Signatory, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return RequestSummary{}, nil, err
	}
	if rv.Request == nil {
		return RequestSummary{}, nil, fmt.Errorf("request %s: its details are not held here", short(rv.ID.String()))
	}
	if rv.Request.Type != crdt.Letter {
		return RequestSummary{}, nil, fmt.Errorf("request %s is %s, not a letter: only letters have signatories", short(rv.ID.String()), anyKind(rv.Request.Type))
	}
	names := n.orgNames()
	out := []Signatory{}
	for _, s := range rv.Outcome.Signatures {
		out = append(out, Signatory{Org: s.Org.String(), Name: names[s.Org], Signed: formatMillis(s.Clock.Millis())})
	}
	return n.summary(rv, names), out, nil
}
