-- 0010: the inputs of the response statistics, one row per accepted
-- request whose body the node reads (crdt.RequestStat, which each Step
-- says), and the totals SQL keeps from them: `murmur stats` reads the
-- totals and a histogram of the times to a first answer, not every
-- request and its answers.
--
-- A row is the request's entry's (by its cursor: requests are appended
-- in the order they are stored, and found by the index of entry IDs).
-- grp is a keyed hash of the request's kind and region, whose sealed
-- label is in stats_groups. In clear, as an entry's clock is: when the
-- request was made (created, a clock), its deadline (respond_by, Unix
-- milliseconds), whether it is open, and its first answer (first_at, a
-- clock; first_ms its milliseconds; first_id; bucket, the time to it in
-- the histogram's steps of 1%). The totals and the histogram are kept
-- from them by each write transaction, summed (store/stats.go).
CREATE TABLE request_stats (
	cur        INTEGER PRIMARY KEY, -- the request's entries.cursor
	grp        BLOB NOT NULL,
	created    INTEGER NOT NULL,
	respond_by INTEGER,
	open       INTEGER NOT NULL,
	first_at   INTEGER,
	first_ms   INTEGER,
	first_id   BLOB,
	bucket     INTEGER
);

-- The requests still unanswered, by deadline: those past it are the
-- silence the statistics show.
CREATE INDEX request_stats_due ON request_stats (respond_by) WHERE first_at IS NULL AND respond_by IS NOT NULL;

CREATE TABLE stats_groups (
	grp   BLOB PRIMARY KEY,
	label BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE stats_totals (
	grp          BLOB PRIMARY KEY,
	requests     INTEGER NOT NULL,
	answered     INTEGER NOT NULL,
	due_answered INTEGER NOT NULL,
	on_time      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE stats_hist (
	grp    BLOB NOT NULL,
	bucket INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (grp, bucket)
) WITHOUT ROWID;

-- A store with no entries has every input it needs; any other is filled
-- in once by the node (node/stats.go), which then sets this mark.
INSERT INTO marks (name, value) SELECT 'stats', 1 WHERE NOT EXISTS (SELECT 1 FROM entries);
