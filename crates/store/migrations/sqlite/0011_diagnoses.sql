-- A client's diagnosis codes (ICD-10-CM) in billing order: each billing line carries the
-- member's own diagnoses (CPT 90853 is billed per patient).
CREATE TABLE client_diagnoses (
    client_id    INTEGER NOT NULL REFERENCES clients(id),
    position     INTEGER NOT NULL CHECK (position BETWEEN 0 AND 11),
    code         TEXT NOT NULL,
    recorded_by  INTEGER REFERENCES users(id),
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, position),
    UNIQUE (client_id, code)
);
