//! Places, from the built-in gazetteer: `GET /v1/where` (what is near a position, and the
//! nearest municipalities with an ambulance contact), `GET /v1/places` (a place by name),
//! `GET /v1/places/within` (the most populous places in a box, for the desk's map), and
//! [`resolve_place`] for a report or a position that names a place instead of coordinates.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use faro_proto::mesh::NodeId;
use serde::{Deserialize, Serialize};

use super::request::quote;
use super::{ApiError, ApiResult, Shared};
use crate::dispatch::Municipality;
use crate::geo::{BBox, Gazetteer, Place};

/// Places answered at most by `GET /v1/places`.
pub const MAX_PLACES: usize = 20;

/// Places `GET /v1/places/within` answers when the query gives no `limit`, and at most.
pub const WITHIN_DEFAULT: usize = 200;
pub const WITHIN_MAX: usize = 500;

/// Runs a gazetteer lookup on the blocking pool (the first use builds its indexes).
async fn gazetteer<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&'static Gazetteer) -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(Gazetteer::builtin()))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("place lookup failed: {e}"),
            )
        })
}

/// The gazetteer's first match for a place name, or a one-line 400.
pub(super) async fn resolve_place(name: &str) -> ApiResult<&'static Place> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("the place name is empty"));
    }
    let found = {
        let name = name.clone();
        gazetteer(move |g| g.find(&name).into_iter().next()).await?
    };
    found.ok_or_else(|| {
        ApiError::bad_request(format!(
            "no place {:?} in the gazetteer; give LAT,LON instead",
            quote(&name)
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WhereQuery {
    lat: Option<f64>,
    lon: Option<f64>,
}

/// The nearest place to a position (`place` in `/v1/where`).
#[derive(Debug, Serialize)]
struct NearPlace {
    name: String,
    municipality: Option<String>,
    state: String,
    country: &'static str,
    distance_km: f64,
    bearing_deg: f64,
    description_es: String,
    description_en: String,
}

#[derive(Debug, Serialize)]
struct MunicipalityName {
    name: String,
    state: String,
}

/// A configured municipality with an ambulance contact, by distance.
#[derive(Debug, Serialize)]
struct MunicipalityContact {
    name: String,
    state: String,
    distance_km: f64,
    nodes: Vec<String>,
    phones: Vec<String>,
    /// Reachable over the mesh (else phone only).
    mesh: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct WhereView {
    lat: f64,
    lon: f64,
    place: Option<NearPlace>,
    municipality: Option<MunicipalityName>,
    nearest_municipalities: Vec<MunicipalityContact>,
}

/// `GET /v1/where?lat=..&lon=..`.
pub(super) async fn where_is(
    State(st): State<Shared>,
    q: Result<Query<WhereQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<WhereView>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let (Some(lat), Some(lon)) = (q.lat, q.lon) else {
        return Err(ApiError::bad_request(
            "give lat and lon: /v1/where?lat=31.47463&lon=-111.54485",
        ));
    };
    if !faro_proto::mesh::valid_coordinates(lat, lon) {
        return Err(ApiError::bad_request(format!(
            "{lat},{lon} is not a position (latitude -90..90, longitude -180..180, not 0,0)"
        )));
    }
    let munis = st.api.municipalities.clone();
    let view = gazetteer(move |g| where_view(g, &munis, lat, lon)).await?;
    Ok(Json(view))
}

fn where_view(g: &Gazetteer, munis: &[Municipality], lat: f64, lon: f64) -> WhereView {
    let near = g.nearest(lat, lon);
    let place = near.map(|n| NearPlace {
        name: n.place.name.clone(),
        municipality: Some(n.place.municipality.clone()).filter(|m| !m.is_empty()),
        state: n.place.state.clone(),
        country: n.place.country,
        distance_km: round2(n.distance_km),
        bearing_deg: round2(n.bearing_deg),
        description_es: n.describe("es"),
        description_en: n.describe("en"),
    });
    let municipality =
        near.filter(|n| !n.place.municipality.is_empty())
            .map(|n| MunicipalityName {
                name: n.place.municipality.clone(),
                state: n.place.state.clone(),
            });
    let nearest_municipalities = crate::dispatch::candidates(munis, lat, lon, &[])
        .into_iter()
        .map(|c| {
            let m = &munis[c.index];
            MunicipalityContact {
                name: m.name.clone(),
                state: m.state.clone(),
                distance_km: round2(c.distance_km),
                nodes: m.nodes.iter().map(|n| NodeId(*n).to_string()).collect(),
                phones: m.phones.clone(),
                mesh: !m.nodes.is_empty(),
            }
        })
        .collect();
    WhereView {
        lat,
        lon,
        place,
        municipality,
        nearest_municipalities,
    }
}

/// Two decimals: 10 m and a hundredth of a degree are all a dispatcher needs.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlacesQuery {
    name: Option<String>,
}

/// A place found by name.
#[derive(Debug, Serialize)]
pub(super) struct PlaceView {
    name: String,
    municipality: Option<String>,
    state: String,
    country: &'static str,
    lat: f64,
    lon: f64,
    population: u32,
    /// "Sásabe, Sáric, Sonora".
    label: String,
}

/// `GET /v1/places?name=..`: up to [`MAX_PLACES`] matches, best first (exact names, then
/// prefixes, each most populous first; `, municipality` or `, state` narrows).
pub(super) async fn places(
    q: Result<Query<PlacesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<PlaceView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let name = q.name.unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("give a name: /v1/places?name=Sasabe"));
    }
    let found = gazetteer(move |g| {
        g.find(&name)
            .into_iter()
            .take(MAX_PLACES)
            .map(PlaceView::from)
            .collect()
    })
    .await?;
    Ok(Json(found))
}

impl From<&Place> for PlaceView {
    fn from(p: &Place) -> PlaceView {
        PlaceView {
            name: p.name.clone(),
            municipality: Some(p.municipality.clone()).filter(|m| !m.is_empty()),
            state: p.state.clone(),
            country: p.country,
            lat: p.lat,
            lon: p.lon,
            population: p.population,
            label: p.label(),
        }
    }
}

/// The query of `/v1/places/within`, as text: each number is read here, so a bad one is
/// named in the answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WithinQuery {
    west: Option<String>,
    south: Option<String>,
    east: Option<String>,
    north: Option<String>,
    limit: Option<String>,
}

/// One degree of the box: given, and a finite number.
fn degree(name: &str, value: Option<&str>) -> ApiResult<f64> {
    let Some(text) = value else {
        return Err(ApiError::bad_request(format!(
            "give west, south, east and north (no {name}): \
             /v1/places/within?west=-111.8&south=31.3&east=-111.3&north=31.7"
        )));
    };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "{name} {:?} is not a number of degrees",
            quote(text)
        ))),
    }
}

/// `GET /v1/places/within?west=..&south=..&east=..&north=..&limit=N`: the `limit` (default
/// [`WITHIN_DEFAULT`], at most [`WITHIN_MAX`]) most populous places in the box, most populous
/// first. A box across the antimeridian (west > east) is refused.
pub(super) async fn within(
    q: Result<Query<WithinQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<PlaceView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let west = degree("west", q.west.as_deref())?;
    let south = degree("south", q.south.as_deref())?;
    let east = degree("east", q.east.as_deref())?;
    let north = degree("north", q.north.as_deref())?;
    let bbox = BBox::new(west, south, east, north).map_err(ApiError::bad_request)?;
    let limit = match q.limit.as_deref().map(str::trim) {
        None | Some("") => WITHIN_DEFAULT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n.clamp(1, WITHIN_MAX),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "limit {:?} is not a count (1..{WITHIN_MAX})",
                    quote(text)
                )))
            }
        },
    };
    let found = gazetteer(move |g| {
        g.within(bbox, limit)
            .into_iter()
            .map(PlaceView::from)
            .collect()
    })
    .await?;
    Ok(Json(found))
}
