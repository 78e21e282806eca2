package main

import (
	"fmt"
	"strings"
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
	if len(p.Added) > 0 {
		out = append(out, addedWords(p))
	}
	return out
}

// addedWords names the devices the revoked device added, which keep their
// standing: whoever holds it may hold them too (a seized laptop that
// enrolled a second device before anyone revoked it).
func addedWords(p node.RevocationPlan) string {
	var names, ids []string
	for _, d := range p.Added {
		w := "device " + d.Device[:12]
		if d.Label != "" {
			w += fmt.Sprintf(" (%q)", d.Label)
		}
		names, ids = append(names, w), append(ids, d.Device[:12])
	}
	if len(names) == 1 {
		return fmt.Sprintf("It added %s, which keeps its standing: if whoever holds this device may hold that one too, revoke it as well (murmur device revoke %s).", names[0], ids[0])
	}
	return fmt.Sprintf("It added %s, which keep their standing: if whoever holds this device may hold them too, revoke each as well (murmur device revoke %s).",
		strings.Join(names, ", "), strings.Join(ids, ", then "))
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
