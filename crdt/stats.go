package crdt

// The inputs of the response statistics (`murmur stats`), kept per request
// so that the statistics are totals the store keeps, not a walk of every
// request and its answers. The rule (countsAsAnswer): a request is
// answered when another member organisation first responds to
// it with a response that fits its kind (a comment included); its first
// answer is the earliest such response (by clock, then ID).
//
// A Step says, in its Ready, the inputs of every request whose inputs it
// may have changed: the request stored, accepted or no longer, rewritten
// (a redaction) or closed; or a response to it stored, accepted or no
// longer, or rewritten. A new answer is compared with the first answer
// stored (Facts.Stat): one question, however many answers the request
// has. Only when the stored first answer itself stops counting (held
// after a revocation, or rewritten by a redaction so that it no longer
// reads as a fitting response) are the request's answers walked again.

// RequestStat is what the statistics need of one accepted request whose
// body this node reads.
type RequestStat struct {
	ID        ID
	Kind      RequestType
	Region    string
	Created   Clock
	RespondBy uint64 // Unix milliseconds; 0: no deadline
	Open      bool   // not closed
	// Answered says whether another member organisation answered it;
	// First is then the first answer's clock, and FirstID its ID.
	Answered bool
	First    Clock
	FirstID  ID
}

// RequestStat computes the statistics' inputs of request id from what the
// state holds (reading every answer to it); ok is false unless it is an
// accepted request whose body the node reads. A node fills in the inputs
// of requests stored before they were kept with it.
func (s *State) RequestStat(id ID) (RequestStat, bool) {
	r := s.get(id)
	if r == nil {
		return RequestStat{}, false
	}
	return s.requestStat(r, stepCloses{}, true, nil)
}

// requestStat is r's inputs, its answers walked (if walk); more are
// answers to consider besides those the facts list (a Step's).
// closes must have been asked about r (storedCloses), or hold no
// referenced set.
func (s *State) requestStat(r *record, closes stepCloses, walk bool, more []*record) (RequestStat, bool) {
	req, ok := r.body.(*Request)
	if r.status != StatusAccepted || !ok || keysOf(r.e, r.body).View != ViewRequest {
		return RequestStat{}, false
	}
	st := RequestStat{
		ID: r.id(), Kind: req.Type, Region: req.Region, Created: r.e.Clock,
		RespondBy: req.RespondBy, Open: s.keys(r, closes).Ref != ClosedRef,
	}
	var first *record
	consider := func(x *record) {
		if s.countsAsAnswer(r, req, x) && (first == nil || x.less(first)) {
			first = x
		}
	}
	if walk {
		s.fail(s.facts.Refs(ViewResponse, r.id(), func(e *Entry) error {
			x := s.recs[e.id]
			if x == nil {
				x = s.load(e, StatusAccepted) // (as the walk read it)
			}
			consider(x)
			return nil
		}))
	}
	for _, x := range more {
		consider(x)
	}
	if first != nil {
		st.Answered, st.First, st.FirstID = true, first.e.Clock, first.id()
	}
	return st, true
}

// countsAsAnswer reports whether x is an answer to request r (of body req) that
// the statistics count: an accepted response to it, of a type that fits
// it, from another member organisation.
func (s *State) countsAsAnswer(r *record, req *Request, x *record) bool {
	b, ok := x.body.(*Response)
	if x.status != StatusAccepted || !ok || b.Request != r.id() || !b.Type.Fits(req.Type) {
		return false
	}
	o := s.orgOf(x)
	return o != s.orgOf(r) && s.m.orgs[o] != nil
}

