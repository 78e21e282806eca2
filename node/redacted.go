package node

import (
	"fmt"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// RedactionInfo says who took back an entry's words, when and why. A
// redacted entry keeps its envelope and its place in every count; its
// title, text and sealed details are gone on every node.
type RedactionInfo struct {
	ID      string `json:"id"` // the redaction entry
	Org     string `json:"org"`
	OrgName string `json:"org_name"`
	At      string `json:"at"` // RFC 3339
	Reason  string `json:"reason"`

	at time.Time
}

func redactionInfo(v *crdt.RedactionView, names map[crdt.OrgID]string) *RedactionInfo {
	if v == nil {
		return nil
	}
	at := millisTime(v.Clock.Millis())
	return &RedactionInfo{ID: v.ID.String(), Org: v.Org.String(), OrgName: nameOr(names, v.Org), At: formatMillis(v.Clock.Millis()), Reason: v.Reason, at: at}
}

// String is the line shown in place of a redacted entry's words:
// "redacted by ORG on DATE: REASON", the date in local time.
func (r *RedactionInfo) String() string {
	at := r.at
	if at.IsZero() {
		at, _ = time.Parse(time.RFC3339, r.At) // decoded from JSON
	}
	s := fmt.Sprintf("redacted by %s on %s", r.OrgName, at.Local().Format("Mon 2 Jan 2006 15:04"))
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}
