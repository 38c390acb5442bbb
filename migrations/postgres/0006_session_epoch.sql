-- Login sessions carry the epoch they were issued in; raising it (on a password change,
-- a role change or a disable) ends every session issued before.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
