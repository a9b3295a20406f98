//! CAP 1.2 alerts (OASIS Common Alerting Protocol, `urn:oasis:names:tc:emergency:cap:1.2`)
//! for an incident: one alert per version, pure text out.
//!
//! - `identifier`: `faro-<station>-<incident>-<version>` (`faro-SAS-SAS-12-0`): stable, and
//!   unique per version. `incidents` carries `faro-<station>-<incident>` on every version.
//! - `sent`: `created_at` for version 0, the last change (`updated_at`, or `closed_at` once
//!   closed) for later versions. Version 0 always goes out with `created_at` so that every
//!   later message can name it in `references` without being told when it was sent.
//! - `msgType`: `Alert` for version 0; `Cancel` for a closed incident whose outcome is
//!   `false_alarm` or `cancelled` (there was nothing to respond to); `Update` otherwise. A
//!   closed incident with any other outcome (rescued, transferred, not found, or none given)
//!   is an `Update` with `responseType` `AllClear` and `urgency` `Past`: the response is over,
//!   but the alert was real.
//! - `references`: on every version after 0, exactly the first alert, as CAP's
//!   `sender,identifier,sent` triple.
//! - `scope` `Restricted`, with [`RESTRICTION`] as the `restriction` text; `status` `Actual`.
//! - One `info`, `es-MX`: `category` from the kind ([`category`]), `event` the kind in Spanish,
//!   `urgency`, `severity` and `certainty` from the priority ([`urgency`], [`severity`],
//!   [`certainty`]), `senderName` the station's name, `headline` the summary
//!   (`P1 emergencia médica, 3 personas, SAS-12`), `description` the state, flags and team,
//!   machine-readable `parameter`s (`faro:state`, `faro:priority`, `faro:kind`, `faro:people`,
//!   `faro:flags`, `faro:outcome`), and one `area`: `areaDesc`, and a `circle` of
//!   [`RADIUS_KM`] around the position rounded to 3 decimals when it is known.
//!
//! The sender is given by the caller (`faro@SAS`); CAP forbids spaces, commas, `<` and `&` in
//! it (they would break `references`), so those become `_`.

use std::fmt::Write as _;

use super::{
    cap_time, coord, details_es, escape, id_safe, kind_es, outcome_es, summary_es, IncidentFacts,
};
use crate::incident::{Kind, Outcome};

/// The CAP 1.2 namespace.
pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// Who may read the alerts (`scope` `Restricted`).
pub const RESTRICTION: &str = "Solo para servicios de emergencia, búsqueda y rescate y \
    protección civil. No difundir al público: contiene la ubicación aproximada de personas \
    en peligro.";

/// The radius of the area around a known position, in km (the position itself is rounded
/// to about 100 m).
pub const RADIUS_KM: &str = "0.5";

/// CAP's `msgType`, as Faro uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    /// The first message about an incident (version 0).
    Alert,
    /// Any later change, including the end of a real emergency (with `AllClear`).
    Update,
    /// Closed as a false alarm or called off.
    Cancel,
}

impl MsgType {
    /// The CAP value.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        }
    }
}

/// The message type of this version of the incident (see the module doc).
pub fn msg_type(f: &IncidentFacts) -> MsgType {
    if f.version == 0 {
        MsgType::Alert
    } else if f.is_closed() && matches!(f.outcome, Some(Outcome::FalseAlarm | Outcome::Cancelled)) {
        MsgType::Cancel
    } else {
        MsgType::Update
    }
}

/// Whether this version says the response is over (`responseType` `AllClear`): a closed
/// incident that is not cancelled.
pub fn all_clear(f: &IncidentFacts) -> bool {
    f.is_closed() && msg_type(f) != MsgType::Cancel
}

/// The CAP `category` of a kind: `Health` for medical and heat, `Safety` for violence,
/// `Rescue` for drowning, lost and unknown distress, `Other` for a request for information.
pub fn category(kind: Kind) -> &'static str {
    match kind {
        Kind::Medical | Kind::Heat => "Health",
        Kind::Violence => "Safety",
        Kind::Drowning | Kind::Lost | Kind::Distress => "Rescue",
        Kind::Info => "Other",
    }
}

/// CAP `urgency`: P1 and P2 `Immediate`, P3 and P4 `Expected`; `Past` once closed.
pub fn urgency(f: &IncidentFacts) -> &'static str {
    if f.is_closed() {
        return "Past";
    }
    match f.level() {
        1 | 2 => "Immediate",
        _ => "Expected",
    }
}

