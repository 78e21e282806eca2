package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A repair keeps every entry the damaged database still holds readable,
// its newest ones in the WAL included, and the remembered addresses of
// members' nodes (without them `murmur run` reaches no member off the
// LAN); its report says what it read. The data directory is named by a
// relative path, as `murmur repair --dir d` names it.
func TestRepairKeepsEntriesAndContacts(t *testing.T) {
	ctx := context.Background()
	_, _, b, _, bdir := twoOrgs(t)
	eventually(t, 30*time.Second, "the node remembers the member's address", func() bool {
		cs, err := b.Contacts(ctx)
		return err == nil && len(cs) > 0
	})
	for _, title := range []string{"Last one", "Last two", "Last three"} {
		if _, err := b.NewRequest(ctx, RequestInput{Kind: "verification", Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	want := b.Status().Entries
	contacts, err := b.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The files as the node leaves them when it stops short (killed, or
	// its last checkpoint found the disk full): the newest entries are
	// in the WAL only.
	parent := t.TempDir()
	img := filepath.Join(parent, "img")
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(bdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), "-shm") || strings.HasPrefix(e.Name(), "run.") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(bdir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(filepath.Join(img, dbName+"-wal")); err != nil || st.Size() == 0 {
		t.Fatalf("no WAL to read: %v", err)
	}

	t.Chdir(parent)
	rep, err := Repair(ctx, "img", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repair: %+v", rep)
	if rep.NotDatabase || rep.FromPages != 0 || rep.Unreadable != 0 || rep.Refused != 0 {
		t.Fatalf("a healthy database read as a damaged one: %+v", rep)
	}
	if rep.Entries != want || rep.Salvaged < want {
		t.Fatalf("the repair kept %d of %d entries (read %d)", rep.Entries, want, rep.Salvaged)
	}
	if rep.Contacts != len(contacts) {
		t.Fatalf("the repair kept %d of %d remembered addresses", rep.Contacts, len(contacts))
	}
	n, err := Open(ctx, "img")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got, err := n.Contacts(ctx)
	if err != nil || len(got) != len(contacts) {
		t.Fatalf("the rebuilt database remembers %d of %d addresses (%v)", len(got), len(contacts), err)
	}
	for i := range got {
		if got[i].Device != contacts[i].Device || string(got[i].Addr) != string(contacts[i].Addr) {
			t.Fatalf("address %d: %+v, was %+v", i, got[i], contacts[i])
		}
	}
}
