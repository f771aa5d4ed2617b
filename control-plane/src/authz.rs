//! The one place that decides what a role may do in a team.
//!
//! Team routes open with [`crate::state::AppState::authorize`] (or
//! `authorize_on_member`), which reads the caller's role from the database
//! (a non-member gets 404, so team ids don't leak) and asks [`authorize`]
//! about the action.

use envv_api::Role;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the team, its members, its public key.
    ReadTeam,
    /// Invite someone with the given role.
    Invite { role: Role },
    /// List or revoke pending invites.
    ManageInvites,
    /// Change a member's role from `from` to `to`.
    ChangeRole { from: Role, to: Role },
    /// Remove a member whose role is `target`; `is_self` when leaving.
    Remove { target: Role, is_self: bool },
    /// Fetch one's own grants, read the team's public key.
    ReadKeys,
    /// See who is waiting for a key, and wrap the key for them.
    ManageGrants,
    /// Move the team to a new key epoch.
    Rotate,
    /// Report events the caller's client observed.
    ReportAudit,
    /// Query and export the team's audit trail.
    ReadAudit,
    /// See which secrets a member decrypted.
    ReadExposure,
    /// See the plan, seats, usage and invoice preview.
    ReadUsage,
    /// Set the plan and billing contact.
    ManageBilling,
    /// Change the team's settings (how long agents may work offline).
    ManageSettings,
}

/// The least role that may perform `action`.
pub fn required_role(action: Action) -> Role {
    match action {
        Action::ReadTeam | Action::ReadKeys | Action::ReportAudit | Action::ReadAudit => {
            Role::Member
        }
        Action::ManageBilling => Role::Owner,
        Action::Remove { is_self: true, .. } => Role::Member,
        // Owners alone make or unmake owners.
        Action::Invite { role: Role::Owner } => Role::Owner,
        Action::ChangeRole { from, to } if from == Role::Owner || to == Role::Owner => Role::Owner,
        Action::Remove {
            target: Role::Owner,
            ..
        } => Role::Owner,
        Action::Invite { .. }
        | Action::ManageInvites
        | Action::ChangeRole { .. }
        | Action::Remove { .. }
        | Action::ManageGrants
        | Action::Rotate
        | Action::ReadExposure
        | Action::ReadUsage
        | Action::ManageSettings => Role::Admin,
    }
}

pub fn authorize(role: Role, action: Action) -> Result<(), ApiError> {
    if role >= required_role(action) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Member, Owner};

    #[test]
    fn role_table() {
        // (action, least role allowed)
        let table = [
            (Action::ReadTeam, Member),
            (Action::Invite { role: Member }, Admin),
            (Action::Invite { role: Admin }, Admin),
            (Action::Invite { role: Owner }, Owner),
            (Action::ManageInvites, Admin),
            (
                Action::ChangeRole {
                    from: Member,
                    to: Admin,
                },
                Admin,
            ),
            (
                Action::ChangeRole {
                    from: Admin,
                    to: Member,
                },
                Admin,
            ),
            (
                Action::ChangeRole {
                    from: Admin,
                    to: Owner,
                },
                Owner,
            ),
            (
                Action::ChangeRole {
                    from: Owner,
                    to: Admin,
                },
                Owner,
            ),
            (
                Action::Remove {
                    target: Member,
                    is_self: false,
                },
                Admin,
            ),
            (
                Action::Remove {
                    target: Admin,
                    is_self: false,
                },
                Admin,
            ),
            (
                Action::Remove {
                    target: Owner,
                    is_self: false,
                },
                Owner,
            ),
            (
                Action::Remove {
                    target: Owner,
                    is_self: true,
                },
                Member,
            ),
            (Action::ReadKeys, Member),
            (Action::ManageGrants, Admin),
            (Action::Rotate, Admin),
            (Action::ReportAudit, Member),
            (Action::ReadAudit, Member),
            (Action::ReadExposure, Admin),
            (Action::ReadUsage, Admin),
            (Action::ManageBilling, Owner),
        ];
        for (action, least) in table {
            for role in Role::ALL {
                assert_eq!(
                    authorize(role, action).is_ok(),
                    role >= least,
                    "{role} doing {action:?}"
                );
            }
        }
    }
}
