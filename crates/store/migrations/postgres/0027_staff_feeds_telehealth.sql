-- Calendars and telehealth (issue 15). Kept aligned between sqlite/ and postgres/.
--
-- A telehealth group's join URL, and a per-session override. They live outside the group's
-- design facts (which every staff role reads) because only the group's members and
-- facilitators may see them.
ALTER TABLE therapy_groups ADD COLUMN join_url TEXT;
ALTER TABLE sessions ADD COLUMN join_url TEXT;

-- Staff calendar feeds: one per clinician (the sessions they lead or co-lead) and one per
-- room. As for clients' feeds (0014) only a SHA-256 digest of the secret is kept; a new
-- secret replaces the old one and revoking deletes the row.
CREATE TABLE staff_calendar_feeds (
    id            BIGSERIAL PRIMARY KEY,
    clinician_id  BIGINT REFERENCES clinicians(id),
    room_id       BIGINT REFERENCES rooms(id),
    secret_hash   TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    CHECK ((clinician_id IS NULL AND room_id IS NOT NULL) OR (clinician_id IS NOT NULL AND room_id IS NULL))
);
CREATE UNIQUE INDEX staff_calendar_feeds_clinician ON staff_calendar_feeds(clinician_id) WHERE clinician_id IS NOT NULL;
CREATE UNIQUE INDEX staff_calendar_feeds_room ON staff_calendar_feeds(room_id) WHERE room_id IS NOT NULL;

-- Clinic-wide settings, one row. `staff_feed_group_names`: whether staff feeds title a
-- session with its group's name (1) or discreetly, "Group session — Room 2" (0, the
-- default: a phone's lock screen or a shared calendar shows titles to anyone near it).
CREATE TABLE clinic_settings (
    id                      BIGINT PRIMARY KEY CHECK (id = 1),
    staff_feed_group_names  BIGINT NOT NULL DEFAULT 0 CHECK (staff_feed_group_names IN (0, 1)),
    updated_at              TEXT NOT NULL
);
INSERT INTO clinic_settings (id, staff_feed_group_names, updated_at) VALUES (1, 0, '1970-01-01T00:00:00Z');
