//! Read-only queries for operators (the control socket, faroctl). Each call opens its own
//! read-only connection: WAL lets readers run beside the writer thread without blocking it.
//! These are blocking calls; async callers run them on `spawn_blocking`.

use std::path::Path;
use std::time::Duration;

use faro_proto::mesh::NodeId;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::{rfc3339, EventView, Refusal, StoreError, TeamConfig};

mod casework;
mod map;
mod uplink;
pub use casework::{AidView, ComplaintView};
pub use map::TrackPoint;
pub use uplink::{Pending, UplinkStatus};

type Res<T> = Result<T, StoreError>;

/// An incident as operators and scripts see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentView {
    /// `SAS-17`.
    pub id: String,
    /// State.
    pub state: String,
    /// Outcome once closed.
    pub outcome: Option<String>,
    /// 1..=4.
    pub priority: u8,
    /// Why that priority.
    pub priority_why: Vec<String>,
    /// Kind.
    pub kind: String,
    /// People, if known.
    pub people: Option<u32>,
    /// Vulnerability flags.
    pub flags: Vec<String>,
    /// How it came in (text, bell, alert, detection, waypoint, patrol_sos, manual).
    pub source: String,
    /// Reporting node (`!xxxxxxxx`), null for a manual report.
    pub reporter: Option<String>,
    /// The reporting node's long name, when known.
    pub reporter_name: Option<String>,
    /// Language of the replies.
    pub language: String,
    /// Latitude, null when unknown.
    pub lat: Option<f64>,
    /// Longitude, null when unknown.
    pub lon: Option<f64>,
    /// Where the position came from (packet, last_known, tower, manual).
    pub position_source: Option<String>,
    /// Meshtastic precision bits of the position (32: exact), null when unknown.
    pub precision_bits: Option<u32>,
    /// How far the true position may be from `lat`/`lon`, metres (null: exact or unknown).
    pub precision_m: Option<f64>,
    /// Assigned team.
    pub team: Option<String>,
    /// Times the distress was heard.
    pub heard_count: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339.
    pub last_heard_at: String,
    /// The audit trail (only in `show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// Ambulance requests in escalation order (only in `show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambulance: Option<Vec<AmbulanceView>>,
    /// The conversation, oldest first (only in `show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    /// Its casework, in counts (only in `show`): aid records, complaints, sealed personal
    /// records (notes included; `faroctl personal show` opens them, on the record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub casework: Option<CaseCounts>,
}

/// How much casework an incident has, in counts: no value of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseCounts {
    /// Aid records tied to it.
    pub aid: i64,
    /// Complaints that came from it.
    pub complaints: i64,
    /// Sealed personal records about it (notes included).
    pub personal_records: i64,
}

/// A key enrolled at the desk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrolledView {
    /// Base64.
    pub key: String,
    /// Short fingerprint.
    pub fingerprint: String,
    /// `team` or `municipality`.
    pub holder_kind: String,
    /// Its name.
    pub holder: String,
    /// RFC 3339.
    pub enrolled_at: String,
    /// The operator.
    pub enrolled_by: String,
}

/// A municipality's answer awaiting an operator's confirmation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingAnswerView {
    /// Its number (`faroctl confirm N`).
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// `!xxxxxxxx`.
    pub node: String,
    /// Municipality.
    pub municipality: String,
    /// Its words, as heard (air text: escape before a terminal).
    pub text: String,
}

/// Orientations given on one day, on one topic, in one language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrientationView {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// `water`, `where`, `rights`, `risks`, `waiting`, `menu`.
    pub topic: String,
    /// `es`, `en`, `fr`, `ht`, `pt`.
    pub language: String,
    /// Answers given.
    pub count: u32,
}

/// One text heard or sent. The text came from the air or goes to it: personal data, and
/// possibly hostile (control characters); never log it, escape it before a terminal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    /// RFC 3339.
    pub at: String,
    /// `in` (heard) or `out` (queued by Faro).
    pub direction: String,
    /// The sender (in) or the destination (out), `!xxxxxxxx`.
    pub node: String,
    /// The text.
    pub text: String,
    /// Its language, when known.
    pub language: Option<String>,
    /// What Faro made of it (`distress`, `command`, `municipality answer`...; for an outgoing
    /// message, the reply it is: `distress_ack`, `operator text`...).
    pub understood: Option<String>,
    /// null for a message heard; else its outbox row's state (pending, sending, sent, acked,
    /// implicit, failed, done).
    pub delivery: Option<String>,
}

