//! faro-reconnect: radio faults, measured (issue 5, item 4).
//!
//! farod's radio link (`farod::radio::spawn`, the daemon's own link task with its default
//! backoff: 0.5 s doubling to 8 s) against faro-sim's station served over TCP and over a
//! pseudo-terminal behind a by-id style symlink, in real time:
//!
//! 1. `--cycles` unplugs (outage drawn from `--outage MIN..MAX` seconds, seeded). Each cycle a
//!    want_ack text goes out just before the unplug and must get a delivery result (nothing
//!    written to the radio vanishes), the link must report `Down` with a reason and come back
//!    `Up`, and a text sent on the mesh after the return must arrive. Reconnect time is from
//!    the device being back (the sim's `replugged`) to the link's next `Up`.
//! 2. A device reboot (`Action::Reboot`): TCP drops the client, serial says `rebooted`.
//! 3. A radio that stays connected but goes silent (`Action::Mute`): the link must reopen
//!    after its silence timeout (here 1 s heartbeats and a 4 s timeout).
//! 4. Garbage: a front end injecting device log text, stray headers, corrupt frames and
//!    one-byte writes; the link must come up, deliver every text and count what it skipped.
//!
//! ```text
//! faro-reconnect [--cycles N] [--transport tcp|pty|both] [--outage MIN..MAX] [--seed S]
//! ```
//!
//! Prints each cycle, then per transport the reconnect time p50/p90/p99/max and what each
//! fault left in the link's status, and a line `RESULT {json}` per transport. Exits 1 when a
//! reconnect, a delivery result, a text or a fault recovery is missing. Times are measured,
//! never judged: the exit status does not depend on them.

#![allow(clippy::unwrap_used)] // a test harness: a failed unwrap is a failed run

use std::path::PathBuf;
use std::time::{Duration, Instant};

use faro_proto::mesh::{self, BROADCAST};
use faro_sim::{Action, Faults, Scenario, Sim, SimEvent, SimOptions};
use farod::radio::{self, LinkConfig, LinkHandle, Outgoing, RadioEventKind, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

const SAS: u32 = 0x5a5a_0001;
const P1: u32 = 0x5a5a_0101;
/// Longest wait for any one step.
const STEP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Opts {
    cycles: u32,
    tcp: bool,
    pty: bool,
    outage: (f64, f64),
    seed: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!("faro-reconnect: {msg}");
    eprintln!(
        "usage: faro-reconnect [--cycles N] [--transport tcp|pty|both] [--outage MIN..MAX] [--seed S]"
    );
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        cycles: 50,
        tcp: true,
        pty: true,
        outage: (1.0, 20.0),
        seed: 11,
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
            "--transport" => match val().as_str() {
                "tcp" => (o.tcp, o.pty) = (true, false),
                "pty" => (o.tcp, o.pty) = (false, true),
                "both" => (o.tcp, o.pty) = (true, true),
                other => usage(&format!("unknown transport {other:?}")),
            },
            "--outage" => {
                let v = val();
                let (a, b) = v
                    .split_once("..")
                    .unwrap_or_else(|| usage("expected --outage MIN..MAX (seconds)"));
                let a: f64 = a.parse().unwrap_or_else(|_| usage("bad --outage"));
                let b: f64 = b.parse().unwrap_or_else(|_| usage("bad --outage"));
                if !(a > 0.0 && b >= a) {
                    usage("expected 0 < MIN <= MAX");
                }
                o.outage = (a, b);
            }
            "-h" | "--help" => usage("reconnect measurement"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    o
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Pty,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Pty => "pty",
        }
    }
}

/// One link and what it reports, time-stamped on arrival.
struct Watched {
    link: LinkHandle,
    rx: mpsc::Receiver<(Instant, RadioEventKind)>,
    /// Delivery results seen so far (packet ids).
    delivered: std::collections::HashSet<u32>,
    /// Down reasons seen so far.
    downs: Vec<String>,
    /// Texts seen so far.
    texts: Vec<String>,
}

fn watch_link(transport: Transport, cfg: LinkConfig) -> Watched {
    let (tx, mut raw) = mpsc::channel(4096);
    let link = radio::spawn(transport, cfg, tx);
    let (fwd, rx) = mpsc::channel(4096);
    tokio::spawn(async move {
        while let Some(ev) = raw.recv().await {
            if fwd.send((Instant::now(), ev.kind)).await.is_err() {
                return;
            }
        }
    });
    Watched {
        link,
        rx,
        delivered: Default::default(),
        downs: Vec::new(),
        texts: Vec::new(),
    }
}

