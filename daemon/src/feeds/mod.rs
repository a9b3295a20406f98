//! Feeds for others (issue 16, part 5): what a station tells other services about its
//! incidents, formatted here and published elsewhere (the MQTT uplink owns the topics and the
//! sending). Two formats, each a pure function of [`IncidentFacts`] (no I/O, no clock):
//!
//! - [`cap`]: OASIS Common Alerting Protocol 1.2 alerts, scope `Restricted`, one per version
//!   of an incident; updates and cancels reference the first alert. Valid against the OASIS
//!   schema (`tests/data/cap/CAP-v1.2.xsd`, checked with `xmllint --schema` by
//!   `daemon/tests/feeds.rs`).
//! - [`cot`]: Cursor-on-Target events for TAK users: an open incident as an emergency
//!   (`b-a-o-tbl`), a closed one as its cancel (`b-a-o-can`), patrols as friendly ground units
//!   (`a-f-G-U-C`).
//!
//! # No personal data leaves
//!
//! [`IncidentFacts`] is the whole input, and it has no field for personal data: no reporter,
//! no node id, no name, no message text, no free-text reason, no phone. What goes out is the
//! station (code and name, from the configuration), the incident id, its state, priority,
//! kind, how many people, the vulnerability flags (short words such as "niños" or "herido",
//! which say what help is needed and identify nobody), the assigned team's name, the times,
//! the outcome, and the position rounded to 3 decimals (about 100 m). A caller cannot leak
//! more through these functions because there is nowhere to put it.
//!
//! Text that comes from the configuration (station name, team names, the sender) is escaped
//! for XML; see [`escape`].

pub mod cap;
pub mod cot;

use crate::incident::{Flag, IncidentId, Kind, Outcome, State};

/// Everything a feed may say about one incident. Nothing personal: see the module doc.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentFacts {
    /// The station's code (`SAS`): 2 to 5 upper-case letters.
    pub station_code: String,
    /// The station's name as configured (`Estación Sásabe`); escaped on output.
    pub station_name: String,
    /// The incident (`SAS-12`).
    pub incident: IncidentId,
    /// Where it stands.
    pub state: State,
    /// 1 (first) to 4; a value outside is clamped into that range.
    pub priority: u8,
    /// What kind of emergency.
    pub kind: Kind,
    /// How many people, if known.
    pub people: Option<u32>,
    /// Vulnerability and severity flags.
    pub flags: Vec<Flag>,
    /// Latitude and longitude (WGS84 degrees), if known; rounded to 3 decimals on output.
    /// A position that is not finite or out of range is treated as unknown.
    pub position: Option<(f64, f64)>,
    /// The assigned team's name, if any.
    pub team: Option<String>,
    /// When the incident was opened, ms since the Unix epoch (UTC). The first alert
    /// (version 0) is sent with this time, so later ones can reference it.
    pub created_at: i64,
    /// When it last changed, ms since the Unix epoch: the `sent` time of versions after 0.
    pub updated_at: i64,
    /// When it was closed, ms since the Unix epoch.
    pub closed_at: Option<i64>,
    /// How it ended, when closed.
    pub outcome: Option<Outcome>,
    /// How many times this incident was sent before: 0 for the first alert.
    pub version: u32,
}

impl IncidentFacts {
    /// The priority, clamped into 1..=4.
    pub fn level(&self) -> u8 {
        self.priority.clamp(1, 4)
    }

    /// The position if it is a real one (finite, in range), rounded to 3 decimals.
    pub fn rounded_position(&self) -> Option<(f64, f64)> {
        let (lat, lon) = self.position?;
        let ok = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        ok.then(|| (round3(lat), round3(lon)))
    }

    /// True when the incident is closed (by state, or because it has an outcome).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// When the incident last changed: the close time for a closed incident, else
    /// `updated_at`.
    pub fn changed_at(&self) -> i64 {
        match (self.is_closed(), self.closed_at) {
            (true, Some(at)) => at.max(self.updated_at),
            _ => self.updated_at,
        }
    }
}

