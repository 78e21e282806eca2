package store

// The SQLite store's answers to a crdt State's questions (Querier, Keyer),
// and the bookkeeping every write does so that each is an index seek or an
// index walk: the keys columns, the grant tokens, the per-device and
// per-status tallies and the clock mark (migrations/0004_keys.sql).

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/murmurnet/murmur/crdt"
)

// acceptedStatus is crdt.StatusAccepted as the partial indexes of migration 4
// name it: the queries that use them say "status = 1".
const acceptedStatus = 1

func init() {
	if crdt.StatusAccepted != acceptedStatus {
		panic("store: crdt.StatusAccepted is not the status the indexes name")
	}
}

// recordCols are the columns readRows scans, in order.
const recordCols = `cursor, id, seq, clock, status, sealed, kind, view, tag, ref, withheld`

// listedWhere is what a query listing accepted records of a view says, so
// that the partial indexes on views apply.
const listedWhere = `status = 1 AND view > 0`

// The queries of Querier and Keyer. Each names the index it must use
// (INDEXED BY: a query the index cannot answer fails instead of scanning
// the table); TestFactsQueryPlans shows their plans.
const (
	authoredQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_author_seq
		WHERE author = ? AND (seq, cursor) > (?, ?) ORDER BY seq, cursor LIMIT ?`
	acceptedSeqHigh = `SELECT seq FROM entries INDEXED BY entries_author_seq WHERE status = 1 AND author = ? AND seq < 0 ORDER BY seq DESC LIMIT 1`
	acceptedSeqLow  = `SELECT seq FROM entries INDEXED BY entries_author_seq WHERE status = 1 AND author = ? ORDER BY seq DESC LIMIT 1`
	acceptedAtSeq   = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_author_seq
		WHERE status = 1 AND author = ? AND seq = ? ORDER BY id LIMIT 1`
	deviceQuery = `SELECT accepted, forked FROM devices WHERE author = ?`
	viewQuery   = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_view_page
		WHERE ` + listedWhere + ` AND view > 1 AND view = ? AND (clock, id) > (?, ?) ORDER BY clock, id LIMIT ?`
	refsQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_ref
		WHERE ` + listedWhere + ` AND ref IS NOT NULL AND view = ? AND ref = ? AND (clock, id) > (?, ?) ORDER BY clock, id LIMIT ?`
	rangeQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY sqlite_autoindex_entries_1
		WHERE id >= ? AND id <= ? AND ` + listedWhere + ` AND view = ? ORDER BY id LIMIT ?`
	rangeAnyQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY sqlite_autoindex_entries_1
		WHERE id >= ? AND id <= ? AND status = 1 ORDER BY id LIMIT ?`
	grantsQuery = `SELECT e.cursor, e.id, e.seq, e.clock, e.status, e.sealed, e.kind, e.view, e.tag, e.ref, e.withheld
		FROM grant_tokens g JOIN entries e ON e.id = g.id
		WHERE g.token = ? AND g.id > ? AND e.status = 1 AND e.view > 0 ORDER BY g.id LIMIT ?`
	withheldQuery = `SELECT id FROM entries INDEXED BY entries_withheld
		WHERE status = 1 AND withheld = 1 AND id > ? ORDER BY id LIMIT ?`
	idsQuery = `SELECT id FROM entries INDEXED BY sqlite_autoindex_entries_1
		WHERE id > ? ORDER BY id LIMIT ?`
	notAcceptedQuery = `SELECT id FROM entries INDEXED BY entries_resident
		WHERE resident = 1 AND status <> 1`
	countUpToQuery = `SELECT COUNT(*) FROM (SELECT 1 FROM entries INDEXED BY entries_ref_tag
		WHERE ` + listedWhere + ` AND ref IS NOT NULL AND tag <> 0 AND view = ? AND ref = ? AND tag = ? LIMIT ?)`
	countQuery    = `SELECT COALESCE(SUM(n), 0) FROM views WHERE view = ?`
	countTagQuery = `SELECT COALESCE(SUM(n), 0) FROM views WHERE view = ? AND tag = ?`
	residentQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_resident
		WHERE resident = 1 AND cursor > ? ORDER BY cursor LIMIT ?`
	residentAcceptedQuery = `SELECT ` + recordCols + ` FROM entries INDEXED BY entries_resident
		WHERE resident = 1 AND status = 1 AND cursor > ? ORDER BY cursor LIMIT ?`
	needsKeysQuery = `SELECT EXISTS (SELECT 1 FROM entries INDEXED BY entries_keyless WHERE view IS NULL)`

	// A device's fork: at one of the seqs (a JSON array) just accepted, at
	// one seq, anywhere (walks the device's entries: only when a fork may
	// have gone).
	forkedAmong = `SELECT EXISTS (SELECT 1 FROM entries INDEXED BY entries_author_seq
		WHERE author = ? AND seq IN (SELECT value FROM json_each(?)) AND status = 1 GROUP BY seq HAVING COUNT(*) > 1)`
	acceptedAtCount = `SELECT COUNT(*) FROM entries INDEXED BY entries_author_seq WHERE status = 1 AND author = ? AND seq = ?`
	rowsInSeqRange  = `SELECT COUNT(*) FROM entries INDEXED BY entries_author_seq WHERE author = ? AND seq BETWEEN ? AND ?`
	forkedAnywhere  = `SELECT EXISTS (SELECT 1 FROM entries INDEXED BY entries_author_seq
		WHERE status = 1 AND author = ? GROUP BY seq HAVING COUNT(*) > 1)`
)

// refFilter is how a page narrows its view by ref.
type refFilter int

const (
	anyRef refFilter = iota
	noRef            // the rows with none (Page's ref is the zero ID)
	oneRef           // the rows with one ref
)

func refFilterOf(ref *crdt.ID) refFilter {
	switch {
	case ref == nil:
		return anyRef
	case *ref == crdt.ID{}:
		return noRef
	}
	return oneRef
}

// pageQuery is Page's query over one range of clocks (high: those of 2^63
// and more, negative in SQL), of one tag or all, of one ref, none or all,
// from a cursor or not. Its arguments: view, [ref], [tag], [cursor clock,
// cursor id], limit.
func pageQuery(tag bool, rf refFilter, high, from bool) string {
	return pageSelect(`SELECT `+recordCols, tag, rf, high, from) + ` ORDER BY clock DESC, id DESC LIMIT ?`
}

// pageSelect is the part of pageQuery before its order, for Count too.
// Its arguments: view, [ref], [tag], [cursor clock, cursor id].
func pageSelect(sel string, tag bool, rf refFilter, high, from bool) string {
	q, w := viewSelect(sel, tag, rf)
	switch {
	case high && from: // the cursor's clock is in this range: below it is too
	case high:
		w += ` AND clock < 0`
	default:
		w += ` AND clock >= 0`
	}
	if from {
		w += ` AND (clock, id) < (?, ?)`
	}
	return q + ` WHERE ` + w
}

// viewSelect is a select of the rows of a view (of one tag, of one ref or
// none) through the index that holds them, and its condition. Its
// arguments: view, [ref], [tag].
func viewSelect(sel string, tag bool, rf refFilter) (q, where string) {
	index := "entries_view_page"
	w := listedWhere + ` AND view = ?`
	switch {
	case rf == anyRef && tag:
		index, w = "entries_view_tag", w+` AND view > 1 AND tag <> 0 AND tag = ?`
	case rf == anyRef:
		w += ` AND view > 1`
	case rf == oneRef && tag:
		index, w = "entries_ref_tag", w+` AND ref IS NOT NULL AND tag <> 0 AND ref = ? AND tag = ?`
	case rf == oneRef:
		index, w = "entries_ref", w+` AND ref IS NOT NULL AND ref = ?`
	case rf == noRef && tag:
		index, w = "entries_bare_tag", w+` AND ref IS NULL AND tag <> 0 AND tag = ?`
	case rf == noRef:
		index, w = "entries_bare", w+` AND ref IS NULL`
	}
	return sel + ` FROM entries INDEXED BY ` + index, w
}

// residentFlag is the resident column of a record of kind with status st.
func residentFlag(st crdt.Status, kind crdt.Kind) int64 {
	if st != crdt.StatusAccepted || crdt.ResidentKind(kind) {
		return 1
	}
	return 0
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// keyCols are the values of the view, tag and ref columns for keys. The
// ref is kept as the store's keyed hash: in clear it would tell an imaged
// disk which response answers which request, and a directory entry's
// ref is its author's device key.
func (s *sealer) keyCols(k crdt.Keys) (view, tag int64, ref any) {
	if k.Ref != (crdt.ID{}) {
		ref = s.refKey(k.Ref)
	}
	return int64(k.View), s.tagKey(k.View, k.Tag), ref
}

// tagKey is the stored form of a tag of view v. The tag of a close, an
// acknowledgement or a response names its organisation: it is kept as the
// store's keyed hash, never 0. Other tags (a request's kind) are kept as
// they are.
func (s *sealer) tagKey(v crdt.View, tag uint64) int64 {
	if tag == 0 || !crdt.OrgTagged(v) {
		return int64(tag)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], tag)
	t := int64(binary.BigEndian.Uint64(s.keyed("tag", b[:])))
	if t == 0 {
		t = 1
	}
	return t
}

// refKey is the stored form of a ref: the store's keyed hash.
func (s *sealer) refKey(ref crdt.ID) []byte { return s.keyed("ref", ref[:]) }

// tokenKey is the stored form of a grant token: the store's keyed hash.
func (s *sealer) tokenKey(t [32]byte) []byte { return s.keyed("grant-token", t[:]) }

// row is a record read with its Scan cursor.
type row struct {
	cursor int64
	rec    Record
}

// readRows runs query (selecting recordCols) and opens every row.
func (s *SQLite) readRows(ctx context.Context, q rowQuerier, query string, args ...any) ([]row, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var rw row
		var id, sealed, ref []byte
		var seq, clock, status, tag, withheld int64
		var kind, view sql.NullInt64
		if err := rows.Scan(&rw.cursor, &id, &seq, &clock, &status, &sealed, &kind, &view, &tag, &ref, &withheld); err != nil {
			return nil, err
		}
		if err := s.fillRecord(&rw.rec, id, seq, clock, status, sealed); err != nil {
			return nil, err
		}
		if err := fillKeys(&rw.rec, view, tag, ref, withheld); err != nil {
			return nil, err
		}
		out = append(out, rw)
	}
	return out, rows.Err()
}

// fillKeys fills r's keys (without the ref and grant tokens, which are
// kept only as keyed hashes) and withheld flag. A row whose keys are not known
// (view NULL) reads back with zero keys.
func fillKeys(r *Record, view sql.NullInt64, tag int64, ref []byte, withheld int64) error {
	r.Withheld = withheld != 0
	if !view.Valid {
		return nil
	}
	if view.Int64 < 0 || view.Int64 > 255 {
		return fmt.Errorf("%w: view %d", ErrCorrupt, view.Int64)
	}
	r.Keys = crdt.Keys{View: crdt.View(view.Int64), Tag: uint64(tag)}
	return nil
}

// walk reads the rows of query page by page (each page its own read
// transaction; fn runs with none open) and calls fn for each. next gives
// the arguments of the query after the last row read (nil: the first).
func (s *SQLite) walk(ctx context.Context, op, query string, next func(last *row) []any, fn func(Record) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var last *row
	for {
		page, err := s.readRows(ctx, s.read, query, append(next(last), walkPage)...)
		if err != nil {
			return s.fail(op, err)
		}
		for i := range page {
			if err := ctx.Err(); err != nil {
				return s.fail(op, err)
			}
			if err := fn(page[i].rec); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		last = &page[len(page)-1]
	}
}

// walkPage is how many rows a walk reads at a time: entries may be 64 KiB
// each (a full waiting pool is of such), and a page is in memory twice
// (sealed and open) while fn takes it.
const walkPage = 64

// Authored implements Store: the author's rows in (seq, cursor) order, as
// the index (author, seq) holds them.
func (s *SQLite) Authored(ctx context.Context, author crdt.DeviceKey, fn func(Record) error) error {
	a := s.seal.author(author)
	return s.walk(ctx, "authored", authoredQuery, func(last *row) []any {
		if last == nil {
			return []any{a, int64(-1 << 63), int64(-1 << 63)}
		}
		return []any{a, int64(last.rec.Seq), last.cursor}
	}, fn)
}

// AcceptedHead implements Store. Seqs >= 2^63 are negative in SQL: the
// negative range is asked first.
func (s *SQLite) AcceptedHead(ctx context.Context, author crdt.DeviceKey) (Record, bool, error) {
	if s.closed.Load() {
		return Record{}, false, ErrClosed
	}
	a := s.seal.author(author)
	// One read transaction: the two reads see the same snapshot.
	tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Record{}, false, s.fail("head", err)
	}
	defer tx.Rollback()
	for _, q := range []string{acceptedSeqHigh, acceptedSeqLow} {
		var seq int64
		err := tx.QueryRowContext(ctx, q, a).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Record{}, false, s.fail("head", err)
		}
		rows, err := s.readRows(ctx, tx, acceptedAtSeq, a, seq)
		if err != nil {
			return Record{}, false, s.fail("head", err)
		}
		if len(rows) == 0 {
			return Record{}, false, s.fail("head", fmt.Errorf("%w: no accepted entry at the head's seq", ErrCorrupt))
		}
		return rows[0].rec, true, nil
	}
	return Record{}, false, nil
}

// Device implements Store: one row of the devices table.
func (s *SQLite) Device(ctx context.Context, author crdt.DeviceKey) (int, bool, error) {
	if s.closed.Load() {
		return 0, false, ErrClosed
	}
	var n, forked int64
	err := s.read.QueryRowContext(ctx, deviceQuery, s.seal.author(author)).Scan(&n, &forked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.fail("device", err)
	}
	return int(n), forked != 0, nil
}

// View implements Store: the view's rows in (clock, id) order, as its
// index holds them.
func (s *SQLite) View(ctx context.Context, v crdt.View, fn func(Record) error) error {
	if v == crdt.ViewRequest {
		// The open requests, then the closed: the index of every view
		// leaves requests out (migration 9).
		for _, ref := range []*crdt.ID{{}, &crdt.ClosedRef} {
			var after *crdt.Cursor
			for {
				page, err := s.Page(ctx, v, 0, ref, after, walkPage)
				if err != nil {
					return err
				}
				for _, r := range page {
					if err := fn(r); err != nil {
						return err
					}
				}
				if len(page) < walkPage {
					break
				}
				last := page[len(page)-1]
				after = &crdt.Cursor{Clock: last.Clock, ID: last.ID}
			}
		}
		return nil
	}
	return s.walk(ctx, "view", viewQuery, func(last *row) []any {
		if last == nil {
			return []any{int64(v), int64(-1 << 63), []byte{}}
		}
		return []any{int64(v), int64(last.rec.Clock), last.rec.ID[:]}
	}, fn)
}

// Refs implements Store.
func (s *SQLite) Refs(ctx context.Context, v crdt.View, ref crdt.ID, fn func(Record) error) error {
	return s.walk(ctx, "refs", refsQuery, func(last *row) []any {
		if last == nil {
			return []any{int64(v), s.seal.refKey(ref), int64(-1 << 63), []byte{}}
		}
		return []any{int64(v), s.seal.refKey(ref), int64(last.rec.Clock), last.rec.ID[:]}
	}, fn)
}

// referencedQuery is Referenced's question for getManyChunk refs (stored
// forms, ?2 on; ?1 is the view): each ref is one seek in the index of
// refs that stops at the first entry, however many name it. The
// arguments left over are empty, which no stored ref is.
var referencedQuery = func() string {
	var vals strings.Builder
	for i := range getManyChunk {
		if i > 0 {
			vals.WriteString(", ")
		}
		fmt.Fprintf(&vals, "(?%d)", i+2)
	}
	return `SELECT column1 FROM (VALUES ` + vals.String() + `) WHERE EXISTS (SELECT 1 FROM entries INDEXED BY entries_ref
	WHERE ` + listedWhere + ` AND ref IS NOT NULL AND view = ?1 AND ref = column1)`
}()

// Referenced implements Store: getManyChunk refs a query.
func (s *SQLite) Referenced(ctx context.Context, v crdt.View, refs []crdt.ID, fn func(crdt.ID)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	byKey := make(map[string]crdt.ID, len(refs))
	for _, ref := range refs {
		if ref != (crdt.ID{}) {
			byKey[string(s.seal.refKey(ref))] = ref
		}
	}
	keys := slices.Collect(maps.Keys(byKey))
	args := make([]any, 1+getManyChunk)
	args[0] = int64(v)
	for len(keys) > 0 {
		n := min(len(keys), getManyChunk)
		for i := range getManyChunk {
			args[1+i] = []byte{}
			if i < n {
				args[1+i] = []byte(keys[i])
			}
		}
		err := func() error {
			rows, err := s.read.QueryContext(ctx, referencedQuery, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var b []byte
				if err := rows.Scan(&b); err != nil {
					return err
				}
				if ref, ok := byKey[string(b)]; ok {
					fn(ref)
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return s.fail("referenced", err)
		}
		keys = keys[n:]
	}
	return nil
}

// Grants implements Store.
func (s *SQLite) Grants(ctx context.Context, token [32]byte, fn func(Record) error) error {
	t := s.seal.tokenKey(token)
	return s.walk(ctx, "grants", grantsQuery, func(last *row) []any {
		if last == nil {
			return []any{t, []byte{}}
		}
		return []any{t, last.rec.ID[:]}
	}, fn)
}

// ids calls fn for the IDs query selects, page by page, after the last.
func (s *SQLite) ids(ctx context.Context, op, query string, fn func(crdt.ID) (bool, error)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	last := []byte{}
	for {
		var page []crdt.ID
		rows, err := s.read.QueryContext(ctx, query, last, scanPage)
		if err == nil {
			err = scanIDs(rows, func(id crdt.ID) { page = append(page, id) })
		}
		if err != nil {
			return s.fail(op, err)
		}
		for _, id := range page {
			if more, err := fn(id); err != nil || !more {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		last = page[len(page)-1][:]
	}
}

// scanIDs calls each for the ID of every row (one column), and closes
// rows.
func scanIDs(rows *sql.Rows, each func(crdt.ID)) error {
	defer rows.Close()
	for rows.Next() {
		var b []byte
		var id crdt.ID
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if err := copy32(id[:], b, "id"); err != nil {
			return err
		}
		each(id)
	}
	return rows.Err()
}

// Withheld implements Store.
func (s *SQLite) Withheld(ctx context.Context, fn func(crdt.ID) bool) error {
	return s.ids(ctx, "withheld", withheldQuery,
		func(id crdt.ID) (bool, error) { return fn(id), nil })
}

// AcceptedIDs implements Store: it walks the ID index, and leaves out the
// entries not accepted, which are few (a State keeps them in memory) and
// listed by the index of resident entries. (An index of the accepted IDs
// alone cost every insert a fifth of its time: IDs are random, so each
// batch touched most of its pages.) Both are read in one transaction, so
// that a write between them cannot make the list wrong.
func (s *SQLite) AcceptedIDs(ctx context.Context, fn func(crdt.ID) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.fail("accepted", err)
	}
	defer tx.Rollback()
	not := map[crdt.ID]bool{}
	rows, err := tx.QueryContext(ctx, notAcceptedQuery)
	if err == nil {
		err = scanIDs(rows, func(id crdt.ID) { not[id] = true })
	}
	if err != nil {
		return s.fail("accepted", err)
	}
	stmt, err := tx.PrepareContext(ctx, idsQuery)
	if err != nil {
		return s.fail("accepted", err)
	}
	defer stmt.Close()
	last := []byte{}
	for {
		var page []crdt.ID
		rows, err := stmt.QueryContext(ctx, last, scanPage)
		if err == nil {
			err = scanIDs(rows, func(id crdt.ID) { page = append(page, id) })
		}
		if err != nil {
			return s.fail("accepted", err)
		}
		for _, id := range page {
			if not[id] {
				continue
			}
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		last = page[len(page)-1][:]
	}
}

// MaxClock implements Store.
func (s *SQLite) MaxClock(ctx context.Context) (crdt.Clock, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	var c int64
	err := s.read.QueryRowContext(ctx, `SELECT value FROM marks WHERE name = 'clock'`).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail("max clock", err)
	}
	return crdt.Clock(uint64(c)), nil
}

// Page implements Store. Clocks >= 2^63 are negative in SQL and the
// newest: the negative range is read first, then the rest.
func (s *SQLite) Page(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor, limit int) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if v == crdt.ViewRequest && ref == nil {
		// Every request: the newest of the open ones and of the closed
		// ones, merged (the index of every view leaves requests out).
		open, err := s.Page(ctx, v, tag, &crdt.ID{}, after, limit)
		if err != nil {
			return nil, err
		}
		closed, err := s.Page(ctx, v, tag, &crdt.ClosedRef, after, limit)
		if err != nil {
			return nil, err
		}
		out := append(open, closed...)
		slices.SortFunc(out, func(a, b Record) int {
			if a.Clock != b.Clock {
				return cmp.Compare(b.Clock, a.Clock)
			}
			return bytes.Compare(b.ID[:], a.ID[:])
		})
		return out[:min(len(out), max(limit, 0))], nil
	}
	var out []Record
	err := s.pageRanges(v, tag, ref, after, func(high, from bool, args []any) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		args = append([]any{int64(v)}, args...)
		rows, err := s.readRows(ctx, s.read, pageQuery(tag != 0, refFilterOf(ref), high, from), append(args, limit-len(out))...)
		for _, r := range rows {
			out = append(out, r.rec)
		}
		return true, err
	})
	if err != nil {
		return nil, s.fail("page", err)
	}
	return out, nil
}

// CountUpTo implements Store: an index seek, and at most max of the
// index's rows counted.
func (s *SQLite) CountUpTo(ctx context.Context, v crdt.View, tag uint64, ref crdt.ID, max int) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if tag == 0 || max <= 0 {
		return 0, nil
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, countUpToQuery, int64(v), s.seal.refKey(ref), s.seal.tagKey(v, tag), max).Scan(&n); err != nil {
		return 0, s.fail("count", err)
	}
	return int(n), nil
}

// pageRanges calls fn for each range of clocks a page reads in turn (those
// of 2^63 and more, negative in SQL, are the newest), with the arguments
// that follow the view, until fn returns false.
func (s *SQLite) pageRanges(v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor, fn func(high, from bool, args []any) (bool, error)) error {
	var args []any
	if refFilterOf(ref) == oneRef {
		args = append(args, s.seal.refKey(*ref))
	}
	if tag != 0 {
		args = append(args, s.seal.tagKey(v, tag))
	}
	for _, high := range []bool{true, false} {
		a := slices.Clone(args)
		from := false
		if after != nil {
			if c := int64(after.Clock); high && c >= 0 {
				continue // the cursor is past every clock of this range
			} else if high == (c < 0) {
				from = true
				a = append(a, c, after.ID[:])
			}
		}
		more, err := fn(high, from, a)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Count implements Store: it reads the views table every write keeps, or
// counts in the index what follows a cursor, or what has a ref (or none).
func (s *SQLite) Count(ctx context.Context, v crdt.View, tag uint64, ref *crdt.ID, after *crdt.Cursor) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if after == nil && ref != nil {
		// All of one ref, or of none: one count of the index's rows.
		q, w := viewSelect(`SELECT COUNT(*)`, tag != 0, refFilterOf(ref))
		args := []any{int64(v)}
		if refFilterOf(ref) == oneRef {
			args = append(args, s.seal.refKey(*ref))
		}
		if tag != 0 {
			args = append(args, s.seal.tagKey(v, tag))
		}
		var n int64
		if err := s.read.QueryRowContext(ctx, q+` WHERE `+w, args...).Scan(&n); err != nil {
			return 0, s.fail("count", err)
		}
		return int(n), nil
	}
	if v == crdt.ViewRequest && ref == nil && after != nil {
		total := 0
		for _, ref := range []*crdt.ID{{}, &crdt.ClosedRef} {
			n, err := s.Count(ctx, v, tag, ref, after)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}
	if after != nil || ref != nil {
		total := 0
		err := s.pageRanges(v, tag, ref, after, func(high, from bool, args []any) (bool, error) {
			var n int64
			args = append([]any{int64(v)}, args...)
			err := s.read.QueryRowContext(ctx, pageSelect(`SELECT COUNT(*)`, tag != 0, refFilterOf(ref), high, from), args...).Scan(&n)
			total += int(n)
			return true, err
		})
		if err != nil {
			return 0, s.fail("count", err)
		}
		return total, nil
	}
	q, args := countQuery, []any{int64(v)}
	if tag != 0 {
		q = countTagQuery
		args = append(args, s.seal.tagKey(v, tag))
	}
	var n int64
	if err := s.read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, s.fail("count", err)
	}
	return int(n), nil
}

// Range implements Store: a range of the ID index.
func (s *SQLite) Range(ctx context.Context, v crdt.View, lo, hi crdt.ID, limit int) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	q, args := rangeQuery, []any{lo[:], hi[:], int64(v), limit}
	if v == crdt.ViewNone {
		q, args = rangeAnyQuery, []any{lo[:], hi[:], limit}
	}
	rows, err := s.readRows(ctx, s.read, q, args...)
	if err != nil {
		return nil, s.fail("range", err)
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = r.rec
	}
	return out, nil
}

// StoredBetween implements Store: by the index of IDs.
func (s *SQLite) StoredBetween(ctx context.Context, lo, hi crdt.ID, limit int, fn func(crdt.ID, crdt.Kind, crdt.Status)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, kind, status FROM entries INDEXED BY sqlite_autoindex_entries_1
		WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?`, lo[:], hi[:], limit)
	if err != nil {
		return s.fail("stored between", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id []byte
		var kind, st int64
		if err := rows.Scan(&id, &kind, &st); err != nil {
			return s.fail("stored between", err)
		}
		var x crdt.ID
		if err := copy32(x[:], id, "entry"); err != nil {
			return s.fail("stored between", err)
		}
		fn(x, crdt.Kind(kind), crdt.Status(st))
	}
	if err := rows.Err(); err != nil {
		return s.fail("stored between", err)
	}
	return nil
}

