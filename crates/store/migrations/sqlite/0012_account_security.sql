-- Account security (issue 4). Kept aligned between sqlite/ and postgres/.
--
-- When the account's password was last set (creation, the user's own change, or an
-- administrator's reset), for the administrators' review of accounts.
ALTER TABLE users ADD COLUMN password_changed_at TEXT;

-- From this version on, users.totp_secret and mfa_enrollments.totp_secret hold values
-- sealed with the vault (XChaCha20-Poly1305 envelope, `v1.<key id>.…`, bound to the user's
-- id), no longer plain base32. Secrets written before it are still read, and
-- `circle serve` and `circle rotate-key` seal them in place at start.
