//! faro-crash: crash safety, measured (issue 5, item 3).
//!
//! Runs the real `farod run` binary against faro-sim's built-in mesh served over TCP, while a
//! storm of distress beacons arrives from phones next to the station, kills farod with SIGKILL
//! at random moments (seeded), restarts it, and checks from outside:
//!
//! - every beacon whose reply reached its sender ("acknowledged") exists afterwards in the
//!   database exactly once (one incident for that phone, the id the reply named, an `opened`
//!   event);
//! - `PRAGMA integrity_check` is `ok` after the last kill and after a clean stop;
//! - after a final restart the outbox resumes and drains (no row pending or awaiting an ACK),
//!   and every incident's reply reaches its phone;
//! - every beacon the simulated radio wrote to farod in that final life, which ends with a
//!   SIGTERM (a draining stop), is in the database.
//!
//! It also counts the beacons the radio wrote to farod that never reached the database, by
//! how the life that got them ended: a SIGKILL may lose what was read and not yet committed
//! (figures only, they were never acknowledged); a SIGTERM must lose none.
//!
//! Kill moments (seeded): `--startup-kills` percent of the cycles (default 25) kill farod at a
//! random moment while it starts (before its radio is up: opening the database, migrations,
//! the handshake), the others a random `--life` (default 0..3500 ms) after its radio came up
//! (intake commits, replies in flight, delivery results). Measuring from "radio up" keeps the
//! harness meaningful whether farod starts in 0.1 s (release) or 8 s (debug, loaded machine).
//!
//! Each beacon comes from a fresh phone node, so every beacon is its own incident (a repeat
//! from one node within 30 minutes would update the first one).
//!
//! ```text
//! faro-crash [--cycles N] [--seed S] [--farod PATH] [--phones N] [--life MIN_MS..MAX_MS]
//!            [--startup-kills PCT] [--down MAX_MS] [--every MIN_MS..MAX_MS] [--burst N] [--keep]
//! ```
//!
//! `--cycles` defaults to `FARO_CRASH_CYCLES` or 20; `--farod` to `FARO_FAROD` or the `farod`
//! next to this program (`target/<profile>/farod`: run `cargo build -p farod` first). Prints
//! one line per cycle, the figures, and a last line `RESULT {json}`; exits 1 when an invariant
//! does not hold.

