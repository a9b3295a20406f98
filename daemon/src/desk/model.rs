//! An in-memory station for testing the desk without SQLite: it answers [`Facts`] and applies
//! [`Effect`]s the way the store's writer does (`store::worker::apply`), so a rule's unit test
//! and the property tests read like the station they describe.

use std::collections::BTreeMap;

use super::{
    AmbRow, AmbState, Decision, Desk, DeskResult, Effect, Facts, GroupedAck, IncidentFacts,
    Message, PendingAck, Placed, RecentIncident, SentRow, StoreConfig, SurgeFacts, TeamHealth,
};
use crate::incident::{State, Status};

/// One incident as the model keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inc {
    pub facts: IncidentFacts,
    pub seq: u32,
    pub reporter: Option<u32>,
    pub heard_count: u32,
    pub last_heard_at: i64,
    pub last_reply_at: Option<i64>,
    pub source: Option<crate::incident::PositionSource>,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub id: i64,
    pub m: Message,
    pub created_at: i64,
    /// pending, sent, acked, implicit, failed, done.
    pub state: &'static str,
    pub attempts: u32,
    pub packet_id: Option<u32>,
}

/// One ambulance attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub row: AmbRow,
    pub attempt: u32,
    pub deadline_at: i64,
    pub reminder_at: Option<i64>,
    pub reminded: bool,
    pub outbox_id: Option<i64>,
    pub eta: Option<u32>,
    pub reason: Option<String>,
}

/// The whole station, in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct Model {
    pub incidents: BTreeMap<String, Inc>,
    pub nodes: BTreeMap<u32, Placed>,
    pub outbox: Vec<Row>,
    pub amb: Vec<Attempt>,
    pub teams: BTreeMap<String, (Option<i64>, TeamHealth)>,
    pub events: Vec<(Option<String>, String)>,
    /// Answers awaiting confirmation, row = index + 1: (node, text, decided).
    pub pending: Vec<(u32, String, Option<bool>)>,
    /// Keys enrolled at the desk: (node, key).
    pub enrolled: Vec<(u32, crate::trust::PublicKey)>,
    /// The key each node's NodeInfo last carried.
    pub node_keys: BTreeMap<u32, crate::trust::PublicKey>,
    /// Orientations given: (day, topic, language) -> count.
    pub oriented: BTreeMap<(i64, &'static str, &'static str), u32>,
    /// Short names as NodeInfo gave them.
    pub short_names: BTreeMap<u32, String>,
    /// Grouped senders and when their broadcast was queued.
    pub grouped: Vec<(GroupedAck, Option<i64>)>,
    /// Surges: (since, cause, ended_at).
    pub surges: Vec<(i64, String, Option<i64>)>,
    /// Location requests by number.
    pub locates: BTreeMap<i64, super::LocateFacts>,
    /// Each node's last battery reading: (level, voltage, when measured).
    pub batteries: BTreeMap<u32, (Option<u32>, Option<f32>, i64)>,
}