// Resident implements Store: it reads only the resident rows.
func (s *SQLite) Resident(ctx context.Context, pool bool, fn func(Record) error) error {
	q := residentAcceptedQuery
	if pool {
		q = residentQuery
	}
	return s.walk(ctx, "resident", q, func(last *row) []any {
		if last == nil {
			return []any{int64(0)}
		}
		return []any{last.cursor}
	}, fn)
}

// NeedsKeys implements Store.
func (s *SQLite) NeedsKeys(ctx context.Context) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	var n int64
	if err := s.readers.QueryRowContext(ctx, needsKeysQuery).Scan(&n); err != nil {
		return false, s.fail("needs keys", err)
	}
	return n != 0, nil
}

// SetKeys implements Store.
func (s *SQLite) SetKeys(ctx context.Context, recs []Record) error {
	return s.write(ctx, "set keys", func(tx *sql.Tx) error {
		w := s.newTxWriter(ctx, tx)
		defer w.close()
		for _, r := range recs {
			found, err := w.change(r.ID, r.Status)
			if err != nil {
				return err
			}
			if found && r.Status != crdt.StatusNone {
				if err := w.setKeys(r.ID, r.Keys, r.Withheld); err != nil {
					return err
				}
			}
		}
		// The statistics' inputs are filled in again (StatsBuilt).
		if err := w.writeStats(Batch{StatsReset: true}); err != nil {
			return err
		}
		return w.finish()
	})
}

