-- FHIR Bulk Data exports (issue 15). Kept aligned with postgres/0024_fhir_export.sql.
-- A job is kicked off by a director (queued), worked on in the background by whichever
-- server claims it (running, with a heartbeat), and ends done, failed or cancelled. A job
-- still running with a stale heartbeat (its server stopped) is claimed again and re-run
-- from the start, so an export survives a restart. `params` is the sealed JSON of the
-- recipient and purpose; each file's `body` is the sealed NDJSON of one resource type.
CREATE TABLE fhir_export_jobs (
    id               INTEGER PRIMARY KEY,
    requested_by     INTEGER NOT NULL REFERENCES users(id),
    group_id         INTEGER REFERENCES therapy_groups(id),
    -- Comma-separated resource types (`_type`), never client data.
    types            TEXT NOT NULL,
    params           TEXT,
    request_url      TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),
    progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    -- Why a job failed (a fixed phrase, never client data).
    error            TEXT,
    -- How many clients were left out for want of a Part 2 consent in force.
    withheld         INTEGER NOT NULL DEFAULT 0,
    transaction_time TEXT,
    heartbeat_at     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX fhir_export_jobs_live ON fhir_export_jobs(state, id);

CREATE TABLE fhir_export_files (
    id             INTEGER PRIMARY KEY,
    job_id         INTEGER NOT NULL REFERENCES fhir_export_jobs(id),
    resource_type  TEXT NOT NULL,
    resources      INTEGER NOT NULL,
    body           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX fhir_export_files_job ON fhir_export_files(job_id, id);
