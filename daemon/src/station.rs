//! The station: everything `farod run` starts, wired together, as one value tests can start
//! and stop. Data flows one way (docs/ARCHITECTURE.md §3): radio links -> supervisor (classify
//! with [`ingest`](crate::ingest)) -> store (the desk's rules, commit) -> outbox -> radio links;
//! delivery results go back to the store. Each hop has one owner and a bounded queue (§4, §7).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faro_proto::mesh::{self, mesh_packet, store_and_forward, Message, PortNum, StoreAndForward};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::ingest::{self, IngestConfig};
use crate::outbox::{self, OutboxWaker};
use crate::radio::{
    self, LinkConfig, LinkHandle, LinkState, RadioEvent, RadioEventKind, Transport,
};
use crate::store::{IngestOutcome, Rx, Store, StoreConfig, StoreError};

/// Radio events waiting for the supervisor.
pub const EVENT_QUEUE: usize = 1024;
/// How often team status and other upkeep run.
pub const TICK: Duration = Duration::from_secs(30);
/// How often ambulance deadlines and reminders are checked.
pub const DISPATCH_TICK: Duration = Duration::from_secs(5);
/// Longest wait between two attempts to commit a received signal while the database refuses
/// (the radio's events wait meanwhile; the fault may clear any moment).
pub const COMMIT_RETRY_MAX: Duration = Duration::from_secs(5);
/// Radio events kept for taps (the demo) that fall behind.
pub const TAP_BUFFER: usize = 256;
/// Received packets committed together at most (they are handed to the store back to back
/// and its writer commits them in as few transactions as its batches allow).
pub const INGEST_BATCH: usize = 1024;

/// How long the supervisor may take, once the radios stopped reading, to commit the events
/// they had already handed over (part of `farod run`'s stop budget).
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long the radio links may take to stop (say goodbye to their radios).
pub const LINK_STOP_DEADLINE: Duration = Duration::from_secs(5);

/// What a station needs beyond its radios.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Store settings (station code, teams, towers, catalogue...).
    pub store: StoreConfig,
    /// Distress keywords.
    pub keywords: crate::lang::Keywords,
    /// The database file.
    pub db_path: PathBuf,
    /// The control socket (none: no socket, as in tests that drive the store directly).
    pub socket: Option<PathBuf>,
    /// The airtime budget of each radio.
    pub air: crate::outbox::plan::Budget,
    /// The station's time zone (IANA name), told to faroctl for display; stored times are UTC.
    pub timezone: String,
    /// The desk listener (`[desk]`; off unless `listen` is set).
    pub desk: crate::api::DeskConfig,
    /// The station's name and position, for the desk's map.
    pub place: crate::api::StationPlace,
    /// The uplink to headquarters (`[uplink]`), if any.
    pub uplink: Option<crate::uplink::UplinkConfig>,
}

/// Why a station did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The control socket could not be bound (the message names the path).
    #[error("control socket: {0}")]
    Socket(std::io::Error),
    /// The desk listener could not be bound (the message names the address).
    #[error("desk listener: {0}")]
    Desk(std::io::Error),
}

/// A long-lived task of the station that ended while the station was not stopping: it
/// panicked, or returned when it never should (the station is then deaf, mute or unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    /// The task's name (`supervisor`, `outbox`, `upkeep`, `control socket`, `radio NAME`).
    pub task: String,
    /// The panic message, when it panicked.
    pub panic: Option<String>,
}

impl std::fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.panic {
            Some(msg) => write!(f, "task {} panicked: {msg}", self.task),
            None => write!(f, "task {} ended unexpectedly", self.task),
        }
    }
}

/// One supervised task: its name, how to cancel it, and its watcher (which ends right after
/// the task and has already reported how it ended).
#[derive(Debug)]
struct Tracked {
    name: String,
    abort: tokio::task::AbortHandle,
    watcher: JoinHandle<()>,
}

