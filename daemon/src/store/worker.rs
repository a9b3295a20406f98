//! The writer thread: the only code that writes the database. Group commit with a savepoint
//! per command; replies and live events go out only after COMMIT.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, mpsc};

use super::{
    Cmd, EventView, IngestOutcome, Job, Live, MessageLive, OutboxItem, Reply, Rx, StoreConfig,
    StoreError,
};
use crate::desk::{Decision, Desk};
use crate::ingest::Signal;
use facts::SqlFacts;

mod apply;
mod casework;
mod facts;
mod purge;
mod users;

pub use purge::PurgeReport;

pub use casework::NO_KEY;

/// `FARO_INJECT_READONLY=FILE` (debug builds only, for tests): once FILE exists, the writer's
/// connection refuses every write (SQLite's `query_only`), which SQLite reports exactly as a
/// database on a file system turned read-only. A running farod cannot be given a read-only
/// mount otherwise: the kernel refuses to remount while the database is open for writing.
#[cfg(debug_assertions)]
pub const INJECT_READONLY: &str = "FARO_INJECT_READONLY";

/// Dedup entries older than this are forgotten (Store & Forward replays reach back 4 h).
const SEEN_KEEP_MS: i64 = 24 * 3600 * 1000;
/// Packets that may change state (a patrol's command or note, a municipality's answer) are
/// remembered this long: a captured packet played again within it does nothing, also after a
/// restart. (Ids are 32-bit and random per packet; a row is about 30 bytes.)
const SEEN_KEEP_COMMANDS_MS: i64 = 90 * 24 * 3600 * 1000;
/// How long the writer waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements the writer keeps (it runs about 60 different ones).
const STATEMENT_CACHE: usize = 128;

