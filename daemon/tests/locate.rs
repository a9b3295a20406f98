//! Location requests over the control socket and a real SQLite file: open (a place looked up
//! in the gazetteer), task, close, reported back, the list and the detail with its audit trail,
//! matching against incidents and aid with consent, and one bad input for each route.

use std::path::{Path, PathBuf};
use std::time::Duration;

use farod::api::{self, ApiState};
use farod::clock::Clock;
use farod::dispatch::Municipality;
use farod::lang::Lang;
use farod::store::{Store, StoreConfig, TeamConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

struct Station {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    /// The writer, for what comes from the air rather than the socket.
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

fn teams() -> Vec<TeamConfig> {
    vec![
        TeamConfig {
            name: "P1".into(),
            nodes: vec![0xa1b2_c3d4],
            interval: Duration::from_secs(300),
            keys: Vec::new(),
            language: farod::lang::Lang::Es,
        },
        TeamConfig {
            name: "P2".into(),
            nodes: vec![0x0000_beef],
            interval: Duration::from_secs(300),
            keys: Vec::new(),
            language: farod::lang::Lang::Es,
        },
    ]
}

/// Sáric's dispatcher on the mesh.
const SARIC_NODE: u32 = 0x5a5a_0301;

/// Two municipalities near Sásabe: Sáric on the mesh, Altar by phone only.
fn municipalities() -> Vec<Municipality> {
    vec![
        Municipality {
            name: "Sáric".into(),
            state: "Sonora".into(),
            lat: 31.1069,
            lon: -111.3752,
            nodes: vec![SARIC_NODE],
            phones: vec!["+52 637 111 1111".into()],
            languages: vec![Lang::Es],
            keys: Vec::new(),
            pki: true,
        },
        Municipality {
            name: "Altar".into(),
            state: "Sonora".into(),
            lat: 30.7136,
            lon: -111.8349,
            nodes: vec![],
            phones: vec!["+52 637 222 2222".into()],
            languages: vec![Lang::Es],
            keys: Vec::new(),
            pki: true,
        },
    ]
}

async fn start() -> Station {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StoreConfig::new("SAS");
    cfg.teams = teams();
    cfg.municipalities = municipalities();
    let (store, _writer) = Store::open(&dir.path().join("faro.db"), cfg).expect("open the store");
    let state = ApiState {
        store: store.clone(),
        station: "SAS".into(),
        teams: teams(),
        radios: vec![],
        clock: Clock::start(),
        municipalities: municipalities(),
        surge: Default::default(),
        referrals: Vec::new(),
        timezone: "UTC".into(),
    };
    // The socket's directory does not exist yet: serve creates it.
    let sock = dir.path().join("run/faro.sock");
    let (stop, stopped) = oneshot::channel::<()>();
    let path = sock.clone();
    let server = tokio::spawn(async move {
        api::serve(&path, state, async {
            let _ = stopped.await;
        })
        .await
    });
    timeout(WAIT, async {
        while UnixStream::connect(&sock).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the control socket came up");
    Station {
        _dir: dir,
        sock,
        store,
        stop: Some(stop),
        server,
    }
}

/// An answer: status, headers (lower-case names) and the JSON body.
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
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.json))
    }
}

