//! `vigil demo`: placeholder replaced below.
use clap::Args;

/// Options of `vigil demo`.
#[derive(Args, Debug)]
pub struct DemoOpts {}

/// Runs the demo.
pub async fn run(_opts: DemoOpts) -> anyhow::Result<()> {
    Ok(())
}
