-- 0009: requests are listed from the indexes of the open (no ref) and of
-- the closed (ClosedRef) requests, merged; the indexes of every view
-- leave them out, so that a request taken in keeps two b-trees fewer.
DROP INDEX entries_view_page;
DROP INDEX entries_view_tag;
CREATE INDEX entries_view_page ON entries (view, clock, id) WHERE status = 1 AND view > 1;
CREATE INDEX entries_view_tag ON entries (view, tag, clock, id) WHERE status = 1 AND view > 1 AND tag <> 0;