// txWriter does a write transaction's bookkeeping with statements
// prepared once per transaction.
type txWriter struct {
	ctx   context.Context
	tx    *sql.Tx
	s     *SQLite
	stmts map[string]*sql.Stmt
	clock crdt.Clock // the highest clock inserted
	dirty bool       // clock to be marked
	// changed: an entry stored before was accepted, or no longer is (the
	// 'changed' mark moves: Mark.Changed).
	changed bool

	// What finish writes into the small tables, summed over the
	// transaction: one statement per status and kind, and a few per
	// device, instead of several per record.
	tallies map[[2]int64]*[2]int64 // (status, kind) -> (n, bytes)
	views   map[[2]int64]int64     // (view, tag) -> accepted entries
	devices map[string]*deviceDelta
	order   []string // devices in the order first touched
	// newGroups are the statistics' groups this transaction stored
	// (their keyed hashes by label), remembered once it commits.
	newGroups map[string]string
	// statTotals: what the statistics' totals change by (stats.go).
	statTotals statTotals
	// inserted are the cursors of the requests this transaction stored.
	inserted map[crdt.ID]int64
}

// deviceDelta is what a transaction changed of one device's accepted
// entries.
type deviceDelta struct {
	author      []byte
	n           int64
	added, gone []uint64 // seqs of entries accepted, and no longer accepted
}

