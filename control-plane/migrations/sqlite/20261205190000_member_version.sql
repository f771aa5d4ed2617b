-- A team's member version: one more with every change to what its member
-- list shows (who is in it with which role and when they joined, their
-- names, addresses and public keys, who holds the current epoch's key). The
-- triggers bump it in the writing transaction itself, whichever process or
-- replica writes, so a reader that finds the version unchanged knows the
-- list it kept is the list in the database (`src/store/member_lists.rs`).

ALTER TABLE teams ADD COLUMN member_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER memberships_insert_member_version AFTER INSERT ON memberships
BEGIN
    UPDATE teams SET member_version = member_version + 1 WHERE id = NEW.team_id;
END;

CREATE TRIGGER memberships_update_member_version AFTER UPDATE ON memberships
BEGIN
    UPDATE teams SET member_version = member_version + 1
    WHERE id IN (OLD.team_id, NEW.team_id);
END;

-- Also run for the rows a user's or a team's deletion cascades to.
CREATE TRIGGER memberships_delete_member_version AFTER DELETE ON memberships
BEGIN
    UPDATE teams SET member_version = member_version + 1 WHERE id = OLD.team_id;
END;

CREATE TRIGGER grants_insert_member_version AFTER INSERT ON grants
BEGIN
    UPDATE teams SET member_version = member_version + 1 WHERE id = NEW.team_id;
END;

CREATE TRIGGER grants_update_member_version AFTER UPDATE ON grants
BEGIN
    UPDATE teams SET member_version = member_version + 1
    WHERE id IN (OLD.team_id, NEW.team_id);
END;

CREATE TRIGGER grants_delete_member_version AFTER DELETE ON grants
BEGIN
    UPDATE teams SET member_version = member_version + 1 WHERE id = OLD.team_id;
END;

-- Which epoch is current decides who "has the key".
CREATE TRIGGER teams_epoch_member_version AFTER UPDATE OF current_epoch ON teams
WHEN OLD.current_epoch IS NOT NEW.current_epoch
BEGIN
    UPDATE teams SET member_version = member_version + 1 WHERE id = NEW.id;
END;

CREATE TRIGGER users_member_version
AFTER UPDATE OF email, name, identity_public_key, signing_public_key ON users
BEGIN
    UPDATE teams SET member_version = member_version + 1
    WHERE id IN (SELECT team_id FROM memberships WHERE user_id = NEW.id);
END;
