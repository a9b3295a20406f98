//! Benchmark 6, intake: how well Faro understands the messages people send, on the labelled
//! corpus of `tests/data/intake/` (built into this binary), per language: recall of calls for
//! help (read as "yes"), how many are at least asked about (yes or maybe: never silent),
//! precision and F1 of "yes", maybes read as maybe, and the cost of reading one message.
//!
//! `dev.tsv` and `train.tsv` are what the rules were tuned on; their errors are printed.
//! `heldout.tsv` was never used to tune the rules: its figures are the honest ones, and its
//! errors are not printed (reading them would be tuning on it).

use std::time::Instant;

use anyhow::{anyhow, Result};
use farod::understand::corpus::{parse, score, Score};
use farod::understand::read;

use crate::common::Opts;

/// The corpus, as shipped in the repository.
const SPLITS: [(&str, &str, bool); 3] = [
    (
        "dev",
        include_str!("../../../tests/data/intake/dev.tsv"),
        true,
    ),
    (
        "train",
        include_str!("../../../tests/data/intake/train.tsv"),
        true,
    ),
    (
        "heldout",
        include_str!("../../../tests/data/intake/heldout.tsv"),
        false,
    ),
];

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    for (name, tsv, show_errors) in SPLITS {
        let items = parse(tsv).map_err(|e| anyhow!("{name}.tsv: {e}"))?;
        let (scores, misses) = score(&items);
        println!(
            "\n{name}.tsv ({} messages){}",
            items.len(),
            if show_errors {
                ""
            } else {
                ": never used to tune the rules"
            }
        );
        println!(
            "  {:5} {:>4} {:>7} {:>7} {:>9} {:>6} {:>9}",
            "lang", "n", "recall", "heard", "precision", "F1", "maybe ok"
        );
        for (lang, s) in &scores {
            println!(
                "  {lang:5} {:>4} {:>7.3} {:>7.3} {:>9.3} {:>6.3} {:>9}",
                s.n,
                s.recall(),
                s.heard(),
                s.precision(),
                s.f1(),
                format!("{}/{}", s.maybe_maybe, s.maybe)
            );
        }
        let Score { yes_no, .. } = scores.get("all").cloned().unwrap_or_default();
        println!("  calls for help read as nothing (silence): {yes_no}");
        if show_errors && !misses.is_empty() {
            println!("  read differently from the label:");
            for m in &misses {
                println!(
                    "    {:3} {:5} -> {:5} {:?}",
                    m.item.lang, m.item.expected, m.got.verdict, m.item.text
                );
            }
        }
    }
    // Cost: every message of the corpus read `rounds` times, per run.
    let texts: Vec<String> = SPLITS
        .iter()
        .flat_map(|(_, tsv, _)| parse(tsv).unwrap_or_default())
        .map(|l| l.text)
        .collect();
    let rounds = opts.size(200, 5);
    let mut per_message = Vec::new();
    for _ in 0..opts.runs {
        let t = Instant::now();
        let mut yes = 0usize;
        for _ in 0..rounds {
            for text in &texts {
                yes += usize::from(read(text).verdict == farod::understand::Verdict::Yes);
            }
        }
        std::hint::black_box(yes);
        per_message.push(t.elapsed().as_secs_f64() * 1e6 / (rounds * texts.len()) as f64);
    }
    per_message.sort_by(f64::total_cmp);
    let median = per_message[per_message.len() / 2];
    println!(
        "\ncost: {median:.1} µs a message (median of {} runs, {:.1}..{:.1}), {} messages x {rounds}",
        per_message.len(),
        per_message[0],
        per_message[per_message.len() - 1],
        texts.len()
    );
    Ok(())
}