/// Every long-lived task of a station, by name. A watcher awaits each task's `JoinHandle`, so
/// a task that panics (a `JoinError`) or returns is seen at once, whatever it was doing.
#[derive(Debug)]
struct Tasks {
    list: Vec<Tracked>,
    ended: watch::Sender<Option<TaskEnd>>,
    /// Set when the station stops: tasks end then, as they should.
    stopping: Arc<AtomicBool>,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            list: Vec::new(),
            ended: watch::channel(None).0,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Supervises `task` (already spawned) under `name`.
    fn track(&mut self, name: impl Into<String>, task: JoinHandle<()>) {
        let name = name.into();
        let abort = task.abort_handle();
        let ended = self.ended.clone();
        let stopping = self.stopping.clone();
        let task_name = name.clone();
        let watcher = tokio::spawn(async move {
            let panic = match task.await {
                // Returning is what tasks do when the station stops.
                Ok(()) if stopping.load(Ordering::SeqCst) => return,
                Ok(()) => None,
                Err(e) if e.is_panic() => Some(panic_message(e.into_panic())),
                // Cancelled: only the station itself cancels, when it stops.
                Err(_) => return,
            };
            ended.send_if_modified(|first| {
                if first.is_some() {
                    return false;
                }
                *first = Some(TaskEnd {
                    task: task_name,
                    panic,
                });
                true
            });
        });
        self.list.push(Tracked {
            name,
            abort,
            watcher,
        });
    }

    fn spawn<F>(&mut self, name: impl Into<String>, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.track(name, tokio::spawn(fut));
    }

    /// Takes the tasks whose name `pick` accepts out of the list.
    fn take(&mut self, pick: impl Fn(&str) -> bool) -> Vec<Tracked> {
        let (taken, kept) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|t| pick(&t.name));
        self.list = kept;
        taken
    }
}

/// Waits for these tasks to end, up to `deadline`; cancels those still running then. True
/// when every one ended by itself.
async fn join_all(tasks: Vec<Tracked>, deadline: Duration) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    let mut all_ended = true;
    for t in tasks {
        let mut watcher = t.watcher;
        if tokio::time::timeout_at(until, &mut watcher).await.is_err() {
            tracing::warn!(task = %t.name, "task did not stop within {} s; cancelled", deadline.as_secs());
            all_ended = false;
            t.abort.abort();
            let _ = watcher.await;
        }
    }
    all_ended
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// A running station.
#[derive(Debug)]
pub struct Station {
    /// The database.
    pub store: Store,
    /// The radio links.
    pub links: Vec<LinkHandle>,
    /// The clock everything uses.
    pub clock: Clock,
    /// Where the desk listens (`[desk] listen`, with the port the system gave for port 0).
    pub desk: Option<std::net::SocketAddr>,
    /// The uplink's connection to the broker, as it stands.
    pub uplink: watch::Receiver<crate::uplink::LinkView>,
    waker: OutboxWaker,
    stop: watch::Sender<bool>,
    tasks: Tasks,
    store_thread: Option<std::thread::JoinHandle<()>>,
    tap: broadcast::Sender<RadioEvent>,
    /// Kept so that the event queue stays open while no link runs (a station without
    /// radios); dropped when the station stops, after the links.
    events: Option<mpsc::Sender<RadioEvent>>,
}

/// Task names.
const SUPERVISOR: &str = "supervisor";
const RADIO: &str = "radio ";

