//! Team requests: creating, listing, renaming and deleting teams; members,
//! roles, settings, removal and rotation (invites are in `ops_invites.rs`,
//! keys in `ops_keys.rs`). Every change is a statement this user signs and
//! appends to the team chain (`chain.rs`); every answer about who is in the
//! team comes from the verified chain.

use std::path::Path;

use chrono::Utc;
use envv_api::{
    ChangeRoleRequest, CreateTeamRequest, Member, MemberGrant, Role, RotateRequest,
    StatementRequest, Team, TeamSettings,
};
use envv_core::chain::{Body, ChainError, Statement, TeamChain};
use envv_core::crypto::{EpochIdentity, FileSigner, TeamKeyring, UserIdentity, fingerprint};
use envv_core::envfile::{EnvName, edit};
use envv_core::project;
use proto_ipc::{ErrorCode, MemberInfo, Response, TeamInfo};
use uuid::Uuid;

use super::cache::{CachedGrant, CachedTeam};
use super::chain::Known;
use super::ops_account::crypto;
use super::state::{Agent, Failure, Outcome};

/// Appends retried after another admin's landed first.
const APPEND_ATTEMPTS: usize = 3;

/// A request carrying a statement, on its way.
type Sending<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>;

/// Epoch numbers are `u32` on the wire.
pub(super) fn wire_epoch(epoch: u64) -> Result<u32, Failure> {
    u32::try_from(epoch).map_err(|_| {
        Failure(
            ErrorCode::Internal,
            format!("epoch {epoch} is out of range"),
        )
    })
}

/// A statement this user may not make, said as the rule it breaks.
fn not_allowed(e: &ChainError) -> Failure {
    match e {
        ChainError::NotAllowed {
            kind, role, needs, ..
        } => Failure(
            ErrorCode::Forbidden,
            format!("you are {role} in this team; that ({kind}) needs {needs}"),
        ),
        other => Failure(ErrorCode::Invalid, other.to_string()),
    }
}

impl Agent {
    /// This user's id and unlocked identity.
    pub(super) fn me(&self) -> Result<(Uuid, UserIdentity), Failure> {
        let inner = self.inner();
        let me = inner
            .account
            .as_ref()
            .map(|a| a.user_id)
            .ok_or_else(Failure::no_account)?;
        let identity = inner
            .keys
            .as_ref()
            .and_then(|k| k.identity.clone())
            .ok_or_else(Failure::locked)?;
        Ok((me, identity))
    }

    /// The team's keyring, opened again if the chain moved to an epoch it
    /// doesn't know (another admin rotated since it was opened).
    pub(super) async fn current_keyring(
        &self,
        team: Uuid,
    ) -> Result<std::sync::Arc<TeamKeyring>, Failure> {
        let ring = self.keyring(team).await?;
        let chain = self.team_chain(team).await?;
        if ring.team_epoch() >= chain.current_epoch() {
            return Ok(ring);
        }
        self.forget_keyring(team, &ring);
        self.keyring(team).await
    }

