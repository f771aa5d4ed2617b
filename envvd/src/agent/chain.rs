//! Each team's chain as this machine verified it: kept in memory, saved
//! (0600) under `chains/`, and brought up to date from the control plane
//! statement by statement. Members, roles, member keys and epoch keys come
//! from here, never from the server's tables.
//!
//! A chain this machine has not seen before is verified from its first
//! statement and must be *anchored*: it holds the user as a member with the
//! user's own keys (which only their signature can have put there: the
//! creation they signed, or the acceptance inside their admission), or, for
//! a joiner, it holds the invite statement the code names.

use std::path::{Path, PathBuf};

use envv_core::chain::{ChainError, FileSignerRefused, Statement, TeamChain};
use envv_core::crypto::UserIdentity;
use envv_core::envfile::EnvFile;
use proto_ipc::ErrorCode;
use uuid::Uuid;

use super::cache::{read_json, write_private};
use super::control_plane::Authed;
use super::state::{Agent, Failure};

/// Thousands of statements fit many times over.
const MAX_FILE: u64 = 64 * 1024 * 1024;

fn path(data_dir: &Path, team: Uuid) -> PathBuf {
    data_dir.join("chains").join(format!("{team}.json"))
}

/// A chain refused: what the server showed, in the words of the rule it broke.
pub(super) fn refused(team: Uuid, e: &ChainError) -> Failure {
    Failure(
        ErrorCode::Crypto,
        format!(
            "the control plane's team chain for team {team} is refused: {e}. Nothing was changed; \
             the server (or its database) is not telling the truth"
        ),
    )
}

/// Parses the statements served after the `after`th; any malformed one,
/// or one out of its place, refuses them all.
pub(super) fn parse_all(
    team: Uuid,
    after: u64,
    texts: &[String],
) -> Result<Vec<Statement>, Failure> {
    let mut statements = Vec::with_capacity(texts.len());
    for (place, text) in (after + 1..).zip(texts) {
        let statement = Statement::parse(text).map_err(|e| refused(team, &e))?;
        if statement.seq() != place {
            return Err(refused(
                team,
                &ChainError::OutOfOrder {
                    expected: place,
                    found: statement.seq(),
                },
            ));
        }
        statements.push(statement);
    }
    Ok(statements)
}

/// Saves a verified chain's statements (they are re-verified on load).
fn save(data_dir: &Path, team: Uuid, statements: &[String]) {
    let saved = serde_json::to_vec(statements)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_private(&path(data_dir, team), &bytes));
    if let Err(e) = saved {
        tracing::warn!(team = %team, error = %e, "could not save the team chain");
    }
}

/// The chain saved for `team`, verified again; `None` if there is none or
/// it no longer verifies (it is then fetched and anchored afresh).
fn load(data_dir: &Path, team: Uuid) -> Option<(TeamChain, Vec<String>)> {
    let texts: Vec<String> = read_json(&path(data_dir, team), MAX_FILE)?;
    let statements: Vec<Statement> = texts
        .iter()
        .map(|t| Statement::parse(t))
        .collect::<Result<_, _>>()
        .ok()?;
    let chain = TeamChain::verify(&statements).ok()?;
    (chain.team() == team).then_some((chain, texts))
}

/// A verified chain and the texts of its statements.
#[derive(Clone)]
pub(super) struct Known {
    pub chain: TeamChain,
    pub texts: Vec<String>,
}

/// Whether `chain` names `me` as a member with `identity`'s keys.
pub(super) fn anchored(chain: &TeamChain, me: Uuid, identity: &UserIdentity) -> bool {
    chain
        .member(me)
        .is_some_and(|m| m.age == identity.public_key() && m.signing == identity.verifying_key())
}

impl Agent {
    /// The chain this machine verified for `team`, from memory or disk.
    pub(super) fn known_chain(&self, team: Uuid) -> Option<Known> {
        if let Some(known) = self.chains().get(&team) {
            return Some(known.clone());
        }
        let (chain, texts) = load(&self.config.data_dir, team)?;
        let known = Known { chain, texts };
        self.chains().insert(team, known.clone());
        Some(known)
    }

