-- 0007: closes, acknowledgements and responses are keyed by their
-- organisation too (their tag, a keyed hash like their ref; a response's
-- by its type as well), and an index finds a request's entries of one
-- tag: the closes that count, the requesting organisation's, are found
-- without reading any other, and a request's view counts and reads each
-- organisation's answers apart. A member that writes thousands of
-- closes, acknowledgements or comments on someone else's request no
-- longer makes every view of it, and every close after, read them all.
CREATE INDEX entries_ref_tag ON entries (view, ref, tag, clock, id) WHERE status = 1 AND view > 0 AND ref IS NOT NULL AND tag <> 0;

-- Those stored so far have no tag: with no view, they are listed by none
-- until the node, at its next open, replays its log once and keys them
-- (as after 0004 and 0005). A store with none of them needs nothing.
DELETE FROM views WHERE view IN (2, 3, 4);
UPDATE entries SET view = NULL WHERE view IN (2, 3, 4);
