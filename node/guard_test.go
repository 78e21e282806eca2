package node

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

func TestRevocationRisk(t *testing.T) {
	key := func(b byte) crdt.DeviceKey { return crdt.DeviceKey{b} }
	org := func(id byte, name string, steward bool, devs ...crdt.DeviceView) crdt.OrgView {
		return crdt.OrgView{ID: crdt.OrgID{id}, Name: name, Steward: steward, Admitted: true, Devices: devs}
	}
	live := func(b byte) crdt.DeviceView { return crdt.DeviceView{Key: key(b)} }
	gone := func(b byte) crdt.DeviceView { return crdt.DeviceView{Key: key(b), Revoked: true} }
	alpha, beta, gamma := crdt.OrgID{1}, crdt.OrgID{2}, crdt.OrgID{3}

	for _, tc := range []struct {
		name   string
		orgs   []crdt.OrgView
		quorum int
		mine   crdt.OrgID
		target byte
		want   string // in the refusal; "" = allowed
	}{
		{"the founder's only device", []crdt.OrgView{org(1, "Alpha", true, live(10))}, 1, alpha, 10,
			"your organisation's last device"},
		{"one of two devices of one's own organisation", []crdt.OrgView{org(1, "Alpha", true, live(10), live(11))}, 1, alpha, 11, ""},
		{"the other device is revoked already", []crdt.OrgView{org(1, "Alpha", true, live(10), gone(11))}, 1, alpha, 10,
			"your organisation's last device"},
		{"the last steward device, revoked by a member", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", false, live(20))}, 1, beta, 10,
			"no steward organisation would keep a device"},
		{"the founder's only device, one other steward left", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", true, live(20))}, 1, alpha, 10,
			"your organisation's last device"},
		{"a steward's last device, another steward left, quorum 1", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", true, live(20))}, 1, beta, 10, ""},
		{"a steward's last device, quorum 2 no longer reachable", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", true, live(20)), org(3, "Gamma", false, live(30))}, 2, gamma, 10,
			"admitting an organisation needs 2"},
		{"quorum 3 with two stewards: both needed", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", true, live(20))}, 3, alpha, 20,
			"admitting an organisation needs 2"},
		{"quorum 2 already out of reach, one steward still left", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", true, live(20), gone(21)), org(3, "Gamma", true, gone(30))}, 3, beta, 10, ""},
		{"a member's last device, revoked by a steward (seized)", []crdt.OrgView{org(1, "Alpha", true, live(10)), org(2, "Beta", false, live(20))}, 1, alpha, 20, ""},
		{"an already revoked device (a lower cut-off)", []crdt.OrgView{org(1, "Alpha", true, live(10), gone(11))}, 1, alpha, 11, ""},
		{"a steward with two devices", []crdt.OrgView{org(1, "Alpha", true, live(10), live(12)), org(2, "Beta", false, live(20))}, 1, beta, 10, ""},
	} {
		err := revocationRisk(tc.orgs, tc.quorum, tc.mine, key(tc.target))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s: %v, want a refusal saying %q and --force", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, ErrIrreversible) || !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v is not ErrIrreversible and ErrInput", tc.name, err)
		}
	}
}

