//! Incident rules, as a pure state machine: states and the transitions between them, priority
//! (explainable), triage of a distress text, and what to do with a repeated distress signal.
//! No I/O: the store calls these inside its transaction and records what they decide.
//!
//! States: `new -> acknowledged -> assigned -> en_route -> on_scene -> closed(outcome)`, with
//! shortcuts a field team really takes (a patrol may head out before the desk assigns it;
//! anything open may be closed) and `reopen` from closed. Every refusal says why in one line.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use faro_proto::text::{IncidentId, Outcome};

/// How long a repeated distress from the same node updates its open incident instead of
/// opening another (default; configurable).
pub const DEFAULT_REPEAT_WINDOW: Duration = Duration::from_secs(30 * 60);

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Just opened; nobody has looked at it.
    New,
    /// An operator or patrol has seen it.
    Acknowledged,
    /// A patrol is assigned.
    Assigned,
    /// The patrol is on its way.
    EnRoute,
    /// The patrol is there.
    OnScene,
    /// Finished, with an outcome.
    Closed,
}

impl State {
    /// Every state, in order.
    pub const ALL: [State; 6] = [
        State::New,
        State::Acknowledged,
        State::Assigned,
        State::EnRoute,
        State::OnScene,
        State::Closed,
    ];

    /// The name used in the database, the API and on air.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Assigned => "assigned",
            State::EnRoute => "en_route",
            State::OnScene => "on_scene",
            State::Closed => "closed",
        }
    }

    /// True until closed.
    pub fn is_open(self) -> bool {
        self != State::Closed
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}: use one of new, acknowledged, assigned, en_route, on_scene, closed"))
    }
}

/// What kind of emergency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Illness or injury.
    Medical,
    /// In water.
    Drowning,
    /// Heat stroke, dehydration.
    Heat,
    /// Assault, robbery, threats.
    Violence,
    /// Lost, asking for a location.
    Lost,
    /// Unknown distress (a panic button, a bare SOS).
    Distress,
    /// Orientation or information, no emergency.
    Info,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Medical,
        Kind::Drowning,
        Kind::Heat,
        Kind::Violence,
        Kind::Lost,
        Kind::Distress,
        Kind::Info,
    ];

    /// Name in the database and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Medical => "medical",
            Kind::Drowning => "drowning",
            Kind::Heat => "heat",
            Kind::Violence => "violence",
            Kind::Lost => "lost",
            Kind::Distress => "distress",
            Kind::Info => "info",
        }
    }

    fn base_priority(self) -> u8 {
        match self {
            Kind::Medical | Kind::Drowning | Kind::Heat | Kind::Violence => 1,
            Kind::Distress | Kind::Lost => 2,
            Kind::Info => 4,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown kind {s:?}: use one of medical, drowning, heat, violence, lost, distress, info")
        })
    }
}

/// What is known about the people: vulnerability and severity flags. Any of them but
/// [`Flag::BodyFound`] puts the incident first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// A child travelling alone.
    UnaccompaniedMinor,
    /// Children in the group.
    Children,
    /// Someone with a disability.
    Disability,
    /// A pregnant woman.
    Pregnant,
    /// Someone injured.
    Injured,
    /// Someone unconscious or not moving.
    Unconscious,
    /// Someone not breathing.
    NotBreathing,
    /// Someone bleeding.
    Bleeding,
    /// Without water, dehydrated.
    Dehydration,
    /// An elderly person.
    Elderly,
    /// Left behind by their guide.
    Abandoned,
    /// Trapped or stuck (a canyon, a wall, a vehicle).
    Trapped,
    /// A body found: urgent for the family, not for a life.
    BodyFound,
}

impl Flag {
    /// Every flag.
    pub const ALL: [Flag; 13] = [
        Flag::UnaccompaniedMinor,
        Flag::Children,
        Flag::Disability,
        Flag::Pregnant,
        Flag::Injured,
        Flag::Unconscious,
        Flag::NotBreathing,
        Flag::Bleeding,
        Flag::Dehydration,
        Flag::Elderly,
        Flag::Abandoned,
        Flag::Trapped,
        Flag::BodyFound,
    ];

    /// Name in the database and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::UnaccompaniedMinor => "unaccompanied_minor",
            Flag::Children => "children",
            Flag::Disability => "disability",
            Flag::Pregnant => "pregnant",
            Flag::Injured => "injured",
            Flag::Unconscious => "unconscious",
            Flag::NotBreathing => "not_breathing",
            Flag::Bleeding => "bleeding",
            Flag::Dehydration => "dehydration",
            Flag::Elderly => "elderly",
            Flag::Abandoned => "abandoned",
            Flag::Trapped => "trapped",
            Flag::BodyFound => "body_found",
        }
    }

    /// Whether it puts the incident first (P1).
    pub fn urgent(self) -> bool {
        self != Flag::BodyFound
    }
}

