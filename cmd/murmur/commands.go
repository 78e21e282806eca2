package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
	"github.com/murmurnet/murmur/node/p2p"
	"github.com/murmurnet/murmur/node/web"
)

type idOut struct {
	ID string `json:"id"`
}

func cmdInit(e *env, args []string) error {
	c := newFlags(e, "init", "--org NAME [--network NAME] [--quorum N] [--open] [--no-passphrase]",
		`murmur init --org "Defenders Fund" --network "East Africa protection network"`)
	org := c.String("org", "", "the founding organisation's name (required)")
	network := c.String("network", "", `the network's name (default "ORG network")`)
	quorum := c.Int("quorum", 1, "steward organisations that must approve each new organisation, and each change of stewards or quorum (change it later with murmur quorum set)")
	// Private by default: a node of an open network shows its device key —
	// which a copy of the log ties to its organisation — to anyone who
	// dials it (see ARCHITECTURE.md, "Strangers").
	private := c.Bool("private", true, "create a pre-shared network key that hides the network's nodes from scanners")
	open := c.Bool("open", false, "no pre-shared network key: nodes answer anyone who dials them, with their device key, and may use QUIC")
	noPass := c.Bool("no-passphrase", false, "store the device key unprotected (only for throwaway test networks)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if strings.TrimSpace(*org) == "" {
		return usagef("--org NAME is required: the name of your organisation")
	}
	privateSet := false
	c.Visit(func(f *flag.Flag) { privateSet = privateSet || f.Name == "private" })
	if *open && privateSet && *private {
		return usagef("--open and --private contradict each other: a network is private (the default) or open")
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	if node.Initialised(dir) {
		return node.ErrAlreadyInitialised
	}
	var pass []byte
	if !*noPass {
		if pass, err = newPassphrase(e); err != nil {
			return err
		}
	}
	n, err := node.Init(e.ctx, dir, node.InitOptions{Org: strings.TrimSpace(*org), Network: strings.TrimSpace(*network), Quorum: *quorum, Private: *private && !*open, Passphrase: pass})
	if err != nil {
		return err
	}
	defer n.Close()
	st := n.Status()
	out := struct {
		Network string `json:"network"`
		Org     string `json:"org"`
		Device  string `json:"device"`
		Peer    string `json:"peer"`
	}{st.Network, st.Org, st.Device, st.Peer}
	return c.output(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "Founded %q with %s as its first organisation and steward.\n\n", st.NetworkName, st.OrgName)
		fmt.Fprintf(w, "  network  %s\n  org      %s\n  device   %s\n  data     %s\n", st.Network, st.Org, st.Device, st.Dir)
		if st.Private {
			fmt.Fprintf(w, "\nThe network is private: its nodes answer only those who hold its network key. Invite codes do not carry it: a joiner is handed it by the inviting node, while the invite is open.\n")
		} else {
			fmt.Fprintf(w, "\nThe network is open: its nodes answer anyone who dials them, and show them their device key.\n")
		}
		if *quorum > 1 {
			fmt.Fprintf(w, "\nAdmissions need %d steward organisations' approval, but %s is the only steward: until others are named (murmur steward add ORG), its approval alone admits.\n", *quorum, st.OrgName)
		}
		if *noPass {
			fmt.Fprintf(w, "\nThe device key is NOT protected by a passphrase: use this data directory for tests only.\n")
		}
		next := [][2]string{
			{c.command("ui"), "start the node and open its web interface in the browser"},
			{c.command("run"), "start the node; leave it running: its web interface is at http://" + web.DefaultAddr + "/"},
			{c.command("invite"), "an invite code for another organisation"},
			{c.command("status"), ""},
			{c.command("directory set") + " --regions TZ,KE --offers emergency-grant,legal-aid --languages en,sw", ""},
			{c.command("request new") + ` --kind verification --title "Does anyone know this applicant?"`, ""},
		}
		width := max(19, len(c.command("invite"))+1)
		fmt.Fprintf(w, "\nNext:\n")
		for _, l := range next {
			if l[1] == "" {
				fmt.Fprintf(w, "  %s\n", l[0])
			} else {
				fmt.Fprintf(w, "  %-*s (%s)\n", width, l[0], l[1])
			}
		}
	})
}

