//! A verified chain's state, and the rules each statement must pass.

use std::collections::BTreeMap;

use envv_api::Role;
use envv_api::authz::{Action, required_role};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ChainError;
use super::statement::{Body, Draft, Hash, Statement, acceptance};
use crate::crypto::signing::verify_batch;
use crate::crypto::{PublicKey, SignatureBytes, VerifyingKey};

/// The longest an invite may be valid for.
const MAX_INVITE_SECS: i64 = 30 * 24 * 3600;

/// A member as the chain knows them.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMember {
    pub user: Uuid,
    pub email: String,
    pub age: PublicKey,
    pub signing: VerifyingKey,
    pub role: Role,
    /// The statement that made them a member.
    pub since: u64,
}

/// Someone who was a member and was removed (or left).
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormerMember {
    pub user: Uuid,
    pub email: String,
    /// The statement that removed them, when, and by whom.
    pub removed_seq: u64,
    pub removed_at: i64,
    pub removed_by: Uuid,
    /// The newest epoch they held a key for.
    pub last_epoch: u64,
}

/// Where an invite stands.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Open,
    Consumed { by: Uuid },
    Revoked,
}

/// An invite statement and what happened to it since.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInvite {
    pub id: Uuid,
    pub issuer: Uuid,
    pub email: String,
    pub role: Role,
    pub accept: Hash,
    pub proof_key: VerifyingKey,
    pub expires: i64,
    /// The invite statement's hash: the invite code carries its prefix.
    pub statement: Hash,
    pub state: InviteState,
}

/// One epoch key, as a rotate (or the creation) statement set it.
// The fields are named for what they hold; the type says what it is.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEpoch {
    pub epoch: u64,
    pub key: PublicKey,
    /// Hash of the member set its key was wrapped to.
    pub members: Hash,
    pub seq: u64,
    pub at: i64,
}

/// One signature a statement needs, checked in a batch.
struct SigCheck {
    message: Vec<u8>,
    signature: SignatureBytes,
    key: VerifyingKey,
    failure: ChainError,
}

/// The state of a team as its verified chain says: members, roles, keys,
/// invites and epochs. Only statements that pass every rule get in.
#[derive(Debug, Clone)]
pub struct TeamChain {
    team: Uuid,
    /// `hashes[i]` is the hash of statement `i + 1`.
    hashes: Vec<Hash>,
    created_at: i64,
    members: BTreeMap<Uuid, ChainMember>,
    former: BTreeMap<Uuid, FormerMember>,
    invites: BTreeMap<Uuid, ChainInvite>,
    epochs: Vec<ChainEpoch>,
    /// The first removal since the newest epoch: that epoch is closed to
    /// new secrets until the next rotation.
    closed_by: Option<u64>,
    max_staleness_secs: Option<u32>,
    checkpoint: Option<AuditCheckpoint>,
}

/// The newest audit checkpoint in the chain.
// The fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// The audit event (chain position) it vouches for, and its hash.
    pub audit_seq: u64,
    pub audit_head: Hash,
    /// The team chain statement that made it, when and by whom.
    pub seq: u64,
    pub at: i64,
    pub by: Uuid,
}

impl TeamChain {
    /// Verifies a whole chain from its first statement, checking every
    /// signature in one batch. The creator's statement anchors it: whoever
    /// holds the chain must also know it is the team they meant (their own
    /// statement, or the invite code's hash).
    pub fn verify(statements: &[Statement]) -> Result<TeamChain, ChainError> {
        let (first, rest) = statements.split_first().ok_or(ChainError::NoGenesis)?;
        let mut chain = TeamChain::genesis(first)?;
        chain.extend_batch(rest)?;
        Ok(chain)
    }

    /// Rebuilds the state of statements this process verified before (the
    /// control plane checks each one as it appends it): every rule but the
    /// signatures.
    pub fn replay_verified(statements: &[Statement]) -> Result<TeamChain, ChainError> {
        let (first, rest) = statements.split_first().ok_or(ChainError::NoGenesis)?;
        let mut chain = TeamChain::genesis(first)?;
        for s in rest {
            // Verified before: the signatures are collected and dropped.
            chain.step(s, &mut Some(Vec::new()))?;
        }
        Ok(chain)
    }

