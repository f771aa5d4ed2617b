-- A team's member version: one more with every change to what its member
-- list shows (who is in it with which role and when they joined, their
-- names, addresses and public keys, who holds the current epoch's key). The
-- triggers bump it in the writing transaction itself, whichever process or
-- replica writes, so a reader that finds the version unchanged knows the
-- list it kept is the list in the database (`src/store/member_lists.rs`).

ALTER TABLE teams ADD COLUMN member_version BIGINT NOT NULL DEFAULT 0;

-- For memberships and grants: the team of the old row and of the new.
CREATE FUNCTION bump_member_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE teams SET member_version = member_version + 1 WHERE id = OLD.team_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.team_id IS DISTINCT FROM OLD.team_id) THEN
        UPDATE teams SET member_version = member_version + 1 WHERE id = NEW.team_id;
    END IF;
    RETURN NULL;
END;
$$;

-- Also run for the rows a user's or a team's deletion cascades to.
CREATE TRIGGER memberships_member_version
AFTER INSERT OR UPDATE OR DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION bump_member_version();

CREATE TRIGGER grants_member_version
AFTER INSERT OR UPDATE OR DELETE ON grants
FOR EACH ROW EXECUTE FUNCTION bump_member_version();

-- Which epoch is current decides who "has the key".
CREATE FUNCTION bump_member_version_of_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.member_version := OLD.member_version + 1;
    RETURN NEW;
END;
$$;

CREATE TRIGGER teams_epoch_member_version
BEFORE UPDATE OF current_epoch ON teams
FOR EACH ROW WHEN (OLD.current_epoch IS DISTINCT FROM NEW.current_epoch)
EXECUTE FUNCTION bump_member_version_of_team();

CREATE FUNCTION bump_member_version_of_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE teams SET member_version = member_version + 1
    WHERE id IN (SELECT team_id FROM memberships WHERE user_id = NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_member_version
AFTER UPDATE OF email, name, identity_public_key, signing_public_key ON users
FOR EACH ROW EXECUTE FUNCTION bump_member_version_of_user();