const minPassphrase = 8

// newPassphrase asks for a new passphrase twice, or takes the one given
// for a service (passphraseGiven).
func newPassphrase(e *env) ([]byte, error) {
	if p, ok, err := passphraseGiven(e); err != nil {
		return nil, err
	} else if ok {
		// Chosen now, it must open the key later, given the same way or
		// typed: nothing it holds by mistake, one way of giving it.
		switch g := e.given; {
		case g.before != "":
			return nil, usagef("MURMUR_PASSPHRASE and %s are both set: unset one, so that the passphrase chosen now is the one given later; nothing was created", g.before)
		case len(g.odd) > 0:
			return nil, usagef("refusing the passphrase given, %s: it %s, which would count as part of it, so that it could never be typed. Give the passphrase alone, on one line, as plain text; nothing was created", g.from, oddList(g.odd))
		case len(p) < minPassphrase:
			return nil, usagef("the passphrase given is too short: use at least %d characters; nothing was created", minPassphrase)
		case len(p) > maxPassphrase:
			return nil, usagef("the passphrase given is too long: use at most %d bytes; nothing was created", maxPassphrase)
		}
		return p, nil
	}
	ask := passphraseFrom(e, "Choose a passphrase to protect this device's key")
	p, err := ask()
	var nc noCredential
	if errors.As(err, &nc) {
		return nil, usageError{nc.Error()}
	}
	if errors.Is(err, node.ErrNeedPassphrase) {
		return nil, usagef("choose a passphrase: type it at the prompt, set MURMUR_PASSPHRASE, or pass --no-passphrase for a throwaway test network")
	}
	if err != nil {
		return nil, err
	}
	if len(p) < minPassphrase {
		return nil, usagef("the passphrase is too short: use at least %d characters", minPassphrase)
	}
	if len(p) > maxPassphrase {
		return nil, usagef("the passphrase is too long: use at most %d bytes", maxPassphrase)
	}
	again, err := passphraseFrom(e, "Type it again")()
	if err != nil {
		return nil, err
	}
	if string(again) != string(p) {
		return nil, usagef("the two passphrases differ; nothing was created")
	}
	return p, nil
}

