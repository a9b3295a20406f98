//! Ambulance requests inside the writer's transaction: asking a municipality, escalating to
//! the next, timers (deadline, one reminder) kept in the database so they survive a restart,
//! and the dispatchers' answers. The rules are in [`crate::dispatch`]; this records them.

use faro_proto::mesh::NodeId;
use faro_proto::text::{parse_municipality_reply, MunicipalityReply};
use rusqlite::{params, OptionalExtension};

use super::{Res, Worker, CLASS_DISTRESS, CLASS_PATROL};
use crate::catalog::Msg;
use crate::dispatch::{self, AmbEvent, AmbState, Candidate};
use crate::ingest::Lang;
use crate::store::{IngestOutcome, Rx, StoreError};

/// One row of the `ambulance` table.
#[derive(Debug, Clone)]
pub(super) struct AmbRow {
    id: i64,
    incident: String,
    municipality: String,
    node: Option<u32>,
    status: AmbState,
    requested_by: String,
}

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

impl Worker {
    /// The attempt still in play for an incident, if any.
    fn amb_active(&self, incident: &str) -> Res<Option<AmbRow>> {
        let sql = format!(
            "SELECT {AMB_COLUMNS} FROM ambulance WHERE incident = ?1
             AND status IN ('pending', 'sent', 'delivered', 'call', 'accepted') ORDER BY attempt DESC LIMIT 1"
        );
        Ok(self.conn.query_row(&sql, [incident], amb_row).optional()?)
    }

    /// Asks for an ambulance for `incident`: the named municipality, else the nearest with a
    /// contact that was not asked yet. Refused (nothing written) when the incident is closed,
    /// has no position, or already has a request in play.
    pub(super) fn amb_request(
        &mut self,
        incident: &str,
        who: &str,
        via: &str,
        muni: Option<&str>,
        at: i64,
    ) -> Res<()> {
        let (id, status) = self.require(incident)?;
        if !status.state.is_open() {
            return Err(StoreError::Refused(format!("{id} is closed")));
        }
        if let Some(active) = self.amb_active(&id)? {
            return Err(StoreError::Refused(format!(
                "{id}: an ambulance was already asked of {} ({})",
                active.municipality, active.status
            )));
        }
        let Some((lat, lon)) = self.position_of(&id)? else {
            return Err(StoreError::Refused(format!(
                "{id} has no position: record one first (faroctl position {id} LAT,LON); Faro does not guess"
            )));
        };
        let cand = match muni {
            Some(name) => {
                let folded = faro_proto::text::fold(name);
                let idx = self
                    .cfg
                    .municipalities
                    .iter()
                    .position(|m| faro_proto::text::fold(&m.name) == folded)
                    .ok_or_else(|| {
                        StoreError::Refused(format!(
                            "no municipality {name:?} in the configuration"
                        ))
                    })?;
                let m = &self.cfg.municipalities[idx];
                if m.nodes.is_empty() && m.phones.is_empty() {
                    return Err(StoreError::Refused(format!(
                        "{} has no contact configured",
                        m.name
                    )));
                }
                Candidate {
                    index: idx,
                    distance_km: crate::geo::haversine_km(lat, lon, m.lat, m.lon),
                }
            }
            None => {
                let asked = self.amb_asked(&id)?;
                match dispatch::candidates(&self.cfg.municipalities, lat, lon, &asked)
                    .into_iter()
                    .next()
                {
                    Some(c) => c,
                    None => {
                        return Err(StoreError::Refused(format!(
                            "{id}: no municipality with a contact is left to ask"
                        )))
                    }
                }
            }
        };
        self.amb_start(&id, cand, who, via, at)
    }

