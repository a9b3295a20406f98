//! Casework (docs/PRIVACY.md): consents, personal records, notes, aid given, complaints and
//! their referrals, disclosures, and the data key.
//!
//! - `POST /v1/consents` `{subject, given_by, purposes}`; `POST /v1/consents/{id}/withdraw`
//! - `POST /v1/personal` `{subject, field, value, consent}`; `POST /v1/personal/{subject}/show`
//!   (a write: every showing is on the record); `POST /v1/personal/{subject}/erase`
//! - `POST /v1/notes` `{subject, text}`
//! - `POST /v1/assist`, `GET /v1/assist?days=N`
//! - `POST /v1/complaints`, `GET /v1/complaints`, `POST /v1/complaints/{id}/refer` `{to}`,
//!   `POST /v1/complaints/{id}/status` `{status}`, `GET /v1/referrals`
//! - `POST /v1/disclose` `{subject, recipient_kind, recipient, reason, fields?}`: the export,
//!   recorded with its SHA-256
//! - `POST /v1/wipe-key` `{confirm}`: the station code, typed again
//!
//! Bodies carry personal data: they are never logged (the server logs method, path, status).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::request::{parse_body, read, Operator};
use super::{ApiError, ApiResult, Shared};
use crate::casework::request::{Assist, CaseRequest, Disclosure, NewComplaint, Referral};
use crate::casework::{parse_list, Subject};
use crate::store::query::{AidView, ComplaintView};

/// Complaints or aid records listed at most.
pub const MAX_CASES: usize = 1000;

async fn case(st: &Shared, who: &str, req: CaseRequest) -> ApiResult<Json<Value>> {
    let at = st.api.clock.now_ms();
    Ok(Json(st.api.store.casework(who, req, at).await?))
}

fn subject(s: &str) -> ApiResult<Subject> {
    s.parse().map_err(ApiError::bad_request)
}

fn word<T: std::str::FromStr<Err = String>>(s: &str) -> ApiResult<T> {
    s.parse().map_err(ApiError::bad_request)
}

/// A list given as a JSON array of words or one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Words {
    One(String),
    Many(Vec<String>),
}

impl Words {
    fn parse<T: std::str::FromStr<Err = String> + PartialEq + Copy>(&self) -> ApiResult<Vec<T>> {
        let joined = match self {
            Words::One(s) => s.clone(),
            Words::Many(v) => v.join(","),
        };
        parse_list(&joined).map_err(ApiError::bad_request)
    }
}

fn record_id(raw: &str, want: fn(i64) -> Subject) -> ApiResult<i64> {
    let s = subject(raw)?;
    let n = match (&s, want(0)) {
        (Subject::Complaint(n), Subject::Complaint(_)) => *n,
        (Subject::Aid(n), Subject::Aid(_)) => *n,
        (Subject::Locate(n), Subject::Locate(_)) => *n,
        _ => {
            return Err(ApiError::bad_request(format!(
                "{s} is not a {}",
                want(0).to_string().trim_end_matches("-0")
            )))
        }
    };
    Ok(n)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsentBody {
    subject: String,
    given_by: String,
    purposes: Words,
}

pub(super) async fn consent(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: ConsentBody = parse_body(body)?;
    let req = CaseRequest::Consent {
        subject: subject(&b.subject)?,
        given_by: word(&b.given_by)?,
        purposes: b.purposes.parse()?,
    };
    case(&st, &who, req).await
}

pub(super) async fn withdraw(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let consent: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!("bad consent id {:?}", super::request::quote(&id)))
    })?;
    case(&st, &who, CaseRequest::Withdraw { consent }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PersonalBody {
    subject: String,
    field: String,
    value: String,
    consent: i64,
}

pub(super) async fn personal_add(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: PersonalBody = parse_body(body)?;
    let req = CaseRequest::PersonalAdd {
        subject: subject(&b.subject)?,
        field: word(&b.field)?,
        value: b.value,
        consent: b.consent,
    };
    case(&st, &who, req).await
}

pub(super) async fn personal_show(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(s): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let req = CaseRequest::PersonalShow {
        subject: subject(&s)?,
    };
    case(&st, &who, req).await
}

pub(super) async fn personal_erase(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(s): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let req = CaseRequest::Erase {
        subject: subject(&s)?,
    };
    case(&st, &who, req).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteBody {
    subject: String,
    text: String,
}

pub(super) async fn note(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: NoteBody = parse_body(body)?;
    let req = CaseRequest::Note {
        subject: subject(&b.subject)?,
        text: b.text,
    };
    case(&st, &who, req).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssistBody {
    incident: Option<String>,
    /// RFC 3339; None: now.
    at: Option<String>,
    kinds: Words,
    people: u32,
    adults: Option<u32>,
    minors: Option<u32>,
    unaccompanied_minors: Option<u32>,
    women: Option<u32>,
    pregnant: Option<u32>,
    place: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    team: Option<String>,
    note: Option<String>,
}

fn position(lat: Option<f64>, lon: Option<f64>) -> ApiResult<Option<(f64, f64)>> {
    match (lat, lon) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err(ApiError::bad_request("give both latitude and longitude")),
    }
}

fn time(s: &str) -> ApiResult<i64> {
    humantime::parse_rfc3339_weak(s.trim())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "bad time {:?}: expected 2026-11-30T14:00:00Z",
                super::request::quote(s)
            ))
        })
}

