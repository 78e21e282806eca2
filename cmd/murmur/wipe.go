package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/node/p2p"
)

// revokeWithin bounds how long a wipe tries to hand its revocation to a
// member's node before it destroys the keys anyway.
const revokeWithin = 15 * time.Second

func cmdWipe(e *env, args []string) error {
	c := newFlags(e, "wipe", "[--yes] [--revoke] [--peer MULTIADDR]... [--no-mdns]", "murmur wipe --revoke --yes")
	yes := c.Bool("yes", false, "do not ask for confirmation")
	revoke := c.Bool("revoke", false, "first revoke this device and hand the revocation to any reachable member's node")
	peers := c.list("peer", "a member's node to hand the revocation to (besides those a running node is connected to)")
	noMDNS := c.Bool("no-mdns", false, "do not look for members on the local network for the revocation")
	if _, err := c.parseArgs(args); err != nil {
		return err
	}
	c.anyOwner = true // (in a hurry, as root: nothing is left to be locked out of)
	dir, err := c.dataDir(e)
	if err != nil {
		return err
	}
	if !node.IsDataDir(dir) {
		return fmt.Errorf("%s is not a Murmur data directory: nothing was wiped (check --dir or MURMUR_DIR)", dir)
	}
	if !*yes {
		if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(e.stderr, "This destroys the keys and every entry in %s beyond recovery.\nType wipe to go on: ", dir)
		}
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "wipe" {
			return usagef("not confirmed: nothing was wiped (type wipe at the prompt, or add --yes)")
		}
	}
	sent := false
	if *revoke {
		if sent, err = revokeSelf(e, c, dir, *peers.vals, !*noMDNS); err != nil {
			return err
		}
	} else if _, err := node.StopRunning(dir); err != nil {
		return err
	}
	if err := node.Wipe(dir); err != nil {
		return fmt.Errorf("wiping %s: %v", dir, err)
	}
	if *revoke && !sent {
		fmt.Fprintf(e.stderr, "No member's node was reachable within %v: the revocation was not sent. Ask another device of your organisation, or a steward, to revoke this device.\n", revokeWithin)
	}
	return c.output(e, struct {
		Dir     string `json:"dir"`
		Wiped   bool   `json:"wiped"`
		Revoked bool   `json:"revoked"`
		Sent    bool   `json:"revocation_sent"`
	}{dir, true, *revoke, sent}, func(w io.Writer) {
		fmt.Fprintf(w, "Wiped %s.\n", dir)
		if sent {
			fmt.Fprintln(w, "The revocation reached a member's node; it spreads from there.")
		}
	})
}

// revokeSelf stops a node running on dir, writes this device's revocation,
// and hands it to a member's node; it reports whether one took it.
func revokeSelf(e *env, c *cmdFlags, dir string, peers []string, lan bool) (bool, error) {
	n, err := c.open(e) // a wrong passphrase stops here: nothing changed
	if err != nil {
		return false, err
	}
	defer n.Close()
	// A node running here is stopped first, and the revocation handed over
	// by reconciliation with the peers it was connected to: they accept
	// this device's connection until they have it, and then only.
	peers = append(peers, n.RunningPeers()...)
	if _, err := node.StopRunning(dir); err != nil {
		return false, err
	}
	if _, err := n.ForceRevokeDevice(e.ctx, n.Device().String(), nil); err != nil { // the keys go anyway
		return false, fmt.Errorf("revoking this device: %w (nothing was wiped; --revoke can be left out)", err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, revokeWithin)
	defer cancel()
	return p2p.SendRevocation(ctx, n, peers, lan, nil)
}