    /// Keeps `known` as `team`'s chain unless a longer one is kept already.
    pub(super) fn keep_chain(&self, team: Uuid, known: &Known) {
        let mut chains = self.chains();
        if chains
            .get(&team)
            .is_some_and(|held| held.chain.seq() >= known.chain.seq())
        {
            return;
        }
        save(&self.config.data_dir, team, &known.texts);
        chains.insert(team, known.clone());
    }

    /// Whether `file` (read from `path`) may be trusted: in local mode it
    /// must be signed with this machine's personal key; in a team, by a
    /// member the verified chain says held the file's epoch key honestly
    /// and still is one. Refusals name the signer, the epoch and why.
    pub(super) async fn check_author(
        &self,
        team: Uuid,
        path: &Path,
        file: &EnvFile,
    ) -> Result<(), Failure> {
        let refused = |why: String| {
            Failure(
                ErrorCode::Crypto,
                format!(
                    "{}: sealed at epoch {} by {why}; its values are not used. If you have \
                     looked at them and they are right, `envv reseal` signs the file as yours",
                    path.display(),
                    file.epoch()
                ),
            )
        };
        let Some(author) = file.signer() else {
            return Err(refused("no one (it is unsigned)".into()));
        };
        let local_signer = {
            let inner = self.inner();
            let keys = inner.keys.as_ref().ok_or_else(Failure::locked)?;
            keys.personal
                .as_ref()
                .filter(|p| p.team() == team)
                .and_then(|p| p.signer().map(|s| s.key.verifying_key()))
        };
        if let Some(mine) = local_signer {
            return if author.key == mine {
                Ok(())
            } else {
                Err(refused(
                    "a key that is not this machine's personal key".into(),
                ))
            };
        }
        // Brought up to date (once per change of the file: warm reads come
        // from the cache), so a removal is known before the removed
        // member's file is trusted; the verified chain on disk if offline.
        let chain = self.team_chain(team).await?;
        let verdict = chain.check_file_signer(author.user, &author.key, file.epoch());
        verdict.map_err(|e| match e {
            FileSignerRefused::Removed {
                email, removed_at, ..
            } => refused(format!(
                "{email}, who was removed from the team on {}",
                chrono::DateTime::from_timestamp(removed_at, 0).map_or_else(
                    || removed_at.to_string(),
                    |t| t.format("%Y-%m-%d").to_string()
                )
            )),
            other => refused(other.to_string()),
        })
    }