impl Model {
    /// Decides one input at `at` and applies its effects (as one transaction: nothing of a
    /// refused input is applied).
    pub fn run<T>(
        &mut self,
        cfg: &StoreConfig,
        at: i64,
        rule: impl FnOnce(&mut Desk<'_, Model>) -> DeskResult<T>,
    ) -> DeskResult<(T, Decision)> {
        let (r, d) = {
            let mut desk = Desk::new(cfg, &*self, at);
            let r = rule(&mut desk)?;
            (r, desk.finish())
        };
        self.apply(&d, at);
        Ok((r, d))
    }

    /// Applies a decision's effects, as the store does.
    pub fn apply(&mut self, d: &Decision, at: i64) {
        for e in &d.effects {
            match e.clone() {
                Effect::Open(n) => {
                    self.incidents.insert(
                        n.id.clone(),
                        Inc {
                            facts: IncidentFacts {
                                id: n.id.clone(),
                                status: Status {
                                    state: State::New,
                                    team: None,
                                    outcome: None,
                                },
                                priority: n.priority,
                                people: n.people,
                                position: n.position.map(|(p, _)| p),
                                kind: n.kind,
                                flags: n.flags.iter().filter_map(|f| f.parse().ok()).collect(),
                                why: n.why.clone(),
                                reporter: n.reporter,
                                language: n.language,
                            },
                            seq: n.seq,
                            reporter: n.reporter,
                            heard_count: 1,
                            last_heard_at: at,
                            last_reply_at: None,
                            source: n.position.map(|(_, s)| s),
                        },
                    );
                }
                Effect::Heard { id, count } => {
                    let i = self.incidents.get_mut(&id).expect("heard: incident");
                    i.heard_count = count;
                    i.last_heard_at = at;
                }
                Effect::Position { id, pos, source } => {
                    let i = self.incidents.get_mut(&id).expect("position: incident");
                    i.facts.position = Some(pos);
                    i.source = Some(source);
                }
                Effect::Status { id, status } => {
                    if !status.state.is_open() {
                        for r in &mut self.outbox {
                            if r.state == "pending"
                                && r.m.incident.as_deref() == Some(id.as_str())
                                && r.m.class > super::CLASS_AMBULANCE
                                && r.created_at < at
                            {
                                r.state = "dropped";
                            }
                        }
                    }
                    self.incidents
                        .get_mut(&id)
                        .expect("status: incident")
                        .facts
                        .status = status;
                }
                Effect::Triage {
                    id,
                    kind,
                    priority,
                    why,
                    people,
                    flags,
                } => {
                    let f = &mut self.incidents.get_mut(&id).expect("triage: incident").facts;
                    (f.kind, f.priority, f.why, f.people, f.flags) =
                        (kind, priority, why, people, flags);
                }
                Effect::Replied { id } => {
                    self.incidents
                        .get_mut(&id)
                        .expect("replied: incident")
                        .last_reply_at = Some(at);
                }
                Effect::Event { incident, what, .. } => self.events.push((incident, what)),
                Effect::Queue(m) => {
                    self.queue(m, at);
                }
                Effect::NodePosition {
                    node, pos, team, ..
                } => {
                    let newer = self.nodes.get(&node).is_none_or(|p| p.at <= pos.at);
                    if newer {
                        self.nodes.insert(node, pos);
                    }
                    if let Some(team) = team {
                        self.teams
                            .entry(team)
                            .or_insert((None, TeamHealth::Unknown))
                            .0 = Some(at);
                    }
                }
                Effect::NodeBattery {
                    node,
                    level,
                    voltage,
                    at,
                } => {
                    if self.batteries.get(&node).is_none_or(|b| b.2 <= at) {
                        self.batteries.insert(node, (level, voltage, at));
                    }
                }
                Effect::NodeNames {
                    node, short_name, ..
                } => {
                    self.short_names.insert(node, short_name);
                }
                Effect::Group {
                    node,
                    incident,
                    language,
                    short_name,
                } => {
                    let id = self.grouped.len() as i64 + 1;
                    self.grouped.push((
                        GroupedAck {
                            id,
                            node,
                            incident,
                            language,
                            short_name,
                        },
                        None,
                    ));
                }
                Effect::GroupSent { ids } => {
                    for (g, sent) in &mut self.grouped {
                        if ids.contains(&g.id) {
                            *sent = Some(at);
                        }
                    }
                }
                Effect::SurgeStart { cause } => self.surges.push((at, cause, None)),
                Effect::SurgeEnd => {
                    if let Some(s) = self.surges.last_mut() {
                        s.2.get_or_insert(at);
                    }
                }
                Effect::Enrolled { node, key, .. } => self.enrolled.push((node, key)),
                Effect::PendingAnswer { node, text, .. } => self.pending.push((node, text, None)),
                Effect::AnswerDecided { row, confirmed, .. } => {
                    self.pending[row as usize - 1].2 = Some(confirmed);
                }
                Effect::NodeKey { node, key } => {
                    self.node_keys.insert(node, key);
                }
                Effect::AmbStart(a) => {
                    let outbox_id = a.request.clone().map(|m| self.queue(m, at));
                    let id = self.amb.len() as i64 + 1;
                    self.amb.push(Attempt {
                        row: AmbRow {
                            id,
                            incident: a.incident.clone(),
                            municipality: a.municipality.clone(),
                            node: a.node,
                            status: a.status,
                            requested_by: a.requested_by.clone(),
                        },
                        attempt: a.attempt,
                        deadline_at: a.deadline_at,
                        reminder_at: a.reminder_at,
                        reminded: false,
                        outbox_id,
                        eta: None,
                        reason: None,
                    });
                }
                Effect::AmbStatus { row, status, .. } => self.attempt_mut(row).row.status = status,
                Effect::AmbEta { row, eta } => self.attempt_mut(row).eta = eta,
                Effect::AmbReason { row, reason } => self.attempt_mut(row).reason = Some(reason),
                Effect::AmbReminded { row } => self.attempt_mut(row).reminded = true,
                Effect::AmbTimers {
                    row,
                    deadline_at,
                    reminder_at,
                } => {
                    let a = self.attempt_mut(row);
                    a.deadline_at = deadline_at;
                    a.reminder_at = reminder_at;
                }
                Effect::AmbWithdraw { row } => {
                    let a = self.attempt_mut(row).clone();
                    for r in &mut self.outbox {
                        let reminder = r.m.incident.as_deref() == Some(a.row.incident.as_str())
                            && Some(r.m.dest) == a.row.node
                            && r.m.msg == Some(crate::catalog::Msg::AmbulanceReminder);
                        if r.state == "pending" && (Some(r.id) == a.outbox_id || reminder) {
                            r.state = "done";
                        }
                    }
                }
                Effect::TeamStatus { team, status } => {
                    self.teams.entry(team).or_insert((None, status)).1 = status;
                }
                Effect::OutboxState { row, state, .. } => self.row_mut(row).state = state,
                Effect::LocateOpen(n) => {
                    self.locates.insert(
                        n.id,
                        super::LocateFacts {
                            id: n.id,
                            requester: n.requester,
                            people: n.people,
                            place: n.place,
                            lat: n.lat,
                            lon: n.lon,
                            radius_km: n.radius_km,
                            last_seen_on: n.last_seen_on,
                            state: super::LocateState::Open,
                            team: None,
                            outcome: None,
                            found: 0,
                            closed_at: None,
                            reported_at: None,
                        },
                    );
                }
                Effect::LocateTask { id, team } => {
                    let l = self.locates.get_mut(&id).expect("task: request");
                    l.state = super::LocateState::Searching;
                    l.team = Some(team);
                }
                Effect::LocateFound { id, found } => {
                    self.locates.get_mut(&id).expect("found: request").found = found;
                }
                Effect::LocateClose { id, outcome, found } => {
                    let l = self.locates.get_mut(&id).expect("close: request");
                    l.state = super::LocateState::Closed;
                    l.outcome = Some(outcome);
                    l.closed_at = Some(at);
                    if let Some(f) = found {
                        l.found = f;
                    }
                }
                Effect::LocateReported { id } => {
                    self.locates
                        .get_mut(&id)
                        .expect("reported: request")
                        .reported_at = Some(at);
                }
                Effect::Oriented { topic, language } => {
                    let day = at.div_euclid(86_400_000);
                    *self
                        .oriented
                        .entry((day, topic.as_str(), language.as_str()))
                        .or_default() += 1;
                }
            }
        }
    }

    fn queue(&mut self, m: Message, at: i64) -> i64 {
        if let Some(kind) = m.msg {
            let old = super::superseded_by(kind);
            for r in &mut self.outbox {
                if r.state == "pending"
                    && r.m.dest == m.dest
                    && r.m.incident.is_some()
                    && r.m.incident == m.incident
                    && r.m.msg.is_some_and(|k| old.contains(&k))
                {
                    r.state = "dropped";
                }
            }
        }
        let id = self.outbox.len() as i64 + 1;
        self.outbox.push(Row {
            id,
            m,
            created_at: at,
            state: "pending",
            attempts: 0,
            packet_id: None,
        });
        id
    }

    fn attempt_mut(&mut self, row: i64) -> &mut Attempt {
        self.amb
            .iter_mut()
            .find(|a| a.row.id == row)
            .expect("ambulance row")
    }

    pub fn row_mut(&mut self, id: i64) -> &mut Row {
        self.outbox
            .iter_mut()
            .find(|r| r.id == id)
            .expect("outbox row")
    }

    /// The outbox hands its oldest pending row to radio `r0` as packet `row id`, as the
    /// outbox task and the store do for `OutboxSent` (want_ack rows only).
    pub fn send_next(&mut self) -> Option<i64> {
        let r = self.outbox.iter_mut().find(|r| r.state == "pending")?;
        r.state = "sent";
        r.attempts += 1;
        r.packet_id = Some(r.id as u32);
        Some(r.id)
    }

    /// Messages queued to `dest`, oldest first.
    pub fn texts_to(&self, dest: u32) -> Vec<&str> {
        self.outbox
            .iter()
            .filter(|r| r.m.dest == dest)
            .map(|r| r.m.text.as_str())
            .collect()
    }

    /// The incident with sequence number `seq`.
    pub fn by_seq(&self, seq: u32) -> Option<&Inc> {
        self.incidents.values().find(|i| i.seq == seq)
    }
}

fn active(s: AmbState) -> bool {
    s.active()
}

impl Facts for Model {
    fn next_seq(&self) -> DeskResult<u32> {
        Ok(self.incidents.values().map(|i| i.seq).max().unwrap_or(0) + 1)
    }

