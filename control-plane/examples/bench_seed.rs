//! Seeds a team for `bench/control-plane.sh` over HTTP, as clients would:
//! an owner signs up with real keys and creates a team with the chain's
//! first statement; `MEMBERS - 1` people sign up, are invited with signed
//! `invite` statements and accept (they wait to be admitted, which the
//! members list shows). Prints `TEAM_ID OWNER_TOKEN`.
//!
//! ```text
//! bench_seed http://127.0.0.1:8080 5
//! ```

use anyhow::{Context, Result, bail};
use envv_api::Role;
use envv_core::chain::{Body, Draft, Hash, Statement, TeamChain, acceptance};
use envv_core::crypto::{EpochIdentity, InviteSecret, UserIdentity, accept_token};
use serde_json::{Value, json};
use uuid::Uuid;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs up with fresh keys: the user's id, access token and keys.
    async fn signup(&self, email: &str) -> Result<(Uuid, String, UserIdentity)> {
        let keys = UserIdentity::generate();
        let session = self
            .post(
                "/auth/signup",
                None,
                json!({
                    "email": email,
                    "name": "Bench User",
                    "auth_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "identity_public_key": keys.public_key().as_str(),
                    "signing_public_key": keys.verifying_key().to_hex(),
                    "wrapped_identity": "d3JhcHBlZA==",
                    "kdf": {
                        "algorithm": "argon2id", "memory_kib": 65536, "iterations": 3,
                        "parallelism": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    },
                }),
            )
            .await?;
        let id = session["user"]["id"].as_str().context("user id")?.parse()?;
        let token = session["tokens"]["access_token"]
            .as_str()
            .context("access token")?
            .to_owned();
        Ok((id, token, keys))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().context("usage: bench_seed BASE_URL MEMBERS")?;
    let members: usize = args.next().context("MEMBERS")?.parse()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client {
        http: reqwest::Client::new(),
        base,
    };
    let tag = Uuid::new_v4().simple().to_string();
    let owner_email = format!("owner-{tag}@bench.example");
    let (owner, owner_token, owner_keys) = client.signup(&owner_email).await?;

    let team = Uuid::new_v4();
    let epoch = EpochIdentity::generate(team, 1);
    let genesis = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: owner,
        at: now(),
        body: Body::Create {
            email: owner_email,
            age: owner_keys.public_key(),
            signing: owner_keys.verifying_key(),
            epoch_key: epoch.public_key(),
        },
    }
    .sign(owner_keys.signing_key());
    let mut chain = TeamChain::genesis(&genesis)?;
    let grant = epoch.grant_to(&owner_keys.public_key())?;
    client
        .post(
            "/teams",
            Some(&owner_token),
            json!({
                "id": team,
                "name": "Bench team",
                "epoch_public_key": epoch.public_key().as_str(),
                "creator_grant": grant.as_str(),
                "statement": genesis.as_str(),
            }),
        )
        .await?;

    for i in 1..members {
        let email = format!("member{i}-{tag}@bench.example");
        let (user, token, keys) = client.signup(&email).await?;
        let invite = Uuid::new_v4();
        let secret = InviteSecret::generate();
        let accept = accept_token(&secret);
        let statement: Statement = chain
            .draft(
                owner,
                now(),
                Body::Invite {
                    invite,
                    email: email.clone(),
                    role: Role::Member,
                    accept: Hash(accept.digest()),
                    proof_key: secret.proof_key().verifying_key(),
                    expires: now() + 24 * 3600,
                },
            )
            .sign(owner_keys.signing_key());
        chain.apply(&statement)?;
        client
            .post(
                &format!("/teams/{team}/invite"),
                Some(&owner_token),
                json!({
                    "id": invite,
                    "email": email,
                    "role": Role::Member,
                    "accept_token_hash": accept.server_hash(),
                    "statement": statement.as_str(),
                }),
            )
            .await?;
        let message = acceptance(
            team,
            invite,
            &statement.hash(),
            user,
            &keys.public_key(),
            &keys.verifying_key(),
        );
        client
            .post(
                &format!("/invites/{invite}/accept"),
                Some(&token),
                json!({
                    "accept_token": accept.to_base64(),
                    "proof": secret.proof_key().sign(&message).to_base64(),
                    "consent": keys.signing_key().sign(&message).to_base64(),
                }),
            )
            .await?;
    }
    println!("{team} {owner_token}");
    Ok(())
}
