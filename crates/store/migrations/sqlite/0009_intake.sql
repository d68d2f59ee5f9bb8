-- Ways in and intake (issue 3) and Part 2 disclosures (issue 4). Kept aligned with
-- postgres/0009_intake.sql: same tables, columns and constraints; only integer types differ.
-- Personal free text (names, contacts, reasons, consent terms, what was disclosed) is
-- sealed with the vault, the row id bound as associated data; never stored in clear.

-- A referral by one of three paths. `details` is the sealed JSON of name, contact, reason
-- and referring provider. `preferred_times` is plain JSON (weekday + part of day) so the
-- waitlist can match schedules.
CREATE TABLE referrals (
    id               INTEGER PRIMARY KEY,
    path             TEXT NOT NULL CHECK (path IN ('self_referral','program_admission','therapist_referral')),
    state            TEXT NOT NULL CHECK (state IN ('referred','screening','ready','placed','waitlisted',
                         'active','stepped_down','completed','discharged','withdrawn')),
    details          TEXT,
    preferred_times  TEXT NOT NULL,
    program_id       INTEGER REFERENCES programs(id),
    level_of_care    TEXT CHECK (level_of_care IN ('residential','php','iop','outpatient')),
    client_id        INTEGER REFERENCES clients(id),
    screener_id      INTEGER REFERENCES clinicians(id),
    received_at      TEXT NOT NULL,
    created_by       INTEGER REFERENCES users(id),
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX referrals_state ON referrals(state, id);
CREATE INDEX referrals_screener ON referrals(screener_id);

-- Every move of a referral, dated and attributed (the first row has no from_state).
CREATE TABLE referral_transitions (
    id            INTEGER PRIMARY KEY,
    referral_id   INTEGER NOT NULL REFERENCES referrals(id),
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    at            TEXT NOT NULL,
    by_user_id    INTEGER REFERENCES users(id),
    reason        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX referral_transitions_referral ON referral_transitions(referral_id, id);

-- Group-readiness screenings. measure_response_id has no foreign key yet: the measures
-- slice is built in parallel.
CREATE TABLE screenings (
    id                   INTEGER PRIMARY KEY,
    referral_id          INTEGER NOT NULL REFERENCES referrals(id),
    decision             TEXT NOT NULL CHECK (decision IN ('ready','not_ready','refer_elsewhere')),
    reasons              TEXT,
    measure_response_id  INTEGER,
    screened_by          INTEGER REFERENCES users(id),
    screened_at          TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX screenings_referral ON screenings(referral_id, id);

-- Public self-referral attempts per source, for rate limiting across servers. The source
-- is an HMAC of the address under the audit key, never the address itself.
CREATE TABLE self_referral_attempts (
    id            INTEGER PRIMARY KEY,
    source_hash   TEXT NOT NULL,
    attempted_at  TEXT NOT NULL
);
CREATE INDEX self_referral_attempts_source ON self_referral_attempts(source_hash, attempted_at);

-- Group agreement signatures, by agreement version.
CREATE TABLE group_agreements (
    id           INTEGER PRIMARY KEY,
    client_id    INTEGER NOT NULL REFERENCES clients(id),
    version      TEXT NOT NULL,
    signed_on    TEXT NOT NULL,
    method       TEXT NOT NULL CHECK (method IN ('electronic','paper')),
    recorded_by  INTEGER REFERENCES users(id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX group_agreements_client ON group_agreements(client_id, signed_on);

-- 42 CFR Part 2 consents: `terms` is the sealed JSON of every 2.31 element.
CREATE TABLE part2_consents (
    id                 INTEGER PRIMARY KEY,
    client_id          INTEGER NOT NULL REFERENCES clients(id),
    terms              TEXT,
    expires_on         TEXT,
    revoked_at         TEXT,
    revocation_reason  TEXT CHECK (revocation_reason IN ('revoked_by_patient','expiry_event_occurred')),
    revoked_by         INTEGER REFERENCES users(id),
    recorded_by        INTEGER REFERENCES users(id),
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX part2_consents_client ON part2_consents(client_id);

-- The accounting of disclosures: `details` is the sealed JSON of recipient, information
-- and purpose.
CREATE TABLE disclosures (
    id            INTEGER PRIMARY KEY,
    client_id     INTEGER NOT NULL REFERENCES clients(id),
    consent_id    INTEGER REFERENCES part2_consents(id),
    details       TEXT,
    disclosed_at  TEXT NOT NULL,
    disclosed_by  INTEGER REFERENCES users(id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX disclosures_client ON disclosures(client_id, id);