/// Messages of an incident, oldest first.
const MESSAGES_OF_INCIDENT: &str =
    "SELECT m.at, m.direction, m.node, m.text, m.language, m.understood, o.state
     FROM messages m LEFT JOIN outbox o ON o.id = m.outbox_id
     WHERE m.incident = ?1 ORDER BY m.at, m.id LIMIT ?2";
/// Messages of no incident since a time, the newest `limit` (reversed by the caller).
const MESSAGES_LOOSE: &str =
    "SELECT m.at, m.direction, m.node, m.text, m.language, m.understood, o.state
     FROM messages m LEFT JOIN outbox o ON o.id = m.outbox_id
     WHERE m.incident IS NULL AND m.at >= ?1 ORDER BY m.at DESC, m.id DESC LIMIT ?2";
/// One node's messages of no incident since a time, the newest `limit`.
const MESSAGES_LOOSE_OF_NODE: &str = "SELECT m.at, m.direction, m.node, m.text, m.language, m.understood, o.state
     FROM messages m LEFT JOIN outbox o ON o.id = m.outbox_id
     WHERE m.node = ?1 AND m.at >= ?2 AND m.incident IS NULL ORDER BY m.at DESC, m.id DESC LIMIT ?3";

/// One node's latest patrol note.
const LAST_NOTE_OF_NODE: &str = "SELECT m.at, m.id, m.text FROM messages m
     WHERE m.node = ?1 AND m.direction = 'in' AND m.understood = ?2 ORDER BY m.at DESC, m.id DESC LIMIT 1";

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageView> {
    Ok(MessageView {
        at: rfc3339(r.get(0)?),
        direction: r.get(1)?,
        node: NodeId(r.get(2)?).to_string(),
        text: r.get(3)?,
        language: r.get(4)?,
        understood: r.get(5)?,
        delivery: r.get(6)?,
    })
}

/// One municipality asked for an ambulance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmbulanceView {
    /// Escalation order, from 1.
    pub attempt: u32,
    /// Municipality.
    pub municipality: String,
    /// Its state.
    pub municipality_state: String,
    /// pending, sent, delivered, accepted, declined, timed_out, undeliverable, arrived,
    /// cancelled, call.
    pub state: String,
    /// The dispatcher's node (null: phone only).
    pub node: Option<String>,
    /// The number to call when there is no mesh contact.
    pub phone: Option<String>,
    /// Distance from the incident to the seat, km.
    pub distance_km: f64,
    /// Minutes, once accepted.
    pub eta_minutes: Option<u32>,
    /// Who asked (operator:NAME, patrol:TEAM, system).
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
    /// RFC 3339, when a person answered.
    pub answered_at: Option<String>,
    /// RFC 3339: when the next municipality is asked if nobody answers.
    pub deadline_at: String,
    /// The reason given with a decline.
    pub reason: Option<String>,
}

/// A patrol team.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamView {
    /// Name.
    pub name: String,
    /// Its nodes.
    pub nodes: Vec<String>,
    /// ok, stale, lost, unknown.
    pub status: String,
    /// Last position.
    pub lat: Option<f64>,
    /// Last position.
    pub lon: Option<f64>,
    /// When (RFC 3339).
    pub last_position_at: Option<String>,
    /// Open incidents assigned to it.
    pub assigned: Vec<String>,
    /// Distance to the incident asked about, km (nearest-team queries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// The latest free text one of its nodes sent (null: none). Text from the air.
    pub last_note: Option<NoteView>,
    /// The last battery reading of the team's node heard most recently among those that
    /// sent one (null: none did).
    pub battery: Option<BatteryView>,
}

/// `nodes` columns of a battery reading: level, voltage, when measured, when last heard.
type BatteryRow = (Option<u32>, Option<f64>, i64, Option<i64>);

/// A node's last battery reading, from its DeviceMetrics telemetry:
/// `{"level": 87, "powered": false, "voltage": 3.91, "at": "…", "node": "!5a5a0101"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatteryView {
    /// Percent, 0-100, or 101 when the node is on external power (as Meshtastic sends it);
    /// null when the node sent only a voltage.
    pub level: Option<u32>,
    /// Whether the node is on external power (`level` 101).
    pub powered: bool,
    /// Volts, when the node measured them.
    pub voltage: Option<f64>,
    /// When it was measured (RFC 3339): the node's clock, never later than heard.
    pub at: String,
    /// The node, `!xxxxxxxx`.
    pub node: String,
}

