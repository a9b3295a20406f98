//! Gazetteer figures: the one-time parse and index build, `nearest` against a brute-force scan
//! of every place, `nearest_n`, and `find`. Prints the median and range of several runs.
//!
//! ```sh
//! cargo bench -p farod --bench geo
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use farod::geo::{haversine_km, Gazetteer, Place};

const CSV: &str = include_str!("../data/gazetteer/municipalities.csv");
/// Random query points per `nearest` run.
const POINTS: usize = 100_000;
/// The brute-force scan is ~10^4 times slower: fewer points keep a run under a second.
const BRUTE_POINTS: usize = 2_000;
const RUNS: usize = 7;
const SEED: u64 = 0x5a5a_0bea_7a5e_ed01;

/// (lat range, lon range) of Mexico and Panama.
const MX_BOX: ((f64, f64), (f64, f64)) = ((14.5, 32.7), (-118.4, -86.7));
const PA_BOX: ((f64, f64), (f64, f64)) = ((7.2, 9.7), (-83.1, -77.2));

fn main() {
    println!("gazetteer benchmark: median [min .. max] of {RUNS} runs");

    let build = runs(|| {
        let start = Instant::now();
        black_box(Gazetteer::from_csv(black_box(CSV)).expect("parses"));
        start.elapsed()
    });
    report("parse + index build (17,681 places)", &build, 1, "ms");

    let g = Gazetteer::from_csv(CSV).expect("parses");
    let points = random_points(POINTS, SEED);

    let tree = runs(|| {
        time(|| {
            for &(lat, lon) in &points {
                black_box(g.nearest(black_box(lat), black_box(lon)));
            }
        })
    });
    report(
        &format!("nearest(), k-d tree, {POINTS} points"),
        &tree,
        POINTS,
        "ns",
    );

    let brute = runs(|| {
        time(|| {
            for &(lat, lon) in &points[..BRUTE_POINTS] {
                black_box(brute_force(g.places(), black_box(lat), black_box(lon)));
            }
        })
    });
    report(
        &format!("nearest by brute-force scan, {BRUTE_POINTS} points"),
        &brute,
        BRUTE_POINTS,
        "ns",
    );
    let speedup = per_op(median(&brute), BRUTE_POINTS) / per_op(median(&tree), POINTS);
    println!("  speed-up of the k-d tree over the scan: {speedup:.0}x");

    // The tree must agree with the scan on the points both ran (the tests prove it too).
    for &(lat, lon) in &points[..BRUTE_POINTS] {
        let n = g.nearest(lat, lon).expect("a place");
        let (km, _) = brute_force(g.places(), lat, lon);
        assert!((n.distance_km - km).abs() < 1e-7, "tree and scan disagree");
    }

    let five = runs(|| {
        time(|| {
            for &(lat, lon) in &points {
                black_box(g.nearest_n(black_box(lat), black_box(lon), 5));
            }
        })
    });
    report(
        &format!("nearest_n(5), {POINTS} points"),
        &five,
        POINTS,
        "ns",
    );

    let queries = find_queries(&g);
    let find = runs(|| {
        time(|| {
            for q in &queries {
                black_box(g.find(black_box(q)));
            }
        })
    });
    report(
        &format!(
            "find(), {} queries (names of every 20th place, folded or upper-cased, prefixes, narrowed)",
            queries.len()
        ),
        &find,
        queries.len(),
        "ns",
    );
    let results: usize = queries.iter().map(|q| g.find(q).len()).sum();
    println!(
        "  mean results per find(): {:.1}",
        results as f64 / queries.len() as f64
    );

    let san_jose = runs(|| {
        time(|| {
            for _ in 0..1_000 {
                black_box(g.find(black_box("San Jose")));
            }
        })
    });
    report(
        &format!("find(\"San Jose\") ({} results)", g.find("San Jose").len()),
        &san_jose,
        1_000,
        "ns",
    );
}

/// The nearest place by scanning every one, as a lookup without an index would.
fn brute_force(places: &[Place], lat: f64, lon: f64) -> (f64, &Place) {
    let mut best = (f64::INFINITY, &places[0]);
    for p in places {
        let d = haversine_km(p.lat, p.lon, lat, lon);
        if d < best.0 {
            best = (d, p);
        }
    }
    best
}

/// Names typed the ways operators type them.
fn find_queries(g: &Gazetteer) -> Vec<String> {
    let mut queries = Vec::new();
    for (i, p) in g.places().iter().enumerate().step_by(20) {
        let q = match i % 4 {
            0 => fold_ascii(&p.name),
            1 => p.name.to_uppercase(),
            2 => p.name.chars().take(5).collect(),
            _ => format!("{}, {}", fold_ascii(&p.name), p.state),
        };
        queries.push(q);
    }
    queries
}

/// Lower case without accents, as typed on a phone without them.
fn fold_ascii(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

fn random_points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|i| {
            let ((lat0, lat1), (lon0, lon1)) = if i % 2 == 0 { MX_BOX } else { PA_BOX };
            (
                lat0 + (lat1 - lat0) * rng.unit(),
                lon0 + (lon1 - lon0) * rng.unit(),
            )
        })
        .collect()
}

/// A small deterministic generator (SplitMix64), so every run times the same points.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// One warm-up run, then `RUNS` timed runs, sorted.
fn runs(mut f: impl FnMut() -> Duration) -> Vec<Duration> {
    f();
    let mut times: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    times.sort();
    times
}

fn median(times: &[Duration]) -> Duration {
    times[times.len() / 2]
}

fn per_op(d: Duration, ops: usize) -> f64 {
    d.as_secs_f64() / ops as f64
}

fn report(what: &str, times: &[Duration], ops: usize, unit: &str) {
    let scale = match unit {
        "ms" => 1e3,
        _ => 1e9,
    };
    let show = |d: Duration| per_op(d, ops) * scale;
    println!(
        "{what}: {:.1} {unit} per op [{:.1} .. {:.1}]",
        show(median(times)),
        show(times[0]),
        show(times[times.len() - 1]),
    );
}
