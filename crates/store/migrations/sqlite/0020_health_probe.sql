-- Readiness writes a row here and deletes it, committed, so that a database that cannot
-- grow (a full disk) reports not ready (issue 16, item 1). Holds no data between probes.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    filler BLOB NOT NULL
);