impl FromStr for Flag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flag::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Flag::ALL.iter().map(|f| f.as_str()).collect();
                format!("unknown flag {s:?}: use {}", names.join(", "))
            })
    }
}

/// What is known about the people and the emergency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triage {
    /// The kind (None: not said; treated as unknown distress).
    pub kind: Option<Kind>,
    /// How many people, if said.
    pub people: Option<u32>,
    /// Vulnerability flags, sorted, no repeats.
    pub flags: Vec<Flag>,
}

/// Priority 1 (first) to 4, with the reasons, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// 1..=4.
    pub level: u8,
    /// Why, one short phrase per rule that applied (`why P1`).
    pub why: Vec<String>,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.level)
    }
}

/// Priority from kind, people and flags: kind sets the base (medical, drowning, heat, violence
/// P1; unknown distress and lost P2; information P4); any vulnerability flag makes it P1; a
/// group of five or more moves it up one level.
pub fn priority(t: &Triage) -> Priority {
    let kind = t.kind.unwrap_or(Kind::Distress);
    let mut level = kind.base_priority();
    let mut why = vec![format!("kind {kind}: P{level}")];
    let urgent: Vec<&str> = t
        .flags
        .iter()
        .filter(|f| f.urgent())
        .map(|f| f.as_str())
        .collect();
    if !urgent.is_empty() {
        level = 1;
        why.push(format!("vulnerable ({}): P1", urgent.join(", ")));
    }
    if let Some(n) = t.people.filter(|n| *n >= 5) {
        if level > 1 {
            level -= 1;
            why.push(format!("{n} people: up to P{level}"));
        } else {
            why.push(format!("{n} people"));
        }
    }
    Priority { level, why }
}

/// Who asks for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the desk (name for the audit trail).
    Operator(String),
    /// A patrol by text (team name).
    Patrol(String),
    /// Farod itself.
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator(n) => write!(f, "operator:{n}"),
            Actor::Patrol(t) => write!(f, "patrol:{t}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// A change asked of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Seen.
    Acknowledge,
    /// Give it to a team.
    Assign(String),
    /// The team is on its way.
    EnRoute,
    /// The team is there.
    OnScene,
    /// Finished.
    Close(Outcome),
    /// Open it again.
    Reopen,
}

impl Transition {
    /// A short verb for events.
    pub fn verb(&self) -> &'static str {
        match self {
            Transition::Acknowledge => "acknowledge",
            Transition::Assign(_) => "assign",
            Transition::EnRoute => "en_route",
            Transition::OnScene => "on_scene",
            Transition::Close(_) => "close",
            Transition::Reopen => "reopen",
        }
    }
}

/// The part of an incident the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Current state.
    pub state: State,
    /// Assigned team, if any.
    pub team: Option<String>,
    /// Outcome once closed.
    pub outcome: Option<Outcome>,
}

/// The result of an allowed transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// New status.
    pub status: Status,
    /// What happened, for the audit trail ("assigned to P1", "closed: rescued").
    pub what: String,
}

/// Why a transition does not apply (each reads as one line after "cannot close: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The incident is assigned to another team than the patrol asking.
    #[error("assigned to {0}")]
    AssignedTo(String),
    /// The incident is closed.
    #[error("closed")]
    Closed,
    /// Closed already, with this outcome.
    #[error("already closed ({})", .0.map_or("?", Outcome::as_str))]
    AlreadyClosed(Option<Outcome>),
    /// The incident is in that state already.
    #[error("already {0}")]
    Already(State),
    /// Assign with an empty team name.
    #[error("no team named")]
    NoTeamNamed,
    /// Assigned to that team already.
    #[error("already assigned to {0}")]
    AlreadyAssigned(String),
    /// En route / on scene from the desk with no team assigned.
    #[error("no team assigned")]
    NoTeam,
    /// A patrol tried to reopen.
    #[error("only the desk reopens")]
    OnlyDeskReopens,
    /// Reopen of an open incident.
    #[error("not closed ({0})")]
    NotClosed(State),
}

