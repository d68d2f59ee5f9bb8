-- The same `notes_open` upkeep as 0033, with its condition written once (0033 repeated it in
-- each of its 12 triggers because SQLite has no stored functions; PostgreSQL's 0033 already
-- has it as one function, and its 0034 only creates the same view). `notes_open_due` is the
-- condition: a held session that lacks a signed group note, or a signed progress note for
-- a member who attended. Each trigger now refreshes the session it touched through the
-- view, which SQLite flattens into a lookup by the session's id. 0033 is not edited:
-- databases that ran it record its checksum.

CREATE VIEW notes_open_due AS
SELECT s.id AS session_id FROM sessions s WHERE s.status = 'held' AND (
    NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
    OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
        AND a.status IN ('present', 'late', 'left_early')
        AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
            AND p.client_id = a.client_id AND p.state = 'signed')));

DROP TRIGGER notes_open_sessions_insert;
CREATE TRIGGER notes_open_sessions_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.id);
END;

DROP TRIGGER notes_open_sessions_status;
CREATE TRIGGER notes_open_sessions_status AFTER UPDATE OF status ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.id);
END;

DROP TRIGGER notes_open_sessions_delete;
CREATE TRIGGER notes_open_sessions_delete AFTER DELETE ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = OLD.id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = OLD.id);
END;

DROP TRIGGER notes_open_attendance_insert;
CREATE TRIGGER notes_open_attendance_insert AFTER INSERT ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_attendance_update;
CREATE TRIGGER notes_open_attendance_update AFTER UPDATE OF status ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_attendance_delete;
CREATE TRIGGER notes_open_attendance_delete AFTER DELETE ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = OLD.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = OLD.session_id);
END;

DROP TRIGGER notes_open_group_notes_insert;
CREATE TRIGGER notes_open_group_notes_insert AFTER INSERT ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_group_notes_update;
CREATE TRIGGER notes_open_group_notes_update AFTER UPDATE OF state ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_group_notes_delete;
CREATE TRIGGER notes_open_group_notes_delete AFTER DELETE ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = OLD.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = OLD.session_id);
END;

DROP TRIGGER notes_open_progress_notes_insert;
CREATE TRIGGER notes_open_progress_notes_insert AFTER INSERT ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_progress_notes_update;
CREATE TRIGGER notes_open_progress_notes_update AFTER UPDATE OF state ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = NEW.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = NEW.session_id);
END;

DROP TRIGGER notes_open_progress_notes_delete;
CREATE TRIGGER notes_open_progress_notes_delete AFTER DELETE ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT session_id FROM notes_open_due WHERE session_id = OLD.session_id
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id
        AND NOT EXISTS (SELECT 1 FROM notes_open_due WHERE session_id = OLD.session_id);
END;
