//! `envv team …` and `envv rotate`, and which team a command means.

use std::io::{self, BufRead, IsTerminal};

use proto_ipc::{MemberInfo, Request, Response, Role, TeamInfo};
use serde::Serialize;
use uuid::Uuid;

use crate::cli::{TeamArg, TeamCommand};
use crate::error::{Failure, exit};
use crate::out::outln;
use crate::{ask, config, unexpected};

mod invites;
use invites::{expires_in, invite, invites, join, revoke_invite};

/// Which of `--team`, the current team and the project's team comes first
/// when `--team` is absent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// Team commands: the current team, else the project's.
    Current,
    /// Commands on this project's files: the project's team, else the current.
    Project,
}

pub fn list_teams() -> Result<Vec<TeamInfo>, Failure> {
    match ask(&Request::ListTeams)? {
        Response::Teams { teams } => Ok(teams),
        _ => Err(unexpected("list_teams")),
    }
}

/// A team's name for a message, else its id.
pub fn name_of(team: Uuid) -> String {
    list_teams()
        .ok()
        .and_then(|teams| teams.into_iter().find(|t| t.id == team))
        .map_or_else(|| team.to_string(), |t| t.name)
}

/// A team given by id or by name.
fn named(given: &str) -> Result<Uuid, Failure> {
    if let Ok(id) = given.parse() {
        return Ok(id);
    }
    let teams = list_teams()?;
    let matches: Vec<&TeamInfo> = teams
        .iter()
        .filter(|t| t.name.eq_ignore_ascii_case(given))
        .collect();
    match matches.as_slice() {
        [team] => Ok(team.id),
        [] => Err(Failure::new(
            exit::NOT_FOUND,
            format!("you are in no team named {given:?}; run `envv team list`"),
        )),
        _ => Err(Failure::usage(format!(
            "several of your teams are named {given:?}; give its id (`envv team list`)"
        ))),
    }
}

/// The team a command acts on: `--team`, else the defaults in `order`,
/// else the only team.
pub fn resolve(arg: &TeamArg, order: Prefer) -> Result<Uuid, Failure> {
    if let Some(given) = &arg.team {
        return named(given);
    }
    if let Some(team) = default_team(order) {
        return Ok(team);
    }
    let teams = list_teams()?;
    match teams.as_slice() {
        [team] => Ok(team.id),
        [] => Err(Failure::new(
            exit::NOT_FOUND,
            "you are in no team yet; run `envv team create NAME` or `envv team join CODE`",
        )),
        _ => Err(Failure::usage(format!(
            "you are in {} teams: pick one with `--team ID` or `envv team switch ID` \
             (`envv team list` shows them)",
            teams.len()
        ))),
    }
}

/// The team to open on, if one is named or current; no listing, no error
/// when there is none (the dashboard then picks the first).
pub fn preferred(arg: &TeamArg) -> Result<Option<Uuid>, Failure> {
    if let Some(given) = &arg.team {
        return named(given).map(Some);
    }
    Ok(default_team(Prefer::Current))
}

/// The current team (`envv team switch`) and the project's, in `order`.
fn default_team(order: Prefer) -> Option<Uuid> {
    let current = config::current_team();
    let project = std::env::current_dir()
        .ok()
        .and_then(|dir| config::project(&dir))
        .and_then(|(_, team)| team);
    match order {
        Prefer::Current => current.or(project),
        Prefer::Project => project.or(current),
    }
}

pub fn members(team: Uuid) -> Result<Vec<MemberInfo>, Failure> {
    members_and_head(team).map(|(members, _, _)| members)
}

/// The members, and the verified chain's length and head fingerprint.
fn members_and_head(team: Uuid) -> Result<(Vec<MemberInfo>, u64, String), Failure> {
    match ask(&Request::Members { team })? {
        Response::Members {
            members,
            chain_seq,
            chain_head,
        } => Ok((members, chain_seq, chain_head)),
        _ => Err(unexpected("members")),
    }
}

/// A member given by user id or email.
pub fn member(team: Uuid, given: &str) -> Result<MemberInfo, Failure> {
    let all = members(team)?;
    let parsed: Option<Uuid> = given.parse().ok();
    all.into_iter()
        .find(|m| Some(m.user_id) == parsed || m.email.eq_ignore_ascii_case(given))
        .ok_or_else(|| {
            Failure::new(
                exit::NOT_FOUND,
                format!("{given} is not a member of team {team}; run `envv team members`"),
            )
        })
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
    Ok(())
}

