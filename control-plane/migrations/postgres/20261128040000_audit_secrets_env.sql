-- The environment a secret name was read in ('' for the default file), so
-- the exposure report says which environment's value to change.
ALTER TABLE audit_secrets ADD COLUMN env TEXT NOT NULL DEFAULT '';
