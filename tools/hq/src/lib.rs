//! Faro headquarters (issue 16): every station's changes, read from an MQTT broker and applied
//! to headquarters' own SQLite database exactly once.
//!
//! - **Idempotent.** A message is identified by `(station, seq)`. Each incident and team keeps
//!   the `seq` of the message that last set it; a message at or below it changes nothing (a
//!   duplicate, a replay, or an older message delivered late). Messages carry the whole state
//!   of the thing, so the newest one is all that is needed.
//! - **Gaps are noticed.** Each station's sequence numbers are recorded as ranges received;
//!   anything missing below the highest seen is a gap, listed by [`Hq::gaps`] (a reordered
//!   message that arrives later fills it). Asking the station to send them again is not built
//!   yet: the broker keeps headquarters' messages while it is away (a persistent session at
//!   QoS 1), so a gap means messages were lost on the way.
//! - Nothing personal arrives (the stations send headquarters' profile only), so nothing
//!   personal is kept.

use rusqlite::{params, Connection, OptionalExtension};

use farod::uplink::message::{Message, Payload, SCHEMA};

/// What applying a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The message was new and changed headquarters' view.
    Changed,
    /// Already applied, or older than what is known: nothing changed.
    Duplicate,
}

/// Headquarters' database.
#[derive(Debug)]
pub struct Hq {
    conn: Connection,
}

/// An incident in the national view.
#[derive(Debug, Clone, PartialEq)]
pub struct NationalIncident {
    /// The station's code.
    pub station: String,
    /// The incident as the station last told it.
    pub incident: farod::uplink::message::IncidentState,
    /// The seq of that message.
    pub seq: i64,
}

