//! Team chain statements as the routes receive them (issue #16): each
//! route that changes a chain fact takes the statement its client signed,
//! checks here that it says what the request says and that the caller
//! signed it, and hands it to the store, which checks it against the chain
//! at its head inside the write transaction (`store/sql_chain.rs`).

use envv_core::chain::{MAX_STATEMENT_LEN, Statement};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Parses the request's statement (size-bounded, canonical encoding only),
/// and checks it is for `team` and signed by the caller.
pub fn parse(text: &str, team: Uuid, caller: Uuid) -> ApiResult<Statement> {
    if text.len() > MAX_STATEMENT_LEN {
        return Err(ApiError::InvalidStatement(format!(
            "a statement is at most {MAX_STATEMENT_LEN} bytes"
        )));
    }
    let statement =
        Statement::parse(text).map_err(|e| ApiError::InvalidStatement(e.to_string()))?;
    if statement.team() != team {
        return Err(differs("team"));
    }
    if statement.by() != caller {
        return Err(ApiError::InvalidStatement(
            "the statement is not signed by the caller".into(),
        ));
    }
    Ok(statement)
}

/// The statement says other than its request: `what` names the field.
pub fn differs(what: &str) -> ApiError {
    ApiError::InvalidStatement(format!("the statement's {what} differs from the request's"))
}

/// A statement of another kind than the route takes.
pub fn wrong_kind(statement: &Statement, kind: &'static str) -> ApiError {
    ApiError::InvalidStatement(format!(
        "this route takes a `{kind}` statement, not `{}`",
        statement.body().kind()
    ))
}
