//! `envv auth signup|login|logout|whoami`, and where passwords come from.
//!
//! A password never comes from the command line, where the process list
//! and shell history would show it: `$ENVV_PASSWORD`, else the first line
//! of stdin with `--password-stdin`, else a prompt without echo.

use std::io::{self, BufRead, IsTerminal};

use proto_ipc::{Account, Request, Response, Secret};
use zeroize::Zeroizing;

use crate::cli::{AuthCommand, PasswordArgs};
use crate::error::{Failure, exit};
use crate::out::outln;
use crate::{ask, config, unexpected};

pub fn run(command: AuthCommand) -> Result<(), Failure> {
    match command {
        AuthCommand::Signup {
            email,
            name,
            server,
            password,
            allow_weak_password,
        } => signup(
            email,
            name,
            server_for(server.server)?,
            &password,
            allow_weak_password,
        ),
        AuthCommand::Login {
            email,
            server,
            password,
        } => login(email, server_for(server.server)?, &password),
        AuthCommand::Passwd => passwd(),
        AuthCommand::Logout => logout(),
        AuthCommand::Whoami { json } => whoami(json),
    }
}

/// The server default when neither `--server`, `$ENVV_SERVER` nor the
/// project names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8420";

/// `--server` (or `$ENVV_SERVER`), else the control plane the project here
/// is bound to (a clone of the team's repository names it), else the
/// default; checked to answer before anyone is asked for a password.
fn server_for(given: Option<String>) -> Result<String, Failure> {
    let from_project = || {
        let dir = std::env::current_dir().ok()?;
        match envv_core::project::find_root(&dir)?.1.binding {
            envv_core::project::Binding::Team { server } => Some(server),
            envv_core::project::Binding::Local => None,
        }
    };
    let server = given
        .or_else(from_project)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    ask(&Request::CheckServer {
        server: server.clone(),
    })
    .map_err(|f| match f.code {
        exit::OFFLINE => Failure::new(
            f.code,
            format!(
                "{}; nothing was asked or sent. Start it, or name the team's control plane \
                 with `--server URL` or ENVV_SERVER",
                f.message
            ),
        ),
        _ => f,
    })?;
    Ok(server)
}

fn signup(
    email: Option<String>,
    name: Option<String>,
    server: String,
    password: &PasswordArgs,
    allow_weak_password: bool,
) -> Result<(), Failure> {
    let email = email_from(email)?;
    let name = name.unwrap_or_else(|| {
        email
            .split_once('@')
            .map_or(email.as_str(), |(user, _)| user)
            .to_owned()
    });
    let password = password_from(password, true)?;
    let response = ask(&Request::Signup {
        server,
        email,
        name,
        password,
        allow_weak_password,
    })?;
    let account = expect_account(response, "signup")?;
    // A current team of an earlier account means nothing here.
    config::set_current_team(None)?;
    eprintln!(
        "signed up as {} on {}; the agent is unlocked",
        account.email, account.server
    );
    let here = std::env::current_dir()
        .map(|d| format!(" (here: {})", d.display()))
        .unwrap_or_default();
    eprintln!(
        "next: `envv team create NAME` (or `envv team join CODE` with an invite code), \
         then `envv init` in your project's directory{here}"
    );
    Ok(())
}

fn login(email: Option<String>, server: String, password: &PasswordArgs) -> Result<(), Failure> {
    let email = email_from(email)?;
    let password = password_from(password, false)?;
    let response = ask(&Request::Login {
        server,
        email,
        password,
    })
    // Refused: the command just run is not the next step.
    .map_err(|f| match f.code {
        exit::NOT_LOGGED_IN => Failure::new(
            f.code,
            "the email or password is incorrect; check the email and password, then try again",
        ),
        _ => f,
    })?;
    let account = expect_account(response, "login")?;
    config::set_current_team(None)?;
    eprintln!(
        "logged in as {} on {}; the agent is unlocked",
        account.email, account.server
    );
    Ok(())
}

/// The current password (`$ENVV_PASSWORD` or a prompt), then the new one
/// (`$ENVV_NEW_PASSWORD`, or a prompt asked twice).
fn passwd() -> Result<(), Failure> {
    let current = secret_from("ENVV_PASSWORD", "current password (not echoed): ", None)?;
    let new = secret_from(
        "ENVV_NEW_PASSWORD",
        "new password (not echoed): ",
        Some("the same new password again: "),
    )?;
    let response = ask(&Request::ChangePassword { current, new })?;
    let account = expect_account(response, "passwd")?;
    eprintln!(
        "password changed for {} on {}: every other session of the account has ended; \
         other machines unlock and log in with the new password",
        account.email, account.server
    );
    Ok(())
}

