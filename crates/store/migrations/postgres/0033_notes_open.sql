-- Sessions whose notes are not all signed (issue 16: run it for years). Today's overdue
-- notes read every held session the clinic ever had with its attendance and notes, on
-- every view, a cost growing with the clinic's history although almost every old session
-- is signed. `notes_open` holds the held sessions that still lack a signed group note or a
-- signed progress note for a member who attended; the overdue query starts from it.
--
-- It is kept by the database, not by the code's write paths: triggers on sessions,
-- attendance and both note tables refresh a session's row on every change that can open
-- or close it, so no path (pages, API, import, demo seeding) can forget it. A refresh
-- marks the session open (bumping `touched`) when it is held and incomplete, and removes
-- the row otherwise. The overdue query still checks every note's state itself, so a row
-- too many costs a lookup, never a wrong answer; a row missing would hide an overdue note,
-- which is why (on PostgreSQL, where writers run at once) a removal only happens when
-- nobody touched the row since the refresh read it.

CREATE TABLE notes_open (
    session_id  BIGINT PRIMARY KEY,
    touched     BIGINT NOT NULL DEFAULT 0
);

INSERT INTO notes_open (session_id)
SELECT o.id FROM sessions o WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = o.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));

CREATE FUNCTION notes_open_refresh(sid BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    seen BIGINT;
BEGIN
    IF EXISTS (SELECT 1 FROM sessions s WHERE s.id = sid AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed')))) THEN
        INSERT INTO notes_open (session_id) VALUES (sid)
            ON CONFLICT (session_id) DO UPDATE SET touched = notes_open.touched + 1;
    ELSE
        -- Removed only if no other transaction touched the row since it was read here: a
        -- writer that opened the session meanwhile (a new attendee, say) keeps it open.
        SELECT touched INTO seen FROM notes_open WHERE session_id = sid;
        IF FOUND THEN
            DELETE FROM notes_open WHERE session_id = sid AND touched = seen;
        END IF;
    END IF;
END
$$;

CREATE FUNCTION notes_open_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM notes_open_refresh(OLD.id);
    ELSE
        PERFORM notes_open_refresh(NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notes_open_part_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM notes_open_refresh(OLD.session_id);
    ELSE
        PERFORM notes_open_refresh(NEW.session_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER notes_open_sessions AFTER INSERT OR DELETE OR UPDATE OF status ON sessions
    FOR EACH ROW EXECUTE FUNCTION notes_open_session_changed();
CREATE TRIGGER notes_open_attendance AFTER INSERT OR DELETE OR UPDATE OF status ON attendance
    FOR EACH ROW EXECUTE FUNCTION notes_open_part_changed();
CREATE TRIGGER notes_open_group_notes AFTER INSERT OR DELETE OR UPDATE OF state ON group_notes
    FOR EACH ROW EXECUTE FUNCTION notes_open_part_changed();
CREATE TRIGGER notes_open_progress_notes AFTER INSERT OR DELETE OR UPDATE OF state ON progress_notes
    FOR EACH ROW EXECUTE FUNCTION notes_open_part_changed();
