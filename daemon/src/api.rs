//! The control socket: HTTP/JSON on a Unix socket for `faroctl` (DESIGN.md §7). It owns the
//! socket file and nothing else: reads go through read-only [`Reader`] connections on the
//! blocking pool, writes through the [`Store`] handle, which answers only after its
//! transaction committed. Access control is the file mode (0660) and the directory's group.
//!
//! Every error is `{"error": "<one line>"}` with a status a script can branch on: 400 for a
//! malformed request, 404 for an unknown incident or route, 409 for a refusal (an illegal
//! transition, an unknown team), 503 when the database cannot answer. Logs carry the method,
//! path and status only: request bodies hold personal data and never reach the journal.
//!
//! Places: positions are described with the built-in gazetteer ([`Gazetteer`]): `where` answers
//! "what is near this position, and which municipalities with an ambulance contact are
//! nearest", `places` finds a place a caller named, and a report or a position may name a
//! place instead of coordinates (its first match is taken; no match is a 400).

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use faro_proto::mesh::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

use crate::clock::Clock;
use crate::dispatch::Municipality;
use crate::geo::{Gazetteer, Place};
use crate::incident::Outcome;
use crate::radio::link::{LinkHandle, LinkState};
use crate::store::query::{Counts, Filter, IncidentView, Reader, TeamView};
use crate::store::{
    rfc3339, EventView, ManualReport, OperatorRequest, Store, StoreError, TeamConfig,
};

/// Header naming the operator on write requests (kept in the audit trail).
pub const OPERATOR_HEADER: &str = "x-faro-operator";
/// Longest operator name accepted.
pub const MAX_OPERATOR_CHARS: usize = 40;
/// Largest request body (a manual report is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Incidents listed at most per request.
pub const MAX_LIST: usize = 1000;
/// Places answered at most by `GET /v1/places`.
pub const MAX_PLACES: usize = 20;
/// Longest ETA an operator can record, minutes (a day).
pub const MAX_ETA_MINUTES: u32 = 24 * 60;
/// Audit events read from the database per page of an event stream's backlog.
const BACKLOG_PAGE: usize = 500;
/// Lines waiting for a slow event watcher before the feeder waits.
const STREAM_QUEUE: usize = 64;
/// An event watcher that reads nothing for this long is dropped.
const STREAM_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Event streams carry `{"keepalive": ...}` this often so clients can tell a quiet station
/// from a dead daemon.
pub const KEEPALIVE: Duration = Duration::from_secs(20);
/// After shutdown is asked, requests in flight get this long before the server stops anyway.
const DRAIN: Duration = Duration::from_secs(5);

/// What the control socket serves from. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The writer.
    pub store: Store,
    /// Station code.
    pub station: String,
    /// Configured patrol teams.
    pub teams: Vec<TeamConfig>,
    /// The radios, for status.
    pub radios: Vec<LinkHandle>,
    /// Time for operator requests.
    pub clock: Clock,
    /// Municipalities with ambulance contacts (for `where` and requests).
    pub municipalities: Vec<crate::dispatch::Municipality>,
}

/// The state handlers see: the caller's, plus the server's stop signal (event streams end on it).
#[derive(Debug, Clone)]
struct Shared {
    api: ApiState,
    stop: Arc<watch::Sender<bool>>,
}

/// Binds `path` (replacing a stale socket, never a live one or another kind of file), then
/// serves until `shutdown` resolves. Bind failures return before serving, naming the path.
pub async fn serve(
    path: &Path,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = bind(path).await?;
    serve_bound(listener, path, state, shutdown).await
}

