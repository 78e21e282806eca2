package store

// BenchmarkLayout measures the two ways to key the entries table that the
// issue asks about, with the pragmas the store uses (WAL, synchronous=FULL)
// on a temporary file:
//
//   - rowid: a rowid table (the rowid is the Scan cursor, AUTOINCREMENT) with
//     a UNIQUE index on the 32-byte ID: the rows are appended in rowid order
//     and only the small index entry lands at a random place.
//   - without-rowid: a WITHOUT ROWID table whose primary key is the ID: the
//     whole row (~300 bytes of raw) lands at a random place in the b-tree.
//
// "full" variants carry every secondary index the store needs: (author,
// seq) for Head, clock for Append's maxClock and, for the WITHOUT ROWID
// table, a UNIQUE insertion-order column, since Scan needs a cursor that
// such a table does not have for free. "bare" variants are the two tables
// alone, which is what the 3-4x claim is about.
//
// Run with a count large enough for the table to outgrow SQLite's page
// cache (2 MB by default), where the difference shows:
//
//	go test -run='^$' -bench=Layout -benchtime=200000x ./store/
//
// ns/op is per inserted record; records are inserted in transactions of
// layoutBatch. The numbers and the conclusion are in
// migrations/0001_entries.sql.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

const layoutBatch = 256

var layouts = []struct {
	name      string
	schema    []string
	insert    string
	cursorArg bool // the insert takes the insertion-order cursor as its last argument
}{
	{
		name: "rowid/full",
		schema: []string{
			`CREATE TABLE entries (cursor INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, author BLOB NOT NULL,
				seq INTEGER NOT NULL, clock INTEGER NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL, raw BLOB NOT NULL)`,
			`CREATE INDEX entries_author_seq ON entries (author, seq)`,
			`CREATE INDEX entries_clock ON entries (clock)`,
		},
		insert: `INSERT OR IGNORE INTO entries (id, author, seq, clock, kind, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	},
	{
		name: "without-rowid/full",
		schema: []string{
			`CREATE TABLE entries (id BLOB PRIMARY KEY, cursor INTEGER NOT NULL UNIQUE, author BLOB NOT NULL,
				seq INTEGER NOT NULL, clock INTEGER NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL, raw BLOB NOT NULL) WITHOUT ROWID`,
			`CREATE INDEX entries_author_seq ON entries (author, seq)`,
			`CREATE INDEX entries_clock ON entries (clock)`,
		},
		insert:    `INSERT OR IGNORE INTO entries (id, author, seq, clock, kind, status, raw, cursor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		cursorArg: true,
	},
	{
		name: "rowid/bare",
		schema: []string{
			`CREATE TABLE entries (cursor INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, author BLOB NOT NULL,
				seq INTEGER NOT NULL, clock INTEGER NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL, raw BLOB NOT NULL)`,
		},
		insert: `INSERT OR IGNORE INTO entries (id, author, seq, clock, kind, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	},
	{
		name: "without-rowid/bare",
		schema: []string{
			`CREATE TABLE entries (id BLOB PRIMARY KEY, author BLOB NOT NULL,
				seq INTEGER NOT NULL, clock INTEGER NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL, raw BLOB NOT NULL) WITHOUT ROWID`,
		},
		insert: `INSERT OR IGNORE INTO entries (id, author, seq, clock, kind, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	},
}

func BenchmarkLayout(b *testing.B) {
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			ctx := context.Background()
			src, err := dsn(filepath.Join(b.TempDir(), "layout.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			db, err := sql.Open("sqlite", src)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			for _, stmt := range l.schema {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					b.Fatal(err)
				}
			}

			// A fixed seed: every layout inserts the same records.
			rng := rand.New(rand.NewPCG(1, 2))
			authors := make([][]byte, 50)
			for i := range authors {
				authors[i] = randomBytes(rng, 32)
			}
			seqs := make([]int64, len(authors))
			clock := int64(1) << 40

			b.SetBytes(300)
			b.ResetTimer()
			for done := 0; done < b.N; {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.PrepareContext(ctx, l.insert)
				if err != nil {
					b.Fatal(err)
				}
				for n := 0; n < layoutBatch && done < b.N; n++ {
					a := rng.IntN(len(authors))
					seqs[a]++
					clock += int64(rng.IntN(1000))
					args := []any{randomBytes(rng, 32), authors[a], seqs[a], clock, int64(6), int64(1), randomBytes(rng, 280+rng.IntN(40))}
					if l.cursorArg {
						args = append(args, int64(done+1))
					}
					if _, err := stmt.ExecContext(ctx, args...); err != nil {
						b.Fatal(err)
					}
					done++
				}
				stmt.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}
