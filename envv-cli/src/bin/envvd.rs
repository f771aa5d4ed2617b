//! `envvd`, the agent: see `envvd::daemon`. Built here so that installing
//! `envv-cli` installs the agent `envv` starts.
fn main() -> anyhow::Result<()> {
    envvd::daemon::main()
}
