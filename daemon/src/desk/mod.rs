//! The desk: the station's rules, pure. Every decision farod takes about incidents, replies,
//! patrols, teams and ambulances is made here and nowhere else.
//!
//! The pattern is that of [`crate::radio::session`]: a rule is a function of the station's
//! relevant state (read through [`Facts`]), one input (a classified signal, an operator's
//! request, a radio's delivery result, a timer) and the time, and it returns [`Effect`]s. It
//! never writes. The store's writer thread implements [`Facts`] over the open transaction,
//! calls the desk, and applies the effects in order inside the same transaction
//! (`store::worker::apply`); it decides nothing itself. Tests implement [`Facts`] in memory
//! (`desk::model`), which is how every rule is unit- and property-tested without SQLite.
//!
//! Contract between the two halves:
//! - A rule reads only what was true before its input: it never reads back what it decided
//!   (a new incident's facts are passed along in memory, see [`IncidentFacts`]).
//! - Every change of an incident's state goes through [`crate::incident::transition`] and is
//!   accompanied by an [`Effect::Event`] for the audit trail.
//! - A refusal ([`Refusal`]) means nothing of that input is applied.
//!
//! Modules: `intake` (distress, positions, names), `patrol` (text commands from teams),
//! `operator` (requests from the desk), `ambulance` (requests to municipalities, escalation,
//! their answers, timers), `upkeep` (delivery results, team status, housekeeping), `surge`
//! (P3/P4 acknowledgements grouped into broadcasts while the outbox is too long), `locate`
//! (location requests for missing people: the search task, the patrol's reports, the outcome).

mod ambulance;
mod briefing;
mod input;
mod intake;
mod locate;
#[cfg(test)]
mod locate_tests;
#[cfg(test)]
pub(crate) mod model;
mod operator;
mod orientation;
mod patrol;
mod surge;
#[cfg(test)]
mod tests;
mod trust;
mod upkeep;

use std::fmt;

use faro_proto::mesh::{self, NodeId};

use crate::catalog::Msg;
pub use crate::dispatch::AmbState;
pub use crate::error::{Refusal, StoreError};
use crate::incident::{Flag, Kind, PositionSource, State, Status};
use crate::lang::Lang;
pub use briefing::{
    flag_word, flags_text, kind_word, note_word, state_word, FLAGS_BUDGET, REPORTER_BUDGET,
};
pub use input::{
    take_note, Broadcast, LocateRequest, ManualReport, OperatorRequest, RetentionConfig, Rx,
    StoreConfig, TeamConfig, WaterPoint, DEFAULT_RETENTION_DAYS, WATER_NAME_MAX,
};
pub use locate::{
    LocateFacts, LocateState, NewLocate, DEFAULT_RADIUS_KM, LOCATE_PLACE_MAX, MAX_RADIUS_KM,
    MAX_SOUGHT,
};
pub use orientation::{WATER_POINTS_BUDGET, WATER_RADIUS_KM};
pub use surge::{
    clean_short_name, GroupedAck, PendingAck, SurgeConfig, SurgeFacts, ESTIMATED_CLASSES,
    SHORT_NAME_MAX,
};
pub use upkeep::{backoff_ms, team_status, TeamHealth};

/// Outbox classes, most urgent first; within a class, oldest first. Ambulance requests,
/// reminders and cancels: never behind a queue of replies (a municipality's deadline runs
/// while they wait).
pub const CLASS_AMBULANCE: u8 = 0;
/// Patrol dispatch and safety: assignments, updates, answers to a patrol's commands.
pub const CLASS_PATROL: u8 = 1;
/// Replies to people in a priority 1 emergency.
pub const CLASS_P1: u8 = 2;
/// Replies to priority 2.
pub const CLASS_P2: u8 = 3;
/// An operator's own text.
pub const CLASS_OPERATOR: u8 = 4;
/// Replies to priority 3 and 4, and the question to a sender whose message was unclear.
pub const CLASS_P3: u8 = 5;
/// Orientation answers and broadcasts: what may wait longest.
pub const CLASS_BROADCAST: u8 = 6;
/// The classes that jump the radio's own queue and may use the whole airtime budget (the
/// others leave a reserve for them).
pub const CLASS_URGENT_MAX: u8 = CLASS_P1;