#![allow(clippy::unwrap_used)] // a test harness: a failed unwrap is a failed run

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faro_proto::mesh::{self, NodeId, BROADCAST};
use faro_sim::{Action, Faults, NodeSpec, Role, Scenario, Sim, SimEvent, SimOptions};
use farod::store::query::{Filter, Reader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SAS: u32 = 0x5a5a_0001;
/// Node numbers of the storm's phones: `!5a600000` onwards.
const PHONE_BASE: u32 = 0x5a60_0000;

#[derive(Debug, Clone)]
struct Opts {
    cycles: u32,
    seed: u64,
    farod: PathBuf,
    phones: u32,
    life_ms: (u64, u64),
    startup_kills: u32,
    down_ms: u64,
    every_ms: (u64, u64),
    burst: u32,
    keep: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("faro-crash: {msg}");
    eprintln!(
        "usage: faro-crash [--cycles N] [--seed S] [--farod PATH] [--phones N] \
         [--life MIN_MS..MAX_MS] [--startup-kills PCT] [--down MAX_MS] [--every MIN_MS..MAX_MS] \
         [--burst N] [--keep]"
    );
    std::process::exit(2)
}

fn range(s: &str) -> (u64, u64) {
    let (a, b) = s
        .split_once("..")
        .unwrap_or_else(|| usage(&format!("expected MIN..MAX, got {s:?}")));
    let a = a
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad number {a:?}")));
    let b: u64 = b
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad number {b:?}")));
    if b < a {
        usage(&format!("empty range {s:?}"));
    }
    (a, b)
}

fn parse_opts() -> Opts {
    let default_farod = std::env::var_os("FARO_FAROD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("farod")))
                .unwrap_or_else(|| PathBuf::from("farod"))
        });
    let mut o = Opts {
        cycles: std::env::var("FARO_CRASH_CYCLES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
        seed: 5,
        farod: default_farod,
        phones: 0,
        life_ms: (0, 3_500),
        startup_kills: 25,
        down_ms: 300,
        every_ms: (3_000, 6_000),
        burst: 2,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--cycles" => o.cycles = val().parse().unwrap_or_else(|_| usage("bad --cycles")),
            "--seed" => o.seed = val().parse().unwrap_or_else(|_| usage("bad --seed")),
            "--farod" => o.farod = PathBuf::from(val()),
            "--phones" => o.phones = val().parse().unwrap_or_else(|_| usage("bad --phones")),
            "--life" => o.life_ms = range(&val()),
            "--startup-kills" => {
                o.startup_kills = val()
                    .parse()
                    .ok()
                    .filter(|p| *p <= 100)
                    .unwrap_or_else(|| usage("bad --startup-kills (a percentage)"))
            }
            "--down" => o.down_ms = val().parse().unwrap_or_else(|_| usage("bad --down")),
            "--every" => o.every_ms = range(&val()),
            "--burst" => o.burst = val().parse().unwrap_or_else(|_| usage("bad --burst")),
            "--keep" => o.keep = true,
            "-h" | "--help" => usage("crash harness"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if o.cycles == 0 || o.burst == 0 {
        usage("--cycles and --burst must be at least 1");
    }
    if o.phones == 0 {
        // Enough fresh senders for the longest storm these settings can make.
        let per_cycle =
            ((o.life_ms.1 + o.down_ms + 2_000) / o.every_ms.0.max(1) + 1) * u64::from(o.burst);
        o.phones = (per_cycle * u64::from(o.cycles)).clamp(100, 3_600) as u32;
    }
    o
}

/// The built-in station alone, without its timeline, and `n` phones 1 to 7 km around it on
/// rings 100 m apart, 60 to a ring. Each phone hears only the station (its range is 30 m; a
/// link uses the larger range of its two ends, the station's 8 km): no phone relays another's
/// beacon or the station's replies, and every packet is single-hop (hop limit 0: otherwise
/// the station would rebroadcast each beacon and every phone the station's rebroadcast), so
/// the storm is about farod, not about flooding.
fn storm_scenario(n: u32) -> Scenario {
    let mut sc = Scenario::builtin("default")
        .expect("built-in scenario")
        .without_timeline();
    sc.radio.hop_limit = 0;
    let station = sc.node(SAS).expect("the station").clone();
    let template = sc
        .nodes
        .iter()
        .find(|n| n.role == Role::Phone)
        .expect("a phone in the built-in scenario")
        .clone();
    sc.nodes = vec![station.clone()];
    for i in 0..n {
        let ring = f64::from(i / 60);
        let angle = f64::from(i % 60) * 6f64.to_radians() + ring * 0.05;
        let r_km = 1.0 + 0.1 * ring;
        let dlat = r_km * angle.sin() / 111.0;
        let dlon = r_km * angle.cos() / (111.0 * station.lat.to_radians().cos());
        sc.nodes.push(NodeSpec {
            id: PHONE_BASE + i,
            long_name: format!("Celular {i}"),
            short_name: format!("C{:03}", i % 1000),
            lat: station.lat + dlat,
            lon: station.lon + dlon,
            range_km: 0.03,
            replies: Vec::new(),
            ..template.clone()
        });
    }
    sc
}

#[derive(Debug, Clone)]
struct Beacon {
    phone: u32,
    while_up: bool,
}

#[derive(Debug, Clone)]
struct Reply {
    incident: String,
    count: u32,
    cycle: u32,
}

#[derive(Debug, Default)]
struct Seen {
    beacons: Vec<Beacon>,
    /// Phones whose beacon the device handed to farod, and in which life (the first time).
    handed: HashMap<u32, u32>,
    /// The same, the last life that was handed the beacon (a device hands a beacon again
    /// to the next connection when the last one did not take it).
    handed_last: HashMap<u32, u32>,
    replies: HashMap<u32, Reply>,
    lagged: u64,
}

/// The first word after "Faro " shaped like an incident id (`SAS-17`).
fn incident_in(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Faro ")?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (word.starts_with("SAS-") && word.len() > 4).then_some(word)
}

fn spawn_farod(o: &Opts, dir: &Path, life: u32) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("farod.log"))
        .unwrap();
    let mut head = log.try_clone().unwrap();
    use std::io::Write;
    let _ = writeln!(head, "===== faro-crash: life {life} =====");
    Command::new(&o.farod)
        .args(["run", "--config"])
        .arg(dir.join("faro.toml"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--socket")
        .arg(dir.join("faro.sock"))
        .env("FARO_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!(
                "faro-crash: cannot run {}: {e} (build it with `cargo build -p farod` or pass --farod)",
                o.farod.display()
            );
            std::process::exit(2)
        })
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// What the database holds for each reporter: incident ids, and whether each has `opened`.
#[derive(Debug, Default)]
struct DbView {
    by_reporter: HashMap<u32, Vec<String>>,
    incidents: usize,
    opened: HashMap<String, bool>,
    heard_more_than_once: usize,
}

fn db_view(db: &Path) -> DbView {
    let r = Reader::open(db).unwrap();
    let all = r.incidents(Filter::All, 1_000_000).unwrap();
    let mut v = DbView {
        incidents: all.len(),
        ..DbView::default()
    };
    for inc in all {
        if inc.heard_count > 1 {
            v.heard_more_than_once += 1;
        }
        let full = r.incident(&inc.id).unwrap().unwrap();
        let opened = full
            .events
            .unwrap_or_default()
            .iter()
            .any(|e| e.what.starts_with("opened"));
        v.opened.insert(inc.id.clone(), opened);
        if let Some(rep) = inc
            .reporter
            .as_deref()
            .and_then(|s| s.strip_prefix('!'))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
        {
            v.by_reporter.entry(rep).or_default().push(inc.id);
        }
    }
    v
}

/// Acknowledged beacons that are not in the database exactly once with their events.
fn lost(seen: &Seen, v: &DbView) -> Vec<String> {
    let mut out = Vec::new();
    for (phone, reply) in &seen.replies {
        let ids = v.by_reporter.get(phone).cloned().unwrap_or_default();
        let why = if ids.is_empty() {
            Some("no incident".to_string())
        } else if ids.len() > 1 {
            Some(format!("{} incidents {ids:?}", ids.len()))
        } else if ids[0] != reply.incident {
            Some(format!(
                "reply named {} but the incident is {}",
                reply.incident, ids[0]
            ))
        } else if !v.opened.get(&ids[0]).copied().unwrap_or(false) {
            Some(format!("{} has no opened event", ids[0]))
        } else {
            None
        };
        if let Some(why) = why {
            out.push(format!("{}: {why}", NodeId(*phone)));
        }
    }
    out.sort();
    out
}

fn main() {
    let o = parse_opts();
    if !o.farod.exists() {
        eprintln!(
            "faro-crash: no farod at {} (run `cargo build -p farod`, or pass --farod PATH)",
            o.farod.display()
        );
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("faro-crash-{}-{}", std::process::id(), o.seed));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("faro.db");

    let sim = rt.block_on(async {
        Sim::start(
            storm_scenario(o.phones),
            SimOptions {
                seed: Some(o.seed),
                run_timeline: false,
                ..SimOptions::default()
            },
        )
    });
    let addr = rt
        .block_on(sim.serve_tcp(SAS, "127.0.0.1:0".parse().unwrap(), Faults::default()))
        .unwrap();
    std::fs::write(
        dir.join("faro.toml"),
        format!(
            "[station]\ncode = \"SAS\"\nname = \"Grupo Beta Sásabe\"\n\
             [[radio]]\nname = \"main\"\nuri = \"tcp:{addr}\"\n"
        ),
    )
    .unwrap();
    println!(
        "faro-crash: {} cycles, seed {}, {} phones, farod {}, data {}",
        o.cycles,
        o.seed,
        o.phones,
        o.farod.display(),
        dir.display()
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    // Replies to the storm's phones.
    let cycle_now = Arc::new(AtomicU32::new(1));
    // Handshakes farod completed with the station device ("send_packets").
    let ups = Arc::new(AtomicU64::new(0));
    {
        let mut events = sim.events();
        let seen = seen.clone();
        let cycle_now = cycle_now.clone();
        let ups = ups.clone();
        let trace = std::env::var_os("FARO_CRASH_TRACE").is_some();
        let t0 = Instant::now();
        rt.spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SimEvent::Received { node, packet })
                        if node >= PHONE_BASE && packet.to == node =>
                    {
                        let Some(d) = mesh::data(&packet) else {
                            continue;
                        };
                        let text = String::from_utf8_lossy(&d.payload);
                        if let Some(id) = incident_in(&text) {
                            let mut s = seen.lock().unwrap();
                            let e = s.replies.entry(node).or_insert(Reply {
                                incident: id,
                                count: 0,
                                cycle: cycle_now.load(Ordering::Relaxed),
                            });
                            e.count += 1;
                        }
                    }
                    Ok(SimEvent::ToClient { msg, .. }) => {
                        if let Some(faro_proto::mesh::from_radio::PayloadVariant::Packet(p)) =
                            &msg.payload_variant
                        {
                            if p.from >= PHONE_BASE
                                && mesh::portnum(p) == Some(mesh::PortNum::TextMessageApp)
                            {
                                let life = cycle_now.load(Ordering::Relaxed);
                                let mut s = seen.lock().unwrap();
                                s.handed.entry(p.from).or_insert(life);
                                s.handed_last.insert(p.from, life);
                            }
                        }
                        if trace {
                            trace_event(t0, &SimEvent::ToClient { station: SAS, msg });
                        }
                    }
                    Ok(SimEvent::DeviceState { state, .. }) if state == "send_packets" => {
                        ups.fetch_add(1, Ordering::Relaxed);
                        if trace {
                            eprintln!("{:8.3} device {state}", t0.elapsed().as_secs_f64());
                        }
                    }
                    Ok(ev) if trace => trace_event(t0, &ev),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        seen.lock().unwrap().lagged += n;
                    }
                    Err(_) => return,
                }
            }
        });
    }
    // The storm: a fresh phone every MIN..MAX ms.
    let storm_on = Arc::new(AtomicBool::new(true));
    let farod_up = Arc::new(AtomicBool::new(false));
    let storm = {
        let sim = sim.clone();
        let seen = seen.clone();
        let storm_on = storm_on.clone();
        let farod_up = farod_up.clone();
        let (lo, hi) = o.every_ms;
        let phones = o.phones;
        let burst = o.burst;
        let seed = o.seed;
        rt.spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ 0x5707);
            let mut i = 0u32;
            // Phones stay off the air until their turn: otherwise every one of them would
            // relay every reply (farod's direct messages are flooded like any other).
            for j in 0..phones {
                sim.act(Action::Silent {
                    node: PHONE_BASE + j,
                    for_secs: None,
                })
                .await;
            }
            while storm_on.load(Ordering::Relaxed) && i < phones {
                // A group: 1..=burst phones beacon at once.
                let group = rng.random_range(1..=burst).min(phones - i);
                for _ in 0..group {
                    let phone = PHONE_BASE + i;
                    sim.act(Action::Silent {
                        node: phone,
                        for_secs: Some(0.0),
                    })
                    .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let text = if i % 2 == 0 { "AUXILIO" } else { "\u{7}SOS" };
                    sim.act(Action::Text {
                        from: phone,
                        to: BROADCAST,
                        channel: 0,
                        text: text.into(),
                        want_ack: false,
                    })
                    .await;
                    seen.lock().unwrap().beacons.push(Beacon {
                        phone,
                        while_up: farod_up.load(Ordering::Relaxed),
                    });
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(lo..=hi))).await;
            }
            i
        })
    };

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut lifetimes = Vec::new();
    let mut startup_kills = 0u32;
    // Spawn to radio up, last seen: where a kill "while starting" may land.
    let mut startup = Duration::from_secs(1);
    for cycle in 1..=o.cycles {
        cycle_now.store(cycle, Ordering::Relaxed);
        let ups_before = ups.load(Ordering::Relaxed);
        let spawned = Instant::now();
        let mut child = spawn_farod(&o, &dir, cycle);
        farod_up.store(true, Ordering::Relaxed);
        let during_startup = rng.random_range(0..100) < o.startup_kills;
        let after_up = Duration::from_millis(rng.random_range(o.life_ms.0..=o.life_ms.1));
        let at_startup = startup.mul_f64(rng.random_range(0.0..1.0));
        let what = if during_startup {
            startup_kills += 1;
            std::thread::sleep(at_startup);
            "while starting".to_string()
        } else {
            // Bounded: a debug build on a loaded machine can take seconds to start.
            let deadline = spawned + Duration::from_secs(120);
            while ups.load(Ordering::Relaxed) == ups_before {
                if Instant::now() > deadline {
                    eprintln!("faro-crash: farod's radio not up within 120 s in cycle {cycle}");
                    std::process::exit(1);
                }
                if let Ok(Some(st)) = child.try_wait() {
                    eprintln!(
                        "faro-crash: farod exited by itself in cycle {cycle}: {st} (see {})",
                        dir.join("farod.log").display()
                    );
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            startup = spawned.elapsed();
            std::thread::sleep(after_up);
            format!("{:>5} ms after radio up", after_up.as_millis())
        };
        if let Ok(Some(st)) = child.try_wait() {
            eprintln!(
                "faro-crash: farod exited by itself in cycle {cycle}: {st} (see {})",
                dir.join("farod.log").display()
            );
            std::process::exit(1);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        farod_up.store(false, Ordering::Relaxed);
        let life = spawned.elapsed();
        lifetimes.push(life);
        let (sent, acked) = {
            let s = seen.lock().unwrap();
            (s.beacons.len(), s.replies.len())
        };
        println!(
            "cycle {cycle:>3}/{}: SIGKILL {what} ({:>5} ms after spawn); beacons sent {sent}, acknowledged {acked}",
            o.cycles,
            life.as_millis()
        );
        let down = rng.random_range(0..=o.down_ms);
        std::thread::sleep(Duration::from_millis(down));
    }
    storm_on.store(false, Ordering::Relaxed);
    let phones_used = rt.block_on(storm).unwrap();
    let kill_phase = started.elapsed();

    // After the last kill, farod stopped: the database as SIGKILL left it.
    let check_after_kill = integrity(&db);
    let view = db_view(&db);
    let (acked_during_kills, lost_after_kills) = {
        let s = seen.lock().unwrap();
        (s.replies.len(), lost(&s, &view))
    };
    let pending_at_restart = Reader::open(&db).unwrap().counts().unwrap();
    println!(
        "after {} kills: integrity_check {check_after_kill}; incidents {}; acknowledged {acked_during_kills}; lost {}; outbox pending {} awaiting ack {}",
        o.cycles,
        view.incidents,
        lost_after_kills.len(),
        pending_at_restart.outbox_pending,
        pending_at_restart.outbox_awaiting_ack
    );

    // A final life: the outbox resumes and drains; every incident's phone hears its reply.
    cycle_now.store(o.cycles + 1, Ordering::Relaxed);
    let to_drain = pending_at_restart.outbox_pending + pending_at_restart.outbox_awaiting_ack;
    let child = spawn_farod(&o, &dir, o.cycles + 1);
    let drain_start = Instant::now();
    let bound = Duration::from_secs(120) + Duration::from_secs(4) * to_drain as u32;
    let mut drained = false;
    let mut counts = pending_at_restart.clone();
    while drain_start.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(c) = Reader::open(&db).and_then(|r| r.counts()) {
            counts = c;
        }
        let incidents_unanswered = {
            let s = seen.lock().unwrap();
            view_reporters(&db)
                .iter()
                .filter(|p| !s.replies.contains_key(p))
                .count()
        };
        if counts.outbox_pending == 0
            && counts.outbox_awaiting_ack == 0
            && incidents_unanswered == 0
        {
            drained = true;
            break;
        }
    }
    let drain_time = drain_start.elapsed();
    // A clean stop (SIGTERM) ends the run.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let status = wait_bounded(child, Duration::from_secs(20));
    let check_final = integrity(&db);
    let view = db_view(&db);
    let s = seen.lock().unwrap();
    let lost_final = lost(&s, &view);
    let duplicates = view.by_reporter.values().filter(|v| v.len() > 1).count();
    let unanswered: Vec<String> = view
        .by_reporter
        .keys()
        .filter(|p| !s.replies.contains_key(p))
        .map(|p| NodeId(*p).to_string())
        .collect();
    let recorded: usize = s
        .beacons
        .iter()
        .filter(|b| view.by_reporter.contains_key(&b.phone))
        .count();
    let sent_while_down = s.beacons.iter().filter(|b| !b.while_up).count();
    let unrecorded: Vec<&Beacon> = s
        .beacons
        .iter()
        .filter(|b| !view.by_reporter.contains_key(&b.phone))
        .collect();
    let in_flight = unrecorded
        .iter()
        .filter(|b| s.handed.get(&b.phone).is_some_and(|life| *life <= o.cycles))
        .count();
    let never_handed = unrecorded
        .iter()
        .filter(|b| !s.handed.contains_key(&b.phone))
        .count();
    // Written by the radio to farod, never in the database: by how the life ended.
    let handed_not_stored: Vec<u32> = s
        .handed
        .keys()
        .filter(|p| !view.by_reporter.contains_key(p))
        .copied()
        .collect();
    let not_stored_at_clean_stop: Vec<String> = handed_not_stored
        .iter()
        .filter(|p| s.handed_last.get(p).is_some_and(|life| *life > o.cycles))
        .map(|p| NodeId(*p).to_string())
        .collect();
    let not_stored_at_kill = handed_not_stored.len() - not_stored_at_clean_stop.len();
    let replies_repeated = s.replies.values().filter(|r| r.count > 1).count();
    let mean_life_ms =
        lifetimes.iter().map(Duration::as_millis).sum::<u128>() / lifetimes.len().max(1) as u128;
    let clean_stop = status.is_some_and(|st| st.success());
    let ok = lost_after_kills.is_empty()
        && lost_final.is_empty()
        && duplicates == 0
        && check_after_kill == "ok"
        && check_final == "ok"
        && drained
        && unanswered.is_empty()
        && not_stored_at_clean_stop.is_empty()
        && clean_stop;

    println!("--- figures ---");
    println!("cycles (SIGKILL)            {}", o.cycles);
    println!("mean life before kill       {mean_life_ms} ms (spawn to SIGKILL)");
    println!("kills while starting        {startup_kills}");
    println!("beacons sent                {}", s.beacons.len());
    println!("  while no farod process ran {sent_while_down}");
    println!("beacons in the database     {recorded}");
    println!("beacons never recorded      {}", s.beacons.len() - recorded);
    println!("  handed to a farod that was killed before it committed {in_flight}");
    println!("  never handed to farod     {never_handed}");
    println!(
        "handed to farod             {} ; never stored {} ({not_stored_at_kill} in a life ended by SIGKILL, {} by SIGTERM)",
        s.handed.len(),
        handed_not_stored.len(),
        not_stored_at_clean_stop.len()
    );
    println!("acknowledged before the final restart {acked_during_kills}");
    println!(
        "acknowledged after it       {}",
        s.replies.values().filter(|r| r.cycle > o.cycles).count()
    );
    println!("acknowledged in all         {}", s.replies.len());
    println!(
        "lost (acknowledged, not exactly once with events) {}",
        lost_final.len()
    );
    println!("duplicate incidents         {duplicates}");
    println!(
        "incidents heard twice (redelivered packet) {}",
        view.heard_more_than_once
    );
    println!("replies heard more than once {replies_repeated}");
    println!("integrity_check after kills {check_after_kill}; after clean stop {check_final}");
    println!(
        "outbox at final restart     {} pending, {} awaiting ack; drained: {drained} in {:.1} s; failed rows {}",
        pending_at_restart.outbox_pending,
        pending_at_restart.outbox_awaiting_ack,
        drain_time.as_secs_f64(),
        counts.outbox_failed
    );
    println!("incidents without a reply   {}", unanswered.len());
    println!("sim events lagged           {}", s.lagged);
    println!("clean stop (SIGTERM)        {clean_stop}");
    println!(
        "kill phase {:.1} s; phones used {phones_used}",
        kill_phase.as_secs_f64()
    );
    for l in lost_after_kills.iter().chain(&lost_final) {
        println!("LOST {l}");
    }
    if !unanswered.is_empty() {
        println!("UNANSWERED {}", unanswered.join(" "));
    }
    if !not_stored_at_clean_stop.is_empty() {
        println!(
            "NOT STORED AT SIGTERM {}",
            not_stored_at_clean_stop.join(" ")
        );
    }
    let result = serde_json::json!({
        "cycles": o.cycles,
        "seed": o.seed,
        "startup_kills": startup_kills,
        "mean_life_ms": mean_life_ms as u64,
        "beacons_sent": s.beacons.len(),
        "beacons_sent_while_no_farod": sent_while_down,
        "beacons_in_db": recorded,
        "unrecorded_in_flight_at_kill": in_flight,
        "unrecorded_never_handed": never_handed,
        "handed_to_farod": s.handed.len(),
        "handed_not_stored": handed_not_stored.len(),
        "handed_not_stored_at_kill": not_stored_at_kill,
        "handed_not_stored_at_clean_stop": not_stored_at_clean_stop.len(),
        "acknowledged": s.replies.len(),
        "acknowledged_before_final_restart": acked_during_kills,
        "lost": lost_final.len() + lost_after_kills.len(),
        "duplicates": duplicates,
        "incidents": view.incidents,
        "integrity_after_kills": check_after_kill,
        "integrity_final": check_final,
        "outbox_to_resume": to_drain,
        "outbox_drained": drained,
        "outbox_failed": counts.outbox_failed,
        "drain_secs": drain_time.as_secs_f64(),
        "unanswered": unanswered.len(),
        "clean_stop": clean_stop,
        "lagged": s.lagged,
        "ok": ok,
    });
    println!("RESULT {result}");
    drop(s);
    if ok && !o.keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("data kept in {}", dir.display());
    }
    drop(sim);
    rt.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(if ok { 0 } else { 1 });
}