    /// The state after the team's first statement alone.
    pub fn genesis(s: &Statement) -> Result<TeamChain, ChainError> {
        let Body::Create {
            email,
            age,
            signing,
            epoch_key,
        } = s.body()
        else {
            return Err(ChainError::NoGenesis);
        };
        if s.seq() != 1 {
            return Err(ChainError::OutOfOrder {
                expected: 1,
                found: s.seq(),
            });
        }
        if s.prev() != Hash::ZERO {
            return Err(ChainError::BrokenLink { seq: 1 });
        }
        signing
            .verify(&s.signed_message(), s.signature())
            .map_err(|_| ChainError::BadSignature {
                seq: 1,
                signer: s.by(),
            })?;
        let creator = ChainMember {
            user: s.by(),
            email: email.clone(),
            age: age.clone(),
            signing: *signing,
            role: Role::Owner,
            since: 1,
        };
        let mut chain = TeamChain {
            team: s.team(),
            hashes: vec![s.hash()],
            created_at: s.at(),
            members: BTreeMap::from([(s.by(), creator)]),
            former: BTreeMap::new(),
            invites: BTreeMap::new(),
            epochs: Vec::new(),
            closed_by: None,
            max_staleness_secs: None,
            checkpoint: None,
        };
        chain.epochs.push(ChainEpoch {
            epoch: 1,
            key: epoch_key.clone(),
            members: chain.member_set_hash(),
            seq: 1,
            at: s.at(),
        });
        Ok(chain)
    }

    /// Checks one new statement, signature included, and adds it; on
    /// error the chain is unchanged.
    pub fn apply(&mut self, s: &Statement) -> Result<(), ChainError> {
        self.step(s, &mut None)
    }

    /// Brings the chain up to date with statements a server served, which
    /// may start at or before this chain's head (they must then match what
    /// was verified) and must continue it. All or nothing: on error the
    /// chain is unchanged. Returns how many statements were new.
    pub fn extend(&mut self, served: &[Statement], served_head: u64) -> Result<usize, ChainError> {
        if served_head < self.seq() {
            return Err(ChainError::Truncated {
                verified: self.seq(),
                served: served_head,
            });
        }
        let mut new = Vec::new();
        for s in served {
            let seq = s.seq();
            if seq == 0 {
                return Err(ChainError::Malformed("statement 0"));
            }
            match usize::try_from(seq - 1)
                .ok()
                .and_then(|i| self.hashes.get(i))
            {
                Some(known) if *known == s.hash() && new.is_empty() => {}
                Some(_) if new.is_empty() => return Err(ChainError::Rewritten { seq }),
                _ => new.push(s.clone()),
            }
        }
        let mut next = self.clone();
        next.extend_batch(&new)?;
        let added = new.len();
        *self = next;
        Ok(added)
    }

    fn extend_batch(&mut self, statements: &[Statement]) -> Result<(), ChainError> {
        let before = self.clone();
        let mut sigs = Some(Vec::with_capacity(statements.len()));
        for s in statements {
            self.step(s, &mut sigs)?;
        }
        let sigs = sigs.unwrap_or_default();
        if sigs.is_empty() {
            return Ok(());
        }
        let messages: Vec<&[u8]> = sigs.iter().map(|c| c.message.as_slice()).collect();
        let signatures: Vec<SignatureBytes> = sigs.iter().map(|c| c.signature).collect();
        let keys: Vec<VerifyingKey> = sigs.iter().map(|c| c.key).collect();
        if verify_batch(&messages, &signatures, &keys).is_ok() {
            return Ok(());
        }
        // One failed: find it, to name it.
        *self = before;
        for check in sigs {
            if check.key.verify(&check.message, &check.signature).is_err() {
                return Err(check.failure);
            }
        }
        Err(ChainError::Malformed("a signature batch failed"))
    }

