package main

import (
	"fmt"
	"time"

	"github.com/murmurnet/murmur/node"
)

// revocationDetails is what a person sees before confirming a revocation:
// whose device, which one, when it was last seen.
func revocationDetails(p node.RevocationPlan, cutoff *uint64, now time.Time) []string {
	refused := "Every member refuses what it signs from now on; a revocation cannot be undone."
	if cutoff != nil {
		refused = fmt.Sprintf("Every member refuses what it signed after its entry %d; a revocation cannot be undone.", *cutoff)
	}
	out := []string{
		fmt.Sprintf("This revokes %s of %s.", deviceWords(p), p.OrgName),
		fmt.Sprintf("Last seen: %s. Its entries: %d.", lastSeen(p, now), p.Entries),
		refused,
	}
	if p.Irreversible != "" {
		out = append(out, "Warning (--force): "+p.Irreversible)
	}
	return out
}

// deviceWords names a device for people: its ID's start, its label, and
// whether it is this one.
func deviceWords(p node.RevocationPlan) string {
	which := "device " + p.Device[:12]
	if p.Label != "" {
		which += fmt.Sprintf(" (%q)", p.Label)
	}
	if p.ThisDevice {
		which = "this device, " + which + ","
	}
	return which
}

// lastSeen is when the device was last seen, in local time, or "never".
func lastSeen(p node.RevocationPlan, now time.Time) string {
	if p.LastSeen == nil {
		return "never"
	}
	return wrote(*p.LastSeen, now)
}

// confirmRedaction names the entry a redaction would take the words of and
// asks for confirmation (confirm).
func confirmRedaction(e *env, c *cmdFlags, n *node.Node, ref string, yes bool) error {
	if yes {
		return nil // (Redact resolves ref and refuses what it cannot redact)
	}
	id, what, err := n.RedactionPreview(ref)
	if err != nil {
		return err
	}
	return confirm(e, c, false, []string{
		fmt.Sprintf("This takes back the words of %s %s on every node (its counts stay); a redaction cannot be undone.", what, id[:12]),
	}, "Redact it?", "redacted")
}
