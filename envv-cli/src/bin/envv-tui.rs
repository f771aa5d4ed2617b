//! `envv-tui`, the dashboard `envv ui` runs: see `envv_tui::program`.
fn main() -> std::process::ExitCode {
    envv_tui::program::main()
}
