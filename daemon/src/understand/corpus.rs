//! The labelled intake corpus (`tests/data/intake/*.tsv`) and how the reader scores on it:
//! recall, precision and F1 of "yes" per language, how often a call for help is at least asked
//! about (yes or maybe), and the errors. Used by `faro-bench intake` and by the test that keeps
//! a floor under the figures.

use std::collections::BTreeMap;

use super::{read, Reading, Verdict};

/// One labelled message.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// `es`, `es2` (Spanish as a second language), `en`, `fr`, `ht`, `pt`.
    pub lang: String,
    /// The expected decision.
    pub expected: Verdict,
    /// The expected kind (`-` for none).
    pub kind: String,
    /// The message.
    pub text: String,
}

/// Parses a corpus file (a header line, then `lang expected kind flags people text` separated
/// by tabs); `Err` names the bad line.
pub fn parse(tsv: &str) -> Result<Vec<Labelled>, String> {
    let mut out = Vec::new();
    for (n, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.splitn(6, '\t').collect();
        if f.len() != 6 {
            return Err(format!("line {}: expected 6 fields", n + 1));
        }
        let expected = match f[1] {
            "yes" => Verdict::Yes,
            "maybe" => Verdict::Maybe,
            "no" => Verdict::No,
            other => return Err(format!("line {}: unknown decision {other:?}", n + 1)),
        };
        out.push(Labelled {
            lang: f[0].to_string(),
            expected,
            kind: f[2].to_string(),
            text: f[5].to_string(),
        });
    }
    Ok(out)
}

/// Counts for one language.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    /// Messages.
    pub n: usize,
    /// Expected yes, read yes.
    pub yes_yes: usize,
    /// Expected yes, read maybe (asked, not silent).
    pub yes_maybe: usize,
    /// Expected yes, read no (missed: silence).
    pub yes_no: usize,
    /// Expected no or maybe, read yes (a false incident).
    pub false_yes: usize,
    /// Expected maybe, read maybe.
    pub maybe_maybe: usize,
    /// Expected maybe.
    pub maybe: usize,
}

impl Score {
    /// Expected yes read as yes, over expected yes.
    pub fn recall(&self) -> f64 {
        ratio(self.yes_yes, self.yes_yes + self.yes_maybe + self.yes_no)
    }
    /// Expected yes read as yes or maybe (never silent), over expected yes.
    pub fn heard(&self) -> f64 {
        ratio(
            self.yes_yes + self.yes_maybe,
            self.yes_yes + self.yes_maybe + self.yes_no,
        )
    }
    /// Read yes that were yes, over read yes.
    pub fn precision(&self) -> f64 {
        ratio(self.yes_yes, self.yes_yes + self.false_yes)
    }
    /// Harmonic mean of recall and precision.
    pub fn f1(&self) -> f64 {
        let (r, p) = (self.recall(), self.precision());
        if r + p == 0.0 {
            0.0
        } else {
            2.0 * r * p / (r + p)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// A message read differently from its label.
#[derive(Debug, Clone)]
pub struct Miss {
    /// The labelled message.
    pub item: Labelled,
    /// What the reader made of it.
    pub got: Reading,
}

/// Scores per language (and `all`), and the messages read differently from their label.
pub fn score(items: &[Labelled]) -> (BTreeMap<String, Score>, Vec<Miss>) {
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut misses = Vec::new();
    for it in items {
        let got = read(&it.text);
        for key in [it.lang.as_str(), "all"] {
            let s = scores.entry(key.to_string()).or_default();
            s.n += 1;
            match (it.expected, got.verdict) {
                (Verdict::Yes, Verdict::Yes) => s.yes_yes += 1,
                (Verdict::Yes, Verdict::Maybe) => s.yes_maybe += 1,
                (Verdict::Yes, Verdict::No) => s.yes_no += 1,
                (_, Verdict::Yes) => s.false_yes += 1,
                _ => {}
            }
            if it.expected == Verdict::Maybe {
                s.maybe += 1;
                s.maybe_maybe += usize::from(got.verdict == Verdict::Maybe);
            }
        }
        if got.verdict != it.expected {
            misses.push(Miss {
                item: it.clone(),
                got,
            });
        }
    }
    (scores, misses)
}
