//! `envv man`: one page for the whole command line, rendered from clap's
//! definition (every command, its synopsis and every option), the exit
//! codes of [`EXIT_TABLE`], the [`ENVIRONMENT`] and some examples.
//!
//! clap_mangen's own page lists the commands as `envv-init(1)` pages that
//! don't exist and renders short-only options as `[-C ]`; this writes the
//! sections itself and uses clap_mangen only for its roff.

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::cli::Cli;
use crate::error::EXIT_TABLE;

/// The environment variables envv and the agent it starts read: the man
/// page's ENVIRONMENT and the table in `docs/cli.md` (a test keeps the two
/// equal).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("`ENVV_ENV`", "The default for `--env`."),
    (
        "`ENVV_AGENT_SOCK`",
        "The agent's socket path. Default: `$XDG_RUNTIME_DIR/envv/agent.sock`, else \
         `/tmp/envv-<uid>/agent.sock`. The default directory must be yours and mode 0700; a \
         path given here is used as is.",
    ),
    ("`ENVV_AGENTD`", "The agent binary to start."),
    ("`XDG_RUNTIME_DIR`", "Where the socket's directory goes."),
    (
        "`XDG_DATA_HOME`",
        "Where the agent keeps the personal key (`$XDG_DATA_HOME/envv`, default \
         `~/.local/share/envv`).",
    ),
    (
        "`ENVV_IDLE_LOCK`, `ENVV_MAX_UNLOCK`",
        "The agent's lock timers, in seconds (read by `envvd`).",
    ),
    (
        "`ENVV_SERVER`",
        "The control plane for `auth signup` and `auth login` (default: the project's, else \
         `http://127.0.0.1:8420`), and for `envv doctor` without an account.",
    ),
    (
        "`ENVV_SERVER_CA`",
        "A PEM certificate the agent trusts for HTTPS besides the system's roots (a private \
         CA, or a self-signed control plane); read when the agent starts.",
    ),
    (
        "`ENVV_EMAIL`",
        "The default for `--email` of `auth signup` and `auth login`.",
    ),
    (
        "`ENVV_PASSWORD`",
        "The account password, for `auth signup`, `auth login`, `unlock` and (the current one) \
         `auth passwd` without a prompt.",
    ),
    (
        "`ENVV_NEW_PASSWORD`",
        "The new password for `auth passwd` without a prompt.",
    ),
    (
        "`XDG_CONFIG_HOME`",
        "Where the current team is kept (`$XDG_CONFIG_HOME/envv/config.json`, default \
         `~/.config/envv`).",
    ),
    (
        "`ENVV_COMPLETE`",
        "A shell's name: envv answers that shell's completion request instead of running a \
         command (`source <(ENVV_COMPLETE=bash envv)`).",
    ),
];

/// Command lines and what they do.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "envv init && envv set DATABASE_URL",
        "Make the current directory a project and set a secret; its value is prompted for, \
         without echo.",
    ),
    (
        "envv exec npm start",
        "Run a command with the secrets in its environment (`envv exec -- npm start` is the \
         same).",
    ),
    (
        "envv -e staging import .env.staging",
        "Merge a dotenv file into the staging environment (`.env.staging.enc`).",
    ),
    (
        "envv auth signup && envv team create Acme && envv init --team Acme --move",
        "Create an account and a team, and move a local-mode project to it.",
    ),
    (
        "envv team invite bob@example.com",
        "Print an invite code for Bob, to hand over out of band.",
    ),
    (
        "envv completions bash > ~/.local/share/bash-completion/completions/envv",
        "Install bash completion.",
    ),
    (
        "source <(ENVV_COMPLETE=bash envv)",
        "Complete commands, options, and the names of secrets and teams in bash (in ~/.bashrc).",
    ),
    (
        "envv man > ~/.local/share/man/man1/envv.1",
        "Install this page.",
    ),
];

/// The page, in roff.
pub fn page() -> Vec<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let mut roff = Roff::new();
    roff.control(
        "TH",
        ["ENVV", "1", "", &format!("envv {version}"), "User Commands"],
    );

    roff.control("SH", ["NAME"]);
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    roff.text([roman(format!("envv - {}", about.trim_end_matches('.')))]);

    roff.control("SH", ["SYNOPSIS"]);
    roff.text(synopsis(&cmd, "envv"));
    roff.text([
        bold("envv"),
        roman(" "),
        italic("COMMAND"),
        roman(" "),
        bold("--help"),
    ]);

    roff.control("SH", ["DESCRIPTION"]);
    if let Some(long) = cmd.get_long_about() {
        paragraphs(&mut roff, &long.to_string());
    }

    roff.control("SH", ["OPTIONS"]);
    for arg in shown_args(&cmd) {
        describe_arg(&mut roff, arg);
    }

    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands() {
        commands(&mut roff, sub, "envv");
    }

    roff.control("SH", ["EXIT STATUS"]);
    for (codes, meaning) in EXIT_TABLE {
        roff.control("TP", []);
        let label = if codes.is_empty() {
            "other".to_owned()
        } else {
            codes
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        roff.text([bold(label)]);
        roff.text([roman(plain(meaning))]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    for (names, meaning) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(plain(names))]);
        roff.text([roman(plain(meaning))]);
    }

    roff.control("SH", ["EXAMPLES"]);
    for (line, what) in EXAMPLES {
        roff.control("TP", []);
        roff.text([bold(*line)]);
        roff.text([roman(plain(what))]);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("envv"),
        roman(" "),
        italic("COMMAND"),
        roman(" "),
        bold("--help"),
        roman(", and docs/cli.md in envv's source, which this page summarises."),
    ]);
    roff.render().into_bytes()
}

