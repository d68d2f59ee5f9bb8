-- A group's memberships (issue 16: run it for years). The weekly-hours queries (compliance,
-- Today's hours at risk) start from the week's sessions and join each to its group's
-- memberships; without this index SQLite started from memberships instead and read every
-- membership the clinic ever held, each week growing with its history. Kept aligned
-- between sqlite/ and postgres/.
CREATE INDEX memberships_group ON memberships(group_id, start_date);
