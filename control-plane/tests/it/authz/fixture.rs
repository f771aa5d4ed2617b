//! The matrix's fixture: one team with every role, accounts outside it,
//! forged tokens, and how each row builds its request.

use super::*;

/// One request, ready to send.
pub(crate) struct Call {
    pub(crate) path: String,
    pub(crate) token: Option<String>,
    pub(crate) body: Option<Value>,
}

/// One team with an owner, an admin and a member; an account outside it;
/// a host who owns another team; and the forged tokens, all claiming to be
/// the owner (so any that were accepted would have the most power).
pub(crate) struct Fixture {
    pub(crate) server: TestServer,
    pub(crate) team: Uuid,
    pub(crate) owner: TestUser,
    pub(crate) admin: TestUser,
    pub(crate) member: TestUser,
    pub(crate) outsider: TestUser,
    /// Owns `elsewhere` and creates the side teams of the accept rows.
    pub(crate) host: TestUser,
    pub(crate) elsewhere: Uuid,
    /// Logs in for the session rows, so no principal's session is touched.
    pub(crate) account: TestUser,
    pub(crate) expired: String,
    pub(crate) tampered: String,
    pub(crate) alg_none: String,
}

pub(crate) fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

pub(crate) fn claims(user: Uuid, issued: i64, expires: i64) -> Value {
    json!({
        "iss": "envv-control-plane",
        "aud": "envv",
        "sub": user,
        "iat": issued,
        "exp": expires,
        "typ": "access",
        "sid": Uuid::new_v4(),
    })
}

/// Signed with the test server's own key, as the server signs.
pub(crate) fn signed_token(server: &TestServer, claims: &Value) -> String {
    let key = &server.state.config.signing_key;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.secret())).expect("sign")
}

pub(crate) fn expired_token(server: &TestServer, user: Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    signed_token(server, &claims(user, now - 7200, now - 3600))
}

pub(crate) fn alg_none_token(server: &TestServer, user: Uuid) -> String {
    let now = chrono::Utc::now().timestamp();
    let header =
        json!({ "alg": "none", "typ": "JWT", "kid": server.state.config.signing_key.kid() });
    format!(
        "{}.{}.",
        b64_json(&header),
        b64_json(&claims(user, now, now + 600))
    )
}

/// A valid token whose payload has one character changed: the first digit
/// of `exp`, as someone stretching their token's life would.
pub(crate) fn tampered_token(valid: &str) -> String {
    let parts: Vec<&str> = valid.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let payload =
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("utf-8");
    let at = payload.find("\"exp\":").expect("exp claim") + "\"exp\":".len();
    let digit = payload.as_bytes()[at];
    assert!(
        digit.is_ascii_digit() && digit < b'9',
        "exp starts with a digit below 9"
    );
    let mut changed = payload.into_bytes();
    changed[at] = digit + 1;
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed),
        parts[2]
    )
}

impl Fixture {
    pub(crate) async fn new(backend: Backend) -> Fixture {
        let server = TestServer::start(backend).await;
        let owner = server.signup(&unique_email("owner")).await;
        let admin = server.signup(&unique_email("admin")).await;
        let member = server.signup(&unique_email("member")).await;
        let outsider = server.signup(&unique_email("outsider")).await;
        let host = server.signup(&unique_email("host")).await;
        let account = server.signup(&unique_email("account")).await;
        let team = server.create_team(&owner, "Matrix").await;
        server.add_member(team, &owner, &admin, Role::Admin).await;
        server.add_member(team, &owner, &member, Role::Member).await;
        let elsewhere = server.create_team(&host, "Elsewhere").await;
        // The forging is right: the same token with a live `exp` is accepted,
        // so the refusals below are for the defect each forgery carries.
        let now = chrono::Utc::now().timestamp();
        let control = signed_token(&server, &claims(owner.id, now, now + 600));
        assert_eq!(
            server.get("/me", &control).await.0,
            200,
            "a correctly forged token must pass"
        );
        let expired = expired_token(&server, owner.id);
        let tampered = tampered_token(&owner.access);
        let alg_none = alg_none_token(&server, owner.id);
        Fixture {
            server,
            team,
            owner,
            admin,
            member,
            outsider,
            host,
            elsewhere,
            account,
            expired,
            tampered,
            alg_none,
        }
    }

