//! HTTP over TCP to the desk listener, as a browser would speak it, for the desk's tests
//! (`desk_http.rs`, `desk_map.rs`).

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::WAIT;

/// A request's text: `Connection: close`, JSON unless a content type is given.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    req
}

/// A status line and header block: the status and the headers (names in lower case).
pub fn head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// One request: the status, the headers and the body as text.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let req = request(method, path, headers, body);
    timeout(WAIT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("UTF-8 answer");
        let (top, body) = text.split_once("\r\n\r\n").expect("a header block");
        let (status, headers) = head(top);
        (status, headers, body.to_string())
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"))
}

/// Logs in: the cookie pair (`faro_session=...`) and the CSRF token.
pub async fn login_pair(addr: SocketAddr, name: &str, password: &str) -> (String, String) {
    let body = json!({"name": name, "password": password}).to_string();
    let (status, headers, text) = raw(addr, "POST", "/login", &[], Some(&body)).await;
    assert_eq!(status, 200, "{text}");
    let cookie = headers
        .iter()
        .find(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap();
    let csrf = serde_json::from_str::<Value>(&text).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}
