-- Bearer tokens end after 15 idle minutes as well as at their absolute lifetime: the last
-- use is recorded (at most once a minute per token, to keep requests read-mostly).
-- Kept aligned between sqlite/ and postgres/.
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
