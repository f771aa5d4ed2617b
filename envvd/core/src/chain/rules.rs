//! The rules each statement must pass, checked against the chain up to it
//! (see `docs/architecture.md`, "The team chain").

use envv_api::Role;
use envv_api::authz::{Action, required_role};

use super::ChainError;
use super::state::{
    AuditCheckpoint, ChainEpoch, ChainInvite, ChainMember, FormerMember, InviteState, TeamChain,
};
use super::statement::{Body, Statement, acceptance};
use crate::crypto::{SignatureBytes, VerifyingKey};

/// The longest an invite may be valid for.
const MAX_INVITE_SECS: i64 = 30 * 24 * 3600;

/// One signature a statement needs, checked in a batch.
pub(super) struct SigCheck {
    pub(super) message: Vec<u8>,
    pub(super) signature: SignatureBytes,
    pub(super) key: VerifyingKey,
    pub(super) failure: ChainError,
}

impl TeamChain {
    /// Every rule of one statement; mutates only once every rule passed.
    /// Signatures are checked at once when `sigs` is `None`, else left in
    /// it for one batch check (the caller then owns undoing the steps).
    pub(super) fn step(
        &mut self,
        s: &Statement,
        sigs: &mut Option<Vec<SigCheck>>,
    ) -> Result<(), ChainError> {
        let seq = s.seq();
        if s.team() != self.team {
            return Err(ChainError::WrongTeam {
                seq,
                expected: self.team,
                found: s.team(),
            });
        }
        if seq != self.seq() + 1 {
            return Err(ChainError::OutOfOrder {
                expected: self.seq() + 1,
                found: seq,
            });
        }
        if s.prev() != self.head() {
            return Err(ChainError::BrokenLink { seq });
        }
        let signer = self
            .members
            .get(&s.by())
            .ok_or(ChainError::NotAMember {
                seq,
                signer: s.by(),
            })?
            .clone();
        need(
            sigs,
            SigCheck {
                message: s.signed_message(),
                signature: *s.signature(),
                key: signer.signing,
                failure: ChainError::BadSignature {
                    seq,
                    signer: s.by(),
                },
            },
        )?;
        let kind = s.body().kind();
        let allowed = |action: Action| -> Result<(), ChainError> {
            let needs = required_role(action);
            if signer.role >= needs {
                Ok(())
            } else {
                Err(ChainError::NotAllowed {
                    seq,
                    kind,
                    signer: signer.user,
                    role: signer.role,
                    needs,
                })
            }
        };
        let invalid = |reason| ChainError::Invalid { seq, reason };
        match s.body() {
            Body::Create { .. } => return Err(invalid("a team is created only once")),
            Body::Invite {
                invite,
                email,
                role,
                accept,
                proof_key,
                expires,
            } => {
                allowed(Action::Invite { role: *role })?;
                if self.invites.contains_key(invite) {
                    return Err(invalid("it reuses an invite id"));
                }
                if *expires <= s.at() || *expires - s.at() > MAX_INVITE_SECS {
                    return Err(invalid("the invite's expiry is not within 30 days"));
                }
                self.invites.insert(
                    *invite,
                    ChainInvite {
                        id: *invite,
                        issuer: signer.user,
                        email: email.clone(),
                        role: *role,
                        accept: *accept,
                        proof_key: *proof_key,
                        expires: *expires,
                        statement: s.hash(),
                        state: InviteState::Open,
                    },
                );
            }
            Body::Admit {
                invite,
                user,
                age,
                signing,
                proof,
                consent,
            } => {
                allowed(Action::ManageGrants)?;
                let void = |why| ChainError::InviteVoid {
                    seq,
                    invite: *invite,
                    why,
                };
                let issued = self.invites.get(invite).ok_or(void("was never issued"))?;
                match issued.state {
                    InviteState::Open => {}
                    InviteState::Consumed { .. } => return Err(void("was already used")),
                    InviteState::Revoked => return Err(void("was revoked")),
                }
                let issuer_may = self
                    .members
                    .get(&issued.issuer)
                    .is_some_and(|m| m.role >= required_role(Action::Invite { role: issued.role }));
                if !issuer_may {
                    return Err(void(if self.members.contains_key(&issued.issuer) {
                        "was issued by a member who may no longer issue it"
                    } else {
                        "was issued by a member removed since"
                    }));
                }
                if s.at() > issued.expires {
                    return Err(void("had expired"));
                }
                if self.members.contains_key(user) {
                    return Err(invalid("it admits a current member"));
                }
                if self
                    .members
                    .values()
                    .any(|m| m.age == *age || m.signing == *signing)
                {
                    return Err(invalid("it reuses a member's key"));
                }
                let accepted =
                    acceptance(self.team, *invite, &issued.statement, *user, age, signing);
                need(
                    sigs,
                    SigCheck {
                        message: accepted.clone(),
                        signature: *proof,
                        key: issued.proof_key,
                        failure: ChainError::BadAcceptance {
                            seq,
                            user: *user,
                            which: "the invite code's proof",
                        },
                    },
                )?;
                need(
                    sigs,
                    SigCheck {
                        message: accepted,
                        signature: *consent,
                        key: *signing,
                        failure: ChainError::BadAcceptance {
                            seq,
                            user: *user,
                            which: "the newcomer's own signature",
                        },
                    },
                )?;
                let member = ChainMember {
                    user: *user,
                    email: issued.email.clone(),
                    age: age.clone(),
                    signing: *signing,
                    role: issued.role,
                    since: seq,
                };
                if let Some(open) = self.invites.get_mut(invite) {
                    open.state = InviteState::Consumed { by: *user };
                }
                self.former.remove(user);
                self.members.insert(*user, member);
            }
            Body::Role { user, role } => {
                let target = self.members.get(user).ok_or(invalid(
                    "it changes the role of someone who is not a member",
                ))?;
                allowed(Action::ChangeRole {
                    from: target.role,
                    to: *role,
                })?;
                if target.role == *role {
                    return Err(invalid("it changes nothing"));
                }
                if target.role == Role::Owner && self.owners() == 1 {
                    return Err(invalid("it would leave the team without an owner"));
                }
                if let Some(m) = self.members.get_mut(user) {
                    m.role = *role;
                }
            }
            Body::Remove { user } => {
                let target = self
                    .members
                    .get(user)
                    .ok_or(invalid("it removes someone who is not a member"))?;
                allowed(Action::Remove {
                    target: target.role,
                    is_self: *user == signer.user,
                })?;
                if target.role == Role::Owner && self.owners() == 1 {
                    return Err(invalid("it would leave the team without an owner"));
                }
                let last_epoch = self.current_epoch();
                if let Some(gone) = self.members.remove(user) {
                    self.former.insert(
                        *user,
                        FormerMember {
                            user: *user,
                            email: gone.email,
                            removed_seq: seq,
                            removed_at: s.at(),
                            removed_by: signer.user,
                            last_epoch,
                        },
                    );
                }
                self.closed_by.get_or_insert(seq);
            }
            Body::Rotate {
                epoch,
                epoch_key,
                members,
            } => {
                allowed(Action::Rotate)?;
                let expected = self.current_epoch() + 1;
                if *epoch != expected {
                    return Err(ChainError::EpochNotNext {
                        seq,
                        expected,
                        found: *epoch,
                    });
                }
                if *members != self.member_set_hash() {
                    return Err(ChainError::MemberSetMismatch { seq });
                }
                if self.epochs.iter().any(|e| e.key == *epoch_key) {
                    return Err(invalid("it reuses an epoch key"));
                }
                self.epochs.push(ChainEpoch {
                    epoch: *epoch,
                    key: epoch_key.clone(),
                    members: *members,
                    seq,
                    at: s.at(),
                });
                self.closed_by = None;
            }
            Body::RevokeInvite { invite } => {
                allowed(Action::ManageInvites)?;
                match self.invites.get_mut(invite) {
                    Some(open) if open.state == InviteState::Open => {
                        open.state = InviteState::Revoked;
                    }
                    _ => return Err(invalid("it revokes an invite that is not open")),
                }
            }
            Body::Checkpoint {
                audit_seq,
                audit_head,
            } => {
                allowed(Action::CheckpointAudit)?;
                if self.checkpoint.is_some_and(|c| c.audit_seq > *audit_seq) {
                    return Err(invalid(
                        "it checkpoints the audit trail behind an earlier checkpoint",
                    ));
                }
                self.checkpoint = Some(AuditCheckpoint {
                    audit_seq: *audit_seq,
                    audit_head: *audit_head,
                    seq,
                    at: s.at(),
                    by: signer.user,
                });
            }
            Body::Settings { max_staleness_secs } => {
                allowed(Action::ManageSettings)?;
                if !envv_api::MAX_STALENESS_RANGE.contains(max_staleness_secs) {
                    return Err(invalid("max-staleness is out of range"));
                }
                self.max_staleness_secs = Some(*max_staleness_secs);
            }
        }
        self.hashes.push(s.hash());
        Ok(())
    }

    fn owners(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.role == Role::Owner)
            .count()
    }
}

/// A signature a statement needs: checked now, or kept for the batch.
pub(super) fn need(sigs: &mut Option<Vec<SigCheck>>, check: SigCheck) -> Result<(), ChainError> {
    match sigs {
        Some(batch) => {
            batch.push(check);
            Ok(())
        }
        None => check
            .key
            .verify(&check.message, &check.signature)
            .map_err(|_| check.failure),
    }
}
