//! The control plane's HTTP API, one method per endpoint, taking and
//! returning the `envv-api` types the server itself is written against.
//!
//! Tokens travel as `SecretString`s from the answer that issued them to the
//! `Authorization` header that spends them: never through a
//! `serde_json::Value`, which would leave copies nobody zeroes.
//!
//! Every method is async and is awaited with the agent's state unlocked
//! (see `state.rs`): a slow or hung server delays only the request that
//! needs it.

use std::path::Path;
use std::time::Duration;

use envv_api::{
    AcceptInviteRequest, AuditOrder, AuditPage, AuditQuery, BillingRequest, ChangePasswordRequest,
    ChangeRoleRequest, CreateInviteRequest, CreateTeamRequest, IngestRequest, IngestResponse,
    Invite, InvitePreview, LoginRequest, LogoutRequest, Member, PendingGrant, PostGrantRequest,
    PreloginRequest, PreloginResponse, RefreshRequest, RenameTeamRequest, RotateRequest,
    RotateResponse, SecretString, Session, SignupRequest, StatementRequest, Team, TeamChainPage,
    TeamKeys, TeamSettings, TokenPair, UsageReport,
};
use proto_ipc::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::state::Failure;

mod answers;
pub use answers::is_unavailable;
use answers::{MAX_ANSWER, body, offline, refusal};

/// Where to send a call, and the access token it carries.
pub(super) struct Authed {
    pub server: String,
    pub token: SecretString,
}

pub(super) struct ControlPlane {
    http: reqwest::Client,
}

