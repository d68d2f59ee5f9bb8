-- Billing a payer accepts (issue 15). Kept aligned between sqlite/ and postgres/.
--
-- The rendering clinician's National Provider Identifier (10 digits, Luhn-checked by the
-- domain before it is written); none until the clinic records it.
ALTER TABLE clinicians ADD COLUMN npi TEXT;

-- Where a program's in-person services are rendered (CMS place-of-service code): a PHP
-- bills from 52 (psychiatric facility, partial hospitalization), a residential program
-- from 56 (psychiatric residential treatment center), IOP and outpatient from 11 (office)
-- until the program says otherwise.
ALTER TABLE programs ADD COLUMN place_of_service TEXT NOT NULL DEFAULT '11';
UPDATE programs SET place_of_service = CASE level_of_care
    WHEN 'php' THEN '52' WHEN 'residential' THEN '56' ELSE '11' END;
-- Telehealth lines: 10 (in the patient's home) or 02 (other than the home), CMS 2022.
ALTER TABLE programs ADD COLUMN telehealth_place_of_service TEXT NOT NULL DEFAULT '10';
-- Whether a session line stays billable beside a per-diem line for the same client and
-- day; off by default: a per diem covers the day's groups (the common payer rule).
ALTER TABLE programs ADD COLUMN sessions_billable_with_per_diem BIGINT NOT NULL DEFAULT 0 CHECK (sessions_billable_with_per_diem IN (0, 1));