pub(super) async fn assist(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: AssistBody = parse_body(body)?;
    let incident = match &b.incident {
        Some(i) => Some(super::request::incident_id(i)?),
        None => None,
    };
    let a = Assist {
        incident,
        at: b.at.as_deref().map(time).transpose()?,
        kinds: b.kinds.parse()?,
        people: b.people,
        adults: b.adults,
        minors: b.minors,
        unaccompanied_minors: b.unaccompanied_minors,
        women: b.women,
        pregnant: b.pregnant,
        place: b.place,
        position: position(b.lat, b.lon)?,
        team: b.team,
        note: b.note,
    };
    case(&st, &who, CaseRequest::Assist(a)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DaysQuery {
    days: Option<u32>,
}

pub(super) async fn assist_list(
    State(st): State<Shared>,
    q: Result<Query<DaysQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AidView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let days = q.days.unwrap_or(30);
    if !(1..=3660).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days = {days}: must be 1..=3660"
        )));
    }
    let now = st.api.clock.now_ms();
    let from = now - i64::from(days) * 86_400_000;
    Ok(Json(
        read(&st, move |r| r.assistance(from, now + 60_000, MAX_CASES)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComplaintBody {
    from: Option<String>,
    category: String,
    people: Option<u32>,
    occurred_on: Option<String>,
    place: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    given_by: String,
    purposes: Words,
    account: Option<String>,
}

pub(super) async fn complaint(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: ComplaintBody = parse_body(body)?;
    let c = NewComplaint {
        from: b.from.as_deref().map(subject).transpose()?,
        category: word(&b.category)?,
        people: b.people.unwrap_or(1),
        occurred_on: b.occurred_on,
        place: b.place,
        position: position(b.lat, b.lon)?,
        given_by: word(&b.given_by)?,
        purposes: b.purposes.parse()?,
        account: b.account,
    };
    case(&st, &who, CaseRequest::Complaint(c)).await
}

pub(super) async fn complaints(State(st): State<Shared>) -> ApiResult<Json<Vec<ComplaintView>>> {
    Ok(Json(read(&st, |r| r.complaints(MAX_CASES)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReferBody {
    to: String,
}

pub(super) async fn refer(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let complaint = record_id(&id, Subject::Complaint)?;
    let b: ReferBody = parse_body(body)?;
    case(
        &st,
        &who,
        CaseRequest::Refer {
            complaint,
            to: b.to,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    status: String,
}

pub(super) async fn complaint_status(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let complaint = record_id(&id, Subject::Complaint)?;
    let b: StatusBody = parse_body(body)?;
    let req = CaseRequest::ComplaintStatus {
        complaint,
        status: word(&b.status)?,
    };
    case(&st, &who, req).await
}

pub(super) async fn referrals(State(st): State<Shared>) -> Json<Vec<Referral>> {
    Json(st.api.referrals.clone())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscloseBody {
    subject: String,
    recipient_kind: String,
    recipient: String,
    reason: String,
    fields: Option<Words>,
}

pub(super) async fn disclose(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: DiscloseBody = parse_body(body)?;
    let d = Disclosure {
        subject: subject(&b.subject)?,
        recipient_kind: word(&b.recipient_kind)?,
        recipient: b.recipient,
        reason: b.reason,
        fields: b.fields.as_ref().map(Words::parse).transpose()?,
    };
    case(&st, &who, CaseRequest::Disclose(d)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WipeBody {
    confirm: String,
}

pub(super) async fn wipe_key(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: WipeBody = parse_body(body)?;
    case(&st, &who, CaseRequest::WipeKey { confirm: b.confirm }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    profile: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/export?profile=headquarters&from=&to=`: what headquarters may have of a period.
/// A single case's export (consulate, authority, relative, municipality) is a disclosure:
/// `POST /v1/disclose`, recorded.
pub(super) async fn export(
    State(st): State<Shared>,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    match q.profile.as_deref().map(str::trim) {
        None | Some("headquarters" | "hq") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "profile {:?}: only headquarters is exported in bulk; a case goes to a consulate, an authority, a relative or a municipality with `disclose`, which records it",
                super::request::quote(other)
            )))
        }
    }
    let now = st.api.clock.now_ms();
    let span = crate::casework::stats::Span::parse(q.from.as_deref(), q.to.as_deref(), None, now)
        .map_err(ApiError::bad_request)?;
    let station = st.api.station.clone();
    Ok(Json(
        read(&st, move |r| r.headquarters_export(&station, &span, now)).await?,
    ))
}
