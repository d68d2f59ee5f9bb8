-- A group's sessions within a date range (issue 16: run it for years). The weekly-hours
-- queries (compliance, the chart's weeks, Today's hours at risk) join each membership to
-- its group's sessions of one week; with only (group_id, starts_at) and (local_date) to
-- choose from, SQLite read every session the group ever had for each membership (2.7 ms
-- on the demo clinic, growing with the clinic's history). With this index it reads the
-- week's (0.86 ms). Kept aligned between sqlite/ and postgres/.
CREATE INDEX sessions_group_day ON sessions(group_id, local_date);
