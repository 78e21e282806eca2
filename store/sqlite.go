package store

// The SQLite store.
//
// One writer: every write runs on the single connection of s.writer, one at a
// time (s.writeSlot), inside BEGIN IMMEDIATE. The in-process slot orders this
// process's writers; BEGIN IMMEDIATE takes SQLite's write lock at the start of
// the transaction, so a second process on the same file (a CLI command while
// the node runs) waits for it too (busy_timeout) instead of interleaving with
// Append's read-head-then-insert. Reads use a small pool of query_only
// connections and, in WAL mode, never wait for the writer.
//
// Durability: WAL with synchronous=FULL, so the WAL is fsynced at every commit
// and a write that returned nil survives power loss, not only a crash of the
// process (synchronous=NORMAL would only promise the latter).
//
// Layout: a rowid table (the rowid is the Scan cursor) with a UNIQUE index on
// the 32-byte ID. Measured against a WITHOUT ROWID table keyed by the ID
// (BenchmarkLayout), it inserts 2.2-2.8x faster with the store's indexes
// (31.7 vs 70.0 us per record at 200,000 records) and 2.7-3.3x faster bare;
// the numbers are at the top of migrations/0001_entries.sql.

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurnet/murmur/crdt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver; pure Go, builds with CGO_ENABLED=0
)

// ErrSchemaTooNew is returned by OpenSQLite for a database whose schema was
// written by a newer release than this binary.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this release of murmur")

// ErrCorrupt is returned when the database fails its integrity check or holds
// a row this release cannot read.
var ErrCorrupt = errors.New("store: database is corrupt")

// busyTimeoutMillis is how long a connection waits for a lock another
// connection (or process) holds before giving up with SQLITE_BUSY.
const busyTimeoutMillis = 10000

// scanPage is how many rows Scan reads per query. Each page is its own read
// transaction, so a long scan does not keep the WAL from being checkpointed,
// and fn runs with no transaction open, so it may call other methods.
const scanPage = 1000

// readConns bounds the read pool.
const readConns = 4

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SQLite is the Store kept in one SQLite file.
type SQLite struct {
	statsGroups statsGroups // the statistics' groups stored (stats.go)

	writer  *sql.DB    // exactly one connection; BEGIN IMMEDIATE (_txlock)
	readers *sql.DB    // query_only connections
	read    *stmtCache // the readers' queries, each prepared once
	writes  *stmtCache // the writer's statements, each prepared once

	// writeSlot is the in-process writer mutex. It is a channel rather than
	// a sync.Mutex so that a writer waiting for it gives up when its ctx ends.
	writeSlot chan struct{}
	// durable is the writer's synchronous mode (FULL, or NORMAL for
	// Relaxed writes), once durableSet; under writeSlot.
	durable, durableSet bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// seal seals and opens what the store keeps (seal.go).
	seal *sealer

	// applied lists the migrations this open applied, for tests.
	applied []int
}

var _ Store = (*SQLite)(nil)

// dsn is the data source name for path with the pragmas every connection
// needs. modernc.org/sqlite runs each _pragma on every new connection,
// busy_timeout first, so a pooled connection opened later is configured
// like the first one. The path is given as a file: URI so that characters
// such as '?' or '#' in it cannot be read as URI syntax.
func dsn(path string, extra url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMillis)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	// Freed content (a redacted body) is overwritten with zeros, not left
	// in free pages.
	q.Add("_pragma", "secure_delete(ON)")
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String(), nil
}