    /// The account a caller is, or claims to be.
    pub(crate) fn identity(&self, who: Who) -> &TestUser {
        match who {
            Who::NonMember => &self.outsider,
            Who::Member => &self.member,
            Who::Admin => &self.admin,
            _ => &self.owner,
        }
    }

    pub(crate) fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Anonymous => None,
            Who::Expired => Some(self.expired.clone()),
            Who::Tampered => Some(self.tampered.clone()),
            Who::AlgNone => Some(self.alg_none.clone()),
            Who::RefreshAsAccess => Some(self.owner.refresh.clone()),
            _ => Some(self.identity(who).access.clone()),
        }
    }

    /// A new account holding `role` in the fixture team.
    pub(crate) async fn fresh_member(&self, role: Role) -> TestUser {
        let user = self.server.signup(&unique_email("target")).await;
        self.server
            .add_member(self.team, &self.owner, &user, role)
            .await;
        user
    }

    /// A fresh refresh token of `account`'s, from a new login.
    pub(crate) async fn fresh_refresh_token(&self) -> String {
        let (status, session) = self
            .server
            .post("/auth/login", None, self.account.creds.login_body())
            .await;
        assert_eq!(status, 200, "login for a fresh session: {session}");
        session["tokens"]["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned()
    }

    /// A new team whose one owner is the fixture's owner, with the
    /// fixture's admin and member in their roles and the outsider out.
    pub(crate) async fn solo_team(&self) -> Uuid {
        let solo = self.server.create_team(&self.owner, "Solo").await;
        self.server
            .add_member(solo, &self.owner, &self.admin, Role::Admin)
            .await;
        self.server
            .add_member(solo, &self.owner, &self.member, Role::Member)
            .await;
        solo
    }

    pub(crate) async fn prepare(&self, row: &Row, who: Who) -> Call {
        let team = self.team;
        let at = |path: String| Call {
            path,
            token: self.token(who),
            body: None,
        };
        let with = |path: String, body: Value| Call {
            path,
            token: self.token(who),
            body: Some(body),
        };
        match row.case {
            Case::NoBody => at(row.pattern.replace("{team}", &team.to_string())),
            Case::NoSuchTeam => at(row.pattern.replace("{team}", &Uuid::new_v4().to_string())),
            Case::Prelogin => with(row.pattern.into(), json!({ "email": self.account.email })),
            Case::Signup => with(
                row.pattern.into(),
                Credentials::random(&unique_email("signup")).signup_body(),
            ),
            Case::Login => with(row.pattern.into(), self.account.creds.login_body()),
            Case::Refresh | Case::Logout => {
                let refresh = self.fresh_refresh_token().await;
                with(row.pattern.into(), json!({ "refresh_token": refresh }))
            }
            Case::ChangePassword => {
                let creds = &self.identity(who).creds;
                with(
                    row.pattern.into(),
                    json!({
                        "current_auth_key": creds.auth_key,
                        "new_auth_key": creds.auth_key,
                        "wrapped_identity": creds.wrapped_identity,
                        "kdf": creds.kdf,
                    }),
                )
            }
            Case::CreateTeam => with(
                row.pattern.into(),
                common::team_body(self.identity(who), "Created"),
            ),
            Case::Invite(role) => {
                let (statement, issued) = self
                    .server
                    .invite_statement_at(
                        team,
                        &self.owner.access,
                        self.identity(who),
                        &unique_email("invitee"),
                        role,
                    )
                    .await;
                let body = self.server.invite_request(&statement, &issued);
                with(format!("/teams/{team}/invite"), body)
            }
            Case::RevokeInvite => {
                let invite = self
                    .server
                    .invite(team, &self.owner, &unique_email("revokee"), Role::Member)
                    .await;
                let body = self
                    .statement(team, who, Body::RevokeInvite { invite: invite.id })
                    .await;
                with(format!("/teams/{team}/invites/{}", invite.id), body)
            }
            Case::RevokeForeignInvite => {
                let invite = self
                    .server
                    .invite(
                        self.elsewhere,
                        &self.host,
                        &unique_email("foreign"),
                        Role::Member,
                    )
                    .await;
                let body = self
                    .statement(team, who, Body::RevokeInvite { invite: invite.id })
                    .await;
                with(format!("/teams/{team}/invites/{}", invite.id), body)
            }
            Case::Remove(role) => {
                let target = self.fresh_member(role).await;
                let body = self
                    .statement(team, who, Body::Remove { user: target.id })
                    .await;
                with(format!("/teams/{team}/members/{}", target.id), body)
            }
            Case::RemoveForeign => {
                let body = self
                    .statement(team, who, Body::Remove { user: self.host.id })
                    .await;
                with(format!("/teams/{team}/members/{}", self.host.id), body)
            }
            Case::Leave => match who.role() {
                Some(role) => {
                    let me = self.fresh_member(role).await;
                    let statement = self
                        .server
                        .sign(team, &me, Body::Remove { user: me.id })
                        .await;
                    Call {
                        path: format!("/teams/{team}/members/{}", me.id),
                        token: Some(me.access),
                        body: Some(json!({ "statement": statement.as_str() })),
                    }
                }
                None => {
                    let me = self.identity(who).id;
                    let body = self.statement(team, who, Body::Remove { user: me }).await;
                    with(format!("/teams/{team}/members/{me}"), body)
                }
            },
            Case::LastOwnerLeaves => {
                let solo = self.solo_team().await;
                let body = self
                    .statement(
                        solo,
                        who,
                        Body::Remove {
                            user: self.owner.id,
                        },
                    )
                    .await;
                with(format!("/teams/{solo}/members/{}", self.owner.id), body)
            }
            Case::ChangeRole { from, to } => {
                let target = self.fresh_member(from).await;
                let mut body = self
                    .statement(
                        team,
                        who,
                        Body::Role {
                            user: target.id,
                            role: to,
                        },
                    )
                    .await;
                body["role"] = json!(to);
                with(format!("/teams/{team}/members/{}/role", target.id), body)
            }
            Case::ChangeForeignRole => {
                let mut body = self
                    .statement(
                        team,
                        who,
                        Body::Role {
                            user: self.host.id,
                            role: Role::Admin,
                        },
                    )
                    .await;
                body["role"] = json!(Role::Admin);
                with(format!("/teams/{team}/members/{}/role", self.host.id), body)
            }
            Case::LastOwnerStepsDown => {
                let solo = self.solo_team().await;
                let mut body = self
                    .statement(
                        solo,
                        who,
                        Body::Role {
                            user: self.owner.id,
                            role: Role::Admin,
                        },
                    )
                    .await;
                body["role"] = json!(Role::Admin);
                with(
                    format!("/teams/{solo}/members/{}/role", self.owner.id),
                    body,
                )
            }
            Case::Accept(kind) => self.prepare_accept(kind, who).await,
            Case::Preview(kind) => {
                let accept = self.prepare_accept(kind, who).await;
                Call {
                    path: accept.path.trim_end_matches("/accept").to_owned(),
                    token: accept.token,
                    body: None,
                }
            }
            Case::InviteChain(kind) => {
                let accept = self.prepare_accept(kind, who).await;
                Call {
                    path: accept.path.replace("/accept", "/chain"),
                    token: accept.token,
                    body: None,
                }
            }
            Case::Grant => {
                let target = self.server.signup(&unique_email("newcomer")).await;
                self.server
                    .add_pending(team, &self.owner, &target, Role::Member)
                    .await;
                let pending = self
                    .server
                    .pending_entry(team, &self.owner, target.id)
                    .await;
                let statement = self
                    .server
                    .admit_statement_at(team, &self.owner.access, self.identity(who), &pending)
                    .await;
                with(
                    format!("/teams/{team}/grants"),
                    json!({
                        "user_id": target.id,
                        "epoch": 1,
                        "grant": random_b64(200),
                        "statement": statement.as_str(),
                    }),
                )
            }
            Case::GrantForeign => {
                let keys = &self.host.creds.identity;
                let signature =
                    SignatureBytes::from_base64(&keys.signing_key().sign(b"stray").to_base64())
                        .expect("signature");
                let mut body = self
                    .statement(
                        team,
                        who,
                        Body::Admit {
                            invite: Uuid::new_v4(),
                            user: self.host.id,
                            age: keys.public_key(),
                            signing: keys.verifying_key(),
                            proof: signature,
                            consent: signature,
                        },
                    )
                    .await;
                body["user_id"] = json!(self.host.id);
                body["epoch"] = json!(1);
                body["grant"] = json!(random_b64(200));
                with(format!("/teams/{team}/grants"), body)
            }
            Case::Rotate | Case::RotateStale => {
                let solo = self.solo_team().await;
                let expected = if matches!(row.case, Case::Rotate) {
                    1
                } else {
                    0
                };
                let body = self
                    .server
                    .rotation_body(solo, &self.owner.access, self.identity(who), expected)
                    .await;
                with(format!("/teams/{solo}/keys/rotate"), body)
            }
            Case::Ingest => {
                let event = |action: &str| {
                    json!({
                        "id": Uuid::new_v4(),
                        "action": action,
                        "occurred_at": chrono::Utc::now(),
                        "secret_names": ["DATABASE_URL"],
                    })
                };
                with(
                    format!("/teams/{team}/audit"),
                    json!({ "events": [event("decrypt"), event("exec")] }),
                )
            }
            Case::Exposure => at(format!("/teams/{team}/members/{}/exposure", self.member.id)),
            Case::Billing => with(
                format!("/teams/{team}/billing"),
                json!({ "plan": "pro", "billing_email": "billing@example.com" }),
            ),
            Case::Rename => with(format!("/teams/{team}/name"), json!({ "name": "Renamed" })),
            Case::DeleteTeam => {
                let solo = self.solo_team().await;
                at(format!("/teams/{solo}"))
            }
            Case::Checkpoint => {
                let last = common::audit::export(&self.server, team, &self.owner)
                    .await
                    .pop()
                    .expect("the team's trail has its creation");
                let body = Body::Checkpoint {
                    audit_seq: last.chain_seq as u64,
                    audit_head: envv_core::chain::Hash::from_hex(&last.hash).unwrap(),
                };
                with(
                    format!("/teams/{team}/chain"),
                    self.statement(team, who, body).await,
                )
            }
            Case::Settings => {
                let mut body = self
                    .statement(
                        team,
                        who,
                        Body::Settings {
                            max_staleness_secs: 3600,
                        },
                    )
                    .await;
                body["max_staleness_secs"] = json!(3600);
                with(format!("/teams/{team}/settings"), body)
            }
        }
    }

    /// `{"statement": …}` saying `body`, signed by the caller (the account
    /// it is or claims to be) at the team's head as its owner sees it.
    pub(crate) async fn statement(&self, team: Uuid, who: Who, body: Body) -> Value {
        let viewer = if team == self.elsewhere {
            &self.host.access
        } else {
            &self.owner.access
        };
        let statement = self
            .server
            .sign_at(team, viewer, self.identity(who), body)
            .await;
        json!({ "statement": statement.as_str() })
    }

    /// Each accept row gets a side team of its own, so accepting never
    /// changes the fixture team.
    pub(crate) async fn prepare_accept(&self, kind: AcceptCase, who: Who) -> Call {
        let me = self.identity(who);
        let side = self.server.create_team(&self.host, "Side").await;
        let addressee = match kind {
            AcceptCase::SomeoneElses => unique_email("someone"),
            _ => me.email.clone(),
        };
        let invite = self
            .server
            .invite(side, &self.host, &addressee, Role::Member)
            .await;
        let path = format!("/invites/{}/accept", invite.id);
        let (path, token) = match kind {
            AcceptCase::Own | AcceptCase::SomeoneElses => (path, invite.accept_token.clone()),
            AcceptCase::WrongToken => (path, random_b64(32)),
            AcceptCase::Unknown => (
                format!("/invites/{}/accept", Uuid::new_v4()),
                invite.accept_token.clone(),
            ),
            AcceptCase::Revoked => {
                let (status, body) = self.server.revoke(side, &self.host, invite.id).await;
                assert_eq!(status, 204, "revoke for the accept row: {body}");
                (path, invite.accept_token.clone())
            }
            AcceptCase::Spent => {
                let (status, body) = self.server.accept(&invite, me).await;
                assert_eq!(status, 200, "first accept for the spent row: {body}");
                (path, invite.accept_token.clone())
            }
        };
        let mut body = invite.accept_body(me);
        body["accept_token"] = json!(token);
        Call {
            path,
            token: self.token(who),
            body: Some(body),
        }
    }
}
