package main

import (
	"fmt"
	"time"

	"github.com/murmurnet/murmur/node"
)

// revocationDetails is what a person sees before confirming a revocation:
// whose device, which one, when it was last seen.
func revocationDetails(p node.RevocationPlan, now time.Time) []string {
	which := p.Device[:12]
	if p.Label != "" {
		which += fmt.Sprintf(" (%q)", p.Label)
	}
	if p.ThisDevice {
		which += ", this device"
	}
	seen := "never"
	if p.LastSeen != nil {
		seen = node.WhenLocal(*p.LastSeen, now)
	}
	out := []string{
		fmt.Sprintf("This revokes device %s of %s.", which, p.OrgName),
		fmt.Sprintf("Last seen: %s. Its entries: %d.", seen, p.Entries),
		"Every member refuses what it signs from now on; a revocation cannot be undone.",
	}
	if p.Irreversible != "" {
		out = append(out, "Warning (--force): "+p.Irreversible)
	}
	return out
}

// confirmRedaction names the entry a redaction would take the body of and
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
		fmt.Sprintf("This takes back the body of %s %s on every node; a redaction cannot be undone.", what, id[:12]),
	}, "Redact it?", "redacted")
}
