//! `GET /v1/orientations?days=N`: the orientations the station gave (answers to questions
//! about water, where one is, rights, risks, waiting, what to ask), counted per UTC day, topic
//! and language. Counts only: who asked is in the conversation.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::request::read;
use super::{ApiError, ApiResult, Shared};
use crate::store::query::OrientationView;

/// Days listed when the request does not say.
pub const DEFAULT_DAYS: u32 = 30;
/// The most days one request lists.
pub const MAX_DAYS: u32 = 3660;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrientationsQuery {
    /// Today and this many days back, minus one (1: today only).
    days: Option<u32>,
}

/// The counts of the last `days` UTC days (today included), oldest first.
pub(super) async fn orientations(
    State(st): State<Shared>,
    q: Result<Query<OrientationsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<OrientationView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days = {days}: must be 1..={MAX_DAYS}"
        )));
    }
    let first = st.api.clock.now_ms() - i64::from(days - 1) * 86_400_000;
    // rfc3339 starts with the UTC day: YYYY-MM-DD.
    let since = crate::store::rfc3339(first)[..10].to_string();
    Ok(Json(read(&st, move |r| r.orientations(&since)).await?))
}
