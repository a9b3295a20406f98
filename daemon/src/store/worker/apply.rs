//! Applying the desk's effects: each [`Effect`] becomes its rows, in order, inside the input's
//! transaction. Nothing here decides: a new rule never needs a change in this file unless it
//! invents a new kind of effect.

use faro_proto::mesh::{self, PortNum};
use rusqlite::params;

use super::{Res, Worker};
use crate::desk::{Effect, Message, NewAttempt, NewIncident, Refusal};
use crate::store::{EventView, Live};

impl Worker {
    /// Applies a decision's effects in order, at time `at`.
    pub(super) fn apply_effects(&mut self, effects: Vec<Effect>, at: i64) -> Res<()> {
        for e in effects {
            self.apply_one(e, at)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, e: Effect, at: i64) -> Res<()> {
        match e {
            Effect::Open(inc) => self.insert_incident(&inc, at)?,
            Effect::Heard { id, count } => {
                self.exec(
                    "UPDATE incidents SET heard_count = ?2, last_heard_at = ?3, updated_at = ?3 WHERE id = ?1",
                    params![id, count, at],
                )?;
            }
            Effect::Position { id, pos, source } => {
                self.exec(
                    "UPDATE incidents SET lat = ?2, lon = ?3, precision_bits = ?4, position_source = ?5,
                     position_at = ?6, updated_at = ?7 WHERE id = ?1",
                    params![id, pos.lat, pos.lon, pos.precision_bits, source.as_str(), pos.at, at],
                )?;
            }
            Effect::Status { id, status } => {
                if !status.state.is_open() {
                    // What was queued for it before the close is pointless now; what the
                    // close itself queues (the confirmation, cancels, the patrol told) is
                    // written in this transaction, at this time, and stays.
                    self.drop_unsent(
                        "o.incident = ?1 AND o.class > ?2 AND o.created_at < ?3",
                        params![id, crate::desk::CLASS_AMBULANCE, at],
                        crate::desk::DROP_CLOSED,
                        at,
                    )?;
                }
                let closed_at = (!status.state.is_open()).then_some(at);
                self.exec(
                    "UPDATE incidents SET state = ?2, team = ?3, outcome = ?4, updated_at = ?5, closed_at = ?6 WHERE id = ?1",
                    params![
                        id,
                        status.state.as_str(),
                        status.team,
                        status.outcome.map(|o| o.as_str()),
                        at,
                        closed_at
                    ],
                )?;
            }
            Effect::Triage {
                id,
                kind,
                priority,
                why,
                people,
                flags,
            } => {
                let why = serde_json::to_string(&why).unwrap_or_else(|_| "[]".into());
                let flags: Vec<&str> = flags.iter().map(|f| f.as_str()).collect();
                self.exec(
                    "UPDATE incidents SET kind = ?2, priority = ?3, priority_why = ?4, people = ?5, flags = ?6,
                     updated_at = ?7 WHERE id = ?1",
                    params![id, kind.as_str(), priority, why, people, flags.join(","), at],
                )?;
            }
            Effect::Replied { id } => {
                self.exec(
                    "UPDATE incidents SET last_reply_at = ?2 WHERE id = ?1",
                    params![id, at],
                )?;
            }
            Effect::Event {
                incident,
                who,
                via,
                what,
            } => self.event(incident.as_deref(), at, &who, &via, &what)?,
            Effect::Queue(m) => {
                self.queue(&m, at)?;
            }
            Effect::NodePosition {
                node,
                pos,
                alt,
                team,
            } => {
                self.exec(
                    "UPDATE nodes SET lat = ?2, lon = ?3, alt = ?4, position_at = ?5, precision_bits = ?6
                     WHERE num = ?1 AND (position_at IS NULL OR position_at <= ?5)",
                    params![node, pos.lat, pos.lon, alt, pos.at, pos.precision_bits],
                )?;
                if let Some(team) = team {
                    self.exec(
                        "INSERT INTO team_positions(team, node, at, lat, lon, alt, precision_bits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![team, node, at, pos.lat, pos.lon, alt, pos.precision_bits],
                    )?;
                    self.exec("UPDATE nodes SET role = 'patrol' WHERE num = ?1", [node])?;
                }
            }
            Effect::NodeBattery {
                node,
                level,
                voltage,
                at: measured,
            } => {
                self.exec(
                    "UPDATE nodes SET battery_level = ?2, voltage = ?3, telemetry_at = ?4
                     WHERE num = ?1 AND (telemetry_at IS NULL OR telemetry_at <= ?4)",
                    params![node, level, voltage, measured],
                )?;
            }
            Effect::Enrolled {
                node,
                key,
                holder_kind,
                holder,
                by,
            } => {
                self.exec(
                    "INSERT INTO keys(node, key, holder_kind, holder, enrolled_at, enrolled_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![node, &key.0[..], holder_kind, holder, at, by],
                )?;
            }
            Effect::PendingAnswer {
                node,
                municipality,
                text,
            } => {
                self.exec(
                    "INSERT INTO pending_answers(at, node, municipality, text, state)
                     VALUES (?1, ?2, ?3, ?4, 'pending')",
                    params![at, node, municipality, text],
                )?;
            }
            Effect::AnswerDecided { row, confirmed, by } => {
                self.exec(
                    "UPDATE pending_answers SET state = ?2, decided_at = ?3, decided_by = ?4 WHERE id = ?1",
                    params![row, if confirmed { "confirmed" } else { "rejected" }, at, by],
                )?;
            }
            Effect::NodeKey { node, key } => {
                self.exec(
                    "INSERT INTO nodes(num, public_key) VALUES (?1, ?2)
                     ON CONFLICT(num) DO UPDATE SET public_key = excluded.public_key",
                    params![node, &key.0[..]],
                )?;
            }
            Effect::NodeNames {
                node,
                long_name,
                short_name,
            } => {
                self.exec(
                    "UPDATE nodes SET long_name = ?2, short_name = ?3 WHERE num = ?1",
                    params![node, long_name, short_name],
                )?;
            }
            Effect::AmbStart(a) => self.insert_attempt(&a, at)?,
            Effect::AmbStatus {
                row,
                status,
                answered,
            } => {
                self.exec(
                    "UPDATE ambulance SET status = ?2, answered_at = COALESCE(?3, answered_at) WHERE id = ?1",
                    params![row, status.as_str(), answered.then_some(at)],
                )?;
            }
            Effect::AmbEta { row, eta } => {
                self.exec(
                    "UPDATE ambulance SET eta_minutes = ?2 WHERE id = ?1",
                    params![row, eta],
                )?;
            }
            Effect::AmbReason { row, reason } => {
                self.exec(
                    "UPDATE ambulance SET reason = ?2 WHERE id = ?1",
                    params![row, reason],
                )?;
            }
            Effect::AmbReminded { row } => {
                self.exec("UPDATE ambulance SET reminded = 1 WHERE id = ?1", [row])?;
            }
            Effect::AmbTimers {
                row,
                deadline_at,
                reminder_at,
            } => {
                self.exec(
                    "UPDATE ambulance SET deadline_at = ?2, reminder_at = ?3 WHERE id = ?1",
                    params![row, deadline_at, reminder_at],
                )?;
            }
            Effect::AmbWithdraw { row } => {
                self.exec(
                    "UPDATE outbox SET state = 'done', last_error = 'cancelled', updated_at = ?2
                     WHERE state IN ('pending', 'sending') AND id IN (
                         SELECT outbox_id FROM ambulance WHERE id = ?1
                         UNION
                         SELECT o.id FROM outbox o JOIN ambulance a ON a.id = ?1
                          JOIN messages m ON m.outbox_id = o.id
                          WHERE o.incident = a.incident AND o.dest = a.node
                            AND m.understood = 'ambulance_reminder')",
                    params![row, at],
                )?;
            }
            Effect::Oriented { topic, language } => {
                // Counted per UTC day, topic and language; never who asked.
                self.exec(
                    "INSERT INTO orientations(day, topic, language, count)
                     VALUES (date(?1 / 1000, 'unixepoch'), ?2, ?3, 1)
                     ON CONFLICT(day, topic, language) DO UPDATE SET count = count + 1",
                    params![at, topic.as_str(), language.as_str()],
                )?;
            }
            Effect::TeamStatus { team, status } => {
                self.exec(
                    "UPDATE teams SET status = ?2, changed_at = ?3 WHERE name = ?1",
                    params![team, status.as_str(), at],
                )?;
            }
            Effect::Group {
                node,
                incident,
                language,
                short_name,
            } => {
                self.exec(
                    "INSERT INTO grouped_acks(node, incident, language, short_name, queued_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![node, incident, language.as_str(), short_name, at],
                )?;
            }
            Effect::GroupSent { ids } => {
                for id in ids {
                    self.exec(
                        "UPDATE grouped_acks SET sent_at = ?2 WHERE id = ?1",
                        params![id, at],
                    )?;
                }
            }
            Effect::SurgeStart { cause } => {
                self.exec(
                    "INSERT INTO surges(since, cause) VALUES (?1, ?2)",
                    params![at, cause],
                )?;
            }
            Effect::SurgeEnd => {
                self.exec(
                    "UPDATE surges SET ended_at = ?1,
                            grouped = (SELECT count(*) FROM grouped_acks WHERE sent_at >= surges.since)
                     WHERE ended_at IS NULL",
                    [at],
                )?;
            }
            Effect::OutboxState {
                row,
                state,
                next_attempt_at,
                error,
            } => {
                self.exec(
                    "UPDATE outbox SET state = ?2, next_attempt_at = COALESCE(?3, next_attempt_at),
                     last_error = ?4, updated_at = ?5 WHERE id = ?1",
                    params![row, state, next_attempt_at, error, at],
                )?;
            }
            Effect::LocateOpen(l) => {
                self.exec(
                    "INSERT INTO location_requests(id, at, requester_kind, people_sought, place, lat, lon,
                         radius_km, last_seen_on, state, recorded_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open', ?10, ?2)",
                    params![
                        l.id,
                        at,
                        l.requester.as_str(),
                        l.people,
                        l.place,
                        l.lat,
                        l.lon,
                        l.radius_km,
                        l.last_seen_on,
                        l.recorded_by
                    ],
                )?;
            }
            Effect::LocateTask { id, team } => {
                self.exec(
                    "UPDATE location_requests SET state = 'searching', team = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, team, at],
                )?;
            }
            Effect::LocateFound { id, found } => {
                self.exec(
                    "UPDATE location_requests SET found = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, found, at],
                )?;
            }
            Effect::LocateClose { id, outcome, found } => {
                // A search task still waiting for the air is pointless now: dropped unsent,
                // like an incident's replies at its close. Its text names the request
                // (`... LOC-5: ...`, every language's template).
                let name = crate::casework::Subject::Locate(id).to_string();
                self.drop_unsent(
                    "o.incident IS NULL AND m.understood = ?1 AND CAST(o.payload AS TEXT) LIKE ?2
                     AND o.created_at < ?3",
                    params![
                        crate::catalog::Msg::LocateTask.as_str(),
                        format!("% {name}:%"),
                        at
                    ],
                    &format!("{name} was closed"),
                    at,
                )?;
                self.exec(
                    "UPDATE location_requests SET state = 'closed', outcome = ?2, found = COALESCE(?3, found),
                     closed_at = ?4, updated_at = ?4 WHERE id = ?1",
                    params![id, outcome.as_str(), found, at],
                )?;
            }
            Effect::LocateReported { id } => {
                self.exec(
                    "UPDATE location_requests SET reported_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, at],
                )?;
            }
        }
        Ok(())
    }

    fn insert_incident(&mut self, inc: &NewIncident, at: i64) -> Res<()> {
        let why = serde_json::to_string(&inc.why).unwrap_or_else(|_| "[]".into());
        let (pos, src) = match inc.position {
            Some((p, s)) => (Some(p), Some(s.as_str())),
            None => (None, None),
        };
        self.exec(
            "INSERT INTO incidents(id, seq, state, kind, priority, priority_why, people, flags, source, reporter, language,
                                   lat, lon, precision_bits, position_source, position_at, created_at, updated_at, last_heard_at)
             VALUES (?1, ?2, 'new', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?16)",
            params![
                inc.id,
                inc.seq,
                inc.kind.as_str(),
                inc.priority,
                why,
                inc.people,
                inc.flags.join(","),
                inc.source,
                inc.reporter,
                inc.language.as_str(),
                pos.map(|p| p.lat),
                pos.map(|p| p.lon),
                pos.map(|p| p.precision_bits),
                src,
                pos.map(|p| p.at),
                at
            ],
        )?;
        Ok(())
    }

