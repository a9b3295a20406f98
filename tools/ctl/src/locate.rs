//! `faroctl locate`: location requests for missing people (farod's `/v1/locate`). A request
//! holds who asked, how many people, where and when they were last seen: never a name or a
//! description (record those sealed with `faroctl personal add LOC-5 --field description ...`).

use clap::Subcommand;
use serde_json::{json, Value};

use crate::render::{at, clean, table};
use crate::{id_path, print, say, Ctl, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum LocateCmd {
    /// Open a location request; prints its id (LOC-5).
    Add {
        /// Who asks: relative, consulate, station, headquarters or authority.
        #[arg(long)]
        requester: String,
        /// How many people are sought (1..=10000).
        #[arg(long)]
        people: u32,
        /// Where they were last seen: a place or area (said on air to the patrol; without
        /// --lat/--lon, farod looks it up in its gazetteer for the position).
        #[arg(long, required_unless_present = "lat")]
        place: Option<String>,
        /// Latitude, degrees.
        #[arg(long, allow_hyphen_values = true, requires = "lon")]
        lat: Option<f64>,
        /// Longitude, degrees.
        #[arg(long, allow_hyphen_values = true, requires = "lat")]
        lon: Option<f64>,
        /// Search radius, km (default 10, at most 200).
        #[arg(long, value_name = "KM")]
        radius: Option<f64>,
        /// When they were last seen (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        last_seen: Option<String>,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Location requests, open ones first.
    List {
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
    /// One location request and its audit trail.
    Show {
        /// LOC-5.
        id: String,
        /// Print farod's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give the search to a patrol team (it is told over the mesh, in its language).
    Task {
        /// LOC-5.
        id: String,
        /// The team (P1).
        #[arg(long)]
        team: String,
    },
    /// Close with the outcome: found_alive, found_dead, not_found or withdrawn.
    Close {
        /// LOC-5.
        id: String,
        /// found_alive, found_dead, not_found or withdrawn.
        #[arg(long)]
        outcome: String,
        /// How many people were found (found_alive, found_dead).
        #[arg(long, value_name = "N")]
        found: Option<u32>,
    },
    /// Record that the outcome was reported back to the requester: phone, email, in_person,
    /// radio or letter.
    Reported {
        /// LOC-5.
        id: String,
        /// phone, email, in_person, radio or letter.
        #[arg(long)]
        how: String,
    },
    /// Incidents and aid within the request's radius since the people were last seen:
    /// consented first, then nearest.
    Matches {
        /// LOC-5.
        id: String,
        /// Print farod's JSON (an array).
        #[arg(long)]
        json: bool,
    },
}

impl LocateCmd {
    /// Whether the command changes anything (the operator's label goes with writes only).
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            LocateCmd::Add { .. }
                | LocateCmd::Task { .. }
                | LocateCmd::Close { .. }
                | LocateCmd::Reported { .. }
        )
    }
}

pub(crate) fn run(ctl: &Ctl, cmd: LocateCmd) -> Result<(), Failure> {
    match cmd {
        LocateCmd::Add {
            requester,
            people,
            place,
            lat,
            lon,
            radius,
            last_seen,
            json,
        } => {
            let body = json!({
                "requester": requester, "people": people, "place": place, "lat": lat,
                "lon": lon, "radius_km": radius, "last_seen": last_seen,
            });
            let v = ctl.post("/v1/locate", body)?;
            if json {
                say(v.to_string())
            } else {
                say(clean(v["id"].as_str().unwrap_or("?")))
            }
        }
        LocateCmd::List { json } => print(&ctl.get("/v1/locate")?, json, list),
        LocateCmd::Show { id, json } => print(
            &ctl.get(&format!("/v1/locate/{}", id_path(&id)))?,
            json,
            sheet,
        ),
        LocateCmd::Task { id, team } => changed(ctl, &id, "task", json!({ "team": team })),
        LocateCmd::Close { id, outcome, found } => changed(
            ctl,
            &id,
            "close",
            json!({ "outcome": outcome, "found": found }),
        ),
        LocateCmd::Reported { id, how } => changed(ctl, &id, "reported", json!({ "how": how })),
        LocateCmd::Matches { id, json } => print(
            &ctl.get(&format!("/v1/locate/{}/matches", id_path(&id)))?,
            json,
            matches,
        ),
    }
}

/// A write: prints where the request now stands.
fn changed(ctl: &Ctl, id: &str, action: &str, body: Value) -> Result<(), Failure> {
    let v = ctl.post(&format!("/v1/locate/{}/{action}", id_path(id)), body)?;
    say(clean(&status_line(&v)))
}

/// `LOC-5: searching (P1)`, `LOC-5: closed (found_alive, 2 of 3 found), reported back`.
fn status_line(v: &Value) -> String {
    let mut line = format!(
        "{}: {}",
        v["id"].as_str().unwrap_or("?"),
        v["state"].as_str().unwrap_or("?")
    );
    match (v["outcome"].as_str(), v["team"].as_str()) {
        (Some(o), _) => {
            let found = v["found"].as_u64().unwrap_or(0);
            let sought = v["people_sought"].as_u64().unwrap_or(0);
            line.push_str(&format!(" ({o}, {found} of {sought} found)"));
        }
        (None, Some(t)) => line.push_str(&format!(" ({t})")),
        _ => {}
    }
    if v["reported_at"].is_string() {
        line.push_str(", reported back");
    }
    line
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::String(t) if t.is_empty() => "-".into(),
        Value::String(t) => clean(t),
        other => clean(&other.to_string()),
    }
}

fn where_(v: &Value) -> String {
    let pos = match (v["lat"].as_f64(), v["lon"].as_f64()) {
        (Some(la), Some(lo)) => Some(format!("{la:.5},{lo:.5}")),
        _ => None,
    };
    match (v["place"].as_str(), pos) {
        (Some(p), Some(c)) => format!("{} ({c})", clean(p)),
        (Some(p), None) => clean(p),
        (None, Some(c)) => c,
        (None, None) => "-".into(),
    }
}

fn list(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|r| {
            vec![
                text(r, "id"),
                text(r, "state"),
                text(r, "requester"),
                format!("{}/{}", text(r, "found"), text(r, "people_sought")),
                text(r, "last_seen_on"),
                text(r, "team"),
                text(r, "outcome"),
                format!("{} ({} km)", where_(r), text(r, "radius_km")),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no location requests\n".into();
    }
    table(
        &[
            "ID",
            "STATE",
            "REQUESTER",
            "FOUND",
            "LAST SEEN",
            "TEAM",
            "OUTCOME",
            "WHERE",
        ],
        &rows,
    )
}

fn sheet(v: &Value) -> String {
    let mut out = format!("{}\n", clean(&status_line(v)));
    for (label, value) in [
        ("requester", text(v, "requester")),
        (
            "people",
            format!(
                "{} sought, {} found",
                text(v, "people_sought"),
                text(v, "found")
            ),
        ),
        (
            "last seen",
            format!("{} near {}", text(v, "last_seen_on"), where_(v)),
        ),
        ("radius", format!("{} km", text(v, "radius_km"))),
        (
            "opened",
            format!("{} by {}", at(&text(v, "at")), text(v, "recorded_by")),
        ),
        ("closed", at(&text(v, "closed_at"))),
        ("reported", at(&text(v, "reported_at"))),
    ] {
        out.push_str(&format!("  {label:<10} {value}\n"));
    }
    let events = v["events"].as_array().map_or(&[][..], Vec::as_slice);
    if !events.is_empty() {
        out.push_str("events:\n");
        for e in events {
            out.push_str(&format!(
                "  {}  {}  {}\n",
                at(&text(e, "at")),
                text(e, "who"),
                text(e, "what")
            ));
        }
    }
    out
}

fn matches(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|m| {
            vec![
                text(m, "id"),
                text(m, "kind"),
                at(&text(m, "at")),
                format!("{} km", text(m, "distance_km")),
                text(m, "people"),
                if m["consent_to_locate"].as_bool() == Some(true) {
                    "yes".into()
                } else {
                    "NO: do not pass on".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no candidates\n".into();
    }
    table(
        &[
            "ID",
            "KIND",
            "WHEN",
            "DISTANCE",
            "PEOPLE",
            "CONSENT TO LOCATE",
        ],
        &rows,
    )
}
