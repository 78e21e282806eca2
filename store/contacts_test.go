package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func contactAddr(n int) []byte { return fmt.Appendf(nil, "addr-%02d", n) }

func TestContacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if cs, err := s.Contacts(ctx); err != nil || len(cs) != 0 {
			t.Fatalf("empty store: %v, %v", cs, err)
		}
		t0 := time.UnixMilli(1_800_000_000_000)
		a, b := testKey(1), testKey(2)
		if err := s.RecordContact(ctx, a, t0, ViaDirect, contactAddr(1), contactAddr(2)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordContact(ctx, b, t0.Add(time.Minute), ViaRelay, contactAddr(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordContact(ctx, a, t0.Add(time.Second), ViaLAN); err != nil { // no address: nothing
			t.Fatal(err)
		}
		cs, err := s.Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []Contact{
			{Device: b, Addr: contactAddr(1), Last: t0.Add(time.Minute), Via: ViaRelay},
			{Device: a, Addr: contactAddr(1), Last: t0, Via: ViaDirect},
			{Device: a, Addr: contactAddr(2), Last: t0, Via: ViaDirect},
		}
		sameContacts(t, cs, want)

		// A later contact moves the address up and changes how; an
		// earlier one does not move it back.
		if err := s.RecordContact(ctx, a, t0.Add(2*time.Minute), ViaLAN, contactAddr(2)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordContact(ctx, a, t0.Add(-time.Hour), ViaRelay, contactAddr(2)); err != nil {
			t.Fatal(err)
		}
		cs, _ = s.Contacts(ctx)
		if cs[0].Device != a || !bytes.Equal(cs[0].Addr, contactAddr(2)) || !cs[0].Last.Equal(t0.Add(2*time.Minute)) || cs[0].Via != ViaLAN {
			t.Fatalf("after a later contact: first is %+v", cs[0])
		}

		// Bounded: the MaxContactAddrs most recent addresses per device.
		for i := 0; i < 3*MaxContactAddrs; i++ {
			if err := s.RecordContact(ctx, a, t0.Add(time.Hour+time.Duration(i)*time.Second), ViaDirect, contactAddr(10+i)); err != nil {
				t.Fatal(err)
			}
		}
		cs, _ = s.Contacts(ctx)
		var ofA []Contact
		for _, c := range cs {
			if c.Device == a {
				ofA = append(ofA, c)
			}
		}
		if len(ofA) != MaxContactAddrs {
			t.Fatalf("device holds %d addresses, want %d", len(ofA), MaxContactAddrs)
		}
		for i, c := range ofA {
			if w := contactAddr(10 + 3*MaxContactAddrs - 1 - i); !bytes.Equal(c.Addr, w) {
				t.Fatalf("address %d is %s, want %s (the most recent ones)", i, c.Addr, w)
			}
		}
		if len(cs) != MaxContactAddrs+1 { // the other device kept its own
			t.Fatalf("%d contacts in all, want %d", len(cs), MaxContactAddrs+1)
		}
		// What Contacts returned is a copy.
		cs[0].Addr[0] = 'X'
		if again, _ := s.Contacts(ctx); again[0].Addr[0] == 'X' {
			t.Fatal("Contacts returned the store's own bytes")
		}
	})
}

func sameContacts(t *testing.T, got, want []Contact) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d contacts %+v, want %d", len(got), got, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Device != w.Device || !bytes.Equal(g.Addr, w.Addr) || !g.Last.Equal(w.Last) || g.Via != w.Via {
			t.Fatalf("contact %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestContactsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	s, err := OpenSQLite(path, testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_800_000_000_123)
	if err := s.RecordContact(context.Background(), testKey(3), at, ViaRelay, contactAddr(7)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTemp(t, path)
	cs, err := s2.Contacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sameContacts(t, cs, []Contact{{Device: testKey(3), Addr: contactAddr(7), Last: at, Via: ViaRelay}})
}

// A database made by the release before contacts existed gains the table
// (and is then sealed, as every older database is).
func TestContactsMigrationOnOldDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "murmur.db")
	writeOldDatabase(t, path, 1, []Record{testRecord(1, testKey(1), 1, 1)}, nil, nil)
	s2 := openTemp(t, path)
	if !slices.Equal(s2.applied, []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("applied %v on a schema-1 database", s2.applied)
	}
	if err := s2.RecordContact(context.Background(), testKey(1), time.Now(), ViaLAN, contactAddr(1)); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s2, testID(1)); got.Seq != 1 {
		t.Fatal("the entries were not kept")
	}
}
