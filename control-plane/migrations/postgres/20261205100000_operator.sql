-- The operator's console: deals that end by themselves, the plan history
-- invoices are computed from, and accounts closed for good.

-- When the plan the operator set ends (NULL: it doesn't), and the plan the
-- team moves to then (the owners' own choice; NULL: free).
ALTER TABLE teams ADD COLUMN plan_until timestamptz;
ALTER TABLE teams ADD COLUMN plan_after text
    CHECK (plan_after IN ('free', 'starter', 'pro'));

-- Every plan change, kept for invoices (audit rows go with retention).
CREATE TABLE plan_changes (
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    changed_at timestamptz NOT NULL,
    from_plan  text NOT NULL,
    to_plan    text NOT NULL,
    until      timestamptz,
    note       text,
    -- 'owner:<user id>', 'operator:<name>' or 'deal end'.
    changed_by text NOT NULL
);
CREATE INDEX plan_changes_team ON plan_changes (team_id, changed_at);

-- Set by `admin account EMAIL disable`: `unlock` no longer undoes it.
ALTER TABLE users ADD COLUMN closed_at timestamptz;
