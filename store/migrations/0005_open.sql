-- 0005: a request is keyed open or closed, so that the open ones are
-- listed without reading the closed: a closed request's ref is the
-- keyed hash of crdt.ClosedRef (the same for every closed request: it
-- names no entry), an open one's is NULL. An imaged disk can tell which
-- requests are closed, as it could tell that closes exist.
--
-- Page and Count of the rows with no ref (the open requests; grant
-- records too, which have none): all of a view, or of one tag.
CREATE INDEX entries_bare ON entries (view, clock, id) WHERE status = 1 AND view > 0 AND ref IS NULL;
CREATE INDEX entries_bare_tag ON entries (view, tag, clock, id) WHERE status = 1 AND view > 0 AND tag <> 0 AND ref IS NULL;

-- The requests stored by 0004 were all keyed open. If any close was
-- accepted, their keys are decided again: with no view, they are listed
-- by none until the node, at its next open, replays its log once and
-- keys them (as after 0004). A store with no close needs nothing.
DELETE FROM views WHERE view = 1 AND EXISTS (SELECT 1 FROM entries WHERE view = 3 AND status = 1);
UPDATE entries SET view = NULL WHERE view = 1 AND EXISTS (SELECT 1 FROM entries WHERE view = 3 AND status = 1);
