//! Dynamic completion (`source <(ENVV_COMPLETE=bash envv)`): secret names
//! and team names come from the running agent while you type. Only an agent
//! already running answers (completion never starts one, and never prompts);
//! a locked or absent agent completes nothing. Names only, never values:
//! listing names is not a read of values, and is not audited.

use std::ffi::OsStr;

use clap_complete::CompletionCandidate;
use proto_ipc::{EnvRef, Request, Response};

use crate::connect::connect_existing;

/// The names in the environment of the current directory (`$ENVV_ENV`, else
/// the default one) that start with what was typed.
pub fn secret_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Ok(dir) = std::env::current_dir() else {
        return Vec::new();
    };
    let at = EnvRef {
        dir,
        env: std::env::var("ENVV_ENV").ok().filter(|e| !e.is_empty()),
    };
    match ask(&Request::Names { at }) {
        Some(Response::Names { names }) => matching(names, current),
        _ => Vec::new(),
    }
}

/// Your teams' names that start with what was typed.
pub fn team_names(current: &OsStr) -> Vec<CompletionCandidate> {
    match ask(&Request::ListTeams) {
        Some(Response::Teams { teams }) => {
            matching(teams.into_iter().map(|t| t.name).collect(), current)
        }
        _ => Vec::new(),
    }
}

fn ask(request: &Request) -> Option<Response> {
    connect_existing().ok()?.request(request).ok()
}

fn matching(names: Vec<String>, current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    names
        .into_iter()
        .filter(|n| n.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}