/// CAP `severity` of a priority: P1 `Extreme`, P2 `Severe`, P3 `Moderate`, P4 `Minor`.
pub fn severity(level: u8) -> &'static str {
    match level {
        0 | 1 => "Extreme",
        2 => "Severe",
        3 => "Moderate",
        _ => "Minor",
    }
}

/// CAP `certainty` of a priority: P1 and P2 `Observed` (someone on the ground asked for
/// help), P3 and P4 `Likely`.
pub fn certainty(level: u8) -> &'static str {
    match level {
        0..=2 => "Observed",
        _ => "Likely",
    }
}

/// `faro-<station>-<incident>`: the incident's name in `incidents` (and CoT's uid).
pub fn incident_key(f: &IncidentFacts) -> String {
    format!(
        "faro-{}-{}",
        id_safe(&f.station_code),
        id_safe(&f.incident.to_string())
    )
}

/// `faro-<station>-<incident>-<version>`: the identifier of one version.
pub fn identifier(f: &IncidentFacts, version: u32) -> String {
    format!("{}-{version}", incident_key(f))
}

/// When this version is sent (ms): `created_at` for version 0, the last change after.
pub fn sent_ms(f: &IncidentFacts) -> i64 {
    if f.version == 0 {
        f.created_at
    } else {
        f.changed_at()
    }
}

