-- Session details and clinical notes (issue 3): a group's curriculum, each session's
-- facilitators present, participation in attendance, group notes, one progress note per
-- attending member per session, and addenda. Note text is sealed with the vault (the
-- `body` columns hold ciphertext only). A note counts as signed exactly when
-- state = 'signed'.
ALTER TABLE therapy_groups ADD COLUMN curriculum TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN facilitators_present TEXT NOT NULL DEFAULT '[]';
ALTER TABLE attendance ADD COLUMN participation TEXT NOT NULL DEFAULT '[]';

CREATE TABLE group_notes (
    id                   INTEGER PRIMARY KEY,
    session_id           INTEGER NOT NULL UNIQUE REFERENCES sessions(id),
    author_clinician_id  INTEGER NOT NULL REFERENCES clinicians(id),
    state                TEXT NOT NULL CHECK (state IN ('draft','awaiting_cosign','signed')),
    body                 TEXT NOT NULL,
    content_hash         TEXT,
    signed_at            TEXT,
    cosigned_by          INTEGER REFERENCES clinicians(id),
    cosigned_at          TEXT,
    names_confirmed      INTEGER NOT NULL DEFAULT 0,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX group_notes_author ON group_notes(author_clinician_id, state);

CREATE TABLE progress_notes (
    id                   INTEGER PRIMARY KEY,
    session_id           INTEGER NOT NULL REFERENCES sessions(id),
    client_id            INTEGER NOT NULL REFERENCES clients(id),
    author_clinician_id  INTEGER NOT NULL REFERENCES clinicians(id),
    state                TEXT NOT NULL CHECK (state IN ('draft','awaiting_cosign','signed')),
    body                 TEXT NOT NULL,
    content_hash         TEXT,
    signed_at            TEXT,
    cosigned_by          INTEGER REFERENCES clinicians(id),
    cosigned_at          TEXT,
    names_confirmed      INTEGER NOT NULL DEFAULT 0,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (session_id, client_id)
);
CREATE INDEX progress_notes_client ON progress_notes(client_id);
CREATE INDEX progress_notes_author ON progress_notes(author_clinician_id, state);

CREATE TABLE note_addenda (
    id                   INTEGER PRIMARY KEY,
    note_table           TEXT NOT NULL CHECK (note_table IN ('group_notes','progress_notes')),
    note_id              INTEGER NOT NULL,
    author_clinician_id  INTEGER NOT NULL REFERENCES clinicians(id),
    body                 TEXT NOT NULL,
    content_hash         TEXT NOT NULL,
    signed_at            TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX note_addenda_note ON note_addenda(note_table, note_id);
