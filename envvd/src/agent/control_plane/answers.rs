//! A call's answer read safely (up to a bound) and its failures told
//! apart: could not connect (the one offline case), TLS refused, or the
//! server's refusal with its error code.

use proto_ipc::ErrorCode;

use crate::agent::state::Failure;

/// Why a call got no answer. Only "could not connect" (refused, no route,
/// a DNS failure, a connect timeout) is `Offline`, one of the two cases
/// where cached keys and the verified chain on disk may stand in (the
/// other is a 503, see [`refusal`]). A TLS failure (an untrusted or wrong
/// certificate: a network attacker, or a misconfigured server) and a
/// failure after connecting are errors, never a fallback.
pub(super) fn offline(server: &str, e: &reqwest::Error) -> Failure {
    if let Some(tls) = tls_failure(e) {
        return Failure(
            ErrorCode::Server,
            format!(
                "the TLS connection to the control plane at {server} failed ({tls}); nothing \
                 cached stands in for a server that can't prove who it is. Check its \
                 certificate (a private CA goes in $ENVV_SERVER_CA)"
            ),
        );
    }
    // The innermost cause says what happened (refused, DNS, a timeout); it
    // never holds request data.
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_connect() {
        let why = if e.is_timeout() {
            "timed out"
        } else {
            "is unreachable"
        };
        return Failure(
            ErrorCode::Offline,
            format!("the control plane at {server} {why} ({cause})"),
        );
    }
    let why = if e.is_timeout() {
        "did not answer in time"
    } else {
        "broke off its answer"
    };
    Failure(
        ErrorCode::Server,
        format!("the control plane at {server} {why} ({cause})"),
    )
}

/// The TLS error in `e`'s causes, if the handshake failed.
fn tls_failure(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(now) = cause {
        if let Some(tls) = as_tls(now) {
            return Some(tls);
        }
        cause = now.source();
    }
    None
}

/// `e` as rustls's error. It travels inside an `io::Error` (inside another
/// one, as the connector wraps it), and `io::Error::source()` skips the
/// value it holds, so each is opened here.
fn as_tls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        let inner: &(dyn std::error::Error + 'static) = io.get_ref()?;
        return as_tls(inner);
    }
    None
}

/// Most bytes the agent reads of one answer: more could not be passed on in
/// one IPC frame anyway, and a broken or malicious server must not make the
/// agent buffer without end.
pub(super) const MAX_ANSWER: usize = proto_ipc::MAX_FRAME;
/// Most bytes read of an error answer, whose message is a line of text.
const MAX_ERROR_ANSWER: usize = 64 * 1024;

/// The answer's body, refused past `limit` bytes: at once if its declared
/// length says so, else as soon as the bytes received pass it.
pub(super) async fn body(
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

/// How a 503's failure begins (see [`refusal`]).
const UNAVAILABLE: &str = "the control plane is unavailable for now";

/// Whether an `Offline` failure is a 503: the server there but unable to
/// serve. Reads go on from the cache; writes wait (`Agent::sealing_epoch`).
pub fn is_unavailable(why: &str) -> bool {
    why.starts_with(UNAVAILABLE)
}

/// The server's own message, with a code a client can act on.
///
/// A 503 is `Offline`: the control plane (or the proxy in front of it)
/// saying it can't serve anything for now, busy or its database out of
/// reach. For reads that is no different from a server that can't be
/// reached, which it could as well have been by closing its port, so the
/// cached keys stand in within their bound, as they do then. A write does
/// not seal to the chain this machine verified before: the server is up,
/// and its chain may be ahead of that one by a removal.
pub(super) async fn refusal(response: reqwest::Response) -> Failure {
    let status = response.status().as_u16();
    let message = body(response, MAX_ERROR_ANSWER, "")
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<envv_api::ErrorBody>(&bytes).ok())
        .map_or_else(
            || format!("the control plane answered {status}"),
            |b| b.error.message,
        );
    // The control plane answers a non-member as if the team didn't exist
    // (ids don't leak); to its user that means not, or no longer, in it.
    if status == 404 && message == "team not found" {
        return Failure(
            ErrorCode::Forbidden,
            "you are not a member of this team: removed from it, or never added \
             (or it doesn't exist); `envv team list` shows your teams"
                .into(),
        );
    }
    if status == 503 {
        return Failure(ErrorCode::Offline, format!("{UNAVAILABLE}: {message}"));
    }
    let code = match status {
        401 => ErrorCode::NotLoggedIn,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        429 => ErrorCode::RateLimited,
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
        let response = crate::agent::control_plane::ControlPlane::new()
            .http
            .get(server)
            .send()
            .await
            .unwrap();
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
