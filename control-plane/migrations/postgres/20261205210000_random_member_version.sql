-- The member version becomes a new random number with each change, not
-- the next one: a database restored from a backup, or a standby promoted
-- behind its primary, would count again through versions the replicas kept
-- lists for, with other members behind them (`src/store/member_lists.rs`).
-- The triggers stay; their functions change.

-- 64 random bits (two 32-bit draws of PostgreSQL's PRNG).
CREATE FUNCTION random_member_version() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT ((floor(random() * 4294967296)::bigint - 2147483648) << 32)
        | floor(random() * 4294967296)::bigint
$$;

UPDATE teams SET member_version = random_member_version();

CREATE OR REPLACE FUNCTION bump_member_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE teams SET member_version = random_member_version() WHERE id = OLD.team_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.team_id IS DISTINCT FROM OLD.team_id) THEN
        UPDATE teams SET member_version = random_member_version() WHERE id = NEW.team_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bump_member_version_of_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.member_version := random_member_version();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION bump_member_version_of_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE teams SET member_version = random_member_version()
    WHERE id IN (SELECT team_id FROM memberships WHERE user_id = NEW.id);
    RETURN NULL;
END;
$$;
