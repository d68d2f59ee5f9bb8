-- Messaging (issue 18): consent to contact, the outbox and the links messages carry.
-- Kept aligned between sqlite/ and postgres/.

-- Consent to be contacted, per client and channel, as a history: the newest row decides.
-- `recorded_by` is the user who recorded it; NULL when the person did it themself through
-- a link (unsubscribe), which `recorded_via` says.
CREATE TABLE contact_consents (
    id            INTEGER PRIMARY KEY,
    client_id     INTEGER NOT NULL REFERENCES clients(id),
    channel       TEXT NOT NULL CHECK (channel IN ('email')),
    state         TEXT NOT NULL CHECK (state IN ('granted','withdrawn')),
    recorded_by   INTEGER REFERENCES users(id),
    recorded_via  TEXT NOT NULL CHECK (recorded_via IN ('staff','portal','unsubscribe_link')),
    recorded_at   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX contact_consents_client ON contact_consents(client_id, channel, id);

-- The transactional outbox. A row is written in the transaction of the event that causes
-- it and sent by a worker that claims it (status 'sending', claimed_by, claim_expires_at);
-- a claim that expires (the worker died) makes the row claimable again. The address and
-- the template's parameters are sealed (they hold an email address, a first name and the
-- raw secret of a link); `last_error` holds the SMTP reply class, never content.
-- `dedupe_key` makes enqueueing idempotent (one reminder per session and member, even when
-- two servers scan at once). `smtp_message_id` is fixed at enqueue time and sent on every
-- attempt, so a message retried after a crash between sending and marking is the same
-- message to the receiving mail system.
CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    dedupe_key        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('session_reminder','session_cancelled',
                          'seat_offer','check_in_due','referral_received','referral_waiting',
                          'safety_alert')),
    recipient_kind    TEXT NOT NULL CHECK (recipient_kind IN ('client','referral','user')),
    recipient_id      INTEGER NOT NULL,
    -- The client the message is for (client recipients), for the gate and for consent.
    client_id         INTEGER REFERENCES clients(id),
    program_id        INTEGER REFERENCES programs(id),
    -- What the message is about ('session:12', 'offer:3'), so an event can stop it.
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
CREATE INDEX messages_due ON messages(status, next_attempt_at);
CREATE INDEX messages_client ON messages(client_id, status);
CREATE INDEX messages_subject ON messages(subject_ref, status);

-- Secrets of the links messages carry (unsubscribe, seat offer): single use, expiring,
-- stored only as a SHA-256 digest.
CREATE TABLE message_tokens (
    id          INTEGER PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('unsubscribe','offer')),
    token_hash  TEXT NOT NULL UNIQUE,
    client_id   INTEGER NOT NULL REFERENCES clients(id),
    offer_id    INTEGER REFERENCES offers(id),
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    created_at  TEXT NOT NULL
);

-- Per program: how long before a session its reminder goes, and the sender name messages
-- carry (a discreet name: a client may not want "Addiction Services" in their inbox).
ALTER TABLE programs ADD COLUMN reminder_hours INTEGER NOT NULL DEFAULT 24 CHECK (reminder_hours BETWEEN 1 AND 168);
ALTER TABLE programs ADD COLUMN sender_name TEXT;
