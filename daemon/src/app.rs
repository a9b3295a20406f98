//! The command-level entry points: `farod run` (the [`Station`] until SIGTERM or SIGINT) and
//! `farod demo` (the same station against the built-in simulated mesh, with a scripted desk
//! operator and patrols, printed as an operator would follow it).

#[cfg(feature = "sim")]
use std::collections::HashMap;
#[cfg(feature = "sim")]
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "sim")]
use faro_proto::mesh;

use crate::config::Config;
#[cfg(feature = "sim")]
use crate::describe;
#[cfg(feature = "sim")]
use crate::radio::{LinkConfig, RadioEventKind};
use crate::radio::{LinkHandle, LinkState, Transport};
use crate::station::{StartError, Station, StationConfig};
use crate::store::StoreConfig;
#[cfg(feature = "sim")]
use crate::store::{OperatorRequest, TeamConfig};
use crate::systemd::{self, Notifier};

/// How long `farod run` may take to stop (drain the supervisor, say goodbye to the radios,
/// commit): below the unit's `TimeoutStopSec=30`, so systemd never has to SIGKILL it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often `farod run` checks the store and refreshes its status line (more often when the
/// watchdog asks for it).
pub const HEALTH_EVERY: Duration = Duration::from_secs(5);

/// Resolves on SIGTERM (what systemd sends) or SIGINT, with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    Shutdown::install().wait().await
}

/// SIGTERM and SIGINT, caught from the moment [`Shutdown::install`] returns: a signal that
/// arrives while farod is still starting (opening the database) is kept and ends it cleanly
/// as soon as it is ready, instead of killing it half-started.
#[derive(Debug)]
pub struct Shutdown {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    /// Installs the handlers now.
    pub fn install() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let watch = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch for {name}");
                    None
                }
            };
            Shutdown {
                term: watch(SignalKind::terminate(), "SIGTERM"),
                int: watch(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Resolves on the first signal (at once if one came already), with its name.
    pub async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(&mut self.term) => "SIGTERM",
                () = next(&mut self.int) => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The station settings from the validated configuration.
pub fn station_config(config: &Config) -> StationConfig {
    let mut store = StoreConfig::new(&config.station_code);
    store.teams = config.teams.clone();
    store.towers = config.towers.clone();
    store.water = config.water.clone();
    store.compromised = config.compromised.clone();
    store.repeat_window = config.repeat_window;
    store.channel = config.radios.first().map_or(0, |r| r.channel);
    store.municipalities = config.municipalities.clone();
    store.amb_deadline = config.ambulance.deadline;
    store.amb_reminder = config.ambulance.reminder;
    store.amb_max_municipalities = config.ambulance.max_municipalities;
    store.auto_ambulance_kinds = config.ambulance.auto_for_p1.clone();
    store.surge = config.surge.clone();
    store.broadcasts = config.broadcasts.clone();
    store.referrals = config.referrals.clone();
    store.personal_key = config.personal_key.clone();
    store.retention = config.retention;
    StationConfig {
        store,
        keywords: config.keywords.clone(),
        db_path: config.data_dir.join("faro.db"),
        socket: Some(config.socket.clone()),
        air: config.air,
        timezone: config.timezone.clone(),
        desk: config.desk.clone(),
        uplink: config.uplink.clone(),
        place: crate::api::StationPlace {
            name: config.station_name.clone(),
            position: config.station_position,
        },
    }
}

/// Exit status of `farod run` when another farod holds the data directory: 75 (EX_TEMPFAIL,
/// sysexits.h): the directory is busy, not broken, and a later start may succeed. 78 stays
/// for a bad configuration.
pub const EX_LOCKED: u8 = 75;

/// The lock file in the data directory that makes one farod per directory.
pub const LOCK_FILE: &str = "farod.lock";

/// Another farod holds the data directory (exit [`EX_LOCKED`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AlreadyRunning(pub String);

/// The data directory's lock, held for the life of `farod run` (released when dropped or
/// when the process ends, however it ends: an flock(2) dies with its holder, so a crashed
/// farod never leaves a stale lock).
#[derive(Debug)]
pub struct DataDirLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the exclusive lock on `DIR/farod.lock` (creating the directory) and writes our pid
/// into it, or says which farod holds it.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    // 0750 when farod creates it (crate::access); one that exists keeps its mode.
    crate::access::create_dir(dir, None)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .mode(0o600)
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            // Only the holder writes: the pid a refused second farod names.
            let _ = lock.set_len(0);
            let _ = (&*lock).write_all(format!("{}\n", std::process::id()).as_bytes());
            Ok(DataDirLock { _lock: lock })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("another farod (pid {pid})"),
                Err(_) => "another farod".to_string(),
            };
            Err(AlreadyRunning(format!(
                "{holder} is running on the data directory {} (it holds {})",
                dir.display(),
                path.display()
            ))
            .into())
        }
        Err((_, e)) => Err(anyhow::anyhow!("cannot lock {}: {e}", path.display())),
    }
}

