-- 0004: the store answers a crdt State's questions (crdt.Facts) with
-- indexes, so that a node need not hold its log in memory.
--
-- Entries gain, in clear (ARCHITECTURE.md, "The database at rest", says
-- what each tells an imaged disk):
--   kind      the entry's kind (also still sealed with its bytes);
--   view      the read-side list it belongs to (crdt.View); NULL while its
--             keys are not known: rows stored before this migration, until
--             the node replays its log and calls SetKeys; such a row is
--             listed by no view;
--   tag       a request's type (crdt.Keys.Tag), 0 for the others;
--   ref       the entry a response, close, acknowledgement or key share
--             names (crdt.Keys.Ref), NULL for the others;
--   withheld  1 if the entry is stored without its body;
--   resident  1 if a State keeps it in memory: not accepted, or of a kind
--             crdt.ResidentKind names (Resident reads only these rows).
-- A grant's tokens go in their own table, each as the store's keyed hash
-- of it (the tokens are keyed hashes already; hashed again, the table does
-- not repeat a value found in any entry's bytes).
--
-- Small tables keep what would otherwise mean counting rows: devices
-- (accepted entries per author's keyed hash, and whether two share a seq),
-- tallies (entries and their sealed bytes per status and kind) and views
-- (accepted entries per view and tag), kept in the transaction of every
-- write.
--
-- Status 1 is accepted (crdt.StatusAccepted); the partial indexes below
-- name it, and the queries that use them say "status = 1" as it is here.
ALTER TABLE entries ADD COLUMN kind     INTEGER;
ALTER TABLE entries ADD COLUMN view     INTEGER;
ALTER TABLE entries ADD COLUMN tag      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN ref      BLOB;
ALTER TABLE entries ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN resident INTEGER NOT NULL DEFAULT 1;

CREATE TABLE grant_tokens (
	token BLOB NOT NULL, -- keyed hash of the token
	id    BLOB NOT NULL, -- the grant record's entry
	PRIMARY KEY (token, id)
) WITHOUT ROWID;
CREATE INDEX grant_tokens_id ON grant_tokens (id);

CREATE TABLE devices (
	author   BLOB    PRIMARY KEY, -- keyed hash of the author, as in entries
	accepted INTEGER NOT NULL,
	forked   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tallies (
	status INTEGER NOT NULL,
	kind   INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	bytes  INTEGER NOT NULL, -- sum of LENGTH(sealed)
	PRIMARY KEY (status, kind)
) WITHOUT ROWID;

-- Accepted entries per view and tag (Count), for the rows whose keys are
-- known.
CREATE TABLE views (
	view INTEGER NOT NULL,
	tag  INTEGER NOT NULL,
	n    INTEGER NOT NULL,
	PRIMARY KEY (view, tag)
) WITHOUT ROWID;

-- The highest clock ever stored (a dropped entry's still counts).
CREATE TABLE marks (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

-- The Go step fills kind, withheld and resident of the rows already
-- stored (it opens each one), and the small tables from them.
-- go: clearKinds

-- Page and Count: a view newest first, all of it or of one tag.
CREATE INDEX entries_view_page ON entries (view, clock, id) WHERE status = 1 AND view > 0;
CREATE INDEX entries_view_tag ON entries (view, tag, clock, id) WHERE status = 1 AND view > 0 AND tag <> 0;
-- Refs, and Page of one ref (a device's latest directory entry).
CREATE INDEX entries_ref ON entries (view, ref, clock, id) WHERE status = 1 AND view > 0 AND ref IS NOT NULL;
-- An author's accepted head, and forks, use entries_author_seq (status is
-- read from the row): a partial index of accepted entries on (author, seq)
-- made every Put 1.3x slower, and the rows it would skip are the author's
-- waiting and held ones, which the State bounds.
-- AcceptedIDs (the state's digest), read from the index alone.
CREATE INDEX entries_accepted_id ON entries (id) WHERE status = 1;
-- Withheld.
CREATE INDEX entries_withheld ON entries (id) WHERE status = 1 AND withheld = 1;
-- Resident.
CREATE INDEX entries_resident ON entries (cursor) WHERE resident = 1;
-- NeedsKeys.
CREATE INDEX entries_keyless ON entries (cursor) WHERE view IS NULL;
