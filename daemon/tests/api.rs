//! The control socket over a real Unix socket and a real SQLite file: the operator's flow from
//! a phone report to a closed incident, refusals with their statuses, the live event stream,
//! status, and the socket file itself (mode, stale and live sockets, shutdown).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use farod::api::{self, ApiState};
use farod::clock::Clock;
use farod::lang::Lang;
use farod::store::query::Reader;
use farod::store::{Store, StoreConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

mod common;
use common::*;

async fn report(sock: &Path) -> String {
    let a = post(
        sock,
        "/v1/incidents",
        json!({"lat": 31.4746, "lon": -111.5449, "place": "Sásabe km 12", "kind": "heat", "people": 3,
               "flags": ["children"], "note": "llamada de su hermana", "language": "es"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    a.json["id"].as_str().expect("an id").to_string()
}

fn whats(incident: &Value) -> Vec<String> {
    incident["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["what"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_phone_report_from_opening_to_closing_with_its_audit_trail() {
    let st = start().await;
    let sock = &st.sock;

    let created = post(
        sock,
        "/v1/incidents",
        json!({"lat": 31.4746, "lon": -111.5449, "kind": "heat", "people": 3, "flags": ["children"], "language": "es"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["id"], "SAS-1");
    assert_eq!(created.header("location"), Some("/v1/incidents/SAS-1"));
    assert_eq!(created.json["state"], "new");
    assert_eq!(created.json["priority"], 1);
    assert_eq!(created.json["source"], "manual");
    assert_eq!(created.json["reporter"], Value::Null);

    let open = get(sock, "/v1/incidents").await;
    assert_eq!(open.status, 200);
    let list = open.json.as_array().expect("an array");
    assert_eq!(list.len(), 1);
    for key in [
        "id",
        "state",
        "priority",
        "kind",
        "lat",
        "lon",
        "reporter",
        "heard_count",
        "created_at",
        "language",
    ] {
        assert!(
            list[0].get(key).is_some(),
            "list item lacks {key}: {}",
            list[0]
        );
    }
    assert!(
        list[0].get("events").is_none(),
        "lists carry no audit trail"
    );

    // Ids are case-insensitive on the way in.
    let shown = get(sock, "/v1/incidents/sas-1").await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json["kind"], "heat");
    assert_eq!(shown.json["lat"], 31.4746);
    let nearest = shown.json["nearest_teams"]
        .as_array()
        .expect("nearest teams for a located incident");
    assert_eq!(nearest.len(), 2);

    let acked = post(sock, "/v1/incidents/sas-1/ack", json!({})).await;
    assert_eq!(
        (acked.status, acked.json["state"].as_str()),
        (200, Some("acknowledged"))
    );
    let assigned = post(sock, "/v1/incidents/SAS-1/assign", json!({"team": "P1"})).await;
    assert_eq!(assigned.status, 200, "{}", assigned.json);
    assert_eq!(
        (
            assigned.json["state"].as_str(),
            assigned.json["team"].as_str()
        ),
        (Some("assigned"), Some("P1"))
    );
    let noted = post(
        sock,
        "/v1/incidents/SAS-1/note",
        json!({"text": "la patrulla lleva agua"}),
    )
    .await;
    assert_eq!(noted.status, 200);
    let closed = post(
        sock,
        "/v1/incidents/SAS-1/close",
        json!({"outcome": "rescued", "note": "3 personas bien"}),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.json);
    assert_eq!(
        (
            closed.json["state"].as_str(),
            closed.json["outcome"].as_str()
        ),
        (Some("closed"), Some("rescued"))
    );

    assert_eq!(get(sock, "/v1/incidents?state=open").await.json, json!([]));
    assert_eq!(
        get(sock, "/v1/incidents?state=closed")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        get(sock, "/v1/incidents?state=all")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let trail = get(sock, "/v1/incidents/SAS-1").await.json;
    let whats = whats(&trail);
    assert!(whats[0].starts_with("opened by hand: P1 heat"), "{whats:?}");
    assert_eq!(
        &whats[1..],
        [
            "acknowledged",
            "assigned to P1",
            // Notes are sealed personal records: the trail says only that one was added.
            "note added (personal record 1, 22 bytes)",
            // No radio in this test: the patrol's dispatch was never on air, and is pointless
            // once the incident is closed.
            "dispatch to !a1b2c3d4 dropped unsent: the incident was closed",
            "closed: rescued",
            "note added (personal record 2, 15 bytes)",
        ]
    );
    let me = me();
    for e in trail["events"].as_array().expect("events") {
        let by = if e["what"]
            .as_str()
            .is_some_and(|w| w.contains("dropped unsent"))
        {
            ("system", "outbox")
        } else {
            (me.as_str(), "faroctl")
        };
        assert_eq!(
            (e["who"].as_str(), e["via"].as_str()),
            (Some(by.0), Some(by.1)),
            "{e}"
        );
    }

    let reopened = post(sock, "/v1/incidents/SAS-1/reopen", json!({})).await;
    assert_eq!(
        (reopened.status, reopened.json["state"].as_str()),
        (200, Some("assigned"))
    );
}

#[tokio::test]
async fn refusals_carry_a_status_and_one_line() {
    let st = start().await;
    let sock = &st.sock;
    let id = report(sock).await;

    let a = get(sock, "/v1/incidents/SAS-99").await;
    assert_eq!((a.status, a.error()), (404, "no incident SAS-99"));
    let a = post(sock, "/v1/incidents/SAS-99/ack", json!({})).await;
    assert_eq!((a.status, a.error()), (404, "no incident SAS-99"));

    let a = post(sock, &format!("/v1/incidents/{id}/reopen"), json!({})).await;
    assert_eq!(
        (a.status, a.error()),
        (409, "SAS-1: cannot reopen: not closed (new)")
    );
    assert_eq!(
        post(sock, &format!("/v1/incidents/{id}/ack"), json!({}))
            .await
            .status,
        200
    );
    let a = post(sock, &format!("/v1/incidents/{id}/ack"), json!({})).await;
    assert_eq!(
        (a.status, a.error()),
        (409, "SAS-1: cannot acknowledge: already acknowledged")
    );
    let a = post(
        sock,
        &format!("/v1/incidents/{id}/assign"),
        json!({"team": "P9"}),
    )
    .await;
    // A name that does not exist is "not found", whatever the words say.
    assert_eq!(a.status, 404);
    assert!(a.error().contains("unknown team \"P9\""), "{}", a.error());

    // A label that would reorder a terminal's line is refused before anything is done.
    let a = call(
        sock,
        "POST",
        &format!("/v1/incidents/{id}/close"),
        Some("ana\u{202e}olleh"),
        Some(r#"{"outcome":"rescued"}"#),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("X-Faro-Operator"), "{}", a.error());
    let long = "x".repeat(41);
    let a = call(
        sock,
        "POST",
        &format!("/v1/incidents/{id}/ack"),
        Some(&long),
        Some("{}"),
    )
    .await;
    assert_eq!(a.status, 400);

    for (path, body, want) in [
        ("/v1/incidents", r#"{"lat": 31.4,"#, "bad JSON"),
        (
            "/v1/incidents",
            r#"{"lat": 31.4, "name": "Juan"}"#,
            "unknown field `name`",
        ),
        ("/v1/incidents", "", "empty"),
        (
            "/v1/incidents/SAS-1/close",
            r#"{"outcome": "maybe"}"#,
            "maybe",
        ),
        (
            "/v1/incidents/SAS-1/assign",
            r#"{"team": 7}"#,
            "bad request body",
        ),
        ("/v1/incidents/17/ack", "{}", "bad incident id"),
        (
            "/v1/send",
            r#"{"node": "!xyz", "text": "hola"}"#,
            "bad node id",
        ),
    ] {
        let a = call(sock, "POST", path, Some("ana"), Some(body)).await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.json);
        assert!(a.error().contains(want), "{path} {body}: {:?}", a.error());
        assert!(!a.error().contains('\n'), "{path}: several lines");
    }

    let a = get(sock, "/v1/incidents?state=lost").await;
    assert_eq!(a.status, 400);
    assert!(
        a.error().contains("unknown state \"lost\""),
        "{}",
        a.error()
    );
    assert_eq!(get(sock, "/v1/nothing").await.status, 404);
    assert_eq!(
        call(sock, "DELETE", "/v1/incidents/SAS-1", Some("ana"), None)
            .await
            .status,
        405
    );

    // Refusals changed nothing: opened, the note of the report, acknowledged.
    let trail = get(sock, "/v1/incidents/SAS-1").await.json;
    assert_eq!(whats(&trail).len(), 3, "{:?}", whats(&trail));
    assert_eq!(trail["state"], "acknowledged");
}

/// Reads the event stream: a chunked HTTP body of JSON lines.
struct EventStream {
    r: BufReader<UnixStream>,
    pending: String,
}

impl EventStream {
    async fn open(sock: &Path, query: &str) -> EventStream {
        Self::open_at(sock, &format!("/v1/events{query}"), "application/x-ndjson").await
    }

    async fn open_at(sock: &Path, path: &str, content_type: &str) -> EventStream {
        let mut s = UnixStream::connect(sock).await.expect("connect");
        s.write_all(request("GET", path, None, None).as_bytes())
            .await
            .expect("write");
        let mut r = BufReader::new(s);
        let mut head = String::new();
        timeout(WAIT, async {
            loop {
                let mut line = String::new();
                r.read_line(&mut line).await.expect("head");
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
        })
        .await
        .expect("the stream's head within the bound");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {content_type}")),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{head}"
        );
        EventStream {
            r,
            pending: String::new(),
        }
    }

    /// The next JSON line, waiting at most `WAIT`.
    async fn next(&mut self) -> Value {
        let line = self.until("\n").await;
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// What comes before the next `end`, waiting at most `WAIT`.
    async fn until(&mut self, end: &str) -> String {
        timeout(WAIT, async {
            loop {
                if let Some((line, rest)) = self.pending.split_once(end) {
                    let line = line.to_string();
                    self.pending = rest.to_string();
                    return line;
                }
                let mut size = String::new();
                self.r.read_line(&mut size).await.expect("chunk size");
                let n = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
                assert!(n > 0, "the stream ended");
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk).await.expect("chunk");
                self.pending
                    .push_str(std::str::from_utf8(&chunk[..n]).expect("UTF-8"));
            }
        })
        .await
        .expect("an event line within the bound")
    }
}

#[tokio::test]
async fn the_server_sent_stream_carries_the_same_events_on_the_socket() {
    let st = start().await;
    let sock = &st.sock;
    let id = report(sock).await;
    let mut lines = EventStream::open(sock, "?after=0").await;
    let mut sse = EventStream::open_at(sock, "/v1/stream?after=0", "text/event-stream").await;
    for _ in 0..3 {
        let line = lines.until("\n").await;
        let ev: Value = serde_json::from_str(&line).expect("a JSON line");
        let frame = sse.until("\n\n").await;
        assert_eq!(
            frame,
            format!("id: {}\nevent: audit\ndata: {line}", ev["id"])
        );
    }
    // Live: the next event on both, in the same form.
    post(sock, &format!("/v1/incidents/{id}/ack"), json!({})).await;
    let line = lines.until("\n").await;
    let frame = sse.until("\n\n").await;
    assert!(line.contains("acknowledged"), "{line}");
    assert!(
        frame.ends_with(&format!("event: audit\ndata: {line}")),
        "{frame}"
    );
}

#[tokio::test]
async fn the_event_stream_sends_the_backlog_then_live_events_once() {
    let st = start().await;
    let sock = &st.sock;
    let id = report(sock).await;

    let mut backlog = EventStream::open(sock, "?after=0").await;
    let first = backlog.next().await;
    assert_eq!(
        (first["incident"].as_str(), first["who"].as_str()),
        (Some(id.as_str()), Some(me().as_str()))
    );
    assert!(
        first["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("opened by hand")),
        "{first}"
    );
    // The report's note made the station's first data key, then was sealed with it.
    let key = backlog.next().await;
    assert_eq!(
        (key["incident"].as_str(), key["what"].as_str()),
        (None, Some("personal-data key 1 made"))
    );
    let second = backlog.next().await;
    assert_eq!(second["what"], "note added (personal record 1, 21 bytes)");
    let mut live = EventStream::open(sock, "").await;

    post(sock, &format!("/v1/incidents/{id}/ack"), json!({})).await;
    for stream in [&mut backlog, &mut live] {
        let ev = stream.next().await;
        assert_eq!(
            (ev["incident"].as_str(), ev["what"].as_str()),
            (Some("SAS-1"), Some("acknowledged")),
            "{ev}"
        );
        assert!(ev["id"].as_i64() > second["id"].as_i64());
    }
    post(
        sock,
        &format!("/v1/incidents/{id}/assign"),
        json!({"team": "P2"}),
    )
    .await;
    assert_eq!(live.next().await["what"], "assigned to P2");

    let after = second["id"].as_i64().expect("an id");
    let mut resumed = EventStream::open(sock, &format!("?after={after}")).await;
    assert_eq!(resumed.next().await["what"], "acknowledged");
    assert_eq!(resumed.next().await["what"], "assigned to P2");
}

#[tokio::test]
async fn status_teams_nodes_and_send() {
    let st = start().await;
    let sock = &st.sock;
    report(sock).await;

    let s = get(sock, "/v1/status").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.json["station"], "SAS");
    // The station's zone is said for display; the time itself stays RFC 3339 UTC.
    assert_eq!(s.json["timezone"], "UTC");
    assert!(s.json["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(s.json["radios"], json!([]));
    assert_eq!(s.json["counts"]["open_incidents"], 1);
    assert_eq!(s.json["counts"]["open_by_priority"], json!([1, 0, 0, 0]));
    let names: Vec<&str> = s.json["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["P1", "P2"]);
    assert!(s.json["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        s.json["surge"],
        json!(null),
        "no surge with the default settings"
    );

    let t = get(sock, "/v1/teams").await;
    assert_eq!(t.json[0]["nodes"], json!(["!a1b2c3d4"]));
    assert_eq!(t.json[0]["status"], "unknown");
    assert_eq!(get(sock, "/v1/nodes").await.json, json!([]));

    let a = post(
        sock,
        "/v1/send",
        json!({"node": "!a1b2c3d4", "text": "regresen a la base"}),
    )
    .await;
    assert_eq!((a.status, &a.json), (200, &json!({"queued": true})));
    let a = post(sock, "/v1/send", json!({"node": 48879, "text": "ok"})).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(
        get(sock, "/v1/status").await.json["counts"]["outbox_pending"],
        2
    );
}

#[tokio::test]
async fn the_socket_is_group_only_replaces_stale_files_and_goes_away_on_shutdown() {
    let mut st = start().await;
    let mode = std::fs::metadata(&st.sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);

    // A second server on a live socket refuses in one line, naming it.
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _w) =
        Store::open(&dir.path().join("other.db"), StoreConfig::new("DAR")).expect("store");
    let state = ApiState {
        store,
        station: "DAR".into(),
        teams: vec![],
        radios: vec![],
        clock: Clock::start(),
        municipalities: vec![],
        surge: Default::default(),
        referrals: Vec::new(),
        timezone: "UTC".into(),
        map: Default::default(),
    };
    let e = timeout(
        WAIT,
        api::serve(&st.sock, state.clone(), std::future::pending()),
    )
    .await
    .expect("bounded");
    let e = e.expect_err("a live socket is not taken over").to_string();
    assert!(
        e.contains(&st.sock.display().to_string()) && !e.contains('\n'),
        "{e}"
    );

    // A regular file where the socket belongs is left alone.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "keep me").expect("write");
    let e = timeout(
        WAIT,
        api::serve(&file, state.clone(), std::future::pending()),
    )
    .await
    .expect("bounded");
    assert!(e
        .expect_err("refused")
        .to_string()
        .contains("is not a socket"));
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "keep me"
    );

    // Shutdown ends the server promptly even with a watcher connected, and removes the socket.
    let mut watcher = EventStream::open(&st.sock, "").await;
    let _ = st.stop.take().expect("stop").send(());
    let served = timeout(WAIT, &mut st.server)
        .await
        .expect("shut down within the bound");
    served.expect("join").expect("served cleanly");
    assert!(!st.sock.exists(), "the socket file is removed");
    let end = timeout(WAIT, watcher.r.read_to_end(&mut Vec::new()))
        .await
        .expect("the stream ends");
    assert!(end.is_ok());

    // A stale socket (nobody listening) is replaced.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let (stop, stopped) = oneshot::channel::<()>();
    let path = stale.clone();
    let server = tokio::spawn(async move {
        api::serve(&path, state, async {
            let _ = stopped.await;
        })
        .await
    });
    timeout(WAIT, async {
        while UnixStream::connect(&stale).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("serving on the old path");
    assert_eq!(get(&stale, "/v1/status").await.json["station"], "DAR");
    let _ = stop.send(());
    timeout(WAIT, server)
        .await
        .expect("bounded")
        .expect("join")
        .expect("served");
}

fn ambulance_of(incident: &Value) -> Vec<Value> {
    incident["ambulance"]
        .as_array()
        .unwrap_or_else(|| panic!("no ambulance array in {incident}"))
        .clone()
}

#[tokio::test]
async fn an_ambulance_from_position_to_escalation_answer_and_cancel() {
    let st = start().await;
    let sock = &st.sock;
    let created = post(
        sock,
        "/v1/incidents",
        json!({"kind": "medical", "people": 2}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["ambulance"], json!([]));
    assert!(created.json.get("where").is_none(), "no position, no where");
    let amb = "/v1/incidents/SAS-1/ambulance";

    // Faro does not guess a position: the store refuses, in one line.
    let a = post(sock, amb, json!({})).await;
    assert_eq!(a.status, 409);
    assert!(
        a.error().starts_with("SAS-1 has no position"),
        "{}",
        a.error()
    );
    assert!(!a.error().contains('\n'));

    let a = post(
        sock,
        "/v1/incidents/SAS-1/position",
        json!({"place": "Atlantis"}),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("no place \"Atlantis\""), "{}", a.error());
    let placed = post(
        sock,
        "/v1/incidents/sas-1/position",
        json!({"place": "Sasabe"}),
    )
    .await;
    assert_eq!(placed.status, 200, "{}", placed.json);
    let lat = placed.json["lat"].as_f64().expect("lat");
    assert!((lat - 31.47).abs() < 0.05, "{}", placed.json);
    assert_eq!(placed.json["position_source"], "manual");
    assert_eq!(placed.json["where"], "en Sásabe, Sáric, Sonora");

    // Nothing in play yet; an unknown municipality.
    let a = post(sock, amb, json!({"cancel": true})).await;
    assert_eq!(
        (a.status, a.error()),
        (409, "SAS-1 has no ambulance request in play")
    );
    let a = post(sock, amb, json!({"municipality": "Hermosillo"})).await;
    assert_eq!(a.status, 404);
    assert!(
        a.error().contains("no municipality \"Hermosillo\""),
        "{}",
        a.error()
    );

    // The nearest with a contact: Sáric, on the mesh.
    let asked = post(sock, amb, json!({})).await;
    assert_eq!(asked.status, 200, "{}", asked.json);
    let a = ambulance_of(&asked.json);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (
            a[0]["attempt"].as_u64(),
            a[0]["municipality"].as_str(),
            a[0]["municipality_state"].as_str(),
            a[0]["node"].as_str(),
            a[0]["state"].as_str(),
            a[0]["requested_by"].as_str(),
        ),
        (
            Some(1),
            Some("Sáric"),
            Some("Sonora"),
            Some("!5a5a0301"),
            Some("pending"),
            Some(me().as_str())
        )
    );
    assert!(a[0]["eta_minutes"].is_null() && a[0]["answered_at"].is_null());
    assert!(a[0]["requested_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let km = a[0]["distance_km"].as_f64().expect("distance");
    assert!(km > 40.0 && km < 50.0, "{km}");
    let a = post(sock, amb, json!({})).await;
    assert_eq!(a.status, 409);
    assert!(
        a.error().contains("already asked of Sáric"),
        "{}",
        a.error()
    );

    // Sáric says no (by phone): Altar is next, and it has no mesh contact.
    let declined = post(sock, amb, json!({"answer": "declined"})).await;
    assert_eq!(declined.status, 200, "{}", declined.json);
    let a = ambulance_of(&declined.json);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0]["state"], "declined");
    assert!(a[0]["answered_at"].is_string());
    assert_eq!(
        (
            a[1]["municipality"].as_str(),
            a[1]["state"].as_str(),
            a[1]["phone"].as_str()
        ),
        (Some("Altar"), Some("call"), Some("+52 637 222 2222"))
    );
    assert!(a[1]["node"].is_null());

    let accepted = post(sock, amb, json!({"answer": "accepted", "eta_minutes": 25})).await;
    assert_eq!(accepted.status, 200, "{}", accepted.json);
    let a = ambulance_of(&accepted.json);
    assert_eq!(
        (a[1]["state"].as_str(), a[1]["eta_minutes"].as_u64()),
        (Some("accepted"), Some(25))
    );

    let cancelled = post(sock, amb, json!({"cancel": true})).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json);
    assert_eq!(ambulance_of(&cancelled.json)[1]["state"], "cancelled");
    let a = post(sock, amb, json!({"cancel": true})).await;
    assert_eq!(
        (a.status, a.error()),
        (409, "SAS-1 has no ambulance request in play")
    );

    let shown = get(sock, "/v1/incidents/SAS-1").await.json;
    let attempts = ambulance_of(&shown);
    let names: Vec<&str> = attempts
        .iter()
        .map(|a| a["municipality"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["Sáric", "Altar"], "escalation order");
    let trail = whats(&shown).join("\n");
    for want in [
        "position set by hand",
        "ambulance requested from Sáric",
        "Altar",
        "ETA 25 min",
        "cancelled",
    ] {
        assert!(trail.contains(want), "{want:?} missing from\n{trail}");
    }

    // A named municipality, phone only, straight away; any case, no accents needed.
    let second = post(
        sock,
        "/v1/incidents",
        json!({"lat": 31.47463, "lon": -111.54485, "kind": "heat"}),
    )
    .await;
    assert_eq!(second.json["id"], "SAS-2");
    let a = post(
        sock,
        "/v1/incidents/SAS-2/ambulance",
        json!({"municipality": "altar"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(ambulance_of(&a.json)[0]["state"], "call");
    assert_eq!(ambulance_of(&a.json)[0]["municipality"], "Altar");

    // Malformed bodies are 400s with a reason, and change nothing.
    for (path, body, want) in [
        (
            amb,
            r#"{"cancel": true, "answer": "accepted"}"#,
            "cancel takes",
        ),
        (amb, r#"{"answer": "maybe"}"#, "unknown answer \"maybe\""),
        (amb, r#"{"eta_minutes": 5}"#, "eta_minutes goes with"),
        (
            amb,
            r#"{"answer": "accepted", "eta_minutes": 99999}"#,
            "eta_minutes = 99999",
        ),
        (
            amb,
            r#"{"answer": "declined", "municipality": "Altar"}"#,
            "leave out municipality",
        ),
        (amb, r#"{"driver": "Beto"}"#, "unknown field `driver`"),
        (
            "/v1/incidents/SAS-1/position",
            r#"{"lat": 31.4}"#,
            "both latitude and longitude",
        ),
        (
            "/v1/incidents/SAS-1/position",
            r#"{"lat": 31.4, "lon": -111.5, "place": "Altar"}"#,
            "not both",
        ),
        (
            "/v1/incidents/SAS-1/position",
            "{}",
            "lat and lon, or a place",
        ),
    ] {
        let a = call(sock, "POST", path, Some("ana"), Some(body)).await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.json);
        assert!(a.error().contains(want), "{path} {body}: {:?}", a.error());
    }
    let a = post(
        sock,
        "/v1/incidents/SAS-1/position",
        json!({"lat": 95.0, "lon": 10.0}),
    )
    .await;
    // A position off the globe is bad input, not a conflict with the incident's state.
    assert_eq!(a.status, 400);
    assert!(a.error().contains("not a valid position"), "{}", a.error());
    let a = post(sock, "/v1/incidents/SAS-9/ambulance", json!({})).await;
    assert_eq!((a.status, a.error()), (404, "no incident SAS-9"));
    // An empty body is the plain request: both municipalities were asked already.
    let a = call(sock, "POST", amb, Some("ana"), Some("")).await;
    assert_eq!(
        (a.status, a.error()),
        (409, "SAS-1: no municipality with a contact is left to ask")
    );
}

#[tokio::test]
async fn where_names_the_place_its_municipality_and_the_contacts_by_distance() {
    let st = start().await;
    let sock = &st.sock;
    let w = get(sock, "/v1/where?lat=31.47463&lon=-111.54485").await;
    assert_eq!(w.status, 200, "{}", w.json);
    assert_eq!(
        (w.json["lat"].as_f64(), w.json["lon"].as_f64()),
        (Some(31.47463), Some(-111.54485))
    );
    let p = &w.json["place"];
    assert_eq!(
        (
            p["name"].as_str(),
            p["municipality"].as_str(),
            p["state"].as_str(),
            p["country"].as_str()
        ),
        (Some("Sásabe"), Some("Sáric"), Some("Sonora"), Some("MX"))
    );
    assert!(p["distance_km"].as_f64().is_some_and(|d| d < 1.0), "{p}");
    assert!(p["bearing_deg"]
        .as_f64()
        .is_some_and(|b| (0.0..360.0).contains(&b)));
    assert_eq!(p["description_es"], "en Sásabe, Sáric, Sonora");
    assert_eq!(p["description_en"], "at Sásabe, Sáric, Sonora");
    assert_eq!(
        w.json["municipality"],
        json!({"name": "Sáric", "state": "Sonora"})
    );
    let m = w.json["nearest_municipalities"]
        .as_array()
        .expect("nearest municipalities");
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(
        (
            m[0]["name"].as_str(),
            m[0]["mesh"].as_bool(),
            &m[0]["nodes"]
        ),
        (Some("Sáric"), Some(true), &json!(["!5a5a0301"]))
    );
    assert_eq!(
        (
            m[1]["name"].as_str(),
            m[1]["mesh"].as_bool(),
            &m[1]["phones"]
        ),
        (Some("Altar"), Some(false), &json!(["+52 637 222 2222"]))
    );
    assert!(m[0]["distance_km"].as_f64() < m[1]["distance_km"].as_f64());

    // A position 14 km out reads with a distance and a compass point.
    let w = get(sock, "/v1/where?lat=31.6&lon=-111.54485").await;
    let d = w.json["place"]["description_es"]
        .as_str()
        .expect("description");
    assert!(d.contains(" km ") && d.contains(" de "), "{d}");

    for (path, want) in [
        ("/v1/where?lat=95&lon=10", "not a position"),
        ("/v1/where?lat=31.4", "give lat and lon"),
        ("/v1/where?lat=north&lon=1", "lat"),
        ("/v1/places", "give a name"),
        ("/v1/places?name=%20", "give a name"),
    ] {
        let a = get(sock, path).await;
        assert_eq!(a.status, 400, "{path}: {}", a.json);
        assert!(a.error().contains(want), "{path}: {:?}", a.error());
    }

    let found = get(sock, "/v1/places?name=sasabe").await;
    assert_eq!(found.status, 200);
    let found = found.json.as_array().expect("an array").clone();
    assert!(!found.is_empty() && found.len() <= 20, "{found:?}");
    assert_eq!(
        (
            found[0]["name"].as_str(),
            found[0]["municipality"].as_str(),
            found[0]["label"].as_str()
        ),
        (Some("Sásabe"), Some("Sáric"), Some("Sásabe, Sáric, Sonora"))
    );
    let many = get(sock, "/v1/places?name=San").await.json;
    assert_eq!(many.as_array().map(Vec::len), Some(20));
    assert_eq!(get(sock, "/v1/places?name=Atlantis").await.json, json!([]));
}

#[tokio::test]
async fn a_report_may_name_a_place_instead_of_coordinates() {
    let st = start().await;
    let sock = &st.sock;
    let a = post(
        sock,
        "/v1/incidents",
        json!({"place": "Sasabe", "kind": "heat", "people": 4}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let lat = a.json["lat"]
        .as_f64()
        .expect("a position from the gazetteer");
    assert!((lat - 31.47).abs() < 0.05, "{}", a.json);
    assert_eq!(a.json["position_source"], "manual");
    assert_eq!(a.json["where"], "en Sásabe, Sáric, Sonora");
    assert!(
        whats(&a.json)[0].contains("(Sásabe, Sáric, Sonora)"),
        "{:?}",
        whats(&a.json)
    );
    // Coordinates win: the place is only a description then.
    let a = post(
        sock,
        "/v1/incidents",
        json!({"lat": 31.6, "lon": -111.5, "place": "km 12 de la brecha"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["lat"], 31.6);
    let a = post(sock, "/v1/incidents", json!({"place": "Atlantis"})).await;
    assert_eq!(a.status, 400);
    assert!(a.error().contains("no place \"Atlantis\""), "{}", a.error());
    assert_eq!(
        get(sock, "/v1/incidents")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn the_open_queue_pages_without_repeating_or_skipping() {
    let st = start().await;
    let sock = &st.sock;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(report(sock).await);
    }
    let mut seen = Vec::new();
    for offset in [0, 2, 4, 6] {
        let page = get(
            sock,
            &format!("/v1/incidents?state=open&limit=2&offset={offset}"),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.json);
        let rows = page.json.as_array().expect("an array").clone();
        assert_eq!(
            rows.len(),
            5usize.saturating_sub(offset).min(2),
            "offset {offset}"
        );
        seen.extend(
            rows.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string)),
        );
    }
    // Same priority and (possibly) the same millisecond: the incident number breaks the tie.
    assert_eq!(seen, ids, "every incident once, in order");
    let bad = get(sock, "/v1/incidents?state=open&offset=-1").await;
    assert_eq!(bad.status, 400, "{}", bad.json);
}

#[tokio::test]
async fn the_detail_shows_the_conversation_and_messages_lists_the_rest() {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    let st = start().await;
    let sock = &st.sock;
    let phone = 0x5a5a_0301;
    let heard = |packet_id: u32, text: &str| Rx {
        radio: "r0".into(),
        from: phone,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: Some(4.5),
        text: Some(text.into()),
        auth: Default::default(),
    };
    let now = Clock::start().now_ms();
    let distress = Signal::Distress(Distress {
        node: phone,
        packet_id: 1,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: "AUXILIO somos 2".into(),
        position: None,
        channel: 0,
    });
    let o = st
        .store
        .ingest(heard(1, "AUXILIO somos 2"), distress, now)
        .await
        .expect("ingest");
    let id = o.incident.expect("an incident").0;
    let chatter = Signal::Activity {
        node: phone,
        portnum: 1,
        bytes: 4,
    };
    st.store
        .ingest(heard(2, "hola\u{1b}[2J"), chatter, now)
        .await
        .expect("ingest");

    let d = get(sock, &format!("/v1/incidents/{id}")).await;
    assert_eq!(d.status, 200, "{}", d.json);
    let m = d.json["messages"].as_array().expect("messages");
    assert_eq!(m.len(), 2, "{}", d.json);
    assert_eq!(m[0]["direction"], "in");
    assert_eq!(m[0]["node"], "!5a5a0301");
    assert_eq!(m[0]["text"], "AUXILIO somos 2");
    assert_eq!(m[0]["language"], "es");
    assert_eq!(m[0]["understood"], "distress");
    assert_eq!(m[0]["delivery"], Value::Null);
    assert!(m[0]["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(m[1]["direction"], "out");
    assert_eq!(m[1]["delivery"], "pending");
    // Every field the detail had is still there.
    for key in [
        "id",
        "state",
        "events",
        "ambulance",
        "heard_count",
        "reporter",
    ] {
        assert!(d.json.get(key).is_some(), "{key} missing");
    }
    // The list of incidents does not carry conversations.
    let list = get(sock, "/v1/incidents").await;
    assert!(list.json[0].get("messages").is_none());

    let a = post(
        sock,
        "/v1/send",
        json!({"node": "!5a5a0301", "text": "¿están bien?"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let loose = get(sock, "/v1/messages?node=!5a5a0301").await;
    assert_eq!(loose.status, 200, "{}", loose.json);
    let texts: Vec<&str> = loose
        .json
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["hola\u{1b}[2J", "¿están bien?"]);
    assert_eq!(loose.json[1]["direction"], "out");
    assert_eq!(loose.json[1]["understood"], "operator text");
    assert_eq!(loose.json[1]["delivery"], "pending");
    let one = get(sock, "/v1/messages?limit=1").await;
    assert_eq!(one.json.as_array().map(Vec::len), Some(1));
    assert_eq!(one.json[0]["text"], "¿están bien?");
    let none = get(
        sock,
        "/v1/messages?node=!00000001&since=2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!((none.status, &none.json), (200, &json!([])));
    let future = get(sock, "/v1/messages?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future.json, json!([]));
    let bad = get(sock, "/v1/messages?since=yesterday").await;
    assert_eq!(bad.status, 400);
    assert!(bad.error().contains("since"), "{}", bad.error());
    let bad = get(sock, "/v1/messages?node=fred").await;
    assert_eq!(bad.status, 400, "{}", bad.json);
    let bad = get(sock, "/v1/messages?colour=red").await;
    assert_eq!(bad.status, 400, "{}", bad.json);
}

#[tokio::test]
async fn orientations_given_are_counted_per_day_topic_and_language() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    use farod::understand::question::question;
    let st = start().await;
    let sock = &st.sock;
    let now = Clock::start().now_ms();
    for (i, (phone, text)) in [
        (0x5a5a_0301, "cuales son mis derechos"),
        (0x5a5a_0302, "what are my rights?"),
        (0x5a5a_0303, "DERECHOS"),
        // The same question from the same phone soon after: recorded, not answered again.
        (0x5a5a_0303, "derechos?"),
    ]
    .into_iter()
    .enumerate()
    {
        let rx = Rx {
            radio: "r0".into(),
            from: phone,
            packet_id: i as u32 + 1,
            text: Some(text.into()),
            auth: Default::default(),
            ..Default::default()
        };
        let q = Signal::Question {
            node: phone,
            packet_id: i as u32 + 1,
            question: question(text).expect("a question"),
        };
        let o = st.store.ingest(rx, q, now).await.expect("ingest");
        assert_eq!(o.queued, usize::from(i < 3), "{text}");
        assert_eq!(o.incident, None);
    }
    let got = get(sock, "/v1/orientations?days=1").await;
    assert_eq!(got.status, 200, "{}", got.json);
    let counts: Vec<(String, String, u64)> = got
        .json
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            assert!(o["day"].as_str().is_some_and(|d| d.len() == 10), "{o}");
            (
                o["topic"].as_str().unwrap().to_string(),
                o["language"].as_str().unwrap().to_string(),
                o["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("rights".to_string(), "en".to_string(), 1),
            ("rights".to_string(), "es".to_string(), 2)
        ]
    );
    for bad in [
        "/v1/orientations?days=0",
        "/v1/orientations?days=x",
        "/v1/orientations?d=1",
    ] {
        let a = get(sock, bad).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.json);
    }
}

#[tokio::test]
async fn the_event_stream_carries_messages_live_when_asked() {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    let st = start().await;
    let sock = &st.sock;
    let mut with = EventStream::open(sock, "?messages=true").await;
    let mut without = EventStream::open(sock, "").await;

    let a = post(
        sock,
        "/v1/send",
        json!({"node": "!5a5a0301", "text": "¿están bien?"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.json);
    // The message, then the audit event of the same transaction.
    let m = with.next().await;
    let m = &m["message"];
    assert_eq!(m["direction"], "out", "{m}");
    assert_eq!(m["node"], "!5a5a0301");
    assert_eq!(m["text"], "¿están bien?");
    assert_eq!(m["understood"], "operator text");
    assert_eq!(m["delivery"], "pending");
    assert_eq!(m["incident"], Value::Null);
    assert!(m["id"].as_i64().is_some() && m["at"].as_str().is_some());
    let ev = with.next().await;
    assert!(
        ev["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("message queued")),
        "{ev}"
    );
    // A stream that did not ask sees the event only, as before.
    let ev = without.next().await;
    assert!(ev.get("message").is_none(), "{ev}");
    assert!(ev["what"]
        .as_str()
        .is_some_and(|w| w.starts_with("message queued")));

    let distress = Signal::Distress(Distress {
        node: 0x5a5a_0301,
        packet_id: 9,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: "AUXILIO".into(),
        position: None,
        channel: 0,
    });
    let rx = Rx {
        radio: "r0".into(),
        from: 0x5a5a_0301,
        packet_id: 9,
        text: Some("AUXILIO".into()),
        auth: Default::default(),
        ..Rx::default()
    };
    st.store
        .ingest(rx, distress, Clock::start().now_ms())
        .await
        .expect("ingest");
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let v = with.next().await;
        if let Some(m) = v.get("message") {
            lines.push(m.clone());
        }
    }
    assert_eq!(
        (
            &lines[0]["direction"],
            &lines[0]["text"],
            &lines[0]["incident"]
        ),
        (&json!("in"), &json!("AUXILIO"), &json!("SAS-1"))
    );
    assert_eq!(lines[0]["understood"], "distress");
    assert_eq!(lines[0]["delivery"], Value::Null);
    assert_eq!(
        (&lines[1]["direction"], &lines[1]["incident"]),
        (&json!("out"), &json!("SAS-1"))
    );
    assert!(lines[1]["id"].as_i64() > lines[0]["id"].as_i64());
}

#[tokio::test]
async fn a_key_is_enrolled_as_the_radio_holds_it_and_then_its_commands_count() {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    use farod::trust::{Auth, PublicKey};
    let st = start().await;
    let sock = &st.sock;
    let p1 = 0xa1b2_c3d4;
    let key = PublicKey([0x42; 32]);
    let now = Clock::start().now_ms();
    // Before the radio reports a key, there is nothing to enrol.
    let none = get(sock, "/v1/keys/!a1b2c3d4").await;
    assert_eq!(none.status, 200, "{}", none.json);
    assert_eq!(none.json["held"], Value::Null);
    assert_eq!(none.json["holder"], "team P1");
    let early = post(
        sock,
        "/v1/keys",
        json!({"kind": "team", "name": "P1", "node": "!a1b2c3d4"}),
    )
    .await;
    assert_eq!(early.status, 409, "{}", early.json);
    // The station's radio reports its node database at connection: P1's key.
    let info = Signal::NodeInfo {
        node: p1,
        long_name: "Patrulla 1".into(),
        short_name: "P1".into(),
        key: Some(key),
        from_radio: true,
    };
    st.store
        .ingest(
            Rx {
                radio: "r0".into(),
                from: p1,
                ..Rx::default()
            },
            info,
            now,
        )
        .await
        .unwrap();
    let held = get(sock, "/v1/keys/!a1b2c3d4").await;
    assert_eq!(held.json["held"]["key"], key.to_string());
    // A key the operator read wrong, a node of another team, an unknown team: refused.
    let wrong = PublicKey([0x43; 32]).to_string();
    for (body, status) in [
        (
            json!({"kind": "team", "name": "P1", "node": "!a1b2c3d4", "key": wrong}),
            409,
        ),
        (
            json!({"kind": "team", "name": "P2", "node": "!a1b2c3d4"}),
            400,
        ),
        (
            json!({"kind": "team", "name": "P9", "node": "!a1b2c3d4"}),
            404,
        ),
        (
            json!({"kind": "team", "name": "P1", "node": "!a1b2c3d4", "key": "xyz"}),
            400,
        ),
    ] {
        let a = post(sock, "/v1/keys", body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.json);
    }
    // A command before enrolment does nothing.
    let sos = Signal::Distress(Distress {
        node: 0x5a5a_0999,
        packet_id: 1,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: "AUXILIO".into(),
        position: None,
        channel: 0,
    });
    st.store
        .ingest(
            Rx {
                radio: "r0".into(),
                from: 0x5a5a_0999,
                packet_id: 1,
                ..Rx::default()
            },
            sos,
            now,
        )
        .await
        .unwrap();
    post(sock, "/v1/incidents/SAS-1/assign", json!({"team": "P1"})).await;
    let ruta = |packet_id: u32| {
        let text = "RUTA SAS-1";
        (
            Rx {
                radio: "r0".into(),
                from: p1,
                packet_id,
                text: Some(text.into()),
                auth: Auth::pki(key),
                ..Rx::default()
            },
            Signal::Command {
                node: p1,
                patrol: "P1".into(),
                packet_id,
                command: faro_proto::text::parse_command(text).unwrap(),
            },
        )
    };
    let (rx, s) = ruta(10);
    st.store.ingest(rx, s, now).await.unwrap();
    assert_eq!(
        get(sock, "/v1/incidents/SAS-1").await.json["state"],
        "assigned"
    );
    let ok = post(
        sock,
        "/v1/keys",
        json!({"kind": "team", "name": "p1", "node": "!a1b2c3d4", "key": key.to_string()}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let again = post(
        sock,
        "/v1/keys",
        json!({"kind": "team", "name": "P1", "node": "!a1b2c3d4"}),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.json);
    let shown = get(sock, "/v1/keys/!a1b2c3d4").await;
    assert_eq!(shown.json["enrolled"][0]["key"], key.to_string());
    assert_eq!(shown.json["enrolled"][0]["holder"], "P1");
    let (rx, s) = ruta(11);
    st.store.ingest(rx, s, now).await.unwrap();
    assert_eq!(
        get(sock, "/v1/incidents/SAS-1").await.json["state"],
        "en_route"
    );
}

#[tokio::test]
async fn an_answer_from_a_municipality_without_pki_waits_for_an_operator() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new("SAS");
    let mut munis = municipalities();
    munis[0].pki = false;
    cfg.municipalities = munis;
    let (store, _t) = Store::open(&dir.path().join("faro.db"), cfg).unwrap();
    let now = Clock::start().now_ms();
    let heard = Signal::MunicipalityText {
        node: SARIC_NODE,
        text: "OK SAS-1 20".into(),
    };
    store
        .ingest(
            Rx {
                radio: "r0".into(),
                from: SARIC_NODE,
                packet_id: 5,
                text: Some("OK SAS-1 20".into()),
                ..Rx::default()
            },
            heard,
            now,
        )
        .await
        .unwrap();
    let r = Reader::open(store.path()).unwrap();
    let pending = r.pending_answers().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].municipality.as_str(), pending[0].text.as_str()),
        ("Sáric", "OK SAS-1 20")
    );
    let events = r.events(None, 0, 10).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.what.contains("awaits an operator's confirmation")),
        "{events:?}"
    );
    // Rejected: it never counts, and cannot be decided twice.
    store
        .operator(
            "operator:ana",
            farod::store::OperatorRequest::Answer(pending[0].id, false),
            now,
        )
        .await
        .unwrap();
    assert!(r.pending_answers().unwrap().is_empty());
    let twice = store
        .operator(
            "operator:ana",
            farod::store::OperatorRequest::Answer(pending[0].id, true),
            now,
        )
        .await;
    assert!(twice.is_err());
}

#[tokio::test]
async fn writes_record_the_socket_peer_and_keep_a_different_label_beside_it() {
    let st = start().await;
    let sock = &st.sock;
    let user = api::user_name(nix::unistd::getuid().as_raw());
    let id = report(sock).await;
    let labelled = |label: &str| {
        let (path, label) = (format!("/v1/incidents/{id}/note"), label.to_string());
        let body = json!({"text": format!("from {label}")}).to_string();
        async move { call(sock, "POST", &path, Some(&label), Some(&body)).await }
    };
    // A label is a claim: kept beside the real user, never instead of it.
    assert_eq!(labelled("turno noche").await.status, 200);
    assert_eq!(labelled(&user).await.status, 200);
    assert_eq!(labelled("say \"hi\"").await.status, 200);
    let trail = get(sock, &format!("/v1/incidents/{id}")).await.json;
    let who: Vec<&str> = trail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["who"].as_str())
        .collect();
    let plain = format!("operator:{user}");
    assert_eq!(
        who,
        [
            plain.as_str(),
            plain.as_str(),
            &format!("operator:{user} (label \"turno noche\")"),
            plain.as_str(),
            &format!("operator:{user} (label \"say \\\"hi\\\"\")"),
        ],
        "{trail}"
    );
}

/// The uid the second operator runs as in the two-uid test (nobody).
const OTHER_UID: u32 = 65534;

#[tokio::test]
async fn two_users_on_the_socket_are_each_recorded_as_themselves() {
    let st = start().await;
    let sock = &st.sock;
    let id = report(sock).await;
    let me = me();
    if !nix::unistd::getuid().is_root() {
        println!("two_users...: not root, so the second uid was SKIPPED; checked one uid only");
        let trail = get(sock, &format!("/v1/incidents/{id}")).await.json;
        assert_eq!(trail["events"][0]["who"].as_str(), Some(me.as_str()));
        return;
    }
    // The second operator: this test binary again, as uid 65534, copied where that uid can run
    // it, on a socket it may open (the fixture's directories are root's own).
    let dir = st.sock.parent().expect("run dir").to_path_buf();
    let client = dir.join("client");
    std::fs::copy(std::env::current_exe().expect("test binary"), &client).expect("copy");
    for (path, mode) in [
        (dir.parent().expect("temp dir"), 0o711),
        (&dir, 0o711),
        (&client, 0o755),
        (sock, 0o666),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let other = {
        let (client, sock, id) = (client.clone(), sock.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            use std::os::unix::process::CommandExt;
            std::process::Command::new(client)
                .args(["--exact", "peer_client", "--nocapture", "--test-threads=1"])
                .env("FARO_TEST_PEER_SOCKET", sock)
                .env("FARO_TEST_PEER_PATH", format!("/v1/incidents/{id}/ack"))
                .uid(OTHER_UID)
                .gid(OTHER_UID)
                .output()
                .expect("run the client as uid 65534")
        })
        .await
        .expect("join")
    };
    let said = String::from_utf8_lossy(&other.stdout);
    assert!(
        other.status.success() && said.contains("peer client: 200"),
        "{said}\n{}",
        String::from_utf8_lossy(&other.stderr)
    );
    // And the first operator again, after the second.
    assert_eq!(
        post(
            sock,
            &format!("/v1/incidents/{id}/note"),
            json!({"text": "visto"})
        )
        .await
        .status,
        200
    );
    let trail = get(sock, &format!("/v1/incidents/{id}")).await.json;
    let who: Vec<&str> = trail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["who"].as_str())
        .collect();
    let nobody = format!("operator:{} (label \"ana\")", api::user_name(OTHER_UID));
    assert_eq!(who, [&me, &me, &nobody, &me], "{trail}");
}

/// Not a test on its own: the second operator of the two-uid test, run as another uid. It
/// acknowledges with the label "ana", which must not pass for anyone.
#[test]
fn peer_client() {
    use std::io::{Read, Write};
    let (Ok(sock), Ok(path)) = (
        std::env::var("FARO_TEST_PEER_SOCKET"),
        std::env::var("FARO_TEST_PEER_PATH"),
    ) else {
        return;
    };
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("connect as the other uid");
    s.write_all(request("POST", &path, Some("ana"), Some("{}")).as_bytes())
        .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw.split(' ').nth(1).unwrap_or("?");
    println!("peer client: {status}");
}

#[tokio::test]
async fn purge_runs_what_is_due_now_and_answers_counts() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    let st = start().await;
    let now = Clock::start().now_ms();
    let chat = |from: u32, packet_id: u32| {
        (
            Rx {
                radio: "r0".into(),
                from,
                packet_id,
                hops: Some(1),
                channel: 0,
                snr: None,
                text: Some("hola".into()),
                auth: Default::default(),
            },
            Signal::Activity {
                node: from,
                portnum: 1,
                bytes: 4,
            },
        )
    };
    // Heard 100 days ago (the default keeps 90) and just now.
    let (rx, s) = chat(0x42, 1);
    st.store
        .ingest(rx, s, now - 100 * 86_400_000)
        .await
        .unwrap();
    let (rx, s) = chat(0x43, 2);
    st.store.ingest(rx, s, now).await.unwrap();
    let a = post(&st.sock, "/v1/purge", json!({})).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["messages"], 1, "{}", a.json);
    assert_eq!(a.json["personal_records"], 0, "{}", a.json);
    assert!(
        a.json["messages_before"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{}",
        a.json
    );
    // Nothing more is due.
    let a = post(&st.sock, "/v1/purge", json!({})).await;
    assert_eq!(a.json["messages"], 0, "{}", a.json);
    assert_eq!(get(&st.sock, "/v1/purge").await.status, 405);
    let left = get(&st.sock, "/v1/messages").await;
    assert_eq!(left.json.as_array().map(Vec::len), Some(1), "{}", left.json);
    // Each run asked by an operator is in the audit trail, in counts.
    let c = rusqlite::Connection::open(st.store.path()).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE via = 'faroctl' AND what LIKE 'retention: purged%'
                AND who = ?1",
            [me()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2, "each purge names the operator who asked");
}

#[tokio::test]
async fn a_patrols_battery_reaches_the_teams_and_the_map() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    let st = start().await;
    let sock = &st.sock;
    let p1 = 0xa1b2_c3d4;
    let heard = |packet_id: u32| Rx {
        radio: "r0".into(),
        from: p1,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: None,
        auth: Default::default(),
    };
    let battery = |level: u32, time: Option<u32>| Signal::Battery {
        node: p1,
        level: Some(level),
        voltage: Some(3.61),
        time,
        patrol: Some("P1".into()),
    };
    let t = get(sock, "/v1/teams").await;
    assert_eq!(t.json[0]["battery"], Value::Null, "{}", t.json);
    let now = Clock::start().now_ms();
    st.store
        .ingest(heard(1), battery(18, None), now)
        .await
        .expect("ingest");
    // Measured a minute earlier by the node's clock, heard later: the newer reading stays.
    let earlier = u32::try_from(now / 1000 - 60).expect("seconds");
    st.store
        .ingest(heard(2), battery(90, Some(earlier)), now + 1000)
        .await
        .expect("ingest");

    let t = get(sock, "/v1/teams").await;
    assert_eq!(t.status, 200);
    let b = &t.json[0]["battery"];
    assert_eq!(b["level"], 18, "{}", t.json);
    assert_eq!(b["powered"], false);
    assert_eq!(b["voltage"], 3.61);
    assert_eq!(b["node"], "!a1b2c3d4");
    assert!(b["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(t.json[1]["battery"], Value::Null, "P2 told nothing");
    // No incident from telemetry; the low battery is in the trail once.
    assert_eq!(get(sock, "/v1/incidents").await.json, json!([]));
    let map = get(sock, "/v1/map").await;
    assert_eq!(map.json["teams"][0]["battery"], *b, "{}", map.json);

    // Plugged in: 101, shown as powered.
    st.store
        .ingest(heard(3), battery(101, None), now + 2000)
        .await
        .expect("ingest");
    let t = get(sock, "/v1/teams").await;
    assert_eq!(t.json[0]["battery"]["level"], 101);
    assert_eq!(t.json[0]["battery"]["powered"], true);
    let r = Reader::open(st.store.path()).expect("reader");
    let low: Vec<String> = r
        .events(None, 0, 100)
        .expect("events")
        .into_iter()
        .map(|e| e.what)
        .filter(|w| w.contains("battery"))
        .collect();
    assert_eq!(low, ["patrol P1 battery low: 18% (!a1b2c3d4)"]);
}
