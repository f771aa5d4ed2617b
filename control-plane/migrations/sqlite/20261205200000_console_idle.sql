-- A console session also ends after a while unused: the last request it
-- made (`src/console/session.rs`, SESSION_IDLE).
ALTER TABLE console_sessions ADD COLUMN last_seen_at TEXT;
UPDATE console_sessions SET last_seen_at = created_at;
