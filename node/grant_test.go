package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// Two organisations: the founder records a grant; the other, admitted by
// invite, receives the network secret from the founder's node and finds
// the grant by any of the applicant's identifiers, however typed.
func TestGrantRecordAndCheckAcrossOrganisations(t *testing.T) {
	ForEachStore(t, testGrantRecordAndCheckAcrossOrganisations)
}

func testGrantRecordAndCheckAcrossOrganisations(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	f, fr := founded(t, kind, 1)
	code := newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour)
	b := join(t, kind.Dir(t), code, "Beta", "")
	if _, err := b.CheckGrant([]string{"+255712345678"}, ""); !errors.Is(err, ErrLocked) && !errors.Is(err, ErrNoSecret) {
		t.Fatalf("check before the secret arrived: %v", err)
	}
	loopbackNode(t, b, fr.Addrs()...)
	eventually(t, 20*time.Second, "Beta receives the network secret", b.HasSecret)

	rec, err := f.RecordGrant(ctx, GrantInput{Applicants: []string{"Yusuf, Amina", "+255 712 345 678", "amina@example.org"},
		Country: "TZ", Amount: "1500", Currency: "USD", Support: "emergency-grant"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the grant record reaches Beta", func() bool {
		return b.Has(mustID(t, rec.ID))
	})
	for _, c := range []struct {
		ids     []string
		country string
		matched []string
	}{
		{[]string{"AMINA YUSUF"}, "TZ", []string{"name"}},
		{[]string{"0712 345 678"}, "TZ", []string{"phone"}},
		{[]string{"Amina@Example.org", "00255712345678"}, "", []string{"email", "phone"}},
	} {
		res, err := b.CheckGrant(c.ids, c.country)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Matches) != 1 || res.Matches[0].ID != rec.ID || res.Matches[0].OrgName != "Founders" || !slices.Equal(res.Matches[0].MatchedOn, c.matched) {
			t.Errorf("%v: %+v", c.ids, res)
		}
	}
	// Another applicant, or the same name in another country: nothing.
	for _, ids := range [][]string{{"Amina Yusuf"}, {"+255 712 345 679"}} {
		country := "KE"
		if res, err := b.CheckGrant(ids, country); err != nil || len(res.Matches) != 0 {
			t.Errorf("%v in %s: %+v, %v", ids, country, res, err)
		}
	}
	// Beta records a second grant to the same person: it is told of the first.
	rec2, err := b.RecordGrant(ctx, GrantInput{Applicants: []string{"amina@example.org"}, Amount: "300", Currency: "EUR", Support: "legal-aid"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec2.Earlier) != 1 || rec2.Earlier[0].ID != rec.ID {
		t.Fatalf("recording a second grant: earlier %+v", rec2.Earlier)
	}
}

// A secret that matches none of the grant records held is not taken.
func TestGrantKeyCheckRefusesAnotherSecret(t *testing.T) {
	ctx := context.Background()
	f, err := Init(ctx, t.TempDir(), InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.RecordGrant(ctx, GrantInput{Applicants: []string{"id:P1234567"}, Amount: "10", Currency: "USD", Support: "medical"}); err != nil {
		t.Fatal(err)
	}
	// Replace the secret: the records made under the old one are not comparable.
	if err := f.storeSecret(make([]byte, secretSize)); err != nil {
		t.Fatal(err)
	}
	res, err := f.CheckGrant([]string{"id:P1234567"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 0 || res.NotComparable != 1 {
		t.Fatalf("after the secret changed: %+v", res)
	}
}

func TestGrantInputRefusals(t *testing.T) {
	ctx := context.Background()
	f, err := Init(ctx, t.TempDir(), InitOptions{Org: "Founders"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := f.Status().Entries
	for _, in := range []GrantInput{
		{Amount: "10", Currency: "USD", Support: "medical"},                                                          // no applicant
		{Applicants: []string{"Amina Yusuf"}, Amount: "10", Currency: "USD", Support: "medical"},                     // a name needs a country
		{Applicants: []string{"id:P1234567"}, Amount: "ten", Currency: "USD", Support: "medical"},                    // amount
		{Applicants: []string{"id:P1234567"}, Amount: "10", Currency: "USX", Support: "medical"},                     // currency
		{Applicants: []string{"id:P1234567"}, Amount: "10", Currency: "USD", Support: "cash"},                        // support type
		{Applicants: []string{"id:P1234567"}, Amount: "10", Currency: "USD", Support: "medical", Date: "2999-01-01"}, // future
		{Applicants: []string{"id:P1234567"}, Amount: "10", Currency: "USD", Support: "medical", Country: "XX"},      // country
	} {
		if _, err := f.RecordGrant(ctx, in); !errors.Is(err, ErrInput) {
			t.Errorf("%+v: %v, want an input error", in, err)
		}
	}
	if after := f.Status().Entries; after != before {
		t.Fatalf("refused grants wrote %d entries", after-before)
	}
}

func mustID(t *testing.T, s string) crdt.ID {
	t.Helper()
	id, err := crdt.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
