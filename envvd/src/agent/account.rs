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

use envv_api::SecretString;
use proto_ipc::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    pub access: SecretString,
    pub refresh: SecretString,
    pub expires: Instant,
}

impl Session {
    pub fn from_pair(pair: envv_api::TokenPair) -> Session {
        Session {
            access: pair.access_token,
            refresh: pair.refresh_token,
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
        let bytes = body(response, MAX_ANSWER, server).await?;
        String::from_utf8(bytes).map_err(|_| {
            Failure(
                ErrorCode::Server,
                "the control plane sent text that is not UTF-8".into(),
            )
        })
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

/// Most bytes the agent reads of one answer: more could not be passed on in
/// one IPC frame anyway, and a broken or malicious server must not make the
/// agent buffer without end.
const MAX_ANSWER: usize = proto_ipc::MAX_FRAME;
/// Most bytes read of an error answer, whose message is a line of text.
const MAX_ERROR_ANSWER: usize = 64 * 1024;

/// The answer's body, refused past `limit` bytes: at once if its declared
/// length says so, else as soon as the bytes received pass it.
async fn body(
    mut response: reqwest::Response,
    limit: usize,
    server: &str,
) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        Failure(
            ErrorCode::Server,
            format!("the control plane at {server} sent an answer over the {limit}-byte limit"),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| offline(server, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn answer<R: DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
    server: &str,
) -> Result<R, Failure> {
    let response = sent.map_err(|e| offline(server, &e))?;
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
    let message = body(response, MAX_ERROR_ANSWER, "")
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<envv_api::ErrorBody>(&bytes).ok())
        .map_or_else(
            || format!("the control plane answered {status}"),
            |b| b.error.message,
        );
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Answers one request on a fresh port with `head` then `chunks` as they
    /// are, like a server we don't trust would.
    async fn serve_once(head: &'static str, chunks: Vec<Vec<u8>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            // The client may hang up once it has refused the answer.
            let _ = conn.write_all(head.as_bytes()).await;
            for chunk in chunks {
                let _ = conn.write_all(&chunk).await;
            }
        });
        format!("http://{addr}")
    }

    async fn read(server: &str, limit: usize) -> Result<Vec<u8>, Failure> {
        let response = Api::new().http.get(server).send().await.unwrap();
        body(response, limit, server).await
    }

    fn chunked(parts: &[usize]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = parts
            .iter()
            .map(|&n| {
                let mut chunk = format!("{n:x}\r\n").into_bytes();
                chunk.extend(std::iter::repeat_n(b'x', n));
                chunk.extend_from_slice(b"\r\n");
                chunk
            })
            .collect();
        out.push(b"0\r\n\r\n".to_vec());
        out
    }

    #[tokio::test]
    async fn answers_are_read_up_to_the_limit_only() {
        // Within the limit: read whole.
        let server = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            vec![vec![b'x'; 1000]],
        )
        .await;
        assert_eq!(read(&server, 1024).await.unwrap().len(), 1000);

        // A declared length over it: refused before any of the body.
        let server = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n", vec![]).await;
        let Failure(code, message) = read(&server, 1024).await.unwrap_err();
        assert_eq!(code, ErrorCode::Server);
        assert!(message.contains("1024-byte limit"), "{message}");

        // No declared length: refused once the bytes pass it.
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let server = serve_once(head, chunked(&[600, 600, 600])).await;
        assert!(read(&server, 1024).await.is_err());
        let server = serve_once(head, chunked(&[600, 400])).await;
        assert_eq!(read(&server, 1024).await.unwrap().len(), 1000);
    }
}
