//! The project and its secrets: init, set, get, unset, ls, import, export.

use std::io::{self, IsTerminal, Read, Write};

use proto_ipc::{ImportOptions, ImportStatus, ReadPurpose, Request, Response, Secret};
use zeroize::Zeroizing;

use crate::cli::{ExportFormat, GetArgs, ImportArgs, InitArgs, SetArgs};
use crate::error::{Failure, exit};
use crate::out::outln;
use crate::{Context, config, team, unexpected};

/// Binds the directory: to `--team` or the current team when given, else
/// (the agent decides) to the only team in account mode or the personal key.
/// With `--move`, moves the project around it to that team.
pub fn init(ctx: &Context, args: &InitArgs) -> Result<(), Failure> {
    let arg = &args.team;
    let team = match &arg.team {
        Some(_) => Some(team::resolve(arg, team::Prefer::Current)?),
        None => config::current_team(),
    };
    if args.move_files {
        return move_project(ctx, team);
    }
    let response = ctx.request(&Request::Init {
        dir: ctx.dir.clone(),
        team,
    })?;
    let Response::Project { root, team } = response else {
        return Err(unexpected("init"));
    };
    let to = match config::project(&root) {
        Some((_, Some(_))) => "team",
        _ => "your personal key",
    };
    outln!(
        "envv project at {} (its files are encrypted to {to} {team})",
        root.display()
    );
    outln!("next: `envv set KEY value`, then `envv exec -- your-command`");
    Ok(())
}

fn move_project(ctx: &Context, team: Option<uuid::Uuid>) -> Result<(), Failure> {
    let Response::Moved { root, team, files } = ctx.request(&Request::MoveProject {
        dir: ctx.dir.clone(),
        team,
    })?
    else {
        return Err(unexpected("move"));
    };
    let name = team::name_of(team);
    let s = if files == 1 { "" } else { "s" };
    eprintln!(
        "moved {} to team {name}: {files} file{s} re-encrypted to the team's key, .envv.json \
         rewritten",
        root.display()
    );
    eprintln!(
        "next: commit .envv.json and the .env*.enc files; the team's members read them once \
         they hold the team's key"
    );
    Ok(())
}

pub fn set(ctx: &Context, args: SetArgs) -> Result<(), Failure> {
    // Before any value is asked for.
    if !args.allow_loader_var && envv_core::loader::changes_loading(&args.name) {
        return Err(Failure::usage(format!(
            "{} changes which code programs run under `envv exec` (a way to run anyone's code \
             on every member's machine); nothing was set. If you mean it, pass \
             --allow-loader-var",
            args.name
        )));
    }
    let value = match args.value {
        Some(value) => Secret::new(value),
        None if args.stdin => read_stdin_value()?,
        None if io::stdin().is_terminal() => prompt_value(&args.name)?,
        None => {
            return Err(Failure::usage(format!(
                "no value for {}: give it after the name, pipe it in with `--stdin`, \
                 or run in a terminal to be prompted",
                args.name
            )));
        }
    };
    let response = ctx.request(&Request::Set {
        at: ctx.at(),
        name: args.name.clone(),
        value,
    })?;
    expect_done(response, "set")?;
    eprintln!("set {} in {}", args.name, ctx.file_name());
    Ok(())
}

/// The whole of stdin, less one trailing newline (`echo v | envv set K
/// --stdin` means `v`).
fn read_stdin_value() -> Result<Secret, Failure> {
    let mut bytes = Zeroizing::new(Vec::new());
    io::stdin().read_to_end(&mut bytes).map_err(|e| {
        Failure::new(
            exit::ERROR,
            format!("could not read the value from stdin: {e}"),
        )
    })?;
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let text = std::str::from_utf8(&bytes[..end])
        .map_err(|_| Failure::usage("the value on stdin is not UTF-8 text"))?;
    Ok(Secret::new(text))
}

fn prompt_value(name: &str) -> Result<Secret, Failure> {
    let value = rpassword::prompt_password(format!("value for {name} (not echoed): "))
        .map_err(|e| Failure::new(exit::ERROR, format!("could not read the value: {e}")))?;
    Ok(Secret::new(value))
}

pub fn get(ctx: &Context, args: GetArgs) -> Result<(), Failure> {
    let secrets = ctx
        .read(vec![args.name.clone()], ReadPurpose::Get)
        .map_err(|f| ctx.or_not_found(f, &args.name))?;
    let Some((_, value)) = secrets.iter().find(|(name, _)| *name == args.name) else {
        return Err(ctx.not_found(&args.name));
    };
    let mut out = io::stdout().lock();
    write_out(&mut out, value.expose().as_bytes())?;
    if !args.no_newline {
        write_out(&mut out, b"\n")?;
    }
    out.flush().map_err(stdout_failed)
}

pub fn unset(ctx: &Context, name: String) -> Result<(), Failure> {
    let response = ctx.request(&Request::Unset {
        at: ctx.at(),
        name: name.clone(),
    })?;
    expect_done(response, "unset")?;
    eprintln!("removed {name} from {}", ctx.file_name());
    Ok(())
}

