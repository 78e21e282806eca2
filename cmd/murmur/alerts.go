package main

import (
	"fmt"
	"io"
	"time"

	"github.com/murmurnet/murmur/node"
)

// ackOut is `alert ack --json`: the acknowledgement written (empty when
// the organisation had already acknowledged the alert).
type ackOut struct {
	ID      string `json:"id"`
	Alert   string `json:"alert"`
	Already bool   `json:"already"`
}

func cmdAlertAck(e *env, args []string) error {
	c := newFlags(e, "alert ack", "ID\n\n"+
		"Acknowledges an open alert for your organisation: every device of your\n"+
		"organisation then lists it in `murmur status` after the alerts no one there\n"+
		"has acknowledged. Other members see the acknowledgement too. It cannot be\n"+
		"taken back; the alert stays open until its author closes it.",
		"murmur alert ack 9c41d2aa")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, already, err := n.AckAlert(e.ctx, pos[0])
	if err != nil {
		return err
	}
	d, err := n.Request(pos[0])
	if err != nil {
		return err
	}
	out := ackOut{Alert: d.ID, Already: already}
	if ent != nil {
		out.ID = ent.ID().String()
	}
	return c.output(e, out, func(w io.Writer) {
		if already {
			fmt.Fprintf(w, "Your organisation had already acknowledged the alert %s (%s).\n", d.ID[:12], d.Title)
			return
		}
		fmt.Fprintf(w, "Acknowledged for your organisation: %s (%s). It now comes after the alerts not yet acknowledged.\n", d.ID[:12], d.Title)
	})
}

// printAlerts puts the open alerts of the last week before anything else a
// person reads, those not yet acknowledged first.
func printAlerts(w io.Writer, st node.StatusInfo, now time.Time) {
	alerts, older := st.Alerts, st.OlderAlerts
	for _, a := range alerts {
		region := a.Region
		if region == "" {
			region = "all regions"
		}
		mark := "!! ALERT"
		if a.Acknowledged {
			mark = "   alert (acknowledged)"
		}
		fmt.Fprintf(w, "%s %s (%s, from %s, %s): %s\n", mark, a.ID[:12], region, a.OrgName, wroteText(a.Created, now), shownTitle(a))
	}
	if st.MoreAlerts > 0 {
		fmt.Fprintf(w, "%s of the last week: murmur request list --kind alert --open\n", plural(st.MoreAlerts, "more open alert"))
	}
	if older > 0 {
		fmt.Fprintf(w, "%s older than a week: murmur request list --kind alert --open\n", plural(older, "open alert"))
	}
	if len(alerts) > 0 && !allAcknowledged(alerts) {
		fmt.Fprintf(w, "Acknowledge one for your organisation with: murmur alert ack ID\n")
	}
	if len(alerts) > 0 || older > 0 {
		fmt.Fprintln(w)
	}
}

func allAcknowledged(alerts []node.RequestSummary) bool {
	for _, a := range alerts {
		if !a.Acknowledged {
			return false
		}
	}
	return true
}
