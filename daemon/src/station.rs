//! The station: everything `farod run` starts, wired together, as one value tests can start
//! and stop. Data flows one way (DESIGN.md §3): radio links -> supervisor (classify with
//! [`ingest`](crate::ingest)) -> store (commit) -> outbox -> radio links; delivery results go
//! back to the store. Each hop has one owner and a bounded queue.

use std::path::PathBuf;
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

/// What a station needs beyond its radios.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Store settings (station code, teams, towers, catalogue...).
    pub store: StoreConfig,
    /// Distress keywords.
    pub keywords: ingest::Keywords,
    /// The database file.
    pub db_path: PathBuf,
    /// The control socket (none: no socket, as in tests that drive the store directly).
    pub socket: Option<PathBuf>,
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
    waker: OutboxWaker,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    store_thread: Option<std::thread::JoinHandle<()>>,
    tap: broadcast::Sender<RadioEvent>,
}

impl Station {
    /// Opens the database (migrating it), then starts the links, the supervisor, the outbox and
    /// the upkeep timer. Returns once the database is ready (a missing radio is not an error).
    pub async fn start(
        cfg: StationConfig,
        radios: Vec<(LinkConfig, Transport)>,
    ) -> Result<Station, StoreError> {
        let clock = Clock::start();
        let db_path = cfg.db_path.clone();
        let store_cfg = cfg.store.clone();
        let (store, store_thread) =
            tokio::task::spawn_blocking(move || Store::open(&db_path, store_cfg))
                .await
                .map_err(|e| StoreError::Db(e.to_string()))??;
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let links: Vec<LinkHandle> = radios
            .into_iter()
            .map(|(lc, t)| radio::spawn(t, lc, tx.clone()))
            .collect();
        drop(tx);
        let (waker, outbox_task) = outbox::spawn(store.clone(), links.clone(), clock);
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
        };
        let sup_task = tokio::spawn(sup.run(rx, stop_rx.clone()));
        let tick_task = tokio::spawn(tick(store.clone(), clock, stop_rx.clone()));
        let mut tasks = vec![sup_task, tick_task, outbox_task];
        if let Some(path) = cfg.socket.clone() {
            let state = crate::api::ApiState {
                store: store.clone(),
                station: cfg.store.station.clone(),
                teams: cfg.store.teams.clone(),
                radios: links.clone(),
                clock,
                municipalities: cfg.store.municipalities.clone(),
            };
            let mut stop_api = stop_rx;
            let shutdown = async move {
                let _ = stop_api.changed().await;
            };
            tasks.push(tokio::spawn(async move {
                if let Err(e) = crate::api::serve(&path, state, shutdown).await {
                    tracing::error!(error = %e, "control socket unavailable: faroctl cannot reach this station");
                }
            }));
        }
        Ok(Station {
            store,
            links,
            clock,
            waker,
            stop,
            tasks,
            store_thread: Some(store_thread),
            tap,
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

    /// Stops cleanly: the supervisor finishes the event in hand, the links say goodbye to
    /// their radios, the store thread commits what it holds and exits.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        // The supervisor and the outbox hold link handles: stop them first, then the links
        // (each says goodbye to its radio), then the store thread.
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        let links = std::mem::take(&mut self.links);
        crate::app::stop_links(links).await;
        let thread = self.store_thread.take();
        drop(self.store);
        if let Some(th) = thread {
            let _ = tokio::task::spawn_blocking(move || th.join()).await;
        }
    }

    /// Stops abruptly, as a crash would: tasks are cancelled where they stand. Only what the
    /// store committed survives (tests use this to prove that is enough).
    pub fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn tick(store: Store, clock: Clock, mut stop: watch::Receiver<bool>) {
    let mut upkeep = tokio::time::interval(TICK);
    let mut dispatch = tokio::time::interval(DISPATCH_TICK);
    loop {
        let r = tokio::select! {
            _ = upkeep.tick() => store.tick(clock.now_ms()).await,
            _ = dispatch.tick() => store.dispatch_tick(clock.now_ms()).await,
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
}

impl Supervisor {
    async fn run(mut self, mut rx: mpsc::Receiver<RadioEvent>, mut stop: watch::Receiver<bool>) {
        // An event taken from the queue while gathering packets, not handled yet.
        let mut held: Option<RadioEvent> = None;
        loop {
            let ev = match held.take() {
                Some(ev) => ev,
                None => {
                    let ev = tokio::select! {
                        ev = rx.recv() => match ev { Some(ev) => ev, None => return },
                        _ = stop.changed() => return,
                    };
                    let _ = self.tap.send(ev.clone());
                    ev
                }
            };
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
            if let Err(StoreError::Stopped) = r {
                return;
            }
        }
    }

    /// Classifies and commits received packets, in order. A packet the database refused for a
    /// reason that may pass (locked, full) is retried on its own until it commits.
    async fn packets(&mut self, batch: Vec<RadioEvent>) -> Result<(), StoreError> {
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
                    tracing::warn!(%reason, "signal refused by the store");
                }
                Err(_) => self.commit_signal(rx, signal).await?,
            }
        }
        Ok(())
    }

    fn signal(&self, radio: String, p: mesh::MeshPacket) -> (Rx, ingest::Signal) {
        let p = unwrap_store_forward(p);
        let signal = ingest::classify(&p, &self.icfg);
        let rx = Rx {
            radio,
            from: p.from,
            packet_id: p.id,
            hops: mesh::hops_travelled(&p),
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
                };
                self.commit_signal(
                    Rx {
                        radio,
                        from: n.num,
                        packet_id: 0,
                        hops: None,
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
                Err(StoreError::Stopped) => return Err(StoreError::Stopped),
                Err(StoreError::Refused(reason)) => {
                    tracing::warn!(%reason, "signal refused by the store");
                    return Ok(());
                }
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
}
