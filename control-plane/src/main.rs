use clap::Parser;

fn main() -> anyhow::Result<()> {
    control_plane::cli::run(control_plane::cli::Cli::parse())
}