pub fn run(command: TeamCommand) -> Result<(), Failure> {
    match command {
        TeamCommand::Create { name } => create(name),
        TeamCommand::List { json } => list(json),
        TeamCommand::Members { team, json } => show_members(&team, json),
        TeamCommand::Invite {
            revoke: Some(invite),
            team,
            ..
        } => revoke_invite(&team, invite),
        TeamCommand::Invite {
            email,
            role,
            team,
            json,
            ..
        } => invite(&team, email.unwrap_or_default(), role.into(), json),
        TeamCommand::Invites { team, json } => invites(&team, json),
        TeamCommand::Join { code, .. } => join(code),
        TeamCommand::Grant { team } => grant(&team),
        TeamCommand::Settings {
            team,
            max_offline,
            json,
        } => settings(&team, max_offline, json),
        TeamCommand::Role { user, role, team } => set_role(&team, &user, role.into()),
        TeamCommand::Remove { user, yes, team } => remove(&team, &user, yes),
        TeamCommand::Rename { name, team } => rename(&team, name),
        TeamCommand::Leave { yes, team } => leave(&team, yes),
        TeamCommand::Delete { yes, team } => delete(&team, yes),
        TeamCommand::Switch { team } => switch(&team),
    }
}

fn create(name: String) -> Result<(), Failure> {
    let Response::Team(team) = ask(&Request::CreateTeam { name })? else {
        return Err(unexpected("create_team"));
    };
    config::set_current_team(Some(team.id))?;
    outln!("{}", team.id);
    eprintln!(
        "created team {:?} with you as owner; it is now your current team",
        team.name
    );
    eprintln!("next: `envv init` in your project, or `envv team invite EMAIL`");
    Ok(())
}

fn list(json: bool) -> Result<(), Failure> {
    let teams = list_teams()?;
    if json {
        print_json(&teams)?;
        return Ok(());
    }
    if teams.is_empty() {
        eprintln!("you are in no team; run `envv team create NAME` or `envv team join CODE`");
        return Ok(());
    }
    let current = config::current_team();
    outln!("  {:<36}  {:<7}  {:>5}  NAME", "ID", "ROLE", "EPOCH");
    for t in &teams {
        let mark = if Some(t.id) == current { '*' } else { ' ' };
        outln!(
            "{mark} {:<36}  {:<7}  {:>5}  {}",
            t.id,
            t.role,
            t.current_epoch,
            t.name
        );
    }
    Ok(())
}

fn show_members(team: &TeamArg, json: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let (members, chain_seq, chain_head) = members_and_head(team)?;
    if json {
        print_json(&members)?;
        return Ok(());
    }
    outln!(
        "{:<30}  {:<7}  {:<8}  {:<39}  NAME",
        "EMAIL",
        "ROLE",
        "KEY",
        "FINGERPRINT"
    );
    for m in &members {
        let (key, fingerprint) = match (m.admitted, m.has_key) {
            (false, _) => ("waiting", "not admitted yet"),
            (true, true) => ("yes", m.fingerprint.as_str()),
            (true, false) => ("pending", m.fingerprint.as_str()),
        };
        outln!(
            "{:<30}  {:<7}  {:<8}  {:<39}  {}",
            m.email,
            m.role,
            key,
            fingerprint,
            m.name
        );
    }
    // Invited, not yet joined: listed too (admins see them; `team invites`
    // says more).
    if let Ok(Response::Invites { invites }) = ask(&Request::Invites { team }) {
        for i in invites.iter().filter(|i| i.state == "open") {
            outln!(
                "{:<30}  {:<7}  {:<8}  invite expires {}",
                i.email,
                i.role,
                "invited",
                expires_in(i.expires_at)
            );
        }
    }
    outln!(
        "team chain: {chain_seq} statements, head {chain_head} \
         (members who see the same head share one history)"
    );
    Ok(())
}

fn grant(team: &TeamArg) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let Response::Admitted { granted, refused } = ask(&Request::AdmitPending { team })? else {
        return Err(unexpected("admit_pending"));
    };
    let s = if granted == 1 { "" } else { "s" };
    eprintln!("granted the team key to {granted} newcomer{s}");
    if refused.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::VERIFY,
        format!(
            "refused to admit {}. Where their acceptance does not verify, the server may \
             have substituted its own key: check with them out of band, and invite them \
             again",
            refused.join(", ")
        ),
    ))
}