fn request(method: &str, path: &str, operator: Option<&str>, body: Option<&str>) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: farod\r\nConnection: close\r\n");
    if let Some(who) = operator {
        req.push_str(&format!("X-Faro-Operator: {who}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    req
}

async fn call(
    sock: &Path,
    method: &str,
    path: &str,
    operator: Option<&str>,
    body: Option<&str>,
) -> Answer {
    timeout(WAIT, async {
        let mut s = UnixStream::connect(sock).await.expect("connect");
        s.write_all(request(method, path, operator, body).as_bytes())
            .await
            .expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "content-type" && v.starts_with("application/json")),
            "{method} {path}: not JSON: {head}"
        );
        let json =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"));
        Answer {
            status,
            headers,
            json,
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"))
}

async fn get(sock: &Path, path: &str) -> Answer {
    call(sock, "GET", path, None, None).await
}

async fn post(sock: &Path, path: &str, body: Value) -> Answer {
    call(sock, "POST", path, None, Some(&body.to_string())).await
}

/// How the audit trail names whoever runs these tests (the socket's peer, no label).
fn me() -> String {
    format!(
        "operator:{}",
        api::user_name(nix::unistd::getuid().as_raw())
    )
}

fn whats(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["what"].as_str().unwrap_or("").to_string())
        .collect()
}

fn open_body() -> Value {
    json!({"requester": "consulado", "people": 3, "place": "Sasabe", "last_seen": "2026-11-28",
           "radius_km": 12})
}

#[tokio::test]
async fn a_location_request_from_opening_to_reported_back() {
    let st = start().await;
    let a = post(&st.sock, "/v1/locate", open_body()).await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.header("location"), Some("/v1/locate/LOC-1"));
    let v = &a.json;
    assert_eq!(v["id"], "LOC-1");
    assert_eq!(v["requester"], "consulate");
    assert_eq!(
        (v["people_sought"].as_u64(), v["found"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(v["state"], "open");
    assert_eq!(v["recorded_by"], me());
    // The place was looked up: the position to search around and match against.
    let (lat, lon) = (
        v["lat"].as_f64().expect("lat"),
        v["lon"].as_f64().expect("lon"),
    );
    assert!(
        (31.0..32.0).contains(&lat) && (-112.0..-111.0).contains(&lon),
        "{v}"
    );

    let a = post(&st.sock, "/v1/locate/LOC-1/task", json!({"team": "P1"})).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        (a.json["state"].as_str(), a.json["team"].as_str()),
        (Some("searching"), Some("P1"))
    );

    // Found alive needs someone found.
    let a = post(
        &st.sock,
        "/v1/locate/loc-1/close",
        json!({"outcome": "found_alive"}),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.json);
    assert!(
        a.error().contains("at least one person found"),
        "{}",
        a.error()
    );
    let a = post(&st.sock, "/v1/locate/1/reported", json!({"how": "phone"})).await;
    assert_eq!(a.status, 409, "{}", a.json);

    let a = post(
        &st.sock,
        "/v1/locate/LOC-1/close",
        json!({"outcome": "found_alive", "found": 2}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        (a.json["state"].as_str(), a.json["outcome"].as_str()),
        (Some("closed"), Some("found_alive"))
    );
    assert_eq!(a.json["found"], 2);
    assert!(a.json["closed_at"].is_string());
    let a = post(
        &st.sock,
        "/v1/locate/LOC-1/close",
        json!({"outcome": "withdrawn"}),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.json);

    let a = post(
        &st.sock,
        "/v1/locate/LOC-1/reported",
        json!({"how": "pigeon"}),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.json);
    let a = post(
        &st.sock,
        "/v1/locate/LOC-1/reported",
        json!({"how": "phone"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(a.json["reported_at"].is_string());

    let v = get(&st.sock, "/v1/locate/LOC-1").await;
    assert_eq!(v.status, 200);
    let w = whats(&v.json);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w[0].starts_with("location request LOC-1 opened: 3 people sought near Sasabe ("),
        "{w:?}"
    );
    assert!(
        w[0].ends_with("within 12 km, last seen 2026-11-28 (requester: consulate)"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("LOC-1: search task given to patrol P1: 3 sought"),
        "{w:?}"
    );
    assert_eq!(w[2], "LOC-1 closed: found_alive, 2 of 3 found");
    assert_eq!(
        w[3],
        "LOC-1: outcome reported back to the requester by phone"
    );

    // The patrol was given its task in Spanish, with nothing but the id, counts, date, place.
    let r = farod::store::query::Reader::open(st.store.path()).expect("reader");
    let sent = r.loose_messages(None, 0, 100).expect("messages");
    let texts: Vec<&str> = sent.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.contains(&"Faro BUSQUEDA LOC-1: 3 pers., vistas 28/11 cerca de Sasabe (12 km). Si las halla: LOC-1 HALLADOS <n>. Si no: LOC-1 NADA"), "{texts:?}");
    assert!(
        texts.contains(&"Faro LOC-1: búsqueda terminada, gracias"),
        "{texts:?}"
    );
    // No radio here: the task never went on air, and the close dropped it unsent.
    let trail = r.events(None, 0, 1000).expect("events");
    assert!(
        trail
            .iter()
            .any(|e| e.what == "locate_task to !a1b2c3d4 dropped unsent: LOC-1 was closed"),
        "{trail:?}"
    );
    stop(st).await;
}

#[tokio::test]
async fn the_list_puts_open_requests_first_and_bad_inputs_are_refused() {
    let st = start().await;
    for _ in 0..3 {
        assert_eq!(post(&st.sock, "/v1/locate", open_body()).await.status, 201);
    }
    let a = post(
        &st.sock,
        "/v1/locate/LOC-1/close",
        json!({"outcome": "withdrawn"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let l = get(&st.sock, "/v1/locate").await;
    let ids: Vec<&str> = l
        .json
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, ["LOC-2", "LOC-3", "LOC-1"]);

    let cases: [(&str, &str, Option<Value>, u16, &str); 10] = [
        (
            "POST",
            "/v1/locate",
            Some(json!({"requester": "consulate", "people": 0, "place": "Sasabe"})),
            400,
            "people = 0",
        ),
        (
            "POST",
            "/v1/locate",
            Some(json!({"requester": "neighbour", "people": 1, "place": "Sasabe"})),
            400,
            "unknown requester",
        ),
        (
            "POST",
            "/v1/locate",
            Some(json!({"requester": "relative", "people": 1, "lat": 31.4})),
            400,
            "both latitude and longitude",
        ),
        (
            "POST",
            "/v1/locate",
            Some(
                json!({"requester": "relative", "people": 1, "place": "Sasabe", "last_seen": "2999-01-01"}),
            ),
            400,
            "after today",
        ),
        (
            "POST",
            "/v1/locate",
            Some(json!({"requester": "relative", "people": 1, "place": "Sasabe", "name": "x"})),
            400,
            "unknown field",
        ),
        (
            "GET",
            "/v1/locate/LOC-99",
            None,
            404,
            "no location request LOC-99",
        ),
        ("GET", "/v1/locate/SAS-1", None, 400, "bad location request"),
        (
            "POST",
            "/v1/locate/LOC-2/task",
            Some(json!({"team": "P9"})),
            404,
            "unknown team",
        ),
        (
            "POST",
            "/v1/locate/LOC-2/close",
            Some(json!({"outcome": "lost"})),
            400,
            "unknown outcome",
        ),
        (
            "GET",
            "/v1/locate/LOC-99/matches",
            None,
            404,
            "no location request",
        ),
    ];
    for (method, path, body, status, why) in cases {
        let body = body.map(|b| b.to_string());
        let a = call(&st.sock, method, path, None, body.as_deref()).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.json);
        assert!(a.error().contains(why), "{method} {path}: {}", a.error());
        assert!(!a.error().contains('\n'));
    }
    stop(st).await;
}

#[tokio::test]
async fn matches_list_incidents_and_aid_nearby_consented_first() {
    let st = start().await;
    // Last seen at 31.48,-111.53 on 2026-11-28, within 20 km.
    let a = post(
        &st.sock,
        "/v1/locate",
        json!({"requester": "relative", "people": 2, "lat": 31.48, "lon": -111.53, "radius_km": 20,
               "last_seen": "2026-11-28"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    // Two incidents nearby (one 5 km away, one 11 km), one far away.
    for (lat, lon) in [(31.525, -111.53), (31.58, -111.53), (30.70, -111.83)] {
        let a = post(
            &st.sock,
            "/v1/incidents",
            json!({"lat": lat, "lon": lon, "people": 2}),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.json);
    }
    // Aid nearby, and aid given before they were last seen; the far incident's people
    // consented, and so did the second nearby one's (then one consent was withdrawn).
    let c = rusqlite::Connection::open(st.store.path()).expect("db");
    let before = 1_700_000_000_000_i64; // 2023
    let now = 1_900_000_000_000_i64;
    c.execute_batch(&format!(
        "INSERT INTO assistance(id, at, people, lat, lon, recorded_by, recorded_at)
             VALUES (1, {now}, 3, 31.49, -111.53, 'operator:x', {now}),
                    (2, {before}, 1, 31.48, -111.53, 'operator:x', {before});
         INSERT INTO consents(subject, given_by, purposes, at, recorded_by)
             VALUES ('SAS-2', 'person', 'record,locate', {now}, 'operator:x'),
                    ('SAS-3', 'person', 'locate', {now}, 'operator:x'),
                    ('AID-1', 'person', 'record', {now}, 'operator:x');
         INSERT INTO consents(subject, given_by, purposes, at, recorded_by, withdrawn_at, withdrawn_by)
             VALUES ('SAS-1', 'person', 'locate', {now}, 'operator:x', {now}, 'operator:x');"
    ))
    .expect("casework rows");
    drop(c);
    let m = get(&st.sock, "/v1/locate/LOC-1/matches").await;
    assert_eq!(m.status, 200, "{}", m.json);
    let rows = m.json.as_array().expect("a list");
    let got: Vec<(String, bool, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["consent_to_locate"].as_bool().unwrap_or(false),
                r["distance_km"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    let ids: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(ids, ["SAS-2", "AID-1", "SAS-1"], "{}", m.json);
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert!(
        (got[0].2 - 11.1).abs() < 0.3 && (got[2].2 - 5.0).abs() < 0.3,
        "{got:?}"
    );
    assert_eq!(rows[1]["kind"], "assistance");
    assert_eq!(rows[1]["people"], 3);
    // Nothing personal: only these fields.
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "at",
            "consent_to_locate",
            "distance_km",
            "id",
            "kind",
            "people"
        ]
    );

    // A request known only by a place the gazetteer does not know cannot be matched.
    // (Its number comes after any LOC-n a consent still names: a purged request's number
    // is never lent to a new one.)
    let c = rusqlite::Connection::open(st.store.path()).expect("db");
    c.execute_batch(&format!(
        "INSERT INTO consents(subject, given_by, purposes, at, recorded_by)
             VALUES ('LOC-7', 'requester', 'locate', {now}, 'operator:x');"
    ))
    .expect("a consent");
    drop(c);
    let a = post(
        &st.sock,
        "/v1/locate",
        json!({"requester": "station", "people": 1, "place": "Zona del Desierto Alto Norte"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert!(a.json["lat"].is_null());
    assert_eq!(a.json["id"], "LOC-8");
    let m = get(&st.sock, "/v1/locate/LOC-8/matches").await;
    assert_eq!(m.status, 409, "{}", m.json);
    assert!(m.error().contains("no position"), "{}", m.error());
    stop(st).await;
}

async fn stop(mut st: Station) {
    let _ = st.stop.take().expect("stop").send(());
    let _ = timeout(WAIT, st.server).await;
}
