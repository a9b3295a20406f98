//! The figures (issue 14 §5): what the station did in a period, for its head, headquarters and
//! the yearly report. Computed from the records every time (incidents and their audit trail,
//! aid given, complaints, location requests, orientations counted per day), never from stored
//! counters, so a corrected record corrects the figures. Counts and categories only: these
//! queries never read `personal_records`, message texts or any other personal data (the
//! audit trail's texts are only matched, in SQL, against the fixed words the transitions write).
//!
//! A period is a run of whole UTC days, `[from, to)` in unix ms; `to` as people give it is
//! inclusive (`--to 2026-11-30` means the whole of that day). Dates go to and from unix ms with
//! the civil-date helpers here ([`days_from_civil`], [`civil_from_days`]).
//!
//! What each figure counts:
//! - `oriented`: questions answered over the mesh (`orientations.count`, per UTC day) plus the
//!   people of aid records that include `orientation`;
//! - `assisted`: the people of aid records given in the period, each record once;
//!   `assisted_by_kind`: the same people per kind of aid (a record of water and food counts in
//!   both);
//! - `rescued`: the people of incidents closed in the period as rescued, transferred_hospital
//!   or transferred_shelter (an unknown number of people counts as 1);
//! - `hospital_transfers`, `shelter_transfers`: see [`compute`] (aid records and incidents,
//!   each person once);
//! - `complaints`: the people of complaints recorded in the period, and per category;
//! - `location_requests`: requests opened in the period, the people they seek, and how many of
//!   those were found;
//! - `incidents`: opened in the period by priority, closed in the period by outcome;
//! - `median_ack_secs`, `median_reach_secs`: over the incidents opened in the period, the
//!   median time from opening to the first acknowledgement, and to the first patrol on scene
//!   (see [`compute`]);
//! - `minors`, `unaccompanied_minors`, `women`, `pregnant`: sums over the aid records.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

use faro_proto::text::Outcome;
use rusqlite::{params, Connection};
use serde::Serialize;

use super::{AidKind, Category};

/// One day, in ms.
pub const DAY_MS: i64 = 86_400_000;
/// The longest period one request covers, in days (ten years).
pub const MAX_DAYS: i64 = 3660;
/// The longest period broken down by day, in days.
pub const MAX_DAILY: i64 = 366;

// ----- civil dates -------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` 1..=12, `d` 1..=31; not checked:
/// [`date_ms`] checks). H. Hinnant's algorithm.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March is 0
    let doy = (153 * mp + 2) / 5 + d - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The date of a day number of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1; // 1..=31
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // 1..=12
    let y = yoe + era * 400 + i64::from(m <= 2);
    // In range by construction (see the bounds above).
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// UTC midnight (unix ms) starting a `YYYY-MM-DD` date, checked ([`super::parse_date`]).
pub fn date_ms(s: &str) -> Result<i64, String> {
    let s = super::parse_date(s)?;
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => Ok(days_from_civil(i64::from(y), m, d) * DAY_MS),
        _ => Err(format!("bad date {s:?}: expected YYYY-MM-DD")),
    }
}

/// The UTC date (`YYYY-MM-DD`) of the day holding `ms`.
pub fn date_of(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The month `YYYY-MM` as a period: its first day's midnight and the next month's (UTC ms).
pub fn month_ms(s: &str) -> Result<(i64, i64), String> {
    let s = s.trim();
    let bad = || format!("bad month {s:?}: expected YYYY-MM");
    if s.len() != 7 || !s.is_ascii() {
        return Err(bad());
    }
    let from = date_ms(&format!("{s}-01")).map_err(|_| bad())?;
    Ok((from, next_month(from)))
}

/// UTC midnight of the first day of the month after the one holding `ms`.
pub fn next_month(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(DAY_MS));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY_MS
}

/// UTC midnight of the first day of the month holding `ms`.
pub fn month_start(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(DAY_MS));
    days_from_civil(y, m, 1) * DAY_MS
}

// ----- the question ------------------------------------------------------------------------

