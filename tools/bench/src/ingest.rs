//! Benchmark 1, ingest throughput, side by side: the same stream of packets, written to a PTY by a
//! simulated station radio as fast as the terminal takes them, read (a) by `farod run`, which
//! handles every packet fully (node activity and positions stored, distress incidents
//! committed, replies queued), and (b) by the official Meshtastic Python client, which only
//! decodes them and calls its `meshtastic.receive` subscribers.
//!
//! farod: packets/s from the first frame written to the last packet committed (the stream
//! ends with a distress; the store commits in order, so its incident is the last commit), and
//! from the first commit to the last; CPU seconds of the farod process; its peak RSS. Python:
//! packets/s from the first frame written to the N-th callback, CPU seconds, peak RSS.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faro_sim::burst::BurstSpec;

use crate::common::{mib, proc_reading, Opts, PyClient, RssSampler, Spread};
use crate::mix::{self, Kind, Mix};
use crate::rig::Radio;

/// Packets in a full run and in smoke mode.
const FULL: usize = 100_000;
const SMOKE: usize = 3_000;

/// One farod run.
#[derive(Debug, Clone, Copy)]
struct FarodRun {
    /// First frame written → last packet committed.
    secs: f64,
    /// First commit → last commit.
    commit_secs: f64,
    cpu: f64,
    peak_rss_kib: u64,
    handled: u64,
    dropped: u64,
}

/// One Python run.
#[derive(Debug, Clone, Copy)]
struct PyRun {
    secs: f64,
    cpu: f64,
    peak_rss_kib: u64,
    count: u64,
}

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    let n = opts.size(FULL, SMOKE);
    let mix = mix::generate(n, 42);
    println!("stream: {}", mix.describe());
    let mut farod_runs = Vec::new();
    let mut py_runs = Vec::new();
    for i in 0..opts.runs {
        let f = farod_once(opts, &mix).with_context(|| format!("farod, run {}", i + 1))?;
        println!(
            "  run {}: farod   {:>9.0} packets/s ({:.3} s; first→last commit {:.3} s), cpu {:.2} s, peak RSS {}, handled {}, dropped {}",
            i + 1,
            n as f64 / f.secs,
            f.secs,
            f.commit_secs,
            f.cpu,
            mib(f.peak_rss_kib),
            f.handled,
            f.dropped
        );
        farod_runs.push(f);
        if !opts.no_python {
            let p = python_once(opts, &mix).with_context(|| format!("Python, run {}", i + 1))?;
            println!(
                "  run {}: python  {:>9.0} packets/s ({:.3} s), cpu {:.2} s, peak RSS {}, callbacks {}",
                i + 1,
                n as f64 / p.secs,
                p.secs,
                p.cpu,
                mib(p.peak_rss_kib),
                p.count
            );
            py_runs.push(p);
        }
    }
    let rate = |secs: &[f64]| Spread::of(&secs.iter().map(|s| n as f64 / s).collect::<Vec<_>>());
    let f_rate = rate(&farod_runs.iter().map(|r| r.secs).collect::<Vec<_>>());
    let f_commit = rate(&farod_runs.iter().map(|r| r.commit_secs).collect::<Vec<_>>());
    let f_cpu = Spread::of(&farod_runs.iter().map(|r| r.cpu).collect::<Vec<_>>());
    let f_us = Spread::of(
        &farod_runs
            .iter()
            .map(|r| r.cpu * 1e6 / n as f64)
            .collect::<Vec<_>>(),
    );
    let f_rss = Spread::of(
        &farod_runs
            .iter()
            .map(|r| r.peak_rss_kib as f64 / 1024.0)
            .collect::<Vec<_>>(),
    );
    println!(
        "\n{n} packets ({} distress → incidents, replies queued)",
        mix.count(Kind::Distress)
    );
    println!(
        "  farod   written→committed   {}",
        f_rate.show(0, " packets/s")
    );
    println!(
        "  farod   first→last commit   {}",
        f_commit.show(0, " packets/s")
    );
    println!("  farod   CPU                 {}", f_cpu.show(2, " s"));
    println!("  farod   CPU per packet      {}", f_us.show(1, " µs"));
    println!("  farod   peak RSS            {}", f_rss.show(1, " MiB"));
    let dropped: u64 = farod_runs.iter().map(|r| r.dropped).max().unwrap_or(0);
    println!(
        "  farod   dropped (telemetry only, when its queue is full): at most {dropped} of {}",
        mix.count(Kind::Telemetry)
    );
    if !py_runs.is_empty() {
        let p_rate = rate(&py_runs.iter().map(|r| r.secs).collect::<Vec<_>>());
        let p_cpu = Spread::of(&py_runs.iter().map(|r| r.cpu).collect::<Vec<_>>());
        let p_us = Spread::of(
            &py_runs
                .iter()
                .map(|r| r.cpu * 1e6 / n as f64)
                .collect::<Vec<_>>(),
        );
        let p_rss = Spread::of(
            &py_runs
                .iter()
                .map(|r| r.peak_rss_kib as f64 / 1024.0)
                .collect::<Vec<_>>(),
        );
        println!(
            "  python  written→callbacks   {}",
            p_rate.show(0, " packets/s")
        );
        println!("  python  CPU                 {}", p_cpu.show(2, " s"));
        println!("  python  CPU per packet      {}", p_us.show(1, " µs"));
        println!("  python  peak RSS            {}", p_rss.show(1, " MiB"));
        let ratio = f_rate.median / p_rate.median;
        println!(
            "  ratio farod/python (medians, packets/s): {ratio:.1}x  (target 100x: {})",
            if ratio >= 100.0 { "met" } else { "MISS" }
        );
    } else {
        println!("  python  skipped (--no-python)");
    }
    Ok(())
}

