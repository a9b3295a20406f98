//! The desk's users and their sessions (issue 15, docs/SECURITY.md): the requests the writer
//! carries out ([`UserRequest`]) and the read-only queries the desk listener asks on every
//! request ([`Reader::session`]).
//!
//! A password reaches the store only as its Argon2id PHC string (hashed by the API layer on
//! the blocking pool); a session token only as its SHA-256 (hex). The audit trail names who
//! did what ("user ana added (desk)", "login", "logout", "failed login as ana"), never a
//! password, a hash or a token.

use std::ops::RangeInclusive;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::query::Reader;
use super::StoreError;

/// Characters a user name may have, and how many.
pub const NAME_LEN: RangeInclusive<usize> = 1..=32;

/// What a user may do at the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every incident and casework action, except user management, the data key's wipe and
    /// the purge.
    Desk,
    /// Everything.
    Coordinator,
    /// Reads only.
    Auditor,
}

impl Role {
    /// The name in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Coordinator => "coordinator",
            Role::Auditor => "auditor",
        }
    }

    /// Parses `desk`, `coordinator` or `auditor`.
    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "desk" => Ok(Role::Desk),
            "coordinator" => Ok(Role::Coordinator),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!(
                "unknown role {:?}: expected desk, coordinator or auditor",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// Checks a user name: 1 to 32 of `a-z 0-9 . _ -`.
pub fn check_name(name: &str) -> Result<(), String> {
    if !NAME_LEN.contains(&name.len())
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(format!(
            "a user name is {} to {} of a-z, 0-9, '.', '_' and '-'",
            NAME_LEN.start(),
            NAME_LEN.end()
        ));
    }
    Ok(())
}

/// What the writer does for users and sessions. Its `Debug` names the request and the user
/// only: never a hash, a token or a CSRF token.
pub enum UserRequest {
    /// A new user (refused if the name exists, also disabled).
    Add {
        /// Its name.
        name: String,
        /// Its role.
        role: Role,
        /// Argon2id PHC string.
        password_hash: String,
    },
    /// A user may no longer log in; its sessions end.
    Disable {
        /// Its name.
        name: String,
    },
    /// A new password; the user's sessions end.
    Password {
        /// Its name.
        name: String,
        /// Argon2id PHC string.
        password_hash: String,
    },
    /// A session after a verified password (expired sessions go at the same time).
    Login {
        /// The user.
        name: String,
        /// SHA-256 of the token, hex.
        token_hash: String,
        /// The session's CSRF token.
        csrf: String,
        /// Unix ms.
        expires_at: i64,
    },
    /// A session ends.
    Logout {
        /// SHA-256 of the token, hex.
        token_hash: String,
    },
    /// A wrong name or password, for the audit trail.
    LoginFailed {
        /// The name given (kept only if it is a valid user name).
        name: String,
    },
    /// The session was used now.
    Touch {
        /// SHA-256 of the token, hex.
        token_hash: String,
    },
}

impl std::fmt::Debug for UserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, name) = match self {
            UserRequest::Add { name, .. } => ("Add", Some(name)),
            UserRequest::Disable { name } => ("Disable", Some(name)),
            UserRequest::Password { name, .. } => ("Password", Some(name)),
            UserRequest::Login { name, .. } => ("Login", Some(name)),
            UserRequest::Logout { .. } => ("Logout", None),
            UserRequest::LoginFailed { name } => ("LoginFailed", Some(name)),
            UserRequest::Touch { .. } => ("Touch", None),
        };
        let mut d = f.debug_struct(what);
        if let Some(n) = name {
            d.field("name", n);
        }
        d.finish_non_exhaustive()
    }
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// When added (RFC 3339).
    pub created_at: String,
    /// Who added it.
    pub created_by: String,
    /// When disabled, if it is.
    pub disabled_at: Option<String>,
}

/// A live session, as the desk listener checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    /// The user.
    pub user: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token.
    pub csrf: String,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms.
    pub last_seen_at: i64,
}

type Res<T> = Result<T, StoreError>;

fn role_of(s: &str) -> Res<Role> {
    Role::parse(s).map_err(StoreError::Corrupt)
}

impl Reader {
    /// Every user, by name.
    pub fn users(&self) -> Res<Vec<UserView>> {
        let mut st = self.conn().prepare(
            "SELECT name, role, created_at, created_by, disabled_at FROM users ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(UserView {
                name: r.get(0)?,
                role: r.get(1)?,
                created_at: super::rfc3339(r.get(2)?),
                created_by: r.get(3)?,
                disabled_at: r.get::<_, Option<i64>>(4)?.map(super::rfc3339),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The role and password hash of a user who may log in (none: unknown or disabled).
    pub fn login_user(&self, name: &str) -> Res<Option<(Role, String)>> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT role, password_hash FROM users WHERE name = ?1 AND disabled_at IS NULL",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(role, hash)| Ok((role_of(&role)?, hash)))
            .transpose()
    }

    /// The session of a token's hash, if it exists and its user is not disabled (its expiry
    /// is the caller's to check, against its clock).
    pub fn session(&self, token_hash: &str) -> Res<Option<SessionView>> {
        let row: Option<(String, String, String, i64, i64)> = self
            .conn()
            .query_row(
                "SELECT s.user, u.role, s.csrf, s.expires_at, s.last_seen_at
                 FROM sessions s JOIN users u ON u.name = s.user
                 WHERE s.token_hash = ?1 AND u.disabled_at IS NULL",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        row.map(|(user, role, csrf, expires_at, last_seen_at)| {
            Ok(SessionView {
                user,
                role: role_of(&role)?,
                csrf,
                expires_at,
                last_seen_at,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles() {
        for ok in ["ana", "a", "ana.maria_2-b", &"x".repeat(32)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Ana", "ana maria", "añá", "a/b", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(Role::parse("auditor"), Ok(Role::Auditor));
        let req = UserRequest::Login {
            name: "ana".into(),
            token_hash: "secret-hash".into(),
            csrf: "secret-csrf".into(),
            expires_at: 1,
        };
        let shown = format!("{req:?}");
        assert_eq!(shown, "Login { name: \"ana\", .. }");
        assert!(Role::parse("root").is_err());
    }
}
