//! A floor under how well Faro understands people: the labelled corpus of
//! `tests/data/intake/` read by `farod::understand`, per language. The figures may rise; a
//! change that makes them fall fails here. `faro-bench intake` prints them with the errors.
//!
//! The floors are the figures measured when they were set, rounded down a little (the held-out
//! part was never used to tune the rules; its floor guards against tuning that breaks what was
//! not looked at).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use farod::understand::corpus::{parse, score};

fn corpus(name: &str) -> Vec<farod::understand::corpus::Labelled> {
    let path = format!(
        "{}/../tests/data/intake/{name}.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// (language, recall floor, precision floor)
#[track_caller]
fn floors(name: &str, floors: &[(&str, f64, f64)]) {
    let (scores, _) = score(&corpus(name));
    let mut failed = Vec::new();
    for (lang, recall, precision) in floors {
        let s = &scores[*lang];
        if s.recall() < *recall || s.precision() < *precision {
            failed.push(format!(
                "{name} {lang}: recall {:.3} (floor {recall}), precision {:.3} (floor {precision})",
                s.recall(),
                s.precision()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_tuning_corpus_stays_understood() {
    for name in ["dev", "train"] {
        floors(
            name,
            &[
                ("all", 0.99, 0.98),
                ("es", 0.99, 0.97),
                ("es2", 0.99, 0.97),
                ("en", 0.99, 0.97),
                ("fr", 0.99, 0.97),
                ("ht", 0.99, 0.97),
                ("pt", 0.99, 0.98),
            ],
        );
    }
}

/// Measured when set (recall / precision): all 0.87 / 0.93; es 0.85 / 0.92; es2 0.86 / 0.90;
/// en 0.91 / 0.91; fr 0.83 / 1.00; ht 0.90 / 0.95; pt 0.90 / 0.90 (before the situation
/// families: all 0.80 / 0.93). The goal is 0.97 / 0.95.
#[test]
fn the_held_out_corpus_does_not_fall() {
    floors(
        "heldout",
        &[
            ("all", 0.86, 0.91),
            ("es", 0.84, 0.91),
            ("es2", 0.85, 0.90),
            ("en", 0.90, 0.90),
            ("fr", 0.82, 0.98),
            ("ht", 0.89, 0.93),
            ("pt", 0.89, 0.89),
        ],
    );
}

#[test]
fn every_corpus_line_is_well_formed() {
    for name in ["dev", "train", "heldout"] {
        let items = corpus(name);
        assert!(items.len() > 200, "{name}: {} lines", items.len());
        for it in &items {
            assert!(
                ["es", "es2", "en", "fr", "ht", "pt"].contains(&it.lang.as_str()),
                "{name}: {it:?}"
            );
            assert!(!it.text.trim().is_empty(), "{name}: {it:?}");
        }
    }
}
