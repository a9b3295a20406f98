//! Location requests over the control socket and a real SQLite file: open (a place looked up
//! in the gazetteer), task, close, reported back, the list and the detail with its audit trail,
//! matching against incidents and aid with consent, and one bad input for each route.

use serde_json::{json, Value};
use tokio::time::timeout;

mod common;
use common::*;

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
