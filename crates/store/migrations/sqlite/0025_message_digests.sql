-- Messaging, continued (issue 18): the daily staff digest is a kind of message. Kept
-- aligned with postgres/0025_message_digests.sql. SQLite cannot change a CHECK constraint,
-- so the outbox is rebuilt with the wider list (nothing references it; its rows, ids and
-- indexes are kept as they were).
CREATE TABLE messages_0025 (
    id                INTEGER PRIMARY KEY,
    dedupe_key        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('session_reminder','session_cancelled',
                          'seat_offer','check_in_due','referral_received','referral_waiting',
                          'safety_alert','staff_digest')),
    recipient_kind    TEXT NOT NULL CHECK (recipient_kind IN ('client','referral','user')),
    recipient_id      INTEGER NOT NULL,
    client_id         INTEGER REFERENCES clients(id),
    program_id        INTEGER REFERENCES programs(id),
    subject_ref       TEXT,
    recipient_address TEXT NOT NULL,
    params            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('queued','sending','sent','dead','cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    claimed_by        TEXT,
    claim_expires_at  TEXT,
    smtp_message_id   TEXT NOT NULL UNIQUE,
    smtp_reply        TEXT,
    sent_at           TEXT,
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
INSERT INTO messages_0025 (id, dedupe_key, kind, recipient_kind, recipient_id, client_id,
    program_id, subject_ref, recipient_address, params, status, attempts, next_attempt_at,
    claimed_by, claim_expires_at, smtp_message_id, smtp_reply, sent_at, last_error,
    created_at, updated_at)
SELECT id, dedupe_key, kind, recipient_kind, recipient_id, client_id, program_id,
    subject_ref, recipient_address, params, status, attempts, next_attempt_at, claimed_by,
    claim_expires_at, smtp_message_id, smtp_reply, sent_at, last_error, created_at, updated_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_0025 RENAME TO messages;
CREATE INDEX messages_due ON messages(status, next_attempt_at);
CREATE INDEX messages_client ON messages(client_id, status);
CREATE INDEX messages_subject ON messages(subject_ref, status);
