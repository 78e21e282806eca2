package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

type codeOut struct {
	Code string `json:"code"`
}

func cmdInvite(e *env, args []string) error {
	return invite(e, args, "invite", crdt.InviteOrganisation,
		`murmur invite --expires 48h --qr`)
}

func cmdDeviceInvite(e *env, args []string) error {
	return invite(e, args, "device invite", crdt.InviteDevice,
		`murmur device invite --expires 2h`)
}

func invite(e *env, args []string, name string, purpose crdt.InvitePurpose, example string) error {
	c := newFlags(e, name, "[--expires DURATION] [--qr] [--addr MULTIADDR]...", example)
	expires := c.String("expires", "72h", "how long the code stays valid (30m, 48h, 7d)")
	showQR := c.Bool("qr", false, "also print the code as a QR code")
	addrs := c.list("addr", "an address where the joiner can reach this node (default: where it runs, or this machine's addresses)")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	d, err := parseDuration(*expires)
	if err != nil {
		return usagef("--expires %q: %v", *expires, err)
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
	return c.output(e, codeOut{text}, func(w io.Writer) {
		what := "another organisation to join the network"
		then := `murmur join CODE --org "THEIR ORGANISATION'S NAME"`
		if purpose == crdt.InviteDevice {
			what, then = "another device of your organisation", "murmur join CODE"
		}
		fmt.Fprintf(w, "Invite code for %s, valid once, until %s:\n\n  %s\n\n", what, code.Expires.Local().Format("2 Jan 2006 15:04"), text)
		if *showQR {
			printQR(w, text)
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "On the new machine:\n  %s\n  murmur run\nThe join completes when that node reaches this one (keep `murmur run` going here).\n", then)
		if code.Private && len(code.Addrs) > 0 {
			fmt.Fprintf(w, "The code does not carry the network's key: this node hands it over at TCP port %d, this invite's own, until the invite is used or expires. Let that port through a firewall as you do this node's.\n", code.Addrs[0].AddrPort.Port())
		}
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
	Network string `json:"network"` // the first half of the network's ID, until the join completes
	Org     string `json:"org"`
	Device  string `json:"device"`
	Peer    string `json:"peer"`
	Joining bool   `json:"joining"`
}

func cmdJoin(e *env, args []string) error {
	c := newFlags(e, "join", "CODE [--org NAME] [--no-passphrase]", `murmur join 08R2K-... --org "Defenders Fund"`)
	org := c.String("org", "", "your organisation's name (for an invite to a new organisation)")
	noPass := c.Bool("no-passphrase", false, "store the device key unprotected (only for throwaway test networks)")
	pos, err := c.parseArgs(args, "CODE")
	if err != nil {
		return err
	}
	code, err := node.ParseInviteCode(pos[0])
	if err != nil {
		if err == node.ErrInviteTypo || err == node.ErrInviteFormat {
			return usagef("%v", err)
		}
		return err
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
	out := joinOut{Network: hex.EncodeToString(code.Network[:]), Device: device.String(), Peer: pid.String(), Joining: true}
	if code.Purpose == crdt.InviteOrganisation {
		out.Org = crdt.OrgIDFor(device).String()
	}
	return c.output(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "Ready to join (the invite is valid until %s).\n", code.Expires.Local().Format("2 Jan 2006 15:04"))
		fmt.Fprintf(w, "Now run:\n  murmur run\nIt reaches the inviter, completes the join, and keeps running as your node.\n")
	})
}

func cmdApprove(e *env, args []string) error {
	c := newFlags(e, "approve", "ORG", "murmur approve 5c1e09ab")
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
	Joining bool   `json:"joining"`
	Network string `json:"network"`
	OrgName string `json:"org_name,omitempty"`
	Device  string `json:"device"`
	Peer    string `json:"peer"`
	Inviter string `json:"inviter"`
	Expires string `json:"invite_expires"`
	Running bool   `json:"running"`
}

// joiningStatus describes a data directory whose join is not complete.
func joiningStatus(e *env, c *cmdFlags, dir string) error {
	info, err := node.ReadJoin(dir)
	if err != nil {
		return err
	}
	pid, _ := node.PeerID(info.Device)
	inviter, _ := info.Code.InviterAddrInfo()
	out := joiningOut{Joining: true, Network: hex.EncodeToString(info.Code.Network[:]), OrgName: info.OrgName,
		Device: info.Device.String(), Peer: pid.String(), Inviter: inviter.ID.String(), Expires: info.Code.Expires.UTC().Format(time.RFC3339)}
	return c.output(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "This node is joining a network (%s...) and has not reached it yet.\n", out.Network[:16])
		fmt.Fprintf(w, "  inviter  %s\n  device   %s\n  invite valid until %s\n", out.Inviter, out.Device, info.Code.Expires.Local().Format("2 Jan 2006 15:04"))
		fmt.Fprintf(w, "Run `murmur run` while the inviter's node is reachable: it completes the join.\n")
	})
}