func TestWhenLocal(t *testing.T) {
	now := time.Date(2026, 12, 1, 16, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 14, 5, 0, 0, time.Local), "today at 14:05"},
		{time.Date(2026, 11, 30, 9, 7, 0, 0, time.Local), "on Mon 30 Nov 09:07"},
		{time.Date(2025, 12, 1, 14, 5, 0, 0, time.Local), "on Mon 1 Dec 2025 14:05"},
	} {
		if got := WhenLocal(tc.t, now); got != tc.want {
			t.Errorf("WhenLocal(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestReferralToOneselfIsRefused(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	before := n.Status()
	for _, sealed := range []bool{false, true} {
		_, err := n.NewRequest(ctx, RequestInput{Kind: "referral", Title: "Legal aid in Arusha", Region: "TZ", To: []string{n.Org().String()[:8]}, Sealed: sealed})
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "Alpha is your own organisation") {
			t.Errorf("a referral to oneself (sealed %v): %v", sealed, err)
		}
	}
	if after := n.Status(); after.Digest != before.Digest {
		t.Error("a refused referral changed the state")
	}
	// A verification sealed for this organisation's eyes only is fine.
	if _, err := n.NewRequest(ctx, RequestInput{Kind: "verification", Title: "For us only", To: []string{n.Org().String()}, Sealed: true}); err != nil {
		t.Errorf("a sealed note to oneself: %v", err)
	}
}

// A device revoked by a steward of another organisation is told who and
// when, once the revocation reaches it: in its status and at its next
// write, which changes nothing.
func TestRevokedDeviceIsToldByWhomAndWhen(t *testing.T) {
	ForEachStore(t, testRevokedDeviceIsToldByWhomAndWhen)
}

func testRevokedDeviceIsToldByWhomAndWhen(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	if notice := g.RevokedNotice(); notice != "" {
		t.Fatalf("before any revocation: %q", notice)
	}
	// Gamma's only device, revoked by Alpha (a steward): not irreversible
	// for the network, and what stewards are for.
	if _, err := a.RevokeDevice(ctx, g.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	want := regexp.MustCompile(`^this device was revoked by Alpha (today at|on [A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}) \d\d:\d\d: nothing it writes is accepted$`)
	if st := g.Status(); !st.Revoked || !want.MatchString(st.RevokedNotice) {
		t.Errorf("Gamma's status: revoked %v, %q", st.Revoked, st.RevokedNotice)
	}
	before := g.Status().Digest
	_, err := g.NewRequest(ctx, RequestInput{Kind: "verification", Title: "after"})
	if err == nil || !want.MatchString(err.Error()) || !errors.Is(err, ErrRefused) {
		t.Errorf("Gamma's write: %v", err)
	}
	if _, err := g.RevokeDevice(ctx, a.Device().String(), nil); err == nil || !want.MatchString(err.Error()) {
		t.Errorf("Gamma's revocation of Alpha's device: %v", err)
	}
	if g.Status().Digest != before {
		t.Error("a revoked device's refused writes changed its state")
	}
	if b.RevokedNotice() != "" {
		t.Errorf("Beta is told it is revoked: %q", b.RevokedNotice())
	}
}

// Revoking a device names the devices it added that keep their standing:
// a seized laptop may have enrolled a second device before anyone revoked
// it (review 9).
func TestRevocationNamesTheDevicesItAdded(t *testing.T) {
	ctx := context.Background()
	a, _, _ := threeOrgs(t, SQLiteStore)
	laptop := secondDevice(t, SQLiteStore, a, "field laptop")
	phone, err := Provision(ctx, SQLiteStore.Dir(t), ProvisionOptions{Genesis: a.Genesis(), Org: a.Org()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	if _, err := laptop.Append(ctx, &crdt.DeviceAdded{Device: phone.Device(), Org: a.Org(), Label: "phone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ingest(ctx, entriesOf(laptop)); err != nil {
		t.Fatal(err)
	}
	plan, err := a.PlanRevocation(ctx, laptop.Device().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Added) != 1 || plan.Added[0].Device != phone.Device().String() || plan.Added[0].Label != "phone" {
		t.Fatalf("the laptop's revocation names %+v, want the phone it added", plan.Added)
	}
	// members says who added whom within the organisation.
	for _, m := range a.Members() {
		for _, d := range m.Devices {
			want := ""
			switch d.Device {
			case phone.Device().String():
				want = laptop.Device().String()
			case laptop.Device().String():
				want = a.Device().String()
			}
			if d.AddedBy != want {
				t.Errorf("members: device %s added by %q, want %q", d.Device[:12], d.AddedBy, want)
			}
		}
	}
	// The founder's device added the laptop, but is not the laptop's
	// revocation's business; and a revoked device is not named again.
	if p, err := a.PlanRevocation(ctx, phone.Device().String()); err != nil || len(p.Added) != 0 {
		t.Fatalf("the phone's revocation names %+v (%v)", p.Added, err)
	}
	if _, err := a.RevokeDevice(ctx, phone.Device().String(), nil); err != nil {
		t.Fatal(err)
	}
	if p, err := a.PlanRevocation(ctx, laptop.Device().String()); err != nil || len(p.Added) != 0 {
		t.Fatalf("after the phone's revocation, the laptop's names %+v (%v)", p.Added, err)
	}
}
