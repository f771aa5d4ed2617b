//! `envv`: see the library, `envv_cli`.
fn main() -> std::process::ExitCode {
    envv_cli::main()
}
