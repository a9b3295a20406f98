//! Cursor-on-Target (CoT 2.0) events for TAK users: an incident as an emergency on the map,
//! and the station's patrols as friendly ground units. Pure text out; the uplink publishes
//! them on their own topic.
//!
//! - An open incident with a known position: `type="b-a-o-tbl"` (TAK's 911 alert),
//!   `how="h-e"` (entered by a human), uid `faro-<station>-<incident>`, callsign the incident
//!   id, `<emergency type="911 Alert">` (what ATAK reads to show an emergency), and Spanish
//!   `remarks`: the summary (priority, kind, people) then state, flags and team.
//! - A closed incident: the same uid with `type="b-a-o-can"` and
//!   `<emergency cancel="true">`, so TAK clients drop it.
//! - A patrol: `type="a-f-G-U-C"` (friendly ground unit, combat), `how="m-g"` (from its GPS),
//!   uid `faro-<station>-team-<name>`, callsign the team's name.
//!
//! `time` and `start` are when the position or state last changed; `stale` is that plus the
//! caller's `stale_secs`. Times are ISO 8601 UTC with `Z` and milliseconds. Positions are
//! rounded to 3 decimals (about 100 m), hence `ce="100"`; height is unknown (`9999999.0`).
//! Without a usable position there is no event: CoT has no way to say "somewhere".

use super::{coord, cot_time, details_es, escape, id_safe, round3, summary_es, IncidentFacts};

/// An open incident: TAK's emergency (911 alert).
pub const TYPE_EMERGENCY: &str = "b-a-o-tbl";
/// A closed incident: TAK's emergency cancel.
pub const TYPE_CANCEL: &str = "b-a-o-can";
/// A patrol: friendly ground unit.
pub const TYPE_TEAM: &str = "a-f-G-U-C";
/// Circular error of a rounded position, in metres.
pub const CE_M: &str = "100";

/// The uid of an incident's events: `faro-<station>-<incident>`.
pub fn incident_uid(f: &IncidentFacts) -> String {
    super::cap::incident_key(f)
}

/// The uid of a team's events: `faro-<station>-team-<name>`.
pub fn team_uid(station: &str, team: &str) -> String {
    format!("faro-{}-team-{}", id_safe(station), id_safe(team))
}

