-- The operator's web console: the tokens an operator makes on the command
-- line (only their SHA-256 is kept) and the browser sessions they log in.

CREATE TABLE operator_tokens (
    id           BLOB PRIMARY KEY,
    -- Names the operator in the audit trail; never reused, so an old
    -- event names one token.
    name         TEXT NOT NULL UNIQUE,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- A session cookie's SHA-256; the cookie itself is never stored.
CREATE TABLE console_sessions (
    session_hash BLOB PRIMARY KEY,
    token_id     BLOB NOT NULL REFERENCES operator_tokens (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
