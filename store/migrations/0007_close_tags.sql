-- 0007: a close is keyed by its organisation too (its tag, a keyed hash
-- like its ref), so that the closes that count, the requesting
-- organisation's, are found without reading any other: a member that
-- writes thousands of closes of someone else's request no longer makes
-- every view of it, and every close after, read them all.
CREATE INDEX entries_ref_tag ON entries (view, ref, tag, clock, id) WHERE status = 1 AND view > 0 AND ref IS NOT NULL AND tag <> 0;

-- The closes stored so far have no tag: with no view, they are listed by
-- none until the node, at its next open, replays its log once and keys
-- them (as after 0004 and 0005). A store with no close needs nothing.
DELETE FROM views WHERE view = 3;
UPDATE entries SET view = NULL WHERE view = 3;