fn spec(mix: &Mix) -> BurstSpec {
    BurstSpec {
        frames: mix.frames.clone(),
        timed: Vec::new(),
        rate: None,
    }
}

fn farod_once(opts: &Opts, mix: &Mix) -> Result<FarodRun> {
    let dir = opts.tempdir("ingest")?;
    let radio = Radio::start(spec(mix), None)?;
    let (farod, t0) = radio.serve_farod(opts, dir.path())?;
    let cpu0 = proc_reading(farod.pid())?.cpu_secs;
    let sampler = RssSampler::start(farod.pid(), Duration::from_millis(50));
    let want = mix.count(Kind::Distress) as i64;
    let db = farod.reader()?;
    let limit = Duration::from_secs(if opts.smoke { 60 } else { 600 });
    let mut first_commit = None;
    let done = loop {
        if first_commit.is_none() {
            let any: bool = db
                .query_row("SELECT EXISTS(SELECT 1 FROM seen_packets)", [], |r| {
                    r.get(0)
                })
                .unwrap_or(false);
            if any {
                first_commit = Some(Instant::now());
            }
        }
        let incidents: i64 = db
            .query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
            .unwrap_or(0);
        if incidents >= want {
            break Instant::now();
        }
        if t0.elapsed() > limit {
            bail!(
                "farod committed {incidents} of {want} incidents within {limit:?}; log: {}",
                farod.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let cpu = proc_reading(farod.pid())?.cpu_secs - cpu0;
    let samples = sampler.finish();
    let hwm = proc_reading(farod.pid())?.hwm_kib;
    let handled: i64 = db.query_row("SELECT count(*) FROM seen_packets", [], |r| r.get(0))?;
    let status: serde_json::Value = serde_json::from_str(&farod.get("/v1/status")?)?;
    let dropped = status["radios"][0]["dropped"].as_u64().unwrap_or(0);
    let queued: i64 = db.query_row(
        "SELECT count(*) FROM outbox WHERE class BETWEEN ?1 AND ?2",
        [farod::desk::CLASS_P1, farod::desk::CLASS_P3],
        |r| r.get(0),
    )?;
    if queued < want {
        bail!("only {queued} distress replies queued for {want} incidents");
    }
    drop(db);
    farod.stop()?;
    Ok(FarodRun {
        secs: done.duration_since(t0).as_secs_f64(),
        commit_secs: first_commit.map_or(f64::NAN, |f| done.duration_since(f).as_secs_f64()),
        cpu,
        peak_rss_kib: samples.into_iter().max().unwrap_or(0).max(hwm),
        handled: handled as u64,
        dropped,
    })
}

fn python_once(opts: &Opts, mix: &Mix) -> Result<PyRun> {
    let dir = opts.tempdir("ingest-py")?;
    let radio = Radio::start(spec(mix), None)?;
    let n = mix.frames.len();
    let limit = if opts.smoke { 120 } else { 1800 };
    let py = PyClient::start(
        opts,
        dir.path(),
        "ingest",
        &radio.path,
        &[n.to_string(), limit.to_string()],
    )?;
    let t0 = radio.wait_live(Duration::from_secs(120))?;
    let cpu0 = proc_reading(py.pid())?.cpu_secs;
    let sampler = RssSampler::start(py.pid(), Duration::from_millis(50));
    let (done, line) = py.expect_any(&["done", "timeout"], Duration::from_secs(limit + 30))?;
    if line.starts_with("timeout") {
        bail!("the Python client timed out after {limit} s: {line}");
    }
    let cpu = proc_reading(py.pid())?.cpu_secs - cpu0;
    let samples = sampler.finish();
    let count = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(PyRun {
        secs: done.duration_since(t0).as_secs_f64(),
        cpu,
        peak_rss_kib: samples.into_iter().max().unwrap_or(0),
        count,
    })
}
