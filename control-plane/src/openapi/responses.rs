//! The answers an operation can give besides its own, from the extractors
//! its handler takes, which its annotations already show: `AuthUser`
//! (`security`) answers 401; `ApiJson` (`requestBody`) 400, 413 and 415;
//! `ApiPath` and `ApiQuery` (`parameters`) 400; the store, which every
//! operation but the process's own reads, 503 when the database is out of
//! reach or busy and 507 when a write it makes (an operation's own, or the
//! audit event a read such as a key fetch records) finds the disk full.
//! Each answer gets a description and, if an error, the
//! error body.

use serde_json::{Value, json};

use super::operations_mut;

/// Paths whose handlers never reach the database.
const NO_DATABASE: [&str; 3] = ["/healthz", "/metrics", "/openapi.json"];

/// What each status means, wherever it is answered; an annotation's own
/// description, where it has one, stays.
fn description(status: &str) -> &'static str {
    match status {
        "200" => "OK.",
        "201" => "Created.",
        "204" => "Done; no content.",
        "400" => {
            "The request breaks a rule: an id in the path that is not a UUID, a malformed \
             query parameter, or a body that is not the expected JSON or has a field \
             outside its bounds (`error.message` names it)."
        }
        "401" => {
            "No valid access token; on login and password change, wrong credentials; on \
             refresh and logout, an invalid, expired or spent refresh token."
        }
        "402" => "The team's plan does not allow this; `error.message` names the limit.",
        "403" => "The caller's role in the team does not allow this.",
        "404" => "No such resource, or none the caller may see.",
        "409" => {
            "It exists already, or the team changed meanwhile (its epoch, members or chain): \
             read it again and retry."
        }
        "413" => "The body is larger than this route's limit, which `error.message` names.",
        "415" => "The body is not sent as `application/json`.",
        "429" => "Too many attempts: retry after `Retry-After` seconds.",
        "503" => "The database is out of reach or busy: retry shortly.",
        "507" => {
            "The server's disk is full: what this request writes (its change, or the audit \
             event a read records) could not be stored. Reads that record nothing still work."
        }
        _ => "See `error.code`.",
    }
}

pub(super) fn complete(doc: &mut Value) {
    for (path, op) in operations_mut(doc) {
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let body = op.get("requestBody").is_some();
        let parameters = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
        let database = !NO_DATABASE.contains(&path.as_str());
        let responses = op["responses"]
            .as_object_mut()
            .expect("every operation has responses");
        let implied = [
            ("401", secured),
            ("400", body || parameters),
            ("413", body),
            ("415", body),
            ("503", database),
            ("507", database),
        ];
        for (status, applies) in implied {
            if applies {
                responses.entry(status).or_insert_with(|| json!({}));
            }
        }
        for (status, response) in responses.iter_mut() {
            if response.get("description").is_none() {
                response["description"] = description(status).into();
            }
            let error = status.starts_with('4') || status.starts_with('5');
            if error && response.get("content").is_none() {
                response["content"] = json!({ "application/json": {
                    "schema": { "$ref": "#/components/schemas/ErrorBody" }
                }});
            }
            if status == "429" || status == "503" {
                response["headers"] = json!({ "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "required": status == "429",
                    "schema": { "type": "integer", "minimum": 1 }
                }});
            }
        }
    }
}
