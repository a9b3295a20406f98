//! What the uplink publishes: schema `faro/v1`, JSON, one message per change.
//!
//! ```json
//! {"schema": "faro/v1", "station": "SAS", "seq": 12, "at": 1765000000000,
//!  "incident": {"id": "SAS-3", "state": "assigned", "outcome": null, "kind": "medical",
//!               "priority": 1, "people": 3, "flags": ["children"], "lat": 31.421,
//!               "lon": -111.755, "team": "P1", "created_at": ..., "updated_at": ...,
//!               "closed_at": null}}
//! {"schema": "faro/v1", "station": "SAS", "seq": 13, "at": ..., "team":
//!  {"name": "P1", "status": "stale", "changed_at": ...}}
//! ```
//!
//! - Topic: `<prefix>/<station>/incidents` or `<prefix>/<station>/teams` (prefix `faro/v1`).
//! - `(station, seq)` is the message's identity: `seq` only grows, so a receiver that applied
//!   `seq` ignores anything at or below it for the same thing (a duplicate, a replay, a
//!   reordered delivery), and a jump says messages are missing.
//! - The message carries the thing's whole current state, not a difference: applying the
//!   newest one is enough.
//! - Headquarters' profile only: no reporter, node, name, message text, reasons, notes or
//!   personal record; positions to three decimals (about 100 m). A test proves it.

use serde::{Deserialize, Serialize};

/// The schema name and version every message carries.
pub const SCHEMA: &str = "faro/v1";

/// An incident as headquarters sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    /// `SAS-3`.
    pub id: String,
    /// new, acknowledged, assigned, en_route, on_scene, closed.
    pub state: String,
    /// How it ended, once closed.
    pub outcome: Option<String>,
    /// medical, drowning, heat, violence, lost, distress, info.
    pub kind: String,
    /// 1 (most urgent) to 4.
    pub priority: u8,
    /// How many people, if known.
    pub people: Option<u32>,
    /// Vulnerability flags (children, pregnant...).
    pub flags: Vec<String>,
    /// Latitude, three decimals.
    pub lat: Option<f64>,
    /// Longitude, three decimals.
    pub lon: Option<f64>,
    /// The team assigned.
    pub team: Option<String>,
    /// Opened (ms).
    pub created_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
    /// Closed (ms).
    pub closed_at: Option<i64>,
}

/// A patrol team's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamState {
    /// P1.
    pub name: String,
    /// ok, stale, lost, unknown.
    pub status: String,
    /// Since when (ms).
    pub changed_at: i64,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// An incident opened or changed.
    Incident(IncidentState),
    /// A team's status changed.
    Team(TeamState),
}

impl Payload {
    /// The topic's last part.
    pub fn topic(&self) -> &'static str {
        match self {
            Payload::Incident(_) => "incidents",
            Payload::Team(_) => "teams",
        }
    }
}

/// One message on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// [`SCHEMA`].
    pub schema: String,
    /// The station's code.
    pub station: String,
    /// The station's sequence number of this change.
    pub seq: i64,
    /// When it changed (ms).
    pub at: i64,
    /// What changed, as it is now.
    #[serde(flatten)]
    pub payload: Payload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips_with_the_thing_under_its_own_name() {
        let m = Message {
            schema: SCHEMA.into(),
            station: "SAS".into(),
            seq: 7,
            at: 1,
            payload: Payload::Team(TeamState {
                name: "P1".into(),
                status: "ok".into(),
                changed_at: 1,
            }),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"schema":"faro/v1","station":"SAS","seq":7,"at":1,"team":{"name":"P1","status":"ok","changed_at":1}}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
    }
}
