-- Team key epochs and grants. The server stores each epoch's public key and,
-- per member, the epoch's private key encrypted to that member's identity
-- (a grant). It never sees an unwrapped team key.

ALTER TABLE teams ADD COLUMN current_epoch integer NOT NULL DEFAULT 0;
-- Set when a member is removed; cleared by the next rotation.
ALTER TABLE teams ADD COLUMN rekey_required boolean NOT NULL DEFAULT false;

CREATE TABLE team_epochs (
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    epoch      integer NOT NULL,
    public_key text NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (team_id, epoch)
);

CREATE TABLE grants (
    team_id    uuid NOT NULL,
    epoch      integer NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grant_blob text NOT NULL,
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (team_id, epoch, user_id),
    FOREIGN KEY (team_id, epoch) REFERENCES team_epochs (team_id, epoch) ON DELETE CASCADE
);
CREATE INDEX grants_member ON grants (team_id, user_id);