impl Station {
    /// Opens the database (migrating it), binds the control socket, then starts the links, the
    /// supervisor, the outbox and the upkeep timer. Returns once the database is ready and the
    /// socket listens (a missing radio is not an error).
    pub async fn start(
        cfg: StationConfig,
        radios: Vec<(LinkConfig, Transport)>,
    ) -> Result<Station, StartError> {
        let clock = Clock::start();
        let db_path = cfg.db_path.clone();
        let store_cfg = cfg.store.clone();
        let (store, store_thread) =
            tokio::task::spawn_blocking(move || Store::open(&db_path, store_cfg))
                .await
                .map_err(|e| StoreError::Db(e.to_string()))??;
        let listener = match &cfg.socket {
            Some(path) => match crate::api::bind(path).await {
                Ok(l) => Some((path.clone(), l)),
                Err(e) => {
                    // Nothing else started: let the store thread commit and exit.
                    drop(store);
                    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
                    return Err(StartError::Socket(e));
                }
            },
            None => None,
        };
        let desk_listener = match cfg.desk.listen {
            Some(addr) => match crate::api::bind_desk(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    drop(listener);
                    drop(store);
                    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
                    return Err(StartError::Desk(e));
                }
            },
            None => None,
        };
        let mut tasks = Tasks::new();
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut links = Vec::new();
        for (lc, t) in radios {
            let name = format!("{RADIO}{}", lc.name);
            let (link, task) = radio::spawn_task(t, lc, tx.clone());
            tasks.track(name, task);
            links.push(link);
        }
        let (waker, outbox_task) = outbox::spawn(store.clone(), links.clone(), clock, cfg.air);
        tasks.track("outbox", outbox_task);
        let (stop, stop_rx) = watch::channel(false);
        let (tap, _) = broadcast::channel(TAP_BUFFER);
        let icfg = IngestConfig {
            keywords: cfg.keywords.clone(),
            towers: cfg.store.towers.clone(),
            patrols: cfg
                .store
                .teams
                .iter()
                .flat_map(|t| t.nodes.iter().map(move |n| (*n, t.name.clone())))
                .collect(),
            station_channel: cfg.store.channel,
            our_nodes: Default::default(),
            municipal_nodes: cfg
                .store
                .municipalities
                .iter()
                .flat_map(|m| m.nodes.iter().copied())
                .collect(),
        };
        let sup = Supervisor {
            store: store.clone(),
            clock,
            waker: waker.clone(),
            icfg,
            tap: tap.clone(),
            #[cfg(debug_assertions)]
            inject_panic: std::env::var_os(INJECT_PANIC).is_some_and(|v| v == SUPERVISOR),
            #[cfg(debug_assertions)]
            inject_slow: std::env::var(INJECT_SLOW)
                .ok()
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis),
        };
        tasks.spawn(SUPERVISOR, sup.run(rx));
        // The uplink notes changes only while configured; what it noted before and did not
        // publish waits for the next time it is.
        if let Err(e) = store.uplink_enable(cfg.uplink.is_some()).await {
            tracing::error!(error = %e, "uplink: cannot record whether it is on");
        }
        let (uplink_view, uplink_rx) = watch::channel(crate::uplink::LinkView::default());
        if let Some(up) = cfg.uplink.clone() {
            tracing::info!(broker = %format!("{}:{}", up.host, up.port), "uplink to headquarters");
            tasks.spawn(
                "uplink",
                crate::uplink::run(
                    up,
                    cfg.store.station.clone(),
                    cfg.place.name.clone(),
                    store.clone(),
                    uplink_view,
                    stop_rx.clone(),
                ),
            );
        }
        tasks.spawn(
            "upkeep",
            tick(
                store.clone(),
                clock,
                (cfg.store.surge.group_every, cfg.store.retention.every),
                stop_rx.clone(),
            ),
        );
        let state = crate::api::ApiState {
            store: store.clone(),
            station: cfg.store.station.clone(),
            teams: cfg.store.teams.clone(),
            radios: links.clone(),
            clock,
            municipalities: cfg.store.municipalities.clone(),
            surge: cfg.store.surge.clone(),
            referrals: cfg.store.referrals.clone(),
            timezone: cfg.timezone.clone(),
            map: crate::api::MapConfig {
                station: cfg.place.clone(),
                towers: {
                    let mut t: Vec<_> = cfg.store.towers.values().cloned().collect();
                    t.sort_by(|a, b| a.name.cmp(&b.name));
                    t
                },
            },
        };
        let desk_addr = desk_listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(l) = desk_listener {
            let (state, desk) = (state.clone(), cfg.desk.clone());
            let mut stop_desk = stop_rx.clone();
            let shutdown = async move {
                let _ = stop_desk.changed().await;
            };
            tasks.spawn("desk listener", async move {
                if let Err(e) = crate::api::serve_desk(l, state, desk, shutdown).await {
                    tracing::error!(error = %e, "desk listener failed: the desk cannot reach this station");
                }
            });
        }
        if let Some((path, listener)) = listener {
            let mut stop_api = stop_rx;
            let shutdown = async move {
                let _ = stop_api.changed().await;
            };
            tasks.spawn("control socket", async move {
                if let Err(e) = crate::api::serve_bound(listener, &path, state, shutdown).await {
                    tracing::error!(error = %e, "control socket failed: faroctl cannot reach this station");
                }
            });
        }
        Ok(Station {
            store,
            links,
            clock,
            desk: desk_addr,
            uplink: uplink_rx,
            waker,
            stop,
            tasks,
            store_thread: Some(store_thread),
            tap,
            events: Some(tx),
        })
    }

    /// Every radio event, for displays (lossy: a slow tap misses events, the station does not).
    pub fn radio_events(&self) -> broadcast::Receiver<RadioEvent> {
        self.tap.subscribe()
    }

    /// Tells the outbox new rows are waiting (after an operator's write).
    pub fn wake_outbox(&self) {
        self.waker.wake();
    }

    /// Radios up / configured.
    pub fn radios_up(&self) -> (usize, usize) {
        (
            self.links
                .iter()
                .filter(|l| l.status().state == LinkState::Up)
                .count(),
            self.links.len(),
        )
    }

    /// Resolves when one of the station's long-lived tasks (a radio link, the supervisor, the
    /// outbox, the upkeep timer, the control socket) panicked or ended on its own: the station
    /// can no longer do its job and must be restarted. Never resolves otherwise.
    pub async fn failed(&self) -> TaskEnd {
        let mut ended = self.tasks.ended.subscribe();
        let end = ended
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|end| end.clone());
        match end {
            Some(end) => end,
            None => std::future::pending().await,
        }
    }

    /// The task that ended unexpectedly, if one did.
    pub fn failure(&self) -> Option<TaskEnd> {
        self.tasks.ended.borrow().clone()
    }

    /// Stops cleanly, losing nothing the radios delivered: the operator's side stops first
    /// (control socket, outbox, upkeep), then the links stop reading and say goodbye to their
    /// radios, then the supervisor commits every event they had already handed over (up to
    /// [`DRAIN_DEADLINE`]), then the store thread commits what it holds and exits.
    ///
    /// Returns the task that panicked or ended on its own, if one did (before or while
    /// stopping): the stop was then not clean.
    pub async fn stop(mut self) -> Option<TaskEnd> {
        self.tasks.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        // The outbox holds link handles and would find its radios gone: it stops first (its
        // rows are durable; a claimed one is sent again by the next start).
        for t in self.tasks.take(|n| n == "outbox") {
            t.abort.abort();
            let _ = t.watcher.await;
        }
        let others = self
            .tasks
            .take(|n| n != SUPERVISOR && !n.starts_with(RADIO));
        join_all(others, LINK_STOP_DEADLINE).await;
        let links = std::mem::take(&mut self.links);
        radio::stop_links(links, LINK_STOP_DEADLINE).await;
        join_all(
            self.tasks.take(|n| n.starts_with(RADIO)),
            LINK_STOP_DEADLINE,
        )
        .await;
        // Every link has stopped and dropped its end of the event queue; with the station's
        // own end dropped too, the supervisor empties it and returns.
        if let Some(tx) = self.events.take() {
            let queued = tx.max_capacity() - tx.capacity();
            tracing::info!(
                queued,
                "radios stopped reading; committing the events they delivered"
            );
        }
        if !join_all(self.tasks.take(|_| true), DRAIN_DEADLINE).await {
            tracing::error!(
                "received events not all committed within {} s",
                DRAIN_DEADLINE.as_secs()
            );
        }
        let thread = self.store_thread.take();
        drop(self.store);
        if let Some(th) = thread {
            let _ = tokio::task::spawn_blocking(move || th.join()).await;
        }
        self.tasks.ended.borrow().clone()
    }

    /// Stops abruptly, as a crash would: tasks are cancelled where they stand. Only what the
    /// store committed survives (tests use this to prove that is enough).
    pub fn crash(self) {
        self.tasks.stopping.store(true, Ordering::SeqCst);
        for t in &self.tasks.list {
            if !t.name.starts_with(RADIO) {
                t.abort.abort();
            }
        }
    }
}