fn view_reporters(db: &Path) -> Vec<u32> {
    Reader::open(db)
        .and_then(|r| r.incidents(Filter::All, 1_000_000))
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            i.reporter
                .as_deref()
                .and_then(|s| s.strip_prefix('!'))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        })
        .collect()
}

fn wait_bounded(mut child: Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `FARO_CRASH_TRACE=1`: what the station device does with the storm, on stderr.
fn trace_event(t0: Instant, ev: &SimEvent) {
    let t = t0.elapsed().as_secs_f64();
    match ev {
        SimEvent::Transmitted { node, packet, .. } => {
            eprintln!(
                "{t:8.3} {} on air: {:?} from {} to {} hop_limit {}",
                NodeId(*node),
                mesh::portnum(packet),
                NodeId(packet.from),
                NodeId(packet.to),
                packet.hop_limit
            );
        }
        SimEvent::ToClient { msg, .. } => {
            if let Some(faro_proto::mesh::from_radio::PayloadVariant::Packet(p)) =
                &msg.payload_variant
            {
                if p.from >= PHONE_BASE {
                    eprintln!("{t:8.3} {} handed to farod", NodeId(p.from));
                }
            }
        }
        SimEvent::DeviceState { state, .. } => eprintln!("{t:8.3} device {state}"),
        _ => {}
    }
}
