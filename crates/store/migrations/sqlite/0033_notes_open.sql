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
    session_id  INTEGER PRIMARY KEY,
    touched     INTEGER NOT NULL DEFAULT 0
);

INSERT INTO notes_open (session_id)
SELECT o.id FROM sessions o WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = o.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));

CREATE TRIGGER notes_open_sessions_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_sessions_status AFTER UPDATE OF status ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_sessions_delete AFTER DELETE ON sessions
BEGIN
    INSERT INTO notes_open (session_id) SELECT OLD.id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_attendance_insert AFTER INSERT ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_attendance_update AFTER UPDATE OF status ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_attendance_delete AFTER DELETE ON attendance
BEGIN
    INSERT INTO notes_open (session_id) SELECT OLD.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_group_notes_insert AFTER INSERT ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_group_notes_update AFTER UPDATE OF state ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_group_notes_delete AFTER DELETE ON group_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT OLD.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_progress_notes_insert AFTER INSERT ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_progress_notes_update AFTER UPDATE OF state ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT NEW.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = NEW.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;

CREATE TRIGGER notes_open_progress_notes_delete AFTER DELETE ON progress_notes
BEGIN
    INSERT INTO notes_open (session_id) SELECT OLD.session_id WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))))
        ON CONFLICT (session_id) DO UPDATE SET touched = touched + 1;
    DELETE FROM notes_open WHERE session_id = OLD.session_id AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = OLD.session_id AND s.status = 'held' AND (
        NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
        OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
            AND a.status IN ('present', 'late', 'left_early')
            AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
                AND p.client_id = a.client_id AND p.state = 'signed'))));
END;