    /// Makes the statement `body` says (given the chain up to date), signs
    /// it, checks it as every verifier will, and has `send` deliver it with
    /// its request. If another admin appended first the server answers 409:
    /// then the chain is brought up to date and the statement made again.
    pub(super) async fn append<'a, T>(
        &'a self,
        team: Uuid,
        body: impl Fn(&TeamChain) -> Result<Body, Failure>,
        send: impl Fn(Statement) -> Sending<'a, T>,
    ) -> Result<(T, TeamChain), Failure> {
        let (me, identity) = self.me()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut chain = self.sync_chain(team).await?;
            let head = chain.head();
            let statement = chain
                .draft(me, Utc::now().timestamp(), body(&chain)?)
                .sign(identity.signing_key());
            let mut next = chain.clone();
            next.apply(&statement).map_err(|e| not_allowed(&e))?;
            match send(statement.clone()).await {
                Ok(answer) => {
                    chain = next;
                    let mut texts = self.known_chain(team).map(|k| k.texts).unwrap_or_default();
                    texts.push(statement.as_str().to_owned());
                    if texts.len() as u64 == chain.seq() {
                        self.keep_chain(
                            team,
                            &Known {
                                chain: chain.clone(),
                                texts,
                            },
                        );
                    }
                    return Ok((answer, chain));
                }
                Err(Failure(ErrorCode::Conflict, why)) if attempt < APPEND_ATTEMPTS => {
                    let now = self.sync_chain(team).await?;
                    if now.head() == head {
                        return Err(Failure(ErrorCode::Conflict, why));
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    pub(super) async fn members(&self, team: Uuid) -> Outcome {
        let at = self.session().await?;
        let at = &at;
        let listed = self.reached(self.api.members(at, team).await)?;
        let chain = self.team_chain(team).await?;
        // The server's list is an index of the chain; where they disagree
        // the server is wrong, and saying so is the answer.
        for m in &listed {
            let Some(known) = chain.member(m.user_id) else {
                continue;
            };
            if known.role != m.role {
                return Err(Failure(
                    ErrorCode::Crypto,
                    format!(
                        "the control plane lists {} as {}, but the team chain says {}: the \
                         server's tables were changed outside the chain; trust the chain",
                        known.email, m.role, known.role
                    ),
                ));
            }
            if m.identity_public_key != known.age.as_str()
                || m.signing_public_key != known.signing.to_hex()
            {
                return Err(Failure(
                    ErrorCode::Crypto,
                    format!(
                        "the control plane presents other keys for {} than the team chain holds: \
                         a key swap; nothing will be encrypted to them",
                        known.email
                    ),
                ));
            }
        }
        let by_id: std::collections::HashMap<Uuid, &Member> =
            listed.iter().map(|m| (m.user_id, m)).collect();
        let mut members: Vec<MemberInfo> = chain
            .members()
            .values()
            .map(|m| {
                let server = by_id.get(&m.user);
                MemberInfo {
                    user_id: m.user,
                    email: m.email.clone(),
                    name: server.map(|s| s.name.clone()).unwrap_or_default(),
                    role: m.role,
                    has_key: server.is_some_and(|s| s.has_key),
                    admitted: true,
                    fingerprint: fingerprint(&m.age, &m.signing),
                }
            })
            .collect();
        // Accepted an invite, not admitted yet: shown, never trusted.
        members.extend(
            listed
                .iter()
                .filter(|m| chain.member(m.user_id).is_none())
                .map(|m| MemberInfo {
                    user_id: m.user_id,
                    email: m.email.clone(),
                    name: m.name.clone(),
                    role: m.role,
                    has_key: false,
                    admitted: false,
                    fingerprint: String::new(),
                }),
        );
        Ok(Response::Members {
            members,
            chain_seq: chain.seq(),
            chain_head: chain.head().fingerprint(),
        })
    }

    pub(super) async fn set_role(&self, team: Uuid, user: Uuid, role: Role) -> Outcome {
        let at = self.session().await?;
        let at = &at;
        self.append(
            team,
            |_| Ok(Body::Role { user, role }),
            move |statement| {
                Box::pin(async move {
                    let body = ChangeRoleRequest {
                        role,
                        statement: statement.as_str().to_owned(),
                    };
                    self.reached(self.api.set_role(at, team, user, &body).await)
                })
            },
        )
        .await?;
        Ok(Response::Done)
    }

    pub(super) async fn set_team_settings(&self, team: Uuid, max_staleness_secs: u32) -> Outcome {
        let at = self.session().await?;
        let at = &at;
        let (updated, _) = self
            .append(
                team,
                |_| Ok(Body::Settings { max_staleness_secs }),
                move |statement| {
                    Box::pin(async move {
                        let body = TeamSettings {
                            max_staleness_secs,
                            statement: statement.as_str().to_owned(),
                        };
                        self.reached(self.api.set_settings(at, team, &body).await)
                    })
                },
            )
            .await?;
        Ok(Response::Team(team_info(&updated)))
    }

    pub(super) async fn remove_member(&self, team: Uuid, user: Uuid) -> Outcome {
        let at = self.session().await?;
        let at = &at;
        self.append(
            team,
            |_| Ok(Body::Remove { user }),
            move |statement| {
                Box::pin(async move {
                    let body = StatementRequest {
                        statement: statement.as_str().to_owned(),
                    };
                    self.reached(self.api.remove_member(at, team, user, &body).await)
                })
            },
        )
        .await?;
        Ok(Response::Done)
    }

    /// A new epoch for exactly the chain's members, then the projects'
    /// files re-encrypted to it. If another admin rotated first, the server
    /// answers 409 and nothing changed.
    pub(super) async fn rotate(&self, team: Uuid, dirs: &[std::path::PathBuf]) -> Outcome {
        let generation = self.generation();
        let mut ring = TeamKeyring::clone(&*self.current_keyring(team).await?);
        let at = self.session().await?;
        let at = &at;
        // The key and its grants, made with each attempt's statement.
        let made: std::sync::Mutex<Option<(EpochIdentity, Vec<MemberGrant>)>> =
            std::sync::Mutex::new(None);
        let made = &made;
        let (rotated, _) = self
            .append(
                team,
                |chain| {
                    let next = EpochIdentity::generate(team, chain.current_epoch() + 1);
                    let grants = chain
                        .members()
                        .values()
                        .map(|m| {
                            Ok(MemberGrant {
                                user_id: m.user,
                                grant: next.grant_to(&m.age).map_err(crypto)?.as_str().to_owned(),
                            })
                        })
                        .collect::<Result<Vec<_>, Failure>>()?;
                    let body = Body::Rotate {
                        epoch: next.epoch(),
                        epoch_key: next.public_key(),
                        members: chain.member_set_hash(),
                    };
                    *made.lock().unwrap_or_else(|e| e.into_inner()) = Some((next, grants));
                    Ok(body)
                },
                move |statement| {
                    Box::pin(async move {
                        let Body::Rotate { epoch, .. } = statement.body() else {
                            return Err(Failure(ErrorCode::Internal, "not a rotation".into()));
                        };
                        let grants = made
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .as_ref()
                            .map(|(_, grants)| grants.clone())
                            .unwrap_or_default();
                        let body = RotateRequest {
                            expected_epoch: wire_epoch(epoch - 1)?,
                            public_key: statement_epoch_key(&statement),
                            grants,
                            statement: statement.as_str().to_owned(),
                        };
                        self.reached(self.api.rotate(at, team, &body).await)
                    })
                },
            )
            .await?;
        let (next, _) = made
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| Failure(ErrorCode::Internal, "no key was made".into()))?;
        ring.insert(next).map_err(crypto)?;
        let files = tokio::task::block_in_place(|| reencrypt_projects(dirs, team, &ring))?;
        self.replace_team_keyring(team, ring, generation);
        let missed = self.left_behind(team, rotated.epoch.into(), dirs);
        Ok(Response::Rotated {
            team,
            epoch: rotated.epoch,
            files,
            missed,
        })
    }
}

fn statement_epoch_key(statement: &Statement) -> String {
    match statement.body() {
        Body::Rotate { epoch_key, .. } => epoch_key.as_str().to_owned(),
        _ => String::new(),
    }
}

/// Re-encrypts every `.env*.enc` file at the roots of the projects in
/// `dirs` that are bound to `team`.
fn reencrypt_projects(
    dirs: &[std::path::PathBuf],
    team: Uuid,
    ring: &TeamKeyring,
) -> Result<usize, Failure> {
    let mut files = 0;
    for dir in dirs {
        let Some((root, file)) = project::find_root(dir) else {
            continue;
        };
        if file.team != team {
            continue;
        }
        for entry in std::fs::read_dir(&root)? {
            let name = entry?.file_name();
            let Some(env) = name.to_str().and_then(EnvName::from_file_name) else {
                continue;
            };
            edit::reencrypt(&root.join(Path::new(&name)), &env, ring)?;
            files += 1;
        }
    }
    Ok(files)
}
pub(super) fn team_info(team: &Team) -> TeamInfo {
    TeamInfo {
        id: team.id,
        name: team.name.clone(),
        role: team.role,
        current_epoch: team.current_epoch,
        rekey_required: team.rekey_required,
        max_staleness_secs: team.max_staleness_secs,
    }
}

impl Agent {
    pub(super) async fn create_team(&self, name: String) -> Outcome {
        self.name_is_free(&name).await?;
        let id = Uuid::new_v4();
        let epoch = EpochIdentity::generate(id, 1);
        let generation = self.generation();
        let at = self.session().await?;
        let (grant, genesis, signer) = {
            let inner = self.inner();
            let (me, email) = inner
                .account
                .as_ref()
                .map(|a| (a.user_id, a.email.clone()))
                .ok_or_else(Failure::no_account)?;
            let identity = inner
                .keys
                .as_ref()
                .and_then(|k| k.identity.as_ref())
                .ok_or_else(Failure::locked)?;
            let grant = epoch.grant_to(&identity.public_key()).map_err(crypto)?;
            let genesis = envv_core::chain::Draft {
                team: id,
                seq: 1,
                prev: envv_core::chain::Hash::ZERO,
                by: me,
                at: Utc::now().timestamp(),
                body: Body::Create {
                    email,
                    age: identity.public_key(),
                    signing: identity.verifying_key(),
                    epoch_key: epoch.public_key(),
                },
            }
            .sign(identity.signing_key());
            let signer = FileSigner {
                user: me,
                key: identity.signing_key().clone(),
            };
            (grant, genesis, signer)
        };
        let body = CreateTeamRequest {
            id,
            name,
            epoch_public_key: epoch.public_key().as_str().to_owned(),
            creator_grant: grant.as_str().to_owned(),
            statement: genesis.as_str().to_owned(),
        };
        let team = self.reached(self.api.create_team(&at, &body).await)?;
        let chain = TeamChain::verify(std::slice::from_ref(&genesis))
            .map_err(|e| super::chain::refused(id, &e))?;
        self.keep_chain(
            id,
            &Known {
                chain,
                texts: vec![genesis.as_str().to_owned()],
            },
        );
        let cached = CachedTeam {
            fetched_at: Utc::now(),
            current_epoch: 1,
            max_staleness_secs: Some(u64::from(team.max_staleness_secs)),
            grants: vec![CachedGrant {
                epoch: 1,
                grant: grant.as_str().to_owned(),
            }],
        };
        if let Err(e) = cached.save(&self.config.data_dir, id) {
            tracing::warn!(error = %e, "could not cache the team's grant for offline use");
        }
        let mut ring = TeamKeyring::new(epoch);
        ring.set_signer(signer);
        self.replace_team_keyring(id, ring, generation);
        Ok(Response::Team(team_info(&team)))
    }

    /// Two of one's teams with one name make `--team NAME` ambiguous.
    async fn name_is_free(&self, name: &str) -> Result<(), Failure> {
        let at = self.session().await?;
        let teams = self.reached(self.api.teams(&at).await)?;
        match teams
            .iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(name.trim()))
        {
            Some(taken) => Err(Failure(
                ErrorCode::Conflict,
                format!(
                    "you are already in a team named {:?} ({}); pick another name, or \
                     `envv team switch {}` to use that one",
                    taken.name, taken.id, taken.id
                ),
            )),
            None => Ok(()),
        }
    }

    pub(super) async fn rename_team(&self, team: Uuid, name: String) -> Outcome {
        self.name_is_free(&name).await?;
        let at = self.session().await?;
        let body = envv_api::RenameTeamRequest { name };
        let renamed = self.reached(self.api.rename_team(&at, team, &body).await)?;
        Ok(Response::Team(team_info(&renamed)))
    }

    /// Deletes the team on the control plane, then what this machine kept
    /// of it (its verified chain, its cached grants, its keyring).
    pub(super) async fn delete_team(&self, team: Uuid) -> Outcome {
        let at = self.session().await?;
        self.reached(self.api.delete_team(&at, team).await)?;
        self.forget_team(team);
        Ok(Response::Done)
    }

    pub(super) async fn list_teams(&self) -> Outcome {
        let at = self.session().await?;
        let teams = self.reached(self.api.teams(&at).await)?;
        Ok(Response::Teams {
            teams: teams.iter().map(team_info).collect(),
        })
    }
}