/// `FARO_INJECT_PANIC=supervisor`: the supervisor panics on its first radio event. Read only
/// by debug builds (tests run those); a release build has no such hook.
#[cfg(debug_assertions)]
pub const INJECT_PANIC: &str = "FARO_INJECT_PANIC";

/// `FARO_INJECT_SLOW_SUPERVISOR=MS`: the supervisor waits MS milliseconds before it commits
/// each batch of packets, so that received packets queue up (tests of the draining stop).
/// Debug builds only, like [`INJECT_PANIC`].
#[cfg(debug_assertions)]
pub const INJECT_SLOW: &str = "FARO_INJECT_SLOW_SUPERVISOR";

/// The station's timers: upkeep, ambulance deadlines, surge mode (every `group_every`) and the
/// retention purge (every `purge_every`, the first at the start).
async fn tick(
    store: Store,
    clock: Clock,
    (group_every, purge_every): (Duration, Duration),
    mut stop: watch::Receiver<bool>,
) {
    let mut upkeep = tokio::time::interval(TICK);
    let mut dispatch = tokio::time::interval(DISPATCH_TICK);
    let mut surge = tokio::time::interval(group_every);
    let mut purge = tokio::time::interval(purge_every);
    // A purge missed (a suspended box) runs once, not once per period missed.
    purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let r = tokio::select! {
            _ = upkeep.tick() => store.tick(clock.now_ms()).await,
            _ = dispatch.tick() => store.dispatch_tick(clock.now_ms()).await,
            _ = surge.tick() => store.surge_tick(clock.now_ms()).await,
            _ = purge.tick() => store.purge(clock.now_ms()).await.map(|r| {
                if r.total() > 0 {
                    tracing::info!(
                        personal_records = r.personal_records,
                        messages = r.messages,
                        nodes = r.nodes,
                        incident_positions = r.incident_positions,
                        total = r.total(),
                        "retention: purged what was due"
                    );
                }
            }),
            _ = stop.changed() => return,
        };
        match r {
            Err(StoreError::Stopped) => return,
            Err(e) => tracing::warn!(error = %e, "upkeep failed; will retry"),
            Ok(()) => {}
        }
    }
}

