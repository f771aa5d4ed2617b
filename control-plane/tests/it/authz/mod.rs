//! The authorisation matrix: every route of the router against every kind of
//! caller, each cell one exact status. The table is data; a route missing
//! from it, or from the OpenAPI document, fails
//! `matrix_covers_exactly_the_documented_routes`.

use crate::common;

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, Credentials, TestServer, TestUser, random_b64, unique_email};
use envv_api::Role;
use envv_core::chain::Body;
use envv_core::crypto::SignatureBytes;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

/// Who calls. The first five never get past authentication; the rest are
/// real accounts, in or out of the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// Correctly signed by the server's key, `exp` an hour ago.
    Expired,
    /// The owner's token with one character of its payload changed (a later `exp`).
    Tampered,
    /// The owner's claims under `alg: none` and an empty signature.
    AlgNone,
    /// The owner's refresh token presented as a bearer token.
    RefreshAsAccess,
    /// A real account that is not in the team.
    NonMember,
    Member,
    Admin,
    Owner,
}

const CALLERS: [Who; 9] = [
    Who::Anonymous,
    Who::Expired,
    Who::Tampered,
    Who::AlgNone,
    Who::RefreshAsAccess,
    Who::NonMember,
    Who::Member,
    Who::Admin,
    Who::Owner,
];

impl Who {
    fn role(self) -> Option<Role> {
        match self {
            Who::Member => Some(Role::Member),
            Who::Admin => Some(Role::Admin),
            Who::Owner => Some(Role::Owner),
            _ => None,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Who::Anonymous => "anonymous",
            Who::Expired => "expired token",
            Who::Tampered => "tampered token",
            Who::AlgNone => "alg:none token",
            Who::RefreshAsAccess => "refresh token as access",
            Who::NonMember => "non-member",
            Who::Member => "member",
            Who::Admin => "admin",
            Who::Owner => "owner",
        };
        f.write_str(name)
    }
}

/// How a row builds its request: path parameters, body and any fresh state
/// (a target member, an invite, a side team) it needs so that it does not
/// depend on what other rows did.
/// A row that changes a team chain fact carries the statement the caller
/// (the account it is or claims to be) signs at the team's head, so a cell's
/// status is the authorisation's answer, not a refused statement's.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// No body; `{team}` is the fixture team.
    NoBody,
    /// No body; `{team}` is an id no team has.
    NoSuchTeam,
    Prelogin,
    Signup,
    Login,
    /// A fresh session's refresh token.
    Refresh,
    Logout,
    /// The caller's password "changed" to itself (the same auth key,
    /// wrapped identity and KDF), so later rows find the account as it was.
    ChangePassword,
    CreateTeam,
    /// Invite a fresh email with this role.
    Invite(Role),
    /// Revoke a fresh pending invite of the team.
    RevokeInvite,
    /// Revoke a pending invite of another team through this team's path.
    RevokeForeignInvite,
    /// Remove a fresh member holding this role.
    Remove(Role),
    /// Remove someone who is in another team but not this one.
    RemoveForeign,
    /// The caller removes themself: a fresh account with the caller's role.
    Leave,
    /// Remove the one owner of a side team (the fixture owner, who is then
    /// removing themself).
    LastOwnerLeaves,
    /// Change a fresh member's role.
    ChangeRole {
        from: Role,
        to: Role,
    },
    /// Change the role of someone who is in another team but not this one.
    ChangeForeignRole,
    /// Demote the one owner of a side team to admin.
    LastOwnerStepsDown,
    Accept(AcceptCase),
    /// Look at an invite before accepting it (no body).
    Preview(AcceptCase),
    /// Read the chain of an invite's team before accepting it (no body).
    InviteChain(AcceptCase),
    /// Admit a fresh newcomer who accepted: the `admit` statement and their grant.
    Grant,
    /// An admission of someone in another team but not this one.
    GrantForeign,
    /// Rotate a fresh team (the fixture's three roles, the outsider out)
    /// from the epoch it is at.
    Rotate,
    /// Rotate from an epoch that is no longer current.
    RotateStale,
    /// A batch of two client events.
    Ingest,
    /// The exposure report of the fixture's member.
    Exposure,
    /// Set the plan (to pro, keeping the fixture team unlimited).
    Billing,
    Settings,
    /// Rename the fixture team.
    Rename,
    /// Delete a fresh team in which the caller has their role.
    DeleteTeam,
    /// A `checkpoint` of the team's audit head, appended alone.
    Checkpoint,
}

