package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node/ident"
)

// ErrIrreversible matches a revocation that would cut off what cannot be
// given back: an organisation's last device, or the network's last way to
// admit anyone. It is refused unless forced (`--force`); it also matches
// ErrInput, since the command line must change to go on.
var ErrIrreversible = errors.New("irreversible without --force")

// revocationRisk says why revoking device target cannot be undone for this
// organisation or for the network, decided from the membership alone; nil
// if it can be (another device of this organisation can add a new one, and
// enough stewards keep a device to admit organisations). mine is this node's
// organisation; quorum is how many steward organisations an admission
// needs.
//
// A revoked device never comes back, and only a device of an organisation
// can add another device to it: an organisation's last device gone, the
// organisation can never write again. Only stewards admit organisations
// and revoke on the network's behalf: once fewer steward organisations
// than the quorum keep a device, nobody can ever be admitted again.
func revocationRisk(orgs []crdt.OrgView, quorum int, mine crdt.OrgID, target crdt.DeviceKey) error {
	why := irreversible(orgs, quorum, mine, target)
	if why == "" {
		return nil
	}
	return inputError{msg: "not revoked: " + why + " (add --force if that is what you want)", err: ErrIrreversible}
}

// RevocationCost is what revoking a device takes away for good, as facts
// an interface words in its own language.
type RevocationCost struct {
	// LastDevice: the device is its organisation's last one not revoked,
	// so that organisation can never write, answer, invite or add a device
	// again. (A steward revoking another organisation's seized last device
	// is what stewards are for: it is not refused, but said.)
	LastDevice bool `json:"last_device,omitempty"`
	// Own: that organisation is this node's.
	Own bool `json:"own,omitempty"`
	// StewardsLeft of StewardsNeeded would keep a device, where that
	// breaks the network's power to admit (Admissions is then true).
	Admissions     bool `json:"admissions_lost,omitempty"`
	StewardsLeft   int  `json:"stewards_left,omitempty"`
	StewardsNeeded int  `json:"stewards_needed,omitempty"`
}

// revocationCost is what revoking target takes away for good.
func revocationCost(orgs []crdt.OrgView, quorum int, mine crdt.OrgID, target crdt.DeviceKey) (RevocationCost, string) {
	live := func(o crdt.OrgView, except crdt.DeviceKey) int {
		n := 0
		for _, d := range o.Devices {
			if !d.Revoked && d.Key != except {
				n++
			}
		}
		return n
	}
	var c RevocationCost
	var org *crdt.OrgView
	for i := range orgs {
		for _, d := range orgs[i].Devices {
			if d.Key == target {
				if d.Revoked {
					return c, "" // a revoked device is cut off already; a lower cut-off changes no one's standing
				}
				org = &orgs[i]
			}
		}
	}
	if org == nil || !org.Admitted || live(*org, target) > 0 {
		return c, ""
	}
	c.LastDevice, c.Own = true, org.ID == mine
	if org.Steward {
		stewards, before, after := 0, 0, 0
		for _, o := range orgs {
			if !o.Admitted || !o.Steward {
				continue
			}
			stewards++
			if live(o, crdt.DeviceKey{}) > 0 {
				before++
			}
			if live(o, target) > 0 {
				after++
			}
		}
		// As crdt counts it: the quorum, or every steward organisation
		// (with a device or not) while there are fewer.
		need := max(min(quorum, stewards), 1)
		if after == 0 || after < need && before >= need {
			c.Admissions, c.StewardsLeft, c.StewardsNeeded = true, after, need
		}
	}
	return c, org.Name
}

// irreversible is revocationRisk's reason in words; "" if there is none.
// Another organisation's last device is revoked by a steward when it is
// seized: that is what stewards are for, and not refused here.
func irreversible(orgs []crdt.OrgView, quorum int, mine crdt.OrgID, target crdt.DeviceKey) string {
	c, name := revocationCost(orgs, quorum, mine, target)
	var why []string
	if c.Own {
		why = append(why, "it is your organisation's last device that is not revoked: after it, "+name+" can never write, invite or add a device again")
	}
	switch {
	case c.Admissions && c.StewardsLeft == 0:
		why = append(why, "no steward organisation would keep a device, so nobody could ever admit an organisation or revoke a device for the network again")
	case c.Admissions:
		why = append(why, fmt.Sprintf("only %d steward organisations would keep a device, and admitting an organisation needs %d: nobody could be admitted again", c.StewardsLeft, c.StewardsNeeded))
	}
	return strings.Join(why, "; and ")
}

