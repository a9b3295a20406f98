//! Benchmark 5, surge: thousands of phones send distress within minutes through two station
//! radios on one channel. A faro-sim mesh generated in code (the built-in Sásabe station "main",
//! a second station radio "mast" 10 km west, phones around both, some heard by both) and the
//! daemon's whole station in process, on paused tokio time: ten minutes of simulated time take
//! seconds. Each phone broadcasts one distress text at a seeded random time in the window; the
//! run goes on until the outbox has drained (bounded).
//!
//! Figures, per run and as median (range) over runs: distress sent, handed to farod by a
//! station radio, incidents (distinct reporters), lost (handed over but no incident: MISS),
//! duplicates (one phone, two incidents), replies queued / on air / acknowledged / refused by
//! the device, the smallest gap between Faro's texts per radio against the firmware's 2 s,
//! distress-to-reply time on air, the outbox depth over time, Faro's own airtime, the open
//! incidents listing time (wall clock) and the wall-clock time of the whole simulation.
//!
//! Each variant runs on faro-sim's contention channel (carrier sense, collisions with capture,
//! half duplex: distress and replies are lost as on a real channel) and, for comparison, on
//! the old ideal one (everything in range is heard). Goals printed beside the figures: a P1's
//! reply on air p99 <= 30 s after its SOS; every sender acknowledged (directly or named in a
//! surge broadcast) p99 <= 10 min; Faro's share of each radio's channel <= 25 % in any minute;
//! an ambulance request (made when the window closes, the queue at its deepest) on air <= 5 s.
//!
//! What the sim still does not model: next-hop routing of direct messages (the firmware
//! floods a first DM to a node anyway), retransmissions by nodes other than station radios.
//! "No distress lost" means farod lost none that the air delivered.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use faro_proto::mesh::{self, from_radio, to_radio, PortNum, BROADCAST};
use faro_sim::{Action, ChannelModel, NodeSpec, Role, Scenario, Sim, SimEvent, SimOptions};
use farod::radio::{LinkConfig, LinkState, Transport};
use farod::station::Station;
use farod::store::query::{Filter, Reader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::common::{nodes, percentile, Opts, Spread};

/// The second station radio ("mast"), placed west of the built-in station.
pub const MAST: u32 = 0x5a5a_0002;
/// Node number of the first phone; phone `i` is `PHONE_BASE + i`.
pub const PHONE_BASE: u32 = 0x7e00_0000;
/// A phone's link range, km: tiny, so phones (hop limit 0) do not hear each other.
pub const PHONE_RANGE_KM: f64 = 0.03;
/// The firmware's minimum gap between two client texts (faro-sim's device model).
pub const FIRMWARE_TEXT_GAP: Duration = faro_sim::device::TEXT_INTERVAL;
/// Outbox depth is sampled this often (simulated time).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(30);
/// Listing calls timed at the end (the median is printed).
pub const LISTING_CALLS: usize = 15;
/// At most this many rows of the depth series are printed (every k-th sample, and the last).
pub const SERIES_ROWS: usize = 24;
/// Distress texts the phones send, a mix of languages (every one has a default keyword).
pub const DISTRESS_TEXTS: &[&str] = &[
    "SOS",
    "AUXILIO somos 3",
    "HELP",
    "AU SECOURS",
    "AYUDA estamos perdidos, sin agua",
    "\u{7}SOS",
    "SOCORRO",
    "HELP we are 2, no water",
    "ÈD nou pèdi",
    "auxilio mi hermano no puede caminar",
];

/// Sizes of one surge.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Phones, each sending one distress text.
    pub phones: usize,
    /// The window the distress texts are spread over (simulated).
    pub window: Duration,
    /// Longest the run may go on after the window to let the outbox drain (simulated).
    pub drain_limit: Duration,
}

impl Size {
    /// Full: 2,000 phones over 10 minutes, at most 2 h to drain; smoke: 100 over 1 minute.
    pub fn for_opts(opts: &Opts) -> Size {
        Size {
            phones: opts.size(2000, 100),
            window: Duration::from_secs(opts.size(600, 60) as u64),
            drain_limit: Duration::from_secs(opts.size(7200, 1800) as u64),
        }
    }
}

/// One phone's distress: who, when (from the start of the window), what.
#[derive(Debug, Clone, PartialEq)]
pub struct Distress {
    /// The phone's node number.
    pub phone: u32,
    /// Offset from the start of the window.
    pub at: Duration,
    /// The text.
    pub text: String,
}

/// Which station radios a point is within range of: (main, mast).
fn in_range(sc: &Scenario, lat: f64, lon: f64, range_km: f64) -> (bool, bool) {
    let hears = |id: u32| {
        sc.node(id).is_some_and(|s| {
            faro_sim::radio::distance_km(s.lat, s.lon, lat, lon) <= s.range_km.max(range_km)
        })
    };
    (hears(nodes::SAS), hears(MAST))
}