/// The configured radios, ready to start.
type Radios = Vec<(crate::radio::LinkConfig, Transport)>;

/// The transports of the configured radios (`sim:` radios start their simulation here).
fn transports(config: &Config) -> anyhow::Result<Radios> {
    let mut radios = Vec::new();
    for r in &config.radios {
        let transport = Transport::from_uri(&r.uri)
            .map_err(|e| anyhow::anyhow!("radio {}: {e}", r.link.name))?;
        radios.push((r.link.clone(), transport));
    }
    Ok(radios)
}

/// The scenario of the first simulated radio, if any.
#[cfg(feature = "sim")]
fn first_scenario(radios: &Radios) -> Option<&faro_sim::Scenario> {
    radios.iter().find_map(|(_, t)| match t {
        Transport::Sim { sim, .. } => Some(sim.scenario()),
        _ => None,
    })
}

/// What a simulated scenario gives a station whose configuration leaves it out: the station
/// code (unless `station.code` or `--station` set one), the teams, towers and municipalities
/// (each unless the configuration lists its own).
#[cfg(feature = "sim")]
pub fn apply_scenario(scfg: &mut StationConfig, config: &Config, scenario: &faro_sim::Scenario) {
    let sc = scenario_station_config(scenario, scfg.db_path.clone());
    if !config.station_code_set {
        scfg.store.station = sc.store.station;
    }
    if config.teams.is_empty() {
        scfg.store.teams = sc.store.teams;
    }
    if config.towers.is_empty() {
        scfg.store.towers = sc.store.towers;
    }
    if config.municipalities.is_empty() {
        scfg.store.municipalities = sc.store.municipalities;
    }
    if scfg.place.position.is_none() {
        scfg.place = sc.place;
    }
}

