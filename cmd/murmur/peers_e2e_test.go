package main

// End-to-end test of remembered peers: two `murmur run` processes meet once
// (one given the other's address), stop, and start again with no --peer
// and no mDNS.

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

type contactsStatus struct {
	runStatus
	Contacts []struct {
		Org        string     `json:"org"`
		Name       string     `json:"name"`
		LastSynced *time.Time `json:"last_synced"`
		Via        string     `json:"via"`
	} `json:"contacts"`
}

var tcpPort = regexp.MustCompile(`/tcp/(\d+)/`)

func TestCLIRestartWithoutPeerReconnects(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := newCLI(t, dirA), newCLI(t, dirB)
	a.ok("init", "--org", "Alpha Fund", "--open", "--no-passphrase", "--dir", dirA) // (B is provisioned by hand, without the network key)
	ctx := context.Background()
	na, err := node.Open(ctx, dirA)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := node.Provision(ctx, dirB, node.ProvisionOptions{Genesis: na.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	if err := na.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := na.Append(ctx, &crdt.Admission{Device: nb.Device(), Name: "Beta Collective"}); err != nil {
		t.Fatal(err)
	}
	na.Close()
	nb.Close()

	// A bad --announce is refused before anything starts.
	r := a.run("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--announce", "/ip4/0.0.0.0/tcp/4721")
	refused(t, r, 2)
	if !strings.Contains(r.stderr, "--announce") {
		t.Errorf("the refusal does not name --announce:\n%s", r)
	}

	runA := a.start("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	addrA := runA.addr(t)
	runB := b.start("run", "--dir", dirB, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--peer", addrA)
	addrB := runB.addr(t)
	var sa, sb contactsStatus
	eventually(t, 30*time.Second, "the first session", func() bool {
		a.json(&sa, "status", "--dir", dirA)
		b.json(&sb, "status", "--dir", dirB)
		return sb.Digest == sa.Digest && len(sb.Peers) > 0
	})
	runB.interrupt(t)
	runA.interrupt(t)

	// Stopped, B's status names A's organisation and when it was reached.
	b.json(&sb, "status", "--dir", dirB)
	if len(sb.Contacts) != 1 || sb.Contacts[0].Name != "Alpha Fund" || sb.Contacts[0].LastSynced == nil || sb.Contacts[0].Via != "lan" {
		t.Fatalf("B's contacts: %+v", sb.Contacts)
	}
	human := b.ok("status", "--dir", dirB).stdout
	t.Logf("B stopped, status:\n%s", human)
	if !strings.Contains(human, "Alpha Fund: last synced just now via the local network") {
		t.Errorf("status does not show the last contact in words:\n%s", human)
	}

	id := a.write("request", "new", "--dir", dirA, "--kind", "verification", "--title", "Written while both were stopped")
	portA, portB := tcpPort.FindStringSubmatch(addrA)[1], tcpPort.FindStringSubmatch(addrB)[1]
	runB = b.start("run", "--dir", dirB, "--listen", "/ip4/127.0.0.1/tcp/"+portB, "--no-mdns")
	runB.addr(t)
	runA = a.start("run", "--dir", dirA, "--listen", "/ip4/127.0.0.1/tcp/"+portA, "--no-mdns", "--announce", "/ip4/127.0.0.1/tcp/"+portA)
	runA.addr(t)
	eventually(t, 60*time.Second, "B catches up with no --peer", func() bool {
		r := b.run("request", "show", id, "--dir", dirB, "--json")
		return r.code == 0
	})
	if !strings.Contains(runA.stdout.String(), "told they can reach this one at") {
		t.Errorf("murmur run --announce does not say what it announced:\n%s", runA.stdout.String())
	}
	var hinted contactsStatus
	eventually(t, 30*time.Second, "the address hint reaches B", func() bool {
		a.json(&sa, "status", "--dir", dirA)
		b.json(&hinted, "status", "--dir", dirB)
		return hinted.Digest == sa.Digest
	})
	runA.interrupt(t)
	runB.interrupt(t)
}
