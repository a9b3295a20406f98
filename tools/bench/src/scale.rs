//! Benchmark 4, memory and scale: farod's resident memory idle with two station radios, the
//! official Python client's idle on the same kind of device, and farod with a large database
//! (100,000 incidents, 1,000,000 team positions); the time of `faroctl incidents --state open`
//! and `faroctl show ID` at that size, as whole processes and as bare control-socket requests.
//!
//! The radios are faro-sim burst devices with an empty stream (the firmware handshake, then
//! heartbeats and nothing else) on real PTYs, served by a tokio runtime inside this process.
//! The large database is created by farod itself (started once on an empty directory, which
//! migrates it) and then filled in one transaction with rows shaped like the ones farod writes:
//! see [`seed`]. Targets from the issue: RSS under 20 MB (20,000,000 bytes), listing under 50 ms;
//! each figure is printed with "target met" or "MISS", never asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faro_sim::burst::BurstSpec;

use crate::rig::Radio;
use farod::incident::{self, Flag, Kind, Outcome, State, Triage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};

use crate::common::{self, mib, nodes, percentile, proc_reading, Farod, Opts, PyClient, Spread};

/// The RSS target: under 20 MB.
const RSS_TARGET_BYTES: u64 = 20_000_000;
/// The listing target: under 50 ms.
const LIST_TARGET_MS: f64 = 50.0;
/// Width of the label column.
const LABEL: usize = 46;
/// The second station radio's node (a copy of the built-in station with another id).
const MAST: u32 = 0x5a5a_0002;

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    let sizes = Sizes::for_opts(opts);
    let settle = Duration::from_secs(if opts.smoke { 2 } else { 10 });
    let query_runs = opts.size(30, 3);
    println!(
        "sizes: {}; settle {} s before each RSS reading; {} runs per RSS figure, {} per query timing",
        sizes.describe(),
        settle.as_secs(),
        opts.runs,
        query_runs
    );
    println!(
        "targets: RSS < 20 MB ({:.1} MiB), queue listing < {LIST_TARGET_MS:.0} ms",
        RSS_TARGET_BYTES as f64 / 1_048_576.0
    );
    println!("\n-- idle, empty database, two radios");
    let mut rss = Vec::new();
    let mut hwm = Vec::new();
    for _ in 0..opts.runs {
        let dir = opts.tempdir("scale-idle")?;
        let mut radios = IdleRadios::start(2)?;
        let farod = Farod::start(
            opts,
            dir.path(),
            &common::station_config(&radios.uris()),
            Duration::from_secs(30),
        )?;
        radios_up(&farod, 2, Duration::from_secs(30))?;
        std::thread::sleep(settle);
        radios.check()?;
        let r = proc_reading(farod.pid())?;
        rss.push(r.rss_kib as f64);
        hwm.push(r.hwm_kib as f64);
        farod.stop()?;
    }
    print_rss("farod RSS idle (VmRSS)", &rss);
    print_rss("farod peak RSS (VmHWM)", &hwm);

    println!("\n-- the official Python client, idle on the same kind of device");
    if opts.no_python {
        println!("skipped (--no-python)");
    } else {
        python_idle(opts, settle)?;
    }

    println!("\n-- large database");
    large_database(opts, &sizes, settle, query_runs)?;
    Ok(())
}

// ---- figures -----------------------------------------------------------------------------

fn line(label: &str, value: &str) {
    println!("{label:<LABEL$} {value}");
}

fn rss_verdict(kib: f64) -> &'static str {
    if kib * 1024.0 < RSS_TARGET_BYTES as f64 {
        "target met"
    } else {
        "MISS"
    }
}

/// An RSS figure (KiB samples) in MiB with farod's verdict.
fn print_rss(label: &str, kib: &[f64]) {
    print_rss_note(label, kib, None);
}

/// An RSS figure (KiB samples) in MiB, with `note` instead of the verdict when given.
fn print_rss_note(label: &str, kib: &[f64], note: Option<&str>) {
    let s = Spread::of(kib);
    let v = Spread {
        median: s.median / 1024.0,
        min: s.min / 1024.0,
        max: s.max / 1024.0,
        n: s.n,
    };
    line(
        label,
        &format!(
            "{}   {}",
            v.show(1, " MiB"),
            note.unwrap_or_else(|| rss_verdict(s.median))
        ),
    );
}