    fn position_of(&self, id: &str) -> Res<Option<(f64, f64)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT lat, lon FROM incidents WHERE id = ?1 AND lat IS NOT NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn amb_asked(&self, id: &str) -> Res<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT municipality FROM ambulance WHERE incident = ?1")?;
        let v = st
            .query_map([id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    }

    /// A new attempt: the row, the request message (committed with it), the events.
    fn amb_start(&mut self, id: &str, cand: Candidate, who: &str, via: &str, at: i64) -> Res<()> {
        let m = self.cfg.municipalities[cand.index].clone();
        let attempt: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(attempt), 0) + 1 FROM ambulance WHERE incident = ?1",
            [id],
            |r| r.get(0),
        )?;
        let deadline = at + self.cfg.amb_deadline.as_millis() as i64;
        let reminder = dispatch::reminder_at(at, self.cfg.amb_deadline, self.cfg.amb_reminder);
        let node = m.nodes.first().copied();
        let status = if node.is_some() {
            AmbState::Pending
        } else {
            AmbState::Call
        };
        let phone = m.phones.first().cloned();
        self.exec(
            "INSERT INTO ambulance(incident, attempt, municipality, muni_state, node, phone, distance_km, status,
                                   requested_by, requested_at, deadline_at, reminder_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![id, attempt, m.name, m.state, node, phone, cand.distance_km, status.as_str(), who, at, deadline, reminder],
        )?;
        let row = self.conn.last_insert_rowid();
        let km = cand.distance_km.round();
        match node {
            Some(node) => {
                let text = self.amb_request_text(id, m.language())?;
                let out = self.queue_text(Some(id), node, &text, CLASS_DISTRESS, at)?;
                self.exec(
                    "UPDATE outbox SET max_attempts = ?2 WHERE id = ?1",
                    params![out, self.cfg.amb_send_attempts],
                )?;
                self.exec(
                    "UPDATE ambulance SET outbox_id = ?2 WHERE id = ?1",
                    params![row, out],
                )?;
                let what = format!(
                    "ambulance requested from {} ({km} km, node {}), attempt {attempt}; answer due in {} min",
                    m.name,
                    NodeId(node),
                    self.cfg.amb_deadline.as_secs() / 60
                );
                self.event(Some(id), at, who, via, &what)?;
                self.amb_notify(
                    id,
                    who,
                    Msg::PatrolAmbRequested,
                    &[("municipality", &m.name)],
                    at,
                )?;
            }
            None => {
                let what = format!(
                    "ambulance: {} ({km} km) has no mesh contact: call {} and record the answer (faroctl ambulance {id} --accepted MIN | --declined)",
                    m.name,
                    phone.as_deref().unwrap_or("?")
                );
                self.event(Some(id), at, who, via, &what)?;
            }
        }
        Ok(())
    }

    /// The request text for a municipality, within the payload budget.
    fn amb_request_text(&self, id: &str, lang: Lang) -> Res<String> {
        let inc = self.conn.query_row(
            "SELECT priority, people, lat, lon FROM incidents WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, u8>(0)?,
                    r.get::<_, Option<u32>>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, f64>(3)?,
                ))
            },
        )?;
        let (priority, people, lat, lon) = inc;
        let place = crate::geo::Gazetteer::builtin()
            .nearest(lat, lon)
            .map(|n| {
                if n.distance_km < 1.0 {
                    n.place.name.clone()
                } else {
                    format!(
                        "{} km {} {}",
                        n.distance_km.round(),
                        crate::geo::compass8(n.bearing_deg, lang.as_str()),
                        n.place.name
                    )
                }
            })
            .unwrap_or_default();
        let p = format!("P{priority}");
        let people = people.map_or("?".to_string(), |n| n.to_string());
        let (la, lo) = (format!("{lat:.5}"), format!("{lon:.5}"));
        let render = |place: &str| {
            self.cfg.catalog.render(
                lang,
                Msg::AmbulanceRequest,
                &[
                    ("id", id),
                    ("priority", &p),
                    ("people", &people),
                    ("lat", &la),
                    ("lon", &lo),
                    ("place", place),
                ],
            )
        };
        let text = render(&place);
        // The reply instructions at the end must survive: drop the place rather than cut them.
        Ok(if text.len() >= faro_proto::mesh::PAYLOAD_BUDGET {
            render("")
        } else {
            text
        })
    }

    /// Tells the patrol that asked and the team assigned (each once).
    fn amb_notify(
        &mut self,
        id: &str,
        requested_by: &str,
        msg: Msg,
        args: &[(&str, &str)],
        at: i64,
    ) -> Res<()> {
        let mut teams: Vec<String> = Vec::new();
        if let Some(t) = requested_by.strip_prefix("patrol:") {
            teams.push(t.to_string());
        }
        let assigned: Option<String> =
            self.conn
                .query_row("SELECT team FROM incidents WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        if let Some(t) = assigned.filter(|t| !teams.contains(t)) {
            teams.push(t);
        }
        let mut all = vec![("id", id)];
        all.extend_from_slice(args);
        for team in teams {
            let node = self
                .cfg
                .teams
                .iter()
                .find(|t| t.name == team)
                .and_then(|t| t.nodes.first().copied());
            if let Some(node) = node {
                let text = self.cfg.catalog.render(Lang::Es, msg, &all);
                self.queue_text(Some(id), node, &text, CLASS_PATROL, at)?;
            }
        }
        Ok(())
    }

    /// Moves an attempt; escalates when it ended without an ambulance.
    fn amb_step(
        &mut self,
        row: &AmbRow,
        ev: AmbEvent,
        who: &str,
        via: &str,
        at: i64,
    ) -> Res<AmbState> {
        let next = dispatch::step(row.status, ev)
            .map_err(|e| StoreError::Refused(format!("{}: {e}", row.incident)))?;
        if next == row.status {
            return Ok(next);
        }
        let answered = matches!(ev, AmbEvent::Accepted | AmbEvent::Declined).then_some(at);
        self.exec(
            "UPDATE ambulance SET status = ?2, answered_at = COALESCE(?3, answered_at) WHERE id = ?1",
            params![row.id, next.as_str(), answered],
        )?;
        if next.escalates() {
            let why = match next {
                AmbState::Declined => "declined",
                AmbState::TimedOut => "did not answer in time",
                _ => "could not be reached by radio",
            };
            self.event(
                Some(&row.incident),
                at,
                who,
                via,
                &format!("ambulance: {} {why}", row.municipality),
            )?;
            self.amb_escalate(row, next, at)?;
        }
        Ok(next)
    }

    /// Asks the next municipality, or records that none is left.
    fn amb_escalate(&mut self, row: &AmbRow, why: AmbState, at: i64) -> Res<()> {
        let id = row.incident.clone();
        let asked = self.amb_asked(&id)?;
        let next = self.position_of(&id)?.and_then(|(lat, lon)| {
            dispatch::candidates(&self.cfg.municipalities, lat, lon, &asked)
                .into_iter()
                .next()
        });
        let open = self.status_of(&id)?.is_some_and(|s| s.state.is_open());
        match next.filter(|_| open && asked.len() < self.cfg.amb_max_municipalities) {
            Some(c) => {
                let name = self.cfg.municipalities[c.index].name.clone();
                let msg = if why == AmbState::Declined {
                    Msg::PatrolAmbDeclined
                } else {
                    Msg::PatrolAmbEscalated
                };
                self.amb_notify(
                    &id,
                    &row.requested_by,
                    msg,
                    &[("municipality", &row.municipality), ("next", &name)],
                    at,
                )?;
                self.amb_start(&id, c, "system", "dispatch", at)
            }
            None if open => {
                let what = format!(
                    "ambulance: no municipality left to ask after {} ({} asked); call by phone",
                    row.municipality,
                    asked.len()
                );
                self.event(Some(&id), at, "system", "dispatch", &what)?;
                self.amb_notify(&id, &row.requested_by, Msg::PatrolAmbExhausted, &[], at)
            }
            None => Ok(()),
        }
    }

    /// The outbox handed an ambulance request to a radio.
    pub(super) fn amb_on_sent(&mut self, outbox_row: i64, at: i64) -> Res<()> {
        if let Some(row) = self.amb_by_outbox(outbox_row)? {
            self.amb_step(&row, AmbEvent::Sent, "system", "outbox", at)?;
        }
        Ok(())
    }

    /// The radio's final word on an ambulance request: delivered, or given up.
    pub(super) fn amb_on_delivery(
        &mut self,
        outbox_row: i64,
        outbox_state: &str,
        radio: &str,
        at: i64,
    ) -> Res<()> {
        let Some(row) = self.amb_by_outbox(outbox_row)? else {
            return Ok(());
        };
        let ev = match outbox_state {
            "acked" | "implicit" => AmbEvent::Delivered,
            "failed" => AmbEvent::Undeliverable,
            _ => return Ok(()),
        };
        if dispatch::step(row.status, ev).is_ok() {
            self.amb_step(&row, ev, "system", radio, at)?;
        }
        Ok(())
    }

    fn amb_by_outbox(&self, outbox_row: i64) -> Res<Option<AmbRow>> {
        let sql = format!("SELECT {AMB_COLUMNS} FROM ambulance WHERE outbox_id = ?1");
        Ok(self
            .conn
            .query_row(&sql, [outbox_row], amb_row)
            .optional()?)
    }

    /// Deadlines and reminders that came due.
    pub(super) fn amb_tick(&mut self, at: i64) -> Res<()> {
        let sql = format!(
            "SELECT {AMB_COLUMNS} FROM ambulance WHERE status IN ('pending', 'sent', 'delivered', 'call') AND deadline_at <= ?1"
        );
        let due: Vec<AmbRow> = {
            let mut st = self.conn.prepare(&sql)?;
            let v = st
                .query_map([at], amb_row)?
                .collect::<Result<Vec<_>, _>>()?;
            v
        };
        for row in due {
            self.amb_step(&row, AmbEvent::Deadline, "system", "timer", at)?;
        }
        let reminders: Vec<(i64, String, u32, String)> = {
            let mut st = self.conn.prepare(
                "SELECT a.id, a.incident, a.node, a.municipality FROM ambulance a
                 WHERE a.status IN ('sent', 'delivered') AND a.reminded = 0 AND a.reminder_at <= ?1 AND a.node IS NOT NULL",
            )?;
            let v = st
                .query_map([at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            v
        };
        for (row, id, node, muni) in reminders {
            let lang = self.muni_lang(&muni);
            let text = self
                .cfg
                .catalog
                .render(lang, Msg::AmbulanceReminder, &[("id", &id)]);
            self.queue_text(Some(&id), node, &text, CLASS_DISTRESS, at)?;
            self.conn
                .execute("UPDATE ambulance SET reminded = 1 WHERE id = ?1", [row])?;
            self.event(
                Some(&id),
                at,
                "system",
                "timer",
                &format!("ambulance: reminder sent to {muni}"),
            )?;
        }
        Ok(())
    }

    fn muni_lang(&self, name: &str) -> Lang {
        self.cfg
            .municipalities
            .iter()
            .find(|m| m.name == name)
            .map_or(Lang::Es, |m| m.language())
    }

    /// A dispatcher's text. Only the municipality's own nodes get here (ingest checks the
    /// sender against the configuration); a reply naming a request this node was not asked
    /// is refused and recorded.
    pub(super) fn amb_reply(
        &mut self,
        rx: &Rx,
        node: u32,
        text: &str,
        at: i64,
        out: &mut IngestOutcome,
    ) -> Res<()> {
        let who = format!("node:{}", NodeId(node));
        let muni = self
            .cfg
            .municipalities
            .iter()
            .find(|m| m.nodes.contains(&node))
            .map(|m| (m.name.clone(), m.language()));
        let Some((muni, lang)) = muni else {
            return Ok(());
        };
        let open: Vec<AmbRow> = {
            let sql = format!(
                "SELECT {AMB_COLUMNS} FROM ambulance WHERE node = ?1
                 AND status IN ('pending', 'sent', 'delivered', 'accepted', 'timed_out') ORDER BY id"
            );
            let mut st = self.conn.prepare(&sql)?;
            let v = st
                .query_map([node], amb_row)?
                .collect::<Result<Vec<_>, _>>()?;
            v
        };
        let reply = match parse_municipality_reply(text) {
            Some(Ok(r)) => r,
            parsed => {
                let awaiting = open.iter().any(|r| r.status.awaiting_answer());
                if parsed.is_some() || awaiting {
                    let err = match parsed {
                        Some(Err(e)) => e,
                        _ => faro_proto::text::ReplyError::MissingVerb,
                    };
                    self.event(
                        None,
                        at,
                        &who,
                        &rx.radio,
                        &format!("unreadable answer from {muni}: {err}"),
                    )?;
                    self.amb_hint(node, lang, err.usage(), at, out)?;
                }
                return Ok(());
            }
        };
        let (named, ev) = match &reply {
            MunicipalityReply::Accept { id, .. } => (id.clone(), AmbEvent::Accepted),
            MunicipalityReply::Decline { id, .. } => (id.clone(), AmbEvent::Declined),
            MunicipalityReply::Arrived { id } => (id.clone(), AmbEvent::Arrived),
        };
        let row = match &named {
            Some(id) => {
                let id = id.to_string();
                let exists = self.status_of(&id)?;
                let mine = open.iter().rev().find(|r| r.incident == id).cloned();
                match (exists, mine) {
                    (Some(s), Some(row)) if s.state.is_open() => row,
                    (Some(s), None) if s.state.is_open() => {
                        self.event(
                            Some(&id),
                            at,
                            &who,
                            &rx.radio,
                            &format!("answer from {muni} refused: it was not asked for {id}"),
                        )?;
                        return Ok(());
                    }
                    _ => {
                        self.event(
                            None,
                            at,
                            &who,
                            &rx.radio,
                            &format!("answer from {muni} names {id}, which is unknown or closed"),
                        )?;
                        let t = self.cfg.catalog.render(
                            lang,
                            Msg::ReplyUnknownIncident,
                            &[("id", &id)],
                        );
                        self.queue_text(None, node, &t, CLASS_PATROL, at)?;
                        out.queued += 1;
                        return Ok(());
                    }
                }
            }
            None if open.len() == 1 => open[0].clone(),
            None => {
                self.event(
                    None,
                    at,
                    &who,
                    &rx.radio,
                    &format!("answer from {muni} without an incident id"),
                )?;
                self.amb_hint(
                    node,
                    lang,
                    faro_proto::text::ReplyError::MissingVerb.usage(),
                    at,
                    out,
                )?;
                return Ok(());
            }
        };
        let next = match self.amb_step(&row, ev, &who, &rx.radio, at) {
            Ok(n) => n,
            Err(StoreError::Refused(why)) => {
                self.event(
                    Some(&row.incident),
                    at,
                    &who,
                    &rx.radio,
                    &format!("answer from {muni} refused: {why}"),
                )?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let id = row.incident.clone();
        match (&reply, next) {
            (MunicipalityReply::Accept { eta_minutes, .. }, AmbState::Accepted) => {
                self.exec(
                    "UPDATE ambulance SET eta_minutes = ?2 WHERE id = ?1",
                    params![row.id, eta_minutes],
                )?;
                let eta = eta_minutes.map_or(String::new(), |m| m.to_string());
                self.event(
                    Some(&id),
                    at,
                    &who,
                    &rx.radio,
                    &format!(
                        "ambulance accepted by {muni}, ETA {} min",
                        if eta.is_empty() { "?" } else { &eta }
                    ),
                )?;
                let t = self.cfg.catalog.render(
                    lang,
                    Msg::AmbulanceThanks,
                    &[("id", &id), ("eta", &eta)],
                );
                self.queue_text(Some(&id), node, &t, CLASS_PATROL, at)?;
                self.amb_notify(
                    &id,
                    &row.requested_by,
                    Msg::PatrolAmbAccepted,
                    &[("municipality", &muni), ("eta", &eta)],
                    at,
                )?;
            }
            (MunicipalityReply::Arrived { .. }, AmbState::Arrived) => {
                self.event(
                    Some(&id),
                    at,
                    &who,
                    &rx.radio,
                    &format!("ambulance from {muni} arrived"),
                )?;
                let t = self
                    .cfg
                    .catalog
                    .render(lang, Msg::AmbulanceArrivedThanks, &[("id", &id)]);
                self.queue_text(Some(&id), node, &t, CLASS_PATROL, at)?;
                self.amb_notify(&id, &row.requested_by, Msg::PatrolAmbArrived, &[], at)?;
            }
            (
                MunicipalityReply::Decline {
                    reason: Some(r), ..
                },
                _,
            ) => {
                self.exec(
                    "UPDATE ambulance SET reason = ?2 WHERE id = ?1",
                    params![row.id, r],
                )?;
            }
            _ => {}
        }
        out.incident = Some((id, false));
        out.queued += 1;
        Ok(())
    }

    /// One usage hint per node per `hint_interval`.
    fn amb_hint(
        &mut self,
        node: u32,
        lang: Lang,
        usage: &str,
        at: i64,
        out: &mut IngestOutcome,
    ) -> Res<()> {
        if self.hint_due(node, at)? {
            let t = self
                .cfg
                .catalog
                .render(lang, Msg::ReplyUsage, &[("usage", usage)]);
            self.queue_text(None, node, &t, CLASS_PATROL, at)?;
            out.queued += 1;
        }
        Ok(())
    }

    /// The station cancels the request in play and tells the municipality.
    pub(super) fn amb_cancel(&mut self, incident: &str, who: &str, at: i64) -> Res<String> {
        let (id, _) = self.require(incident)?;
        let row = self
            .amb_active(&id)?
            .ok_or_else(|| StoreError::Refused(format!("{id} has no ambulance request in play")))?;
        self.amb_step(&row, AmbEvent::Cancel, who, "faroctl", at)?;
        self.event(
            Some(&id),
            at,
            who,
            "faroctl",
            &format!("ambulance request to {} cancelled", row.municipality),
        )?;
        if let (Some(node), false) = (row.node, row.status == AmbState::Pending) {
            let lang = self.muni_lang(&row.municipality);
            let t = self
                .cfg
                .catalog
                .render(lang, Msg::AmbulanceCancel, &[("id", &id)]);
            self.queue_text(Some(&id), node, &t, CLASS_DISTRESS, at)?;
        }
        if row.status == AmbState::Pending {
            // Not sent yet: make sure it never is.
            self.exec(
                "UPDATE outbox SET state = 'done', last_error = 'cancelled' WHERE id = (SELECT outbox_id FROM ambulance WHERE id = ?1) AND state = 'pending'",
                [row.id],
            )?;
        }
        Ok(id)
    }

    /// The operator records the answer to a phone call (or any answer given off the mesh).
    pub(super) fn amb_record(
        &mut self,
        incident: &str,
        accepted: bool,
        eta: Option<u32>,
        who: &str,
        at: i64,
    ) -> Res<String> {
        let (id, _) = self.require(incident)?;
        let row = self
            .amb_active(&id)?
            .ok_or_else(|| StoreError::Refused(format!("{id} has no ambulance request in play")))?;
        let ev = if accepted {
            AmbEvent::Accepted
        } else {
            AmbEvent::Declined
        };
        let next = self.amb_step(&row, ev, who, "faroctl", at)?;
        if next == AmbState::Accepted {
            self.exec(
                "UPDATE ambulance SET eta_minutes = ?2 WHERE id = ?1",
                params![row.id, eta],
            )?;
            let eta = eta.map_or(String::new(), |m| m.to_string());
            self.event(
                Some(&id),
                at,
                who,
                "faroctl",
                &format!(
                    "ambulance accepted by {} (by phone), ETA {} min",
                    row.municipality,
                    if eta.is_empty() { "?" } else { &eta }
                ),
            )?;
            self.amb_notify(
                &id,
                &row.requested_by,
                Msg::PatrolAmbAccepted,
                &[("municipality", &row.municipality), ("eta", &eta)],
                at,
            )?;
        }
        Ok(id)
    }
}
