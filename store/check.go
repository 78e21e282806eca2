package store

// Checking and salvaging a damaged database (murmur doctor, murmur repair).
//
// CheckFile looks at the file itself, without SQLite, so that an empty or
// truncated file is named as such (SQLite would take an empty file for a
// new database, and a truncated one fails only when a missing page is
// read). QuickCheck runs SQLite's quick_check, IntegrityCheck (sqlite.go)
// its integrity_check. Salvage reads, row by row, what can still be read
// from a damaged file.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sqliteMagic begins every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// Damage is what CheckFile or QuickCheck found wrong, in plain words.
type Damage struct {
	Problem string // "the file is empty", ...
	// transient: what another process writing the file shows for a
	// moment (CheckFile looks again).
	transient bool
	// short: the file is shorter than the database it holds; the WAL
	// may hold what it lacks (walCovers).
	short bool
}

func (d *Damage) Error() string { return d.Problem }

// Is makes a Damage an ErrCorrupt.
func (d *Damage) Is(target error) bool { return target == ErrCorrupt }

// CheckFile checks, without opening it as a database, that the file at
// path looks like a whole SQLite database: not missing, not empty, with a
// database header, and as long as its header says. A nil result does not
// mean every page is sound: QuickCheck reads them.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Damage{Problem: "the database file is missing"}
	}
	if err != nil {
		return &Damage{Problem: fmt.Sprintf("the database file cannot be read (%v)", err)}
	}
	defer f.Close()
	// Another process's checkpoint may be growing the file as it is read:
	// its header can count pages not written yet. A file that stays short
	// across a few looks is damaged; one that catches up was being written.
	var damage *Damage
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(25 * time.Millisecond)
		}
		if damage, err = checkOnce(f); err == nil && damage != nil && damage.short && walCovers(path+"-wal", f) {
			// The pages the file lacks are in the WAL, which SQLite
			// reads first: a checkpoint that found no room (a full
			// disk) leaves the file short and the WAL whole.
			damage = nil
		}
		if err != nil || damage == nil || !damage.transient {
			break
		}
	}
	if err != nil {
		return &Damage{Problem: fmt.Sprintf("the database file cannot be read (%v)", err)}
	}
	if damage != nil {
		return damage
	}
	return nil
}

