//! `GET /v1/map`: what the desk's map draws, in one read-only answer (every role may read it,
//! the auditor included):
//!
//! ```json
//! {"station": {"code": "SAS", "name": "Casa del Migrante", "lat": 31.47, "lon": -111.54},
//!  "incidents": [{"id": "SAS-1", "priority": 1, "kind": "heat", "state": "new",
//!                 "people": 3, "team": null, "lat": 31.47, "lon": -111.54,
//!                 "last_heard_at": "…"}],
//!  "teams": [{"name": "P1", "status": "ok", "lat": 31.5, "lon": -111.6,
//!             "last_position_at": "…", "assigned": ["SAS-1"],
//!             "battery": {"level": 87, "powered": false, "voltage": 3.91, "at": "…",
//!                         "node": "!5a5a0101"},
//!             "track": [{"lat": 31.49, "lon": -111.61, "at": "…"}]}],
//!  "towers": [{"name": "Torre El Sásabe", "lat": 31.48, "lon": -111.55}],
//!  "municipalities": [{"name": "Sáric", "state": "Sonora", "lat": 31.1, "lon": -111.4}],
//!  "search_areas": [{"id": "LOC-2", "lat": 31.4, "lon": -111.7, "radius_km": 5.0,
//!                    "people": 2, "state": "open", "team": null}]}
//! ```
//!
//! - `incidents`: the open ones with a position (at most [`MAX_LIST`]);
//! - `teams`: every configured team with its status as the store computes it (`ok`, `stale`,
//!   `lost`, `unknown`), its last position, its `battery` as `/v1/teams` has it (null when
//!   none of its nodes sent one; `level` 101 and `powered` true: on external power), and its
//!   `track`: the positions of the last
//!   [`TRACK_HOURS`] hours, at most [`TRACK_POINTS`], oldest first;
//! - `towers`: the configured towers with a panic button; `municipalities`: the configured
//!   ones with an ambulance contact, at their seats;
//! - `search_areas`: the location requests not closed that have a position.
//!
//! - `station`: its code, name and position (`[station] lat`, `lon`; null when not set).
//!
//! No personal data: no node names, no message or note text, no phone numbers, no requester.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::request::read;
use super::{ApiResult, Shared, MAX_LIST};
use crate::store::query::{BatteryView, Filter, TrackPoint};

/// What the map shows that is configured rather than recorded.
#[derive(Debug, Clone, Default)]
pub struct MapConfig {
    /// The station itself.
    pub station: StationPlace,
    /// Towers with a panic button, by name.
    pub towers: Vec<crate::ingest::Tower>,
}

/// The station's name and, if configured (`[station] lat`, `lon`), its position.
#[derive(Debug, Clone, Default)]
pub struct StationPlace {
    /// Shown to operators.
    pub name: String,
    /// Latitude and longitude, degrees.
    pub position: Option<(f64, f64)>,
}

/// A team's track covers this many hours back from now.
pub const TRACK_HOURS: i64 = 6;
/// Positions per team's track at most.
pub const TRACK_POINTS: usize = 50;

#[derive(Debug, Serialize)]
pub(super) struct MapView {
    station: StationPin,
    incidents: Vec<IncidentPin>,
    teams: Vec<TeamPin>,
    towers: Vec<Pin>,
    municipalities: Vec<MunicipalityPin>,
    search_areas: Vec<SearchArea>,
}

#[derive(Debug, Serialize)]
struct StationPin {
    code: String,
    name: String,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Debug, Serialize)]
struct IncidentPin {
    id: String,
    priority: u8,
    kind: String,
    state: String,
    people: Option<u32>,
    team: Option<String>,
    lat: f64,
    lon: f64,
    last_heard_at: String,
}

#[derive(Debug, Serialize)]
struct TeamPin {
    name: String,
    status: String,
    lat: Option<f64>,
    lon: Option<f64>,
    last_position_at: Option<String>,
    assigned: Vec<String>,
    battery: Option<BatteryView>,
    track: Vec<TrackPoint>,
}

#[derive(Debug, Serialize)]
struct Pin {
    name: String,
    lat: f64,
    lon: f64,
}

#[derive(Debug, Serialize)]
struct MunicipalityPin {
    name: String,
    state: String,
    lat: f64,
    lon: f64,
}

#[derive(Debug, Serialize)]
struct SearchArea {
    id: String,
    lat: f64,
    lon: f64,
    radius_km: f64,
    people: u32,
    state: String,
    team: Option<String>,
}

pub(super) async fn map(State(st): State<Shared>) -> ApiResult<Json<MapView>> {
    let teams = st.api.teams.clone();
    let since = st.api.clock.now_ms() - TRACK_HOURS * 3_600_000;
    let (incidents, teams, search_areas) = read(&st, move |r| {
        let incidents = r
            .incidents(Filter::Open, MAX_LIST)?
            .into_iter()
            .filter_map(|i| {
                Some(IncidentPin {
                    lat: i.lat?,
                    lon: i.lon?,
                    id: i.id,
                    priority: i.priority,
                    kind: i.kind,
                    state: i.state,
                    people: i.people,
                    team: i.team,
                    last_heard_at: i.last_heard_at,
                })
            })
            .collect::<Vec<_>>();
        let mut pins = Vec::new();
        for t in r.teams(&teams, None)? {
            let track = r.team_track(&t.name, since, TRACK_POINTS)?;
            pins.push(TeamPin {
                name: t.name,
                status: t.status,
                lat: t.lat,
                lon: t.lon,
                last_position_at: t.last_position_at,
                assigned: t.assigned,
                battery: t.battery,
                track,
            });
        }
        let areas = r
            .locate_list(MAX_LIST)?
            .into_iter()
            .filter(|l| l.state != "closed")
            .filter_map(|l| {
                Some(SearchArea {
                    lat: l.lat?,
                    lon: l.lon?,
                    id: l.id,
                    radius_km: l.radius_km,
                    people: l.people_sought,
                    state: l.state,
                    team: l.team,
                })
            })
            .collect::<Vec<_>>();
        Ok((incidents, pins, areas))
    })
    .await?;
    let towers = st
        .api
        .map
        .towers
        .iter()
        .map(|t| Pin {
            name: t.name.clone(),
            lat: t.lat,
            lon: t.lon,
        })
        .collect();
    let municipalities = st
        .api
        .municipalities
        .iter()
        .map(|m| MunicipalityPin {
            name: m.name.clone(),
            state: m.state.clone(),
            lat: m.lat,
            lon: m.lon,
        })
        .collect();
    Ok(Json(MapView {
        station: StationPin {
            code: st.api.station.clone(),
            name: st.api.map.station.name.clone(),
            lat: st.api.map.station.position.map(|p| p.0),
            lon: st.api.map.station.position.map(|p| p.1),
        },
        incidents,
        teams,
        towers,
        municipalities,
        search_areas,
    }))
}
