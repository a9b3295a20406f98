//! Ambulance coordination rules, pure: which municipality to ask next, what a request's
//! states are and which moves between them are allowed, and when a wait has run out. The
//! store records what these decide (`ambulance` table) and the outbox carries the messages.
//!
//! A request for an incident is a sequence of attempts, one municipality each, nearest first
//! by great-circle distance from the incident to the municipality's seat. An attempt goes
//! `pending -> sent -> delivered (radio ACK) -> accepted(eta) | declined | timed_out`, then
//! `arrived` or `cancelled`; `undeliverable` when the radio gives up on it. Declined, timed
//! out and undeliverable attempts escalate to the next municipality, up to a configured
//! number; then the request is exhausted and the operator calls by phone. A municipality with
//! only a phone gets a `call` attempt: the incident shows the number and the operator records
//! the answer.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::lang::Lang;

/// Default time a municipality has to answer before the next one is asked.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5 * 60);
/// Default number of municipalities asked for one incident.
pub const DEFAULT_MAX_MUNICIPALITIES: usize = 3;

/// A municipality that can send an ambulance, from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Municipality {
    /// Name as in the gazetteer (`Sáric`).
    pub name: String,
    /// State (`Sonora`).
    pub state: String,
    /// Seat position, degrees.
    pub lat: f64,
    /// Seat position, degrees.
    pub lon: f64,
    /// Mesh nodes of its dispatchers (may be empty: phone only).
    pub nodes: Vec<u32>,
    /// Phone numbers (for the operator; never sent on air).
    pub phones: Vec<String>,
    /// Languages its dispatchers read, first preferred.
    pub languages: Vec<Lang>,
    /// Public keys of its dispatchers' radios: an answer counts only as a PKI direct message
    /// from one of them (or one enrolled at the desk).
    pub keys: Vec<crate::trust::PublicKey>,
    /// Its radios can send PKI direct messages. Without (`pki = false`), its answers wait for
    /// an operator's confirmation before they count.
    pub pki: bool,
}

impl Municipality {
    /// The language requests are written in.
    pub fn language(&self) -> Lang {
        self.languages.first().copied().unwrap_or(Lang::Es)
    }
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmbState {
    /// Committed, not yet handed to a radio.
    Pending,
    /// Handed to a radio.
    Sent,
    /// The municipality's radio acknowledged it.
    Delivered,
    /// A person accepted (with an ETA, maybe).
    Accepted,
    /// A person said no.
    Declined,
    /// Nobody answered before the deadline.
    TimedOut,
    /// The radio gave up (NAK after retries).
    Undeliverable,
    /// The ambulance is there.
    Arrived,
    /// The station cancelled it.
    Cancelled,
    /// Phone only: the operator has to call.
    Call,
}

impl AmbState {
    /// Every state.
    pub const ALL: [AmbState; 10] = [
        AmbState::Pending,
        AmbState::Sent,
        AmbState::Delivered,
        AmbState::Accepted,
        AmbState::Declined,
        AmbState::TimedOut,
        AmbState::Undeliverable,
        AmbState::Arrived,
        AmbState::Cancelled,
        AmbState::Call,
    ];

    /// Name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AmbState::Pending => "pending",
            AmbState::Sent => "sent",
            AmbState::Delivered => "delivered",
            AmbState::Accepted => "accepted",
            AmbState::Declined => "declined",
            AmbState::TimedOut => "timed_out",
            AmbState::Undeliverable => "undeliverable",
            AmbState::Arrived => "arrived",
            AmbState::Cancelled => "cancelled",
            AmbState::Call => "call",
        }
    }

    /// Waiting for a human answer (the deadline applies).
    pub fn awaiting_answer(self) -> bool {
        matches!(
            self,
            AmbState::Pending | AmbState::Sent | AmbState::Delivered | AmbState::Call
        )
    }

    /// Still in play: awaiting an answer or accepted and on the way.
    pub fn active(self) -> bool {
        self.awaiting_answer() || self == AmbState::Accepted
    }

    /// Ended without an ambulance: the next municipality is asked.
    pub fn escalates(self) -> bool {
        matches!(
            self,
            AmbState::Declined | AmbState::TimedOut | AmbState::Undeliverable
        )
    }
}