    /// Forgets a deleted team: its chain, its cached grants, its keyring.
    pub(super) fn forget_team(&self, team: Uuid) {
        self.chains().remove(&team);
        for file in [
            path(&self.config.data_dir, team),
            self.config
                .data_dir
                .join("teams")
                .join(format!("{team}.json")),
        ] {
            if let Err(e) = std::fs::remove_file(&file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, "could not remove what this machine kept of a deleted team");
            }
        }
        if let Some(keys) = self.inner().keys.as_mut() {
            keys.teams.remove(&team);
        }
    }

    /// Fetches every statement after the `after`th.
    async fn fetch_chain(
        &self,
        at: &Authed,
        team: Uuid,
        after: u64,
        invite: Option<Uuid>,
    ) -> Result<(Vec<String>, u64), Failure> {
        let mut texts = Vec::new();
        let mut next = after;
        loop {
            let page = match invite {
                Some(invite) => self.api.invite_chain(at, invite, next).await,
                None => self.api.chain(at, team, next).await,
            };
            let page = self.reached(page)?;
            if page.team_id != team {
                return Err(refused(
                    team,
                    &ChainError::WrongTeam {
                        seq: next + 1,
                        expected: team,
                        found: page.team_id,
                    },
                ));
            }
            let got = page.statements.len() as u64;
            texts.extend(page.statements);
            next += got;
            if got == 0 || next >= page.head_seq {
                return Ok((texts, page.head_seq));
            }
        }
    }

    /// Brings `team`'s chain up to date with the control plane and returns
    /// it. A chain seen for the first time must name this user with their
    /// own keys (see the module's doc).
    pub(super) async fn sync_chain(&self, team: Uuid) -> Result<TeamChain, Failure> {
        let at = self.session().await?;
        let known = self.known_chain(team);
        // From the verified head itself, so a rewrite of it shows too.
        let after = known
            .as_ref()
            .map_or(0, |k| k.chain.seq().saturating_sub(1));
        let (texts, head) = self.fetch_chain(&at, team, after, None).await?;
        let statements = parse_all(team, after, &texts)?;
        let known = match known {
            Some(mut known) => {
                let added = known
                    .chain
                    .extend(&statements, head)
                    .map_err(|e| refused(team, &e))?;
                let start = texts.len() - added;
                known.texts.extend(texts[start..].iter().cloned());
                known
            }
            None => {
                let chain = TeamChain::verify(&statements).map_err(|e| refused(team, &e))?;
                if chain.seq() != head {
                    return Err(refused(
                        team,
                        &ChainError::Truncated {
                            verified: chain.seq(),
                            served: head,
                        },
                    ));
                }
                self.check_anchor(team, &chain)?;
                Known { chain, texts }
            }
        };
        self.keep_chain(team, &known);
        Ok(known.chain)
    }

    /// The up-to-date chain, or the verified one on disk while the control
    /// plane is unreachable.
    pub(super) async fn team_chain(&self, team: Uuid) -> Result<TeamChain, Failure> {
        match self.sync_chain(team).await {
            Err(Failure(ErrorCode::Offline, why)) => self.offline_chain(team, why),
            other => other,
        }
    }

    /// The chain this machine verified, standing in for the control plane
    /// that could not be asked (`why`).
    pub(super) fn offline_chain(&self, team: Uuid, why: String) -> Result<TeamChain, Failure> {
        match self.known_chain(team) {
            Some(known) => Ok(known.chain),
            None => Err(Failure(
                ErrorCode::Offline,
                format!("{why}, and this machine has not verified team {team}'s chain yet"),
            )),
        }
    }

    /// Fetches and verifies the chain of the team an invite is for, for a
    /// joiner who is not a member yet (the invite code anchors it).
    pub(super) async fn invite_chain(
        &self,
        at: &Authed,
        team: Uuid,
        invite: Uuid,
    ) -> Result<Known, Failure> {
        let (texts, head) = self.fetch_chain(at, team, 0, Some(invite)).await?;
        let statements = parse_all(team, 0, &texts)?;
        let chain = TeamChain::verify(&statements).map_err(|e| refused(team, &e))?;
        if chain.seq() != head {
            return Err(refused(
                team,
                &ChainError::Truncated {
                    verified: chain.seq(),
                    served: head,
                },
            ));
        }
        Ok(Known { chain, texts })
    }

    fn check_anchor(&self, team: Uuid, chain: &TeamChain) -> Result<(), Failure> {
        let inner = self.inner();
        let me = inner
            .account
            .as_ref()
            .map(|a| a.user_id)
            .ok_or_else(Failure::no_account)?;
        let identity = inner
            .keys
            .as_ref()
            .and_then(|k| k.identity.as_ref())
            .ok_or_else(Failure::locked)?;
        if anchored(chain, me, identity) {
            return Ok(());
        }
        if let Some(gone) = chain.former(me) {
            return Err(Failure(
                ErrorCode::NotFound,
                format!(
                    "you were removed from team {team} (statement {} of its chain)",
                    gone.removed_seq
                ),
            ));
        }
        Err(Failure(
            ErrorCode::Crypto,
            format!(
                "the control plane shows a chain for team {team} that has no statement of yours: \
                 either an admin has not admitted you yet, or the server shows this machine \
                 another history than the team's. Nothing was trusted"
            ),
        ))
    }
}