func cmdStatus(e *env, args []string) error {
	c := newFlags(e, "status", "\n\nThis node and its state. First come the open alerts of the last 7 days, those\n"+
		"your organisation has not acknowledged first (murmur alert ack ID); older open\n"+
		"alerts are counted, and listed by murmur request list --kind alert --open.", "murmur status --json")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if dir, err := c.dataDir(e); err == nil && node.Joining(dir) {
		return joiningStatus(e, c, dir)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	st := n.Status()
	// (what they say to run, with this --dir)
	st.ForkedNotice, st.Recovering = e.withDir(st.ForkedNotice), e.withDir(st.Recovering)
	for i, f := range st.ForkedOrgs {
		st.ForkedOrgs[i] = e.withDir(f)
	}
	return c.output(e, st, func(w io.Writer) {
		if st.RevokedNotice != "" { // before anything else: nothing it writes counts
			fmt.Fprintf(w, "WARNING: %s.\n\n", st.RevokedNotice)
		}
		if st.ForkedNotice != "" { // before anything else: the key is compromised
			fmt.Fprintf(w, "WARNING: %s.\n\n", st.ForkedNotice)
		}
		for _, f := range st.ForkedOrgs {
			fmt.Fprintf(w, "WARNING: %s.\n\n", f)
		}
		if st.Recovering != "" {
			fmt.Fprintf(w, "NOTE: %s.\n\n", st.Recovering)
		}
		printAlerts(w, st, time.Now())
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		kind := "open"
		if st.Private {
			kind = "private"
		}
		fmt.Fprintf(tw, "network\t%s (%s), %s\n", st.NetworkName, st.Network, kind)
		role := "member"
		switch {
		case !st.Admitted:
			role = "not admitted yet"
		case st.Steward:
			role = "steward"
		}
		fmt.Fprintf(tw, "organisation\t%s (%s), %s\n", st.OrgName, st.Org, role)
		fmt.Fprintf(tw, "device\t%s\n", st.Device)
		fmt.Fprintf(tw, "peer\t%s\n", st.Peer)
		fmt.Fprintf(tw, "entries\t%d\n", st.Entries)
		fmt.Fprintf(tw, "digest\t%s\n", st.Digest)
		fmt.Fprintf(tw, "members\t%s", plural(st.Members, "organisation"))
		if st.PendingOrgs > 0 {
			fmt.Fprintf(tw, ", %d awaiting admission", st.PendingOrgs)
		}
		fmt.Fprintln(tw)
		if st.Running {
			fmt.Fprintf(tw, "running\tyes, connected to %s\n", plural(len(st.Peers), "peer"))
			for _, a := range st.Addrs {
				fmt.Fprintf(tw, "listening\t%s\n", a)
			}
			if st.Reach != "" {
				fmt.Fprintf(tw, "reachable\t%s\n", st.Reach)
			}
			if t := st.Traffic; t != nil {
				fmt.Fprintf(tw, "since it started\t%s received from other members, %d sent (%s exchanged)\n",
					plural(t.Sync.Received-t.Sync.Refused, "entry", "entries"), t.Sync.Pushed, bytesWord(t.Sync.SentBytes+t.Sync.RecvBytes+t.GossipSent+t.GossipRecv))
			}
		} else {
			fmt.Fprintf(tw, "running\tno node is running on this data directory\n")
		}
		if st.AloneSince != nil {
			fmt.Fprintf(tw, "WARNING\t%s\n", p2p.AloneMessage(time.Since(*st.AloneSince)))
		}
		for i, ct := range st.Contacts {
			label := ""
			if i == 0 {
				label = "last contact"
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, contactLine(ct, time.Now()))
		}
		if st.Waiting+st.Held > 0 {
			fmt.Fprintf(tw, "not applied\t%d waiting for what they depend on, %d held (no standing)\n", st.Waiting, st.Held)
		}
		for k, v := range st.UnknownKinds {
			fmt.Fprintf(tw, "newer entries\t%d of %s, which this release stores and relays but cannot read: consider upgrading\n", v, k)
		}
		if st.Revoked {
			fmt.Fprintf(tw, "WARNING\t%s\n", st.RevokedNotice)
		}
		if st.Admitted && !st.GrantSecret {
			fmt.Fprintf(tw, "grant check\tnot ready: the network secret comes from any member's node when this node runs connected\n")
		}
		fmt.Fprintf(tw, "data\t%s\n", st.Dir)
		tw.Flush()
	})
}

func cmdMembers(e *env, args []string) error {
	c := newFlags(e, "members", `[--limit N] [--after ORG]

Every organisation with its devices: stewards, members, and those awaiting
admission. Then the stewards, the quorum, and every change awaiting the
stewards' approval (admissions, changes of stewards, changes of quorum)
with who has approved it so far. With --json, each organisation also
carries "approved_by" (while awaiting admission) and "steward_change" (a
pending change of its steward standing); murmur steward list --json gives
the quorum and every pending change in one object.

At most --limit organisations are shown (default 50); --after ORG gives the
next page.`, "murmur members --json")
	limit := c.Int("limit", defaultLimit, "show at most N organisations (0: all)")
	after := c.String("after", "", "start after this organisation (ID or prefix): the next page")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: give a number of organisations, or 0 for all", *limit)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ms, more, err := page(n.Members(), func(m node.MemberInfo) string { return m.Org }, *after, *limit)
	if err != nil {
		return err
	}
	if more > 0 {
		c.more = nextPage(more, "more organisation", "members", nil, ms[len(ms)-1].Org[:12], *after, len(ms))
	}
	g := n.Governance()
	return c.output(e, membersWithPending(ms, g), func(w io.Writer) {
		for _, m := range ms {
			role := "member"
			switch {
			case !m.Admitted:
				role = fmt.Sprintf("awaiting admission (%s of %d needed)", plural(m.Approvals, "approval"), g.Needed)
			case m.Steward:
				role = "steward"
			}
			fmt.Fprintf(w, "%s  %s — %s\n", m.Org, m.Name, role)
			if m.NameShared {
				fmt.Fprintf(w, "    ANOTHER ORGANISATION HAS A NAME THAT LOOKS THE SAME: ask the one you expect for the ID its murmur status shows, and approve that ID only\n")
			}
			for _, d := range m.Devices {
				var notes []string
				if d.This {
					notes = append(notes, "this device")
				}
				if d.Label != "" {
					notes = append(notes, d.Label)
				}
				if d.AddedBy != "" {
					notes = append(notes, "added by device "+d.AddedBy[:12])
				}
				if d.Revoked {
					notes = append(notes, fmt.Sprintf("REVOKED: what it wrote after its first %s is refused", plural(int(d.Cutoff), "entry")))
				}
				if d.Forked {
					notes = append(notes, "FORKED: two histories")
				}
				fmt.Fprintf(w, "    device %s  %s  %s\n", d.Device, plural(d.Entries, "entry"), strings.Join(notes, ", "))
			}
		}
		if c.more != "" {
			fmt.Fprintln(w, c.more)
		}
		fmt.Fprintln(w)
		printGovernance(w, g)
	})
}

func cmdDeviceRevoke(e *env, args []string) error {
	c := newFlags(e, "device revoke", "DEVICE [--cutoff N] [--yes] [--force]", "murmur device revoke 3fa9c1e2 --cutoff 41")
	cutoff := c.optional("cutoff", "the last entry of the device to accept (default: all this node holds)")
	yes := c.Bool("yes", false, "do not ask for confirmation (needed with --json, or when the input is not a terminal)")
	force := c.Bool("force", false, "revoke even your organisation's last device, or the device whose loss leaves too few stewards to admit anyone: this cannot be undone")
	pos, err := c.parseArgs(args, "DEVICE")
	if err != nil {
		return err
	}
	var cut *uint64
	if cutoff.val != nil {
		v, err := strconv.ParseUint(*cutoff.val, 10, 64)
		if err != nil {
			return usagef("--cutoff %q is not a number", *cutoff.val)
		}
		cut = &v
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	if notice := n.RevokedNotice(); notice != "" {
		return errors.New(notice) // before asking anything: it cannot write
	}
	plan, err := n.PlanRevocation(e.ctx, pos[0])
	if err != nil {
		return err
	}
	if plan.Risk != nil && !*force {
		return plan.Risk
	}
	if err := confirm(e, c, *yes, revocationDetails(plan, cut, n.Now()), "Revoke this device?", "revoked"); err != nil {
		return err
	}
	revoke := n.RevokeDevice
	if *force {
		revoke = n.ForceRevokeDevice
	}
	ent, err := revoke(e.ctx, pos[0], cut)
	if err != nil {
		return err
	}
	return c.output(e, struct {
		ID string `json:"id"`
		node.RevocationPlan
	}{ent.ID().String(), plan}, func(w io.Writer) {
		fmt.Fprintf(w, "Revoked %s of %s, last seen %s. Entries it signs after the cut-off will be refused by every member.\nrevocation %s\n",
			deviceWords(plan), plan.OrgName, lastSeen(plan, n.Now()), ent.ID())
		if len(plan.Added) > 0 {
			fmt.Fprintln(w, addedWords(plan))
		}
	})
}

func cmdDirectorySet(e *env, args []string) error {
	c := newFlags(e, "directory set", "[--name N] [--regions CC,..] [--offers T,..] [--languages L,..] [--groups G,..] [--turnaround HOURS] [--contact TEXT]",
		"murmur directory set --regions TZ,KE --offers emergency-grant,legal-aid --languages en,sw --groups journalists")
	name := c.optional("name", "the name shown in the directory")
	regions := c.list("regions", "ISO 3166-1 codes of the regions you cover, comma-separated (TZ,KE)")
	offers := c.list("offers", "support types you offer: "+strings.Join(ident.SupportTypes, ", "))
	langs := c.list("languages", "BCP 47 tags of the languages you work in (en,sw,pt-BR)")
	groups := c.list("groups", "groups you serve: "+strings.Join(ident.Groups, ", "))
	turnaround := c.optional("turnaround", "typical hours from request to answer")
	contact := c.optional("contact", "how members reach you, a short note (any language, line breaks kept; direction overrides and control characters are refused)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	in := node.DirectoryInput{Name: name.val, Contact: contact.val}
	for _, f := range []struct {
		l   *listFlag
		dst **[]string
	}{{regions, &in.Regions}, {offers, &in.Offers}, {langs, &in.Languages}, {groups, &in.Groups}} {
		if f.l.set {
			*f.dst = f.l.vals
		}
	}
	if turnaround.val != nil {
		h, err := strconv.ParseUint(*turnaround.val, 10, 32)
		if err != nil {
			return usagef("--turnaround %q is not a number of hours", *turnaround.val)
		}
		in.TurnaroundHours = &h
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.SetDirectory(e.ctx, in)
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Directory entry published (%s).\nSee it with: murmur directory list\n", ent.ID())
	})
}

func cmdDirectoryList(e *env, args []string) error {
	c := newFlags(e, "directory list", "[--region CC] [--offers T] [--language L] [--group G] [--limit N] [--after ORG]", "murmur directory list --region TZ --offers legal-aid")
	var f node.DirectoryFilter
	c.StringVar(&f.Region, "region", "", "only organisations covering this region")
	c.StringVar(&f.Offers, "offers", "", "only organisations offering this support type")
	c.StringVar(&f.Language, "language", "", "only organisations working in this language")
	c.StringVar(&f.Group, "group", "", "only organisations serving this group")
	limit := c.Int("limit", defaultLimit, "show at most N organisations (0: all)")
	after := c.String("after", "", "start after this organisation (ID or prefix): the next page")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: give a number of organisations, or 0 for all", *limit)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	all, err := n.Directory(f)
	if err != nil {
		return err
	}
	list, more, err := page(all, func(d node.DirectoryInfo) string { return d.Org }, *after, *limit)
	if err != nil {
		return err
	}
	if more > 0 {
		c.more = nextPage(more, "more organisation", "directory list",
			flagArgs("--region", f.Region, "--offers", f.Offers, "--language", f.Language, "--group", f.Group),
			list[len(list)-1].Org[:12], *after, len(list))
	}
	return c.output(e, list, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "No directory entries match.")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tREGIONS\tOFFERS\tLANGUAGES\tGROUPS\tORG")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", listed(d.Name, d.ListedAs), strings.Join(d.Regions, ","), strings.Join(d.Offers, ","),
				strings.Join(d.Languages, ","), strings.Join(d.Groups, ","), d.Org[:12])
		}
		tw.Flush()
		if c.more != "" {
			fmt.Fprintln(w, c.more)
		}
	})
}

