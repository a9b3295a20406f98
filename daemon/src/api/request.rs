//! What the handlers share to read a request: its operator (the socket peer's user, with the
//! label of its header), its JSON body,
//! an incident id from its URL, a bad input quoted back; and read-only queries on the blocking
//! pool.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::peer::{self, PeerCred};
use super::{ApiError, ApiResult, Shared};
use crate::store::query::Reader;
use crate::store::StoreError;

/// Header with the operator's own label on write requests (optional: the audit trail names
/// the socket peer's user, and keeps a label beside it when it differs; see `peer`).
pub const OPERATOR_HEADER: &str = "x-faro-operator";
/// Longest operator label accepted.
pub const MAX_OPERATOR_CHARS: usize = 40;

/// The operator of a write, as the audit trail names it: the user of the connection's peer
/// credentials, with the `X-Faro-Operator` label beside it when given and different
/// ([`peer::operator_name`]).
#[derive(Debug)]
pub(super) struct Operator(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // On the desk listener: the logged-in user (`web:<user>`), never a header's word.
        if let Some(s) = parts.extensions.get::<super::session::DeskSession>() {
            return Ok(Operator(s.operator()));
        }
        let label = match parts.headers.get(OPERATOR_HEADER) {
            None => None,
            Some(value) => Some(label(value.as_bytes())?),
        };
        // The kernel's word on who connected, never the client's.
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<PeerCred>>()
            .and_then(|c| c.0 .0)
        else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cannot tell who is calling: the connection has no peer credentials",
            ));
        };
        // The password database may be slow (NSS): off the async threads.
        let user = tokio::task::spawn_blocking(move || peer::user_name(peer.uid))
            .await
            .unwrap_or_else(|_| format!("uid:{}", peer.uid));
        Ok(Operator(peer::operator_name(&user, label.as_deref())))
    }
}

/// The `X-Faro-Operator` label: 1 to [`MAX_OPERATOR_CHARS`] printable characters (no control
/// characters, no bidirectional controls), trimmed.
fn label(raw: &[u8]) -> ApiResult<String> {
    let name = std::str::from_utf8(raw)
        .map_err(|_| ApiError::bad_request("X-Faro-Operator is not UTF-8"))?
        .trim();
    let n = name.chars().count();
    if n == 0
        || n > MAX_OPERATOR_CHARS
        || name.chars().any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(ApiError::bad_request(format!(
            "X-Faro-Operator must be 1 to {MAX_OPERATOR_CHARS} printable characters"
        )));
    }
    Ok(name.to_string())
}

/// The Unicode bidirectional controls, which reorder what a terminal shows.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Parses a JSON body with a short reason on failure (never a serde dump).
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<T> {
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    serde_json::from_slice(&body).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Data => "bad request body",
            Category::Eof if body.iter().all(u8::is_ascii_whitespace) => {
                return ApiError::bad_request("the request body is empty: expected JSON")
            }
            _ => "bad JSON",
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })
}

/// An incident id from the URL, in canonical form (`sas-7` -> `SAS-7`).
pub(super) fn incident_id(raw: &str) -> ApiResult<String> {
    crate::incident::parse_id(raw)
        .map(|id| id.to_string())
        .map_err(ApiError::bad_request)
}

/// Runs a blocking query on its own read-only connection.
pub(super) async fn read<T, F>(st: &Shared, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
{
    let path = st.api.store.path().to_path_buf();
    tokio::task::spawn_blocking(move || f(&Reader::open(&path)?))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("query failed: {e}"),
            )
        })?
        .map_err(ApiError::from)
}

/// A bad input as an error quotes it: its first 40 characters, on one line.
pub(super) fn quote(s: &str) -> String {
    s.chars()
        .take(40)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
