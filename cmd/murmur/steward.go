package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/murmurnet/murmur/node"
)

// Stewards and the quorum. Each command is this steward organisation's
// approval of one change; the change takes effect once the quorum in force
// has approved it, on every node, whatever order the approvals arrive in.

func cmdStewardAdd(e *env, args []string) error {
	return stewardChange(e, args, true)
}

func cmdStewardRemove(e *env, args []string) error {
	return stewardChange(e, args, false)
}

func stewardChange(e *env, args []string, add bool) error {
	name, what := "steward add", "ORG becomes a steward"
	if !add {
		name, what = "steward remove", "ORG stops being a steward"
	}
	c := newFlags(e, name, "ORG\n\n"+fmt.Sprintf(`Your steward organisation's approval that %s. ORG is a member organisation's
name (case and spacing do not matter) or its ID, or the first 8 or more
characters of it, as murmur members shows them.

Stewards admit organisations, revoke any device and change the stewards and
the quorum. A change takes effect once as many steward organisations as the
quorum have approved it (every steward, while there are fewer stewards than
the quorum): each runs this same command on its own node. Until then
murmur members shows it as pending, with who has approved it so far. An
organisation that stops being a steward no longer approves anything, and
its approvals of changes still pending stop counting. The last steward
cannot be removed.`, what), fmt.Sprintf("murmur %s \"Beta Collective\"", name))
	pos, err := c.parseArgs(args, "ORG")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	out, err := n.ChangeSteward(e.ctx, pos[0], add)
	if err != nil {
		return err
	}
	return c.output(e, out, func(w io.Writer) {
		switch {
		case out.InEffect && add:
			fmt.Fprintf(w, "%s is now a steward: it approves admissions and changes of stewards and quorum.\n", out.Name)
		case out.InEffect:
			fmt.Fprintf(w, "%s is no longer a steward. Its approvals of changes still pending no longer count.\n", out.Name)
		default:
			fmt.Fprintf(w, "Approved. %s\n", pendingLine(out))
			fmt.Fprintf(w, "Each of the other stewards runs on its node: murmur %s %s\n", name, out.Org[:12])
		}
		fmt.Fprintf(w, "steward change %s\n", out.Entry)
	})
}

func cmdQuorumSet(e *env, args []string) error {
	c := newFlags(e, "quorum set", `N

Your steward organisation's approval of a new quorum: how many steward
organisations must approve an admission, a change of stewards or a change of
quorum. It takes effect once as many steward organisations as the quorum in
force have approved it (every steward, while there are fewer stewards than
the quorum): each runs this same command on its own node. A quorum above the
number of stewards is refused: name the stewards first (murmur steward add).
Where two quorums are proposed at once, the first with enough approvals
wins and the approvals of the other lapse.`, "murmur quorum set 2")
	pos, err := c.parseArgs(args, "N")
	if err != nil {
		return err
	}
	q, err := strconv.Atoi(strings.TrimSpace(pos[0]))
	if err != nil {
		return usagef("the quorum %q is not a number", pos[0])
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	out, err := n.SetQuorum(e.ctx, q)
	if err != nil {
		return err
	}
	return c.output(e, out, func(w io.Writer) {
		if out.InEffect {
			fmt.Fprintf(w, "The quorum is now %d: each admission, change of stewards or change of quorum needs the approval of %s.\n", q, plural(q, "steward organisation"))
		} else {
			fmt.Fprintf(w, "Approved. %s\n", pendingLine(out))
			fmt.Fprintf(w, "Each of the other stewards runs on its node: murmur quorum set %d\n", q)
		}
		fmt.Fprintf(w, "quorum change %s\n", out.Entry)
	})
}

func pendingLine(out node.ChangeOutcome) string {
	what := fmt.Sprintf("%s becomes a steward", out.Name)
	switch out.Change {
	case "steward-remove":
		what = fmt.Sprintf("%s stops being a steward", out.Name)
	case "quorum":
		what = fmt.Sprintf("The quorum becomes %d", out.Quorum)
	}
	more := out.Needed - len(out.ApprovedBy)
	return fmt.Sprintf("%s once %s more approve%s (approved so far by %s; %d needed).", what, plural(more, "steward"),
		map[bool]string{true: "s", false: ""}[more == 1], strings.Join(out.ApprovedBy, ", "), out.Needed)
}

func cmdStewardList(e *env, args []string) error {
	c := newFlags(e, "steward list", `

The steward organisations, the quorum, and every change awaiting approval
(admissions, changes of stewards, changes of quorum) with who has approved
it so far. murmur members shows the same after the member list.`, "murmur steward list --json")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	g := n.Governance()
	return c.output(e, g, func(w io.Writer) { printGovernance(w, g) })
}

// printGovernance is the stewards, quorum and pending part of members.
func printGovernance(w io.Writer, g node.GovernanceInfo) {
	names := make([]string, len(g.Stewards))
	for i, s := range g.Stewards {
		names[i] = s.Name
	}
	slices.Sort(names)
	fmt.Fprintf(w, "stewards  %s\n", strings.Join(names, ", "))
	if g.Needed < g.Quorum {
		fmt.Fprintf(w, "quorum    %d; with only %s, every steward must approve (%d)\n", g.Quorum, plural(len(g.Stewards), "steward"), g.Needed)
	} else {
		fmt.Fprintf(w, "quorum    %d: each admission or change needs the approval of %s\n", g.Quorum, plural(g.Needed, "steward organisation"))
	}
	if len(g.Pending) == 0 {
		fmt.Fprintf(w, "pending   nothing awaits approval\n")
		return
	}
	fmt.Fprintf(w, "pending:\n")
	for _, p := range g.Pending {
		var what string
		switch p.Change {
		case "admission":
			what = fmt.Sprintf("admit %s (%s)", p.Name, p.Org[:12])
		case "steward-add":
			what = fmt.Sprintf("make %s a steward", p.Name)
		case "steward-remove":
			what = fmt.Sprintf("%s stops being a steward", p.Name)
		case "quorum":
			what = fmt.Sprintf("set the quorum to %d", p.Quorum)
		}
		by := make([]string, len(p.ApprovedBy))
		for i, o := range p.ApprovedBy {
			by[i] = o.Name
		}
		approved := "no approval yet"
		if len(by) > 0 {
			approved = "approved by " + strings.Join(by, ", ")
		}
		state := fmt.Sprintf("%d of %d", len(by), p.Needed)
		if p.Blocked != "" {
			state = "cannot take effect: " + p.Blocked
		}
		fmt.Fprintf(w, "  %s — %s; %s\n", what, approved, state)
	}
}

// memberOut is one organisation of members --json: its entry, and what
// awaits approval about it.
type memberOut struct {
	node.MemberInfo
	ApprovedBy    []node.OrgRef     `json:"approved_by,omitempty"`
	StewardChange *node.PendingInfo `json:"steward_change,omitempty"`
}

func membersWithPending(ms []node.MemberInfo, g node.GovernanceInfo) []memberOut {
	out := make([]memberOut, len(ms))
	for i, m := range ms {
		out[i].MemberInfo = m
		for _, p := range g.Pending {
			if p.Org != m.Org {
				continue
			}
			switch p.Change {
			case "admission":
				out[i].ApprovedBy = p.ApprovedBy
			case "steward-add", "steward-remove":
				out[i].StewardChange = &p
			}
		}
	}
	return out
}