/// How a period is broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// One figure set per UTC day.
    Day,
    /// One per calendar month (the first and last may be partial).
    Month,
}

impl FromStr for By {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "day" | "dia" | "día" => Ok(By::Day),
            "month" | "mes" => Ok(By::Month),
            other => Err(format!(
                "bad breakdown {:?}: expected day or month",
                other.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// A period of whole UTC days and its breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// UTC midnight of the first day, unix ms.
    pub from: i64,
    /// UTC midnight after the last day, unix ms (exclusive).
    pub to: i64,
    /// The breakdown, if any.
    pub by: Option<By>,
}

impl Span {
    /// The period from the dates people give (`to` inclusive, the whole day), checked:
    /// `from` defaults to the first day of the month holding `now_ms`, `to` to its day.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        by: Option<&str>,
        now_ms: i64,
    ) -> Result<Span, String> {
        let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
        let from_ms = match from {
            Some(s) => date_ms(s).map_err(|e| format!("from: {e}"))?,
            None => month_start(today),
        };
        let to_ms = match to {
            Some(s) => date_ms(s).map_err(|e| format!("to: {e}"))? + DAY_MS,
            None => today + DAY_MS,
        };
        let by = by.map(str::parse::<By>).transpose()?;
        Span::new(from_ms, to_ms, by)
    }

    /// A period `[from, to)` of whole days, checked.
    pub fn new(from: i64, to: i64, by: Option<By>) -> Result<Span, String> {
        if from.rem_euclid(DAY_MS) != 0 || to.rem_euclid(DAY_MS) != 0 {
            return Err("a period is made of whole UTC days".into());
        }
        if to <= from {
            return Err(format!(
                "from {} is after to {}",
                date_of(from),
                date_of(to - DAY_MS)
            ));
        }
        let days = (to - from) / DAY_MS;
        if days > MAX_DAYS {
            return Err(format!("{days} days: a period is at most {MAX_DAYS} days"));
        }
        if by == Some(By::Day) && days > MAX_DAILY {
            return Err(format!(
                "{days} days: a breakdown by day covers at most {MAX_DAILY} days (use by month)"
            ));
        }
        Ok(Span { from, to, by })
    }

    /// The sub-periods of the breakdown, in order (none without one).
    pub fn parts(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let Some(by) = self.by else { return out };
        let mut at = self.from;
        while at < self.to {
            let next = match by {
                By::Day => at + DAY_MS,
                By::Month => next_month(at),
            }
            .min(self.to);
            out.push((at, next));
            at = next;
        }
        out
    }
}

// ----- the figures -------------------------------------------------------------------------

/// Named counts in a fixed order (the vocabulary's), serialized as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts(pub Vec<(String, i64)>);

impl Counts {
    fn zero<'a>(names: impl IntoIterator<Item = &'a str>) -> Counts {
        Counts(names.into_iter().map(|n| (n.to_string(), 0)).collect())
    }

    fn add(&mut self, name: &str, n: i64) {
        if let Some(c) = self.0.iter_mut().find(|(k, _)| k == name) {
            c.1 += n;
        }
    }

