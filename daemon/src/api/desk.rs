//! The desk listener (issue 15, docs/SECURITY.md): the same API as the control socket, on a
//! TCP address (`[desk] listen`, off by default), behind logins and sessions.
//!
//! - `POST /login` (JSON or form `{name, password}`) answers `{name, role, csrf}` and sets
//!   the cookie `faro_session` (HttpOnly, SameSite=Strict, Path=/, Secure when
//!   `[desk] secure_cookie`); `POST /logout` ends the session; `GET /v1/me` tells who is
//!   logged in, with the session's CSRF token and the pages' P1 re-alert period
//!   (`p1_realert_secs`).
//! - Every other route needs a live session (401 otherwise, also for an unknown path), every
//!   write (anything but GET and HEAD) the session's CSRF token in `X-Faro-CSRF` (403), and
//!   a role that may make it ([`session::refused_for`], 403).
//! - An event stream (`/v1/stream`, `/v1/events`) lasts as long as its session: it ends at
//!   logout at once, and within 15 s when the user is disabled or the session expires; while
//!   open it keeps the session from idling out (a screen waiting for the next P1 is in use).
//! - The audit trail names the logged-in user as `operator:web:<user>`; the `X-Faro-Operator`
//!   header is ignored here.
//! - The desk's own pages (`daemon/web/`, embedded, listed in [`super::assets`]): `GET /` the
//!   incident queue, `GET /incident?id=SAS-12` one incident, `GET /teams` the patrol teams
//!   (each a redirect to `/login` without a session), `GET /login` the login form
//!   and the files it needs (no data in them: reachable without a session); every other page
//!   and file needs a session. Every one carries a strict Content-Security-Policy ([`CSP`])
//!   and `X-Content-Type-Options: nosniff`. Nothing in them asks for anything outside this
//!   listener.
//! - TLS is not built in: the listener is for the station's own network or a reverse proxy.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::assets;
use super::session::{self, DeskSession, Limiter, COOKIE, CSRF_HEADER};
use super::{ApiError, ApiResult, ApiState, DRAIN};
use crate::store::query::Reader;
use crate::store::users::{check_name, UserRequest};
use crate::store::StoreError;

/// The audit trail's name for the desk listener.
pub const VIA: &str = "desk";
/// Default session length.
pub const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);
/// Default seconds between repeated alerts for an unacknowledged P1 at the desk.
pub const DEFAULT_P1_REALERT_SECS: u64 = 120;

/// The Content-Security-Policy of the desk's pages: only this listener, no inline script or
/// style, no framing.
pub const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                       style-src 'self'; script-src 'self'; frame-ancestors 'none'";

/// `[desk]`: the listener and its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskConfig {
    /// Where to listen (None: no desk listener, the default).
    pub listen: Option<SocketAddr>,
    /// How long a session lasts after login (`session_hours`).
    pub session: Duration,
    /// Whether the cookie is marked `Secure` (behind an HTTPS reverse proxy).
    pub secure_cookie: bool,
    /// Seconds between the desk's repeated alerts for a P1 nobody acknowledged
    /// (`p1_realert_secs`, 0: alert once); the pages read it from `GET /v1/me`.
    pub p1_realert_secs: u64,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            listen: None,
            session: DEFAULT_SESSION,
            secure_cookie: false,
            p1_realert_secs: DEFAULT_P1_REALERT_SECS,
        }
    }
}

/// What the desk's own handlers see.
#[derive(Debug, Clone)]
struct Desk {
    api: ApiState,
    cfg: DeskConfig,
    limiter: Arc<Limiter>,
    /// Bumped when a session ends here (logout), so that its open streams end at once.
    ended: Arc<watch::Sender<u64>>,
}

/// Binds the desk listener's address (a failure names it).
pub async fn bind_desk(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves the desk on `listener` until `shutdown` resolves (requests in flight get a few
/// seconds, as on the control socket).
pub async fn serve_desk(
    listener: tokio::net::TcpListener,
    state: ApiState,
    cfg: DeskConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = Arc::new(watch::channel(false).0);
    let app = desk_router(state, cfg, stop.clone());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "desk listening");
    }
    let signal = stop.clone();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        signal.send_replace(true);
    });
    let mut stopped = stop.subscribe();
    tokio::select! {
        r = server.into_future() => r,
        _ = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(DRAIN).await;
        } => {
            tracing::warn!("desk: requests still open after {DRAIN:?}; stopping anyway");
            Ok(())
        }
    }
}

