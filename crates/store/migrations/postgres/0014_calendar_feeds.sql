-- Client portal (issue 5): each client's secret calendar feed URL. Only a SHA-256 digest of
-- the secret is kept, so a copy of the database does not let anyone read a schedule; one
-- feed per client, replaced by a new secret, revoked by deleting the row.
-- Kept aligned between sqlite/ and postgres/.
CREATE TABLE calendar_feeds (
    client_id    BIGINT PRIMARY KEY REFERENCES clients(id),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
);