// RevocationPlan is what revoking a device would cut off: what a person
// confirms before the revocation is written.
type RevocationPlan struct {
	Device     string `json:"device"`
	Label      string `json:"label,omitempty"`
	Org        string `json:"org"`
	OrgName    string `json:"org_name"`
	ThisDevice bool   `json:"this_device"`
	Entries    int    `json:"entries"`
	// LastSeen: the last contact of this node with the device's node, or
	// the time of its last entry, whichever is later; nil if neither.
	LastSeen *time.Time `json:"last_seen"`
	// Irreversible says why the revocation needs --force; empty if it
	// does not.
	Irreversible string `json:"irreversible,omitempty"`
	// Risk is Irreversible as the error RevokeDevice returns.
	Risk error `json:"-"`
	// Added are the devices of its organisation, not revoked, that this
	// device added (device invite): they keep their standing unless they
	// are revoked too, and whoever holds this device may hold them.
	Added []AddedDevice `json:"added"`
	// Cost is what the revocation takes away for good.
	Cost RevocationCost `json:"cost"`
}

// AddedDevice is a device another device added to their organisation.
type AddedDevice struct {
	Device string `json:"device"`
	Label  string `json:"label,omitempty"`
}

// PlanRevocation describes what revoking the device ref (ID or prefix)
// would cut off, and whether it would be irreversible. It writes nothing.
func (n *Node) PlanRevocation(ctx context.Context, ref string) (RevocationPlan, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dv, ov, err := n.resolveDevice(ref)
	if err != nil {
		return RevocationPlan{}, err
	}
	p := RevocationPlan{Device: dv.Key.String(), Label: dv.Label, Org: ov.ID.String(), OrgName: ov.Name, ThisDevice: dv.Key == n.device, Entries: dv.Entries}
	var last time.Time
	if h := n.state.Head(dv.Key); h != nil {
		last = millisTime(h.Clock.Millis())
	}
	if cs, err := n.store.Contacts(ctx); err == nil {
		for _, c := range cs {
			if c.Device == dv.Key && c.Last.After(last) {
				last = c.Last
			}
		}
	}
	if info, ok := n.running(); ok {
		for _, c := range info.Contacts {
			if c.Device == dv.Key.String() && c.Last.After(last) {
				last = c.Last
			}
		}
	}
	if !last.IsZero() {
		p.LastSeen = &last
	}
	p.Added = []AddedDevice{}
	for _, d := range ov.Devices {
		if d.AddedBy == dv.Key && !d.Revoked && d.Key != dv.Key {
			p.Added = append(p.Added, AddedDevice{Device: d.Key.String(), Label: d.Label})
		}
	}
	members, quorum := n.state.Members(), n.state.Quorum()
	p.Cost, _ = revocationCost(members, quorum, n.org, dv.Key)
	p.Irreversible = irreversible(members, quorum, n.org, dv.Key)
	p.Risk = revocationRisk(members, quorum, n.org, dv.Key)
	return p, nil
}

// RedactionPreview names the entry a redaction of ref (ID or prefix) would
// take the body of, for a person to confirm: its full ID, and what it is
// ("request “Title”", "response", ...). It writes nothing, and resolves
// ref the way Redact does.
func (n *Node) RedactionPreview(ref string) (id, what string, err error) {
	n.mu.Lock()
	cand, err := n.redactable(ref)
	if err != nil {
		n.mu.Unlock()
		return "", "", err
	}
	id = cand.String()
	what = "entry"
	if e, _, ok := n.state.Entry(cand); ok {
		what = e.Kind.String()
	}
	_, isRequest := n.state.Request(cand)
	n.mu.Unlock()
	if isRequest {
		what = "request"
		if d, err := n.Request(id); err == nil && d.Title != "" {
			what = fmt.Sprintf("request %q", d.Title)
		}
	}
	return id, what, nil
}

// revokedNotice is what a revoked device is told, at every write and in
// its status: who revoked it, when. nil if this device is not revoked.
// The caller holds n.mu.
func (n *Node) revokedNotice() error {
	revs := n.state.Revocations(n.device)
	if len(revs) == 0 {
		return nil
	}
	rv := revs[0]
	by := rv.ByOrg.String()[:12]
	if o, ok := n.state.Org(rv.ByOrg); ok && o.Name != "" {
		by = o.Name
	}
	return refuseWrapping(errRevoked, "device-revoked", by, ident.Moment{Time: millisTime(rv.Clock.Millis()), Now: n.now()})
}

// RevokedNotice is what a revoked device is told, for its status: who
// revoked it and when; "" if this device is not revoked.
func (n *Node) RevokedNotice() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.revokedNotice(); err != nil {
		return err.Error()
	}
	return ""
}

// WhenLocal is t in local time, as people say it after a verb (see
// ident.WhenLocal).
func WhenLocal(t, now time.Time) string { return ident.WhenLocal(t, now) }
