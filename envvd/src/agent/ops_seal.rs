//! What a write seals to: the team's newest epoch, brought up to date
//! first and refused while a removal has closed it; and resealing a file a
//! person reviewed after its signer was refused.

use proto_ipc::{EnvRef, ErrorCode, Response};
use uuid::Uuid;

use super::control_plane::is_unavailable;
use super::state::{Agent, Failure, Outcome};
use envv_core::envfile::{ReadOptions, edit};

impl Agent {
    /// Before anything is sealed for `team` (account mode): its chain,
    /// brought up to date when the control plane can be reached, else the
    /// one this machine verified (only while it can't connect: see
    /// `control_plane::offline`; a server that answers 503 is waited for).
    /// Refused while the chain's newest epoch is closed by a removal; else
    /// that epoch, the least the keyring must hold. Local mode has no
    /// chain: `None`.
    pub(super) async fn sealing_epoch(&self, team: Uuid) -> Result<Option<u64>, Failure> {
        if self.inner().account.is_none() {
            return Ok(None);
        }
        let chain = match self.sync_chain(team).await {
            Err(Failure(ErrorCode::Offline, why)) if is_unavailable(&why) => {
                return Err(Failure(
                    ErrorCode::Offline,
                    format!(
                        "{why}; nothing is sealed until it answers (its chain may be ahead of \
                         the one this machine verified)"
                    ),
                ));
            }
            Err(Failure(ErrorCode::Offline, why)) => self.offline_chain(team, why)?,
            other => other?,
        };
        if let Some(seq) = chain.closed_by_removal() {
            return Err(closed_by_removal(&chain, seq));
        }
        Ok(Some(chain.current_epoch()))
    }

    /// Why a file is refused, and how its values compare with the version
    /// last accepted here: what a person reviews before `reseal`.
    pub(super) async fn reseal_preview(&self, at: &EnvRef) -> Outcome {
        let located = self.locate(at)?;
        let opts = ReadOptions::any_epoch(located.env.clone());
        let file = self
            .with_current_keys(located.team, None, |ring| {
                edit::read(&located.path, ring, &opts)
            })
            .await?;
        let verdict = match self.check_author(located.team, &located.path, &file).await {
            Ok(()) => "signed by a member: nothing to reseal".to_owned(),
            Err(Failure(_, why)) => why,
        };
        let inner = self.inner();
        let accepted = &inner.keys.as_ref().ok_or_else(Failure::locked)?.accepted;
        let before = accepted.of(&located.path);
        let mut names: Vec<(String, String)> = file
            .iter()
            .map(|(name, value)| {
                let change = match before {
                    None => "unknown",
                    Some(digests) => match digests.get(name.as_str()) {
                        None => "new",
                        Some(d) if *d == accepted.digest(value.expose()) => "same",
                        Some(_) => "changed",
                    },
                };
                (name.as_str().to_owned(), change.to_owned())
            })
            .collect();
        if let Some(digests) = before {
            names.extend(
                digests
                    .keys()
                    .filter(|n| file.get(n).is_none())
                    .map(|n| (n.clone(), "removed".to_owned())),
            );
        }
        Ok(Response::ResealPreview { verdict, names })
    }

    /// Re-seals a file a person reviewed: a fresh data key at the current
    /// epoch, signed by this user. Only the file's own cryptography must
    /// verify; its former signer is what was refused.
    pub(super) async fn reseal(&self, at: &EnvRef) -> Outcome {
        let located = self.locate(at)?;
        // A write like any other: never to an epoch a removal closed.
        let epoch = self.sealing_epoch(located.team).await?;
        self.with_current_keys(located.team, epoch, |ring| {
            edit::reencrypt(&located.path, &located.env, ring)
        })
        .await?;
        self.forget_file(&located.path);
        let names: Vec<String> = match self.decrypted(at).await {
            Ok(all) => all.iter().map(|(n, _)| n.clone()).collect(),
            Err(Failure(_, why)) => {
                return Err(Failure(
                    ErrorCode::Internal,
                    format!("resealed, but the file does not read back: {why}"),
                ));
            }
        };
        let count = names.len();
        self.record(
            at,
            "reseal",
            names,
            Some(u32::try_from(count).unwrap_or(u32::MAX)),
        )
        .await?;
        Ok(Response::Resealed { count })
    }
}

/// Why nothing is sealed to a team's newest epoch: who was removed since it
/// was made (they hold its key), and the command that opens a new one.
fn closed_by_removal(chain: &envv_core::chain::TeamChain, seq: u64) -> Failure {
    let mut removed: Vec<&str> = chain
        .former_members()
        .values()
        .filter(|f| f.removed_seq >= seq)
        .map(|f| f.email.as_str())
        .collect();
    removed.sort_unstable();
    let who = if removed.is_empty() {
        "a member".to_owned()
    } else {
        removed.join(", ")
    };
    Failure(
        ErrorCode::Crypto,
        format!(
            "nothing was written: {who} left team {} (statement {seq} of its chain) and still \
             holds its key epoch {}, so no new secret is sealed to it. An admin must run \
             `envv rotate` in this project first",
            chain.team(),
            chain.current_epoch()
        ),
    )
}
