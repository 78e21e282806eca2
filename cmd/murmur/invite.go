package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

type codeOut struct {
	Code    string   `json:"code"`    // 30 characters, grouped by dashes
	Addrs   []string `json:"addrs"`   // IP addresses of this node, beside the code
	QR      string   `json:"qr"`      // what the QR code holds: the code and the addresses
	Expires string   `json:"expires"` // RFC 3339, exact
}

func cmdInvite(e *env, args []string) error {
	return invite(e, args, "invite", crdt.InviteOrganisation,
		`murmur invite --expires 48h`+inviteHelp)
}

func cmdDeviceInvite(e *env, args []string) error {
	return invite(e, args, "device invite", crdt.InviteDevice,
		`murmur device invite --expires 2h --no-qr`+inviteHelp)
}

const inviteHelp = `

The code is 30 characters in six groups of five (dashes, spaces and case
do not matter when it is typed), valid once, until the exact moment printed
in local time (--expires: from 1 minute to 30 days). Beside it: this node's
IP addresses, needed only when the new machine is not on this local
network, and a QR code holding the code and the addresses. This node lets
the joiner in at a TCP port of the invite's own (printed) while
murmur run runs here.

Give the code only to the person it is for, by a channel you trust:
whoever uses it first joins. Where admission takes more than one
steward's approval, the joiner's node receives nothing of the network
(not its key, not its members, no content) until the other stewards
approve with murmur approve; it asks this node again until then, so keep
murmur run running here. A joiner whose name is too close to a member's is
refused without being told whose; after three such tries this node closes
the invite and says so in its log (make a new one if the rightful joiner
still needs it).`

// exactTime is a moment as people read it: local time, to the minute,
// with the day and the time zone.
func exactTime(t time.Time) string { return t.Local().Format("Mon 2 Jan 2006 15:04 MST") }

func invite(e *env, args []string, name string, purpose crdt.InvitePurpose, example string) error {
	c := newFlags(e, name, "[--expires DURATION] [--no-qr] [--addr ADDRESS]...", example)
	expires := c.String("expires", "72h", "how long the code stays valid, from 1 minute to 30 days (30m, 48h, 7d)")
	c.Bool("qr", true, "print the QR code (on unless --no-qr)")
	noQR := c.Bool("no-qr", false, "do not print the QR code")
	addrs := c.list("addr", "an IP address (or multiaddr) where the joiner can reach this node, printed beside the code (default: where it runs, or this machine's addresses)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	d, err := parseDuration(*expires)
	if err != nil {
		return usagef("--expires %q: %v", *expires, err)
	}
	if d <= 0 {
		return usagef("--expires %q: an invite must stay valid for some time (from 1 minute to 30 days, for example 30m, 48h or 7d)", *expires)
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	code, err := n.Invite(e.ctx, node.InviteOptions{Purpose: purpose, Expires: d, Addrs: *addrs.vals})
	if err != nil {
		return err
	}
	text := code.String()
	out := codeOut{Code: text, Addrs: []string{}, QR: code.QRText(), Expires: code.Expires.Format(time.RFC3339)}
	for _, a := range code.Addrs {
		out.Addrs = append(out.Addrs, a.String())
	}
	return c.output(e, out, func(w io.Writer) {
		what := "another organisation to join the network"
		org := ` --org "THEIR ORGANISATION'S NAME"`
		if purpose == crdt.InviteDevice {
			what, org = "another device of your organisation", ""
		}
		fmt.Fprintf(w, "Invite code for %s, valid once, until %s:\n\n  %s\n\n", what, exactTime(code.Expires), text)
		if line := code.AddrLine(); line != "" {
			fmt.Fprintf(w, "This node's addresses (needed only if the new machine is not on this local network):\n\n  %s\n\n", line)
		}
		if !*noQR {
			fmt.Fprintf(w, "The QR code holds the code and the addresses:\n\n")
			printQR(w, code.QRText())
			fmt.Fprintln(w)
		}
		var withAddrs string
		for _, a := range code.Addrs {
			withAddrs += " --addr " + a.String()
		}
		fmt.Fprintf(w, "On the new machine:\n  murmur join CODE%s%s\n  murmur run\n", withAddrs, org)
		fmt.Fprintf(w, "The join completes when that node reaches this one (keep `%s` going here): on this local network it finds it by itself; elsewhere it needs the addresses above.\n", c.command("run"))
		fmt.Fprintf(w, "This node lets the joiner in at TCP port %d, this invite's own, until the invite expires. Let that port through a firewall as you do this node's.\n", p2p.DoorPort(code.Secret))
	})
}

// parseDuration reads Go durations and days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err != nil || days <= 0 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// printQR draws a QR code with half-block characters, light modules as
// blocks (as qrencode does), so that it scans on a dark terminal.
func printQR(w io.Writer, text string) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		fmt.Fprintf(w, "  (no QR code: %v)\n", err)
		return
	}
	const quiet = 2
	dark := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < code.Size && y < code.Size && code.Black(x, y)
	}
	for y := -quiet; y < code.Size+quiet; y += 2 {
		var sb strings.Builder
		sb.WriteString("  ")
		for x := -quiet; x < code.Size+quiet; x++ {
			top, bottom := !dark(x, y), !dark(x, y+1) && y+1 < code.Size+quiet
			switch {
			case top && bottom:
				sb.WriteRune('█')
			case top:
				sb.WriteRune('▀')
			case bottom:
				sb.WriteRune('▄')
			default:
				sb.WriteRune(' ')
			}
		}
		fmt.Fprintln(w, sb.String())
	}
}

