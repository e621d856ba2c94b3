//! Multi-step project jobs (`cargo xtask <job>`).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("no jobs yet")
}