    /// The count of `name` (0 when not a name of these counts).
    pub fn get(&self, name: &str) -> i64 {
        self.0.iter().find(|(k, _)| k == name).map_or(0, |c| c.1)
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Location requests opened in a period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LocationRequests {
    /// Requests opened.
    pub requests: i64,
    /// The people they seek.
    pub people_sought: i64,
    /// Of those, found (alive or not) so far.
    pub found: i64,
}

/// Incidents opened and closed in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incidents {
    /// Opened, by priority `"1"`..`"4"`.
    pub opened_by_priority: Counts,
    /// Closed, by outcome.
    pub closed_by_outcome: Counts,
}

/// The figures of one period (and of its parts, when broken down).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// First day, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// People oriented.
    pub oriented: i64,
    /// People assisted.
    pub assisted: i64,
    /// People assisted, per kind of aid.
    pub assisted_by_kind: Counts,
    /// People rescued.
    pub rescued: i64,
    /// People transferred to a hospital.
    pub hospital_transfers: i64,
    /// People transferred to a shelter.
    pub shelter_transfers: i64,
    /// People of the complaints recorded.
    pub complaints: i64,
    /// The same, per category.
    pub complaints_by_category: Counts,
    /// Location requests opened.
    pub location_requests: LocationRequests,
    /// Incidents opened and closed.
    pub incidents: Incidents,
    /// Median seconds from opening to the first acknowledgement, rounded to whole seconds
    /// (the mean of the two middle times for an even count; null: none).
    pub median_ack_secs: Option<i64>,
    /// Median seconds from opening to the first patrol on scene, rounded (null: none).
    pub median_reach_secs: Option<i64>,
    /// Minors among the people assisted.
    pub minors: i64,
    /// Unaccompanied minors among them.
    pub unaccompanied_minors: i64,
    /// Women among them.
    pub women: i64,
    /// Pregnant women among them.
    pub pregnant: i64,
    /// The figures per day or month, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<Figures>>,
}

/// The outcomes whose people count as rescued.
const RESCUED: [Outcome; 3] = [
    Outcome::Rescued,
    Outcome::TransferredHospital,
    Outcome::TransferredShelter,
];

/// An aid record.
#[derive(Debug)]
struct Aid {
    at: i64,
    people: i64,
    minors: i64,
    unaccompanied: i64,
    women: i64,
    pregnant: i64,
    kinds: Vec<AidKind>,
}

/// An incident closed.
#[derive(Debug)]
struct Closed {
    at: i64,
    outcome: Option<Outcome>,
    people: i64,
    /// An aid record of this incident has the kind hospital_transfer / shelter_transfer.
    aid_hospital: bool,
    aid_shelter: bool,
}

/// An incident opened, with its times to acknowledgement and to on scene (ms).
#[derive(Debug)]
struct Opened {
    at: i64,
    priority: i64,
    ack: Option<i64>,
    reach: Option<i64>,
}

/// The records of a whole period, read once, then counted per part.
#[derive(Debug, Default)]
struct Records {
    /// (UTC midnight, answers).
    orientations: Vec<(i64, i64)>,
    aid: Vec<Aid>,
    closed: Vec<Closed>,
    opened: Vec<Opened>,
    /// (at, category, people).
    complaints: Vec<(i64, Option<Category>, i64)>,
    /// (at, people sought, found).
    locates: Vec<(i64, i64, i64)>,
}

/// The audit-trail texts that say an incident was first taken in hand: the words
/// `incident::transition` writes for an acknowledgement (by the desk or the patrol), an
/// assignment, a team en route or on scene. Operators' and patrols' notes (`note: ...`) are
/// free text and never match. GLOB is case-sensitive, as the words are.
const ACK_EVENT: &str = "(e.what IN ('acknowledged', 'acknowledged by the patrol')
     OR e.what GLOB 'assigned to *'
     OR ((e.what GLOB '* en route' OR e.what GLOB '* on scene') AND e.what NOT GLOB 'note: *'))";
/// The audit-trail text of a team reaching the incident (`P1 on scene`).
const REACH_EVENT: &str = "(e.what GLOB '* on scene' AND e.what NOT GLOB 'note: *')";

/// The figures of `span`, computed from the records.
///
/// Transfers: the people of aid records of that kind (`hospital_transfer`,
/// `shelter_transfer`) given in the period, plus the people of incidents closed in the period
/// with the matching outcome (`transferred_hospital`, `transferred_shelter`). An incident's
/// people are counted only if no aid record of that incident (whenever given) has the kind:
/// when the desk recorded the transfer as aid too, the aid record (with its exact number of
/// people) is what counts, so the same people are never counted twice across periods either.
///
/// Times to answer: the acknowledgement is the first audit-trail event of the incident that
/// took it in hand: acknowledged (by the desk or by the patrol), assigned to a team, a team
/// en route or on scene (an incident may go from new straight to assigned; a close alone is
/// not an acknowledgement). The reach is the first `<team> on scene`. Both are the texts
/// `incident::transition` writes through `Desk::change`; there is no other record of these
/// times. Incidents opened in the period count, whenever they were answered.
pub fn compute(conn: &Connection, span: &Span) -> rusqlite::Result<Figures> {
    let rec = read(conn, span.from, span.to)?;
    let mut all = count(&rec, span.from, span.to);
    if span.by.is_some() {
        all.periods = Some(
            span.parts()
                .into_iter()
                .map(|(from, to)| count(&rec, from, to))
                .collect(),
        );
    }
    Ok(all)
}