// checkOnce reads the header, then the size (a file only grows while it
// is written), and says what is wrong, if anything.
func checkOnce(f *os.File) (*Damage, error) {
	var h [100]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && n == 0 {
		st, serr := f.Stat()
		if serr == nil && st.Size() == 0 {
			return &Damage{Problem: "the database file is empty", short: true}, nil
		}
		if serr == nil && st.Size() < int64(len(h)) {
			return &Damage{Problem: fmt.Sprintf("the database file is cut short (%d bytes)", st.Size()), short: true}, nil
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return &Damage{Problem: "the database file is empty", short: true}, nil
	}
	if size < int64(len(h)) {
		return &Damage{Problem: fmt.Sprintf("the database file is cut short (%d bytes)", size), short: true}, nil
	}
	if string(h[:16]) != sqliteMagic {
		return &Damage{Problem: "the database file does not begin as a database does: it was overwritten or is not a database"}, nil
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return &Damage{Problem: "the database file's header is damaged"}, nil
	}
	if size%pageSize != 0 {
		return &Damage{Problem: fmt.Sprintf("the database file is cut short (%d bytes, not a whole number of %d-byte pages)", size, pageSize), transient: true, short: true}, nil
	}
	// The page count in the header is valid when its change counter
	// matches the version-valid-for number (SQLite's file format, 1.3.7).
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	if pages > 0 && binary.BigEndian.Uint32(h[24:28]) == binary.BigEndian.Uint32(h[92:96]) && pages*pageSize > size {
		return &Damage{Problem: fmt.Sprintf("the database file is cut short: it has %d of its %d pages", size/pageSize, pages), transient: true, short: true}, nil
	}
	return nil, nil
}

// QuickCheck runs SQLite's quick_check (every page read, b-trees and
// records checked; indexes not matched against their tables) and returns
// a *Damage unless it answers "ok".
func (s *SQLite) QuickCheck(ctx context.Context) error {
	return s.pragmaCheck(ctx, "quick_check")
}

func (s *SQLite) pragmaCheck(ctx context.Context, pragma string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	rows, err := s.readers.QueryContext(ctx, "PRAGMA "+pragma+"(20)")
	if err != nil {
		return s.fail(pragma, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.fail(pragma, err)
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		return s.fail(pragma, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return &Damage{Problem: fmt.Sprintf("the database's pages are damaged (%d problems found, the first: %s)", len(problems), firstOr(problems, "none named"))}
}

func firstOr(list []string, or string) string {
	if len(list) == 0 {
		return or
	}
	return list[0]
}

// corruptCode reports whether err is SQLite's "database disk image is
// malformed" (SQLITE_CORRUPT) or "file is not a database" (SQLITE_NOTADB).
// diskFullCode reports whether err is SQLite's SQLITE_FULL: the disk (or
// the file system's quota) has no room for what a write adds. An open
// meets a full disk as SQLITE_IOERR_SHMSIZE instead: the -shm file beside
// the database could not be given its first pages.
func diskFullCode(err error) bool {
	var c interface{ Code() int }
	if !errors.As(err, &c) {
		return false
	}
	return c.Code()&0xff == 13 || c.Code() == 10|19<<8
}

func corruptCode(err error) bool {
	var c interface{ Code() int }
	if !errors.As(err, &c) {
		return false
	}
	switch c.Code() & 0xff {
	case 11, 26:
		return true
	}
	return false
}

// SalvageReport says what Salvage read.
type SalvageReport struct {
	Entries     int  // entries read whose sealed value opened
	FromPages   int  // of those, read from pages the database's index no longer leads to
	Unreadable  int  // entries (cursor positions) that could not be read or did not open
	Contacts    int  // remembered addresses read
	NotDatabase bool // the file could not be read as a database at all
}

// salvageProbe bounds how far past the last readable entry Salvage looks
// one position at a time when it knows of no later entry.
const salvageProbe = 10000

// Salvage reads what can still be read from the damaged database at path
// (a copy: SQLite may write to it while reading, to recover its WAL),
// sealed under key: every entry whose row can be read and whose sealed
// value opens is given to entry, every remembered address to contact. It
// never stops at a damaged page: where a scan of the table fails, it reads
// the rows one position at a time, up to the highest position any index
// or the table's sequence knows of. Nothing read is trusted: the caller
// verifies every entry.
func Salvage(ctx context.Context, path string, key []byte, entry func(Record) error, contact func(Contact) error) (SalvageReport, error) {
	var rep SalvageReport
	seal, err := newSealer(key)
	if err != nil {
		return rep, err
	}
	if err := padTruncated(path); err != nil {
		return rep, err
	}
	// A file: URI of a relative path would read its first directory as
	// a host, and SQLite would open nothing (dsn makes it absolute too).
	abs, err := filepath.Abs(path)
	if err != nil {
		return rep, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(busyTimeoutMillis)+")")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return rep, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	s := &SQLite{seal: seal}
	if _, err := db.ExecContext(ctx, "SELECT count(*) FROM sqlite_master"); diskFullCode(err) {
		// No room for the -shm: SQLite could read none of it, and the
		// pages alone would lose what the WAL holds.
		return rep, ErrDiskFull
	} else if err != nil {
		rep.NotDatabase = true
	}

	// The highest position known: from the table's sequence and from
	// every index (each holds the rowid), as far as each can be read.
	var highest int64
	var seqv int64
	if db.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'entries'`).Scan(&seqv) == nil {
		highest = max(highest, seqv)
	}
	for _, index := range []string{"sqlite_autoindex_entries_1", "entries_author_seq", "entries_clock"} {
		func() {
			rows, err := db.QueryContext(ctx, `SELECT cursor FROM entries INDEXED BY `+index)
			if err != nil {
				return
			}
			defer rows.Close()
			for rows.Next() {
				var c int64
				if rows.Scan(&c) != nil {
					return
				}
				highest = max(highest, c)
			}
		}()
	}

	const cols = `SELECT cursor, id, seq, clock, status, sealed FROM entries`
	seen := map[[32]byte]bool{}
	unreadable := map[int64]bool{} // positions not read, or whose value did not open
	emit := func(cursor int64, id []byte, seq, clock, status int64, sealed []byte) error {
		var r Record
		if err := s.fillRecord(&r, id, seq, clock, status, sealed); err != nil {
			unreadable[cursor] = true
			return nil
		}
		delete(unreadable, cursor)
		if seen[r.ID] {
			return nil
		}
		seen[r.ID] = true
		rep.Entries++
		return entry(r)
	}
	read := func(rows *sql.Rows) (int64, error) {
		var cursor, seq, clock, status int64
		var id, sealed []byte
		if err := rows.Scan(&cursor, &id, &seq, &clock, &status, &sealed); err != nil {
			return 0, err
		}
		return cursor, emit(cursor, id, seq, clock, status, sealed)
	}
	after := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		// A scan of the table from after, as far as it goes.
		var scanErr error
		func() {
			rows, err := db.QueryContext(ctx, cols+` WHERE cursor > ? ORDER BY cursor`, after)
			if err != nil {
				scanErr = err
				return
			}
			defer rows.Close()
			for rows.Next() {
				c, err := read(rows)
				if err != nil {
					scanErr = err
					return
				}
				after = c
			}
			scanErr = rows.Err()
		}()
		if scanErr == nil {
			break
		}
		// One position at a time, until a row reads again.
		limit := max(highest, after+salvageProbe)
		found := false
		for c := after + 1; c <= limit && !found; c++ {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			got, failed := false, false
			rows, err := db.QueryContext(ctx, cols+` WHERE cursor = ?`, c)
			if err != nil {
				failed = true
			} else {
				for rows.Next() {
					if _, err := read(rows); err != nil {
						rows.Close()
						return rep, err
					}
					got = true
				}
				failed = rows.Err() != nil
				rows.Close()
			}
			if failed && !got && c <= highest {
				unreadable[c] = true
			}
			if got {
				found, after = true, c
				highest = max(highest, c)
			}
		}
		if !found {
			break
		}
	}

	// Then every page that parses as a table leaf: rows the b-tree no
	// longer leads to (pages.go).
	if err := scanLeafPages(path, func(pr pageRow) error {
		c := pr.cols
		if len(c) < 7 || c[0] != nil { // migration 4 added columns after these seven
			return nil
		}
		id, ok1 := c[1].([]byte)
		seq, ok2 := c[3].(int64)
		clock, ok3 := c[4].(int64)
		status, ok4 := c[5].(int64)
		sealed, ok5 := c[6].([]byte)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || len(id) != 32 {
			return nil
		}
		var r Record
		if s.fillRecord(&r, id, seq, clock, status, sealed) != nil {
			return nil // another table's row, or a damaged one
		}
		if !seen[r.ID] {
			rep.FromPages++
		}
		return emit(pr.rowid, id, seq, clock, status, sealed)
	}); err != nil {
		return rep, err
	}
	rep.Unreadable = len(unreadable)

	if contact != nil {
		cs, err := s.readContacts(ctx, db, `SELECT device, addr, last, sealed FROM contacts`)
		if err == nil {
			for _, c := range cs {
				rep.Contacts++
				if err := contact(c.Contact); err != nil {
					return rep, err
				}
			}
		}
	}
	return rep, nil
}

// padTruncated extends a file cut short to the length its header gives
// it, with zeros: SQLite refuses to read any of a file shorter than its
// header says, and reads the zeroed pages as damaged ones, the rest as
// they are.
func padTruncated(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil // Salvage finds no database there
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	var h [100]byte
	if st.Size() < int64(len(h)) {
		return nil
	}
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:16]) != sqliteMagic {
		return nil
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return nil
	}
	want := (st.Size() + pageSize - 1) / pageSize * pageSize
	if pages := int64(binary.BigEndian.Uint32(h[28:32])); binary.BigEndian.Uint32(h[24:28]) == binary.BigEndian.Uint32(h[92:96]) {
		want = max(want, pages*pageSize)
	}
	if want > st.Size() {
		return f.Truncate(want)
	}
	return nil
}

// DamageOf describes err in plain words if it says the database is
// damaged, and reports whether it does.
func DamageOf(err error) (string, bool) {
	var d *Damage
	switch {
	case errors.As(err, &d):
		return d.Problem, true
	case errors.Is(err, ErrCorrupt), corruptCode(err):
		msg := err.Error()
		if corruptCode(err) || strings.Contains(msg, "malformed") {
			return "the database's pages are damaged", true
		}
		return "a stored entry does not open", true
	}
	return "", false
}