/// A command and, under it, each of its subcommands: a subsection with the
/// synopsis, the description and the options.
fn commands(roff: &mut Roff, cmd: &Command, parent: &str) {
    if cmd.is_hide_set() || cmd.get_name() == "help" {
        return;
    }
    let path = format!("{parent} {}", cmd.get_name());
    let has_own_args = shown_args(cmd).next().is_some();
    if has_own_args || !cmd.has_subcommands() {
        roff.control("SS", [path.as_str()]);
        roff.text(synopsis(cmd, &path));
        let about = cmd
            .get_long_about()
            .or_else(|| cmd.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        paragraphs(roff, &about);
        let aliases: Vec<&str> = cmd.get_visible_aliases().collect();
        if !aliases.is_empty() {
            roff.text([roman(format!("Also: {}.", aliases.join(", ")))]);
        }
        for arg in shown_args(cmd) {
            describe_arg(roff, arg);
        }
    }
    for sub in cmd.get_subcommands() {
        commands(roff, sub, &path);
    }
}

/// The arguments worth listing: not `--help`, `--version` or hidden ones.
fn shown_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_hide_set() && !matches!(a.get_action(), ArgAction::Help | ArgAction::Version)
    })
}

/// `envv team invite [--role ROLE] [--team ID|NAME] [--json] EMAIL`.
fn synopsis(cmd: &Command, path: &str) -> Vec<Inline> {
    let mut line = vec![bold(path)];
    for arg in shown_args(cmd).filter(|a| !a.is_positional()) {
        line.push(roman(" "));
        let required = arg.is_required_set();
        if !required {
            line.push(roman("["));
        }
        line.push(bold(flag_name(arg)));
        if takes_value(arg) {
            line.push(roman(" "));
            line.push(italic(value_name(arg)));
        }
        if !required {
            line.push(roman("]"));
        }
    }
    for arg in shown_args(cmd).filter(|a| a.is_positional()) {
        line.push(roman(" "));
        let required = arg.is_required_set();
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        line.push(roman(if required { "" } else { "[" }));
        line.push(italic(value_name(arg)));
        line.push(roman(match (many, required) {
            (true, true) => "...",
            (true, false) => "...]",
            (false, true) => "",
            (false, false) => "]",
        }));
    }
    if cmd.has_subcommands() {
        line.push(roman(" "));
        line.push(italic("COMMAND"));
    }
    line
}

/// `--long`, else `-s`.
fn flag_name(arg: &Arg) -> String {
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn value_name(arg: &Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.get_id().as_str().to_ascii_uppercase(),
    }
}

/// One option or argument: its spellings, then what it does, its values,
/// its default and its variable.
fn describe_arg(roff: &mut Roff, arg: &Arg) {
    roff.control("TP", []);
    let mut head = Vec::new();
    if arg.is_positional() {
        head.push(italic(value_name(arg)));
    } else {
        if let Some(short) = arg.get_short() {
            head.push(bold(format!("-{short}")));
        }
        if let Some(long) = arg.get_long() {
            if !head.is_empty() {
                head.push(roman(", "));
            }
            head.push(bold(format!("--{long}")));
        }
        if takes_value(arg) {
            head.push(roman(" "));
            head.push(italic(value_name(arg)));
        }
    }
    roff.text(head);
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut text = plain(help.trim());
    if !text.is_empty() && !text.ends_with('.') {
        text.push('.');
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if takes_value(arg) && !values.is_empty() {
        text.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if takes_value(arg) && !defaults.is_empty() {
        text.push_str(&format!(" Default: {}.", defaults.join(", ")));
    }
    if let Some(var) = arg.get_env() {
        text.push_str(&format!(" Also ${}.", var.to_string_lossy()));
    }
    roff.text([roman(text.trim().to_owned())]);
}

/// Paragraphs of a doc comment, each as one filled paragraph.
fn paragraphs(roff: &mut Roff, text: &str) {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        roff.text([roman(plain(&joined))]);
    }
}

/// Markdown's code quotes are left out on the page.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::docs_table;

    fn page_text() -> String {
        String::from_utf8(page()).expect("utf-8")
    }

    /// docs/cli.md's table of variables is this one, row for row.
    #[test]
    fn the_documented_environment_is_the_pages() {
        let documented = docs_table("## Environment variables");
        let ours: Vec<(String, String)> = ENVIRONMENT
            .iter()
            .map(|(n, m)| ((*n).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(documented, ours);
    }

    #[test]
    fn the_page_has_every_command_and_section_and_no_missing_pages() {
        let page = page_text();
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH COMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH EXAMPLES",
        ] {
            assert!(page.contains(section), "no {section}");
        }
        for command in [
            "envv init",
            "envv exec",
            "envv team invite",
            "envv auth signup",
            "envv audit verify",
            "envv billing",
        ] {
            assert!(page.contains(&format!(".SS \"{command}\"")), "no {command}");
        }
        // No page of its own for a command, and no empty value name.
        assert!(!page.contains("envv-init"), "{page}");
        assert!(
            !page.contains("[-C ]") && !page.contains("[\\-C ]"),
            "{page}"
        );
        assert!(page.contains("DIR"), "{page}");
        // Every exit code is on the page.
        let start = page.find(".SH \"EXIT STATUS\"").expect("exit status");
        let end = page.find(".SH ENVIRONMENT").expect("environment");
        let labels: Vec<&str> = page[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("\\fB"))
            .flat_map(|l| l.trim_end_matches("\\fR").split(", "))
            .collect();
        for (_, code) in crate::error::exit::ALL {
            assert!(
                labels.contains(&code.to_string().as_str()),
                "exit code {code} missing from {labels:?}"
            );
        }
    }
}
