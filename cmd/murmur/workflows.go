package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/ident"
)

// printOutcome prints what a request's responses add up to.
func printOutcome(w io.Writer, d node.RequestDetail) {
	if d.Urgency != "" {
		fmt.Fprintf(w, "  urgency  %s\n", d.Urgency)
	}
	if len(d.Needs) > 0 {
		fmt.Fprintf(w, "  needs    %s\n", strings.Join(d.Needs, ", "))
	}
	if len(d.Languages) > 0 {
		fmt.Fprintf(w, "  languages %s\n", strings.Join(d.Languages, ", "))
	}
	switch {
	case d.Verification != nil:
		v := d.Verification
		fmt.Fprintf(w, "\nVerification: %d vouch, %d concern, %d unknown\n", v.Vouch, v.Concern, v.Unknown)
		for _, p := range v.Positions {
			fmt.Fprintf(w, "  %-8s %s%s\n", p.Type, p.OrgName, note(shownText(p.Body, p.Redacted)))
		}
	case d.Referral != nil:
		r := d.Referral
		fmt.Fprintln(w)
		switch {
		case r.AcceptedByName != "":
			fmt.Fprintf(w, "Referral: accepted by %s\n", r.AcceptedByName)
		case r.Reopened:
			fmt.Fprintf(w, "Referral: OPEN AGAIN — every organisation it was addressed to declined; any member may accept\n")
		default:
			fmt.Fprintf(w, "Referral: not accepted yet (murmur request suggest %s lists members that fit)\n", d.ID[:12])
		}
		for _, p := range r.Positions {
			fmt.Fprintf(w, "  %-8s %s%s\n", p.Type, p.OrgName, note(shownText(p.Body, p.Redacted)))
		}
		if len(r.Awaiting) > 0 {
			fmt.Fprintf(w, "  awaiting an answer from %s\n", strings.Join(r.Awaiting, ", "))
		}
	case d.Funding != nil:
		f := d.Funding
		fmt.Fprintf(w, "\nFunding: %s %s needed", ident.FormatAmount(uint64(f.Amount)), f.Currency)
		if f.Covered {
			fmt.Fprintf(w, " — COVERED\n")
		} else {
			fmt.Fprintf(w, ", %s %s remaining\n", ident.FormatAmount(uint64(f.Remaining)), f.Currency)
		}
		for _, m := range f.Pledged {
			fmt.Fprintf(w, "  pledged  %s %s\n", ident.FormatAmount(uint64(m.Amount)), m.Currency)
		}
		for _, p := range f.Pledges {
			state := ""
			if p.Withdrawn {
				state = " (withdrawn)"
			}
			fmt.Fprintf(w, "  %s %s %s from %s%s\n", p.ID[:12], ident.FormatAmount(uint64(p.Amount)), p.Currency, p.OrgName, state)
		}
	case d.Letter != nil:
		l := d.Letter
		state := "open for signing"
		if l.ClosedForSigning {
			state = "signing closed"
		}
		fmt.Fprintf(w, "\nLetter: %s, %s (murmur request signatories %s)\n", plural(l.Signatures, "signature"), state, d.ID[:12])
	}
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return ": " + oneLine(s)
}

func cmdRequestSuggest(e *env, args []string) error {
	c := newFlags(e, "request suggest", "ID", "murmur request suggest 9c41d2aa")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	list, err := n.Suggest(pos[0])
	if err != nil {
		return err
	}
	return c.output(e, list, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "No member's directory entry fits this request's needs or region.")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCORE\tNAME\tWHY\tORG")
		for _, s := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Score, listed(s.Name, s.ListedAs), s.Why, s.Org[:12])
		}
		tw.Flush()
	})
}

// listed is an organisation's name with the one its directory entry
// gives, when that is another.
func listed(name, listedAs string) string {
	if listedAs == "" {
		return name
	}
	return fmt.Sprintf("%s (listed as %q)", name, listedAs)
}

