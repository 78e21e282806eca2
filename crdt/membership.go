package crdt

import (
	"bytes"
	"container/heap"
	"fmt"
	"slices"
)

// Membership: who may write.
//
// Membership entries (genesis, admission, device added, device revoked) are
// few, so the membership is recomputed from all of them whenever one
// arrives: a replay in a deterministic order O, each entry judged against
// what the entries before it in O established. O must not depend on
// arrival order, and must not be something an author can game (clocks can
// be forged), so it is a topological order of these constraints, ties
// broken by (clock, ID):
//
//   - chain: an author's entries in sequence order;
//   - support: the entry that added a device comes before the device's
//     entries and before revocations of it;
//   - kill: a revocation comes before every entry of the revoked device
//     that lies past its cut-off. Revocation therefore wins against
//     anything the revoked device signed past the cut-off, whatever its
//     clock says — a seized device cannot pre-date a counter-move.
//
// The only cycles are revocation races: device A revokes B while B (past
// the point A accepts) revokes A, possibly through devices B added. A cycle
// is replayed as one step: its revocations are judged against the state
// before the step, all that pass take effect together, then its other
// entries are judged. In a direct race both devices are cut off at the
// points the other named, which is the safe outcome when the network
// cannot tell the seized device from the honest one.
//
// An entry the replay finds invalid is held, not dropped: a revocation
// arriving later can change the ruling, and a ruling that depended on
// arrival order would split the network.

type orgState struct {
	id            OrgID
	name          string
	first         DeviceKey
	steward       bool
	admitted      bool
	approvals     []OrgID // distinct steward organisations that approved
	stewardVotes  []OrgID // ... of which approved it as a steward
	devices       []DeviceKey
	admissionTerm ID // first admission entry in replay order (its name)
}

type deviceState struct {
	key     DeviceKey
	org     OrgID
	label   string
	addedBy ID
}

type revocation struct {
	rec  *record
	body *DeviceRevoked
	// selfDefeating: it would void an entry its own author's membership
	// rests on (the admission of its author's organisation, the addition of
	// its author's device, or of the devices that added them), so it can
	// never stand: it is void, and shapes nothing.
	selfDefeating bool
	allowed       map[uint64]ID // the revoked device's chain from Head down
	floor         uint64        // lowest seq the chain is known down to
	walked        bool
}

type membership struct {
	quorum  int
	orgs    map[OrgID]*orgState
	devices map[DeviceKey]*deviceState // devices of admitted organisations
	revs    map[DeviceKey][]*revocation
	valid   map[ID]bool
	reasons map[ID]error
	waiting map[ID]bool // membership entries that are not candidates yet
	stepOf  map[ID]int  // replay step of each candidate (a race is one step)
	steps   int
	// inviteUse says who used each invite: the organisation (for an
	// organisation invite) or the device it admitted, as a string.
	inviteUse map[ID]string
	// changeVotes: for each organisation, the steward organisations that
	// approved changing its steward standing to the opposite of what it
	// is now (a steward change for the standing it has is no vote).
	changeVotes map[OrgID][]OrgID
	// quorumVotes: for each proposed quorum, the steward organisations
	// that approved it.
	quorumVotes map[uint64][]OrgID
}

func newMembership(genesis *record) *membership {
	return &membership{
		quorum:  1,
		orgs:    map[OrgID]*orgState{},
		devices: map[DeviceKey]*deviceState{},
		revs:    map[DeviceKey][]*revocation{},
		valid:   map[ID]bool{},
		reasons: map[ID]error{},
		waiting: map[ID]bool{},
		stepOf:  map[ID]int{},

		inviteUse:   map[ID]string{},
		changeVotes: map[OrgID][]OrgID{},
		quorumVotes: map[uint64][]OrgID{},
	}
}

// within decides whether entry r of a revoked device is on the chain the
// revocation accepts: yes, no, or not decidable yet (part of the chain is
// missing).
type verdictWithin int

const (
	isWithin verdictWithin = iota
	isBeyond
	isUndecided
)

