//! Teams made as clients make them, before the load starts: an owner signs
//! up with real keys and creates the team with the chain's first statement;
//! the others sign up, are invited with signed `invite` statements and
//! accept. `envv-load --seed-only` makes one such team for
//! `bench/control-plane.sh` and `.ci/openapi`.

use std::net::Ipv4Addr;

use anyhow::{Context, Result, bail};
use envv_api::Role;
use envv_core::chain::{Body, Draft, Hash, Statement, TeamChain, acceptance};
use envv_core::crypto::{EpochIdentity, InviteSecret, UserIdentity, accept_token};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cluster::{Cluster, Outcome, Retry};

/// The auth key every simulated user signs up with (base64 of 32 bytes).
/// Real agents derive theirs from the password; the server's work (an
/// argon2id hash per signup and login) is the same whatever it is.
pub const AUTH_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// One simulated agent's account, in a team.
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub team: Uuid,
    pub role: Role,
    pub access: String,
    pub refresh: String,
    /// The address the balancer reports for this agent.
    pub address: Ipv4Addr,
}

/// A distinct address per agent, as a balancer in front of many would
/// report them (10.0.0.0/8).
pub fn address(n: usize) -> Ipv4Addr {
    let n = n as u32 + 1;
    Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)
}

/// A request that must succeed: its JSON answer.
pub async fn call(
    cluster: &Cluster,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
    address: Ipv4Addr,
) -> Result<Value> {
    match cluster
        .send(method, path, token, Some(&body), Retry::Unsafe, address)
        .await
    {
        Outcome::Answer { status, body, .. } if status.is_success() => Ok(body),
        Outcome::Answer { status, body, .. } => bail!("{path}: {status}: {body}"),
        other => bail!("{path}: {other:?}"),
    }
}

fn tokens(session: &Value) -> Result<(String, String)> {
    let tokens = &session["tokens"];
    Ok((
        tokens["access_token"]
            .as_str()
            .context("access token")?
            .to_owned(),
        tokens["refresh_token"]
            .as_str()
            .context("refresh token")?
            .to_owned(),
    ))
}

async fn signup(
    cluster: &Cluster,
    email: &str,
    address: Ipv4Addr,
) -> Result<(Uuid, String, String, UserIdentity)> {
    let keys = UserIdentity::generate();
    let session = call(
        cluster,
        Method::POST,
        "/auth/signup",
        None,
        json!({
            "email": email,
            "name": "Load User",
            "auth_key": AUTH_KEY,
            "identity_public_key": keys.public_key().as_str(),
            "signing_public_key": keys.verifying_key().to_hex(),
            "wrapped_identity": "d3JhcHBlZA==",
            "kdf": {
                "algorithm": "argon2id", "memory_kib": 65536, "iterations": 3,
                "parallelism": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            },
        }),
        address,
    )
    .await?;
    let id = session["user"]["id"].as_str().context("user id")?.parse()?;
    let (access, refresh) = tokens(&session)?;
    Ok((id, access, refresh, keys))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A team of `size` (at least 1): its owner first. `first` numbers the
/// members' addresses.
pub async fn team(cluster: &Cluster, size: usize, first: usize) -> Result<Vec<Member>> {
    let tag = Uuid::new_v4().simple().to_string();
    let owner_email = format!("owner-{tag}@load.example");
    let owner_address = address(first);
    let (owner, access, refresh, owner_keys) = signup(cluster, &owner_email, owner_address).await?;
    let team = Uuid::new_v4();
    let epoch = EpochIdentity::generate(team, 1);
    let genesis = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: owner,
        at: now(),
        body: Body::Create {
            email: owner_email.clone(),
            age: owner_keys.public_key(),
            signing: owner_keys.verifying_key(),
            epoch_key: epoch.public_key(),
        },
    }
    .sign(owner_keys.signing_key());
    let mut chain = TeamChain::genesis(&genesis)?;
    let grant = epoch.grant_to(&owner_keys.public_key())?;
    call(
        cluster,
        Method::POST,
        "/teams",
        Some(&access),
        json!({
            "id": team,
            "name": "Load team",
            "epoch_public_key": epoch.public_key().as_str(),
            "creator_grant": grant.as_str(),
            "statement": genesis.as_str(),
        }),
        owner_address,
    )
    .await?;
    let mut members = vec![Member {
        id: owner,
        email: owner_email,
        team,
        role: Role::Owner,
        access: access.clone(),
        refresh,
        address: owner_address,
    }];

    for i in 1..size {
        let email = format!("member{i}-{tag}@load.example");
        let member_address = address(first + i);
        let (user, token, refresh, keys) = signup(cluster, &email, member_address).await?;
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
        call(
            cluster,
            Method::POST,
            &format!("/teams/{team}/invite"),
            Some(&access),
            json!({
                "id": invite,
                "email": email,
                "role": Role::Member,
                "accept_token_hash": accept.server_hash(),
                "statement": statement.as_str(),
            }),
            owner_address,
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
        call(
            cluster,
            Method::POST,
            &format!("/invites/{invite}/accept"),
            Some(&token),
            json!({
                "accept_token": accept.to_base64(),
                "proof": secret.proof_key().sign(&message).to_base64(),
                "consent": keys.signing_key().sign(&message).to_base64(),
            }),
            member_address,
        )
        .await?;
        members.push(Member {
            id: user,
            email,
            team,
            role: Role::Member,
            access: token,
            refresh,
            address: member_address,
        });
    }
    Ok(members)
}
