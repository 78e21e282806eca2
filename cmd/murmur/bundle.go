package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/murmurnet/murmur/node"
)

// Bundles carry the network where no link goes (node/bundle.go).

func cmdBundleSummary(e *env, args []string) error {
	c := newFlags(e, "bundle summary", "FILE [--json]\n\n"+
		`Writes what this node holds into FILE, a few hundred bytes sealed like a
bundle. Carry it to a member whose node can answer: they run
  murmur bundle export ANSWER --for FILE
and bring ANSWER back, which holds exactly what this node lacks. A bundle
this node exports carries its summary too, so one trip can carry both.`,
		"murmur bundle summary /media/usb/field-office.summary")
	pos, err := c.parseArgs(args, "FILE")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.WriteSummary(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return c.output(e, rep, func(w io.Writer) {
		fmt.Fprintf(w, "Wrote %s (%s): what this node holds, the entries of %s.\n", rep.File, size(rep.Bytes), plural(rep.Devices, "device"))
		fmt.Fprintf(w, "A member's node answers it with: murmur bundle export ANSWER --for %s\n", rep.File)
	})
}

func cmdBundleExport(e *env, args []string) error {
	c := newFlags(e, "bundle export", "FILE [--for SUMMARY | --since DATE | --org ORG] [--to ORG] [--split SIZE] [--json]\n\n"+
		`Writes entries this node holds into FILE, compressed and sealed: only
members' nodes can read it, and it does not show which network it belongs
to, who is in it or how many entries it holds. Carry it on a USB stick or
SD card, attach it to an e-mail or send it through a messenger; the other
side runs murmur bundle import FILE.

Without a choice it writes every entry. Smaller:
  --for SUMMARY  what the node that made SUMMARY lacks (a summary file, or a
                 bundle that node exported: each carries what it held)
  --org ORG      what ORG's node lacked when this node last synced with it,
                 or last read its summary or bundle
  --since DATE   entries written since DATE (2026-11-20, 2026-11-20T14:00,
                 or 3d, 12h for days or hours ago)

--to ORG seals the entries for that organisation alone: other members'
nodes cannot read them either. --split SIZE (10MB, 500KB) writes numbered
parts FILE.001, FILE.002 ... for carriers with size limits; import takes them
in any order.`,
		"murmur bundle export /media/usb/for-field-office.bundle --for /media/usb/field-office.summary")
	forFile := c.String("for", "", "a summary (or bundle) file the recipient made: write only what it lacks")
	since := c.String("since", "", "write only entries written since this date (2026-11-20, 2026-11-20T14:00, 3d, 12h)")
	org := c.String("org", "", "write only what this organisation's node was last known to lack")
	to := c.String("to", "", "seal the entries for this organisation alone")
	split := c.String("split", "", "write numbered parts of at most this size (10MB, 500KB)")
	pos, err := c.parseArgs(args, "FILE")
	if err != nil {
		return err
	}
	chosen := 0
	for _, s := range []string{*forFile, *since, *org} {
		if s != "" {
			chosen++
		}
	}
	if chosen > 1 {
		return usagef("choose one of --for, --since and --org")
	}
	o := node.BundleOptions{For: *forFile, Org: *org, To: *to}
	if *since != "" {
		if o.Since, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	}
	if *split != "" {
		if o.Split, err = parseSize(*split); err != nil {
			return err
		}
	}
	if *forFile != "" {
		if _, err := os.Stat(*forFile); err != nil {
			return usagef("--for %s: there is no such file (give the summary or bundle the other side made)", *forFile)
		}
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	bar := newProgressBar(e, c.json, "writing")
	o.Progress = bar.show
	rep, err := n.ExportBundle(e.ctx, pos[0], o)
	bar.done()
	if err != nil {
		return err
	}
	return c.output(e, rep, func(w io.Writer) {
		what := "every entry this node holds"
		if rep.Basis != "" {
			what = "entries beyond " + rep.Basis
			if strings.HasPrefix(rep.Basis, "entries written") {
				what = rep.Basis
			}
		}
		fmt.Fprintf(w, "Wrote %s (%s) to %s: %s.\n", plural(rep.Entries, "entry", "entries"), size(rep.Bytes), strings.Join(rep.Files, ", "), what)
		if rep.To != "" {
			fmt.Fprintf(w, "Only %s's nodes can read the entries in it.\n", rep.To)
		}
		switch {
		case rep.Entries == 0 && *since != "":
			fmt.Fprintf(w, "No entry was written since then. The file still carries this node's summary, so the other side can answer it.\n")
		case rep.Entries == 0:
			fmt.Fprintf(w, "The recipient lacks nothing this node holds. The file still carries this node's summary, so the other side can answer it.\n")
		}
		fmt.Fprintf(w, "The other side runs: murmur bundle import %s\n", strings.Join(rep.Files, " "))
	})
}

func cmdBundleImport(e *env, args []string) error {
	c := newFlags(e, "bundle import", "FILE... [--json]\n\n"+
		`Takes in the entries of bundle files, with the same checks as entries
from the network: a file from another network, cut short or altered is
refused whole, and nothing of it is stored. Files and parts may come in any
order; importing a file twice stores nothing twice, and an import cut off
keeps what it stored: run it again to take the rest. A running node sends
what came to the members it reaches.`,
		"murmur bundle import /media/usb/for-field-office.bundle")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("murmur bundle import takes one or more bundle files (see --help)")
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	bar := newProgressBar(e, c.json, "importing")
	rep, err := n.ImportBundles(e.ctx, pos, bar.show)
	bar.done()
	if err != nil {
		return err
	}
	if err := c.output(e, rep, func(w io.Writer) {
		fmt.Fprintf(w, "Imported %s: %d new, %d already held, %d refused.\n", plural(rep.Files, "file"), rep.New, rep.Held, rep.Refused)
		switch {
		case rep.StillWaiting > rep.Waiting:
			fmt.Fprintf(w, "%s this node holds wait for entries it lacks (%d of them from this import): they count once those come. If a part of a split export never came, ask for it again, or send its maker a summary (murmur bundle summary FILE): the answer brings exactly what is missing.\n", plural(rep.StillWaiting, "entry", "entries"), rep.Waiting)
		case rep.Waiting > 0:
			fmt.Fprintf(w, "%s of the new ones wait for entries this node does not hold yet; they count once those come (by the network, or in another bundle).\n", plural(rep.Waiting, "entry", "entries"))
		}
		if rep.Dropped > 0 {
			fmt.Fprintf(w, "%s could not wait that long (the room for waiting entries is full): import the parts they need, then these files again.\n", plural(rep.Dropped, "entry", "entries"))
		}
		var whys []string
		for why := range rep.Why {
			whys = append(whys, why)
		}
		sort.Strings(whys)
		for _, why := range whys {
			fmt.Fprintf(w, "Refused %s: %s.\n", plural(rep.Why[why], "entry", "entries"), why)
		}
		switch {
		case len(rep.From) == 1 && len(rep.Imported) > 0:
			fmt.Fprintf(w, "Made by %s's node. To answer with what it lacks: murmur bundle export ANSWER --for %s\n", rep.From[0], rep.Imported[len(rep.Imported)-1])
		case len(rep.From) > 1:
			fmt.Fprintf(w, "Made by the nodes of %s. To answer one with what it lacks: murmur bundle export ANSWER --for ITS-FILE\n", strings.Join(rep.From, ", "))
		}
		if len(rep.Missing) > 0 && rep.Waiting+rep.Dropped > 0 {
			fmt.Fprintf(w, "Not given here: %s of a split export. If they were not imported before, import them when they come: entries wait for them.\n", strings.Join(rep.Missing, "; "))
		}
		for _, f := range rep.Skipped {
			fmt.Fprintf(w, "Skipped %s: a summary, not a bundle (answer it with: murmur bundle export ANSWER --for %s).\n", f, f)
		}
	}); err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		var ps []string
		for _, p := range rep.Problems {
			ps = append(ps, filepath.Base(p.File)+": "+p.Problem)
		}
		return fmt.Errorf("%s; the other files were imported", strings.Join(ps, "; "))
	}
	return nil
}

// parseSince reads --since: a date, a date and time (local), RFC 3339, or
// a number of days or hours ago.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, ok := time.Time{}, false
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if v, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			t, ok = v, true
			break
		}
	}
	if v, err := time.Parse(time.RFC3339, s); !ok && err == nil {
		t, ok = v, true
	}
	if !ok && len(s) > 1 {
		if k, err := strconv.Atoi(s[:len(s)-1]); err == nil && k >= 0 && k <= 100*366*24 {
			switch s[len(s)-1] {
			case 'd':
				t, ok = now.AddDate(0, 0, -k), k <= 100*366
			case 'h':
				t, ok = now.Add(-time.Duration(k)*time.Hour), true
			}
		}
	}
	if ok && t.After(now) {
		return time.Time{}, usagef("--since %s is in the future: give a day or time already past", s)
	}
	if ok {
		return t, nil
	}
	return time.Time{}, usagef("--since takes a date (2026-11-20), a date and time (2026-11-20T14:00), or days or hours ago (3d, 12h), not %q", s)
}

