package crdt

import "slices"

// RevocationView is one revocation of a device that stands.
type RevocationView struct {
	ID     ID
	By     DeviceKey // its author
	ByOrg  OrgID     // the author's organisation
	Clock  Clock     // when its author wrote it, by the author's clock
	Cutoff uint64
}

// Revocations lists the revocations of device k that stand, earliest
// first (by clock, then ID).
func (s *State) Revocations(k DeviceKey) []RevocationView {
	var out []RevocationView
	for _, rv := range s.m.revs[k] {
		v := RevocationView{ID: rv.rec.id(), By: rv.rec.e.Author, Clock: rv.rec.e.Clock, Cutoff: rv.body.Cutoff}
		if d := s.m.devices[v.By]; d != nil {
			v.ByOrg = d.org
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b RevocationView) int {
		if a.Clock != b.Clock {
			if a.Clock < b.Clock {
				return -1
			}
			return 1
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out
}
