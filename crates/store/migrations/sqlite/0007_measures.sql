-- Outcome measures and safety alerts. Built-in instruments (PHQ-9, GAD-7) live in code;
-- a clinic's own instruments are stored as validated JSON definitions and never replaced.
CREATE TABLE instruments (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- One administration: answers (item id -> value, JSON), its total and severity band.
CREATE TABLE measure_responses (
    id               INTEGER PRIMARY KEY,
    client_id        INTEGER NOT NULL REFERENCES clients(id),
    instrument_code  TEXT NOT NULL,
    answers          TEXT NOT NULL,
    total            INTEGER NOT NULL,
    severity         TEXT NOT NULL,
    administered_at  TEXT NOT NULL,
    recorded_by      INTEGER REFERENCES users(id),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX measure_responses_client ON measure_responses(client_id, instrument_code, administered_at);

-- A safety alert raised by a response, open until a clinician acknowledges it saying what
-- was done (action_taken is sealed with the vault).
CREATE TABLE safety_alerts (
    id               INTEGER PRIMARY KEY,
    client_id        INTEGER NOT NULL REFERENCES clients(id),
    response_id      INTEGER NOT NULL UNIQUE REFERENCES measure_responses(id),
    instrument_code  TEXT NOT NULL,
    items            TEXT NOT NULL,
    raised_at        TEXT NOT NULL,
    acknowledged_at  TEXT,
    acknowledged_by  INTEGER REFERENCES users(id),
    action_taken     TEXT,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((acknowledged_at IS NULL) = (action_taken IS NULL))
);
CREATE INDEX safety_alerts_client ON safety_alerts(client_id);
CREATE INDEX safety_alerts_open ON safety_alerts(acknowledged_at, raised_at);