// parseSize reads --split: a number of bytes with KB, MB or GB (powers of
// 1000, as carriers state their limits).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, usagef("--split takes a size such as 10MB or 500KB, not %q", s)
	}
	return int64(v * float64(mult)), nil
}

// size says a number of bytes for a person.
func size(b int64) string {
	switch {
	case b >= 10e6:
		return fmt.Sprintf("%.0f MB", float64(b)/1e6)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.0f KB", float64(b)/1e3)
	}
	return fmt.Sprintf("%d bytes", b)
}

// progressBar draws how far an export or import has gone on the terminal,
// for work of more than a few hundred entries; nothing when stderr is not a
// terminal or the output is JSON.
type progressBar struct {
	w      io.Writer
	verb   string
	start  time.Time
	last   time.Time
	drawn  bool
	active bool
}

// progressMin is the work, in entries, from which a bar is drawn.
const progressMin = 300

// isTerminalOut reports whether w is a terminal (tests replace it).
var isTerminalOut = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgressBar(e *env, asJSON bool, verb string) *progressBar {
	return &progressBar{w: e.stderr, verb: verb, start: time.Now(), active: !asJSON && isTerminalOut(e.stderr)}
}

func (b *progressBar) show(p node.Progress) {
	if !b.active || p.Total < progressMin {
		return
	}
	now := time.Now()
	if b.drawn && now.Sub(b.last) < 100*time.Millisecond && p.Done < p.Total {
		return
	}
	b.last, b.drawn = now, true
	const width = 24
	filled := width * p.Done / p.Total
	left := ""
	if el := now.Sub(b.start); p.Done > 0 && p.Done < p.Total && el > time.Second {
		rest := time.Duration(float64(el) * float64(p.Total-p.Done) / float64(p.Done))
		left = " · about " + roughly(rest) + " left"
	}
	fmt.Fprintf(b.w, "\r%s [%s%s] %d of %d entries · %s%s\x1b[K", b.verb, strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.Done, p.Total, size(p.Bytes), left)
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
}

// roughly says a duration to the second or minute.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds())+1)
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes())+1)
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}
