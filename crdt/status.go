package crdt

// Status is where an entry stands in a State.
type Status uint8

const (
	// StatusNone: the State does not hold the entry (never seen, refused, or
	// dropped from the waiting pool).
	StatusNone Status = iota
	// StatusAccepted: part of the log; counted in the state, sent to peers.
	StatusAccepted
	// StatusWaiting: something it depends on is missing (the author's
	// previous entry, or the admission of its author's device). Kept,
	// bounded, and applied when that arrives.
	StatusWaiting
	// StatusHeld: signed by a known device but without standing: past its
	// device's revocation cut-off, or a membership change its author had no
	// authority for. Never sent to peers or counted in the state; kept,
	// bounded, only because a later revocation ruling can change the
	// answer, and the answer must not depend on arrival order.
	StatusHeld
)

func (s Status) String() string {
	switch s {
	case StatusAccepted:
		return "accepted"
	case StatusWaiting:
		return "waiting"
	case StatusHeld:
		return "held"
	}
	return "none"
}

// Change reports that an entry moved from one status to another. To ==
// StatusNone means the State no longer holds it: the store should delete it.
type Change struct {
	ID       ID
	From, To Status
}
