-- Program directors scoped to their programs (DESIGN.md: a director sees "everything in
-- their programs"). A director with no row here is clinic-wide (a medical director, who
-- sees every program); one with rows sees and acts only on those programs. Rows are only
-- inserted and deleted (the admin replaces a director's set), never updated.
-- Kept aligned between sqlite/ and postgres/.
CREATE TABLE director_programs (
    user_id     BIGINT NOT NULL REFERENCES users(id),
    program_id  BIGINT NOT NULL REFERENCES programs(id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, program_id)
);
CREATE INDEX director_programs_program ON director_programs(program_id);
