package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// An organisation may not join under a member's name, whatever its case
// and spacing; nothing is admitted.
func TestJoinRefusesAMembersName(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta Collective", "")
	eventually(t, 20*time.Second, "the founder knows Beta", func() bool {
		o, err := f.ResolveMember(b.Org().String())
		return err == nil && o.Admitted
	})
	before := f.Status()
	for _, name := range []string{"FOUNDERS", "beta  collective"} {
		join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), name, "is a member already")
	}
	after := f.Status()
	if after.Members != before.Members || after.PendingOrgs != 0 {
		t.Fatalf("a refused name changed the membership: %+v -> %+v", before, after)
	}
	f.mu.Lock()
	err := f.takenName("Founders ", crdt.OrgID{})
	f.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), `"Founders" is a member already`) {
		t.Fatal("the founders' name is not taken")
	}
}

// A name that only looks like a member's is the member's name: with an
// invisible variation selector, a Cyrillic letter, or in Cyrillic
// capitals. The joiner's node refuses the first two as they are typed;
// the inviter's refuses all of them (an older joiner does not check), and
// the whole-Cyrillic one reaches it and is refused there.
func TestJoinRefusesALookalikeName(t *testing.T) {
	f, fr := founded(t, SQLiteStore, 1)
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta", "")
	eventually(t, 20*time.Second, "the founder knows Beta", func() bool {
		o, err := f.ResolveMember(b.Org().String())
		return err == nil && o.Admitted
	})
	before := f.Status()
	for _, tc := range []struct{ name, want string }{
		{"Be\uFE0Fta", "organisation name holds a variation selector after a letter"},
		{"B\u0435ta", "organisation name mixes Latin and Cyrillic letters in one word"},
	} {
		_, err := PrepareJoin(t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), JoinOptions{OrgName: tc.name})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("joining as %+q: got %v, want one line with %q", tc.name, err, tc.want)
		}
	}
	join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "\u0412\u0415\u0422\u0410", `an organisation called "Beta" is a member already`)
	after := f.Status()
	if after.Members != before.Members || after.PendingOrgs != 0 {
		t.Fatalf("a look-alike name changed the membership: %+v -> %+v", before, after)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range []string{"Be\uFE0Fta", "B\u0435ta", "Be\u180Bta", "\u0392\u0395\u03A4\u0391", "\uFF22\uFF45\uFF54\uFF41"} {
		err := f.takenName(name, crdt.OrgID{})
		if err == nil || !strings.Contains(err.Error(), `an organisation called "Beta" is a member already`) {
			t.Errorf("%+q: got %v", name, err)
		}
	}
	if err := f.takenName("Betta", crdt.OrgID{}); err != nil {
		t.Errorf("Betta is another name: %v", err)
	}
	// Letters one script draws alike: a capital I or a one for a small L,
	// "rn" for "m" (review 6: "AIpha Fund" was admitted beside "Alpha
	// Fund").
	f.mu.Unlock()
	join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Collective Gamma", "")
	join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "CoIIective Gamma", `an organisation called "Collective Gamma" is a member already`)
	f.mu.Lock()
	for _, name := range []string{"Co11ective Gamma", "Collective Gamrna", "CoIlective-Gamma"} {
		err := f.takenName(name, crdt.OrgID{})
		if err == nil || !strings.Contains(err.Error(), `an organisation called "Collective Gamma" is a member already`) {
			t.Errorf("%+q: got %v", name, err)
		}
	}
	if err := f.takenName("LDA Collective Gamma", crdt.OrgID{}); err != nil {
		t.Errorf("another name refused: %v", err)
	}
}

// A member cannot pass for another in the directory: a directory name
// that looks like another member's name is refused, and lists show every
// entry under the name its organisation was admitted under, with its own
// name only beside it.
func TestDirectoryCannotPassForAnotherMember(t *testing.T) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	exchange(t, a, b)
	for _, name := range []string{"Alpha", "alpha", "ALPHA ", "Al-pha", "Alpha.", "A l p h a", "Alpha\u2122", "Al_pha"} {
		if _, err := b.SetDirectory(ctx, DirectoryInput{Name: &name}); err == nil {
			t.Fatalf("directory name %q, another member's, was taken", name)
		}
	}
	own := "Beta Legal Desk"
	regions := []string{"TZ"}
	if _, err := b.SetDirectory(ctx, DirectoryInput{Name: &own, Regions: &regions}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	dir, err := a.Directory(DirectoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dir) != 1 || dir[0].Name != "Beta" || dir[0].ListedAs != own {
		t.Fatalf("directory: %+v", dir)
	}
	// Nor for another member's directory name.
	for _, name := range []string{own, "beta legal-desk"} {
		if _, err := a.SetDirectory(ctx, DirectoryInput{Name: &name}); err == nil || !strings.Contains(err.Error(), "goes by in the directory") {
			t.Fatalf("directory name %q, another member's directory name: %v", name, err)
		}
	}
}

// A name holding what reads as an ID in brackets would pass for the
// organisation with that ID, in the form the screens use to tell
// organisations apart: refused at admission and in the directory.
func TestNamesWithAnIDInBracketsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   bool
	}{
		{"Defenders Fund (78297a05ccf8)", true},
		{"Defenders Fund ( 7829-7a05 )", true},
		{"Defenders Fund [78297A]", true},
		{"Defenders Fund （７８２９７ａ０５）", true},
		{"Defenders Fund (78297a05ccf8) Kenya", true},
		{"Defenders Fund (Kenya)", false},
		{"Defenders Fund (2024)", false},
		{"Fund 78297a05ccf8", false},
		{"Cafe (bad)", false},
		{"Defenders (Decade)", false},
	} {
		if got := idInBrackets(tc.name); got != tc.id {
			t.Errorf("%q: idInBrackets %v, want %v", tc.name, got, tc.id)
		}
	}
	f, _ := founded(t, SQLiteStore, 1)
	f.mu.Lock()
	err := f.takenName("Founders (c0ffee1234ab)", crdt.OrgID{})
	f.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "ID in brackets") {
		t.Errorf("admission of a name with an ID in brackets: %v", err)
	}
	name := "Helpers (c0ffee1234ab)"
	if _, err := f.SetDirectory(context.Background(), DirectoryInput{Name: &name}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "ID in brackets") {
		t.Errorf("a directory name with an ID in brackets: %v", err)
	}
}
