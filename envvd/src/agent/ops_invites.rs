//! Invites: issuing and revoking them (statements in the team chain),
//! listing them from the chain, joining with a code, and admitting the
//! newcomers whose acceptance verifies against the invite.

use chrono::Utc;
use envv_api::{
    AcceptInviteRequest, CreateInviteRequest, PostGrantRequest, Role, StatementRequest,
};
use envv_core::chain::{Body, Hash, InviteState, TeamChain, acceptance};
use envv_core::crypto::{self, InviteCode, InviteSecret, SignatureBytes};
use proto_ipc::{ErrorCode, InviteInfo, Response, Secret};
use uuid::Uuid;

use super::ops_account::crypto;
use super::ops_team::team_info;
use super::ops_team::wire_epoch;
use super::state::{Agent, Failure, Outcome};

/// How long an invite stays valid.
const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;

impl Agent {
    pub(super) async fn invite(&self, team: Uuid, email: String, role: Role) -> Outcome {
        let secret = InviteSecret::generate();
        let token = crypto::accept_token(&secret);
        let proof_key = secret.proof_key().verifying_key();
        let invite = Uuid::new_v4();
        let (email, token) = (&email, &token);
        let at = self.session().await?;
        let at = &at;
        let (_, chain) = self
            .append(
                team,
                |_| {
                    let now = Utc::now().timestamp();
                    Ok(Body::Invite {
                        invite,
                        email: email.clone(),
                        role,
                        accept: Hash(token.digest()),
                        proof_key,
                        expires: now + INVITE_TTL_SECS,
                    })
                },
                move |statement| {
                    Box::pin(async move {
                        let body = CreateInviteRequest {
                            id: invite,
                            email: email.clone(),
                            role,
                            accept_token_hash: token.server_hash(),
                            statement: statement.as_str().to_owned(),
                        };
                        self.reached(self.api.invite(at, team, &body).await)
                    })
                },
            )
            .await?;
        let issued = chain
            .invites()
            .get(&invite)
            .ok_or_else(|| Failure(ErrorCode::Internal, "the invite is not in the chain".into()))?;
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&issued.statement.0[..16]);
        let code = InviteCode {
            invite_id: invite,
            team_id: team,
            statement: prefix,
            secret,
        };
        Ok(Response::InviteCode {
            code: Secret::new(code.to_code_string().as_str()),
            invite_id: invite,
        })
    }

    /// The team's invites as its verified chain records them.
    pub(super) async fn invites(&self, team: Uuid) -> Outcome {
        let chain = self.team_chain(team).await?;
        let now = Utc::now().timestamp();
        let email_of = |user: Uuid| {
            chain
                .member(user)
                .map(|m| m.email.clone())
                .or_else(|| chain.former(user).map(|f| f.email.clone()))
                .unwrap_or_else(|| user.to_string())
        };
        let mut invites: Vec<InviteInfo> = chain
            .invites()
            .values()
            .map(|i| InviteInfo {
                id: i.id,
                email: i.email.clone(),
                role: i.role,
                issued_by: email_of(i.issuer),
                expires_at: i.expires,
                state: match (i.state, chain.invite_void(i, now)) {
                    (InviteState::Consumed { .. }, _) => "used".into(),
                    (InviteState::Revoked, _) => "revoked".into(),
                    (_, None) => "open".into(),
                    (_, Some("has expired")) => "expired".into(),
                    (_, Some(why)) => why.trim_start_matches("was ").into(),
                },
            })
            .collect();
        invites.sort_by_key(|i| std::cmp::Reverse(i.expires_at));
        Ok(Response::Invites { invites })
    }

    /// Withdraws an open invite: a `revoke-invite` statement.
    pub(super) async fn revoke_invite(&self, team: Uuid, invite: Uuid) -> Outcome {
        let at = self.session().await?;
        let at = &at;
        self.append(
            team,
            |_| Ok(Body::RevokeInvite { invite }),
            move |statement| {
                Box::pin(async move {
                    let body = StatementRequest {
                        statement: statement.as_str().to_owned(),
                    };
                    self.reached(self.api.revoke_invite(at, team, invite, &body).await)
                })
            },
        )
        .await?;
        Ok(Response::Done)
    }

    /// Accepts an invite, after checking that the server shows the team
    /// and the history the code names, and that the invite in it is the
    /// one the code's secret belongs to.
    pub(super) async fn join(&self, code: &Secret) -> Outcome {
        let code = InviteCode::parse(code.expose()).map_err(|e| {
            Failure(
                ErrorCode::Invalid,
                format!("{e}; check that the whole code was copied"),
            )
        })?;
        let (me, identity) = self.me()?;
        let at = self.session().await?;
        let at = &at;
        let preview = match self.reached(self.api.preview_invite(at, code.invite_id).await) {
            Err(Failure(ErrorCode::NotFound, _)) => {
                return Err(Failure(
                    ErrorCode::NotFound,
                    "the control plane knows no invite of this code for your address: check you \
                     are logged in with the address it was sent to (`envv auth whoami`), or ask \
                     for a new one"
                        .into(),
                ));
            }
            other => other?,
        };
        let team = code.team_id;
        if preview.team_id != team {
            return Err(Failure(
                ErrorCode::Crypto,
                format!(
                    "the control plane says this invite is for team {}, but the code names team \
                     {team}: refused",
                    preview.team_id
                ),
            ));
        }
        let known = self.invite_chain(at, team, code.invite_id).await?;
        let chain = &known.chain;
        let other_history = || {
            Failure(
                ErrorCode::Crypto,
                "the control plane shows a history of the team other than the one this invite \
                 code was made in: refused, nothing was accepted"
                    .to_owned(),
            )
        };
        let issued = chain
            .invites()
            .get(&code.invite_id)
            .ok_or_else(other_history)?;
        if issued.statement.0[..16] != code.statement {
            return Err(other_history());
        }
        let token = crypto::accept_token(&code.secret);
        if issued.accept != Hash(token.digest())
            || issued.proof_key != code.secret.proof_key().verifying_key()
        {
            return Err(other_history());
        }
        if let Some(why) = chain.invite_void(issued, Utc::now().timestamp()) {
            return Err(Failure(
                ErrorCode::Invalid,
                format!("this invite {why}; ask an admin for a new one"),
            ));
        }
        let accepted = acceptance(
            team,
            code.invite_id,
            &issued.statement,
            me,
            &identity.public_key(),
            &identity.verifying_key(),
        );
        let body = AcceptInviteRequest {
            accept_token: token.to_base64().into(),
            proof: code.secret.proof_key().sign(&accepted).to_base64(),
            consent: identity.signing_key().sign(&accepted).to_base64(),
        };
        let joined = self.reached(self.api.accept_invite(at, code.invite_id, &body).await)?;
        // The code anchored this chain: later syncs extend it.
        self.keep_chain(team, &known);
        Ok(Response::Team(team_info(&joined)))
    }

    /// Admits each newcomer whose acceptance verifies against an invite in
    /// the chain that can still admit, and grants them the current key.
    pub(super) async fn admit_pending(&self, team: Uuid) -> Outcome {
        let _one_at_a_time = self.admitting.lock().await;
        let ring = self.current_keyring(team).await?;
        let at = self.session().await?;
        let at = &at;
        let pending = self.reached(self.api.pending_grants(at, team).await)?;
        let ring = &ring;
        let mut granted = 0;
        let mut refused_emails = Vec::new();
        for newcomer in &pending {
            let admitted = self
                .append(
                    team,
                    |chain| admit_body(chain, newcomer),
                    move |statement| {
                        Box::pin(async move {
                            if ring.current_epoch() != ring.team_epoch() {
                                return Err(Failure(
                                    ErrorCode::Locked,
                                    "this agent does not hold the team's current key".into(),
                                ));
                            }
                            let Body::Admit { age, .. } = statement.body() else {
                                return Err(Failure(ErrorCode::Internal, "not an admit".into()));
                            };
                            let grant = ring.current().grant_to(age).map_err(crypto)?;
                            let body = PostGrantRequest {
                                user_id: newcomer.user_id,
                                epoch: wire_epoch(ring.current_epoch())?,
                                grant: grant.as_str().to_owned(),
                                statement: statement.as_str().to_owned(),
                            };
                            let at = self.session().await?;
                            let at = &at;
                            self.reached(self.api.grant(at, team, &body).await)
                        })
                    },
                )
                .await;
            match admitted {
                Ok(_) => granted += 1,
                Err(Failure(_, why)) => {
                    tracing::warn!(team = %team, user = %newcomer.user_id, reason = why, "refused to admit");
                    refused_emails.push(format!("{} ({why})", newcomer.email));
                }
            }
        }
        Ok(Response::Admitted {
            granted,
            refused: refused_emails,
        })
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
            self.checkpoint_due(team.id).await;
        }
    }
}

