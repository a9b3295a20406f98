//! The store: the station's SQLite database. One named thread owns the only write connection
//! and takes typed commands over a bounded channel, each with a oneshot reply; it batches what
//! is waiting into one `BEGIN IMMEDIATE` transaction (a savepoint per command, so one refusal
//! does not undo its neighbours) and replies only after `COMMIT` returned with
//! `synchronous=FULL`. Queries use their own read-only connections ([`query`]).
//!
//! Nothing is acknowledged to anybody before its transaction has committed: replies to senders
//! are outbox rows written in the same transaction as the incident they answer, and the outbox
//! task sends them only after the commit.

pub mod migrations;
pub mod query;
pub mod users;
mod worker;

pub use worker::NO_KEY;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use crate::desk::{
    ManualReport, OperatorRequest, RetentionConfig, Rx, StoreConfig, TeamConfig,
};
pub use crate::error::{Refusal, StoreError};
use crate::ingest::Signal;
use crate::radio::DeliveryOutcome;
pub use worker::PurgeReport;

/// Commands waiting for the writer thread. Senders wait when it is full (backpressure).
pub const COMMAND_QUEUE: usize = 1024;
/// Commands committed together at most. Received packets come 1,024 at a time under load
/// (`station::INGEST_BATCH`): bigger transactions rewrite fewer pages per packet (faro-bench
/// ingest: 256 -> 71k packets/s, 1,024 -> 85-97k).
pub const MAX_BATCH: usize = 1024;
/// Live events kept for slow watchers before they miss some (they are told how many).
pub const EVENT_BUFFER: usize = 1024;

/// What happened to a received signal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngestOutcome {
    /// Already seen (same sender and packet id): nothing done.
    pub duplicate: bool,
    /// The incident opened (true) or updated (false).
    pub incident: Option<(String, bool)>,
    /// Outbox rows queued.
    pub queued: usize,
}

/// One message to send, claimed from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Row id.
    pub row: i64,
    /// 0 distress reply, 1 patrol, 2 other.
    pub class: u8,
    /// Destination node.
    pub dest: u32,
    /// Channel.
    pub channel: u32,
    /// Port.
    pub portnum: i32,
    /// Payload.
    pub payload: Vec<u8>,
    /// Ask for an ACK.
    pub want_ack: bool,
    /// The radios that heard the destination within [`RADIO_MEMORY`], the latest first (else
    /// the one that heard it last, if any), with how it was heard: the outbox sends on one of
    /// these.
    pub routes: Vec<Route>,
}

/// How one radio last heard a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The radio.
    pub radio: String,
    /// Hops the node's last packet took to it (None: unknown).
    pub hops: Option<u32>,
    /// The channel index it came on (None: unknown).
    pub channel: Option<u32>,
}

/// What the conversation calls a registered patrol's free text (`messages.understood`).
pub const PATROL_NOTE: &str = "patrol note";

/// How long a radio counts as one that can reach a node it heard.
pub const RADIO_MEMORY: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// An entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventView {
    /// Row id (increasing).
    pub id: i64,
    /// Incident, if any.
    pub incident: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub who: String,
    /// Through what.
    pub via: String,
    /// What.
    pub what: String,
}

/// A message as it commits, for live watchers (`GET /v1/events?messages=true`): the text
/// heard or queued, with its row id and incident. An outgoing one is `pending` here; its later
/// delivery states are read from the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageLive {
    /// Row id (increasing).
    pub id: i64,
    /// The incident it belongs to, if any.
    pub incident: Option<String>,
    /// The message.
    #[serde(flatten)]
    pub message: query::MessageView,
}

/// What the writer publishes after a commit, in commit order.
#[derive(Debug, Clone)]
enum Live {
    Event(EventView),
    Message(MessageLive),
}

