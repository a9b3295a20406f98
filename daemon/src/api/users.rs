//! `/v1/users`: the desk's users (issue 15). On the control socket only root and the user
//! farod runs as may manage users (the operators' group may not: a desk user can act on
//! the station from the network); on the desk listener only a coordinator (`session`).
//! Passwords come in the JSON body, are hashed on the blocking pool and never logged.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::peer::PeerCred;
use super::request::{parse_body, read, Operator};
use super::session::{self, DeskSession};
use super::{ApiError, ApiResult, Shared};
use crate::store::users::{check_name, Role, UserRequest};

/// Who may manage users: a coordinator's session, or root / farod's own user on the socket.
#[derive(Debug)]
pub(super) struct Admin {
    via: &'static str,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(s) = parts.extensions.get::<DeskSession>() {
            // The session layer let only a coordinator through; checked again here.
            return match s.role {
                Role::Coordinator => Ok(Admin {
                    via: super::desk::VIA,
                }),
                _ => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "only a coordinator may do this",
                )),
            };
        }
        let uid = parts
            .extensions
            .get::<ConnectInfo<PeerCred>>()
            .and_then(|c| c.0 .0)
            .map(|p| p.uid);
        match uid {
            Some(u) if u == 0 || u == nix::unistd::geteuid().as_raw() => {
                Ok(Admin { via: "faroctl" })
            }
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "users are managed by root or farod's own user (sudo faroctl user ...)",
            )),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct NewUser {
    name: String,
    role: String,
    password: String,
}

#[derive(Deserialize)]
pub(super) struct NewPassword {
    password: String,
}

async fn hash(password: String) -> ApiResult<String> {
    session::check_password(&password).map_err(ApiError::bad_request)?;
    tokio::task::spawn_blocking(move || session::hash_password(&password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))
}

pub(super) async fn list(State(st): State<Shared>, _: Admin) -> ApiResult<Json<Value>> {
    let users = read(&st, |r| r.users()).await?;
    Ok(Json(serde_json::json!({ "users": users })))
}

pub(super) async fn add(
    State(st): State<Shared>,
    admin: Admin,
    op: Operator,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b: NewUser = parse_body(body)?;
    check_name(&b.name).map_err(ApiError::bad_request)?;
    let role = Role::parse(&b.role).map_err(ApiError::bad_request)?;
    let password_hash = hash(b.password).await?;
    let req = UserRequest::Add {
        name: b.name,
        role,
        password_hash,
    };
    let at = st.api.clock.now_ms();
    let v = st.api.store.users(&op.0, admin.via, req, at).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

pub(super) async fn disable(
    State(st): State<Shared>,
    admin: Admin,
    op: Operator,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let at = st.api.clock.now_ms();
    let v = st
        .api
        .store
        .users(&op.0, admin.via, UserRequest::Disable { name }, at)
        .await?;
    Ok(Json(v))
}

pub(super) async fn password(
    State(st): State<Shared>,
    admin: Admin,
    op: Operator,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let b: NewPassword = parse_body(body)?;
    let password_hash = hash(b.password).await?;
    let at = st.api.clock.now_ms();
    let req = UserRequest::Password {
        name,
        password_hash,
    };
    let v = st.api.store.users(&op.0, admin.via, req, at).await?;
    Ok(Json(v))
}
