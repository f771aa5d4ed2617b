//! Logging in to the console and what every request proves: the session
//! cookie, and for a form post its origin and CSRF token.
//!
//! - The operator token is typed into the login form (a POST body: never a
//!   URL, never logged) and checked against the stored hashes.
//! - The session cookie is 256 random bits, stored hashed, `HttpOnly`,
//!   `SameSite=Strict`, and `Secure` with the `__Host-` prefix over TLS. It
//!   lasts [`SESSION_TTL`] at most, ends after [`SESSION_IDLE`] without a
//!   request, and at logout or when its token is revoked.
//! - Every POST must come from the console's own pages: a `Sec-Fetch-Site`
//!   other than `same-origin` or an `Origin` other than the console's own
//!   is refused ([`SameOrigin`]), and so is a form without the session's
//!   CSRF token, an HMAC of the session cookie ([`Operator::check_csrf`]).

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::layout::{Failure, page};
use super::{Console, Page, see_other};
use crate::store;
use crate::tls::PeerAddr;

/// How long a console session lasts from login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// How long a console session lasts without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The longest operator token the login form takes.
const MAX_TOKEN_CHARS: usize = 200;

fn cookie_name(console: &Console) -> &'static str {
    if console.tls {
        "__Host-envv_console"
    } else {
        "envv_console"
    }
}

/// The operator a live session acts as, and the session's CSRF token.
#[derive(Clone)]
pub struct Operator {
    /// The operator token's name, as the audit trail names them.
    pub name: String,
    /// The hidden field every form of this session carries.
    pub csrf: String,
    session_hash: [u8; 32],
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The session's CSRF token: an HMAC of the cookie, so it needs no storage
/// and no one without the cookie can make it.
fn csrf_of(cookie: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cookie.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"envv console csrf");
    hex::encode(mac.finalize().into_bytes())
}

impl Operator {
    /// Refuses a form whose `csrf` field is not this session's.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Failure> {
        let given = given.unwrap_or_default();
        if bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(Failure::Forbidden(
                "The form's CSRF token is missing or not this session's: reload the page and try again.",
            ))
        }
    }
}

/// The session cookie's value in the request, if any.
fn session_cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 100)
}

impl FromRequestParts<Console> for Operator {
    type Rejection = Response;

    /// A page opened without a live session goes to the login page; a
    /// form posted without one is refused (401).
    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                see_other("/console/login")
            } else {
                Failure::NotLoggedIn.into_response()
            }
        };
        let Some(cookie) = session_cookie(parts, cookie_name(console)) else {
            return Err(refuse(parts));
        };
        let session_hash = sha256(cookie.as_bytes());
        let now = store::now();
        let used_since = now - chrono::Duration::from_std(console.session_idle).unwrap_or_default();
        let session = console
            .app
            .store
            .console_session(&session_hash, now, used_since)
            .await
            .map_err(|e| Failure::from(e).into_response())?;
        match session {
            Some(session) => Ok(Operator {
                name: session.operator,
                csrf: csrf_of(cookie),
                session_hash,
            }),
            None => Err(refuse(parts)),
        }
    }
}

/// A request that is not cross-site: checked before anything else on
/// every POST. Browsers send `Sec-Fetch-Site` and `Origin` on form posts;
/// a client that sends neither (curl) still needs the CSRF token.
pub struct SameOrigin;

impl FromRequestParts<Console> for SameOrigin {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &Console) -> Result<Self, Failure> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(site) = header("sec-fetch-site")
            && site != "same-origin"
        {
            return Err(Failure::Forbidden(
                "A form posted from another site is refused.",
            ));
        }
        // The origin's host and port must be the ones the request was sent
        // to. Its scheme is left out: behind a TLS-terminating proxy the
        // browser says https to a console served over http (and one port
        // cannot serve both).
        if let Some(origin) = header(header::ORIGIN.as_str()) {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if authority.is_none() || authority != header(header::HOST.as_str()) {
                return Err(Failure::Forbidden(
                    "A form posted from another origin is refused.",
                ));
            }
        }
        Ok(SameOrigin)
    }
}

/// An urlencoded form body whose rejection is a console page.
pub struct ConsoleForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ConsoleForm<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(ConsoleForm(value)),
            Err(FormRejection::BytesRejection(_)) => Err(Failure::TooLarge),
            Err(_) => Err(Failure::BadRequest("the form is malformed".into())),
        }
    }
}

/// The client's address, as the API takes it (`--trust-forwarded-for`),
/// for the limit on failed logins.
pub struct ClientAddr(Option<IpAddr>);

impl FromRequestParts<Console> for ClientAddr {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Failure> {
        if console.app.config.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok())
        {
            return Ok(ClientAddr(Some(ip)));
        }
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<PeerAddr>>()
                .map(|ConnectInfo(PeerAddr(addr))| addr.ip()),
        ))
    }
}

fn login_form(error: Option<&str>) -> maud::Markup {
    page(
        "Log in",
        None,
        html! {
            section.login {
                h1 { "Operator console" }
                p { "Paste an operator token made with "
                    code { "envv-control-plane admin token create --name NAME" } "." }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                form method="post" action="/console/login" {
                    label for="token" { "Operator token" }
                    input #token type="password" name="token" autocomplete="off" required;
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

/// `GET /console/login`.
pub async fn login_page() -> Response {
    login_form(None).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// The token is a secret: wiped when the form is dropped.
impl Drop for LoginForm {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

/// `POST /console/login`: a live operator token starts a session.
pub async fn login(
    State(console): State<Console>,
    _: SameOrigin,
    ClientAddr(ip): ClientAddr,
    ConsoleForm(form): ConsoleForm<LoginForm>,
) -> Page {
    if let Some(ip) = ip
        && console.login_limiter.check(ip).is_err()
    {
        return Err(Failure::TooManyLogins);
    }
    let token = form.token.trim();
    let now = store::now();
    let mut cookie = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(cookie.as_mut());
    let cookie = Zeroizing::new(URL_SAFE_NO_PAD.encode(*cookie));
    let expires = now + chrono::Duration::from_std(console.session_ttl).unwrap_or_default();
    let session = if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        None
    } else {
        console
            .app
            .store
            .console_login(
                &sha256(token.as_bytes()),
                &sha256(cookie.as_bytes()),
                expires,
                now,
            )
            .await?
    };
    let Some(session) = session else {
        if let Some(ip) = ip {
            console.login_limiter.record_failure(ip);
        }
        tracing::warn!(client = ?ip, "console login refused: not a live operator token");
        let page = login_form(Some("That is not a live operator token."));
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    tracing::info!(operator = %session.operator, "console login");
    let secure = if console.tls { "; Secure" } else { "" };
    let set = Zeroizing::new(format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        cookie_name(&console),
        cookie.as_str(),
        console.session_ttl.as_secs()
    ));
    let mut response = see_other("/console/teams");
    response.headers_mut().insert(
        header::SET_COOKIE,
        set.parse()
            .map_err(|_| Failure::Internal("cookie header".into()))?,
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /console/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(console): State<Console>,
    _: SameOrigin,
    operator: Operator,
    ConsoleForm(form): ConsoleForm<CsrfOnly>,
) -> Page {
    operator.check_csrf(form.csrf.as_deref())?;
    console
        .app
        .store
        .console_logout(&operator.session_hash)
        .await?;
    let secure = if console.tls { "; Secure" } else { "" };
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(&console)
    );
    let mut response = see_other("/console/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        clear
            .parse()
            .map_err(|_| Failure::Internal("cookie header".into()))?,
    );
    Ok(response)
}
