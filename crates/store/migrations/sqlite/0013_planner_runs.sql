-- Planner runs (issue 6, "In the product"). Kept aligned between sqlite/ and postgres/.
-- A run is started by a director, solved in the background (queued -> running -> done or
-- failed, with progress 0-100 and a heartbeat), and its proposal is stored as JSON (ids
-- only, no names). A run still queued or running after a restart is failed "interrupted".

CREATE TABLE planner_runs (
    id            INTEGER PRIMARY KEY,
    -- The program planned; none for the whole clinic.
    program_id    INTEGER REFERENCES programs(id),
    time_limit_ms INTEGER NOT NULL CHECK (time_limit_ms BETWEEN 100 AND 10000),
    state         TEXT NOT NULL CHECK (state IN ('queued','running','done','failed')),
    progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    started_by    INTEGER NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    -- Refreshed while the run is worked on; a stale one means the worker is gone.
    heartbeat_at  TEXT NOT NULL,
    finished_at   TEXT,
    -- Why a run failed (a fixed phrase, never client data).
    error         TEXT,
    -- The proposal (circle_domain::planning::Proposal as JSON) once done.
    proposal      TEXT
);
CREATE INDEX planner_runs_recent ON planner_runs(created_at);

-- What became of each approved item of a run: a new placement, a move (from_group_id is
-- the group left), or an ending (group_id is the group left). An applied item is never
-- applied again; a refused one may be approved again.
CREATE TABLE planner_run_items (
    run_id        INTEGER NOT NULL REFERENCES planner_runs(id),
    client_id     INTEGER NOT NULL REFERENCES clients(id),
    kind          TEXT NOT NULL CHECK (kind IN ('place','move','end')),
    group_id      INTEGER NOT NULL REFERENCES therapy_groups(id),
    from_group_id INTEGER REFERENCES therapy_groups(id),
    outcome       TEXT NOT NULL CHECK (outcome IN ('applied','refused')),
    code          TEXT,
    message       TEXT,
    membership_id INTEGER REFERENCES memberships(id),
    decided_by    INTEGER NOT NULL REFERENCES users(id),
    decided_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, client_id, group_id)
);