fn read(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<Records> {
    let mut rec = Records::default();

    let mut st = conn.prepare_cached(
        "SELECT day, SUM(count) FROM orientations WHERE day >= ?1 AND day < ?2 GROUP BY day",
    )?;
    let rows = st.query_map(params![date_of(from), date_of(to)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (day, n) = row?;
        if let Ok(ms) = date_ms(&day) {
            rec.orientations.push((ms, n));
        }
    }

    let mut kinds: HashMap<i64, Vec<AidKind>> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT k.assistance, k.kind FROM assistance_kinds k JOIN assistance a ON a.id = k.assistance
         WHERE a.at >= ?1 AND a.at < ?2",
    )?;
    let rows = st.query_map(params![from, to], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, kind) = row?;
        if let Ok(k) = kind.parse::<AidKind>() {
            kinds.entry(id).or_default().push(k);
        }
    }
    let mut st = conn.prepare_cached(
        "SELECT id, at, people, COALESCE(minors, 0), COALESCE(unaccompanied_minors, 0),
                COALESCE(women, 0), COALESCE(pregnant, 0)
         FROM assistance WHERE at >= ?1 AND at < ?2",
    )?;
    let rows = st.query_map(params![from, to], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            Aid {
                at: r.get(1)?,
                people: r.get(2)?,
                minors: r.get(3)?,
                unaccompanied: r.get(4)?,
                women: r.get(5)?,
                pregnant: r.get(6)?,
                kinds: Vec::new(),
            },
        ))
    })?;
    for row in rows {
        let (id, mut aid) = row?;
        aid.kinds = kinds.remove(&id).unwrap_or_default();
        rec.aid.push(aid);
    }

    let aid_of = |kind: &str| {
        format!(
            "EXISTS (SELECT 1 FROM assistance a JOIN assistance_kinds k ON k.assistance = a.id
                     WHERE a.incident = i.id AND k.kind = '{kind}')"
        )
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT i.closed_at, i.outcome, COALESCE(i.people, 1), {}, {}
         FROM incidents i WHERE i.state = 'closed' AND i.closed_at >= ?1 AND i.closed_at < ?2",
        aid_of(AidKind::HospitalTransfer.as_str()),
        aid_of(AidKind::ShelterTransfer.as_str())
    ))?;
    let rows = st.query_map(params![from, to], |r| {
        let outcome: Option<String> = r.get(1)?;
        Ok(Closed {
            at: r.get(0)?,
            outcome: outcome.and_then(|o| Outcome::ALL.into_iter().find(|x| x.as_str() == o)),
            people: r.get(2)?,
            aid_hospital: r.get(3)?,
            aid_shelter: r.get(4)?,
        })
    })?;
    for row in rows {
        rec.closed.push(row?);
    }

    let mut st = conn.prepare_cached(&format!(
        "SELECT i.created_at, i.priority,
                (SELECT MIN(e.at) FROM events e WHERE e.incident = i.id AND {ACK_EVENT}),
                (SELECT MIN(e.at) FROM events e WHERE e.incident = i.id AND {REACH_EVENT})
         FROM incidents i WHERE i.created_at >= ?1 AND i.created_at < ?2"
    ))?;
    let rows = st.query_map(params![from, to], |r| {
        let at: i64 = r.get(0)?;
        let ack: Option<i64> = r.get(2)?;
        let reach: Option<i64> = r.get(3)?;
        Ok(Opened {
            at,
            priority: r.get(1)?,
            ack: ack.map(|t| (t - at).max(0)),
            reach: reach.map(|t| (t - at).max(0)),
        })
    })?;
    for row in rows {
        rec.opened.push(row?);
    }

    let mut st = conn
        .prepare_cached("SELECT at, category, people FROM complaints WHERE at >= ?1 AND at < ?2")?;
    let rows = st.query_map(params![from, to], |r| {
        let category: String = r.get(1)?;
        Ok((r.get(0)?, category.parse::<Category>().ok(), r.get(2)?))
    })?;
    for row in rows {
        rec.complaints.push(row?);
    }

    let mut st = conn.prepare_cached(
        "SELECT at, people_sought, found FROM location_requests WHERE at >= ?1 AND at < ?2",
    )?;
    let rows = st.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    for row in rows {
        rec.locates.push(row?);
    }
    Ok(rec)
}