    /// Every rule of one statement; mutates only once every rule passed.
    /// Signatures are checked at once when `sigs` is `None`, else left in
    /// it for one batch check (the caller then owns undoing the steps).
    fn step(&mut self, s: &Statement, sigs: &mut Option<Vec<SigCheck>>) -> Result<(), ChainError> {
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

    /// A statement to sign as the next one of this chain.
    pub fn draft(&self, by: Uuid, at: i64, body: Body) -> Draft {
        Draft {
            team: self.team,
            seq: self.seq() + 1,
            prev: self.head(),
            by,
            at,
            body,
        }
    }

    /// The team.
    pub fn team(&self) -> Uuid {
        self.team
    }

    /// The number of statements verified.
    pub fn seq(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// The newest statement's hash.
    pub fn head(&self) -> Hash {
        self.hashes.last().copied().unwrap_or(Hash::ZERO)
    }

    /// The hash of statement `seq`, if verified.
    pub fn hash_at(&self, seq: u64) -> Option<Hash> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.hashes.get(i).copied()
    }

    /// When the creator made the team (unix seconds, their clock).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// Current members by user id.
    pub fn members(&self) -> &BTreeMap<Uuid, ChainMember> {
        &self.members
    }

    /// One current member.
    pub fn member(&self, user: Uuid) -> Option<&ChainMember> {
        self.members.get(&user)
    }

    /// Someone removed since they were a member.
    pub fn former(&self, user: Uuid) -> Option<&FormerMember> {
        self.former.get(&user)
    }

    /// Everyone removed, by user id.
    pub fn former_members(&self) -> &BTreeMap<Uuid, FormerMember> {
        &self.former
    }

    /// Every invite ever issued, by id.
    pub fn invites(&self) -> &BTreeMap<Uuid, ChainInvite> {
        &self.invites
    }

    /// Why an open invite could no longer admit anyone, if it couldn't.
    pub fn invite_void(&self, invite: &ChainInvite, now: i64) -> Option<&'static str> {
        match invite.state {
            InviteState::Consumed { .. } => return Some("was already used"),
            InviteState::Revoked => return Some("was revoked"),
            InviteState::Open => {}
        }
        match self.members.get(&invite.issuer) {
            None => return Some("was issued by a member removed since"),
            Some(m) if m.role < required_role(Action::Invite { role: invite.role }) => {
                return Some("was issued by a member who may no longer issue it");
            }
            Some(_) => {}
        }
        (now > invite.expires).then_some("has expired")
    }

    /// Every epoch, oldest first.
    pub fn epochs(&self) -> &[ChainEpoch] {
        &self.epochs
    }

    /// The newest epoch's number.
    pub fn current_epoch(&self) -> u64 {
        self.epochs.last().map_or(0, |e| e.epoch)
    }

    /// One epoch, if the chain has it.
    pub fn epoch(&self, epoch: u64) -> Option<&ChainEpoch> {
        let i = usize::try_from(epoch.checked_sub(1)?).ok()?;
        self.epochs.get(i)
    }

    /// The statement of the first removal since the newest epoch: someone
    /// who left holds that epoch's key, so nothing new may be sealed to it
    /// until an admin rotates.
    pub fn closed_by_removal(&self) -> Option<u64> {
        self.closed_by
    }

    /// The newest checkpoint of the audit trail, if an admin made one.
    pub fn audit_checkpoint(&self) -> Option<&AuditCheckpoint> {
        self.checkpoint.as_ref()
    }

    /// The team's offline allowance, if a settings statement set one.
    pub fn max_staleness_secs(&self) -> Option<u32> {
        self.max_staleness_secs
    }

    /// SHA-256 of the current members' ids and keys, sorted by id: what a
    /// rotation records so every verifier knows who it was wrapped to.
    pub fn member_set_hash(&self) -> Hash {
        hash_sorted_members(self.members.values())
    }
}

/// A signature a statement needs: checked now, or kept for the batch.
fn need(sigs: &mut Option<Vec<SigCheck>>, check: SigCheck) -> Result<(), ChainError> {
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

/// SHA-256("envv/members/v1\n" || one "<uuid> <age key> <signing key hex>\n"
/// line per member, by ascending uuid).
pub fn member_set_hash<'a>(members: impl IntoIterator<Item = &'a ChainMember>) -> Hash {
    let mut sorted: Vec<&ChainMember> = members.into_iter().collect();
    sorted.sort_by_key(|m| m.user);
    hash_sorted_members(sorted)
}

/// [`member_set_hash`] of members already in ascending uuid order (a
/// `BTreeMap<Uuid, _>`'s), hashed without an allocation per member.
fn hash_sorted_members<'a>(members: impl IntoIterator<Item = &'a ChainMember>) -> Hash {
    let mut h = Sha256::new();
    h.update(b"envv/members/v1\n");
    let mut uuid = Uuid::encode_buffer();
    let mut signing = [0u8; 64];
    for m in members {
        h.update(m.user.hyphenated().encode_lower(&mut uuid).as_bytes());
        h.update(b" ");
        h.update(m.age.as_str().as_bytes());
        h.update(b" ");
        // 64 hex digits of 32 bytes always fit.
        if hex::encode_to_slice(m.signing.to_bytes(), &mut signing).is_ok() {
            h.update(signing);
        }
        h.update(b"\n");
    }
    Hash(h.finalize().into())
}
