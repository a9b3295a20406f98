//! The desk's [`Facts`], read through the writer's connection inside the open transaction, so
//! a rule sees everything committed and everything the same batch applied before it.

use rusqlite::{params, Connection, OptionalExtension};

use crate::desk::{
    AmbRow, AmbState, DeskResult, Facts, GroupedAck, IncidentFacts, PendingAck, Placed,
    RecentIncident, SentRow, SurgeFacts, TeamHealth,
};
use crate::incident::{Kind, Outcome, State, Status};
use crate::lang::Lang;
use faro_proto::mesh;

/// Reads for the desk over the writer's connection.
pub(super) struct SqlFacts<'c>(pub(super) &'c Connection);

const AMB_COLUMNS: &str = "id, incident, municipality, node, status, requested_by";

fn amb_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AmbRow> {
    let status: String = r.get(4)?;
    Ok(AmbRow {
        id: r.get(0)?,
        incident: r.get(1)?,
        municipality: r.get(2)?,
        node: r.get(3)?,
        status: status.parse().unwrap_or(AmbState::Pending),
        requested_by: r.get(5)?,
    })
}

impl SqlFacts<'_> {
    fn amb_rows<P: rusqlite::Params>(&self, filter: &str, p: P) -> DeskResult<Vec<AmbRow>> {
        let sql = format!("SELECT {AMB_COLUMNS} FROM ambulance WHERE {filter}");
        let mut st = self.0.prepare_cached(&sql)?;
        let rows = st.query_map(p, amb_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// A stored precision (NULL: recorded before precision was kept, when only exact positions
/// were recorded as such).
fn bits(b: Option<u32>) -> u32 {
    b.unwrap_or(mesh::FULL_PRECISION)
}

impl Facts for SqlFacts<'_> {
    fn next_seq(&self) -> DeskResult<u32> {
        Ok(self
            .0
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM incidents")?
            .query_row([], |r| r.get(0))?)
    }

    fn recent_incident_of(&self, node: u32, since: i64) -> DeskResult<Option<RecentIncident>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, heard_count, last_reply_at FROM incidents
                 WHERE reporter = ?1 AND state != 'closed' AND last_heard_at >= ?2
                 ORDER BY last_heard_at DESC LIMIT 1",
            )?
            .query_row(params![node, since], |r| {
                Ok(RecentIncident {
                    id: r.get(0)?,
                    heard_count: r.get(1)?,
                    last_reply_at: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn last_known(&self, node: u32) -> DeskResult<Option<Placed>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT lat, lon, precision_bits, position_at FROM nodes WHERE num = ?1 AND lat IS NOT NULL",
            )?
            .query_row([node], |r| {
                Ok(Placed {
                    lat: r.get(0)?,
                    lon: r.get(1)?,
                    precision_bits: bits(r.get(2)?),
                    at: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn node_battery(&self, node: u32) -> DeskResult<Option<(Option<u32>, i64)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT battery_level, telemetry_at FROM nodes WHERE num = ?1 AND telemetry_at IS NOT NULL",
            )?
            .query_row([node], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn incident(&self, id: &str) -> DeskResult<Option<IncidentFacts>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, state, team, outcome, priority, people, lat, lon, precision_bits, position_at,
                        kind, flags, priority_why, reporter, language
                 FROM incidents WHERE id = ?1",
            )?
            .query_row([id], |r| {
                let state: String = r.get(1)?;
                let outcome: Option<String> = r.get(3)?;
                let lat: Option<f64> = r.get(6)?;
                let lon: Option<f64> = r.get(7)?;
                let position = match (lat, lon) {
                    (Some(lat), Some(lon)) => Some(Placed {
                        lat,
                        lon,
                        precision_bits: bits(r.get(8)?),
                        at: r.get::<_, Option<i64>>(9)?.unwrap_or(0),
                    }),
                    _ => None,
                };
                Ok(IncidentFacts {
                    id: r.get(0)?,
                    status: Status {
                        state: state.parse().unwrap_or(State::New),
                        team: r.get(2)?,
                        outcome: outcome.and_then(|o| o.parse::<Outcome>().ok()),
                    },
                    priority: r.get(4)?,
                    people: r.get(5)?,
                    position,
                    kind: r.get::<_, String>(10)?.parse().unwrap_or(Kind::Distress),
                    flags: r
                        .get::<_, String>(11)?
                        .split(',')
                        .filter_map(|f| f.parse().ok())
                        .collect(),
                    why: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
                    reporter: r.get(13)?,
                    language: r.get::<_, String>(14)?.parse().unwrap_or(Lang::Es),
                })
            })
            .optional()?)
    }

    fn team_open(&self, team: &str, limit: usize) -> DeskResult<Vec<(String, State)>> {
        let mut st = self.0.prepare_cached(
            "SELECT id, state FROM incidents WHERE team = ?1 AND state != 'closed'
             ORDER BY priority, created_at LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![team, limit as i64], |r| {
                let state: String = r.get(1)?;
                Ok((r.get(0)?, state.parse().unwrap_or(State::New)))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn hints_since(&self, node: u32, since: i64) -> DeskResult<Vec<String>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT text FROM messages
             WHERE node = ?1 AND at > ?3 AND direction = 'out' AND understood = ?2
             ORDER BY at, id",
        )?;
        let rows = stmt.query_map(
            params![node, crate::catalog::Msg::CmdUsage.as_str(), since],
            |r| r.get(0),
        )?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }

    fn node_language(&self, node: u32) -> DeskResult<Option<Lang>> {
        // What it wrote last in words that tell a language, else what its last incident was
        // answered in.
        let l: Option<String> = self
            .0
            .prepare_cached(
                "SELECT language FROM messages WHERE node = ?1 AND direction = 'in' AND language IS NOT NULL
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row([node], |r| r.get(0))
            .optional()?;
        let l = match l {
            Some(l) => Some(l),
            None => self
                .0
                .prepare_cached(
                    "SELECT language FROM incidents WHERE reporter = ?1 ORDER BY created_at DESC, seq DESC LIMIT 1",
                )?
                .query_row([node], |r| r.get(0))
                .optional()?,
        };
        Ok(l.and_then(|l| l.parse().ok()))
    }

    fn enrolled_keys(&self, node: u32) -> DeskResult<Vec<crate::trust::PublicKey>> {
        let mut st = self
            .0
            .prepare_cached("SELECT key FROM keys WHERE node = ?1 ORDER BY enrolled_at")?;
        let keys = st
            .query_map([node], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(keys
            .iter()
            .filter_map(|k| crate::trust::PublicKey::from_bytes(k))
            .collect())
    }

    fn pending_answer(&self, row: i64) -> DeskResult<Option<(u32, String)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT node, text FROM pending_answers WHERE id = ?1 AND state = 'pending'",
            )?
            .query_row([row], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn node_key(&self, node: u32) -> DeskResult<Option<crate::trust::PublicKey>> {
        let k: Option<Option<Vec<u8>>> = self
            .0
            .prepare_cached("SELECT public_key FROM nodes WHERE num = ?1")?
            .query_row([node], |r| r.get(0))
            .optional()?;
        Ok(k.flatten()
            .and_then(|k| crate::trust::PublicKey::from_bytes(&k)))
    }

    fn nodes_with_key(&self, key: crate::trust::PublicKey) -> DeskResult<Vec<u32>> {
        let mut st = self
            .0
            .prepare_cached("SELECT num FROM nodes WHERE public_key = ?1 ORDER BY num")?;
        let nodes = st
            .query_map([&key.0[..]], |r| r.get(0))?
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(nodes)
    }

    fn said_since(&self, node: u32, msg: crate::catalog::Msg, since: i64) -> DeskResult<bool> {
        let said: bool = self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM messages
                 WHERE node = ?1 AND at > ?3 AND direction = 'out' AND understood = ?2)",
            )?
            .query_row(params![node, msg.as_str(), since], |r| r.get(0))?;
        Ok(said)
    }

    fn said_text_since(&self, node: u32, text: &str, since: i64) -> DeskResult<bool> {
        let said: bool = self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM messages
                 WHERE node = ?1 AND at > ?3 AND direction = 'out' AND text = ?2)",
            )?
            .query_row(params![node, text, since], |r| r.get(0))?;
        Ok(said)
    }

    fn asked_since(&self, node: u32, since: i64) -> DeskResult<bool> {
        self.said_since(node, crate::catalog::Msg::AskHelp, since)
    }

    fn amb_active(&self, incident: &str) -> DeskResult<Option<AmbRow>> {
        Ok(self
            .amb_rows(
                "incident = ?1 AND status IN ('pending', 'sent', 'delivered', 'call', 'accepted')
                 ORDER BY attempt DESC LIMIT 1",
                [incident],
            )?
            .pop())
    }

    fn amb_taken(&self, incident: &str) -> DeskResult<Option<AmbRow>> {
        Ok(self
            .amb_rows(
                "incident = ?1 AND status IN ('accepted', 'arrived') ORDER BY attempt DESC LIMIT 1",
                [incident],
            )?
            .pop())
    }

    fn amb_asked(&self, incident: &str) -> DeskResult<Vec<String>> {
        let mut st = self.0.prepare_cached(
            "SELECT municipality FROM ambulance WHERE incident = ?1 ORDER BY attempt",
        )?;
        let v = st
            .query_map([incident], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    }

    fn amb_by_outbox(&self, row: i64) -> DeskResult<Option<AmbRow>> {
        Ok(self.amb_rows("outbox_id = ?1", [row])?.pop())
    }

    fn amb_overdue(&self, at: i64) -> DeskResult<Vec<AmbRow>> {
        self.amb_rows(
            "status IN ('pending', 'sent', 'delivered', 'call') AND deadline_at <= ?1 ORDER BY id",
            [at],
        )
    }

    fn amb_reminders_due(&self, at: i64) -> DeskResult<Vec<AmbRow>> {
        self.amb_rows(
            "status IN ('sent', 'delivered') AND reminded = 0 AND reminder_at <= ?1 AND node IS NOT NULL ORDER BY id",
            [at],
        )
    }

    fn amb_answerable(&self, node: u32) -> DeskResult<Vec<AmbRow>> {
        self.amb_rows(
            "node = ?1 AND status IN ('pending', 'sent', 'delivered', 'accepted', 'timed_out', 'declined', 'undeliverable', 'cancelled') ORDER BY id",
            [node],
        )
    }

    fn team(&self, team: &str) -> DeskResult<(Option<i64>, TeamHealth)> {
        let last: Option<i64> = self
            .0
            .prepare_cached("SELECT MAX(at) FROM team_positions WHERE team = ?1")?
            .query_row([team], |r| r.get(0))?;
        let status: Option<String> = self
            .0
            .prepare_cached("SELECT status FROM teams WHERE name = ?1")?
            .query_row([team], |r| r.get(0))
            .optional()?;
        Ok((
            last,
            status
                .and_then(|s| s.parse().ok())
                .unwrap_or(TeamHealth::Unknown),
        ))
    }

    fn team_incidents(&self, team: &str) -> DeskResult<Vec<String>> {
        let mut st = self.0.prepare_cached(
            "SELECT id FROM incidents WHERE team = ?1 AND state != 'closed' ORDER BY seq",
        )?;
        let v = st
            .query_map([team], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    }

    fn sent_row(&self, radio: &str, packet_id: u32) -> DeskResult<Option<SentRow>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT id, attempts, incident, dest, max_attempts FROM outbox
                 WHERE radio = ?1 AND packet_id = ?2 AND state = 'sent'",
            )?
            .query_row(params![radio, packet_id], |r| {
                Ok(SentRow {
                    row: r.get(0)?,
                    attempts: r.get(1)?,
                    incident: r.get(2)?,
                    dest: r.get(3)?,
                    max_attempts: r.get(4)?,
                })
            })
            .optional()?)
    }

    fn outbox_incident(&self, row: i64) -> DeskResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT incident FROM outbox WHERE id = ?1")?
            .query_row([row], |r| r.get(0))
            .optional()?
            .flatten())
    }

    fn surge(&self) -> DeskResult<Option<SurgeFacts>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT s.since, s.cause,
                        (SELECT count(*) FROM grouped_acks g WHERE g.sent_at >= s.since)
                 FROM surges s WHERE s.ended_at IS NULL ORDER BY s.id DESC LIMIT 1",
            )?
            .query_row([], |r| {
                Ok(SurgeFacts {
                    since: r.get(0)?,
                    cause: r.get(1)?,
                    grouped: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn pending_replies(&self) -> DeskResult<u32> {
        let classes = crate::desk::ESTIMATED_CLASSES;
        Ok(self
            .0
            .prepare_cached(
                "SELECT count(*) FROM outbox
                 WHERE state IN ('pending', 'sending') AND class BETWEEN ?1 AND ?2 AND dest != ?3",
            )?
            .query_row(
                params![classes.start(), classes.end(), mesh::BROADCAST],
                |r| r.get(0),
            )?)
    }

    fn grouped_waiting(&self) -> DeskResult<Vec<GroupedAck>> {
        let mut st = self.0.prepare_cached(
            "SELECT id, node, incident, language, short_name FROM grouped_acks
             WHERE sent_at IS NULL ORDER BY id",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(GroupedAck {
                    id: r.get(0)?,
                    node: r.get(1)?,
                    incident: r.get(2)?,
                    language: r.get::<_, String>(3)?.parse().unwrap_or(Lang::Es),
                    short_name: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn pending_acks(&self, from_class: u8) -> DeskResult<Vec<PendingAck>> {
        let mut st = self.0.prepare_cached(
            "SELECT o.id, o.dest, o.incident, i.language FROM outbox o
             JOIN messages m ON m.outbox_id = o.id
             LEFT JOIN incidents i ON i.id = o.incident
             WHERE o.state = 'pending' AND o.class BETWEEN ?1 AND ?2 AND m.understood = 'distress_ack'
             ORDER BY o.id",
        )?;
        let rows = st
            .query_map([from_class, crate::desk::CLASS_P3], |r| {
                Ok(PendingAck {
                    row: r.get(0)?,
                    node: r.get(1)?,
                    incident: r.get(2)?,
                    language: r
                        .get::<_, Option<String>>(3)?
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(Lang::Es),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn short_name(&self, node: u32) -> DeskResult<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT short_name FROM nodes WHERE num = ?1")?
            .query_row([node], |r| r.get(0))
            .optional()?
            .flatten())
    }

    fn next_locate(&self) -> DeskResult<i64> {
        Ok(crate::casework::locate::next_id(self.0)?)
    }

    fn locate(&self, id: i64) -> DeskResult<Option<crate::desk::LocateFacts>> {
        Ok(crate::casework::locate::facts(self.0, id)?)
    }
}