/// Rounds to 3 decimals (about 100 m of latitude), without a negative zero.
pub fn round3(x: f64) -> f64 {
    let r = (x * 1000.0).round() / 1000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A coordinate as written in the feeds: exactly 3 decimals.
pub fn coord(x: f64) -> String {
    format!("{:.3}", round3(x))
}

/// Escapes text for XML content and attribute values: `&`, `<`, `>`, `"` and `'`. Control
/// characters that XML 1.0 does not allow (all below U+0020 but tab, newline and carriage
/// return) are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Keeps an identifier safe to use in a CAP identifier or a CoT uid: ASCII letters, digits,
/// `-`, `_` and `.`; anything else becomes `_`.
pub fn id_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The Spanish words for a kind, as the feeds name the event.
pub fn kind_es(kind: Kind) -> &'static str {
    match kind {
        Kind::Medical => "emergencia médica",
        Kind::Drowning => "persona en el agua",
        Kind::Heat => "golpe de calor",
        Kind::Violence => "violencia",
        Kind::Lost => "personas extraviadas",
        Kind::Distress => "llamada de auxilio",
        Kind::Info => "solicitud de orientación",
    }
}

/// The Spanish words for an outcome.
pub fn outcome_es(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Rescued => "rescatados",
        Outcome::TransferredHospital => "trasladados a hospital",
        Outcome::TransferredShelter => "trasladados a albergue",
        Outcome::FalseAlarm => "falsa alarma",
        Outcome::NotFound => "no encontrados",
        Outcome::Cancelled => "cancelado",
    }
}

/// "3 personas", "1 persona", or None when unknown.
fn people_es(people: Option<u32>) -> Option<String> {
    people.map(|n| match n {
        1 => "1 persona".to_string(),
        n => format!("{n} personas"),
    })
}

/// The short summary both formats use: `P1 emergencia médica, 3 personas, SAS-12`.
pub fn summary_es(f: &IncidentFacts) -> String {
    let mut s = format!("P{} {}", f.level(), kind_es(f.kind));
    if let Some(p) = people_es(f.people) {
        s.push_str(", ");
        s.push_str(&p);
    }
    s.push_str(", ");
    s.push_str(&f.incident.to_string());
    if f.is_closed() {
        s.push_str(": cerrado");
        if let Some(o) = f.outcome {
            s.push_str(" (");
            s.push_str(outcome_es(o));
            s.push(')');
        }
    }
    s
}

