//! Location requests for missing people (`LOC-5`), as the station reads them: the request and
//! its audit trail, the list, and the matching on demand against incidents and assistance
//! records near where the people were last seen.
//!
//! Nothing here reads `personal_records`: a request holds counts, a place, dates and states,
//! and so do the candidates a match lists. Whether a candidate's people agreed to be compared
//! with location requests is read from `consents` (a consent not withdrawn whose purposes
//! include `locate`); the operator opens the sealed records only through the personal-data
//! commands, which record the disclosure.
//!
//! The rules that change a request are in `desk/locate.rs`; this module only reads.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{fold, LocateOutcome, Purpose, RequesterKind, LOCATE};
use crate::desk::{LocateFacts, LocateState};
use crate::error::{Refusal, StoreError};
use crate::store::{rfc3339, EventView};

vocabulary! {
    /// How an outcome was reported back to the requester.
    ReportedHow, "channel" {
        /// By phone.
        Phone = "phone" | "telefono" | "llamada",
        /// By email.
        Email = "email" | "correo" | "e_mail",
        /// In person.
        InPerson = "in_person" | "en_persona" | "presencial",
        /// By radio.
        Radio = "radio",
        /// By letter (an official letter).
        Letter = "letter" | "carta" | "oficio",
    }
}

impl ReportedHow {
    /// How the audit trail says it: `by phone`, `in person`.
    pub fn phrase(self) -> &'static str {
        match self {
            ReportedHow::Phone => "by phone",
            ReportedHow::Email => "by email",
            ReportedHow::InPerson => "in person",
            ReportedHow::Radio => "by radio",
            ReportedHow::Letter => "by letter",
        }
    }
}

/// `LOC-5`.
pub fn name(id: i64) -> String {
    format!("{LOCATE}-{id}")
}

/// A location request's number from `LOC-5` (any case) or `5`.
pub fn parse_id(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let bad = || format!("bad location request {s:?}: expected LOC-n, like LOC-5");
    let digits = match s.split_once('-') {
        Some((prefix, n)) if prefix.eq_ignore_ascii_case(LOCATE) => n,
        Some(_) => return Err(bad()),
        None => s,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)
}

/// The UTC calendar date (`YYYY-MM-DD`) of unix milliseconds.
pub fn date_of(ms: i64) -> String {
    let (y, m, d) = civil(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix milliseconds of 00:00 UTC on `YYYY-MM-DD` (a date [`super::parse_date`] accepted).
pub fn start_of(date: &str) -> Option<i64> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// (year, month, day) of a day number since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

const COLUMNS: &str = "id, requester_kind, people_sought, place, lat, lon, radius_km, last_seen_on,
    state, team, outcome, found, closed_at, reported_at, at, recorded_by, updated_at";

fn facts_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LocateFacts> {
    let requester: String = r.get(1)?;
    let state: String = r.get(8)?;
    let outcome: Option<String> = r.get(10)?;
    Ok(LocateFacts {
        id: r.get(0)?,
        requester: requester.parse().unwrap_or(RequesterKind::Relative),
        people: r.get(2)?,
        place: r.get(3)?,
        lat: r.get(4)?,
        lon: r.get(5)?,
        radius_km: r
            .get::<_, Option<f64>>(6)?
            .unwrap_or(crate::desk::DEFAULT_RADIUS_KM),
        last_seen_on: r.get(7)?,
        state: LocateState::parse(&state).unwrap_or(LocateState::Open),
        team: r.get(9)?,
        outcome: outcome.and_then(|o| o.parse::<LocateOutcome>().ok()),
        found: r.get(11)?,
        closed_at: r.get(12)?,
        reported_at: r.get(13)?,
    })
}

/// A location request as the desk's rules read it.
pub(crate) fn facts(conn: &Connection, id: i64) -> rusqlite::Result<Option<LocateFacts>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM location_requests WHERE id = ?1"
    ))?
    .query_row([id], facts_row)
    .optional()
}

/// The number the next location request gets: after every request, and after every `LOC-n`
/// a consent or a disclosure still names (a request a retention purge removed never lends its
/// number, and what was recorded about its people, to a new one).
pub(crate) fn next_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM location_requests), 0),
                    COALESCE((SELECT MAX(CAST(substr(subject, 5) AS INTEGER)) FROM consents
                              WHERE subject LIKE 'LOC-%'), 0),
                    COALESCE((SELECT MAX(CAST(substr(subject, 5) AS INTEGER)) FROM disclosures
                              WHERE subject LIKE 'LOC-%'), 0)) + 1",
    )?
    .query_row([], |r| r.get(0))
}

