//! Team requests that need the team key: invites bound to it, admitting
//! newcomers, removal and rotation.

use std::path::Path;

use envv_api::{
    AcceptInviteRequest, ChangeRoleRequest, CreateInviteRequest, Member, MemberGrant,
    PostGrantRequest, Role, RotateRequest, TeamSettings,
};
use proto_ipc::{ErrorCode, MemberInfo, Response, Secret};
use uuid::Uuid;

use super::ops_account::{crypto, team_info};
use super::pins::PinError;
use super::state::{Agent, Failure, Outcome};
use envv_core::crypto::{self, EpochIdentity, InviteCode, Newcomer, PublicKey, TeamKeyring};
use envv_core::envfile::{EnvName, edit};
use envv_core::project;

/// Epoch numbers are `u32` on the wire.
fn wire_epoch(epoch: u64) -> Result<u32, Failure> {
    u32::try_from(epoch).map_err(|_| {
        Failure(
            ErrorCode::Internal,
            format!("epoch {epoch} is out of range"),
        )
    })
}

impl Agent {
    pub(super) async fn members(&self, team: Uuid) -> Outcome {
        let at = self.session().await?;
        let members = self.reached(self.api.members(&at, team).await)?;
        // First sight pins each key, so a later swap is caught at rotation.
        let mut pins = self.pins();
        for m in &members {
            if pins.check(team, m.user_id, &m.identity_public_key).is_err() {
                tracing::warn!(team = %team, user = %m.user_id, "the control plane presents a member key other than the pinned one");
            }
        }
        drop(pins);
        Ok(Response::Members {
            members: members
                .into_iter()
                .map(|m| MemberInfo {
                    user_id: m.user_id,
                    email: m.email,
                    name: m.name,
                    role: m.role,
                    has_key: m.has_key,
                })
                .collect(),
        })
    }

    pub(super) async fn invite(&self, team: Uuid, email: String, role: Role) -> Outcome {
        let ring = self.keyring(team).await?;
        let code = InviteCode::generate();
        let sealed = crypto::seal_invite_secret(
            &code.secret,
            team,
            code.invite_id,
            &ring.current().public_key(),
        )
        .map_err(crypto)?;
        drop(ring);
        let body = CreateInviteRequest {
            id: code.invite_id,
            email,
            role,
            accept_token_hash: crypto::accept_token(&code.secret).server_hash(),
            sealed_secret: Some(sealed.0),
        };
        let at = self.session().await?;
        self.reached(self.api.invite(&at, team, &body).await)?;
        Ok(Response::InviteCode {
            code: Secret::new(code.to_code_string().as_str()),
            invite_id: code.invite_id,
        })
    }

    pub(super) async fn join(&self, code: &Secret) -> Outcome {
        let code = InviteCode::parse(code.expose()).map_err(crypto)?;
        let at = self.session().await?;
        let public_key = self
            .inner()
            .keys
            .as_ref()
            .and_then(|k| k.identity.as_ref())
            .map(|identity| identity.public_key())
            .ok_or_else(Failure::locked)?;
        let preview = self.reached(self.api.preview_invite(&at, code.invite_id).await)?;
        let proof =
            crypto::invite_proof(&code.secret, preview.team_id, code.invite_id, &public_key);
        let body = AcceptInviteRequest {
            accept_token: crypto::accept_token(&code.secret).to_base64().into(),
            proof: Some(proof.to_base64()),
        };
        let team = self.reached(self.api.accept_invite(&at, code.invite_id, &body).await)?;
        Ok(Response::Team(team_info(&team)))
    }

    /// Checks each newcomer's proof against the key the server presents and
    /// grants the current epoch only to those that verify.
    pub(super) async fn admit_pending(&self, team: Uuid) -> Outcome {
        let _one_at_a_time = self.admitting.lock().await;
        let ring = self.keyring(team).await?;
        let at = self.session().await?;
        let pending = self.reached(self.api.pending_grants(&at, team).await)?;
        let mut granted = 0;
        let mut refused = Vec::new();
        for newcomer in &pending {
            let checked = Newcomer {
                invite_id: newcomer.invite_id.unwrap_or_default(),
                identity_public_key: &newcomer.identity_public_key,
                sealed_secret: newcomer.sealed_secret.as_deref().unwrap_or_default(),
                proof: newcomer.proof.as_deref().unwrap_or_default(),
            };
            match crypto::admit(&checked, &ring) {
                Ok(grant) => {
                    self.pins()
                        .verified(team, newcomer.user_id, &newcomer.identity_public_key);
                    let body = PostGrantRequest {
                        user_id: newcomer.user_id,
                        epoch: wire_epoch(ring.current_epoch())?,
                        grant: grant.as_str().to_owned(),
                    };
                    let at = self.session().await?;
                    self.reached(self.api.grant(&at, team, &body).await)?;
                    granted += 1;
                }
                Err(e) => {
                    tracing::warn!(team = %team, user = %newcomer.user_id, error = %e, "refused to grant: the proof does not verify");
                    refused.push(newcomer.email.clone());
                }
            }
        }
        Ok(Response::Admitted { granted, refused })
    }