/// The class of a reply to a person whose incident has `priority` (1..=4).
pub fn reply_class(priority: u8) -> u8 {
    match priority {
        0 | 1 => CLASS_P1,
        2 => CLASS_P2,
        _ => CLASS_P3,
    }
}

/// The pending messages a new message of kind `new` to the same node about the same incident
/// makes pointless (they are dropped unsent, with an event): a newer dispatch or update
/// carries the incident as it is now; a newer answer to a reporter says at least as much.
pub fn superseded_by(new: Msg) -> &'static [Msg] {
    match new {
        Msg::Dispatch => &[Msg::Dispatch, Msg::PatrolUpdate],
        Msg::PatrolUpdate => &[Msg::PatrolUpdate],
        Msg::DistressAck | Msg::PatrolSosAck => &[Msg::DistressAck, Msg::PatrolSosAck],
        Msg::TeamOnTheWay => &[Msg::DistressAck, Msg::TeamOnTheWay],
        _ => &[],
    }
}

/// Why an unsent message was dropped (outbox `last_error`, and the event).
pub const DROP_SUPERSEDED: &str = "superseded by a newer message";
/// See [`DROP_SUPERSEDED`].
pub const DROP_CLOSED: &str = "the incident was closed";

/// What a rule returns: its own result, or why not (a refusal, or the facts could not be read).
pub type DeskResult<T> = Result<T, StoreError>;

/// A position as the desk keeps it: where, how exact, and when it was true.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Meshtastic precision bits (32: exact; fewer: the centre of a rounded area).
    pub precision_bits: u32,
    /// Unix ms of the fix.
    pub at: i64,
}

/// A message for the outbox. `msg` names the catalogue entry it renders (None: an operator's
/// own text), which is how rules and tests tell what a message is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Incident it concerns, if any.
    pub incident: Option<String>,
    /// Destination node.
    pub dest: u32,
    /// Text, within the payload budget.
    pub text: String,
    /// Outbox class (most urgent first).
    pub class: u8,
    /// Radio attempts before the row fails (None: the station's default).
    pub max_attempts: Option<u32>,
    /// What it is.
    pub msg: Option<Msg>,
}

/// A new incident, as the desk decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// `SAS-17`.
    pub id: String,
    /// The number in the id.
    pub seq: u32,
    /// Kind.
    pub kind: Kind,
    /// 1..=4.
    pub priority: u8,
    /// Why that priority.
    pub why: Vec<String>,
    /// People, if known.
    pub people: Option<u32>,
    /// Flags (`children`, ...).
    pub flags: Vec<String>,
    /// What opened it (`text`, `bell`, `manual`...).
    pub source: String,
    /// The node that reported it (None: a manual report).
    pub reporter: Option<u32>,
    /// Language to answer in.
    pub language: Lang,
    /// Where, and how that is known.
    pub position: Option<(Placed, PositionSource)>,
}

/// A new ambulance attempt (one municipality asked once).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttempt {
    /// Incident.
    pub incident: String,
    /// 1, 2, 3... for this incident.
    pub attempt: u32,
    /// Municipality name.
    pub municipality: String,
    /// Its state (`Sonora`).
    pub muni_state: String,
    /// Dispatcher node (None: phone only).
    pub node: Option<u32>,
    /// First phone number, for the operator.
    pub phone: Option<String>,
    /// Incident to seat, km.
    pub distance_km: f64,
    /// `pending` (a mesh contact) or `call`.
    pub status: AmbState,
    /// Who asked (`operator:ana`, `patrol:P1`, `system`).
    pub requested_by: String,
    /// Answer due.
    pub deadline_at: i64,
    /// One reminder, if any.
    pub reminder_at: Option<i64>,
    /// The request on air, committed with the attempt (None: phone only).
    pub request: Option<Message>,
}

