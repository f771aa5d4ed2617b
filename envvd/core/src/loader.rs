//! Environment variables that change which code a program loads or runs:
//! the dynamic linker's, shells' start-up files, interpreters' options and
//! module paths, git's helper commands, the JVM's options. A secret with
//! one of these names turns `envv exec` into running someone's code, so
//! storing one takes an explicit flag (`envv set --allow-loader-var`,
//! `envv import --allow-loader-var`) and `envv exec` warns when one is
//! present. `docs/cli.md` lists them; a test keeps the two equal.

/// Every name that starts with one of these (the dynamic linkers').
pub const LOADER_PREFIXES: &[&str] = &["LD_", "DYLD_", "GIT_CONFIG_"];

/// These exact names.
pub const LOADER_NAMES: &[&str] = &[
    // Shells: a file sourced (and, for bash, its name expanded) at start.
    "BASH_ENV",
    "ENV",
    "ZDOTDIR",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    // glibc loads conversion modules from here.
    "GCONV_PATH",
    // Node.js.
    "NODE_OPTIONS",
    "NODE_PATH",
    // Python.
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONBREAKPOINT",
    "PYTHONWARNINGS",
    // Perl.
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    // Ruby.
    "RUBYOPT",
    "RUBYLIB",
    // PHP: an ini file can prepend code to every script.
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    // git's helper commands and config.
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXEC_PATH",
    "GIT_PROXY_COMMAND",
    "GIT_ASKPASS",
    "GIT_TEMPLATE_DIR",
    "SSH_ASKPASS",
    // The JVM.
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    // less runs this as a command on every file it opens.
    "LESSOPEN",
];

/// Whether a variable named `name` changes which code programs load or run.
pub fn changes_loading(name: &str) -> bool {
    LOADER_NAMES.contains(&name) || LOADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The names in `names` that [`changes_loading`], in their order.
pub fn loader_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names.into_iter().filter(|n| changes_loading(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_variables_are_told_apart_from_ordinary_names() {
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "ENV",
        ] {
            assert!(changes_loading(name), "{name}");
        }
        for name in [
            "DATABASE_URL",
            "ENVIRONMENT",
            "LD",
            "NODE_ENV",
            "old_ld_preload",
        ] {
            assert!(!changes_loading(name), "{name}");
        }
    }

    /// `docs/cli.md`'s list is this one: every name and prefix, nothing more.
    #[test]
    fn the_docs_list_these_names() {
        let path = format!(
            "{}/../../docs/cli.md",
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        );
        let docs = std::fs::read_to_string(path).expect("docs/cli.md");
        let section = docs
            .split("### Loader variables")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the Loader variables section");
        let listed: std::collections::BTreeSet<String> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| {
                let bare = t.trim_end_matches('…');
                !bare.is_empty()
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect();
        let code: std::collections::BTreeSet<String> = LOADER_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(LOADER_PREFIXES.iter().map(|p| format!("{p}…")))
            .collect();
        assert_eq!(listed, code);
    }
}