    /// What an admin's agent does on its own while unlocked. Not a use of
    /// the agent: it never pushes the idle lock back.
    pub(super) async fn admit_everywhere(&self) {
        if self.inner().keys.is_none() {
            return;
        }
        let Ok(at) = self.session().await else {
            return;
        };
        let Ok(teams) = self.reached(self.api.teams(&at).await) else {
            return;
        };
        for team in teams.iter().filter(|t| t.role >= Role::Admin) {
            if let Err(Failure(_, why)) = self.admit_pending(team.id).await {
                tracing::debug!(team = %team.id, reason = why, "could not admit pending members");
            }
        }
    }

    pub(super) async fn set_role(&self, team: Uuid, user: Uuid, role: Role) -> Outcome {
        let body = ChangeRoleRequest { role };
        let at = self.session().await?;
        self.reached(self.api.set_role(&at, team, user, &body).await)?;
        Ok(Response::Done)
    }

    pub(super) async fn set_team_settings(&self, team: Uuid, max_staleness_secs: u32) -> Outcome {
        let body = TeamSettings { max_staleness_secs };
        let at = self.session().await?;
        let updated = self.reached(self.api.set_settings(&at, team, &body).await)?;
        Ok(Response::Team(team_info(&updated)))
    }

    pub(super) async fn remove_member(&self, team: Uuid, user: Uuid) -> Outcome {
        let at = self.session().await?;
        self.reached(self.api.remove_member(&at, team, user).await)?;
        self.pins().forget(team, user);
        Ok(Response::Done)
    }

    /// A new epoch for exactly the current members, then the projects'
    /// files re-encrypted to it. If another admin rotated first, the server
    /// answers 409 and nothing changed.
    pub(super) async fn rotate(&self, team: Uuid, dirs: &[std::path::PathBuf]) -> Outcome {
        let generation = self.generation();
        let mut ring = TeamKeyring::clone(&*self.keyring(team).await?);
        let at = self.session().await?;
        let members: Vec<Member> = self.reached(self.api.members(&at, team).await)?;
        self.check_pins(team, &members)?;
        let expected = ring.team_epoch();
        let next = EpochIdentity::generate(team, expected + 1);
        let grants = members
            .iter()
            .map(|m| {
                let key: PublicKey = m.identity_public_key.parse().map_err(crypto)?;
                Ok(MemberGrant {
                    user_id: m.user_id,
                    grant: next.grant_to(&key).map_err(crypto)?.as_str().to_owned(),
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let body = RotateRequest {
            expected_epoch: wire_epoch(expected)?,
            public_key: next.public_key().as_str().to_owned(),
            grants,
        };
        let rotated = self.reached(self.api.rotate(&at, team, &body).await)?;
        ring.insert(next).map_err(crypto)?;
        let files = tokio::task::block_in_place(|| reencrypt_projects(dirs, team, &ring))?;
        self.replace_team_keyring(team, ring, generation);
        Ok(Response::Rotated {
            team,
            epoch: rotated.epoch,
            files,
        })
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

impl Agent {
    /// Refuses to encrypt a new team key to a member key other than the one
    /// this machine saw before (a member first seen now is pinned).
    fn check_pins(&self, team: Uuid, members: &[Member]) -> Result<(), Failure> {
        let mut pins = self.pins();
        for m in members {
            match pins.check(team, m.user_id, &m.identity_public_key) {
                Ok(()) => {}
                Err(PinError::Mismatch) => {
                    return Err(Failure(
                        ErrorCode::Crypto,
                        format!(
                            "the control plane presents a different identity key for {} than this \
                             machine saw before; a member's key never changes, so the server or its \
                             database has been tampered with. Nothing was rotated",
                            m.email
                        ),
                    ));
                }
                Err(PinError::Damaged) => {
                    return Err(Failure(
                        ErrorCode::Crypto,
                        format!(
                            "{} (the member keys this machine pinned) can't be read, so a swapped key \
                             would go unnoticed; nothing was rotated. Move the file away to start \
                             pinning afresh",
                            pins.path().display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
