//! What the uplink reads: the changes not yet acknowledged by the broker, each with the
//! current state of what changed in headquarters' profile (no personal data, no text).

use rusqlite::params;

use super::{Reader, Res};
use crate::store::StoreError;
use crate::uplink::message::{IncidentState, Payload, TeamState};

/// One change to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The station's sequence number of the change.
    pub seq: i64,
    /// When it changed (ms).
    pub at: i64,
    /// What it is now.
    pub payload: Payload,
}

/// Where the uplink stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UplinkStatus {
    /// Whether changes are being noted (an `[uplink]` is configured).
    pub enabled: bool,
    /// The highest sequence number the broker acknowledged.
    pub acked: i64,
    /// Changes noted and not yet acknowledged.
    pub backlog: i64,
}

impl Reader {
    /// Up to `limit` changes after `after`, oldest first.
    pub fn uplink_pending(&self, after: i64, limit: usize) -> Res<Vec<Pending>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, topic, at, body FROM uplink WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![after, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, topic, at, body) in rows {
            let payload = match topic.as_str() {
                "incident" => {
                    let raw: RawIncident = serde_json::from_str(&body)
                        .map_err(|e| StoreError::Db(format!("uplink row {seq}: {e}")))?;
                    Payload::Incident(raw.into())
                }
                _ => Payload::Team(
                    serde_json::from_str::<TeamState>(&body)
                        .map_err(|e| StoreError::Db(format!("uplink row {seq}: {e}")))?,
                ),
            };
            out.push(Pending { seq, at, payload });
        }
        Ok(out)
    }

    /// Where the uplink stands.
    pub fn uplink_status(&self) -> Res<UplinkStatus> {
        let (enabled, acked): (bool, i64) = self.conn.query_row(
            "SELECT enabled, acked FROM uplink_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let backlog: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM uplink WHERE seq > ?1", [acked], |r| {
                    r.get(0)
                })?;
        Ok(UplinkStatus {
            enabled,
            acked,
            backlog,
        })
    }
}

/// An incident as the trigger wrote it (flags as stored: comma-separated).
#[derive(Debug, serde::Deserialize)]
struct RawIncident {
    id: String,
    state: String,
    outcome: Option<String>,
    kind: String,
    priority: u8,
    people: Option<u32>,
    flags: String,
    lat: Option<f64>,
    lon: Option<f64>,
    team: Option<String>,
    created_at: i64,
    updated_at: i64,
    closed_at: Option<i64>,
}

impl From<RawIncident> for IncidentState {
    fn from(r: RawIncident) -> Self {
        IncidentState {
            id: r.id,
            state: r.state,
            outcome: r.outcome,
            kind: r.kind,
            priority: r.priority,
            people: r.people,
            flags: r
                .flags
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            lat: r.lat,
            lon: r.lon,
            team: r.team,
            created_at: r.created_at,
            updated_at: r.updated_at,
            closed_at: r.closed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("faro.db")).unwrap();
        crate::store::migrations::migrate(&mut conn).unwrap();
        (dir, conn)
    }

    fn open_incident(conn: &Connection, id: &str, seq: i64) {
        conn.execute(
            "INSERT INTO incidents(id, seq, state, kind, priority, priority_why, people, flags,
                                   source, reporter, language, lat, lon, created_at, updated_at,
                                   last_heard_at)
             VALUES (?1, ?2, 'new', 'medical', 1, '[\"said \\\"hijo\\\": children\"]', 3,
                     'children,pregnant', 'text', 1515848449, 'es', 31.420734, -111.755471,
                     1000, 1000, 1000)",
            params![id, seq],
        )
        .unwrap();
    }

    #[test]
    fn nothing_is_noted_while_off_and_every_change_is_while_on_in_the_profile() {
        let (dir, conn) = db();
        open_incident(&conn, "SAS-1", 1);
        let r = Reader::open(&dir.path().join("faro.db")).unwrap();
        assert_eq!(r.uplink_pending(0, 10).unwrap(), []);
        assert_eq!(
            r.uplink_status().unwrap(),
            UplinkStatus {
                enabled: false,
                acked: 0,
                backlog: 0
            }
        );

        conn.execute("UPDATE uplink_state SET enabled = 1", [])
            .unwrap();
        open_incident(&conn, "SAS-2", 2);
        conn.execute(
            "UPDATE incidents SET state = 'assigned', team = 'P1', updated_at = 2000 WHERE id = 'SAS-2'",
            [],
        )
        .unwrap();
        // What headquarters does not see changes nothing it is told.
        conn.execute(
            "UPDATE incidents SET last_heard_at = 3000, heard_count = 2 WHERE id = 'SAS-2'",
            [],
        )
        .unwrap();
        let p = r.uplink_pending(0, 10).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].seq < p[1].seq);
        let Payload::Incident(first) = &p[0].payload else {
            panic!("{p:?}")
        };
        assert_eq!(
            (
                first.id.as_str(),
                first.state.as_str(),
                first.team.as_deref()
            ),
            ("SAS-2", "new", None),
            "a change is sent as it was then, not as it is now"
        );
        assert_eq!(first.flags, ["children", "pregnant"]);
        assert_eq!((first.lat, first.lon), (Some(31.421), Some(-111.755)));
        let Payload::Incident(second) = &p[1].payload else {
            panic!("{p:?}")
        };
        assert_eq!(second.team.as_deref(), Some("P1"));
        // Nothing of the sender: the whole row as stored.
        let bodies: Vec<String> = conn
            .prepare("SELECT body FROM uplink")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for b in &bodies {
            for personal in [
                "hijo",
                "1515848449",
                "reporter",
                "why",
                "language",
                "source",
            ] {
                assert!(!b.contains(personal), "{personal} in {b}");
            }
        }
        assert_eq!(r.uplink_status().unwrap().backlog, 2);
        // Acknowledged rows go, and the sequence never reuses a number.
        conn.execute("UPDATE uplink_state SET acked = ?1", [p[1].seq])
            .unwrap();
        conn.execute("DELETE FROM uplink WHERE seq <= ?1", [p[1].seq])
            .unwrap();
        conn.execute(
            "UPDATE incidents SET state = 'closed', closed_at = 5000, updated_at = 5000 WHERE id = 'SAS-1'",
            [],
        )
        .unwrap();
        let next = r.uplink_pending(p[1].seq, 10).unwrap();
        assert_eq!(next.len(), 1);
        assert!(next[0].seq > p[1].seq);
    }
}