/// The figures of `[from, to)` from records read for a period holding it.
fn count(rec: &Records, from: i64, to: i64) -> Figures {
    let inside = |at: i64| at >= from && at < to;
    let mut f = Figures {
        from: date_of(from),
        to: date_of(to - 1),
        oriented: 0,
        assisted: 0,
        assisted_by_kind: Counts::zero(AidKind::ALL.iter().map(|k| k.as_str())),
        rescued: 0,
        hospital_transfers: 0,
        shelter_transfers: 0,
        complaints: 0,
        complaints_by_category: Counts::zero(Category::ALL.iter().map(|c| c.as_str())),
        location_requests: LocationRequests::default(),
        incidents: Incidents {
            opened_by_priority: Counts::zero(["1", "2", "3", "4"]),
            closed_by_outcome: Counts::zero(Outcome::ALL.iter().map(|o| o.as_str())),
        },
        median_ack_secs: None,
        median_reach_secs: None,
        minors: 0,
        unaccompanied_minors: 0,
        women: 0,
        pregnant: 0,
        periods: None,
    };
    f.oriented = rec
        .orientations
        .iter()
        .filter(|(at, _)| inside(*at))
        .map(|(_, n)| n)
        .sum();
    for a in rec.aid.iter().filter(|a| inside(a.at)) {
        f.assisted += a.people;
        f.minors += a.minors;
        f.unaccompanied_minors += a.unaccompanied;
        f.women += a.women;
        f.pregnant += a.pregnant;
        for k in &a.kinds {
            f.assisted_by_kind.add(k.as_str(), a.people);
        }
    }
    f.oriented += f.assisted_by_kind.get(AidKind::Orientation.as_str());
    f.hospital_transfers = f.assisted_by_kind.get(AidKind::HospitalTransfer.as_str());
    f.shelter_transfers = f.assisted_by_kind.get(AidKind::ShelterTransfer.as_str());
    for c in rec.closed.iter().filter(|c| inside(c.at)) {
        let Some(o) = c.outcome else { continue };
        f.incidents.closed_by_outcome.add(o.as_str(), 1);
        if RESCUED.contains(&o) {
            f.rescued += c.people;
        }
        match o {
            Outcome::TransferredHospital if !c.aid_hospital => f.hospital_transfers += c.people,
            Outcome::TransferredShelter if !c.aid_shelter => f.shelter_transfers += c.people,
            _ => {}
        }
    }
    let mut acks = Vec::new();
    let mut reaches = Vec::new();
    for o in rec.opened.iter().filter(|o| inside(o.at)) {
        f.incidents
            .opened_by_priority
            .add(&o.priority.to_string(), 1);
        acks.extend(o.ack);
        reaches.extend(o.reach);
    }
    f.median_ack_secs = median(&mut acks).map(secs);
    f.median_reach_secs = median(&mut reaches).map(secs);
    for (_, category, people) in rec.complaints.iter().filter(|c| inside(c.0)) {
        f.complaints += people;
        if let Some(c) = category {
            f.complaints_by_category.add(c.as_str(), *people);
        }
    }
    for (_, sought, found) in rec.locates.iter().filter(|l| inside(l.0)) {
        f.location_requests.requests += 1;
        f.location_requests.people_sought += sought;
        f.location_requests.found += found;
    }
    f
}

