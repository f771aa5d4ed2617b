-- How long members' agents may keep reading the team's files from their
-- cached keys while the control plane is unreachable (72 hours unless an
-- admin sets it).
ALTER TABLE teams ADD COLUMN max_staleness_secs INTEGER NOT NULL DEFAULT 259200;