impl Watched {
    /// Waits (bounded) for an event `pick` accepts; records deliveries, downs and texts on
    /// the way. `None` when it did not come.
    async fn wait<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(&RadioEventKind) -> Option<T>,
    ) -> Option<(Instant, T)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (at, kind) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .ok()??;
            match &kind {
                RadioEventKind::Delivery { id, .. } => {
                    self.delivered.insert(*id);
                }
                RadioEventKind::Down { reason } => self.downs.push(reason.clone()),
                RadioEventKind::Packet(p) => {
                    if let Some(d) = mesh::data(p) {
                        if d.portnum == mesh::PortNum::TextMessageApp as i32 {
                            self.texts
                                .push(String::from_utf8_lossy(&d.payload).into_owned());
                        }
                    }
                }
                _ => {}
            }
            if let Some(t) = pick(&kind) {
                return Some((at, t));
            }
        }
    }

    async fn up(&mut self, within: Duration) -> Option<Instant> {
        self.wait(within, |k| matches!(k, RadioEventKind::Up(_)).then_some(()))
            .await
            .map(|(at, ())| at)
    }

    async fn down(&mut self, within: Duration) -> Option<Instant> {
        self.wait(within, |k| {
            matches!(k, RadioEventKind::Down { .. }).then_some(())
        })
        .await
        .map(|(at, ())| at)
    }

    /// Waits for a text; true when it came.
    async fn text(&mut self, body: &str, within: Duration) -> bool {
        if self.texts.iter().any(|t| t == body) {
            return true;
        }
        let body = body.to_string();
        self.wait(within, |k| match k {
            RadioEventKind::Packet(p) => mesh::data(p)
                .filter(|d| d.payload == body.as_bytes())
                .map(|_| ()),
            _ => None,
        })
        .await
        .is_some()
    }

    /// Waits for a delivery result of `id`; true when it came.
    async fn delivery(&mut self, id: u32, within: Duration) -> bool {
        if self.delivered.contains(&id) {
            return true;
        }
        self.wait(within, |k| match k {
            RadioEventKind::Delivery { id: got, .. } if *got == id => Some(()),
            _ => None,
        })
        .await
        .is_some()
    }
}

/// The sim's `replugged` moments for a station, time-stamped on arrival.
fn replugs(sim: &Sim) -> mpsc::UnboundedReceiver<(Instant, String)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut events = sim.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(SimEvent::DeviceState { station, state }) if station == SAS => {
                    if tx.send((Instant::now(), state)).is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

async fn state(
    rx: &mut mpsc::UnboundedReceiver<(Instant, String)>,
    want: &str,
    within: Duration,
) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (at, s) = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if s == want {
            return Some(at);
        }
    }
}

fn quiet_sim(seed: u64) -> Sim {
    Sim::start(
        Scenario::builtin("default")
            .expect("built-in scenario")
            .without_timeline(),
        SimOptions {
            seed: Some(seed),
            run_timeline: false,
            ..SimOptions::default()
        },
    )
}