func (s *SQLite) newTxWriter(ctx context.Context, tx *sql.Tx) *txWriter {
	return &txWriter{ctx: ctx, tx: tx, s: s, stmts: map[string]*sql.Stmt{},
		tallies: map[[2]int64]*[2]int64{}, views: map[[2]int64]int64{}, devices: map[string]*deviceDelta{}}
}

func (w *txWriter) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// QueryRowContext runs q in the transaction, through its statement.
func (w *txWriter) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := w.stmt(q)
	if err != nil {
		return w.tx.QueryRowContext(ctx, q, args...) // (the row carries the error)
	}
	return st.QueryRowContext(ctx, args...)
}

// stmt is q's statement in this transaction: the writer connection's,
// prepared once (the writes' cache) and bound to the transaction here.
// One not prepared yet is prepared for this transaction alone, and on the
// connection once the transaction ends (the writer has one connection,
// which the transaction holds: preparing on it now would wait for ever).
func (w *txWriter) stmt(q string) (*sql.Stmt, error) {
	if st := w.stmts[q]; st != nil {
		return st, nil
	}
	var st *sql.Stmt
	if prepared := w.s.writes.prepared(q); prepared != nil {
		st = w.tx.StmtContext(w.ctx, prepared)
	} else {
		var err error
		if st, err = w.tx.PrepareContext(w.ctx, q); err != nil {
			return nil, err
		}
		w.s.writes.wanted(q)
	}
	w.stmts[q] = st
	return st, nil
}

