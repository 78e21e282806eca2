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

// statusAlerts is how many open alerts status shows; alertsLooked bounds
// how many alerts it reads to find them and count the others: alerts are
// few, but a network that never closes them must not make every status
// read them all.
const (
	statusAlerts = 10
	alertsLooked = 200
)

// eachAlert walks the alerts newest first, a page at a time, and calls
// fn with each until fn returns false; it reads no other request, and
// stops reading where fn stops.
func (n *Node) eachAlert(fn func(rv crdt.RequestView) bool) {
	var after *crdt.Cursor
	for {
		page := n.state.RequestPage(crdt.Alert, after, 64)
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
// of the last AlertWindow, those this organisation has not acknowledged
// first, then newest first; how many more of the last AlertWindow there
// are; how many are older. Both counts are of the alertsLooked newest
// alerts; lowerBound says there are more, not looked at.
type alertsInfo struct {
	shown       []RequestSummary
	more, older int
	lowerBound  bool
}

func (n *Node) recentAlerts(names map[crdt.OrgID]string) alertsInfo {
	since := n.now().Add(-AlertWindow).UnixMilli()
	a := alertsInfo{shown: []RequestSummary{}}
	looked := 0
	n.eachAlert(func(rv crdt.RequestView) bool {
		if looked == alertsLooked {
			a.lowerBound = true
			return false
		}
		looked++
		switch {
		case !urgent(rv):
		case int64(rv.Clock.Millis()) < since:
			a.older++
		case len(a.shown) < statusAlerts:
			a.shown = append(a.shown, n.summary(rv, names))
		default:
			a.more++
		}
		return true
	})
	recent := a.shown
	slices.SortStableFunc(recent, func(a, b RequestSummary) int {
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