fn desk_router(state: ApiState, cfg: DeskConfig, stop: Arc<watch::Sender<bool>>) -> Router {
    let desk = Desk {
        api: state.clone(),
        cfg,
        limiter: Arc::new(Limiter::default()),
        ended: Arc::new(watch::channel(0).0),
    };
    let mut behind = Router::new().route("/v1/me", get(me));
    for a in assets::PAGES {
        behind = behind.route(a.path, get(move || async move { assets::respond(a) }));
    }
    let behind = behind
        .route("/logout", post(logout))
        .with_state(desk.clone());
    let behind =
        super::router_with(state, stop)
            .merge(behind)
            .layer(middleware::from_fn_with_state(
                desk.clone(),
                require_session,
            ));
    let mut public = Router::new().route(
        "/login",
        get(|| async { assets::respond(assets::find(assets::PUBLIC, "/login").expect("login")) })
            .post(login),
    );
    for a in assets::PUBLIC.iter().filter(|a| a.path != "/login") {
        public = public.route(a.path, get(move || async move { assets::respond(a) }));
    }
    public
        .layer(DefaultBodyLimit::max(super::MAX_BODY))
        .layer(middleware::from_fn(log_login))
        .with_state(desk)
        .merge(behind)
}

/// A read-only query on the blocking pool.
async fn read<T, F>(api: &ApiState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
{
    let path = api.store.path().to_path_buf();
    tokio::task::spawn_blocking(move || f(&Reader::open(&path)?))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("query: {e}")))?
        .map_err(ApiError::from)
}

fn unauthorized(message: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, message).into_response()
}

/// The session token of the request's cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Every route but `/login`: a live session, the CSRF token on writes, a role that may.
async fn require_session(State(desk): State<Desk>, mut req: Request, next: Next) -> Response {
    // A page without a session: the login page instead of a 401.
    let page = matches!(*req.method(), Method::GET | Method::HEAD)
        && assets::find(assets::PAGES, req.uri().path())
            .is_some_and(|a| a.content_type.starts_with("text/html"));
    let Some(token) = cookie_token(req.headers()) else {
        if page {
            return Redirect::to("/login").into_response();
        }
        return unauthorized("log in first (POST /login)");
    };
    let hash = session::token_hash(&token);
    let lookup = hash.clone();
    let found = match read(&desk.api, move |r| r.session(&lookup)).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let now = desk.api.clock.now_ms();
    let Some(s) = found
        .filter(|s| now < s.expires_at && now - s.last_seen_at < session::IDLE.as_millis() as i64)
    else {
        if page {
            return Redirect::to("/login").into_response();
        }
        return unauthorized("the session has ended: log in again");
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let given = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same(given, &s.csrf) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "a write needs the session's token in X-Faro-CSRF (GET /v1/me)",
            )
            .into_response();
        }
    }
    // The route's pattern when one matched (what the handler will serve), else the path.
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
    if let Some(why) = session::refused_for(s.role, req.method(), &path) {
        return ApiError::new(StatusCode::FORBIDDEN, why).into_response();
    }
    if now - s.last_seen_at >= session::TOUCH_EVERY.as_millis() as i64 {
        let touch = UserRequest::Touch {
            token_hash: hash.clone(),
        };
        if let Err(e) = desk.api.store.users("system", VIA, touch, now).await {
            return ApiError::from(e).into_response();
        }
    }
    let streams = matches!(req.uri().path(), "/v1/stream" | "/v1/events");
    req.extensions_mut().insert(DeskSession {
        user: s.user,
        role: s.role,
        csrf: s.csrf,
        token_hash: hash.clone(),
    });
    let res = next.run(req).await;
    if streams && res.status().is_success() {
        return held_by_session(desk, hash, res);
    }
    res
}

/// How often an open stream looks at its session again.
const STREAM_CHECK: Duration = Duration::from_secs(15);

/// An event stream that lasts as long as its session: it ends at logout (at once), when the
/// user is disabled or the session expires (within [`STREAM_CHECK`]). An open stream is a desk
/// in use (a screen waiting for the next P1), so it keeps its session from idling out; the
/// session's absolute expiry still ends it.
fn held_by_session(desk: Desk, hash: String, res: Response) -> Response {
    let (parts, body) = res.into_parts();
    let mut inner = body.into_data_stream();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, axum::Error>>(16);
    let mut ended = desk.ended.subscribe();
    tokio::spawn(async move {
        let mut check = tokio::time::interval(STREAM_CHECK);
        check.tick().await;
        loop {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut inner), cx)
            });
            tokio::select! {
                chunk = next => match chunk {
                    Some(c) => {
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                () = tx.closed() => return,
                _ = ended.changed() => {
                    if !still_live(&desk, &hash, false).await {
                        return;
                    }
                }
                _ = check.tick() => {
                    if !still_live(&desk, &hash, true).await {
                        return;
                    }
                }
            }
        }
    });
    let stream = Received(rx);
    Response::from_parts(parts, axum::body::Body::from_stream(stream))
}

