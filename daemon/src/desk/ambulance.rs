//! Ambulance requests: asking a municipality, escalating to the next, the deadline and one
//! reminder (timers live in the database, so they survive a restart), and the dispatchers'
//! answers. Which municipality and which moves are allowed are [`crate::dispatch`]'s pure
//! rules; this decides what the station does with them.

use faro_proto::mesh::NodeId;
use faro_proto::text::{parse_municipality_reply, MunicipalityReply, ReplyError};

use super::{
    node_who, AmbRow, Desk, DeskResult, Effect, Facts, IncidentFacts, Message, NewAttempt, Refusal,
    CLASS_AMBULANCE, CLASS_PATROL,
};
use super::{Rx, StoreError};
use crate::catalog::Msg;
use crate::dispatch::{self, AmbEvent, AmbState, Candidate};
use crate::lang::Lang;

/// A request not yet on air times out after this many deadlines (and is withdrawn).
const QUEUED_BACKSTOP: i64 = 3;

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// Asks for an ambulance for `inc`: the named municipality, else the nearest with a
    /// contact not asked yet. Refused (no effect at all) when the incident is closed, has no
    /// position, or already has a request in play.
    pub(super) fn amb_request_for(
        &mut self,
        inc: &IncidentFacts,
        who: &str,
        via: &str,
        muni: Option<&str>,
    ) -> DeskResult<()> {
        let id = &inc.id;
        if !inc.status.state.is_open() {
            return Err(Refusal::Conflict(format!("{id} is closed")).into());
        }
        if let Some(active) = self.facts.amb_active(id)? {
            return Err(Refusal::Conflict(format!(
                "{id}: an ambulance was already asked of {} ({})",
                active.municipality, active.status
            ))
            .into());
        }
        let Some(pos) = inc.position else {
            return Err(Refusal::Conflict(format!(
                "{id} has no position: record one first (faroctl position {id} LAT,LON); Faro does not guess"
            ))
            .into());
        };
        let asked = self.facts.amb_asked(id)?;
        let cand = match muni {
            Some(name) => {
                let folded = faro_proto::text::fold(name);
                let idx = self
                    .cfg
                    .municipalities
                    .iter()
                    .position(|m| faro_proto::text::fold(&m.name) == folded)
                    .ok_or_else(|| {
                        Refusal::NotFound(format!("no municipality {name:?} in the configuration"))
                    })?;
                let m = &self.cfg.municipalities[idx];
                if m.nodes.is_empty() && m.phones.is_empty() {
                    return Err(
                        Refusal::Conflict(format!("{} has no contact configured", m.name)).into(),
                    );
                }
                Candidate {
                    index: idx,
                    distance_km: crate::geo::haversine_km(pos.lat, pos.lon, m.lat, m.lon),
                }
            }
            None => dispatch::candidates(&self.cfg.municipalities, pos.lat, pos.lon, &asked)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Refusal::Conflict(format!(
                        "{id}: no municipality with a contact is left to ask"
                    ))
                })?,
        };
        self.amb_start(inc, asked.len(), cand, who, via);
        Ok(())
    }

    /// A new attempt: the row, the request message (committed with it), the events.
    fn amb_start(
        &mut self,
        inc: &IncidentFacts,
        asked_before: usize,
        cand: Candidate,
        who: &str,
        via: &str,
    ) {
        let id = inc.id.as_str();
        let m = self.cfg.municipalities[cand.index].clone();
        let attempt = asked_before as u32 + 1;
        let node = m.nodes.first().copied();
        // A request over the mesh is answered from the moment it is on air (`amb_on_sent`
        // sets both timers then); until then only a backstop applies, in case it never gets
        // on air at all. A phone call is answered from now.
        let (deadline, reminder) = if node.is_some() {
            (
                self.at + QUEUED_BACKSTOP * self.cfg.amb_deadline.as_millis() as i64,
                None,
            )
        } else {
            (
                self.at + self.cfg.amb_deadline.as_millis() as i64,
                dispatch::reminder_at(self.at, self.cfg.amb_deadline, self.cfg.amb_reminder),
            )
        };
        let km = cand.distance_km.round();
        let request = node.map(|node| Message {
            incident: Some(id.to_string()),
            dest: node,
            text: self.amb_request_text(inc, m.language()),
            class: CLASS_AMBULANCE,
            max_attempts: Some(self.cfg.amb_send_attempts),
            msg: Some(Msg::AmbulanceRequest),
        });
        let phone = m.phones.first().cloned();
        self.out.effects.push(Effect::AmbStart(Box::new(NewAttempt {
            incident: id.to_string(),
            attempt,
            municipality: m.name.clone(),
            muni_state: m.state.clone(),
            node,
            phone: phone.clone(),
            distance_km: cand.distance_km,
            status: if node.is_some() {
                AmbState::Pending
            } else {
                AmbState::Call
            },
            requested_by: who.to_string(),
            deadline_at: deadline,
            reminder_at: reminder,
            request,
        })));
        match node {
            Some(node) => {
                let what = format!(
                    "ambulance requested from {} ({km} km, node {}), attempt {attempt}; answer due {} min after it is on air",
                    m.name,
                    NodeId(node),
                    self.cfg.amb_deadline.as_secs() / 60
                );
                self.event(Some(id), who, via, what);
                self.amb_notify(
                    inc,
                    who,
                    Msg::PatrolAmbRequested,
                    &[("municipality", &m.name)],
                );
            }
            None => {
                let what = format!(
                    "ambulance: {} ({km} km) has no mesh contact: call {} and record the answer (faroctl ambulance {id} --accepted MIN | --declined)",
                    m.name,
                    phone.as_deref().unwrap_or("?")
                );
                self.event(Some(id), who, via, what);
            }
        }
    }

    /// The request text for a municipality, within the payload budget.
    fn amb_request_text(&self, inc: &IncidentFacts, lang: Lang) -> String {
        let (lat, lon) = inc.position.map_or((0.0, 0.0), |p| (p.lat, p.lon));
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
        let p = format!("P{}", inc.priority);
        let people = inc.people.map_or("?".to_string(), |n| n.to_string());
        let (la, lo) = (format!("{lat:.5}"), format!("{lon:.5}"));
        let render = |place: &str| {
            self.render(
                lang,
                Msg::AmbulanceRequest,
                &[
                    ("id", &inc.id),
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
        if text.len() >= faro_proto::mesh::PAYLOAD_BUDGET {
            render("")
        } else {
            text
        }
    }

    /// Tells the patrol that asked and the team assigned (each once).
    /// Tells a municipality's dispatcher that the ambulance for `id` is no longer needed.
    fn amb_tell_cancelled(&mut self, id: &str, node: u32, lang: Lang) {
        self.say(
            Some(id),
            node,
            CLASS_AMBULANCE,
            lang,
            Msg::AmbulanceCancel,
            &[("id", id)],
        );
    }

    fn amb_notify(
        &mut self,
        inc: &IncidentFacts,
        requested_by: &str,
        msg: Msg,
        args: &[(&str, &str)],
    ) {
        let mut teams: Vec<String> = Vec::new();
        if let Some(t) = requested_by.strip_prefix("patrol:") {
            teams.push(t.to_string());
        }
        if let Some(t) = inc.status.team.clone().filter(|t| !teams.contains(t)) {
            teams.push(t);
        }
        let mut all = vec![("id", inc.id.as_str())];
        all.extend_from_slice(args);
        for team in teams {
            if let Some(node) = self.team_node(&team) {
                let lang = self.team_lang(&team);
                self.say(Some(&inc.id), node, CLASS_PATROL, lang, msg, &all);
            }
        }
    }

    /// Moves an attempt; escalates when it ended without an ambulance. Refused when the move
    /// does not apply to the attempt's state.
    fn amb_step(
        &mut self,
        row: &AmbRow,
        ev: AmbEvent,
        who: &str,
        via: &str,
    ) -> DeskResult<AmbState> {
        let next = dispatch::step(row.status, ev)
            .map_err(|e| Refusal::Conflict(format!("{}: {e}", row.incident)))?;
        if next == row.status {
            return Ok(next);
        }
        self.out.effects.push(Effect::AmbStatus {
            row: row.id,
            status: next,
            answered: matches!(ev, AmbEvent::Accepted | AmbEvent::Declined),
        });
        if row.node.is_some() && row.status.awaiting_answer() && !next.awaiting_answer() {
            // Settled: its request or reminder, if not on air yet, never is.
            self.out.effects.push(Effect::AmbWithdraw { row: row.id });
        }
        if next.escalates() {
            let why = match next {
                AmbState::Declined => "declined",
                AmbState::TimedOut => "did not answer in time",
                _ => "could not be reached by radio",
            };
            self.event(
                Some(&row.incident),
                who,
                via,
                format!("ambulance: {} {why}", row.municipality),
            );
            self.amb_escalate(row, next)?;
        }
        Ok(next)
    }

    /// Asks the next municipality, or records that none is left.
    fn amb_escalate(&mut self, row: &AmbRow, why: AmbState) -> DeskResult<()> {
        let Some(inc) = self.facts.incident(&row.incident)? else {
            return Ok(());
        };
        if !inc.status.state.is_open() {
            return Ok(());
        }
        let asked = self.facts.amb_asked(&inc.id)?;
        let next = inc.position.and_then(|p| {
            dispatch::candidates(&self.cfg.municipalities, p.lat, p.lon, &asked)
                .into_iter()
                .next()
        });
        match next.filter(|_| asked.len() < self.cfg.amb_max_municipalities) {
            Some(c) => {
                let name = self.cfg.municipalities[c.index].name.clone();
                let msg = if why == AmbState::Declined {
                    Msg::PatrolAmbDeclined
                } else {
                    Msg::PatrolAmbEscalated
                };
                self.amb_notify(
                    &inc,
                    &row.requested_by,
                    msg,
                    &[("municipality", &row.municipality), ("next", &name)],
                );
                self.amb_start(&inc, asked.len(), c, "system", "dispatch");
            }
            None => {
                let what = format!(
                    "ambulance: no municipality left to ask after {} ({} asked); call by phone",
                    row.municipality,
                    asked.len()
                );
                self.event(Some(&inc.id), "system", "dispatch", what);
                self.amb_notify(&inc, &row.requested_by, Msg::PatrolAmbExhausted, &[]);
            }
        }
        Ok(())
    }

    /// The outbox handed outbox row `row` to a radio.
    pub fn amb_on_sent(&mut self, outbox_row: i64) -> DeskResult<()> {
        if let Some(row) = self.facts.amb_by_outbox(outbox_row)? {
            if row.status == AmbState::Pending {
                self.amb_step(&row, AmbEvent::Sent, "system", "outbox")?;
                // The municipality's time to answer runs from now, not from when the request
                // was queued (replies queued ahead of it must not eat its deadline).
                self.out.effects.push(Effect::AmbTimers {
                    row: row.id,
                    deadline_at: self.at + self.cfg.amb_deadline.as_millis() as i64,
                    reminder_at: dispatch::reminder_at(
                        self.at,
                        self.cfg.amb_deadline,
                        self.cfg.amb_reminder,
                    ),
                });
            }
        }
        Ok(())
    }

    /// The radio's final word on an ambulance request: delivered, or given up.
    pub(super) fn amb_on_delivery(
        &mut self,
        outbox_row: i64,
        outbox_state: &str,
        radio: &str,
    ) -> DeskResult<()> {
        let Some(row) = self.facts.amb_by_outbox(outbox_row)? else {
            return Ok(());
        };
        let ev = match outbox_state {
            "acked" | "implicit" => AmbEvent::Delivered,
            "failed" => AmbEvent::Undeliverable,
            _ => return Ok(()),
        };
        if dispatch::step(row.status, ev).is_ok() {
            self.amb_step(&row, ev, "system", radio)?;
        }
        Ok(())
    }

    /// Deadlines and reminders that came due.
    pub fn amb_tick(&mut self) -> DeskResult<()> {
        let overdue = self.facts.amb_overdue(self.at)?;
        for row in &overdue {
            self.amb_step(row, AmbEvent::Deadline, "system", "timer")?;
        }
        // A late tick (after a restart) may find both due: the deadline wins.
        let reminders = self.facts.amb_reminders_due(self.at)?;
        for row in reminders
            .into_iter()
            .filter(|r| !overdue.iter().any(|o| o.id == r.id))
        {
            let Some(node) = row.node else { continue };
            // A closed incident needs no ambulance reminded of it.
            let open = self.facts.incident(&row.incident)?;
            if !open.is_some_and(|i| i.status.state.is_open()) {
                continue;
            }
            let lang = self.muni_lang(&row.municipality);
            // Sent like the request (its attempt limit marks a question to the municipality,
            // never retried once the attempt is settled).
            let text = self.render(lang, Msg::AmbulanceReminder, &[("id", &row.incident)]);
            self.out.effects.push(Effect::Queue(Message {
                incident: Some(row.incident.clone()),
                dest: node,
                text,
                class: CLASS_AMBULANCE,
                max_attempts: Some(self.cfg.amb_send_attempts),
                msg: Some(Msg::AmbulanceReminder),
            }));
            self.out.effects.push(Effect::AmbReminded { row: row.id });
            self.event(
                Some(&row.incident),
                "system",
                "timer",
                format!("ambulance: reminder sent to {}", row.municipality),
            );
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
    pub(super) fn amb_reply(&mut self, rx: &Rx, node: u32, text: &str) -> DeskResult<()> {
        let Some(m) = self
            .cfg
            .municipalities
            .iter()
            .find(|m| m.nodes.contains(&node))
        else {
            return Ok(());
        };
        let (muni, lang, pki) = (m.name.clone(), m.language(), m.pki);
        if !pki {
            // Its radio cannot prove who sent this: an operator confirms it (by phone, say)
            // before it counts.
            self.out.effects.push(Effect::PendingAnswer {
                node,
                municipality: muni.clone(),
                text: text.to_string(),
            });
            let what = format!(
                "answer from {muni} ({}) awaits an operator's confirmation: its radio cannot prove who sent it (faroctl answers)",
                NodeId(node)
            );
            self.event(None, &node_who(node), &rx.radio, what);
            return Ok(());
        }
        if !self.verified(rx, node, &format!("municipality {muni}"), lang)? {
            return Ok(());
        }
        self.amb_answer(&rx.radio, node, text)
    }

    /// A municipality's answer that counts (verified, or confirmed by an operator): what it
    /// says of the requests it was sent.
    pub(super) fn amb_answer(&mut self, via: &str, node: u32, text: &str) -> DeskResult<()> {
        let who = node_who(node);
        let Some((muni, lang)) = self
            .cfg
            .municipalities
            .iter()
            .find(|m| m.nodes.contains(&node))
            .map(|m| (m.name.clone(), m.language()))
        else {
            return Ok(());
        };
        // Attempts an answer may concern; those of closed incidents are not (a "yes" to a
        // closed incident would send an ambulance nobody needs).
        let mine_all = self.facts.amb_answerable(node)?;
        let mut open = Vec::new();
        for row in &mine_all {
            if self
                .facts
                .incident(&row.incident)?
                .is_some_and(|i| i.status.state.is_open())
            {
                open.push(row.clone());
            }
        }
        let reply = match parse_municipality_reply(text) {
            Some(Ok(r)) => r,
            parsed => {
                let awaiting = open.iter().any(|r| r.status.awaiting_answer());
                if parsed.is_some() || awaiting {
                    let err = match parsed {
                        Some(Err(e)) => e,
                        _ => ReplyError::MissingVerb,
                    };
                    self.event(
                        None,
                        &who,
                        via,
                        format!("unreadable answer from {muni}: {err}"),
                    );
                    self.hint(node, lang, Msg::ReplyUsage, err.usage())?;
                }
                return Ok(());
            }
        };
        // Without an id, an answer is about the one request still in play for this node.
        let live: Vec<AmbRow> = open
            .iter()
            .filter(|r| r.status.active() || r.status == AmbState::TimedOut)
            .cloned()
            .collect();
        let (named, ev) = match &reply {
            MunicipalityReply::Accept { id, .. } => (id.clone(), AmbEvent::Accepted),
            MunicipalityReply::Decline { id, .. } => (id.clone(), AmbEvent::Declined),
            MunicipalityReply::Arrived { id } => (id.clone(), AmbEvent::Arrived),
        };
        let row = match &named {
            Some(id) => {
                let id = id.to_string();
                let exists = self.facts.incident(&id)?;
                let mine = open.iter().rev().find(|r| r.incident == id).cloned();
                match (exists, mine) {
                    (Some(inc), Some(row)) if inc.status.state.is_open() => row,
                    (Some(inc), None) if inc.status.state.is_open() => {
                        self.event(
                            Some(&id),
                            &who,
                            via,
                            format!("answer from {muni} refused: it was not asked for {id}"),
                        );
                        return Ok(());
                    }
                    (Some(_), _)
                        if ev == AmbEvent::Accepted
                            && mine_all.iter().any(|r| r.incident == id) =>
                    {
                        // A yes for an incident closed since: no ambulance may set out.
                        self.event(
                            Some(&id),
                            &who,
                            via,
                            format!(
                                "ambulance: {muni} answered OK for {id}, which is closed: told it is no longer needed"
                            ),
                        );
                        self.amb_tell_cancelled(&id, node, lang);
                        return Ok(());
                    }
                    _ => {
                        self.event(
                            None,
                            &who,
                            via,
                            format!("answer from {muni} names {id}, which is unknown or closed"),
                        );
                        self.say(
                            None,
                            node,
                            CLASS_PATROL,
                            lang,
                            Msg::ReplyUnknownIncident,
                            &[("id", &id)],
                        );
                        return Ok(());
                    }
                }
            }
            None if live.len() == 1 => live[0].clone(),
            None if live.is_empty() && open.len() == 1 => open[0].clone(),
            None => {
                self.event(
                    None,
                    &who,
                    via,
                    format!("answer from {muni} without an incident id"),
                );
                self.hint(node, lang, Msg::ReplyUsage, ReplyError::MissingVerb.usage())?;
                return Ok(());
            }
        };
        if self.amb_late(&row, ev, node, lang, &who, via)? {
            return Ok(());
        }
        // A refused move is recorded, and nothing else of this answer is applied.
        let mark = self.out.effects.len();
        let next = match self.amb_step(&row, ev, &who, via) {
            Ok(n) => n,
            Err(StoreError::Refused(why)) => {
                self.out.effects.truncate(mark);
                self.event(
                    Some(&row.incident),
                    &who,
                    via,
                    format!("answer from {muni} refused: {why}"),
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let id = row.incident.clone();
        let inc = self.facts.incident(&id)?;
        if next == AmbState::Accepted && row.status != AmbState::Accepted {
            // A late yes from a municipality that had timed out: its ambulance is coming, so
            // the one asked after it is called off (one ambulance per incident).
            if let Some(other) = self.facts.amb_active(&id)?.filter(|o| o.id != row.id) {
                let why = format!("{muni} accepted after all");
                self.amb_call_off(&other, &why, "system", "dispatch")?;
            }
        }
        match (&reply, next) {
            (MunicipalityReply::Accept { eta_minutes, .. }, AmbState::Accepted) => {
                self.out.effects.push(Effect::AmbEta {
                    row: row.id,
                    eta: *eta_minutes,
                });
                let eta = eta_minutes.map_or(String::new(), |m| m.to_string());
                self.event(
                    Some(&id),
                    &who,
                    via,
                    format!(
                        "ambulance accepted by {muni}, ETA {} min",
                        if eta.is_empty() { "?" } else { &eta }
                    ),
                );
                self.say(
                    Some(&id),
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::AmbulanceThanks,
                    &[("id", &id), ("eta", &eta)],
                );
                if let Some(inc) = &inc {
                    self.amb_notify(
                        inc,
                        &row.requested_by,
                        Msg::PatrolAmbAccepted,
                        &[("municipality", &muni), ("eta", &eta)],
                    );
                }
            }
            (MunicipalityReply::Arrived { .. }, AmbState::Arrived) => {
                self.event(
                    Some(&id),
                    &who,
                    via,
                    format!("ambulance from {muni} arrived"),
                );
                self.say(
                    Some(&id),
                    node,
                    CLASS_PATROL,
                    lang,
                    Msg::AmbulanceArrivedThanks,
                    &[("id", &id)],
                );
                if let Some(inc) = &inc {
                    self.amb_notify(inc, &row.requested_by, Msg::PatrolAmbArrived, &[]);
                }
            }
            (
                MunicipalityReply::Decline {
                    reason: Some(r), ..
                },
                _,
            ) => {
                self.out.effects.push(Effect::AmbReason {
                    row: row.id,
                    reason: r.clone(),
                });
            }
            _ => {}
        }
        self.out.incident = Some((id, false));
        Ok(())
    }

    /// The station cancels the request in play and tells the municipality.
    pub(super) fn amb_cancel(&mut self, incident: &str, who: &str) -> DeskResult<String> {
        let inc = self.require(incident)?;
        let id = inc.id;
        let row = self
            .facts
            .amb_active(&id)?
            .ok_or_else(|| Refusal::Conflict(format!("{id} has no ambulance request in play")))?;
        self.amb_call_off(&row, "", who, "faroctl")?;
        Ok(id)
    }

    /// Cancels an attempt in play: recorded, and the municipality told (or the request
    /// withdrawn before it is on air).
    fn amb_call_off(&mut self, row: &AmbRow, why: &str, who: &str, via: &str) -> DeskResult<()> {
        let id = row.incident.clone();
        self.amb_step(row, AmbEvent::Cancel, who, via)?;
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        };
        self.event(
            Some(&id),
            who,
            via,
            format!("ambulance request to {} cancelled{why}", row.municipality),
        );
        // What is not on air yet (the request, a reminder) never is.
        self.out.effects.push(Effect::AmbWithdraw { row: row.id });
        match (row.node, row.status) {
            (_, AmbState::Pending) => {}
            (Some(node), _) => {
                let lang = self.muni_lang(&row.municipality);
                self.amb_tell_cancelled(&id, node, lang);
            }
            (None, _) => {
                // Nothing can be sent: the operator phones.
                let phone = self
                    .cfg
                    .municipalities
                    .iter()
                    .find(|m| m.name == row.municipality)
                    .and_then(|m| m.phones.first().cloned())
                    .unwrap_or_else(|| "?".to_string());
                self.event(
                    Some(&id),
                    who,
                    via,
                    format!(
                        "ambulance: {} has no mesh contact: call {phone} to say the ambulance is no longer needed",
                        row.municipality
                    ),
                );
            }
        }
        Ok(())
    }

    /// An answer that is no longer the one awaited: a yes while another municipality's
    /// acceptance stands or after the station cancelled (thanked and called off at once, so
    /// no second ambulance sets out), a no after the request had already ended. Returns
    /// whether it was handled here. A late yes that is still needed is taken by the caller.
    fn amb_late(
        &mut self,
        row: &AmbRow,
        ev: AmbEvent,
        node: u32,
        lang: Lang,
        who: &str,
        via: &str,
    ) -> DeskResult<bool> {
        let id = row.incident.clone();
        let muni = row.municipality.clone();
        match ev {
            AmbEvent::Accepted if row.status != AmbState::Accepted => {
                let standing = self.facts.amb_taken(&id)?.filter(|o| o.id != row.id);
                let why = match (&standing, row.status) {
                    (Some(o), _) if o.status == AmbState::Arrived => {
                        format!("{}'s ambulance already arrived", o.municipality)
                    }
                    (Some(o), _) => format!("{}'s ambulance is already accepted", o.municipality),
                    (None, AmbState::Cancelled) => "the request was cancelled".to_string(),
                    _ => return Ok(false),
                };
                if row.status.awaiting_answer() {
                    self.amb_step(row, AmbEvent::Cancel, who, via)?;
                }
                self.event(
                    Some(&id),
                    who,
                    via,
                    format!("ambulance: {muni} answered OK but {why}: told it is no longer needed"),
                );
                self.amb_tell_cancelled(&id, node, lang);
                self.out.incident = Some((id, false));
                Ok(true)
            }
            AmbEvent::Declined
                if !row.status.awaiting_answer() && row.status != AmbState::Accepted =>
            {
                self.event(
                    Some(&id),
                    who,
                    via,
                    format!(
                        "ambulance: late NO from {muni} recorded (the request was already {})",
                        row.status
                    ),
                );
                self.out.incident = Some((id, false));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The incident is closing: its ambulance request in play is called off (withdrawn
    /// before it is on air), the municipality told (or the operator asked to phone), and the
    /// patrol told.
    pub(super) fn amb_on_close(
        &mut self,
        inc: &IncidentFacts,
        who: &str,
        via: &str,
    ) -> DeskResult<()> {
        let Some(row) = self.facts.amb_active(&inc.id)? else {
            return Ok(());
        };
        self.amb_call_off(&row, "the incident was closed", who, via)?;
        self.amb_notify(
            inc,
            &row.requested_by,
            Msg::PatrolAmbCancelled,
            &[("municipality", &row.municipality)],
        );
        Ok(())
    }

    /// The operator records the answer to a phone call (or any answer given off the mesh).
    pub(super) fn amb_record(
        &mut self,
        incident: &str,
        accepted: bool,
        eta: Option<u32>,
        who: &str,
    ) -> DeskResult<String> {
        let inc = self.require(incident)?;
        let id = inc.id.clone();
        // A phone answer for a closed incident would send an ambulance nobody needs.
        if !inc.status.state.is_open() {
            return Err(Refusal::Conflict(format!(
                "{id} is closed: no ambulance answer to record (reopen it first)"
            ))
            .into());
        }
        let row = self
            .facts
            .amb_active(&id)?
            .ok_or_else(|| Refusal::Conflict(format!("{id} has no ambulance request in play")))?;
        let ev = if accepted {
            AmbEvent::Accepted
        } else {
            AmbEvent::Declined
        };
        let next = self.amb_step(&row, ev, who, "faroctl")?;
        if next == AmbState::Accepted {
            // Recording the acceptance again without minutes keeps the ETA already given.
            if eta.is_some() || row.status != AmbState::Accepted {
                self.out.effects.push(Effect::AmbEta { row: row.id, eta });
            }
            let eta = eta.map_or(String::new(), |m| m.to_string());
            self.event(
                Some(&id),
                who,
                "faroctl",
                format!(
                    "ambulance accepted by {} (by phone), ETA {} min",
                    row.municipality,
                    if eta.is_empty() { "?" } else { &eta }
                ),
            );
            self.amb_notify(
                &inc,
                &row.requested_by,
                Msg::PatrolAmbAccepted,
                &[("municipality", &row.municipality), ("eta", &eta)],
            );
        }
        Ok(id)
    }
}
