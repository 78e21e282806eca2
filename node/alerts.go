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
	err = n.atomically(ctx, func() (err error) {
		e, already, err = n.ackAlert(ctx, ref)
		return err
	})
	return e, already, err
}

// ackAlert is AckAlert inside its transaction. The caller holds n.mu.
func (n *Node) ackAlert(ctx context.Context, ref string) (e *crdt.Entry, already bool, err error) {
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

// statusAlerts is how many open alerts status shows.
const statusAlerts = 10

// eachOpenAlert walks the open alerts newest first, a page at a time, and
// calls fn with each until fn returns false; it reads no other request,
// and stops reading where fn stops.
func (n *Node) eachOpenAlert(fn func(rv crdt.RequestView) bool) {
	var after *crdt.Cursor
	for {
		page := n.state.RequestPage(crdt.Alert, true, after, 64)
		for _, rv := range page {
			if !fn(rv) {
				return
			}
		}
		if len(page) < 64 {
			return
		}
		last := page[len(page)-1]
		after = &crdt.Cursor{Clock: last.Clock, ID: last.ID}
	}
}

// alertsInfo is what status says of the open alerts: up to statusAlerts
// of the last AlertWindow, newest first, then those this organisation has
// not acknowledged first; how many more of the last AlertWindow there
// are; how many are older.
type alertsInfo struct {
	shown       []RequestSummary
	more, older int
}

// recentAlerts reads only the alerts it shows; the others are counted in
// the store's index of open requests.
func (n *Node) recentAlerts(names map[crdt.OrgID]string) alertsInfo {
	since := n.now().Add(-AlertWindow).UnixMilli()
	a := alertsInfo{shown: []RequestSummary{}}
	n.eachOpenAlert(func(rv crdt.RequestView) bool {
		if int64(rv.Clock.Millis()) < since || len(a.shown) == statusAlerts {
			return false
		}
		if urgent(rv) {
			a.shown = append(a.shown, n.summary(rv, names))
		}
		return true
	})
	all := n.state.RequestCount(crdt.Alert, true, nil)
	if since > 0 {
		a.older = n.state.RequestCount(crdt.Alert, true, &crdt.Cursor{Clock: crdt.ClockAt(uint64(since))})
	}
	a.more = max(all-a.older-len(a.shown), 0)
	slices.SortStableFunc(a.shown, func(a, b RequestSummary) int {
		switch {
		case a.Acknowledged == b.Acknowledged:
			return 0
		case !a.Acknowledged:
			return -1
		}
		return 1
	})
	return a
}