/// The flags in Spanish, comma-separated (the patrol dispatch's words), or None.
fn flags_es(flags: &[Flag]) -> Option<String> {
    (!flags.is_empty()).then(|| {
        flags
            .iter()
            .map(|fl| crate::desk::flag_word(*fl, crate::lang::Lang::Es))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The details after the summary, in Spanish: state, flags, team.
pub fn details_es(f: &IncidentFacts) -> String {
    let mut parts = vec![format!(
        "estado: {}",
        crate::desk::state_word(f.state, crate::lang::Lang::Es)
    )];
    if let Some(fl) = flags_es(&f.flags) {
        parts.push(format!("situación: {fl}"));
    }
    if let Some(team) = &f.team {
        parts.push(format!("equipo: {team}"));
    }
    parts.join("; ")
}

/// The UTC civil time of `ms` (ms since the Unix epoch), as `YYYY-MM-DDTHH:MM:SS` and the
/// milliseconds. Times outside what jiff represents are clamped to its range.
fn utc_parts(ms: i64) -> (String, i64) {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    (
        ts.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
        ms.rem_euclid(1000),
    )
}

/// A CAP datetime: `2026-12-06T07:30:00-00:00`. CAP 1.2 forbids `Z` and has UTC written as
/// `-00:00`; seconds are whole (the schema's pattern has no fraction).
pub fn cap_time(ms: i64) -> String {
    format!("{}-00:00", utc_parts(ms).0)
}

/// A CoT time: `2026-12-06T07:30:00.000Z` (ISO 8601, UTC with `Z`, milliseconds).
pub fn cot_time(ms: i64) -> String {
    let (s, milli) = utc_parts(ms);
    format!("{s}.{milli:03}Z")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A first alert: SAS-12, P1 medical, 3 people, a position, no team.
    pub(crate) fn facts() -> IncidentFacts {
        IncidentFacts {
            station_code: "SAS".into(),
            station_name: "Estación Sásabe".into(),
            incident: "SAS-12".parse().expect("id"),
            state: State::New,
            priority: 1,
            kind: Kind::Medical,
            people: Some(3),
            flags: vec![Flag::Children, Flag::Injured],
            position: Some((31.48765, -111.54321)),
            team: None,
            // 2026-12-06T07:30:00Z
            created_at: 1_796_542_200_000,
            updated_at: 1_796_542_200_000,
            closed_at: None,
            outcome: None,
            version: 0,
        }
    }

    #[test]
    fn times_are_utc_with_numeric_offset_for_cap_and_z_for_cot() {
        assert_eq!(cap_time(1_796_542_200_000), "2026-12-06T07:30:00-00:00");
        assert_eq!(cap_time(1_796_542_200_999), "2026-12-06T07:30:00-00:00");
        assert_eq!(cot_time(1_796_542_200_042), "2026-12-06T07:30:00.042Z");
        assert_eq!(cap_time(0), "1970-01-01T00:00:00-00:00");
        assert_eq!(cot_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn positions_are_rounded_to_three_decimals_and_checked() {
        let mut f = facts();
        assert_eq!(f.rounded_position(), Some((31.488, -111.543)));
        assert_eq!(coord(-111.54321), "-111.543");
        assert_eq!(coord(-0.0001), "0.000");
        f.position = Some((f64::NAN, 1.0));
        assert_eq!(f.rounded_position(), None);
        f.position = Some((91.0, 1.0));
        assert_eq!(f.rounded_position(), None);
        f.position = Some((1.0, 181.0));
        assert_eq!(f.rounded_position(), None);
    }

    #[test]
    fn escape_covers_markup_quotes_and_forbidden_controls() {
        assert_eq!(
            escape(r#"A&B <c> "d" 'e'"#),
            "A&amp;B &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
        assert_eq!(escape("a\u{1}b\tc\n"), "ab\tc\n");
        assert_eq!(id_safe("Alfa 1/<x>"), "Alfa_1__x_");
    }

    #[test]
    fn summary_is_spanish_and_has_no_personal_field() {
        let mut f = facts();
        assert_eq!(summary_es(&f), "P1 emergencia médica, 3 personas, SAS-12");
        f.people = Some(1);
        assert_eq!(summary_es(&f), "P1 emergencia médica, 1 persona, SAS-12");
        f.people = None;
        f.priority = 9;
        assert_eq!(summary_es(&f), "P4 emergencia médica, SAS-12");
        f.state = State::Closed;
        f.outcome = Some(Outcome::Rescued);
        assert_eq!(
            summary_es(&f),
            "P4 emergencia médica, SAS-12: cerrado (rescatados)"
        );
        f.team = Some("Alfa".into());
        assert_eq!(
            details_es(&f),
            "estado: cerrado; situación: niños, herido; equipo: Alfa"
        );
    }

    #[test]
    fn the_facts_have_no_personal_field() {
        // Every field, named without `..`: a new field (a reporter, a node id, a text) stops
        // this from compiling, so whoever adds one reads the module doc first.
        let IncidentFacts {
            station_code: _,
            station_name: _,
            incident: _,
            state: _,
            priority: _,
            kind: _,
            people: _,
            flags: _,
            position: _,
            team: _,
            created_at: _,
            updated_at: _,
            closed_at: _,
            outcome: _,
            version: _,
        } = facts();
    }

    #[test]
    fn every_kind_and_outcome_has_spanish_words() {
        for k in Kind::ALL {
            assert!(!kind_es(k).is_empty());
        }
        for o in Outcome::ALL {
            assert!(!outcome_es(o).is_empty());
        }
    }
}
