//! The page shell every console page shares, its stylesheet, the error
//! page, and small formatting helpers.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::session::Operator;
use crate::admin::AdminError;
use crate::store::StoreError;

const STYLESHEET: &str = include_str!("style.css");

/// `GET /console/style.css`: the only styles the pages use (the CSP
/// refuses inline ones).
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// A whole page: head, navigation (with the operator's name and a logout
/// button when logged in), `body`.
pub fn page(title: &str, operator: Option<&Operator>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · envv operator console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header.top {
                    span.brand { "envv" small { "operator console" } }
                    @if let Some(op) = operator {
                        nav {
                            a href="/console/teams" { "Teams" }
                            a href="/console/invoices" { "Invoices" }
                        }
                        form.logout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(op.csrf);
                            span.who { "signed in as " strong { (op.name) } }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Why a console request was refused; each is a page with its status.
#[derive(Debug)]
pub enum Failure {
    /// No session, or not a live one.
    NotLoggedIn,
    /// A form post that is cross-site or lacks the session's CSRF token.
    Forbidden(&'static str),
    BadRequest(String),
    /// A form over [`super::MAX_FORM_BYTES`].
    TooLarge,
    NotFound(&'static str),
    TooManyLogins,
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Internal(e.to_string())
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Failure {
        match e {
            AdminError::Usage(m) => Failure::BadRequest(m),
            AdminError::NotFound(m) => Failure::BadRequest(m),
            AdminError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            Failure::NotLoggedIn => (
                StatusCode::UNAUTHORIZED,
                "Log in first",
                "This page needs an operator session.".to_owned(),
            ),
            Failure::Forbidden(why) => (StatusCode::FORBIDDEN, "Refused", (*why).to_owned()),
            Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, "Not done", m.clone()),
            Failure::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                format!("A form is at most {} bytes.", super::MAX_FORM_BYTES),
            ),
            Failure::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("No such {what}."),
            ),
            Failure::TooManyLogins => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many failed logins from this address; wait a minute.".to_owned(),
            ),
            Failure::Internal(cause) => {
                tracing::error!(error = %cause, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server failed; its log says why.".to_owned(),
                )
            }
        };
        let body = html! {
            section.failure {
                h1 { (title) }
                p.message { (message) }
                p { a href="/console/teams" { "Back to the teams" } " · " a href="/console/login" { "Log in" } }
            }
        };
        (status, page(title, None, body)).into_response()
    }
}

pub fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

pub fn minute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// A plan's name as people read it.
pub fn plan_label(plan: envv_api::Plan) -> &'static str {
    match plan {
        envv_api::Plan::Free => "Free",
        envv_api::Plan::Starter => "Starter",
        envv_api::Plan::Pro => "Pro",
        envv_api::Plan::Enterprise => "Enterprise",
        envv_api::Plan::DesignPartner => "Design partner",
    }
}