/// A timing figure (milliseconds): median, p90, range; with the listing target when given.
fn print_ms(label: &str, ms: &[f64], target: Option<f64>) {
    let s = Spread::of(ms);
    let verdict = match target {
        Some(t) if s.median < t => "   target met",
        Some(_) => "   MISS",
        None => "",
    };
    line(
        label,
        &format!(
            "median {:>7.2} ms, p90 {:>7.2} ms ({:.2}..{:.2}, {} runs){verdict}",
            s.median,
            percentile(ms, 90.0),
            s.min,
            s.max,
            s.n
        ),
    );
}

/// A count with thousands separators.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- the simulated radios ----------------------------------------------------------------

/// Idle simulated station radios on PTYs (empty streams): the built-in station ("main") and a
/// copy of it as node [`MAST`] ("mast"). Stopped when dropped.
#[derive(Debug)]
struct IdleRadios {
    radios: Vec<Radio>,
    paths: Vec<PathBuf>,
}

impl IdleRadios {
    /// `n` radios (1 or 2).
    fn start(n: usize) -> Result<IdleRadios> {
        let radios = [None, Some(MAST)]
            .into_iter()
            .take(n)
            .map(|node| Radio::start(BurstSpec::default(), node))
            .collect::<Result<Vec<_>>>()?;
        let paths = radios.iter().map(|r| r.path.clone()).collect();
        Ok(IdleRadios { radios, paths })
    }

    /// `("main", serial:PTY1), ("mast", serial:PTY2)` for [`common::station_config`].
    fn uris(&self) -> Vec<(&'static str, String)> {
        ["main", "mast"]
            .into_iter()
            .zip(&self.radios)
            .map(|(name, r)| (name, r.uri()))
            .collect()
    }

    /// Fails when a radio reported a failure.
    fn check(&mut self) -> Result<()> {
        self.radios.iter().try_for_each(Radio::check)
    }
}

/// Waits (bounded) until farod's status shows `n` radios, all up; returns how long it took.
fn radios_up(farod: &Farod, n: usize, within: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    let mut last = String::new();
    while t0.elapsed() < within {
        if let Ok(body) = farod.get("/v1/status") {
            let v: serde_json::Value = serde_json::from_str(&body).context("/v1/status")?;
            let states: Vec<&str> = v["radios"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["state"].as_str()).collect())
                .unwrap_or_default();
            if states.len() == n && states.iter().all(|s| *s == "up") {
                return Ok(t0.elapsed());
            }
            last = states.join(", ");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "the radios were not all up within {within:?} (last: [{last}]); log: {}",
        farod.log_tail()
    )
}

// ---- the Python client -------------------------------------------------------------------

fn python_idle(opts: &Opts, settle: Duration) -> Result<()> {
    let mut rss = Vec::new();
    let mut hwm = Vec::new();
    for _ in 0..opts.runs {
        let dir = opts.tempdir("scale-py")?;
        let mut radio = IdleRadios::start(1)?;
        let stay = settle + Duration::from_secs(30);
        let py = PyClient::start(
            opts,
            dir.path(),
            "idle",
            &radio.paths[0],
            &[format!("{}", stay.as_secs())],
        )?;
        py.expect("connected", Duration::from_secs(60))?;
        std::thread::sleep(settle);
        radio.check()?;
        let r = proc_reading(py.pid())?;
        rss.push(r.rss_kib as f64);
        hwm.push(r.hwm_kib as f64);
    }
    // The target is farod's; the official client is what it is compared with.
    let note = Some("(for comparison)");
    print_rss_note("Python client RSS idle (VmRSS)", &rss, note);
    print_rss_note("Python client peak RSS (VmHWM)", &hwm, note);
    Ok(())
}

// ---- the large database ------------------------------------------------------------------