pub fn reseal(ctx: &Context, yes: bool) -> Result<(), Failure> {
    let Response::ResealPreview { verdict, names } =
        ctx.request(&Request::ResealPreview { at: ctx.at() })?
    else {
        return Err(unexpected("reseal_preview"));
    };
    eprintln!("{verdict}");
    for (name, change) in &names {
        outln!("{name:<40}  {change}");
    }
    if verdict.starts_with("signed by a member") {
        return Ok(());
    }
    if !yes {
        team::confirm_or(
            &format!(
                "re-seal {} with these {} values, signed by you?",
                ctx.file_name(),
                names.iter().filter(|(_, c)| c != "removed").count()
            ),
            "nothing resealed",
        )?;
    }
    let Response::Resealed { count } = ctx.request(&Request::Reseal { at: ctx.at() })? else {
        return Err(unexpected("reseal"));
    };
    eprintln!(
        "resealed {} ({count} secrets) at the team's current key, signed by you",
        ctx.file_name()
    );
    Ok(())
}

pub fn ls(ctx: &Context, json: bool) -> Result<(), Failure> {
    let response = ctx.request(&Request::Names { at: ctx.at() })?;
    let Response::Names { names } = response else {
        return Err(unexpected("names"));
    };
    let text = if json {
        let mut text = serde_json::to_string(&names).unwrap_or_default();
        text.push('\n');
        text
    } else {
        names.iter().map(|n| format!("{n}\n")).collect()
    };
    let mut out = io::stdout().lock();
    write_out(&mut out, text.as_bytes())?;
    out.flush().map_err(stdout_failed)
}

pub fn import(ctx: &Context, args: &ImportArgs) -> Result<(), Failure> {
    let file = args.file.as_str();
    let mut bytes = Zeroizing::new(Vec::new());
    if file == "-" {
        if io::stdin().is_terminal() {
            return Err(Failure::usage(
                "`envv import` reads dotenv from stdin: give a file (`envv import .env`) \
                 or pipe one in",
            ));
        }
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::new(exit::ERROR, format!("could not read stdin: {e}")))?;
    } else {
        std::fs::File::open(file)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| {
                let code = if e.kind() == io::ErrorKind::NotFound {
                    exit::NOT_FOUND
                } else {
                    exit::ERROR
                };
                Failure::new(code, format!("could not read {file}: {e}"))
            })?;
    }
    // Invalid UTF-8 goes to the agent as is (lossless here is impossible):
    // its reader names the line; this only has to carry the text.
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => Secret::new(text),
        Err(e) => {
            let line = bytes[..e.valid_up_to()].split(|b| *b == b'\n').count();
            return Err(Failure::usage(format!(
                "{file} is not UTF-8 text (first invalid byte on line {line}); save it as UTF-8"
            )));
        }
    };
    let expand = !args.no_expand;
    let response = ctx.request(&Request::Import {
        at: ctx.at(),
        env: if expand {
            referenced_environment(text.expose())
        } else {
            Vec::new()
        },
        dotenv: text,
        options: ImportOptions {
            expand,
            strict: args.strict,
            dry_run: args.dry_run,
            allow_loader_vars: args.allow_loader_var,
        },
    })?;
    let Response::Imported {
        count,
        changes,
        warnings,
    } = response
    else {
        return Err(unexpected("import"));
    };
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        let mut text = serde_json::to_string_pretty(&changes).unwrap_or_default();
        text.push('\n');
        write_out(&mut io::stdout().lock(), text.as_bytes())?;
    } else if args.dry_run {
        let listing: String = changes
            .iter()
            .map(|c| format!("{:<8} {}\n", status_word(c.status), c.name))
            .collect();
        write_out(&mut io::stdout().lock(), listing.as_bytes())?;
    }
    let tally = |status| changes.iter().filter(|c| c.status == status).count();
    let s = if count == 1 { "" } else { "s" };
    let done = if args.dry_run {
        "dry run, nothing written: would import"
    } else {
        "imported"
    };
    eprintln!(
        "{done} {count} secret{s} into {} ({} new, {} changed, {} the same)",
        ctx.file_name(),
        tally(ImportStatus::New),
        tally(ImportStatus::Changed),
        tally(ImportStatus::Same),
    );
    Ok(())
}

fn status_word(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::New => "new",
        ImportStatus::Changed => "changed",
        ImportStatus::Same => "same",
    }
}

/// The variables of this process's environment the text may reference,
/// and only those: the agent expands with them, never with its own.
fn referenced_environment(text: &str) -> Vec<(String, Secret)> {
    proto_ipc::referenced_names(text)
        .into_iter()
        .filter_map(|name| {
            let value = std::env::var_os(name)?;
            // A value that is not UTF-8 cannot be stored; the name then
            // counts as undefined and is reported.
            let value = value.into_string().ok()?;
            Some((name.to_owned(), Secret::new(value)))
        })
        .collect()
}

pub fn export(ctx: &Context, format: ExportFormat) -> Result<(), Failure> {
    let format = match format {
        ExportFormat::Dotenv => proto_ipc::ExportFormat::Dotenv,
        ExportFormat::Json => proto_ipc::ExportFormat::Json,
        ExportFormat::Shell => proto_ipc::ExportFormat::Shell,
    };
    let Response::Text { text } = ctx.request(&Request::Export {
        at: ctx.at(),
        format,
    })?
    else {
        return Err(unexpected("export"));
    };
    let mut out = io::stdout().lock();
    write_out(&mut out, text.expose().as_bytes())?;
    out.flush().map_err(stdout_failed)
}

fn expect_done(response: Response, op: &'static str) -> Result<(), Failure> {
    match response {
        Response::Done => Ok(()),
        _ => Err(unexpected(op)),
    }
}

fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<(), Failure> {
    out.write_all(bytes).map_err(stdout_failed)
}

fn stdout_failed(e: io::Error) -> Failure {
    crate::out::failed(e)
}
