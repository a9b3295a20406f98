//! The station's figures ([`crate::casework::stats`]), computed from the records at each
//! request:
//! - `GET /v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD&by=day|month&format=json|csv`: `to` is
//!   inclusive; by default from the first day of this month (UTC) to today; JSON unless
//!   `format=csv`;
//! - `GET /v1/report?month=YYYY-MM`: the monthly report for the station head, one printable
//!   HTML page (this month by default).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::request::{quote, read};
use super::{ApiError, ApiResult, Shared};
use crate::casework::stats::{self, By, Span};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsQuery {
    /// First day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day, inclusive.
    to: Option<String>,
    /// `day` or `month`.
    by: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The figures of a period.
pub(super) async fn stats(
    State(st): State<Shared>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {:?}: expected json or csv",
                quote(other)
            )))
        }
    };
    let span = Span::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.by.as_deref(),
        st.api.clock.now_ms(),
    )
    .map_err(ApiError::bad_request)?;
    let f = read(&st, move |r| r.figures(&span)).await?;
    Ok(if csv {
        ([(CONTENT_TYPE, "text/csv; charset=utf-8")], stats::csv(&f)).into_response()
    } else {
        Json(f).into_response()
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportQuery {
    /// `YYYY-MM`.
    month: Option<String>,
}

/// The monthly report, as HTML.
pub(super) async fn report(
    State(st): State<Shared>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let now = st.api.clock.now_ms();
    let (from, to) = match q.month.as_deref() {
        Some(m) => stats::month_ms(m).map_err(ApiError::bad_request)?,
        None => {
            let from = stats::month_start(now);
            (from, stats::next_month(from))
        }
    };
    let span = Span::new(from, to, Some(By::Day)).map_err(ApiError::bad_request)?;
    let f = read(&st, move |r| r.figures(&span)).await?;
    let page = crate::casework::report::monthly(&st.api.station, &f, &crate::store::rfc3339(now));
    Ok(([(CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}
