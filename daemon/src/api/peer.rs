//! Who is at the other end of a control-socket connection: the kernel's word (`SO_PEERCRED`:
//! uid, gid and pid of the process that connected), never the client's. The audit trail names
//! an operator by the user name of that uid; the `X-Faro-Operator` header is only a label kept
//! beside it (docs/SECURITY.md).
//!
//! The operator's name in the audit trail (`who` of an event, after the store's `operator:`
//! prefix) is exactly one of:
//!
//! ```text
//! operator:<user>                          no label, or the label is the user name
//! operator:<user> (label "<label>")        the client's label, when given and different
//! ```
//!
//! `<user>` is the peer uid's user name from the password database when it is a plain name
//! (no spaces, quotes, parentheses or control characters), else `uid:<number>`. `<label>` is
//! the header's text (1 to 40 printable characters) with `\` and `"` escaped by a backslash,
//! so the form parses back: everything after `operator:` up to ` (label "` is the user.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::UnixListener;

/// The credentials of the process that opened a connection, as the kernel gave them when it
/// connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
    /// Its process id, when the kernel tells.
    pub pid: Option<i32>,
}

/// The connection's peer for axum's `ConnectInfo` (None when the kernel would not tell: writes
/// from such a connection are refused).
#[derive(Debug, Clone, Copy)]
pub struct PeerCred(pub Option<Peer>);

impl Connected<IncomingStream<'_, UnixListener>> for PeerCred {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        PeerCred(stream.io().peer_cred().ok().map(|c| Peer {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        }))
    }
}

/// The user name of `uid` for the audit trail: its name in the password database when that is
/// a plain name, else `uid:<number>`. It may block (NSS): call it off the async threads.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) if plain(&u.name) => u.name,
        _ => format!("uid:{uid}"),
    }
}

/// A name that reads back unambiguously in `operator:<user> (label "...")`.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "()\"\\".contains(c))
}

/// The operator as the audit trail names it: `user`, or `user (label "label")` when the client
/// gave a label other than the user name (module documentation).
pub fn operator_name(user: &str, label: Option<&str>) -> String {
    match label {
        Some(l) if l != user => {
            let mut escaped = String::with_capacity(l.len());
            for c in l.chars() {
                if c == '\\' || c == '"' {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            format!("{user} (label \"{escaped}\")")
        }
        _ => user.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_kept_beside_the_user_when_it_differs() {
        assert_eq!(operator_name("ana", None), "ana");
        assert_eq!(operator_name("ana", Some("ana")), "ana");
        assert_eq!(
            operator_name("ana", Some("turno noche")),
            "ana (label \"turno noche\")"
        );
        assert_eq!(
            operator_name("uid:1234", Some(r#"a "b" \c"#)),
            r#"uid:1234 (label "a \"b\" \\c")"#
        );
    }

    #[test]
    fn an_unknown_or_odd_user_is_its_uid() {
        // No system gives a user this uid (it is (uid_t)-2, below the "nobody" of -1).
        assert_eq!(user_name(4_294_967_294), "uid:4294967294");
        assert_eq!(user_name(0), "root");
        assert!(plain("ana.maria_2"));
        for odd in ["", "a b", "a(b)", "a\"", "a\u{1b}", "a\\b"] {
            assert!(!plain(odd), "{odd:?}");
        }
    }
}
