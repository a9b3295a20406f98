//! Incidents: `GET`/`POST /v1/incidents` (list, manual report) and `/v1/incidents/{id}`
//! (show, ack, assign, close, note, reopen, position). Every write answers with the incident
//! as it now stands ([`Detail`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::places::resolve_place;
use super::request::{incident_id, parse_body, read, Operator};
use super::{ApiError, ApiResult, Shared, MAX_LIST};
use crate::geo::Gazetteer;
use crate::incident::Outcome;
use crate::store::query::{Filter, IncidentView, TeamView};
use crate::store::{ManualReport, OperatorRequest, Refusal, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
    /// Rows to skip (paging through more than [`MAX_LIST`]).
    offset: Option<usize>,
}

pub(super) async fn list_incidents(
    State(st): State<Shared>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<IncidentView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let filter: Filter = q
        .state
        .as_deref()
        .unwrap_or("open")
        .parse()
        .map_err(ApiError::bad_request)?;
    let limit = q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let offset = q.offset.unwrap_or(0);
    Ok(Json(
        read(&st, move |r| r.incidents_page(filter, limit, offset)).await?,
    ))
}

/// An incident with its audit trail and, when it has a position, the teams by distance.
#[derive(Debug, Serialize)]
pub(super) struct Detail {
    #[serde(flatten)]
    incident: IncidentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    nearest_teams: Option<Vec<TeamView>>,
    /// The position in words, from the nearest place ("14 km NO de Sásabe, Sáric, Sonora").
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    where_: Option<String>,
    /// The same in English ("14 km NW of Sásabe, Sáric, Sonora"), for English screens.
    #[serde(skip_serializing_if = "Option::is_none")]
    where_en: Option<String>,
}

async fn detail(st: &Shared, id: String) -> ApiResult<Detail> {
    let teams = st.api.teams.clone();
    read(st, move |r| {
        let incident = r
            .incident(&id)?
            .ok_or_else(|| StoreError::from(Refusal::NotFound(format!("no incident {id}"))))?;
        let (nearest_teams, near) = match (incident.lat, incident.lon) {
            (Some(lat), Some(lon)) => (
                Some(r.teams(&teams, Some((lat, lon)))?),
                Gazetteer::builtin().nearest(lat, lon),
            ),
            _ => (None, None),
        };
        Ok(Detail {
            incident,
            nearest_teams,
            where_: near.as_ref().map(|n| n.describe("es")),
            where_en: near.as_ref().map(|n| n.describe("en")),
        })
    })
    .await
}

pub(super) async fn show(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    Ok(Json(detail(&st, id).await?))
}

/// Carries out `req` for `who` and answers with the incident as it now stands.
pub(super) async fn act(st: &Shared, who: &str, req: OperatorRequest) -> ApiResult<Detail> {
    let id = st
        .api
        .store
        .operator(who, req, st.api.clock.now_ms())
        .await?;
    detail(st, id).await
}

pub(super) async fn report(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let mut r: ManualReport = parse_body(body)?;
    if let (None, None, Some(name)) = (r.lat, r.lon, r.place.as_deref()) {
        // The caller named a place and no coordinates: the gazetteer's first match.
        let place = resolve_place(name).await?;
        r.lat = Some(place.lat);
        r.lon = Some(place.lon);
        r.place = Some(place.label());
    }
    let d = act(&st, &who, OperatorRequest::Report(r)).await?;
    let location = format!("/v1/incidents/{}", d.incident.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(d)).into_response())
}

pub(super) async fn ack(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(
        act(&st, &who, OperatorRequest::Ack(incident_id(&id)?)).await?,
    ))
}

pub(super) async fn reopen(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(
        act(&st, &who, OperatorRequest::Reopen(incident_id(&id)?)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    team: String,
}

pub(super) async fn assign(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: AssignBody = parse_body(body)?;
    Ok(Json(
        act(
            &st,
            &who,
            OperatorRequest::Assign(id, b.team.trim().to_string()),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: String,
    #[serde(default)]
    note: Option<String>,
}

pub(super) async fn close(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: CloseBody = parse_body(body)?;
    let outcome: Outcome = b
        .outcome
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{e}")))?;
    let note = b.note.filter(|n| !n.trim().is_empty());
    Ok(Json(
        act(&st, &who, OperatorRequest::Close(id, outcome, note)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

pub(super) async fn note(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: NoteBody = parse_body(body)?;
    if b.text.trim().is_empty() {
        return Err(ApiError::bad_request("the note is empty"));
    }
    Ok(Json(
        act(&st, &who, OperatorRequest::Note(id, b.text)).await?,
    ))
}

/// `POST /v1/incidents/{id}/position`: `{"lat": .., "lon": ..}` or `{"place": "Sásabe, Sonora"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionBody {
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    place: Option<String>,
}

pub(super) async fn position(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: PositionBody = parse_body(body)?;
    let (lat, lon) = match (b.lat, b.lon, b.place) {
        (Some(lat), Some(lon), None) => (lat, lon),
        (None, None, Some(name)) => {
            let p = resolve_place(&name).await?;
            (p.lat, p.lon)
        }
        (None, None, None) => {
            return Err(ApiError::bad_request("give lat and lon, or a place name"))
        }
        (_, _, Some(_)) => {
            return Err(ApiError::bad_request(
                "give lat and lon, or a place name, not both",
            ))
        }
        _ => return Err(ApiError::bad_request("give both latitude and longitude")),
    };
    Ok(Json(
        act(&st, &who, OperatorRequest::Position(id, lat, lon)).await?,
    ))
}
