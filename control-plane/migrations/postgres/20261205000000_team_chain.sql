-- The team chain (issue #16): membership, roles, invites and epoch keys are
-- statements members sign; the server stores them in order and keeps the
-- tables below as an index of what they say.

-- The Ed25519 key that signs the user's statements (64 lowercase hex).
ALTER TABLE users ADD COLUMN signing_public_key text NOT NULL DEFAULT '';

-- False from accepting an invite until an admin's `admit` statement (with
-- the newcomer's first grant) makes them a member of the chain.
ALTER TABLE memberships ADD COLUMN admitted boolean NOT NULL DEFAULT TRUE;

-- The newcomer's acceptance signed with their own key; the invite secret is
-- no longer sealed to the team (the invite statement carries a proof key).
ALTER TABLE invites ADD COLUMN consent text;
ALTER TABLE invites DROP COLUMN sealed_secret;

-- Each statement's exact text. The primary key orders appends: of two
-- statements made at the same head, the second insert fails.
CREATE TABLE team_chain (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    hash        bytea NOT NULL,
    body        text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (team_id, seq)
);
