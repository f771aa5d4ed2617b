//! `envv team …`'s shape: the team commands and roles.

use clap::{Subcommand, ValueEnum};
use clap_complete::ArgValueCompleter;

use super::TeamArg;
use crate::complete::team_names;

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team with you as its owner, and make it the current team.
    Create {
        /// The team's name, as its members see it.
        name: String,
    },
    /// Your teams.
    List {
        /// A JSON array of teams.
        #[arg(long)]
        json: bool,
    },
    /// A team's members, roles, and who holds the key.
    Members {
        #[command(flatten)]
        team: TeamArg,
        /// A JSON array of members.
        #[arg(long)]
        json: bool,
    },
    /// Invite someone: prints only the invite code, to hand over out of band.
    Invite {
        /// The address of the person invited; only an account with this
        /// email can join with the code.
        #[arg(required_unless_present = "revoke")]
        email: Option<String>,
        /// The role they get on joining.
        #[arg(long, value_enum, default_value_t = Role::Member)]
        role: Role,
        /// Withdraw the open invite with this id instead (`envv team invites` lists them).
        #[arg(long, value_name = "INVITE_ID", conflicts_with = "email")]
        revoke: Option<uuid::Uuid>,
        #[command(flatten)]
        team: TeamArg,
        /// `{"code": …, "invite_id": …}`.
        #[arg(long)]
        json: bool,
    },
    /// The team's invites: open ones, and why the others can admit no one.
    Invites {
        #[command(flatten)]
        team: TeamArg,
        /// One JSON object per invite: id, email, role, issued_by, expires_at (unix seconds), state.
        #[arg(long)]
        json: bool,
    },
    /// Join a team with an invite code.
    Join {
        /// The code; prefer `--stdin` to keep it out of your shell history.
        #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
        code: Option<String>,
        /// Read the code from stdin.
        #[arg(long)]
        stdin: bool,
    },
    /// Grant the team key to newcomers now, after checking their proofs.
    Grant {
        #[command(flatten)]
        team: TeamArg,
    },
    /// Change a member's role.
    Role {
        /// The member, by user id or email.
        #[arg(value_name = "USER_OR_EMAIL")]
        user: String,
        /// The new role.
        #[arg(value_enum)]
        role: Role,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Remove a member (their key fetches stop at once); then run `envv rotate`.
    Remove {
        /// The member, by user id or email.
        #[arg(value_name = "USER_OR_EMAIL")]
        user: String,
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Give the team another name (admins); names are unique among your teams.
    Rename {
        /// The new name.
        name: String,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Leave the team: your key fetches stop, and an admin should rotate.
    Leave {
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Delete the team for everyone (its owner): members, invites, keys and
    /// chain go; the audit trail records the deletion.
    Delete {
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Make a team the default for team commands and `envv init`.
    Switch {
        /// The team, by id or name.
        #[arg(value_name = "ID|NAME", add = ArgValueCompleter::new(team_names))]
        team: String,
    },
    /// Show the team's settings; admins change them with the options.
    Settings {
        #[command(flatten)]
        team: TeamArg,
        /// How long members' agents keep reading from cached keys while the
        /// control plane is unreachable: `30m`, `72h`, `7d` (1s to 30d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_offline: Option<u32>,
        /// The settings as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `90s`, `30m`, `72h`, `7d`: a number and its unit. A bare number is
/// refused: `3` could mean seconds, minutes or days.
pub(crate) fn parse_duration(text: &str) -> Result<u32, String> {
    let text = text.trim();
    // A duration is a few characters; a longer one is not worth reading.
    if text.len() > 16 {
        return Err("not a duration: use a number and a unit, such as 90s, 30m, 72h or 7d".into());
    }
    let Some(at) = text.find(|c: char| !c.is_ascii_digit()) else {
        return Err(format!(
            "`{text}` has no unit: write {text}s, {text}m, {text}h or {text}d"
        ));
    };
    let (number, unit) = text.split_at(at);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: use a number and a unit, such as 90s, 30m, 72h or 7d"
            ));
        }
    };
    let secs = number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{text}` is not a duration: use 90s, 30m, 72h or 7d"))?;
    if !(1..=30 * 86_400).contains(&secs) {
        return Err(format!("`{text}` must be between 1s and 30d"));
    }
    Ok(secs)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Reads and writes the team's secrets.
    Member,
    /// Also invites, grants, changes roles, removes and rotates.
    Admin,
    /// Also sets the plan and billing.
    Owner,
}

impl From<Role> for proto_ipc::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Member => proto_ipc::Role::Member,
            Role::Admin => proto_ipc::Role::Admin,
            Role::Owner => proto_ipc::Role::Owner,
        }
    }
}