func (w *txWriter) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

// newRow is a record sealed for insertion.
type newRow struct {
	rec    Record
	author []byte // keyed hash
	sealed []byte
	tokens [][]byte // keyed hashes
}

// sealRow seals r for insertion (no transaction needed).
func (s *SQLite) sealRow(r Record) (newRow, error) {
	sealed, err := s.seal.sealEntry(r.ID, r.Author, r.Kind, r.Raw)
	if err != nil {
		return newRow{}, err
	}
	nr := newRow{rec: r, author: s.seal.author(r.Author), sealed: sealed}
	for _, t := range r.Keys.Tokens {
		nr.tokens = append(nr.tokens, s.seal.tokenKey(t))
	}
	return nr, nil
}

const insertEntry = `INSERT OR IGNORE INTO entries (id, author, seq, clock, status, sealed, kind, view, tag, ref, withheld, resident)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insert stores nr unless its ID is stored and reports whether it did.
func (w *txWriter) insert(nr newRow) (bool, error) {
	r := nr.rec
	view, tag, ref := w.s.seal.keyCols(r.Keys)
	res, err := w.exec(insertEntry, r.ID[:], nr.author, int64(r.Seq), int64(r.Clock), int64(r.Status), nr.sealed,
		int64(r.Kind), view, tag, ref, boolInt(r.Withheld), residentFlag(r.Status, r.Kind))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if r.Keys.View == crdt.ViewRequest {
		// (Its statistics' inputs are stored by its cursor: stats.go.)
		cur, err := res.LastInsertId()
		if err != nil {
			return false, err
		}
		if w.inserted == nil {
			w.inserted = map[crdt.ID]int64{}
		}
		w.inserted[r.ID] = cur
	}
	if err := w.addTokens(r.ID, nr.tokens); err != nil {
		return false, err
	}
	w.tally(r.Status, r.Kind, 1, int64(len(nr.sealed)))
	if r.Status == crdt.StatusAccepted {
		w.deviceAdd(nr.author, r.Seq)
		if view > 0 {
			w.viewCount(view, tag, 1)
		}
	}
	if !w.dirty || r.Clock > w.clock {
		w.clock, w.dirty = r.Clock, true
	}
	return true, nil
}

func (w *txWriter) addTokens(id crdt.ID, tokens [][]byte) error {
	for _, t := range tokens {
		if _, err := w.exec(`INSERT OR IGNORE INTO grant_tokens (token, id) VALUES (?, ?)`, t, id[:]); err != nil {
			return err
		}
	}
	return nil
}

func (w *txWriter) tally(st crdt.Status, kind crdt.Kind, n, bytes int64) {
	k := [2]int64{int64(st), int64(kind)}
	t := w.tallies[k]
	if t == nil {
		t = &[2]int64{}
		w.tallies[k] = t
	}
	t[0] += n
	t[1] += bytes
}

func (w *txWriter) device(author []byte) *deviceDelta {
	d := w.devices[string(author)]
	if d == nil {
		d = &deviceDelta{author: author}
		w.devices[string(author)] = d
		w.order = append(w.order, string(author))
	}
	return d
}

// deviceAdd counts a newly accepted entry of author at seq.
func (w *txWriter) deviceAdd(author []byte, seq uint64) {
	d := w.device(author)
	d.n++
	d.added = append(d.added, seq)
}

// deviceRemove uncounts an entry of author at seq no longer accepted.
func (w *txWriter) deviceRemove(author []byte, seq uint64) {
	d := w.device(author)
	d.n--
	d.gone = append(d.gone, seq)
}

func asInt64s(us []uint64) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = int64(u)
	}
	return out
}

// acceptedAt counts author's accepted entries at seq.
func (w *txWriter) acceptedAt(author []byte, seq uint64) (int64, error) {
	st, err := w.stmt(acceptedAtCount)
	if err != nil {
		return 0, err
	}
	var n int64
	err = st.QueryRowContext(w.ctx, author, int64(seq)).Scan(&n)
	return n, err
}

// finishDevice writes one device's row. A fork can only appear at a seq
// where an entry was accepted, and only go where one was no longer: then
// whether any remains is counted again, for this device alone.
func (w *txWriter) finishDevice(d *deviceDelta) error {
	if _, err := w.exec(`INSERT INTO devices (author, accepted, forked) VALUES (?, ?, 0)
		ON CONFLICT (author) DO UPDATE SET accepted = accepted + excluded.accepted`, d.author, d.n); err != nil {
		return err
	}
	st, err := w.stmt(`SELECT accepted, forked FROM devices WHERE author = ?`)
	if err != nil {
		return err
	}
	var n, forked int64
	if err := st.QueryRowContext(w.ctx, d.author).Scan(&n, &forked); err != nil {
		return err
	}
	if n <= 0 {
		_, err := w.exec(`DELETE FROM devices WHERE author = ?`, d.author)
		return err
	}
	now := forked
	single := false
	if forked == 0 && len(d.added) > 0 {
		if single, err = w.runOfOne(d.author, d.added); err != nil {
			return err
		}
	}
	if forked == 0 && len(d.added) > 0 && !single {
		// One statement for all the seqs accepted here: the driver's cost
		// per statement is most of a seek's.
		seqs, err := json.Marshal(asInt64s(d.added))
		if err != nil {
			return err
		}
		st, err := w.stmt(forkedAmong)
		if err != nil {
			return err
		}
		if err := st.QueryRowContext(w.ctx, d.author, string(seqs)).Scan(&now); err != nil {
			return err
		}
	} else {
		for _, seq := range d.gone {
			c, err := w.acceptedAt(d.author, seq)
			if err != nil {
				return err
			}
			if c < 2 {
				st, err := w.stmt(forkedAnywhere)
				if err != nil {
					return err
				}
				if err := st.QueryRowContext(w.ctx, d.author).Scan(&now); err != nil {
					return err
				}
				break
			}
		}
	}
	if now != forked {
		_, err = w.exec(`UPDATE devices SET forked = ? WHERE author = ?`, now, d.author)
	}
	return err
}

// runOfOne reports whether the seqs accepted here (added) are one run,
// lo to hi, each once, and author has one row at each, of any status:
// then none of them is a fork. The seqs a Step accepts of one author
// usually are such a run (a chain accepted from where it stood), and a
// count of a range of the index of (author, seq) says so, where
// forkedAmong reads the row at each seq. It reports false when it cannot
// tell.
func (w *txWriter) runOfOne(author []byte, added []uint64) (bool, error) {
	seqs := slices.Sorted(slices.Values(added))
	lo, hi := seqs[0], seqs[len(seqs)-1]
	if hi >= 1<<63 { // (stored as negative numbers: a range of them is not one)
		return false, nil
	}
	for i, seq := range seqs {
		if seq != lo+uint64(i) {
			return false, nil
		}
	}
	st, err := w.stmt(rowsInSeqRange)
	if err != nil {
		return false, err
	}
	var n int64
	if err := st.QueryRowContext(w.ctx, author, int64(lo), int64(hi)).Scan(&n); err != nil {
		return false, err
	}
	return n == int64(len(seqs)), nil
}

// stored is what a change needs of a stored row.
type stored struct {
	author []byte
	seq    uint64
	status crdt.Status
	kind   crdt.Kind
	size   int64 // LENGTH(sealed)
	held   bool  // withheld
	view   sql.NullInt64
	tag    int64
}

// listed reports whether the row is counted in the views table.
func (r stored) listed() bool {
	return r.status == crdt.StatusAccepted && r.view.Valid && r.view.Int64 > 0
}

// viewCount counts n more accepted entries of view (with tag).
func (w *txWriter) viewCount(view, tag, n int64) {
	w.views[[2]int64{view, tag}] += n
}

func (w *txWriter) read(id crdt.ID) (stored, bool, error) {
	st, err := w.stmt(`SELECT author, seq, status, kind, LENGTH(sealed), withheld, view, tag FROM entries WHERE id = ?`)
	if err != nil {
		return stored{}, false, err
	}
	var r stored
	var seq, status, kind, held int64
	err = st.QueryRowContext(w.ctx, id[:]).Scan(&r.author, &seq, &status, &kind, &r.size, &held, &r.view, &r.tag)
	if errors.Is(err, sql.ErrNoRows) {
		return stored{}, false, nil
	}
	if err != nil {
		return stored{}, false, err
	}
	r.seq, r.status, r.kind, r.held = uint64(seq), crdt.Status(status), crdt.Kind(uint64(kind)), held != 0
	return r, true, nil
}

// change moves the entry id to status to (StatusNone: deletes it) and
// reports whether it is stored.
func (w *txWriter) change(id crdt.ID, to crdt.Status) (bool, error) {
	r, found, err := w.read(id)
	if err != nil || !found {
		return false, err
	}
	if to == r.status {
		return true, nil
	}
	if to == crdt.StatusNone {
		if _, err := w.exec(`DELETE FROM entries WHERE id = ?`, id[:]); err != nil {
			return true, err
		}
		if _, err := w.exec(`DELETE FROM grant_tokens WHERE id = ?`, id[:]); err != nil {
			return true, err
		}
	} else {
		if _, err := w.exec(`UPDATE entries SET status = ?, resident = ? WHERE id = ?`,
			int64(to), residentFlag(to, r.kind), id[:]); err != nil {
			return true, err
		}
		w.tally(to, r.kind, 1, r.size)
	}
	w.tally(r.status, r.kind, -1, -r.size)
	if r.listed() {
		w.viewCount(r.view.Int64, r.tag, -1)
	}
	if to == crdt.StatusAccepted && r.view.Valid && r.view.Int64 > 0 {
		w.viewCount(r.view.Int64, r.tag, 1)
	}
	switch {
	case r.status == crdt.StatusAccepted:
		w.deviceRemove(r.author, r.seq)
		w.changed = true
	case to == crdt.StatusAccepted:
		w.deviceAdd(r.author, r.seq)
		w.changed = true
	}
	return true, nil
}

// rekey replaces the keys of a stored entry, if it is stored.
func (w *txWriter) rekey(id crdt.ID, k crdt.Keys) error {
	old, found, err := w.read(id)
	if err != nil || !found {
		return err
	}
	return w.setKeys(id, k, old.held)
}

// setKeys replaces the keys of a stored entry.
func (w *txWriter) setKeys(id crdt.ID, k crdt.Keys, withheld bool) error {
	view, tag, ref := w.s.seal.keyCols(k)
	old, found, err := w.read(id)
	if err != nil || !found {
		return err
	}
	if old.listed() {
		w.viewCount(old.view.Int64, old.tag, -1)
	}
	if old.status == crdt.StatusAccepted && view > 0 {
		w.viewCount(view, tag, 1)
	}
	if _, err := w.exec(`UPDATE entries SET view = ?, tag = ?, ref = ?, withheld = ? WHERE id = ?`,
		view, tag, ref, boolInt(withheld), id[:]); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM grant_tokens WHERE id = ?`, id[:]); err != nil {
		return err
	}
	var tokens [][]byte
	for _, t := range k.Tokens {
		tokens = append(tokens, w.s.seal.tokenKey(t))
	}
	return w.addTokens(id, tokens)
}

