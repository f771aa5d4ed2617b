//! The one place that decides what a role may do in a team.
//!
//! Team routes open with [`crate::state::AppState::authorize`] (or
//! `authorize_on_member`), which reads the caller's role from the database
//! (a non-member gets 404, so team ids don't leak) and asks [`authorize`]
//! about the action.

use envv_api::Role;
pub use envv_api::authz::{Action, required_role};

use crate::error::ApiError;

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
            (Action::CheckpointAudit, Admin),
            (Action::RenameTeam, Admin),
            (Action::DeleteTeam, Owner),
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
