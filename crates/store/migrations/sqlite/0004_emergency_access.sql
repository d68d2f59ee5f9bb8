-- Emergency ("break-glass") access. Kept aligned between sqlite/ and postgres/.
-- A user granted the capability in advance may open a chart outside their caseload after
-- giving a reason; the access lasts a set time, every action under it is flagged in the
-- audit (emergency_access_id), and directors review the list.

CREATE TABLE emergency_grants (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id),
    granted_by  INTEGER REFERENCES users(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE emergency_accesses (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    client_id   INTEGER NOT NULL REFERENCES clients(id),
    -- Sealed with the master key (clinical free text), the row id bound as associated data.
    reason      TEXT,
    started_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX emergency_accesses_user ON emergency_accesses(user_id, client_id);

-- Entries written under an emergency access name it; older entries have none, and the
-- chain's MAC covers the column only when it is set, so they still verify.
ALTER TABLE audit_log ADD COLUMN emergency_access_id INTEGER;