/// The median (the mean of the two middle values for an even count); None when empty.
pub fn median(v: &mut [i64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let mid = v[n / 2] as f64;
    Some(if n % 2 == 1 {
        mid
    } else {
        (v[n / 2 - 1] as f64 + mid) / 2.0
    })
}

/// Milliseconds as whole seconds, rounded.
fn secs(ms: f64) -> i64 {
    (ms / 1000.0).round() as i64
}

// ----- CSV ---------------------------------------------------------------------------------

/// The figures as CSV: a header line, then one row per part of the breakdown, or one row for
/// the whole period without one. Flat columns: `assisted_<kind>`, `complaints_<category>`,
/// `opened_p1`..`opened_p4`, `closed_<outcome>`; an unknown median is an empty cell.
pub fn csv(f: &Figures) -> String {
    let rows: Vec<&Figures> = match &f.periods {
        Some(p) => p.iter().collect(),
        None => vec![f],
    };
    let mut out = String::new();
    let mut head: Vec<String> = ["from", "to", "oriented", "assisted"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    head.extend(
        f.assisted_by_kind
            .0
            .iter()
            .map(|(k, _)| format!("assisted_{k}")),
    );
    head.extend(
        [
            "rescued",
            "hospital_transfers",
            "shelter_transfers",
            "complaints",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    head.extend(
        f.complaints_by_category
            .0
            .iter()
            .map(|(k, _)| format!("complaints_{k}")),
    );
    head.extend(
        ["location_requests", "people_sought", "found"]
            .iter()
            .map(|s| s.to_string()),
    );
    head.extend(
        f.incidents
            .opened_by_priority
            .0
            .iter()
            .map(|(k, _)| format!("opened_p{k}")),
    );
    head.extend(
        f.incidents
            .closed_by_outcome
            .0
            .iter()
            .map(|(k, _)| format!("closed_{k}")),
    );
    head.extend(
        [
            "median_ack_secs",
            "median_reach_secs",
            "minors",
            "unaccompanied_minors",
            "women",
            "pregnant",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let _ = writeln!(out, "{}", head.join(","));
    for r in rows {
        let mut cells: Vec<String> = vec![
            r.from.clone(),
            r.to.clone(),
            r.oriented.to_string(),
            r.assisted.to_string(),
        ];
        cells.extend(r.assisted_by_kind.0.iter().map(|(_, n)| n.to_string()));
        cells.extend(
            [
                r.rescued,
                r.hospital_transfers,
                r.shelter_transfers,
                r.complaints,
            ]
            .iter()
            .map(i64::to_string),
        );
        cells.extend(
            r.complaints_by_category
                .0
                .iter()
                .map(|(_, n)| n.to_string()),
        );
        let l = &r.location_requests;
        cells.extend(
            [l.requests, l.people_sought, l.found]
                .iter()
                .map(i64::to_string),
        );
        cells.extend(
            r.incidents
                .opened_by_priority
                .0
                .iter()
                .map(|(_, n)| n.to_string()),
        );
        cells.extend(
            r.incidents
                .closed_by_outcome
                .0
                .iter()
                .map(|(_, n)| n.to_string()),
        );
        let opt = |v: Option<i64>| v.map_or_else(String::new, |n| n.to_string());
        cells.push(opt(r.median_ack_secs));
        cells.push(opt(r.median_reach_secs));
        cells.extend(
            [r.minors, r.unaccompanied_minors, r.women, r.pregnant]
                .iter()
                .map(i64::to_string),
        );
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(date_ms("2026-11-01").unwrap(), 1_793_491_200_000);
        assert_eq!(date_of(1_793_491_200_000), "2026-11-01");
        assert_eq!(date_of(1_793_491_200_000 - 1), "2026-10-31");
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            date_ms("2028-02-29").unwrap() + DAY_MS,
            date_ms("2028-03-01").unwrap()
        );
        assert!(date_ms("2026-02-29").is_err());
        assert_eq!(
            month_ms("2026-12").unwrap(),
            (
                date_ms("2026-12-01").unwrap(),
                date_ms("2027-01-01").unwrap()
            )
        );
        assert!(month_ms("2026-13").is_err());
        assert!(month_ms("2026-1").is_err());
        assert!(month_ms("2026-11-01").is_err());
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_in_order() {
        let first = days_from_civil(1900, 1, 1);
        let mut prev = civil_from_days(first - 1);
        for z in first..days_from_civil(2300, 1, 1) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            // The next day: the next date.
            let next = if (y, m) == (prev.0, prev.1) {
                d == prev.2 + 1
            } else {
                d == 1
                    && (m == prev.1 + 1 && y == prev.0 || m == 1 && prev.1 == 12 && y == prev.0 + 1)
            };
            assert!(next, "{prev:?} then {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }

    proptest! {
        #[test]
        fn civil_helpers_invert_each_other(z in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }

        #[test]
        fn dates_and_ms_invert_each_other(z in 0i64..2_900_000, ms in 0i64..DAY_MS) {
            let day = date_of(z * DAY_MS + ms);
            prop_assert_eq!(date_ms(&day).unwrap(), z * DAY_MS);
            prop_assert_eq!(crate::casework::parse_date(&day).unwrap(), day);
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7.0));
        assert_eq!(median(&mut [9, 1, 5]), Some(5.0));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2.5));
        assert_eq!(median(&mut [60_000, 1_000]), Some(30_500.0));
        assert_eq!(secs(30_500.0), 31);
        assert_eq!(secs(29_499.0), 29);
    }

    #[test]
    fn spans_default_check_and_break_down() {
        let now = date_ms("2026-11-17").unwrap() + 5_000;
        let s = Span::parse(None, None, None, now).unwrap();
        assert_eq!(s.from, date_ms("2026-11-01").unwrap());
        assert_eq!(s.to, date_ms("2026-11-18").unwrap());
        let s = Span::parse(Some("2026-11-30"), Some("2026-11-30"), Some("day"), now).unwrap();
        assert_eq!(s.parts().len(), 1);
        let e = Span::parse(Some("2026-12-01"), Some("2026-11-30"), None, now).unwrap_err();
        assert!(e.contains("after"), "{e}");
        assert!(Span::parse(Some("2026-13-01"), None, None, now)
            .unwrap_err()
            .contains("bad date"));
        assert!(Span::parse(None, None, Some("week"), now).is_err());
        let s = Span::parse(Some("2026-10-15"), Some("2027-01-10"), Some("month"), now).unwrap();
        let parts: Vec<(String, String)> = s
            .parts()
            .into_iter()
            .map(|(a, b)| (date_of(a), date_of(b - 1)))
            .collect();
        assert_eq!(
            parts,
            [
                ("2026-10-15".into(), "2026-10-31".into()),
                ("2026-11-01".into(), "2026-11-30".into()),
                ("2026-12-01".into(), "2026-12-31".into()),
                ("2027-01-01".into(), "2027-01-10".into()),
            ]
        );
        assert!(Span::parse(Some("2020-01-01"), Some("2026-01-01"), Some("day"), now).is_err());
    }

    #[test]
    fn figures_of_an_empty_store_are_zeros_and_csv_is_flat() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut c).unwrap();
        let span = Span::new(
            date_ms("2026-11-01").unwrap(),
            date_ms("2026-11-03").unwrap(),
            Some(By::Day),
        )
        .unwrap();
        let f = compute(&c, &span).unwrap();
        assert_eq!(f.assisted, 0);
        assert_eq!(f.median_ack_secs, None);
        assert_eq!(f.periods.as_ref().unwrap().len(), 2);
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["to"], "2026-11-02");
        assert_eq!(v["assisted_by_kind"]["water"], 0);
        assert_eq!(v["incidents"]["opened_by_priority"]["1"], 0);
        let text = csv(&f);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let cols = lines[0].split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == cols));
        assert!(
            lines[1].starts_with("2026-11-01,2026-11-01,0,0,"),
            "{}",
            lines[1]
        );
    }
}
