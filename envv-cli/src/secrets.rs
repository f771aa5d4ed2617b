//! The project and its secrets: init, set, get, unset, ls, import, export.

use std::io::{self, IsTerminal, Read, Write};

use proto_ipc::{ReadPurpose, Request, Response, Secret};
use zeroize::Zeroizing;

use crate::cli::{ExportFormat, GetArgs, SetArgs, TeamArg};
use crate::error::{Failure, exit};
use crate::{Context, config, team, unexpected};

/// Binds the directory: to `--team` or the current team when given, else
/// (the agent decides) to the only team in account mode or the personal key.
pub fn init(ctx: &Context, arg: &TeamArg) -> Result<(), Failure> {
    let team = match &arg.team {
        Some(_) => Some(team::resolve(arg, team::Prefer::Current)?),
        None => config::current_team(),
    };
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
    println!(
        "envv project at {} (its files are encrypted to {to} {team})",
        root.display()
    );
    println!("next: `envv set KEY value`, then `envv exec -- your-command`");
    Ok(())
}

pub fn set(ctx: &Context, args: SetArgs) -> Result<(), Failure> {
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
    let secrets = ctx.read(vec![args.name.clone()], ReadPurpose::Get)?;
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

pub fn import(ctx: &Context, file: &str) -> Result<(), Failure> {
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
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::usage(format!("{file} is not UTF-8 text")))?;
    let response = ctx.request(&Request::Import {
        at: ctx.at(),
        dotenv: Secret::new(text),
    })?;
    let Response::Imported { count } = response else {
        return Err(unexpected("import"));
    };
    let s = if count == 1 { "" } else { "s" };
    eprintln!("imported {count} secret{s} into {}", ctx.file_name());
    Ok(())
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
    // `envv export | head`: the reader has all it wanted.
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Failure::new(exit::ERROR, "");
    }
    Failure::new(exit::ERROR, format!("could not write to stdout: {e}"))
}