/// [`serve`] on a socket already bound by [`bind`] (`farod run` binds before it says READY,
/// so a socket it cannot bind fails the start instead of leaving the station unreachable).
pub async fn serve_bound(
    listener: tokio::net::UnixListener,
    path: &Path,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = Arc::new(watch::channel(false).0);
    let app = router_with(state, stop.clone());
    tracing::info!(socket = %path.display(), "control socket listening");
    let signal = stop.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        signal.send_replace(true);
    });
    let mut stopped = stop.subscribe();
    let result = tokio::select! {
        r = server.into_future() => r,
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(DRAIN).await;
        } => {
            tracing::warn!("control socket: requests still open after {DRAIN:?}; stopping anyway");
            Ok(())
        }
    };
    let _ = std::fs::remove_file(path);
    result
}

/// Binds the control socket at `path` (replacing a stale one) with mode 0660.
pub async fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let fail = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the directory of", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another farod is listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path).map_err(|e| fail("cannot remove the stale socket", e))?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(_) => {}
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| fail("cannot listen on", e))?;
    // The socket is born with the umask's mode; the runtime directory (0750, group farod)
    // already keeps others out until this narrows the socket itself to the group.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| fail("cannot set the mode of", e))?;
    Ok(listener)
}

/// The routes, for serving on any listener (tests, a future TCP debug port). Event streams
/// served by this router end only when their client goes away.
pub fn router(state: ApiState) -> Router {
    router_with(state, Arc::new(watch::channel(false).0))
}

fn router_with(state: ApiState, stop: Arc<watch::Sender<bool>>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/incidents", get(list_incidents).post(report))
        .route("/v1/incidents/{id}", get(show))
        .route("/v1/incidents/{id}/ack", post(ack))
        .route("/v1/incidents/{id}/assign", post(assign))
        .route("/v1/incidents/{id}/close", post(close))
        .route("/v1/incidents/{id}/note", post(note))
        .route("/v1/incidents/{id}/reopen", post(reopen))
        .route("/v1/incidents/{id}/ambulance", post(ambulance))
        .route("/v1/incidents/{id}/position", post(position))
        .route("/v1/where", get(where_is))
        .route("/v1/places", get(places))
        .route("/v1/teams", get(teams))
        .route("/v1/nodes", get(nodes))
        .route("/v1/events", get(events))
        .route("/v1/send", post(send))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(log_request))
        .with_state(Shared { api: state, stop })
}

// ----- errors -------------------------------------------------------------------------

/// An error answer: a status and one line.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message: String = message.into();
        // One line, always: a multi-line reason would break faroctl's contract.
        let message = message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError { status, message }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(m) if m.starts_with("no incident") => {
                Self::new(StatusCode::NOT_FOUND, m)
            }
            StoreError::Refused(m) => Self::new(StatusCode::CONFLICT, m),
            e @ (StoreError::Db(_) | StoreError::Stopped) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Method, path and status: never bodies or query strings (they may hold personal data).
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let res = next.run(req).await;
    let (status, ms) = (res.status().as_u16(), started.elapsed().as_millis() as u64);
    if method == Method::GET && res.status().is_success() {
        tracing::debug!(%method, %path, status, ms, "api");
    } else {
        tracing::info!(%method, %path, status, ms, "api");
    }
    res
}

// ----- request pieces -----------------------------------------------------------------

/// The operator named in `X-Faro-Operator` (required on writes).
#[derive(Debug)]
struct Operator(String);

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
fn parse_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
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
fn incident_id(raw: &str) -> ApiResult<String> {
    crate::incident::parse_id(raw)
        .map(|id| id.to_string())
        .map_err(ApiError::bad_request)
}

/// Runs a blocking query on its own read-only connection.
async fn read<T, F>(st: &Shared, f: F) -> ApiResult<T>
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

// ----- reads --------------------------------------------------------------------------

/// One radio in `/v1/status`.
#[derive(Debug, Serialize)]
struct RadioView {
    name: String,
    state: &'static str,
    node: Option<String>,
    last_error: Option<String>,
    connects: u64,
    queue_free: Option<u32>,
    frames: u64,
    malformed: u64,
    /// Low-value packets (telemetry, range tests...) dropped because the event queue was full.
    dropped: u64,
}

