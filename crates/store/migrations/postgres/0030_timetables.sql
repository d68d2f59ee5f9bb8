-- Timetable proposals (issue 17, part 2, "In the product"). Kept aligned between sqlite/
-- and postgres/.
--
-- What the week's design needs and the database did not hold, with defaults that change
-- nothing for a clinic that never sets them:
-- - a clinician's weekly group minutes (lead or co-facilitator; default 20 h) and the
--   weekly windows they can run groups in (JSON AvailabilityWindow list; empty: any time
--   the clinic is open);
-- - a room's weekly windows (empty: any time the clinic is open);
-- - a program's timetable window: the days and local hours its groups may meet and the
--   days a week its clients come (NULL: the level of care's default, widened to hold the
--   program's current meetings; see circle_app::timetabling).
ALTER TABLE clinicians ADD COLUMN weekly_group_minutes BIGINT NOT NULL DEFAULT 1200 CHECK (weekly_group_minutes BETWEEN 0 AND 6000);
ALTER TABLE clinicians ADD COLUMN availability TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rooms ADD COLUMN availability TEXT NOT NULL DEFAULT '[]';
ALTER TABLE programs ADD COLUMN timetable_days TEXT;
ALTER TABLE programs ADD COLUMN timetable_start TEXT;
ALTER TABLE programs ADD COLUMN timetable_end TEXT;
ALTER TABLE programs ADD COLUMN days_target BIGINT CHECK (days_target BETWEEN 1 AND 7);

-- A proposal: built by a director for a program or the whole clinic, re-solved with its
-- pins as often as wanted (version counts the solves and approvals), approved all at once
-- or part by part. Pins and proposal
-- are JSON of ids and times only (circle_domain::timetabling), never client data.
CREATE TABLE timetable_runs (
    id            BIGSERIAL PRIMARY KEY,
    program_id    BIGINT REFERENCES programs(id),
    state         TEXT NOT NULL CHECK (state IN ('proposed','approved')),
    time_limit_ms BIGINT NOT NULL CHECK (time_limit_ms BETWEEN 100 AND 10000),
    started_by    BIGINT NOT NULL REFERENCES users(id),
    pins          TEXT NOT NULL DEFAULT '[]',
    proposal      TEXT NOT NULL,
    -- Groups whose change has been applied (JSON ids): a part approved is never applied
    -- again; the run is approved once every change is.
    applied       TEXT NOT NULL DEFAULT '[]',
    approved_by   BIGINT REFERENCES users(id),
    approved_at   TEXT,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CHECK ((state = 'approved') = (approved_at IS NOT NULL))
);
CREATE INDEX timetable_runs_program ON timetable_runs(program_id);
