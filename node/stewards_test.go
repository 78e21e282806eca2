package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
)

func TestResolveMemberByNameOrID(t *testing.T) {
	node.ForEachStore(t, testResolveMemberByNameOrID)
}

func testResolveMemberByNameOrID(t *testing.T, kind node.StoreKind) {
	a, _, beta, _ := setup(t, kind)
	twin1, twin2 := newOutsider("Twin", 0xd0), newOutsider("TWIN", 0xd1)
	twin1.admit(t, a)
	twin2.admit(t, a)
	for _, ref := range []string{"Beta Collective", "  beta   collective", "BETA COLLECTIVE", beta.org().String(), beta.org().String()[:8]} {
		if o, err := a.ResolveMember(ref); err != nil || o.ID != beta.org() {
			t.Errorf("ResolveMember(%q): %v %v", ref, o.ID, err)
		}
	}
	for ref, want := range map[string]string{
		"twin":     `2 organisations are called "twin": give the ID`,
		"Nobody":   `no organisation is called "Nobody"`,
		"abc":      `no organisation is called "abc"`,
		"00000000": "no organisation",
	} {
		_, err := a.ResolveMember(ref)
		if err == nil || !errors.Is(err, node.ErrInput) || !errors.Is(err, node.ErrNotFound) || !strings.Contains(err.Error(), want) {
			t.Errorf("ResolveMember(%q): %v; want %q", ref, err, want)
		}
	}
}

func TestStewardsThroughTheNode(t *testing.T) {
	node.ForEachStore(t, testStewardsThroughTheNode)
}

func testStewardsThroughTheNode(t *testing.T, kind node.StoreKind) {
	ctx := context.Background()
	a, _, beta, gamma := setup(t, kind)
	if out, err := a.ChangeSteward(ctx, "Beta Collective", true); err != nil || !out.InEffect {
		t.Fatalf("steward add Beta: %+v %v", out, err)
	}
	if out, err := a.SetQuorum(ctx, 2); err != nil || !out.InEffect {
		t.Fatalf("quorum 2: %+v %v", out, err)
	}
	out, err := a.ChangeSteward(ctx, gamma.org().String()[:12], true)
	if err != nil || out.InEffect || out.Needed != 2 || len(out.ApprovedBy) != 1 || out.ApprovedBy[0] != "Alpha Fund" {
		t.Fatalf("one approval of two: %+v %v", out, err)
	}
	check := unchanged(t, a)
	if _, err := a.ChangeSteward(ctx, "Gamma Trust", true); err == nil || !strings.Contains(err.Error(), "approved this already; it awaits 1 more steward's approval") {
		t.Fatalf("approving twice: %v", err)
	}
	if _, err := a.SetQuorum(ctx, 3); err == nil || !strings.Contains(err.Error(), "only 2 stewards") {
		t.Fatalf("quorum above the stewards: %v", err)
	}
	check("refusals")
	g := a.Governance()
	if g.Quorum != 2 || len(g.Stewards) != 2 || len(g.Pending) != 1 || g.Pending[0].Change != "steward-add" || g.Pending[0].Name != "Gamma Trust" {
		t.Fatalf("governance: %+v", g)
	}
	beta.write(t, a, &crdt.StewardChange{Org: gamma.org(), Steward: true}) // two
	if g := a.Governance(); len(g.Stewards) != 3 || len(g.Pending) != 0 {
		t.Fatalf("after two approvals: %+v", g)
	}
	// Beta goes, by two.
	if out, err := a.ChangeSteward(ctx, "Beta Collective", false); err != nil || out.InEffect {
		t.Fatalf("remove Beta, one approval: %+v %v", out, err)
	}
	gamma.write(t, a, &crdt.StewardChange{Org: beta.org(), Steward: false})
	if o, _ := a.State().Org(beta.org()); o.Steward {
		t.Fatal("Beta is still a steward")
	}
	late := beta.sign(t, a, &crdt.StewardChange{Org: gamma.org(), Steward: false})
	deliver(t, a, late)
	if st := status(a, late.ID()); st != crdt.StatusHeld {
		t.Fatalf("a removed steward's approval: %v", st)
	}
}

// An organisation whose devices are all revoked is not proposed as a
// steward: the node says why before writing anything.
func TestStewardAddRefusesAnOrganisationWithNoDevice(t *testing.T) {
	node.ForEachStore(t, testStewardAddRefusesAnOrganisationWithNoDevice)
}

func testStewardAddRefusesAnOrganisationWithNoDevice(t *testing.T, kind node.StoreKind) {
	ctx := context.Background()
	f, err := node.Init(ctx, kind.Dir(t), node.InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := node.Provision(ctx, kind.Dir(t), node.ProvisionOptions{Genesis: f.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := f.Append(ctx, &crdt.Admission{Device: b.Device(), Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ForceRevokeDevice(ctx, b.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	before := f.Status().Entries
	_, err = f.ChangeSteward(ctx, "Beta", true)
	if err == nil || !strings.Contains(err.Error(), "every device of Beta is revoked") {
		t.Fatalf("steward add of an organisation with no device: %v", err)
	}
	if f.Status().Entries != before {
		t.Fatal("a refused steward change wrote an entry")
	}
}
