-- Strong sign-in (SQLite): TOTP multi-factor sign-in, recovery codes, lockout after
-- repeated failures, and a log of every sign-in attempt. Kept aligned with
-- postgres/0002_sign_in.sql: same tables, columns and constraints; only integer types differ.
-- Instants are RFC 3339 UTC text ('…Z'), as in 0001.

-- The TOTP secret (base32) is plain text for now: a later change encrypts it with the
-- vault. NULL means the user has not enrolled. totp_last_step is the last RFC 6238 time
-- step accepted, so a code is used at most once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enrolled_at TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
-- Consecutive failed sign-ins; reset by a completed sign-in and when a lock starts.
ALTER TABLE users ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;

-- Enrolment at first sign-in: a short-lived, single-use token (SHA-256 digest only) that
-- carries the secret being enrolled until the user proves it with a code.
CREATE TABLE mfa_enrollments (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    totp_secret  TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX mfa_enrollments_user ON mfa_enrollments(user_id);

-- Single-use recovery codes, stored as SHA-256 digests; used_at marks a spent code.
CREATE TABLE recovery_codes (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    code_hash    TEXT NOT NULL,
    used_at      TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (user_id, code_hash)
);

-- Every sign-in attempt, never with the password or code. The email is kept only as the
-- SHA-256 of its lower-cased form, so attempts on unknown emails can be counted without
-- storing them. Append-only: a row is never updated, so attempted_at is its creation time.
CREATE TABLE sign_in_attempts (
    id            INTEGER PRIMARY KEY,
    attempted_at  TEXT NOT NULL,
    user_id       INTEGER REFERENCES users(id),
    email_hash    TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('success','success_recovery_code','bad_password',
                      'unknown_email','mfa_required','mfa_enrollment_required','bad_mfa_code',
                      'mfa_code_replayed','locked','disabled','mfa_enrolled','bad_enrollment_token')),
    source_ip     TEXT
);
CREATE INDEX sign_in_attempts_user ON sign_in_attempts(user_id, attempted_at);
CREATE INDEX sign_in_attempts_email ON sign_in_attempts(email_hash, attempted_at);