/// A patrol's free text, as heard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteView {
    /// When (RFC 3339).
    pub at: String,
    /// The text as received. Personal data: never log it.
    pub text: String,
}

/// A node heard on the mesh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    /// `!xxxxxxxx`.
    pub node: String,
    /// Long name.
    pub long_name: Option<String>,
    /// Short name.
    pub short_name: Option<String>,
    /// Role if known.
    pub role: Option<String>,
    /// RFC 3339.
    pub last_heard_at: Option<String>,
    /// Radio that heard it last.
    pub radio: Option<String>,
    /// Last position.
    pub lat: Option<f64>,
    /// Last position.
    pub lon: Option<f64>,
}

/// Counts for the status line.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Counts {
    /// Open incidents.
    pub open_incidents: u64,
    /// Open incidents by priority P1..P4.
    pub open_by_priority: [u64; 4],
    /// Outbox rows waiting to be sent.
    pub outbox_pending: u64,
    /// Outbox rows sent and awaiting an ACK.
    pub outbox_awaiting_ack: u64,
    /// Outbox rows that failed for good.
    pub outbox_failed: u64,
}

/// The surge in progress, for `/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurgeView {
    /// When it started (RFC 3339).
    pub since: String,
    /// Why, in words.
    pub cause: String,
    /// Replies to people waiting in the outbox (direct, not yet sent).
    pub waiting: u64,
    /// Seconds they would take to send one by one.
    pub estimate_s: u64,
    /// Senders acknowledged in group broadcasts so far.
    pub grouped: u64,
    /// Senders waiting for the next group broadcast.
    pub grouped_waiting: u64,
}

/// A read-only view of the database.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

/// Which incidents to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Everything not closed.
    Open,
    /// Everything.
    All,
    /// One state.
    State(crate::incident::State),
}

impl std::str::FromStr for Filter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Filter::Open),
            "all" => Ok(Filter::All),
            other => other
                .parse()
                .map(Filter::State)
                .map_err(|e: String| format!("{e}, open or all")),
        }
    }
}

/// One incident's audit events after an id.
const EVENTS_OF_INCIDENT: &str = "SELECT id, incident, at, who, via, what FROM events
     WHERE incident = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
/// All audit events after an id.
const EVENTS_ALL: &str = "SELECT id, incident, at, who, via, what FROM events
     WHERE id > ?1 ORDER BY id LIMIT ?2";
/// A team's open incidents.
const OPEN_OF_TEAM: &str =
    "SELECT id FROM incidents WHERE team = ?1 AND state != 'closed' ORDER BY id";
/// Open incidents by priority.
const OPEN_BY_PRIORITY: &str =
    "SELECT priority, COUNT(*) FROM incidents WHERE state != 'closed' GROUP BY priority";

const INCIDENT_COLUMNS: &str = "i.id, i.state, i.outcome, i.priority, i.priority_why, i.kind, i.people, i.flags, i.source,
    i.reporter, n.long_name, i.language, i.lat, i.lon, i.position_source, i.team, i.heard_count, i.created_at,
    i.updated_at, i.last_heard_at, i.precision_bits";

/// The listing query of [`Reader::incidents`] and its parameter. `Filter::Open` says
/// `state != 'closed'` exactly as the `incidents_open` partial index does, so SQLite uses it.
fn incidents_sql(filter: Filter, limit: usize, offset: usize) -> (String, Option<&'static str>) {
    let (cond, arg) = match filter {
        Filter::Open => ("i.state != 'closed'", None),
        Filter::All => ("1", None),
        Filter::State(s) => ("i.state = ?1", Some(s.as_str())),
    };
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents i LEFT JOIN nodes n ON n.num = i.reporter
         WHERE {cond} ORDER BY i.state = 'closed', i.priority, i.created_at, i.seq LIMIT {limit} OFFSET {offset}"
    );
    (sql, arg)
}

