package crdt

import (
	"bytes"
	"slices"
)

// AlertAck (kind 18) says that the author's organisation has seen an alert
// and is dealing with it: `murmur status` then lists the alert after those
// no one there has acknowledged yet. It is an entry, not a note kept on one
// device, so that every device of the organisation (and, openly, every
// member) sees the same: a caseworker who acknowledges on the office laptop
// does not leave the alert shouting on a colleague's phone.
//
// It names the alert and depends on it:
//
//	1 request  [32]byte
//
// An acknowledgement cannot be taken back; acknowledging twice changes
// nothing. It counts for the organisation of its author's device, whatever
// the kind of request it names (the node writes one only for an alert).
type AlertAck struct {
	Request ID
}

// ackedBy returns the organisations that acknowledged request id, ascending.
func (s *State) ackedBy(id ID) []OrgID {
	// Each organisation's acknowledgements are counted apart (their tag):
	// many by one cost the others nothing.
	var out []OrgID
	for o := range s.m.orgs {
		if slices.ContainsFunc(s.taggedUpTo(ViewAck, OrgTag(o), id, 1), func(r *record) bool { return s.orgOf(r) == o }) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b OrgID) int { return bytes.Compare(a[:], b[:]) })
	return out
}