/// `farod run`: the daemon. It takes the data directory's lock first (one farod per
/// directory), then opens the database and binds the control socket; under systemd
/// (`Type=notify`) it says READY once both are done (radios may still be connecting: a
/// missing one shows in STATUS), keeps STATUS current, feeds the watchdog only while the store
/// thread answers and every task runs, and on SIGTERM says STOPPING and stops within
/// [`STOP_TIMEOUT`], storing what the radios had delivered. `shutdown` was installed before
/// the configuration was read, so a SIGTERM during start-up is a clean stop too.
///
/// A task that panics or ends (the supervisor, the outbox, a radio link, the control socket)
/// ends `run` with an error naming it: the service manager restarts farod rather than leave
/// it deaf, mute or unreachable.
pub async fn run(config: Config, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let notifier = Notifier::from_env();
    if config.radios.is_empty() {
        tracing::warn!("no radio configured: nothing to listen to (add [[radio]] or --radio)");
    }
    let _lock = lock_data_dir(&config.data_dir)?;
    #[cfg_attr(not(feature = "sim"), allow(unused_mut))]
    let mut scfg = station_config(&config);
    let radios = transports(&config)?;
    // `farod run --radio sim:default` is a whole simulated station in one command.
    #[cfg(feature = "sim")]
    if let Some(sc) = first_scenario(&radios) {
        apply_scenario(&mut scfg, &config, sc);
    }
    let db = scfg.db_path.clone();
    // The database holds personal data: for farod alone, even if an earlier farod or a wider
    // umask left it readable (crate::access).
    match crate::access::tighten_database(&db) {
        Ok(changed) => {
            for p in changed {
                tracing::warn!(file = %p.display(), "was readable by others: now 0600");
            }
        }
        Err(e) => tracing::warn!("{e}"),
    }
    let code = scfg.store.station.clone();
    let teams = scfg.store.teams.len();
    notifier.status(&format!("opening the database {}", db.display()));
    let station = match Station::start(scfg, radios).await {
        Ok(s) => s,
        // The store's error names the database file once, with the cause.
        Err(StartError::Store(e)) => {
            notifier.status(&format!("FAILED: {e}"));
            return Err(anyhow::anyhow!("{e}"));
        }
        Err(e) => {
            notifier.status(&format!("FAILED: {e}"));
            return Err(e.into());
        }
    };
    let mut health = HealthWatch::default();
    let line = health.check(&station, HEALTH_EVERY).await;
    notifier.ready(&line);
    health.last_line = Some(line);
    tracing::info!(
        station = %code,
        radios = config.radios.len(),
        teams,
        database = %db.display(),
        socket = %config.socket.display(),
        watchdog = ?notifier.watchdog_period(),
        "farod ready"
    );
    let signal = tokio::select! {
        s = shutdown.wait() => s,
        end = station.failed() => {
            // The watchdog is fed no more; stop what still runs (committing what the store
            // holds) and exit non-zero so the service manager restarts farod. The error is
            // the one line that names the cause: the database's own failure when that is why
            // the task ended, else the task (`farod: task supervisor panicked: ...`).
            let why = station
                .store
                .fatal_error()
                .map_or_else(|| end.to_string(), |e| fatal_line(&e));
            notifier.stopping(&format!("FAILED: {why}"));
            let _ = tokio::time::timeout(STOP_TIMEOUT, station.stop()).await;
            return Err(anyhow::anyhow!("{why}"));
        }
        fatal = keep_alive(&station, &notifier, &mut health) => {
            let why = fatal_line(&fatal);
            notifier.stopping(&format!("FAILED: {why}"));
            let _ = tokio::time::timeout(STOP_TIMEOUT, station.stop()).await;
            return Err(anyhow::anyhow!("{why}"));
        }
    };
    notifier.stopping("stopping: storing what the radios delivered and committing");
    tracing::info!(signal, "farod stopping");
    match tokio::time::timeout(STOP_TIMEOUT, station.stop()).await {
        Err(_) => anyhow::bail!(
            "did not stop within {} s; what was committed is safe",
            STOP_TIMEOUT.as_secs()
        ),
        Ok(Some(end)) => anyhow::bail!("{end} while stopping"),
        Ok(None) => {}
    }
    tracing::info!("farod stopped");
    Ok(())
}

/// The one line farod ends with when its database cannot be trusted any more.
fn fatal_line(e: &crate::store::StoreError) -> String {
    format!("{e}; farod stops (systemd restarts it once the database is fixed)")
}

/// The loop that vouches for the daemon: every few seconds (half the watchdog timeout at
/// most) it pings the store thread and feeds the watchdog only when it answered, then brings
/// the status line up to date. Runs until `run` stops polling it, or returns the database's
/// fatal failure (read-only, corrupt), on which farod ends.
async fn keep_alive(
    station: &Station,
    notifier: &Notifier,
    health: &mut HealthWatch,
) -> crate::store::StoreError {
    let every = notifier
        .watchdog_period()
        .map_or(HEALTH_EVERY, |p| p.min(HEALTH_EVERY))
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let line = health.check(station, every).await;
        if let Some(fatal) = station.store.fatal_error() {
            return fatal;
        }
        // A task that ended is reported by `run`, which stops; until then, no more feeding.
        if health.store_answers && station.failure().is_none() {
            notifier.watchdog();
        }
        if health.last_line.as_deref() != Some(line.as_str()) {
            notifier.status(&line);
            health.last_line = Some(line);
        }
    }
}

