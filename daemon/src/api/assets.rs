//! The desk's embedded files (`daemon/web/`): one table, so a station installs one binary and
//! no page asks for anything outside the listener.
//!
//! - [`PUBLIC`] files carry no data and are served without a session (the login page needs
//!   them);
//! - [`PAGES`] are behind a session: the pages themselves, their scripts and the map's
//!   vendored library and outlines (`daemon/web/vendor/`, fetched from the npm registry with
//!   `daemon/web/package-lock.json` by `daemon/web/vendor.sh`).
//!
//! Every answer carries the strict Content-Security-Policy ([`super::desk::CSP`]) and
//! `nosniff`; HTML is `Cache-Control: no-store`, the rest may be cached for an hour.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file: where it is served, its type and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The file itself.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $ty:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $ty,
            body: include_bytes!(concat!("../../web/", $file)),
        }
    };
}

/// Served without a session: no data in them.
pub const PUBLIC: &[Asset] = &[
    asset!("/login", HTML, "login.html"),
    asset!("/desk.js", JS, "desk.js"),
    asset!("/desk.css", CSS, "desk.css"),
];

/// Served only with a live session.
pub const PAGES: &[Asset] = &[
    asset!("/", HTML, "index.html"),
    asset!("/incident", HTML, "incident.html"),
    asset!("/incident.js", JS, "incident.js"),
    asset!("/teams", HTML, "teams.html"),
    asset!("/teams.js", JS, "teams.js"),
];

/// The file served at `path` from `table`, if any.
pub fn find(table: &'static [Asset], path: &str) -> Option<&'static Asset> {
    table.iter().find(|a| a.path == path)
}

/// The answer for one embedded file, with its security headers.
pub fn respond(asset: &'static Asset) -> Response {
    let cache = if asset.content_type.starts_with("text/html") {
        "no-store"
    } else {
        "private, max-age=3600"
    };
    let mut res = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CONTENT_SECURITY_POLICY, super::desk::CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        asset.body,
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_served_once_and_public_files_are_not_pages() {
        let mut seen = std::collections::HashSet::new();
        for a in PUBLIC.iter().chain(PAGES) {
            assert!(a.path.starts_with('/'), "{}", a.path);
            assert!(seen.insert(a.path), "{} twice", a.path);
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
        // Only the login form is HTML among the public files.
        let html: Vec<_> = PUBLIC
            .iter()
            .filter(|a| a.content_type == HTML)
            .map(|a| a.path)
            .collect();
        assert_eq!(html, ["/login"]);
    }

    #[test]
    fn no_embedded_file_names_an_outside_address() {
        for a in PUBLIC.iter().chain(PAGES) {
            if a.content_type == HTML || a.content_type == CSS {
                let text = String::from_utf8_lossy(a.body);
                for bad in ["http://", "https://", "//fonts.", "@import"] {
                    assert!(!text.contains(bad), "{} names {bad}", a.path);
                }
            }
        }
    }
}
