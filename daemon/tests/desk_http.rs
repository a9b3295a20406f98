//! The desk listener over real TCP (127.0.0.1, an ephemeral port) and a real SQLite file:
//! nothing without a session, logins and their rate limit, cookies, CSRF, roles, logout,
//! expiry, and what the database keeps of a session (its token's hash, never the token); the
//! desk's pages (queue, incident, teams): behind a session, under the strict policy, with the
//! elements and attributes the pages' scripts and the browser tests rely on.

use std::net::SocketAddr;
use std::time::Duration;

use farod::api::{self, ApiState, DeskConfig};
use farod::clock::Clock;
use farod::store::users::{Role, UserRequest};
use farod::store::{Store, StoreConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

mod common;
use common::desk::{head, raw, request};

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(20);
const ANA_PASSWORD: &str = "correct horse battery";
const OLGA_PASSWORD: &str = "auditora de guardia";
const MARTA_PASSWORD: &str = "coordinadora general";

struct Desk {
    dir: tempfile::TempDir,
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(session: Duration) -> Desk {
    start_with(DeskConfig {
        session,
        ..DeskConfig::default()
    })
    .await
}

/// A desk with `cfg` (its address is chosen here).
async fn start_with(desk: DeskConfig) -> Desk {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StoreConfig::new("SAS");
    cfg.personal_key = Some(farod::casework::seal::Key::random());
    let (store, _writer) = Store::open(&dir.path().join("faro.db"), cfg).expect("open the store");
    for (name, role, password) in [
        ("ana", Role::Desk, ANA_PASSWORD),
        ("olga", Role::Auditor, OLGA_PASSWORD),
        ("marta", Role::Coordinator, MARTA_PASSWORD),
    ] {
        let req = UserRequest::Add {
            name: name.into(),
            role,
            password_hash: api::hash_password(password).expect("hash"),
        };
        store.users("root", "faroctl", req, 1).await.expect("add");
    }
    let state = ApiState {
        store,
        station: "SAS".into(),
        teams: vec![],
        radios: vec![],
        clock: Clock::start(),
        municipalities: vec![],
        surge: Default::default(),
        referrals: Vec::new(),
        timezone: "UTC".into(),
        map: Default::default(),
    };
    let listener = api::bind_desk("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let desk = DeskConfig {
        listen: Some(addr),
        ..desk
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(api::serve_desk(listener, state, desk, async {
        let _ = stopped.await;
    }));
    Desk {
        dir,
        addr,
        _stop: stop,
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let (status, headers, body) = raw(addr, method, path, headers, body).await;
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"));
    Answer {
        status,
        headers,
        json,
    }
}

/// A logged-in client: its cookie header and CSRF token.
struct Login {
    cookie: String,
    token: String,
    csrf: String,
}

async fn login(addr: SocketAddr, name: &str, password: &str) -> Answer {
    let body = json!({"name": name, "password": password}).to_string();
    call(addr, "POST", "/login", &[], Some(&body)).await
}

async fn logged_in(addr: SocketAddr, name: &str, password: &str) -> Login {
    let a = login(addr, name, password).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let set = a.header("set-cookie").expect("a cookie").to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let pair = set.split(';').next().expect("name=value").to_string();
    let token = pair
        .strip_prefix("faro_session=")
        .expect("faro_session")
        .to_string();
    Login {
        cookie: pair,
        token,
        csrf: a.json["csrf"].as_str().expect("csrf").to_string(),
    }
}

fn report() -> String {
    json!({"lat": 31.4746, "lon": -111.5449, "place": "Sásabe km 12", "kind": "heat", "people": 3})
        .to_string()
}

/// The station's own audit events (no incident): (who, what).
fn station_events(desk: &Desk) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(desk.dir.path().join("faro.db")).expect("open");
    let mut st = c
        .prepare("SELECT who, what FROM events WHERE incident IS NULL ORDER BY id")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test]
async fn nothing_is_reachable_without_a_session() {
    let desk = start(Duration::from_secs(3600)).await;
    for (method, path) in [
        ("GET", "/v1/incidents"),
        ("GET", "/v1/me"),
        ("GET", "/v1/no-such-thing"),
        ("POST", "/logout"),
    ] {
        let a = call(desk.addr, method, path, &[], None).await;
        assert_eq!(a.status, 401, "{method} {path}: {}", a.json);
        assert!(!a.error().is_empty() && !a.error().contains('\n'));
    }
    // A made-up cookie is no session either.
    let a = call(
        desk.addr,
        "GET",
        "/v1/incidents",
        &[("Cookie", "faro_session=forged")],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    // The X-Faro-Operator header opens nothing.
    let a = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[("X-Faro-Operator", "ana")],
        Some(&report()),
    )
    .await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited() {
    let desk = start(Duration::from_secs(3600)).await;
    for _ in 0..api::MAX_FAILURES {
        let a = login(desk.addr, "ana", "not her password").await;
        assert_eq!(a.status, 401, "{}", a.json);
        assert_eq!(a.error(), "wrong name or password");
        assert!(a.header("set-cookie").is_none());
    }
    // Now even the right password waits: the name is blocked.
    let a = login(desk.addr, "ana", ANA_PASSWORD).await;
    assert_eq!(a.status, 429, "{}", a.json);
    let after: u64 = a
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After");
    assert!((1..=300).contains(&after), "{after}");
    // And so is the address, for any name.
    let a = login(desk.addr, "olga", OLGA_PASSWORD).await;
    assert_eq!(a.status, 429);
    // An unknown user, or a name that cannot be one, is answered like a wrong password (on a
    // fresh station).
    let other = start(Duration::from_secs(3600)).await;
    let a = login(other.addr, "nobody", "whatever it is").await;
    assert_eq!((a.status, a.error()), (401, "wrong name or password"));
    let a = login(other.addr, &"N".repeat(5000), "whatever it is").await;
    assert_eq!((a.status, a.error()), (401, "wrong name or password"));
    assert!(station_events(&other)
        .contains(&("system".into(), "failed login (not a user name)".into())));
    let events = station_events(&desk);
    let failed: Vec<_> = events
        .iter()
        .filter(|(_, what)| what == "failed login as ana")
        .collect();
    assert_eq!(failed.len(), api::MAX_FAILURES, "{events:?}");
    assert!(events
        .iter()
        .all(|(_, what)| !what.contains("not her password")));
}

#[tokio::test]
async fn a_session_reads_writes_with_its_csrf_token_and_ends_at_logout() {
    let desk = start(Duration::from_secs(3600)).await;
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let cookie = ("Cookie", ana.cookie.as_str());
    let a = call(desk.addr, "GET", "/v1/incidents", &[cookie], None).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let me = call(desk.addr, "GET", "/v1/me", &[cookie], None).await;
    assert_eq!(
        me.json,
        json!({"name": "ana", "role": "desk", "csrf": ana.csrf, "p1_realert_secs": 120})
    );
    // A write without the CSRF token, or with another, is refused.
    let a = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[cookie],
        Some(&report()),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(a.error().contains("X-Faro-CSRF"), "{}", a.error());
    let wrong = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[cookie, ("X-Faro-CSRF", "not-the-token")],
        Some(&report()),
    )
    .await;
    assert_eq!(wrong.status, 403);
    // With it, it works, and the audit trail names the web user, whatever the label header.
    let csrf = ("X-Faro-CSRF", ana.csrf.as_str());
    let a = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[cookie, csrf, ("X-Faro-Operator", "mallory")],
        Some(&report()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().expect("id").to_string();
    let shown = call(
        desk.addr,
        "GET",
        &format!("/v1/incidents/{id}"),
        &[cookie],
        None,
    )
    .await;
    let whos: Vec<&str> = shown.json["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["who"].as_str())
        .collect();
    assert!(whos.contains(&"operator:web:ana"), "{whos:?}");
    assert!(!whos.iter().any(|w| w.contains("mallory")), "{whos:?}");
    // A desk operator may not purge, wipe the key or manage users.
    for path in [
        "/v1/purge",
        "/v1/wipe-key",
        "/v1/users",
        "/v1/users/olga/disable",
    ] {
        let a = call(desk.addr, "POST", path, &[cookie, csrf], Some("{}")).await;
        assert_eq!(a.status, 403, "{path}: {}", a.json);
    }
    // The database keeps the token's hash, never the token; the password only as Argon2id.
    let db = rusqlite::Connection::open(desk.dir.path().join("faro.db")).expect("open");
    let (hash, user): (String, String) = db
        .query_row("SELECT token_hash, user FROM sessions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("one session");
    let expect: String = Sha256::digest(ana.token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!((hash.as_str(), user.as_str()), (expect.as_str(), "ana"));
    let dump: Vec<String> = db
        .prepare("SELECT quote(token_hash) || quote(user) || quote(csrf) FROM sessions UNION ALL SELECT quote(password_hash) FROM users UNION ALL SELECT who || what FROM events")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for row in &dump {
        assert!(!row.contains(&ana.token), "{row}");
        assert!(!row.contains(ANA_PASSWORD), "{row}");
    }
    let phc: String = db
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'ana'",
            [],
            |r| r.get(0),
        )
        .expect("ana");
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    // Logout needs the CSRF token too, then the cookie opens nothing.
    let a = call(desk.addr, "POST", "/logout", &[cookie], None).await;
    assert_eq!(a.status, 403);
    let a = call(desk.addr, "POST", "/logout", &[cookie, csrf], None).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(a
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    let a = call(desk.addr, "GET", "/v1/incidents", &[cookie], None).await;
    assert_eq!(a.status, 401);
    let events = station_events(&desk);
    assert!(
        events.contains(&("operator:web:ana".into(), "login".into())),
        "{events:?}"
    );
    assert!(
        events.contains(&("operator:web:ana".into(), "logout".into())),
        "{events:?}"
    );
    assert!(events.contains(&("operator:root".into(), "user ana added (desk)".into())));
}

#[tokio::test]
async fn an_auditor_only_reads() {
    let desk = start(Duration::from_secs(3600)).await;
    let olga = logged_in(desk.addr, "olga", OLGA_PASSWORD).await;
    let cookie = ("Cookie", olga.cookie.as_str());
    let a = call(desk.addr, "GET", "/v1/incidents", &[cookie], None).await;
    assert_eq!(a.status, 200);
    let a = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[cookie, ("X-Faro-CSRF", olga.csrf.as_str())],
        Some(&report()),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert_eq!(a.error(), "an auditor may only read");
}

#[tokio::test]
async fn a_form_login_works_and_an_expired_session_is_refused() {
    let desk = start(Duration::from_secs(1)).await;
    let a = call(
        desk.addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("name=ana&password=correct+horse+battery"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let cookie = a
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let a = call(
        desk.addr,
        "GET",
        "/v1/incidents",
        &[("Cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let a = call(
        desk.addr,
        "GET",
        "/v1/incidents",
        &[("Cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.json);
    assert!(a.error().contains("log in again"), "{}", a.error());
}

#[tokio::test]
async fn a_coordinator_manages_users_and_a_disabled_user_is_logged_out() {
    let desk = start(Duration::from_secs(3600)).await;
    let marta = logged_in(desk.addr, "marta", MARTA_PASSWORD).await;
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let m = [
        ("Cookie", marta.cookie.as_str()),
        ("X-Faro-CSRF", marta.csrf.as_str()),
    ];
    let body = json!({"name": "luis", "role": "desk", "password": "otra clave bastante larga"});
    let a = call(desk.addr, "POST", "/v1/users", &m, Some(&body.to_string())).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let a = call(desk.addr, "GET", "/v1/users", &m[..1], None).await;
    let names: Vec<&str> = a.json["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["ana", "luis", "marta", "olga"]);
    // Ana is disabled: her open session ends at once, and she cannot log in again.
    let a = call(desk.addr, "POST", "/v1/users/ana/disable", &m, None).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = call(
        desk.addr,
        "GET",
        "/v1/incidents",
        &[("Cookie", &ana.cookie)],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    let a = login(desk.addr, "ana", ANA_PASSWORD).await;
    assert_eq!(a.status, 401);
    // A new password ends the user's sessions and the old password opens nothing.
    let luis = logged_in(desk.addr, "luis", "otra clave bastante larga").await;
    let a = call(
        desk.addr,
        "POST",
        "/v1/users/luis/password",
        &m,
        Some(&json!({"password": "la clave nueva de luis"}).to_string()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = call(
        desk.addr,
        "GET",
        "/v1/incidents",
        &[("Cookie", &luis.cookie)],
        None,
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        login(desk.addr, "luis", "otra clave bastante larga")
            .await
            .status,
        401
    );
    logged_in(desk.addr, "luis", "la clave nueva de luis").await;
    let events = station_events(&desk);
    for what in [
        "user luis added (desk)",
        "user ana disabled",
        "password of user luis changed",
    ] {
        assert!(
            events.contains(&("operator:web:marta".into(), what.into())),
            "{what}: {events:?}"
        );
    }
}

/// A server-sent event: its id, name and data (a comment-only frame has neither).
#[derive(Debug, Default)]
struct Sse {
    id: Option<i64>,
    event: Option<String>,
    data: String,
}

/// An open `GET /v1/stream`: the connection, its chunked bytes not yet decoded, its body.
struct EventStream {
    s: TcpStream,
    raw: Vec<u8>,
    body: String,
}

async fn open_stream(addr: SocketAddr, headers: &[(&str, &str)], path: &str) -> EventStream {
    let req = request("GET", path, headers, None);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let top = timeout(WAIT, async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let top = String::from_utf8(raw[..end].to_vec()).expect("UTF-8 head");
                raw.drain(..end + 4);
                return top;
            }
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "the stream closed before its headers");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the stream's headers in time");
    let (status, headers) = head(&top);
    assert_eq!(status, 200, "{top}");
    let h = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(h("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(h("transfer-encoding").as_deref(), Some("chunked"));
    EventStream {
        s,
        raw,
        body: String::new(),
    }
}

impl EventStream {
    /// Moves the whole chunks received into the body.
    fn decode(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size = std::str::from_utf8(&self.raw[..eol]).expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            let data = self.raw[eol + 2..eol + 2 + size].to_vec();
            self.body
                .push_str(&String::from_utf8(data).expect("UTF-8 chunk"));
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    /// The next frame (`…\n\n`).
    async fn next(&mut self) -> Sse {
        timeout(WAIT, async {
            loop {
                self.decode();
                if let Some(end) = self.body.find("\n\n") {
                    let frame: String = self.body.drain(..end + 2).collect();
                    let mut ev = Sse::default();
                    for line in frame.lines() {
                        if let Some(id) = line.strip_prefix("id: ") {
                            ev.id = Some(id.parse().expect("a numeric id"));
                        } else if let Some(name) = line.strip_prefix("event: ") {
                            ev.event = Some(name.to_string());
                        } else if let Some(data) = line.strip_prefix("data: ") {
                            ev.data.push_str(data);
                        } else {
                            assert!(line.is_empty() || line.starts_with(':'), "{line:?}");
                        }
                    }
                    return ev;
                }
                let mut buf = [0u8; 4096];
                let n = self.s.read(&mut buf).await.expect("read");
                assert!(n > 0, "the stream ended");
                self.raw.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .expect("an event in time")
    }

    /// Audit events until one about `incident`; each checked: `event: audit`, its id the
    /// id of its data.
    async fn until(&mut self, incident: &str) -> Vec<(i64, Value)> {
        let mut seen = Vec::new();
        loop {
            let ev = self.next().await;
            if ev.event.is_none() {
                continue;
            }
            assert_eq!(ev.event.as_deref(), Some("audit"), "{ev:?}");
            let data: Value = serde_json::from_str(&ev.data).expect("JSON data");
            let id = ev.id.expect("an id");
            assert_eq!(data["id"].as_i64(), Some(id), "{ev:?}");
            let about = data["incident"].as_str() == Some(incident);
            seen.push((id, data));
            if about {
                return seen;
            }
        }
    }
}

impl EventStream {
    /// Reads until the server ends the stream (bounded); panics if it does not.
    async fn ends(&mut self) {
        timeout(WAIT, async {
            loop {
                let mut buf = [0u8; 4096];
                match self.s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .expect("the stream ended in time");
    }
}

#[tokio::test]
async fn a_logout_ends_the_sessions_open_streams_and_only_those() {
    let desk = start(Duration::from_secs(3600)).await;
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let marta = logged_in(desk.addr, "marta", MARTA_PASSWORD).await;
    let mut anas = open_stream(desk.addr, &[("Cookie", ana.cookie.as_str())], "/v1/stream").await;
    let mut martas = open_stream(
        desk.addr,
        &[("Cookie", marta.cookie.as_str())],
        "/v1/stream",
    )
    .await;
    let first = report_as(&desk, &ana).await;
    anas.until(&first).await;
    martas.until(&first).await;

    let out = call(
        desk.addr,
        "POST",
        "/logout",
        &[
            ("Cookie", ana.cookie.as_str()),
            ("X-Faro-CSRF", ana.csrf.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.json);
    // Her stream ends at once; marta's goes on and still hears what happens.
    anas.ends().await;
    let second = report_as(&desk, &marta).await;
    martas.until(&second).await;
    // And a new stream with the old cookie is refused.
    let (status, _, _) = raw(
        desk.addr,
        "GET",
        "/v1/stream",
        &[("Cookie", ana.cookie.as_str())],
        None,
    )
    .await;
    assert_eq!(status, 401);
}

async fn report_as(desk: &Desk, who: &Login) -> String {
    let a = call(
        desk.addr,
        "POST",
        "/v1/incidents",
        &[
            ("Cookie", who.cookie.as_str()),
            ("X-Faro-CSRF", who.csrf.as_str()),
        ],
        Some(&report()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    a.json["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn the_event_stream_is_server_sent_events_and_resumes_after_last_event_id() {
    let desk = start(Duration::from_secs(3600)).await;
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let cookie = ("Cookie", ana.cookie.as_str());
    // Without a session: 401, as everything else.
    let (status, _, _) = raw(desk.addr, "GET", "/v1/stream", &[], None).await;
    assert_eq!(status, 401);

    let mut stream = open_stream(desk.addr, &[cookie], "/v1/stream").await;
    let first = report_as(&desk, &ana).await;
    let seen = stream.until(&first).await;
    let last = seen.last().expect("an event").0;
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    drop(stream);

    // Missed while away: reconnecting with Last-Event-ID gives what came after, once.
    let second = report_as(&desk, &ana).await;
    let last_id = last.to_string();
    let mut again = open_stream(
        desk.addr,
        &[cookie, ("Last-Event-ID", last_id.as_str())],
        "/v1/stream",
    )
    .await;
    let resumed = again.until(&second).await;
    assert!(resumed.iter().all(|(id, _)| *id > last), "{resumed:?}");
    assert!(resumed.windows(2).all(|w| w[0].0 < w[1].0), "{resumed:?}");
    assert!(
        resumed.iter().all(|(_, d)| d["incident"] != json!(first)),
        "{resumed:?}"
    );
    drop(again);

    // `?after=0` replays the backlog from the start: the first report is there.
    let mut all = open_stream(desk.addr, &[cookie], "/v1/stream?after=0").await;
    let from_start = all.until(&first).await;
    assert!(from_start.iter().all(|(id, _)| *id <= last));
}

fn has_header(headers: &[(String, String)], name: &str, value: &str) -> bool {
    headers.iter().any(|(n, v)| n == name && v == value)
}

#[tokio::test]
async fn the_pages_are_served_with_a_strict_policy_and_the_queue_needs_a_session() {
    let desk = start(Duration::from_secs(3600)).await;
    // `/` without a session, or with a made-up one: to the login page.
    for headers in [&[][..], &[("Cookie", "faro_session=forged")][..]] {
        let (status, h, _) = raw(desk.addr, "GET", "/", headers, None).await;
        assert_eq!(status, 303);
        assert!(has_header(&h, "location", "/login"), "{h:?}");
    }
    // The login page and the assets hold no data: served without a session.
    for (path, kind) in [
        ("/login", "text/html; charset=utf-8"),
        ("/desk.js", "text/javascript; charset=utf-8"),
        ("/desk.css", "text/css; charset=utf-8"),
    ] {
        let (status, h, body) = raw(desk.addr, "GET", path, &[], None).await;
        assert_eq!(status, 200, "{path}");
        assert!(has_header(&h, "content-type", kind), "{path}: {h:?}");
        assert!(has_header(&h, "content-security-policy", api::CSP), "{h:?}");
        assert!(has_header(&h, "x-content-type-options", "nosniff"));
        if kind.starts_with("text/html") {
            assert!(has_header(&h, "cache-control", "no-store"), "{h:?}");
        }
        assert!(!body.is_empty());
    }
    assert!(api::CSP.contains("default-src 'self'") && api::CSP.contains("frame-ancestors 'none'"));
    let (_, _, login_page) = raw(desk.addr, "GET", "/login", &[], None).await;
    assert!(login_page.contains(r#"action="/login""#) && login_page.contains(r#"method="post""#));

    // With a session, `/` is the queue page, in Spanish.
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let (status, h, index) = raw(desk.addr, "GET", "/", &[("Cookie", &ana.cookie)], None).await;
    assert_eq!(status, 200);
    assert!(has_header(&h, "content-type", "text/html; charset=utf-8"));
    assert!(has_header(&h, "content-security-policy", api::CSP));
    assert!(has_header(&h, "cache-control", "no-store"));
    assert!(index.contains("Cola de incidentes") && index.contains("Cerrar sesión"));

    // Nothing in them asks for anything elsewhere; text goes in as text, never as markup.
    let (_, _, js) = raw(desk.addr, "GET", "/desk.js", &[], None).await;
    let (_, _, css) = raw(desk.addr, "GET", "/desk.css", &[], None).await;
    for (name, text) in [
        ("index", &index),
        ("login", &login_page),
        ("js", &js),
        ("css", &css),
    ] {
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{name} names an outside URL"
        );
    }
    for word in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(word), "desk.js uses {word}");
    }
    for label in [
        "Reconocer",
        "personas",
        "EventSource(\"/v1/stream\")",
        "X-Faro-CSRF",
    ] {
        assert!(js.contains(label), "desk.js lacks {label}");
    }
}

#[tokio::test]
async fn the_incident_and_teams_pages_need_a_session_and_hold_their_contract() {
    let desk = start(Duration::from_secs(3600)).await;
    // Without a session: the pages go to the login page, their scripts are refused.
    for path in ["/incident?id=SAS-1", "/incident", "/teams"] {
        let (status, h, _) = raw(desk.addr, "GET", path, &[], None).await;
        assert_eq!(status, 303, "{path}");
        assert!(has_header(&h, "location", "/login"), "{path}: {h:?}");
    }
    for path in ["/incident.js", "/teams.js"] {
        let (status, _, _) = raw(desk.addr, "GET", path, &[], None).await;
        assert_eq!(status, 401, "{path}");
    }
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let cookie = [("Cookie", ana.cookie.as_str())];
    let mut bodies = std::collections::HashMap::new();
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/incident?id=SAS-1", "text/html; charset=utf-8"),
        ("/teams", "text/html; charset=utf-8"),
        ("/incident.js", "text/javascript; charset=utf-8"),
        ("/teams.js", "text/javascript; charset=utf-8"),
        ("/desk.js", "text/javascript; charset=utf-8"),
    ] {
        let (status, h, body) = raw(desk.addr, "GET", path, &cookie, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(has_header(&h, "content-type", kind), "{path}: {h:?}");
        assert!(
            has_header(&h, "content-security-policy", api::CSP),
            "{path}"
        );
        assert!(
            has_header(&h, "x-content-type-options", "nosniff"),
            "{path}"
        );
        if kind.starts_with("text/html") {
            assert!(has_header(&h, "cache-control", "no-store"), "{path}");
        }
        bodies.insert(path, body);
    }
    // Every page of the desk: Spanish first, the nav, the language, the alert banner, the
    // status line; no inline script or style (the policy would block them).
    for path in ["/", "/incident?id=SAS-1", "/teams"] {
        let page = &bodies[path];
        for part in [
            r#"<html lang="es">"#,
            r#"<a href="/" data-i18n="nav_queue""#,
            r#"<a href="/teams" data-i18n="nav_teams""#,
            r#"<a href="/map" data-i18n="nav_map""#,
            r#"<select id="lang">"#,
            r#"<button id="notify" type="button""#,
            r#"<div id="alert" class="alert" role="alert" hidden></div>"#,
            r#"<p id="status" role="status"></p>"#,
            r#"<span id="tz""#,
            r#"<script src="/desk.js" defer></script>"#,
        ] {
            assert!(page.contains(part), "{path} lacks {part}");
        }
        for bad in [
            "style=",
            "<style",
            "onclick",
            "onload",
            "javascript:",
            "http://",
            "https://",
        ] {
            assert!(!page.contains(bad), "{path} has {bad}");
        }
        for script in page.match_indices("<script").map(|(i, _)| &page[i..]) {
            assert!(
                script.starts_with("<script src=\"/"),
                "{path}: inline script"
            );
        }
    }
    let queue = &bodies["/"];
    assert!(queue.contains(r#"<ol id="queue" class="queue"></ol>"#));
    let incident = &bodies["/incident?id=SAS-1"];
    assert!(incident.contains(r#"<script src="/incident.js" defer></script>"#));
    for action in ["ack", "assign", "ambulance", "note", "position", "close"] {
        assert!(
            incident.contains(&format!(r#"<button type="button" data-action="{action}""#)),
            "no {action} button"
        );
    }
    for part in [
        r#"<ol id="audit" class="audit"></ol>"#,
        r#"<ol id="conversation""#,
        r#"<ol id="ambulance""#,
        r#"<textarea id="note-text""#,
        r#"<select id="assign-team"></select>"#,
        r#"<select id="close-outcome"></select>"#,
        r#"<input id="position-text""#,
        r#"<p id="missing""#,
    ] {
        assert!(incident.contains(part), "the incident page lacks {part}");
    }
    let teams = &bodies["/teams"];
    assert!(teams.contains(r#"<script src="/teams.js" defer></script>"#));
    assert!(teams.contains(r#"<table id="teams""#));
    // The scripts: text as text, the words in both languages, the contract's attributes.
    let js = format!(
        "{}{}{}",
        bodies["/desk.js"], bodies["/incident.js"], bodies["/teams.js"]
    );
    for word in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "http://",
        "https://",
    ] {
        assert!(!js.contains(word), "the scripts use {word}");
    }
    for part in [
        r#"people_one: "{n} persona""#,
        r#"people_other: "{n} personas""#,
        r#"people_one: "{n} person""#,
        r#"people_other: "{n} people""#,
        "Intl.PluralRules",
        "timeZone: name",
        "\"/v1/status\"",
        "p1_realert_secs",
        "dataset.incidents",
        r#""data-id": inc.id"#,
        "\"/incident?id=\"",
        "createOscillator",
        "Notification.requestPermission",
        "X-Faro-CSRF",
        "PAGES.incident = incidentPage",
        "PAGES.teams = teamsPage",
    ] {
        assert!(js.contains(part), "the scripts lack {part}");
    }
}

#[tokio::test]
async fn me_tells_the_p1_realert_period_from_the_config() {
    let desk = start_with(DeskConfig {
        p1_realert_secs: 30,
        ..DeskConfig::default()
    })
    .await;
    let olga = logged_in(desk.addr, "olga", OLGA_PASSWORD).await;
    let me = call(
        desk.addr,
        "GET",
        "/v1/me",
        &[("Cookie", olga.cookie.as_str())],
        None,
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["p1_realert_secs"], 30);
    assert_eq!(me.json["role"], "auditor");
}

#[tokio::test]
async fn an_auditor_cannot_acknowledge_and_a_desk_operator_can_on_the_record() {
    let desk = start(Duration::from_secs(3600)).await;
    let ana = logged_in(desk.addr, "ana", ANA_PASSWORD).await;
    let olga = logged_in(desk.addr, "olga", OLGA_PASSWORD).await;
    let id = report_as(&desk, &ana).await;
    let ack = format!("/v1/incidents/{id}/ack");
    let a = call(
        desk.addr,
        "POST",
        &ack,
        &[
            ("Cookie", olga.cookie.as_str()),
            ("X-Faro-CSRF", olga.csrf.as_str()),
        ],
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert_eq!(a.error(), "an auditor may only read");
    let whos = |json: &Value| -> Vec<(String, String)> {
        json["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["who"].as_str().unwrap_or("").to_string(),
                    e["what"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let before = call(
        desk.addr,
        "GET",
        &format!("/v1/incidents/{id}"),
        &[("Cookie", olga.cookie.as_str())],
        None,
    )
    .await;
    assert_eq!(before.json["state"], "new");
    // The page's button: the same POST, with the session's token and an empty JSON body.
    let a = call(
        desk.addr,
        "POST",
        &ack,
        &[
            ("Cookie", ana.cookie.as_str()),
            ("X-Faro-CSRF", ana.csrf.as_str()),
        ],
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["state"], "acknowledged");
    let after = whos(&a.json);
    assert_eq!(after.len(), whos(&before.json).len() + 1, "{after:?}");
    let last = after.last().expect("the acknowledgement");
    assert_eq!(last.0, "operator:web:ana", "{after:?}");
    assert!(!after.iter().any(|(w, _)| w.contains("olga")), "{after:?}");
}
