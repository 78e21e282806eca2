package crdt

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// views index the accepted entries of resident kinds (see Facts) that the
// read-side questions need; the others are the facts' (Facts.View). Every
// answer is computed on demand and sorted, so it depends only on the
// accepted set.
type views struct {
	orgKeys map[ID]*record // organisation keys
	hints   map[ID]*record // address hints, withheld ones too
	checks  map[ID]*record // secret checks (anchors of the network secret)
}

func newViews() views {
	return views{
		orgKeys: map[ID]*record{},
		hints:   map[ID]*record{},
		checks:  map[ID]*record{},
	}
}

func (v *views) add(r *record) {
	if r.e.Kind == KindAddressHint {
		v.hints[r.id()] = r
	}
	switch r.body.(type) {
	case *OrgKey, *OrgKeyV2:
		v.orgKeys[r.id()] = r
	case *SecretCheck:
		v.checks[r.id()] = r
	}
}

func (v *views) remove(r *record) {
	delete(v.hints, r.id())
	delete(v.orgKeys, r.id())
	delete(v.checks, r.id())
}

// records returns the accepted entries of view v with Keys.Ref ref (any
// ref if ref is nil), sorted by clock then ID.
func (s *State) records(v View, ref *ID) []*record {
	var rs []*record
	fn := func(e *Entry) error {
		if r := s.get(e.id); r != nil && r.status == StatusAccepted {
			rs = append(rs, r)
		}
		return nil
	}
	if ref == nil {
		s.fail(s.facts.View(v, fn))
	} else {
		s.fail(s.facts.Refs(v, *ref, fn))
	}
	sortRecords(rs)
	return rs
}

