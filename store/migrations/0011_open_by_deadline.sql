-- 0011: the open requests in the inbox's order after the open alerts: by
-- deadline (respond_by, in clear as before), then when they were made
-- (created). An inbox page reads the requests it shows, in that order,
-- not every open request (Store.OpenByDeadline).
CREATE INDEX request_stats_open ON request_stats (respond_by, created) WHERE open = 1;
