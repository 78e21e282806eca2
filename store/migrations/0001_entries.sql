-- 0001: the entry log and the meta table.
--
-- Layout chosen by measuring (BenchmarkLayout in layout_bench_test.go): a
-- rowid table with a UNIQUE index on the 32-byte ID, not a WITHOUT ROWID
-- table keyed by the ID. Random 32-byte IDs, ~300-byte raw, transactions of
-- 256 inserts, WAL + synchronous=FULL, on a temporary file; AMD EPYC, 2 cores,
-- ext4, Go 1.26, modernc.org/sqlite v1.61.1. Microseconds per record:
--
--                                  20,000 records   200,000 records
--   rowid + UNIQUE(id), full            15.4              31.7
--   WITHOUT ROWID (id PK), full         43.7              70.0   (2.8x, 2.2x)
--   rowid + UNIQUE(id), bare            10.0              22.6
--   WITHOUT ROWID (id PK), bare         32.8              60.9   (3.3x, 2.7x)
--
-- "full" has every index this schema has (and, WITHOUT ROWID, the insertion-
-- order column Scan needs, with its own index); "bare" is the table alone.
-- (-benchtime=20000x -count=2 and -benchtime=200000x -count=3, means.) The
-- WITHOUT ROWID table moves whole ~300-byte rows to random places in its
-- b-tree; the rowid table appends rows and only the 40-byte index entry lands
-- at random. The rowid also gives Scan its cursor for free.
--
-- The Scan cursor is the rowid. AUTOINCREMENT makes it strictly increasing and
-- never reused: without it SQLite hands out max(rowid)+1, so deleting the
-- newest entry and storing another would give the new one a cursor a reader
-- has already passed, and that reader would never see it.
--
-- seq, clock and kind are uint64 in Go and stored as the int64 with the same
-- bit pattern; values >= 2^63 read back negative in SQL, so the queries that
-- order by seq or clock look at the negative range first (see sqlite.go).
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

-- Head: the highest seq of one author.
CREATE INDEX entries_author_seq ON entries (author, seq);

-- Append's maxClock: without an index it would read every row on every
-- append. Clocks mostly grow, so inserts land at the right edge and are cheap.
CREATE INDEX entries_clock ON entries (clock);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
