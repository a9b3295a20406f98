//! What people read: aligned tables and the incident sheet, from farod's JSON. Scripts use
//! `--json` instead, which prints farod's answer untouched.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::SystemTime;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

/// A field, or `-`, escaped for a terminal ([`clean`]): every string farod sends may carry
/// words from the air or from another person, so none reaches the terminal raw.
fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::String(t) if t.is_empty() => "-".into(),
        Value::String(t) => clean(t),
        other => clean(&other.to_string()),
    }
}

/// A string field if there is one, escaped ([`clean`]).
fn opt(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(clean)
}

fn position(v: &Value) -> String {
    match (v["lat"].as_f64(), v["lon"].as_f64()) {
        (Some(lat), Some(lon)) => format!("{lat:.5},{lon:.5}"),
        _ => "-".into(),
    }
}

/// How long ago an RFC 3339 time was: `45s`, `12m`, `3h05m`, `2d04h`.
pub fn age(rfc3339: &str) -> String {
    let Ok(t) = humantime::parse_rfc3339(rfc3339) else {
        return "-".into();
    };
    let secs = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The time zone times are shown in: the station's (farod's `/v1/status` says which), or UTC
/// (`faroctl --utc`, or a farod that does not say). farod stores and sends UTC; only what is
/// printed here changes.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    /// The IANA name, for headings: `events (America/Hermosillo)`.
    name: String,
}

impl Zone {
    /// UTC: times as farod sends them.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// An IANA zone this faroctl knows (the system's zoneinfo, else the bundled database).
    pub fn named(name: &str) -> Option<Zone> {
        let tz = TimeZone::get(name).ok()?;
        let name = tz.iana_name().unwrap_or(name).to_string();
        Some(Zone { tz, name })
    }

    fn is_utc(&self) -> bool {
        matches!(self.name.as_str(), "UTC" | "Etc/UTC")
    }

    /// An RFC 3339 time in this zone with its abbreviation (or offset):
    /// `2026-12-06 09:30:05 MST`; None when it is not a time.
    fn local(&self, rfc3339: &str, format: &str) -> Option<String> {
        let t: Timestamp = rfc3339.parse().ok()?;
        jiff::fmt::strtime::format(format, &t.to_zoned_datetime(self.tz.clone())).ok()
    }
}

/// Where the zone comes from: known, or asked of farod the first time a time is printed (once
/// per command, and never for `--json`, which prints no time of its own).
enum ZoneSource {
    Known(Zone),
    Ask(Box<dyn FnOnce() -> Option<String>>),
}

thread_local! {
    static ZONE: RefCell<ZoneSource> = RefCell::new(ZoneSource::Known(Zone::utc()));
}

/// Times are shown in `zone` from now on.
#[cfg(test)]
pub fn set_zone(zone: Zone) {
    ZONE.with(|z| *z.borrow_mut() = ZoneSource::Known(zone));
}

/// Times are shown in the zone `ask` names (an IANA name), asked the first time one is
/// printed; UTC if it names none or one this faroctl does not know.
pub fn zone_from(ask: impl FnOnce() -> Option<String> + 'static) {
    ZONE.with(|z| *z.borrow_mut() = ZoneSource::Ask(Box::new(ask)));
}

/// The zone times are shown in.
fn zone() -> Zone {
    ZONE.with(|z| {
        let source = std::mem::replace(&mut *z.borrow_mut(), ZoneSource::Known(Zone::utc()));
        let zone = match source {
            ZoneSource::Known(zone) => zone,
            ZoneSource::Ask(ask) => ask()
                .and_then(|name| Zone::named(&name))
                .unwrap_or_else(Zone::utc),
        };
        *z.borrow_mut() = ZoneSource::Known(zone.clone());
        zone
    })
}

/// What headings say times are in: `UTC`, or the station's zone (`America/Hermosillo`).
fn zone_name() -> String {
    zone().name
}

/// `2025-03-01T14:05:09Z` as `2025-03-01 14:05:09` in UTC (the heading says UTC), or in the
/// station's zone with its abbreviation: `2025-03-01 07:05:09 MST`.
fn when(rfc3339: &str) -> String {
    let zone = zone();
    match zone.is_utc() {
        true => None,
        false => zone.local(rfc3339, "%Y-%m-%d %H:%M:%S %Z"),
    }
    .unwrap_or_else(|| rfc3339.trim_end_matches('Z').replacen('T', " ", 1))
}

/// A time on its own, always with its zone: `2025-03-01 14:05:09 UTC`,
/// `2025-03-01 07:05:09 MST`.
fn stamp(rfc3339: &str) -> String {
    let zone = zone();
    match zone.is_utc() {
        true => None,
        false => zone.local(rfc3339, "%Y-%m-%d %H:%M:%S %Z"),
    }
    .unwrap_or_else(|| format!("{} UTC", when(rfc3339)))
}

/// A time farod sent as RFC 3339, shown as sent in UTC or in the station's zone
/// (`2025-03-01 07:05:09 MST`): for lines that always showed farod's text.
pub fn at(rfc3339: &str) -> String {
    let zone = zone();
    match zone.is_utc() {
        true => None,
        false => zone.local(rfc3339, "%Y-%m-%d %H:%M:%S %Z"),
    }
    .unwrap_or_else(|| rfc3339.to_string())
}