func cmdRequestNew(e *env, args []string) error {
	c := newFlags(e, "request new", "--kind KIND --title T [--body TEXT | --body-file F] [--region CC] [--to ORG]... [--respond-by DURATION] [--amount N --currency C] [--needs T,..] [--languages L,..] [--urgency low|medium|high] [--sealed]",
		`murmur request new --kind funding --title "Relocation, 3 months" --region NI --amount 4500 --currency USD --respond-by 72h`)
	var in node.RequestInput
	c.StringVar(&in.Kind, "kind", "", "verification, referral, funding, letter or alert (required)")
	c.StringVar(&in.Title, "title", "", "one line saying what is asked (required)")
	c.StringVar(&in.Body, "body", "", "the details (any language, line breaks kept; direction overrides and control characters are refused)")
	bodyFile := c.String("body-file", "", "read the details from this file (- for standard input)")
	c.StringVar(&in.Region, "region", "", "ISO 3166-1 code of the region concerned (required for referrals and alerts)")
	to := c.list("to", "address the request to an organisation (its name, ID or ID prefix, as murmur members shows them); repeatable")
	c.StringVar(&in.RespondBy, "respond-by", "", "deadline: a duration from now (72h, 3d, 2w) or a date (2026-12-01: the end of that day, in your local time)")
	c.StringVar(&in.Amount, "amount", "", "amount needed (funding), for example 4500 or 4500.50")
	c.StringVar(&in.Currency, "currency", "", "ISO 4217 currency of the amount (USD, EUR, KES)")
	needs := c.list("needs", "support types needed (referral): "+strings.Join(ident.SupportTypes, ", "))
	langs := c.list("languages", "languages the case needs (BCP 47)")
	c.StringVar(&in.Urgency, "urgency", "", "low, medium or high (referral)")
	c.BoolVar(&in.Sealed, "sealed", false, "only the organisations named with --to (and yours) can read the title and text")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if in.Kind == "" || in.Title == "" {
		return usagef("--kind and --title are required (see murmur request new --help)")
	}
	if *bodyFile != "" {
		if in.Body != "" {
			return usagef("give --body or --body-file, not both")
		}
		body, err := readBody(e, *bodyFile)
		if err != nil {
			return err
		}
		in.Body = body
	}
	in.To, in.Needs, in.Languages = *to.vals, *needs.vals, *langs.vals
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.NewRequest(e.ctx, in)
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Request %s recorded; it reaches the other members when this node is connected.\nSee it with: murmur request show %s\n", ent.ID(), ent.ID().String()[:12])
	})
}

