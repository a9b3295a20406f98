//! Location requests for missing people: `GET`/`POST /v1/locate` (list, open),
//! `GET /v1/locate/{id}` (show, with its audit trail), `POST /v1/locate/{id}/task`
//! (`{"team": "P1"}`), `.../close` (`{"outcome": "found_alive", "found": 2}`), `.../reported`
//! (`{"how": "phone"}`) and `GET /v1/locate/{id}/matches` (incidents and aid near where the
//! people were last seen, consented first). `{id}` is `LOC-5` or `5`. Every write answers
//! with the request as it now stands.
//!
//! A request holds no names or descriptions: those are personal data, recorded sealed with
//! `/v1/personal` against `LOC-5`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::request::{parse_body, read, Operator};
use super::{ApiError, ApiResult, Shared, MAX_LIST};
use crate::casework::locate::{self, Candidate, LocateView};
use crate::casework::LocateOutcome;
use crate::desk::LocateRequest;
use crate::store::{OperatorRequest, Refusal, StoreError};

/// A request's number from the URL (`LOC-5`, `loc-5`, `5`).
fn locate_id(raw: &str) -> ApiResult<i64> {
    locate::parse_id(raw).map_err(ApiError::bad_request)
}

async fn view(st: &Shared, id: i64) -> ApiResult<LocateView> {
    read(st, move |r| {
        r.locate(id)?.ok_or_else(|| {
            StoreError::from(Refusal::NotFound(format!(
                "no location request {}",
                locate::name(id)
            )))
        })
    })
    .await
}

/// Carries out `req` for `who` and answers with the request as it now stands.
async fn act(st: &Shared, who: &str, req: OperatorRequest) -> ApiResult<LocateView> {
    let name = st
        .api
        .store
        .operator(who, req, st.api.clock.now_ms())
        .await?;
    view(st, locate_id(&name)?).await
}

pub(super) async fn open(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let mut r: LocateRequest = parse_body(body)?;
    if let (None, None, Some(name)) = (r.lat, r.lon, r.place.clone()) {
        // A place and no coordinates: the gazetteer's first match gives the position to
        // search around and match against; an area it does not know stays a name only.
        let found = tokio::task::spawn_blocking(move || {
            crate::geo::Gazetteer::builtin()
                .find(name.trim())
                .into_iter()
                .next()
                .map(|p| (p.lat, p.lon))
        })
        .await
        .ok()
        .flatten();
        if let Some((lat, lon)) = found {
            (r.lat, r.lon) = (Some(lat), Some(lon));
        }
    }
    let v = act(&st, &who, OperatorRequest::LocateOpen(r)).await?;
    let location = format!("/v1/locate/{}", v.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(v)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    limit: Option<usize>,
}

pub(super) async fn list(
    State(st): State<Shared>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<LocateView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let limit = q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    Ok(Json(read(&st, move |r| r.locate_list(limit)).await?))
}

pub(super) async fn show(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<LocateView>> {
    let id = locate_id(&id)?;
    Ok(Json(view(&st, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskBody {
    team: String,
}

pub(super) async fn task(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LocateView>> {
    let id = locate_id(&id)?;
    let b: TaskBody = parse_body(body)?;
    let team = b.team.trim().to_string();
    Ok(Json(
        act(&st, &who, OperatorRequest::LocateTask(id, team)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: String,
    #[serde(default)]
    found: Option<u32>,
}

pub(super) async fn close(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LocateView>> {
    let id = locate_id(&id)?;
    let b: CloseBody = parse_body(body)?;
    let outcome: LocateOutcome = b.outcome.parse().map_err(ApiError::bad_request)?;
    Ok(Json(
        act(
            &st,
            &who,
            OperatorRequest::LocateClose(id, outcome, b.found),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportedBody {
    how: String,
}

pub(super) async fn reported(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LocateView>> {
    let id = locate_id(&id)?;
    let b: ReportedBody = parse_body(body)?;
    Ok(Json(
        act(&st, &who, OperatorRequest::LocateReported(id, b.how)).await?,
    ))
}

pub(super) async fn matches(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Vec<Candidate>>> {
    let id = locate_id(&id)?;
    Ok(Json(read(&st, move |r| r.locate_matches(id)).await?))
}
