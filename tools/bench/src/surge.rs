//! Not written yet.

use crate::common::Opts;

/// Runs the benchmark and prints its figures.
pub fn run(_opts: &Opts) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
