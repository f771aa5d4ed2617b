-- Retention finds the chain's prefix through (team_id, chain_seq) and stops
-- at the first row still kept, so this index only slowed every append.
DROP INDEX audit_events_recorded;
