//! The writer thread: the only code that writes the database. Group commit with a savepoint
//! per command; replies and live events go out only after COMMIT.

use std::path::Path;
use std::time::Duration;

use faro_proto::mesh::{self, NodeId, PortNum};
use faro_proto::text::{CommandError, IncidentId, PatrolCommand};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, mpsc};

use super::{
    Cmd, EventView, IngestOutcome, Job, OperatorRequest, OutboxItem, Reply, Rx, StoreConfig,
    StoreError,
};
use crate::catalog::Msg;
use crate::incident::{
    self, Actor, Flag, Kind, Outcome, PositionSource, State, Status, Transition, Triage,
};
use crate::ingest::{Distress, DistressKind, Fix, Lang, Signal};
use crate::radio::DeliveryOutcome;

mod ambulance;

/// Outbox classes, most urgent first.
const CLASS_DISTRESS: u8 = 0;
const CLASS_PATROL: u8 = 1;
const CLASS_OTHER: u8 = 2;
/// Dedup entries older than this are forgotten (Store & Forward replays reach back 4 h).
const SEEN_KEEP_MS: i64 = 24 * 3600 * 1000;
/// Prepared statements the writer keeps (it runs about 60 different ones).
const STATEMENT_CACHE: usize = 128;

/// Opens the write connection with the settings that make a commit durable.
pub(super) fn open_write(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("{}: {e}", dir.display())))?;
    }
    let mut conn =
        Connection::open(path).map_err(|e| StoreError::Db(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 1 MiB of page cache (SQLite's default is 2): with 1,024-packet transactions it kept
    // farod's peak RSS under 19 MiB during faro-bench ingest at ~85-90k packets/s (2 MiB:
    // 19.9 MiB, ~97k/s). Readers have connections of their own.
    conn.pragma_update(None, "cache_size", -1024)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    super::migrations::migrate(&mut conn).map_err(StoreError::Db)?;
    // Every statement the writer runs stays prepared (see `Worker::exec`).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

pub(super) struct Worker {
    conn: Connection,
    cfg: StoreConfig,
    events: broadcast::Sender<EventView>,
    pending_events: Vec<EventView>,
    health: super::Health,
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
        events: broadcast::Sender<EventView>,
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
        Ok(Worker {
            conn,
            cfg,
            events,
            pending_events: Vec::new(),
            health,
        })
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
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
                    Err(e)
                }
            };
            results.push((job.reply, r));
        }
        // A command that hit a database error (disk full...) was rolled back to its savepoint;
        // the database is not healthy even if the rest of the batch commits.
        let db_error = results.iter().find_map(|(_, r)| match r {
            Err(e @ StoreError::Db(_)) => Some(e.to_string()),
            _ => None,
        });
        self.commit(results, db_error, changes_before);
    }

    /// Commits the batch's transaction and answers each job, or, if the commit fails, rolls
    /// back and tells every job (nothing of the batch is acknowledged). `db_error`: a job hit a
    /// database error and was rolled back to its savepoint.
    fn commit(
        &mut self,
        results: Vec<(Answer, Res<Reply>)>,
        db_error: Option<String>,
        changes_before: u64,
    ) {
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                // Only a transaction that wrote proves the database writable again: a batch
                // of reads (an empty outbox claim, a ping) commits even on a full disk.
                if db_error.is_some() || self.conn.total_changes() != changes_before {
                    self.health.set(db_error);
                }
                for (reply, r) in results {
                    let _ = reply.send(r);
                }
                for ev in self.pending_events.drain(..) {
                    let _ = self.events.send(ev);
                }
            }
            Err(e) => {
                let err = StoreError::from(e);
                tracing::error!(error = %err, "commit failed: nothing in this batch is acknowledged");
                self.health.set(Some(err.to_string()));
                let _ = self.conn.execute_batch("ROLLBACK");
                self.pending_events.clear();
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
                self.health.set(Some(err.to_string()));
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
            Cmd::Operator { who, req, at } => self.operator(&who, req, at).map(Reply::Operator),
            Cmd::OutboxClaim { at, limit } => self.claim(at, limit).map(Reply::Claimed),
            Cmd::OutboxSent {
                row,
                radio,
                packet_id,
                at,
            } => {
                self.exec(
                    "UPDATE outbox SET state = CASE want_ack WHEN 1 THEN 'sent' ELSE 'done' END, radio = ?2, packet_id = ?3,
                     attempts = attempts + 1, updated_at = ?4 WHERE id = ?1",
                    params![row, radio, packet_id, at],
                )?;
                self.amb_on_sent(row, at)?;
                Ok(Reply::Done)
            }
            Cmd::OutboxDelivery {
                radio,
                packet_id,
                outcome,
                at,
            } => self
                .delivery(&radio, packet_id, outcome, at)
                .map(|()| Reply::Done),
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
                let inc: Option<String> = self
                    .conn
                    .query_row("SELECT incident FROM outbox WHERE id = ?1", [row], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .flatten();
                self.event(
                    inc.as_deref(),
                    at,
                    "system",
                    "outbox",
                    &format!("message {row} cannot be sent: {error}"),
                )?;
                Ok(Reply::Done)
            }
            Cmd::Tick { at } => self.tick(at).map(|()| Reply::Done),
            Cmd::DispatchTick { at } => self.amb_tick(at).map(|()| Reply::Done),
            Cmd::Ping => Ok(Reply::Done),
        }
    }

    // ----- events -----------------------------------------------------------------------

    fn event(
        &mut self,
        incident: Option<&str>,
        at: i64,
        who: &str,
        via: &str,
        what: &str,
    ) -> Res<()> {
        self.exec(
            "INSERT INTO events(incident, at, who, via, what) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![incident, at, who, via, what],
        )?;
        let id = self.conn.last_insert_rowid();
        self.pending_events.push(EventView {
            id,
            incident: incident.map(str::to_string),
            at: super::rfc3339(at),
            who: who.to_string(),
            via: via.to_string(),
            what: what.to_string(),
        });
        Ok(())
    }

    // ----- intake -----------------------------------------------------------------------

    fn ingest(&mut self, rx: &Rx, signal: Signal, at: i64) -> Res<IngestOutcome> {
        // Every radio that hears a node is recorded, also when its copy is a duplicate.
        self.exec(
            "INSERT INTO node_radios(node, radio, last_heard_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(node, radio) DO UPDATE SET last_heard_at = max(last_heard_at, excluded.last_heard_at)",
            params![rx.from, rx.radio, at],
        )?;
        if rx.packet_id != 0 {
            let fresh = self.exec(
                "INSERT OR IGNORE INTO seen_packets(sender, packet_id, at) VALUES (?1, ?2, ?3)",
                params![rx.from, rx.packet_id, at],
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
        let who = format!("node:{}", NodeId(rx.from));
        let mut out = IngestOutcome::default();
        match signal {
            Signal::Distress(d) => self.distress(rx, &d, at, &mut out)?,
            Signal::Position { node, fix, patrol } => {
                self.position(node, &fix, patrol.as_deref(), at)?
            }
            Signal::BadPosition { node, lat_i, lon_i } => {
                let what = format!(
                    "position from {} ignored: {:.5},{:.5} is not a valid fix",
                    NodeId(node),
                    mesh::degrees(lat_i),
                    mesh::degrees(lon_i)
                );
                self.event(None, at, &who, &rx.radio, &what)?;
            }
            Signal::Command {
                node,
                patrol,
                command,
                ..
            } => self.command(rx, node, &patrol, command, at, &mut out)?,
            Signal::CommandFromStranger { node, .. } => {
                let what = format!("command from unregistered node {} refused", NodeId(node));
                tracing::warn!(node = %NodeId(node), "command from an unregistered node refused");
                self.event(None, at, &who, &rx.radio, &what)?;
            }
            Signal::NodeInfo {
                node,
                long_name,
                short_name,
            } => {
                self.exec(
                    "UPDATE nodes SET long_name = ?2, short_name = ?3 WHERE num = ?1",
                    params![node, long_name, short_name],
                )?;
            }
            Signal::MunicipalityText { node, text } => {
                self.amb_reply(rx, node, &text, at, &mut out)?
            }
            Signal::Activity { .. } => {}
        }
        Ok(out)
    }

    fn position(&mut self, node: u32, fix: &Fix, patrol: Option<&str>, at: i64) -> Res<()> {
        let fix_at = fix.time.map_or(at, |t| i64::from(t) * 1000).min(at);
        self.exec(
            "UPDATE nodes SET lat = ?2, lon = ?3, alt = ?4, position_at = ?5 WHERE num = ?1 AND (position_at IS NULL OR position_at <= ?5)",
            params![node, fix.lat, fix.lon, fix.alt, fix_at],
        )?;
        if let Some(team) = patrol {
            self.exec(
                "INSERT INTO team_positions(team, node, at, lat, lon, alt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![team, node, at, fix.lat, fix.lon, fix.alt],
            )?;
            self.conn
                .execute("UPDATE nodes SET role = 'patrol' WHERE num = ?1", [node])?;
        }
        Ok(())
    }

    fn distress(&mut self, rx: &Rx, d: &Distress, at: i64, out: &mut IngestOutcome) -> Res<()> {
        let via = rx.radio.clone();
        let who = format!("node:{}", NodeId(d.node));
        let window = self.cfg.repeat_window.as_millis() as i64;
        let open: Option<(String, i64, Option<i64>, i64)> = self
            .conn
            .query_row(
                "SELECT id, heard_count, last_reply_at, last_heard_at FROM incidents
                 WHERE reporter = ?1 AND state != 'closed' AND last_heard_at >= ?2
                 ORDER BY last_heard_at DESC LIMIT 1",
                params![d.node, at - window],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((id, heard, last_reply, _)) = open {
            let heard = heard + 1;
            self.exec(
                "UPDATE incidents SET heard_count = ?2, last_heard_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![id, heard, at],
            )?;
            if let Some(fix) = &d.position {
                self.set_position(
                    &id,
                    fix.lat,
                    fix.lon,
                    fix.precision_bits,
                    PositionSource::Packet,
                    at,
                )?;
            }
            let hops = rx.hops.map(|h| format!(", {h} hops")).unwrap_or_default();
            self.event(
                Some(&id),
                at,
                &who,
                &via,
                &format!("distress heard again ({heard} times{hops})"),
            )?;
            // Answer again, but not on every beacon: a tower may repeat every few seconds.
            let quiet = self.cfg.reply_interval.as_millis() as i64;
            if last_reply.is_none_or(|t| at - t >= quiet) {
                self.queue_distress_reply(&id, d, at)?;
                out.queued += 1;
            }
            out.incident = Some((id, false));
            return Ok(());
        }
        // A new incident.
        let triage = match d.kind {
            DistressKind::Text
            | DistressKind::Bell
            | DistressKind::Alert
            | DistressKind::PatrolSos => incident::triage_text(&d.text),
            DistressKind::Detection | DistressKind::Waypoint => Triage::default(),
        };
        let last_known = self.last_known(d.node)?;
        let tower = self
            .cfg
            .towers
            .get(&d.node)
            .map(|t| (t.lat, t.lon, 32u32, at));
        // A detection carries no fix of its own (ingest attaches the tower's registered
        // position, which is the tower fallback below, not a packet position).
        let packet = d
            .position
            .as_ref()
            .filter(|_| d.kind != DistressKind::Detection)
            .map(|f| (f.lat, f.lon, f.precision_bits, at));
        let pos = incident::best_position(packet, last_known, tower);
        let id = self.open_incident(&triage, d.kind.as_str(), Some(d.node), d.language, pos, at)?;
        let hops = rx
            .hops
            .map(|h| format!(" over {h} hops"))
            .unwrap_or_default();
        let p = incident::priority(&triage);
        let place = match pos {
            Some(((lat, lon, _, fix_at), src)) => {
                let age = if src == PositionSource::LastKnown {
                    format!(", {} s old", (at - fix_at).max(0) / 1000)
                } else {
                    String::new()
                };
                format!(" at {lat:.5},{lon:.5} ({}{age})", src.as_str())
            }
            None => " with no position".to_string(),
        };
        let what = format!(
            "opened: {} {} from {}{hops}{place}; {}",
            p,
            d.kind.as_str(),
            NodeId(d.node),
            p.why.join("; ")
        );
        self.event(Some(&id), at, &who, &via, &what)?;
        self.queue_distress_reply(&id, d, at)?;
        out.queued += 1;
        let kind = triage.kind.unwrap_or(Kind::Distress);
        if p.level == 1 && self.cfg.auto_ambulance_kinds.contains(&kind) {
            match self.amb_request(&id, "system", &via, None, at) {
                Ok(()) => out.queued += 1,
                Err(StoreError::Refused(reason)) => {
                    self.event(
                        Some(&id),
                        at,
                        "system",
                        &via,
                        &format!("no automatic ambulance: {reason}"),
                    )?;
                }
                Err(e) => return Err(e),
            }
        }
        out.incident = Some((id, true));
        Ok(())
    }

    fn last_known(&self, node: u32) -> Res<Option<(f64, f64, u32, i64)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT lat, lon, position_at FROM nodes WHERE num = ?1 AND lat IS NOT NULL",
                [node],
                |r| {
                    Ok((
                        r.get::<_, f64>(0)?,
                        r.get::<_, f64>(1)?,
                        32u32,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?)
    }

    fn open_incident(
        &mut self,
        t: &Triage,
        source: &str,
        reporter: Option<u32>,
        lang: Lang,
        pos: Option<((f64, f64, u32, i64), PositionSource)>,
        at: i64,
    ) -> Res<String> {
        let seq: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM incidents", [], |r| {
                    r.get(0)
                })?;
        let id = IncidentId {
            station: self.cfg.station.clone(),
            seq: seq as u32,
        }
        .to_string();
        let p = incident::priority(t);
        let why = serde_json::to_string(&p.why).unwrap_or_else(|_| "[]".into());
        let flags: Vec<&str> = t.flags.iter().map(|f| f.as_str()).collect();
        let kind = t.kind.unwrap_or(Kind::Distress);
        let (lat, lon, bits, fix_at, src) = match pos {
            Some(((lat, lon, bits, fix_at), src)) => (
                Some(lat),
                Some(lon),
                Some(bits),
                Some(fix_at),
                Some(src.as_str()),
            ),
            None => (None, None, None, None, None),
        };
        self.exec(
            "INSERT INTO incidents(id, seq, state, kind, priority, priority_why, people, flags, source, reporter, language,
                                   lat, lon, precision_bits, position_source, position_at, created_at, updated_at, last_heard_at)
             VALUES (?1, ?2, 'new', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?16)",
            params![id, seq, kind.as_str(), p.level, why, t.people, flags.join(","), source, reporter, lang.as_str(),
                    lat, lon, bits, src, fix_at, at],
        )?;
        Ok(id)
    }

    fn set_position(
        &mut self,
        id: &str,
        lat: f64,
        lon: f64,
        bits: u32,
        src: PositionSource,
        at: i64,
    ) -> Res<()> {
        self.exec(
            "UPDATE incidents SET lat = ?2, lon = ?3, precision_bits = ?4, position_source = ?5, position_at = ?6 WHERE id = ?1",
            params![id, lat, lon, bits, src.as_str(), at],
        )?;
        Ok(())
    }

    fn queue_distress_reply(&mut self, id: &str, d: &Distress, at: i64) -> Res<()> {
        let msg = if d.kind == DistressKind::PatrolSos {
            Msg::PatrolSosAck
        } else {
            Msg::DistressAck
        };
        let text = self.cfg.catalog.render(d.language, msg, &[("id", id)]);
        self.queue_text(Some(id), d.node, &text, CLASS_DISTRESS, at)?;
        self.exec(
            "UPDATE incidents SET last_reply_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    fn queue_text(
        &mut self,
        incident: Option<&str>,
        dest: u32,
        text: &str,
        class: u8,
        at: i64,
    ) -> Res<i64> {
        let payload = text.as_bytes();
        if payload.len() > mesh::PAYLOAD_BUDGET {
            return Err(StoreError::Refused(format!(
                "message is {} bytes; the budget is {}",
                payload.len(),
                mesh::PAYLOAD_BUDGET
            )));
        }
        self.exec(
            "INSERT INTO outbox(created_at, class, incident, dest, channel, portnum, payload, want_ack, state, next_attempt_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?1, ?1)",
            params![at, class, incident, dest, self.cfg.channel, PortNum::TextMessageApp as i32, payload, dest != mesh::BROADCAST],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    // ----- patrol commands --------------------------------------------------------------

    fn command(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        command: Result<PatrolCommand, CommandError>,
        at: i64,
        out: &mut IngestOutcome,
    ) -> Res<()> {
        let who = Actor::Patrol(team.to_string()).to_string();
        let lang = Lang::Es;
        let cmd = match command {
            Ok(c) => c,
            Err(e) => {
                self.event(
                    None,
                    at,
                    &who,
                    &rx.radio,
                    &format!("malformed command: {e}"),
                )?;
                if self.hint_due(node, at)? {
                    let text =
                        self.cfg
                            .catalog
                            .render(lang, Msg::CmdUsage, &[("usage", e.usage())]);
                    self.queue_text(None, node, &text, CLASS_PATROL, at)?;
                    out.queued += 1;
                }
                return Ok(());
            }
        };
        let (id, transition, note) = match cmd {
            PatrolCommand::Ack(id) => (id, Some(Transition::Acknowledge), None),
            PatrolCommand::EnRoute(id) => (id, Some(Transition::EnRoute), None),
            PatrolCommand::OnScene(id) => (id, Some(Transition::OnScene), None),
            PatrolCommand::Close(id, o) => (id, Some(Transition::Close(o)), None),
            PatrolCommand::Note(id, text) => (id, None, Some(text)),
            PatrolCommand::Ambulance(named) => {
                return self.patrol_ambulance(rx, node, team, named, at, out);
            }
            PatrolCommand::Status => {
                let list = self.team_open_list(team)?;
                let text = if list.is_empty() {
                    self.cfg.catalog.render(lang, Msg::StatusNone, &[])
                } else {
                    self.cfg
                        .catalog
                        .render(lang, Msg::StatusList, &[("list", &list)])
                };
                self.queue_text(None, node, &text, CLASS_PATROL, at)?;
                out.queued += 1;
                return Ok(());
            }
            PatrolCommand::Sos(_) => {
                // The ingest layer turns a patrol's SOS into a distress signal; nothing here.
                return Ok(());
            }
        };
        let id_s = id.to_string();
        let Some(status) = self.status_of(&id_s)? else {
            self.event(
                None,
                at,
                &who,
                &rx.radio,
                &format!("command names unknown incident {id_s}"),
            )?;
            let text = self
                .cfg
                .catalog
                .render(lang, Msg::CmdUnknownIncident, &[("id", &id_s)]);
            self.queue_text(None, node, &text, CLASS_PATROL, at)?;
            out.queued += 1;
            return Ok(());
        };
        if let Some(note) = note {
            self.event(Some(&id_s), at, &who, &rx.radio, &format!("note: {note}"))?;
            let text = self.cfg.catalog.render(
                lang,
                Msg::CmdOk,
                &[("id", id_s.as_str()), ("state", "nota")],
            );
            self.queue_text(Some(&id_s), node, &text, CLASS_PATROL, at)?;
            out.queued += 1;
            return Ok(());
        }
        let t = transition.unwrap_or(Transition::Acknowledge);
        match incident::transition(&status, &t, &Actor::Patrol(team.to_string())) {
            Ok(change) => {
                self.save_status(&id_s, &change.status, at)?;
                self.event(Some(&id_s), at, &who, &rx.radio, &change.what)?;
                let text = self.cfg.catalog.render(
                    lang,
                    Msg::CmdOk,
                    &[
                        ("id", id_s.as_str()),
                        ("state", change.status.state.as_str()),
                    ],
                );
                self.queue_text(Some(&id_s), node, &text, CLASS_PATROL, at)?;
            }
            Err(reason) => {
                self.event(
                    Some(&id_s),
                    at,
                    &who,
                    &rx.radio,
                    &format!("{} refused: {reason}", t.verb()),
                )?;
                let text = self.cfg.catalog.render(
                    lang,
                    Msg::CmdRefused,
                    &[("id", &id_s), ("reason", &reason)],
                );
                self.queue_text(Some(&id_s), node, &text, CLASS_PATROL, at)?;
            }
        }
        out.queued += 1;
        out.incident = Some((id_s, false));
        Ok(())
    }

    /// `AMB <id>` asks for an ambulance for that incident; `AMB` alone opens a medical
    /// incident at the patrol's position first. The patrol hears back either way.
    fn patrol_ambulance(
        &mut self,
        rx: &Rx,
        node: u32,
        team: &str,
        named: Option<IncidentId>,
        at: i64,
        out: &mut IngestOutcome,
    ) -> Res<()> {
        let who = Actor::Patrol(team.to_string()).to_string();
        let id = match named {
            Some(id) => id.to_string(),
            None => {
                let triage = Triage {
                    kind: Some(Kind::Medical),
                    people: None,
                    flags: Vec::new(),
                };
                let pos = self
                    .last_known(node)?
                    .map(|p| (p, PositionSource::LastKnown));
                let id =
                    self.open_incident(&triage, "patrol_sos", Some(node), Lang::Es, pos, at)?;
                let place = pos.map_or(" with no position".to_string(), |((la, lo, _, _), _)| {
                    format!(" at {la:.5},{lo:.5}")
                });
                self.event(
                    Some(&id),
                    at,
                    &who,
                    &rx.radio,
                    &format!("opened by patrol {team} asking for an ambulance{place}"),
                )?;
                self.exec(
                    "UPDATE incidents SET team = ?2, state = 'assigned' WHERE id = ?1",
                    params![id, team],
                )?;
                id
            }
        };
        out.incident = Some((id.clone(), false));
        out.queued += 1;
        match self.amb_request(&id, &who, &rx.radio, None, at) {
            Ok(()) => Ok(()),
            Err(StoreError::Refused(reason)) => {
                self.event(
                    None,
                    at,
                    &who,
                    &rx.radio,
                    &format!("ambulance refused: {reason}"),
                )?;
                let short = reason.split(':').next().unwrap_or(&reason).to_string();
                let text = self.cfg.catalog.render(
                    Lang::Es,
                    Msg::CmdRefused,
                    &[("id", id.as_str()), ("reason", &short)],
                );
                self.queue_text(None, node, &text, CLASS_PATROL, at)?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One usage hint per node per `hint_interval`, so a confused patrol is not flooded.
    fn hint_due(&self, node: u32, at: i64) -> Res<bool> {
        let since = at - self.cfg.hint_interval.as_millis() as i64;
        let recent: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE dest = ?1 AND incident IS NULL AND class = ?2 AND created_at > ?3",
            params![node, CLASS_PATROL, since],
            |r| r.get(0),
        )?;
        Ok(recent == 0)
    }

    fn team_open_list(&self, team: &str) -> Res<String> {
        let mut st = self.conn.prepare(
            "SELECT id, state FROM incidents WHERE team = ?1 AND state != 'closed' ORDER BY priority, created_at LIMIT 8",
        )?;
        let rows = st.query_map([team], |r| {
            Ok(format!(
                "{} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.join(", "))
    }

    fn status_of(&self, id: &str) -> Res<Option<Status>> {
        Ok(self
            .conn
            .query_row(
                "SELECT state, team, outcome FROM incidents WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()?
            .map(|(state, team, outcome)| Status {
                state: state.parse().unwrap_or(State::New),
                team,
                outcome: outcome.and_then(|o| o.parse::<Outcome>().ok()),
            }))
    }

    fn save_status(&mut self, id: &str, s: &Status, at: i64) -> Res<()> {
        let closed_at = (s.state == State::Closed).then_some(at);
        self.exec(
            "UPDATE incidents SET state = ?2, team = ?3, outcome = ?4, updated_at = ?5, closed_at = ?6 WHERE id = ?1",
            params![id, s.state.as_str(), s.team, s.outcome.map(Outcome::as_str), at, closed_at],
        )?;
        Ok(())
    }

    // ----- operators --------------------------------------------------------------------

    fn operator(&mut self, name: &str, req: OperatorRequest, at: i64) -> Res<String> {
        let who = Actor::Operator(name.to_string()).to_string();
        let via = "faroctl";
        let transition = |id: String, t: Transition| (id, t);
        let (id, t) = match req {
            OperatorRequest::Report(r) => return self.report(&who, &r, at),
            OperatorRequest::Ambulance(id, muni) => {
                let (id, _) = self.require(&id)?;
                self.amb_request(&id, &who, via, muni.as_deref(), at)?;
                return Ok(id);
            }
            OperatorRequest::AmbulanceCancel(id) => return self.amb_cancel(&id, &who, at),
            OperatorRequest::AmbulanceRecord(id, accepted, eta) => {
                return self.amb_record(&id, accepted, eta, &who, at)
            }
            OperatorRequest::Position(id, lat, lon) => {
                let (id, _) = self.require(&id)?;
                if !mesh::valid_coordinates(lat, lon) {
                    return Err(StoreError::Refused(format!(
                        "{lat},{lon} is not a valid position"
                    )));
                }
                self.set_position(&id, lat, lon, 32, PositionSource::Manual, at)?;
                self.event(
                    Some(&id),
                    at,
                    &who,
                    via,
                    &format!("position set by hand: {lat:.5},{lon:.5}"),
                )?;
                return Ok(id);
            }
            OperatorRequest::Note(id, text) => {
                let (id, _) = self.require(&id)?;
                self.event(Some(&id), at, &who, via, &format!("note: {text}"))?;
                return Ok(id);
            }
            OperatorRequest::Send(node, text) => {
                if node == 0 {
                    return Err(StoreError::Refused("node 0 is not a node".into()));
                }
                self.queue_text(None, node, &text, CLASS_OTHER, at)?;
                self.event(
                    None,
                    at,
                    &who,
                    via,
                    &format!("message queued to {} ({} bytes)", NodeId(node), text.len()),
                )?;
                return Ok(String::new());
            }
            OperatorRequest::Ack(id) => transition(id, Transition::Acknowledge),
            OperatorRequest::Assign(id, team) => {
                if !self.cfg.teams.iter().any(|t| t.name == team) {
                    let known: Vec<&str> = self.cfg.teams.iter().map(|t| t.name.as_str()).collect();
                    return Err(StoreError::Refused(format!(
                        "unknown team {team:?} (teams: {})",
                        known.join(", ")
                    )));
                }
                transition(id, Transition::Assign(team))
            }
            OperatorRequest::Close(id, o, note) => {
                let (id, _) = self.require(&id)?;
                if let Some(n) = note {
                    self.event(Some(&id), at, &who, via, &format!("note: {n}"))?;
                }
                transition(id, Transition::Close(o))
            }
            OperatorRequest::Reopen(id) => transition(id, Transition::Reopen),
        };
        let (id, status) = self.require(&id)?;
        let change = incident::transition(&status, &t, &Actor::Operator(name.to_string()))
            .map_err(|reason| {
                StoreError::Refused(format!("{id}: cannot {}: {reason}", t.verb()))
            })?;
        self.save_status(&id, &change.status, at)?;
        self.event(Some(&id), at, &who, via, &change.what)?;
        if let (Transition::Assign(team), Some(node)) = (&t, self.team_node(&change.status)) {
            let text = self.cfg.catalog.render(
                Lang::Es,
                Msg::CmdOk,
                &[("id", id.as_str()), ("state", "assigned")],
            );
            let _ = team;
            self.queue_text(Some(&id), node, &text, CLASS_PATROL, at)?;
        }
        Ok(id)
    }

    fn team_node(&self, s: &Status) -> Option<u32> {
        let team = s.team.as_ref()?;
        self.cfg
            .teams
            .iter()
            .find(|t| &t.name == team)
            .and_then(|t| t.nodes.first().copied())
    }

    /// The incident `id` names (however it was typed): its canonical id and status.
    fn require(&self, id: &str) -> Res<(String, Status)> {
        let id = incident::parse_id(id)
            .map_err(StoreError::Refused)?
            .to_string();
        let status = self
            .status_of(&id)?
            .ok_or_else(|| StoreError::Refused(format!("no incident {id}")))?;
        Ok((id, status))
    }

    fn report(&mut self, who: &str, r: &super::ManualReport, at: i64) -> Res<String> {
        let (kind, flags, lang) = super::parse_report(r)?;
        let pos = match (r.lat, r.lon) {
            (Some(lat), Some(lon)) if mesh::valid_coordinates(lat, lon) => {
                Some(((lat, lon, 32u32, at), PositionSource::Manual))
            }
            (Some(lat), Some(lon)) => {
                return Err(StoreError::Refused(format!(
                    "{lat},{lon} is not a valid position"
                )))
            }
            (None, None) => None,
            _ => {
                return Err(StoreError::Refused(
                    "give both latitude and longitude".into(),
                ))
            }
        };
        if let Some(n) = r.people.filter(|n| *n == 0 || *n > 10_000) {
            return Err(StoreError::Refused(format!(
                "people = {n}: expected 1..10000"
            )));
        }
        let triage = Triage {
            kind,
            people: r.people,
            flags: flags.clone(),
        };
        let id = self.open_incident(&triage, "manual", None, lang, pos, at)?;
        let p = incident::priority(&triage);
        let place = r
            .place
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let at_s = pos.map_or(" with no position".to_string(), |((la, lo, _, _), _)| {
            format!(" at {la:.5},{lo:.5}{place}")
        });
        self.event(
            Some(&id),
            at,
            who,
            "faroctl",
            &format!(
                "opened by hand: {p} {}{at_s}; {}",
                kind.unwrap_or(Kind::Distress),
                p.why.join("; ")
            ),
        )?;
        if let Some(note) = &r.note {
            self.event(Some(&id), at, who, "faroctl", &format!("note: {note}"))?;
        }
        let _: &[Flag] = &flags;
        Ok(id)
    }

    // ----- outbox -----------------------------------------------------------------------

    fn claim(&mut self, at: i64, limit: usize) -> Res<Vec<OutboxItem>> {
        let mut st = self.conn.prepare(
            "SELECT o.id, o.class, o.dest, o.channel, o.portnum, o.payload, o.want_ack, n.last_radio
             FROM outbox o LEFT JOIN nodes n ON n.num = o.dest
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
             ORDER BY o.class, o.id LIMIT ?2",
        )?;
        let items = st
            .query_map(params![at, limit as i64], |r| {
                Ok(OutboxItem {
                    row: r.get(0)?,
                    class: r.get(1)?,
                    dest: r.get(2)?,
                    channel: r.get(3)?,
                    portnum: r.get(4)?,
                    payload: r.get(5)?,
                    want_ack: r.get(6)?,
                    radios: r.get::<_, Option<String>>(7)?.into_iter().collect(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(st);
        let since = at - super::RADIO_MEMORY.as_millis() as i64;
        let mut items = items;
        for i in &mut items {
            let mut st = self.conn.prepare_cached(
                "SELECT radio FROM node_radios WHERE node = ?1 AND last_heard_at >= ?2
                 ORDER BY last_heard_at DESC, radio",
            )?;
            let recent = st
                .query_map(params![i.dest, since], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            if !recent.is_empty() {
                i.radios = recent;
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

    fn delivery(
        &mut self,
        radio: &str,
        packet_id: u32,
        outcome: DeliveryOutcome,
        at: i64,
    ) -> Res<()> {
        let row: Option<SentRow> = self
            .conn
            .query_row(
                "SELECT id, attempts, incident, dest, max_attempts FROM outbox WHERE radio = ?1 AND packet_id = ?2 AND state = 'sent'",
                params![radio, packet_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((row, attempts, incident, dest, max)) = row else {
            return Ok(());
        };
        let max_attempts = i64::from(max.unwrap_or(self.cfg.max_attempts));
        let (state, retry_in) = match outcome {
            DeliveryOutcome::Acked => ("acked", None),
            DeliveryOutcome::ImplicitAck => ("implicit", None),
            DeliveryOutcome::Nak(mesh::routing::Error::RateLimitExceeded) => {
                ("pending", Some(3_000))
            }
            DeliveryOutcome::Nak(_) | DeliveryOutcome::TimedOut if attempts < max_attempts => {
                ("pending", Some(backoff_ms(attempts)))
            }
            DeliveryOutcome::Nak(_) | DeliveryOutcome::TimedOut => ("failed", None),
        };
        self.exec(
            "UPDATE outbox SET state = ?2, next_attempt_at = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1",
            params![row, state, at + retry_in.unwrap_or(0), outcome.to_string(), at],
        )?;
        if let Some(inc) = incident {
            let what = match state {
                "acked" => Some(format!("reply to {} delivered (ack)", NodeId(dest))),
                "failed" => Some(format!(
                    "reply to {} failed after {attempts} attempts: {outcome}",
                    NodeId(dest)
                )),
                _ => None,
            };
            if let Some(what) = what {
                self.event(Some(&inc), at, "system", radio, &what)?;
            }
        }
        self.amb_on_delivery(row, state, radio, at)
    }

    // ----- upkeep -----------------------------------------------------------------------

    fn tick(&mut self, at: i64) -> Res<()> {
        self.exec(
            "DELETE FROM seen_packets WHERE at < ?1",
            [at - SEEN_KEEP_MS],
        )?;
        let teams = self.cfg.teams.clone();
        for t in &teams {
            let last: Option<i64> = self.conn.query_row(
                "SELECT MAX(at) FROM team_positions WHERE team = ?1",
                [&t.name],
                |r| r.get(0),
            )?;
            let status = team_status(last, at, t.interval);
            let old: String = self.conn.query_row(
                "SELECT status FROM teams WHERE name = ?1",
                [&t.name],
                |r| r.get(0),
            )?;
            if old == status {
                continue;
            }
            self.exec(
                "UPDATE teams SET status = ?2, changed_at = ?3 WHERE name = ?1",
                params![t.name, status, at],
            )?;
            if status == "stale" || status == "lost" {
                let age = last.map_or("never".to_string(), |l| {
                    format!("{} s ago", (at - l) / 1000)
                });
                let ids: Vec<String> = {
                    let mut st = self.conn.prepare(
                        "SELECT id FROM incidents WHERE team = ?1 AND state != 'closed'",
                    )?;
                    let v = st
                        .query_map([&t.name], |r| r.get(0))?
                        .collect::<Result<Vec<_>, _>>()?;
                    v
                };
                let what = format!("patrol {} is {status}: last position {age}", t.name);
                if ids.is_empty() {
                    self.event(None, at, "system", "timer", &what)?;
                }
                for id in ids {
                    self.event(Some(&id), at, "system", "timer", &what)?;
                }
            } else if old != "unknown" {
                self.event(
                    None,
                    at,
                    "system",
                    "timer",
                    &format!("patrol {} is {status} again", t.name),
                )?;
            }
        }
        Ok(())
    }
}

/// `ok`, `stale` (no position for 2x the interval) or `lost` (6x); `unknown` before any.
pub(crate) fn team_status(last: Option<i64>, at: i64, interval: Duration) -> &'static str {
    let Some(last) = last else { return "unknown" };
    let age = at - last;
    let i = interval.as_millis() as i64;
    if age >= 6 * i {
        "lost"
    } else if age >= 2 * i {
        "stale"
    } else {
        "ok"
    }
}

/// An outbox row awaiting its routing result: id, attempts, incident, destination, own limit.
type SentRow = (i64, i64, Option<String>, u32, Option<u32>);

/// Retry delay after `attempts` failed sends: 10 s, 20 s, 40 s ... capped at 5 min.
fn backoff_ms(attempts: i64) -> i64 {
    (10_000i64 << attempts.clamp(0, 5)).min(300_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_status_thresholds() {
        let i = Duration::from_secs(60);
        assert_eq!(team_status(None, 0, i), "unknown");
        assert_eq!(team_status(Some(0), 119_999, i), "ok");
        assert_eq!(team_status(Some(0), 120_000, i), "stale");
        assert_eq!(team_status(Some(0), 360_000, i), "lost");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 10_000);
        assert_eq!(backoff_ms(1), 20_000);
        assert_eq!(backoff_ms(9), 300_000);
    }
}
