//! The OpenAPI document, generated from the handlers' annotations as the
//! router registers them, then completed from what the router and the
//! checks do: the errors every operation's extractors can answer
//! ([`responses`]) and the input rules of `crate::validate` ([`rules`]).

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

mod responses;
mod rules;

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
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let generated = crate::routes::api().into_openapi();
        let mut doc = serde_json::to_value(generated).expect("the document serialises");
        responses::complete(&mut doc);
        rules::apply(&mut doc);
        doc
    })
}

/// The HTTP methods an OpenAPI path item may hold, in lower case.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every documented operation, in path order: its method (upper case), its
/// path pattern and its OpenAPI object as `/openapi.json` has it.
pub fn operations() -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document()["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                operations.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    operations
}

/// Each operation of `doc`, mutably, with its path.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object_mut()
                .into_iter()
                .flatten()
                .filter(|(method, _)| METHODS.contains(&method.as_str()))
                .map(move |(_, op)| (path, op))
        })
}
