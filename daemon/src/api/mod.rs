//! The control socket: HTTP/JSON on a Unix socket for `faroctl` (docs/ARCHITECTURE.md §9). It owns the
//! socket file and nothing else: reads go through read-only
//! [`Reader`](crate::store::query::Reader) connections on the blocking pool, writes through the
//! [`Store`] handle, which answers only after its transaction committed. Access control is the
//! file mode (0660) and its group ([`crate::access`]); the operator of a write is the
//! connection's peer (`peer`).
//!
//! Every error is `{"error": "<one line>"}` with a status a script can branch on, chosen by the
//! error's variant and never its text: 400 for a malformed request or bad input, 404 for an
//! unknown incident, team, municipality or route, 409 for a refusal by the station's state (an
//! illegal transition, an ambulance already in play), 503 when the database cannot answer now,
//! 500 when it is damaged. Logs carry the method,
//! path and status only: request bodies hold personal data and never reach the journal.
//!
//! Places: positions are described with the built-in gazetteer
//! ([`Gazetteer`](crate::geo::Gazetteer)): `where` answers "what is near this position, and
//! which municipalities with an ambulance contact are nearest", `places` finds a place a caller
//! named, `places/within` lists the most populous places in a box (the map's context), and a report or a position may name a place instead of coordinates (its first match
//! is taken; no match is a 400).
//!
//! One module per resource; this one holds the server (state, routes, errors, `serve`):
//! - `incidents`: `/v1/incidents` (list, report) and `/v1/incidents/{id}` (show, ack, assign,
//!   close, note, reopen, position);
//! - `ambulance`: `/v1/incidents/{id}/ambulance`, ambulance requests and answers;
//! - `places`: `/v1/where`, `/v1/places` and `/v1/places/within`, the gazetteer lookups (also
//!   used by `incidents`);
//! - `status`: `/v1/status` and `/v1/teams`;
//! - `map`: `/v1/map`, what the desk's map draws (open incidents and search areas with a
//!   position, teams with their tracks, towers, municipalities);
//! - `nodes`: `/v1/nodes` and `/v1/send`, the mesh nodes heard and a text to one of them;
//! - `messages`: `/v1/messages`, the texts heard and sent that belong to no incident (an
//!   incident's own are in its detail);
//! - `orientations`: `/v1/orientations`, the orientations given, counted per day;
//! - `stats`: `/v1/stats` (the casework figures of a period, JSON or CSV) and `/v1/report`
//!   (the monthly report, HTML), computed from the records;
//! - `trust`: `/v1/keys` (a node's keys, enrolment) and `/v1/answers` (municipal answers
//!   awaiting an operator's confirmation);
//! - `events`: `/v1/events`, the live event stream, and `/v1/stream`, the same as
//!   server-sent events;
//! - `casework`: consents, personal records, notes, aid, complaints and referrals,
//!   disclosures, the data key (`/v1/consents`, `/v1/personal`, `/v1/notes`, `/v1/assist`,
//!   `/v1/complaints`, `/v1/referrals`, `/v1/disclose`, `/v1/wipe-key`, `/v1/export`);
//! - `locate`: `/v1/locate` and `/v1/locate/{id}` (open, list, show, task, close, reported,
//!   matches), location requests for missing people;
//! - `purge`: `/v1/purge`, the retention purge run now (what is due only);
//! - `request`: what the handlers share: the operator, JSON bodies, incident ids from the URL,
//!   read-only queries;
//! - `peer`: who connected (`SO_PEERCRED`) and how the audit trail names an operator.
//! - `users`: `/v1/users` (list, add, disable, password), the desk's users;
//! - `desk` and `session`: the desk listener (`[desk] listen`, TCP): the same routes behind
//!   logins, sessions, CSRF tokens and roles ([`serve_desk`]).

use std::future::{Future, IntoFuture};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::radio::link::LinkHandle;
use crate::store::{Refusal, Store, StoreError, TeamConfig};

mod ambulance;
mod assets;
mod casework;
mod desk;
mod events;
mod incidents;
mod locate;
mod map;
mod messages;
mod nodes;
mod orientations;
mod peer;
mod places;
mod purge;
mod request;
mod session;
mod stats;
mod status;
mod trust;
mod users;

pub use ambulance::MAX_ETA_MINUTES;
pub use desk::{bind_desk, serve_desk, DeskConfig, CSP, DEFAULT_P1_REALERT_SECS};
pub use events::KEEPALIVE;
pub use map::{
    MapConfig, StationPlace, TRACK_HOURS as MAP_TRACK_HOURS, TRACK_POINTS as MAP_TRACK_POINTS,
};
pub use messages::DEFAULT_MESSAGES;
pub use peer::{operator_name, user_name, Peer, PeerCred};
pub use places::{
    MAX_PLACES, WITHIN_DEFAULT as PLACES_WITHIN_DEFAULT, WITHIN_MAX as PLACES_WITHIN_MAX,
};
pub use request::{MAX_OPERATOR_CHARS, OPERATOR_HEADER};
pub use session::{hash_password, CSRF_HEADER, FAILURE_WINDOW, IDLE, MAX_FAILURES};

/// Largest request body (a manual report is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Incidents listed at most per request.
pub const MAX_LIST: usize = 1000;
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
    /// Surge settings, for the estimate in `/v1/status`.
    pub surge: crate::desk::SurgeConfig,
    /// Where complaints are referred, with their contacts (`/v1/referrals`).
    pub referrals: Vec<crate::casework::request::Referral>,
    /// The station's time zone (IANA name), for faroctl's display; the API's times stay UTC.
    pub timezone: String,
    /// What the desk's map shows that is configured rather than recorded (`/v1/map`).
    pub map: MapConfig,
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
    // Each connection carries its peer's credentials: the operator of a write (`peer`).
    let app = app.into_make_service_with_connect_info::<PeerCred>();
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