/// Commands to the writer thread.
#[derive(Debug)]
enum Cmd {
    Ingest {
        rx: Rx,
        signal: Box<Signal>,
        at: i64,
    },
    Operator {
        who: String,
        req: OperatorRequest,
        at: i64,
    },
    OutboxClaim {
        at: i64,
        limit: usize,
        /// Only rows of a class below this one (more urgent).
        below: u8,
    },
    OutboxRelease {
        rows: Vec<i64>,
    },
    OutboxWanted {
        row: i64,
    },
    OutboxSent {
        row: i64,
        radio: String,
        packet_id: u32,
        at: i64,
        /// Whether an ACK was asked for (else the row is done once on air).
        ack: bool,
    },
    OutboxDelivery {
        radio: String,
        packet_id: u32,
        outcome: DeliveryOutcome,
        at: i64,
    },
    OutboxRetry {
        row: i64,
        error: String,
        at: i64,
    },
    OutboxFailed {
        row: i64,
        error: String,
        at: i64,
    },
    Tick {
        at: i64,
    },
    DispatchTick {
        at: i64,
    },
    SurgeTick {
        at: i64,
    },
    Case {
        who: String,
        req: crate::casework::request::CaseRequest,
        at: i64,
    },
    /// Retention: purge what is due at `at`; `via`: `timer` or `faroctl`.
    Purge {
        at: i64,
        via: &'static str,
        /// Who asked: `system` for the timer, the operator for `faroctl purge`.
        who: String,
    },
    /// The uplink: turn its noting on or off (`[uplink]` configured or not).
    UplinkEnable {
        on: bool,
    },
    /// The uplink: the broker acknowledged everything up to `seq`.
    UplinkAcked {
        seq: i64,
    },
    /// Users and sessions of the desk (`users`).
    Users {
        who: String,
        via: &'static str,
        req: users::UserRequest,
        at: i64,
    },
    Ping,
}

#[derive(Debug)]
enum Reply {
    Ingest(IngestOutcome),
    Operator(String),
    Claimed(Vec<OutboxItem>),
    Wanted(bool),
    Case(serde_json::Value),
    Purged(PurgeReport),
    Done,
}

struct Job {
    cmd: Cmd,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

/// A handle to the writer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    tx: mpsc::Sender<Job>,
    events: broadcast::Sender<EventView>,
    messages: broadcast::Sender<MessageLive>,
    path: PathBuf,
    health: Health,
}

/// The writer's last word on the database: `None` while transactions commit, else why the
/// last one did not (locked, full, read-only...). Shared with the writer thread. A fatal error
/// (read-only, corrupt) stays: the daemon ends on it.
#[derive(Debug, Clone, Default)]
pub struct Health(std::sync::Arc<std::sync::Mutex<Option<StoreError>>>);

impl Health {
    fn get(&self) -> Option<StoreError> {
        self.0
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Why the last transaction failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.get().map(|e| e.to_string())
    }

    /// The database failed in a way that does not pass by itself (read-only, corrupt).
    pub fn fatal(&self) -> Option<StoreError> {
        self.get().filter(StoreError::is_fatal)
    }

    pub(crate) fn set(&self, e: Option<StoreError>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Once fatal, always fatal: a later read-only commit must not make it look healthy.
        if g.as_ref().is_some_and(StoreError::is_fatal) {
            return;
        }
        *g = e;
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cmd.fmt(f)
    }
}