fn large_database(opts: &Opts, sizes: &Sizes, settle: Duration, query_runs: usize) -> Result<()> {
    let dir = opts.tempdir("scale-db")?;
    // farod creates and migrates the database.
    {
        let radios = IdleRadios::start(2)?;
        let config = common::station_config(&radios.uris());
        Farod::start(opts, dir.path(), &config, Duration::from_secs(30))?.stop()?;
    }
    let db = dir.path().join("faro.db");
    let t0 = Instant::now();
    let seeded = {
        let mut conn = Connection::open(&db).with_context(|| db.display().to_string())?;
        let seeded = seed(&mut conn, sizes, now_ms(), 0xfa20)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        seeded
    };
    let seed_secs = t0.elapsed().as_secs_f64();
    let size = std::fs::metadata(&db)?.len();
    line(
        "seeded",
        &format!(
            "{} incidents ({} open), {} events, {} team positions, {} nodes",
            thousands(seeded.incidents),
            thousands(seeded.open),
            thousands(seeded.events),
            thousands(seeded.positions),
            thousands(seeded.nodes)
        ),
    );
    line(
        "seeding time (one transaction)",
        &format!("{seed_secs:.2} s"),
    );
    line(
        "database size (after checkpoint)",
        &format!("{:.1} MiB", size as f64 / 1_048_576.0),
    );
    query_plan(&db)?;

    let mut rss = Vec::new();
    let mut hwm = Vec::new();
    let mut starts = Vec::new();
    let mut last = None;
    for run in 0..opts.runs {
        let mut radios = IdleRadios::start(2)?;
        let config = common::station_config(&radios.uris());
        let t = Instant::now();
        let farod = Farod::start(opts, dir.path(), &config, Duration::from_secs(60))?;
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        radios_up(&farod, 2, Duration::from_secs(30))?;
        std::thread::sleep(settle);
        radios.check()?;
        let r = proc_reading(farod.pid())?;
        rss.push(r.rss_kib as f64);
        hwm.push(r.hwm_kib as f64);
        if run + 1 == opts.runs {
            last = Some((farod, radios));
        } else {
            farod.stop()?;
        }
    }
    print_ms("farod start to control socket answer", &starts, None);
    print_rss("farod RSS idle at this size (VmRSS)", &rss);
    print_rss("farod peak RSS at this size (VmHWM)", &hwm);
    let (farod, mut radios) = last.context("no run")?;

    let ctl = |args: &[&str]| -> Result<(f64, String)> {
        let t = Instant::now();
        let out = Command::new(&opts.faroctl)
            .arg("--socket")
            .arg(farod.socket())
            .args(args)
            .output()
            .with_context(|| format!("running {}", opts.faroctl.display()))?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            bail!(
                "faroctl {}: {} {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((ms, String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let (_, listed) = ctl(&["incidents", "--state", "open", "--json"])?;
    let listed: serde_json::Value = serde_json::from_str(&listed).context("faroctl --json")?;
    let listed = listed.as_array().map_or(0, Vec::len);
    line(
        "faroctl incidents --state open listed",
        &format!("{listed} incidents (seeded open: {})", seeded.open),
    );
    let timed = |label: &str, args: &[&str], target: Option<f64>| -> Result<()> {
        let mut ms = Vec::new();
        ctl(args)?; // warm-up, not counted
        for _ in 0..query_runs {
            ms.push(ctl(args)?.0);
        }
        print_ms(label, &ms, target);
        Ok(())
    };
    timed(
        "faroctl incidents --state open (process)",
        &["incidents", "--state", "open"],
        Some(LIST_TARGET_MS),
    )?;
    let open_id = seeded.busy_open.clone();
    let closed_id = seeded.old_closed.clone();
    timed(
        &format!("faroctl show {open_id} (open, process)"),
        &["show", &open_id],
        None,
    )?;
    timed(
        &format!("faroctl show {closed_id} (closed, process)"),
        &["show", &closed_id],
        None,
    )?;
    let socket = farod.socket();
    let direct = |label: &str, path: &str, target: Option<f64>| -> Result<()> {
        common::http_get(&socket, path)?;
        let mut ms = Vec::new();
        for _ in 0..query_runs {
            let t = Instant::now();
            common::http_get(&socket, path)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        print_ms(label, &ms, target);
        Ok(())
    };
    direct(
        "GET /v1/incidents?state=open (socket)",
        "/v1/incidents?state=open",
        Some(LIST_TARGET_MS),
    )?;
    direct(
        &format!("GET /v1/incidents/{open_id} (socket)"),
        &format!("/v1/incidents/{open_id}"),
        None,
    )?;
    direct(
        &format!("GET /v1/incidents/{closed_id} (socket)"),
        &format!("/v1/incidents/{closed_id}"),
        None,
    )?;
    direct("GET /v1/status (socket)", "/v1/status", None)?;
    radios.check()?;
    let r = proc_reading(farod.pid())?;
    line(
        "farod RSS after the queries (VmRSS / VmHWM)",
        &format!(
            "{} / {}   {}",
            mib(r.rss_kib),
            mib(r.hwm_kib),
            rss_verdict(r.rss_kib as f64)
        ),
    );
    // Each thread that ran a query may keep a glibc malloc arena of its own.
    line(
        "farod threads after the queries",
        &threads(farod.pid()).map_or_else(|| "?".into(), |n| n.to_string()),
    );
    farod.stop()?;
    drop(radios);
    Ok(())
}

/// How many threads `pid` has (`Threads:` of /proc/PID/status).
fn threads(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// Prints SQLite's plan for the queue listing (the query of farod's `Reader::incidents` with
/// `Filter::Open`).
fn query_plan(db: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut st = conn.prepare(
        "EXPLAIN QUERY PLAN SELECT i.id FROM incidents i LEFT JOIN nodes n ON n.num = i.reporter
         WHERE i.state != 'closed' ORDER BY i.state = 'closed', i.priority, i.created_at LIMIT 1000",
    )?;
    let steps = st
        .query_map([], |r| r.get::<_, String>(3))?
        .collect::<Result<Vec<_>, _>>()?;
    line("query plan of the open-queue listing", &steps.join("; "));
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---- seeding -----------------------------------------------------------------------------

/// How large the seeded database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Incidents in all.
    pub incidents: usize,
    /// Of which open (not closed).
    pub open: usize,
    /// Rows of `team_positions`.
    pub positions: usize,
    /// Patrol teams (P1..Pn).
    pub teams: usize,
    /// Days the incidents span (ending now).
    pub incident_days: i64,
    /// Days the team positions span (ending now).
    pub position_days: i64,
}

impl Sizes {
    /// 100,000 incidents and 1,000,000 positions (smoke: 2,000 and 20,000).
    ///
    /// Open: 0.3%, 300 of 100,000 (smoke: 20). A station that has logged 100,000 incidents over
    /// three years (about 90 a day) closes nearly all of them within hours; what stays open is
    /// the day's work plus a tail of incidents nobody closed formally (contact lost, a patrol
    /// that never reported back). A few hundred is the pessimistic end of that, and it is what
    /// the listing has to return, so it is the size that matters for its time.
    pub fn for_opts(opts: &Opts) -> Sizes {
        Sizes {
            incidents: opts.size(100_000, 2_000),
            open: opts.size(300, 20),
            positions: opts.size(1_000_000, 20_000),
            teams: 12,
            incident_days: 3 * 365,
            position_days: 365,
        }
    }

    /// One line.
    pub fn describe(&self) -> String {
        format!(
            "{} incidents ({} open) over {} days, {} team positions of {} teams over {} days",
            thousands(self.incidents as u64),
            thousands(self.open as u64),
            self.incident_days,
            thousands(self.positions as u64),
            self.teams,
            self.position_days
        )
    }
}

/// What [`seed`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// Incidents.
    pub incidents: u64,
    /// Open incidents.
    pub open: u64,
    /// Audit events.
    pub events: u64,
    /// Team positions.
    pub positions: u64,
    /// Nodes.
    pub nodes: u64,
    /// An open incident with a long audit trail (for `show`).
    pub busy_open: String,
    /// An old closed incident (for `show`).
    pub old_closed: String,
}

const KINDS: [(Kind, u32); 7] = [
    (Kind::Lost, 30),
    (Kind::Distress, 20),
    (Kind::Heat, 20),
    (Kind::Medical, 12),
    (Kind::Violence, 5),
    (Kind::Drowning, 3),
    (Kind::Info, 10),
];
const SOURCES: [(&str, u32); 7] = [
    ("text", 70),
    ("bell", 5),
    ("alert", 5),
    ("detection", 8),
    ("waypoint", 2),
    ("patrol_sos", 2),
    ("manual", 8),
];
const LANGS: [(&str, u32); 5] = [("es", 60), ("en", 10), ("fr", 5), ("ht", 20), ("pt", 5)];
const OUTCOMES: [(Outcome, u32); 6] = [
    (Outcome::Rescued, 45),
    (Outcome::TransferredHospital, 10),
    (Outcome::TransferredShelter, 10),
    (Outcome::FalseAlarm, 15),
    (Outcome::NotFound, 12),
    (Outcome::Cancelled, 8),
];
/// Open incidents by state: most are waiting for the desk.
const OPEN_STATES: [(State, u32); 5] = [
    (State::New, 40),
    (State::Acknowledged, 25),
    (State::Assigned, 15),
    (State::EnRoute, 10),
    (State::OnScene, 10),
];
const OPERATORS: [&str; 4] = ["ana", "luis", "marisol", "jean"];
const RADIOS: [&str; 2] = ["main", "mast"];
/// The Sásabe station (tools/sim/scenarios/default.toml).
const STATION: (f64, f64) = (31.47463, -111.54485);
/// First node number of the reporting phones.
const PHONE_BASE: u32 = 0x6000_0000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table[0].0
}

/// The node of team `t` (0-based): P1 and P2 are the registered patrols of
/// [`common::station_config`]; P3.. follow them.
fn team_node(t: usize) -> u32 {
    nodes::PATROLS
        .get(t)
        .map_or(0x5a5a_0101 + t as u32, |(_, n)| *n)
}

fn near(rng: &mut StdRng, spread: f64) -> (f64, f64) {
    (
        STATION.0 + rng.random_range(-spread..spread),
        STATION.1 + rng.random_range(-spread..spread),
    )
}

/// Fills a migrated, empty farod database with `sizes` worth of history ending at `now` (unix
/// ms), in one transaction with prepared statements; deterministic for a given `seed`.
///
/// Incidents `SAS-1..` in time order, spread over [`Sizes::incident_days`], each with the
/// audit trail farod would have written (opened; heard again; acknowledged; assigned; en
/// route; on scene; closed with an outcome), kinds, priorities (farod's own rules), sources and
/// languages in plausible shares; reporting phones in `nodes` (about one per three incidents,
/// so some report again); teams P1..Pn with positions round-robin over
/// [`Sizes::position_days`]. Open incidents are mostly among the recent ones (nine in ten
/// from the last `10 x open` incidents), the rest stale ones from any time.
pub fn seed(conn: &mut Connection, sizes: &Sizes, now: i64, seed: u64) -> Result<Seeded> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = sizes.incidents;
    let teams: Vec<String> = (1..=sizes.teams.max(1)).map(|t| format!("P{t}")).collect();

    // Which incidents stay open (0-based indices).
    let mut open = vec![false; n];
    let want_open = sizes.open.min(n);
    let recent_from = n.saturating_sub(want_open * 10);
    let recent = want_open - want_open / 10;
    for i in rand::seq::index::sample(&mut rng, n - recent_from, recent.min(n - recent_from)) {
        open[recent_from + i] = true;
    }
    let mut left = want_open - open.iter().filter(|o| **o).count();
    while left > 0 {
        let i = rng.random_range(0..n);
        if !open[i] {
            open[i] = true;
            left -= 1;
        }
    }

    let tx = conn.transaction()?;
    let mut out = Seeded {
        incidents: 0,
        open: 0,
        events: 0,
        positions: 0,
        nodes: 0,
        busy_open: String::new(),
        old_closed: String::new(),
    };
    {
        let mut ins_incident = tx.prepare(
            "INSERT INTO incidents(id, seq, state, outcome, kind, priority, priority_why, people, flags, source,
                                   reporter, language, lat, lon, precision_bits, position_source, position_at, team,
                                   heard_count, created_at, updated_at, last_heard_at, last_reply_at, closed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                     ?22, ?23, ?24)",
        )?;
        let mut ins_event = tx.prepare(
            "INSERT INTO events(incident, at, who, via, what) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut ins_node = tx.prepare(
            "INSERT INTO nodes(num, long_name, short_name, role, last_heard_at, last_radio, lat, lon, alt, position_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(num) DO UPDATE SET last_heard_at = excluded.last_heard_at, last_radio = excluded.last_radio,
                 lat = excluded.lat, lon = excluded.lon, position_at = excluded.position_at",
        )?;
        let mut ins_position = tx.prepare(
            "INSERT INTO team_positions(team, node, at, lat, lon, alt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut ins_team = tx.prepare(
            "INSERT INTO teams(name, status, changed_at) VALUES (?1, 'ok', ?2)
             ON CONFLICT(name) DO UPDATE SET status = 'ok', changed_at = excluded.changed_at",
        )?;

        let phones = (n / 3).max(1) as u32;
        let start = now - sizes.incident_days * DAY;
        let step = (sizes.incident_days * DAY - HOUR) / n.max(1) as i64;
        let mut busiest = 0usize;
        for (i, &is_open) in open.iter().enumerate() {
            let seq = i as i64 + 1;
            let id = format!("SAS-{seq}");
            let t0 = start + i as i64 * step + rng.random_range(0..step.max(1));
            let kind = pick(&mut rng, &KINDS);
            let mut flags: Vec<Flag> = Vec::new();
            if rng.random_bool(0.15) {
                flags.push(Flag::ALL[rng.random_range(0..Flag::ALL.len())]);
            }
            let people = rng.random_bool(0.6).then(|| rng.random_range(1..=12u32));
            let triage = Triage {
                kind: (kind != Kind::Distress).then_some(kind),
                people,
                flags: flags.clone(),
            };
            let p = incident::priority(&triage);
            let why = serde_json::to_string(&p.why)?;
            let source = pick(&mut rng, &SOURCES);
            let reporter: Option<u32> = match source {
                "manual" => None,
                "detection" => Some(nodes::T7),
                "patrol_sos" => Some(team_node(rng.random_range(0..teams.len()))),
                _ => Some(PHONE_BASE + rng.random_range(0..phones)),
            };
            let lang = if source == "patrol_sos" {
                "es"
            } else {
                pick(&mut rng, &LANGS)
            };
            let radio = RADIOS[rng.random_range(0..RADIOS.len())];
            let (pos, pos_src) = match source {
                "detection" => (Some((31.43870, -111.79760)), Some("tower")),
                "manual" => (
                    rng.random_bool(0.7).then(|| near(&mut rng, 0.4)),
                    Some("manual"),
                ),
                _ if rng.random_bool(0.85) => (
                    Some(near(&mut rng, 0.4)),
                    Some(if rng.random_bool(0.8) {
                        "packet"
                    } else {
                        "last_known"
                    }),
                ),
                _ => (None, None),
            };
            let pos_src = pos.and(pos_src);
            let heard = if rng.random_bool(0.15) {
                rng.random_range(2..=4i64)
            } else {
                1
            };
            let state = if is_open {
                pick(&mut rng, &OPEN_STATES)
            } else {
                State::Closed
            };
            let outcome = (!is_open).then(|| pick(&mut rng, &OUTCOMES));
            // Incidents closed as a false alarm or cancelled often never had a team.
            let teamless = matches!(outcome, Some(Outcome::FalseAlarm | Outcome::Cancelled))
                && rng.random_bool(0.6);
            let team = (!teamless && state != State::New && state != State::Acknowledged)
                .then(|| teams[rng.random_range(0..teams.len())].clone());
            let operator = format!(
                "operator:{}",
                OPERATORS[rng.random_range(0..OPERATORS.len())]
            );
            let reporter_who = reporter.map_or_else(
                || operator.clone(),
                |r| format!("node:{}", faro_proto::mesh::NodeId(r)),
            );

            // The audit trail.
            let mut events: Vec<(i64, String, &str, String)> = Vec::new();
            let place = match (pos, pos_src) {
                (Some((la, lo)), Some(src)) => format!(" at {la:.5},{lo:.5} ({src})"),
                _ => " with no position".to_string(),
            };
            let opened = match reporter {
                Some(r) if source != "manual" => format!(
                    "opened: {p} {source} from {}{place}; {}",
                    faro_proto::mesh::NodeId(r),
                    p.why.join("; ")
                ),
                _ => format!("opened by hand: {p}{place}; {}", p.why.join("; ")),
            };
            let via_open = if source == "manual" { "faroctl" } else { radio };
            events.push((t0, reporter_who.clone(), via_open, opened));
            let mut t = t0;
            let mut last_heard = t0;
            for k in 2..=heard {
                t += rng.random_range(MIN..10 * MIN);
                last_heard = t;
                events.push((
                    t,
                    reporter_who.clone(),
                    radio,
                    format!("distress heard again ({k} times)"),
                ));
            }
            // How far a closed incident's team got before it was closed.
            let got_to = match state {
                State::Closed => {
                    [State::Assigned, State::EnRoute, State::OnScene][rng.random_range(0..3usize)]
                }
                s => s,
            };
            let reached = |s: State| got_to >= s;
            // The desk often assigns straight away, without acknowledging first.
            if state == State::Acknowledged
                || ((team.is_none() || rng.random_bool(0.6)) && reached(State::Acknowledged))
            {
                t += rng.random_range(MIN..10 * MIN);
                events.push((t, operator.clone(), "faroctl", "acknowledged".into()));
            }
            if let Some(team) = &team {
                let patrol = format!("patrol:{team}");
                t += rng.random_range(2 * MIN..20 * MIN);
                events.push((
                    t,
                    operator.clone(),
                    "faroctl",
                    format!("assigned to {team}"),
                ));
                if reached(State::EnRoute) {
                    t += rng.random_range(MIN..10 * MIN);
                    events.push((t, patrol.clone(), radio, format!("{team} en route")));
                }
                if reached(State::OnScene) {
                    t += rng.random_range(20 * MIN..3 * HOUR);
                    events.push((t, patrol.clone(), radio, format!("{team} on scene")));
                }
            }
            if rng.random_bool(0.1) {
                t += rng.random_range(MIN..30 * MIN);
                events.push((
                    t,
                    operator.clone(),
                    "faroctl",
                    "note: familiar avisado por teléfono".into(),
                ));
            }
            let mut closed_at = None;
            if let Some(o) = outcome {
                t += rng.random_range(30 * MIN..6 * HOUR);
                closed_at = Some(t);
                events.push((
                    t,
                    operator.clone(),
                    "faroctl",
                    format!("closed: {}", o.as_str()),
                ));
            }
            // The most recent trails must not run into the future.
            let shift = (t - (now - MIN)).max(0);
            let created = t0 - shift;

            ins_incident.execute(params![
                id,
                seq,
                state.as_str(),
                outcome.map(Outcome::as_str),
                triage.kind.unwrap_or(Kind::Distress).as_str(),
                p.level,
                why,
                people,
                flags
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                source,
                reporter,
                lang,
                pos.map(|p| p.0),
                pos.map(|p| p.1),
                pos.map(|_| 32),
                pos_src,
                pos.map(|_| created),
                team,
                heard,
                created,
                t - shift,
                last_heard - shift,
                reporter.map(|_| created),
                closed_at.map(|c| c - shift),
            ])?;
            for (at, who, via, what) in &events {
                ins_event.execute(params![id, at - shift, who, via, what])?;
            }
            out.events += events.len() as u64;
            out.incidents += 1;
            if is_open {
                out.open += 1;
                if events.len() > busiest {
                    busiest = events.len();
                    out.busy_open = id.clone();
                }
            } else if out.old_closed.is_empty() && i >= n / 100 && events.len() >= 4 {
                out.old_closed = id.clone();
            }
            if let Some(r) = reporter.filter(|r| *r >= PHONE_BASE) {
                let (la, lo) = pos.unwrap_or(STATION);
                ins_node.execute(params![
                    r,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    last_heard - shift,
                    radio,
                    la,
                    lo,
                    None::<i32>,
                    created
                ])?;
            }
        }

        // Teams, their nodes and positions.
        let pstart = now - sizes.position_days * DAY;
        let pstep = (sizes.position_days * DAY) / sizes.positions.max(1) as i64;
        let mut at_team: Vec<(f64, f64)> = teams.iter().map(|_| STATION).collect();
        for (t, name) in teams.iter().enumerate() {
            ins_team.execute(params![name, pstart])?;
            ins_node.execute(params![
                team_node(t),
                format!("Patrulla Beta {}", t + 1),
                name,
                "patrol",
                now,
                RADIOS[t % RADIOS.len()],
                STATION.0,
                STATION.1,
                1080,
                now
            ])?;
        }
        for k in 0..sizes.positions {
            let t = k % teams.len();
            let (la, lo) = &mut at_team[t];
            // A patrol's random walk, kept within ~50 km of the station.
            *la = (*la + rng.random_range(-0.002..0.002)).clamp(STATION.0 - 0.4, STATION.0 + 0.4);
            *lo = (*lo + rng.random_range(-0.002..0.002)).clamp(STATION.1 - 0.4, STATION.1 + 0.4);
            let at = (pstart + k as i64 * pstep).min(now);
            ins_position.execute(params![
                teams[t],
                team_node(t),
                at,
                *la,
                *lo,
                rng.random_range(900..1300)
            ])?;
            out.positions += 1;
        }
        ins_node.execute(params![
            nodes::T7,
            "Torre de Auxilio 7",
            "T7",
            "tower",
            now,
            "main",
            31.43870,
            -111.79760,
            None::<i32>,
            now
        ])?;
    }
    if out.old_closed.is_empty() {
        out.old_closed = "SAS-1".into();
    }
    if out.busy_open.is_empty() {
        out.busy_open = format!("SAS-{n}");
    }
    out.nodes = tx.query_row("SELECT COUNT(*) FROM nodes", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use farod::store::query::{Filter, Reader};

    fn small() -> Sizes {
        Sizes {
            incidents: 500,
            open: 17,
            positions: 3_000,
            teams: 12,
            incident_days: 3 * 365,
            position_days: 365,
        }
    }

    fn seeded_db(dir: &Path) -> (PathBuf, Seeded) {
        let path = dir.join("faro.db");
        let mut conn = Connection::open(&path).unwrap();
        farod::store::migrations::migrate(&mut conn).unwrap();
        let s = seed(&mut conn, &small(), 1_750_000_000_000, 7).unwrap();
        (path, s)
    }

    #[test]
    fn seeds_the_counts_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = seeded_db(dir.path());
        let c = Connection::open(&path).unwrap();
        let count = |sql: &str| -> u64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(s.incidents, 500);
        assert_eq!(s.open, 17);
        assert_eq!(count("SELECT COUNT(*) FROM incidents"), 500);
        assert_eq!(
            count("SELECT COUNT(*) FROM incidents WHERE state != 'closed'"),
            17
        );
        assert_eq!(count("SELECT COUNT(*) FROM team_positions"), 3_000);
        assert_eq!(count("SELECT COUNT(DISTINCT team) FROM team_positions"), 12);
        assert_eq!(count("SELECT COUNT(*) FROM teams"), 12);
        assert_eq!(count("SELECT COUNT(*) FROM events"), s.events);
        assert_eq!(count("SELECT COUNT(*) FROM nodes"), s.nodes);
        // Three to five events an incident on average, and every incident has its "opened".
        assert!(
            s.events >= 3 * 500 && s.events <= 5 * 500 + 250,
            "{}",
            s.events
        );
        assert_eq!(
            count("SELECT COUNT(DISTINCT incident) FROM events WHERE what LIKE 'opened%'"),
            500
        );
        // Closed ones have an outcome and a close time; open ones neither.
        assert_eq!(
            count("SELECT COUNT(*) FROM incidents WHERE (state = 'closed') != (outcome IS NOT NULL AND closed_at IS NOT NULL)"),
            0
        );
        // Nothing in the future, nothing updated before it was created.
        assert_eq!(
            count("SELECT COUNT(*) FROM events WHERE at > 1750000000000"),
            0
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM incidents WHERE updated_at < created_at OR last_heard_at < created_at"),
            0
        );
        // Ids and sequence numbers agree.
        assert_eq!(
            count("SELECT COUNT(*) FROM incidents WHERE id != 'SAS-' || seq"),
            0
        );
    }

    #[test]
    fn farods_reader_accepts_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = seeded_db(dir.path());
        let r = Reader::open(&path).unwrap();
        let open = r.incidents(Filter::Open, 1000).unwrap();
        assert_eq!(open.len(), 17);
        assert!(open.iter().all(|i| i.state != "closed"));
        // Most urgent first.
        assert!(open.windows(2).all(|w| w[0].priority <= w[1].priority));
        let busy = r.incident(&s.busy_open).unwrap().unwrap();
        assert_ne!(busy.state, "closed");
        let events = busy.events.unwrap();
        assert!(events.len() >= 3, "{events:?}");
        assert!(events[0].what.starts_with("opened"));
        let old = r.incident(&s.old_closed).unwrap().unwrap();
        assert_eq!(old.state, "closed");
        assert!(old.outcome.is_some());
        assert!(old
            .events
            .unwrap()
            .last()
            .is_some_and(|e| e.what.starts_with("closed: ")));
        let all = r.incidents(Filter::All, 1000).unwrap();
        assert_eq!(all.len(), 500);
        let teams: Vec<farod::store::TeamConfig> = (1..=12)
            .map(|t| farod::store::TeamConfig {
                name: format!("P{t}"),
                nodes: vec![team_node(t - 1)],
                interval: Duration::from_secs(120),
                keys: Vec::new(),
                language: farod::lang::Lang::Es,
            })
            .collect();
        let views = r.teams(&teams, None).unwrap();
        assert!(views.iter().all(|t| t.status == "ok" && t.lat.is_some()));
        assert!(r.counts().unwrap().open_incidents == 17);
    }

    #[test]
    fn seeding_is_deterministic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        assert_eq!(seeded_db(a.path()).1, seeded_db(b.path()).1);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