/// The sender as CAP allows it: spaces, commas, `<` and `&` become `_`.
pub fn sender_safe(sender: &str) -> String {
    sender
        .chars()
        .map(|c| {
            if c.is_whitespace() || matches!(c, ',' | '<' | '&') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `references` for this version: the first alert as `sender,identifier,sent`, or None for
/// the first alert itself.
pub fn references(f: &IncidentFacts, sender: &str) -> Option<String> {
    (f.version > 0).then(|| {
        format!(
            "{},{},{}",
            sender_safe(sender),
            identifier(f, 0),
            cap_time(f.created_at)
        )
    })
}

fn element(out: &mut String, indent: usize, name: &str, text: &str) {
    let _ = writeln!(
        out,
        "{:indent$}<{name}>{}</{name}>",
        "",
        escape(text),
        indent = indent
    );
}

fn parameter(out: &mut String, name: &str, value: &str) {
    out.push_str("    <parameter>\n");
    element(out, 6, "valueName", name);
    element(out, 6, "value", value);
    out.push_str("    </parameter>\n");
}

/// The CAP 1.2 alert for this version of the incident (see the module doc), as a UTF-8 XML
/// document.
pub fn alert(f: &IncidentFacts, sender: &str) -> String {
    let mut out = String::with_capacity(2048);
    let mt = msg_type(f);
    let level = f.level();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<alert xmlns=\"{NAMESPACE}\">");
    element(&mut out, 2, "identifier", &identifier(f, f.version));
    element(&mut out, 2, "sender", &sender_safe(sender));
    element(&mut out, 2, "sent", &cap_time(sent_ms(f)));
    element(&mut out, 2, "status", "Actual");
    element(&mut out, 2, "msgType", mt.as_str());
    element(&mut out, 2, "scope", "Restricted");
    element(&mut out, 2, "restriction", RESTRICTION);
    if mt == MsgType::Cancel {
        let why = f.outcome.map(outcome_es).unwrap_or("cancelado");
        element(&mut out, 2, "note", &format!("Incidente cerrado: {why}"));
    }
    if let Some(refs) = references(f, sender) {
        element(&mut out, 2, "references", &refs);
    }
    element(&mut out, 2, "incidents", &incident_key(f));

    out.push_str("  <info>\n");
    element(&mut out, 4, "language", "es-MX");
    element(&mut out, 4, "category", category(f.kind));
    element(&mut out, 4, "event", kind_es(f.kind));
    if all_clear(f) {
        element(&mut out, 4, "responseType", "AllClear");
    }
    element(&mut out, 4, "urgency", urgency(f));
    element(&mut out, 4, "severity", severity(level));
    element(&mut out, 4, "certainty", certainty(level));
    element(&mut out, 4, "senderName", &f.station_name);
    element(&mut out, 4, "headline", &summary_es(f));
    element(&mut out, 4, "description", &details_es(f));
    parameter(&mut out, "faro:state", f.state.as_str());
    parameter(&mut out, "faro:priority", &format!("P{level}"));
    parameter(&mut out, "faro:kind", f.kind.as_str());
    if let Some(n) = f.people {
        parameter(&mut out, "faro:people", &n.to_string());
    }
    if !f.flags.is_empty() {
        let names: Vec<&str> = f.flags.iter().map(|fl| fl.as_str()).collect();
        parameter(&mut out, "faro:flags", &names.join(" "));
    }
    if let (true, Some(o)) = (f.is_closed(), f.outcome) {
        parameter(&mut out, "faro:outcome", o.as_str());
    }
    out.push_str("    <area>\n");
    match f.rounded_position() {
        Some((lat, lon)) => {
            element(
                &mut out,
                6,
                "areaDesc",
                &format!("{}: posición aproximada (unos 100 m)", f.station_name),
            );
            element(
                &mut out,
                6,
                "circle",
                &format!("{},{} {RADIUS_KM}", coord(lat), coord(lon)),
            );
        }
        None => element(
            &mut out,
            6,
            "areaDesc",
            &format!("{}: posición desconocida", f.station_name),
        ),
    }
    out.push_str("    </area>\n");
    out.push_str("  </info>\n");
    out.push_str("</alert>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::facts;
    use super::*;
    use crate::incident::State;

    fn later(version: u32, state: State, outcome: Option<Outcome>) -> IncidentFacts {
        let mut f = facts();
        f.version = version;
        f.state = state;
        f.outcome = outcome;
        f.updated_at = f.created_at + 60_000 * i64::from(version);
        if state == State::Closed {
            f.closed_at = Some(f.updated_at);
        }
        f
    }

    /// The text of the only `<name>` element, if any (the alert is written one element per
    /// line by this module).
    fn only(xml: &str, name: &str) -> Option<String> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let mut found = xml.match_indices(&open).map(|(i, _)| {
            let rest = &xml[i + open.len()..];
            rest[..rest.find(&close).expect("closed")].to_string()
        });
        let first = found.next();
        assert!(found.next().is_none(), "more than one <{name}>");
        first
    }

    #[test]
    fn priority_maps_to_urgency_severity_certainty() {
        let want = [
            (1, "Immediate", "Extreme", "Observed"),
            (2, "Immediate", "Severe", "Observed"),
            (3, "Expected", "Moderate", "Likely"),
            (4, "Expected", "Minor", "Likely"),
        ];
        for (p, u, s, c) in want {
            let mut f = facts();
            f.priority = p;
            assert_eq!(
                (urgency(&f), severity(f.level()), certainty(f.level())),
                (u, s, c),
                "P{p}"
            );
            let xml = alert(&f, "faro@SAS");
            assert_eq!(only(&xml, "urgency").as_deref(), Some(u));
            assert_eq!(only(&xml, "severity").as_deref(), Some(s));
            assert_eq!(only(&xml, "certainty").as_deref(), Some(c));
        }
        // Out of range is clamped.
        let mut f = facts();
        f.priority = 0;
        assert_eq!(severity(f.level()), "Extreme");
        f.priority = 200;
        assert_eq!(severity(f.level()), "Minor");
        // Closed: the urgency is past.
        assert_eq!(
            urgency(&later(2, State::Closed, Some(Outcome::Rescued))),
            "Past"
        );
    }

    #[test]
    fn kind_maps_to_category_and_spanish_event() {
        let want = [
            (Kind::Medical, "Health", "emergencia médica"),
            (Kind::Heat, "Health", "golpe de calor"),
            (Kind::Violence, "Safety", "violencia"),
            (Kind::Drowning, "Rescue", "persona en el agua"),
            (Kind::Lost, "Rescue", "personas extraviadas"),
            (Kind::Distress, "Rescue", "llamada de auxilio"),
            (Kind::Info, "Other", "solicitud de orientación"),
        ];
        assert_eq!(want.len(), Kind::ALL.len());
        for (k, cat, ev) in want {
            let mut f = facts();
            f.kind = k;
            let xml = alert(&f, "faro@SAS");
            assert_eq!(only(&xml, "category").as_deref(), Some(cat), "{k}");
            assert_eq!(only(&xml, "event").as_deref(), Some(ev), "{k}");
        }
    }

    #[test]
    fn msg_type_follows_version_state_and_outcome() {
        assert_eq!(msg_type(&facts()), MsgType::Alert);
        assert_eq!(msg_type(&later(1, State::EnRoute, None)), MsgType::Update);
        for o in [Outcome::FalseAlarm, Outcome::Cancelled] {
            let f = later(3, State::Closed, Some(o));
            assert_eq!(msg_type(&f), MsgType::Cancel);
            let xml = alert(&f, "faro@SAS");
            assert_eq!(only(&xml, "msgType").as_deref(), Some("Cancel"));
            assert_eq!(only(&xml, "responseType"), None);
            assert!(only(&xml, "note").is_some_and(|n| n.contains(outcome_es(o))));
        }
        for o in [
            Some(Outcome::Rescued),
            Some(Outcome::TransferredHospital),
            Some(Outcome::TransferredShelter),
            Some(Outcome::NotFound),
            None,
        ] {
            let f = later(3, State::Closed, o);
            assert_eq!(msg_type(&f), MsgType::Update);
            let xml = alert(&f, "faro@SAS");
            assert_eq!(only(&xml, "responseType").as_deref(), Some("AllClear"));
            assert_eq!(only(&xml, "note"), None);
        }
        // Open updates say nothing about the response.
        assert_eq!(
            only(
                &alert(&later(1, State::Assigned, None), "faro@SAS"),
                "responseType"
            ),
            None
        );
    }

    #[test]
    fn later_versions_reference_exactly_the_first_alert() {
        let first = alert(&facts(), "faro@SAS");
        assert_eq!(only(&first, "references"), None);
        assert_eq!(
            only(&first, "identifier").as_deref(),
            Some("faro-SAS-SAS-12-0")
        );
        assert_eq!(
            only(&first, "sent").as_deref(),
            Some("2026-12-06T07:30:00-00:00")
        );
        let want = "faro@SAS,faro-SAS-SAS-12-0,2026-12-06T07:30:00-00:00";
        for v in 1..5 {
            let state = if v == 4 {
                State::Closed
            } else {
                State::Acknowledged
            };
            let xml = alert(&later(v, state, Some(Outcome::FalseAlarm)), "faro@SAS");
            assert_eq!(only(&xml, "references").as_deref(), Some(want), "v{v}");
            assert_eq!(only(&xml, "incidents").as_deref(), Some("faro-SAS-SAS-12"));
        }
        // A later version is sent at its change, not at creation.
        let xml = alert(&later(2, State::EnRoute, None), "faro@SAS");
        assert_eq!(
            only(&xml, "sent").as_deref(),
            Some("2026-12-06T07:32:00-00:00")
        );
    }

    #[test]
    fn identifiers_are_unique_per_version_and_stable() {
        let ids: std::collections::BTreeSet<String> = (0..50)
            .map(|v| only(&alert(&later(v, State::New, None), "s"), "identifier").expect("id"))
            .collect();
        assert_eq!(ids.len(), 50);
        assert_eq!(alert(&facts(), "s"), alert(&facts(), "s"));
    }

    #[test]
    fn scope_is_restricted_and_status_actual() {
        let xml = alert(&facts(), "faro@SAS");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"));
        assert_eq!(only(&xml, "scope").as_deref(), Some("Restricted"));
        assert_eq!(only(&xml, "status").as_deref(), Some("Actual"));
        assert_eq!(only(&xml, "restriction").as_deref(), Some(RESTRICTION));
        assert_eq!(only(&xml, "language").as_deref(), Some("es-MX"));
        assert_eq!(
            only(&xml, "headline").as_deref(),
            Some("P1 emergencia médica, 3 personas, SAS-12")
        );
    }

    #[test]
    fn area_has_a_rounded_circle_only_with_a_position() {
        let xml = alert(&facts(), "faro@SAS");
        assert_eq!(only(&xml, "circle").as_deref(), Some("31.488,-111.543 0.5"));
        let mut f = facts();
        f.position = None;
        let xml = alert(&f, "faro@SAS");
        assert_eq!(only(&xml, "circle"), None);
        assert_eq!(
            only(&xml, "areaDesc").as_deref(),
            Some("Estación Sásabe: posición desconocida")
        );
        assert!(!xml.contains("31.48"));
    }

    #[test]
    fn markup_in_station_name_team_and_sender_is_escaped() {
        let mut f = facts();
        f.station_name = r#"Sásabe & <Altar> "norte" 'sur'"#.into();
        f.team = Some("<b>Alfa</b>".into());
        f.version = 1;
        let xml = alert(&f, "faro@SAS a,b<c&d");
        assert!(!xml.contains("<Altar>"));
        assert!(!xml.contains("<b>"));
        assert!(xml.contains(
            "<senderName>Sásabe &amp; &lt;Altar&gt; &quot;norte&quot; &apos;sur&apos;</senderName>"
        ));
        assert!(xml.contains("equipo: &lt;b&gt;Alfa&lt;/b&gt;"));
        assert_eq!(only(&xml, "sender").as_deref(), Some("faro@SAS_a_b_c_d"));
        assert!(only(&xml, "references")
            .is_some_and(|r| r.starts_with("faro@SAS_a_b_c_d,faro-SAS-SAS-12-0,")));
    }
}
