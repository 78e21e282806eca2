package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/murmurnet/murmur/crdt"
	"github.com/murmurnet/murmur/store"
)

// A node keeps its entries in murmur.db, a SQLite store. Tests may keep
// them in memory instead, so that the node tests run one suite on both
// stores, as the store package does (stores_test.go): memoryStores, when a
// test sets it, gives the store of each data directory it keeps in memory,
// a new handle on every call, as each OpenSQLite is one on the file; for
// any other directory it returns nil and murmur.db is used. Production code
// never sets it. Everything else in the directory (the key, murmur.json,
// the sealed secrets) is a real file either way.
var memoryStores func(dir string) store.Store

// errNoDatabaseFile refuses, on a node whose entries are kept in memory
// (a test's), what only a database file allows: checking, repairing.
var errNoDatabaseFile = errors.New("this node keeps its entries in memory, not in a database file: there is no file to check or repair")

// inMemory reports whether dir's entries are kept in memory.
func inMemory(dir string) bool {
	if memoryStores == nil {
		return false
	}
	s := memoryStores(dir)
	if s == nil {
		return false
	}
	s.Close()
	return true
}

// createStore makes dir's store, new and empty, and writes into it the
// network's genesis entry, then closes it: the node opens it with
// openStore.
func createStore(ctx context.Context, dir string, key []byte, genesis *crdt.Entry) error {
	var st store.Store
	if memoryStores != nil {
		st = memoryStores(dir)
	}
	if st != nil {
		if _, err := st.GetMeta(ctx, "network"); !errors.Is(err, store.ErrNotFound) {
			st.Close()
			if err == nil {
				return fmt.Errorf("the store of %s holds a network already", dir)
			}
			return err
		}
	} else {
		dbPath := filepath.Join(dir, dbName)
		// SQLite gives the WAL and shared-memory files the database's
		// mode: create it readable by this user only.
		f, err := os.OpenFile(dbPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("creating %s: %w", dbPath, err)
		}
		f.Close()
		if st, err = store.OpenSQLite(dbPath, key); err != nil {
			return err
		}
	}
	netID := genesis.ID()
	err := st.SetMeta(ctx, "network", netID[:])
	if err == nil {
		_, err = st.Put(ctx, []store.Record{recordOf(genesis, crdt.StatusAccepted)}, nil)
	}
	st.Close()
	return err
}

// quickCheckMax is the largest database every open reads whole
// (quick_check reads every page: 77 ms at 100,000 entries, 70 MB, and ten
// times that at a million). Above it, a command checks the file's shape
// only, and leaves the page check to `murmur run`, as it starts
// (checkPages), and to `murmur doctor`; SQLite still refuses a damaged
// page it reads, and the open says so as for any damage.
var quickCheckMax int64 = 32 << 20

// openStore opens dir's store. A damaged database is refused before it is
// read (doctor.go), and before it is used (QuickCheck, up to
// quickCheckMax). unchecked says the page check was left for later.
func openStore(ctx context.Context, dir string, key []byte) (st store.Store, unchecked bool, err error) {
	if memoryStores != nil {
		if st := memoryStores(dir); st != nil {
			return st, false, nil
		}
	}
	dbPath := filepath.Join(dir, dbName)
	if err := store.CheckFile(dbPath); err != nil {
		return nil, false, damaged(dir, err)
	}
	db, err := store.OpenSQLite(dbPath, key)
	if err != nil {
		return nil, false, damaged(dir, err)
	}
	if fi, err := os.Stat(dbPath); err == nil && fi.Size() > quickCheckMax {
		return db, true, nil
	}
	if err := db.QuickCheck(ctx); err != nil {
		db.Close()
		return nil, false, damaged(dir, err)
	}
	return db, false, nil
}

// checkPages runs the page check an open left for later (openStore).
func (n *Node) checkPages(ctx context.Context) error {
	db, ok := n.store.(*store.SQLite)
	if !n.unchecked || !ok {
		return nil
	}
	if err := db.QuickCheck(ctx); err != nil {
		return damaged(n.dir, err)
	}
	n.unchecked = false
	return nil
}