impl Reader {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Res<Reader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            cause: crate::error::open_cause(path, &e),
        })?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Reader { conn })
    }

    /// The read-only connection, for queries kept beside the table they read ([`super::users`]).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentView> {
        let why: String = r.get(4)?;
        let flags: String = r.get(7)?;
        // Positions recorded as exact before precision was kept have no bits: exact.
        let lat: Option<f64> = r.get(12)?;
        let precision_bits = lat.map(|_| {
            r.get::<_, Option<u32>>(20)
                .map(|b| b.unwrap_or(faro_proto::mesh::FULL_PRECISION))
        });
        let precision_bits = precision_bits.transpose()?;
        Ok(IncidentView {
            id: r.get(0)?,
            state: r.get(1)?,
            outcome: r.get(2)?,
            priority: r.get(3)?,
            priority_why: serde_json::from_str(&why).unwrap_or_default(),
            kind: r.get(5)?,
            people: r.get(6)?,
            flags: flags
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            source: r.get(8)?,
            reporter: r.get::<_, Option<u32>>(9)?.map(|n| NodeId(n).to_string()),
            reporter_name: r.get(10)?,
            language: r.get(11)?,
            lat: r.get(12)?,
            lon: r.get(13)?,
            position_source: r.get(14)?,
            precision_bits,
            precision_m: precision_bits.and_then(faro_proto::mesh::precision_radius_m),
            team: r.get(15)?,
            heard_count: r.get(16)?,
            created_at: rfc3339(r.get(17)?),
            updated_at: rfc3339(r.get(18)?),
            last_heard_at: rfc3339(r.get(19)?),
            events: None,
            ambulance: None,
            messages: None,
            casework: None,
        })
    }

    /// Incidents, most urgent first (priority, then oldest).
    pub fn incidents(&self, filter: Filter, limit: usize) -> Res<Vec<IncidentView>> {
        self.incidents_page(filter, limit, 0)
    }

    /// The incidents of [`Reader::incidents`] from the `offset`-th on (paging: the order is
    /// total, so consecutive pages neither repeat nor skip a row that did not change).
    pub fn incidents_page(
        &self,
        filter: Filter,
        limit: usize,
        offset: usize,
    ) -> Res<Vec<IncidentView>> {
        let (sql, arg) = incidents_sql(filter, limit, offset);
        let mut st = self.conn.prepare(&sql)?;
        let rows = match arg {
            Some(a) => st
                .query_map([a], Self::incident_row)?
                .collect::<Result<Vec<_>, _>>()?,
            None => st
                .query_map([], Self::incident_row)?
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    /// One incident with its audit trail.
    pub fn incident(&self, id: &str) -> Res<Option<IncidentView>> {
        let id = crate::incident::parse_id(id)
            .map_err(Refusal::Invalid)?
            .to_string();
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i LEFT JOIN nodes n ON n.num = i.reporter WHERE i.id = ?1");
        let Some(mut v) = self
            .conn
            .query_row(&sql, [&id], Self::incident_row)
            .optional()?
        else {
            return Ok(None);
        };
        v.events = Some(self.events(Some(&id), 0, 10_000)?);
        v.ambulance = Some(self.ambulance(&id)?);
        v.messages = Some(self.conversation(&id, 10_000)?);
        v.casework = Some(self.conn.query_row(
            "SELECT (SELECT count(*) FROM assistance WHERE incident = ?1),
                    (SELECT count(*) FROM complaints WHERE incident = ?1),
                    (SELECT count(*) FROM personal_records WHERE subject = ?1)",
            [&id],
            |r| {
                Ok(CaseCounts {
                    aid: r.get(0)?,
                    complaints: r.get(1)?,
                    personal_records: r.get(2)?,
                })
            },
        )?);
        Ok(Some(v))
    }

    /// An incident's conversation: the texts heard and sent about it, oldest first, at most
    /// `limit`.
    pub fn conversation(&self, id: &str, limit: usize) -> Res<Vec<MessageView>> {
        let mut st = self.conn.prepare(MESSAGES_OF_INCIDENT)?;
        let rows = st
            .query_map(params![id, limit as i64], message_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The traffic that belongs to no incident (of one node, or all) from `since` (Unix ms)
    /// on: the latest `limit` messages, oldest first.
    pub fn loose_messages(
        &self,
        node: Option<u32>,
        since: i64,
        limit: usize,
    ) -> Res<Vec<MessageView>> {
        let mut rows = match node {
            Some(n) => self
                .conn
                .prepare(MESSAGES_LOOSE_OF_NODE)?
                .query_map(params![n, since, limit as i64], message_row)?
                .collect::<Result<Vec<_>, _>>()?,
            None => self
                .conn
                .prepare(MESSAGES_LOOSE)?
                .query_map(params![since, limit as i64], message_row)?
                .collect::<Result<Vec<_>, _>>()?,
        };
        rows.reverse();
        Ok(rows)
    }

    /// The key the station's radio holds for `node`, if any.
    pub fn node_key(&self, node: u32) -> Res<Option<crate::trust::PublicKey>> {
        let k: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT public_key FROM nodes WHERE num = ?1", [node], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(k.flatten()
            .and_then(|k| crate::trust::PublicKey::from_bytes(&k)))
    }

    /// The keys enrolled for `node`, oldest first.
    pub fn enrolled(&self, node: u32) -> Res<Vec<EnrolledView>> {
        let mut st = self.conn.prepare(
            "SELECT key, holder_kind, holder, enrolled_at, enrolled_by FROM keys WHERE node = ?1 ORDER BY enrolled_at",
        )?;
        let rows = st
            .query_map([node], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, kind, holder, at, by)| {
                let k = crate::trust::PublicKey::from_bytes(&k)?;
                Some(EnrolledView {
                    key: k.to_string(),
                    fingerprint: k.fingerprint(),
                    holder_kind: kind,
                    holder,
                    enrolled_at: super::rfc3339(at),
                    enrolled_by: by,
                })
            })
            .collect())
    }

    /// Municipal answers awaiting an operator's confirmation, oldest first.
    pub fn pending_answers(&self) -> Res<Vec<PendingAnswerView>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, node, municipality, text FROM pending_answers WHERE state = 'pending' ORDER BY id LIMIT 1000",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(PendingAnswerView {
                    id: r.get(0)?,
                    at: super::rfc3339(r.get(1)?),
                    node: NodeId(r.get(2)?).to_string(),
                    municipality: r.get(3)?,
                    text: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The casework figures of a period ([`crate::casework::stats`]): counts only, computed
    /// from the records.
    pub fn figures(
        &self,
        span: &crate::casework::stats::Span,
    ) -> Res<crate::casework::stats::Figures> {
        Ok(crate::casework::stats::compute(&self.conn, span)?)
    }

    /// Orientations given from UTC day `since` (`YYYY-MM-DD`) on, by day, topic and language.
    pub fn orientations(&self, since: &str) -> Res<Vec<OrientationView>> {
        let mut st = self.conn.prepare(
            "SELECT day, topic, language, count FROM orientations WHERE day >= ?1
             ORDER BY day, topic, language",
        )?;
        let rows = st
            .query_map([since], |r| {
                Ok(OrientationView {
                    day: r.get(0)?,
                    topic: r.get(1)?,
                    language: r.get(2)?,
                    count: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The ambulance requests of an incident, in escalation order.
    pub fn ambulance(&self, id: &str) -> Res<Vec<AmbulanceView>> {
        let id = crate::incident::parse_id(id)
            .map_err(Refusal::Invalid)?
            .to_string();
        let mut st = self.conn.prepare(
            "SELECT attempt, municipality, muni_state, status, node, phone, distance_km, eta_minutes, requested_by,
                    requested_at, answered_at, deadline_at, reason
             FROM ambulance WHERE incident = ?1 ORDER BY attempt",
        )?;
        let rows = st
            .query_map([&id], |r| {
                Ok(AmbulanceView {
                    attempt: r.get(0)?,
                    municipality: r.get(1)?,
                    municipality_state: r.get(2)?,
                    state: r.get(3)?,
                    node: r.get::<_, Option<u32>>(4)?.map(|n| NodeId(n).to_string()),
                    phone: r.get(5)?,
                    distance_km: r.get(6)?,
                    eta_minutes: r.get(7)?,
                    requested_by: r.get(8)?,
                    requested_at: rfc3339(r.get(9)?),
                    answered_at: r.get::<_, Option<i64>>(10)?.map(rfc3339),
                    deadline_at: rfc3339(r.get(11)?),
                    reason: r.get(12)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Audit events after `after_id` (of one incident, or all), oldest first.
    pub fn events(
        &self,
        incident: Option<&str>,
        after_id: i64,
        limit: usize,
    ) -> Res<Vec<EventView>> {
        let row = |r: &rusqlite::Row<'_>| {
            Ok(EventView {
                id: r.get(0)?,
                incident: r.get(1)?,
                at: rfc3339(r.get(2)?),
                who: r.get(3)?,
                via: r.get(4)?,
                what: r.get(5)?,
            })
        };
        // Two statements rather than `(?1 IS NULL OR incident = ?1)`: with that, SQLite walks
        // the whole table by id instead of using `events_by_incident`.
        let rows = match incident {
            Some(id) => self
                .conn
                .prepare(EVENTS_OF_INCIDENT)?
                .query_map(params![id, after_id, limit as i64], row)?
                .collect::<Result<Vec<_>, _>>()?,
            None => self
                .conn
                .prepare(EVENTS_ALL)?
                .query_map(params![after_id, limit as i64], row)?
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    /// Teams with their status and last position; with `near`, sorted by distance to it.
    pub fn teams(&self, teams: &[TeamConfig], near: Option<(f64, f64)>) -> Res<Vec<TeamView>> {
        let mut out = Vec::new();
        for t in teams {
            let status: String = self
                .conn
                .query_row("SELECT status FROM teams WHERE name = ?1", [&t.name], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or_else(|| "unknown".into());
            let last: Option<(f64, f64, i64)> = self
                .conn
                .query_row(
                    "SELECT lat, lon, at FROM team_positions WHERE team = ?1 ORDER BY at DESC LIMIT 1",
                    [&t.name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let mut st = self.conn.prepare(OPEN_OF_TEAM)?;
            let assigned = st
                .query_map([&t.name], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            let mut last_note: Option<(i64, i64, String)> = None;
            let mut st = self.conn.prepare_cached(LAST_NOTE_OF_NODE)?;
            for n in &t.nodes {
                let note = st
                    .query_row(params![n, super::PATROL_NOTE], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                if note.as_ref().map(|(at, id, _)| (at, id))
                    > last_note.as_ref().map(|(at, id, _)| (at, id))
                {
                    last_note = note;
                }
            }
            let battery = self.team_battery(&t.nodes)?;
            let distance_km = near
                .zip(last)
                .map(|((la, lo), (tla, tlo, _))| crate::geo::haversine_km(la, lo, tla, tlo));
            out.push(TeamView {
                name: t.name.clone(),
                nodes: t.nodes.iter().map(|n| NodeId(*n).to_string()).collect(),
                status,
                lat: last.map(|l| l.0),
                lon: last.map(|l| l.1),
                last_position_at: last.map(|l| rfc3339(l.2)),
                assigned,
                distance_km,
                last_note: last_note.map(|(at, _, text)| NoteView {
                    at: rfc3339(at),
                    text,
                }),
                battery,
            });
        }
        if near.is_some() {
            out.sort_by(|a, b| {
                a.distance_km
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.distance_km.unwrap_or(f64::MAX))
            });
        }
        Ok(out)
    }

    /// The battery of the node heard most recently among `nodes` that sent a reading.
    fn team_battery(&self, nodes: &[u32]) -> Res<Option<BatteryView>> {
        let mut st = self.conn.prepare_cached(
            "SELECT battery_level, voltage, telemetry_at, last_heard_at FROM nodes
             WHERE num = ?1 AND telemetry_at IS NOT NULL",
        )?;
        let mut best: Option<((i64, i64), BatteryView)> = None;
        for n in nodes {
            let row: Option<BatteryRow> = st
                .query_row([n], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((level, voltage, at, heard)) = row else {
                continue;
            };
            let key = (heard.unwrap_or(at), at);
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                let view = BatteryView {
                    level,
                    powered: level == Some(crate::ingest::POWERED),
                    // Stored from an f32: shown to the millivolt, not as 3.9100000858.
                    voltage: voltage.map(|v| (v * 1000.0).round() / 1000.0),
                    at: rfc3339(at),
                    node: NodeId(*n).to_string(),
                };
                best = Some((key, view));
            }
        }
        Ok(best.map(|(_, v)| v))
    }

    /// The nearest team that is `ok` and has no open incident, to a position.
    pub fn nearest_available_team(
        &self,
        teams: &[TeamConfig],
        lat: f64,
        lon: f64,
    ) -> Res<Option<TeamView>> {
        Ok(self
            .teams(teams, Some((lat, lon)))?
            .into_iter()
            .find(|t| t.status == "ok" && t.assigned.is_empty() && t.distance_km.is_some()))
    }

    /// Nodes heard, most recent first.
    pub fn nodes(&self, limit: usize) -> Res<Vec<NodeView>> {
        let mut st = self.conn.prepare(
            "SELECT num, long_name, short_name, role, last_heard_at, last_radio, lat, lon FROM nodes
             ORDER BY last_heard_at DESC LIMIT ?1",
        )?;
        let rows = st
            .query_map([limit as i64], |r| {
                Ok(NodeView {
                    node: NodeId(r.get(0)?).to_string(),
                    long_name: r.get(1)?,
                    short_name: r.get(2)?,
                    role: r.get(3)?,
                    last_heard_at: r.get::<_, Option<i64>>(4)?.map(rfc3339),
                    radio: r.get(5)?,
                    lat: r.get(6)?,
                    lon: r.get(7)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The surge in progress, if any, with the outbox estimate under `cfg`.
    pub fn surge(&self, cfg: &crate::desk::SurgeConfig) -> Res<Option<SurgeView>> {
        let classes = crate::desk::ESTIMATED_CLASSES;
        let Some((since, cause, grouped, grouped_waiting)) = self
            .conn
            .query_row(
                "SELECT s.since, s.cause,
                        (SELECT count(*) FROM grouped_acks g WHERE g.sent_at >= s.since),
                        (SELECT count(*) FROM grouped_acks g WHERE g.sent_at IS NULL)
                 FROM surges s WHERE s.ended_at IS NULL ORDER BY s.id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u64>(2)?,
                        r.get::<_, u64>(3)?,
                    ))
                },
            )
            .optional()?
        else {
            return Ok(None);
        };
        let waiting: u32 = self.conn.query_row(
            "SELECT count(*) FROM outbox
             WHERE state IN ('pending', 'sending') AND class BETWEEN ?1 AND ?2 AND dest != ?3",
            params![classes.start(), classes.end(), faro_proto::mesh::BROADCAST],
            |r| r.get(0),
        )?;
        Ok(Some(SurgeView {
            since: rfc3339(since),
            cause,
            waiting: waiting.into(),
            estimate_s: (cfg.estimate_ms(waiting) / 1000) as u64,
            grouped,
            grouped_waiting,
        }))
    }

    /// Counts for status lines.
    pub fn counts(&self) -> Res<Counts> {
        let mut c = Counts::default();
        let mut st = self.conn.prepare(OPEN_BY_PRIORITY)?;
        for row in st.query_map([], |r| Ok((r.get::<_, u8>(0)?, r.get::<_, u64>(1)?)))? {
            let (p, n) = row?;
            if (1..=4).contains(&p) {
                c.open_by_priority[usize::from(p - 1)] = n;
                c.open_incidents += n;
            }
        }
        let mut st = self.conn.prepare("SELECT state, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending', 'sent', 'failed') GROUP BY state")?;
        for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (s, n) = row?;
            match s.as_str() {
                "pending" | "sending" => c.outbox_pending += n,
                "sent" => c.outbox_awaiting_ack += n,
                _ => c.outbox_failed += n,
            }
        }
        Ok(c)
    }
}

/// Location requests (`casework::locate`), read here because the connection is the reader's.
impl Reader {
    /// Location requests, open ones first, at most `limit`.
    pub fn locate_list(&self, limit: usize) -> Res<Vec<crate::casework::locate::LocateView>> {
        Ok(crate::casework::locate::list(&self.conn, limit)?)
    }

    /// One location request with its audit trail.
    pub fn locate(&self, id: i64) -> Res<Option<crate::casework::locate::LocateView>> {
        Ok(crate::casework::locate::show(&self.conn, id)?)
    }

    /// The incidents and assistance records that may concern a location request's people.
    pub fn locate_matches(&self, id: i64) -> Res<Vec<crate::casework::locate::Candidate>> {
        crate::casework::locate::matches(&self.conn, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan for `sql`, one step a line.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = st.parameter_count();
        let args: Vec<rusqlite::types::Value> = (0..n)
            .map(|_| rusqlite::types::Value::Text("x".into()))
            .collect();
        st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    }

    fn migrated() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn open_incident_queries_use_the_open_indexes() {
        // Without statistics (farod never runs ANALYZE), as on a station.
        let c = migrated();
        let (list, _) = incidents_sql(Filter::Open, 1000, 0);
        assert!(
            plan(&c, &list).contains("USING INDEX incidents_open"),
            "{}",
            plan(&c, &list)
        );
        assert!(plan(&c, OPEN_BY_PRIORITY).contains("USING INDEX incidents_open"));
        assert!(plan(&c, OPEN_OF_TEAM).contains("USING INDEX incidents_open_by_team (team=?)"));
        let (one_state, _) = incidents_sql(Filter::State(crate::incident::State::New), 1000, 0);
        assert!(plan(&c, &one_state).contains("USING INDEX incidents_by_state (state=?)"));
    }

    #[test]
    fn one_incidents_events_use_their_index() {
        let c = migrated();
        assert!(
            plan(&c, EVENTS_OF_INCIDENT)
                .contains("USING INDEX events_by_incident (incident=? AND id>?)"),
            "{}",
            plan(&c, EVENTS_OF_INCIDENT)
        );
        assert!(plan(&c, EVENTS_ALL).contains("USING INTEGER PRIMARY KEY (rowid>?)"));
    }

    #[test]
    fn message_queries_use_their_indexes() {
        let c = migrated();
        assert!(
            plan(&c, MESSAGES_OF_INCIDENT)
                .contains("USING INDEX messages_by_incident (incident=?)"),
            "{}",
            plan(&c, MESSAGES_OF_INCIDENT)
        );
        assert!(
            plan(&c, MESSAGES_LOOSE_OF_NODE)
                .contains("USING INDEX messages_by_node (node=? AND at>?)"),
            "{}",
            plan(&c, MESSAGES_LOOSE_OF_NODE)
        );
        assert!(
            plan(&c, MESSAGES_LOOSE)
                .contains("USING INDEX messages_by_incident (incident=? AND at>?)"),
            "{}",
            plan(&c, MESSAGES_LOOSE)
        );
        assert!(
            plan(&c, LAST_NOTE_OF_NODE).contains("USING INDEX messages_by_node (node=?)"),
            "{}",
            plan(&c, LAST_NOTE_OF_NODE)
        );
        // The index gives the order: nothing is sorted.
        for sql in [
            MESSAGES_OF_INCIDENT,
            MESSAGES_LOOSE,
            MESSAGES_LOOSE_OF_NODE,
            LAST_NOTE_OF_NODE,
        ] {
            assert!(!plan(&c, sql).contains("TEMP B-TREE"), "{}", plan(&c, sql));
        }
    }

    #[test]
    fn a_teams_last_note_is_the_latest_free_text_of_any_of_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faro.db");
        let mut c = Connection::open(&path).unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO messages(at, direction, node, text, understood) VALUES
                 (1000, 'in', 11, 'primera', 'patrol note'),
                 (3000, 'in', 12, 'segunda', 'patrol note'),
                 (4000, 'in', 11, 'RUTA SAS-1', 'command'),
                 (5000, 'out', 12, 'SAS-1: ok', 'cmd_ok'),
                 (6000, 'in', 21, 'AUXILIO', 'distress');",
        )
        .unwrap();
        let team = |name: &str, nodes: Vec<u32>| TeamConfig {
            name: name.into(),
            nodes,
            interval: std::time::Duration::from_secs(60),
            keys: Vec::new(),
            language: crate::lang::Lang::Es,
        };
        let r = Reader::open(&path).unwrap();
        let teams = r
            .teams(&[team("P1", vec![11, 12]), team("P2", vec![21])], None)
            .unwrap();
        assert_eq!(
            teams[0].last_note,
            Some(NoteView {
                at: rfc3339(3000),
                text: "segunda".into()
            })
        );
        assert_eq!(teams[1].last_note, None);
        let json = serde_json::to_value(&teams[1]).unwrap();
        assert!(json["last_note"].is_null(), "{json}");
    }

    #[test]
    fn events_of_one_incident_or_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faro.db");
        let mut c = Connection::open(&path).unwrap();
        super::super::migrations::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO incidents(id, seq, state, kind, priority, priority_why, source, language,
                                   created_at, updated_at, last_heard_at)
             VALUES ('SAS-1', 1, 'new', 'lost', 2, '[]', 'text', 'es', 0, 0, 0),
                    ('SAS-2', 2, 'new', 'lost', 2, '[]', 'text', 'es', 0, 0, 0);
             INSERT INTO events(incident, at, who, via, what) VALUES
                 ('SAS-1', 1, 'system', 't', 'a'), ('SAS-2', 2, 'system', 't', 'b'),
                 (NULL, 3, 'system', 't', 'c'), ('SAS-1', 4, 'system', 't', 'd'),
                 ('SAS-1', 5, 'system', 't', 'e');",
        )
        .unwrap();
        let r = Reader::open(&path).unwrap();
        let what = |v: Vec<EventView>| v.into_iter().map(|e| e.what).collect::<Vec<_>>();
        assert_eq!(
            what(r.events(Some("SAS-1"), 0, 10).unwrap()),
            ["a", "d", "e"]
        );
        assert_eq!(what(r.events(Some("SAS-1"), 1, 1).unwrap()), ["d"]);
        assert_eq!(
            what(r.events(Some("SAS-3"), 0, 10).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(
            what(r.events(None, 0, 10).unwrap()),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(what(r.events(None, 2, 2).unwrap()), ["c", "d"]);
        let open = r.incidents(Filter::Open, 10).unwrap();
        assert_eq!(open.len(), 2);
    }
}
