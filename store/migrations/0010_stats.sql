-- 0010: the inputs of the response statistics, one row per accepted
-- request whose body the node reads (crdt.RequestStat, which each Step
-- says), and the totals SQL keeps from them: `murmur stats` reads the
-- totals and a histogram of the times to a first answer, not every
-- request and its answers.
--
-- grp is a keyed hash of the request's kind and region, whose sealed
-- label is in stats_groups. In clear, as an entry's clock is: when the
-- request was made (created, a clock), its deadline (respond_by, Unix
-- milliseconds), whether it is open, and its first answer (first_at, a
-- clock; first_ms its milliseconds; first_id; bucket, the time to it in
-- the histogram's steps of 1%).
CREATE TABLE request_stats (
	id         BLOB PRIMARY KEY,
	grp        BLOB NOT NULL,
	created    INTEGER NOT NULL,
	respond_by INTEGER,
	open       INTEGER NOT NULL,
	first_at   INTEGER,
	first_ms   INTEGER,
	first_id   BLOB,
	bucket     INTEGER
) WITHOUT ROWID;

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

-- A row is changed by deleting it and inserting it again.
CREATE TRIGGER request_stats_in AFTER INSERT ON request_stats BEGIN
	INSERT INTO stats_totals (grp, requests, answered, due_answered, on_time)
	VALUES (NEW.grp, 1, NEW.first_at IS NOT NULL,
		NEW.first_at IS NOT NULL AND NEW.respond_by IS NOT NULL,
		NEW.first_at IS NOT NULL AND NEW.respond_by IS NOT NULL AND NEW.first_ms <= NEW.respond_by)
	ON CONFLICT (grp) DO UPDATE SET
		requests = requests + excluded.requests,
		answered = answered + excluded.answered,
		due_answered = due_answered + excluded.due_answered,
		on_time = on_time + excluded.on_time;
	INSERT INTO stats_hist (grp, bucket, n) SELECT NEW.grp, NEW.bucket, 1 WHERE NEW.bucket IS NOT NULL
	ON CONFLICT (grp, bucket) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER request_stats_out AFTER DELETE ON request_stats BEGIN
	UPDATE stats_totals SET
		requests = requests - 1,
		answered = answered - (OLD.first_at IS NOT NULL),
		due_answered = due_answered - (OLD.first_at IS NOT NULL AND OLD.respond_by IS NOT NULL),
		on_time = on_time - (OLD.first_at IS NOT NULL AND OLD.respond_by IS NOT NULL AND OLD.first_ms <= OLD.respond_by)
	WHERE grp = OLD.grp;
	DELETE FROM stats_totals WHERE grp = OLD.grp AND requests = 0;
	UPDATE stats_hist SET n = n - 1 WHERE grp = OLD.grp AND bucket = OLD.bucket;
	DELETE FROM stats_hist WHERE grp = OLD.grp AND bucket = OLD.bucket AND n = 0;
END;

-- A store with no entries has every input it needs; any other is filled
-- in once by the node (node/stats.go), which then sets this mark.
INSERT INTO marks (name, value) SELECT 'stats', 1 WHERE NOT EXISTS (SELECT 1 FROM entries);
