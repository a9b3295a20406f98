//! Ambulance requests: `POST /v1/incidents/{id}/ambulance` asks a municipality for an
//! ambulance, cancels the request, or records an answer given by phone.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::Json;
use serde::Deserialize;

use super::incidents::{act, Detail};
use super::request::{incident_id, parse_body, quote, Operator};
use super::{ApiError, ApiResult, Shared};
use crate::store::OperatorRequest;

/// Longest ETA an operator can record, minutes (a day).
pub const MAX_ETA_MINUTES: u32 = 24 * 60;

/// `POST /v1/incidents/{id}/ambulance`: one of
/// - `{}` or `{"municipality": "Altar"}`: ask for an ambulance (the nearest municipality with
///   a contact that was not asked yet, or the one named);
/// - `{"cancel": true}`: cancel the request in play (the municipality is told);
/// - `{"answer": "accepted", "eta_minutes": 25}` or `{"answer": "declined"}`: record the
///   answer to a phone call (a decline asks the next municipality).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmbulanceBody {
    #[serde(default)]
    municipality: Option<String>,
    #[serde(default)]
    cancel: bool,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    eta_minutes: Option<u32>,
}

impl AmbulanceBody {
    /// The store request this body asks for, or why it is not one.
    fn request(self, id: String) -> ApiResult<OperatorRequest> {
        let municipality = self
            .municipality
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        if self.eta_minutes.is_some() && self.answer.as_deref() != Some("accepted") {
            return Err(ApiError::bad_request(
                "eta_minutes goes with \"answer\": \"accepted\"",
            ));
        }
        match (self.cancel, self.answer.as_deref(), municipality) {
            (true, None, None) => Ok(OperatorRequest::AmbulanceCancel(id)),
            (true, _, _) => Err(ApiError::bad_request(
                "cancel takes no municipality or answer",
            )),
            (false, Some(_), Some(_)) => Err(ApiError::bad_request(
                "an answer is recorded for the request in play: leave out municipality",
            )),
            (false, Some("accepted"), None) => match self.eta_minutes {
                Some(m) if m > MAX_ETA_MINUTES => Err(ApiError::bad_request(format!(
                    "eta_minutes = {m}: expected 0..{MAX_ETA_MINUTES}"
                ))),
                eta => Ok(OperatorRequest::AmbulanceRecord(id, true, eta)),
            },
            (false, Some("declined"), None) => {
                Ok(OperatorRequest::AmbulanceRecord(id, false, None))
            }
            (false, Some(other), None) => Err(ApiError::bad_request(format!(
                "unknown answer {:?}: accepted or declined",
                quote(other)
            ))),
            (false, None, municipality) => Ok(OperatorRequest::Ambulance(id, municipality)),
        }
    }
}

pub(super) async fn ambulance(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    // An empty body is the plain request (`{}`).
    let b: AmbulanceBody = match &body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => AmbulanceBody::default(),
        _ => parse_body(body)?,
    };
    Ok(Json(act(&st, &who, b.request(id)?).await?))
}
