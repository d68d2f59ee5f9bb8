-- A Bulk Data export records one disclosure per client it holds (issue 15). A job whose
-- server stopped is claimed again and re-run from the start; the re-run must not record
-- the same disclosure twice, so an export's disclosure names its job, and a job discloses
-- a client once. Kept aligned with postgres/0026_export_disclosures.sql.
ALTER TABLE disclosures ADD COLUMN export_job_id INTEGER REFERENCES fhir_export_jobs(id);
CREATE UNIQUE INDEX disclosures_export_once ON disclosures(export_job_id, client_id);
