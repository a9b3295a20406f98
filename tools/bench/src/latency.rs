//! Benchmark 2, latency at fixed offered rates: the simulated radio writes the ingest mix at 10 and at
//! 100 packets/s; for every distress frame, the time from its last byte written to the PTY to
//! its incident committed (seen from a read-only connection polling every millisecond) and to
//! the reply frame farod writes back to the radio.
//!
//! Replies leave at the outbox's pace (one text per radio every 2.5 s, the firmware allowing
//! one every 2 s), and 5% distress at 10 packets/s is one every 2 s: replies queue behind each
//! other by design. So the reply figures are printed twice: as measured, and with the wait for
//! pacing taken out (the reply's time after the later of its commit and the previous reply's
//! slot), which is farod's own delay.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faro_sim::burst::BurstSpec;

use crate::common::{latency_line, Opts};
use crate::mix::{self, Kind};
use crate::rig::{Radio, Report};

/// One long run per rate: the percentiles are over its distress packets (`--runs` is for the
/// throughput figures).
const RUNS: usize = 1;

/// The outbox's gap between two texts on one radio (daemon/src/outbox.rs).
const TEXT_GAP: Duration = Duration::from_millis(2_500);

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    let plans: [(f64, u64, u64); 2] = if opts.smoke {
        [(10.0, 4, 4), (100.0, 3, 3)]
    } else {
        // (rate, seconds of stream, extra seconds to wait for replies)
        [(10.0, 120, 30), (100.0, 60, 20)]
    };
    for (rate, secs, extra) in plans {
        let n = (rate * secs as f64) as usize;
        let mut commit = Vec::new();
        let mut reply = Vec::new();
        let mut own = Vec::new();
        let mut unanswered = 0usize;
        let mut distress = 0usize;
        for run in 0..RUNS {
            let r = once(opts, rate, n, 7 + run as u64, Duration::from_secs(extra))
                .with_context(|| format!("{rate} packets/s, run {}", run + 1))?;
            distress += r.distress;
            unanswered += r.distress - r.reply_ms.len();
            commit.extend(r.commit_ms);
            reply.extend(r.reply_ms);
            own.extend(r.own_ms);
        }
        println!(
            "{rate:>5.0} packets/s offered, {secs} s of stream ({n} packets, {distress} distress)"
        );
        println!("  written → committed          {}", latency_line(&commit));
        println!("  written → reply written back {}", latency_line(&reply));
        println!("  farod's own reply delay      {}", latency_line(&own));
        if unanswered > 0 {
            println!(
                "  {unanswered} replies still queued when the run ended (the outbox sends one text per {:.1} s per radio)",
                TEXT_GAP.as_secs_f64()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Once {
    distress: usize,
    commit_ms: Vec<f64>,
    reply_ms: Vec<f64>,
    own_ms: Vec<f64>,
}

fn once(opts: &Opts, rate: f64, n: usize, seed: u64, extra: Duration) -> Result<Once> {
    let mix = mix::generate(n, seed);
    let want = mix.count(Kind::Distress);
    let dir = opts.tempdir("latency")?;
    let radio = Radio::start(
        BurstSpec {
            frames: mix.frames.clone(),
            timed: mix.distress.iter().map(|(i, _)| *i).collect(),
            rate: Some(rate),
        },
        None,
    )?;
    let (farod, _) = radio.serve_farod(opts, dir.path())?;
    let sender_of: HashMap<usize, u32> = mix.distress.iter().copied().collect();
    let mut written: HashMap<u32, Instant> = HashMap::new();
    let mut committed: HashMap<u32, Instant> = HashMap::new();
    let mut replied: HashMap<u32, Instant> = HashMap::new();
    let db = farod.reader()?;
    let mut st = db.prepare("SELECT seq, reporter FROM incidents WHERE seq > ?1 ORDER BY seq")?;
    let mut last_seq: i64 = 0;
    let stream_secs = n as f64 / rate;
    let end = Instant::now() + Duration::from_secs_f64(stream_secs) + extra;
    let mut finished = false;
    while Instant::now() < end {
        while let Ok(r) = radio.reports.try_recv() {
            match r {
                Report::Written(i, at) => {
                    if let Some(node) = sender_of.get(&i) {
                        written.insert(*node, at);
                    }
                }
                Report::ClientText { to, at } => {
                    replied.entry(to).or_insert(at);
                }
                Report::Finished => finished = true,
                Report::Failed(e) => bail!("the simulated radio failed: {e}"),
                Report::Live(_) => {}
            }
        }
        let now = Instant::now();
        let rows = st.query_map([last_seq], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (seq, reporter) = row?;
            last_seq = last_seq.max(seq);
            committed.entry(reporter as u32).or_insert(now);
        }
        if finished && replied.len() >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(st);
    drop(db);
    farod.stop()?;
    if committed.len() < want {
        bail!(
            "only {} of {want} distress became incidents during the run",
            committed.len()
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out = Once {
        distress: want,
        ..Once::default()
    };
    let mut order: Vec<(Instant, u32)> = replied.iter().map(|(n, at)| (*at, *n)).collect();
    order.sort();
    let mut prev: Option<Instant> = None;
    for (at, node) in order {
        let (Some(w), Some(c)) = (written.get(&node), committed.get(&node)) else {
            continue;
        };
        out.reply_ms.push(ms(at.saturating_duration_since(*w)));
        let slot = prev.map_or(*c, |p| (p + TEXT_GAP).max(*c));
        out.own_ms.push(ms(at.saturating_duration_since(slot)));
        prev = Some(at);
    }
    for (node, c) in &committed {
        if let Some(w) = written.get(node) {
            out.commit_ms.push(ms(c.saturating_duration_since(*w)));
        }
    }
    Ok(out)
}
