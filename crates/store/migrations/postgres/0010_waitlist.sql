-- Waitlists and seat offers (issue 3, "Placement and waitlist"). Kept aligned between
-- sqlite/ and postgres/.
-- A waitlist entry is one client waiting for one group, ordered by priority (1 most
-- urgent) then the time it was added. When a seat opens, the next eligible waiting client
-- gets a time-limited offer; accepting it places them through the ordinary enrollment rules.

CREATE TABLE waitlist_entries (
    id          BIGSERIAL PRIMARY KEY,
    group_id    BIGINT NOT NULL REFERENCES therapy_groups(id),
    client_id   BIGINT NOT NULL REFERENCES clients(id),
    priority    BIGINT NOT NULL CHECK (priority BETWEEN 1 AND 5),
    -- Sealed with the master key (free text), the row id bound as associated data.
    note        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('waiting','offered','placed','declined','expired','removed')),
    added_at    TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- A client waits at most once per group at a time.
CREATE UNIQUE INDEX waitlist_one_live ON waitlist_entries(group_id, client_id)
    WHERE status IN ('waiting','offered');
CREATE INDEX waitlist_order ON waitlist_entries(group_id, status, priority, added_at);

CREATE TABLE offers (
    id                 BIGSERIAL PRIMARY KEY,
    waitlist_entry_id  BIGINT NOT NULL REFERENCES waitlist_entries(id),
    group_id           BIGINT NOT NULL REFERENCES therapy_groups(id),
    client_id          BIGINT NOT NULL REFERENCES clients(id),
    start_date         TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('open','accepted','declined','expired','withdrawn')),
    offered_at         TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    responded_at       TEXT,
    membership_id      BIGINT REFERENCES memberships(id),
    version            BIGINT NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX offers_state ON offers(state, expires_at);
CREATE INDEX offers_group ON offers(group_id, state);
CREATE INDEX offers_client ON offers(client_id);
-- One open offer per waitlist entry.
CREATE UNIQUE INDEX offers_one_open ON offers(waitlist_entry_id) WHERE state = 'open';
