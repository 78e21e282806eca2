-- 0008: the highest clock is read from the clock mark (marks), which
-- every write of entries raises: the index of every entry's clock cost
-- each insert, for that one question.
DROP INDEX IF EXISTS entries_clock;
