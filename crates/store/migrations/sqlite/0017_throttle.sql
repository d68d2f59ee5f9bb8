-- Sign-in throttling instead of account lockout (issue 13, hole 3; OWASP ASVS 5.0 V6.3).
-- Kept aligned between sqlite/ and postgres/.
--
-- Failed attempts are counted from this log, per account and source address, per source
-- across accounts, and per account across sources (the owner's known addresses exempt),
-- so throttling holds across servers. A throttled attempt is logged as 'throttled'; rows
-- logged 'locked' under the old lockout stay as history. SQLite cannot change a CHECK in
-- place: the table is rebuilt with the same rows.
CREATE TABLE sign_in_attempts_next (
    id            INTEGER PRIMARY KEY,
    attempted_at  TEXT NOT NULL,
    user_id       INTEGER REFERENCES users(id),
    email_hash    TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success','success_recovery_code','bad_password',
                      'unknown_email','mfa_required','mfa_enrollment_required','bad_mfa_code',
                      'mfa_code_replayed','locked','disabled','mfa_enrolled','bad_enrollment_token',
                      'throttled')),
    source_ip     TEXT
);
INSERT INTO sign_in_attempts_next (id, attempted_at, user_id, email_hash, outcome, source_ip)
    SELECT id, attempted_at, user_id, email_hash, outcome, source_ip FROM sign_in_attempts;
DROP TABLE sign_in_attempts;
ALTER TABLE sign_in_attempts_next RENAME TO sign_in_attempts;
CREATE INDEX sign_in_attempts_user ON sign_in_attempts(user_id, attempted_at);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts(email_hash, attempted_at);
CREATE INDEX sign_in_attempts_source ON sign_in_attempts(source_ip, attempted_at);
