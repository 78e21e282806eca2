package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// AlertWindow is how far back `status` looks for open alerts: older ones
// are still listed by `request list --kind alert`.
const AlertWindow = 7 * 24 * time.Hour

// AckAlert acknowledges an open alert for this organisation (crdt.AlertAck):
// every device of the organisation then lists it after the alerts no one
// there has acknowledged. already: the organisation had acknowledged it,
// and nothing was written.
func (n *Node) AckAlert(ctx context.Context, ref string) (e *crdt.Entry, already bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rv, err := n.resolveRequest(ref)
	if err != nil {
		return nil, false, err
	}
	if rv.Request == nil || rv.Request.Type != crdt.Alert {
		kind := "request whose kind is not held here"
		if rv.Request != nil {
			kind = rv.Request.Type.String()
		}
		return nil, false, inputErr("%s is %s, not an alert: only alerts are acknowledged", short(rv.ID.String()), aOrAn(kind))
	}
	if slices.Contains(rv.AckedBy, n.org) {
		return nil, true, nil
	}
	if _, ok := n.myOrg(); !ok {
		return nil, false, fmt.Errorf("this organisation is not admitted yet")
	}
	e, err = n.append(ctx, &crdt.AlertAck{Request: rv.ID}, rv.ID)
	return e, false, err
}

// recentAlerts are the open alerts of the last AlertWindow: those this
// organisation has not acknowledged first, then newest first; and how many
// open alerts are older.
// alerts lists every alert, oldest first, reading no other request.
func (n *Node) alerts() []crdt.RequestView {
	rs := n.state.RequestPage(crdt.Alert, nil, n.state.RequestCount(crdt.Alert, nil))
	slices.Reverse(rs)
	return rs
}

func (n *Node) recentAlerts(reqs []crdt.RequestView, names map[crdt.OrgID]string) (recent []RequestSummary, older int) {
	since := n.now().Add(-AlertWindow).UnixMilli()
	recent = []RequestSummary{}
	for i := len(reqs) - 1; i >= 0; i-- { // newest first
		if !urgent(reqs[i]) {
			continue
		}
		if int64(reqs[i].Clock.Millis()) < since {
			older++
			continue
		}
		recent = append(recent, n.summary(reqs[i], names))
	}
	slices.SortStableFunc(recent, func(a, b RequestSummary) int {
		switch {
		case a.Acknowledged == b.Acknowledged:
			return 0
		case !a.Acknowledged:
			return -1
		}
		return 1
	})
	return recent, older
}