type joinOut struct {
	Network string `json:"network"` // the start of the network's ID the code names, until the join completes
	Org     string `json:"org"`
	Device  string `json:"device"`
	Peer    string `json:"peer"`
	Joining bool   `json:"joining"`
	Expires string `json:"invite_expires"`
}

func cmdJoin(e *env, args []string) error {
	c := newFlags(e, "join", "CODE [--addr ADDRESS]... [--org NAME] [--no-passphrase]", `murmur join 8R2KX-4M7QD-... --addr 192.168.1.20 --org "Defenders Fund"

CODE is the invite code (30 characters; dashes, spaces and case do not
matter), or the QR code's text whole (the code and the inviter's
addresses). Nothing is sent: murmur run then reaches the inviter, by mDNS
on its local network, else at the addresses given here or with
murmur run --peer. An expired code is refused here, offline.`)
	org := c.String("org", "", "your organisation's name (for an invite to a new organisation): one no member has, nor one that looks like it")
	noPass := c.Bool("no-passphrase", false, "store the device key unprotected (only for throwaway test networks)")
	addrs := c.list("addr", "an address of the inviter's node, as printed beside the code (repeatable; not needed on the inviter's local network)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("murmur join takes CODE (see --help)")
	}
	// The code may be typed in groups with spaces, or be the QR code's
	// text: the code and addresses.
	code, err := node.ParseInviteCode(strings.Join(pos, " "))
	if err != nil {
		return usagef("%v", err)
	}
	for _, s := range *addrs.vals {
		ip, err := node.ParseInviteAddr(s)
		if err != nil {
			return usagef("--addr: %v", err)
		}
		if !slices.Contains(code.Addrs, ip) {
			code.Addrs = append(code.Addrs, ip)
		}
	}
	// Refused offline too: the code says when it expires.
	if !time.Now().Before(code.Expires) {
		return fmt.Errorf("%w (it expired %s)", node.ErrInviteExpired, exactTime(code.Expires))
	}
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	if node.Initialised(dir) || node.Joining(dir) {
		return node.ErrAlreadyInitialised
	}
	var pass []byte
	if !*noPass {
		if pass, err = newPassphrase(e); err != nil {
			return err
		}
	}
	device, err := node.PrepareJoin(dir, code, node.JoinOptions{OrgName: *org, Passphrase: pass})
	if err != nil {
		return err
	}
	pid, _ := node.PeerID(device)
	out := joinOut{Network: hex.EncodeToString(code.Network[:]), Device: device.String(), Peer: pid.String(), Joining: true, Expires: code.Expires.Format(time.RFC3339)}
	if code.Purpose == crdt.InviteOrganisation {
		out.Org = crdt.OrgIDFor(device).String()
	}
	return c.output(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "Ready to join (the invite is valid until %s).\n", exactTime(code.Expires))
		fmt.Fprintf(w, "Now run:\n  %s\nIt reaches the inviter, completes the join, and keeps running as your node.\n", c.command("run"))
		if len(code.Addrs) == 0 {
			fmt.Fprintf(w, "No address came with the code: the inviter's node is looked for on this local network. Elsewhere, give its address: %s --peer ADDRESS.\n", c.command("run"))
		}
	})
}