fn by_id_dir(kind: &str, seed: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "faro-reconnect-{}-{kind}-{seed}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BY_ID: &str = "usb-RAKwireless_WisCore_RAK4631_Board_SAS-if00";

/// Serves the sim's station with `faults`; returns the transport that reaches it.
async fn serve(
    sim: &Sim,
    kind: Kind,
    faults: Faults,
    dir: &std::path::Path,
    tag: &str,
) -> Transport {
    match kind {
        Kind::Tcp => {
            let addr = sim
                .serve_tcp(SAS, "127.0.0.1:0".parse().unwrap(), faults)
                .await
                .unwrap();
            Transport::Tcp(addr.to_string())
        }
        Kind::Pty => {
            let link = dir.join(format!("{tag}-{BY_ID}"));
            let _ = std::fs::remove_file(&link);
            sim.serve_pty(SAS, Some(link.clone()), faults).unwrap();
            Transport::Serial(link)
        }
    }
}

fn say(from: u32, text: &str) -> Action {
    Action::Text {
        from,
        to: BROADCAST,
        channel: 0,
        text: text.into(),
        want_ack: false,
    }
}

#[derive(Debug, Default)]
struct Report {
    transport: &'static str,
    cycles: u32,
    times_ms: Vec<f64>,
    missing_reconnects: u32,
    missing_deliveries: u32,
    missing_texts: u32,
    down_reasons: std::collections::BTreeSet<String>,
    reboot_ms: Option<f64>,
    reboot_status: String,
    mute_ms: Option<f64>,
    mute_status: String,
    garbage_ok: bool,
    garbage_status: String,
    failures: Vec<String>,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A short reason class for the report ("serial port ... does not exist" and the like).
fn reason_class(r: &str) -> String {
    r.split(' ')
        .map(|w| if w.starts_with('/') { "PATH" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(kind: Kind, o: Opts) -> Report {
    let name = kind.name();
    let mut rep = Report {
        transport: name,
        cycles: o.cycles,
        ..Report::default()
    };
    let dir = by_id_dir(name, o.seed);
    let mut rng = StdRng::seed_from_u64(o.seed ^ if kind == Kind::Tcp { 1 } else { 2 });

    // 1. Unplug and return, with the daemon's own link settings.
    let sim = quiet_sim(o.seed);
    let mut plugs = replugs(&sim);
    let faults = match kind {
        Kind::Tcp => Faults::default(),
        // A serial radio prints its log between frames.
        Kind::Pty => Faults {
            log_text: true,
            ..Faults::default()
        },
    };
    let transport = serve(&sim, kind, faults, &dir, "unplug").await;
    let mut w = watch_link(transport, LinkConfig::new(name));
    if w.up(STEP).await.is_none() {
        rep.failures.push("never came up".into());
        return rep;
    }
    for cycle in 1..=o.cycles {
        let outage = rng.random_range(o.outage.0..=o.outage.1);
        let outage = (outage * 10.0).round() / 10.0;
        // Something written just before the unplug: its result must come back either way.
        let sent = w
            .link
            .send(Outgoing::text(P1, 0, &format!("{name} ciclo {cycle}")))
            .await;
        sim.act(Action::Unplug {
            node: SAS,
            for_secs: outage,
        })
        .await;
        let down = w.down(STEP).await;
        let back = state(
            &mut plugs,
            "replugged",
            Duration::from_secs_f64(outage) + STEP,
        )
        .await;
        let up = match back {
            Some(_) => w.up(STEP).await,
            None => None,
        };
        let status = w.link.status();
        match (down, back, up) {
            (Some(_), Some(b), Some(u)) => {
                let ms = u.saturating_duration_since(b).as_secs_f64() * 1000.0;
                rep.times_ms.push(ms);
                println!(
                    "{name} cycle {cycle:>3}/{}: outage {outage:>4.1} s, up {ms:>6.0} ms after the device was back; connects {}",
                    o.cycles, status.connects
                );
            }
            _ => {
                rep.missing_reconnects += 1;
                rep.failures.push(format!(
                    "cycle {cycle}: down {} back {} up {}",
                    down.is_some(),
                    back.is_some(),
                    up.is_some()
                ));
                println!("{name} cycle {cycle:>3}: NO RECONNECT (status {status:?})");
            }
        }
        if let Ok(id) = sent {
            if !w.delivery(id, STEP).await {
                rep.missing_deliveries += 1;
                rep.failures.push(format!(
                    "cycle {cycle}: no delivery result for packet {id:#x}"
                ));
            }
        }
        let body = format!("{name} de vuelta {cycle}");
        sim.act(say(P1, &body)).await;
        if !w.text(&body, STEP).await {
            rep.missing_texts += 1;
            rep.failures
                .push(format!("cycle {cycle}: text after the return lost"));
        }
    }
    rep.down_reasons = w.downs.iter().map(|r| reason_class(r)).collect();
    let connects = w.link.status().connects;
    if connects != u64::from(o.cycles) + 1 {
        rep.failures.push(format!(
            "{connects} connects for {} cycles (expected one more than the cycles)",
            o.cycles
        ));
    }

    // 2. Device reboot.
    let t0 = Instant::now();
    sim.act(Action::Reboot { node: SAS }).await;
    match w.up(STEP).await {
        Some(u) => {
            rep.reboot_ms = Some(u.saturating_duration_since(t0).as_secs_f64() * 1000.0);
            let body = format!("{name} tras reinicio");
            sim.act(say(P1, &body)).await;
            if !w.text(&body, STEP).await {
                rep.failures.push("reboot: text after it lost".into());
                rep.reboot_ms = None;
            }
        }
        None => rep.failures.push("reboot: link not up again".into()),
    }
    let st = w.link.status();
    rep.reboot_status = format!(
        "connects {}, last_error {:?}",
        st.connects,
        st.last_error.as_deref().map(reason_class)
    );
    drop(w);

    // 3. Connected but silent: a short silence timeout for the measurement.
    let sim = quiet_sim(o.seed + 1);
    let transport = serve(&sim, kind, faults, &dir, "mute").await;
    let mut cfg = LinkConfig::new(name);
    cfg.session.heartbeat_interval = Duration::from_secs(1);
    cfg.session.silence_timeout = Duration::from_secs(4);
    let mut w = watch_link(transport, cfg);
    if w.up(STEP).await.is_some() {
        let t0 = Instant::now();
        sim.act(Action::Mute { node: SAS }).await;
        let down = w.down(STEP).await;
        let up = w.up(STEP).await;
        let st = w.link.status();
        match (down, up) {
            (Some(_), Some(u)) => {
                rep.mute_ms = Some(u.saturating_duration_since(t0).as_secs_f64() * 1000.0);
                let body = format!("{name} tras silencio");
                sim.act(say(P1, &body)).await;
                if !w.text(&body, STEP).await {
                    rep.failures.push("mute: text after it lost".into());
                    rep.mute_ms = None;
                }
            }
            _ => rep.failures.push("mute: the link did not reopen".into()),
        }
        rep.mute_status = format!(
            "down: {:?}; connects {}",
            w.downs.last().map(|r| reason_class(r)),
            st.connects
        );
    } else {
        rep.failures.push("mute: never came up".into());
    }
    drop(w);

    // 4. Garbage and log text on the line.
    let sim = quiet_sim(o.seed + 2);
    let transport = serve(&sim, kind, Faults::all(), &dir, "garbage").await;
    let mut w = watch_link(transport, LinkConfig::new(name));
    if w.up(STEP).await.is_some() {
        let mut all = true;
        for i in 0..5 {
            let body = format!("{name} entre basura {i}");
            sim.act(say(P1, &body)).await;
            all &= w.text(&body, STEP).await;
        }
        let st = w.link.status();
        rep.garbage_status = format!(
            "log bytes {}, malformed frames {}, oversize headers {}, connects {}",
            st.log_bytes, st.malformed, st.oversize_headers, st.connects
        );
        rep.garbage_ok = all
            && st.connects == 1
            && st.malformed > 0
            && st.oversize_headers > 0
            && st.log_bytes > 0;
        if !rep.garbage_ok {
            rep.failures.push(format!(
                "garbage: texts all arrived {all}; {}",
                rep.garbage_status
            ));
        }
    } else {
        rep.failures.push("garbage: never came up".into());
    }
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    rep
}

fn ms(v: Option<f64>) -> String {
    v.map_or("FAILED".into(), |v| format!("{v:.0} ms"))
}

#[tokio::main]
async fn main() {
    let o = parse_opts();
    if std::env::var_os("FARO_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("FARO_LOG").unwrap_or_default())
            .with_writer(std::io::stderr)
            .try_init();
    }
    println!(
        "faro-reconnect: {} unplug cycles per transport, outage {}..{} s, seed {}; default link backoff (0.5 s doubling, 8 s max)",
        o.cycles, o.outage.0, o.outage.1, o.seed
    );
    let tcp = o.tcp.then(|| tokio::spawn(run(Kind::Tcp, o.clone())));
    let pty = o.pty.then(|| tokio::spawn(run(Kind::Pty, o.clone())));
    let mut reports = Vec::new();
    for h in [tcp, pty].into_iter().flatten() {
        reports.push(h.await.unwrap());
    }
    let mut ok = true;
    for r in &reports {
        let mut t = r.times_ms.clone();
        t.sort_by(f64::total_cmp);
        println!("--- {} ---", r.transport);
        println!(
            "unplug cycles {}, reconnected {}, missing {}",
            r.cycles,
            t.len(),
            r.missing_reconnects
        );
        println!(
            "reconnect after the device was back: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms, min {:.0} ms",
            pct(&t, 50.0),
            pct(&t, 90.0),
            pct(&t, 99.0),
            t.last().copied().unwrap_or(f64::NAN),
            t.first().copied().unwrap_or(f64::NAN)
        );
        println!(
            "delivery results missing {}; texts after the return missing {}",
            r.missing_deliveries, r.missing_texts
        );
        println!("down reasons (status last_error): {:?}", r.down_reasons);
        println!(
            "reboot: up again after {}; {}",
            ms(r.reboot_ms),
            r.reboot_status
        );
        println!(
            "mute: reopened and up after {}; {}",
            ms(r.mute_ms),
            r.mute_status
        );
        println!(
            "garbage: {}; {}",
            if r.garbage_ok { "recovered" } else { "FAILED" },
            r.garbage_status
        );
        for f in &r.failures {
            println!("FAILURE {}: {f}", r.transport);
        }
        ok &= r.failures.is_empty();
        let result = serde_json::json!({
            "transport": r.transport,
            "cycles": r.cycles,
            "reconnects": t.len(),
            "missing_reconnects": r.missing_reconnects,
            "missing_deliveries": r.missing_deliveries,
            "missing_texts": r.missing_texts,
            "p50_ms": pct(&t, 50.0),
            "p90_ms": pct(&t, 90.0),
            "p99_ms": pct(&t, 99.0),
            "max_ms": t.last().copied(),
            "reboot_recovered": r.reboot_ms.is_some(),
            "reboot_ms": r.reboot_ms,
            "mute_recovered": r.mute_ms.is_some(),
            "mute_ms": r.mute_ms,
            "garbage_recovered": r.garbage_ok,
            "down_reasons": r.down_reasons,
            "failures": r.failures,
        });
        println!("RESULT {result}");
    }
    std::process::exit(if ok { 0 } else { 1 });
}