    fn recent_incident_of(&self, node: u32, since: i64) -> DeskResult<Option<RecentIncident>> {
        Ok(self
            .incidents
            .values()
            .filter(|i| {
                i.reporter == Some(node)
                    && i.facts.status.state.is_open()
                    && i.last_heard_at >= since
            })
            .max_by_key(|i| (i.last_heard_at, i.seq))
            .map(|i| RecentIncident {
                id: i.facts.id.clone(),
                heard_count: i.heard_count,
                last_reply_at: i.last_reply_at,
            }))
    }

    fn last_known(&self, node: u32) -> DeskResult<Option<Placed>> {
        Ok(self.nodes.get(&node).copied())
    }

    fn node_battery(&self, node: u32) -> DeskResult<Option<(Option<u32>, i64)>> {
        Ok(self.batteries.get(&node).map(|b| (b.0, b.2)))
    }

    fn incident(&self, id: &str) -> DeskResult<Option<IncidentFacts>> {
        Ok(self.incidents.get(id).map(|i| i.facts.clone()))
    }

    fn team_open(&self, team: &str, limit: usize) -> DeskResult<Vec<(String, State)>> {
        let mut v: Vec<&Inc> = self
            .incidents
            .values()
            .filter(|i| {
                i.facts.status.team.as_deref() == Some(team) && i.facts.status.state.is_open()
            })
            .collect();
        v.sort_by_key(|i| (i.facts.priority, i.seq));
        Ok(v.into_iter()
            .take(limit)
            .map(|i| (i.facts.id.clone(), i.facts.status.state))
            .collect())
    }