// OpenSQLite opens (creating if needed) the store at path, sealed under key
// (KeySize bytes, derived from the device key: see seal.go), and brings its
// schema up to date; a database from a release that kept it in clear is
// sealed in place. It refuses, with ErrSchemaTooNew, a database written by a
// newer release, and with ErrWrongKey one sealed under another key.
func OpenSQLite(path string, key []byte) (*SQLite, error) {
	s, err := openSQLite(path, key)
	if err != nil {
		if corruptCode(err) {
			return nil, fmt.Errorf("store: open %s: %w: %w", path, ErrCorrupt, err)
		}
		if diskFullCode(err) {
			return nil, ErrDiskFull
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

func openSQLite(path string, key []byte) (*SQLite, error) {
	ctx := context.Background()
	migrations, err := parseMigrations(migrationFiles)
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}

	wdsn, err := dsn(path, url.Values{"_txlock": {"immediate"}})
	if err != nil {
		return nil, err
	}
	writer, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	s := &SQLite{writer: writer, writeSlot: make(chan struct{}, 1), seal: seal}

	// Opening the first connection applies the pragmas; journal_mode=WAL
	// is a no-op when the file system cannot do WAL, so check it took.
	var mode string
	if err := writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		writer.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		writer.Close()
		return nil, fmt.Errorf("journal_mode is %q, not wal: put the data directory on a local file system", mode)
	}

	var upgraded bool
	if s.applied, upgraded, err = migrate(ctx, writer, migrations, seal); err != nil {
		writer.Close()
		return nil, err
	}
	if upgraded {
		// The rows were sealed in place: rebuild the file so that no page
		// of the clear rows is left in it, and empty the WAL.
		for _, q := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if _, err := writer.ExecContext(ctx, q); err != nil {
				writer.Close()
				return nil, fmt.Errorf("sealing the database: %w", err)
			}
		}
	}
	if err := checkKey(ctx, writer, seal); err != nil {
		writer.Close()
		return nil, err
	}
	if err := checkSchema(ctx, writer, migrations); err != nil {
		writer.Close()
		return nil, err
	}

	rdsn, err := dsn(path, url.Values{"_query_only": {"1"}})
	if err != nil {
		writer.Close()
		return nil, err
	}
	readers, err := sql.Open("sqlite", rdsn)
	if err != nil {
		writer.Close()
		return nil, err
	}
	readers.SetMaxOpenConns(readConns)
	readers.SetMaxIdleConns(readConns)
	s.readers = readers
	s.read = &stmtCache{db: readers, m: map[string]*sql.Stmt{}}
	s.writes = &stmtCache{db: writer, m: map[string]*sql.Stmt{}}
	return s, nil
}

// stmtCache prepares each query once on a pool (database/sql then keeps
// it prepared on each connection it runs on). The queries are the
// store's own, a few dozen: without it SQLite parses the question again
// every time a State asks it, which was a quarter of an ingest's time.
type stmtCache struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want []string // to prepare when the pool is free (the writer's)
}

// prepared is q's statement if it was prepared already.
func (c *stmtCache) prepared(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// wanted notes q, to prepare (prepareWanted) once the pool's connection
// is free.
func (c *stmtCache) wanted(q string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = append(c.want, q)
}

// prepareWanted prepares the statements wanted; one that fails is
// prepared for each transaction again, as before.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	want := c.want
	c.want = nil
	c.mu.Unlock()
	for _, q := range want {
		_, _ = c.stmt(ctx, q)
	}
}

func (c *stmtCache) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		return nil, ErrClosed
	}
	if st := c.m[q]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

// QueryContext runs q's prepared statement.
func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs q's prepared statement; if q does not prepare, the
// row carries the error (as the pool's own QueryRowContext would).
func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return c.db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

type migration struct {
	version int
	name    string
	sql     string
}

// parseMigrations reads migrations/NNNN_name.sql from fsys. Versions must run
// 1, 2, 3, ... with no gap or duplicate: the version of the last one applied
// is the schema version (PRAGMA user_version).
// SchemaVersion is the database format this release writes: the number
// of its migrations (PRAGMA user_version of a database it has opened).
func SchemaVersion() int {
	ms, err := parseMigrations(migrationFiles)
	if err != nil {
		return 0 // (the embedded files parse: a test opens a database with them)
	}
	return len(ms)
}

func parseMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// goSteps are the steps of migrations that SQL alone cannot do. A
// migration names one on a line of its own, "-- go: NAME"; it runs there,
// in the migration's transaction, between the statements before and after.
var goSteps = map[string]func(ctx context.Context, tx *sql.Tx, seal *sealer) error{
	"sealRows":   sealRows,
	"clearKinds": clearKinds,
}

const goStepMarker = "\n-- go: "

// migrate applies, in one transaction, the migrations newer than the
// database's user_version, and returns the versions it applied. upgraded
// reports that a Go step rewrote rows the database already held.
func migrate(ctx context.Context, db *sql.DB, ms []migration, seal *sealer) (applied []int, upgraded bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: two processes opening a new file do not both migrate
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return nil, false, err
	}
	if current > len(ms) {
		return nil, false, fmt.Errorf("%w: the database has schema version %d and this release knows up to %d; upgrade murmur to open it",
			ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		rest := m.sql
		for {
			before, after, found := strings.Cut(rest, goStepMarker)
			if _, err := tx.ExecContext(ctx, before); err != nil {
				return nil, false, fmt.Errorf("migration %s: %w", m.name, err)
			}
			if !found {
				break
			}
			name, next, _ := strings.Cut(after, "\n")
			step := goSteps[strings.TrimSpace(name)]
			if step == nil {
				return nil, false, fmt.Errorf("migration %s: no Go step %q", m.name, strings.TrimSpace(name))
			}
			if err := step(ctx, tx, seal); err != nil {
				return nil, false, fmt.Errorf("migration %s: %w", m.name, err)
			}
			upgraded = upgraded || current > 0
			rest = next
		}
		applied = append(applied, m.version)
	}
	if len(applied) == 0 {
		return nil, false, nil
	}
	// user_version lives in the database header, which is part of the
	// transaction: a crash before commit leaves neither schema nor version.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(ms))); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	return applied, upgraded, nil
}

// sealRows is migration 3's Go step: it seals, in place, every row a
// database of schema 2 holds in clear, and writes the key check.
func sealRows(ctx context.Context, tx *sql.Tx, seal *sealer) error {
	// Entries, a page at a time.
	type row struct {
		cursor int64
		rec    Record
	}
	for after := int64(0); ; {
		var page []row
		err := func() error {
			rows, err := tx.QueryContext(ctx,
				`SELECT cursor, id, author, kind, raw FROM entries WHERE cursor > ? ORDER BY cursor LIMIT ?`, after, scanPage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var rw row
				var id, author []byte
				var kind int64
				if err := rows.Scan(&rw.cursor, &id, &author, &kind, &rw.rec.Raw); err != nil {
					return err
				}
				if err := copy32(rw.rec.ID[:], id, "id"); err != nil {
					return err
				}
				if err := copy32(rw.rec.Author[:], author, "author"); err != nil {
					return err
				}
				rw.rec.Kind = crdt.Kind(uint64(kind))
				page = append(page, rw)
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
		for _, rw := range page {
			sealed, err := seal.sealEntry(rw.rec.ID, rw.rec.Author, rw.rec.Kind, rw.rec.Raw)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE entries SET author = ?, kind = 0, raw = ? WHERE cursor = ?`,
				seal.author(rw.rec.Author), sealed, rw.cursor); err != nil {
				return err
			}
			after = rw.cursor
		}
		if len(page) < scanPage {
			break
		}
	}

	// Meta values.
	metas := map[string][]byte{}
	if err := func() error {
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM meta`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			metas[k] = v
		}
		return rows.Err()
	}(); err != nil {
		return err
	}
	for k, v := range metas {
		sealed, err := seal.seal(nil, v, metaAD(k))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ?`, sealed, k); err != nil {
			return err
		}
	}

	// Contacts, into the new table.
	var contacts []Contact
	if err := func() error {
		rows, err := tx.QueryContext(ctx, `SELECT device, addr, last, via FROM contacts`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c Contact
			var device []byte
			var last, via int64
			if err := rows.Scan(&device, &c.Addr, &last, &via); err != nil {
				return err
			}
			if err := copy32(c.Device[:], device, "device"); err != nil {
				return err
			}
			c.Last, c.Via = time.UnixMilli(last), Via(via)
			contacts = append(contacts, c)
		}
		return rows.Err()
	}(); err != nil {
		return err
	}
	for _, c := range contacts {
		dev, addr := seal.contactKey(c.Device, c.Addr)
		sealed, err := seal.sealContact(dev, addr, c.Device, c.Via, c.Addr)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts_sealed (device, addr, last, sealed) VALUES (?, ?, ?, ?)`,
			dev, addr, c.Last.UnixMilli(), sealed); err != nil {
			return err
		}
	}

	check, err := seal.seal(nil, nil, []byte(adCheck))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, checkMeta, check)
	return err
}

