//! Casework lists for the desk: aid given, complaints, disclosures. Never a personal value:
//! those are opened only by the writer, which records every showing.

use rusqlite::params;
use serde::Serialize;

use super::{Reader, Res};
use crate::store::rfc3339;

/// An assistance record, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AidView {
    /// `AID-3`.
    pub id: String,
    /// When the aid was given.
    pub at: String,
    /// The incident, if any.
    pub incident: Option<String>,
    /// Kinds of aid.
    pub kinds: Vec<String>,
    /// People helped, and of whom.
    pub people: i64,
    /// Adults.
    pub adults: Option<i64>,
    /// Minors.
    pub minors: Option<i64>,
    /// Minors travelling alone.
    pub unaccompanied_minors: Option<i64>,
    /// Women.
    pub women: Option<i64>,
    /// Pregnant women.
    pub pregnant: Option<i64>,
    /// Place name.
    pub place: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Personal records (notes included) kept for it: a count.
    pub personal_records: i64,
    /// Who recorded it.
    pub recorded_by: String,
}

/// A complaint, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplaintView {
    /// `CMP-2`.
    pub id: String,
    /// Recorded.
    pub at: String,
    /// The incident it came from.
    pub incident: Option<String>,
    /// Category.
    pub category: String,
    /// People.
    pub people: i64,
    /// When it happened.
    pub occurred_on: Option<String>,
    /// Where.
    pub place: Option<String>,
    /// Referred to (kind).
    pub referred_kind: Option<String>,
    /// Referred to (institution).
    pub referred_to: Option<String>,
    /// Status.
    pub status: String,
    /// The consent it was recorded under.
    pub consent: i64,
}