// finish writes the transaction's tallies, device rows and clock mark.
func (w *txWriter) finish() error {
	// Every write of entries moves the generation, so that a process that
	// keeps part of the state in memory knows another wrote (Mark).
	if _, err := w.exec(`INSERT INTO marks (name, value) VALUES ('gen', 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1`); err != nil {
		return err
	}
	if w.changed {
		if _, err := w.exec(`INSERT INTO marks (name, value) VALUES ('changed', 1)
			ON CONFLICT (name) DO UPDATE SET value = value + 1`); err != nil {
			return err
		}
	}
	for k, t := range w.tallies {
		if t[0] == 0 && t[1] == 0 {
			continue
		}
		if _, err := w.exec(`INSERT INTO tallies (status, kind, n, bytes) VALUES (?, ?, ?, ?)
			ON CONFLICT (status, kind) DO UPDATE SET n = n + excluded.n, bytes = bytes + excluded.bytes`,
			k[0], k[1], t[0], t[1]); err != nil {
			return err
		}
	}
	for k, n := range w.views {
		if n == 0 {
			continue
		}
		if _, err := w.exec(`INSERT INTO views (view, tag, n) VALUES (?, ?, ?)
			ON CONFLICT (view, tag) DO UPDATE SET n = n + excluded.n`, k[0], k[1], n); err != nil {
			return err
		}
	}
	for _, a := range w.order {
		if err := w.finishDevice(w.devices[a]); err != nil {
			return err
		}
	}
	if !w.dirty {
		return nil
	}
	return markClock(w.ctx, w.tx, w.clock)
}