    fn insert_attempt(&mut self, a: &NewAttempt, at: i64) -> Res<()> {
        self.exec(
            "INSERT INTO ambulance(incident, attempt, municipality, muni_state, node, phone, distance_km, status,
                                   requested_by, requested_at, deadline_at, reminder_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                a.incident,
                a.attempt,
                a.municipality,
                a.muni_state,
                a.node,
                a.phone,
                a.distance_km,
                a.status.as_str(),
                a.requested_by,
                at,
                a.deadline_at,
                a.reminder_at
            ],
        )?;
        let row = self.conn.last_insert_rowid();
        if let Some(m) = &a.request {
            let out = self.queue(m, at)?;
            self.exec(
                "UPDATE ambulance SET outbox_id = ?2 WHERE id = ?1",
                params![row, out],
            )?;
        }
        Ok(())
    }

    /// Drops the unsent outbox rows `filter` selects (an SQL condition on `outbox`), each
    /// with an event on its incident (or the station's) saying why; never transmitted.
    fn drop_unsent(
        &mut self,
        filter: &str,
        args: impl rusqlite::Params,
        why: &str,
        at: i64,
    ) -> Res<()> {
        let sql = format!(
            "SELECT o.id, o.incident, o.dest, coalesce(m.understood, 'message') FROM outbox o
             LEFT JOIN messages m ON m.outbox_id = o.id
             WHERE o.state IN ('pending', 'sending') AND {filter}"
        );
        let rows: Vec<(i64, Option<String>, u32, String)> = {
            let mut st = self.conn.prepare_cached(&sql)?;
            let rows = st
                .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        for (row, incident, dest, what) in rows {
            self.exec(
                "UPDATE outbox SET state = 'dropped', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                params![row, why, at],
            )?;
            self.event(
                incident.as_deref(),
                at,
                "system",
                "outbox",
                &format!(
                    "{what} to {} dropped unsent: {why}",
                    faro_proto::mesh::NodeId(dest)
                ),
            )?;
        }
        Ok(())
    }

    /// Writes an outbox row; its id.
    fn queue(&mut self, m: &Message, at: i64) -> Res<i64> {
        if let (Some(kind), Some(incident)) = (m.msg, &m.incident) {
            let old = crate::desk::superseded_by(kind);
            if !old.is_empty() {
                let kinds: Vec<String> = old.iter().map(|k| format!("'{}'", k.as_str())).collect();
                self.drop_unsent(
                    &format!(
                        "o.dest = ?1 AND o.incident = ?2 AND m.understood IN ({})",
                        kinds.join(", ")
                    ),
                    params![m.dest, incident],
                    crate::desk::DROP_SUPERSEDED,
                    at,
                )?;
            }
        }
        let payload = m.text.as_bytes();
        if payload.len() > mesh::PAYLOAD_BUDGET {
            return Err(Refusal::Invalid(format!(
                "message is {} bytes; the budget is {}",
                payload.len(),
                mesh::PAYLOAD_BUDGET
            ))
            .into());
        }
        self.exec(
            "INSERT INTO outbox(created_at, class, incident, dest, channel, portnum, payload, want_ack, state,
                                next_attempt_at, updated_at, max_attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?1, ?1, ?9)",
            params![
                at,
                m.class,
                m.incident,
                m.dest,
                self.cfg.channel,
                PortNum::TextMessageApp as i32,
                payload,
                m.dest != mesh::BROADCAST,
                m.max_attempts
            ],
        )?;
        let row = self.conn.last_insert_rowid();
        let understood = m.msg.map_or("operator text", |k| k.as_str());
        // The conversation: what Faro said, to whom; its delivery is the outbox row's state.
        self.exec(
            "INSERT INTO messages(at, direction, node, channel, text, understood, incident, outbox_id)
             VALUES (?1, 'out', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                at,
                m.dest,
                self.cfg.channel,
                m.text,
                understood,
                m.incident,
                row
            ],
        )?;
        self.publish_message(
            at,
            "out",
            m.dest,
            &m.text,
            None,
            understood,
            m.incident.as_deref(),
        );
        Ok(row)
    }

    /// An entry of the audit trail, published live once the transaction commits.
    pub(super) fn event(
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
        self.pending_events.push(Live::Event(EventView {
            id,
            incident: incident.map(str::to_string),
            at: crate::store::rfc3339(at),
            who: who.to_string(),
            via: via.to_string(),
            what: what.to_string(),
        }));
        Ok(())
    }
}
