package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// The schema a database must have. A table or index dropped by hand or by
// a tool left every command failing with SQLite's own words ("no such
// table: marks"), and the doctor saw nothing wrong. So a database opened
// must have each table and index this release's migrations make. They are
// read from the migrations' statements (CREATE, DROP, ALTER TABLE ...
// RENAME TO), once per process: a test checks them against what applying
// the migrations to an empty database makes.

var schema struct {
	once  sync.Once
	names map[string]string // name -> "table" or "index"
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	createRe   = regexp.MustCompile(`(?is)^CREATE\s+(?:UNIQUE\s+)?(?:TEMP\s+|TEMPORARY\s+)?(TABLE|INDEX)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)`)
	dropRe     = regexp.MustCompile(`(?is)^DROP\s+(TABLE|INDEX)\s+(?:IF\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)`)
	renameRe   = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+RENAME\s+TO\s+([A-Za-z_][A-Za-z0-9_]*)`)
)

// schemaNames are the tables and indexes the migrations ms make.
func schemaNames(ms []migration) map[string]string {
	schema.once.Do(func() { schema.names = namesMadeBy(ms) })
	return schema.names
}

func namesMadeBy(ms []migration) map[string]string {
	names := map[string]string{}
	for _, m := range ms {
		for stmt := range strings.SplitSeq(sqlComment.ReplaceAllString(m.sql, ""), ";") {
			stmt = strings.TrimSpace(stmt)
			if c := createRe.FindStringSubmatch(stmt); c != nil {
				names[c[2]] = strings.ToLower(c[1])
			} else if d := dropRe.FindStringSubmatch(stmt); d != nil {
				delete(names, d[2])
			} else if r := renameRe.FindStringSubmatch(stmt); r != nil {
				names[r[2]] = names[r[1]]
				delete(names, r[1])
			}
		}
	}
	return names
}

// namesIn lists the tables and indexes of db, but SQLite's own.
func namesIn(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

// checkSchema reports, as Damage, a table or index the database lacks.
func checkSchema(ctx context.Context, db *sql.DB, ms []migration) error {
	have, err := namesIn(ctx, db)
	if err != nil {
		return err
	}
	var missing []string
	for name, typ := range schemaNames(ms) {
		if have[name] != typ {
			missing = append(missing, typ+" "+name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return &Damage{Problem: fmt.Sprintf("part of it is missing (%s)", strings.Join(missing, ", "))}
}