/// One thing the store must do. Applied in order, in the input's transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Insert a new incident.
    Open(Box<NewIncident>),
    /// The reporter was heard again: `count` times in all, now.
    Heard {
        /// Incident.
        id: String,
        /// Heard this many times.
        count: u32,
    },
    /// Set the incident's position.
    Position {
        /// Incident.
        id: String,
        /// Where.
        pos: Placed,
        /// How that is known.
        source: PositionSource,
    },
    /// The incident's new status (always from `incident::transition`, with an event).
    Status {
        /// Incident.
        id: String,
        /// New status.
        status: Status,
    },
    /// What is known about the people and the emergency, raised by a follow-up message.
    Triage {
        /// Incident.
        id: String,
        /// Kind.
        kind: Kind,
        /// 1..=4.
        priority: u8,
        /// Why that priority (the earlier reasons and the new ones).
        why: Vec<String>,
        /// People, if known.
        people: Option<u32>,
        /// Flags.
        flags: Vec<Flag>,
    },
    /// The reporter was answered now (throttles the next answer).
    Replied {
        /// Incident.
        id: String,
    },
    /// An entry of the audit trail.
    Event {
        /// Incident (None: station-level).
        incident: Option<String>,
        /// `operator:ana`, `patrol:P1`, `node:!a1b2c3d4`, `system`.
        who: String,
        /// Radio name, `faroctl`, `timer`, `outbox`, `dispatch`.
        via: String,
        /// What happened.
        what: String,
    },
    /// Queue a message.
    Queue(Message),
    /// Record a node's position (and, for a patrol's node, the team's track).
    NodePosition {
        /// Node.
        node: u32,
        /// Where.
        pos: Placed,
        /// Altitude, m.
        alt: Option<i32>,
        /// The team whose node it is.
        team: Option<String>,
    },
    /// Record a node's battery reading, unless a newer one is recorded.
    NodeBattery {
        /// Node.
        node: u32,
        /// Percent, 0-100, or 101: powered.
        level: Option<u32>,
        /// Volts.
        voltage: Option<f32>,
        /// When it was measured (ms): the sender's clock, never later than heard.
        at: i64,
    },
    /// The public key the station's radio holds for a node (from its node database or a
    /// direct message it decrypted).
    NodeKey {
        /// Node.
        node: u32,
        /// Key.
        key: crate::trust::PublicKey,
    },
    /// A key enrolled at the desk for a patrol's or municipality's node.
    Enrolled {
        /// Node.
        node: u32,
        /// Key.
        key: crate::trust::PublicKey,
        /// `team` or `municipality`.
        holder_kind: &'static str,
        /// Team or municipality name.
        holder: String,
        /// The operator.
        by: String,
    },
    /// An answer from a municipality whose radio cannot prove its sender, kept for an
    /// operator's confirmation.
    PendingAnswer {
        /// Node.
        node: u32,
        /// Municipality.
        municipality: String,
        /// Its words (personal data: the desk shows them, logs never).
        text: String,
    },
    /// A pending answer was confirmed or rejected by an operator.
    AnswerDecided {
        /// Row.
        row: i64,
        /// Confirmed (true) or rejected.
        confirmed: bool,
        /// The operator.
        by: String,
    },
    /// A node's names.
    NodeNames {
        /// Node.
        node: u32,
        /// Long name.
        long_name: String,
        /// Short name.
        short_name: String,
    },
    /// A new ambulance attempt, with its request message.
    AmbStart(Box<NewAttempt>),
    /// An attempt moved.
    AmbStatus {
        /// Attempt row.
        row: i64,
        /// New state.
        status: AmbState,
        /// A person answered now (accepted or declined).
        answered: bool,
    },
    /// The ETA a municipality gave (None: not said).
    AmbEta {
        /// Attempt row.
        row: i64,
        /// Minutes.
        eta: Option<u32>,
    },
    /// The reason a municipality gave for declining.
    AmbReason {
        /// Attempt row.
        row: i64,
        /// Their words.
        reason: String,
    },
    /// The attempt's one reminder was sent.
    AmbReminded {
        /// Attempt row.
        row: i64,
    },
    /// The attempt's request went on air: its deadline and reminder run from now.
    AmbTimers {
        /// Attempt row.
        row: i64,
        /// Answer due.
        deadline_at: i64,
        /// When to remind (None: no reminder).
        reminder_at: Option<i64>,
    },
    /// The attempt's request and reminder (the station's distress-class messages to its
    /// node for the incident), if not yet on air, must never be sent.
    AmbWithdraw {
        /// Attempt row.
        row: i64,
    },
    /// A team's status changed.
    TeamStatus {
        /// Team.
        team: String,
        /// New status.
        status: TeamHealth,
    },
    /// An orientation was given: counted per day, topic and language (no node: counts only).
    Oriented {
        /// What was asked.
        topic: crate::understand::question::Topic,
        /// The language it was answered in.
        language: Lang,
    },
    /// A sender joins the group acknowledged by the next surge broadcast in its language.
    Group {
        /// Sender.
        node: u32,
        /// Its incident.
        incident: Option<String>,
        /// Language of the broadcast it waits for.
        language: Lang,
        /// The name it is called by on air (cleaned, see [`clean_short_name`]).
        short_name: String,
    },
    /// These grouped senders were named in a broadcast queued now.
    GroupSent {
        /// Their rows.
        ids: Vec<i64>,
    },
    /// A surge starts now.
    SurgeStart {
        /// Why, in words.
        cause: String,
    },
    /// The surge in progress ends now.
    SurgeEnd,
    /// A new location request (`location_requests`).
    LocateOpen(Box<NewLocate>),
    /// A location request's search given to a team: state `searching`.
    LocateTask {
        /// Request number (`LOC-5` is 5).
        id: i64,
        /// Team.
        team: String,
    },
    /// The people found so far on a location request's search.
    LocateFound {
        /// Request number.
        id: i64,
        /// People found (never more than sought).
        found: u32,
    },
    /// A location request closed with its outcome (and the people found, if given).
    LocateClose {
        /// Request number.
        id: i64,
        /// How it ended.
        outcome: crate::casework::LocateOutcome,
        /// People found, if the operator said.
        found: Option<u32>,
    },
    /// A location request's outcome was reported back to the requester now.
    LocateReported {
        /// Request number.
        id: i64,
    },
    /// An outbox row's new delivery state.
    OutboxState {
        /// Row.
        row: i64,
        /// `acked`, `implicit`, `pending` (retry), `failed`, `dropped` (never to be sent).
        state: &'static str,
        /// When to try again (retries).
        next_attempt_at: Option<i64>,
        /// The radio's word.
        error: Option<String>,
    },
}

