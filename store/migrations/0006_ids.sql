-- 0006: the accepted IDs are listed from the ID index, less the entries
-- not accepted (AcceptedIDs): an index of the accepted IDs alone cost
-- every insert a fifth of its time, since IDs are random and each batch
-- touched most of its pages.
DROP INDEX IF EXISTS entries_accepted_id;