struct Supervisor {
    store: Store,
    clock: Clock,
    waker: OutboxWaker,
    icfg: IngestConfig,
    tap: broadcast::Sender<RadioEvent>,
    #[cfg(debug_assertions)]
    inject_panic: bool,
    #[cfg(debug_assertions)]
    inject_slow: Option<Duration>,
}

impl Supervisor {
    /// Handles radio events until the queue closes: when every link has stopped and the
    /// events they had handed over are committed (the station's draining stop), or the store
    /// stopped.
    async fn run(mut self, mut rx: mpsc::Receiver<RadioEvent>) {
        // An event taken from the queue while gathering packets, not handled yet.
        let mut held: Option<RadioEvent> = None;
        loop {
            let ev = match held.take() {
                Some(ev) => ev,
                None => {
                    let Some(ev) = rx.recv().await else { return };
                    let _ = self.tap.send(ev.clone());
                    ev
                }
            };
            #[cfg(debug_assertions)]
            if self.inject_panic {
                panic!("injected by {INJECT_PANIC}=supervisor");
            }
            let r = if matches!(ev.kind, RadioEventKind::Packet(_)) {
                // The packets already waiting go to the store together: one transaction for
                // many of them instead of one fsync each. In order, whatever radio they came
                // from; the first other event ends the batch and is handled after it.
                let mut batch = vec![ev];
                while batch.len() < INGEST_BATCH {
                    match rx.try_recv() {
                        Ok(next) => {
                            let _ = self.tap.send(next.clone());
                            if matches!(next.kind, RadioEventKind::Packet(_)) {
                                batch.push(next);
                            } else {
                                held = Some(next);
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
                self.packets(batch).await
            } else {
                self.handle(ev).await
            };
            match r {
                Err(StoreError::Stopped) => return,
                // The database cannot take anything any more (read-only, corrupt): retrying
                // would hide it. The supervisor ends, and with it farod, naming the cause.
                Err(e) if e.is_fatal() => {
                    tracing::error!(error = %e, "the database cannot be written: the station stops");
                    return;
                }
                _ => {}
            }
        }
    }

    /// Classifies and commits received packets, in order. A packet the database refused for a
    /// reason that may pass (locked, full) is retried on its own until it commits; a fatal
    /// failure (read-only, corrupt) ends the supervisor.
    async fn packets(&mut self, batch: Vec<RadioEvent>) -> Result<(), StoreError> {
        #[cfg(debug_assertions)]
        if let Some(d) = self.inject_slow {
            tokio::time::sleep(d).await;
        }
        let signals: Vec<(Rx, ingest::Signal)> = batch
            .into_iter()
            .filter_map(|ev| match ev.kind {
                RadioEventKind::Packet(p) => Some(self.signal(ev.radio.to_string(), *p)),
                _ => None,
            })
            .collect();
        let results = self
            .store
            .ingest_many(signals.clone(), self.clock.now_ms())
            .await?;
        for ((rx, signal), r) in signals.into_iter().zip(results) {
            match r {
                Ok(o) => self.ingested(&rx, &o),
                Err(StoreError::Stopped) => return Err(StoreError::Stopped),
                Err(StoreError::Refused(reason)) => {
                    // The reason may quote words from the air: escaped for the log.
                    tracing::warn!(reason = %crate::describe::clean(&reason.to_string()), "signal refused by the store");
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(_) => self.commit_signal(rx, signal).await?,
            }
        }
        Ok(())
    }

    fn signal(&self, radio: String, p: mesh::MeshPacket) -> (Rx, ingest::Signal) {
        let p = unwrap_store_forward(p);
        let signal = ingest::classify(&p, &self.icfg);
        let text = mesh::data(&p)
            .filter(|d| d.portnum == PortNum::TextMessageApp as i32)
            .map(|d| String::from_utf8_lossy(&d.payload).into_owned());
        let rx = Rx {
            radio,
            from: p.from,
            packet_id: p.id,
            hops: mesh::hops_travelled(&p),
            channel: p.channel,
            // Proto3's default: a radio that did not measure it (a packet of its own, a
            // replay) leaves 0.0.
            snr: (p.rx_snr != 0.0).then_some(p.rx_snr),
            text,
            auth: auth(&p, &self.icfg.our_nodes),
        };
        (rx, signal)
    }

    /// After a signal is committed: wake the outbox for its replies, log a new incident.
    fn ingested(&self, rx: &Rx, o: &IngestOutcome) {
        if o.queued > 0 {
            self.waker.wake();
        }
        if let Some((id, opened)) = o.incident.as_ref().filter(|(_, opened)| *opened) {
            tracing::warn!(incident = %id, from = %mesh::NodeId(rx.from), radio = %rx.radio, opened, "distress: incident opened");
        }
    }

    async fn handle(&mut self, ev: RadioEvent) -> Result<(), StoreError> {
        let radio = ev.radio.to_string();
        match ev.kind {
            RadioEventKind::Up(info) => {
                self.icfg.our_nodes.insert(info.node_num());
                Ok(())
            }
            RadioEventKind::Packet(p) => {
                let (rx, signal) = self.signal(radio, *p);
                self.commit_signal(rx, signal).await
            }
            RadioEventKind::Node(n) => {
                let Some(u) = n.user else { return Ok(()) };
                let signal = ingest::Signal::NodeInfo {
                    node: n.num,
                    long_name: u.long_name,
                    short_name: u.short_name,
                    key: crate::trust::PublicKey::from_bytes(&u.public_key),
                    from_radio: true,
                };
                self.commit_signal(
                    Rx {
                        radio,
                        from: n.num,
                        packet_id: 0,
                        hops: None,
                        ..Rx::default()
                    },
                    signal,
                )
                .await
            }
            RadioEventKind::Delivery { id, outcome, .. } => {
                let r = self
                    .store
                    .outbox_delivery(&radio, id, outcome, self.clock.now_ms())
                    .await;
                if let Err(e) = &r {
                    tracing::warn!(error = %e, "delivery result not recorded");
                }
                self.waker.wake();
                r.or_else(|e| {
                    if matches!(e, StoreError::Stopped) {
                        Err(e)
                    } else {
                        Ok(())
                    }
                })
            }
            RadioEventKind::Down { .. }
            | RadioEventKind::GaveUp { .. }
            | RadioEventKind::Rebooted => Ok(()),
        }
    }

    /// Commits a signal, retrying while the database refuses (locked, full, read-only): the
    /// radio's events wait meanwhile, so nothing heard is dropped and nothing is answered
    /// before it is on disk.
    async fn commit_signal(&self, rx: Rx, signal: ingest::Signal) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(250);
        let mut failures = 0u32;
        loop {
            match self
                .store
                .ingest(rx.clone(), signal.clone(), self.clock.now_ms())
                .await
            {
                Ok(o) => {
                    if failures > 0 {
                        tracing::info!(failures, "database writable again");
                    }
                    self.ingested(&rx, &o);
                    return Ok(());
                }
                Err(StoreError::Refused(reason)) => {
                    // The reason may quote words from the air: escaped for the log.
                    tracing::warn!(reason = %crate::describe::clean(&reason.to_string()), "signal refused by the store");
                    return Ok(());
                }
                // Only what may pass by itself (busy, full, an I/O error) is retried.
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures % 20 == 0 {
                        tracing::error!(error = %e, failures, "cannot commit a received signal; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(COMMIT_RETRY_MAX);
                }
            }
        }
    }
}

/// A Store & Forward replay carries the original text with the original sender and packet id:
/// turn it back into the text packet it was, so it is classified (and deduplicated) as such.
pub fn unwrap_store_forward(p: mesh::MeshPacket) -> mesh::MeshPacket {
    let Some(d) = mesh::data(&p) else { return p };
    if d.portnum != PortNum::StoreForwardApp as i32 {
        return p;
    }
    let Ok(sf) = StoreAndForward::decode(d.payload.as_slice()) else {
        return p;
    };
    let replay = [
        store_and_forward::RequestResponse::RouterTextDirect as i32,
        store_and_forward::RequestResponse::RouterTextBroadcast as i32,
    ];
    match sf.variant {
        Some(store_and_forward::Variant::Text(text)) if replay.contains(&sf.rr) => {
            let mut out = p.clone();
            if let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut out.payload_variant {
                d.portnum = PortNum::TextMessageApp as i32;
                d.payload = text;
            }
            out
        }
        _ => p,
    }
}

/// How a packet reached the station, as the radio reported it: addressed to one of our radios
/// or not, decrypted with the sender's own key (PKI) and which, bridged from MQTT or not.
fn auth(
    p: &faro_proto::mesh::MeshPacket,
    our_nodes: &std::collections::HashSet<u32>,
) -> crate::trust::Auth {
    let key = crate::trust::PublicKey::from_bytes(&p.public_key);
    crate::trust::Auth {
        direct: our_nodes.contains(&p.to),
        pki: p.pki_encrypted && key.is_some(),
        key: key.filter(|_| p.pki_encrypted),
        via_mqtt: p.via_mqtt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_forward_replays_become_the_original_text() {
        let sf = StoreAndForward {
            rr: store_and_forward::RequestResponse::RouterTextBroadcast as i32,
            variant: Some(store_and_forward::Variant::Text(b"\x07SOS".to_vec())),
        };
        let mut p = mesh::packet(PortNum::StoreForwardApp, sf.encode_to_vec());
        p.from = 0x5a5a_0201;
        p.id = 77;
        let t = unwrap_store_forward(p);
        assert_eq!((t.from, t.id), (0x5a5a_0201, 77));
        assert_eq!(mesh::portnum(&t), Some(PortNum::TextMessageApp));
        assert_eq!(
            mesh::data(&t).map(|d| d.payload.clone()),
            Some(b"\x07SOS".to_vec())
        );
        // Anything else on the port is left alone.
        let hb = StoreAndForward {
            rr: store_and_forward::RequestResponse::RouterHeartbeat as i32,
            variant: None,
        };
        let q = mesh::packet(PortNum::StoreForwardApp, hb.encode_to_vec());
        assert_eq!(unwrap_store_forward(q.clone()), q);
    }

    #[tokio::test]
    async fn the_timers_purge_what_is_due_from_the_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _writer) =
            Store::open(&dir.path().join("faro.db"), StoreConfig::new("SAS")).expect("store");
        let clock = Clock::start();
        let chat = |at_days_ago: i64, from: u32| {
            let rx = Rx {
                radio: "r0".into(),
                from,
                packet_id: from,
                text: Some("hola".into()),
                ..Rx::default()
            };
            let s = ingest::Signal::Activity {
                node: from,
                portnum: 1,
                bytes: 4,
            };
            (rx, s, clock.now_ms() - at_days_ago * 86_400_000)
        };
        // Heard 100 days ago (the default keeps 90) and today.
        for (rx, s, at) in [chat(100, 0x42), chat(0, 0x43)] {
            store.ingest(rx, s, at).await.expect("ingest");
        }
        let (stop, stop_rx) = watch::channel(false);
        let timers = tokio::spawn(tick(
            store.clone(),
            clock,
            (Duration::from_secs(30), Duration::from_secs(3600)),
            stop_rx,
        ));
        let db = rusqlite::Connection::open(store.path()).expect("open");
        let left = || -> i64 {
            db.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
                .expect("count")
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while left() != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "not purged: {}",
                left()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let what: String = db
            .query_row(
                "SELECT what FROM events WHERE who = 'system' AND via = 'timer'",
                [],
                |r| r.get(0),
            )
            .expect("the purge's event");
        assert!(
            what.starts_with("retention: purged 0 personal records, 1 messages"),
            "{what}"
        );
        let _ = stop.send(true);
        timers.await.expect("the timers stop");
    }
}
