//! Mesh nodes: `GET /v1/nodes` (the nodes heard) and `POST /v1/send` (a text to one of them).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use faro_proto::mesh::NodeId;
use serde::Deserialize;
use serde_json::json;

use super::request::{parse_body, read, Operator};
use super::{ApiError, ApiResult, Shared, MAX_LIST};
use crate::store::OperatorRequest;

pub(super) async fn nodes(
    State(st): State<Shared>,
) -> ApiResult<Json<Vec<crate::store::query::NodeView>>> {
    Ok(Json(read(&st, |r| r.nodes(MAX_LIST)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    /// `"!a1b2c3d4"`, `"2712847316"` or `2712847316`.
    node: serde_json::Value,
    text: String,
}

pub(super) async fn send(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let b: SendBody = parse_body(body)?;
    let node = match &b.node {
        serde_json::Value::String(s) => {
            s.parse::<NodeId>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .0
        }
        serde_json::Value::Number(n) => {
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "bad node id {n}: expected !xxxxxxxx or a 32-bit number"
                    ))
                })?
        }
        _ => {
            return Err(ApiError::bad_request(
                "node must be \"!xxxxxxxx\" or a number",
            ))
        }
    };
    if b.text.trim().is_empty() {
        return Err(ApiError::bad_request("the text is empty"));
    }
    st.api
        .store
        .operator(
            &who,
            OperatorRequest::Send(node, b.text),
            st.api.clock.now_ms(),
        )
        .await?;
    Ok(Json(json!({ "queued": true })))
}