#[derive(Debug, Clone, Copy)]
enum AcceptCase {
    /// An invite to the caller's email, with its token.
    Own,
    /// An invite to someone else's email, with its token.
    SomeoneElses,
    /// An invite to the caller's email, with a wrong token.
    WrongToken,
    /// An id no invite has.
    Unknown,
    /// The caller's invite, revoked by the team.
    Revoked,
    /// The caller's invite, already accepted once.
    Spent,
}

struct Row {
    method: &'static str,
    pattern: &'static str,
    case: Case,
    /// One status per entry of [`CALLERS`], in order.
    expect: [u16; 9],
}

const fn row(method: &'static str, pattern: &'static str, case: Case, expect: [u16; 9]) -> Row {
    Row {
        method,
        pattern,
        case,
        expect,
    }
}

/// Anyone gets `status`.
const fn public(status: u16) -> [u16; 9] {
    [status; 9]
}

/// Authentication required; any account gets `status`.
const fn authed(status: u16) -> [u16; 9] {
    [401, 401, 401, 401, 401, status, status, status, status]
}

/// Authentication required, then team membership and role.
const fn team(non_member: u16, member: u16, admin: u16, owner: u16) -> [u16; 9] {
    [401, 401, 401, 401, 401, non_member, member, admin, owner]
}

const TEAM: &str = "/teams/{team}";
const INVITE: &str = "/teams/{team}/invite";
const INVITES: &str = "/teams/{team}/invites";
const REVOKE: &str = "/teams/{team}/invites/{invite}";
const MEMBERS: &str = "/teams/{team}/members";
const MEMBER: &str = "/teams/{team}/members/{user}";
const ROLE: &str = "/teams/{team}/members/{user}/role";
const ACCEPT: &str = "/invites/{invite}/accept";
const PREVIEW: &str = "/invites/{invite}";
const INVITE_CHAIN: &str = "/invites/{invite}/chain";
const CHAIN: &str = "/teams/{team}/chain";
const KEYS: &str = "/teams/{team}/keys";
const PUBLIC_KEY: &str = "/teams/{team}/keys/public";
const ROTATE: &str = "/teams/{team}/keys/rotate";
const GRANTS: &str = "/teams/{team}/grants";
const PENDING: &str = "/teams/{team}/grants/pending";
const AUDIT: &str = "/teams/{team}/audit";
const EXPORT: &str = "/teams/{team}/audit/export";
const EXPOSURE: &str = "/teams/{team}/members/{user}/exposure";
const USAGE: &str = "/teams/{team}/usage";
const BILLING: &str = "/teams/{team}/billing";
const SETTINGS: &str = "/teams/{team}/settings";
const NAME: &str = "/teams/{team}/name";