/// The surge scenario: the built-in station (its range `R`), a second station radio `1.25 R`
/// west of it, and `phones` phones uniformly in two discs of radius `0.9 R` around them (the
/// discs overlap: those phones are heard by both radios). Hop limit 0 and a tiny phone range:
/// nobody relays, so cost and behaviour stay those of two cells of direct links. Returns the
/// scenario (no timeline) and the distress plan, sorted by time, seeded by `seed`.
pub fn surge_scenario(
    phones: usize,
    window: Duration,
    seed: u64,
    channel: ChannelModel,
) -> Result<(Scenario, Vec<Distress>)> {
    let mut sc = Scenario::builtin("default")
        .context("the built-in scenario")?
        .without_timeline();
    sc.radio.hop_limit = 0;
    sc.radio.channel = channel;
    // The municipalities stay: an ambulance request is timed in the middle of the surge.
    let munis: Vec<NodeSpec> = sc
        .nodes
        .iter()
        .filter(|n| n.role == Role::Municipality)
        .cloned()
        .collect();
    let main = sc.node(nodes::SAS).context("the Sásabe station")?.clone();
    let template = sc
        .nodes
        .iter()
        .find(|n| n.role == Role::Phone)
        .context("a phone in the built-in scenario")?
        .clone();
    let km_lat = 1.0 / 111.32;
    let km_lon = 1.0 / (111.32 * main.lat.to_radians().cos());
    let range = main.range_km;
    let mut mast = main.clone();
    mast.id = MAST;
    mast.long_name = "Grupo Beta Sásabe (mástil)".into();
    mast.short_name = "SASM".into();
    mast.lon -= 1.25 * range * km_lon;
    mast.replies.clear();
    let centres = [(main.lat, main.lon), (mast.lat, mast.lon)];
    sc.nodes = vec![main, mast];
    sc.nodes.extend(munis);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut plan = Vec::with_capacity(phones);
    for i in 0..phones {
        let (clat, clon) = centres[rng.random_range(0..centres.len())];
        let r = 0.9 * range * rng.random::<f64>().sqrt();
        let a = rng.random::<f64>() * std::f64::consts::TAU;
        let id = PHONE_BASE + i as u32;
        sc.nodes.push(NodeSpec {
            id,
            long_name: format!("Celular {i}"),
            short_name: format!("{:04x}", i % 0x1_0000),
            role: Role::Phone,
            lat: clat + r * a.sin() * km_lat,
            lon: clon + r * a.cos() * km_lon,
            alt: None,
            range_km: PHONE_RANGE_KM,
            replies: Vec::new(),
            ..template.clone()
        });
        let at = Duration::from_secs_f64(window.as_secs_f64() * rng.random::<f64>());
        let text = DISTRESS_TEXTS[rng.random_range(0..DISTRESS_TEXTS.len())].to_string();
        plan.push(Distress {
            phone: id,
            at,
            text,
        });
    }
    plan.sort_by_key(|d| d.at);
    Ok((sc, plan))
}

// ---- what the mesh shows -------------------------------------------------------------------

/// One transmission by a station radio.
#[derive(Debug, Clone, Copy)]
struct StationTx {
    /// When it went on air.
    at: Instant,
    /// Its time on air.
    airtime: Duration,
    /// A text (not an ACK or other traffic).
    text: bool,
    /// Its packet id (a retransmission repeats it).
    id: u32,
}

/// What the observer saw on the simulated mesh (times are tokio's, i.e. simulated).
#[derive(Debug, Default)]
struct Tally {
    /// Phone -> when its distress went on air (first text transmission).
    distress_on_air: HashMap<u32, Instant>,
    /// Phone -> the station radios that handed its distress to farod.
    handed: HashMap<u32, HashSet<u32>>,
    /// Station -> its transmissions.
    station_tx: HashMap<u32, Vec<StationTx>>,
    /// Phone -> when the first reply addressed to it went on air.
    reply_on_air: HashMap<u32, Instant>,
    /// Phone -> when it was first acknowledged on air: its own reply, or a station broadcast
    /// naming it (surge mode groups acknowledgements by the short name the app shows).
    ack_on_air: HashMap<u32, Instant>,
    /// Station texts to a municipality's node: when they went on air.
    muni_texts: Vec<Instant>,
    /// The municipalities' nodes.
    munis: HashSet<u32>,
    /// Station -> when farod handed it a text to send.
    client_texts: HashMap<u32, Vec<Instant>>,
    /// Refusals by the devices: NAKs they generated (reason -> count) and queue refusals.
    naks: BTreeMap<String, u64>,
    /// `QueueStatus` with a non-zero result (TX queue full).
    queue_refused: u64,
    /// Airtime of the phones' own transmissions (distress, ACKs, relays of other phones).
    phone_airtime: Duration,
    /// Rebroadcasts of the station radios' packets by other nodes (flooding), and their
    /// airtime: channel time Faro's sends cost beyond the station radios' own.
    relayed_faro: u64,
    relayed_faro_airtime: Duration,
    /// Events lost because the observer fell behind.
    lagged: u64,
}

/// The phones a broadcast names by their short names (`{:04x}` of their index, as
/// [`surge_scenario`] gives them).
fn named_phones(text: &str) -> Vec<u32> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 4)
        .filter_map(|w| u32::from_str_radix(w, 16).ok())
        .map(|i| PHONE_BASE + i)
        .collect()
}

/// The largest share of `window` any window of that length starting at a transmission took,
/// and the mean share over `[from, to)`: Faro's use of one radio's channel.
fn channel_share(tx: &[StationTx], window: Duration, from: Instant, to: Instant) -> (f64, f64) {
    let tx: Vec<&StationTx> = tx.iter().filter(|x| x.at >= from && x.at < to).collect();
    let mut peak = 0.0f64;
    let mut j = 0;
    let mut sum = Duration::ZERO;
    for i in 0..tx.len() {
        while j < tx.len() && tx[j].at < tx[i].at + window {
            sum += tx[j].airtime;
            j += 1;
        }
        peak = peak.max(sum.as_secs_f64() / window.as_secs_f64());
        sum -= tx[i].airtime;
    }
    let total: Duration = tx.iter().map(|x| x.airtime).sum();
    let span = (to - from).as_secs_f64();
    (
        peak,
        if span > 0.0 {
            total.as_secs_f64() / span
        } else {
            f64::NAN
        },
    )
}

fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_text(p: &mesh::MeshPacket) -> bool {
    mesh::portnum(p) == Some(PortNum::TextMessageApp)
}