#[derive(Debug, Serialize)]
struct StatusView {
    station: String,
    version: &'static str,
    time: String,
    /// Why the database refused the last transaction (locked, full, read-only); null when
    /// it commits.
    database_error: Option<String>,
    radios: Vec<RadioView>,
    counts: Counts,
    teams: Vec<TeamView>,
}

fn link_state(s: LinkState) -> &'static str {
    match s {
        LinkState::Connecting => "connecting",
        LinkState::Handshaking => "handshaking",
        LinkState::Up => "up",
        LinkState::Stopped => "stopped",
    }
}

async fn status(State(st): State<Shared>) -> ApiResult<Json<StatusView>> {
    let radios = st
        .api
        .radios
        .iter()
        .map(|r| {
            let s = r.status();
            RadioView {
                name: r.name().to_string(),
                state: link_state(s.state),
                node: s.node.map(|n| NodeId(n).to_string()),
                last_error: s.last_error,
                connects: s.connects,
                queue_free: s.queue_free,
                frames: s.frames,
                malformed: s.malformed,
                dropped: s.dropped_packets,
            }
        })
        .collect();
    let teams = st.api.teams.clone();
    let (counts, teams) = read(&st, move |r| Ok((r.counts()?, r.teams(&teams, None)?))).await?;
    Ok(Json(StatusView {
        station: st.api.station.clone(),
        version: env!("CARGO_PKG_VERSION"),
        time: rfc3339(st.api.clock.now_ms()),
        database_error: st.api.store.last_error(),
        radios,
        counts,
        teams,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
    /// Rows to skip (paging through more than [`MAX_LIST`]).
    offset: Option<usize>,
}

async fn list_incidents(
    State(st): State<Shared>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<IncidentView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let filter: Filter = q
        .state
        .as_deref()
        .unwrap_or("open")
        .parse()
        .map_err(ApiError::bad_request)?;
    let limit = q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let offset = q.offset.unwrap_or(0);
    Ok(Json(
        read(&st, move |r| r.incidents_page(filter, limit, offset)).await?,
    ))
}

/// An incident with its audit trail and, when it has a position, the teams by distance.
#[derive(Debug, Serialize)]
struct Detail {
    #[serde(flatten)]
    incident: IncidentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    nearest_teams: Option<Vec<TeamView>>,
    /// The position in words, from the nearest place ("14 km NO de Sásabe, Sáric, Sonora").
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    where_: Option<String>,
}

async fn detail(st: &Shared, id: String) -> ApiResult<Detail> {
    let teams = st.api.teams.clone();
    read(st, move |r| {
        let incident = r
            .incident(&id)?
            .ok_or_else(|| StoreError::Refused(format!("no incident {id}")))?;
        let (nearest_teams, where_) = match (incident.lat, incident.lon) {
            (Some(lat), Some(lon)) => (
                Some(r.teams(&teams, Some((lat, lon)))?),
                Gazetteer::builtin()
                    .nearest(lat, lon)
                    .map(|n| n.describe("es")),
            ),
            _ => (None, None),
        };
        Ok(Detail {
            incident,
            nearest_teams,
            where_,
        })
    })
    .await
}

async fn show(State(st): State<Shared>, UrlPath(id): UrlPath<String>) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    Ok(Json(detail(&st, id).await?))
}

async fn teams(State(st): State<Shared>) -> ApiResult<Json<Vec<TeamView>>> {
    let teams = st.api.teams.clone();
    Ok(Json(read(&st, move |r| r.teams(&teams, None)).await?))
}

async fn nodes(State(st): State<Shared>) -> ApiResult<Json<Vec<crate::store::query::NodeView>>> {
    Ok(Json(read(&st, |r| r.nodes(MAX_LIST)).await?))
}

// ----- writes -------------------------------------------------------------------------

/// Carries out `req` for `who` and answers with the incident as it now stands.
async fn act(st: &Shared, who: &str, req: OperatorRequest) -> ApiResult<Detail> {
    let id = st
        .api
        .store
        .operator(who, req, st.api.clock.now_ms())
        .await?;
    detail(st, id).await
}

async fn report(
    State(st): State<Shared>,
    Operator(who): Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let mut r: ManualReport = parse_body(body)?;
    if let (None, None, Some(name)) = (r.lat, r.lon, r.place.as_deref()) {
        // The caller named a place and no coordinates: the gazetteer's first match.
        let place = resolve_place(name).await?;
        r.lat = Some(place.lat);
        r.lon = Some(place.lon);
        r.place = Some(place.label());
    }
    let d = act(&st, &who, OperatorRequest::Report(r)).await?;
    let location = format!("/v1/incidents/{}", d.incident.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(d)).into_response())
}

async fn ack(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(
        act(&st, &who, OperatorRequest::Ack(incident_id(&id)?)).await?,
    ))
}

