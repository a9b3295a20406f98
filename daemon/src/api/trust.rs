//! Keys and unproven answers: `GET /v1/keys/{node}` (the key the station's radio holds for a
//! node, and the keys pinned and enrolled for it), `POST /v1/keys` (enrol a key for a patrol's
//! or municipality's node, as the operator confirmed it against the radio), `GET /v1/answers`
//! (answers of municipalities without PKI awaiting confirmation) and
//! `POST /v1/answers/{id}/confirm` or `/reject`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use faro_proto::mesh::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::request::{parse_body, read, Operator};
use super::{ApiError, ApiResult, Shared};
use crate::store::query::{EnrolledView, PendingAnswerView};
use crate::store::OperatorRequest;
use crate::trust::PublicKey;

/// A key and its fingerprint.
#[derive(Debug, Serialize)]
pub(super) struct KeyView {
    key: String,
    fingerprint: String,
}

impl From<PublicKey> for KeyView {
    fn from(k: PublicKey) -> KeyView {
        KeyView {
            key: k.to_string(),
            fingerprint: k.fingerprint(),
        }
    }
}

/// What the station knows of one node's key.
#[derive(Debug, Serialize)]
pub(super) struct NodeKeysView {
    node: String,
    /// The key the station's radio holds for it (what an operator compares), if any.
    held: Option<KeyView>,
    /// Who it is to the station (`team P1`, `municipality Sáric`), if anyone.
    holder: Option<String>,
    /// Keys the configuration pins for it.
    pinned: Vec<KeyView>,
    /// Keys enrolled at the desk for it.
    enrolled: Vec<EnrolledView>,
}

fn node(s: &str) -> Result<u32, ApiError> {
    s.parse::<NodeId>()
        .map(|n| n.0)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

pub(super) async fn keys(
    State(st): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<NodeKeysView>> {
    let n = node(&id)?;
    let (held, enrolled) = read(&st, move |r| Ok((r.node_key(n)?, r.enrolled(n)?))).await?;
    let team = st.api.teams.iter().find(|t| t.nodes.contains(&n));
    let muni = st.api.municipalities.iter().find(|m| m.nodes.contains(&n));
    let holder = team
        .map(|t| format!("team {}", t.name))
        .or_else(|| muni.map(|m| format!("municipality {}", m.name)));
    let pinned = team
        .map(|t| t.keys.clone())
        .or_else(|| muni.map(|m| m.keys.clone()))
        .unwrap_or_default();
    Ok(Json(NodeKeysView {
        node: NodeId(n).to_string(),
        held: held.map(KeyView::from),
        holder,
        pinned: pinned.into_iter().map(KeyView::from).collect(),
        enrolled,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollBody {
    /// `team` or `municipality`.
    kind: String,
    /// Its name.
    name: String,
    /// `!xxxxxxxx`.
    node: String,
    /// The key the operator confirmed (base64); absent: the one the radio holds.
    key: Option<String>,
}

pub(super) async fn enroll(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let b: EnrollBody = parse_body(body)?;
    let n = node(&b.node)?;
    let key = b
        .key
        .as_deref()
        .map(|k| {
            k.parse::<PublicKey>()
                .map_err(|e| ApiError::bad_request(format!("key: {e}")))
        })
        .transpose()?;
    st.api
        .store
        .operator(
            &who,
            OperatorRequest::Enroll {
                kind: b.kind,
                name: b.name,
                node: n,
                key,
            },
            st.api.clock.now_ms(),
        )
        .await?;
    let held = read(&st, move |r| r.node_key(n)).await?;
    Ok(Json(json!({
        "node": NodeId(n).to_string(),
        "enrolled": held.map(|k| json!({"key": k.to_string(), "fingerprint": k.fingerprint()})),
    })))
}

pub(super) async fn answers(State(st): State<Shared>) -> ApiResult<Json<Vec<PendingAnswerView>>> {
    Ok(Json(read(&st, |r| r.pending_answers()).await?))
}

async fn decide(
    st: Shared,
    who: String,
    id: &str,
    confirm: bool,
) -> ApiResult<Json<serde_json::Value>> {
    let row: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "bad answer id {:?}: a number",
            super::request::quote(id)
        ))
    })?;
    st.api
        .store
        .operator(
            &who,
            OperatorRequest::Answer(row, confirm),
            st.api.clock.now_ms(),
        )
        .await?;
    Ok(Json(
        json!({ "id": row, "state": if confirm { "confirmed" } else { "rejected" } }),
    ))
}

pub(super) async fn confirm(
    State(st): State<Shared>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    decide(st, who, &id, true).await
}

pub(super) async fn reject(
    State(st): State<Shared>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    decide(st, who, &id, false).await
}