/// What the desk needs to know about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFacts {
    /// Canonical id.
    pub id: String,
    /// State, team, outcome.
    pub status: Status,
    /// 1..=4.
    pub priority: u8,
    /// People, if known.
    pub people: Option<u32>,
    /// Where it is, if known.
    pub position: Option<Placed>,
    /// Kind.
    pub kind: Kind,
    /// Flags.
    pub flags: Vec<Flag>,
    /// Why its priority (the reasons so far).
    pub why: Vec<String>,
    /// The node that reported it (None: a manual report).
    pub reporter: Option<u32>,
    /// The language its reporter is answered in.
    pub language: Lang,
}

/// A distress reporter's recent open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentIncident {
    /// Id.
    pub id: String,
    /// Times heard so far.
    pub heard_count: u32,
    /// Last time the reporter was answered.
    pub last_reply_at: Option<i64>,
}

/// One ambulance attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AmbRow {
    /// Row id.
    pub id: i64,
    /// Incident.
    pub incident: String,
    /// Municipality.
    pub municipality: String,
    /// Dispatcher node.
    pub node: Option<u32>,
    /// State.
    pub status: AmbState,
    /// Who asked.
    pub requested_by: String,
}

/// An outbox row that went on air and awaits its routing result.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRow {
    /// Row id.
    pub row: i64,
    /// Radio attempts so far.
    pub attempts: u32,
    /// Incident, if any.
    pub incident: Option<String>,
    /// Destination.
    pub dest: u32,
    /// The row's own attempt limit.
    pub max_attempts: Option<u32>,
}