func (s *State) within(r *record, rv *revocation) verdictWithin {
	if r.e.Seq > rv.body.Cutoff {
		return isBeyond
	}
	if !rv.walked {
		rv.walked = true
		rv.allowed = map[uint64]ID{}
		rv.floor = rv.body.Cutoff + 1
		for x := s.get(rv.body.Head); x != nil; x = s.get(x.e.Prev) {
			rv.allowed[x.e.Seq] = x.id()
			rv.floor = x.e.Seq
			if x.e.Seq == 1 {
				break
			}
		}
	}
	if r.e.Seq < rv.floor {
		return isUndecided
	}
	if rv.allowed[r.e.Seq] == r.id() {
		return isWithin
	}
	return isBeyond
}

// introduces returns the device an entry brings in, if any.
func introduces(r *record) (DeviceKey, bool) {
	switch b := r.body.(type) {
	case *Genesis:
		return r.e.Author, true
	case *Admission:
		return b.Device, true
	case *DeviceAdded:
		return b.Device, true
	}
	return DeviceKey{}, false
}

// dropBadRevocations refuses, for good, revocations whose head turned out
// not to be the revoked device's entry at the cut-off.
func (s *State) dropBadRevocations() {
	var bad []*record
	for _, r := range s.members {
		if rv, ok := r.body.(*DeviceRevoked); ok && rv.Cutoff > 0 {
			if h := s.get(rv.Head); h != nil && (h.e.Author != rv.Device || h.e.Seq != rv.Cutoff) {
				bad = append(bad, r)
			}
		}
	}
	for _, r := range bad {
		s.drop(r, fmt.Errorf("%w: revocation's head is not the device's entry at its cut-off", ErrInvalid), true)
	}
}