/// Opens the write connection with the settings that make a commit durable.
pub(super) fn open_write(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |cause: String| StoreError::Open {
        path: path.to_path_buf(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if dir.exists() && !dir.is_dir() {
            return Err(open_err("its directory is a file".into()));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("cannot create its directory: {e}")))?;
    }
    let mut conn =
        Connection::open(path).map_err(|e| open_err(crate::error::open_cause(path, &e)))?;
    // SQLite opens lazily: the first statement is where a foreign file shows. A file it could
    // only open read-only (it falls back silently) is refused here, with the reason.
    conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
        .map_err(|e| open_err(crate::error::open_cause(path, &e)))?;
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(open_err(crate::error::readonly_cause(path)));
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 1 MiB of page cache (SQLite's default is 2): with 1,024-packet transactions it kept
    // farod's peak RSS under 19 MiB during faro-bench ingest at ~85-90k packets/s (2 MiB:
    // 19.9 MiB, ~97k/s). Readers have connections of their own.
    conn.pragma_update(None, "cache_size", -1024)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Deleted content is overwritten with zeros, not merely marked free: what retention purges
    // (or a destroyed key) is gone from the file, not waiting to be reused. The WAL's old
    // pages go at the checkpoint after a purge (`Worker::scrub`). Cost: none measurable on
    // faro-bench ingest (BENCHMARKS.md §1).
    conn.pragma_update(None, "secure_delete", true)?;
    super::migrations::migrate(&mut conn).map_err(open_err)?;
    // Every statement the writer runs stays prepared (see `Worker::exec`).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

pub(super) struct Worker {
    conn: Connection,
    cfg: StoreConfig,
    events: broadcast::Sender<EventView>,
    messages: broadcast::Sender<MessageLive>,
    /// What goes to live watchers once the transaction commits.
    pending_events: Vec<Live>,
    health: super::Health,
    /// The keys of personal records.
    keys: casework::Keys,
    /// The data key was destroyed in this batch: forget it once committed.
    wiped: bool,
    /// A data key made in this batch (forgotten if the batch does not commit).
    new_key: Option<i64>,
    /// A command of this batch removed personal data: empty the WAL once it has committed.
    scrub_after_commit: bool,
    /// The last scrub could not empty the WAL (a reader held old pages): the next purge
    /// scrubs again, also when it finds nothing to purge.
    scrub_owed: std::cell::Cell<bool>,
}

type Res<T> = Result<T, StoreError>;
/// Where a job's result goes.
type Answer = tokio::sync::oneshot::Sender<Res<Reply>>;

impl Worker {
    /// Runs one statement through the connection's statement cache: parsed once, not per
    /// packet.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    pub(super) fn new(
        conn: Connection,
        cfg: StoreConfig,
        (events, messages): (broadcast::Sender<EventView>, broadcast::Sender<MessageLive>),
        health: super::Health,
    ) -> Res<Worker> {
        // Rows that were being sent when farod stopped go out again: at least once, never lost.
        conn.execute(
            "UPDATE outbox SET state = 'pending' WHERE state IN ('sending', 'sent')",
            [],
        )?;
        for t in &cfg.teams {
            conn.execute(
                "INSERT OR IGNORE INTO teams(name, status, changed_at) VALUES (?1, 'unknown', 0)",
                [&t.name],
            )?;
        }
        let keys = casework::Keys::load(&conn, cfg.personal_key.clone())?;
        let mut w = Worker {
            conn,
            cfg,
            events,
            messages,
            pending_events: Vec::new(),
            health,
            keys,
            wiped: false,
            new_key: None,
            scrub_after_commit: false,
            scrub_owed: std::cell::Cell::new(false),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        w.seal_legacy_notes(now)?;
        Ok(w)
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        #[cfg(debug_assertions)]
        let inject_readonly = std::env::var_os(INJECT_READONLY).map(std::path::PathBuf::from);
        while let Some(first) = rx.blocking_recv() {
            #[cfg(debug_assertions)]
            if inject_readonly.as_ref().is_some_and(|f| f.exists()) {
                // SQLite's own refusal, as from a file system remounted read-only.
                let _ = self.conn.pragma_update(None, "query_only", true);
            }
            let mut batch = vec![first];
            while batch.len() < super::MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
        tracing::debug!("store thread stopping: every handle dropped");
    }

    fn run_batch(&mut self, batch: Vec<Job>) {
        let Some(batch) = self.begin(batch) else {
            return;
        };
        // Received packets under load: the whole batch without a savepoint per packet (they
        // cost about a sixth of the writer's time). If any packet fails, nothing of this
        // attempt is kept and the batch runs again the careful way.
        let batch = if batch.len() > 1 && batch.iter().all(|j| matches!(j.cmd, Cmd::Ingest { .. }))
        {
            match self.ingest_batch_fast(batch) {
                None => return,
                Some(batch) => match self.begin(batch) {
                    Some(batch) => batch,
                    None => return,
                },
            }
        } else {
            batch
        };
        let changes_before = self.conn.total_changes();
        let mut results = Vec::with_capacity(batch.len());
        for job in batch {
            let mark = self.pending_events.len();
            let (new_key, wiped) = (self.new_key, self.wiped);
            let scrub_before = self.scrub_after_commit;
            let r = self
                .conn
                .prepare_cached("SAVEPOINT job")
                .and_then(|mut st| st.execute([]).map(drop))
                .map_err(StoreError::from)
                .and_then(|()| self.apply(job.cmd));
            let r = match r {
                Ok(reply) => self
                    .conn
                    .prepare_cached("RELEASE job")
                    .and_then(|mut st| st.execute([]).map(drop))
                    .map(|()| reply)
                    .map_err(StoreError::from),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK TO job; RELEASE job");
                    self.pending_events.truncate(mark);
                    // A data key this job made was rolled back with it.
                    if self.new_key != new_key {
                        self.keys_after(false);
                        self.new_key = new_key;
                    }
                    self.wiped = wiped;
                    // A purge rolled back removed nothing.
                    self.scrub_after_commit = scrub_before;
                    Err(e)
                }
            };
            results.push((job.reply, r));
        }
        // A command that hit a database error (disk full...) was rolled back to its savepoint;
        // the database is not healthy even if the rest of the batch commits.
        let db_error = results.iter().find_map(|(_, r)| match r {
            Err(StoreError::Refused(_)) | Ok(_) => None,
            Err(e) => Some(e.clone()),
        });
        self.commit(results, db_error, changes_before);
    }

    /// Commits the batch's transaction and answers each job, or, if the commit fails, rolls
    /// back and tells every job (nothing of the batch is acknowledged). `db_error`: a job hit a
    /// database error and was rolled back to its savepoint.
    fn commit(
        &mut self,
        results: Vec<(Answer, Res<Reply>)>,
        db_error: Option<StoreError>,
        changes_before: u64,
    ) {
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                // Only a transaction that wrote proves the database writable again: a batch
                // of reads (an empty outbox claim, a ping) commits even on a full disk.
                if db_error.is_some() || self.conn.total_changes() != changes_before {
                    self.health.set(db_error);
                }
                self.keys_after(true);
                // After the commit, before anybody is answered: a purge's caller finds the WAL
                // already emptied of what it purged.
                if std::mem::take(&mut self.scrub_after_commit) {
                    self.scrub();
                }
                for (reply, r) in results {
                    let _ = reply.send(r);
                }
                for live in self.pending_events.drain(..) {
                    // Nobody watching is no error.
                    let _ = match live {
                        Live::Event(ev) => self.events.send(ev).map(drop).map_err(drop),
                        Live::Message(m) => self.messages.send(m).map(drop).map_err(drop),
                    };
                }
            }
            Err(e) => {
                self.scrub_after_commit = false;
                let err = StoreError::from(e);
                tracing::error!(error = %err, "commit failed: nothing in this batch is acknowledged");
                self.health.set(Some(err.clone()));
                let _ = self.conn.execute_batch("ROLLBACK");
                self.pending_events.clear();
                self.keys_after(false);
                for (reply, _) in results {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Begins the batch's transaction; on failure every job is told why and `None`.
    fn begin(&mut self, batch: Vec<Job>) -> Option<Vec<Job>> {
        match self.conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => Some(batch),
            Err(e) => {
                let err = StoreError::from(e);
                tracing::error!(error = %err, "cannot begin a transaction");
                self.health.set(Some(err.clone()));
                for job in batch {
                    let _ = job.reply.send(Err(err.clone()));
                }
                None
            }
        }
    }

    /// An all-ingest batch in the open transaction, no savepoints. `None`: done (committed and
    /// answered, or the commit failed and every job was told). `Some(batch)`: a packet failed;
    /// the transaction was rolled back and nothing was answered: run it the careful way.
    fn ingest_batch_fast(&mut self, batch: Vec<Job>) -> Option<Vec<Job>> {
        let mark = self.pending_events.len();
        let changes_before = self.conn.total_changes();
        let mut outcomes = Vec::with_capacity(batch.len());
        for job in &batch {
            let Cmd::Ingest { rx, signal, at } = &job.cmd else {
                break;
            };
            match self.ingest(rx, (**signal).clone(), *at) {
                Ok(o) => outcomes.push(o),
                Err(_) => break,
            }
        }
        if outcomes.len() < batch.len() {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.pending_events.truncate(mark);
            return Some(batch);
        }
        let results = batch
            .into_iter()
            .zip(outcomes)
            .map(|(job, o)| (job.reply, Ok(Reply::Ingest(o))))
            .collect();
        self.commit(results, None, changes_before);
        None
    }

    fn apply(&mut self, cmd: Cmd) -> Res<Reply> {
        match cmd {
            Cmd::Ingest { rx, signal, at } => self.ingest(&rx, *signal, at).map(Reply::Ingest),
            Cmd::Operator { who, req, at } => {
                // An operator's note is personal data: sealed in a personal record, never in
                // the audit trail, in the same transaction as the request it came with.
                let (req, note) = crate::desk::take_note(req);
                let (id, decision) = self.decide(at, |d| d.operator(&who, req))?;
                self.apply_effects(decision.effects, at)?;
                if let Some(text) = note {
                    let subject = crate::casework::Subject::Incident(id.clone());
                    self.add_note(&subject, &text, &casework::operator(&who), at)?;
                }
                Ok(Reply::Operator(id))
            }
            Cmd::Case { who, req, at } => self.casework(&who, req, at).map(Reply::Case),
            Cmd::Users { who, via, req, at } => self.users(&who, via, req, at).map(Reply::Case),
            Cmd::UplinkEnable { on } => {
                self.conn.execute(
                    "UPDATE uplink_state SET enabled = ?1 WHERE id = 1",
                    [i64::from(on)],
                )?;
                Ok(Reply::Done)
            }
            Cmd::UplinkAcked { seq } => {
                // In the command's own transaction, as every command is.
                self.conn.execute(
                    "UPDATE uplink_state SET acked = max(acked, ?1) WHERE id = 1",
                    [seq],
                )?;
                self.conn.execute(
                    "DELETE FROM uplink WHERE seq <= (SELECT acked FROM uplink_state WHERE id = 1)",
                    [],
                )?;
                Ok(Reply::Done)
            }
            Cmd::OutboxClaim { at, limit, below } => {
                self.claim(at, limit, below).map(Reply::Claimed)
            }
            Cmd::OutboxWanted { row } => {
                let state: Option<String> = self
                    .conn
                    .query_row("SELECT state FROM outbox WHERE id = ?1", [row], |r| {
                        r.get(0)
                    })
                    .optional()?;
                Ok(Reply::Wanted(state.as_deref() == Some("sending")))
            }
            Cmd::OutboxRelease { rows } => {
                for row in rows {
                    self.exec(
                        "UPDATE outbox SET state = 'pending' WHERE id = ?1 AND state = 'sending'",
                        [row],
                    )?;
                }
                Ok(Reply::Done)
            }
            Cmd::OutboxSent {
                row,
                radio,
                packet_id,
                at,
                ack,
            } => {
                self.exec(
                    "UPDATE outbox SET state = CASE WHEN want_ack = 1 AND ?5 THEN 'sent' ELSE 'done' END, radio = ?2, packet_id = ?3,
                     attempts = attempts + 1, updated_at = ?4 WHERE id = ?1",
                    params![row, radio, packet_id, at, ack],
                )?;
                let ((), d) = self.decide(at, |d| d.amb_on_sent(row))?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::OutboxDelivery {
                radio,
                packet_id,
                outcome,
                at,
            } => {
                let ((), d) = self.decide(at, |d| d.delivery(&radio, packet_id, outcome))?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::OutboxRetry { row, error, at } => {
                self.exec(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
                    params![row, at + 5_000, error, at],
                )?;
                Ok(Reply::Done)
            }
            Cmd::OutboxFailed { row, error, at } => {
                self.exec(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                    params![row, error, at],
                )?;
                let ((), d) = self.decide(at, |d| d.outbox_failed(row, &error))?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::Tick { at } => {
                self.exec(
                    "DELETE FROM seen_packets WHERE at < ?1 AND (keep = 0 OR at < ?2)",
                    [at - SEEN_KEEP_MS, at - SEEN_KEEP_COMMANDS_MS],
                )?;
                let ((), d) = self.decide(at, |d| d.team_tick())?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::DispatchTick { at } => {
                let ((), d) = self.decide(at, |d| d.amb_tick())?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::SurgeTick { at } => {
                let ((), d) = self.decide(at, |d| d.surge_tick())?;
                self.apply_effects(d.effects, at)?;
                Ok(Reply::Done)
            }
            Cmd::Purge { at, via, who } => self.purge(at, via, &who).map(Reply::Purged),
            Cmd::Ping => Ok(Reply::Done),
        }
    }

    /// Runs one rule of the desk over the transaction's facts.
    fn decide<T>(
        &self,
        at: i64,
        rule: impl FnOnce(&mut Desk<'_, SqlFacts<'_>>) -> Res<T>,
    ) -> Res<(T, Decision)> {
        let facts = SqlFacts(&self.conn);
        let mut desk = Desk::new(&self.cfg, &facts, at);
        let r = rule(&mut desk)?;
        Ok((r, desk.finish()))
    }

    // ----- intake -----------------------------------------------------------------------

    /// Records that a radio heard a packet (also a duplicate), drops what was already seen,
    /// and lets the desk decide what the rest means.
    fn ingest(&mut self, rx: &Rx, signal: Signal, at: i64) -> Res<IngestOutcome> {
        // Every radio that hears a node is recorded, also when its copy is a duplicate; a
        // node listed in a radio's node database (no packet) was not heard by it now.
        if rx.packet_id != 0 {
            self.exec(
            "INSERT INTO node_radios(node, radio, last_heard_at, hops, channel) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(node, radio) DO UPDATE SET
                 hops = CASE WHEN excluded.last_heard_at >= last_heard_at
                             THEN coalesce(excluded.hops, hops) ELSE hops END,
                 channel = CASE WHEN excluded.last_heard_at >= last_heard_at
                                THEN excluded.channel ELSE channel END,
                 last_heard_at = max(last_heard_at, excluded.last_heard_at)",
            params![rx.from, rx.radio, at, rx.hops, rx.channel],
            )?;
        }
        if rx.packet_id != 0 {
            let keep = matches!(
                signal,
                Signal::Command { .. }
                    | Signal::PatrolNote { .. }
                    | Signal::MunicipalityText { .. }
            );
            let fresh = self.exec(
                "INSERT OR IGNORE INTO seen_packets(sender, packet_id, at, keep) VALUES (?1, ?2, ?3, ?4)",
                params![rx.from, rx.packet_id, at, keep],
            )?;
            if fresh == 0 {
                return Ok(IngestOutcome {
                    duplicate: true,
                    ..Default::default()
                });
            }
        }
        self.exec(
            "INSERT INTO nodes(num, last_heard_at, last_radio) VALUES (?1, ?2, ?3)
             ON CONFLICT(num) DO UPDATE SET last_heard_at = excluded.last_heard_at, last_radio = excluded.last_radio",
            params![rx.from, at, rx.radio],
        )?;
        if let Signal::CommandFromStranger { node, .. } = &signal {
            tracing::warn!(node = %faro_proto::mesh::NodeId(*node), "command from an unregistered node refused");
        }
        let heard = rx.text.as_ref().map(|text| {
            let (what, lang) = understood(&signal);
            // The language of chat that is no emergency too, for answering that node later
            // in it (commands and answers are in the station's words, not the writer's).
            let chat = matches!(signal, Signal::Activity { .. } | Signal::PatrolNote { .. });
            let lang = lang.or_else(|| {
                chat.then(|| crate::understand::read(text).language.map(|l| l.as_str()))
                    .flatten()
            });
            (what, lang)
        });
        let note = matches!(signal, Signal::PatrolNote { .. });
        let ((), d) = self.decide(at, |desk| desk.signal(rx, signal))?;
        // A patrol's words that the desk took for its own distress (no incident to report on):
        // one opened, or the patrol's own heard again.
        let distress = d.effects.iter().any(|e| {
            matches!(
                e,
                crate::desk::Effect::Open(_) | crate::desk::Effect::Heard { .. }
            )
        });
        let heard = heard.map(|(what, lang)| match note && distress {
            true => ("distress", lang),
            false => (what, lang),
        });
        let out = IngestOutcome {
            duplicate: false,
            queued: d.queued(),
            incident: d.incident.clone(),
        };
        // The text heard, before the effects: the replies they queue come after it. Its
        // incident may be one they open (the link is checked at commit).
        if let (Some(text), Some((understood, language))) = (&rx.text, heard) {
            let incident = d.incident.as_ref().map(|(id, _)| id.as_str());
            self.exec(
                "INSERT INTO messages(at, direction, node, radio, channel, hops, snr, text, language, understood, incident)
                 VALUES (?1, 'in', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    at,
                    rx.from,
                    rx.radio,
                    rx.channel,
                    rx.hops,
                    rx.snr,
                    text,
                    language,
                    understood,
                    incident
                ],
            )?;
            self.publish_message(at, "in", rx.from, text, language, understood, incident);
        }
        self.apply_effects(d.effects, at)?;
        Ok(out)
    }

    /// The message just inserted, for live watchers once the transaction commits (only when
    /// somebody watches: a storm of texts costs nothing extra otherwise).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_message(
        &mut self,
        at: i64,
        direction: &str,
        node: u32,
        text: &str,
        language: Option<&str>,
        understood: &str,
        incident: Option<&str>,
    ) {
        if self.messages.receiver_count() == 0 {
            return;
        }
        self.pending_events.push(Live::Message(MessageLive {
            id: self.conn.last_insert_rowid(),
            incident: incident.map(str::to_string),
            message: super::query::MessageView {
                at: super::rfc3339(at),
                direction: direction.to_string(),
                node: faro_proto::mesh::NodeId(node).to_string(),
                text: text.to_string(),
                language: language.map(str::to_string),
                understood: Some(understood.to_string()),
                delivery: (direction == "out").then(|| "pending".to_string()),
            },
        }));
    }

    // ----- outbox -----------------------------------------------------------------------

    fn claim(&mut self, at: i64, limit: usize, below: u8) -> Res<Vec<OutboxItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.id, o.class, o.dest, o.channel, o.portnum, o.payload, o.want_ack, n.last_radio
             FROM outbox o LEFT JOIN nodes n ON n.num = o.dest
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 AND o.class < ?3
             ORDER BY o.class, o.id LIMIT ?2",
        )?;
        let items = st
            .query_map(params![at, limit as i64, below], |r| {
                Ok(OutboxItem {
                    row: r.get(0)?,
                    class: r.get(1)?,
                    dest: r.get(2)?,
                    channel: r.get(3)?,
                    portnum: r.get(4)?,
                    payload: r.get(5)?,
                    want_ack: r.get(6)?,
                    routes: r
                        .get::<_, Option<String>>(7)?
                        .into_iter()
                        .map(|radio| super::Route {
                            radio,
                            hops: None,
                            channel: None,
                        })
                        .collect(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(st);
        let since = at - super::RADIO_MEMORY.as_millis() as i64;
        let mut items = items;
        for i in &mut items {
            let mut st = self.conn.prepare_cached(
                "SELECT radio, hops, channel, last_heard_at >= ?2 FROM node_radios WHERE node = ?1
                 ORDER BY last_heard_at DESC, radio",
            )?;
            let known = st
                .query_map(params![i.dest, since], |r| {
                    Ok((
                        super::Route {
                            radio: r.get(0)?,
                            hops: r.get(1)?,
                            channel: r.get(2)?,
                        },
                        r.get::<_, bool>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let recent: Vec<super::Route> = known
                .iter()
                .filter(|(_, fresh)| *fresh)
                .map(|(r, _)| r.clone())
                .collect();
            if !recent.is_empty() {
                i.routes = recent;
            } else if let Some(last) = i.routes.first_mut() {
                // Only the radio that heard it last, long ago: its hops may be stale, its
                // channel is still the one the node uses.
                if let Some((r, _)) = known.iter().find(|(r, _)| r.radio == last.radio) {
                    last.channel = r.channel;
                }
            }
        }
        for i in &items {
            self.exec(
                "UPDATE outbox SET state = 'sending', updated_at = ?2 WHERE id = ?1",
                params![i.row, at],
            )?;
        }
        Ok(items)
    }
}

/// What Faro made of a text it heard, in a word or two, and its language when known (for the
/// conversation).
fn understood(signal: &Signal) -> (&'static str, Option<&'static str>) {
    match signal {
        Signal::Distress(d) => ("distress", Some(d.language.as_str())),
        Signal::Command { command: Ok(_), .. } => ("command", None),
        Signal::Command {
            command: Err(_), ..
        } => ("malformed command", None),
        Signal::CommandFromStranger { .. } => ("command from a stranger", None),
        Signal::MunicipalityText { .. } => ("municipality answer", None),
        Signal::PatrolNote { .. } => (super::PATROL_NOTE, None),
        Signal::Position { .. } | Signal::BadPosition { .. } => ("position", None),
        Signal::NodeInfo { .. } => ("node info", None),
        Signal::Battery { .. } => ("telemetry", None),
        Signal::Unsure { language, .. } => (
            "maybe: asked whether help is needed",
            Some(language.as_str()),
        ),
        Signal::Question { question, .. } => {
            use crate::understand::question::Topic;
            let what = match question.topic {
                Topic::Water => "question: water",
                Topic::Where => "question: where am I",
                Topic::Rights => "question: rights",
                Topic::Risks => "question: risks",
                Topic::Waiting => "question: while waiting",
                Topic::Menu => "question: what to ask",
            };
            (what, question.language.map(|l| l.as_str()))
        }
        Signal::Undecodable { .. } => ("undecodable", None),
        Signal::Activity { .. } => ("no emergency", None),
    }
}