/// The station's state as the rules see it: reads only, within the input's transaction.
/// Every method answers from what was committed or applied before the current input.
pub trait Facts {
    /// The number of the next incident.
    fn next_seq(&self) -> DeskResult<u32>;
    /// The reporter's open incident last heard at or after `since`, if any.
    fn recent_incident_of(&self, node: u32, since: i64) -> DeskResult<Option<RecentIncident>>;
    /// A node's last known position.
    fn last_known(&self, node: u32) -> DeskResult<Option<Placed>>;
    /// A node's last battery reading: (level, when measured), if any.
    fn node_battery(&self, node: u32) -> DeskResult<Option<(Option<u32>, i64)>>;
    /// An incident by canonical id.
    fn incident(&self, id: &str) -> DeskResult<Option<IncidentFacts>>;
    /// A team's open incidents (id, state), most urgent first, at most `limit`.
    fn team_open(&self, team: &str, limit: usize) -> DeskResult<Vec<(String, State)>>;
    /// The usage hints (`Msg::CmdUsage`) queued for `node` after `since`: their texts.
    fn hints_since(&self, node: u32, since: i64) -> DeskResult<Vec<String>>;
    /// The language of what `node` last wrote in words that tell one, else of its latest
    /// incident, if any.
    fn node_language(&self, node: u32) -> DeskResult<Option<Lang>>;
    /// The keys enrolled at the desk for `node`.
    fn enrolled_keys(&self, node: u32) -> DeskResult<Vec<crate::trust::PublicKey>>;
    /// A pending municipal answer: (node, text), if row `row` awaits confirmation.
    fn pending_answer(&self, row: i64) -> DeskResult<Option<(u32, String)>>;
    /// The key the station's radio last held for `node`.
    fn node_key(&self, node: u32) -> DeskResult<Option<crate::trust::PublicKey>>;
    /// The nodes the station's radio holds `key` for.
    fn nodes_with_key(&self, key: crate::trust::PublicKey) -> DeskResult<Vec<u32>>;
    /// Whether message `msg` was queued for `node` after `since`.
    fn said_since(&self, node: u32, msg: Msg, since: i64) -> DeskResult<bool>;