// readBody reads at most a little more than the body limit, so an
// oversized file is refused without reading all of it.
func readBody(e *env, path string) (string, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", usagef("--body-file: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, crdt.MaxBodySize+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > crdt.MaxBodySize-1024 {
		return "", usagef("the body in %s is over the limit of %d bytes", path, crdt.MaxBodySize-1024)
	}
	// A file written on Windows ends its lines with CR LF; stored text
	// ends them with LF alone (a bare CR is refused as a control character).
	return strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\r", "\n"), nil
}

func cmdRequestList(e *env, args []string) error {
	c := newFlags(e, "request list", "[--open] [--kind KIND] [--inbox] [--limit N] [--after ID]", "murmur request list --inbox")
	var f node.RequestFilter
	c.BoolVar(&f.Open, "open", false, "only requests that are not closed")
	c.StringVar(&f.Kind, "kind", "", "only requests of this kind")
	c.BoolVar(&f.Inbox, "inbox", false, "only requests awaiting this organisation's answer: open alerts first, then the soonest deadline")
	limit := c.Int("limit", defaultLimit, "show at most N requests (0: all)")
	after := c.String("after", "", "start after this request (ID or prefix): the next page")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: give a number of requests, or 0 for all", *limit)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	list, more, err := n.RequestPage(f, *after, *limit)
	if err != nil {
		return err
	}
	if more > 0 {
		// (A list of requests says whether more follow, not how many:
		// counting them would read every request after the page.)
		limitArg := ""
		if *limit != defaultLimit {
			limitArg = fmt.Sprint(*limit)
		}
		what := "More requests"
		if f.Inbox {
			what = "More requests await your answer"
		}
		c.more = fmt.Sprintf("%s: %s --after %s", what, strings.Join(append([]string{"murmur", "request list"},
			flagArgs("--open", strconv.FormatBool(f.Open), "--kind", f.Kind, "--inbox", strconv.FormatBool(f.Inbox), "--limit", limitArg)...), " "), list[len(list)-1].ID[:12])
	}
	now := time.Now()
	return c.output(e, list, func(w io.Writer) {
		if len(list) == 0 && f.Inbox && *after == "" {
			fmt.Fprintln(w, "Nothing awaits your organisation's answer.")
			return
		}
		if len(list) == 0 {
			fmt.Fprintln(w, "No requests.")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tRESPOND BY\tREGION\tFROM\tANSWERS\tTITLE")
		for _, r := range list {
			due := "-"
			if r.RespondBy != nil {
				due = whenText(*r.RespondBy, now)
				if r.Overdue {
					due += " OVERDUE"
				}
			}
			status, kind := r.Status, r.Kind
			switch {
			case r.Reopened:
				status = "open again"
			case r.AcceptedByName != "":
				status = "accepted by " + r.AcceptedByName
			}
			switch {
			case r.Urgent && r.Acknowledged:
				kind = "alert (acknowledged)"
			case r.Urgent:
				kind = "!! ALERT"
			}
			answers := fmt.Sprint(r.Responses)
			if r.ResponsesMore {
				answers = fmt.Sprintf("%d+", roundCount(r.Responses))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID[:12], kind, status, due, r.Region, r.OrgName, answers, shownTitle(r))
		}
		tw.Flush()
		if c.more != "" {
			fmt.Fprintln(w, c.more)
		}
	})
}

func cmdRequestShow(e *env, args []string) error {
	c := newFlags(e, "request show", "ID [--limit N] [--before RESPONSE]", "murmur request show 9c41d2aa")
	var o node.ShowOptions
	c.IntVar(&o.Limit, "limit", crdt.ShowResponses, fmt.Sprintf("show at most N responses, the latest (1 to %d)", node.MaxShowResponses))
	c.StringVar(&o.Before, "before", "", "show the responses before this one (ID or prefix): the earlier page")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	if o.Limit < 1 || o.Limit > node.MaxShowResponses {
		return usagef("--limit %d: give a number from 1 to %d", o.Limit, node.MaxShowResponses)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	d, err := n.RequestShow(pos[0], o)
	if err != nil {
		return err
	}
	return c.output(e, d, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(d.Kind), shownTitle(d.RequestSummary))
		status := d.Status
		switch {
		case d.Reopened:
			status = "open again: every organisation it was addressed to declined; any member may accept"
		case d.AcceptedByName != "":
			status = "accepted by " + d.AcceptedByName
		}
		now := time.Now()
		fmt.Fprintf(w, "  id       %s\n  from     %s (%s)\n  status   %s\n  created  %s\n", d.ID, d.OrgName, d.Org[:12], status, wroteText(d.Created, now))
		if d.Region != "" {
			fmt.Fprintf(w, "  region   %s\n", d.Region)
		}
		if d.RespondBy != nil {
			over := ""
			if d.Overdue {
				over = " (overdue)"
			}
			fmt.Fprintf(w, "  by       %s%s\n", whenText(*d.RespondBy, now), over)
		}
		if d.Amount != nil {
			fmt.Fprintf(w, "  amount   %s %s\n", ident.FormatAmount(uint64(*d.Amount)), d.Currency)
		}
		if len(d.To) > 0 {
			fmt.Fprintf(w, "  to       %s\n", strings.Join(d.ToNames, ", "))
		}
		if d.Sealed && d.Redacted == nil && len(d.SharedWith) > 0 {
			if d.Readable {
				fmt.Fprintf(w, "  sealed   readable by %s\n", strings.Join(d.SharedWith, ", "))
			} else { // (this node cannot check the wraps it cannot open)
				fmt.Fprintf(w, "  sealed   readable by %s, as its author and those who shared it say\n", strings.Join(d.SharedWith, ", "))
			}
		}
		switch {
		case d.Withheld:
			fmt.Fprintf(w, "\n  (the details are not held on this node: withheld or redacted)\n")
		case d.Sealed && !d.Readable && d.Redacted == nil:
			fmt.Fprintf(w, "\n  (sealed: your organisation is not among those who can read it, or the passphrase was not given)\n")
		case d.Body != "":
			fmt.Fprintf(w, "\n%s\n", indent(d.Body))
		}
		printOutcome(w, d)
		if d.ResponsesMore {
			fmt.Fprintf(w, "\nmore than %s\n", plural(roundCount(d.RequestSummary.Responses), "response"))
		} else {
			fmt.Fprintf(w, "\n%s\n", plural(d.RequestSummary.Responses, "response"))
		}
		// (The way to the earlier ones keeps the page size asked for.)
		limit := ""
		if o.Limit != crdt.ShowResponses {
			limit = fmt.Sprintf(" --limit %d", o.Limit)
		}
		switch {
		case d.EarlierResponses && o.Before == "":
			fmt.Fprintf(w, "  (the latest %d shown; earlier ones: murmur request show %s --before %s%s)\n", len(d.Responses), d.ID[:8], d.Responses[0].ID[:8], limit)
		case d.EarlierResponses:
			fmt.Fprintf(w, "  (%d shown; earlier ones: murmur request show %s --before %s%s)\n", len(d.Responses), d.ID[:8], d.Responses[0].ID[:8], limit)
		case o.Before != "" && len(d.Responses) == 0:
			fmt.Fprintf(w, "  (none before the one given: it is the first)\n")
		case o.Before != "":
			fmt.Fprintf(w, "  (the first %d shown: none came before them)\n", len(d.Responses))
		}
		for _, r := range d.Responses {
			amt := ""
			if r.Amount != nil {
				amt = fmt.Sprintf(" %s %s", ident.FormatAmount(uint64(*r.Amount)), r.Currency)
			}
			fmt.Fprintf(w, "  %s  %-8s%s  %s", wroteText(r.Created, now), r.Type, amt, r.OrgName)
			if body := shownText(r.Body, r.Redacted); body != "" {
				fmt.Fprintf(w, ": %s", oneLine(body))
			}
			fmt.Fprintln(w)
		}
	})
}