func cmdRequestSignatories(e *env, args []string) error {
	c := newFlags(e, "request signatories", "ID [--format text|csv]", "murmur request signatories 9c41d2aa --format csv > signatories.csv")
	format := c.String("format", "text", "text (a list ready to publish) or csv")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	if *format != "text" && *format != "csv" {
		return usagef("--format %q: use text or csv (or --json)", *format)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	letter, list, err := n.Signatories(pos[0])
	if err != nil {
		return err
	}
	return c.output(e, list, func(w io.Writer) {
		if *format == "csv" {
			cw := csv.NewWriter(w)
			cw.Write([]string{"org", "name", "signed"})
			for _, s := range list {
				cw.Write([]string{s.Org, s.Name, s.Signed})
			}
			cw.Flush()
			return
		}
		fmt.Fprintf(w, "%s\n\nSigned by %s:\n\n", shownTitle(letter), plural(len(list), "organisation"))
		for _, s := range list {
			fmt.Fprintf(w, "%s\n", s.Name)
		}
	})
}

func cmdStats(e *env, args []string) error {
	c := newFlags(e, "stats", "", "murmur stats --json")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.Stats(e.ctx)
	if err != nil {
		return err
	}
	return c.output(e, st, func(w io.Writer) {
		if st.Total.Requests == 0 {
			fmt.Fprintln(w, "No requests yet.")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tREGION\tREQUESTS\tANSWERED\tON TIME\tMEDIAN 1ST ANSWER\tUNANSWERED, OVERDUE")
		row := func(r node.StatsRow) {
			region := r.Region
			switch region {
			case "":
				region = "-"
			case "*":
				region = "all"
			}
			kind := r.Kind
			if kind == "*" {
				kind = "all"
			}
			share := "-"
			if r.OnTimeShare != nil {
				share = fmt.Sprintf("%.0f%% of %d", 100**r.OnTimeShare, r.Due)
			}
			med := "-"
			if r.MedianFirstResponseHours != nil {
				med = hoursWord(*r.MedianFirstResponseHours)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\n", kind, region, r.Requests, r.Answered, share, med, r.UnansweredOverdue)
		}
		for _, r := range st.Rows {
			row(r)
		}
		for _, r := range st.Kinds {
			row(r)
		}
		row(st.Total)
		tw.Flush()
		fmt.Fprintf(w, "\n\"On time\": answered by another organisation before the deadline, out of the requests whose deadline passed or that were answered.\n")
	})
}

// hoursWord says a time to answer: "25 min" under an hour, "3.5 h" under
// two days, "4.2 days" beyond.
func hoursWord(h float64) string {
	switch {
	case h*60 < 59.5:
		return fmt.Sprintf("%d min", max(1, int(h*60+0.5)))
	case h < 48:
		return fmt.Sprintf("%.1f h", h)
	}
	return fmt.Sprintf("%.1f days", h/24)
}

// multiFlag is a repeatable flag whose values are kept whole (an applicant
// identifier may contain commas: "Yusuf, Amina").
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

const applicantHelp = "an identifier of the applicant; repeatable: a name (with --country), a phone number, an e-mail address, or id:NUMBER (registration, passport); prefix name:, phone:, email: to be explicit"

func cmdGrantRecord(e *env, args []string) error {
	c := newFlags(e, "grant record", "--applicant ID... [--country CC] --amount N --currency C --support TYPE [--date YYYY-MM-DD]",
		`murmur grant record --applicant "Amina Yusuf" --applicant "+255 712 345 678" --country TZ --amount 1500 --currency USD --support emergency-grant`)
	var in node.GrantInput
	var ids multiFlag
	c.Var(&ids, "applicant", applicantHelp)
	c.StringVar(&in.Country, "country", "", "the applicant's country (ISO 3166-1), for names and local phone numbers")
	c.StringVar(&in.Amount, "amount", "", "the amount granted")
	c.StringVar(&in.Currency, "currency", "", "its currency (ISO 4217)")
	c.StringVar(&in.Support, "support", "", "the support type: "+strings.Join(ident.SupportTypes, ", "))
	c.StringVar(&in.Date, "date", "", "the date of the grant (default: today)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if len(ids) == 0 || in.Amount == "" || in.Currency == "" || in.Support == "" {
		return usagef("--applicant, --amount, --currency and --support are required (see murmur grant record --help)")
	}
	in.Applicants = ids
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	rec, err := n.RecordGrant(e.ctx, in)
	if err != nil {
		return err
	}
	return c.output(e, rec, func(w io.Writer) {
		fmt.Fprintf(w, "Grant recorded (%s). The applicant's identifiers are stored only as blinded tokens.\n", rec.ID)
		if len(rec.Earlier) > 0 {
			fmt.Fprintf(w, "\nNote: %s to the same applicant recorded before:\n", plural(len(rec.Earlier), "grant"))
			printMatches(w, rec.Earlier)
		}
	})
}

func cmdGrantCheck(e *env, args []string) error {
	c := newFlags(e, "grant check", "--applicant ID... [--country CC]",
		`murmur grant check --applicant "Amina Yusuf" --applicant "0712 345 678" --country TZ`)
	var ids multiFlag
	c.Var(&ids, "applicant", applicantHelp)
	country := c.String("country", "", "the applicant's country (ISO 3166-1), for names and local phone numbers")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	if len(ids) == 0 {
		return usagef("give at least one --applicant (see murmur grant check --help)")
	}
	n, err := c.open(e) // the secret opens with the device key
	if err != nil {
		return err
	}
	defer n.Close()
	res, err := n.CheckGrant(ids, *country)
	if err != nil {
		return err
	}
	return c.output(e, res, func(w io.Writer) {
		if len(res.Matches) == 0 {
			fmt.Fprintln(w, "No grant to this applicant is recorded on this node. (Checked locally; no one was told.)")
		} else {
			fmt.Fprintf(w, "%s to this applicant recorded:\n", plural(len(res.Matches), "grant"))
			printMatches(w, res.Matches)
		}
		if res.NotComparable > 0 {
			fmt.Fprintf(w, "\n%s made under another network secret cannot be compared.\n", plural(res.NotComparable, "grant record"))
		}
	})
}

func printMatches(w io.Writer, ms []node.GrantMatch) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DATE\tBY\tAMOUNT\tSUPPORT\tMATCHED ON")
	for _, m := range ms {
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\n", m.Date, m.OrgName, ident.FormatAmount(uint64(m.Amount)), m.Currency, m.Support, strings.Join(m.MatchedOn, ", "))
	}
	tw.Flush()
}

func cmdRedact(e *env, args []string) error {
	c := newFlags(e, "redact", "ID --reason TEXT [--yes]\n\n"+
		"Takes back the words of one of your organisation's entries, on every node:\n"+
		"a request's title and text, an answer's text, a sealed entry's details.\n"+
		"The facts stay: the entry keeps its kind, type of answer, region,\n"+
		"addressees, deadline and its place in every count. Members see\n"+
		"\"redacted by ORG on DATE: REASON\" where the words were. The reason is required\n"+
		"and is shown to every member, even for a sealed entry only its addressees\n"+
		"could read: it must not name anyone or repeat what is taken back.",
		`murmur redact 9c41d2aa --reason "named the defender"`)
	reason := c.String("reason", "", "why (required; shown to every member, even for a sealed entry: name no one)")
	yes := c.Bool("yes", false, "do not ask for confirmation (needed with --json, or when the input is not a terminal)")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return usagef("say why with --reason: every member is shown who redacted what, when and why")
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := confirmRedaction(e, c, n, pos[0], *yes); err != nil {
		return err
	}
	ent, err := n.Redact(e.ctx, pos[0], *reason)
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Redaction recorded (%s): every node drops the words and keeps the entry, its counts and its place.\n", ent.ID())
	})
}

func cmdRequestShare(e *env, args []string) error {
	c := newFlags(e, "request share", "ID --to ORG...", "murmur request share 9c41d2aa --to 5c1e09ab")
	to := c.list("to", "an organisation to give access to (its name, ID or ID prefix, as murmur members shows them); repeatable")
	pos, err := c.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	if len(*to.vals) == 0 {
		return usagef("name at least one organisation with --to")
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.Share(e.ctx, pos[0], *to.vals)
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Shared (%s): the organisations named can read the sealed details once this reaches them.\n", ent.ID())
	})
}
