-- The condition `notes_open` keeps, as a view in both databases (SQLite's 0034 folds its
-- 12 triggers onto it; here `notes_open_refresh` in 0033 already writes it once): a held
-- session that lacks a signed group note, or a signed progress note for a member who
-- attended. Kept in step with SQLite's so both trees hold the same migrations.

CREATE VIEW notes_open_due AS
SELECT s.id AS session_id FROM sessions s WHERE s.status = 'held' AND (
    NOT EXISTS (SELECT 1 FROM group_notes g WHERE g.session_id = s.id AND g.state = 'signed')
    OR EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id
        AND a.status IN ('present', 'late', 'left_early')
        AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = s.id
            AND p.client_id = a.client_id AND p.state = 'signed')));
