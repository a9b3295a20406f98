//! Incident ids: station code and sequence number, written `SAS-17`, always in full.

use std::fmt;
use std::str::FromStr;

/// An incident id: station code and sequence number, written `SAS-17`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId {
    /// Station code: 2 to 5 ASCII letters, upper case.
    pub station: String,
    /// Sequence number within the station.
    pub seq: u32,
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.station, self.seq)
    }
}

/// Why an incident id did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadIncidentId(pub String);

impl fmt::Display for BadIncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad incident id {:?}: expected 2 to 5 letters, a dash and a number, like SAS-17",
            self.0
        )
    }
}

impl std::error::Error for BadIncidentId {}

impl FromStr for IncidentId {
    type Err = BadIncidentId;

    /// Accepts `LETTERS-DIGITS` (2 to 5 ASCII letters, any case; up to a `u32` of digits).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadIncidentId(s.to_string());
        let (station, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        let letters =
            (2..=5).contains(&station.len()) && station.bytes().all(|b| b.is_ascii_alphabetic());
        // `u32::from_str` also takes a leading `+`: insist on digits only.
        if !letters || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(IncidentId {
            station: station.to_ascii_uppercase(),
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// An incident id written as one word, with punctuation around it (`(SAS-17),`) tolerated.
pub(super) fn id_word(word: &str) -> Result<IncidentId, BadIncidentId> {
    word.trim_matches(|c: char| !c.is_alphanumeric()).parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(s: &str) -> IncidentId {
        s.parse().unwrap()
    }

    #[test]
    fn incident_ids_print_and_parse() {
        let sas17 = IncidentId {
            station: "SAS".into(),
            seq: 17,
        };
        assert_eq!(sas17.to_string(), "SAS-17");
        for s in ["SAS-17", "sas-17", " Sas-017 "] {
            assert_eq!(id(s), sas17, "{s}");
        }
        assert_eq!(id("TIJUA-4294967295").seq, u32::MAX);
        assert_eq!(id("DA-0").station, "DA");
        for bad in [
            "",
            "SAS17",
            "S-1",
            "SASABE-1",
            "SAS-",
            "-17",
            "SAS-+17",
            "SAS--17",
            "SAS-1a",
            "SÁS-17",
            "SAS-4294967296",
            "S4S-1",
            "SAS 17",
        ] {
            assert!(bad.parse::<IncidentId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn incident_ids_order_by_station_then_number() {
        assert!(id("SAS-9") < id("SAS-10"));
        assert!(id("DAR-99") < id("SAS-1"));
    }

    #[test]
    fn bad_incident_id_error_is_one_line() {
        let e = "x".parse::<IncidentId>().unwrap_err().to_string();
        assert_eq!(
            e,
            "bad incident id \"x\": expected 2 to 5 letters, a dash and a number, like SAS-17"
        );
    }

    fn any_id() -> impl Strategy<Value = IncidentId> {
        ("[A-Z]{2,5}", any::<u32>()).prop_map(|(station, seq)| IncidentId { station, seq })
    }

    proptest! {
        #[test]
        fn incident_ids_round_trip(id in any_id()) {
            prop_assert_eq!(id.to_string().parse::<IncidentId>(), Ok(id.clone()));
            prop_assert_eq!(id.to_string().to_lowercase().parse::<IncidentId>(), Ok(id));
        }

    }
}
