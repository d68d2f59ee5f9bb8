-- Messaging, continued (issue 18): the daily staff digest is a kind of message. Kept
-- aligned with sqlite/0025_message_digests.sql (which rebuilds the table instead).
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('session_reminder',
    'session_cancelled','seat_offer','check_in_due','referral_received','referral_waiting',
    'safety_alert','staff_digest'));
