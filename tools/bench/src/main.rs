//! faro-bench: Faro's benchmarks. Programs that print figures (median and range of several runs);
//! they never assert timings. BENCHMARKS.md has the commands and the latest figures.
//!
//! ```text
//! cargo build --release -p farod -p faroctl -p faro-bench
//! target/release/faro-bench all            # every benchmark, full size (by hand)
//! target/release/faro-bench all --smoke    # small sizes, seconds each (CI)
//! target/release/faro-bench ingest --runs 5
//! target/release/faro-bench intake          # understanding, on tests/data/intake/
//! target/release/faro-bench desk            # the desk in headless Chromium
//! ```

mod airtime;
mod common;
mod desk;
mod ingest;
mod intake;
mod latency;
mod mix;
mod rig;
mod scale;
mod surge;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::common::{sibling, Opts};

#[derive(Debug, Parser)]
#[command(
    name = "faro-bench",
    version,
    about = "Faro's benchmarks (figures, never assertions)"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// Small sizes, a few seconds each (what CI runs to keep the benchmarks working).
    #[arg(long, global = true)]
    smoke: bool,
    /// Runs per figure; the median and range are over them (default: 5, smoke: 1).
    #[arg(long, global = true)]
    runs: Option<usize>,
    /// The farod binary (default: next to this one).
    #[arg(long, global = true)]
    farod: Option<PathBuf>,
    /// The faroctl binary (default: next to this one).
    #[arg(long, global = true)]
    faroctl: Option<PathBuf>,
    /// The venv for the official Python client, created when missing (default:
    /// target/bench-venv next to the binaries).
    #[arg(long, global = true)]
    venv: Option<PathBuf>,
    /// Leave out the official Python client (no venv, no network needed).
    #[arg(long, global = true)]
    no_python: bool,
    /// Scratch directory (default: $TMPDIR or /tmp).
    #[arg(long, global = true)]
    scratch: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Every benchmark below, in order.
    All,
    /// 1. Ingest throughput: farod and the official Python client on the same PTY stream.
    Ingest,
    /// 2. Latency at fixed offered rates: distress frame written -> incident committed -> reply.
    Latency,
    /// 3. Airtime of every message Faro sends, per language, against plain free text.
    Airtime,
    /// 4. Memory and scale: RSS idle / under ingest / with a large database; faroctl timings.
    Scale,
    /// 5. Surge: 2,000 phones send distress through two station radios in ten minutes.
    Surge,
    /// 6. Intake: recall, precision and F1 of understanding on the labelled corpus, per language.
    Intake,
    /// 7. The desk in headless Chromium: 1,000 open incidents and 50 teams; page usable, event
    ///    to page, bytes loaded.
    Desk,
}

/// A benchmark: its name and what runs it.
type Bench = (&'static str, fn(&Opts) -> anyhow::Result<()>);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = sibling("farod")
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("target"));
    let opts = Opts {
        smoke: cli.smoke,
        runs: cli.runs.unwrap_or(if cli.smoke { 1 } else { 5 }).max(1),
        farod: cli.farod.unwrap_or_else(|| sibling("farod")),
        faroctl: cli.faroctl.unwrap_or_else(|| sibling("faroctl")),
        venv: cli.venv.unwrap_or_else(|| target.join("bench-venv")),
        no_python: cli.no_python,
        scratch: cli.scratch.unwrap_or_else(std::env::temp_dir),
    };
    println!(
        "faro-bench {} on {}",
        env!("CARGO_PKG_VERSION"),
        common::machine()
    );
    if opts.smoke {
        println!("SMOKE MODE: small sizes; these figures only show the benchmarks still work");
    }
    let all: &[Bench] = &[
        ("ingest", ingest::run),
        ("latency", latency::run),
        ("airtime", airtime::run),
        ("scale", scale::run),
        ("surge", surge::run),
        ("intake", intake::run),
        ("desk", desk::run),
    ];
    let chosen: Vec<&Bench> = match cli.what {
        What::All => all.iter().collect(),
        What::Ingest => vec![&all[0]],
        What::Latency => vec![&all[1]],
        What::Airtime => vec![&all[2]],
        What::Scale => vec![&all[3]],
        What::Surge => vec![&all[4]],
        What::Intake => vec![&all[5]],
        What::Desk => vec![&all[6]],
    };
    let mut failed = false;
    for (name, run) in chosen {
        println!("\n== {name}");
        if let Err(e) = run(&opts) {
            eprintln!("faro-bench {name}: {e:#}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