/// What the last health check found, to log and report changes only.
#[derive(Debug)]
struct HealthWatch {
    store_answers: bool,
    database_error: Option<String>,
    last_line: Option<String>,
}

impl Default for HealthWatch {
    /// The store just opened: it answers until a ping says otherwise.
    fn default() -> Self {
        Self {
            store_answers: true,
            database_error: None,
            last_line: None,
        }
    }
}

impl HealthWatch {
    /// Pings the store (waiting at most `wait`), reads the counts and returns the status
    /// line; logs when the store's health changes.
    async fn check(&mut self, station: &Station, wait: Duration) -> String {
        let answers = matches!(
            tokio::time::timeout(wait, station.store.ping()).await,
            Ok(Ok(()))
        );
        if answers != self.store_answers {
            if answers {
                tracing::info!("store thread answers");
            } else {
                tracing::error!(
                    "store thread did not answer within {} ms; the watchdog is not fed",
                    wait.as_millis()
                );
            }
            self.store_answers = answers;
        }
        let error = station.store.last_error();
        if error != self.database_error {
            match &error {
                Some(e) => tracing::error!(error = %e, "database refuses writes"),
                None => tracing::info!("database commits again"),
            }
            self.database_error = error;
        }
        let path = station.store.path().to_path_buf();
        let counts = tokio::time::timeout(
            wait,
            tokio::task::spawn_blocking(move || {
                crate::store::query::Reader::open(&path).and_then(|r| r.counts())
            }),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .and_then(Result::ok);
        let down: Vec<&str> = station
            .links
            .iter()
            .filter(|l| l.status().state != LinkState::Up)
            .map(LinkHandle::name)
            .collect();
        let mut line = systemd::status_line(&systemd::Health {
            store_answers: self.store_answers,
            database_error: self.database_error.as_deref(),
            radios_down: down,
            radios_total: station.links.len(),
            counts: counts.as_ref(),
        });
        // The uplink is not needed to run the station: said, never a failure.
        let uplink = station.uplink.borrow().clone();
        if !uplink.connected && uplink.error.is_some() {
            line.push_str("; uplink to headquarters down (changes wait)");
        }
        line
    }
}

/// Options of `farod demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Stop after this much real time (default: when the scenario's timeline is over).
    pub duration: Option<Duration>,
    /// The control socket to serve, for `faroctl` (default: `faro.sock` in the demo's
    /// temporary directory).
    pub socket: Option<PathBuf>,
}

