package node

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/murmurnet/murmur/node/p2p"
)

// Above quickCheckMax, an open leaves the page check to `murmur run`,
// which refuses a damaged database as it starts; below it, every open
// refuses it.
func TestLargeDatabasePageCheckAtRun(t *testing.T) {
	ctx := context.Background()
	n, err := Init(ctx, t.TempDir(), InitOptions{Org: "Alpha"})
	if err != nil {
		t.Fatal(err)
	}
	dir := n.Dir()
	n.Close()
	// Damage a page that no open reads: the root of an index only the
	// double-funding check uses.
	path := filepath.Join(dir, dbName)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var root, size int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = 'grant_tokens_id'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pg := b[(root-1)*size : root*size]
	for i := range pg {
		pg[i] = 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a small damaged database opened: %v", err)
	}
	old := quickCheckMax
	quickCheckMax = 0
	t.Cleanup(func() { quickCheckMax = old })
	m, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("a large database with a damaged page no command reads did not open: %v", err)
	}
	defer m.Close()
	if err := m.Unlock(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p2p.Start(ctx, m, p2p.RunOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("murmur run started on a damaged database: %v", err)
	}
}
