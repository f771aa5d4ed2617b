-- Accounts, sessions, teams, memberships, invites and the audit trail.
-- SQLite flavour: uuids are 16-byte BLOBs, timestamps RFC 3339 TEXT in UTC
-- (they sort as text), JSON is TEXT.

CREATE TABLE users (
    id                  BLOB PRIMARY KEY,
    email               TEXT NOT NULL,
    email_norm          TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    -- argon2id PHC string of the client's auth key; never the key itself.
    auth_key_hash       TEXT NOT NULL,
    identity_public_key TEXT NOT NULL,
    wrapped_identity    TEXT NOT NULL,
    kdf                 TEXT NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL
);

-- Refresh tokens are stored as SHA-256 hashes. A family is one login's chain
-- of rotations; reusing a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  BLOB NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Failed logins per normalised email, whether or not the account exists.
CREATE TABLE login_throttle (
    email_norm   TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
);

CREATE TABLE teams (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- Touched by every membership change so concurrent changes serialise on this row.
    updated_at TEXT NOT NULL
);

CREATE TABLE memberships (
    team_id   BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invites (
    id                BLOB PRIMARY KEY,
    team_id           BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email             TEXT NOT NULL,
    email_norm        TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    accept_token_hash BLOB NOT NULL,
    sealed_secret     TEXT,
    invited_by        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    accepted_by       BLOB REFERENCES users (id) ON DELETE SET NULL,
    accepted_at       TEXT,
    proof             TEXT,
    revoked_at        TEXT
);
CREATE INDEX invites_team ON invites (team_id);

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    BLOB NOT NULL UNIQUE,
    team_id     BLOB,
    actor_id    BLOB,
    action      TEXT NOT NULL,
    target      TEXT,
    details     TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX audit_events_team ON audit_events (team_id, seq);