/// Applies `t` asked by `who` to `cur`, or says why not.
pub fn transition(cur: &Status, t: &Transition, who: &Actor) -> Result<Change, TransitionError> {
    use State::*;
    use TransitionError as E;
    let st = cur.state;
    let mut next = cur.clone();
    if let Actor::Patrol(team) = who {
        // A patrol may act on what is unassigned or assigned to it, never on another team's.
        if let Some(other) = cur.team.as_ref().filter(|t| *t != team) {
            return Err(E::AssignedTo(other.clone()));
        }
    }
    let what = match t {
        Transition::Acknowledge => match st {
            New => {
                next.state = Acknowledged;
                "acknowledged".to_string()
            }
            Closed => return Err(E::Closed),
            // A patrol's ACK of its assignment is recorded without changing the state.
            _ if matches!(who, Actor::Patrol(_)) => "acknowledged by the patrol".to_string(),
            _ => return Err(E::Already(st)),
        },
        Transition::Assign(team) => match st {
            New | Acknowledged | Assigned if team.trim().is_empty() => return Err(E::NoTeamNamed),
            New | Acknowledged | Assigned | EnRoute | OnScene
                if cur.team.as_deref() == Some(team.as_str()) =>
            {
                return Err(E::AlreadyAssigned(team.clone()))
            }
            New | Acknowledged | Assigned => {
                next.state = Assigned;
                next.team = Some(team.clone());
                format!("assigned to {team}")
            }
            EnRoute | OnScene => {
                // Reassignment in the field: the new team starts from assigned.
                next.state = Assigned;
                next.team = Some(team.clone());
                format!("reassigned to {team}")
            }
            Closed => return Err(E::Closed),
        },
        Transition::EnRoute => match st {
            New | Acknowledged | Assigned => {
                if next.team.is_none() {
                    if let Actor::Patrol(team) = who {
                        next.team = Some(team.clone());
                    } else {
                        return Err(E::NoTeam);
                    }
                }
                next.state = EnRoute;
                format!("{} en route", next.team.as_deref().unwrap_or("team"))
            }
            EnRoute => return Err(E::Already(EnRoute)),
            OnScene => return Err(E::Already(OnScene)),
            Closed => return Err(E::Closed),
        },
        Transition::OnScene => match st {
            New | Acknowledged | Assigned | EnRoute => {
                if next.team.is_none() {
                    if let Actor::Patrol(team) = who {
                        next.team = Some(team.clone());
                    } else {
                        return Err(E::NoTeam);
                    }
                }
                next.state = OnScene;
                format!("{} on scene", next.team.as_deref().unwrap_or("team"))
            }
            OnScene => return Err(E::Already(OnScene)),
            Closed => return Err(E::Closed),
        },
        Transition::Close(outcome) => match st {
            Closed => return Err(E::AlreadyClosed(cur.outcome)),
            _ => {
                next.state = Closed;
                next.outcome = Some(*outcome);
                format!("closed: {}", outcome.as_str())
            }
        },
        Transition::Reopen => match st {
            Closed if matches!(who, Actor::Patrol(_)) => return Err(E::OnlyDeskReopens),
            Closed => {
                next.state = if next.team.is_some() {
                    Assigned
                } else {
                    Acknowledged
                };
                next.outcome = None;
                "reopened".to_string()
            }
            _ => return Err(E::NotClosed(st)),
        },
    };
    Ok(Change { status: next, what })
}

/// Whether a repeated distress from the same node, heard `since_last` after the incident was
/// last heard, updates that incident (true) or opens a new one.
pub fn is_repeat(open: bool, since_last: Duration, window: Duration) -> bool {
    open && since_last <= window
}

/// Where an incident's position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSource {
    /// In the distress packet itself.
    Packet,
    /// The sender's last known position (with its age).
    LastKnown,
    /// The registered position of a tower node.
    Tower,
    /// Typed by an operator.
    Manual,
}

impl PositionSource {
    /// Name in the database and API.
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSource::Packet => "packet",
            PositionSource::LastKnown => "last_known",
            PositionSource::Tower => "tower",
            PositionSource::Manual => "manual",
        }
    }
}

/// Picks the best position: the packet's, else the sender's last known, else the tower's.
pub fn best_position<T>(
    packet: Option<T>,
    last_known: Option<T>,
    tower: Option<T>,
) -> Option<(T, PositionSource)> {
    packet
        .map(|p| (p, PositionSource::Packet))
        .or_else(|| last_known.map(|p| (p, PositionSource::LastKnown)))
        .or_else(|| tower.map(|p| (p, PositionSource::Tower)))
}