impl Tally {
    fn see(&mut self, ev: SimEvent, stations: &[u32], now: Instant) {
        match ev {
            SimEvent::Transmitted {
                node,
                packet,
                airtime,
            } => {
                if stations.contains(&node) {
                    let text = is_text(&packet);
                    if text && packet.to != BROADCAST && packet.to >= PHONE_BASE {
                        self.reply_on_air.entry(packet.to).or_insert(now);
                        self.ack_on_air.entry(packet.to).or_insert(now);
                    }
                    if text && self.munis.contains(&packet.to) {
                        self.muni_texts.push(now);
                    }
                    if text && packet.to == BROADCAST {
                        if let Some(d) = mesh::data(&packet) {
                            for phone in named_phones(&String::from_utf8_lossy(&d.payload)) {
                                if self.distress_on_air.contains_key(&phone) {
                                    self.ack_on_air.entry(phone).or_insert(now);
                                }
                            }
                        }
                    }
                    self.station_tx.entry(node).or_default().push(StationTx {
                        at: now,
                        airtime,
                        text,
                        id: packet.id,
                    });
                } else if stations.contains(&packet.from) {
                    self.relayed_faro += 1;
                    self.relayed_faro_airtime += airtime;
                } else if node >= PHONE_BASE {
                    self.phone_airtime += airtime;
                    if is_text(&packet) && packet.from == node {
                        self.distress_on_air.entry(node).or_insert(now);
                    }
                }
            }
            SimEvent::ToClient { station, msg } => match msg.payload_variant {
                Some(from_radio::PayloadVariant::Packet(p)) => {
                    if p.from >= PHONE_BASE && is_text(&p) {
                        self.handed.entry(p.from).or_default().insert(station);
                    } else if p.from == station {
                        if let Some((_, Some(err))) = mesh::routing_result(&p) {
                            if err != mesh::routing::Error::None {
                                *self.naks.entry(err.as_str_name().to_string()).or_default() += 1;
                            }
                        }
                    }
                }
                Some(from_radio::PayloadVariant::QueueStatus(q)) if q.res != 0 => {
                    self.queue_refused += 1;
                }
                _ => {}
            },
            SimEvent::ClientSent { station, msg } => {
                if let Some(to_radio::PayloadVariant::Packet(p)) = &msg.payload_variant {
                    if is_text(p) {
                        self.client_texts.entry(station).or_default().push(now);
                    }
                }
            }
            SimEvent::Received { .. } | SimEvent::DeviceState { .. } => {}
        }
    }
}

/// Collects sim events into `tally` until `stop` turns true (or the sim ends).
async fn observe(
    mut events: broadcast::Receiver<SimEvent>,
    tally: Arc<Mutex<Tally>>,
    stations: Vec<u32>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => lock(&tally).see(ev, &stations, Instant::now()),
                Err(broadcast::error::RecvError::Lagged(n)) => lock(&tally).lagged += n,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
    }
}

// ---- what the database shows ---------------------------------------------------------------

/// Outbox rows of distress replies by state, and incidents by reporter.
#[derive(Debug, Default)]
struct Db {
    /// Reply rows (class 0) by state.
    replies: BTreeMap<String, u64>,
    /// Rows of any class waiting to go on air (pending or sending).
    depth: u64,
    /// Rows of any class on air and waiting for their ACK.
    awaiting_ack: u64,
    /// Reporter -> incidents opened for it.
    reporters: HashMap<u32, u64>,
    /// Reporter -> the highest priority of its incidents (1 = most urgent).
    priority: HashMap<u32, u8>,
}

fn read_db(conn: &rusqlite::Connection, with_reporters: bool) -> Result<Db> {
    let mut db = Db::default();
    let mut st = conn.prepare("SELECT class, state, COUNT(*) FROM outbox GROUP BY class, state")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (class, state, n) = row?;
        let n = n.max(0) as u64;
        match state.as_str() {
            "pending" | "sending" => db.depth += n,
            "sent" => db.awaiting_ack += n,
            _ => {}
        }
        if (i64::from(farod::desk::CLASS_P1)..=i64::from(farod::desk::CLASS_P3)).contains(&class) {
            *db.replies.entry(state).or_default() += n;
        }
    }
    if with_reporters {
        let mut st = conn.prepare(
            "SELECT reporter, COUNT(*) FROM incidents WHERE reporter IS NOT NULL GROUP BY reporter",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (node, n) = row?;
            db.reporters.insert(node, n.max(0) as u64);
        }
        let mut st = conn.prepare(
            "SELECT reporter, MIN(priority) FROM incidents WHERE reporter IS NOT NULL GROUP BY reporter",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u8>(1)?)))?;
        for row in rows {
            let (node, p) = row?;
            db.priority.insert(node, p);
        }
    }
    Ok(db)
}

fn open_reader(path: &Path) -> Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

/// The control socket's `GET /v1/incidents?state=open` without the HTTP: the same query with
/// the same limit, serialised to JSON. Wall-clock milliseconds per call and the rows listed.
fn time_listing(path: &Path) -> Result<(Vec<f64>, usize)> {
    let reader = Reader::open(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ms = Vec::with_capacity(LISTING_CALLS);
    let mut rows = 0;
    for _ in 0..LISTING_CALLS {
        let t = std::time::Instant::now();
        let list = reader
            .incidents(Filter::Open, farod::api::MAX_LIST)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let json = serde_json::to_vec(&list)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        rows = list.len();
        std::hint::black_box(json);
    }
    Ok((ms, rows))
}

// ---- one run -------------------------------------------------------------------------------

/// A row of the outbox depth series.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Simulated seconds from the start of the window.
    at_s: f64,
    /// Rows waiting to go on air.
    depth: u64,
    /// Replies on air so far (first transmissions).
    replies_on_air: usize,
    /// Distress texts on air so far.
    distress_on_air: usize,
}