impl Hq {
    /// Opens (creating) headquarters' database.
    pub fn open(path: &std::path::Path) -> Result<Hq, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS received (
                 station TEXT NOT NULL,
                 first   INTEGER NOT NULL,          -- a range of seqs received, inclusive
                 last    INTEGER NOT NULL,
                 PRIMARY KEY (station, first)
             );
             CREATE TABLE IF NOT EXISTS incidents (
                 station TEXT NOT NULL,
                 id      TEXT NOT NULL,
                 seq     INTEGER NOT NULL,
                 state   TEXT NOT NULL,
                 priority INTEGER NOT NULL,
                 body    TEXT NOT NULL,             -- the station's JSON of the incident
                 PRIMARY KEY (station, id)
             );
             CREATE TABLE IF NOT EXISTS teams (
                 station TEXT NOT NULL,
                 name    TEXT NOT NULL,
                 seq     INTEGER NOT NULL,
                 status  TEXT NOT NULL,
                 changed_at INTEGER NOT NULL,
                 PRIMARY KEY (station, name)
             );",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Hq { conn })
    }

    /// Applies one message's text; a message that is not of schema `faro/v1` is refused with
    /// one line and changes nothing.
    pub fn apply_text(&mut self, text: &[u8]) -> Result<Applied, String> {
        let m: Message =
            serde_json::from_slice(text).map_err(|e| format!("not a faro/v1 message: {e}"))?;
        self.apply(&m)
    }

    /// Applies one message, once.
    pub fn apply(&mut self, m: &Message) -> Result<Applied, String> {
        if m.schema != SCHEMA {
            return Err(format!(
                "schema {:?}: this headquarters reads {SCHEMA}",
                m.schema
            ));
        }
        if m.seq < 1
            || m.station.is_empty()
            || m.station.len() > 5
            || !m.station.chars().all(|c| c.is_ascii_uppercase())
        {
            return Err(format!(
                "station {:?} seq {}: not a station's message",
                m.station, m.seq
            ));
        }
        check(m)?;
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        let changed = match &m.payload {
            Payload::Incident(i) => {
                let known: Option<i64> = tx
                    .query_row(
                        "SELECT seq FROM incidents WHERE station = ?1 AND id = ?2",
                        params![m.station, i.id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| e.to_string())?;
                if known.is_some_and(|k| k >= m.seq) {
                    false
                } else {
                    let body = serde_json::to_string(i).map_err(|e| e.to_string())?;
                    tx.execute(
                        "INSERT INTO incidents(station, id, seq, state, priority, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(station, id) DO UPDATE SET seq = ?3, state = ?4,
                             priority = ?5, body = ?6",
                        params![m.station, i.id, m.seq, i.state, i.priority, body],
                    )
                    .map_err(|e| e.to_string())?;
                    true
                }
            }
            Payload::Team(t) => {
                let known: Option<i64> = tx
                    .query_row(
                        "SELECT seq FROM teams WHERE station = ?1 AND name = ?2",
                        params![m.station, t.name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| e.to_string())?;
                if known.is_some_and(|k| k >= m.seq) {
                    false
                } else {
                    tx.execute(
                        "INSERT INTO teams(station, name, seq, status, changed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(station, name) DO UPDATE SET seq = ?3, status = ?4,
                             changed_at = ?5",
                        params![m.station, t.name, m.seq, t.status, t.changed_at],
                    )
                    .map_err(|e| e.to_string())?;
                    true
                }
            }
        };
        let new_seq = record(&tx, &m.station, m.seq).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(if changed || new_seq {
            Applied::Changed
        } else {
            Applied::Duplicate
        })
    }

    /// The open incidents of every station, most urgent first.
    pub fn open_incidents(&self) -> Result<Vec<NationalIncident>, String> {
        let mut st = self
            .conn
            .prepare(
                "SELECT station, seq, body FROM incidents WHERE state != 'closed'
                 ORDER BY priority, station, id",
            )
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for row in rows {
            let (station, seq, body) = row.map_err(|e| e.to_string())?;
            let incident = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            out.push(NationalIncident {
                station,
                incident,
                seq,
            });
        }
        Ok(out)
    }

    /// Each station's missing sequence numbers, as inclusive ranges below the highest seen.
    pub fn gaps(&self, station: &str) -> Result<Vec<(i64, i64)>, String> {
        let mut st = self
            .conn
            .prepare("SELECT first, last FROM received WHERE station = ?1 ORDER BY first")
            .map_err(|e| e.to_string())?;
        let ranges: Vec<(i64, i64)> = st
            .query_map([station], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut gaps = Vec::new();
        let mut next = 1;
        for (first, last) in ranges {
            if first > next {
                gaps.push((next, first - 1));
            }
            next = next.max(last + 1);
        }
        Ok(gaps)
    }

    /// The highest seq received from each station.
    pub fn stations(&self) -> Result<Vec<(String, i64)>, String> {
        let mut st = self
            .conn
            .prepare("SELECT station, MAX(last) FROM received GROUP BY station ORDER BY station")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(rows)
    }
}

/// Subscribes to every station's changes on the broker at `url` (`mqtt://HOST[:PORT]`) and
/// applies them to `hq` until `stop` turns true. The session is persistent (the broker keeps
/// what arrives while headquarters is away) and each message is acknowledged to the broker
/// only once it is committed here. A message that cannot be read is logged and acknowledged
/// (it would only come back the same).
pub async fn run(
    url: String,
    client_id: String,
    mut hq: Hq,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let cfg = farod::uplink::UplinkConfig::from_url(&url)?;
    let mut opts = MqttOptions::new(client_id, cfg.host, cfg.port);
    opts.set_keep_alive(std::time::Duration::from_secs(30));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    let (client, mut events) = AsyncClient::new(opts, 64);
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("headquarters: connected to the broker");
                    for topic in ["faro/v1/+/incidents", "faro/v1/+/teams"] {
                        client
                            .subscribe(topic, QoS::AtLeastOnce)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    match hq.apply_text(&p.payload) {
                        Ok(Applied::Changed) => {}
                        Ok(Applied::Duplicate) => {
                            tracing::debug!(topic = %p.topic, "headquarters: already applied");
                        }
                        Err(e) => tracing::warn!(topic = %p.topic, error = %e, "headquarters: message refused"),
                    }
                    client.ack(&p).await.map_err(|e| e.to_string())?;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "headquarters: broker not reachable; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                }
            },
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Whether a message says only what a station can say: its own incident ids, the words farod
/// writes, a team name of printable characters. Anything else (a hostile or broken publisher
/// on the broker) is refused in one line before it reaches the database or a terminal.
fn check(m: &Message) -> Result<(), String> {
    use farod::incident::{Flag, Kind, Outcome, State};
    let who = format!("{} seq {}", m.station, m.seq);
    let name_ok =
        |n: &str| !n.is_empty() && n.chars().count() <= 32 && n.chars().all(|c| !c.is_control());
    match &m.payload {
        Payload::Incident(i) => {
            let own =
                i.id.strip_prefix(&m.station)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|n| {
                        !n.is_empty() && n.len() <= 12 && n.bytes().all(|b| b.is_ascii_digit())
                    });
            if !own {
                return Err(format!(
                    "{who}: incident {:?} is not one of {}'s",
                    i.id, m.station
                ));
            }
            if i.state.parse::<State>().is_err()
                || i.kind.parse::<Kind>().is_err()
                || !(1..=4).contains(&i.priority)
                || i.flags.iter().any(|f| f.parse::<Flag>().is_err())
                || i.outcome
                    .as_ref()
                    .is_some_and(|o| o.parse::<Outcome>().is_err())
            {
                return Err(format!(
                    "{who}: {}: a state, kind, priority, flag or outcome farod does not write",
                    i.id
                ));
            }
            if i.team.as_deref().is_some_and(|t| !name_ok(t)) {
                return Err(format!("{who}: {}: not a team name", i.id));
            }
        }
        Payload::Team(t) => {
            if !name_ok(&t.name)
                || !matches!(t.status.as_str(), "ok" | "stale" | "lost" | "unknown")
            {
                return Err(format!("{who}: not a team's name and status"));
            }
        }
    }
    Ok(())
}

/// Notes `seq` as received from `station`, merging it into the ranges; false when it was
/// already there.
fn record(tx: &rusqlite::Transaction<'_>, station: &str, seq: i64) -> rusqlite::Result<bool> {
    let covering: Option<i64> = tx
        .query_row(
            "SELECT first FROM received WHERE station = ?1 AND first <= ?2 AND last >= ?2",
            params![station, seq],
            |r| r.get(0),
        )
        .optional()?;
    if covering.is_some() {
        return Ok(false);
    }
    // The range ending just before, and the one starting just after, if any.
    let before: Option<i64> = tx
        .query_row(
            "SELECT first FROM received WHERE station = ?1 AND last = ?2 - 1",
            params![station, seq],
            |r| r.get(0),
        )
        .optional()?;
    let after: Option<i64> = tx
        .query_row(
            "SELECT last FROM received WHERE station = ?1 AND first = ?2 + 1",
            params![station, seq],
            |r| r.get(0),
        )
        .optional()?;
    let first = before.unwrap_or(seq);
    let last = after.unwrap_or(seq);
    if after.is_some() {
        tx.execute(
            "DELETE FROM received WHERE station = ?1 AND first = ?2 + 1",
            params![station, seq],
        )?;
    }
    tx.execute(
        "INSERT INTO received(station, first, last) VALUES (?1, ?2, ?3)
         ON CONFLICT(station, first) DO UPDATE SET last = ?3",
        params![station, first, last],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use farod::uplink::message::{IncidentState, TeamState};

    fn incident(station: &str, seq: i64, id: &str, state: &str) -> Message {
        Message {
            schema: SCHEMA.into(),
            station: station.into(),
            seq,
            at: seq * 1000,
            payload: Payload::Incident(IncidentState {
                id: id.into(),
                state: state.into(),
                outcome: None,
                kind: "medical".into(),
                priority: 1,
                people: Some(2),
                flags: vec![],
                lat: Some(31.421),
                lon: Some(-111.755),
                team: None,
                created_at: 1000,
                updated_at: seq * 1000,
                closed_at: None,
            }),
        }
    }

    fn hq() -> (tempfile::TempDir, Hq) {
        let dir = tempfile::tempdir().unwrap();
        let hq = Hq::open(&dir.path().join("hq.db")).unwrap();
        (dir, hq)
    }

    #[test]
    fn a_replay_a_duplicate_or_an_older_message_changes_nothing() {
        let (_d, mut hq) = hq();
        assert_eq!(
            hq.apply(&incident("SAS", 1, "SAS-1", "new")).unwrap(),
            Applied::Changed
        );
        assert_eq!(
            hq.apply(&incident("SAS", 3, "SAS-1", "assigned")).unwrap(),
            Applied::Changed
        );
        assert_eq!(
            hq.apply(&incident("SAS", 3, "SAS-1", "assigned")).unwrap(),
            Applied::Duplicate
        );
        // seq 2, late: counted as received (the gap closes) but the incident stays as seq 3 said.
        assert_eq!(
            hq.apply(&incident("SAS", 2, "SAS-1", "acknowledged"))
                .unwrap(),
            Applied::Changed
        );
        assert_eq!(
            hq.apply(&incident("SAS", 2, "SAS-1", "acknowledged"))
                .unwrap(),
            Applied::Duplicate
        );
        let open = hq.open_incidents().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].incident.state.as_str(), open[0].seq),
            ("assigned", 3)
        );
        assert_eq!(hq.gaps("SAS").unwrap(), []);
    }

    #[test]
    fn gaps_are_found_and_filled_per_station() {
        let (_d, mut hq) = hq();
        for seq in [1, 2, 5, 9] {
            hq.apply(&incident("SAS", seq, "SAS-1", "new")).unwrap();
        }
        hq.apply(&incident("ALT", 1, "ALT-1", "new")).unwrap();
        assert_eq!(hq.gaps("SAS").unwrap(), [(3, 4), (6, 8)]);
        assert_eq!(hq.gaps("ALT").unwrap(), []);
        for seq in [4, 3, 7] {
            hq.apply(&incident("SAS", seq, "SAS-1", "new")).unwrap();
        }
        assert_eq!(hq.gaps("SAS").unwrap(), [(6, 6), (8, 8)]);
        assert_eq!(
            hq.stations().unwrap(),
            [("ALT".to_string(), 1), ("SAS".to_string(), 9)]
        );
    }

    #[test]
    fn stations_are_kept_apart_and_closed_incidents_leave_the_queue() {
        let (_d, mut hq) = hq();
        hq.apply(&incident("SAS", 1, "SAS-1", "new")).unwrap();
        hq.apply(&incident("ALT", 1, "ALT-1", "new")).unwrap();
        hq.apply(&incident("SAS", 2, "SAS-1", "closed")).unwrap();
        let open = hq.open_incidents().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].station, "ALT");
        let team = Message {
            schema: SCHEMA.into(),
            station: "SAS".into(),
            seq: 3,
            at: 3,
            payload: Payload::Team(TeamState {
                name: "P1".into(),
                status: "stale".into(),
                changed_at: 3,
            }),
        };
        assert_eq!(hq.apply(&team).unwrap(), Applied::Changed);
        assert_eq!(hq.apply(&team).unwrap(), Applied::Duplicate);
    }

    #[test]
    fn what_is_not_a_stations_message_is_refused_in_one_line() {
        let (_d, mut hq) = hq();
        for bad in [
            &b"garbage"[..],
            br#"{"schema":"faro/v2","station":"SAS","seq":1,"at":1,"team":{"name":"P1","status":"ok","changed_at":1}}"#,
            br#"{"schema":"faro/v1","station":"sas","seq":1,"at":1,"team":{"name":"P1","status":"ok","changed_at":1}}"#,
            br#"{"schema":"faro/v1","station":"SAS","seq":0,"at":1,"team":{"name":"P1","status":"ok","changed_at":1}}"#,
            br#"{"schema":"faro/v1","station":"SAS","seq":1,"at":1,"team":{"name":"P1\u001b[2J","status":"ok","changed_at":1}}"#,
            br#"{"schema":"faro/v1","station":"SAS","seq":1,"at":1,"team":{"name":"P1","status":"pwned","changed_at":1}}"#,
        ] {
            let e = hq.apply_text(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
        // Incidents: another station's id, a word farod does not write, a team with controls.
        let mut other = incident("SAS", 1, "ALT-1", "new");
        assert!(hq
            .apply(&other)
            .unwrap_err()
            .contains("is not one of SAS's"));
        other = incident("SAS", 1, "SAS-1", "hacked");
        assert!(hq.apply(&other).is_err());
        other = incident("SAS", 1, "SAS-1", "new");
        if let Payload::Incident(i) = &mut other.payload {
            i.team = Some("P1\u{7}\u{1b}]0;x".into());
        }
        assert!(hq.apply(&other).unwrap_err().contains("not a team name"));
        assert_eq!(hq.stations().unwrap(), []);
        assert_eq!(hq.open_incidents().unwrap(), []);
    }
}