/// Binds the control socket at `path` (replacing a stale one) with mode 0660, group
/// `$FARO_SOCKET_GROUP` if set ([`crate::access`]).
pub async fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let fail = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    let group = crate::access::socket_group()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::access::create_dir(dir, group)?;
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
    // Born with farod's umask (0077): its group, then 0660 (crate::access).
    crate::access::open_socket(path, group)?;
    Ok(listener)
}

/// The routes, for serving on any listener (tests, a future TCP debug port). Event streams
/// served by this router end only when their client goes away. Writes need the connection's
/// [`PeerCred`] as `ConnectInfo` (as [`serve`] gives it); without it they are refused (403).
pub fn router(state: ApiState) -> Router {
    router_with(state, Arc::new(watch::channel(false).0))
}

fn router_with(state: ApiState, stop: Arc<watch::Sender<bool>>) -> Router {
    Router::new()
        .route("/v1/status", get(status::status))
        .route(
            "/v1/incidents",
            get(incidents::list_incidents).post(incidents::report),
        )
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/v1/incidents/{id}/assign", post(incidents::assign))
        .route("/v1/incidents/{id}/close", post(incidents::close))
        .route("/v1/incidents/{id}/note", post(incidents::note))
        .route("/v1/incidents/{id}/reopen", post(incidents::reopen))
        .route("/v1/incidents/{id}/ambulance", post(ambulance::ambulance))
        .route("/v1/incidents/{id}/position", post(incidents::position))
        .route("/v1/where", get(places::where_is))
        .route("/v1/places", get(places::places))
        .route("/v1/places/within", get(places::within))
        .route("/v1/teams", get(status::teams))
        .route("/v1/map", get(map::map))
        .route("/v1/nodes", get(nodes::nodes))
        .route("/v1/messages", get(messages::messages))
        .route("/v1/orientations", get(orientations::orientations))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/report", get(stats::report))
        .route("/v1/keys", post(trust::enroll))
        .route("/v1/keys/{node}", get(trust::keys))
        .route("/v1/answers", get(trust::answers))
        .route("/v1/answers/{id}/confirm", post(trust::confirm))
        .route("/v1/answers/{id}/reject", post(trust::reject))
        .route("/v1/events", get(events::events))
        .route("/v1/stream", get(events::stream))
        .route("/v1/send", post(nodes::send))
        .route("/v1/consents", post(casework::consent))
        .route("/v1/consents/{id}/withdraw", post(casework::withdraw))
        .route("/v1/personal", post(casework::personal_add))
        .route("/v1/personal/{subject}/show", post(casework::personal_show))
        .route(
            "/v1/personal/{subject}/erase",
            post(casework::personal_erase),
        )
        .route("/v1/notes", post(casework::note))
        .route(
            "/v1/assist",
            post(casework::assist).get(casework::assist_list),
        )
        .route(
            "/v1/complaints",
            post(casework::complaint).get(casework::complaints),
        )
        .route("/v1/complaints/{id}/refer", post(casework::refer))
        .route(
            "/v1/complaints/{id}/status",
            post(casework::complaint_status),
        )
        .route("/v1/referrals", get(casework::referrals))
        .route("/v1/disclose", post(casework::disclose))
        .route("/v1/wipe-key", post(casework::wipe_key))
        .route("/v1/export", get(casework::export))
        .route("/v1/locate", get(locate::list).post(locate::open))
        .route("/v1/locate/{id}", get(locate::show))
        .route("/v1/locate/{id}/task", post(locate::task))
        .route("/v1/locate/{id}/close", post(locate::close))
        .route("/v1/locate/{id}/reported", post(locate::reported))
        .route("/v1/locate/{id}/matches", get(locate::matches))
        .route("/v1/purge", post(purge::purge))
        .route("/v1/users", get(users::list).post(users::add))
        .route("/v1/users/{name}/disable", post(users::disable))
        .route("/v1/users/{name}/password", post(users::password))
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
        // The status follows the variant, never the text.
        let status = match &e {
            StoreError::Refused(Refusal::NotFound(_)) => StatusCode::NOT_FOUND,
            StoreError::Refused(Refusal::Invalid(_)) => StatusCode::BAD_REQUEST,
            StoreError::Refused(Refusal::Conflict(_)) => StatusCode::CONFLICT,
            StoreError::Busy(_)
            | StoreError::DiskFull(_)
            | StoreError::ReadOnly(_)
            | StoreError::Db(_)
            | StoreError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Corrupt(_) | StoreError::Open { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
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

/// Method, path, status and the caller's uid: never bodies or query strings (they may hold
/// personal data).
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let uid = req
        .extensions()
        .get::<axum::extract::ConnectInfo<PeerCred>>()
        .and_then(|c| c.0 .0)
        .map(|p| p.uid);
    let started = Instant::now();
    let res = next.run(req).await;
    let (status, ms) = (res.status().as_u16(), started.elapsed().as_millis() as u64);
    if method == Method::GET && res.status().is_success() {
        tracing::debug!(%method, %path, status, ms, uid, "api");
    } else {
        tracing::info!(%method, %path, status, ms, uid, "api");
    }
    res
}
