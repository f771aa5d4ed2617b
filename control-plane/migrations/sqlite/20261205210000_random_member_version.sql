-- The member version becomes a new random number with each change, not
-- the next one: a database restored from a backup, or a standby promoted
-- behind its primary, would count again through versions the replicas kept
-- lists for, with other members behind them (`src/store/member_lists.rs`).

DROP TRIGGER memberships_insert_member_version;
DROP TRIGGER memberships_update_member_version;
DROP TRIGGER memberships_delete_member_version;
DROP TRIGGER grants_insert_member_version;
DROP TRIGGER grants_update_member_version;
DROP TRIGGER grants_delete_member_version;
DROP TRIGGER teams_epoch_member_version;
DROP TRIGGER users_member_version;

UPDATE teams SET member_version = random();

CREATE TRIGGER memberships_insert_member_version AFTER INSERT ON memberships
BEGIN
    UPDATE teams SET member_version = random() WHERE id = NEW.team_id;
END;

CREATE TRIGGER memberships_update_member_version AFTER UPDATE ON memberships
BEGIN
    UPDATE teams SET member_version = random() WHERE id IN (OLD.team_id, NEW.team_id);
END;

-- Also run for the rows a user's or a team's deletion cascades to.
CREATE TRIGGER memberships_delete_member_version AFTER DELETE ON memberships
BEGIN
    UPDATE teams SET member_version = random() WHERE id = OLD.team_id;
END;

CREATE TRIGGER grants_insert_member_version AFTER INSERT ON grants
BEGIN
    UPDATE teams SET member_version = random() WHERE id = NEW.team_id;
END;

CREATE TRIGGER grants_update_member_version AFTER UPDATE ON grants
BEGIN
    UPDATE teams SET member_version = random() WHERE id IN (OLD.team_id, NEW.team_id);
END;

CREATE TRIGGER grants_delete_member_version AFTER DELETE ON grants
BEGIN
    UPDATE teams SET member_version = random() WHERE id = OLD.team_id;
END;

-- Which epoch is current decides who "has the key".
CREATE TRIGGER teams_epoch_member_version AFTER UPDATE OF current_epoch ON teams
WHEN OLD.current_epoch IS NOT NEW.current_epoch
BEGIN
    UPDATE teams SET member_version = random() WHERE id = NEW.id;
END;

CREATE TRIGGER users_member_version
AFTER UPDATE OF email, name, identity_public_key, signing_public_key ON users
BEGIN
    UPDATE teams SET member_version = random()
    WHERE id IN (SELECT team_id FROM memberships WHERE user_id = NEW.id);
END;