/// Columns: anonymous, expired, tampered, alg:none, refresh-as-access |
/// non-member, member, admin, owner.
#[rustfmt::skip]
const TABLE: &[Row] = {
    use Role::{Admin, Member, Owner};
    &[
        // Public: the same answer whoever asks, whatever token they send.
        row("POST",   "/auth/prelogin", Case::Prelogin,   public(200)),
        row("POST",   "/auth/signup",   Case::Signup,     public(201)),
        row("POST",   "/auth/login",    Case::Login,      public(200)),
        row("POST",   "/auth/refresh",  Case::Refresh,    public(200)),
        row("POST",   "/auth/logout",   Case::Logout,     public(204)),
        row("GET",    "/healthz",       Case::NoBody,     public(200)),
        row("GET",    "/readyz",        Case::NoBody,     public(200)),
        row("GET",    "/metrics",       Case::NoBody,     public(200)),
        row("GET",    "/openapi.json",  Case::NoBody,     public(200)),
        // Any account.
        row("GET",    "/me",            Case::NoBody,     authed(200)),
        row("POST",   "/auth/password", Case::ChangePassword, authed(200)),
        row("GET",    "/teams",         Case::NoBody,     authed(200)),
        row("POST",   "/teams",         Case::CreateTeam, authed(201)),
        // Reading a team: members and up; outsiders can't tell it exists.
        row("GET",    TEAM,    Case::NoBody,                              team(404, 200, 200, 200)),
        row("GET",    TEAM,    Case::NoSuchTeam,                          team(404, 404, 404, 404)),
        row("GET",    MEMBERS, Case::NoBody,                              team(404, 200, 200, 200)),
        // The team chain: every member reads it (and verifies it).
        row("GET",    CHAIN,   Case::NoBody,                              team(404, 200, 200, 200)),
        row("GET",    CHAIN,   Case::NoSuchTeam,                          team(404, 404, 404, 404)),
        // Appending a bare statement (an audit checkpoint): admins.
        row("POST",   CHAIN,   Case::Checkpoint,                          team(404, 403, 204, 204)),
        // Settings (how long agents work offline): admins.
        row("PUT",    SETTINGS, Case::Settings,                           team(404, 403, 200, 200)),
        row("PUT",    NAME,     Case::Rename,                             team(404, 403, 200, 200)),
        row("DELETE", TEAM,     Case::DeleteTeam,                         team(404, 403, 403, 204)),
        // Invites: admins invite members and admins; only owners invite owners.
        row("POST",   INVITE,  Case::Invite(Member),                      team(404, 403, 201, 201)),
        row("POST",   INVITE,  Case::Invite(Admin),                       team(404, 403, 201, 201)),
        row("POST",   INVITE,  Case::Invite(Owner),                       team(404, 403, 403, 201)),
        row("GET",    INVITES, Case::NoBody,                              team(404, 403, 200, 200)),
        row("DELETE", REVOKE,  Case::RevokeInvite,                        team(404, 403, 204, 204)),
        row("DELETE", REVOKE,  Case::RevokeForeignInvite,                 team(404, 403, 404, 404)),
        // Removal: admins remove members and admins; only owners remove owners.
        row("DELETE", MEMBER,  Case::Remove(Member),                      team(404, 403, 204, 204)),
        row("DELETE", MEMBER,  Case::Remove(Admin),                       team(404, 403, 204, 204)),
        row("DELETE", MEMBER,  Case::Remove(Owner),                       team(404, 403, 403, 204)),
        row("DELETE", MEMBER,  Case::RemoveForeign,                       team(404, 404, 404, 404)),
        row("DELETE", MEMBER,  Case::Leave,                               team(404, 204, 204, 204)),
        row("DELETE", MEMBER,  Case::LastOwnerLeaves,                     team(404, 403, 403, 409)),
        // Roles: admins move people below owner; only owners make or unmake owners.
        row("PUT",    ROLE,    Case::ChangeRole { from: Member, to: Admin }, team(404, 403, 200, 200)),
        row("PUT",    ROLE,    Case::ChangeRole { from: Admin, to: Member }, team(404, 403, 200, 200)),
        row("PUT",    ROLE,    Case::ChangeRole { from: Member, to: Owner }, team(404, 403, 403, 200)),
        row("PUT",    ROLE,    Case::ChangeRole { from: Admin, to: Owner },  team(404, 403, 403, 200)),
        row("PUT",    ROLE,    Case::ChangeRole { from: Owner, to: Admin },  team(404, 403, 403, 200)),
        row("PUT",    ROLE,    Case::ChangeRole { from: Owner, to: Member }, team(404, 403, 403, 200)),
        row("PUT",    ROLE,    Case::ChangeForeignRole,                   team(404, 404, 404, 404)),
        row("PUT",    ROLE,    Case::LastOwnerStepsDown,                  team(404, 403, 403, 409)),
        // Accepting: the invitee is not yet a member of the invite's team, so
        // their role elsewhere is irrelevant; every failure is the same 404.
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::Own),             authed(200)),
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::SomeoneElses),    authed(404)),
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::WrongToken),      authed(404)),
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::Unknown),         authed(404)),
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::Revoked),         authed(404)),
        row("POST",   ACCEPT,  Case::Accept(AcceptCase::Spent),           authed(404)),
        // Looking before accepting: the addressee only, spent or revoked
        // invites included (their client says why from the chain).
        row("GET",    PREVIEW, Case::Preview(AcceptCase::Own),            authed(200)),
        row("GET",    PREVIEW, Case::Preview(AcceptCase::SomeoneElses),   authed(404)),
        row("GET",    PREVIEW, Case::Preview(AcceptCase::Unknown),        authed(404)),
        row("GET",    PREVIEW, Case::Preview(AcceptCase::Revoked),        authed(200)),
        row("GET",    PREVIEW, Case::Preview(AcceptCase::Spent),          authed(200)),
        // The invite's team chain, before accepting: as the preview.
        row("GET",    INVITE_CHAIN, Case::InviteChain(AcceptCase::Own),          authed(200)),
        row("GET",    INVITE_CHAIN, Case::InviteChain(AcceptCase::SomeoneElses), authed(404)),
        row("GET",    INVITE_CHAIN, Case::InviteChain(AcceptCase::Unknown),      authed(404)),
        row("GET",    INVITE_CHAIN, Case::InviteChain(AcceptCase::Revoked),      authed(200)),
        row("GET",    INVITE_CHAIN, Case::InviteChain(AcceptCase::Spent),        authed(200)),
        // Keys: members fetch their grants and the public key; admins wrap
        // keys for newcomers and rotate.
        row("GET",    KEYS,       Case::NoBody,                           team(404, 200, 200, 200)),
        row("GET",    PUBLIC_KEY, Case::NoBody,                           team(404, 200, 200, 200)),
        row("GET",    PENDING,    Case::NoBody,                           team(404, 403, 200, 200)),
        row("POST",   GRANTS,     Case::Grant,                            team(404, 403, 204, 204)),
        row("POST",   GRANTS,     Case::GrantForeign,                     team(404, 403, 404, 404)),
        row("POST",   ROTATE,     Case::Rotate,                           team(404, 403, 200, 200)),
        row("POST",   ROTATE,     Case::RotateStale,                      team(404, 403, 409, 409)),
        // Audit: members report their own events and read the trail;
        // admins see what a member decrypted; owners alone set the plan.
        row("POST",   AUDIT,      Case::Ingest,                           team(404, 200, 200, 200)),
        row("GET",    AUDIT,      Case::NoBody,                           team(404, 200, 200, 200)),
        row("GET",    AUDIT,      Case::NoSuchTeam,                       team(404, 404, 404, 404)),
        row("GET",    EXPORT,     Case::NoBody,                           team(404, 200, 200, 200)),
        row("GET",    EXPOSURE,   Case::Exposure,                         team(404, 403, 200, 200)),
        row("GET",    USAGE,      Case::NoBody,                           team(404, 403, 200, 200)),
        row("POST",   BILLING,    Case::Billing,                          team(404, 403, 403, 200)),
    ]
};