/// The admit statement for one newcomer, if the chain lets them in.
fn admit_body(chain: &TeamChain, newcomer: &envv_api::PendingGrant) -> Result<Body, Failure> {
    let invalid = |why: String| Failure(ErrorCode::Crypto, why);
    let invite = newcomer
        .invite_id
        .ok_or_else(|| invalid("the server names no invite for them".into()))?;
    let issued = chain
        .invites()
        .get(&invite)
        .ok_or_else(|| invalid("no admin issued the invite the server names".into()))?;
    if let Some(why) = chain.invite_void(issued, Utc::now().timestamp()) {
        return Err(Failure(ErrorCode::Invalid, format!("their invite {why}")));
    }
    if issued.state != InviteState::Open {
        return Err(Failure(ErrorCode::Invalid, "their invite was used".into()));
    }
    let age = newcomer
        .identity_public_key
        .parse()
        .map_err(|_| invalid("their key is not a key".into()))?;
    let signing = newcomer
        .signing_public_key
        .parse()
        .map_err(|_| invalid("their signing key is not a key".into()))?;
    let signature = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| SignatureBytes::from_base64(s).ok())
            .ok_or_else(|| invalid("their acceptance is missing or malformed".into()))
    };
    Ok(Body::Admit {
        invite,
        user: newcomer.user_id,
        age,
        signing,
        proof: signature(&newcomer.proof)?,
        consent: signature(&newcomer.consent)?,
    })
}
