-- Program settings the clinical workflow reads: newcomers per open-group session, the
-- window for signing notes, billing codes and the per-diem daily minimum, and the cadence
-- of routine outcome measures. Defaults follow DESIGN.md "Clinical numbers".
ALTER TABLE programs ADD COLUMN newcomers_per_session INTEGER NOT NULL DEFAULT 2 CHECK (newcomers_per_session BETWEEN 1 AND 12);
ALTER TABLE programs ADD COLUMN note_due_hours INTEGER NOT NULL DEFAULT 24 CHECK (note_due_hours BETWEEN 1 AND 336);
ALTER TABLE programs ADD COLUMN session_code TEXT NOT NULL DEFAULT '90853' CHECK (session_code IN ('90853','90849','G0410','G0411'));
ALTER TABLE programs ADD COLUMN per_diem_code TEXT CHECK (per_diem_code IN ('S9480','H0015','H0035'));
ALTER TABLE programs ADD COLUMN daily_minimum_minutes INTEGER NOT NULL DEFAULT 0 CHECK (daily_minimum_minutes BETWEEN 0 AND 1440);
ALTER TABLE programs ADD COLUMN measure_cadence_days INTEGER NOT NULL DEFAULT 14 CHECK (measure_cadence_days BETWEEN 1 AND 365);
