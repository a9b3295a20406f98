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
const JSON: &str = "application/json";

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
    asset!("/map", HTML, "map.html"),
    asset!("/map.js", JS, "map.js"),
    asset!("/map.css", CSS, "map.css"),
    asset!("/vendor/leaflet.js", JS, "vendor/leaflet.js"),
    asset!("/vendor/leaflet.css", CSS, "vendor/leaflet.css"),
    asset!("/vendor/outlines.json", JSON, "vendor/outlines.json"),
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

    /// What the map page loads, all of it: the budget is 2 MB.
    const MAP_PAGE: &[&str] = &[
        "/map",
        "/desk.css",
        "/vendor/leaflet.css",
        "/map.css",
        "/vendor/leaflet.js",
        "/desk.js",
        "/map.js",
        "/vendor/outlines.json",
    ];

    /// The most the map page may weigh, bytes.
    const MAP_BUDGET: usize = 2 * 1024 * 1024;

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

    /// `text` without its `/* ... */` comments (Leaflet's stylesheet cites bug trackers in
    /// them; a comment loads nothing).
    fn without_comments(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("/*") {
            out.push_str(&rest[..start]);
            rest = rest[start + 2..]
                .find("*/")
                .map_or("", |end| &rest[start + 2 + end + 2..]);
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn no_embedded_file_names_an_outside_address() {
        for a in PUBLIC.iter().chain(PAGES) {
            if a.content_type == HTML || a.content_type == CSS {
                let text = without_comments(&String::from_utf8_lossy(a.body));
                for bad in ["http://", "https://", "//fonts.", "@import"] {
                    assert!(!text.contains(bad), "{} names {bad}", a.path);
                }
            }
        }
    }

    #[test]
    fn the_map_page_fits_its_budget() {
        let mut total = 0;
        for path in MAP_PAGE {
            let a = find(PUBLIC, path)
                .or_else(|| find(PAGES, path))
                .unwrap_or_else(|| panic!("{path} is not embedded"));
            total += a.body.len();
        }
        assert!(total <= MAP_BUDGET, "the map page weighs {total} bytes");
    }

    #[test]
    fn the_map_page_loads_only_what_is_embedded() {
        let page = find(PAGES, "/map").expect("the map page");
        let text = String::from_utf8_lossy(page.body);
        for part in text.split(['"', '\'']) {
            if part.starts_with('/') && part.len() > 1 && !part.contains(' ') {
                let path = part.split('?').next().unwrap_or(part);
                assert!(
                    find(PUBLIC, path).is_some() || find(PAGES, path).is_some(),
                    "map.html names {path}, which is not embedded"
                );
            }
        }
        // The page loads the rest; its script loads the outlines.
        let script = String::from_utf8_lossy(find(PAGES, "/map.js").expect("map.js").body);
        for path in MAP_PAGE {
            let loads = match *path {
                "/map" => true,
                "/vendor/outlines.json" => script.contains(&format!("\"{path}\"")),
                _ => text.contains(&format!("\"{path}\"")),
            };
            assert!(loads, "the map page does not load {path}");
        }
        let outlines = find(PAGES, "/vendor/outlines.json").expect("outlines");
        let geo: serde_json::Value = serde_json::from_slice(outlines.body).expect("JSON");
        assert_eq!(geo["type"], "FeatureCollection");
        assert!(geo["features"]
            .as_array()
            .is_some_and(|f| f.iter().any(|c| c["properties"]["name"] == "Mexico")));
    }
}
