-- Access by construction (issue 13). Kept aligned between sqlite/ and postgres/.

-- A director is clinic-wide only by an explicit setting: removing a director's last
-- program no longer makes them clinic-wide (that failed open). Directors who were
-- clinic-wide before (no linked program) keep it.
ALTER TABLE users ADD COLUMN clinic_wide BIGINT NOT NULL DEFAULT 0;
UPDATE users SET clinic_wide = 1 WHERE role = 'director'
    AND NOT EXISTS (SELECT 1 FROM director_programs dp WHERE dp.user_id = users.id);

-- One account per clinician record and per client record: a second ("shadow") account
-- bound to an existing clinician could read notes and sign addenda as them.
CREATE UNIQUE INDEX users_one_per_clinician ON users(clinician_id) WHERE clinician_id IS NOT NULL;
CREATE UNIQUE INDEX users_one_per_client ON users(client_id) WHERE client_id IS NOT NULL;

-- The clients each audit entry names, one row each, so a review by client is an indexed
-- equality instead of a LIKE over the chain's ',3,9,' column (which stays, as the MAC
-- covers it; `audit verify` checks the two agree). No foreign key: the chain, not this
-- index, is the record, and its verifier must see a damaged log as it is.
CREATE TABLE audit_clients (
    seq        BIGINT NOT NULL,
    client_id  BIGINT NOT NULL,
    PRIMARY KEY (client_id, seq)
);
INSERT INTO audit_clients (seq, client_id)
SELECT DISTINCT seq, x::BIGINT
FROM audit_log, unnest(string_to_array(trim(both ',' from client_ids), ',')) AS x
WHERE x <> '';