// stepStats adds to ready the inputs of the requests this Step may have
// changed (see above): Stats for those that count, StatsGone for those
// stored before that no longer do.
func (s *State) stepStats(ready *Ready, closes stepCloses) {
	requests := map[ID]bool{}     // requests whose own standing changed
	answers := map[ID][]*record{} // responses this Step changed, by the request they may answer
	note := func(r *record) {
		switch keysOf(r.e, r.body).View {
		case ViewRequest:
			requests[r.id()] = true
			return
		case ViewResponse:
		default:
			if r.e.Kind != KindResponse && r.e.Kind != KindSealed {
				return
			}
		}
		if b, ok := r.body.(*Response); ok {
			answers[b.Request] = append(answers[b.Request], r)
			return
		}
		for _, d := range r.e.Deps { // (a response whose body is gone)
			answers[d] = append(answers[d], r)
		}
	}
	for r := range s.before {
		note(r)
	}
	for r := range s.rewritten {
		note(r)
	}
	for id := range closes.targets {
		requests[id] = true
	}
	for id := range answers {
		requests[id] = true
	}
	// Which of the requests this Step changed have any answer stored, in
	// one question (usually none: an answer comes after its request).
	var answered map[ID]bool
	var changedReqs []ID
	for id := range requests {
		if r := s.get(id); r != nil {
			if _, ok := s.before[r]; ok || s.rewritten[r] {
				changedReqs = append(changedReqs, id)
			}
		}
	}
	if len(changedReqs) > 1 {
		answered = map[ID]bool{}
		s.fail(s.facts.Referenced(ViewResponse, changedReqs, func(id ID) { answered[id] = true }))
	}
	for id := range requests {
		r := s.get(id)
		var st RequestStat
		ok := r != nil
		if ok {
			st, ok = s.stepStat(r, closes, answered, answers[id])
		}
		if ok && r != nil && s.fresh[r] {
			ready.StatsNew = append(ready.StatsNew, st)
			continue
		}
		// Said only if it changed what is stored (a Step that changes
		// nothing, such as a restore's, says nothing).
		was, had, err := s.facts.Stat(id)
		switch {
		case err != nil:
			s.fail(err)
		case ok && (!had || was != st):
			ready.Stats = append(ready.Stats, st)
		case !ok && had:
			ready.StatsGone = append(ready.StatsGone, id)
		}
	}
}

// stepStat is r's inputs after this Step, changed is the responses to it
// the Step changed: from the inputs stored if they still hold (a new
// answer is compared with the first), else from a walk of its answers
// (unless answered, if not nil, says it has none stored).
func (s *State) stepStat(r *record, closes stepCloses, answered map[ID]bool, changed []*record) (RequestStat, bool) {
	req, ok := r.body.(*Request)
	if r.status != StatusAccepted || !ok || keysOf(r.e, r.body).View != ViewRequest {
		return RequestStat{}, false
	}
	// (The walk takes the changed answers as well: the facts do not have
	// those stored in this Step, nor list those accepted in it.)
	// (The Step asked the facts about the closes of the requests it
	// changed, not of the others: theirs are read whole, unasked.)
	if from, before := s.before[r]; before && (s.fresh[r] || from != r.status) || s.rewritten[r] {
		// The request itself changed: accepted only now (it has no
		// answer stored), or again, or rewritten.
		return s.requestStat(r, closes, answered == nil || answered[r.id()], changed)
	}
	unasked := stepCloses{targets: closes.targets}
	st, had, err := s.facts.Stat(r.id())
	if err != nil {
		s.fail(err)
		return RequestStat{}, false
	}
	if !had {
		return s.requestStat(r, unasked, true, changed)
	}
	for _, x := range changed {
		if st.Answered && x.id() == st.FirstID && !s.countsAsAnswer(r, req, x) {
			return s.requestStat(r, unasked, true, changed) // the first answer no longer counts
		}
	}

	if _, ok := closes.targets[r.id()]; ok {
		st.Open = s.keys(r, unasked).Ref != ClosedRef
	}
	for _, x := range changed {
		if s.countsAsAnswer(r, req, x) && (!st.Answered || x.e.Clock < st.First || x.e.Clock == st.First && x.id().Less(st.FirstID)) {
			st.Answered, st.First, st.FirstID = true, x.e.Clock, x.id()
		}
	}
	return st, true
}
