-- The operator's web console: the tokens an operator makes on the command
-- line (only their SHA-256 is kept) and the browser sessions they log in.

CREATE TABLE operator_tokens (
    id           uuid PRIMARY KEY,
    -- Names the operator in the audit trail; never reused, so an old
    -- event names one token.
    name         text NOT NULL UNIQUE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- A session cookie's SHA-256; the cookie itself is never stored.
CREATE TABLE console_sessions (
    session_hash bytea PRIMARY KEY,
    token_id     uuid NOT NULL REFERENCES operator_tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