fn set_role(team: &TeamArg, user: &str, role: Role) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let member = member(team, user)?;
    let response = ask(&Request::SetRole {
        team,
        user: member.user_id,
        role,
    })?;
    expect_done(response, "set_role")?;
    eprintln!("{} is now {role}", member.email);
    Ok(())
}

fn remove(team: &TeamArg, user: &str, yes: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let member = member(team, user)?;
    if !yes {
        confirm(&format!(
            "remove {} from team {}?",
            member.email,
            name_of(team)
        ))?;
    }
    let response = ask(&Request::RemoveMember {
        team,
        user: member.user_id,
    })?;
    expect_done(response, "remove_member")?;
    eprintln!(
        "removed {}: their key fetches stopped; run `envv rotate` so the team moves to \
         a key they never had",
        member.email
    );
    exposure(team, member.user_id)
}

/// Every secret the removed member could read, said as what to change.
fn exposure(team: Uuid, user: Uuid) -> Result<(), Failure> {
    let dirs = std::env::current_dir().into_iter().collect();
    let report = match ask(&Request::Exposure { team, user, dirs }) {
        Ok(Response::Exposure(report)) => report,
        Ok(_) => {
            eprintln!("could not list the secrets they could read (unexpected answer)");
            return Ok(());
        }
        Err(failure) => {
            eprintln!("could not list the secrets they could read ({failure})");
            return Ok(());
        }
    };
    if report.projects.is_empty() {
        eprintln!(
            "no project of this team is known to this machine: run `envv team remove` inside \
             one, or look at the team's files; every value sealed at epoch {} or before was \
             readable to them",
            report.last_epoch
        );
    } else {
        eprintln!("looked at the team's files in:");
        for root in &report.projects {
            eprintln!("  {}", root.display());
        }
    }
    if !report.secrets.is_empty() {
        eprintln!(
            "{} held the key of every epoch up to {}: they could read every one of these \
             values. Change all of these (* = the audit trail shows they decrypted it):",
            report.email, report.last_epoch
        );
        for secret in &report.secrets {
            let envs: Vec<&str> = secret
                .envs
                .iter()
                .map(|e| e.as_deref().unwrap_or("default"))
                .collect();
            let mark = if secret.decrypted { " *" } else { "" };
            outln!("{}\t{}{mark}", secret.name, envs.join(","));
        }
    } else if !report.projects.is_empty() {
        eprintln!("no file here holds a secret sealed at an epoch they held");
    }
    if !report.decrypted_elsewhere.is_empty() {
        eprintln!("the trail shows they also decrypted these, in files not here; change them too:");
        for name in &report.decrypted_elsewhere {
            outln!("{name}\t? *");
        }
    }
    for path in &report.later {
        eprintln!(
            "{} was sealed since at a later epoch: its names are not listed, but the values \
             it held before were readable to them",
            path.display()
        );
    }
    if let Some(why) = &report.trail_error {
        eprintln!("the audit trail could not be read ({why}): nothing is marked as decrypted");
    }
    Ok(())
}

fn switch(team: &str) -> Result<(), Failure> {
    let id = named(team)?;
    let teams = list_teams()?;
    let Some(info) = teams.iter().find(|t| t.id == id) else {
        return Err(Failure::new(
            exit::NOT_FOUND,
            format!("you are not in team {id}; run `envv team list`"),
        ));
    };
    config::set_current_team(Some(id))?;
    eprintln!("current team: {:?} ({id})", info.name);
    Ok(())
}

