//! The team chain: an append-only, hash-linked sequence of statements that
//! members sign, and from which every client computes who is in a team,
//! with which keys and role, and which epoch key is current.
//!
//! The control plane stores the chain and orders appends, but it holds no
//! member's signing key, so it cannot make a statement that verifies. Every
//! rule a statement must pass is checked here against the chain *up to that
//! statement* ([`TeamChain::apply`]), with the same role table as the
//! control plane's routes (`envv_api::authz`). The byte encoding is in
//! [`statement`] and `docs/architecture.md`.

mod rules;
mod state;
pub mod statement;

pub use state::{
    AuditCheckpoint, ChainEpoch, ChainInvite, ChainMember, FileSignerRefused, FormerMember,
    InviteState, TeamChain,
};
pub use statement::{Body, Draft, Hash, MAX_STATEMENT_LEN, Statement, acceptance};

use uuid::Uuid;

/// Why a chain, or one statement of it, was refused. Each names the
/// position and, where there is one, the user involved.
// The messages say what each variant means.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("malformed chain statement: {0}")]
    Malformed(&'static str),
    #[error("statement {seq} belongs to team {found}, not {expected}")]
    WrongTeam {
        seq: u64,
        expected: Uuid,
        found: Uuid,
    },
    #[error("the chain has statement {found} where statement {expected} should be")]
    OutOfOrder { expected: u64, found: u64 },
    #[error("statement {seq} does not follow statement {}: the chain was rewritten or reordered", seq - 1)]
    BrokenLink { seq: u64 },
    #[error("the chain's first statement is not the team's creation")]
    NoGenesis,
    #[error("statement {seq} is signed by {signer}, who is not a member at that point")]
    NotAMember { seq: u64, signer: Uuid },
    #[error("statement {seq}'s signature by {signer} does not verify")]
    BadSignature { seq: u64, signer: Uuid },
    #[error("statement {seq} ({kind}) needs the {needs} role, but its signer {signer} is {role}")]
    NotAllowed {
        seq: u64,
        kind: &'static str,
        signer: Uuid,
        role: envv_api::Role,
        needs: envv_api::Role,
    },
    #[error("statement {seq} admits for invite {invite}, which {why}")]
    InviteVoid {
        seq: u64,
        invite: Uuid,
        why: &'static str,
    },
    #[error("statement {seq} admits {user} with an acceptance that does not verify ({which})")]
    BadAcceptance {
        seq: u64,
        user: Uuid,
        which: &'static str,
    },
    #[error("statement {seq} rotates to epoch {found}, but the next epoch is {expected}")]
    EpochNotNext { seq: u64, expected: u64, found: u64 },
    #[error("statement {seq} rotates to a member set other than the chain's members")]
    MemberSetMismatch { seq: u64 },
    #[error("statement {seq} is refused: {reason}")]
    Invalid { seq: u64, reason: &'static str },
    #[error(
        "the server's statement {seq} differs from the one this machine verified: the chain was rewritten or forked"
    )]
    Rewritten { seq: u64 },
    #[error(
        "the server's chain ends at statement {served}, but this machine verified up to {verified}: statements were dropped"
    )]
    Truncated { verified: u64, served: u64 },
}