    fn hints_since(&self, node: u32, since: i64) -> DeskResult<Vec<String>> {
        Ok(self
            .outbox
            .iter()
            .filter(|r| {
                r.m.dest == node
                    && r.m.msg == Some(crate::catalog::Msg::CmdUsage)
                    && r.created_at > since
            })
            .map(|r| r.m.text.clone())
            .collect())
    }

    fn node_language(&self, node: u32) -> DeskResult<Option<crate::lang::Lang>> {
        Ok(self
            .incidents
            .values()
            .filter(|i| i.reporter == Some(node))
            .max_by_key(|i| i.seq)
            .map(|i| i.facts.language))
    }

    fn enrolled_keys(&self, node: u32) -> DeskResult<Vec<crate::trust::PublicKey>> {
        Ok(self
            .enrolled
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, k)| *k)
            .collect())
    }

    fn pending_answer(&self, row: i64) -> DeskResult<Option<(u32, String)>> {
        Ok(self
            .pending
            .get(row as usize - 1)
            .filter(|p| p.2.is_none())
            .map(|p| (p.0, p.1.clone())))
    }

    fn node_key(&self, node: u32) -> DeskResult<Option<crate::trust::PublicKey>> {
        Ok(self.node_keys.get(&node).copied())
    }

    fn nodes_with_key(&self, key: crate::trust::PublicKey) -> DeskResult<Vec<u32>> {
        Ok(self
            .node_keys
            .iter()
            .filter(|(_, k)| **k == key)
            .map(|(n, _)| *n)
            .collect())
    }

    fn said_since(&self, node: u32, msg: crate::catalog::Msg, since: i64) -> DeskResult<bool> {
        Ok(self
            .outbox
            .iter()
            .any(|r| r.m.dest == node && r.m.msg == Some(msg) && r.created_at > since))
    }

    fn said_text_since(&self, node: u32, text: &str, since: i64) -> DeskResult<bool> {
        Ok(self
            .outbox
            .iter()
            .any(|r| r.m.dest == node && r.m.text == text && r.created_at > since))
    }

    fn asked_since(&self, node: u32, since: i64) -> DeskResult<bool> {
        self.said_since(node, crate::catalog::Msg::AskHelp, since)
    }

    fn amb_active(&self, incident: &str) -> DeskResult<Option<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| a.row.incident == incident && active(a.row.status))
            .max_by_key(|a| a.attempt)
            .map(|a| a.row.clone()))
    }

    fn amb_taken(&self, incident: &str) -> DeskResult<Option<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| {
                a.row.incident == incident
                    && matches!(a.row.status, AmbState::Accepted | AmbState::Arrived)
            })
            .max_by_key(|a| a.attempt)
            .map(|a| a.row.clone()))
    }

    fn amb_asked(&self, incident: &str) -> DeskResult<Vec<String>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| a.row.incident == incident)
            .map(|a| a.row.municipality.clone())
            .collect())
    }

    fn amb_by_outbox(&self, row: i64) -> DeskResult<Option<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .find(|a| a.outbox_id == Some(row))
            .map(|a| a.row.clone()))
    }

    fn amb_overdue(&self, at: i64) -> DeskResult<Vec<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| a.row.status.awaiting_answer() && a.deadline_at <= at)
            .map(|a| a.row.clone())
            .collect())
    }

    fn amb_reminders_due(&self, at: i64) -> DeskResult<Vec<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| {
                matches!(a.row.status, AmbState::Sent | AmbState::Delivered)
                    && !a.reminded
                    && a.reminder_at.is_some_and(|r| r <= at)
                    && a.row.node.is_some()
            })
            .map(|a| a.row.clone())
            .collect())
    }

    fn amb_answerable(&self, node: u32) -> DeskResult<Vec<AmbRow>> {
        Ok(self
            .amb
            .iter()
            .filter(|a| {
                a.row.node == Some(node)
                    && matches!(
                        a.row.status,
                        AmbState::Pending
                            | AmbState::Sent
                            | AmbState::Delivered
                            | AmbState::Accepted
                            | AmbState::TimedOut
                            | AmbState::Declined
                            | AmbState::Undeliverable
                            | AmbState::Cancelled
                    )
            })
            .map(|a| a.row.clone())
            .collect())
    }

    fn team(&self, team: &str) -> DeskResult<(Option<i64>, TeamHealth)> {
        Ok(self
            .teams
            .get(team)
            .copied()
            .unwrap_or((None, TeamHealth::Unknown)))
    }

    fn team_incidents(&self, team: &str) -> DeskResult<Vec<String>> {
        Ok(self
            .incidents
            .values()
            .filter(|i| {
                i.facts.status.team.as_deref() == Some(team) && i.facts.status.state.is_open()
            })
            .map(|i| i.facts.id.clone())
            .collect())
    }

    fn sent_row(&self, radio: &str, packet_id: u32) -> DeskResult<Option<SentRow>> {
        if radio != "r0" {
            return Ok(None);
        }
        Ok(self
            .outbox
            .iter()
            .find(|r| r.packet_id == Some(packet_id) && r.state == "sent")
            .map(|r| SentRow {
                row: r.id,
                attempts: r.attempts,
                incident: r.m.incident.clone(),
                dest: r.m.dest,
                max_attempts: r.m.max_attempts,
            }))
    }

    fn outbox_incident(&self, row: i64) -> DeskResult<Option<String>> {
        Ok(self
            .outbox
            .iter()
            .find(|r| r.id == row)
            .and_then(|r| r.m.incident.clone()))
    }

    fn surge(&self) -> DeskResult<Option<SurgeFacts>> {
        Ok(self
            .surges
            .last()
            .filter(|s| s.2.is_none())
            .map(|(since, cause, _)| SurgeFacts {
                since: *since,
                cause: cause.clone(),
                grouped: self
                    .grouped
                    .iter()
                    .filter(|(_, sent)| sent.is_some_and(|t| t >= *since))
                    .count() as u32,
            }))
    }

    fn pending_replies(&self) -> DeskResult<u32> {
        Ok(self
            .outbox
            .iter()
            .filter(|r| {
                r.state == "pending"
                    && super::ESTIMATED_CLASSES.contains(&r.m.class)
                    && r.m.dest != faro_proto::mesh::BROADCAST
            })
            .count() as u32)
    }

    fn grouped_waiting(&self) -> DeskResult<Vec<GroupedAck>> {
        Ok(self
            .grouped
            .iter()
            .filter(|(_, sent)| sent.is_none())
            .map(|(g, _)| g.clone())
            .collect())
    }

    fn pending_acks(&self, from_class: u8) -> DeskResult<Vec<PendingAck>> {
        Ok(self
            .outbox
            .iter()
            .filter(|r| {
                r.state == "pending"
                    && (from_class..=super::CLASS_P3).contains(&r.m.class)
                    && r.m.msg == Some(crate::catalog::Msg::DistressAck)
            })
            .map(|r| PendingAck {
                row: r.id,
                node: r.m.dest,
                incident: r.m.incident.clone(),
                language: r
                    .m
                    .incident
                    .as_ref()
                    .and_then(|i| self.incidents.get(i))
                    .map_or(crate::lang::Lang::Es, |i| i.facts.language),
            })
            .collect())
    }

    fn next_locate(&self) -> DeskResult<i64> {
        Ok(self.locates.keys().next_back().map_or(1, |n| n + 1))
    }

    fn locate(&self, id: i64) -> DeskResult<Option<super::LocateFacts>> {
        Ok(self.locates.get(&id).cloned())
    }

    fn short_name(&self, node: u32) -> DeskResult<Option<String>> {
        Ok(self.short_names.get(&node).cloned())
    }
}
