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
