//! A client that does what the agent does, with envv's real crypto: derive
//! keys from a password, sign up, make teams and epochs, invite, join,
//! admit newcomers, rotate. The server under test sees exactly what a real
//! client would send.

use envv_api::Role;
use envv_core::chain::{Body, ChainError, Statement, TeamChain};
use envv_core::crypto::{
    self, EpochIdentity, Grant, InviteCode, KdfParams, KdfParamsExt, TeamKeyring, UserIdentity,
    WrappedIdentity, derive_keys,
};
use envv_core::secret::Password;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestServer, TestUser, chain};

/// Someone with a password and an identity that never left this process.
pub struct Person {
    pub user: TestUser,
    pub password: String,
    pub identity: UserIdentity,
}

/// Cheap but valid parameters (the server refuses anything under 8 MiB).
fn kdf() -> KdfParams {
    KdfParams::generate_with(8 * 1024, 1, 1)
}

impl TestServer {
    /// Signs up with `password`, as `envv auth signup` would.
    pub async fn person_with(&self, email: &str, password: &str) -> Person {
        let params = kdf();
        let keys = derive_keys(&Password::from(password), &params).expect("derive");
        let identity = UserIdentity::generate();
        let wrapped = identity.wrap(&keys.wrap_key);
        let body = json!({
            "email": email,
            "name": "Person",
            "auth_key": keys.auth_key.to_base64(),
            "identity_public_key": identity.public_key().as_str(),
            "signing_public_key": identity.verifying_key().to_hex(),
            "wrapped_identity": wrapped.as_str(),
            "kdf": serde_json::to_value(&params).expect("kdf json"),
        });
        let (status, session) = self.post("/auth/signup", None, body).await;
        assert_eq!(status, 201, "signup: {session}");
        Person {
            user: session_user(&session, email),
            password: password.to_owned(),
            identity,
        }
    }

    pub async fn person(&self, tag: &str) -> Person {
        let password = format!("pw-{}", Uuid::new_v4());
        self.person_with(&super::unique_email(tag), &password).await
    }

