package store

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
)

// A database that lost a table or an index (dropped by hand, or by a
// tool) is refused at open as damaged, in plain words, instead of every
// command failing with SQLite's; one with its whole schema opens.
func TestMissingTableIsDamage(t *testing.T) {
	ctx := context.Background()
	for _, drop := range []string{"DROP TABLE marks", "DROP INDEX entries_resident"} {
		path := filepath.Join(t.TempDir(), "murmur.db")
		s, err := OpenSQLite(path, testSealKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = OpenSQLite(path, testSealKey)
		p, ok := DamageOf(err)
		name := drop[strings.LastIndexByte(drop, ' ')+1:]
		if !errors.Is(err, ErrCorrupt) || !ok || !strings.Contains(p, name) || strings.Contains(p, "SQL") {
			t.Fatalf("%s: opening: %v (damage %q, %v)", drop, err, p, ok)
		}
	}
	s := openTemp(t, filepath.Join(t.TempDir(), "murmur.db"))
	if err := checkSchema(ctx, s.writer, mustMigrations(t)); err != nil {
		t.Fatalf("a whole schema: %v", err)
	}
}

// The tables and indexes read from the migrations' statements are those
// that applying them to an empty database makes.
func TestSchemaNamesAreWhatMigrationsMake(t *testing.T) {
	ctx := context.Background()
	ms := mustMigrations(t)
	db, err := sql.Open("sqlite", "file:schema?mode=memory")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, m := range ms {
		for i, part := range strings.Split(m.sql, goStepMarker) {
			if i > 0 {
				_, part, _ = strings.Cut(part, "\n") // (the Go step's name; its work is on rows)
			}
			if _, err := db.ExecContext(ctx, part); err != nil {
				t.Fatalf("migration %s: %v", m.name, err)
			}
		}
	}
	made, err := namesIn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if read := namesMadeBy(ms); !maps.Equal(read, made) {
		t.Fatalf("read from the statements: %v\nmade: %v", read, made)
	}
	if len(made) < 5 {
		t.Fatalf("only %v", made)
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := parseMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
