//! Account mode: the account file on disk, the session with the control
//! plane, and the HTTP calls the agent makes.
//!
//! On disk (0600 in the 0700 data directory) is only what the server also
//! holds: the KDF parameters and the identity wrapped by the password's
//! wrap key. Tokens live in memory only: after a restart, `envv unlock`
//! logs in again.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use proto_ipc::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::state::Failure;
use crate::crypto::KdfParams;

const ACCOUNT_FILE: &str = "account.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AccountFile {
    pub version: u32,
    pub server: String,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub kdf: KdfParams,
    pub wrapped_identity: String,
}

impl AccountFile {
    pub fn load(data_dir: &Path) -> std::io::Result<Option<AccountFile>> {
        let path = data_dir.join(ACCOUNT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                if std::fs::metadata(&path)?.permissions().mode() & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is readable by other users; run `chmod 600` on it",
                            path.display()
                        ),
                    ));
                }
                serde_json::from_slice(&bytes).map(Some).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is corrupt", path.display()),
                    )
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Written to a temporary file and renamed, so a crash leaves the old or
    /// the new account, never half of one.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(data_dir)?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        let tmp = data_dir.join(format!(".{ACCOUNT_FILE}.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, data_dir.join(ACCOUNT_FILE))
    }

    pub fn remove(data_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(data_dir.join(ACCOUNT_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn describe(&self) -> proto_ipc::Account {
        proto_ipc::Account {
            server: self.server.clone(),
            user_id: self.user_id,
            email: self.email.clone(),
            name: self.name.clone(),
        }
    }
}

/// Tokens for the control plane, in memory only.
pub(super) struct Session {
    pub access: Zeroizing<String>,
    pub refresh: Zeroizing<String>,
    pub expires: Instant,
}

impl Session {
    pub fn from_pair(pair: envv_api::TokenPair) -> Session {
        Session {
            access: Zeroizing::new(pair.access_token),
            refresh: Zeroizing::new(pair.refresh_token),
            expires: Instant::now() + Duration::from_secs(pair.expires_in),
        }
    }

    /// Refresh a minute early, so a request never carries a dying token.
    pub fn fresh(&self) -> bool {
        self.expires > Instant::now() + Duration::from_secs(60)
    }
}

/// The control plane's HTTP API.
pub(super) struct Api {
    http: reqwest::Client,
}

impl Api {
    /// HTTPS verifies the server against the system's roots, plus the PEM
    /// certificate at `$ENVV_SERVER_CA` if set (a private CA, or a
    /// self-signed control plane).
    pub fn new() -> Api {
        // The process-wide provider reqwest's rustls uses; a second call
        // finds it installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5));
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
        Api { http }
    }

    pub async fn get<R: DeserializeOwned>(
        &self,
        server: &str,
        path: &str,
        token: &str,
    ) -> Result<R, Failure> {
        let request = self.http.get(url(server, path)).bearer_auth(token);
        answer(request.send().await, server).await
    }

    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        server: &str,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R, Failure> {
        let mut request = self.http.post(url(server, path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await, server).await
    }

    /// A text answer (the audit export).
    pub async fn get_text(&self, server: &str, path: &str, token: &str) -> Result<String, Failure> {
        let response = self
            .http
            .get(url(server, path))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| offline(server, &e))?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        response.text().await.map_err(|e| offline(server, &e))
    }

    pub async fn put<B: Serialize, R: DeserializeOwned>(
        &self,
        server: &str,
        path: &str,
        token: &str,
        body: &B,
    ) -> Result<R, Failure> {
        let request = self
            .http
            .put(url(server, path))
            .bearer_auth(token)
            .json(body);
        answer(request.send().await, server).await
    }

    /// For answers with no body (204).
    pub async fn post_empty<B: Serialize>(
        &self,
        server: &str,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<(), Failure> {
        let mut request = self.http.post(url(server, path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        no_content(request.send().await, server).await
    }

    pub async fn delete(&self, server: &str, path: &str, token: &str) -> Result<(), Failure> {
        no_content(
            self.http
                .delete(url(server, path))
                .bearer_auth(token)
                .send()
                .await,
            server,
        )
        .await
    }
}

fn url(server: &str, path: &str) -> String {
    format!("{}{path}", server.trim_end_matches('/'))
}

fn offline(server: &str, e: &reqwest::Error) -> Failure {
    let why = if e.is_timeout() {
        "timed out"
    } else {
        "is unreachable"
    };
    // The innermost cause says what happened (refused, DNS, an untrusted
    // certificate); it never holds request data.
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Failure(
        ErrorCode::Offline,
        format!("the control plane at {server} {why} ({cause})"),
    )
}

async fn answer<R: DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
    server: &str,
) -> Result<R, Failure> {
    let response = sent.map_err(|e| offline(server, &e))?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    response.json().await.map_err(|_| {
        Failure(
            ErrorCode::Server,
            "the control plane sent an answer this agent does not understand".into(),
        )
    })
}

async fn no_content(sent: reqwest::Result<reqwest::Response>, server: &str) -> Result<(), Failure> {
    let response = sent.map_err(|e| offline(server, &e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(refusal(response).await)
    }
}

/// The server's own message, with a code a client can act on.
async fn refusal(response: reqwest::Response) -> Failure {
    let status = response.status().as_u16();
    let message = response
        .json::<envv_api::ErrorBody>()
        .await
        .map(|b| b.error.message)
        .unwrap_or_else(|_| format!("the control plane answered {status}"));
    let code = match status {
        401 => ErrorCode::NotLoggedIn,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        400..=499 => ErrorCode::Invalid,
        _ => ErrorCode::Server,
    };
    Failure(code, message)
}