/// `envv rotate`: a new key epoch, and this project's files re-encrypted.
pub fn rotate(arg: &TeamArg, yes: bool) -> Result<(), Failure> {
    let team = resolve(arg, Prefer::Project)?;
    let project = std::env::current_dir()
        .ok()
        .and_then(|dir| config::project(&dir))
        .filter(|(_, bound)| *bound == Some(team));
    // Outside the team's projects a rotation re-encrypts nothing, and the
    // files left at the old epoch are unreadable to anyone who joins later.
    if project.is_none() && !yes {
        confirm_or(
            &format!(
                "This directory is not one of team {team}'s projects: the team moves to a new \
                 key and no file is re-encrypted; run `envv rotate` inside each project later. \
                 Rotate anyway?"
            ),
            "nothing rotated; run `envv rotate` inside one of the team's projects",
        )?;
    }
    let dirs = project.iter().map(|(root, _)| root.clone()).collect();
    eprintln!("rotating team {team}…");
    let Response::Rotated {
        epoch,
        files,
        missed,
        ..
    } = ask(&Request::Rotate { team, dirs })?
    else {
        return Err(unexpected("rotate"));
    };
    let s = if files == 1 { "" } else { "s" };
    match &project {
        Some((root, _)) => outln!(
            "team {team} is at key epoch {epoch}; re-encrypted {files} file{s} in {}",
            root.display()
        ),
        None => outln!(
            "team {team} is at key epoch {epoch}; re-encrypted {files} file{s} \
             (run `envv rotate` inside each of the team's projects to re-encrypt theirs)"
        ),
    }
    // Checkouts this machine knows that keep files at an older epoch; the
    // ones it never opened (other machines, other branches) it can't know.
    if !missed.is_empty() {
        let list: Vec<String> = missed.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "not re-encrypted: other projects of team {team} on this machine still have files \
             at an older key epoch: {}; run `envv rotate` in each (and re-encrypt other \
             branches and machines' checkouts the same way)",
            list.join(", ")
        );
    }
    Ok(())
}

fn expect_done(response: Response, op: &'static str) -> Result<(), Failure> {
    match response {
        Response::Done => Ok(()),
        _ => Err(unexpected(op)),
    }
}

fn rename(team: &TeamArg, name: String) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let old = name_of(team);
    let Response::Team(renamed) = ask(&Request::RenameTeam { team, name })? else {
        return Err(unexpected("rename_team"));
    };
    eprintln!("renamed team {old} to {:?}", renamed.name);
    Ok(())
}

fn leave(team: &TeamArg, yes: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let name = name_of(team);
    let Response::Account(me) = ask(&Request::Whoami)? else {
        return Err(Failure::new(exit::NOT_LOGGED_IN, "not logged in"));
    };
    if !yes {
        confirm_or(
            &format!("leave team {name}? You will need a new invite to come back."),
            "nothing changed",
        )?;
    }
    expect_done(
        ask(&Request::RemoveMember {
            team,
            user: me.user_id,
        })?,
        "remove_member",
    )?;
    if config::current_team() == Some(team) {
        config::set_current_team(None)?;
    }
    eprintln!("you left team {name}; its admins should run `envv rotate`, since you held its key");
    Ok(())
}

fn delete(team: &TeamArg, yes: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let name = name_of(team);
    if !yes {
        confirm_or(
            &format!(
                "delete team {name} for every member? Its members, invites and keys go, and \
                 files encrypted to it can no longer be opened by anyone."
            ),
            "nothing deleted",
        )?;
    }
    expect_done(ask(&Request::DeleteTeam { team })?, "delete_team")?;
    if config::current_team() == Some(team) {
        config::set_current_team(None)?;
    }
    eprintln!("deleted team {name}; its audit trail keeps the deletion on record");
    Ok(())
}

fn confirm(question: &str) -> Result<(), Failure> {
    confirm_or(question, "nothing removed")
}

/// Asks `question` on a terminal; a no (or no terminal, without `--yes`)
/// fails with `declined`.
pub(crate) fn confirm_or(question: &str, declined: &str) -> Result<(), Failure> {
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question} Not a terminal: pass `--yes` to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::new(exit::ERROR, declined))
    }
}

fn settings(team: &TeamArg, max_offline: Option<u32>, json: bool) -> Result<(), Failure> {
    let id = resolve(team, Prefer::Current)?;
    let info = match max_offline {
        Some(max_staleness_secs) => match ask(&Request::SetTeamSettings {
            team: id,
            max_staleness_secs,
        })? {
            Response::Team(info) => info,
            _ => return Err(unexpected("set_team_settings")),
        },
        None => list_teams()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| Failure::new(exit::NOT_FOUND, format!("you are not in team {id}")))?,
    };
    if json {
        print_json(&serde_json::json!({
            "id": info.id,
            "name": info.name,
            "max_staleness_secs": info.max_staleness_secs,
        }))?;
    } else {
        outln!(
            "max offline: {} (agents read from cached keys this long while the control plane is unreachable)",
            offline(info.max_staleness_secs)
        );
    }
    Ok(())
}

/// `72h`, `90m`, `45s`.
fn offline(secs: u32) -> String {
    match secs {
        s if s % 86_400 == 0 && s >= 7 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
