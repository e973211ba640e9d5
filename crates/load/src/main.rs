//! `concord-load`: see the library for how the load is sent and measured.

use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = concord_load::cli::Args::parse();
    let report = concord_load::cli::run(args).await?;
    let json = serde_json::to_string_pretty(&report).context("the report cannot be written")?;
    println!("{json}");
    Ok(())
}
