//! The desk listener's sessions (issue 15, docs/SECURITY.md): passwords (Argon2id, PHC
//! strings), session and CSRF tokens (32 random bytes, base64url; the database keeps only
//! the SHA-256 of a session token), the login rate limit, and what each role may do.
//!
//! - A session ends 12 hours after login (`[desk] session_hours`), after [`IDLE`] without a
//!   request, at logout, or when its user is disabled or given a new password.
//! - Login failures are counted per source address and per user name: [`MAX_FAILURES`] within
//!   [`FAILURE_WINDOW`] and the next login from that address or for that name is answered 429
//!   with `Retry-After` until the oldest failure leaves the window. The counters live in
//!   memory (a restart clears them), at most [`MAX_TRACKED`] keys: when full, keys with no
//!   failure in the window go first, then the one whose last failure is oldest.
//! - Roles: `auditor` only reads (GET); `desk` does everything but user management
//!   (`/v1/users`), the data key's wipe (`/v1/wipe-key`) and the purge (`/v1/purge`);
//!   `coordinator` does everything.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::Method;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::store::users::Role;

/// The session cookie's name.
pub const COOKIE: &str = "faro_session";
/// The header a write must carry with the session's CSRF token.
pub const CSRF_HEADER: &str = "x-faro-csrf";
/// A session unused this long has ended.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session's last use is written at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Failed logins allowed per address or name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// How long a failed login counts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Addresses and names the rate limit remembers at most.
pub const MAX_TRACKED: usize = 10_000;
/// Password length in bytes.
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 12..=128;

/// The logged-in operator of a request on the desk listener.
#[derive(Debug, Clone)]
pub struct DeskSession {
    /// The user.
    pub user: String,
    /// Its role.
    pub role: Role,
    /// The session's CSRF token.
    pub csrf: String,
    /// SHA-256 of the session token, hex.
    pub token_hash: String,
}

impl DeskSession {
    /// How the audit trail names the operator (after `operator:`): `web:<user>`.
    pub fn operator(&self) -> String {
        format!("web:{}", self.user)
    }
}

/// 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), String> {
    if !PASSWORD_LEN.contains(&password.len()) {
        return Err(format!(
            "a password is {} to {} bytes",
            PASSWORD_LEN.start(),
            PASSWORD_LEN.end()
        ));
    }
    Ok(())
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane) with a random salt, as a PHC
/// string. Slow on purpose: call it on the blocking pool.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("password hash: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hash: {e}"))
}

/// Whether `password` matches the PHC string. Slow on purpose: call it on the blocking pool.
/// `None` (an unknown user) still costs one verification, so the answer's time does not tell
/// which names exist.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password("not a password of anybody").unwrap_or_default());
    let (phc, known) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    ok && known
}

/// Equal strings, compared in time that depends on their length only.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why a role may not make a request, if it may not.
pub fn refused_for(role: Role, method: &Method, path: &str) -> Option<&'static str> {
    let reads = method == Method::GET || method == Method::HEAD;
    let admin = path == "/v1/users"
        || path.starts_with("/v1/users/")
        || path == "/v1/wipe-key"
        || path == "/v1/purge";
    match role {
        Role::Coordinator => None,
        Role::Auditor if !reads => Some("an auditor may only read"),
        _ if admin => Some("only a coordinator may do this"),
        _ => None,
    }
}

/// Failed logins per key (`ip:<address>`, `user:<name>`), in memory (module documentation).
#[derive(Debug, Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Limiter {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<i64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds to wait when any of `keys` has [`MAX_FAILURES`] failures in the window.
    pub fn retry_after(&self, keys: &[String], now: i64) -> Option<u64> {
        let window = FAILURE_WINDOW.as_millis() as i64;
        let map = self.map();
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter_map(|q| {
                let recent: Vec<i64> = q.iter().copied().filter(|t| now - t < window).collect();
                (recent.len() >= MAX_FAILURES).then(|| {
                    let oldest = recent.iter().copied().min().unwrap_or(now);
                    ((oldest + window - now).max(1000) as u64).div_ceil(1000)
                })
            })
            .max()
    }

    /// Counts a failure for each key.
    pub fn fail(&self, keys: &[String], now: i64) {
        let window = FAILURE_WINDOW.as_millis() as i64;
        let mut map = self.map();
        for k in keys {
            if !map.contains_key(k) && map.len() >= MAX_TRACKED {
                map.retain(|_, q| q.back().is_some_and(|t| now - t < window));
                if map.len() >= MAX_TRACKED {
                    let oldest = map
                        .iter()
                        .min_by_key(|(_, q)| q.back().copied().unwrap_or(i64::MIN))
                        .map(|(k, _)| k.clone());
                    if let Some(o) = oldest {
                        map.remove(&o);
                    }
                }
            }
            let q = map.entry(k.clone()).or_default();
            while q.front().is_some_and(|t| now - t >= window) || q.len() >= MAX_FAILURES {
                q.pop_front();
            }
            q.push_back(now);
        }
    }

    /// Takes back one failure counted at `at` for each key (a login counted before its
    /// password was checked, that turned out right).
    pub fn forgive(&self, keys: &[String], at: i64) {
        let mut map = self.map();
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                if let Some(i) = q.iter().rposition(|t| *t == at) {
                    q.remove(i);
                }
                if q.is_empty() {
                    map.remove(k);
                }
            }
        }
    }

    /// Forgets the failures of `key` (a user who logged in).
    pub fn clear(&self, key: &str) {
        self.map().remove(key);
    }

    /// Keys remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong horse battery", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(same(&a, &a.clone()) && !same(&a, &b));
    }

    #[test]
    fn the_limiter_blocks_after_five_failures_and_forgets_after_the_window() {
        let l = Limiter::default();
        let keys = vec!["ip:127.0.0.1".to_string()];
        for i in 0..5 {
            assert_eq!(l.retry_after(&keys, i), None);
            l.fail(&keys, i);
        }
        assert_eq!(l.retry_after(&keys, 1000), Some(299));
        l.forgive(&keys, 4);
        assert_eq!(l.retry_after(&keys, 1000), None);
        l.fail(&keys, 4);
        let later = FAILURE_WINDOW.as_millis() as i64 + 1;
        assert_eq!(l.retry_after(&keys, later), None);
        for i in 0..(MAX_TRACKED as i64 + 5) {
            l.fail(&[format!("ip:{i}")], i);
        }
        assert!(l.len() <= MAX_TRACKED);
    }

    #[test]
    fn roles() {
        let p = Method::POST;
        assert!(refused_for(Role::Auditor, &Method::GET, "/v1/incidents").is_none());
        assert!(refused_for(Role::Auditor, &p, "/v1/incidents").is_some());
        assert!(refused_for(Role::Desk, &p, "/v1/incidents/SAS-1/ack").is_none());
        assert!(refused_for(Role::Desk, &p, "/v1/purge").is_some());
        assert!(refused_for(Role::Desk, &p, "/v1/wipe-key").is_some());
        assert!(refused_for(Role::Desk, &Method::GET, "/v1/users").is_some());
        assert!(refused_for(Role::Coordinator, &p, "/v1/users").is_none());
    }
}