// replay computes the membership from every membership entry held, plus
// extra (an entry being checked, not held) if not nil. It changes nothing.
func (s *State) replay(extra *record) *membership {
	m := newMembership(nil)
	all := make([]*record, 0, len(s.members)+1)
	for _, r := range s.members {
		all = append(all, r)
	}
	if extra != nil {
		all = append(all, extra)
	}
	var cands []*record
	for _, r := range all {
		rv, isRev := r.body.(*DeviceRevoked)
		switch {
		case !r.linked:
			m.waiting[r.id()] = true
		case isRev && rv.Cutoff > 0 && s.get(rv.Head) == nil:
			m.waiting[r.id()] = true
			m.reasons[r.id()] = fmt.Errorf("%w: the revoked device's entry %v named as the cut-off", ErrMissing, rv.Head)
		case usesInvites(r) && s.missingDep(r) != nil:
			m.waiting[r.id()] = true
			m.reasons[r.id()] = fmt.Errorf("%w: entry %v it names (its invite)", ErrMissing, *s.missingDep(r))
		default:
			cands = append(cands, r)
		}
	}
	slices.SortFunc(cands, func(a, b *record) int {
		if a.less(b) {
			return -1
		}
		return 1
	})
	n := len(cands)
	index := make(map[*record]int, n)
	byAuthor := map[DeviceKey][]int{}
	revs := make([]*revocation, n)
	revsOf := map[DeviceKey][]int{}
	for i, r := range cands {
		index[r] = i
		byAuthor[r.e.Author] = append(byAuthor[r.e.Author], i)
		if b, ok := r.body.(*DeviceRevoked); ok {
			revs[i] = &revocation{rec: r, body: b}
			revsOf[b.Device] = append(revsOf[b.Device], i)
		}
	}
	out := make([][]int, n)
	indeg := make([]int, n)
	edge := func(a, b int) {
		if a != b {
			out[a] = append(out[a], b)
			indeg[b]++
		}
	}
	for _, is := range byAuthor { // chain
		bySeq := slices.Clone(is)
		slices.SortFunc(bySeq, func(a, b int) int {
			if ea, eb := cands[a].e, cands[b].e; ea.Seq != eb.Seq {
				return int(ea.Seq) - int(eb.Seq)
			}
			return a - b
		})
		for k := 1; k < len(bySeq); k++ {
			edge(bySeq[k-1], bySeq[k])
		}
	}
	for i, r := range cands { // support
		if usesInvites(r) {
			for _, inv := range s.citedInvites(r) {
				if j, ok := index[inv]; ok {
					edge(j, i)
				}
			}
		}
		if key, ok := introduces(r); ok {
			for _, j := range byAuthor[key] {
				edge(i, j)
			}
			for _, j := range revsOf[key] {
				edge(i, j)
			}
		}
	}
	// A revocation that would void what its own author stands on is void.
	intro := map[DeviceKey][]*record{}
	orgFirst := map[OrgID]DeviceKey{}
	for _, r := range cands {
		if key, ok := introduces(r); ok {
			intro[key] = append(intro[key], r)
			if key == r.e.Author || r.e.Kind == KindAdmission {
				orgFirst[OrgIDFor(key)] = key
			}
		}
	}
	for _, rv := range revs {
		if rv == nil {
			continue
		}
		for x := range supportOf(rv.rec.e.Author, intro, orgFirst) {
			if x.e.Author == rv.body.Device && s.within(x, rv) != isWithin {
				rv.selfDefeating = true
				break
			}
		}
	}
	for i, rv := range revs { // kill
		if rv == nil || rv.selfDefeating {
			continue
		}
		for _, j := range byAuthor[rv.body.Device] {
			if j != i && s.within(cands[j], rv) != isWithin {
				edge(i, j)
			}
		}
	}

	// Kahn's algorithm; when every remaining entry waits on another, the
	// earliest source cycle is replayed as one step.
	done := make([]bool, n)
	ready := &intHeap{}
	for i := range n {
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	emit := func(step []int) {
		inStep := map[int]bool{}
		for _, i := range step {
			inStep[i] = true
			done[i] = true
		}
		for _, i := range step {
			for _, j := range out[i] {
				if inStep[j] {
					continue
				}
				indeg[j]--
				if indeg[j] == 0 {
					heap.Push(ready, j)
				}
			}
		}
		rs := make([]*record, len(step))
		rv := make([]*revocation, len(step))
		for k, i := range step {
			rs[k], rv[k] = cands[i], revs[i]
		}
		m.step(s, rs, rv)
	}
	for emitted := 0; emitted < n; {
		if ready.Len() > 0 {
			i := heap.Pop(ready).(int)
			if done[i] {
				continue
			}
			emit([]int{i})
			emitted++
			continue
		}
		step := sourceCycle(n, out, done)
		emit(step)
		emitted += len(step)
	}
	return m
}

// supportOf returns the entries device k's membership rests on: those that
// brought it in, the admission of its organisation, and, transitively, the
// same for their authors.
func supportOf(k DeviceKey, intro map[DeviceKey][]*record, orgFirst map[OrgID]DeviceKey) map[*record]bool {
	out := map[*record]bool{}
	seen := map[DeviceKey]bool{}
	stack := []DeviceKey{k}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] {
			continue
		}
		seen[d] = true
		for _, r := range intro[d] {
			out[r] = true
			stack = append(stack, r.e.Author)
			if b, ok := r.body.(*DeviceAdded); ok {
				if first, ok := orgFirst[b.Org]; ok {
					stack = append(stack, first)
				}
			}
		}
	}
	return out
}

