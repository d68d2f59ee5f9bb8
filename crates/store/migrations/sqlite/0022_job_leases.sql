-- Leases on background work (issue 16, several servers over one database). A server runs a
-- job only while it holds the job's lease; a lease that is not renewed expires, so the work
-- of a server that died is taken over by another once `expires_at` has passed. Kept aligned
-- between sqlite/ and postgres/.
--
-- `generation` grows every time the lease is claimed: it numbers the runs of a job and
-- fences a holder that lost its lease (a renewal or release naming an old generation does
-- nothing). `last_done_at` is when a run last finished, so the schedule of a periodic job
-- lives in the database, not in each server. Timestamps are fixed-width UTC text, whose
-- order is time order.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    generation BIGINT NOT NULL,
    expires_at TEXT NOT NULL,
    last_done_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