func sortRecords(rs []*record) {
	slices.SortFunc(rs, func(a, b *record) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
}

// OrgView is a member organisation (or one awaiting admission).
type OrgView struct {
	ID        OrgID
	First     DeviceKey // the device it was admitted with
	Name      string
	Steward   bool
	Admitted  bool
	Approvals int // steward organisations that approved it
	Devices   []DeviceView
}

// DeviceView is one device of an organisation.
type DeviceView struct {
	Key     DeviceKey
	Label   string
	Revoked bool
	Cutoff  uint64 // lowest cut-off among the revocations, if Revoked
	Forked  bool   // two accepted entries share a sequence number: a cloned key
	Entries int    // accepted entries
	// AddedBy is the device that wrote the entry that made this one a
	// member's: a sibling that added it, or the steward's that admitted
	// its organisation (zero for the founder's).
	AddedBy DeviceKey
}

// Quorum is how many steward organisations must approve an admission.
func (s *State) Quorum() int { return s.m.quorum }

// Members lists organisations, admitted ones first, then by name and ID.
func (s *State) Members() []OrgView {
	var out []OrgView
	for _, o := range s.m.orgs {
		out = append(out, s.orgView(o))
	}
	slices.SortFunc(out, func(a, b OrgView) int {
		if a.Admitted != b.Admitted {
			if a.Admitted {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out
}

// orgView is one organisation's view; each device's counts are read from
// the facts.
func (s *State) orgView(o *orgState) OrgView {
	ov := OrgView{ID: o.id, First: o.first, Name: o.name, Steward: o.steward, Admitted: o.admitted, Approvals: len(o.approvals)}
	for _, k := range o.devices {
		ov.Devices = append(ov.Devices, s.deviceView(k))
	}
	slices.SortFunc(ov.Devices, func(a, b DeviceView) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return ov
}

// MembershipChains calls fn, author by author (by key) and each in chain
// order, with the accepted entries of every author of an accepted
// membership entry, up to the last such entry of each: what a node must
// hold for the membership to be accepted there. It reads only those
// authors' chains, and stops when fn returns false.
func (s *State) MembershipChains(fn func(*Entry) bool) {
	upTo := map[DeviceKey]uint64{}
	for _, r := range s.members {
		if r.status == StatusAccepted {
			upTo[r.e.Author] = max(upTo[r.e.Author], r.e.Seq)
		}
	}
	authors := make([]DeviceKey, 0, len(upTo))
	for a := range upTo {
		authors = append(authors, a)
	}
	slices.SortFunc(authors, func(a, b DeviceKey) int { return bytes.Compare(a[:], b[:]) })
	for _, a := range authors {
		var es []*Entry
		s.fail(s.facts.Authored(a, func(e *Entry, st Status) error {
			if st == StatusAccepted && e.Seq <= upTo[a] {
				es = append(es, e)
			}
			return nil
		}))
		slices.SortFunc(es, func(x, y *Entry) int {
			if x.Seq != y.Seq {
				return cmp.Compare(x.Seq, y.Seq)
			}
			return bytes.Compare(x.id[:], y.id[:])
		})
		for _, e := range es {
			if !fn(e) {
				return
			}
		}
	}
}

// OrgNames are the names of the organisations (admitted or waiting),
// read from the membership alone.
func (s *State) OrgNames() map[OrgID]string {
	out := make(map[OrgID]string, len(s.m.orgs))
	for _, o := range s.m.orgs {
		out[o.id] = o.name
	}
	return out
}

func (s *State) deviceView(k DeviceKey) DeviceView {
	d := s.m.devices[k]
	dv := DeviceView{Key: k, Label: d.label}
	if r := s.get(d.addedBy); r != nil && r.e.Kind != KindGenesis {
		dv.AddedBy = r.e.Author
	}
	for _, rv := range s.m.revs[k] {
		if !dv.Revoked || rv.body.Cutoff < dv.Cutoff {
			dv.Cutoff = rv.body.Cutoff
		}
		dv.Revoked = true
	}
	var err error
	dv.Entries, dv.Forked, err = s.facts.Device(k)
	s.fail(err)
	return dv
}

// Device is one member device's view (its counts read from the facts,
// one question), if k is a member's.
func (s *State) Device(k DeviceKey) (DeviceView, bool) {
	if s.m.devices[k] == nil {
		return DeviceView{}, false
	}
	return s.deviceView(k), true
}

// DeviceOrg returns the organisation of an admitted device.
func (s *State) DeviceOrg(k DeviceKey) (OrgID, bool) {
	d := s.m.devices[k]
	if d == nil {
		return OrgID{}, false
	}
	return d.org, true
}

// Org returns one organisation.
func (s *State) Org(id OrgID) (OrgView, bool) {
	o := s.m.orgs[id]
	if o == nil {
		return OrgView{}, false
	}
	return s.orgView(o), true
}

// NetworkName is the name given at genesis.
func (s *State) NetworkName() string {
	if g := s.get(s.network); g != nil && g.status == StatusAccepted {
		return g.body.(*Genesis).NetworkName
	}
	return ""
}

func (s *State) orgOf(r *record) OrgID {
	if d := s.m.devices[r.e.Author]; d != nil {
		return d.org
	}
	return OrgID{}
}

// DirectoryView is an organisation's current directory entry.
type DirectoryView struct {
	Org   OrgID
	Entry ID
	Clock Clock
	Directory
}

// Directory lists each organisation's latest directory entry (by clock,
// then ID), ordered by organisation ID.
func (s *State) Directory() []DirectoryView {
	latest := map[OrgID]*record{}
	for k, d := range s.m.devices {
		ref := ID(k)
		es, err := s.facts.Page(ViewDirectory, 0, &ref, nil, 1)
		s.fail(err)
		for _, e := range es {
			r := s.get(e.id)
			if r == nil || r.status != StatusAccepted {
				continue
			}
			if cur := latest[d.org]; cur == nil || cur.less(r) {
				latest[d.org] = r
			}
		}
	}
	out := make([]DirectoryView, 0, len(latest))
	for o, r := range latest {
		if b, ok := r.body.(*Directory); ok {
			out = append(out, DirectoryView{Org: o, Entry: r.id(), Clock: r.e.Clock, Directory: *b})
		}
	}
	slices.SortFunc(out, func(a, b DirectoryView) int { return bytes.Compare(a.Org[:], b.Org[:]) })
	return out
}

// RequestView is a request with what has happened to it.
type RequestView struct {
	ID       ID
	Org      OrgID
	Author   DeviceKey
	Clock    Clock
	Withheld bool     // the body is not held here
	Sealed   bool     // its title and text are sealed: Request holds the envelope
	Request  *Request // nil if Withheld and nothing of it was kept
	// Redacted says who took back its words, when and why; nil if no one
	// did. Request then holds what the redaction kept: the envelope.
	Redacted *RedactionView
	Closed   bool
	ClosedBy ID // the close that counts: the requester's earliest
	// ResponseCount is how many answers fit the request (answers), and
	// RespondedBy the organisations that gave them, ascending. Past
	// bucketCap answers of one organisation of one type, the count stops
	// there, and ResponsesMore says there are more.
	ResponseCount int
	ResponsesMore bool
	RespondedBy   []OrgID
	Outcome       Outcome // what the responses add up to (workflows.go)
	// AckedBy: the organisations that acknowledged the alert (ack.go),
	// ascending.
	AckedBy []OrgID
}

// ResponseView is one answer to a request.
type ResponseView struct {
	ID     ID
	Org    OrgID
	Author DeviceKey
	Clock  Clock
	Deps   []ID // the entry's dependencies: the request, and for a withdrawal the pledges it withdraws
	Sealed bool // its text is sealed
	// Redacted: its words were taken back (Text is empty); nil if not.
	Redacted *RedactionView
	Response
}

// RedactionView is the redaction that counts for an entry: the earliest
// (by clock, then ID) accepted redaction by the entry's own organisation.
type RedactionView struct {
	ID     ID // the redaction entry
	Org    OrgID
	Clock  Clock
	Reason string
}

// Redaction returns the redaction that counts for the entry id, if any.
func (s *State) Redaction(id ID) (RedactionView, bool) {
	t := s.get(id)
	if t == nil {
		return RedactionView{}, false
	}
	v := s.redactionView(t)
	if v == nil {
		return RedactionView{}, false
	}
	return *v, true
}

func (s *State) redactionView(t *record) *RedactionView {
	r := s.redactionOf(t)
	if r == nil {
		return nil
	}
	v := &RedactionView{ID: r.id(), Org: s.orgOf(r), Clock: r.e.Clock}
	switch b := r.body.(type) {
	case *Redaction:
		v.Reason = b.Reason
	case *RedactionV2:
		v.Reason = b.Reason
	}
	return v
}

// Requests lists every request, oldest first (by clock, then ID).
func (s *State) Requests() []RequestView {
	rs := s.records(ViewRequest, nil)
	out := make([]RequestView, len(rs))
	for i, r := range rs {
		out[i] = s.requestView(r)
	}
	return out
}

// RequestPage lists up to limit requests, newest first (by clock, then
// ID, both descending), after cursor if it is not nil; with kind != 0,
// only requests of that kind; with open, only those not closed. It reads
// only the requests it returns, and their answers.
func (s *State) RequestPage(kind RequestType, open bool, after *Cursor, limit int) []RequestView {
	out, _ := s.RequestPageOf(kind, open, after, limit, nil)
	return out
}

// RequestPageOf is RequestPage with a question asked of each request
// before its view is built (a view reads the request's closes and
// answers): keep, if not nil, is given the request's ID, clock,
// organisation and body (nil if withheld), and the requests it refuses
// cost one row read.
// It also returns the cursor after the last request read, nil when none
// is left.
func (s *State) RequestPageOf(kind RequestType, open bool, after *Cursor, limit int, keep func(id ID, clock Clock, org OrgID, req *Request) bool) ([]RequestView, *Cursor) {
	es, err := s.facts.Page(ViewRequest, uint64(kind), openRef(open), after, limit)
	s.fail(err)
	out := make([]RequestView, 0, len(es))
	for _, e := range es {
		r := s.recs[e.id]
		if r == nil {
			r = s.load(e, StatusAccepted) // (as the page read it)
		}
		if r.status != StatusAccepted {
			continue
		}
		if req, _ := r.body.(*Request); keep == nil || keep(e.id, e.Clock, s.orgOf(r), req) {
			out = append(out, s.requestView(r))
		}
	}
	if len(es) < limit || len(es) == 0 {
		return out, nil
	}
	last := es[len(es)-1]
	return out, &Cursor{Clock: last.Clock, ID: last.id}
}

// RestPage is RequestPage without the open alerts, which the lists show
// apart, ahead of the rest: up to limit requests of kind (0: any; Alert:
// the closed alerts, if not open) after cursor, newest first. The open
// alerts it passes cost a row read each (no view of them is built); the
// closed requests are read apart from the open ones, so that it never
// asks whether a request is closed.
func (s *State) RestPage(kind RequestType, open bool, after *Cursor, limit int) []RequestView {
	if limit <= 0 || kind == Alert && open {
		return nil
	}
	if kind != 0 && kind != Alert {
		return s.RequestPage(kind, open, after, limit)
	}
	// The open requests but the alerts.
	var opened []RequestView
	if kind == 0 {
		// (Views are built for the first limit only; the batches grow
		// while they pass alerts.)
		kept := 0
		keep := func(_ ID, _ Clock, _ OrgID, req *Request) bool {
			if req != nil && req.Type == Alert || kept >= limit {
				return false
			}
			kept++
			return true
		}
		for cur, n := after, limit; kept < limit; n = min(2*n, restBatch) {
			batch, next := s.RequestPageOf(0, true, cur, n, keep)
			opened = append(opened, batch...)
			if next == nil {
				break
			}
			cur = next
		}
	}
	if open {
		return opened
	}
	// And the closed ones (of any kind, or the alerts), merged in.
	es, err := s.facts.Page(ViewRequest, uint64(kind), &ClosedRef, after, limit)
	s.fail(err)
	closed := make([]RequestView, 0, len(es))
	for _, e := range es {
		r := s.recs[e.id]
		if r == nil {
			r = s.load(e, StatusAccepted)
		}
		if r.status == StatusAccepted {
			closed = append(closed, s.requestView(r))
		}
	}
	out := append(opened, closed...)
	slices.SortFunc(out, func(a, b RequestView) int {
		if a.Clock != b.Clock {
			return cmp.Compare(b.Clock, a.Clock)
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	return out[:min(len(out), limit)]
}

// restBatch is the most open requests RestPage reads at a time when it
// passes open alerts.
const restBatch = 512

// RequestsBetween lists up to max requests whose IDs lie between lo and
// hi (both included), by ID: the requests an ID prefix names.
func (s *State) RequestsBetween(lo, hi ID, max int) []RequestView {
	es, err := s.facts.Range(ViewRequest, lo, hi, max)
	s.fail(err)
	out := make([]RequestView, 0, len(es))
	for _, e := range es {
		if r := s.get(e.id); r != nil && r.status == StatusAccepted {
			out = append(out, s.requestView(r))
		}
	}
	return out
}

// openRef is the ref that lists the open requests (see ClosedRef).
func openRef(open bool) *ID {
	if open {
		return &ID{}
	}
	return nil
}

// RequestCount is how many requests RequestPage would list with the same
// kind and open, after cursor if it is not nil.
func (s *State) RequestCount(kind RequestType, open bool, after *Cursor) int {
	n, err := s.facts.Count(ViewRequest, uint64(kind), openRef(open), after)
	s.fail(err)
	return n
}

// Request returns one request, with its outcome (AnswersBefore lists
// its answers).
func (s *State) Request(id ID) (RequestView, bool) {
	r := s.get(id)
	if r == nil || r.status != StatusAccepted || keysOf(r.e, r.body).View != ViewRequest {
		return RequestView{}, false
	}
	return s.requestView(r), true
}

// requestView is r's view: its outcome, from the answers it reads
// (Responses stays empty: AnswersBefore lists them).
func (s *State) requestView(r *record) RequestView {
	rv := RequestView{ID: r.id(), Org: s.orgOf(r), Author: r.e.Author, Clock: r.e.Clock, Sealed: r.e.Kind == KindSealed}
	req, _ := r.body.(*Request)
	rv.Request, rv.Withheld, rv.Redacted = req, req == nil, s.redactionView(r)
	// Only the requesting organisation's closes count, and only those are
	// read (by their tag): another organisation's, however many, cost
	// nothing here.
	id := r.id()
	var closes []*record
	for _, c := range s.tagged(ViewClose, OrgTag(rv.Org), id) {
		if s.orgOf(c) == rv.Org {
			closes = append(closes, c)
		}
	}
	if len(closes) > 0 {
		rv.Closed, rv.ClosedBy = true, closes[0].id()
	}
	if req != nil {
		resps, count, more, by := s.answers(rv.Org, id, req.Type)
		rv.ResponseCount, rv.ResponsesMore, rv.RespondedBy = count, more, by
		var counted []ResponseView
		for _, x := range resps {
			if x.Type != Comment {
				counted = append(counted, x)
			}
		}
		rv.Outcome = outcome(rv.Org, req, counted)
	}
	rv.AckedBy = s.ackedBy(r.id())
	return rv
}

// The answers a request's view reads, by organisation and type (their
// tag, ResponseTag): each organisation's answers of each type that fits
// the request are counted up to bucketCap, and read only as far as the
// outcome needs (the latest, for a position; every pledge, withdrawal and
// signature, since each counts). So one organisation's thousands of comments or
// positions cost a view of the request no more than bucketCap reads, and
// the other organisations' nothing; a count past bucketCap in one such
// bucket is shown as bucketCap. Thousands of pledges, withdrawals or
// signatures are read: each of them counts.
const bucketCap = 1000

// ShowResponses is how many of a request's latest answers `request show`
// lists unless told.
const ShowResponses = 200

// fitting are the response types that answer a request of kind.
func fitting(kind RequestType) []ResponseType {
	var out []ResponseType
	for t := ResponseType(1); int(t) < len(responseTypeNames); t++ {
		if t.Fits(kind) {
			out = append(out, t)
		}
	}
	return out
}

// answers reads the answers to request id (of type kind, by org) as said
// above: those read, oldest first, how many there are (more: at least),
// and the organisations that gave any.
func (s *State) answers(org OrgID, id ID, kind RequestType) (read []ResponseView, count int, more bool, by []OrgID) {
	orgs := make([]OrgID, 0, len(s.m.orgs))
	for o := range s.m.orgs {
		orgs = append(orgs, o)
	}
	slices.SortFunc(orgs, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
	var rs []*record
	for _, o := range orgs {
		answered := false
		for _, t := range fitting(kind) {
			tag := ResponseTag(o, t)
			if t == Pledge || t == Withdraw || t == SignOn {
				// Every one counts (a withdrawal names the pledges it
				// takes back; a letter's earliest signature before its
				// deadline counts): read them all, however many.
				all := s.tagged(ViewResponse, tag, id)
				if len(all) > 0 {
					count += len(all)
					answered = true
					rs = append(rs, all...)
				}
				continue
			}
			n, err := s.facts.CountUpTo(ViewResponse, tag, id, bucketCap)
			if err != nil {
				s.fail(err)
				return nil, 0, false, nil
			}
			if n == 0 {
				continue
			}
			count += n
			more = more || n == bucketCap
			answered = true
			if t != Comment && o != org { // a position: the latest counts
				rs = append(rs, s.taggedUpTo(ViewResponse, tag, id, 1)...)
			}
		}
		if answered {
			by = append(by, o)
		}
	}
	sortRecords(rs)
	rs = slices.CompactFunc(rs, func(a, b *record) bool { return a == b })
	for _, x := range rs {
		read = append(read, ResponseView{ID: x.id(), Org: s.orgOf(x), Author: x.e.Author, Clock: x.e.Clock, Deps: x.e.Deps, Sealed: x.e.Kind == KindSealed, Redacted: s.redactionView(x), Response: *x.body.(*Response)})
	}
	return read, count, more, by
}

// AnswersBefore lists up to limit of request id's answers that a view of
// it shows (of a type that fits it, from a member organisation): the
// latest before cursor (from the latest of all if nil), oldest first.
// more says whether earlier ones remain. It reads the answers it lists,
// and those it passes over (of a type that does not fit, or from an
// organisation no longer a member), by the store's index of a request's
// answers: a page of a request with thousands of comments reads a page.
func (s *State) AnswersBefore(id ID, before *Cursor, limit int) (out []ResponseView, more bool) {
	r := s.get(id)
	req, ok := (*Request)(nil), r != nil && r.status == StatusAccepted
	if ok {
		req, ok = r.body.(*Request)
	}
	if !ok || limit <= 0 {
		return nil, false
	}
	// A page asks for one more than it lists (are there more?), and
	// again for what it still lacks, plus as many as it passed over so far.
	batch, skipped := limit+1, 0
	for {
		es, err := s.facts.Page(ViewResponse, 0, &id, before, batch)
		if err != nil {
			s.fail(err)
			return nil, false
		}
		for _, e := range es {
			x := s.recs[e.id]
			if x == nil {
				x = s.load(e, StatusAccepted) // (as the page read it)
			}
			b, ok := x.body.(*Response)
			if x.status != StatusAccepted || !ok || !b.Type.Fits(req.Type) || s.m.orgs[s.orgOf(x)] == nil {
				skipped++
				continue
			}
			if len(out) == limit {
				more = true
				break
			}
			out = append(out, ResponseView{ID: x.id(), Org: s.orgOf(x), Author: x.e.Author, Clock: x.e.Clock, Deps: x.e.Deps,
				Sealed: x.e.Kind == KindSealed, Redacted: s.redactionView(x), Response: *b})
		}
		if more || len(es) < batch {
			break
		}
		last := es[len(es)-1]
		before = &Cursor{Clock: last.Clock, ID: last.id}
		batch = min(limit+1-len(out)+skipped, 4096)
	}
	slices.Reverse(out)
	return out, more
}

// AnswerCursors are the positions of request id's answers whose IDs lie
// between lo and hi (both included), up to max, by ID: the answers an ID
// prefix names.
func (s *State) AnswerCursors(id, lo, hi ID, max int) []Cursor {
	es, err := s.facts.Range(ViewResponse, lo, hi, max)
	s.fail(err)
	var out []Cursor
	for _, e := range es {
		x := s.get(e.id)
		if x == nil {
			continue
		}
		if b, ok := x.body.(*Response); ok && x.status == StatusAccepted && b.Request == id {
			out = append(out, Cursor{Clock: x.e.Clock, ID: x.id()})
		}
	}
	return out
}

// InviteView is an invite that stands, and who used it.
type InviteView struct {
	ID     ID
	Author DeviceKey
	Org    OrgID // the inviting organisation
	Invite
	UsedBy string // the organisation or device it admitted; empty while open
}

// Invites lists the invites that stand, oldest first.
func (s *State) Invites() []InviteView {
	var rs []*record
	for id := range s.m.valid {
		if r := s.get(id); r != nil && r.e.Kind == KindInvite && r.status == StatusAccepted {
			rs = append(rs, r)
		}
	}
	sortRecords(rs)
	out := make([]InviteView, len(rs))
	for i, r := range rs {
		out[i] = InviteView{ID: r.id(), Author: r.e.Author, Org: s.orgOf(r), Invite: *r.body.(*Invite), UsedBy: s.m.inviteUse[r.id()]}
	}
	return out
}

// InviteByKey finds the invite whose key is key.
func (s *State) InviteByKey(key [32]byte) (InviteView, bool) {
	for _, iv := range s.Invites() {
		if iv.Key == key {
			return iv, true
		}
	}
	return InviteView{}, false
}

// Standing reports whether k is the key of a device that may take part in
// the network now: a device of an admitted organisation, not revoked.
func (s *State) Standing(k DeviceKey) (OrgID, bool) {
	d := s.m.devices[k]
	if d == nil || len(s.m.revs[k]) > 0 {
		return OrgID{}, false
	}
	return d.org, true
}

// ApprovedBy reports whether approver has approved org's admission.
func (s *State) ApprovedBy(org, approver OrgID) bool {
	o := s.m.orgs[org]
	return o != nil && slices.Contains(o.approvals, approver)
}

// KeyShares lists the accepted key shares of a sealed entry, oldest first.
func (s *State) KeyShares(target ID) []*Entry {
	rs := s.records(ViewShare, &target)
	out := make([]*Entry, len(rs))
	for i, r := range rs {
		out[i] = r.e
	}
	return out
}

// OrgKeys lists the accepted organisation-key entries (both forms) written
// by org's devices, by clock then ID. Which of them is current is not their
// order: see OrgKeyViews.
func (s *State) OrgKeys(org OrgID) []*Entry {
	var rs []*record
	for _, r := range s.v.orgKeys {
		if s.orgOf(r) == org {
			rs = append(rs, r)
		}
	}
	sortRecords(rs)
	out := make([]*Entry, len(rs))
	for i, r := range rs {
		out[i] = r.e
	}
	return out
}

// AddressHintView is a device's current address hint.
type AddressHintView struct {
	Device DeviceKey
	Org    OrgID
	Entry  ID
	Seq    uint64
	Clock  Clock // as its author set it: for showing and ageing, never for ordering
	AddressHint
}

// AddressHints lists the current address hint of every device with
// standing, by device key. A device's current hint is its accepted hint
// with the highest sequence number (the lowest ID among equals, from a
// cloned key): its own chain order, not a clock it chose. A device whose
// current hint has no address (a withdrawal) or whose body was taken back
// has none; a revoked device's hints do not count.
func (s *State) AddressHints() []AddressHintView {
	latest := map[DeviceKey]*record{}
	for _, r := range s.v.hints {
		cur := latest[r.e.Author]
		if cur == nil || r.e.Seq > cur.e.Seq || r.e.Seq == cur.e.Seq && r.id().Less(cur.id()) {
			latest[r.e.Author] = r
		}
	}
	out := make([]AddressHintView, 0, len(latest))
	for k, r := range latest {
		org, ok := s.Standing(k)
		b, _ := r.body.(*AddressHint)
		if !ok || b == nil || len(b.Addrs) == 0 {
			continue
		}
		out = append(out, AddressHintView{Device: k, Org: org, Entry: r.id(), Seq: r.e.Seq, Clock: r.e.Clock, AddressHint: *b})
	}
	slices.SortFunc(out, func(a, b AddressHintView) int { return bytes.Compare(a.Device[:], b.Device[:]) })
	return out
}

// NetworkKeyCheck is the key check of the network secret as its anchor
// says (see SecretCheck), and whether there is one. Only an anchor written
// by a device of a steward organisation counts: any member may write the
// kind, and a member that is not a steward must not be able to name its
// own secret as the network's. Where anchors disagree, the founding
// organisation's counts (the lowest sequence number in its device's chain,
// then the lowest ID); without one from it, the earliest by clock, then ID,
// of the other stewards'.
func (s *State) NetworkKeyCheck() ([8]byte, bool) {
	var founder OrgID
	if g := s.get(s.network); g != nil {
		founder = OrgIDFor(g.e.Author)
	}
	var best *record
	better := func(r, than *record) bool {
		rf, tf := s.orgOf(r) == founder, s.orgOf(than) == founder
		switch {
		case rf != tf:
			return rf
		case rf && r.e.Seq != than.e.Seq:
			return r.e.Seq < than.e.Seq
		case !rf && r.e.Clock != than.e.Clock:
			return r.e.Clock < than.e.Clock
		}
		return r.id().Less(than.id())
	}
	for _, r := range s.v.checks {
		o := s.m.orgs[s.orgOf(r)]
		if o == nil || !o.admitted || !o.steward {
			continue
		}
		if best == nil || better(r, best) {
			best = r
		}
	}
	if best == nil {
		return [8]byte{}, false
	}
	return best.body.(*SecretCheck).KeyCheck, true
}
