package node_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	_ "modernc.org/sqlite"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/node"
	"github.com/murmurnet/murmur/store"
)

// clearIn lists the files under dir whose raw bytes hold any of markers.
func clearIn(t *testing.T, dir string, markers [][]byte) []string {
	t.Helper()
	var where []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := 0
		for _, m := range markers {
			if bytes.Contains(b, m) {
				if n < 3 {
					where = append(where, fmt.Sprintf("%s holds %q", filepath.Base(path), m))
				}
				n++
			}
		}
		if n > 3 {
			where = append(where, fmt.Sprintf("%s holds %d markers in all", filepath.Base(path), n))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return where
}

// An imaged disk: with a passphrase set, 1,000 marker strings written in
// every kind of entry that carries text (organisation and network names,
// requests of each kind, responses, directory entries, closing notes, grant
// records, redaction reasons), by this organisation (Append) and by others
// (Put, as sync stores them), by another process on the same directory, and
// in the addresses of contacts, are in no file of the data directory (WAL
// and shared memory included) while the node runs or after it stopped; nor
// are the other organisations' device keys. Everything still reads back.
func TestDatabaseAtRestHoldsNoClearText(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pass := []byte("correct horse battery staple")
	var markers [][]byte
	mark := func(what string) string {
		m := fmt.Sprintf("Mk%04d%s", len(markers), what)
		markers = append(markers, []byte(m))
		return m
	}
	n, err := node.Init(ctx, dir, node.InitOptions{Org: mark("OrgName"), Network: mark("NetName"), Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	var others []*outsider
	var keys [][]byte
	for i := range 8 {
		o := newOutsider(mark("OrgName"), byte(i+1))
		o.admit(t, n)
		others = append(others, o)
		keys = append(keys, bytes.Clone(o.key[:]))
		o.write(t, n, &crdt.Directory{Name: mark("DirName"), Contact: mark("DirContact")})
	}
	kinds := []string{"verification", "referral", "funding", "letter", "alert"}
	var mine, theirs []crdt.ID
	var firstTitle string // of theirs[0]
	for i := 0; len(markers) < 1000; i++ {
		o := others[i%len(others)]
		switch i % 9 {
		case 0, 1: // a request of each kind, by this organisation
			in := node.RequestInput{Kind: kinds[i%len(kinds)], Title: mark("Title"), Body: mark("Body"), Region: "KE"}
			if in.Kind == "funding" {
				in.Amount, in.Currency = "10", "USD"
			}
			e, err := n.NewRequest(ctx, in)
			if err != nil {
				t.Fatalf("request %q: %v", in.Kind, err)
			}
			mine = append(mine, e.ID())
		case 2: // and by another
			typ, _ := crdt.ParseRequestType(kinds[i%len(kinds)])
			title := mark("TheirTitle")
			req := &crdt.Request{Type: typ, Title: title, Text: mark("TheirText"), Region: "TZ"}
			if typ == crdt.Funding {
				req.Amount, req.Currency = 1000, "EUR"
			}
			e := o.write(t, n, req)
			theirs = append(theirs, e.ID())
			if firstTitle == "" {
				firstTitle = title
			}
		case 3:
			if _, err := n.Respond(ctx, node.ResponseInput{Request: theirs[len(theirs)-1].String(), Type: "comment", Body: mark("Reply")}); err != nil {
				t.Fatal(err)
			}
		case 4:
			o.write(t, n, &crdt.Response{Request: mine[len(mine)-1], Type: crdt.Comment, Text: mark("TheirReply")}, mine[len(mine)-1])
		case 5:
			c := mark("Contact")
			if _, err := n.SetDirectory(ctx, node.DirectoryInput{Contact: &c}); err != nil {
				t.Fatal(err)
			}
		case 6:
			if _, err := n.RecordGrant(ctx, node.GrantInput{Applicants: []string{"id:" + mark("Applicant")}, Amount: "10", Currency: "USD", Support: "medical"}); err != nil {
				t.Fatal(err)
			}
		case 7:
			if _, err := n.Append(ctx, &crdt.RequestClosed{Request: mine[len(mine)-1], Note: mark("Note")}, mine[len(mine)-1]); err != nil {
				t.Fatal(err)
			}
			mine = mine[:len(mine)-1]
		case 8: // contacts: where this node reached the others
			addr := ma.StringCast("/dns4/" + mark("host") + ".example/tcp/4001")
			if err := n.Store().RecordContact(ctx, o.key, time.Now(), store.ViaDirect, addr.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A redaction's reason (the redacted body is dropped in any case).
	if _, err := n.Redact(ctx, mine[0].String(), mark("Reason")); err != nil {
		t.Fatal(err)
	}
	// Another process on the same directory, while this one has it open:
	// the passphrase opens its database too.
	cli, err := node.OpenWith(ctx, dir, func() ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatalf("a second open of the directory: %v", err)
	}
	other, err := cli.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: mark("OtherProcess")})
	if err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if err := n.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := n.Request(other.ID().String()); err != nil || d.Title != string(markers[len(markers)-1]) {
		t.Fatalf("the other process's request: %+v, %v", d, err)
	}
	t.Logf("%d markers in %d entries", len(markers), n.Status().Entries)

	look := append(append([][]byte{}, markers...), keys...)
	if _, err := os.Stat(filepath.Join(dir, "murmur.db-wal")); err != nil {
		t.Fatalf("no WAL while the node is open: %v", err)
	}
	if where := clearIn(t, dir, look); len(where) > 0 {
		t.Errorf("while open: %v", where)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if where := clearIn(t, dir, look); len(where) > 0 {
		t.Errorf("after close: %v", where)
	}

	// Opened again, everything reads back.
	again, err := node.OpenWith(ctx, dir, func() ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if d, err := again.Request(theirs[0].String()); err != nil || d.Title != firstTitle {
		t.Fatalf("another organisation's request after reopening: %+v, %v", d, err)
	}
	cs, err := again.Store().Contacts(ctx)
	if err != nil || len(cs) == 0 {
		t.Fatalf("contacts after reopening: %d, %v", len(cs), err)
	}
}

// oldSchema is the schema the release before sealing created
// (store/migrations 0001 and 0002), with its user_version.
const (
	oldSchema = `
CREATE TABLE entries (
	cursor INTEGER PRIMARY KEY AUTOINCREMENT,
	id     BLOB    NOT NULL UNIQUE,
	author BLOB    NOT NULL,
	seq    INTEGER NOT NULL,
	clock  INTEGER NOT NULL,
	kind   INTEGER NOT NULL,
	status INTEGER NOT NULL,
	raw    BLOB    NOT NULL
);
CREATE INDEX entries_author_seq ON entries (author, seq);
CREATE INDEX entries_clock ON entries (clock);
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
CREATE TABLE contacts (
	device BLOB    NOT NULL,
	addr   BLOB    NOT NULL,
	last   INTEGER NOT NULL,
	via    INTEGER NOT NULL,
	PRIMARY KEY (device, addr)
) WITHOUT ROWID;
PRAGMA user_version = 2;`
)

// A data directory of the release before sealing, with a passphrase, is
// sealed in place the first time it is opened: its requests still read,
// and no title is left in any of its files.
func TestOldDataDirectoryIsSealedInPlace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pass := func() ([]byte, error) { return []byte("correct horse battery staple"), nil }
	n, err := node.Init(ctx, dir, node.InitOptions{Org: "OldOrgMarker", Passphrase: []byte("correct horse battery staple")})
	if err != nil {
		t.Fatal(err)
	}
	var markers [][]byte
	var ids []crdt.ID
	for i := range 50 {
		title := fmt.Sprintf("OldTitleMarker%03d", i)
		markers = append(markers, []byte(title))
		e, err := n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: title})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID())
	}
	var recs []store.Record
	if _, err := n.Store().Scan(ctx, 0, func(_ int64, r store.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	network := n.Network()
	n.Close()

	// The same entries, as the old release stored them: in clear.
	path := filepath.Join(dir, "murmur.db")
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := db.Exec(`INSERT INTO entries (id, author, seq, clock, kind, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID[:], r.Author[:], int64(r.Seq), int64(r.Clock), int64(r.Kind), int64(r.Status), r.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO meta (key, value) VALUES ('network', ?)`, network[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if where := clearIn(t, dir, markers); len(where) == 0 {
		t.Fatal("the old database holds no title in clear: the test would prove nothing")
	}

	n, err = node.OpenWith(ctx, dir, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i, id := range ids {
		if d, err := n.Request(id.String()); err != nil || d.Title != string(markers[i]) {
			t.Fatalf("request %d after the upgrade: %+v, %v", i, d, err)
		}
	}
	if _, err := n.NewRequest(ctx, node.RequestInput{Kind: "verification", Title: "after the upgrade"}); err != nil {
		t.Fatal(err)
	}
	if where := clearIn(t, dir, append(markers, []byte("OldOrgMarker"))); len(where) > 0 {
		t.Errorf("after the upgrade: %v", where)
	}
}
