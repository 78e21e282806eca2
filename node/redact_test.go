package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// wordsIn lists where marker still is on n: in an entry the store holds
// (read through the store API: the database is sealed at rest, so its
// files would not show it either way), in what the node shows, or in a
// file of its data directory.
func wordsIn(t *testing.T, n *Node, marker string) []string {
	t.Helper()
	var where []string
	if _, err := n.store.Scan(context.Background(), 0, func(_ int64, r store.Record) error {
		if bytes.Contains(r.Raw, []byte(marker)) {
			where = append(where, "the store's entry "+r.ID.String()[:12])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.state.Accepted(func(e *crdt.Entry) {
		if bytes.Contains(e.Raw(), []byte(marker)) {
			where = append(where, "the state's entry "+e.ID().String()[:12])
		}
	})
	for _, rv := range n.state.Requests() {
		for _, id := range append([]crdt.ID{rv.ID}, responseIDs(n, rv)...) {
			if whole, err := n.unseal(id); err == nil && strings.Contains(strings.Join(wordsOf(whole), " "), marker) {
				where = append(where, "the sealed details of "+id.String()[:12])
			}
		}
	}
	n.mu.Unlock()
	des, _ := os.ReadDir(n.dir)
	for _, de := range des {
		if bs, _ := os.ReadFile(filepath.Join(n.dir, de.Name())); bytes.Contains(bs, []byte(marker)) {
			where = append(where, "the file "+de.Name())
		}
	}
	return where
}

// responseIDs are the IDs of a request's answers (n.mu held).
func responseIDs(n *Node, rv crdt.RequestView) []crdt.ID {
	var out []crdt.ID
	answers, _ := n.state.AnswersBefore(rv.ID, nil, 1<<20)
	for _, x := range answers {
		out = append(out, x.ID)
	}
	return out
}

func wordsOf(b any) []string {
	switch x := b.(type) {
	case *crdt.Request:
		return []string{x.Title, x.Text}
	case *crdt.Response:
		return []string{x.Text}
	}
	return nil
}

// facts is what a request shows without its words: its envelope and what
// its answers add up to.
type facts struct {
	Kind, Region, Status, RespondBy string
	To                              []string
	Responses                       int
	Verification                    string
	Referral                        string
	Types                           []string
}

func factsShown(t *testing.T, n *Node, id string) facts {
	t.Helper()
	d, err := n.Request(id)
	if err != nil {
		t.Fatal(err)
	}
	f := facts{Kind: d.Kind, Region: d.Region, Status: d.Status, To: d.To, Responses: len(d.Responses)}
	if d.RespondBy != nil {
		f.RespondBy = *d.RespondBy
	}
	if v := d.Verification; v != nil {
		f.Verification = strings.Join([]string{string(rune('0' + v.Vouch)), string(rune('0' + v.Concern)), string(rune('0' + v.Unknown))}, "/")
		for _, p := range v.Positions {
			f.Types = append(f.Types, p.OrgName+"="+p.Type)
		}
	}
	if r := d.Referral; r != nil {
		f.Referral = r.AcceptedByName + " awaiting " + strings.Join(r.Awaiting, ",")
		for _, p := range r.Positions {
			f.Types = append(f.Types, p.OrgName+"="+p.Type)
		}
	}
	for _, x := range d.Responses {
		f.Types = append(f.Types, "response:"+x.OrgName+"="+x.Type)
	}
	return f
}

// Issue 12, point 2: a redaction takes back words, not facts. Gamma
// redacts its concern on Alpha's verification and Alpha its sealed
// referral: on every node (and on one that joins afterwards and never
// held the words) the verification summary and the referral's state are
// what they were; the words are in no entry, no file and no sealed detail
// any node can open; each shows who redacted it, when and why; and the
// redacted referral cannot be shared.
func TestRedactionTakesBackWordsNotFacts(t *testing.T) {
	ForEachStore(t, testRedactionTakesBackWordsNotFacts)
}

func testRedactionTakesBackWordsNotFacts(t *testing.T, kind StoreKind) {
	ctx := context.Background()
	a, b, g := threeOrgs(t, kind)
	const concernWords, referralWords = "CONCERNMARK-7741 names a witness", "REFERRALMARK-3317 safe house address"

	ver, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Is this lawyer known?", Body: "Defends land activists."})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	if _, err := b.Respond(ctx, ResponseInput{Request: ver.ID().String(), Type: "vouch", Body: "We worked with them."}); err != nil {
		t.Fatal(err)
	}
	concern, err := g.Respond(ctx, ResponseInput{Request: ver.ID().String(), Type: "concern", Body: concernWords})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := a.NewRequest(ctx, RequestInput{Kind: "referral", Title: "REFERRALMARK-3317", Body: referralWords, Region: "NI",
		To: []string{g.Org().String(), b.Org().String()}, RespondBy: "72h", Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)
	if _, err := g.Respond(ctx, ResponseInput{Request: ref.ID().String(), Type: "accept", Body: "We take them on Friday."}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)

	nodes := []*Node{a, b, g}
	before := map[*Node][2]facts{}
	for _, n := range nodes {
		before[n] = [2]facts{factsShown(t, n, ver.ID().String()), factsShown(t, n, ref.ID().String())}
	}
	if v := before[a][0].Verification; v != "1/1/0" {
		t.Fatalf("before: verification %s, want 1 vouch 1 concern", v)
	}
	if r := before[a][1].Referral; !strings.HasPrefix(r, "Gamma awaiting") {
		t.Fatalf("before: referral %q", r)
	}
	if d, _ := a.Request(ref.ID().String()); d.Title != "REFERRALMARK-3317" || !strings.Contains(d.Body, referralWords) {
		t.Fatalf("Alpha cannot read its sealed referral before the redaction: %+v", d)
	}

	if _, err := g.Redact(ctx, concern.ID().String(), ""); err == nil {
		t.Fatal("a redaction without a reason")
	}
	if _, err := g.Redact(ctx, concern.ID().String(), "named a witness"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Redact(ctx, ref.ID().String(), "wrong case file attached"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g)

	// Delta joins afterwards: it is given the entries as they are now.
	d, err := Provision(ctx, kind.Dir(t), ProvisionOptions{Genesis: a.Genesis()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, &crdt.Admission{Device: d.Device(), Name: "Delta"}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, g, d)
	before[d] = before[b]

	for _, n := range append(nodes, d) {
		name := n.orgNames()[n.org]
		after := [2]facts{factsShown(t, n, ver.ID().String()), factsShown(t, n, ref.ID().String())}
		if !reflect.DeepEqual(after, before[n]) {
			t.Errorf("%s: the facts changed:\n got %+v\nwant %+v", name, after, before[n])
		}
		for _, m := range []string{"CONCERNMARK-7741", "REFERRALMARK-3317"} {
			if where := wordsIn(t, n, m); len(where) > 0 {
				t.Errorf("%s still holds %s: %v", name, m, where)
			}
		}
		v, _ := n.Request(ver.ID().String())
		var shown *RedactionInfo
		for _, p := range v.Verification.Positions {
			if p.OrgName == "Gamma" {
				shown = p.Redacted
				if p.Body != "" {
					t.Errorf("%s: the concern's text: %q", name, p.Body)
				}
			}
		}
		if shown == nil || shown.OrgName != "Gamma" || shown.Reason != "named a witness" || !strings.HasPrefix(shown.String(), "redacted by Gamma on ") {
			t.Errorf("%s: the concern's redaction shown as %+v", name, shown)
		}
		r, _ := n.Request(ref.ID().String())
		if r.Redacted == nil || r.Redacted.OrgName != "Alpha" || r.Title != "" || r.Body != "" || !strings.HasSuffix(r.Redacted.String(), ": wrong case file attached") {
			t.Errorf("%s: the redacted referral: %+v (%v)", name, r, r.Redacted)
		}
	}
	// Its author still sees its state, but cannot share what is gone.
	_, err = a.Share(ctx, ref.ID().String(), []string{d.Org().String()})
	if err == nil || !strings.Contains(err.Error(), "redacted by Alpha today at") || !strings.Contains(err.Error(), "nothing to share") {
		t.Fatalf("sharing a redacted sealed referral: %v", err)
	}
	// Opened again, from what the store kept.
	dir := g.dir
	g.Close()
	g2, err := OpenWith(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if got := [2]facts{factsShown(t, g2, ver.ID().String()), factsShown(t, g2, ref.ID().String())}; !reflect.DeepEqual(got, before[g]) {
		t.Errorf("Gamma reopened: the facts changed:\n got %+v\nwant %+v", got, before[g])
	}
}
