//! The conversation outside incidents: `GET /v1/messages` (texts heard and sent that belong
//! to no incident, by node and time). An incident's own conversation is in its detail
//! (`GET /v1/incidents/{id}`).

use axum::extract::{Query, State};
use axum::Json;
use faro_proto::mesh::NodeId;
use serde::Deserialize;

use super::request::{quote, read};
use super::{ApiError, ApiResult, Shared, MAX_LIST};
use crate::store::query::MessageView;

/// Messages listed when the request does not say how many.
pub const DEFAULT_MESSAGES: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesQuery {
    /// `!xxxxxxxx`: only this node's messages (from it or to it).
    node: Option<String>,
    /// RFC 3339 (`2026-05-01T10:00:00Z`): only messages from then on.
    since: Option<String>,
    /// How many at most (the latest), up to [`MAX_LIST`].
    limit: Option<usize>,
}

/// `GET /v1/messages?node=!xxxxxxxx&since=RFC3339&limit=N`: the latest messages of no
/// incident, oldest first.
pub(super) async fn messages(
    State(st): State<Shared>,
    q: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let node = q
        .node
        .as_deref()
        .map(|n| {
            n.parse::<NodeId>()
                .map(|id| id.0)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .transpose()?;
    let since = match q.since.as_deref() {
        None => 0,
        Some(s) => humantime::parse_rfc3339_weak(s)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "bad since {:?}: expected a time like 2026-05-01T10:00:00Z",
                    quote(s)
                ))
            })?,
    };
    let limit = q.limit.unwrap_or(DEFAULT_MESSAGES).clamp(1, MAX_LIST);
    Ok(Json(
        read(&st, move |r| r.loose_messages(node, since, limit)).await?,
    ))
}