impl fmt::Display for AmbState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AmbState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AmbState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown ambulance state {s:?}"))
    }
}

/// What happened to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbEvent {
    /// Handed to a radio.
    Sent,
    /// The radio acknowledged.
    Delivered,
    /// The radio gave up.
    Undeliverable,
    /// A person accepted.
    Accepted,
    /// A person declined.
    Declined,
    /// The deadline passed.
    Deadline,
    /// The ambulance arrived.
    Arrived,
    /// The station cancelled.
    Cancel,
}

/// Why an event does not apply to an attempt now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// A decline after an acceptance: the station must cancel instead.
    #[error("already accepted; cancel it from the station if needed")]
    AlreadyAccepted,
    /// The ambulance is there.
    #[error("the ambulance already arrived")]
    Arrived,
    /// The station cancelled it.
    #[error("the request was cancelled")]
    Cancelled,
    /// A person said no already.
    #[error("already declined")]
    Declined,
    /// Any other event that makes no sense in this state.
    #[error("{} does not apply to a request that is {state}", format!("{event:?}").to_lowercase())]
    DoesNotApply {
        /// The event.
        event: AmbEvent,
        /// The attempt's state.
        state: AmbState,
    },
}

/// The state after `ev`, or why `ev` does not apply now.
pub fn step(cur: AmbState, ev: AmbEvent) -> Result<AmbState, StepError> {
    use AmbEvent as E;
    use AmbState as S;
    let next = match (cur, ev) {
        (S::Pending, E::Sent) => S::Sent,
        (S::Pending | S::Sent, E::Delivered) => S::Delivered,
        (S::Pending | S::Sent, E::Undeliverable) => S::Undeliverable,
        // A late radio result after a human answered changes nothing.
        (
            S::Delivered | S::Accepted | S::Declined | S::Arrived | S::Cancelled | S::TimedOut,
            E::Delivered | E::Sent,
        ) => cur,
        // A late yes (after the deadline, a lost radio ACK, or even a no) is still a yes.
        (
            S::Pending
            | S::Sent
            | S::Delivered
            | S::Call
            | S::TimedOut
            | S::Undeliverable
            | S::Declined,
            E::Accepted,
        ) => S::Accepted,
        (S::Accepted, E::Accepted) => S::Accepted,
        (S::Pending | S::Sent | S::Delivered | S::Call, E::Declined) => S::Declined,
        (S::Pending | S::Sent | S::Delivered | S::Call, E::Deadline) => S::TimedOut,
        (S::Accepted, E::Arrived) => S::Arrived,
        (S::Pending | S::Sent | S::Delivered | S::Call | S::Accepted, E::Cancel) => S::Cancelled,
        (S::Accepted, E::Declined) => return Err(StepError::AlreadyAccepted),
        (S::Arrived, _) => return Err(StepError::Arrived),
        (S::Cancelled, _) => return Err(StepError::Cancelled),
        (S::Declined, _) => return Err(StepError::Declined),
        (S::TimedOut | S::Undeliverable, E::Arrived) => S::Arrived,
        (state, event) => return Err(StepError::DoesNotApply { event, state }),
    };
    Ok(next)
}

/// A municipality that could be asked, with its distance to the incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index into the configured municipalities.
    pub index: usize,
    /// Great-circle distance from the incident to the seat, km.
    pub distance_km: f64,
}

