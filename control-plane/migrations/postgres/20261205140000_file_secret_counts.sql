-- The secret count a client last reported for each of a team's files (by
-- the hash of its path, which names the environment too). The team's
-- `secret_count` is their sum: secrets are counted per file.
CREATE TABLE file_secret_counts (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    path_hash   text NOT NULL,
    count       bigint NOT NULL,
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (team_id, path_hash)
);