#[cfg(feature = "sim")]
/// Station settings for a simulated scenario (the demo, tests): its patrols become teams
/// (named by their short names), its towers registered towers, its station's short name the
/// station code.
pub fn scenario_station_config(
    scenario: &faro_sim::Scenario,
    db_path: std::path::PathBuf,
) -> StationConfig {
    let node = scenario.stations().first().and_then(|s| scenario.node(*s));
    let station = node.map_or("SAS".to_string(), |n| n.short_name.clone());
    let place = node.map_or_else(Default::default, |n| crate::api::StationPlace {
        name: n.long_name.clone(),
        position: Some((n.lat, n.lon)),
    });
    let mut store = StoreConfig::new(&station);
    // A simulated station seals personal records with a key of its own, made now and never
    // stored: its database is a test's or the demo's, and nothing in it outlives the run.
    store.personal_key = Some(crate::casework::seal::Key::random());
    for n in &scenario.nodes {
        match n.role {
            faro_sim::Role::Patrol => store.teams.push(TeamConfig {
                name: n.short_name.clone(),
                nodes: vec![n.id],
                interval: Duration::from_secs(120),
                // The scenario's radios are enrolled: their keys are pinned.
                keys: vec![crate::trust::PublicKey(scenario.public_key(n.id))],
                language: crate::lang::Lang::Es,
            }),
            faro_sim::Role::Municipality => {
                // The node sits at the municipality's seat: the gazetteer says which one.
                if let Some(n2) = crate::geo::Gazetteer::builtin().nearest(n.lat, n.lon) {
                    store.municipalities.push(crate::dispatch::Municipality {
                        name: n2.place.municipality.clone(),
                        state: n2.place.state.clone(),
                        lat: n.lat,
                        lon: n.lon,
                        nodes: vec![n.id],
                        phones: Vec::new(),
                        languages: vec![crate::lang::Lang::Es],
                        keys: vec![crate::trust::PublicKey(scenario.public_key(n.id))],
                        pki: true,
                    });
                }
            }
            faro_sim::Role::Tower => {
                store.towers.insert(
                    n.id,
                    crate::ingest::Tower {
                        name: n.long_name.clone(),
                        lat: n.lat,
                        lon: n.lon,
                    },
                );
            }
            _ => {}
        }
    }
    StationConfig {
        store,
        keywords: crate::lang::Keywords::defaults(),
        db_path,
        socket: None,
        air: crate::outbox::plan::Budget::default(),
        timezone: "UTC".into(),
        desk: crate::api::DeskConfig::default(),
        place,
        uplink: None,
    }
}

#[cfg(feature = "sim")]
/// What the scripted desk and patrols still have to do.
struct Script {
    at: Duration,
    step: Step,
}

#[cfg(feature = "sim")]
enum Step {
    Desk(OperatorRequest),
    Patrol(u32, String),
}

