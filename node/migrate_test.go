package node

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/murmurnet/murmur/crdt"
)

// A data directory written before the state lived in the store (schema 3:
// entries without keys, no tallies) opens, is migrated in place, and
// reports the same digest, counts and views: the keys are decided once by
// replaying the log, and from then on no open replays it.
//
// A directory written by schema 4 (every request keyed open) is keyed
// again the same way, once, if it holds a close. One written by schema 5
// (with an index of the accepted IDs) loses that index and lists the same
// accepted entries (the digest) without it. One written by schema 6
// (closes, acknowledgements and responses not keyed by their organisation)
// has them keyed again; one written by schema 7 loses its index of clocks;
// one written by schema 8 lists its requests apart from the other views;
// one written by schema 9 gains the statistics' inputs, filled in once,
// and reports the statistics the writing node kept as it went.
func TestOldDataDirectoryOpensWithTheSameState(t *testing.T) {
	for _, schema := range []int{3, 4, 5, 6, 7, 8, 9} {
		t.Run(fmt.Sprint("schema ", schema), func(t *testing.T) { oldDirectoryOpens(t, schema) })
	}
}

func oldDirectoryOpens(t *testing.T, schema int) {
	ctx := context.Background()
	a, b := apart(t, SQLiteStore)
	exchange(t, a, b)
	ver, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Verify the lawyer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "alert", Title: "Office raided", Region: "TZ"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRequest(ctx, RequestInput{Kind: "funding", Title: "Relocation", Amount: "1200", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	if _, err := b.Respond(ctx, ResponseInput{Request: ver.ID().String(), Type: "vouch", Body: "Known to us"}); err != nil {
		t.Fatal(err)
	}
	region := []string{"TZ"}
	if _, err := a.SetDirectory(ctx, DirectoryInput{Regions: &region}); err != nil {
		t.Fatal(err)
	}
	gone, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Posted by mistake"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Redact(ctx, gone.ID().String(), "wrong network"); err != nil {
		t.Fatal(err)
	}
	closed, err := a.NewRequest(ctx, RequestInput{Kind: "verification", Title: "Done with"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CloseRequest(ctx, closed.ID().String()); err != nil {
		t.Fatal(err)
	}
	for _, in := range []RequestInput{ // (what awaits Alpha: its inbox)
		{Kind: "verification", Title: "Beta asks", Region: "TZ", RespondBy: "72h"},
		{Kind: "verification", Title: "Beta asks again", Region: "TZ", RespondBy: "24h"},
	} {
		if _, err := b.NewRequest(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	exchange(t, a, b)

	views := func(n *Node) string {
		reqs, err := n.Requests(RequestFilter{})
		if err != nil {
			t.Fatal(err)
		}
		open, err := n.Requests(RequestFilter{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != len(reqs)-1 {
			t.Fatalf("%d open requests of %d, one closed", len(open), len(reqs))
		}
		page, more, err := n.RequestPage(RequestFilter{}, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		// (The inbox first: on an old directory it fills in the
		// statistics' inputs its order reads.)
		inbox, inboxMore, err := n.RequestPage(RequestFilter{Inbox: true}, "", 1)
		if err != nil || len(inbox) != 1 || inbox[0].Title != "Beta asks again" || inboxMore != 1 {
			t.Fatalf("the inbox begins %+v (%v); want one of the other organisation's requests", inbox, err)
		}
		st := n.Status()
		stats, err := n.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stats.At = ""
		if stats.Total.Requests != len(reqs) || stats.Total.Answered != 1 {
			t.Fatalf("stats count %d requests, %d answered; want %d, 1", stats.Total.Requests, stats.Total.Answered, len(reqs))
		}
		out, err := json.Marshal(map[string]any{"digest": st.Digest, "entries": st.Entries, "waiting": st.Waiting, "held": st.Held,
			"requests": reqs, "open": open, "page": page, "more": more, "directory": n.State().Directory(), "members": n.State().Members(),
			"stats": stats, "inbox": inbox, "inbox_more": inboxMore})
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	want := views(a)
	dir := a.Dir()
	a.Close()

	// The database as schema 3 left it.
	db, err := sql.Open("sqlite", filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	// Schema 9 and before: without the statistics' inputs.
	for _, q := range []string{`DROP TABLE request_stats`, `DROP TABLE stats_groups`, `DROP TABLE stats_totals`,
		`DROP TABLE stats_hist`, `DELETE FROM marks WHERE name = 'stats'`, `PRAGMA user_version = 9`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	schema8 := []string{ // requests in the indexes of every view
		`DROP INDEX entries_view_page`, `DROP INDEX entries_view_tag`,
		`CREATE INDEX entries_view_page ON entries (view, clock, id) WHERE status = 1 AND view > 0`,
		`CREATE INDEX entries_view_tag ON entries (view, tag, clock, id) WHERE status = 1 AND view > 0 AND tag <> 0`,
		`PRAGMA user_version = 8`,
	}
	schema7 := []string{ // with an index of every entry's clock
		`CREATE INDEX entries_clock ON entries (clock)`,
		`PRAGMA user_version = 7`,
	}
	schema6 := []string{ // closes, acknowledgements and responses without their organisation's tag
		`CREATE INDEX entries_clock ON entries (clock)`,
		fmt.Sprintf(`UPDATE entries SET tag = 0 WHERE view IN (%d, %d, %d)`, crdt.ViewResponse, crdt.ViewClose, crdt.ViewAck),
		fmt.Sprintf(`DELETE FROM views WHERE view IN (%d, %d, %d)`, crdt.ViewResponse, crdt.ViewClose, crdt.ViewAck),
		fmt.Sprintf(`INSERT INTO views (view, tag, n) SELECT view, 0, COUNT(*) FROM entries WHERE view IN (%d, %d, %d) AND status = 1 GROUP BY view`, crdt.ViewResponse, crdt.ViewClose, crdt.ViewAck),
		`DROP INDEX entries_ref_tag`,
		`PRAGMA user_version = 6`,
	}
	schema5 := append(schema6[:len(schema6)-1:len(schema6)-1],
		`CREATE INDEX entries_accepted_id ON entries (id) WHERE status = 1`,
		`PRAGMA user_version = 5`,
	)
	schema4 := []string{
		`DROP INDEX entries_ref_tag`,
		`CREATE INDEX entries_accepted_id ON entries (id) WHERE status = 1`,
		`DROP INDEX entries_bare`, `DROP INDEX entries_bare_tag`,
		fmt.Sprintf(`UPDATE entries SET ref = NULL WHERE view = %d`, crdt.ViewRequest),
		`PRAGMA user_version = 4`,
	}
	schema3 := []string{
		`DROP INDEX entries_ref_tag`,
		`DROP INDEX entries_bare`, `DROP INDEX entries_bare_tag`,
		`DROP INDEX entries_view_page`, `DROP INDEX entries_view_tag`, `DROP INDEX entries_ref`,
		`DROP INDEX entries_withheld`, `DROP INDEX entries_resident`, `DROP INDEX entries_keyless`,
		`DROP TABLE grant_tokens`, `DROP TABLE devices`, `DROP TABLE tallies`, `DROP TABLE views`, `DROP TABLE marks`,
		`ALTER TABLE entries DROP COLUMN kind`, `ALTER TABLE entries DROP COLUMN view`, `ALTER TABLE entries DROP COLUMN tag`,
		`ALTER TABLE entries DROP COLUMN ref`, `ALTER TABLE entries DROP COLUMN withheld`, `ALTER TABLE entries DROP COLUMN resident`,
		`PRAGMA user_version = 3`,
	}
	qs := schema3
	switch schema {
	case 9:
		qs = nil
	case 4:
		qs = schema4
	case 5:
		qs = schema5
	case 6:
		qs = schema6
	case 7:
		qs = schema7
	case 8:
		qs = schema8
	}
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	again, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if needs, err := again.store.NeedsKeys(ctx); err != nil || needs {
		t.Fatalf("after the open, keys still unknown: %v %v", needs, err)
	}
	if got := views(again); got != want {
		t.Fatalf("the migrated directory shows another state:\n got %s\nwant %s", got, want)
	}
	// And it goes on: a new request is listed first.
	if _, err := again.NewRequest(ctx, RequestInput{Kind: "letter", Title: "Joint statement"}); err != nil {
		t.Fatal(err)
	}
	page, _, err := again.RequestPage(RequestFilter{}, "", 5)
	if err != nil || len(page) < 2 || page[1].Title != "Joint statement" { // (after the open alert)
		t.Fatalf("after the migration, the list begins %+v (%v)", page, err)
	}
}
