//! The OpenAPI document, generated from the handlers' annotations as the
//! router registers them.

use std::sync::OnceLock;

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The document's frame: its title and the bearer scheme. The paths come
/// from the router itself ([`crate::routes::api`]); [`document`] joins them.
#[derive(OpenApi)]
#[openapi(
    info(title = "envv control plane", description = "Accounts, teams, roles, key distribution, audit and billing. The server never holds a plaintext secret or team key."),
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

/// The whole document, as `/openapi.json` serves it: built once, from the
/// same route list the server serves.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| crate::routes::api().into_openapi())
}

/// Every documented operation, in path order: its method (upper case), its
/// path pattern and its OpenAPI object as `/openapi.json` has it.
pub fn operations() -> Vec<(String, String, serde_json::Value)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let doc = serde_json::to_value(document()).expect("the document serialises");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                operations.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    operations
}
