-- The audit trail (PostgreSQL). Kept aligned with sqlite/0003_audit.sql.
-- Append-only: triggers refuse UPDATE, DELETE and TRUNCATE. Tamper-evident: each entry
-- carries an HMAC-SHA-256 over its content and the previous entry's MAC, keyed with a secret
-- kept outside the database; `audit_head` holds the last sequence number and MAC, and
-- appending updates it first, which serialises appends so the chain has no forks.

CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY,
    at             TEXT NOT NULL,
    actor_user_id  BIGINT,
    actor_role     TEXT,
    action         TEXT NOT NULL,
    category       TEXT NOT NULL,
    client_ids     TEXT NOT NULL,
    object_id      TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('success','denied')),
    request_id     TEXT,
    source         TEXT,
    prev_mac       TEXT NOT NULL,
    mac            TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor_user_id);

CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    mac   TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, 'genesis');

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