/// A password from `$var`, else a prompt (twice with `again`).
fn secret_from(var: &str, prompt_text: &str, again: Option<&str>) -> Result<Secret, Failure> {
    let secret = if let Some(value) = std::env::var_os(var) {
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| Failure::usage(format!("${var} is not UTF-8 text")))?,
        );
        Secret::new(value.as_str())
    } else if io::stdin().is_terminal() {
        let first = prompt(prompt_text)?;
        if let Some(again) = again
            && first != prompt(again)?
        {
            return Err(Failure::usage("the passwords differ; nothing was changed"));
        }
        first
    } else {
        return Err(Failure::usage(format!(
            "no password: set {var}, or run in a terminal to be prompted"
        )));
    };
    if secret.expose().is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(secret)
}

fn logout() -> Result<(), Failure> {
    let response = ask(&Request::Logout)?;
    // The current team belonged to that account.
    config::set_current_team(None)?;
    match response {
        Response::Done => eprintln!("logged out: this machine forgot the account"),
        Response::NoAccount => eprintln!("not logged in"),
        _ => return Err(unexpected("logout")),
    }
    Ok(())
}

fn whoami(json: bool) -> Result<(), Failure> {
    match ask(&Request::Whoami)? {
        Response::Account(account) => {
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&account).unwrap_or_default()
                );
            } else {
                outln!(
                    "{} <{}> on {} (user {})",
                    account.name,
                    account.email,
                    account.server,
                    account.user_id
                );
                match &account.fingerprint {
                    Some(fp) => outln!("fingerprint: {fp}"),
                    None => outln!("fingerprint: unlock the agent to see it"),
                }
            }
            Ok(())
        }
        Response::NoAccount => Err(Failure::new(
            exit::NOT_LOGGED_IN,
            "not logged in (local mode); run `envv auth login` or `envv auth signup`",
        )),
        _ => Err(unexpected("whoami")),
    }
}

fn expect_account(response: Response, op: &'static str) -> Result<Account, Failure> {
    match response {
        Response::Account(account) => Ok(account),
        _ => Err(unexpected(op)),
    }
}

/// `--email`, else asked for on a terminal (as the spec's demo runs a bare
/// `envv auth signup`).
fn email_from(given: Option<String>) -> Result<String, Failure> {
    if let Some(email) = given {
        return Ok(email);
    }
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(
            "no email: give `--email ADDRESS` or set ENVV_EMAIL",
        ));
    }
    eprint!("email: ");
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not read the email: {e}")))?;
    let email = line.trim();
    if email.is_empty() {
        return Err(Failure::usage("no email given"));
    }
    Ok(email.to_owned())
}

/// The password, from the first source that has one. `confirm` asks twice
/// at a prompt (signup: a typo there would lock the account's key away).
pub fn password_from(args: &PasswordArgs, confirm: bool) -> Result<Secret, Failure> {
    let password = if let Some(value) = std::env::var_os("ENVV_PASSWORD") {
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| Failure::usage("$ENVV_PASSWORD is not UTF-8 text"))?,
        );
        Secret::new(value.as_str())
    } else if args.password_stdin {
        let mut line = Zeroizing::new(String::new());
        io::stdin().lock().read_line(&mut line).map_err(|e| {
            Failure::new(
                exit::ERROR,
                format!("could not read the password from stdin: {e}"),
            )
        })?;
        Secret::new(line.trim_end_matches(['\n', '\r']))
    } else if io::stdin().is_terminal() {
        let first = prompt("password (not echoed): ")?;
        if confirm {
            let again = prompt("the same password again: ")?;
            if first != again {
                return Err(Failure::usage("the passwords differ; nothing was changed"));
            }
        }
        first
    } else {
        return Err(Failure::usage(
            "no password: set ENVV_PASSWORD, pipe it in with `--password-stdin`, \
             or run in a terminal to be prompted",
        ));
    };
    if password.expose().is_empty() {
        return Err(Failure::usage("the password is empty"));
    }
    Ok(password)
}

fn prompt(text: &str) -> Result<Secret, Failure> {
    rpassword::prompt_password(text)
        .map(Secret::new)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not read the password: {e}")))
}
