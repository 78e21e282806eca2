package main

// When something is wrong with a data directory: murmur doctor, repair,
// backup and restore (node/doctor.go, node/repair.go, node/backup.go).

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/murmurnet/murmur/node"
)

func cmdDoctor(e *env, args []string) error {
	c := newFlags(e, "doctor", "[--json]",
		"murmur doctor\n\n"+
			"Checks this data directory: the settings, the device key, the files sealed\n"+
			"under it, and the database (SQLite's integrity check, every stored entry\n"+
			"decoded and its signature verified, each device's chain of entries whole).\n"+
			"Says what is wrong, in plain words, and what to do. Changes nothing.\n"+
			"Exit status 0 when all is well, 1 when something is wrong.")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	d, err := node.Diagnose(e.ctx, dir, passphraseFrom(e, "Passphrase for "+dir))
	if err != nil {
		return err
	}
	for i := range d.Findings { // (what they say to run, with this --dir)
		d.Findings[i].Problem, d.Findings[i].Do = e.withDir(d.Findings[i].Problem), e.withDir(d.Findings[i].Do)
	}
	if err := c.output(e, d, func(w io.Writer) {
		fmt.Fprintf(w, "Checked %s:\n", dir)
		for _, ok := range d.Checked {
			fmt.Fprintf(w, "  ok       %s\n", ok)
		}
		for _, f := range d.Findings {
			fmt.Fprintf(w, "  PROBLEM  %s: %s\n           what to do: %s\n", f.Part, f.Problem, f.Do)
		}
		if m := d.Recovering; m != nil {
			fmt.Fprintf(w, "\nThe database was rebuilt (%s) on %s. This device writes again once its node has synced with a member's node: start `%s` with a member reachable.\n", m.How, m.When.Local().Format("Mon 2 Jan 15:04"), c.command("run"))
		}
		if d.Healthy {
			fmt.Fprintf(w, "\nAll is well.\n")
		}
	}); err != nil {
		return err
	}
	if !d.Healthy {
		where := "what to do is above"
		if c.json {
			where = "see findings in the JSON"
		}
		return fmt.Errorf("%s found in %s (%s)", count(len(d.Findings), "problem", "problems"), dir, where)
	}
	return nil
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func cmdRepair(e *env, args []string) error {
	c := newFlags(e, "repair", "[--force | --resume-writes] [--json]",
		"murmur repair && murmur run --peer /ip4/192.0.2.7/tcp/4721/p2p/12D3KooWExample\n\n"+
			"Rebuilds a damaged database from what still verifies in it, keeping this\n"+
			"device's keys. The damaged file is moved aside (murmur.db.damaged-TIME), never\n"+
			"deleted. What was lost comes back from members' nodes when `murmur run` next\n"+
			"reaches one: name one with --peer if the database lost who the members are.\n"+
			"Until it has synced with a member's node, this device writes nothing, so that\n"+
			"it never signs two different entries at one place in its chain.\n"+
			"Stop the node first. The network's only node, with no member to sync with,\n"+
			"lets itself write again with --resume-writes; in a network with other\n"+
			"members that is refused (unless --force): run `murmur run` with a member's\n"+
			"node reachable instead.")
	force := c.Bool("force", false, "rebuild the database even if murmur doctor finds nothing wrong with it; with --resume-writes, resume even though the network has other members")
	resume := c.Bool("resume-writes", false, "after a repair or restore, let this device write again without waiting for a sync with a member's node: only for the network's only node (if entries this device wrote reached another node and were lost here, its next entries fork with them)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	if *resume {
		m, err := node.ResumeWrites(e.ctx, dir, passphraseFrom(e, "Passphrase for "+dir), *force)
		if err != nil {
			return err
		}
		return c.output(e, struct {
			Resumed bool             `json:"resumed"`
			Mark    *node.RepairMark `json:"was"`
		}{true, m}, func(w io.Writer) {
			fmt.Fprintf(w, "This device writes again, without having synced since the %s. If entries it wrote reached another node and were lost here, its next entries fork with them.\n", m.How)
		})
	}
	rep, err := node.Repair(e.ctx, dir, passphraseFrom(e, "Passphrase for "+dir), *force)
	if err != nil {
		return err
	}
	return c.output(e, rep, func(w io.Writer) {
		fmt.Fprintf(w, "Rebuilt the database in %s.\n\n", dir)
		for _, a := range rep.Aside {
			fmt.Fprintf(w, "  moved aside  %s\n", filepath.Base(a))
		}
		switch {
		case rep.NotDatabase && rep.Salvaged == 0:
			fmt.Fprintf(w, "  read back    nothing: the damaged file could not be read as a database\n")
		default:
			fmt.Fprintf(w, "  read back    %s", count(rep.Salvaged, "entry", "entries"))
			if rep.FromPages > 0 {
				fmt.Fprintf(w, " (%d of them from pages the database no longer led to)", rep.FromPages)
			}
			if rep.Unreadable > 0 {
				fmt.Fprintf(w, "; %s could not be read", count(rep.Unreadable, "entry", "entries"))
			}
			fmt.Fprintln(w)
		}
		if rep.Refused > 0 {
			fmt.Fprintf(w, "  left out     %s that no longer verify\n", count(rep.Refused, "entry", "entries"))
		}
		fmt.Fprintf(w, "  now holds    %s", count(rep.Entries, "entry", "entries"))
		if rep.OwnHead > 0 {
			fmt.Fprintf(w, "; this device's last one is its entry %d", rep.OwnHead)
		}
		fmt.Fprintln(w)
		if rep.Contacts > 0 {
			fmt.Fprintf(w, "  remembers    %s of members' nodes\n", count(rep.Contacts, "address", "addresses"))
		}
		fmt.Fprintf(w, "\nNext: `%s` fetches what was lost from members' nodes. If the node reaches none, name one: `%s --peer ADDRESS` (as a member's `murmur run` prints it).\n", c.command("run"), c.command("run"))
		fmt.Fprintf(w, "Until it has synced with a member's node, this device writes nothing: it may have lost entries it wrote, and must not sign two different entries at one place in its chain.\n")
		fmt.Fprintf(w, "The damaged file is kept; delete it once the node has caught up.\n")
	})
}

func cmdBackup(e *env, args []string) error {
	c := newFlags(e, "backup", "FILE [--no-passphrase] [--json]",
		"murmur backup /media/usb/murmur-defenders-fund.backup\n\n"+
			"Writes one file with this device's key, the network's keys, every entry and\n"+
			"the remembered addresses of members' nodes, sealed under the passphrase (the\n"+
			"device key's own passphrase if it has one, else a new one: typed twice, or\n"+
			"MURMUR_PASSPHRASE). Keep it somewhere safe, away from this machine.\n"+
			"`murmur restore FILE` brings it back on another machine.")
	noPass := c.Bool("no-passphrase", false, "write the backup without a passphrase (only for a throwaway test directory whose key has none: whoever holds the file holds the key)")
	pos, err := c.parseArgs(args, "FILE")
	if err != nil {
		return err
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	protected, err := node.KeyProtected(dir)
	if err != nil {
		return err
	}
	var pass []byte
	switch {
	case protected && *noPass:
		return usagef("this device's key is protected by a passphrase, so its backup is too: leave out --no-passphrase")
	case protected:
		if pass, err = passphraseFrom(e, "Passphrase for "+dir)(); err != nil {
			return err
		}
	case !*noPass:
		if pass, err = backupPassphrase(e); err != nil {
			return err
		}
	}
	n, err := node.OpenWith(e.ctx, dir, func() ([]byte, error) { return pass, nil })
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.Backup(e.ctx, pos[0], pass)
	if err != nil {
		return err
	}
	return c.output(e, rep, func(w io.Writer) {
		fmt.Fprintf(w, "Wrote %s: this device's keys, %s and %s.\n", rep.File, count(rep.Entries, "entry", "entries"), count(rep.Contacts, "remembered address", "remembered addresses"))
		if rep.Protected {
			fmt.Fprintf(w, "It is sealed under the passphrase: without it, the file is no use to anyone, you included.\n")
		} else {
			fmt.Fprintf(w, "It has NO passphrase: whoever holds the file holds this device's key. Use this only for test networks.\n")
		}
		fmt.Fprintf(w, "Bring it back with `murmur restore %s --dir NEWDIR`.\n", shellWord(rep.File))
	})
}

// backupPassphrase asks for a new passphrase for the backup of a
// directory whose key has none.
func backupPassphrase(e *env) ([]byte, error) {
	p, err := newPassphrase(e)
	var u usageError
	if errors.As(err, &u) && e.given == nil {
		return nil, usagef("a backup holds this device's key: choose a passphrase for it (type it at the prompt, or set MURMUR_PASSPHRASE); --no-passphrase only for a throwaway test directory")
	}
	return p, err
}

func cmdRestore(e *env, args []string) error {
	c := newFlags(e, "restore", "FILE [--dir NEWDIR] [--json]",
		"murmur restore /media/usb/murmur-defenders-fund.backup --dir ~/murmur\n\n"+
			"Brings a backup made with `murmur backup` back into an empty data directory,\n"+
			"on this machine or a new one; it refuses a directory that holds anything. The\n"+
			"device key is kept under the backup's passphrase. Then `murmur run` fetches\n"+
			"what members wrote since the backup. Until it has synced with a member's\n"+
			"node, this device writes nothing. Do not run the old machine's node any more:\n"+
			"one device key must be in use in one place only.")
	pos, err := c.parseArgs(args, "FILE")
	if err != nil {
		return err
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	rep, err := node.Restore(e.ctx, pos[0], dir, passphraseFrom(e, "Passphrase of the backup"))
	if err != nil {
		return err
	}
	return c.output(e, rep, func(w io.Writer) {
		fmt.Fprintf(w, "Restored the backup of %s into %s: %s.\n", rep.Written.Local().Format("Mon 2 Jan 2006 15:04"), dir, count(rep.Entries, "entry", "entries"))
		if rep.Waiting > 0 {
			fmt.Fprintf(w, "%s wait for earlier entries the backup did not hold; members' nodes bring them.\n", count(rep.Waiting, "entry", "entries"))
		}
		if rep.Held > 0 {
			fmt.Fprintf(w, "%s are held: written by devices this node does not know to be admitted yet.\n", count(rep.Held, "entry", "entries"))
		}
		fmt.Fprintf(w, "\nNext: `%s` fetches what members wrote since (name a member's node with --peer if none is found).\n", c.command("run"))
		fmt.Fprintf(w, "Until it has synced with a member's node, this device writes nothing: entries it wrote after the backup must come back first.\n")
	})
}
