//! `envv team invite`, `team invites` and `team join`: invite codes, which
//! the agent makes and checks against the team chain.

use std::io::{self, Read};

use proto_ipc::{Request, Response, Role, Secret};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Prefer, expect_done, print_json, resolve};
use crate::cli::TeamArg;
use crate::error::{Failure, exit};
use crate::out::outln;
use crate::{ask, unexpected};

pub(super) fn invite(team: &TeamArg, email: String, role: Role, json: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let response = ask(&Request::Invite {
        team,
        email: email.clone(),
        role,
    })?;
    let Response::InviteCode { code, invite_id } = response else {
        return Err(unexpected("invite"));
    };
    if json {
        print_json(&serde_json::json!({
            "code": code.expose(),
            "invite_id": invite_id,
        }))?;
    } else {
        outln!("{}", code.expose());
    }
    eprintln!(
        "invited {email} as {role} for 7 days: hand them this code yourself, out of band \
         (in person, a call, a message you trust), not through envv's server; they run \
         `envv team join CODE`, and your agent grants them the key once it checks \
         their proof (`envv team invites` lists invites; `--revoke ID` withdraws one)"
    );
    Ok(())
}

pub(super) fn invites(team: &TeamArg, json: bool) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    let Response::Invites { invites } = ask(&Request::Invites { team })? else {
        return Err(unexpected("invites"));
    };
    if json {
        return print_json(&invites);
    }
    outln!(
        "{:<36}  {:<30}  {:<7}  {:<20}  {:<30}  STATE",
        "ID",
        "EMAIL",
        "ROLE",
        "EXPIRES",
        "ISSUED BY"
    );
    for i in &invites {
        let expires = expires_in(i.expires_at);
        outln!(
            "{:<36}  {:<30}  {:<7}  {:<20}  {:<30}  {}",
            i.id,
            i.email,
            i.role,
            expires,
            i.issued_by,
            i.state
        );
    }
    Ok(())
}

/// `in 6d 23h`, `in 5h 10m`, `2d ago`: when an invite lapses, from now.
pub(super) fn expires_in(at: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let left = at - now;
    let span = left.unsigned_abs();
    let text = match (span / 86_400, span % 86_400 / 3600, span % 3600 / 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    };
    if left >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

pub(super) fn revoke_invite(team: &TeamArg, invite: Uuid) -> Result<(), Failure> {
    let team = resolve(team, Prefer::Current)?;
    expect_done(
        ask(&Request::RevokeInvite { team, invite })?,
        "revoke_invite",
    )?;
    eprintln!("revoked invite {invite}: its code admits no one now");
    Ok(())
}

pub(super) fn join(code: Option<String>) -> Result<(), Failure> {
    let code = match code {
        Some(code) => Secret::new(code.trim()),
        None => read_code()?,
    };
    let Response::Team(team) = ask(&Request::Join { code })? else {
        return Err(unexpected("join"));
    };
    outln!("{}", team.id);
    eprintln!(
        "joined team {:?} as {}; an admin's agent grants you the team key once it \
         checks your proof (on its own while it is unlocked, or `envv team grant`)",
        team.name, team.role
    );
    Ok(())
}

fn read_code() -> Result<Secret, Failure> {
    let mut text = Zeroizing::new(String::new());
    io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::new(
            exit::ERROR,
            format!("could not read the code from stdin: {e}"),
        )
    })?;
    let code = text.trim();
    if code.is_empty() {
        return Err(Failure::usage("no invite code on stdin"));
    }
    Ok(Secret::new(code))
}