// checkKey refuses a key the database was not sealed under, before any
// row is read.
func checkKey(ctx context.Context, db *sql.DB, seal *sealer) error {
	var v []byte
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, checkMeta).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: the database has no key check", ErrCorrupt)
	}
	if err != nil {
		return err
	}
	if _, err := seal.open(v, []byte(adCheck)); err != nil {
		return ErrWrongKey
	}
	return nil
}

// fail wraps err with the operation, or reports ErrClosed when the error
// came from the store being closed under the call.
func (s *SQLite) fail(op string, err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if corruptCode(err) {
		return fmt.Errorf("store: %s: %w: %w", op, ErrCorrupt, err)
	}
	if diskFullCode(err) {
		return ErrDiskFull // its words say what to do; SQLite's add nothing a reader needs
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// write runs fn in a BEGIN IMMEDIATE transaction on the writer connection
// and commits it if fn returns nil.
func (s *SQLite) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	select {
	case s.writeSlot <- struct{}{}:
	case <-ctx.Done():
		return s.fail(op, ctx.Err())
	}
	defer func() { <-s.writeSlot }()

	if err := s.syncMode(ctx, !isRelaxed(ctx)); err != nil {
		return s.fail(op, err)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is err
		return s.fail(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(op, err)
	}
	s.writes.prepareWanted(ctx)
	return nil
}

// Relaxed marks ctx's writes as ones a power cut may undo: the entries a
// peer sent, which it (or another) sends again. They are committed without
// waiting for the disk (WAL with synchronous=NORMAL): a crash of the
// process loses none of them, a power cut at most the last ones, and the
// database stays whole either way; the next durable commit (any of this
// device's own writes, or a checkpoint) makes them durable too, since the
// WAL is written in order. Every other write waits for the disk.
func Relaxed(ctx context.Context) context.Context { return context.WithValue(ctx, relaxedKey{}, true) }

type relaxedKey struct{}

func isRelaxed(ctx context.Context) bool { v, _ := ctx.Value(relaxedKey{}).(bool); return v }

// syncMode sets the writer's synchronous mode for the next transaction:
// FULL if durable, NORMAL if not. The caller holds the write slot.
func (s *SQLite) syncMode(ctx context.Context, durable bool) error {
	if s.durable == durable && s.durableSet {
		return nil
	}
	mode := "NORMAL"
	if durable {
		mode = "FULL"
	}
	if _, err := s.writer.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		s.durableSet = false
		return err
	}
	s.durable, s.durableSet = durable, true
	return nil
}

// Put implements Store.
func (s *SQLite) Put(ctx context.Context, recs []Record, changes []crdt.Change) (int, error) {
	// Sealed before the write slot is taken: the writer waits on nobody's
	// encryption.
	rows := make([]newRow, len(recs))
	for i, r := range recs {
		var err error
		if rows[i], err = s.sealRow(r); err != nil {
			return 0, s.fail("put", err)
		}
	}
	var added int
	err := s.write(ctx, "put", func(tx *sql.Tx) error {
		added = 0
		w := s.newTxWriter(ctx, tx)
		defer w.close()
		for _, nr := range rows {
			ok, err := w.insert(nr)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		for _, c := range changes {
			if _, err := w.change(c.ID, c.To); err != nil {
				return err
			}
		}
		return w.finish()
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// Append implements Store.
func (s *SQLite) Append(ctx context.Context, author crdt.DeviceKey, fn func(head Head, maxClock crdt.Clock) (Record, error)) error {
	var fnErr error // fn's error, returned as it is
	err := s.write(ctx, "append", func(tx *sql.Tx) error {
		head, err := readHead(ctx, tx, s.seal.author(author))
		if err != nil {
			return err
		}
		maxClock, err := readMaxClock(ctx, tx)
		if err != nil {
			return err
		}
		var r Record
		if r, fnErr = fn(head, maxClock); fnErr != nil {
			return fnErr
		}
		if r.Author != author {
			return fmt.Errorf("%w: record by %s, chain of %s", ErrWrongAuthor, r.Author, author)
		}
		nr, err := s.sealRow(r)
		if err != nil {
			return err
		}
		w := s.newTxWriter(ctx, tx)
		defer w.close()
		ok, err := w.insert(nr)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrExists, r.ID)
		}
		return w.finish()
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Seq and clock are stored as int64 bit patterns, so SQL orders values >=
// 2^63 (negative in SQL) below the others. Each "highest" query therefore
// asks the negative range first and falls back to the whole range; both
// queries are one index seek.
const (
	headHigh = `SELECT seq, id, clock FROM entries WHERE author = ? AND seq < 0 ORDER BY seq DESC, id ASC LIMIT 1`
	headLow  = `SELECT seq, id, clock FROM entries WHERE author = ? ORDER BY seq DESC, id ASC LIMIT 1`
)

// readHead reads the head of the chain whose author's keyed hash is author.
func readHead(ctx context.Context, q querier, author []byte) (Head, error) {
	for _, query := range []string{headHigh, headLow} {
		var seq, clock int64
		var id []byte
		err := q.QueryRowContext(ctx, query, author).Scan(&seq, &id, &clock)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Head{}, err
		}
		h := Head{Seq: uint64(seq), Clock: crdt.Clock(uint64(clock))}
		if err := copy32(h.ID[:], id, "id"); err != nil {
			return Head{}, err
		}
		return h, nil
	}
	return Head{}, nil
}

// readMaxClock reads the clock mark: the highest clock ever stored (a
// deleted entry does not take it back), which every write of entries
// raises (markClock). An index of the clocks cost every insert, for this
// one question.
func readMaxClock(ctx context.Context, q querier) (crdt.Clock, error) {
	var clock int64
	err := q.QueryRowContext(ctx, `SELECT value FROM marks WHERE name = 'clock'`).Scan(&clock)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return crdt.Clock(uint64(clock)), nil
}

func copy32(dst, src []byte, column string) error {
	if len(src) != 32 {
		return fmt.Errorf("%w: %s column holds %d bytes, want 32", ErrCorrupt, column, len(src))
	}
	copy(dst, src)
	return nil
}

// Get implements Store.
// getManyChunk is how many IDs one query of GetMany names: always as
// many (the last chunk is filled with the zero ID), so that it is one
// statement.
const getManyChunk = 64

var getManyQuery = `SELECT ` + recordCols + ` FROM entries WHERE id IN (?` + strings.Repeat(`, ?`, getManyChunk-1) + `)`

// GetMany implements Store.
func (s *SQLite) GetMany(ctx context.Context, ids []crdt.ID) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var out []Record
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b crdt.ID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	args := make([]any, getManyChunk)
	for len(ids) > 0 {
		n := chunkArgs(args, ids)
		rows, err := s.readRows(ctx, s.read, getManyQuery, args...)
		if err != nil {
			return nil, s.fail("get many", err)
		}
		for _, r := range rows {
			out = append(out, r.rec)
		}
		ids = ids[n:]
	}
	return out, nil
}

// chunkArgs fills args with the first IDs of ids, and the rest of it with
// the zero ID (no entry's), and says how many it took.
func chunkArgs(args []any, ids []crdt.ID) int {
	var none crdt.ID
	n := min(len(ids), len(args))
	for i := range args {
		args[i] = none[:]
		if i < n {
			args[i] = ids[i][:]
		}
	}
	return n
}

var statusesQuery = `SELECT id, status, withheld FROM entries WHERE id IN (?` + strings.Repeat(`, ?`, getManyChunk-1) + `)`

// Statuses implements Store: getManyChunk IDs a query.
func (s *SQLite) Statuses(ctx context.Context, ids []crdt.ID, fn func(crdt.ID, crdt.Status, bool)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	args := make([]any, getManyChunk)
	for len(ids) > 0 {
		n := chunkArgs(args, ids)
		err := func() error {
			rows, err := s.read.QueryContext(ctx, statusesQuery, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var b []byte
				var st, held int64
				var id crdt.ID
				if err := rows.Scan(&b, &st, &held); err != nil {
					return err
				}
				if err := copy32(id[:], b, "id"); err != nil {
					return err
				}
				fn(id, crdt.Status(st), held != 0)
			}
			return rows.Err()
		}()
		if err != nil {
			return s.fail("statuses", err)
		}
		ids = ids[n:]
	}
	return nil
}

// Status implements Store.
func (s *SQLite) Status(ctx context.Context, id crdt.ID) (crdt.Status, bool, bool, error) {
	if s.closed.Load() {
		return crdt.StatusNone, false, false, ErrClosed
	}
	var st, held int64
	err := s.read.QueryRowContext(ctx, `SELECT status, withheld FROM entries WHERE id = ?`, id[:]).Scan(&st, &held)
	if errors.Is(err, sql.ErrNoRows) {
		return crdt.StatusNone, false, false, nil
	}
	if err != nil {
		return crdt.StatusNone, false, false, s.fail("status", err)
	}
	return crdt.Status(st), held != 0, true, nil
}

func (s *SQLite) Get(ctx context.Context, id crdt.ID) (Record, error) {
	if s.closed.Load() {
		return Record{}, ErrClosed
	}
	rows, err := s.readRows(ctx, s.read, `SELECT `+recordCols+` FROM entries WHERE id = ?`, id[:])
	if err != nil {
		return Record{}, s.fail("get", err)
	}
	if len(rows) == 0 {
		return Record{}, fmt.Errorf("%w: entry %s", ErrNotFound, id)
	}
	return rows[0].rec, nil
}

// fillRecord fills r from its row's clear columns and opens its sealed one.
func (s *SQLite) fillRecord(r *Record, id []byte, seq, clock, status int64, sealed []byte) error {
	if err := copy32(r.ID[:], id, "id"); err != nil {
		return err
	}
	if status < 0 || status > 255 {
		return fmt.Errorf("%w: status %d", ErrCorrupt, status)
	}
	if err := s.seal.openEntry(r, sealed); err != nil {
		return err
	}
	r.Seq = uint64(seq)
	r.Clock = crdt.Clock(uint64(clock))
	r.Status = crdt.Status(status)
	if r.Raw == nil {
		r.Raw = []byte{}
	}
	return nil
}

// Scan implements Store.
func (s *SQLite) Scan(ctx context.Context, after int64, fn func(cursor int64, r Record) error) (int64, error) {
	if s.closed.Load() {
		return after, ErrClosed
	}
	for {
		page, err := s.readRows(ctx, s.read,
			`SELECT `+recordCols+` FROM entries WHERE cursor > ? ORDER BY cursor LIMIT ?`, after, scanPage)
		if err != nil {
			return after, s.fail("scan", err)
		}
		// The page's read transaction has ended: fn may write, and the WAL
		// can be checkpointed while fn works.
		for _, rw := range page {
			if err := ctx.Err(); err != nil {
				return after, s.fail("scan", err)
			}
			if err := fn(rw.cursor, rw.rec); err != nil {
				return after, err
			}
			after = rw.cursor
		}
		if len(page) < scanPage {
			return after, nil
		}
	}
}

// Counts implements Store: it reads the tallies every write keeps.
func (s *SQLite) Counts(ctx context.Context) (Counts, error) {
	if s.closed.Load() {
		return Counts{}, ErrClosed
	}
	c, err := s.counts(ctx)
	if err != nil {
		return Counts{}, s.fail("counts", err)
	}
	return c, nil
}

// addCount counts n records of status st with size bytes of Raw. Records
// with a status other than the three kept ones still count towards Bytes.
func addCount(c *Counts, st crdt.Status, n int, size int64) {
	switch st {
	case crdt.StatusAccepted:
		c.Accepted += n
	case crdt.StatusWaiting:
		c.Waiting += n
	case crdt.StatusHeld:
		c.Held += n
	}
	c.Bytes += size
}

// GetMeta implements Store.
func (s *SQLite) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if key == checkMeta {
		return nil, fmt.Errorf("%w: meta %q", ErrNotFound, key)
	}
	var sealed []byte
	err := s.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: meta %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, s.fail("get meta", err)
	}
	v, err := s.seal.open(sealed, metaAD(key))
	if err != nil {
		return nil, s.fail("get meta", fmt.Errorf("%q: %w", key, err))
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SetMeta implements Store.
func (s *SQLite) SetMeta(ctx context.Context, key string, value []byte) error {
	if key == checkMeta {
		return fmt.Errorf("store: set meta: %q is the store's own", key)
	}
	sealed, err := s.seal.seal(nil, value, metaAD(key))
	if err != nil {
		return s.fail("set meta", err)
	}
	return s.write(ctx, "set meta", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			key, sealed)
		return err
	})
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error wrapping
// ErrCorrupt unless SQLite answers "ok".
func (s *SQLite) IntegrityCheck(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	rows, err := s.readers.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return s.fail("integrity check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.fail("integrity check", err)
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		return s.fail("integrity check", err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return fmt.Errorf("store: integrity check: %w: %s; restore the data directory from a backup or resync from peers",
		ErrCorrupt, strings.Join(problems, "; "))
}

// Close implements Store. Calls in flight when Close runs end with
// ErrClosed or complete; calls after it return ErrClosed.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = errors.Join(s.read.close(), s.writes.close(), s.readers.Close(), s.writer.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("store: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// Rewrite implements Store.
func (s *SQLite) Rewrite(ctx context.Context, id crdt.ID, raw []byte, keys crdt.Keys) error {
	dropped := false // the bytes replaced held a body
	err := s.write(ctx, "rewrite", func(tx *sql.Tx) error {
		w := s.newTxWriter(ctx, tx)
		defer w.close()
		var err error
		if dropped, err = w.rewrite(id, raw, keys); err != nil {
			return err
		}
		return w.finish()
	})
	if err != nil || !dropped {
		return err
	}
	return s.checkpoint(ctx, "rewrite")
}

// checkpoint copies the WAL into the database and empties it: after a
// body is dropped, the WAL still holds the page as it was.
func (s *SQLite) checkpoint(ctx context.Context, op string) error {
	if _, err := s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return s.fail(op+": checkpoint", err)
	}
	return nil
}

// rewrite replaces the stored bytes and keys of id, and reports whether
// the bytes replaced held a body. An unknown ID is ignored.
func (w *txWriter) rewrite(id crdt.ID, raw []byte, keys crdt.Keys) (bool, error) {
	old, found, err := w.read(id)
	if err != nil || !found {
		return false, err
	}
	var sealed []byte
	if err := w.tx.QueryRowContext(w.ctx, `SELECT sealed FROM entries WHERE id = ?`, id[:]).Scan(&sealed); err != nil {
		return false, err
	}
	r := Record{ID: id}
	if err := w.s.seal.openEntry(&r, sealed); err != nil {
		return false, err
	}
	if sealed, err = w.s.seal.sealEntry(id, r.Author, r.Kind, raw); err != nil {
		return false, err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE entries SET sealed = ? WHERE id = ?`, sealed, id[:]); err != nil {
		return false, err
	}
	w.tally(old.status, old.kind, 0, int64(len(sealed))-old.size)
	if err := w.setKeys(id, keys, withheldRaw(raw)); err != nil {
		return false, err
	}
	return !old.held, nil
}

// RecordContact implements Store.
func (s *SQLite) RecordContact(ctx context.Context, device crdt.DeviceKey, at time.Time, via Via, addrs ...[]byte) error {
	if len(addrs) == 0 {
		return nil
	}
	ms := at.UnixMilli()
	type row struct{ dev, addr, sealed []byte }
	rows := make([]row, len(addrs))
	for i, a := range addrs {
		dev, addr := s.seal.contactKey(device, a)
		sealed, err := s.seal.sealContact(dev, addr, device, via, a)
		if err != nil {
			return s.fail("record contact", err)
		}
		rows[i] = row{dev, addr, sealed}
	}
	return s.write(ctx, "record contact", func(tx *sql.Tx) error {
		for _, r := range rows {
			_, err := tx.ExecContext(ctx,
				`INSERT INTO contacts (device, addr, last, sealed) VALUES (?, ?, ?, ?)
				 ON CONFLICT (device, addr) DO UPDATE SET last = excluded.last, sealed = excluded.sealed WHERE excluded.last >= contacts.last`,
				r.dev, r.addr, ms, r.sealed)
			if err != nil {
				return err
			}
		}
		// Keep the device's MaxContactAddrs most recent addresses (ties:
		// the lowest address), ordered here, as the addresses are sealed.
		cs, err := s.readContacts(ctx, tx, `SELECT device, addr, last, sealed FROM contacts WHERE device = ?`, rows[0].dev)
		if err != nil {
			return err
		}
		if len(cs) <= MaxContactAddrs {
			return nil
		}
		sortContacts(cs)
		for _, c := range cs[MaxContactAddrs:] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE device = ? AND addr = ?`, c.dev, c.addr); err != nil {
				return err
			}
		}
		return nil
	})
}

// storedContact is a contact with its row's key.
type storedContact struct {
	Contact
	dev, addr []byte
}

// sortContacts orders contacts most recent first, then by device and
// address.
func sortContacts(cs []storedContact) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.Last.Equal(b.Last) {
			return a.Last.After(b.Last)
		}
		if c := bytes.Compare(a.Device[:], b.Device[:]); c != 0 {
			return c < 0
		}
		return bytes.Compare(a.Addr, b.Addr) < 0
	})
}

// rowQuerier is what *sql.DB and *sql.Tx share for queries of many rows.
type rowQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readContacts reads and opens the contacts query selects (device, addr,
// last, sealed).
func (s *SQLite) readContacts(ctx context.Context, q rowQuerier, query string, args ...any) ([]storedContact, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedContact
	for rows.Next() {
		var dev, addr, sealed []byte
		var last int64
		if err := rows.Scan(&dev, &addr, &last, &sealed); err != nil {
			return nil, err
		}
		c, err := s.seal.openContact(dev, addr, sealed)
		if err != nil {
			return nil, err
		}
		c.Last = time.UnixMilli(last)
		out = append(out, storedContact{Contact: c, dev: dev, addr: addr})
	}
	return out, rows.Err()
}

// Contacts implements Store.
func (s *SQLite) Contacts(ctx context.Context) ([]Contact, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	cs, err := s.readContacts(ctx, s.readers, `SELECT device, addr, last, sealed FROM contacts`)
	if err != nil {
		return nil, s.fail("contacts", err)
	}
	sortContacts(cs)
	var out []Contact
	for _, c := range cs {
		out = append(out, c.Contact)
	}
	return out, nil
}