/// Per-radio figures of one run.
#[derive(Debug, Clone, Default)]
struct RadioFigures {
    name: &'static str,
    /// Distress texts this radio handed to farod.
    handed: usize,
    /// Texts farod handed this radio.
    texts: usize,
    /// Smallest gap between two texts farod handed this radio, s.
    min_gap_s: f64,
    /// Gaps shorter than the firmware's minimum.
    short_gaps: usize,
    /// Transmissions (all, including retransmissions) and their airtime.
    tx: usize,
    airtime_total: Duration,
    airtime_window: Duration,
    /// Faro's largest share of this radio's channel in any minute, and its mean share
    /// until drained.
    share_peak: f64,
    share_mean: f64,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct RunFigures {
    seed: u64,
    channel: &'static str,
    /// `[surge] group_from_priority` of the run.
    group_from: u8,
    /// Distress on air -> reply on air, reporters whose incident is P1.
    p1_latency_s: Vec<f64>,
    /// Distress on air -> first acknowledgement on air (direct or named in a broadcast).
    ack_latency_s: Vec<f64>,
    /// Phones whose distress farod got and that were never acknowledged on air.
    unacked: usize,
    /// An ambulance request made when the distress window closed: rows waiting then, and
    /// the time from the operator's request to its text on air.
    amb_depth: u64,
    amb_latency_s: f64,
    /// The channel's own counters (collisions, deferrals...).
    air: faro_sim::ChannelStats,
    sent: usize,
    out_of_range: usize,
    never_on_air: usize,
    handed: usize,
    handed_by_both: usize,
    not_handed: usize,
    incidents: usize,
    lost: Vec<u32>,
    duplicates: Vec<u32>,
    replies_queued: u64,
    replies_on_air: usize,
    replies_acked: u64,
    replies_failed: u64,
    replies_waiting: u64,
    naks: BTreeMap<String, u64>,
    queue_refused: u64,
    retransmissions: usize,
    last_reply_s: f64,
    drained_s: Option<f64>,
    ended_s: f64,
    latency_s: Vec<f64>,
    radios: Vec<RadioFigures>,
    samples: Vec<Sample>,
    phone_airtime: Duration,
    relayed_faro: u64,
    relayed_faro_airtime: Duration,
    listing_ms: f64,
    listing_rows: usize,
    lagged: u64,
    wall_s: f64,
}

impl RunFigures {
    fn airtime_total(&self) -> Duration {
        self.radios.iter().map(|r| r.airtime_total).sum()
    }
    fn airtime_window(&self) -> Duration {
        self.radios.iter().map(|r| r.airtime_window).sum()
    }
    fn refused(&self) -> u64 {
        let device: u64 = self
            .naks
            .iter()
            .filter(|(k, _)| k.as_str() != "MAX_RETRANSMIT")
            .map(|(_, v)| *v)
            .sum();
        device + self.queue_refused
    }
    fn min_gap_s(&self) -> f64 {
        self.radios
            .iter()
            .map(|r| r.min_gap_s)
            .fold(f64::INFINITY, f64::min)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .context("building the tokio runtime")
}

/// One surge, on its own paused-time runtime and scratch directory.
/// What a set of runs varies: the channel model and which acknowledgements surge mode groups.
#[derive(Debug, Clone, Copy)]
struct Variant {
    channel: ChannelModel,
    /// `[surge] group_from_priority`.
    group_from: u8,
}

fn run_once(opts: &Opts, size: Size, seed: u64, v: Variant) -> Result<RunFigures> {
    let dir = opts.tempdir("surge")?;
    let db_path = dir.path().join("faro.db");
    let (scenario, plan) = surge_scenario(size.phones, size.window, seed, v.channel)?;
    let wall = std::time::Instant::now();
    let rt = runtime()?;
    let mut fig = rt.block_on(simulate(scenario, plan, size, seed, &db_path, v.group_from))?;
    drop(rt);
    fig.wall_s = wall.elapsed().as_secs_f64();
    let (ms, rows) = time_listing(&db_path)?;
    fig.listing_ms = percentile(&ms, 50.0);
    fig.listing_rows = rows;
    Ok(fig)
}

async fn simulate(
    scenario: Scenario,
    plan: Vec<Distress>,
    size: Size,
    seed: u64,
    db_path: &Path,
    group_from: u8,
) -> Result<RunFigures> {
    let stations = [(nodes::SAS, "main"), (MAST, "mast")];
    let out_of_range = plan
        .iter()
        .filter(|d| {
            scenario.node(d.phone).is_some_and(|n| {
                let (a, b) = in_range(&scenario, n.lat, n.lon, n.range_km);
                !a && !b
            })
        })
        .count();
    let sim = Sim::start(
        scenario,
        SimOptions {
            seed: Some(seed),
            run_timeline: false,
            ..SimOptions::default()
        },
    );
    let channel = match sim.scenario().radio.channel {
        ChannelModel::Ideal => "ideal",
        ChannelModel::Contention => "contention",
    };
    let tally = Arc::new(Mutex::new(Tally {
        munis: sim
            .scenario()
            .nodes
            .iter()
            .filter(|n| n.role == Role::Municipality)
            .map(|n| n.id)
            .collect(),
        ..Tally::default()
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let observer = tokio::spawn(observe(
        sim.events(),
        tally.clone(),
        stations.iter().map(|s| s.0).collect(),
        stop_rx,
    ));
    let mut cfg = farod::app::scenario_station_config(sim.scenario(), db_path.to_path_buf());
    cfg.store.surge.radios = stations.len() as u32;
    cfg.store.surge.group_from = group_from;
    let mut links = Vec::new();
    for (node, name) in stations {
        let t = Transport::sim(sim.clone(), Some(node)).map_err(|e| anyhow::anyhow!("{e}"))?;
        links.push((LinkConfig::new(name), t));
    }
    let station = Station::start(cfg, links)
        .await
        .map_err(|e| anyhow::anyhow!("starting the station: {e}"))?;
    let up_by = Instant::now() + Duration::from_secs(60);
    while !station
        .links
        .iter()
        .all(|l| l.status().state == LinkState::Up)
    {
        if Instant::now() > up_by {
            bail!("the station radios were not up within 60 s (simulated)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The phones, from a driver task: each distress at its time from t0.
    let t0 = Instant::now();
    let sent = plan.len();
    let driver = {
        let sim = sim.clone();
        tokio::spawn(async move {
            for d in plan {
                tokio::time::sleep_until(t0 + d.at).await;
                sim.act(Action::Text {
                    from: d.phone,
                    to: BROADCAST,
                    channel: 0,
                    text: d.text,
                    want_ack: false,
                })
                .await;
            }
        })
    };

    // Sample the outbox every SAMPLE_EVERY until the window is over and everything is on air
    // and acknowledged (or given up), bounded by the drain limit.
    let reader = open_reader(db_path)?;
    let end_by = t0 + size.window + size.drain_limit;
    let max_samples = (size.window + size.drain_limit).as_secs() / SAMPLE_EVERY.as_secs() + 2;
    let mut samples = Vec::new();
    let mut drained_s = None;
    let mut amb: Option<(Instant, u64)> = None;
    for k in 1..=max_samples {
        tokio::time::sleep_until(t0 + SAMPLE_EVERY * k as u32).await;
        let db = read_db(&reader, false)?;
        if amb.is_none() && Instant::now() >= t0 + size.window {
            // The queue is deepest now: the most urgent open incident gets an ambulance.
            let id: Option<String> = reader
                .query_row(
                    "SELECT id FROM incidents WHERE closed_at IS NULL ORDER BY priority, created_at LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .ok();
            if let Some(id) = id {
                // Phones here share no position: the operator records one (the patrol's
                // word), then asks.
                let main = sim.scenario().node(nodes::SAS).map(|n| (n.lat, n.lon));
                if let Some((lat, lon)) = main {
                    station
                        .store
                        .operator(
                            "bench",
                            farod::store::OperatorRequest::Position(id.clone(), lat + 0.05, lon),
                            station.clock.now_ms(),
                        )
                        .await
                        .map_err(|e| anyhow::anyhow!("incident position: {e}"))?;
                }
                let at = station.clock.now_ms();
                let asked = Instant::now();
                station
                    .store
                    .operator(
                        "bench",
                        farod::store::OperatorRequest::Ambulance(id, None),
                        at,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("ambulance request: {e}"))?;
                station.wake_outbox();
                amb = Some((asked, db.depth));
            }
        }
        let (replies_on_air, distress_on_air) = {
            let t = lock(&tally);
            (t.reply_on_air.len(), t.distress_on_air.len())
        };
        samples.push(Sample {
            at_s: (Instant::now() - t0).as_secs_f64(),
            depth: db.depth,
            replies_on_air,
            distress_on_air,
        });
        let window_over = Instant::now() >= t0 + size.window && driver.is_finished();
        if window_over && db.depth == 0 && db.awaiting_ack == 0 {
            drained_s = Some((Instant::now() - t0).as_secs_f64());
            break;
        }
        if Instant::now() >= end_by {
            break;
        }
    }
    let ended = Instant::now();
    driver.abort();
    let db = read_db(&reader, true)?;
    drop(reader);
    station.stop().await;
    let _ = stop_tx.send(true);
    let _ = observer.await;
    let t = std::mem::take(&mut *lock(&tally));
    let air = sim.channel_stats();
    drop(sim);

    let window_end = t0 + size.window;
    let mut radios = Vec::new();
    for (node, name) in stations {
        let mut r = RadioFigures {
            name,
            handed: t.handed.values().filter(|s| s.contains(&node)).count(),
            min_gap_s: f64::INFINITY,
            ..RadioFigures::default()
        };
        if let Some(texts) = t.client_texts.get(&node) {
            r.texts = texts.len();
            for w in texts.windows(2) {
                let gap = w[1] - w[0];
                r.min_gap_s = r.min_gap_s.min(gap.as_secs_f64());
                if gap < FIRMWARE_TEXT_GAP {
                    r.short_gaps += 1;
                }
            }
        }
        if let Some(tx) = t.station_tx.get(&node) {
            let (peak, mean) = channel_share(tx, Duration::from_secs(60), t0, ended);
            r.share_peak = peak;
            r.share_mean = mean;
            r.tx = tx.len();
            for x in tx {
                if x.at >= t0 {
                    r.airtime_total += x.airtime;
                    if x.at < window_end {
                        r.airtime_window += x.airtime;
                    }
                }
            }
        }
        radios.push(r);
    }
    let retransmissions = t
        .station_tx
        .values()
        .map(|v| {
            let mut ids = HashSet::new();
            v.iter().filter(|x| x.text && !ids.insert(x.id)).count()
        })
        .sum();
    let mut lost: Vec<u32> = t
        .handed
        .keys()
        .filter(|p| !db.reporters.contains_key(p))
        .copied()
        .collect();
    lost.sort_unstable();
    let mut duplicates: Vec<u32> = db
        .reporters
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| *p)
        .collect();
    duplicates.sort_unstable();
    let latency_s: Vec<f64> = t
        .distress_on_air
        .iter()
        .filter_map(|(p, at)| t.reply_on_air.get(p).map(|r| (*r - *at).as_secs_f64()))
        .collect();
    let p1_latency_s: Vec<f64> = t
        .distress_on_air
        .iter()
        .filter(|(p, _)| db.priority.get(p) == Some(&1))
        .filter_map(|(p, at)| t.reply_on_air.get(p).map(|r| (*r - *at).as_secs_f64()))
        .collect();
    let ack_latency_s: Vec<f64> = t
        .distress_on_air
        .iter()
        .filter(|(p, _)| db.reporters.contains_key(p))
        .filter_map(|(p, at)| t.ack_on_air.get(p).map(|r| (*r - *at).as_secs_f64()))
        .collect();
    let unacked = db
        .reporters
        .keys()
        .filter(|p| !t.ack_on_air.contains_key(p))
        .count();
    let (amb_latency_s, amb_depth) = match amb {
        Some((asked, depth)) => (
            t.muni_texts
                .iter()
                .find(|x| **x >= asked)
                .map_or(f64::NAN, |x| (*x - asked).as_secs_f64()),
            depth,
        ),
        None => (f64::NAN, 0),
    };
    let last_reply_s = t
        .reply_on_air
        .values()
        .max()
        .map_or(f64::NAN, |r| (*r - t0).as_secs_f64());
    let state = |s: &[&str]| -> u64 { s.iter().filter_map(|k| db.replies.get(*k)).sum() };
    Ok(RunFigures {
        seed,
        channel,
        group_from,
        p1_latency_s,
        ack_latency_s,
        unacked,
        amb_depth,
        amb_latency_s,
        air,
        sent,
        out_of_range,
        never_on_air: sent.saturating_sub(t.distress_on_air.len()),
        handed: t.handed.len(),
        handed_by_both: t.handed.values().filter(|s| s.len() > 1).count(),
        not_handed: t
            .distress_on_air
            .keys()
            .filter(|p| !t.handed.contains_key(p))
            .count(),
        incidents: db.reporters.len(),
        lost,
        duplicates,
        replies_queued: db.replies.values().sum(),
        replies_on_air: t.reply_on_air.len(),
        replies_acked: state(&["acked", "implicit", "done"]),
        replies_failed: state(&["failed"]),
        replies_waiting: state(&["pending", "sending", "sent"]),
        naks: t.naks,
        queue_refused: t.queue_refused,
        retransmissions,
        last_reply_s,
        drained_s,
        ended_s: (ended - t0).as_secs_f64(),
        latency_s,
        radios,
        samples,
        phone_airtime: t.phone_airtime,
        relayed_faro: t.relayed_faro,
        relayed_faro_airtime: t.relayed_faro_airtime,
        listing_ms: f64::NAN,
        listing_rows: 0,
        lagged: t.lagged,
        wall_s: f64::NAN,
    })
}

// ---- printing ------------------------------------------------------------------------------

fn secs(s: f64) -> String {
    if s.is_nan() {
        return "-".into();
    }
    if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn pct(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        return f64::NAN;
    }
    100.0 * part.as_secs_f64() / whole.as_secs_f64()
}

fn print_run(f: &RunFigures, size: Size) {
    let ok = |bad: bool| if bad { "MISS" } else { "ok" };
    println!(
        "-- run seed {}, {} channel, surge groups P{}+ (wall {:.1} s)",
        f.seed, f.channel, f.group_from, f.wall_s
    );
    let goal = |met: bool| if met { "goal met" } else { "GOAL MISSED" };
    let p1 = percentile(&f.p1_latency_s, 99.0);
    println!(
        "  P1 distress -> reply on air    p50 {}, p99 {} ({} P1 reporters; goal p99 <= 30 s: {})",
        secs(percentile(&f.p1_latency_s, 50.0)),
        secs(p1),
        f.p1_latency_s.len(),
        goal(p1 <= 30.0)
    );
    let ack = percentile(&f.ack_latency_s, 99.0);
    println!(
        "  distress -> acknowledged       p50 {}, p99 {}, max {}; never acknowledged {} (direct or \
         named in a broadcast; goal p99 <= 10 min: {})",
        secs(percentile(&f.ack_latency_s, 50.0)),
        secs(ack),
        secs(percentile(&f.ack_latency_s, 100.0)),
        f.unacked,
        goal(ack <= 600.0 && f.unacked * 100 <= f.incidents)
    );
    for r in &f.radios {
        println!(
            "  Faro's share of radio {:<5}    peak minute {:.1}%, mean {:.1}% until drained (goal <= 25%: {})",
            r.name,
            100.0 * r.share_peak,
            100.0 * r.share_mean,
            goal(r.share_peak <= 0.25 + 1e-9)
        );
    }
    println!(
        "  ambulance request on air       {} after the operator's request, {} rows waiting (goal <= 5 s: {})",
        secs(f.amb_latency_s),
        f.amb_depth,
        goal(f.amb_latency_s <= 5.0)
    );
    println!(
        "  channel                        {} transmissions, {} receptions; lost: {} to collisions, \
         {} to half duplex; {} carrier-sense deferrals",
        f.air.transmissions,
        f.air.receptions,
        f.air.lost_collision,
        f.air.lost_half_duplex,
        f.air.deferrals
    );
    println!("  distress sent by phones        {:>6}", f.sent);
    println!(
        "  not in range of a radio        {:>6}   (the air cannot deliver these: not farod's loss)",
        f.out_of_range
    );
    if f.never_on_air > 0 {
        println!(
            "  never went on air              {:>6}   (the sim dropped the phone's send: its timer \
             queue of {} was full; not farod's loss)",
            f.never_on_air,
            faro_sim::world::MAX_TIMERS
        );
    }
    println!(
        "  handed to farod by a radio     {:>6}   ({} by both radios)",
        f.handed, f.handed_by_both
    );
    if f.not_handed > 0 {
        println!(
            "  on air, never handed over      {:>6}   (lost to collisions on the air, or dropped by the \
             device's to-phone queue of {})",
            f.not_handed,
            faro_sim::device::MAX_RX_TOPHONE
        );
    }
    println!("  incidents (distinct reporters) {:>6}", f.incidents);
    println!(
        "  lost (handed, no incident)     {:>6}   {}",
        f.lost.len(),
        ok(!f.lost.is_empty())
    );
    if !f.lost.is_empty() {
        let ids: Vec<String> = f.lost.iter().take(10).map(|p| format!("{p:#x}")).collect();
        println!("    lost phones: {}", ids.join(" "));
    }
    println!(
        "  duplicate incidents (1 phone)  {:>6}   {}",
        f.duplicates.len(),
        ok(!f.duplicates.is_empty())
    );
    println!(
        "  replies queued / on air / acked / failed / waiting  {} / {} / {} / {} / {}   {}",
        f.replies_queued,
        f.replies_on_air,
        f.replies_acked,
        f.replies_failed,
        f.replies_waiting,
        ok(f.replies_on_air < f.incidents)
    );
    let naks: Vec<String> = f.naks.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "  refused by a device            {:>6}   {}  (NAKs: {}; TX queue full: {}; retransmissions on air: {})",
        f.refused(),
        ok(f.refused() > 0),
        if naks.is_empty() { "none".into() } else { naks.join(", ") },
        f.queue_refused,
        f.retransmissions
    );
    for r in &f.radios {
        println!(
            "  radio {:<5} heard {:>5}, texts sent {:>5}, min gap {} (firmware min {:.1} s, {} shorter) {}",
            r.name,
            r.handed,
            r.texts,
            if r.min_gap_s.is_finite() { format!("{:.2} s", r.min_gap_s) } else { "-".into() },
            FIRMWARE_TEXT_GAP.as_secs_f64(),
            r.short_gaps,
            ok(r.short_gaps > 0)
        );
    }
    let p = |q: f64| secs(percentile(&f.latency_s, q));
    println!(
        "  distress -> reply on air       p50 {}, p99 {}, max {} ({} replies, simulated)",
        p(50.0),
        p(99.0),
        p(100.0),
        f.latency_s.len()
    );
    println!(
        "  last reply on air at           {} after the window opened (window {})",
        secs(f.last_reply_s),
        secs(size.window.as_secs_f64())
    );
    let gap = farod::outbox::TEXT_GAP.as_secs_f64();
    let busiest = f.radios.iter().map(|r| r.texts).max().unwrap_or(0);
    println!(
        "  pacing floor                   {} ({} replies over {} radios every {:.1} s); busiest \
         radio alone {} ({} texts)",
        secs(f.incidents as f64 * gap / f.radios.len().max(1) as f64),
        f.incidents,
        f.radios.len(),
        gap,
        secs(busiest as f64 * gap),
        busiest
    );
    match f.drained_s {
        Some(d) => println!("  outbox drained at              {}", secs(d)),
        None => println!(
            "  outbox NOT drained; stopped at {} (limit)   MISS",
            secs(f.ended_s)
        ),
    }
    println!(
        "  outbox depth (rows waiting to go on air), every {} s simulated:",
        SAMPLE_EVERY.as_secs()
    );
    println!("      time     depth  distress on air  replies on air");
    let stride = f.samples.len().div_ceil(SERIES_ROWS).max(1);
    for (i, s) in f.samples.iter().enumerate() {
        if i % stride == 0 || i + 1 == f.samples.len() {
            println!(
                "    {:>8}  {:>6}  {:>15}  {:>14}",
                secs(s.at_s),
                s.depth,
                s.distress_on_air,
                s.replies_on_air
            );
        }
    }
    if let Some(peak) = f.samples.iter().max_by_key(|s| s.depth) {
        println!("    peak depth {} at {}", peak.depth, secs(peak.at_s));
    }
    let window = size.window;
    let until = Duration::from_secs_f64(f.ended_s.max(0.0));
    println!("  Faro's own airtime (station radios' transmissions, LoRa time on air):");
    for r in &f.radios {
        println!(
            "    {:<5} {:>5} tx, {:>7.1} s in the window ({:>5.1}% of {}), {:>7.1} s until drained ({:>5.1}% of {})",
            r.name,
            r.tx,
            r.airtime_window.as_secs_f64(),
            pct(r.airtime_window, window),
            secs(window.as_secs_f64()),
            r.airtime_total.as_secs_f64(),
            pct(r.airtime_total, until),
            secs(f.ended_s)
        );
    }
    println!(
        "    both  {:>7.1} s in total",
        f.airtime_total().as_secs_f64()
    );
    println!(
        "    rebroadcasts of Faro's packets by other nodes: {} tx, {:.1} s on air (what farod \
         sends with a hop limit above 0: ambulance requests, patrol traffic, broadcasts, nodes \
         heard through relays; the sim's phones do not hear each other, so every phone in range \
         relays those)",
        f.relayed_faro,
        f.relayed_faro_airtime.as_secs_f64(),
    );
    println!(
        "    phones' own transmissions (distress, ACKs): {:.1} s on air",
        f.phone_airtime.as_secs_f64()
    );
    println!(
        "  open incidents listing         {:.2} ms median of {} calls ({} rows, limit {}; wall clock)",
        f.listing_ms,
        LISTING_CALLS,
        f.listing_rows,
        farod::api::MAX_LIST
    );
    if f.lagged > 0 {
        println!(
            "  observer missed {} sim events (lagged): counts above may be low",
            f.lagged
        );
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(opts: &Opts) -> Result<()> {
    let size = Size::for_opts(opts);
    println!(
        "sizes: {} phones, one distress each, uniformly over {} simulated; 2 station radios \
         (main = Sásabe, mast 10 km west), hop limit 0; drain limit {}; {} run(s), seeds 1..",
        size.phones,
        secs(size.window.as_secs_f64()),
        secs(size.drain_limit.as_secs_f64()),
        opts.runs
    );
    let variants = [
        Variant {
            channel: ChannelModel::Contention,
            group_from: 3,
        },
        Variant {
            channel: ChannelModel::Contention,
            group_from: 2,
        },
        Variant {
            channel: ChannelModel::Ideal,
            group_from: 3,
        },
    ];
    for v in variants {
        let mut runs = Vec::new();
        for i in 0..opts.runs {
            let f = run_once(opts, size, 1 + i as u64, v)?;
            print_run(&f, size);
            runs.push(f);
        }
        summary(&runs, size);
    }
    Ok(())
}

fn summary(runs: &[RunFigures], size: Size) {
    let s = |g: &dyn Fn(&RunFigures) -> f64| Spread::of(&runs.iter().map(g).collect::<Vec<_>>());
    println!(
        "-- surge, {} channel, surge groups P{}+, {} run(s): median (range)",
        runs.first().map_or("?", |f| f.channel),
        runs.first().map_or(0, |f| f.group_from),
        runs.len()
    );
    println!(
        "  P1 distress -> reply p99       {}",
        s(&|f| percentile(&f.p1_latency_s, 99.0)).show(1, " s")
    );
    println!(
        "  distress -> acknowledged p99   {}",
        s(&|f| percentile(&f.ack_latency_s, 99.0) / 60.0).show(1, " min")
    );
    println!(
        "  never acknowledged             {}",
        s(&|f| f.unacked as f64).show(0, "")
    );
    println!(
        "  Faro's peak minute share       {}",
        s(&|f| 100.0 * f.radios.iter().map(|r| r.share_peak).fold(0.0, f64::max)).show(1, "%")
    );
    println!(
        "  ambulance request on air       {}",
        s(&|f| f.amb_latency_s).show(1, " s")
    );
    println!(
        "  rows waiting at that request   {}",
        s(&|f| f.amb_depth as f64).show(0, "")
    );
    println!(
        "  lost to collisions             {}",
        s(&|f| f.air.lost_collision as f64).show(0, "")
    );
    println!(
        "  phones / window                {} / {}",
        size.phones,
        secs(size.window.as_secs_f64())
    );
    println!(
        "  handed to farod                {}",
        s(&|f| f.handed as f64).show(0, "")
    );
    println!(
        "  incidents                      {}",
        s(&|f| f.incidents as f64).show(0, "")
    );
    println!(
        "  lost                           {}",
        s(&|f| f.lost.len() as f64).show(0, "")
    );
    println!(
        "  duplicate incidents            {}",
        s(&|f| f.duplicates.len() as f64).show(0, "")
    );
    println!(
        "  replies on air                 {}",
        s(&|f| f.replies_on_air as f64).show(0, "")
    );
    println!(
        "  refused by a device            {}",
        s(&|f| f.refused() as f64).show(0, "")
    );
    println!(
        "  min gap between Faro's texts   {}",
        s(&|f| f.min_gap_s()).show(2, " s")
    );
    println!(
        "  distress -> reply p50          {}",
        s(&|f| percentile(&f.latency_s, 50.0) / 60.0).show(1, " min")
    );
    println!(
        "  distress -> reply max          {}",
        s(&|f| percentile(&f.latency_s, 100.0) / 60.0).show(1, " min")
    );
    println!(
        "  last reply on air              {}",
        s(&|f| f.last_reply_s / 60.0).show(1, " min")
    );
    println!(
        "  peak outbox depth              {}",
        s(&|f| f.samples.iter().map(|x| x.depth).max().unwrap_or(0) as f64).show(0, " rows")
    );
    println!(
        "  Faro airtime in the window     {}",
        s(&|f| f.airtime_window().as_secs_f64()).show(1, " s")
    );
    println!(
        "  Faro airtime in total          {}",
        s(&|f| f.airtime_total().as_secs_f64()).show(1, " s")
    );
    println!(
        "  open incidents listing         {}",
        s(&|f| f.listing_ms).show(2, " ms")
    );
    println!(
        "  wall clock per run             {}",
        s(&|f| f.wall_s).show(1, " s")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_scenario_has_2000_distinct_phones_each_in_range_of_a_station_radio() {
        let window = Duration::from_secs(600);
        let (sc, plan) = surge_scenario(2000, window, 7, ChannelModel::Contention).unwrap();
        assert_eq!(plan.len(), 2000);
        assert_eq!(sc.stations(), vec![nodes::SAS, MAST]);
        let phones: Vec<&NodeSpec> = sc.nodes.iter().filter(|n| n.role == Role::Phone).collect();
        assert_eq!(phones.len(), 2000);
        let ids: HashSet<u32> = phones.iter().map(|n| n.id).collect();
        assert_eq!(ids.len(), 2000, "distinct node numbers");
        let mut both = 0;
        let mut only = [0, 0];
        for n in &phones {
            let (a, b) = in_range(&sc, n.lat, n.lon, n.range_km);
            assert!(a || b, "{} out of range of both radios", n.user_id());
            match (a, b) {
                (true, true) => both += 1,
                (true, false) => only[0] += 1,
                _ => only[1] += 1,
            }
        }
        assert!(both > 0 && only[0] > 0 && only[1] > 0, "{both} {only:?}");
        // The two station radios do not hear each other.
        let (main, mast) = (sc.node(nodes::SAS).unwrap(), sc.node(MAST).unwrap());
        let apart = faro_sim::radio::distance_km(main.lat, main.lon, mast.lat, mast.lon);
        assert!(apart > main.range_km.max(mast.range_km), "{apart} km");
        assert_eq!(sc.radio.hop_limit, 0);
        assert!(sc.timeline.is_empty());
    }

    #[test]
    fn every_phone_sends_once_within_the_window_in_time_order() {
        let window = Duration::from_secs(60);
        let (sc, plan) = surge_scenario(100, window, 3, ChannelModel::Contention).unwrap();
        assert_eq!(plan.len(), 100);
        let senders: HashSet<u32> = plan.iter().map(|d| d.phone).collect();
        assert_eq!(senders.len(), 100);
        assert!(senders.iter().all(|p| sc.node(*p).is_some()));
        assert!(plan.iter().all(|d| d.at < window));
        assert!(plan.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(plan
            .iter()
            .all(|d| DISTRESS_TEXTS.contains(&d.text.as_str())));
        let langs: HashSet<&str> = plan.iter().map(|d| d.text.as_str()).collect();
        assert!(langs.len() > 3, "a mix of texts: {langs:?}");
    }

    #[test]
    fn the_plan_is_seeded() {
        let w = Duration::from_secs(60);
        let a = surge_scenario(50, w, 9, ChannelModel::Contention).unwrap();
        let b = surge_scenario(50, w, 9, ChannelModel::Contention).unwrap();
        let c = surge_scenario(50, w, 10, ChannelModel::Contention).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.1, c.1);
    }

    #[test]
    fn every_distress_text_is_distress_for_farod() {
        let kw = farod::lang::Keywords::defaults();
        for t in DISTRESS_TEXTS {
            let mut p = mesh::packet(PortNum::TextMessageApp, t.as_bytes().to_vec());
            p.from = PHONE_BASE;
            p.to = BROADCAST;
            p.id = 1;
            let cfg = farod::ingest::IngestConfig {
                keywords: kw.clone(),
                towers: Default::default(),
                patrols: Default::default(),
                station_channel: 0,
                our_nodes: Default::default(),
                municipal_nodes: Default::default(),
            };
            let s = farod::ingest::classify(&p, &cfg);
            assert!(format!("{s:?}").contains("Distress"), "{t:?}: {s:?}");
        }
    }
}