fn valid(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// The event head, the point and the opening of `<detail>`.
fn open_event(
    out: &mut String,
    uid: &str,
    kind: &str,
    how: &str,
    at_ms: i64,
    stale_secs: u64,
    (lat, lon): (f64, f64),
) {
    let stale_ms = i64::try_from(stale_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let time = cot_time(at_ms);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    out.push_str(&format!(
        "<event version=\"2.0\" uid=\"{}\" type=\"{kind}\" how=\"{how}\" time=\"{time}\" \
         start=\"{time}\" stale=\"{}\">\n",
        escape(uid),
        cot_time(at_ms.saturating_add(stale_ms)),
    ));
    out.push_str(&format!(
        "  <point lat=\"{}\" lon=\"{}\" hae=\"9999999.0\" ce=\"{CE_M}\" le=\"9999999.0\"/>\n",
        coord(lat),
        coord(lon)
    ));
    out.push_str("  <detail>\n");
}

/// The CoT event for an incident: an emergency while open, its cancel once closed; None
/// without a usable position.
pub fn incident_event(f: &IncidentFacts, stale_secs: u64) -> Option<String> {
    let pos = f.rounded_position()?;
    let id = escape(&f.incident.to_string());
    let kind = if f.is_closed() {
        TYPE_CANCEL
    } else {
        TYPE_EMERGENCY
    };
    let mut out = String::with_capacity(1024);
    open_event(
        &mut out,
        &incident_uid(f),
        kind,
        "h-e",
        f.changed_at(),
        stale_secs,
        pos,
    );
    out.push_str(&format!("    <contact callsign=\"{id}\"/>\n"));
    if f.is_closed() {
        out.push_str(&format!(
            "    <emergency cancel=\"true\">{id}</emergency>\n"
        ));
    } else {
        out.push_str(&format!(
            "    <emergency type=\"911 Alert\">{id}</emergency>\n"
        ));
    }
    out.push_str(&format!(
        "    <remarks>{}; {}</remarks>\n",
        escape(&summary_es(f)),
        escape(&details_es(f))
    ));
    out.push_str("  </detail>\n</event>\n");
    Some(out)
}

/// The CoT event for a patrol at (`lat`, `lon`) at `at_ms`: a friendly ground unit whose
/// callsign is the team's name. None when the position is not finite or out of range.
pub fn team_event(
    station: &str,
    team: &str,
    lat: f64,
    lon: f64,
    at_ms: i64,
    stale_secs: u64,
) -> Option<String> {
    if !valid(lat, lon) {
        return None;
    }
    let mut out = String::with_capacity(768);
    open_event(
        &mut out,
        &team_uid(station, team),
        TYPE_TEAM,
        "m-g",
        at_ms,
        stale_secs,
        (round3(lat), round3(lon)),
    );
    out.push_str(&format!("    <contact callsign=\"{}\"/>\n", escape(team)));
    out.push_str(&format!(
        "    <remarks>Patrulla de Faro {}</remarks>\n",
        escape(station)
    ));
    out.push_str("  </detail>\n</event>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::facts;
    use super::*;
    use crate::incident::{Outcome, State};

    /// Parses an event (it must be well-formed).
    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).expect("well-formed XML")
    }

    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        n.children()
            .find(|c| c.has_tag_name(name))
            .unwrap_or_else(|| panic!("no <{name}>"))
    }

    #[test]
    fn an_open_incident_is_an_emergency_at_its_rounded_position() {
        let mut f = facts();
        f.updated_at += 1_500;
        let xml = incident_event(&f, 600).expect("has a position");
        let doc = parse(&xml);
        let ev = doc.root_element();
        assert_eq!(ev.tag_name().name(), "event");
        assert_eq!(ev.attribute("version"), Some("2.0"));
        assert_eq!(ev.attribute("uid"), Some("faro-SAS-SAS-12"));
        assert_eq!(ev.attribute("type"), Some("b-a-o-tbl"));
        assert_eq!(ev.attribute("how"), Some("h-e"));
        assert_eq!(ev.attribute("time"), Some("2026-12-06T07:30:01.500Z"));
        assert_eq!(ev.attribute("start"), Some("2026-12-06T07:30:01.500Z"));
        assert_eq!(ev.attribute("stale"), Some("2026-12-06T07:40:01.500Z"));
        let pt = child(ev, "point");
        assert_eq!(pt.attribute("lat"), Some("31.488"));
        assert_eq!(pt.attribute("lon"), Some("-111.543"));
        assert_eq!(pt.attribute("hae"), Some("9999999.0"));
        assert_eq!(pt.attribute("ce"), Some("100"));
        assert_eq!(pt.attribute("le"), Some("9999999.0"));
        let detail = child(ev, "detail");
        assert_eq!(
            child(detail, "contact").attribute("callsign"),
            Some("SAS-12")
        );
        let em = child(detail, "emergency");
        assert_eq!(em.attribute("type"), Some("911 Alert"));
        assert_eq!(em.attribute("cancel"), None);
        assert_eq!(
            child(detail, "remarks").text(),
            Some(
                "P1 emergencia médica, 3 personas, SAS-12; estado: nuevo; situación: niños, herido"
            )
        );
    }

    #[test]
    fn a_closed_incident_is_a_cancel_with_the_same_uid() {
        let mut f = facts();
        f.state = State::Closed;
        f.outcome = Some(Outcome::Rescued);
        f.closed_at = Some(f.updated_at + 3_600_000);
        let xml = incident_event(&f, 60).expect("has a position");
        let doc = parse(&xml);
        let ev = doc.root_element();
        assert_eq!(ev.attribute("type"), Some("b-a-o-can"));
        assert_eq!(ev.attribute("uid"), Some("faro-SAS-SAS-12"));
        assert_eq!(ev.attribute("time"), Some("2026-12-06T08:30:00.000Z"));
        assert_eq!(ev.attribute("stale"), Some("2026-12-06T08:31:00.000Z"));
        let em = child(child(ev, "detail"), "emergency");
        assert_eq!(em.attribute("cancel"), Some("true"));
    }

    #[test]
    fn no_position_no_event() {
        let mut f = facts();
        f.position = None;
        assert_eq!(incident_event(&f, 60), None);
        f.position = Some((f64::INFINITY, 0.0));
        assert_eq!(incident_event(&f, 60), None);
        assert_eq!(team_event("SAS", "Alfa", 95.0, 0.0, 0, 60), None);
    }

    #[test]
    fn a_patrol_is_a_friendly_ground_unit() {
        let xml = team_event("SAS", "Alfa 1", 31.40049, -111.3, 1_796_542_200_000, 120)
            .expect("valid position");
        let doc = parse(&xml);
        let ev = doc.root_element();
        assert_eq!(ev.attribute("type"), Some("a-f-G-U-C"));
        assert_eq!(ev.attribute("uid"), Some("faro-SAS-team-Alfa_1"));
        assert_eq!(ev.attribute("how"), Some("m-g"));
        assert_eq!(ev.attribute("time"), Some("2026-12-06T07:30:00.000Z"));
        assert_eq!(ev.attribute("stale"), Some("2026-12-06T07:32:00.000Z"));
        let pt = child(ev, "point");
        assert_eq!(pt.attribute("lat"), Some("31.400"));
        assert_eq!(pt.attribute("lon"), Some("-111.300"));
        let detail = child(ev, "detail");
        assert_eq!(
            child(detail, "contact").attribute("callsign"),
            Some("Alfa 1")
        );
    }

    #[test]
    fn markup_in_names_is_escaped_and_parses_back() {
        let xml = team_event("SAS", r#"<A&"B'>"#, 1.0, 2.0, 0, 1).expect("valid");
        let doc = parse(&xml);
        let ev = doc.root_element();
        assert_eq!(
            child(child(ev, "detail"), "contact").attribute("callsign"),
            Some(r#"<A&"B'>"#)
        );
        assert_eq!(ev.attribute("uid"), Some("faro-SAS-team-_A__B__"));

        let mut f = facts();
        f.team = Some("<x>&".into());
        let xml = incident_event(&f, 1).expect("position");
        let doc = parse(&xml);
        let remarks = child(child(doc.root_element(), "detail"), "remarks");
        assert!(remarks.text().is_some_and(|t| t.ends_with("equipo: <x>&")));
    }

    #[test]
    fn stale_saturates_instead_of_overflowing() {
        let xml = team_event("SAS", "Alfa", 1.0, 2.0, 0, u64::MAX).expect("valid");
        assert!(parse(&xml).root_element().attribute("stale").is_some());
    }
}
