fn main() -> anyhow::Result<()> {
    anyhow::bail!("the envv command line is not built yet")
}
