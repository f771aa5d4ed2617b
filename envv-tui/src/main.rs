fn main() -> anyhow::Result<()> {
    anyhow::bail!("the dashboard is not built yet")
}