/// Whether the session behind a stream is still live; `touch` keeps it from idling out.
async fn still_live(desk: &Desk, hash: &str, touch: bool) -> bool {
    let lookup = hash.to_string();
    let Ok(Some(s)) = read(&desk.api, move |r| r.session(&lookup)).await else {
        return false;
    };
    let now = desk.api.clock.now_ms();
    if now >= s.expires_at {
        return false;
    }
    if touch && now - s.last_seen_at >= session::TOUCH_EVERY.as_millis() as i64 {
        let req = UserRequest::Touch {
            token_hash: hash.to_string(),
        };
        if desk.api.store.users("system", VIA, req, now).await.is_err() {
            return false;
        }
    }
    true
}

/// The chunks a held stream forwards.
struct Received(tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, axum::Error>>);

impl futures_core::Stream for Received {
    type Item = Result<axum::body::Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A login's status and source address: never its name, password or body (the audit trail
/// has the name).
async fn log_login(req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() != "/login" {
        return next.run(req).await;
    }
    let from = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    tracing::info!(status, from = ?from, "desk login");
    res
}

#[derive(Deserialize)]
struct LoginBody {
    name: String,
    password: String,
}

impl std::fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginBody")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn cookie(value: &str, max_age: u64, secure: bool) -> ApiResult<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bad cookie"))
}

async fn login(
    State(desk): State<Desk>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> ApiResult<Response> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body: LoginBody = if form {
        Form::<LoginBody>::from_request(req, &())
            .await
            .map_err(|_| ApiError::bad_request("expected a form with name and password"))?
            .0
    } else {
        Json::<LoginBody>::from_request(req, &())
            .await
            .map_err(|_| ApiError::bad_request("expected JSON {\"name\", \"password\"}"))?
            .0
    };
    let now = desk.api.clock.now_ms();
    // A name that cannot be a user's is not remembered (the map stays small): the address
    // counts its failures.
    let plausible =
        check_name(&body.name).is_ok() && session::PASSWORD_LEN.contains(&body.password.len());
    let mut keys = vec![format!("ip:{}", peer.ip())];
    if check_name(&body.name).is_ok() {
        keys.push(format!("user:{}", body.name));
    }
    if let Some(secs) = desk.limiter.retry_after(&keys, now) {
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins: try again in {secs} s"),
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(res);
    }
    // Counted before the password is checked, so that logins sent all at once cannot pass
    // the limit together; taken back if the password is right.
    desk.limiter.fail(&keys, now);
    let name = body.name.clone();
    let user = if plausible {
        read(&desk.api, move |r| r.login_user(&name)).await?
    } else {
        None
    };
    let (role, phc) = match user {
        Some((role, phc)) => (Some(role), Some(phc)),
        None => (None, None),
    };
    let password = body.password;
    let ok =
        tokio::task::spawn_blocking(move || session::verify_password(&password, phc.as_deref()))
            .await
            .unwrap_or(false);
    let (true, Some(role)) = (ok, role) else {
        let failed = UserRequest::LoginFailed {
            name: body.name.clone(),
        };
        desk.api.store.users("system", VIA, failed, now).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong name or password",
        ));
    };
    desk.limiter.forgive(&keys, now);
    desk.limiter.clear(&format!("user:{}", body.name));
    let (token, csrf) = (session::new_token(), session::new_token());
    let start = UserRequest::Login {
        name: body.name.clone(),
        token_hash: session::token_hash(&token),
        csrf: csrf.clone(),
        expires_at: now + desk.cfg.session.as_millis() as i64,
    };
    let who = format!("web:{}", body.name);
    desk.api.store.users(&who, VIA, start, now).await?;
    let mut res = Json(json!({"name": body.name, "role": role, "csrf": csrf})).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&token, desk.cfg.session.as_secs(), desk.cfg.secure_cookie)?,
    );
    Ok(res)
}

async fn logout(
    State(desk): State<Desk>,
    Extension(s): Extension<DeskSession>,
) -> ApiResult<Response> {
    let end = UserRequest::Logout {
        token_hash: s.token_hash.clone(),
    };
    let now = desk.api.clock.now_ms();
    desk.api.store.users(&s.operator(), VIA, end, now).await?;
    desk.ended.send_modify(|n| *n += 1);
    let mut res = Json(json!({"name": s.user, "logged_out": true})).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, desk.cfg.secure_cookie)?);
    Ok(res)
}

async fn me(
    State(desk): State<Desk>,
    Extension(s): Extension<DeskSession>,
) -> Json<serde_json::Value> {
    Json(json!({
        "name": s.user,
        "role": s.role,
        "csrf": s.csrf,
        "p1_realert_secs": desk.cfg.p1_realert_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_configured() {
        let plain = cookie("tok", 3600, false).unwrap();
        assert_eq!(
            plain.to_str().unwrap(),
            "faro_session=tok; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600"
        );
        let secure = cookie("tok", 3600, true).unwrap();
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; faro_session=abc ; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("faro_session="));
        assert_eq!(cookie_token(&h), None);
    }
}
