//! Team requests that need the team key: invites bound to it, admitting
//! newcomers, removal and rotation.

use std::path::Path;

use envv_api::{Member, PendingGrant, Role, RotateResponse, Team};
use proto_ipc::{ErrorCode, MemberInfo, Response, Secret};
use serde_json::json;
use uuid::Uuid;

use super::ops_account::{block_on, crypto, team_info};
use super::pins::PinError;
use super::project;
use super::state::{Agent, Failure, Outcome};
use crate::crypto::{self, EpochIdentity, InviteCode, Newcomer, PublicKey, TeamKeyring};
use crate::envfile::{EnvName, edit};

fn role(name: &str) -> Result<Role, Failure> {
    name.parse().map_err(|_| {
        Failure(
            ErrorCode::Invalid,
            format!("unknown role {name:?}: use member, admin or owner"),
        )
    })
}

impl Agent {
    pub(super) fn members(&self, team: Uuid) -> Outcome {
        let members: Vec<Member> = self.with_session(|account, token, _| {
            block_on(
                self.api
                    .get(&account.server, &format!("/teams/{team}/members"), token),
            )
        })?;
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
                    role: m.role.as_str().to_owned(),
                    has_key: m.has_key,
                })
                .collect(),
        })
    }

    pub(super) fn invite(&self, team: Uuid, email: String, role_name: &str) -> Outcome {
        let role = role(role_name)?;
        let ring = self.team_keyring(team)?;
        let code = InviteCode::generate();
        let sealed = crypto::seal_invite_secret(
            &code.secret,
            team,
            code.invite_id,
            &ring.current().public_key(),
        )
        .map_err(crypto)?;
        let body = json!({
            "id": code.invite_id,
            "email": email,
            "role": role,
            "accept_token_hash": crypto::accept_token(&code.secret).server_hash(),
            "sealed_secret": sealed.0,
        });
        let _: envv_api::Invite = self.with_session(|account, token, _| {
            block_on(self.api.post(
                &account.server,
                &format!("/teams/{team}/invite"),
                Some(token),
                &body,
            ))
        })?;
        Ok(Response::InviteCode {
            code: Secret::new(code.to_code_string().as_str()),
            invite_id: code.invite_id,
        })
    }

    pub(super) fn join(&self, code: &Secret) -> Outcome {
        let code = InviteCode::parse(code.expose()).map_err(crypto)?;
        let team: Team = self.with_session(|account, token, keys| {
            let identity = keys.identity.as_ref().ok_or_else(|| {
                Failure(
                    ErrorCode::Locked,
                    "the agent is locked; run `envv unlock`".into(),
                )
            })?;
            let path = format!("/invites/{}", code.invite_id);
            let preview: envv_api::InvitePreview =
                block_on(self.api.get(&account.server, &path, token))?;
            let proof = crypto::invite_proof(
                &code.secret,
                preview.team_id,
                code.invite_id,
                &identity.public_key(),
            );
            let body = json!({
                "accept_token": crypto::accept_token(&code.secret).to_base64(),
                "proof": proof.to_base64(),
            });
            block_on(self.api.post(
                &account.server,
                &format!("{path}/accept"),
                Some(token),
                &body,
            ))
        })?;
        Ok(Response::Team(team_info(&team)))
    }

    /// Checks each newcomer's proof against the key the server presents and
    /// grants the current epoch only to those that verify.
    pub(super) fn admit_pending(&self, team: Uuid) -> Outcome {
        let ring = self.team_keyring(team)?;
        let pending: Vec<PendingGrant> = self.with_session(|account, token, _| {
            block_on(self.api.get(
                &account.server,
                &format!("/teams/{team}/grants/pending"),
                token,
            ))
        })?;
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
                    let body = json!({
                        "user_id": newcomer.user_id,
                        "epoch": ring.current_epoch(),
                        "grant": grant.as_str(),
                    });
                    self.with_session(|account, token, _| {
                        block_on(self.api.post_empty(
                            &account.server,
                            &format!("/teams/{team}/grants"),
                            Some(token),
                            &body,
                        ))
                    })?;
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

    /// What an admin's agent does on its own while unlocked.
    pub(super) fn admit_everywhere(&self) {
        let Ok(teams) = self.with_session(|account, token, _| {
            block_on(self.api.get::<Vec<Team>>(&account.server, "/teams", token))
        }) else {
            return;
        };
        for team in teams.iter().filter(|t| t.role >= Role::Admin) {
            if let Err(Failure(_, why)) = self.admit_pending(team.id) {
                tracing::debug!(team = %team.id, reason = why, "could not admit pending members");
            }
        }
    }

    pub(super) fn set_role(&self, team: Uuid, user: Uuid, role_name: &str) -> Outcome {
        let body = json!({ "role": role(role_name)? });
        let _: Member = self.with_session(|account, token, _| {
            block_on(self.api.put(
                &account.server,
                &format!("/teams/{team}/members/{user}/role"),
                token,
                &body,
            ))
        })?;
        Ok(Response::Done)
    }

    pub(super) fn set_team_settings(&self, team: Uuid, max_staleness_secs: u32) -> Outcome {
        let body = envv_api::TeamSettings { max_staleness_secs };
        let updated: Team = self.with_session(|account, token, _| {
            block_on(self.api.put(
                &account.server,
                &format!("/teams/{team}/settings"),
                token,
                &body,
            ))
        })?;
        Ok(Response::Team(team_info(&updated)))
    }

    pub(super) fn remove_member(&self, team: Uuid, user: Uuid) -> Outcome {
        self.with_session(|account, token, _| {
            block_on(self.api.delete(
                &account.server,
                &format!("/teams/{team}/members/{user}"),
                token,
            ))
        })?;
        self.pins().forget(team, user);
        Ok(Response::Done)
    }

    /// A new epoch for exactly the current members, then the projects'
    /// files re-encrypted to it. If another admin rotated first, the server
    /// answers 409 and nothing changed.
    pub(super) fn rotate(&self, team: Uuid, dirs: &[std::path::PathBuf]) -> Outcome {
        let mut ring = self.team_keyring(team)?;
        let members: Vec<Member> = self.with_session(|account, token, _| {
            block_on(
                self.api
                    .get(&account.server, &format!("/teams/{team}/members"), token),
            )
        })?;
        self.check_pins(team, &members)?;
        let expected = ring.team_epoch();
        let next = EpochIdentity::generate(team, expected + 1);
        let grants = members
            .iter()
            .map(|m| {
                let key: PublicKey = m.identity_public_key.parse().map_err(crypto)?;
                Ok(json!({ "user_id": m.user_id, "grant": next.grant_to(&key).map_err(crypto)?.as_str() }))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let body = json!({
            "expected_epoch": expected,
            "public_key": next.public_key().as_str(),
            "grants": grants,
        });
        let rotated: RotateResponse = self.with_session(|account, token, _| {
            block_on(self.api.post(
                &account.server,
                &format!("/teams/{team}/keys/rotate"),
                Some(token),
                &body,
            ))
        })?;
        ring.insert(next).map_err(crypto)?;
        let files = reencrypt_projects(dirs, team, &ring)?;
        self.replace_team_keyring(team, ring);
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
