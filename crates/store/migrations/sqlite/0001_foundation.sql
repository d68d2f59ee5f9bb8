-- Circle foundation schema (SQLite). Kept aligned with postgres/0001_foundation.sql:
-- same tables, columns and constraints; only the id and integer types differ.
-- Dates are ISO 'YYYY-MM-DD' text and instants RFC 3339 UTC text ('…Z'), which sort
-- correctly as text in both databases and decode identically through sqlx's Any driver.

CREATE TABLE clinicians (
    id            INTEGER PRIMARY KEY,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    modalities    TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE licenses (
    id            INTEGER PRIMARY KEY,
    clinician_id  INTEGER NOT NULL REFERENCES clinicians(id),
    kind          TEXT NOT NULL,
    number        TEXT NOT NULL,
    state         TEXT NOT NULL,
    issued_on     TEXT NOT NULL,
    expires_on    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (state, number)
);
CREATE INDEX licenses_clinician ON licenses(clinician_id);

CREATE TABLE clients (
    id              INTEGER PRIMARY KEY,
    record_number   TEXT NOT NULL UNIQUE,
    given_name      TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    preferred_name  TEXT,
    date_of_birth   TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    concerns        TEXT NOT NULL,
    availability    TEXT NOT NULL,
    referral_source TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin','director','clinician','intake','client')),
    clinician_id   INTEGER REFERENCES clinicians(id),
    client_id      INTEGER REFERENCES clients(id),
    disabled_at    TEXT,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE programs (
    id                       INTEGER PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    site                     TEXT NOT NULL,
    level_of_care            TEXT NOT NULL CHECK (level_of_care IN ('residential','php','iop','outpatient')),
    time_zone                TEXT NOT NULL,
    weekly_required_minutes  INTEGER NOT NULL,
    max_group_size           INTEGER NOT NULL CHECK (max_group_size BETWEEN 2 AND 12),
    version                  INTEGER NOT NULL DEFAULT 1,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL
);

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY,
    site        TEXT NOT NULL,
    name        TEXT NOT NULL,
    capacity    INTEGER NOT NULL CHECK (capacity > 0),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (site, name)
);

CREATE TABLE episodes (
    id             INTEGER PRIMARY KEY,
    client_id      INTEGER NOT NULL REFERENCES clients(id),
    program_id     INTEGER REFERENCES programs(id),
    level_of_care  TEXT NOT NULL CHECK (level_of_care IN ('residential','php','iop','outpatient')),
    started_on     TEXT NOT NULL,
    ended_on       TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CHECK (ended_on IS NULL OR ended_on > started_on)
);
-- At most one open episode per client: changing level closes one and opens the next.
CREATE UNIQUE INDEX episodes_one_open ON episodes(client_id) WHERE ended_on IS NULL;

CREATE TABLE separations (
    id          INTEGER PRIMARY KEY,
    client_low  INTEGER NOT NULL REFERENCES clients(id),
    client_high INTEGER NOT NULL REFERENCES clients(id),
    reason      TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (client_low < client_high),
    UNIQUE (client_low, client_high)
);
CREATE INDEX separations_high ON separations(client_high);

CREATE TABLE therapy_groups (
    id                    INTEGER PRIMARY KEY,
    program_id            INTEGER NOT NULL REFERENCES programs(id),
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    modality              TEXT,
    focus_concerns        TEXT NOT NULL,
    eligible_levels       TEXT NOT NULL,
    enrollment            TEXT NOT NULL,
    min_size              INTEGER NOT NULL,
    max_size              INTEGER NOT NULL,
    size_override_reason  TEXT,
    meetings              TEXT NOT NULL,
    room_id               INTEGER REFERENCES rooms(id),
    lead_facilitator_id   INTEGER NOT NULL REFERENCES clinicians(id),
    co_facilitator_id     INTEGER REFERENCES clinicians(id),
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    CHECK (min_size >= 1 AND max_size >= min_size),
    UNIQUE (program_id, name)
);

CREATE TABLE memberships (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES therapy_groups(id),
    client_id   INTEGER NOT NULL REFERENCES clients(id),
    start_date  TEXT NOT NULL,
    end_date    TEXT,
    status      TEXT NOT NULL CHECK (status IN ('active','on_hold','completed','withdrawn','discharged')),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (end_date IS NULL OR end_date > start_date)
);
-- One open membership per client and group; history rows have an end date.
CREATE UNIQUE INDEX memberships_one_open ON memberships(group_id, client_id) WHERE end_date IS NULL;
CREATE INDEX memberships_client ON memberships(client_id);

CREATE TABLE sessions (
    id                   INTEGER PRIMARY KEY,
    group_id             INTEGER NOT NULL REFERENCES therapy_groups(id),
    local_date           TEXT NOT NULL,
    starts_at            TEXT NOT NULL,
    ends_at              TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('scheduled','held','cancelled')),
    topic                TEXT,
    cancel_reason        TEXT,
    lead_facilitator_id  INTEGER NOT NULL REFERENCES clinicians(id),
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (group_id, starts_at)
);
CREATE INDEX sessions_date ON sessions(local_date);

CREATE TABLE attendance (
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    client_id   INTEGER NOT NULL REFERENCES clients(id),
    status      TEXT NOT NULL CHECK (status IN ('present','late','left_early','absent_excused','absent_unexcused')),
    minutes     INTEGER NOT NULL CHECK (minutes >= 0),
    recorded_by INTEGER REFERENCES users(id),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX attendance_client ON attendance(client_id);