#[cfg(feature = "sim")]
/// `farod demo`: the whole station against the built-in simulated mesh, printed live: what the
/// radio hears, incidents opening, the texts the station queues and their acknowledgements, a
/// desk operator assigning the nearest patrol, and the patrol driving the incident to closed by
/// text; at the end the incident queue and each incident's conversation. Every text from the
/// air is escaped ([`describe::clean`]).
pub async fn demo(opts: DemoOptions, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let scenario = faro_sim::Scenario::builtin("default")?;
    let names: HashMap<u32, String> = scenario
        .nodes
        .iter()
        .map(|n| (n.id, n.long_name.clone()))
        .collect();
    let sim_secs = scenario.timeline.last().map_or(0.0, |t| t.at.as_secs_f64()) + 240.0;
    let duration = opts
        .duration
        .unwrap_or_else(|| Duration::from_secs_f64(sim_secs / opts.speed));
    let dir = std::env::temp_dir().join(format!("faro-demo-{}", std::process::id()));
    let mut cfg = scenario_station_config(&scenario, dir.join("faro.db"));
    let socket = opts.socket.clone().unwrap_or_else(|| dir.join("faro.sock"));
    cfg.socket = Some(socket.clone());
    let teams = cfg.store.teams.clone();
    writeln!(
        out,
        "Faro demo: station {} and {} simulated nodes around Sásabe, Sonora, at {}x speed, for {} s (Ctrl-C stops)",
        cfg.store.station,
        names.len(),
        opts.speed,
        duration.as_secs()
    )?;
    writeln!(
        out,
        "control socket {}: try `faroctl --socket {} incidents` in another terminal",
        socket.display(),
        socket.display()
    )?;
    let sim = faro_sim::Sim::start(
        scenario,
        faro_sim::SimOptions {
            speed: opts.speed,
            ..Default::default()
        },
    );
    let station = Station::start(
        cfg,
        vec![(LinkConfig::new("sas"), Transport::sim(sim.clone(), None)?)],
    )
    .await?;
    let mut events = station.store.subscribe();
    let mut said = station.store.subscribe_messages();
    let mut heard = station.radio_events();
    let start = tokio::time::Instant::now();
    let until = start + duration;
    let sim_now = |t: tokio::time::Instant| t.duration_since(start).mul_f64(opts.speed);
    let stamp = |d: Duration| format!("[{:02}:{:02}]", d.as_secs() / 60, d.as_secs() % 60);
    let mut script: Vec<Script> = Vec::new();
    let mut scripted = 0;
    let mut packets = 0u64;
    let mut shutdown = Shutdown::install();
    loop {
        let next_step = script.iter().map(|s| s.at).min();
        let wake = next_step.map_or(until, |at| (start + at.div_f64(opts.speed)).min(until));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= until { break; }
                let now = sim_now(tokio::time::Instant::now());
                let (due, rest): (Vec<Script>, Vec<Script>) = script.into_iter().partition(|s| s.at <= now);
                script = rest;
                for s in due {
                    match s.step {
                        Step::Desk(req) => {
                            if let Err(e) = station.store.operator("demo-desk", req, station.clock.now_ms()).await {
                                writeln!(out, "{} desk: refused: {e}", stamp(now))?;
                            }
                            station.wake_outbox();
                        }
                        Step::Patrol(node, text) => {
                            writeln!(out, "{} {} types {text:?}", stamp(now), names.get(&node).map_or("patrol", String::as_str))?;
                            sim.act(faro_sim::Action::Text { from: node, to: station_node(&station), channel: 0, text, want_ack: true }).await;
                        }
                    }
                }
            }
            _ = shutdown.wait() => break,
            end = station.failed() => anyhow::bail!("{end}"),
            ev = events.recv() => {
                let Ok(ev) = ev else { continue };
                let now = sim_now(tokio::time::Instant::now());
                let id = ev.incident.clone().unwrap_or_default();
                // An event may quote the air (a patrol's NOTA): escaped like every text heard.
                writeln!(out, "{} {:<7} {} ({})", stamp(now), describe::clean(&id), describe::clean(&ev.what), describe::clean(&ev.who))?;
                // The scripted desk takes the first incidents: acknowledge, assign the nearest
                // free patrol; that patrol then reports by text as it would in the field.
                if ev.what.starts_with("opened") && scripted < 2 && !id.is_empty() {
                    if let Some((team, node)) = nearest_free_team(&station, &teams, &id).await {
                        scripted += 1;
                        let s = |secs: u64, step: Step| Script { at: now + Duration::from_secs(secs), step };
                        script.push(s(10, Step::Desk(OperatorRequest::Ack(id.clone()))));
                        script.push(s(20, Step::Desk(OperatorRequest::Assign(id.clone(), team))));
                        if scripted == 1 {
                            // The first one also needs an ambulance: the nearest municipality is
                            // asked over the mesh and its dispatcher answers.
                            script.push(s(15, Step::Desk(OperatorRequest::Ambulance(id.clone(), None))));
                        }
                        script.push(s(60, Step::Patrol(node, format!("RUTA {id}"))));
                        script.push(s(150, Step::Patrol(node, format!("LLEGUE {id}"))));
                        // The first waits for the ambulance before the patrol closes it.
                        let (close_after, outcome) = if scripted == 1 { (600, "hospital") } else { (220, "rescatado") };
                        script.push(s(close_after, Step::Patrol(node, format!("CERRAR {id} {outcome}"))));
                    }
                }
            }
            m = said.recv() => {
                // What the station says, as it is queued (what it hears is printed from the
                // radio below).
                let Ok(m) = m else { continue };
                if m.message.direction == "out" {
                    let now = sim_now(tokio::time::Instant::now());
                    writeln!(out, "{} {:<7} says to {}: {}", stamp(now), m.incident.as_deref().unwrap_or(""), node_name(&names, &m.message.node), describe::clean(&m.message.text))?;
                }
            }
            ev = heard.recv() => {
                let Ok(ev) = ev else { continue };
                let now = sim_now(tokio::time::Instant::now());
                match ev.kind {
                    RadioEventKind::Up(info) => writeln!(out, "{} radio {} up: {} ({} nodes known)", stamp(now), ev.radio, info.long_name(), info.nodes_known)?,
                    RadioEventKind::Packet(p) => {
                        packets += 1;
                        let text_like = matches!(describe::content(&p), describe::Content::Text(_) | describe::Content::Waypoint { .. });
                        if text_like {
                            writeln!(out, "{}   heard {}", stamp(now), describe::packet_line(&p, |n| names.get(&n).cloned()))?;
                        }
                    }
                    RadioEventKind::Down { reason } => writeln!(out, "{} radio {} down: {reason}", stamp(now), ev.radio)?,
                    _ => {}
                }
            }
        }
        out.flush()?;
    }
    let counts = crate::store::query::Reader::open(station.store.path()).and_then(|r| {
        let list = r.incidents(crate::store::query::Filter::All, 100)?;
        let talk = list
            .iter()
            .map(|i| Ok((i.id.clone(), r.incident(&i.id)?.and_then(|i| i.messages))))
            .collect::<Result<Vec<_>, crate::store::StoreError>>()?;
        Ok((r.counts()?, list, talk))
    });
    if let Ok((c, list, talk)) = counts {
        writeln!(
            out,
            "\nincident queue after the demo ({packets} packets heard):"
        )?;
        for i in list {
            writeln!(
                out,
                "  {:<7} P{} {:<12} {:<9} {:<9} heard {:>2}x  {}",
                i.id,
                i.priority,
                i.state,
                i.kind,
                i.team.unwrap_or_else(|| "-".into()),
                i.heard_count,
                i.reporter_name.or(i.reporter).unwrap_or_default()
            )?;
        }
        writeln!(
            out,
            "open: {} ; outbox pending {}, awaiting ack {}, failed {}",
            c.open_incidents, c.outbox_pending, c.outbox_awaiting_ack, c.outbox_failed
        )?;
        writeln!(
            out,
            "\nconversations, oldest first (station clock, UTC; <- heard, -> sent [delivery]):"
        )?;
        for (id, messages) in talk {
            writeln!(out, "  {id}")?;
            for m in messages.unwrap_or_default() {
                let time =
                    m.at.split('T')
                        .nth(1)
                        .unwrap_or(&m.at)
                        .trim_end_matches('Z');
                let (arrow, delivery) = match m.delivery {
                    Some(d) => ("->", format!(" [{d}]")),
                    None => ("<-", String::new()),
                };
                writeln!(
                    out,
                    "    {time} {arrow} {}{delivery}: {}",
                    node_name(&names, &m.node),
                    describe::clean(&m.text)
                )?;
            }
        }
    }
    if let Some(end) = station.stop().await {
        anyhow::bail!("{end}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(feature = "sim")]
/// A node's name in the scenario (escaped: names come from the air too), else its id.
fn node_name(names: &HashMap<u32, String>, node: &str) -> String {
    node.parse::<mesh::NodeId>()
        .ok()
        .and_then(|n| names.get(&n.0))
        .map_or_else(|| describe::clean(node), |n| describe::clean(n))
}

#[cfg(feature = "sim")]
fn station_node(station: &Station) -> u32 {
    station
        .links
        .first()
        .and_then(|l| l.status().node)
        .unwrap_or(mesh::BROADCAST)
}

#[cfg(feature = "sim")]
async fn nearest_free_team(
    station: &Station,
    teams: &[TeamConfig],
    id: &str,
) -> Option<(String, u32)> {
    let path = station.store.path().to_path_buf();
    let teams = teams.to_vec();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let r = crate::store::query::Reader::open(&path).ok()?;
        let inc = r.incident(&id).ok()??;
        let t = match (inc.lat, inc.lon) {
            (Some(la), Some(lo)) => r.nearest_available_team(&teams, la, lo).ok().flatten(),
            _ => None,
        };
        let name = t
            .map(|t| t.name)
            .or_else(|| teams.first().map(|t| t.name.clone()))?;
        let node = teams
            .iter()
            .find(|t| t.name == name)?
            .nodes
            .first()
            .copied()?;
        Some((name, node))
    })
    .await
    .ok()
    .flatten()
}
