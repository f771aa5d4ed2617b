//! The one table of what a role may do in a team. The control plane checks
//! requests against it, and every client checks the team chain's statements
//! against it (`envv_core::chain`), so the two can never disagree.

use crate::Role;

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
    /// Sign a checkpoint of the audit trail's head into the team chain.
    CheckpointAudit,
    /// Rename the team.
    RenameTeam,
    /// Delete the team, its members, keys and chain.
    DeleteTeam,
}

/// The least role that may perform `action`.
pub fn required_role(action: Action) -> Role {
    match action {
        Action::ReadTeam | Action::ReadKeys | Action::ReportAudit | Action::ReadAudit => {
            Role::Member
        }
        Action::ManageBilling | Action::DeleteTeam => Role::Owner,
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
        | Action::ManageSettings
        | Action::CheckpointAudit
        | Action::RenameTeam => Role::Admin,
    }
}