    /// Whether exactly `text` was queued to `node` after `since`.
    fn said_text_since(&self, node: u32, text: &str, since: i64) -> DeskResult<bool>;
    /// Whether `node` was asked whether it needs help (a message with no incident, class
    /// distress) after `since`.
    fn asked_since(&self, node: u32, since: i64) -> DeskResult<bool>;
    /// The incident's attempt still in play (awaiting an answer or accepted).
    fn amb_active(&self, incident: &str) -> DeskResult<Option<AmbRow>>;
    /// The incident's attempt whose ambulance was accepted or arrived, latest first.
    fn amb_taken(&self, incident: &str) -> DeskResult<Option<AmbRow>>;
    /// Municipalities already asked for the incident, in order.
    fn amb_asked(&self, incident: &str) -> DeskResult<Vec<String>>;
    /// The attempt whose request is outbox row `row`.
    fn amb_by_outbox(&self, row: i64) -> DeskResult<Option<AmbRow>>;
    /// Attempts awaiting an answer whose deadline is at or before `at`.
    fn amb_overdue(&self, at: i64) -> DeskResult<Vec<AmbRow>>;
    /// Attempts on air, not reminded, whose reminder is due at `at`.
    fn amb_reminders_due(&self, at: i64) -> DeskResult<Vec<AmbRow>>;
    /// Attempts sent to `node` that an answer may concern (all but arrived ones: a late
    /// answer is taken or called off), oldest first.
    fn amb_answerable(&self, node: u32) -> DeskResult<Vec<AmbRow>>;
    /// A team's last position time, and its recorded status.
    fn team(&self, team: &str) -> DeskResult<(Option<i64>, TeamHealth)>;
    /// The open incidents assigned to a team.
    fn team_incidents(&self, team: &str) -> DeskResult<Vec<String>>;
    /// The outbox row `radio` sent as `packet_id`, if it awaits a result.
    fn sent_row(&self, radio: &str, packet_id: u32) -> DeskResult<Option<SentRow>>;
    /// The incident an outbox row concerns.
    fn outbox_incident(&self, row: i64) -> DeskResult<Option<String>>;
    /// The surge in progress, if any.
    fn surge(&self) -> DeskResult<Option<SurgeFacts>>;
    /// Outbox rows in [`ESTIMATED_CLASSES`] not yet sent (pending or being sent), broadcasts
    /// excepted.
    fn pending_replies(&self) -> DeskResult<u32>;
    /// Grouped senders not yet named in a broadcast, oldest first.
    fn grouped_waiting(&self) -> DeskResult<Vec<GroupedAck>>;
    /// Direct acknowledgements ([`Msg::DistressAck`]) in class [`CLASS_P3`] still pending,
    /// oldest first.
    fn pending_acks(&self, from_class: u8) -> DeskResult<Vec<PendingAck>>;
    /// The short name a node's NodeInfo last gave, as heard (uncleaned).
    fn short_name(&self, node: u32) -> DeskResult<Option<String>>;
    /// The number of the next location request (`LOC-<n>`).
    fn next_locate(&self) -> DeskResult<i64>;
    /// A location request by number.
    fn locate(&self, id: i64) -> DeskResult<Option<LocateFacts>>;
}

/// The result of one input: the effects, and what the caller reports back.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// In order.
    pub effects: Vec<Effect>,
    /// The incident concerned, and whether it was opened by this input.
    pub incident: Option<(String, bool)>,
}

impl Decision {
    /// Messages queued by this decision (including ambulance requests).
    pub fn queued(&self) -> usize {
        self.effects
            .iter()
            .filter(|e| match e {
                Effect::Queue(_) => true,
                Effect::AmbStart(a) => a.request.is_some(),
                _ => false,
            })
            .count()
    }
}

/// One rule's working space: the configuration, the facts, the time, and the effects so far.
pub struct Desk<'a, F: Facts + ?Sized> {
    cfg: &'a StoreConfig,
    facts: &'a F,
    at: i64,
    out: Decision,
    /// A store error met where a rule cannot return it (reported by the entry point).
    failed: Option<StoreError>,
}

