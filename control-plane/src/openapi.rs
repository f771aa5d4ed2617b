//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{audit, auth, billing, keys, ops, teams};

#[derive(OpenApi)]
#[openapi(
    info(title = "envv control plane", description = "Accounts, teams, roles, key distribution, audit and billing. The server never holds a plaintext secret or team key."),
    paths(
        auth::prelogin, auth::signup, auth::login, auth::refresh, auth::logout, auth::me,
        teams::list, teams::create, teams::get, teams::members, teams::invite, teams::invites,
        teams::revoke_invite, teams::preview_invite, teams::accept_invite, teams::change_role, teams::remove_member,
        keys::fetch, keys::public_key, keys::pending, keys::post_grant, keys::rotate,
        audit::ingest, audit::query, audit::export, audit::exposure,
        billing::usage, billing::set_billing, teams::set_settings,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