// markClock raises the clock mark to c (compared as unsigned).
func markClock(ctx context.Context, tx *sql.Tx, c crdt.Clock) error {
	var cur int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM marks WHERE name = 'clock'`).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err == nil && uint64(cur) >= uint64(c) {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO marks (name, value) VALUES ('clock', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, int64(c))
	return err
}

// clearKinds is migration 4's Go step: it opens every stored row and
// fills its kind, withheld and resident columns (its keys stay unknown:
// view NULL), then the tallies, the devices and the clock mark.
func clearKinds(ctx context.Context, tx *sql.Tx, seal *sealer) error {
	var high crdt.Clock
	marked := false
	for after := int64(0); ; {
		type upd struct {
			cursor             int64
			kind               crdt.Kind
			withheld, resident int64
		}
		var page []upd
		err := func() error {
			rows, err := tx.QueryContext(ctx,
				`SELECT cursor, id, clock, status, sealed FROM entries WHERE cursor > ? ORDER BY cursor LIMIT ?`, after, scanPage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var cursor, clock, status int64
				var id, sealed []byte
				if err := rows.Scan(&cursor, &id, &clock, &status, &sealed); err != nil {
					return err
				}
				var r Record
				if err := copy32(r.ID[:], id, "id"); err != nil {
					return err
				}
				if err := seal.openEntry(&r, sealed); err != nil {
					return err
				}
				if c := crdt.Clock(uint64(clock)); !marked || c > high {
					high, marked = c, true
				}
				page = append(page, upd{cursor, r.Kind, boolInt(withheldRaw(r.Raw)), residentFlag(crdt.Status(status), r.Kind)})
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
		for _, u := range page {
			if _, err := tx.ExecContext(ctx, `UPDATE entries SET kind = ?, withheld = ?, resident = ? WHERE cursor = ?`,
				int64(u.kind), u.withheld, u.resident, u.cursor); err != nil {
				return err
			}
			after = u.cursor
		}
		if len(page) < scanPage {
			break
		}
	}
	for _, q := range []string{
		`INSERT INTO tallies (status, kind, n, bytes) SELECT status, kind, COUNT(*), SUM(LENGTH(sealed)) FROM entries GROUP BY status, kind`,
		`INSERT INTO devices (author, accepted, forked)
			SELECT author, COUNT(*), COUNT(*) > COUNT(DISTINCT seq) FROM entries WHERE status = 1 GROUP BY author`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if marked {
		return markClock(ctx, tx, high)
	}
	return nil
}

// counts reads Counts from the tallies.
func (s *SQLite) counts(ctx context.Context) (Counts, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT status, kind, n, bytes FROM tallies WHERE n > 0`)
	if err != nil {
		return Counts{}, err
	}
	defer rows.Close()
	c := Counts{Unknown: map[crdt.Kind]int{}}
	for rows.Next() {
		var status, kind, n, size int64
		if err := rows.Scan(&status, &kind, &n, &size); err != nil {
			return Counts{}, err
		}
		st, k := crdt.Status(status), crdt.Kind(uint64(kind))
		addCount(&c, st, int(n), size-n*entryOverhead) // the entries' bytes, without the sealing
		if st == crdt.StatusAccepted && !k.Known() {
			c.Unknown[k] += int(n)
		}
	}
	return c, rows.Err()
}