/// The time of day of a live line: `14:05:09` in UTC, `07:05:09 MST` in the station's zone.
fn clock(rfc3339: &str) -> String {
    let zone = zone();
    match zone.is_utc() {
        true => None,
        false => zone.local(rfc3339, "%H:%M:%S %Z"),
    }
    .unwrap_or_else(|| {
        rfc3339
            .split('T')
            .nth(1)
            .unwrap_or(rfc3339)
            .trim_end_matches('Z')
            .to_string()
    })
}

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&head).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// `faroctl incidents`.
pub fn incidents(list: &Value, state: &str) -> String {
    let rows: Vec<Vec<String>> = array(list)
        .iter()
        .map(|i| {
            let state = match opt(i, "outcome") {
                Some(o) => format!("{} ({o})", s(i, "state")),
                None => s(i, "state"),
            };
            vec![
                s(i, "id"),
                format!("P{}", s(i, "priority")),
                state,
                s(i, "kind"),
                s(i, "people"),
                position(i),
                s(i, "team"),
                s(i, "heard_count"),
                age(i["created_at"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    if rows.is_empty() {
        return format!("no incidents ({state})\n");
    }
    table(
        &[
            "ID", "P", "STATE", "KIND", "PEOPLE", "POSITION", "TEAM", "HEARD", "AGE",
        ],
        &rows,
    )
}

/// `faroctl show`: the incident sheet.
pub fn incident(i: &Value) -> String {
    let mut out = String::new();
    let state = match opt(i, "outcome") {
        Some(o) => format!("{} ({o})", s(i, "state")),
        None => s(i, "state"),
    };
    let _ = writeln!(out, "{}  P{}  {}", s(i, "id"), s(i, "priority"), state);
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<10} {value}");
    };
    let flags: Vec<String> = array(&i["flags"])
        .iter()
        .filter_map(Value::as_str)
        .map(clean)
        .collect();
    let people = match i["people"].as_u64() {
        None => "people unknown".to_string(),
        Some(1) => "1 person".to_string(),
        Some(n) => format!("{n} people"),
    };
    let mut what = format!("{}, {people}", s(i, "kind"));
    if !flags.is_empty() {
        let _ = write!(what, " ({})", flags.join(", "));
    }
    field("what", what);
    let pos = position(i);
    field(
        "position",
        if pos == "-" {
            "unknown".into()
        } else {
            // A rounded position says how far off it may be (the sender's precision).
            let within = match i["precision_m"].as_f64() {
                Some(m) if m >= 1000.0 => format!(" ±{:.1} km", m / 1000.0),
                Some(m) => format!(" ±{m:.0} m"),
                None => String::new(),
            };
            format!("{pos}{within} ({})", s(i, "position_source"))
        },
    );
    let reporter = match (opt(i, "reporter"), opt(i, "reporter_name")) {
        (Some(n), Some(name)) => format!("{n} ({name}) via {}", s(i, "source")),
        (Some(n), None) => format!("{n} via {}", s(i, "source")),
        _ => format!("{} (no mesh contact)", s(i, "source")),
    };
    // The English description where farod gives one (faroctl speaks English).
    if let Some(w) = opt(i, "where_en").or_else(|| opt(i, "where")) {
        field("where", w);
    }
    field("reporter", reporter);
    field("language", s(i, "language"));
    field("team", s(i, "team"));
    let heard = i["heard_count"].as_u64().unwrap_or(0);
    field(
        "heard",
        format!(
            "{heard} time{}, last {}",
            if heard == 1 { "" } else { "s" },
            when(&s(i, "last_heard_at"))
        ),
    );
    let created = s(i, "created_at");
    field(
        "opened",
        format!("{} ({} ago)", stamp(&created), age(&created)),
    );
    field("updated", stamp(&s(i, "updated_at")));
    let _ = writeln!(out, "priority P{}", s(i, "priority"));
    for why in array(&i["priority_why"]).iter().filter_map(Value::as_str) {
        let _ = writeln!(out, "  - {why}");
    }
    if let Some(teams) = i["nearest_teams"].as_array() {
        let _ = writeln!(out, "nearest teams");
        let rows: Vec<Vec<String>> = teams
            .iter()
            .map(|t| {
                let km = t["distance_km"]
                    .as_f64()
                    .map_or("position unknown".into(), |d| format!("{d:.1} km"));
                let busy: Vec<&str> = array(&t["assigned"])
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let busy = if busy.is_empty() {
                    "free".to_string()
                } else {
                    format!("on {}", busy.join(", "))
                };
                vec![format!("  {}", s(t, "name")), s(t, "status"), km, busy]
            })
            .collect();
        out.push_str(&table(&["  TEAM", "STATUS", "DISTANCE", "ASSIGNED"], &rows));
    }
    let attempts = array(&i["ambulance"]);
    if !attempts.is_empty() {
        let _ = writeln!(out, "ambulance ({})", zone_name());
        out.push_str(&ambulance_table(attempts));
    }
    let c = &i["casework"];
    let count = |k: &str| c[k].as_i64().unwrap_or(0);
    if count("aid") + count("complaints") + count("personal_records") > 0 {
        let id = s(i, "id");
        let _ = writeln!(
            out,
            "casework: {} aid records, {} complaints, {} sealed personal records{}",
            count("aid"),
            count("complaints"),
            count("personal_records"),
            if count("personal_records") > 0 {
                format!(" (faroctl personal show {id}: the showing is recorded)")
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(out, "events ({})", zone_name());
    for e in array(&i["events"]) {
        let _ = writeln!(
            out,
            "  {}  {}  {}  {}",
            when(&s(e, "at")),
            s(e, "who"),
            s(e, "via"),
            s(e, "what")
        );
    }
    // Last: what was said, heard and sent (text from the air, escaped).
    if let Some(messages) = i["messages"].as_array() {
        let _ = writeln!(out, "conversation ({})", zone_name());
        if messages.is_empty() {
            let _ = writeln!(out, "  no messages");
        } else {
            out.push_str(&message_rows(messages, "  "));
        }
    }
    out
}

/// Waiting for a person's answer: the deadline applies.
fn awaiting(a: &Value) -> bool {
    matches!(
        a["state"].as_str(),
        Some("pending" | "sent" | "delivered" | "call")
    )
}

/// Whom to reach for an attempt: its mesh node, else the phone to call.
fn contact(a: &Value) -> String {
    match (opt(a, "node"), opt(a, "phone")) {
        (Some(n), _) => format!("mesh {n}"),
        (None, Some(p)) => format!("phone {p}"),
        (None, None) => "-".into(),
    }
}

fn eta(a: &Value) -> String {
    a["eta_minutes"]
        .as_u64()
        .map_or("-".into(), |m| format!("{m} min"))
}

/// The ambulance attempts of an incident, in escalation order.
fn ambulance_table(attempts: &[Value]) -> String {
    let rows: Vec<Vec<String>> = attempts
        .iter()
        .map(|a| {
            let deadline = if awaiting(a) {
                when(&s(a, "deadline_at"))
            } else {
                "-".into()
            };
            let km = a["distance_km"]
                .as_f64()
                .map_or("-".into(), |d| format!("{d:.0} km"));
            vec![
                format!("  {}", s(a, "attempt")),
                s(a, "municipality"),
                s(a, "municipality_state"),
                km,
                s(a, "state"),
                eta(a),
                contact(a),
                deadline,
            ]
        })
        .collect();
    table(
        &[
            "  #",
            "MUNICIPALITY",
            "STATE",
            "DISTANCE",
            "STATUS",
            "ETA",
            "CONTACT",
            "DEADLINE",
        ],
        &rows,
    )
}

/// What `faroctl ambulance` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbAction {
    Request,
    Cancel,
    Accepted,
    Declined,
}

/// One attempt in a sentence, with what the operator has to do about it.
fn ambulance_line(id: &str, a: &Value) -> String {
    let km = a["distance_km"]
        .as_f64()
        .map_or(String::new(), |d| format!(" ({d:.0} km)"));
    let head = format!(
        "{id}: ambulance #{} {}, {}{km}",
        s(a, "attempt"),
        s(a, "municipality"),
        s(a, "municipality_state")
    );
    let due = format!("answer due {}", stamp(&s(a, "deadline_at")));
    match a["state"].as_str().unwrap_or("?") {
        "call" => format!(
            "{head}: no mesh contact: call {} and record the answer (faroctl ambulance {id} --accepted MIN | --declined); {due}",
            s(a, "phone")
        ),
        state @ ("pending" | "sent" | "delivered") => format!(
            "{head}: {state}, by mesh to {}; {due}",
            s(a, "node")
        ),
        "accepted" => format!("{head}: accepted, ETA {}", eta(a)),
        state => format!("{head}: {}", clean(state)),
    }
}

/// `faroctl ambulance`: the attempt acted on, and after a decline the next one asked.
pub fn ambulance_result(i: &Value, action: AmbAction) -> String {
    let id = s(i, "id");
    let attempts = array(&i["ambulance"]);
    let Some(last) = attempts.last() else {
        return format!("{id}: no ambulance request\n");
    };
    let mut out = String::new();
    if action == AmbAction::Declined {
        let from = attempts
            .iter()
            .rposition(|a| a["state"] == "declined")
            .unwrap_or(attempts.len() - 1);
        for a in &attempts[from..] {
            let _ = writeln!(out, "{}", ambulance_line(&id, a));
        }
        if from + 1 == attempts.len() {
            let _ = writeln!(
                out,
                "{id}: no municipality left to ask; call by phone (faroctl where {})",
                position(i)
            );
        }
    } else {
        let _ = writeln!(out, "{}", ambulance_line(&id, last));
    }
    out
}

/// `faroctl position`: where the incident now is.
pub fn position_line(i: &Value) -> String {
    let mut line = format!("{}: position {}", s(i, "id"), position(i));
    if let Some(w) = opt(i, "where_en").or_else(|| opt(i, "where")) {
        let _ = write!(line, " ({w})");
    }
    line
}

/// `faroctl where`.
pub fn where_is(v: &Value) -> String {
    let mut out = String::new();
    let p = &v["place"];
    let described = opt(p, "description_es").unwrap_or("no place known nearby".into());
    let _ = writeln!(out, "{}  {described}", position(v));
    if p.is_object() {
        let _ = writeln!(
            out,
            "  place         {} ({}, {:.1} km away)",
            s(p, "name"),
            s(p, "country"),
            p["distance_km"].as_f64().unwrap_or(0.0)
        );
    }
    let m = &v["municipality"];
    if m.is_object() {
        let _ = writeln!(out, "  municipality  {}, {}", s(m, "name"), s(m, "state"));
    } else if p.is_object() {
        let _ = writeln!(out, "  municipality  unknown, {}", s(p, "state"));
    }
    let contacts = array(&v["nearest_municipalities"]);
    if contacts.is_empty() {
        out.push_str("ambulance contacts: none configured\n");
        return out;
    }
    out.push_str("ambulance contacts, nearest first\n");
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .map(|c| {
            let strs = |k: &str| -> String {
                array(&c[k])
                    .iter()
                    .filter_map(Value::as_str)
                    .map(clean)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let reach = if c["mesh"].as_bool() == Some(true) {
                format!("mesh {}", strs("nodes"))
            } else {
                format!("phone only {}", strs("phones"))
            };
            vec![
                format!("  {}", s(c, "name")),
                s(c, "state"),
                c["distance_km"]
                    .as_f64()
                    .map_or("-".into(), |d| format!("{d:.1} km")),
                reach,
            ]
        })
        .collect();
    out.push_str(&table(
        &["  MUNICIPALITY", "STATE", "DISTANCE", "CONTACT"],
        &rows,
    ));
    out
}

/// `faroctl places`.
pub fn places(list: &Value) -> String {
    let rows: Vec<Vec<String>> = array(list)
        .iter()
        .map(|p| {
            vec![
                s(p, "name"),
                s(p, "municipality"),
                s(p, "state"),
                s(p, "country"),
                position(p),
                s(p, "population"),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no such place in the gazetteer\n".into();
    }
    table(
        &[
            "PLACE",
            "MUNICIPALITY",
            "STATE",
            "COUNTRY",
            "POSITION",
            "POPULATION",
        ],
        &rows,
    )
}

/// `faroctl teams`.
pub fn teams(list: &Value) -> String {
    let rows: Vec<Vec<String>> = array(list)
        .iter()
        .map(|t| {
            let nodes: Vec<String> = array(&t["nodes"])
                .iter()
                .filter_map(Value::as_str)
                .map(clean)
                .collect();
            let assigned: Vec<String> = array(&t["assigned"])
                .iter()
                .filter_map(Value::as_str)
                .map(clean)
                .collect();
            let seen = t["last_position_at"].as_str().map_or("-".into(), age);
            vec![
                s(t, "name"),
                s(t, "status"),
                nodes.join(","),
                position(t),
                seen,
                battery(&t["battery"]),
                if assigned.is_empty() {
                    "-".into()
                } else {
                    assigned.join(",")
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no teams configured\n".into();
    }
    let table = table(
        &[
            "TEAM", "STATUS", "NODES", "POSITION", "SEEN", "BATTERY", "ASSIGNED",
        ],
        &rows,
    );
    // A team's last free text goes on a line of its own under the team (it is up to 200
    // bytes), escaped: it is text from the air.
    let mut out = String::with_capacity(table.len());
    let mut lines = table.lines();
    if let Some(head) = lines.next() {
        let _ = writeln!(out, "{head}");
    }
    for (line, t) in lines.zip(array(list)) {
        let _ = writeln!(out, "{line}");
        let note = &t["last_note"];
        if let Some(text) = note["text"].as_str() {
            let ago = note["at"].as_str().map_or("-".into(), age);
            let _ = writeln!(out, "  last note, {ago} ago: {}", clean(text));
        }
    }
    out
}

/// A team's battery as `/v1/teams` gives it: `87%`, `18% low`, `powered`, `3.61V` (only a
/// voltage), `-` (none).
fn battery(b: &Value) -> String {
    if b["powered"].as_bool() == Some(true) {
        return "powered".into();
    }
    match (b["level"].as_u64(), b["voltage"].as_f64()) {
        (Some(l), _) if l <= 20 => format!("{l}% low"),
        (Some(l), _) => format!("{l}%"),
        (None, Some(v)) => format!("{v:.2}V"),
        (None, None) => "-".into(),
    }
}

/// `faroctl nodes`.
pub fn nodes(list: &Value) -> String {
    let rows: Vec<Vec<String>> = array(list)
        .iter()
        .map(|n| {
            let heard = n["last_heard_at"].as_str().map_or("-".into(), age);
            vec![
                s(n, "node"),
                s(n, "short_name"),
                s(n, "long_name"),
                s(n, "role"),
                s(n, "radio"),
                position(n),
                heard,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no nodes heard yet\n".into();
    }
    table(
        &[
            "NODE", "SHORT", "NAME", "ROLE", "RADIO", "POSITION", "HEARD",
        ],
        &rows,
    )
}

/// `faroctl keys NODE`.
pub fn keys(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        s(v, "node"),
        v["holder"]
            .as_str()
            .map_or(String::new(), |h| format!("({})", clean(h)))
    );
    let key = |k: &Value| format!("{}  [{}]", s(k, "key"), s(k, "fingerprint"));
    match v["held"].is_object() {
        true => {
            let _ = writeln!(out, "  held by the station's radio: {}", key(&v["held"]));
        }
        false => {
            let _ = writeln!(out, "  held by the station's radio: none yet");
        }
    }
    for k in array(&v["pinned"]) {
        let _ = writeln!(out, "  pinned in the configuration: {}", key(k));
    }
    for k in array(&v["enrolled"]) {
        let _ = writeln!(
            out,
            "  enrolled {} by {}: {}",
            when(&s(k, "enrolled_at")),
            clean(&s(k, "enrolled_by")),
            key(k)
        );
    }
    if array(&v["pinned"]).is_empty() && array(&v["enrolled"]).is_empty() {
        let _ = writeln!(
            out,
            "  no trusted key: its commands and answers do not count"
        );
    }
    out
}

/// `faroctl answers`: municipal answers awaiting confirmation.
pub fn answers(list: &Value) -> String {
    let items = array(list);
    if items.is_empty() {
        return "no answers await confirmation\n".into();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|a| {
            vec![
                a["id"].as_i64().unwrap_or(0).to_string(),
                when(&s(a, "at")),
                s(a, "node"),
                clean(&s(a, "municipality")),
                clean(a["text"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    let mut out = table(&["ID", "TIME", "NODE", "MUNICIPALITY", "TEXT"], &rows);
    out.push_str("check each (by phone), then: faroctl confirm ID | faroctl reject ID\n");
    out
}

/// `faroctl orientations`: answers given per day, topic and language, with totals per topic.
pub fn orientations(list: &Value) -> String {
    let items = array(list);
    if items.is_empty() {
        return "no orientations given\n".into();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|o| {
            vec![
                s(o, "day"),
                s(o, "topic"),
                s(o, "language"),
                o["count"].as_u64().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    for o in items {
        *totals.entry(s(o, "topic")).or_default() += o["count"].as_u64().unwrap_or(0);
    }
    let mut out = table(&["DAY (UTC)", "TOPIC", "LANG", "COUNT"], &rows);
    let sums: Vec<String> = totals.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let _ = writeln!(out, "total: {}", sums.join(", "));
    out
}

/// A number of farod's figures (0 when missing).
fn n(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

/// `word N, word N` for the non-zero counts of a JSON object of counts (`-` when none).
fn nonzero(v: &Value, prefix: &str) -> String {
    let parts: Vec<String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, c)| c.as_i64().unwrap_or(0) != 0)
                .map(|(k, c)| format!("{prefix}{} {}", clean(k), c.as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The total of a JSON object of counts.
fn total(v: &Value) -> i64 {
    v.as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_i64).sum())
}

/// Seconds as `45s`, `12m05s`, `1h05m`, or `-`.
fn span_secs(v: &Value) -> String {
    match v.as_i64() {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `faroctl stats`: the period's figures, then its breakdown when there is one.
pub fn stats(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "figures {} to {} (UTC days)", s(v, "from"), s(v, "to"));
    let loc = &v["location_requests"];
    let inc = &v["incidents"];
    let rows: Vec<Vec<String>> = vec![
        vec![
            "people oriented".into(),
            n(v, "oriented").to_string(),
            String::new(),
        ],
        vec![
            "people assisted".into(),
            n(v, "assisted").to_string(),
            nonzero(&v["assisted_by_kind"], ""),
        ],
        vec![
            "people rescued".into(),
            n(v, "rescued").to_string(),
            String::new(),
        ],
        vec![
            "hospital transfers".into(),
            n(v, "hospital_transfers").to_string(),
            String::new(),
        ],
        vec![
            "shelter transfers".into(),
            n(v, "shelter_transfers").to_string(),
            String::new(),
        ],
        vec![
            "people in complaints".into(),
            n(v, "complaints").to_string(),
            nonzero(&v["complaints_by_category"], ""),
        ],
        vec![
            "location requests".into(),
            n(loc, "requests").to_string(),
            format!(
                "{} people sought, {} found",
                n(loc, "people_sought"),
                n(loc, "found")
            ),
        ],
        vec![
            "incidents opened".into(),
            total(&inc["opened_by_priority"]).to_string(),
            nonzero(&inc["opened_by_priority"], "P"),
        ],
        vec![
            "incidents closed".into(),
            total(&inc["closed_by_outcome"]).to_string(),
            nonzero(&inc["closed_by_outcome"], ""),
        ],
        vec![
            "median to acknowledge".into(),
            span_secs(&v["median_ack_secs"]),
            String::new(),
        ],
        vec![
            "median to on scene".into(),
            span_secs(&v["median_reach_secs"]),
            String::new(),
        ],
        vec![
            "minors".into(),
            n(v, "minors").to_string(),
            format!("{} unaccompanied", n(v, "unaccompanied_minors")),
        ],
        vec![
            "women".into(),
            n(v, "women").to_string(),
            format!("{} pregnant", n(v, "pregnant")),
        ],
    ];
    out.push_str(&table(&["FIGURE", "N", ""], &rows));
    let periods = array(&v["periods"]);
    if !periods.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = periods
            .iter()
            .map(|p| {
                vec![
                    s(p, "from"),
                    s(p, "to"),
                    n(p, "assisted").to_string(),
                    n(p, "oriented").to_string(),
                    n(p, "rescued").to_string(),
                    n(p, "hospital_transfers").to_string(),
                    n(p, "shelter_transfers").to_string(),
                    n(p, "complaints").to_string(),
                    total(&p["incidents"]["opened_by_priority"]).to_string(),
                    total(&p["incidents"]["closed_by_outcome"]).to_string(),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "FROM",
                "TO",
                "ASSISTED",
                "ORIENTED",
                "RESCUED",
                "HOSPITAL",
                "SHELTER",
                "COMPLAINTS",
                "OPENED",
                "CLOSED",
            ],
            &rows,
        ));
    }
    out
}

/// `faroctl purge`: what the retention purge removed, in counts, on one line.
pub fn purge(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    clean(&format!(
        "purged {} personal records, {} messages, {} outbox texts, {} municipal answers, {} grouped acknowledgements, {} node names and positions, {} incident and {} casework positions rounded (personal data ended before {}, texts and phones heard before {})",
        n("personal_records"),
        n("messages"),
        n("outbox_texts"),
        n("answers"),
        n("grouped_acks"),
        n("nodes"),
        n("incident_positions"),
        n("casework_positions"),
        s(v, "personal_before"),
        s(v, "messages_before"),
    ))
}

/// A radio's channel as its device reports it: busy in the last minute / its own transmit
/// share in the last hour, `-` when unknown.
fn air(r: &Value) -> String {
    let pct = |k: &str| r[k].as_f64().map(|x| format!("{x:.1}%"));
    match (pct("channel_utilization"), pct("air_util_tx")) {
        (None, None) => "-".into(),
        (a, b) => format!(
            "{}/{}",
            a.unwrap_or_else(|| "-".into()),
            b.unwrap_or_else(|| "-".into())
        ),
    }
}

/// `faroctl status`.
pub fn status(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "station {}  farod {}  {}",
        s(v, "station"),
        s(v, "version"),
        at(&s(v, "time"))
    );
    let radios: Vec<Vec<String>> = array(&v["radios"])
        .iter()
        .map(|r| {
            vec![
                format!("  {}", s(r, "name")),
                s(r, "state"),
                s(r, "node"),
                s(r, "connects"),
                s(r, "frames"),
                s(r, "malformed"),
                s(r, "queue_free"),
                air(r),
                s(r, "last_error"),
            ]
        })
        .collect();
    if radios.is_empty() {
        out.push_str("radios: none configured\n");
    } else {
        out.push_str("radios\n");
        out.push_str(&table(
            &[
                "  NAME",
                "STATE",
                "NODE",
                "CONNECTS",
                "FRAMES",
                "MALFORMED",
                "QUEUE",
                "AIR (BUSY/TX)",
                "LAST ERROR",
            ],
            &radios,
        ));
    }
    let c = &v["counts"];
    let by: Vec<String> = array(&c["open_by_priority"])
        .iter()
        .enumerate()
        .map(|(i, n)| format!("P{} {n}", i + 1))
        .collect();
    let _ = writeln!(
        out,
        "incidents: {} open ({})",
        s(c, "open_incidents"),
        by.join(", ")
    );
    let _ = writeln!(
        out,
        "outbox: {} waiting, {} awaiting ack, {} failed",
        s(c, "outbox_pending"),
        s(c, "outbox_awaiting_ack"),
        s(c, "outbox_failed")
    );
    let surge = &v["surge"];
    if surge.is_object() {
        let _ = writeln!(
            out,
            "surge since {}: {}; P3/P4 grouped: {} acknowledged, {} waiting; estimate {} s",
            at(&s(surge, "since")),
            s(surge, "cause"),
            s(surge, "grouped"),
            s(surge, "grouped_waiting"),
            s(surge, "estimate_s")
        );
    }
    let up = &v["uplink"];
    if up["enabled"].as_bool() == Some(true) {
        let _ = writeln!(
            out,
            "uplink to headquarters: {} changes waiting, last acknowledged {}",
            s(up, "backlog"),
            s(up, "acked")
        );
    }
    let t = teams(&v["teams"]);
    out.push_str(&t);
    out
}

/// Text from the air, safe for a terminal on one line: control characters (C0 with ESC, BEL, CR,
/// LF and TAB, DEL, C1), the bidirectional controls that reorder what is shown (U+202A..U+202E,
/// U+2066..U+2069, U+200E, U+200F, U+061C) and the line and paragraph separators are written as
/// `\u{..}`; a backslash is doubled so nothing can pass for one.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Bidirectional controls (embeddings, overrides, isolates, marks) and the line and
        // paragraph separators some terminals break lines at.
        let bidi = matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `<-` heard, `->` sent.
fn arrow(m: &Value) -> &'static str {
    match m["direction"].as_str() {
        Some("in") => "<-",
        Some("out") => "->",
        _ => "?",
    }
}

/// Messages as rows: time, direction, node, language, what Faro made of it, delivery, text.
fn message_rows(messages: &[Value], indent: &str) -> String {
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            vec![
                format!("{indent}{}", when(&s(m, "at"))),
                arrow(m).to_string(),
                s(m, "node"),
                s(m, "language"),
                s(m, "understood"),
                s(m, "delivery"),
                clean(m["text"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    table(
        &[
            &format!("{indent}TIME"),
            "",
            "NODE",
            "LANG",
            "UNDERSTOOD",
            "DELIVERY",
            "TEXT",
        ],
        &rows,
    )
}

/// `faroctl messages`: the traffic of no incident, oldest first.
pub fn messages(list: &Value) -> String {
    let messages = array(list);
    if messages.is_empty() {
        return "no messages\n".into();
    }
    let mut out = format!("messages of no incident ({})\n", zone_name());
    out.push_str(&message_rows(messages, ""));
    out
}

/// A live message in `faroctl watch`: time, direction, node, incident, what it was, language,
/// and the text, escaped.
fn message_line(m: &Value) -> String {
    let time = clock(&s(m, "at"));
    format!(
        "{time}  {:<8}  {} {}  {}  {}: {}",
        s(m, "incident"),
        arrow(m),
        s(m, "node"),
        s(m, "understood"),
        s(m, "language"),
        opt(m, "text").unwrap_or_default()
    )
}

/// One line of `faroctl watch`, or None for lines people need not see.
pub fn event_line(v: &Value) -> Option<String> {
    if let Some(n) = v.get("lagged") {
        return Some(format!(
            "-- fell behind by {} events; resent from the database",
            clean(&n.to_string())
        ));
    }
    if v.get("keepalive").is_some() {
        return None;
    }
    if let Some(n) = v.get("lagged_messages") {
        return Some(format!(
            "-- missed {} messages; faroctl show or faroctl messages has them",
            clean(&n.to_string())
        ));
    }
    if let Some(m) = v.get("message") {
        return Some(message_line(m));
    }
    let time = clock(&s(v, "at"));
    Some(format!(
        "{time}  {:<8}  {}  {}  {}",
        s(v, "incident"),
        s(v, "who"),
        s(v, "via"),
        s(v, "what")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let t = table(
            &["ID", "P", "KIND"],
            &[
                vec!["SAS-1".into(), "P1".into(), "heat".into()],
                vec!["SAS-10".into(), "P2".into(), "lost".into()],
            ],
        );
        assert_eq!(t, "ID      P   KIND\nSAS-1   P1  heat\nSAS-10  P2  lost\n");
    }

    #[test]
    fn ages_read_at_a_glance() {
        let ago = |secs: u64| {
            humantime::format_rfc3339_seconds(
                SystemTime::now() - std::time::Duration::from_secs(secs),
            )
            .to_string()
        };
        assert_eq!(age(&ago(5)), "5s");
        assert_eq!(age(&ago(125)), "2m");
        assert_eq!(age(&ago(3 * 3600 + 5 * 60)), "3h05m");
        assert_eq!(age(&ago(2 * 86_400 + 4 * 3600)), "2d04h");
        assert_eq!(age("yesterday"), "-");
    }

    #[test]
    fn show_says_how_far_off_a_rounded_position_may_be() {
        let mut i = json!({"id": "SAS-1", "state": "new", "priority": 2, "kind": "distress",
            "lat": 31.45, "lon": -111.55, "position_source": "last_known",
            "precision_bits": 13, "precision_m": 2918.3, "flags": [], "priority_why": []});
        let shown = incident(&i);
        assert!(
            shown.contains("31.45000,-111.55000 ±2.9 km (last_known)"),
            "{shown}"
        );
        i["precision_bits"] = json!(32);
        i["precision_m"] = json!(null);
        let shown = incident(&i);
        assert!(
            shown.contains("31.45000,-111.55000 (last_known)"),
            "{shown}"
        );
    }

    #[test]
    fn text_from_the_air_cannot_drive_the_terminal() {
        assert_eq!(clean("AUXILIO somos 3"), "AUXILIO somos 3");
        assert_eq!(clean("ñandú ¿qué?"), "ñandú ¿qué?");
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(clean("x\ny\r\u{7}"), "x\\u{a}y\\u{d}\\u{7}");
        assert_eq!(clean("\u{9b}31m\u{202e}olleh"), "\\u{9b}31m\\u{202e}olleh");
        // A backslash typed on the mesh cannot pose as an escape.
        assert_eq!(clean("\\u{1b}"), "\\\\u{1b}");
        // `farod demo` escapes with its own copy (faroctl does not link farod): the same.
        for t in [
            "a\u{1b}[2Jb",
            "x\ny\r\u{7}",
            "\u{9b}31m\u{202e}olleh",
            "\\u{1b}",
            "ñandú",
            "\t\u{7f}\u{85}\u{9f}",
            "\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}",
            "a\u{2028}b\u{2029}c",
        ] {
            assert_eq!(clean(t), farod::describe::clean(t), "{t:?}");
        }
    }

    #[test]
    fn every_control_and_bidi_character_is_escaped() {
        let controls = (0u32..0x20).chain([0x7f]).chain(0x80..0xa0);
        let bidi = (0x202a..=0x202e)
            .chain(0x2066..=0x2069)
            .chain([0x200e, 0x200f, 0x061c, 0x2028, 0x2029]);
        for c in controls.chain(bidi).filter_map(char::from_u32) {
            let shown = clean(&format!("a{c}b"));
            assert_eq!(shown, format!("a\\u{{{:x}}}b", u32::from(c)), "{c:?}");
        }
        // Every string of farod's answers goes through it, whatever the field.
        let nasty = "x\u{1b}]0;t\u{7}\u{202e}y";
        let team = json!([{"name": nasty, "status": nasty, "nodes": [nasty], "assigned": [nasty],
            "last_note": {"at": "2025-03-01T14:05:09Z", "text": nasty}}]);
        let i = json!({"id": nasty, "priority": 1, "state": nasty, "outcome": nasty, "kind": nasty,
            "flags": [nasty], "reporter": nasty, "reporter_name": nasty, "source": nasty,
            "where": nasty, "language": nasty, "team": nasty, "events": [], "messages": [],
            "ambulance": [{"attempt": 1, "municipality": nasty, "municipality_state": nasty,
                "state": nasty, "node": nasty, "phone": nasty}]});
        let place = json!({"lat": 1.0, "lon": 2.0, "place": {"name": nasty, "country": nasty,
            "state": nasty, "description_es": nasty}, "municipality": {"name": nasty, "state": nasty},
            "nearest_municipalities": [{"name": nasty, "state": nasty, "mesh": true, "nodes": [nasty]}]});
        for out in [
            teams(&team),
            incident(&i),
            incidents(&json!([i.clone()]), "open"),
            position_line(&i),
            where_is(&place),
            places(&json!([place["place"].clone()])),
            ambulance_result(&i, AmbAction::Request),
            event_line(
                &json!({"at": nasty, "incident": nasty, "who": nasty, "via": nasty, "what": nasty}),
            )
            .unwrap_or_default(),
        ] {
            assert!(
                !out.chars()
                    .any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'),
                "{out:?}"
            );
        }
    }

    #[test]
    fn the_sheet_shows_the_conversation_escaped() {
        let i = json!({"id": "SAS-1", "priority": 1, "state": "new", "events": [],
            "messages": [
                {"at": "2026-05-01T10:00:00Z", "direction": "in", "node": "!5a5a0301",
                 "text": "AUXILIO\u{1b}]0;pwned\u{7}", "language": "es", "understood": "distress",
                 "delivery": null},
                {"at": "2026-05-01T10:00:01Z", "direction": "out", "node": "!5a5a0301",
                 "text": "SAS-1: ayuda en camino", "language": null, "understood": "distress_ack",
                 "delivery": "acked"}]});
        let out = incident(&i);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
        let conv = out.split("conversation (UTC)\n").nth(1).unwrap();
        let lines: Vec<&str> = conv.lines().take(3).collect();
        assert!(
            lines[1].contains("<-") && lines[1].contains("AUXILIO\\u{1b}]0;pwned\\u{7}"),
            "{out}"
        );
        assert!(
            lines[1].contains("distress") && lines[1].contains("es"),
            "{out}"
        );
        assert!(
            lines[2].contains("->") && lines[2].contains("acked"),
            "{out}"
        );
        assert!(messages(&json!([])).contains("no messages"));
    }

    #[test]
    fn batteries_read_plainly() {
        assert_eq!(battery(&json!(null)), "-");
        assert_eq!(battery(&json!({"level": 87, "powered": false})), "87%");
        assert_eq!(battery(&json!({"level": 20, "powered": false})), "20% low");
        assert_eq!(battery(&json!({"level": 101, "powered": true})), "powered");
        assert_eq!(
            battery(&json!({"level": null, "powered": false, "voltage": 3.6})),
            "3.60V"
        );
    }

    #[test]
    fn teams_show_their_last_note_escaped_under_the_team() {
        let list = json!([
            {"name": "P1", "status": "ok", "nodes": ["!5a5a0101"], "lat": null, "lon": null,
             "last_position_at": null, "assigned": ["SAS-1"],
             "last_note": {"at": "2026-05-01T10:00:00Z",
                           "text": "Llegamos\n2025-03-01 P2 lost\u{1b}[2J"}},
            {"name": "P2", "status": "lost", "nodes": ["!5a5a0102"], "lat": null, "lon": null,
             "last_position_at": null, "assigned": [], "last_note": null,
             "battery": {"level": 18, "powered": false, "voltage": 3.61,
                         "at": "2026-05-01T10:00:00Z", "node": "!5a5a0102"}}]);
        let out = teams(&list);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[1].starts_with("P1") && lines[1].ends_with("SAS-1"),
            "{out}"
        );
        assert!(
            lines[2].starts_with("  last note, ")
                && lines[2].ends_with("ago: Llegamos\\u{a}2025-03-01 P2 lost\\u{1b}[2J"),
            "{out}"
        );
        assert!(lines[3].starts_with("P2"), "{out}");
        assert!(lines[0].contains("BATTERY"), "{out}");
        assert!(lines[1].contains(" - "), "P1 told no battery: {out}");
        assert!(lines[3].contains("18% low"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn watch_shows_messages_escaped() {
        let line = event_line(&json!({"message": {"id": 3, "incident": "SAS-1",
            "at": "2026-05-01T10:00:00Z", "direction": "in", "node": "!5a5a0301",
            "text": "AUXILIO\u{1b}[31m", "language": "es", "understood": "distress",
            "delivery": null}}))
        .unwrap();
        assert_eq!(
            line,
            "10:00:00  SAS-1     <- !5a5a0301  distress  es: AUXILIO\\u{1b}[31m"
        );
        assert!(event_line(&json!({"lagged_messages": 4}))
            .unwrap()
            .contains("missed 4 messages"));
    }

    #[test]
    fn text_from_the_air_cannot_forge_lines_in_the_terminal() {
        // A forged note that would end `show` with a fake closing line, and a node name with
        // an escape sequence: printed escaped, on the line they belong to.
        let e = json!({"id": 9, "incident": "SAS-1", "at": "2025-03-01T14:05:09Z",
            "who": "patrol:P1", "via": "r0",
            "what": "note: ok\n2025-03-01 14:06:00  operator:ana  faroctl  closed: rescued"});
        let line = event_line(&e).unwrap();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("\\u{a}2025"), "{line}");
        let i = json!({"id": "SAS-1", "reporter": "!5a5a0301", "reporter_name": "Cel\u{1b}[2J",
            "source": "text", "events": [e], "flags": [], "priority_why": []});
        let shown = incident(&i);
        assert!(!shown.contains('\u{1b}'), "{shown}");
        assert!(!shown.contains("\n2025-03-01 14:06:00"), "{shown}");
    }

    /// 2026-12-06 16:30:05 UTC, on a sheet, a watch line and the status line.
    const INSTANT: &str = "2026-12-06T16:30:05Z";

    fn sheet_at(at: &str) -> Value {
        json!({"id": "SAS-1", "priority": 1, "state": "new", "kind": "distress",
            "created_at": at, "updated_at": at, "last_heard_at": at, "heard_count": 1,
            "events": [{"at": at, "who": "operator:ana", "via": "faroctl", "what": "acknowledged"}],
            "messages": [{"at": at, "direction": "in", "node": "!5a5a0301", "text": "AUXILIO",
                "language": "es", "understood": "distress", "delivery": null}]})
    }

    #[test]
    fn times_are_shown_in_the_stations_zone_with_its_abbreviation() {
        for (name, local, abbr) in [
            // UTC-7 all year (Sonora keeps no daylight saving time).
            ("America/Hermosillo", "2026-12-06 09:30:05", "MST"),
            // UTC-5 all year.
            ("America/Panama", "2026-12-06 11:30:05", "EST"),
            // UTC-6 (no daylight saving time since 2022).
            ("America/Mexico_City", "2026-12-06 10:30:05", "CST"),
        ] {
            set_zone(Zone::named(name).unwrap());
            assert_eq!(when(INSTANT), format!("{local} {abbr}"));
            assert_eq!(stamp(INSTANT), format!("{local} {abbr}"));
            assert_eq!(at(INSTANT), format!("{local} {abbr}"));
            let out = incident(&sheet_at(INSTANT));
            assert!(out.contains(&format!("events ({name})\n")), "{out}");
            assert!(out.contains(&format!("conversation ({name})\n")), "{out}");
            assert!(
                out.contains(&format!(
                    "  {local} {abbr}  operator:ana  faroctl  acknowledged"
                )),
                "{out}"
            );
            assert!(
                out.contains(&format!("opened     {local} {abbr} (")),
                "{out}"
            );
            assert!(
                out.contains(&format!("updated    {local} {abbr}\n")),
                "{out}"
            );
            assert!(!out.contains("UTC") && !out.contains("16:30"), "{out}");
            let e = json!({"incident": "SAS-1", "at": INSTANT, "who": "operator:ana",
                "via": "faroctl", "what": "acknowledged"});
            let time = &local[11..];
            assert_eq!(
                event_line(&e).as_deref(),
                Some(
                    format!("{time} {abbr}  SAS-1     operator:ana  faroctl  acknowledged")
                        .as_str()
                )
            );
            let v = json!({"station": "SAS", "version": "0.1.0", "time": INSTANT,
                "counts": {}, "teams": [], "surge": null, "radios": []});
            assert!(status(&v).starts_with(&format!("station SAS  farod 0.1.0  {local} {abbr}\n")));
        }
        // Mexico City keeps standard time in summer too.
        set_zone(Zone::named("America/Mexico_City").unwrap());
        assert_eq!(when("2026-07-01T16:30:05Z"), "2026-07-01 10:30:05 CST");
        // What is not a time is shown as it came.
        assert_eq!(when("-"), "-");
        assert_eq!(at("-"), "-");
        set_zone(Zone::utc());
    }

    #[test]
    fn utc_is_shown_as_before() {
        // The default, and what --utc sets.
        set_zone(Zone::utc());
        assert_eq!(when(INSTANT), "2026-12-06 16:30:05");
        assert_eq!(stamp(INSTANT), "2026-12-06 16:30:05 UTC");
        assert_eq!(at(INSTANT), INSTANT);
        let out = incident(&sheet_at(INSTANT));
        assert!(out.contains("events (UTC)\n"), "{out}");
        assert!(out.contains("  2026-12-06 16:30:05  operator:ana"), "{out}");
        assert!(
            out.contains("updated    2026-12-06 16:30:05 UTC\n"),
            "{out}"
        );
        set_zone(Zone::named("Etc/UTC").unwrap());
        assert_eq!(when(INSTANT), "2026-12-06 16:30:05");
        set_zone(Zone::utc());
    }

    #[test]
    fn the_zone_is_asked_once_and_unknown_or_missing_zones_are_utc() {
        let asked = std::rc::Rc::new(std::cell::Cell::new(0));
        let count = asked.clone();
        zone_from(move || {
            count.set(count.get() + 1);
            Some("America/Hermosillo".into())
        });
        assert_eq!(asked.get(), 0, "asked only when a time is shown");
        assert_eq!(when(INSTANT), "2026-12-06 09:30:05 MST");
        assert_eq!(clock(INSTANT), "09:30:05 MST");
        assert_eq!(asked.get(), 1);
        // An older farod says no zone; a zone this faroctl does not know is not guessed.
        zone_from(|| None);
        assert_eq!(when(INSTANT), "2026-12-06 16:30:05");
        zone_from(|| Some("Mars/Olympus_Mons".into()));
        assert_eq!(stamp(INSTANT), "2026-12-06 16:30:05 UTC");
        assert!(Zone::named("Mars/Olympus_Mons").is_none());
        set_zone(Zone::utc());
    }

    #[test]
    fn watch_lines() {
        let e = json!({"id": 3, "incident": "SAS-1", "at": "2025-03-01T14:05:09Z", "who": "operator:ana", "via": "faroctl", "what": "acknowledged"});
        assert_eq!(
            event_line(&e).as_deref(),
            Some("14:05:09  SAS-1     operator:ana  faroctl  acknowledged")
        );
        assert_eq!(event_line(&json!({"keepalive": "x"})), None);
        assert!(event_line(&json!({"lagged": 4})).is_some_and(|l| l.contains("4 events")));
    }

    #[test]
    fn status_shows_each_radios_channel_as_its_device_reports_it() {
        let v = json!({"station": "SAS", "counts": {}, "teams": [], "surge": null, "radios": [
            {"name": "main", "state": "up", "channel_utilization": 12.25, "air_util_tx": 3.0},
            {"name": "mast", "state": "up", "channel_utilization": null, "air_util_tx": null}]});
        let out = status(&v);
        assert!(out.contains("AIR (BUSY/TX)"), "{out}");
        let main = out.lines().find(|l| l.contains("main")).unwrap();
        assert!(
            main.contains("12.2%/3.0%") || main.contains("12.3%/3.0%"),
            "{main}"
        );
        let mast = out.lines().find(|l| l.contains("mast")).unwrap();
        assert!(!mast.contains('%'), "{mast}");
    }

    #[test]
    fn status_shows_the_uplink_only_when_it_is_on() {
        let off = json!({"station": "SAS", "counts": {}, "teams": [], "radios": [],
            "uplink": {"enabled": false, "acked": 0, "backlog": 0}});
        assert!(!status(&off).contains("uplink"));
        let on = json!({"station": "SAS", "counts": {}, "teams": [], "radios": [],
            "uplink": {"enabled": true, "acked": 41, "backlog": 3}});
        assert!(
            status(&on)
                .contains("uplink to headquarters: 3 changes waiting, last acknowledged 41\n"),
            "{}",
            status(&on)
        );
    }

    #[test]
    fn status_shows_a_surge_only_when_there_is_one() {
        let calm =
            json!({"station": "SAS", "counts": {}, "teams": [], "radios": [], "surge": null});
        assert!(!status(&calm).contains("surge"));
        let busy = json!({"station": "SAS", "counts": {}, "teams": [], "radios": [], "surge": {
            "since": "2026-07-01T12:00:00Z", "cause": "412 replies waiting, about 28 min to send one by one",
            "waiting": 412, "estimate_s": 1648, "grouped": 37, "grouped_waiting": 5}});
        assert!(
            status(&busy).contains("surge since 2026-07-01T12:00:00Z: 412 replies waiting, about 28 min to send one by one; P3/P4 grouped: 37 acknowledged, 5 waiting; estimate 1648 s"),
            "{}",
            status(&busy)
        );
    }
}