/// The error code every non-success status in the table must carry.
fn expected_code(case: Case, status: u16) -> Option<&'static str> {
    match (case, status) {
        (_, 401) => Some("unauthorized"),
        (_, 403) => Some("forbidden"),
        (_, 404) => Some("not_found"),
        (Case::RotateStale, 409) => Some("epoch_conflict"),
        (_, 409) => Some("last_owner"),
        _ => None,
    }
}

mod fixture;
use fixture::*;

async fn every_route_answers_every_caller_exactly(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let mut failures = Vec::new();
    for row in TABLE {
        for (who, &expected) in CALLERS.iter().zip(&row.expect) {
            let call = fx.prepare(row, *who).await;
            let (status, body) = fx
                .server
                .call(row.method, &call.path, call.token.as_deref(), call.body)
                .await;
            let cell = format!("{} {} [{:?}] as {who}", row.method, row.pattern, row.case);
            if status != expected {
                failures.push(format!("{cell}: expected {expected}, got {status}: {body}"));
                continue;
            }
            if let Some(code) = expected_code(row.case, status) {
                let shaped = body["error"]["code"] == code && body["error"]["message"].is_string();
                if !shaped {
                    failures.push(format!("{cell}: expected error code {code:?}, got {body}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells differ from the matrix:\n{}",
        failures.len(),
        TABLE.len() * CALLERS.len(),
        failures.join("\n")
    );
    fx.server.stop().await;
}

on_both_backends!(every_route_answers_every_caller_exactly);

/// The table's routes are the documented ones, a route is documented as
/// needing a bearer token exactly when the table has anonymous callers
/// refused, and every status the table expects is documented.
#[test]
fn matrix_covers_exactly_the_documented_routes() {
    let mut documented = BTreeSet::new();
    let mut secured = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    for (method, path, op) in control_plane::openapi::operations() {
        let route = (method, path);
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            secured.insert(route.clone());
        }
        for status in op["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(s, _)| s)
        {
            statuses.insert((route.clone(), status.clone()));
        }
        documented.insert(route);
    }
    let tabled: BTreeSet<_> = TABLE
        .iter()
        .map(|r| (r.method.to_owned(), r.pattern.to_owned()))
        .collect();
    assert_eq!(
        tabled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes in the matrix but not in /openapi.json"
    );
    assert_eq!(
        documented.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes in /openapi.json without a matrix row"
    );
    for row in TABLE {
        let route = (row.method.to_owned(), row.pattern.to_owned());
        // Every answer the matrix expects is one the document lists.
        for status in row.expect {
            assert!(
                statuses.contains(&(route.clone(), status.to_string())),
                "{} {} answers {status} in the matrix, undocumented in /openapi.json",
                row.method,
                row.pattern
            );
        }
        assert_eq!(
            secured.contains(&route),
            row.expect[0] == 401,
            "{} {}: documented security disagrees with the matrix",
            row.method,
            row.pattern
        );
    }
}