/// Parses an incident id the way people type it, for the given station.
pub fn parse_id(s: &str) -> Result<IncidentId, String> {
    s.parse::<IncidentId>().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: State, team: Option<&str>) -> Status {
        Status {
            state,
            team: team.map(str::to_string),
            outcome: None,
        }
    }

    fn op() -> Actor {
        Actor::Operator("ana".into())
    }

    #[test]
    fn the_full_field_flow() {
        let mut s = status(State::New, None);
        for (t, who, want) in [
            (Transition::Acknowledge, op(), State::Acknowledged),
            (Transition::Assign("P1".into()), op(), State::Assigned),
            (
                Transition::Acknowledge,
                Actor::Patrol("P1".into()),
                State::Assigned,
            ),
            (
                Transition::EnRoute,
                Actor::Patrol("P1".into()),
                State::EnRoute,
            ),
            (
                Transition::OnScene,
                Actor::Patrol("P1".into()),
                State::OnScene,
            ),
            (
                Transition::Close(Outcome::Rescued),
                Actor::Patrol("P1".into()),
                State::Closed,
            ),
        ] {
            s = transition(&s, &t, &who)
                .unwrap_or_else(|e| panic!("{t:?}: {e}"))
                .status;
            assert_eq!(s.state, want);
        }
        assert_eq!(s.outcome, Some(Outcome::Rescued));
        let r = transition(&s, &Transition::Reopen, &op()).unwrap();
        assert_eq!((r.status.state, r.status.outcome), (State::Assigned, None));
    }

    #[test]
    fn illegal_transitions_say_why() {
        let closed = Status {
            state: State::Closed,
            team: None,
            outcome: Some(Outcome::FalseAlarm),
        };
        assert_eq!(
            transition(&closed, &Transition::EnRoute, &op()).map_err(|e| e.to_string()),
            Err("closed".to_string())
        );
        assert_eq!(
            transition(&closed, &Transition::Close(Outcome::Rescued), &op())
                .map_err(|e| e.to_string()),
            Err("already closed (false_alarm)".to_string())
        );
        assert_eq!(
            transition(&status(State::New, None), &Transition::Reopen, &op())
                .map_err(|e| e.to_string()),
            Err("not closed (new)".to_string())
        );
        assert_eq!(
            transition(
                &status(State::Acknowledged, None),
                &Transition::EnRoute,
                &op()
            )
            .map_err(|e| e.to_string()),
            Err("no team assigned".to_string())
        );
        assert_eq!(
            transition(
                &status(State::Assigned, Some("P2")),
                &Transition::EnRoute,
                &Actor::Patrol("P1".into())
            )
            .map_err(|e| e.to_string()),
            Err("assigned to P2".to_string())
        );
        assert_eq!(
            transition(
                &status(State::OnScene, Some("P1")),
                &Transition::EnRoute,
                &Actor::Patrol("P1".into())
            )
            .map_err(|e| e.to_string()),
            Err("already on_scene".to_string())
        );
        assert_eq!(
            transition(&closed, &Transition::Reopen, &Actor::Patrol("P1".into()))
                .map_err(|e| e.to_string()),
            Err("only the desk reopens".to_string())
        );
        assert_eq!(
            transition(
                &status(State::Acknowledged, None),
                &Transition::Acknowledge,
                &op()
            )
            .map_err(|e| e.to_string()),
            Err("already acknowledged".to_string())
        );
    }

    #[test]
    fn a_patrol_can_head_out_unassigned() {
        let c = transition(
            &status(State::New, None),
            &Transition::EnRoute,
            &Actor::Patrol("P2".into()),
        )
        .unwrap();
        assert_eq!(
            c.status,
            Status {
                state: State::EnRoute,
                team: Some("P2".into()),
                outcome: None
            }
        );
    }

    #[test]
    fn priority_is_explained() {
        let p = priority(&Triage {
            kind: Some(Kind::Lost),
            people: Some(3),
            flags: vec![Flag::Children],
        });
        assert_eq!(p.level, 1);
        assert_eq!(
            p.why,
            vec![
                "kind lost: P2".to_string(),
                "vulnerable (children): P1".to_string()
            ]
        );
        let p = priority(&Triage {
            kind: None,
            people: Some(6),
            flags: vec![],
        });
        assert_eq!((p.level, p.why.len()), (1, 2));
        assert_eq!(
            priority(&Triage {
                kind: Some(Kind::Info),
                people: None,
                flags: vec![]
            })
            .level,
            4
        );
        assert_eq!(priority(&Triage::default()).to_string(), "P2");
    }

    #[test]
    fn repeats_and_positions() {
        let w = DEFAULT_REPEAT_WINDOW;
        assert!(is_repeat(true, Duration::from_secs(60), w));
        assert!(!is_repeat(true, w + Duration::from_secs(1), w));
        assert!(!is_repeat(false, Duration::ZERO, w));
        assert_eq!(
            best_position(None, Some(2), Some(3)),
            Some((2, PositionSource::LastKnown))
        );
        assert_eq!(
            best_position(Some(1), Some(2), Some(3)),
            Some((1, PositionSource::Packet))
        );
        assert_eq!(best_position::<u8>(None, None, None), None);
    }
}
