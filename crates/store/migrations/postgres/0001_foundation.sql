-- Circle foundation schema (PostgreSQL). Kept aligned with sqlite/0001_foundation.sql:
-- same tables, columns and constraints; only the id and integer types differ.
-- Dates are ISO 'YYYY-MM-DD' text and instants RFC 3339 UTC text ('…Z'), which sort
-- correctly as text in both databases and decode identically through sqlx's Any driver.

CREATE TABLE clinicians (
    id            BIGSERIAL PRIMARY KEY,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    modalities    TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE licenses (
    id            BIGSERIAL PRIMARY KEY,
    clinician_id  BIGINT NOT NULL REFERENCES clinicians(id),
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
    id              BIGSERIAL PRIMARY KEY,
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
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin','director','clinician','intake','client')),
    clinician_id   BIGINT REFERENCES clinicians(id),
    client_id      BIGINT REFERENCES clients(id),
    disabled_at    TEXT,
    version        BIGINT NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE programs (
    id                       BIGSERIAL PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    site                     TEXT NOT NULL,
    level_of_care            TEXT NOT NULL CHECK (level_of_care IN ('residential','php','iop','outpatient')),
    time_zone                TEXT NOT NULL,
    weekly_required_minutes  BIGINT NOT NULL,
    max_group_size           BIGINT NOT NULL CHECK (max_group_size BETWEEN 2 AND 12),
    version                  BIGINT NOT NULL DEFAULT 1,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL
);

CREATE TABLE rooms (
    id          BIGSERIAL PRIMARY KEY,
    site        TEXT NOT NULL,
    name        TEXT NOT NULL,
    capacity    BIGINT NOT NULL CHECK (capacity > 0),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (site, name)
);

CREATE TABLE episodes (
    id             BIGSERIAL PRIMARY KEY,
    client_id      BIGINT NOT NULL REFERENCES clients(id),
    program_id     BIGINT REFERENCES programs(id),
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
    id          BIGSERIAL PRIMARY KEY,
    client_low  BIGINT NOT NULL REFERENCES clients(id),
    client_high BIGINT NOT NULL REFERENCES clients(id),
    reason      TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (client_low < client_high),
    UNIQUE (client_low, client_high)
);
CREATE INDEX separations_high ON separations(client_high);

CREATE TABLE therapy_groups (
    id                    BIGSERIAL PRIMARY KEY,
    program_id            BIGINT NOT NULL REFERENCES programs(id),
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    modality              TEXT,
    focus_concerns        TEXT NOT NULL,
    eligible_levels       TEXT NOT NULL,
    enrollment            TEXT NOT NULL,
    min_size              BIGINT NOT NULL,
    max_size              BIGINT NOT NULL,
    size_override_reason  TEXT,
    meetings              TEXT NOT NULL,
    room_id               BIGINT REFERENCES rooms(id),
    lead_facilitator_id   BIGINT NOT NULL REFERENCES clinicians(id),
    co_facilitator_id     BIGINT REFERENCES clinicians(id),
    version               BIGINT NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    CHECK (min_size >= 1 AND max_size >= min_size),
    UNIQUE (program_id, name)
);

CREATE TABLE memberships (
    id          BIGSERIAL PRIMARY KEY,
    group_id    BIGINT NOT NULL REFERENCES therapy_groups(id),
    client_id   BIGINT NOT NULL REFERENCES clients(id),
    start_date  TEXT NOT NULL,
    end_date    TEXT,
    status      TEXT NOT NULL CHECK (status IN ('active','on_hold','completed','withdrawn','discharged')),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (end_date IS NULL OR end_date > start_date)
);
-- One open membership per client and group; history rows have an end date.
CREATE UNIQUE INDEX memberships_one_open ON memberships(group_id, client_id) WHERE end_date IS NULL;
CREATE INDEX memberships_client ON memberships(client_id);

CREATE TABLE sessions (
    id                   BIGSERIAL PRIMARY KEY,
    group_id             BIGINT NOT NULL REFERENCES therapy_groups(id),
    local_date           TEXT NOT NULL,
    starts_at            TEXT NOT NULL,
    ends_at              TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('scheduled','held','cancelled')),
    topic                TEXT,
    cancel_reason        TEXT,
    lead_facilitator_id  BIGINT NOT NULL REFERENCES clinicians(id),
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (group_id, starts_at)
);
CREATE INDEX sessions_date ON sessions(local_date);

CREATE TABLE attendance (
    session_id  BIGINT NOT NULL REFERENCES sessions(id),
    client_id   BIGINT NOT NULL REFERENCES clients(id),
    status      TEXT NOT NULL CHECK (status IN ('present','late','left_early','absent_excused','absent_unexcused')),
    minutes     BIGINT NOT NULL CHECK (minutes >= 0),
    recorded_by BIGINT REFERENCES users(id),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE INDEX attendance_client ON attendance(client_id);