impl ControlPlane {
    /// HTTPS verifies the server against the system's roots, plus the PEM
    /// certificate at `$ENVV_SERVER_CA` if set (a private CA, or a
    /// self-signed control plane).
    pub fn new() -> ControlPlane {
        // The process-wide provider reqwest's rustls uses; a second call
        // finds it installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            // Calls run concurrently, so the pool holds several connections,
            // some idle for long. A server (hyper's header-read timeout, a
            // load balancer) closes an idle one after 30 s or more; a call
            // sent on it just then fails as if the server were down. Drop
            // them first.
            .pool_idle_timeout(Duration::from_secs(15));
        if let Some(path) = std::env::var_os("ENVV_SERVER_CA") {
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|pem| reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string()))
            {
                Ok(ca) => builder = builder.add_root_certificate(ca),
                Err(e) => {
                    tracing::warn!(path = %Path::new(&path).display(), error = e, "ignoring ENVV_SERVER_CA")
                }
            }
        }
        let http = builder.build().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "HTTP client set-up failed; using defaults");
            reqwest::Client::new()
        });
        ControlPlane { http }
    }

    /// `GET /healthz`, for `envv doctor`: does the server answer, over TLS
    /// this client trusts?
    pub async fn probe(&self, server: &str) -> Result<(), Failure> {
        let response = self
            .http
            .get(url(server, "/healthz"))
            .send()
            .await
            .map_err(|e| offline(server, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Failure(
                ErrorCode::Offline,
                format!(
                    "the control plane at {server} answered {} to /healthz",
                    response.status()
                ),
            ))
        }
    }

    // Accounts and sessions.

    pub async fn signup(&self, server: &str, body: &SignupRequest) -> Result<Session, Failure> {
        self.send(
            self.http.post(url(server, "/auth/signup")).json(body),
            server,
        )
        .await
    }

    pub async fn prelogin(&self, server: &str, email: &str) -> Result<PreloginResponse, Failure> {
        let body = PreloginRequest {
            email: email.to_owned(),
        };
        self.send(
            self.http.post(url(server, "/auth/prelogin")).json(&body),
            server,
        )
        .await
    }

    pub async fn login(&self, server: &str, body: &LoginRequest) -> Result<Session, Failure> {
        self.send(
            self.http.post(url(server, "/auth/login")).json(body),
            server,
        )
        .await
    }

    pub async fn refresh(
        &self,
        server: &str,
        refresh: &SecretString,
    ) -> Result<TokenPair, Failure> {
        let body = RefreshRequest {
            refresh_token: refresh.clone(),
        };
        self.send(
            self.http.post(url(server, "/auth/refresh")).json(&body),
            server,
        )
        .await
    }

    pub async fn logout(&self, server: &str, refresh: &SecretString) -> Result<(), Failure> {
        let body = LogoutRequest {
            refresh_token: refresh.clone(),
        };
        self.send_empty(
            self.http.post(url(server, "/auth/logout")).json(&body),
            server,
        )
        .await
    }

    /// Whether the server answers at all (`GET /healthz`).
    pub async fn healthz(&self, server: &str) -> Result<(), Failure> {
        self.send_empty(self.http.get(url(server, "/healthz")), server)
            .await
    }

    pub async fn change_password(
        &self,
        at: &Authed,
        body: &ChangePasswordRequest,
    ) -> Result<Session, Failure> {
        self.post(at, "/auth/password", body).await
    }

    // Teams and members.

    pub async fn teams(&self, at: &Authed) -> Result<Vec<Team>, Failure> {
        self.get(at, "/teams").await
    }

    pub async fn create_team(
        &self,
        at: &Authed,
        body: &CreateTeamRequest,
    ) -> Result<Team, Failure> {
        self.post(at, "/teams", body).await
    }

    pub async fn members(&self, at: &Authed, team: Uuid) -> Result<Vec<Member>, Failure> {
        self.get(at, &format!("/teams/{team}/members")).await
    }

    pub async fn set_role(
        &self,
        at: &Authed,
        team: Uuid,
        user: Uuid,
        body: &ChangeRoleRequest,
    ) -> Result<Member, Failure> {
        self.put(at, &format!("/teams/{team}/members/{user}/role"), body)
            .await
    }

    pub async fn remove_member(
        &self,
        at: &Authed,
        team: Uuid,
        user: Uuid,
        body: &StatementRequest,
    ) -> Result<(), Failure> {
        let request = self
            .http
            .delete(url(&at.server, &format!("/teams/{team}/members/{user}")))
            .json(body);
        self.send_empty(authed(request, at), &at.server).await
    }

    /// The team chain's statements after the `after`th, one page.
    pub async fn chain(
        &self,
        at: &Authed,
        team: Uuid,
        after: u64,
    ) -> Result<TeamChainPage, Failure> {
        self.get(at, &format!("/teams/{team}/chain?after={after}"))
            .await
    }

    pub async fn rename_team(
        &self,
        at: &Authed,
        team: Uuid,
        body: &RenameTeamRequest,
    ) -> Result<Team, Failure> {
        self.put(at, &format!("/teams/{team}/name"), body).await
    }

    pub async fn delete_team(&self, at: &Authed, team: Uuid) -> Result<(), Failure> {
        let request = self.http.delete(url(&at.server, &format!("/teams/{team}")));
        self.send_empty(authed(request, at), &at.server).await
    }

    /// Appends a statement that changes nothing but the chain (a
    /// `checkpoint`).
    pub async fn append_statement(
        &self,
        at: &Authed,
        team: Uuid,
        body: &StatementRequest,
    ) -> Result<(), Failure> {
        let request = self
            .http
            .post(url(&at.server, &format!("/teams/{team}/chain")))
            .json(body);
        self.send_empty(authed(request, at), &at.server).await
    }

    pub async fn set_settings(
        &self,
        at: &Authed,
        team: Uuid,
        body: &TeamSettings,
    ) -> Result<Team, Failure> {
        self.put(at, &format!("/teams/{team}/settings"), body).await
    }

    // Invites.

    pub async fn invite(
        &self,
        at: &Authed,
        team: Uuid,
        body: &CreateInviteRequest,
    ) -> Result<Invite, Failure> {
        self.post(at, &format!("/teams/{team}/invite"), body).await
    }

    pub async fn preview_invite(
        &self,
        at: &Authed,
        invite: Uuid,
    ) -> Result<InvitePreview, Failure> {
        self.get(at, &format!("/invites/{invite}")).await
    }

    /// The chain of the team an invite is for, as the invitee sees it
    /// before accepting.
    pub async fn invite_chain(
        &self,
        at: &Authed,
        invite: Uuid,
        after: u64,
    ) -> Result<TeamChainPage, Failure> {
        self.get(at, &format!("/invites/{invite}/chain?after={after}"))
            .await
    }

    pub async fn revoke_invite(
        &self,
        at: &Authed,
        team: Uuid,
        invite: Uuid,
        body: &StatementRequest,
    ) -> Result<(), Failure> {
        let request = self
            .http
            .delete(url(&at.server, &format!("/teams/{team}/invites/{invite}")))
            .json(body);
        self.send_empty(authed(request, at), &at.server).await
    }

    pub async fn accept_invite(
        &self,
        at: &Authed,
        invite: Uuid,
        body: &AcceptInviteRequest,
    ) -> Result<Team, Failure> {
        self.post(at, &format!("/invites/{invite}/accept"), body)
            .await
    }

    // Keys.

    pub async fn keys(&self, at: &Authed, team: Uuid) -> Result<TeamKeys, Failure> {
        self.get(at, &format!("/teams/{team}/keys")).await
    }

    pub async fn pending_grants(
        &self,
        at: &Authed,
        team: Uuid,
    ) -> Result<Vec<PendingGrant>, Failure> {
        self.get(at, &format!("/teams/{team}/grants/pending")).await
    }

    pub async fn grant(
        &self,
        at: &Authed,
        team: Uuid,
        body: &PostGrantRequest,
    ) -> Result<(), Failure> {
        let request = self
            .http
            .post(url(&at.server, &format!("/teams/{team}/grants")))
            .json(body);
        self.send_empty(authed(request, at), &at.server).await
    }

    pub async fn rotate(
        &self,
        at: &Authed,
        team: Uuid,
        body: &RotateRequest,
    ) -> Result<RotateResponse, Failure> {
        self.post(at, &format!("/teams/{team}/keys/rotate"), body)
            .await
    }

    // Audit, usage and billing.

    pub async fn ingest_audit(
        &self,
        at: &Authed,
        team: Uuid,
        body: &IngestRequest,
    ) -> Result<IngestResponse, Failure> {
        self.post(at, &format!("/teams/{team}/audit"), body).await
    }

    pub async fn audit(
        &self,
        at: &Authed,
        team: Uuid,
        query: &AuditQuery,
    ) -> Result<AuditPage, Failure> {
        self.get(at, &format!("/teams/{team}/audit?{}", query_string(query)))
            .await
    }

    /// The whole trail as JSON lines.
    pub async fn audit_export(&self, at: &Authed, team: Uuid) -> Result<String, Failure> {
        let path = format!("/teams/{team}/audit/export?format=jsonl");
        let request = authed(self.http.get(url(&at.server, &path)), at);
        let response = request.send().await.map_err(|e| offline(&at.server, &e))?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        let bytes = body(response, MAX_ANSWER, &at.server).await?;
        String::from_utf8(bytes).map_err(|_| {
            Failure(
                ErrorCode::Server,
                "the control plane sent text that is not UTF-8".into(),
            )
        })
    }

    pub async fn usage(&self, at: &Authed, team: Uuid) -> Result<UsageReport, Failure> {
        self.get(at, &format!("/teams/{team}/usage")).await
    }

    pub async fn set_billing(
        &self,
        at: &Authed,
        team: Uuid,
        body: &BillingRequest,
    ) -> Result<UsageReport, Failure> {
        self.post(at, &format!("/teams/{team}/billing"), body).await
    }

    // The verbs under the methods above.

    async fn get<R: DeserializeOwned>(&self, at: &Authed, path: &str) -> Result<R, Failure> {
        let request = self.http.get(url(&at.server, path));
        self.send(authed(request, at), &at.server).await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        at: &Authed,
        path: &str,
        body: &B,
    ) -> Result<R, Failure> {
        let request = self.http.post(url(&at.server, path)).json(body);
        self.send(authed(request, at), &at.server).await
    }

    async fn put<B: Serialize, R: DeserializeOwned>(
        &self,
        at: &Authed,
        path: &str,
        body: &B,
    ) -> Result<R, Failure> {
        let request = self.http.put(url(&at.server, path)).json(body);
        self.send(authed(request, at), &at.server).await
    }

    async fn send<R: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        server: &str,
    ) -> Result<R, Failure> {
        let response = request.send().await.map_err(|e| offline(server, &e))?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        let bytes = body(response, MAX_ANSWER, server).await?;
        serde_json::from_slice(&bytes).map_err(|_| {
            Failure(
                ErrorCode::Server,
                "the control plane sent an answer this agent does not understand".into(),
            )
        })
    }

    /// For answers with no body (204).
    async fn send_empty(
        &self,
        request: reqwest::RequestBuilder,
        server: &str,
    ) -> Result<(), Failure> {
        let response = request.send().await.map_err(|e| offline(server, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }
}

fn authed(request: reqwest::RequestBuilder, at: &Authed) -> reqwest::RequestBuilder {
    request.bearer_auth(at.token.expose())
}

fn url(server: &str, path: &str) -> String {
    format!("{}{path}", server.trim_end_matches('/'))
}

/// `GET /teams/{id}/audit`'s query string.
fn query_string(q: &AuditQuery) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(actor) = q.actor {
        pairs.push(("actor", actor.to_string()));
    }
    for (key, value) in [
        ("actor_email", &q.actor_email),
        ("action", &q.action),
        ("secret", &q.secret),
        ("cursor", &q.cursor),
    ] {
        if let Some(value) = value {
            pairs.push((key, value.clone()));
        }
    }
    for (key, value) in [("since", q.since), ("until", q.until)] {
        if let Some(value) = value {
            pairs.push((key, value.to_rfc3339()));
        }
    }
    if let Some(limit) = q.limit {
        pairs.push(("limit", limit.to_string()));
    }
    if let Some(order) = q.order {
        let order = match order {
            AuditOrder::Oldest => "oldest",
            AuditOrder::Newest => "newest",
        };
        pairs.push(("order", order.to_owned()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_query_is_encoded_as_the_server_reads_it() {
        let query = AuditQuery {
            action: Some("role.change".into()),
            secret: Some("A B&C".into()),
            limit: Some(5),
            order: Some(AuditOrder::Newest),
            ..AuditQuery::default()
        };
        assert_eq!(
            query_string(&query),
            "action=role.change&secret=A%20B%26C&limit=5&order=newest"
        );
    }
}