impl Store {
    /// Opens (creating) the database at `path`, migrates it, and starts the writer thread.
    /// Returns when the database is ready: the daemon reports READY after this.
    pub fn open(
        path: &Path,
        cfg: StoreConfig,
    ) -> Result<(Store, std::thread::JoinHandle<()>), StoreError> {
        let conn = worker::open_write(path)?;
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (messages, _) = broadcast::channel(EVENT_BUFFER);
        let health = Health::default();
        let w = worker::Worker::new(
            conn,
            cfg,
            (events.clone(), messages.clone()),
            health.clone(),
        )?;
        let thread = std::thread::Builder::new()
            .name("faro-store".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StoreError::Db(format!("cannot start the store thread: {e}")))?;
        Ok((
            Store {
                tx,
                events,
                messages,
                path: path.to_path_buf(),
                health,
            },
            thread,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the last transaction failed (`None` while the database commits): for `STATUS=`
    /// lines and the control socket's status.
    pub fn last_error(&self) -> Option<String> {
        self.health.last_error()
    }

    /// A database failure that will not pass by itself (read-only, corrupt): the daemon
    /// reports it and ends so that systemd restarts it and the operator sees why.
    pub fn fatal_error(&self) -> Option<StoreError> {
        self.health.fatal()
    }

    /// Live audit events, as they commit.
    pub fn subscribe(&self) -> broadcast::Receiver<EventView> {
        self.events.subscribe()
    }

    /// Live messages (texts heard and queued), as they commit. Not replayed: a watcher that
    /// falls behind is told how many it missed, and reads them from the database.
    pub fn subscribe_messages(&self) -> broadcast::Receiver<MessageLive> {
        self.messages.subscribe()
    }

    async fn call(&self, cmd: Cmd) -> Result<Reply, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { cmd, reply })
            .await
            .map_err(|_| StoreError::Stopped)?;
        // Wait on a blocking-pool thread rather than the runtime: the writer thread is outside
        // tokio, and a runtime with paused time (tests) would otherwise see itself idle and
        // jump its clock ahead while a commit is in progress. Costs one thread hand-off.
        tokio::task::spawn_blocking(move || rx.blocking_recv())
            .await
            .map_err(|_| StoreError::Stopped)?
            .map_err(|_| StoreError::Stopped)?
    }

    /// Records a received signal; returns once committed.
    pub async fn ingest(
        &self,
        rx: Rx,
        signal: Signal,
        at: i64,
    ) -> Result<IngestOutcome, StoreError> {
        match self
            .call(Cmd::Ingest {
                rx,
                signal: Box::new(signal),
                at,
            })
            .await?
        {
            Reply::Ingest(o) => Ok(o),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Records several received signals, in order, without waiting for each commit before
    /// queueing the next: the writer commits them in as few transactions as its batches allow
    /// (one fsync for many packets). One result per signal, in order; each is committed when
    /// its `Ok` is returned. `Err` for the whole call only when the store has stopped.
    pub async fn ingest_many(
        &self,
        signals: Vec<(Rx, Signal)>,
        at: i64,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
        let mut waits = Vec::with_capacity(signals.len());
        let mut signals = signals.into_iter().peekable();
        while signals.peek().is_some() {
            // Room for as many as fit at once, then all queued without a pause, so the writer
            // finds them together and commits them in one transaction.
            let room = signals.len().min(COMMAND_QUEUE);
            let permits = self
                .tx
                .reserve_many(room)
                .await
                .map_err(|_| StoreError::Stopped)?;
            for (permit, (rx, signal)) in permits.zip(signals.by_ref()) {
                let (reply, wait) = oneshot::channel();
                let cmd = Cmd::Ingest {
                    rx,
                    signal: Box::new(signal),
                    at,
                };
                permit.send(Job { cmd, reply });
                waits.push(wait);
            }
        }
        // One blocking-pool hand-off for the whole batch (see `call`).
        tokio::task::spawn_blocking(move || {
            waits
                .into_iter()
                .map(|w| match w.blocking_recv() {
                    Ok(Ok(Reply::Ingest(o))) => Ok(o),
                    Ok(Ok(other)) => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(StoreError::Stopped),
                })
                .collect()
        })
        .await
        .map_err(|_| StoreError::Stopped)
    }

    /// Carries out a request about the desk's users or sessions for `who` (the operator, as
    /// the audit trail names it after `operator:`), coming `via` (`faroctl`, `desk`).
    pub async fn users(
        &self,
        who: &str,
        via: &'static str,
        req: users::UserRequest,
        at: i64,
    ) -> Result<serde_json::Value, StoreError> {
        match self
            .call(Cmd::Users {
                who: who.to_string(),
                via,
                req,
                at,
            })
            .await?
        {
            Reply::Case(v) => Ok(v),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Turns the uplink's noting of changes on or off (off: what was not yet published is
    /// kept until it is on again and published).
    pub async fn uplink_enable(&self, on: bool) -> Result<(), StoreError> {
        match self.call(Cmd::UplinkEnable { on }).await? {
            Reply::Done => Ok(()),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Records that the broker acknowledged everything up to `seq` (never moves back), and
    /// forgets those rows.
    pub async fn uplink_acked(&self, seq: i64) -> Result<(), StoreError> {
        match self.call(Cmd::UplinkAcked { seq }).await? {
            Reply::Done => Ok(()),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Carries out an operator's request; returns the incident id it concerns.
    pub async fn operator(
        &self,
        who: &str,
        req: OperatorRequest,
        at: i64,
    ) -> Result<String, StoreError> {
        match self
            .call(Cmd::Operator {
                who: who.to_string(),
                req,
                at,
            })
            .await?
        {
            Reply::Operator(id) => Ok(id),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Claims up to `limit` due outbox rows, most urgent class first.
    pub async fn outbox_claim(&self, at: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_claim_below(at, limit, u8::MAX).await
    }

    /// Claims up to `limit` due outbox rows of a class more urgent than `below`.
    pub async fn outbox_claim_below(
        &self,
        at: i64,
        limit: usize,
        below: u8,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        match self.call(Cmd::OutboxClaim { at, limit, below }).await? {
            Reply::Claimed(v) => Ok(v),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Claimed rows that were not sent go back to the queue as they were (a more urgent row
    /// took their place in memory).
    pub async fn outbox_release(&self, rows: Vec<i64>) -> Result<(), StoreError> {
        self.call(Cmd::OutboxRelease { rows }).await.map(|_| ())
    }

    /// Whether a claimed row is still to be sent (the desk did not drop it meanwhile because
    /// its reason ended).
    pub async fn outbox_still_wanted(&self, row: i64) -> Result<bool, StoreError> {
        match self.call(Cmd::OutboxWanted { row }).await? {
            Reply::Wanted(w) => Ok(w),
            _ => Ok(true),
        }
    }

    /// A claimed row went to `radio` as packet `packet_id`.
    pub async fn outbox_sent(
        &self,
        row: i64,
        radio: &str,
        packet_id: u32,
        at: i64,
    ) -> Result<(), StoreError> {
        self.sent(row, radio, packet_id, at, true).await
    }

    /// A claimed row went to `radio` as packet `packet_id` without asking for an ACK (hop
    /// limit 0 to a node heard directly): it is done, whatever the row wished.
    pub async fn outbox_sent_unacked(
        &self,
        row: i64,
        radio: &str,
        packet_id: u32,
        at: i64,
    ) -> Result<(), StoreError> {
        self.sent(row, radio, packet_id, at, false).await
    }

    async fn sent(
        &self,
        row: i64,
        radio: &str,
        packet_id: u32,
        at: i64,
        ack: bool,
    ) -> Result<(), StoreError> {
        self.call(Cmd::OutboxSent {
            row,
            radio: radio.to_string(),
            packet_id,
            at,
            ack,
        })
        .await
        .map(|_| ())
    }

    /// The routing result of a packet sent by `radio`.
    pub async fn outbox_delivery(
        &self,
        radio: &str,
        packet_id: u32,
        outcome: DeliveryOutcome,
        at: i64,
    ) -> Result<(), StoreError> {
        self.call(Cmd::OutboxDelivery {
            radio: radio.to_string(),
            packet_id,
            outcome,
            at,
        })
        .await
        .map(|_| ())
    }

    /// A claimed row could not be sent now (no radio up): try again later.
    pub async fn outbox_retry(&self, row: i64, error: &str, at: i64) -> Result<(), StoreError> {
        self.call(Cmd::OutboxRetry {
            row,
            error: error.to_string(),
            at,
        })
        .await
        .map(|_| ())
    }

    /// A claimed row can never be sent (the link refused it): marked failed, with an event.
    pub async fn outbox_failed(&self, row: i64, error: &str, at: i64) -> Result<(), StoreError> {
        self.call(Cmd::OutboxFailed {
            row,
            error: error.to_string(),
            at,
        })
        .await
        .map(|_| ())
    }

    /// Periodic upkeep: team status changes, old dedup entries.
    pub async fn tick(&self, at: i64) -> Result<(), StoreError> {
        self.call(Cmd::Tick { at }).await.map(|_| ())
    }

    /// Ambulance deadlines and reminders (run every few seconds; timers live in the database,
    /// so they survive a restart).
    pub async fn dispatch_tick(&self, at: i64) -> Result<(), StoreError> {
        self.call(Cmd::DispatchTick { at }).await.map(|_| ())
    }

    /// Surge mode: grouped acknowledgements go out, the mode starts or ends (every
    /// `[surge] group_every`).
    pub async fn surge_tick(&self, at: i64) -> Result<(), StoreError> {
        self.call(Cmd::SurgeTick { at }).await.map(|_| ())
    }

    /// Carries out a casework request (consent, personal records, aid, complaints,
    /// disclosures, the data key); returns what the desk shows.
    pub async fn casework(
        &self,
        who: &str,
        req: crate::casework::request::CaseRequest,
        at: i64,
    ) -> Result<serde_json::Value, StoreError> {
        match self
            .call(Cmd::Case {
                who: who.to_string(),
                req,
                at,
            })
            .await?
        {
            Reply::Case(v) => Ok(v),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Retention (`[retention]`): purges the personal data that is due at `at` (never what is
    /// not yet due), then empties the WAL; the timer's call. Returns what was purged, in counts.
    pub async fn purge(&self, at: i64) -> Result<PurgeReport, StoreError> {
        self.purge_via(at, "timer", "system").await
    }

    /// [`Store::purge`] asked by an operator (`faroctl purge`; `who` as the audit trail names
    /// operators, e.g. `operator:ana`): always recorded in the audit trail with who asked, also
    /// when nothing was due.
    pub async fn purge_now(&self, at: i64, who: &str) -> Result<PurgeReport, StoreError> {
        self.purge_via(at, "faroctl", who).await
    }

    async fn purge_via(
        &self,
        at: i64,
        via: &'static str,
        who: &str,
    ) -> Result<PurgeReport, StoreError> {
        let who = who.to_string();
        match self.call(Cmd::Purge { at, via, who }).await? {
            Reply::Purged(r) => Ok(r),
            other => Err(StoreError::Db(format!("unexpected reply {other:?}"))),
        }
    }

    /// Answers when the writer thread is alive and not stuck (the watchdog asks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(Cmd::Ping).await.map(|_| ())
    }
}

/// Unix milliseconds as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
