-- The secret count a client last reported for each of a team's files (by
-- the hash of its path, which names the environment too). The team's
-- `secret_count` is their sum: secrets are counted per file.
CREATE TABLE file_secret_counts (
    team_id     BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    path_hash   TEXT NOT NULL,
    count       INTEGER NOT NULL,
    reported_at TEXT NOT NULL,
    PRIMARY KEY (team_id, path_hash)
);
