//! What the desk's map reads beside the incident and team lists: a team's recent track.

use rusqlite::params;
use serde::Serialize;

use super::{Reader, Res};
use crate::store::rfc3339;

/// One position of a team, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// When (RFC 3339).
    pub at: String,
}

impl Reader {
    /// The positions `team` reported at or after `since_ms`: the latest `limit` of them,
    /// oldest first.
    pub fn team_track(&self, team: &str, since_ms: i64, limit: usize) -> Res<Vec<TrackPoint>> {
        let mut st = self.conn.prepare_cached(
            "SELECT lat, lon, at FROM team_positions WHERE team = ?1 AND at >= ?2
             ORDER BY at DESC, id DESC LIMIT ?3",
        )?;
        let mut rows = st
            .query_map(params![team, since_ms, limit as i64], |r| {
                Ok(TrackPoint {
                    lat: r.get(0)?,
                    lon: r.get(1)?,
                    at: rfc3339(r.get(2)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }
}
