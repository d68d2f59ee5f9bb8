-- A session's place in its group's curriculum is the count of the group's earlier sessions
-- that were not cancelled (`resolve_topics`, on every Today and calendar view). Ordered by
-- start time with the status beside it, that count is a range of this index alone, however
-- long the group has run.
CREATE INDEX sessions_group_start ON sessions(group_id, starts_at, status);