impl<F: Facts + ?Sized> fmt::Debug for Desk<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Desk")
            .field("at", &self.at)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl<'a, F: Facts + ?Sized> Desk<'a, F> {
    /// A desk for one input at time `at` (unix ms).
    pub fn new(cfg: &'a StoreConfig, facts: &'a F, at: i64) -> Self {
        Desk {
            cfg,
            facts,
            at,
            out: Decision::default(),
            failed: None,
        }
    }

    /// The effects decided, once the input is handled.
    pub fn finish(self) -> Decision {
        self.out
    }

    fn event(&mut self, incident: Option<&str>, who: &str, via: &str, what: impl Into<String>) {
        self.out.effects.push(Effect::Event {
            incident: incident.map(str::to_string),
            who: who.to_string(),
            via: via.to_string(),
            what: what.into(),
        });
    }

    fn render(&self, lang: Lang, msg: Msg, args: &[(&str, &str)]) -> String {
        self.cfg.catalog.render(lang, msg, args)
    }

    /// Queues a catalogue message (rendered within the budget by the catalogue).
    fn say(
        &mut self,
        incident: Option<&str>,
        dest: u32,
        class: u8,
        lang: Lang,
        msg: Msg,
        args: &[(&str, &str)],
    ) {
        let text = self.render(lang, msg, args);
        self.say_text(incident, dest, class, msg, text);
    }

    /// Queues a text already rendered for catalogue message `msg` (within the budget).
    fn say_text(&mut self, incident: Option<&str>, dest: u32, class: u8, msg: Msg, text: String) {
        self.out.effects.push(Effect::Queue(Message {
            incident: incident.map(str::to_string),
            dest,
            text,
            class,
            max_attempts: None,
            msg: Some(msg),
        }));
    }

    /// The first node of a team, if it has one.
    fn team_node(&self, team: &str) -> Option<u32> {
        self.cfg
            .teams
            .iter()
            .find(|t| t.name == team)
            .and_then(|t| t.nodes.first().copied())
    }

    /// The incident `id` names (however it was typed).
    fn require(&self, id: &str) -> DeskResult<IncidentFacts> {
        let canonical = crate::incident::parse_id(id)
            .map_err(Refusal::Invalid)?
            .to_string();
        self.facts
            .incident(&canonical)?
            .ok_or_else(|| Refusal::NotFound(format!("no incident {canonical}")).into())
    }

    /// Records a transition's result: the new status and its audit event.
    ///
    /// The first time a team takes the incident, its reporter hears that help is on the way
    /// (and not before: the first answer only says the station heard them).
    fn change(
        &mut self,
        inc: &IncidentFacts,
        change: crate::incident::Change,
        who: &str,
        via: &str,
    ) {
        let first_team = inc.status.team.is_none() && change.status.team.is_some();
        let closing = inc.status.state.is_open() && !change.status.state.is_open();
        self.out.effects.push(Effect::Status {
            id: inc.id.clone(),
            status: change.status,
        });
        self.event(Some(&inc.id), who, via, change.what);
        if closing {
            // An ambulance nobody needs any more is called off (patrol CERRAR, faroctl close).
            if let Err(e) = self.amb_on_close(inc, who, via) {
                self.failed.get_or_insert(e);
            }
        }
        let team_node = |n: u32| self.cfg.teams.iter().any(|t| t.nodes.contains(&n));
        if let Some(reporter) = inc.reporter.filter(|n| first_team && !team_node(*n)) {
            self.say(
                Some(&inc.id),
                reporter,
                reply_class(inc.priority),
                inc.language,
                Msg::TeamOnTheWay,
                &[("id", &inc.id)],
            );
        }
    }

    /// A new incident's id and effect; returns its facts for rules that act on it next.
    fn open(&mut self, mut inc: NewIncident) -> DeskResult<IncidentFacts> {
        let seq = self.facts.next_seq()?;
        inc.seq = seq;
        inc.id = crate::incident::IncidentId {
            station: self.cfg.station.clone(),
            seq,
        }
        .to_string();
        let facts = IncidentFacts {
            id: inc.id.clone(),
            status: Status {
                state: State::New,
                team: None,
                outcome: None,
            },
            priority: inc.priority,
            people: inc.people,
            position: inc.position.map(|(p, _)| p),
            kind: inc.kind,
            flags: inc.flags.iter().filter_map(|f| f.parse().ok()).collect(),
            why: inc.why.clone(),
            reporter: inc.reporter,
            language: inc.language,
        };
        self.out.effects.push(Effect::Open(Box::new(inc)));
        Ok(facts)
    }
}

/// `node:!a1b2c3d4`, the audit trail's name for a radio node.
fn node_who(node: u32) -> String {
    format!("node:{}", NodeId(node))
}

/// A refusal for an operator's message that does not fit one packet.
fn check_budget(text: &str) -> Result<(), Refusal> {
    if text.len() > mesh::PAYLOAD_BUDGET {
        return Err(Refusal::Invalid(format!(
            "message is {} bytes; the budget is {}",
            text.len(),
            mesh::PAYLOAD_BUDGET
        )));
    }
    Ok(())
}