    /// Logs in from scratch: prelogin, derive, login, unwrap the identity.
    pub async fn log_in(&self, email: &str, password: &str) -> Person {
        let (status, pre) = self
            .post("/auth/prelogin", None, json!({ "email": email }))
            .await;
        assert_eq!(status, 200, "prelogin: {pre}");
        let params: KdfParams = serde_json::from_value(pre["kdf"].clone()).expect("kdf");
        let keys = derive_keys(&Password::from(password), &params).expect("derive");
        let (status, session) = self
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "auth_key": keys.auth_key.to_base64() }),
            )
            .await;
        assert_eq!(status, 200, "login: {session}");
        let wrapped = WrappedIdentity::parse(session["wrapped_identity"].as_str().expect("blob"))
            .expect("wrapped identity");
        Person {
            user: session_user(&session, email),
            password: password.to_owned(),
            identity: wrapped.unwrap(&keys.wrap_key).expect("unwrap identity"),
        }
    }

    /// Creates a team at epoch 1, granting its key to the creator, with
    /// the chain's first statement.
    pub async fn found_team(&self, owner: &Person, name: &str) -> (Uuid, TeamKeyring) {
        let team = Uuid::new_v4();
        let epoch = EpochIdentity::generate(team, 1);
        let grant = epoch.grant_to(&owner.identity.public_key()).expect("grant");
        let genesis = chain::genesis(team, owner, epoch.public_key());
        let body = json!({
            "id": team,
            "name": name,
            "epoch_public_key": epoch.public_key().as_str(),
            "creator_grant": grant.as_str(),
            "statement": genesis.as_str(),
        });
        let (status, created) = self.post("/teams", Some(&owner.user.access), body).await;
        assert_eq!(status, 201, "create team: {created}");
        (team, TeamKeyring::new(epoch))
    }

    /// The member's keyring from their grants, or the HTTP status that refused it.
    pub async fn keyring(&self, person: &Person, team: Uuid) -> Result<TeamKeyring, (u16, Value)> {
        let (status, keys) = self
            .get(&format!("/teams/{team}/keys"), &person.user.access)
            .await;
        if status != 200 {
            return Err((status, keys));
        }
        let grants: Vec<(u64, Grant)> = keys["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .map(|g| {
                let epoch = g["epoch"].as_u64().expect("epoch");
                (
                    epoch,
                    Grant::parse(g["grant"].as_str().expect("grant")).expect("grant shape"),
                )
            })
            .collect();
        let mut ring =
            TeamKeyring::from_grants(&person.identity, team, grants.iter().map(|(e, g)| (*e, g)))
                .expect("grants open")
                .ok_or((status, keys.clone()))?;
        ring.note_team_epoch(keys["current_epoch"].as_u64().expect("current epoch"));
        Ok(ring)
    }

    /// Invites `email` with the admin's signed `invite` statement; the code
    /// names the statement.
    pub async fn invite_with_code(
        &self,
        team: Uuid,
        admin: &Person,
        _ring: &TeamKeyring,
        email: &str,
        role: Role,
    ) -> InviteCode {
        let (body, invite) = self.invite_body(team, admin, email, role).await;
        let (status, answer) = self
            .post(
                &format!("/teams/{team}/invite"),
                Some(&admin.user.access),
                body,
            )
            .await;
        assert_eq!(status, 201, "invite: {answer}");
        let mut statement = [0u8; 16];
        statement.copy_from_slice(&invite.issued.statement.0[..16]);
        InviteCode {
            invite_id: invite.id,
            team_id: team,
            statement,
            secret: invite.issued.secret,
        }
    }

    /// Joins with a code as a client does: looks at the invite, reads and
    /// verifies the team's chain up to the invite statement the code names,
    /// and accepts with both signatures of its keys.
    pub async fn join(&self, person: &Person, code: &InviteCode) -> Uuid {
        let path = format!("/invites/{}", code.invite_id);
        let (status, preview) = self.get(&path, &person.user.access).await;
        assert_eq!(status, 200, "preview: {preview}");
        let team: Uuid = preview["team_id"]
            .as_str()
            .expect("team")
            .parse()
            .expect("uuid");
        assert_eq!(team, code.team_id);
        let (status, page) = self
            .get(&format!("{path}/chain"), &person.user.access)
            .await;
        assert_eq!(status, 200, "invite chain: {page}");
        let statements: Vec<Statement> = page["statements"]
            .as_array()
            .expect("statements")
            .iter()
            .map(|t| Statement::parse(t.as_str().expect("text")).expect("statement"))
            .collect();
        let chain = TeamChain::verify(&statements).expect("the chain verifies");
        let invite = &chain.invites()[&code.invite_id];
        assert_eq!(
            invite.statement.0[..16],
            code.statement,
            "the code names this invite"
        );
        let issued = chain::IssuedInvite {
            id: code.invite_id,
            team,
            email: invite.email.clone(),
            role: invite.role,
            secret: code.secret.clone(),
            statement: invite.statement,
        };
        let (proof, consent) = issued.acceptance(person);
        let body = json!({
            "accept_token": issued.accept_token(),
            "proof": proof,
            "consent": consent,
        });
        let (status, joined) = self
            .post(&format!("{path}/accept"), Some(&person.user.access), body)
            .await;
        assert_eq!(status, 200, "accept: {joined}");
        team
    }

    /// What an admin's agent does on its own: check every newcomer's
    /// acceptance against the chain (by applying their `admit` statement to
    /// it), and post the statement with their grant. Returns how many were
    /// admitted and the refusals.
    pub async fn admit_pending(
        &self,
        team: Uuid,
        admin: &Person,
        ring: &TeamKeyring,
    ) -> (usize, Vec<ChainError>) {
        let (status, pending) = self
            .get(&format!("/teams/{team}/grants/pending"), &admin.user.access)
            .await;
        assert_eq!(status, 200, "pending: {pending}");
        let mut granted = 0;
        let mut refused = Vec::new();
        for p in pending.as_array().expect("pending list") {
            let statement = self.admit_statement(team, admin, p).await;
            let mut chain = self.chain(team, &admin.user.access).await;
            if let Err(e) = chain.apply(&statement) {
                refused.push(e);
                continue;
            }
            let key: crypto::PublicKey = p["identity_public_key"]
                .as_str()
                .expect("key")
                .parse()
                .expect("recipient");
            let grant = ring.current().grant_to(&key).expect("grant");
            let body = json!({
                "user_id": p["user_id"],
                "epoch": ring.current_epoch(),
                "grant": grant.as_str(),
                "statement": statement.as_str(),
            });
            let (status, answer) = self
                .post(
                    &format!("/teams/{team}/grants"),
                    Some(&admin.user.access),
                    body,
                )
                .await;
            assert_eq!(status, 204, "post grant: {answer}");
            granted += 1;
        }
        (granted, refused)
    }

    /// Invites, joins and admits in one go.
    pub async fn bring_in(
        &self,
        team: Uuid,
        admin: &Person,
        ring: &TeamKeyring,
        person: &Person,
        role: Role,
    ) {
        let code = self
            .invite_with_code(team, admin, ring, &person.user.email, role)
            .await;
        self.join(person, &code).await;
        let (granted, refused) = self.admit_pending(team, admin, ring).await;
        assert!(
            refused.is_empty() && granted >= 1,
            "admit: {granted} granted, {refused:?}"
        );
    }

    /// A rotation body: a fresh epoch key wrapped for every member of the
    /// verified chain, with the `rotate` statement.
    pub async fn prepare_rotation(
        &self,
        team: Uuid,
        admin: &Person,
        expected: u64,
    ) -> (EpochIdentity, Value) {
        let chain = self.chain(team, &admin.user.access).await;
        let next = EpochIdentity::generate(team, expected + 1);
        let grants: Vec<Value> = chain
            .members()
            .values()
            .map(|m| {
                json!({ "user_id": m.user, "grant": next.grant_to(&m.age).expect("grant").as_str() })
            })
            .collect();
        let statement = chain
            .draft(
                admin.user.id,
                chain::unix_now(),
                Body::Rotate {
                    epoch: expected + 1,
                    epoch_key: next.public_key(),
                    members: chain.member_set_hash(),
                },
            )
            .sign(admin.identity.signing_key());
        let body = json!({
            "expected_epoch": expected,
            "public_key": next.public_key().as_str(),
            "grants": grants,
            "statement": statement.as_str(),
        });
        (next, body)
    }

    /// `count` rotation bodies in a row from epoch `expected`, each made at
    /// the head the one before it leaves (the chain is advanced here, as the
    /// client would once each was accepted).
    pub async fn prepare_rotations(
        &self,
        team: Uuid,
        admin: &Person,
        expected: u64,
        count: u64,
    ) -> Vec<Value> {
        let mut chain = self.chain(team, &admin.user.access).await;
        let mut bodies = Vec::new();
        for expected in expected..expected + count {
            let next = EpochIdentity::generate(team, expected + 1);
            let grants: Vec<Value> = chain
                .members()
                .values()
                .map(|m| {
                    json!({ "user_id": m.user, "grant": next.grant_to(&m.age).expect("grant").as_str() })
                })
                .collect();
            let statement = chain
                .draft(
                    admin.user.id,
                    chain::unix_now(),
                    Body::Rotate {
                        epoch: expected + 1,
                        epoch_key: next.public_key(),
                        members: chain.member_set_hash(),
                    },
                )
                .sign(admin.identity.signing_key());
            chain.apply(&statement).expect("the rotation follows");
            bodies.push(json!({
                "expected_epoch": expected,
                "public_key": next.public_key().as_str(),
                "grants": grants,
                "statement": statement.as_str(),
            }));
        }
        bodies
    }

    /// Rotates from `ring`'s epoch; on success the new key joins the ring.
    pub async fn rotate(&self, team: Uuid, admin: &Person, ring: &mut TeamKeyring) -> (u16, Value) {
        let (next, body) = self
            .prepare_rotation(team, admin, ring.current_epoch())
            .await;
        let (status, answer) = self
            .post(
                &format!("/teams/{team}/keys/rotate"),
                Some(&admin.user.access),
                body,
            )
            .await;
        if status == 200 {
            ring.insert(next).expect("same team");
        }
        (status, answer)
    }
}

fn session_user(session: &Value, email: &str) -> TestUser {
    TestUser {
        id: session["user"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid"),
        email: email.to_owned(),
        access: session["tokens"]["access_token"]
            .as_str()
            .expect("access")
            .to_owned(),
        refresh: session["tokens"]["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        // A Person logs in with its password (see `log_in`), never with these.
        creds: super::Credentials::random(email),
    }
}