impl Reader {
    /// Aid given from `from` to `to` (unix ms), newest first, at most `limit`.
    pub fn assistance(&self, from: i64, to: i64, limit: usize) -> Res<Vec<AidView>> {
        let mut st = self.conn.prepare_cached(
            "SELECT a.id, a.at, a.incident, a.people, a.adults, a.minors, a.unaccompanied_minors,
                    a.women, a.pregnant, a.place, a.team, a.recorded_by,
                    (SELECT group_concat(kind, ',') FROM (SELECT kind FROM assistance_kinds k
                      WHERE k.assistance = a.id ORDER BY kind)),
                    (SELECT count(*) FROM personal_records p WHERE p.subject = 'AID-' || a.id)
             FROM assistance a WHERE a.at >= ?1 AND a.at < ?2 ORDER BY a.at DESC, a.id DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![from, to, limit as i64], |r| {
            Ok(AidView {
                id: format!("AID-{}", r.get::<_, i64>(0)?),
                at: rfc3339(r.get(1)?),
                incident: r.get(2)?,
                people: r.get(3)?,
                adults: r.get(4)?,
                minors: r.get(5)?,
                unaccompanied_minors: r.get(6)?,
                women: r.get(7)?,
                pregnant: r.get(8)?,
                place: r.get(9)?,
                team: r.get(10)?,
                recorded_by: r.get(11)?,
                kinds: r
                    .get::<_, Option<String>>(12)?
                    .unwrap_or_default()
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
                    .collect(),
                personal_records: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Complaints, open ones (not closed) first, newest first, at most `limit`.
    pub fn complaints(&self, limit: usize) -> Res<Vec<ComplaintView>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, at, incident, category, people, occurred_on, place, referred_kind,
                    referred_to, status, consent
             FROM complaints ORDER BY status = 'closed', at DESC, id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], |r| {
            Ok(ComplaintView {
                id: format!("CMP-{}", r.get::<_, i64>(0)?),
                at: rfc3339(r.get(1)?),
                incident: r.get(2)?,
                category: r.get(3)?,
                people: r.get(4)?,
                occurred_on: r.get(5)?,
                place: r.get(6)?,
                referred_kind: r.get(7)?,
                referred_to: r.get(8)?,
                status: r.get(9)?,
                consent: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Coordinates as the headquarters profile gives them: two decimals (about a kilometre), the
/// place of an event and never the track of a phone.
fn coarse(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 100.0).round() / 100.0)
}

impl Reader {
    /// The headquarters export of a period: the figures, and every incident, aid record,
    /// complaint and location request of the period with no personal data (no personal
    /// record, no message text, no node number, no name; positions to two decimals).
    pub fn headquarters_export(
        &self,
        station: &str,
        span: &crate::casework::stats::Span,
        now: i64,
    ) -> Res<serde_json::Value> {
        use serde_json::json;
        let figures = crate::casework::stats::compute(&self.conn, span)?;
        let (from, to) = (span.from, span.to);
        let mut st = self.conn.prepare(
            "SELECT id, kind, priority, flags, people, lat, lon, created_at, state, outcome,
                    closed_at, team, source
             FROM incidents WHERE (created_at >= ?1 AND created_at < ?2)
                               OR (closed_at >= ?1 AND closed_at < ?2)
             ORDER BY seq",
        )?;
        let incidents: Vec<serde_json::Value> = st
            .query_map(params![from, to], |r| {
                let flags: String = r.get(3)?;
                Ok(json!({
                    "id": r.get::<_, String>(0)?, "kind": r.get::<_, String>(1)?,
                    "priority": r.get::<_, i64>(2)?,
                    "flags": flags.split(',').filter(|f| !f.is_empty()).collect::<Vec<_>>(),
                    "people": r.get::<_, Option<i64>>(4)?,
                    "lat": coarse(r.get(5)?), "lon": coarse(r.get(6)?),
                    "opened_at": rfc3339(r.get(7)?), "state": r.get::<_, String>(8)?,
                    "outcome": r.get::<_, Option<String>>(9)?,
                    "closed_at": r.get::<_, Option<i64>>(10)?.map(rfc3339),
                    "team": r.get::<_, Option<String>>(11)?,
                    "source": r.get::<_, String>(12)?,
                }))
            })?
            .collect::<Result<_, _>>()?;
        let aid: Vec<serde_json::Value> = self
            .assistance(from, to, usize::MAX >> 1)?
            .into_iter()
            .map(|a| {
                json!({
                    "id": a.id, "at": a.at, "incident": a.incident, "kinds": a.kinds,
                    "people": a.people, "adults": a.adults, "minors": a.minors,
                    "unaccompanied_minors": a.unaccompanied_minors, "women": a.women,
                    "pregnant": a.pregnant, "place": a.place, "team": a.team,
                })
            })
            .collect();
        let mut st = self.conn.prepare(
            "SELECT id, at, category, people, occurred_on, referred_kind, status
             FROM complaints WHERE at >= ?1 AND at < ?2 ORDER BY id",
        )?;
        let complaints: Vec<serde_json::Value> = st
            .query_map(params![from, to], |r| {
                Ok(json!({
                    "id": format!("CMP-{}", r.get::<_, i64>(0)?), "at": rfc3339(r.get(1)?),
                    "category": r.get::<_, String>(2)?, "people": r.get::<_, i64>(3)?,
                    "occurred_on": r.get::<_, Option<String>>(4)?,
                    "referred_kind": r.get::<_, Option<String>>(5)?,
                    "status": r.get::<_, String>(6)?,
                }))
            })?
            .collect::<Result<_, _>>()?;
        let mut st = self.conn.prepare(
            "SELECT id, at, requester_kind, people_sought, place, lat, lon, state, outcome, found
             FROM location_requests WHERE at >= ?1 AND at < ?2 ORDER BY id",
        )?;
        let locate: Vec<serde_json::Value> = st
            .query_map(params![from, to], |r| {
                Ok(json!({
                    "id": format!("LOC-{}", r.get::<_, i64>(0)?), "at": rfc3339(r.get(1)?),
                    "requester_kind": r.get::<_, String>(2)?,
                    "people_sought": r.get::<_, i64>(3)?, "place": r.get::<_, Option<String>>(4)?,
                    "lat": coarse(r.get(5)?), "lon": coarse(r.get(6)?),
                    "state": r.get::<_, String>(7)?, "outcome": r.get::<_, Option<String>>(8)?,
                    "found": r.get::<_, i64>(9)?,
                }))
            })?
            .collect::<Result<_, _>>()?;
        Ok(json!({
            "faro_export": 1,
            "profile": "headquarters",
            "station": station,
            "generated_at": rfc3339(now),
            "from": crate::casework::stats::date_of(from),
            "to": crate::casework::stats::date_of(to - 86_400_000),
            "figures": figures,
            "incidents": incidents,
            "aid": aid,
            "complaints": complaints,
            "location_requests": locate,
        }))
    }
}