// roundCount is a count known to be a lower bound, rounded down to a
// round number for people: at least 1,002 answers are "more than 1000".
func roundCount(n int) int {
	if n >= 1000 {
		return n - n%1000
	}
	return n - n%10
}

// bytesWord is a byte count for people: "830 bytes", "12 KB", "3.4 MB".
func bytesWord(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1_000_000:
		return fmt.Sprintf("%d KB", n/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

func cmdRequestClose(e *env, args []string) error {
	c := newFlags(e, "request close", "ID", "murmur request close 9c41d2aa")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.CloseRequest(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) { fmt.Fprintf(w, "Closed (%s).\n", ent.ID()) })
}

func cmdRespond(e *env, args []string) error {
	c := newFlags(e, "respond", "ID --type TYPE [--body TEXT] [--amount N --currency C] [--pledge PLEDGE] [--sealed | --open]", `murmur respond 9c41d2aa --type vouch --body "We funded them in 2024."`)
	var in node.ResponseInput
	c.StringVar(&in.Type, "type", "", "vouch, concern or unknown (verification); accept or decline (referral); pledge or withdraw (funding); sign (letter); comment (any)")
	c.StringVar(&in.Body, "body", "", "a note (any language, line breaks kept; direction overrides and control characters are refused)")
	c.StringVar(&in.Amount, "amount", "", "amount pledged (pledge)")
	c.StringVar(&in.Currency, "currency", "", "currency of the amount (default: the request's)")
	c.StringVar(&in.Pledge, "pledge", "", "the pledge to withdraw (withdraw; default: all of your organisation's on the request)")
	c.BoolVar(&in.Sealed, "sealed", false, "only the requesting organisation (and yours) can read the text")
	c.BoolVar(&in.Open, "open", false, "every member can read the text, even on a sealed request (by default a reply to a sealed request is sealed for those who can read the request)")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	if in.Type == "" {
		return usagef("--type is required (see murmur respond --help)")
	}
	in.Request = pos[0]
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.Respond(e.ctx, in)
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		switch {
		case ent.Kind != crdt.KindSealed:
			fmt.Fprintf(w, "Response recorded (%s).\n", ent.ID())
		case in.Sealed:
			fmt.Fprintf(w, "Response recorded, sealed: only the requesting organisation and yours can read its text (%s).\n", ent.ID())
		default:
			fmt.Fprintf(w, "Response recorded, sealed like the request: only the organisations that can read the request can read its text (%s). Use --open to write it in clear.\n", ent.ID())
		}
	})
}

// contactLine is an organisation's last contact in plain words: "Beta
// Collective: last synced 3 h ago via relay (1 Dec 21:14)".
func contactLine(c node.ContactInfo, now time.Time) string {
	line := contactNetLine(c, now)
	if c.LastBundle != nil {
		line += fmt.Sprintf("; its latest bundle read here was made %s (%s)", ago(now.Sub(*c.LastBundle)), when(*c.LastBundle, now))
	}
	return line
}

func contactNetLine(c node.ContactInfo, now time.Time) string {
	if c.LastSynced == nil {
		if c.Connected {
			return c.Name + ": connected now"
		}
		return c.Name + ": never reached from this node"
	}
	how := map[string]string{"lan": "via the local network", "direct": "via a direct connection", "relay": "via relay"}[c.Via]
	if how == "" {
		how = "via " + c.Via
	}
	at := *c.LastSynced
	if c.Connected {
		return fmt.Sprintf("%s: connected now %s (last synced %s)", c.Name, how, when(at, now))
	}
	return fmt.Sprintf("%s: last synced %s %s (%s)", c.Name, ago(now.Sub(at)), how, when(at, now))
}

// ago is a past duration in plain words.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}