async fn reopen(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(
        act(&st, &who, OperatorRequest::Reopen(incident_id(&id)?)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    team: String,
}

async fn assign(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: AssignBody = parse_body(body)?;
    Ok(Json(
        act(
            &st,
            &who,
            OperatorRequest::Assign(id, b.team.trim().to_string()),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: String,
    #[serde(default)]
    note: Option<String>,
}

async fn close(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: CloseBody = parse_body(body)?;
    let outcome: Outcome = b
        .outcome
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{e}")))?;
    let note = b.note.filter(|n| !n.trim().is_empty());
    Ok(Json(
        act(&st, &who, OperatorRequest::Close(id, outcome, note)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

async fn note(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: NoteBody = parse_body(body)?;
    if b.text.trim().is_empty() {
        return Err(ApiError::bad_request("the note is empty"));
    }
    Ok(Json(
        act(&st, &who, OperatorRequest::Note(id, b.text)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    /// `"!a1b2c3d4"`, `"2712847316"` or `2712847316`.
    node: serde_json::Value,
    text: String,
}

async fn send(
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

// ----- ambulances and positions -------------------------------------------------------

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

async fn ambulance(
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

/// `POST /v1/incidents/{id}/position`: `{"lat": .., "lon": ..}` or `{"place": "Sásabe, Sonora"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionBody {
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    place: Option<String>,
}

async fn position(
    State(st): State<Shared>,
    Operator(who): Operator,
    UrlPath(id): UrlPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Detail>> {
    let id = incident_id(&id)?;
    let b: PositionBody = parse_body(body)?;
    let (lat, lon) = match (b.lat, b.lon, b.place) {
        (Some(lat), Some(lon), None) => (lat, lon),
        (None, None, Some(name)) => {
            let p = resolve_place(&name).await?;
            (p.lat, p.lon)
        }
        (None, None, None) => {
            return Err(ApiError::bad_request("give lat and lon, or a place name"))
        }
        (_, _, Some(_)) => {
            return Err(ApiError::bad_request(
                "give lat and lon, or a place name, not both",
            ))
        }
        _ => return Err(ApiError::bad_request("give both latitude and longitude")),
    };
    Ok(Json(
        act(&st, &who, OperatorRequest::Position(id, lat, lon)).await?,
    ))
}

/// A bad input as an error quotes it: its first 40 characters, on one line.
fn quote(s: &str) -> String {
    s.chars()
        .take(40)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Runs a gazetteer lookup on the blocking pool (the first use builds its indexes).
async fn gazetteer<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&'static Gazetteer) -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || f(Gazetteer::builtin()))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("place lookup failed: {e}"),
            )
        })
}

/// The gazetteer's first match for a place name, or a one-line 400.
async fn resolve_place(name: &str) -> ApiResult<&'static Place> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("the place name is empty"));
    }
    let found = {
        let name = name.clone();
        gazetteer(move |g| g.find(&name).into_iter().next()).await?
    };
    found.ok_or_else(|| {
        ApiError::bad_request(format!(
            "no place {:?} in the gazetteer; give LAT,LON instead",
            quote(&name)
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhereQuery {
    lat: Option<f64>,
    lon: Option<f64>,
}

/// The nearest place to a position (`place` in `/v1/where`).
#[derive(Debug, Serialize)]
struct NearPlace {
    name: String,
    municipality: Option<String>,
    state: String,
    country: &'static str,
    distance_km: f64,
    bearing_deg: f64,
    description_es: String,
    description_en: String,
}

#[derive(Debug, Serialize)]
struct MunicipalityName {
    name: String,
    state: String,
}

/// A configured municipality with an ambulance contact, by distance.
#[derive(Debug, Serialize)]
struct MunicipalityContact {
    name: String,
    state: String,
    distance_km: f64,
    nodes: Vec<String>,
    phones: Vec<String>,
    /// Reachable over the mesh (else phone only).
    mesh: bool,
}

#[derive(Debug, Serialize)]
struct WhereView {
    lat: f64,
    lon: f64,
    place: Option<NearPlace>,
    municipality: Option<MunicipalityName>,
    nearest_municipalities: Vec<MunicipalityContact>,
}

/// `GET /v1/where?lat=..&lon=..`.
async fn where_is(
    State(st): State<Shared>,
    q: Result<Query<WhereQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<WhereView>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let (Some(lat), Some(lon)) = (q.lat, q.lon) else {
        return Err(ApiError::bad_request(
            "give lat and lon: /v1/where?lat=31.47463&lon=-111.54485",
        ));
    };
    if !faro_proto::mesh::valid_coordinates(lat, lon) {
        return Err(ApiError::bad_request(format!(
            "{lat},{lon} is not a position (latitude -90..90, longitude -180..180, not 0,0)"
        )));
    }
    let munis = st.api.municipalities.clone();
    let view = gazetteer(move |g| where_view(g, &munis, lat, lon)).await?;
    Ok(Json(view))
}

fn where_view(g: &Gazetteer, munis: &[Municipality], lat: f64, lon: f64) -> WhereView {
    let near = g.nearest(lat, lon);
    let place = near.map(|n| NearPlace {
        name: n.place.name.clone(),
        municipality: Some(n.place.municipality.clone()).filter(|m| !m.is_empty()),
        state: n.place.state.clone(),
        country: n.place.country,
        distance_km: round2(n.distance_km),
        bearing_deg: round2(n.bearing_deg),
        description_es: n.describe("es"),
        description_en: n.describe("en"),
    });
    let municipality =
        near.filter(|n| !n.place.municipality.is_empty())
            .map(|n| MunicipalityName {
                name: n.place.municipality.clone(),
                state: n.place.state.clone(),
            });
    let nearest_municipalities = crate::dispatch::candidates(munis, lat, lon, &[])
        .into_iter()
        .map(|c| {
            let m = &munis[c.index];
            MunicipalityContact {
                name: m.name.clone(),
                state: m.state.clone(),
                distance_km: round2(c.distance_km),
                nodes: m.nodes.iter().map(|n| NodeId(*n).to_string()).collect(),
                phones: m.phones.clone(),
                mesh: !m.nodes.is_empty(),
            }
        })
        .collect();
    WhereView {
        lat,
        lon,
        place,
        municipality,
        nearest_municipalities,
    }
}

/// Two decimals: 10 m and a hundredth of a degree are all a dispatcher needs.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacesQuery {
    name: Option<String>,
}

/// A place found by name.
#[derive(Debug, Serialize)]
struct PlaceView {
    name: String,
    municipality: Option<String>,
    state: String,
    country: &'static str,
    lat: f64,
    lon: f64,
    population: u32,
    /// "Sásabe, Sáric, Sonora".
    label: String,
}

/// `GET /v1/places?name=..`: up to [`MAX_PLACES`] matches, best first (exact names, then
/// prefixes, each most populous first; `, municipality` or `, state` narrows).
async fn places(
    q: Result<Query<PlacesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<PlaceView>>> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let name = q.name.unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("give a name: /v1/places?name=Sasabe"));
    }
    let found = gazetteer(move |g| {
        g.find(&name)
            .into_iter()
            .take(MAX_PLACES)
            .map(|p| PlaceView {
                name: p.name.clone(),
                municipality: Some(p.municipality.clone()).filter(|m| !m.is_empty()),
                state: p.state.clone(),
                country: p.country,
                lat: p.lat,
                lon: p.lon,
                population: p.population,
                label: p.label(),
            })
            .collect()
    })
    .await?;
    Ok(Json(found))
}

// ----- the event stream ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Send the stored events after this id first; without it, only live ones.
    after: Option<i64>,
}

/// `GET /v1/events`: newline-delimited JSON. The backlog after `after` (if given), then live
/// events as they commit, each once and in id order; `{"lagged": n}` when this watcher fell
/// behind the live buffer (what it missed follows, read back from the database), and
/// `{"keepalive": "<time>"}` every [`KEEPALIVE`].
async fn events(
    State(st): State<Shared>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request(r.body_text()))?;
    // Subscribe before reading the backlog so nothing committed in between is missed.
    let live = st.api.store.subscribe();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    tokio::spawn(feed(st, q.after, live, tx));
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(Lines(rx)),
    )
        .into_response())
}

/// The response body of an event stream: lines from its feeder task.
struct Lines(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Lines {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|line| line.map(Ok))
    }
}

/// Where an event stream stands: the last id sent, and its way out.
struct Feed {
    st: Shared,
    last: i64,
    tx: mpsc::Sender<Bytes>,
}

impl Feed {
    /// Queues one JSON line; false when the watcher is gone or stopped reading.
    async fn line(&self, value: &impl Serialize) -> bool {
        let Ok(mut line) = serde_json::to_vec(value) else {
            return false;
        };
        line.push(b'\n');
        matches!(
            tokio::time::timeout(STREAM_SEND_TIMEOUT, self.tx.send(line.into())).await,
            Ok(Ok(()))
        )
    }

    async fn event(&mut self, ev: &EventView) -> bool {
        if ev.id <= self.last {
            return true;
        }
        self.last = ev.id;
        self.line(ev).await
    }

    /// Sends every stored event after the last one sent.
    async fn catch_up(&mut self) -> bool {
        loop {
            let after = self.last;
            let page = match read(&self.st, move |r| r.events(None, after, BACKLOG_PAGE)).await {
                Ok(page) => page,
                Err(e) => {
                    self.line(&json!({ "error": e.message })).await;
                    return false;
                }
            };
            for ev in &page {
                if !self.event(ev).await {
                    return false;
                }
            }
            if page.len() < BACKLOG_PAGE {
                return true;
            }
        }
    }
}

async fn feed(
    st: Shared,
    after: Option<i64>,
    mut live: broadcast::Receiver<EventView>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut stop = st.stop.subscribe();
    let mut f = Feed {
        st,
        last: after.unwrap_or(0),
        tx,
    };
    if after.is_some() && !f.catch_up().await {
        return;
    }
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        let alive = tokio::select! {
            r = live.recv() => match r {
                Ok(ev) => f.event(&ev).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    f.line(&json!({ "lagged": n })).await && f.catch_up().await
                }
                Err(broadcast::error::RecvError::Closed) => false,
            },
            _ = beat.tick() => f.line(&json!({ "keepalive": rfc3339(f.st.api.clock.now_ms()) })).await,
            _ = f.tx.closed() => false,
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => false,
        };
        if !alive {
            return;
        }
    }
}
