//! The server's own cost of one request, without sockets: the router with
//! every middleware, the token check, the store and the JSON, driven by
//! `oneshot` on one thread. `bench/control-plane.sh` measures the same
//! routes over TCP under load; this one isolates what the code costs, so
//! that changes to it can be compared on a noisy machine.
//!
//! ```text
//! cargo bench -p control-plane --bench request
//! ENVV_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/envv_bench \
//!     cargo bench -p control-plane --bench request   # PostgreSQL (empty db)
//! ```
//! The log subscriber is the server's (`info`, text, no colours: as to a
//! log file), writing to nowhere.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use control_plane::store::{self, NewInvite, Store};
use criterion::{Criterion, criterion_group, criterion_main};
use envv_api::Role;
use envv_core::chain::{Body as ChainBody, Hash};
use envv_core::crypto::InviteSecret;
use tower::ServiceExt;
use uuid::Uuid;

mod common;

/// The team size of `bench/control-plane.sh`.
const MEMBERS: usize = 5;

/// A team of [`MEMBERS`]: the owner and members who accepted invites.
async fn team(store: &dyn Store) -> (Uuid, Uuid) {
    let owner = common::user(store, 0).await;
    let (team, mut chain) = common::team(store, "Bench".into(), &owner).await;
    for i in 1..MEMBERS {
        let member = common::user(store, i).await;
        let invite = Uuid::new_v4();
        let now = store::now();
        let secret = InviteSecret::generate();
        let statement = chain
            .draft(
                owner.id,
                now.timestamp(),
                ChainBody::Invite {
                    invite,
                    email: member.email.clone(),
                    role: Role::Member,
                    accept: Hash([0; 32]),
                    proof_key: secret.proof_key().verifying_key(),
                    expires: now.timestamp() + 24 * 3600,
                },
            )
            .sign(owner.keys.signing_key());
        chain.apply(&statement).expect("invite statement");
        store
            .create_invite(
                NewInvite {
                    id: invite,
                    team_id: team,
                    email: member.email.clone(),
                    email_norm: member.email.clone(),
                    role: Role::Member,
                    accept_token_hash: vec![0; 32],
                    invited_by: owner.id,
                    created_at: now,
                    expires_at: now + chrono::Duration::days(1),
                },
                statement,
            )
            .await
            .expect("invite");
        // Stand-ins: the server keeps the acceptance's signatures for the
        // admin's client to check.
        let signature = member.keys.signing_key().sign(b"bench").to_base64();
        assert!(
            store
                .accept_invite(invite, member.id, signature.clone(), signature, now)
                .await
                .expect("accept")
        );
    }
    (team, owner.id)
}

async fn get(router: &Router, uri: &str, token: Option<&str>) -> usize {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
        .len()
}

fn requests(c: &mut Criterion) {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(std::io::sink)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("ENVV_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let (router, store, state, team, owner, token) = runtime.block_on(async {
        let store: Arc<dyn Store> = store::connect(&url).await.expect("store");
        let (team, owner) = team(store.as_ref()).await;
        let state = control_plane::AppState::new(
            store.clone(),
            control_plane::Config::new(control_plane::tokens::SigningKey::generate()),
        );
        let token = state
            .keys
            .issue_access(owner, Uuid::new_v4())
            .expect("token");
        let router = control_plane::routes::router(state.clone());
        (router, store, state, team, owner, token)
    });
    let members = format!("/teams/{team}/members");
    c.bench_function("GET /healthz", |b| {
        b.iter(|| runtime.block_on(get(&router, "/healthz", None)))
    });
    c.bench_function("GET /teams/{id}/members", |b| {
        b.iter(|| runtime.block_on(get(&router, &members, Some(&token))))
    });
    // Its parts.
    c.bench_function("access token check", |b| {
        b.iter(|| state.keys.verify_access(&token).expect("valid"))
    });
    c.bench_function("access token check, first use", |b| {
        b.iter_batched(
            || {
                state
                    .keys
                    .issue_access(owner, Uuid::new_v4())
                    .expect("token")
            },
            |fresh| state.keys.verify_access(&fresh).expect("valid"),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("store: members_as", |b| {
        b.iter(|| {
            runtime
                .block_on(store.members_as(team, owner))
                .expect("read")
        })
    });
    c.bench_function("store: membership", |b| {
        b.iter(|| {
            runtime
                .block_on(store.membership(team, owner))
                .expect("read")
        })
    });
    let listing = runtime
        .block_on(store.members_as(team, owner))
        .expect("read")
        .expect("a member");
    c.bench_function("member list to JSON", |b| {
        b.iter(|| serde_json::to_vec(listing.1.members()).expect("json").len())
    });
}

criterion_group!(benches, requests);
criterion_main!(benches);