func cmdApprove(e *env, args []string) error {
	c := newFlags(e, "approve", `ORG

Your steward organisation's approval of an organisation awaiting admission
(where admission takes more than one steward's approval). ORG is its name
or ID, as murmur members shows them. Once enough stewards approved, the
joiner's node completes its join the next time it asks the inviter's node.`, `murmur approve "Delta Defenders"`)
	pos, err := c.parseArgs(args, "ORG")
	if err != nil {
		return err
	}
	n, err := c.open(e)
	if err != nil {
		return err
	}
	defer n.Close()
	ent, err := n.Approve(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return c.output(e, idOut{ent.ID().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Approved (%s). `murmur members` shows whether more approvals are needed.\n", ent.ID())
	})
}

type joiningOut struct {
	Joining bool     `json:"joining"`
	Network string   `json:"network"`
	OrgName string   `json:"org_name,omitempty"`
	Device  string   `json:"device"`
	Peer    string   `json:"peer"`
	Addrs   []string `json:"inviter_addrs"`
	Expires string   `json:"invite_expires"`
	Running bool     `json:"running"`
	// Pending: the inviter's node accepted the invite and the
	// organisation awaits more stewards' approval ("1 of 2 approvals"),
	// as it said at PendingAt (RFC 3339); empty before it answered.
	Pending   string `json:"pending,omitempty"`
	PendingAt string `json:"pending_at,omitempty"`
	// Org is the joining organisation's ID (an organisation invite): what
	// the stewards approve it by.
	Org string `json:"org,omitempty"`
}

// joiningStatus describes a data directory whose join is not complete.
func joiningStatus(e *env, c *cmdFlags, dir string) error {
	info, err := node.ReadJoin(dir)
	if err != nil {
		return err
	}
	pid, _ := node.PeerID(info.Device)
	out := joiningOut{Joining: true, Network: hex.EncodeToString(info.Code.Network[:]), OrgName: info.OrgName,
		Device: info.Device.String(), Peer: pid.String(), Addrs: []string{}, Expires: info.Code.Expires.UTC().Format(time.RFC3339)}
	for _, a := range info.Code.Addrs {
		out.Addrs = append(out.Addrs, a.String())
	}
	if info.Pending != "" {
		out.Pending, out.PendingAt = info.Pending, info.PendingAt.UTC().Format(time.RFC3339)
	}
	if info.Code.Purpose == crdt.InviteOrganisation {
		out.Org = crdt.OrgIDFor(info.Device).String()
	}
	return c.output(e, out, func(w io.Writer) {
		if out.Pending != "" {
			fmt.Fprintf(w, "This node is joining a network (%s...). The inviter's node accepted the invite,\n", out.Network)
			fmt.Fprintf(w, "and %s awaits the other stewards' approval: %s, as of %s.\n", out.OrgName, out.Pending, exactTime(info.PendingAt))
			fmt.Fprintf(w, "  organisation ID  %s\n  device           %s\n", out.Org, out.Device)
			fmt.Fprintf(w, "Give the stewards your organisation's ID, so that they approve yours and no other under its name (murmur approve %s).\n", out.Org[:12])
			fmt.Fprintf(w, "Keep `%s` running: it asks the inviter's node again, and completes the join once they approve.\n", c.command("run"))
			return
		}
		fmt.Fprintf(w, "This node is joining a network (%s...) and has not reached it yet.\n", out.Network)
		where := strings.Join(out.Addrs, " ")
		if where == "" {
			where = "(no address given: looked for on the local network)"
		}
		fmt.Fprintf(w, "  inviter  %s\n  device   %s\n  invite valid until %s\n", where, out.Device, exactTime(info.Code.Expires))
		fmt.Fprintf(w, "Run `%s` while the inviter's node is reachable: it completes the join.\n", c.command("run"))
	})
}