/// A location request as the control socket shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocateView {
    /// `LOC-5`.
    pub id: String,
    /// Opened (RFC 3339).
    pub at: String,
    /// Who asked.
    pub requester: String,
    /// People sought.
    pub people_sought: u32,
    /// Last seen: a place or area name.
    pub place: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Search radius, km.
    pub radius_km: f64,
    /// Last seen on (`YYYY-MM-DD`).
    pub last_seen_on: Option<String>,
    /// `open`, `searching`, `closed`.
    pub state: String,
    /// The team given the search.
    pub team: Option<String>,
    /// How it ended.
    pub outcome: Option<String>,
    /// People found so far.
    pub found: u32,
    /// Closed (RFC 3339).
    pub closed_at: Option<String>,
    /// Outcome reported back to the requester (RFC 3339).
    pub reported_at: Option<String>,
    /// The operator who opened it.
    pub recorded_by: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Its audit trail (in a single request's view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

fn view_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LocateView> {
    let f = facts_row(r)?;
    Ok(LocateView {
        id: name(f.id),
        at: rfc3339(r.get(14)?),
        requester: f.requester.to_string(),
        people_sought: f.people,
        place: f.place,
        lat: f.lat,
        lon: f.lon,
        radius_km: f.radius_km,
        last_seen_on: f.last_seen_on,
        state: f.state.as_str().to_string(),
        team: f.team,
        outcome: f.outcome.map(|o| o.to_string()),
        found: f.found,
        closed_at: f.closed_at.map(rfc3339),
        reported_at: f.reported_at.map(rfc3339),
        recorded_by: r.get(15)?,
        updated_at: rfc3339(r.get(16)?),
        events: None,
    })
}

/// Location requests, open and searching first (oldest first), then closed (latest first),
/// at most `limit`.
pub fn list(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<LocateView>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM location_requests
         ORDER BY state = 'closed', CASE WHEN state = 'closed' THEN -id ELSE id END LIMIT ?1"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map([limit as i64], view_row)?;
    rows.collect()
}

/// One location request with its audit trail (station-level events that name it).
pub fn show(conn: &Connection, id: i64) -> rusqlite::Result<Option<LocateView>> {
    let sql = format!("SELECT {COLUMNS} FROM location_requests WHERE id = ?1");
    let Some(mut v) = conn.query_row(&sql, [id], view_row).optional()? else {
        return Ok(None);
    };
    v.events = Some(events(conn, id)?);
    Ok(Some(v))
}

/// The audit events of a location request: every one the desk writes starts with its name
/// (`LOC-5: ...`, `LOC-5 closed ...`) or is its opening (`location request LOC-5 opened ...`).
pub fn events(conn: &Connection, id: i64) -> rusqlite::Result<Vec<EventView>> {
    let n = name(id);
    let mut st = conn.prepare(
        "SELECT id, incident, at, who, via, what FROM events
         WHERE incident IS NULL AND (substr(what, 1, length(?1) + 1) IN (?1 || ':', ?1 || ' ')
                                     OR what LIKE 'location request ' || ?1 || ' %')
         ORDER BY id",
    )?;
    let rows = st.query_map([&n], |r| {
        Ok(EventView {
            id: r.get(0)?,
            incident: r.get(1)?,
            at: rfc3339(r.get(2)?),
            who: r.get(3)?,
            via: r.get(4)?,
            what: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// A record that may concern the people a location request seeks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// `incident` or `assistance`.
    pub kind: &'static str,
    /// `SAS-17`, `AID-3`.
    pub id: String,
    /// When (an incident's opening, the aid given), RFC 3339.
    pub at: String,
    /// From where the people were last seen, km (one decimal).
    pub distance_km: f64,
    /// People in it, if known.
    pub people: Option<u32>,
    /// Whether its people consented to be compared with location requests (a consent not
    /// withdrawn whose purposes include `locate`). Without it, the operator must not pass on
    /// anything about them.
    pub consent_to_locate: bool,
}

/// Incidents and assistance records within the request's radius of where the people were
/// last seen, from that day on (an incident's opening, the aid's date): consented first, then
/// nearest. A request without coordinates cannot be matched (`Conflict`); an unknown one is
/// `NotFound`.
pub fn matches(conn: &Connection, id: i64) -> Result<Vec<Candidate>, StoreError> {
    let req = facts(conn, id)?
        .ok_or_else(|| Refusal::NotFound(format!("no location request {}", name(id))))?;
    let (Some(lat), Some(lon)) = (req.lat, req.lon) else {
        return Err(Refusal::Conflict(format!(
            "{} has no position: matching needs its latitude and longitude",
            name(id)
        ))
        .into());
    };
    let since = req.last_seen_on.as_deref().and_then(start_of).unwrap_or(0);
    // A box around the circle first (the index-free scan stays cheap), then the distance.
    let dlat = req.radius_km / 111.0 + 0.01;
    let dlon = req.radius_km / (111.0 * lat.to_radians().cos().abs().max(0.01)) + 0.01;
    let sql = "SELECT 'incident', id, created_at, lat, lon, people FROM incidents
                WHERE lat IS NOT NULL AND created_at >= ?1
                  AND lat BETWEEN ?2 AND ?3 AND lon BETWEEN ?4 AND ?5
               UNION ALL
               SELECT 'assistance', 'AID-' || a.id, a.at, COALESCE(a.lat, i.lat), COALESCE(a.lon, i.lon), a.people
                 FROM assistance a LEFT JOIN incidents i ON i.id = a.incident
                WHERE a.at >= ?1 AND COALESCE(a.lat, i.lat) BETWEEN ?2 AND ?3
                  AND COALESCE(a.lon, i.lon) BETWEEN ?4 AND ?5";
    let mut st = conn.prepare(sql)?;
    let rows = st.query_map(
        params![since, lat - dlat, lat + dlat, lon - dlon, lon + dlon],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, f64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, Option<u32>>(5)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, rid, at, la, lo, people) = row?;
        let km = crate::geo::haversine_km(lat, lon, la, lo);
        if km > req.radius_km {
            continue;
        }
        out.push(Candidate {
            kind: if kind == "incident" {
                "incident"
            } else {
                "assistance"
            },
            consent_to_locate: consented(conn, &rid)?,
            id: rid,
            at: rfc3339(at),
            distance_km: (km * 10.0).round() / 10.0,
            people,
        });
    }
    out.sort_by(|a, b| {
        b.consent_to_locate
            .cmp(&a.consent_to_locate)
            .then(a.distance_km.total_cmp(&b.distance_km))
            .then(a.id.cmp(&b.id))
    });
    Ok(out)
}

/// Whether `subject` has a consent, not withdrawn, whose purposes include `locate`.
fn consented(conn: &Connection, subject: &str) -> rusqlite::Result<bool> {
    let mut st = conn.prepare_cached(
        "SELECT purposes FROM consents WHERE subject = ?1 AND withdrawn_at IS NULL",
    )?;
    let rows = st.query_map([subject], |r| r.get::<_, String>(0))?;
    for purposes in rows {
        if purposes?
            .split(',')
            .any(|p| p.trim().parse::<Purpose>() == Ok(Purpose::Locate))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        assert_eq!(date_of(0), "1970-01-01");
        let d = start_of("2026-11-28").unwrap();
        assert_eq!(date_of(d), "2026-11-28");
        assert_eq!(date_of(d + 86_399_999), "2026-11-28");
        assert_eq!(date_of(d - 1), "2026-11-27");
        assert_eq!(date_of(start_of("2028-02-29").unwrap()), "2028-02-29");
        assert_eq!(parse_id("LOC-5"), Ok(5));
        assert_eq!(parse_id("loc-12"), Ok(12));
        assert_eq!(parse_id("7"), Ok(7));
        for bad in ["", "LOC-", "SAS-5", "LOC-x", "0", "LOC--1", "-5"] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
        assert_eq!("telefono".parse::<ReportedHow>(), Ok(ReportedHow::Phone));
        assert_eq!(
            "in person".parse::<ReportedHow>(),
            Ok(ReportedHow::InPerson)
        );
        assert!("pigeon".parse::<ReportedHow>().is_err());
        // Patrols answer `LOC-5 ...`: the parser's prefix is this one.
        assert_eq!(LOCATE, faro_proto::text::LOCATE_PREFIX);
    }
}
