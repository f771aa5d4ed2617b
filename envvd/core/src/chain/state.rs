//! A verified chain's state, and the rules each statement must pass.

use std::collections::BTreeMap;

use envv_api::Role;
use envv_api::authz::{Action, required_role};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ChainError;
use super::statement::{Body, Draft, Hash, Statement};
use crate::crypto::signing::verify_batch;
use crate::crypto::{PublicKey, SignatureBytes, VerifyingKey};

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

/// Why a file's signer can't be trusted, by the verified chain. The
/// message completes "signed by …".
// The fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileSignerRefused {
    /// The signer was removed from the team.
    #[error("{email}, who was removed from the team (statement {seq} of its chain)")]
    Removed {
        email: String,
        removed_at: i64,
        seq: u64,
    },
    /// The signer never was a member.
    #[error("{user}, who is not a member of the team")]
    NotAMember { user: Uuid },
    /// The member's chain key is another one.
    #[error("a key that is not {email}'s")]
    WrongKey { email: String },
    /// The member joined after the epoch was replaced.
    #[error("{email}, who joined after that epoch was replaced")]
    JoinedAfter { email: String },
    /// No rotation made that epoch.
    #[error("someone, at epoch {epoch}, which the team chain does not have")]
    UnknownEpoch { epoch: u64 },
}

/// The state of a team as its verified chain says: members, roles, keys,
/// invites and epochs. Only statements that pass every rule get in.
#[derive(Debug, Clone)]
pub struct TeamChain {
    pub(super) team: Uuid,
    /// `hashes[i]` is the hash of statement `i + 1`.
    pub(super) hashes: Vec<Hash>,
    pub(super) created_at: i64,
    pub(super) members: BTreeMap<Uuid, ChainMember>,
    pub(super) former: BTreeMap<Uuid, FormerMember>,
    pub(super) invites: BTreeMap<Uuid, ChainInvite>,
    pub(super) epochs: Vec<ChainEpoch>,
    /// The first removal since the newest epoch: that epoch is closed to
    /// new secrets until the next rotation.
    pub(super) closed_by: Option<u64>,
    pub(super) max_staleness_secs: Option<u32>,
    pub(super) checkpoint: Option<AuditCheckpoint>,
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

    /// Whether a file sealed at `epoch` and signed by `user` with `key` may
    /// be trusted: its signer must be a member now, with that key, who was
    /// in the team while `epoch` was the newest (so held its key honestly).
    pub fn check_file_signer(
        &self,
        user: Uuid,
        key: &VerifyingKey,
        epoch: u64,
    ) -> Result<(), FileSignerRefused> {
        if self.epoch(epoch).is_none() {
            return Err(FileSignerRefused::UnknownEpoch { epoch });
        }
        let Some(member) = self.members.get(&user) else {
            return Err(match self.former.get(&user) {
                Some(gone) => FileSignerRefused::Removed {
                    email: gone.email.clone(),
                    removed_at: gone.removed_at,
                    seq: gone.removed_seq,
                },
                None => FileSignerRefused::NotAMember { user },
            });
        };
        if member.signing != *key {
            return Err(FileSignerRefused::WrongKey {
                email: member.email.clone(),
            });
        }
        // The statement that ended `epoch`, if a later one did.
        let ended = self.epoch(epoch + 1).map(|next| next.seq);
        if ended.is_some_and(|end| member.since > end) {
            return Err(FileSignerRefused::JoinedAfter {
                email: member.email.clone(),
            });
        }
        Ok(())
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

/// SHA-256("envv/members/v1\n" || one "<uuid> <age key> <signing key hex>\n"
/// line per member), of members already in ascending uuid order (a
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
