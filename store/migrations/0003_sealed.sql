-- 0003: the database at rest is sealed (seal.go). Entries keep in clear
-- only what SQL compares or orders: id (lookups, uniqueness), seq and clock
-- (the chain head, the highest clock), status (Counts, status changes) and,
-- in place of the author, a keyed hash of it (the head's index). The
-- author, the kind and the entry's bytes move into one sealed column bound
-- to the ID. Contacts are keyed by keyed hashes of device and address, and
-- keep in clear only when (last, for "most recent first" and pruning).
-- Meta values are sealed in place.
--
-- The Go step (sealRows in sqlite.go) runs at the marker below, inside the
-- same transaction: it seals every existing row, so an existing data
-- directory is upgraded in place. The open that applies this migration
-- then rebuilds the file (VACUUM) and empties the WAL, so that no page of
-- the old clear rows is left in the data directory.
CREATE TABLE contacts_sealed (
	device BLOB    NOT NULL, -- keyed hash of the device
	addr   BLOB    NOT NULL, -- keyed hash of device and address
	last   INTEGER NOT NULL,
	sealed BLOB    NOT NULL, -- device, via, address
	PRIMARY KEY (device, addr)
) WITHOUT ROWID;

-- go: sealRows

DROP TABLE contacts;
ALTER TABLE contacts_sealed RENAME TO contacts;
ALTER TABLE entries DROP COLUMN kind;
ALTER TABLE entries RENAME COLUMN raw TO sealed;
