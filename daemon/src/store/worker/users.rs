//! Users and sessions in the writer's transaction ([`crate::store::users`]). The audit trail
//! says who was added, disabled or logged in, never a password, a hash or a token.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::{Res, Worker};
use crate::store::users::{check_name, UserRequest};
use crate::store::{Refusal, StoreError};

/// A name as a refusal quotes it: its first 40 characters, debug-escaped.
fn quote(s: &str) -> String {
    format!("{:?}", s.chars().take(40).collect::<String>())
}

fn refused(r: Refusal) -> StoreError {
    StoreError::Refused(r)
}

impl Worker {
    /// Carries out `req` for `who` (the operator as the audit trail names it, without the
    /// `operator:` prefix) coming `via` the socket or the desk.
    pub(super) fn users(&mut self, who: &str, via: &str, req: UserRequest, at: i64) -> Res<Value> {
        let operator = super::casework::operator(who);
        match req {
            UserRequest::Add {
                name,
                role,
                password_hash,
            } => {
                check_name(&name).map_err(|e| refused(Refusal::Invalid(e)))?;
                let exists: Option<i64> = self
                    .conn
                    .query_row("SELECT 1 FROM users WHERE name = ?1", [&name], |r| r.get(0))
                    .optional()?;
                if exists.is_some() {
                    return Err(refused(Refusal::Conflict(format!(
                        "user {name} exists (users are disabled, never removed)"
                    ))));
                }
                self.exec(
                    "INSERT INTO users(name, role, password_hash, created_at, created_by)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![name, role.as_str(), password_hash, at, operator],
                )?;
                let what = format!("user {name} added ({})", role.as_str());
                self.event(None, at, &operator, via, &what)?;
                Ok(json!({"name": name, "role": role.as_str()}))
            }
            UserRequest::Disable { name } => {
                let n = self.exec(
                    "UPDATE users SET disabled_at = ?2 WHERE name = ?1 AND disabled_at IS NULL",
                    params![name, at],
                )?;
                if n == 0 {
                    return Err(refused(Refusal::NotFound(format!(
                        "no enabled user {}",
                        quote(&name)
                    ))));
                }
                self.exec("DELETE FROM sessions WHERE user = ?1", [&name])?;
                self.event(None, at, &operator, via, &format!("user {name} disabled"))?;
                Ok(json!({"name": name, "disabled": true}))
            }
            UserRequest::Password {
                name,
                password_hash,
            } => {
                let n = self.exec(
                    "UPDATE users SET password_hash = ?2 WHERE name = ?1 AND disabled_at IS NULL",
                    params![name, password_hash],
                )?;
                if n == 0 {
                    return Err(refused(Refusal::NotFound(format!(
                        "no enabled user {}",
                        quote(&name)
                    ))));
                }
                self.exec("DELETE FROM sessions WHERE user = ?1", [&name])?;
                let what = format!("password of user {name} changed");
                self.event(None, at, &operator, via, &what)?;
                Ok(json!({"name": name}))
            }
            UserRequest::Login {
                name,
                token_hash,
                csrf,
                expires_at,
            } => {
                self.exec("DELETE FROM sessions WHERE expires_at <= ?1", [at])?;
                let n = self.exec(
                    "INSERT INTO sessions(token_hash, user, csrf, created_at, expires_at, last_seen_at)
                     SELECT ?1, name, ?3, ?4, ?5, ?4 FROM users WHERE name = ?2 AND disabled_at IS NULL",
                    params![token_hash, name, csrf, at, expires_at],
                )?;
                if n == 0 {
                    return Err(refused(Refusal::NotFound("no such user".into())));
                }
                self.event(None, at, &operator, via, "login")?;
                Ok(json!({"name": name}))
            }
            UserRequest::Logout { token_hash } => {
                self.exec("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash])?;
                self.event(None, at, &operator, via, "logout")?;
                Ok(json!({}))
            }
            UserRequest::LoginFailed { name } => {
                let what = if check_name(&name).is_ok() {
                    format!("failed login as {name}")
                } else {
                    "failed login (not a user name)".to_string()
                };
                self.event(None, at, "system", via, &what)?;
                Ok(json!({}))
            }
            UserRequest::Touch { token_hash } => {
                self.exec(
                    "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
                    params![token_hash, at],
                )?;
                Ok(json!({}))
            }
        }
    }
}
