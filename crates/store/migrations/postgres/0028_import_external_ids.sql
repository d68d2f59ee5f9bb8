-- Onboarding by import (issue 15). Kept aligned between sqlite/ and postgres/.
--
-- The clinic's own id for each record it imports from CSV files (its spreadsheet's or old
-- system's key): a second import of the same files finds each row by it and changes
-- nothing. Unique per kind; empty for records made in Circle (several NULLs are allowed by
-- a unique index on both databases).
ALTER TABLE clinicians ADD COLUMN external_id TEXT;
ALTER TABLE rooms ADD COLUMN external_id TEXT;
ALTER TABLE programs ADD COLUMN external_id TEXT;
ALTER TABLE therapy_groups ADD COLUMN external_id TEXT;
ALTER TABLE clients ADD COLUMN external_id TEXT;
ALTER TABLE memberships ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX clinicians_external_id ON clinicians(external_id);
CREATE UNIQUE INDEX rooms_external_id ON rooms(external_id);
CREATE UNIQUE INDEX programs_external_id ON programs(external_id);
CREATE UNIQUE INDEX therapy_groups_external_id ON therapy_groups(external_id);
CREATE UNIQUE INDEX clients_external_id ON clients(external_id);
CREATE UNIQUE INDEX memberships_external_id ON memberships(external_id);