// sourceCycle returns, among the strongly connected components of the
// entries not done yet that no other remaining entry points into, the one
// holding the lowest index (earliest in (clock, ID) order), sorted.
func sourceCycle(n int, out [][]int, done []bool) []int {
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range out[v] {
			if done[w] {
				continue
			}
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for v := range n {
		if !done[v] && index[v] < 0 {
			strong(v)
		}
	}
	entered := make([]bool, ncomp)
	for v := range n {
		if done[v] {
			continue
		}
		for _, w := range out[v] {
			if !done[w] && comp[w] != comp[v] {
				entered[comp[w]] = true
			}
		}
	}
	best := -1
	for v := range n { // v ascending: the first source component found holds the lowest index
		if !done[v] && !entered[comp[v]] {
			best = comp[v]
			break
		}
	}
	var step []int
	for v := range n {
		if !done[v] && comp[v] == best {
			step = append(step, v)
		}
	}
	return step
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// step replays one entry, or one revocation cycle.
func (m *membership) step(s *State, rs []*record, revs []*revocation) {
	m.steps++
	for _, r := range rs {
		m.stepOf[r.id()] = m.steps
	}
	var effective []*revocation
	for k, r := range rs {
		if revs[k] == nil {
			continue
		}
		if revs[k].selfDefeating {
			m.reasons[r.id()] = fmt.Errorf("%w: it would revoke what its own author's membership rests on", ErrNoAuthority)
			continue
		}
		if err := m.judge(s, r); err != nil {
			m.reasons[r.id()] = err
			continue
		}
		m.valid[r.id()] = true
		effective = append(effective, revs[k])
	}
	for _, rv := range effective {
		m.revs[rv.body.Device] = append(m.revs[rv.body.Device], rv)
	}
	for k, r := range rs {
		if revs[k] != nil {
			continue
		}
		if err := m.judge(s, r); err != nil {
			m.reasons[r.id()] = err
			continue
		}
		m.valid[r.id()] = true
		m.apply(s, r)
	}
}

// judge decides whether membership entry r is valid at its place in the
// replay.
func (m *membership) judge(s *State, r *record) error {
	if _, ok := r.body.(*Genesis); ok {
		if r.id() != s.network {
			return ErrWrongNetwork
		}
		return nil
	}
	author := m.devices[r.e.Author]
	if author == nil {
		return ErrNotMember
	}
	for _, rv := range m.revs[r.e.Author] {
		if rv.rec != r && s.within(r, rv) != isWithin {
			return fmt.Errorf("%w (cut-off %d)", ErrRevoked, rv.body.Cutoff)
		}
	}
	own := m.orgs[author.org]
	switch b := r.body.(type) {
	case *Invite:
		switch b.Purpose {
		case InviteOrganisation:
			if !own.steward {
				return fmt.Errorf("%w: only stewards invite organisations", ErrNoAuthority)
			}
		case InviteDevice:
			if author.org != b.Org && !own.steward {
				return fmt.Errorf("%w: only the organisation itself or a steward invites its devices", ErrNoAuthority)
			}
		}
	case *Admission:
		if !own.steward {
			return fmt.Errorf("%w: only stewards admit organisations", ErrNoAuthority)
		}
		if d := m.devices[b.Device]; d != nil && d.org != b.Org() {
			return fmt.Errorf("%w: the device already belongs to an organisation", ErrNoAuthority)
		}
		if err := m.checkInvites(s, r, InviteOrganisation, OrgID{}, b.Org().String()); err != nil {
			return err
		}
	case *DeviceAdded:
		o := m.orgs[b.Org]
		if o == nil || !o.admitted {
			return fmt.Errorf("%w: the organisation is not admitted", ErrNoAuthority)
		}
		if author.org != b.Org && !own.steward {
			return fmt.Errorf("%w: only the organisation itself or a steward adds its devices", ErrNoAuthority)
		}
		if d := m.devices[b.Device]; d != nil && d.org != b.Org {
			return fmt.Errorf("%w: the device already belongs to another organisation", ErrNoAuthority)
		}
		if err := m.checkInvites(s, r, InviteDevice, b.Org, b.Device.String()); err != nil {
			return err
		}
	case *DeviceRevoked:
		target := m.devices[b.Device]
		if target == nil {
			return fmt.Errorf("%w: the revoked device is not a member device", ErrNoAuthority)
		}
		if author.org != target.org && !own.steward {
			return fmt.Errorf("%w: only the device's organisation or a steward revokes it", ErrNoAuthority)
		}
	case *StewardChange:
		if !own.steward {
			return fmt.Errorf("%w: only stewards approve a change of stewards", ErrNoAuthority)
		}
		o := m.orgs[b.Org]
		if o == nil || !o.admitted {
			return fmt.Errorf("%w: the organisation is not a member", ErrNoAuthority)
		}
		if !b.Steward && o.steward && m.stewards() == 1 {
			return fmt.Errorf("%w: it would leave the network without a steward", ErrNoAuthority)
		}
		if b.Steward && !o.steward && !m.hasLiveDevice(o) {
			// A steward that can never approve would count towards
			// needed() for ever: with the quorum at its number, no change
			// could be approved again.
			return fmt.Errorf("%w: every device of the organisation is revoked, so it could never approve anything", ErrNoAuthority)
		}
	case *QuorumChange:
		if !own.steward {
			return fmt.Errorf("%w: only stewards approve a change of quorum", ErrNoAuthority)
		}
		if n := m.stewards(); b.Quorum > uint64(n) {
			return fmt.Errorf("%w: a quorum of %d with only %d stewards", ErrNoAuthority, b.Quorum, n)
		}
	}
	return nil
}

// usesInvites: the kinds whose dependencies may name the invite they use.
func usesInvites(r *record) bool {
	return r.e.Kind == KindAdmission || r.e.Kind == KindDeviceAdded
}

// missingDep returns a dependency of r the state does not hold, if any.
func (s *State) missingDep(r *record) *ID {
	for i := range r.e.Deps {
		if s.get(r.e.Deps[i]) == nil {
			return &r.e.Deps[i]
		}
	}
	return nil
}

// citedInvites are the invites r names among its dependencies.
func (s *State) citedInvites(r *record) []*record {
	var out []*record
	for _, d := range r.e.Deps {
		if x := s.get(d); x != nil && x.e.Kind == KindInvite {
			out = append(out, x)
		}
	}
	return out
}

// checkInvites decides whether r may use the invites it names: each must
// stand, be for this purpose (and, for a device, this organisation), not
// have expired when r was written, and not have been used by another.
func (m *membership) checkInvites(s *State, r *record, purpose InvitePurpose, org OrgID, user string) error {
	for _, inv := range s.citedInvites(r) {
		b := inv.body.(*Invite)
		switch {
		case !m.valid[inv.id()]:
			return fmt.Errorf("%w: it has no standing", ErrInvite)
		case b.Purpose != purpose:
			return fmt.Errorf("%w: it is for another purpose", ErrInvite)
		case purpose == InviteDevice && b.Org != org:
			return fmt.Errorf("%w: it is for another organisation's device", ErrInvite)
		case r.e.Clock.Millis() > b.Expires:
			return fmt.Errorf("%w: it expired before it was used", ErrInvite)
		}
		if u, used := m.inviteUse[inv.id()]; used && u != user {
			return fmt.Errorf("%w: it was used already", ErrInvite)
		}
	}
	return nil
}

// apply records the effect of a valid, non-revocation membership entry.
func (m *membership) apply(s *State, r *record) {
	switch b := r.body.(type) {
	case *Genesis:
		m.quorum = int(b.Quorum)
		id := OrgIDFor(r.e.Author)
		m.orgs[id] = &orgState{id: id, name: b.OrgName, first: r.e.Author, steward: true, admitted: true, admissionTerm: r.id()}
		m.addDevice(r.e.Author, id, "", r.id())
	case *Admission:
		id := b.Org()
		o := m.orgs[id]
		if o == nil {
			o = &orgState{id: id, name: b.Name, first: b.Device, admissionTerm: r.id()}
			m.orgs[id] = o
		}
		approver := m.devices[r.e.Author].org
		if !slices.Contains(o.approvals, approver) {
			o.approvals = append(o.approvals, approver)
		}
		if b.Steward && !slices.Contains(o.stewardVotes, approver) {
			o.stewardVotes = append(o.stewardVotes, approver)
		}
		m.settleAdmission(o, r.id())
	case *StewardChange:
		o := m.orgs[b.Org]
		approver := m.devices[r.e.Author].org
		if o.steward != b.Steward && !slices.Contains(m.changeVotes[o.id], approver) {
			m.changeVotes[o.id] = append(m.changeVotes[o.id], approver)
		}
		m.settle(r.id())
	case *QuorumChange:
		approver := m.devices[r.e.Author].org
		if q := b.Quorum; q != uint64(m.quorum) && !slices.Contains(m.quorumVotes[q], approver) {
			m.quorumVotes[q] = append(m.quorumVotes[q], approver)
		}
		m.settle(r.id())
	case *DeviceAdded:
		if m.devices[b.Device] == nil {
			m.addDevice(b.Device, b.Org, b.Label, r.id())
		}
	}
	if usesInvites(r) {
		user := ""
		switch b := r.body.(type) {
		case *Admission:
			user = b.Org().String()
		case *DeviceAdded:
			user = b.Device.String()
		}
		for _, inv := range s.citedInvites(r) {
			if _, used := m.inviteUse[inv.id()]; !used {
				m.inviteUse[inv.id()] = user
			}
		}
	}
}

// needed is how many steward organisations must approve an admission, a
// steward change or a quorum change: the quorum in force (set at genesis,
// or by a quorum change since), or every steward while there are fewer (a
// new network with a quorum of three starts with one steward).
func (m *membership) needed() int {
	return min(m.quorum, m.stewards())
}

// stewards is how many steward organisations there are.
// hasLiveDevice reports whether a device of o is not revoked (so far in
// the replay).
func (m *membership) hasLiveDevice(o *orgState) bool {
	for _, d := range o.devices {
		if len(m.revs[d]) == 0 {
			return true
		}
	}
	return false
}

func (m *membership) stewards() int {
	n := 0
	for _, o := range m.orgs {
		if o.admitted && o.steward {
			n++
		}
	}
	return n
}

// approving counts the organisations in votes that are stewards now: an
// organisation that stopped being one no longer counts.
func (m *membership) approving(votes []OrgID) int {
	n := 0
	for _, id := range votes {
		if o := m.orgs[id]; o != nil && o.admitted && o.steward {
			n++
		}
	}
	return n
}

// settleAdmission admits o, and makes it a steward, once enough stewards
// approved; by is the entry being applied.
func (m *membership) settleAdmission(o *orgState, by ID) {
	need := m.needed()
	if !o.admitted && m.approving(o.approvals) >= need {
		o.admitted = true
		m.addDevice(o.first, o.id, "", by)
	}
	if o.admitted && !o.steward && m.approving(o.stewardVotes) >= need {
		o.steward = true
		delete(m.changeVotes, o.id)
	}
}

// settle makes every pending change that enough stewards approved take
// effect, by is the entry being applied. One change can let another
// through (a steward removed lowers what is needed while there are fewer
// stewards than the quorum), so it goes round until nothing changes, in a
// fixed order: steward changes by organisation ID, then quorums, lowest
// first, then admissions by organisation ID (an organisation admitted
// already whose approvals as a steward fall short waits for its next
// admission entry, as before these kinds). Each round changes a
// standing or the quorum and clears what was approved for it, so the
// rounds are bounded by the votes held.
func (m *membership) settle(by ID) {
	for range 1 + len(m.orgs) + len(m.changeVotes) + len(m.quorumVotes) {
		if !m.settleOnce(by) {
			return
		}
	}
}

func (m *membership) settleOnce(by ID) bool {
	need := m.needed()
	orgs := make([]OrgID, 0, len(m.changeVotes))
	for id := range m.changeVotes {
		orgs = append(orgs, id)
	}
	slices.SortFunc(orgs, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range orgs {
		o := m.orgs[id]
		if m.approving(m.changeVotes[id]) < need {
			continue
		}
		if o.steward && m.stewards() == 1 {
			continue // never the last steward
		}
		o.steward = !o.steward
		o.stewardVotes = nil
		delete(m.changeVotes, id)
		if !o.steward {
			m.forget(id)
		}
		return true
	}
	qs := make([]uint64, 0, len(m.quorumVotes))
	for q := range m.quorumVotes {
		qs = append(qs, q)
	}
	slices.Sort(qs)
	for _, q := range qs {
		if m.approving(m.quorumVotes[q]) >= need && q <= uint64(m.stewards()) {
			m.quorum = int(q)
			m.quorumVotes = map[uint64][]OrgID{} // the other proposals were for another quorum
			return true
		}
	}
	ids := make([]OrgID, 0, len(m.orgs))
	for id, o := range m.orgs {
		if !o.admitted {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		o := m.orgs[id]
		m.settleAdmission(o, by)
		if o.admitted {
			return true
		}
	}
	return false
}

// forget drops every pending approval of an organisation that stopped
// being a steward: should it become one again, what it approved before
// does not come back.
func (m *membership) forget(id OrgID) {
	drop := func(votes []OrgID) []OrgID {
		return slices.DeleteFunc(votes, func(v OrgID) bool { return v == id })
	}
	for k, v := range m.changeVotes {
		if m.changeVotes[k] = drop(v); len(m.changeVotes[k]) == 0 {
			delete(m.changeVotes, k)
		}
	}
	for k, v := range m.quorumVotes {
		if m.quorumVotes[k] = drop(v); len(m.quorumVotes[k]) == 0 {
			delete(m.quorumVotes, k)
		}
	}
	for _, o := range m.orgs {
		if !o.admitted {
			o.approvals = drop(o.approvals)
		}
		if !o.steward {
			o.stewardVotes = drop(o.stewardVotes)
		}
	}
}

func (m *membership) addDevice(key DeviceKey, org OrgID, label string, by ID) {
	if m.devices[key] != nil {
		return
	}
	m.devices[key] = &deviceState{key: key, org: org, label: label, addedBy: by}
	o := m.orgs[org]
	o.devices = append(o.devices, key)
}

// verdict is where a membership entry stands after the replay.
func (m *membership) verdict(r *record) (Status, error) {
	switch {
	case m.valid[r.id()]:
		return StatusAccepted, nil
	case m.waiting[r.id()]:
		if err := m.reasons[r.id()]; err != nil {
			return StatusWaiting, err
		}
		return StatusWaiting, ErrMissing
	case m.devices[r.e.Author] == nil:
		return StatusWaiting, fmt.Errorf("%w: waiting for its device to be admitted", ErrNotMember)
	}
	return StatusHeld, m.reasons[r.id()]
}

// standing is where a non-membership entry stands.
func (m *membership) standing(s *State, r *record) (Status, error) {
	if m.devices[r.e.Author] == nil {
		return StatusWaiting, fmt.Errorf("%w: waiting for its device to be admitted", ErrNotMember)
	}
	for _, rv := range m.revs[r.e.Author] {
		switch s.within(r, rv) {
		case isBeyond:
			return StatusHeld, fmt.Errorf("%w (cut-off %d)", ErrRevoked, rv.body.Cutoff)
		case isUndecided:
			return StatusWaiting, fmt.Errorf("%w: the revoked device's chain below entry %d", ErrMissing, rv.floor)
		}
	}
	if s.uncommitted(r) {
		return StatusHeld, ErrUncommitted
	}
	return StatusAccepted, nil
}

// changedDevices lists devices whose standing differs between two
// memberships.
func (m *membership) changedDevices(old *membership) map[DeviceKey]bool {
	fp := func(mm *membership, k DeviceKey) string {
		d := mm.devices[k]
		if d == nil {
			return "-"
		}
		s := d.org.String()
		for _, rv := range mm.revs[k] {
			s += rv.rec.id().String()
		}
		return s
	}
	changed := map[DeviceKey]bool{}
	for k := range m.devices {
		if fp(m, k) != fp(old, k) {
			changed[k] = true
		}
	}
	for k := range old.devices {
		if fp(m, k) != fp(old, k) {
			changed[k] = true
		}
	}
	return changed
}
