-- Sign-in throttling instead of account lockout (issue 13, hole 3; OWASP ASVS 5.0 V6.3).
-- Kept aligned between sqlite/ and postgres/.
--
-- Failed attempts are counted from this log, per account and source address, per source
-- across accounts, and per account across sources (the owner's known addresses exempt),
-- so throttling holds across servers. A throttled attempt is logged as 'throttled'; rows
-- logged 'locked' under the old lockout stay as history.
ALTER TABLE sign_in_attempts DROP CONSTRAINT sign_in_attempts_outcome_check;
ALTER TABLE sign_in_attempts ADD CONSTRAINT sign_in_attempts_outcome_check
    CHECK (outcome IN ('success','success_recovery_code','bad_password',
        'unknown_email','mfa_required','mfa_enrollment_required','bad_mfa_code',
        'mfa_code_replayed','locked','disabled','mfa_enrolled','bad_enrollment_token',
        'throttled'));
CREATE INDEX sign_in_attempts_source ON sign_in_attempts(source_ip, attempted_at);
