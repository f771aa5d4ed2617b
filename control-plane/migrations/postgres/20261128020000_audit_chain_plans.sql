-- The per-team audit hash chain, client-reported events, usage counters
-- and plans. Team rows written before this migration keep a NULL
-- chain_seq: they predate the chain and are not part of it.

ALTER TABLE teams ADD COLUMN plan text NOT NULL DEFAULT 'design_partner'
    CHECK (plan IN ('design_partner', 'free', 'starter', 'pro', 'enterprise'));
ALTER TABLE teams ADD COLUMN billing_email text;
-- The largest secret count a client last reported for a file of the team.
ALTER TABLE teams ADD COLUMN secret_count bigint NOT NULL DEFAULT 0;
-- The chain's head: its last chain_seq and hash (NULL: zeros, the genesis).
-- Appending reads and moves it under the team row's lock.
ALTER TABLE teams ADD COLUMN audit_chain_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE teams ADD COLUMN audit_head bytea;

ALTER TABLE audit_events ADD COLUMN chain_seq bigint;
ALTER TABLE audit_events ADD COLUMN prev_hash bytea;
ALTER TABLE audit_events ADD COLUMN hash bytea;
-- When the server stored the row: chain order follows it, so retention
-- deletes a prefix of the chain. Not hashed (server bookkeeping).
ALTER TABLE audit_events ADD COLUMN recorded_at timestamptz;
CREATE UNIQUE INDEX audit_events_chain ON audit_events (team_id, chain_seq);
CREATE INDEX audit_events_actor ON audit_events (team_id, actor_id, chain_seq);
CREATE INDEX audit_events_action ON audit_events (team_id, action, chain_seq);
CREATE INDEX audit_events_time ON audit_events (team_id, occurred_at);
CREATE INDEX audit_events_recorded ON audit_events (team_id, recorded_at);

-- The secret names a client event lists, for the secret filter and the
-- exposure report.
CREATE TABLE audit_secrets (
    team_id   uuid NOT NULL,
    chain_seq bigint NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (team_id, name, chain_seq)
);

CREATE TABLE usage_daily (
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    day     date NOT NULL,
    action  text NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (team_id, day, action)
);
