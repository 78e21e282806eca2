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

// eachOpenAlert walks the open alerts newest first, a page at a time. For
// each alert in turn (i counts from 0), build says whether its view is
// needed: a view reads the alert's closes and answers, and an alert
// without one costs a row. Then fn is called with each alert's place in
// the list and its view (nil if not built), until fn returns false. It
// reads no other request, and stops reading where fn stops. An alert
// whose body is withheld is not one of them.
func (n *Node) eachOpenAlert(build func(i int, id crdt.ID) bool, fn func(i int, at crdt.Cursor, rv *crdt.RequestView) bool) {
	const pageSize = 64
	var after *crdt.Cursor
	i := 0
	for {
		var read []crdt.Cursor
		var built []bool
		page, next := n.state.RequestPageOf(crdt.Alert, true, after, pageSize, func(id crdt.ID, clock crdt.Clock, _ crdt.OrgID, req *crdt.Request) bool {
			if req == nil {
				return false
			}
			b := build(i+len(read), id)
			read, built = append(read, crdt.Cursor{Clock: clock, ID: id}), append(built, b)
			return b
		})
		k := 0
		for j, at := range read {
			var rv *crdt.RequestView
			if built[j] {
				rv = &page[k]
				k++
			}
			if !fn(i, at, rv) {
				return
			}
			i++
		}
		if next == nil {
			return
		}
		after = next
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
	n.eachOpenAlert(func(i int, _ crdt.ID) bool { return i < statusAlerts }, func(_ int, at crdt.Cursor, rv *crdt.RequestView) bool {
		if int64(at.Clock.Millis()) < since || rv == nil {
			return false
		}
		a.shown = append(a.shown, n.summary(*rv, names))
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
