//! The server's input rules as schema constraints: each taken from the
//! constant or pattern its check in `crate::validate` (or the API crate)
//! uses, so the document states what the server enforces and can't drift
//! from it. Rules the schema can't say (a key that is a valid point, a
//! signed statement that fits the chain, a date range) stay the server's:
//! their failures are the documented 400s.

use envv_api::{
    CLIENT_ACTIONS, KDF_SALT_LEN, MAX_BATCH_EVENTS, MAX_EVENT_SECRETS, MAX_PAGE,
    MAX_STALENESS_RANGE,
};
use envv_core::chain::MAX_STATEMENT_LEN;
use serde_json::{Value, json};

use super::operations_mut;
use crate::error::ApiError;
use crate::validate::{self, MAX_EMAIL_LEN, MAX_GRANT, MAX_WRAPPED_IDENTITY};

pub(super) fn apply(doc: &mut Value) {
    unsigned(doc);
    // No `format: email`: the server checks this pattern, not RFC 5322.
    let email = json!({
        "type": "string", "maxLength": MAX_EMAIL_LEN, "pattern": validate::email_pattern(),
    });
    let name = json!({ "type": "string", "pattern": validate::display_name_pattern() });
    let auth_key = json!({ "type": "string", "pattern": validate::auth_key_pattern() });
    let age = json!({ "type": "string", "pattern": validate::AGE_RECIPIENT_PATTERN });
    let blob = |max: usize| {
        json!({
            "type": "string", "minLength": 1, "maxLength": max,
            "pattern": validate::OPAQUE_BLOB_PATTERN,
        })
    };
    let statement = json!({ "type": "string", "minLength": 1, "maxLength": MAX_STATEMENT_LEN });
    let sha256 = json!({ "type": "string", "pattern": validate::SHA256_HEX_PATTERN });
    // base64url of a 64-byte Ed25519 signature (`routes::teams::signature`).
    let signature = json!({
        "type": "string",
        "pattern": format!("^{}$", validate::base64_pattern(64, false)),
    });
    let secret_name = json!({ "type": "string", "pattern": validate::secret_name_pattern() });
    let range =
        |r: &std::ops::RangeInclusive<u32>| json!({ "minimum": r.start(), "maximum": r.end() });

    let fields = [
        ("PreloginRequest", "email", &email),
        ("SignupRequest", "email", &email),
        ("SignupRequest", "name", &name),
        ("SignupRequest", "auth_key", &auth_key),
        ("SignupRequest", "identity_public_key", &age),
        (
            "SignupRequest",
            "signing_public_key",
            &json!({ "type": "string", "pattern": validate::SIGNING_KEY_PATTERN }),
        ),
        (
            "SignupRequest",
            "wrapped_identity",
            &blob(MAX_WRAPPED_IDENTITY),
        ),
        ("LoginRequest", "email", &email),
        ("LoginRequest", "auth_key", &auth_key),
        ("ChangePasswordRequest", "current_auth_key", &auth_key),
        ("ChangePasswordRequest", "new_auth_key", &auth_key),
        (
            "ChangePasswordRequest",
            "wrapped_identity",
            &blob(MAX_WRAPPED_IDENTITY),
        ),
        (
            "KdfParams",
            "algorithm",
            &json!({ "type": "string", "enum": ["argon2id"] }),
        ),
        ("KdfParams", "memory_kib", &range(&validate::KDF_MEMORY_KIB)),
        ("KdfParams", "iterations", &range(&validate::KDF_ITERATIONS)),
        (
            "KdfParams",
            "parallelism",
            &range(&validate::KDF_PARALLELISM),
        ),
        (
            "KdfParams",
            "salt",
            &json!({
                "type": "string",
                "pattern": format!("^{}$", validate::base64_pattern(KDF_SALT_LEN, true)),
            }),
        ),
        ("CreateTeamRequest", "name", &name),
        ("CreateTeamRequest", "epoch_public_key", &age),
        ("CreateTeamRequest", "creator_grant", &blob(MAX_GRANT)),
        ("CreateTeamRequest", "statement", &statement),
        ("RenameTeamRequest", "name", &name),
        (
            "TeamSettings",
            "max_staleness_secs",
            &range(&MAX_STALENESS_RANGE),
        ),
        ("TeamSettings", "statement", &statement),
        ("CreateInviteRequest", "email", &email),
        ("CreateInviteRequest", "accept_token_hash", &sha256),
        ("CreateInviteRequest", "statement", &statement),
        ("AcceptInviteRequest", "proof", &signature),
        ("AcceptInviteRequest", "consent", &signature),
        ("ChangeRoleRequest", "statement", &statement),
        ("StatementRequest", "statement", &statement),
        ("PostGrantRequest", "grant", &blob(MAX_GRANT)),
        ("PostGrantRequest", "statement", &statement),
        ("RotateRequest", "public_key", &age),
        ("RotateRequest", "statement", &statement),
        ("MemberGrant", "grant", &blob(MAX_GRANT)),
        (
            "IngestRequest",
            "events",
            &json!({ "maxItems": MAX_BATCH_EVENTS }),
        ),
        (
            "ClientEvent",
            "action",
            &json!({ "type": "string", "enum": CLIENT_ACTIONS }),
        ),
        (
            "ClientEvent",
            "secret_names",
            &json!({ "maxItems": MAX_EVENT_SECRETS, "items": secret_name }),
        ),
        ("ClientEvent", "env", &secret_name),
        ("ClientEvent", "path_hash", &sha256),
        ("BillingRequest", "billing_email", &email),
        (
            "ErrorDetail",
            "code",
            &json!({ "type": "string", "enum": ApiError::CODES }),
        ),
    ];
    for (schema, field, rule) in fields {
        let pointer = format!("/components/schemas/{schema}/properties/{field}");
        let property = doc
            .pointer_mut(&pointer)
            .unwrap_or_else(|| panic!("{schema}.{field} is in the document"));
        // A secret's schema is shared by every secret; this field's rule is its own.
        if let Some(object) = property.as_object_mut()
            && object.remove("$ref").is_some()
        {
            object.insert("type".into(), "string".into());
        }
        merge(property, rule);
    }

    let params = [
        (
            "/teams/{team}/audit",
            "limit",
            json!({ "minimum": 1, "maximum": MAX_PAGE }),
        ),
        ("/teams/{team}/audit", "action", secret_name.clone()),
        ("/teams/{team}/audit", "secret", secret_name),
        ("/teams/{team}/audit", "actor_email", email),
        (
            "/teams/{team}/audit/export",
            "format",
            json!({ "type": "string", "enum": ["jsonl", "csv"] }),
        ),
    ];
    for (path, name, rule) in params {
        let mut found = false;
        for (_, op) in operations_mut(doc).filter(|(p, _)| p.as_str() == path) {
            for param in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if param["name"] == name && param["in"] == "query" {
                    merge(&mut param["schema"], &rule);
                    found = true;
                }
            }
        }
        assert!(found, "{path} has a query parameter `{name}`");
    }

    // A query string can't carry a JSON null: an optional parameter is
    // absent, not null.
    for (_, op) in operations_mut(doc) {
        for param in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let schema = &mut param["schema"];
            if let Some(types) = schema["type"].as_array() {
                let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                schema["type"] = match types.as_slice() {
                    [only] => only.clone(),
                    _ => types.into(),
                };
            }
        }
    }
}

/// utoipa says `format: int32` (or `int64`) and `minimum: 0` for a `u32`
/// (`u64`), but those formats are signed: a client would think 2³¹ out
/// of range where serde takes it. The bounds are the Rust type's.
fn unsigned(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let integer = object.get("type").is_some_and(|t| {
                t == "integer"
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == "integer"))
            });
            let max = match object.get("format").and_then(Value::as_str) {
                Some("int32") => Some(Value::from(u32::MAX)),
                Some("int64") => Some(Value::from(u64::MAX)),
                _ => None,
            };
            if integer
                && object.get("minimum") == Some(&Value::from(0))
                && let Some(max) = max
            {
                object.remove("format");
                object.entry("maximum").or_insert(max);
            }
            object.values_mut().for_each(unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned),
        _ => {}
    }
}

/// Adds the rule's keywords to a schema; a type the schema has already
/// (`["string", "null"]` for an optional field) stays.
fn merge(target: &mut Value, rule: &Value) {
    for (key, value) in rule.as_object().into_iter().flatten() {
        if key != "type" || target.get("type").is_none() {
            target[key] = value.clone();
        }
    }
}