/// Municipalities with a contact (mesh node or phone), nearest first, leaving out those in
/// `asked` (by name).
pub fn candidates(munis: &[Municipality], lat: f64, lon: f64, asked: &[String]) -> Vec<Candidate> {
    let mut v: Vec<Candidate> = munis
        .iter()
        .enumerate()
        .filter(|(_, m)| !(m.nodes.is_empty() && m.phones.is_empty()))
        .filter(|(_, m)| !asked.iter().any(|a| a == &m.name))
        .map(|(index, m)| Candidate {
            index,
            distance_km: crate::geo::haversine_km(lat, lon, m.lat, m.lon),
        })
        .collect();
    v.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
    v
}

/// When to send the one reminder of an attempt requested at `at` (none when disabled or it
/// would come after the deadline).
pub fn reminder_at(at: i64, deadline: Duration, reminder: Option<Duration>) -> Option<i64> {
    let r = reminder?;
    (r < deadline).then(|| at + r.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn muni(name: &str, lat: f64, lon: f64, nodes: &[u32], phones: &[&str]) -> Municipality {
        Municipality {
            name: name.into(),
            state: "Sonora".into(),
            lat,
            lon,
            nodes: nodes.to_vec(),
            phones: phones.iter().map(|p| p.to_string()).collect(),
            languages: vec![Lang::Es],
            keys: Vec::new(),
            pki: true,
        }
    }

    #[test]
    fn the_happy_path_and_escalations() {
        use AmbEvent as E;
        use AmbState as S;
        let mut s = S::Pending;
        for (ev, want) in [
            (E::Sent, S::Sent),
            (E::Delivered, S::Delivered),
            (E::Accepted, S::Accepted),
            (E::Arrived, S::Arrived),
        ] {
            s = step(s, ev).unwrap();
            assert_eq!(s, want);
        }
        assert!(step(S::Sent, E::Declined).unwrap().escalates());
        assert!(step(S::Delivered, E::Deadline).unwrap().escalates());
        assert!(step(S::Sent, E::Undeliverable).unwrap().escalates());
        assert_eq!(step(S::Call, E::Accepted), Ok(S::Accepted));
        // A late yes after the deadline is still a yes.
        assert_eq!(step(S::TimedOut, E::Accepted), Ok(S::Accepted));
        // A late radio ACK never undoes a human answer.
        assert_eq!(step(S::Accepted, E::Delivered), Ok(S::Accepted));
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            step(AmbState::Arrived, AmbEvent::Cancel).map_err(|e| e.to_string()),
            Err("the ambulance already arrived".to_string())
        );
        assert_eq!(
            step(AmbState::Cancelled, AmbEvent::Accepted).map_err(|e| e.to_string()),
            Err("the request was cancelled".to_string())
        );
        assert!(step(AmbState::Accepted, AmbEvent::Declined).is_err());
        assert!(step(AmbState::Accepted, AmbEvent::Deadline).is_err());
    }

    #[test]
    fn nearest_with_a_contact_first() {
        let m = vec![
            muni("Altar", 30.7136, -111.8349, &[2], &[]),
            muni("Sáric", 31.1069, -111.3752, &[1], &[]),
            muni("Nadie", 31.4, -111.5, &[], &[]),
            muni("Tubutama", 30.8862, -111.4663, &[], &["+52 637 000 0000"]),
        ];
        let c = candidates(&m, 31.47463, -111.54485, &[]);
        let names: Vec<&str> = c.iter().map(|c| m[c.index].name.as_str()).collect();
        assert_eq!(names, vec!["Sáric", "Tubutama", "Altar"]);
        assert!(
            c[0].distance_km > 40.0 && c[0].distance_km < 50.0,
            "{}",
            c[0].distance_km
        );
        let c = candidates(&m, 31.47463, -111.54485, &["Sáric".to_string()]);
        assert_eq!(m[c[0].index].name, "Tubutama");
    }

    #[test]
    fn one_reminder_before_the_deadline() {
        let d = Duration::from_secs(300);
        assert_eq!(
            reminder_at(1000, d, Some(Duration::from_secs(150))),
            Some(151_000)
        );
        assert_eq!(reminder_at(1000, d, Some(Duration::from_secs(300))), None);
        assert_eq!(reminder_at(1000, d, None), None);
    }
}
