//! What the handlers share to read a request: the operator named in its header, its JSON body,
//! an incident id from its URL, a bad input quoted back; and read-only queries on the blocking
//! pool.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::{ApiError, ApiResult, Shared};
use crate::store::query::Reader;
use crate::store::StoreError;

/// Header naming the operator on write requests (kept in the audit trail).
pub const OPERATOR_HEADER: &str = "x-faro-operator";
/// Longest operator name accepted.
pub const MAX_OPERATOR_CHARS: usize = 40;

/// The operator named in `X-Faro-Operator` (required on writes).
#[derive(Debug)]
pub(super) struct Operator(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(OPERATOR_HEADER) else {
            return Err(ApiError::bad_request(
                "say who you are: header X-Faro-Operator is missing",
            ));
        };
        let name = std::str::from_utf8(value.as_bytes())
            .map_err(|_| ApiError::bad_request("X-Faro-Operator is not UTF-8"))?
            .trim();
        let n = name.chars().count();
        if n == 0 || n > MAX_OPERATOR_CHARS || name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "X-Faro-Operator must be 1 to {MAX_OPERATOR_CHARS} printable characters"
            )));
        }
        Ok(Operator(name.to_string()))
    }
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
