//! Closing outcomes: how an incident ended, by its stable name or as a patrol types it.

use std::fmt;
use std::str::FromStr;

use super::fold::compact;

/// How an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The people were found and helped.
    Rescued,
    /// Taken to a hospital.
    TransferredHospital,
    /// Taken to a shelter.
    TransferredShelter,
    /// Nobody needed help.
    FalseAlarm,
    /// The search ended without finding anyone.
    NotFound,
    /// Called off (duplicate, withdrawn).
    Cancelled,
}

/// Accepted spellings of each outcome, compacted (folded, letters and digits only).
const OUTCOME_ALIASES: [(&str, Outcome); 22] = [
    ("rescued", Outcome::Rescued),
    ("rescatado", Outcome::Rescued),
    ("rescatada", Outcome::Rescued),
    ("rescatados", Outcome::Rescued),
    ("rescate", Outcome::Rescued),
    ("transferredhospital", Outcome::TransferredHospital),
    ("hospital", Outcome::TransferredHospital),
    ("transferredshelter", Outcome::TransferredShelter),
    ("albergue", Outcome::TransferredShelter),
    ("shelter", Outcome::TransferredShelter),
    ("falsealarm", Outcome::FalseAlarm),
    ("falsaalarma", Outcome::FalseAlarm),
    ("falsa", Outcome::FalseAlarm),
    ("falso", Outcome::FalseAlarm),
    ("false", Outcome::FalseAlarm),
    ("notfound", Outcome::NotFound),
    ("noencontrado", Outcome::NotFound),
    ("noencontrados", Outcome::NotFound),
    ("cancelled", Outcome::Cancelled),
    ("canceled", Outcome::Cancelled),
    ("cancelado", Outcome::Cancelled),
    ("cancel", Outcome::Cancelled),
];

impl Outcome {
    /// Every outcome, in the order of the design.
    pub const ALL: [Outcome; 6] = [
        Outcome::Rescued,
        Outcome::TransferredHospital,
        Outcome::TransferredShelter,
        Outcome::FalseAlarm,
        Outcome::NotFound,
        Outcome::Cancelled,
    ];

    /// The stable name used in events, the API and the database (`transferred_hospital`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rescued => "rescued",
            Outcome::TransferredHospital => "transferred_hospital",
            Outcome::TransferredShelter => "transferred_shelter",
            Outcome::FalseAlarm => "false_alarm",
            Outcome::NotFound => "not_found",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an outcome did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOutcome(pub String);

impl fmt::Display for UnknownOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown outcome {:?}: expected {OUTCOME_LIST}", self.0)
    }
}

impl std::error::Error for UnknownOutcome {}

/// The outcomes as a patrol would type them, for error messages.
pub(super) const OUTCOME_LIST: &str =
    "rescatado, hospital, albergue, falsa, noencontrado or cancelado";

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    /// Accepts the stable names and the Spanish and short forms a patrol types, ignoring case,
    /// accents, spaces, `_` and `-` (`No encontrado`, `NOT_FOUND`, `falsa alarma`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = compact(s);
        OUTCOME_ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|&(_, outcome)| outcome)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_their_stable_names() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            assert_eq!(o.to_string(), o.as_str());
        }
    }

    #[test]
    fn outcomes_accept_what_a_patrol_types() {
        let cases = [
            ("RESCATADO", Outcome::Rescued),
            ("rescate", Outcome::Rescued),
            ("HOSPITAL", Outcome::TransferredHospital),
            ("Albergue", Outcome::TransferredShelter),
            ("shelter", Outcome::TransferredShelter),
            ("FALSA", Outcome::FalseAlarm),
            ("falso", Outcome::FalseAlarm),
            ("False", Outcome::FalseAlarm),
            ("falsa alarma", Outcome::FalseAlarm),
            ("NOENCONTRADO", Outcome::NotFound),
            ("no_encontrado", Outcome::NotFound),
            ("No encontrado", Outcome::NotFound),
            ("NOT_FOUND", Outcome::NotFound),
            ("notfound", Outcome::NotFound),
            ("CANCELADO", Outcome::Cancelled),
            ("cancel", Outcome::Cancelled),
            ("CANCELLED", Outcome::Cancelled),
            ("canceled", Outcome::Cancelled),
            ("cancelado.", Outcome::Cancelled),
        ];
        for (s, o) in cases {
            assert_eq!(s.parse::<Outcome>(), Ok(o), "{s}");
        }
        for bad in ["", "no", "ok", "rescu", "hospitales"] {
            assert!(bad.parse::<Outcome>().is_err(), "{bad}");
        }
    }
}
