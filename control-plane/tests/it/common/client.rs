//! A client that does what the agent does, with envv's real crypto: derive
//! keys from a password, sign up, make teams and epochs, invite, join,
//! admit newcomers, rotate. The server under test sees exactly what a real
//! client would send.

use envv_api::Role;
use envv_core::crypto::{
    self, EpochIdentity, Grant, InviteCode, KdfParams, KdfParamsExt, Newcomer, TeamKeyring,
    UserIdentity, WrappedIdentity, derive_keys,
};
use envv_core::secret::Password;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestServer, TestUser};

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

    /// Creates a team at epoch 1, granting its key to the creator.
    pub async fn found_team(&self, owner: &Person, name: &str) -> (Uuid, TeamKeyring) {
        let team = Uuid::new_v4();
        let epoch = EpochIdentity::generate(team, 1);
        let grant = epoch.grant_to(&owner.identity.public_key()).expect("grant");
        let body = json!({
            "id": team,
            "name": name,
            "epoch_public_key": epoch.public_key().as_str(),
            "creator_grant": grant.as_str(),
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

    /// Invites `email`, sealing the invite secret to the team's current key.
    pub async fn invite_with_code(
        &self,
        team: Uuid,
        admin: &Person,
        ring: &TeamKeyring,
        email: &str,
        role: Role,
    ) -> InviteCode {
        let code = InviteCode::generate();
        let sealed = crypto::seal_invite_secret(
            &code.secret,
            team,
            code.invite_id,
            &ring.current().public_key(),
        )
        .expect("seal");
        let body = json!({
            "id": code.invite_id,
            "email": email,
            "role": role,
            "accept_token_hash": crypto::accept_token(&code.secret).server_hash(),
            "sealed_secret": sealed.0,
        });
        let (status, invite) = self
            .post(
                &format!("/teams/{team}/invite"),
                Some(&admin.user.access),
                body,
            )
            .await;
        assert_eq!(status, 201, "invite: {invite}");
        code
    }

    /// Joins with a code: looks at the invite, proves the identity, accepts.
    pub async fn join(&self, person: &Person, code: &InviteCode) -> Uuid {
        let path = format!("/invites/{}", code.invite_id);
        let (status, preview) = self.get(&path, &person.user.access).await;
        assert_eq!(status, 200, "preview: {preview}");
        let team: Uuid = preview["team_id"]
            .as_str()
            .expect("team")
            .parse()
            .expect("uuid");
        let proof = crypto::invite_proof(
            &code.secret,
            team,
            code.invite_id,
            &person.identity.public_key(),
        );
        let body = json!({
            "accept_token": crypto::accept_token(&code.secret).to_base64(),
            "proof": proof.to_base64(),
        });
        let (status, joined) = self
            .post(&format!("{path}/accept"), Some(&person.user.access), body)
            .await;
        assert_eq!(status, 200, "accept: {joined}");
        team
    }

    /// What an admin's agent does on its own: verify every newcomer's proof
    /// and post their grant. Returns how many were granted and the refusals.
    pub async fn admit_pending(
        &self,
        team: Uuid,
        admin: &Person,
        ring: &TeamKeyring,
    ) -> (usize, Vec<crypto::CryptoError>) {
        let (status, pending) = self
            .get(&format!("/teams/{team}/grants/pending"), &admin.user.access)
            .await;
        assert_eq!(status, 200, "pending: {pending}");
        let mut granted = 0;
        let mut refused = Vec::new();
        for p in pending.as_array().expect("pending list") {
            let newcomer = Newcomer {
                invite_id: p["invite_id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default(),
                identity_public_key: p["identity_public_key"].as_str().unwrap_or_default(),
                sealed_secret: p["sealed_secret"].as_str().unwrap_or_default(),
                proof: p["proof"].as_str().unwrap_or_default(),
            };
            match crypto::admit(&newcomer, ring) {
                Ok(grant) => {
                    let body = json!({
                        "user_id": p["user_id"],
                        "epoch": ring.current_epoch(),
                        "grant": grant.as_str(),
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
                Err(e) => refused.push(e),
            }
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

    /// A rotation body: a fresh epoch key wrapped for every current member.
    pub async fn prepare_rotation(
        &self,
        team: Uuid,
        admin: &Person,
        expected: u64,
    ) -> (EpochIdentity, Value) {
        let (status, members) = self
            .get(&format!("/teams/{team}/members"), &admin.user.access)
            .await;
        assert_eq!(status, 200, "members: {members}");
        let next = EpochIdentity::generate(team, expected + 1);
        let grants: Vec<Value> = members
            .as_array()
            .expect("members")
            .iter()
            .map(|m| {
                let key: crypto::PublicKey =
                    m["identity_public_key"].as_str().expect("key").parse().expect("recipient");
                json!({ "user_id": m["user_id"], "grant": next.grant_to(&key).expect("grant").as_str() })
            })
            .collect();
        let body = json!({
            "expected_epoch": expected,
            "public_key": next.public_key().as_str(),
            "grants": grants,
        });
        (next, body)
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
