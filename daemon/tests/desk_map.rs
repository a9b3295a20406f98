//! `GET /v1/map` through the desk listener (real TCP on 127.0.0.1, a real SQLite file): no
//! session, no map; an auditor reads it; it carries the open incidents and location requests
//! with a position, the teams with their tracks, the towers and the municipalities, and no
//! message text.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use farod::api::{self, ApiState, DeskConfig};
use farod::clock::Clock;
use farod::ingest::{Distress, DistressKind, Fix, Signal, Tower};
use farod::lang::Lang;
use farod::store::users::{Role, UserRequest};
use farod::store::{Rx, Store, StoreConfig};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use common::desk::{login_pair as login, raw};

const PHONE: u32 = 0x5a5a_0301;
const TOWER: u32 = 0x5a5a_0201;
/// Team P1's radio (tests/common).
const PATROL: u32 = 0xa1b2_c3d4;
const SECRET: &str = "estamos junto al pozo viejo";

struct Desk {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    store: Store,
    clock: Clock,
    _stop: oneshot::Sender<()>,
}

fn tower() -> Tower {
    Tower {
        name: "Torre El Sásabe".into(),
        lat: 31.4387,
        lon: -111.7976,
    }
}

async fn start() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new("SAS");
    cfg.teams = common::teams();
    cfg.municipalities = common::municipalities();
    cfg.towers.insert(TOWER, tower());
    cfg.personal_key = Some(farod::casework::seal::Key::random());
    let (store, _writer) = Store::open(&dir.path().join("faro.db"), cfg).unwrap();
    for (name, role, password) in [
        ("ana", Role::Desk, "correct horse battery"),
        ("olga", Role::Auditor, "auditora de guardia"),
    ] {
        let req = UserRequest::Add {
            name: name.into(),
            role,
            password_hash: api::hash_password(password).unwrap(),
        };
        store.users("root", "faroctl", req, 1).await.unwrap();
    }
    let clock = Clock::start();
    let state = ApiState {
        store: store.clone(),
        station: "SAS".into(),
        teams: common::teams(),
        radios: vec![],
        clock,
        municipalities: common::municipalities(),
        surge: Default::default(),
        referrals: Vec::new(),
        timezone: "UTC".into(),
        map: api::MapConfig {
            station: api::StationPlace {
                name: "Casa del Migrante".into(),
                position: Some((31.4720, -111.5470)),
            },
            towers: vec![tower()],
        },
    };
    let listener = api::bind_desk("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let desk = DeskConfig {
        listen: Some(addr),
        session: Duration::from_secs(3600),
        ..DeskConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(api::serve_desk(listener, state, desk, async {
        let _ = stopped.await;
    }));
    Desk {
        _dir: dir,
        addr,
        store,
        clock,
        _stop: stop,
    }
}

fn rx(from: u32, packet_id: u32, text: Option<&str>) -> Rx {
    Rx {
        radio: "r0".into(),
        from,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: Some(6.25),
        text: text.map(Into::into),
        auth: Default::default(),
    }
}

fn fix(lat: f64, lon: f64) -> Fix {
    Fix {
        lat,
        lon,
        alt: None,
        precision_bits: 32,
        time: None,
    }
}

#[tokio::test]
async fn the_map_needs_a_session() {
    let desk = start().await;
    let (status, _, body) = raw(desk.addr, "GET", "/v1/map", &[], None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = raw(desk.addr, "GET", "/map", &[], None).await;
    assert_ne!(status, 200, "the map page itself is behind a session");
    let (status, _, _) = raw(desk.addr, "GET", "/vendor/outlines.json", &[], None).await;
    assert_ne!(status, 200, "and so are its outlines");
}

#[tokio::test]
async fn an_auditor_sees_incidents_teams_towers_and_search_areas_and_no_message_text() {
    let desk = start().await;
    let now = desk.clock.now_ms();
    // A distress from the air, with its position and words nobody should see on the map.
    let text = format!("AUXILIO somos 3 {SECRET}");
    let sos = Signal::Distress(Distress {
        node: PHONE,
        packet_id: 7,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: text.clone(),
        position: Some(fix(31.4746, -111.5449)),
        channel: 0,
    });
    desk.store
        .ingest(rx(PHONE, 7, Some(&text)), sos, now)
        .await
        .unwrap();
    // Patrol P1 reports three positions: its track, oldest first.
    for (i, lat) in [31.40, 31.41, 31.42].into_iter().enumerate() {
        let pos = Signal::Position {
            node: PATROL,
            fix: fix(lat, -111.6),
            patrol: Some("P1".into()),
        };
        let at = now - 60_000 * (3 - i as i64);
        desk.store
            .ingest(rx(PATROL, 100 + i as u32, None), pos, at)
            .await
            .unwrap();
    }
    // A desk operator opens a location request around a position.
    let (ana, csrf) = login(desk.addr, "ana", "correct horse battery").await;
    let req = json!({"requester": "consulado", "people": 2, "lat": 31.35, "lon": -111.7,
                     "radius_km": 4.0})
    .to_string();
    let (status, _, body) = raw(
        desk.addr,
        "POST",
        "/v1/locate",
        &[("Cookie", &ana), ("X-Faro-CSRF", &csrf)],
        Some(&req),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (olga, _) = login(desk.addr, "olga", "auditora de guardia").await;
    let (status, _, body) = raw(desk.addr, "GET", "/v1/map", &[("Cookie", &olga)], None).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(SECRET), "message text on the map: {body}");
    assert!(!body.contains("AUXILIO"), "{body}");
    assert!(
        !body.contains("consulado"),
        "the requester is not for the map: {body}"
    );
    let map: Value = serde_json::from_str(&body).unwrap();

    assert_eq!(
        map["station"],
        json!({"code": "SAS", "name": "Casa del Migrante", "lat": 31.472, "lon": -111.547})
    );
    let inc = &map["incidents"][0];
    assert_eq!(inc["id"], "SAS-1", "{map}");
    assert_eq!(inc["lat"], 31.4746);
    assert_eq!(inc["lon"], -111.5449);
    assert_eq!(inc["people"], 3);
    assert!(inc["priority"]
        .as_u64()
        .is_some_and(|p| (1..=4).contains(&p)));
    assert_eq!(map["incidents"].as_array().unwrap().len(), 1);

    let teams = map["teams"].as_array().unwrap();
    assert_eq!(teams.len(), 2, "{map}");
    let p1 = teams.iter().find(|t| t["name"] == "P1").unwrap();
    assert_eq!(p1["lat"], 31.42);
    assert_eq!(p1["lon"], -111.6);
    let track: Vec<f64> = p1["track"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lat"].as_f64().unwrap())
        .collect();
    assert_eq!(track, [31.40, 31.41, 31.42]);
    let p2 = teams.iter().find(|t| t["name"] == "P2").unwrap();
    assert!(p2["lat"].is_null() && p2["track"].as_array().unwrap().is_empty());
    assert!(p1.get("nodes").is_none() && p1.get("last_note").is_none());

    assert_eq!(
        map["towers"],
        json!([{"name": "Torre El Sásabe", "lat": 31.4387, "lon": -111.7976}])
    );
    let munis: Vec<&str> = map["municipalities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(munis, ["Sáric", "Altar"]);
    assert!(!body.contains("+52"), "no phone numbers: {body}");

    let area = &map["search_areas"][0];
    assert_eq!(area["id"], "LOC-1", "{map}");
    assert_eq!(area["lat"], 31.35);
    assert_eq!(area["radius_km"], 4.0);
    assert_eq!(area["people"], 2);
}

#[tokio::test]
async fn the_track_is_bounded_and_recent() {
    let desk = start().await;
    let now = desk.clock.now_ms();
    // One position from long ago, then more than a track holds.
    let old = Signal::Position {
        node: PATROL,
        fix: fix(30.0, -111.0),
        patrol: Some("P1".into()),
    };
    desk.store
        .ingest(rx(PATROL, 1, None), old, now - 24 * 3_600_000)
        .await
        .unwrap();
    let n = api::MAP_TRACK_POINTS + 10;
    for i in 0..n {
        let pos = Signal::Position {
            node: PATROL,
            fix: fix(31.0 + i as f64 / 1000.0, -111.6),
            patrol: Some("P1".into()),
        };
        let at = now - 1_000 * (n - i) as i64;
        desk.store
            .ingest(rx(PATROL, 10 + i as u32, None), pos, at)
            .await
            .unwrap();
    }
    let (olga, _) = login(desk.addr, "olga", "auditora de guardia").await;
    let (status, _, body) = raw(desk.addr, "GET", "/v1/map", &[("Cookie", &olga)], None).await;
    assert_eq!(status, 200, "{body}");
    let map: Value = serde_json::from_str(&body).unwrap();
    let p1 = map["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "P1")
        .unwrap();
    let track = p1["track"].as_array().unwrap();
    assert_eq!(track.len(), api::MAP_TRACK_POINTS);
    // The latest ones, oldest first, ending at the team's last position.
    assert_eq!(track.last().unwrap()["lat"], p1["lat"]);
    assert!(track.iter().all(|p| p["lat"].as_f64().unwrap() > 30.5));
    let lats: Vec<f64> = track.iter().map(|p| p["lat"].as_f64().unwrap()).collect();
    assert!(lats.windows(2).all(|w| w[0] < w[1]), "{lats:?}");
}

#[tokio::test]
async fn the_map_page_and_its_files_come_from_the_desk_with_a_session() {
    let desk = start().await;
    let (olga, _) = login(desk.addr, "olga", "auditora de guardia").await;
    let cookie = [("Cookie", olga.as_str())];
    let mut bodies = Vec::new();
    for (path, kind) in [
        ("/map", "text/html; charset=utf-8"),
        ("/map.js", "text/javascript; charset=utf-8"),
        ("/map.css", "text/css; charset=utf-8"),
        ("/vendor/leaflet.js", "text/javascript; charset=utf-8"),
        ("/vendor/leaflet.css", "text/css; charset=utf-8"),
        ("/vendor/outlines.json", "application/json"),
    ] {
        let (status, h, body) = raw(desk.addr, "GET", path, &cookie, None).await;
        assert_eq!(status, 200, "{path}");
        let header = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some(kind), "{path}");
        assert_eq!(header("content-security-policy"), Some(api::CSP), "{path}");
        assert_eq!(header("x-content-type-options"), Some("nosniff"), "{path}");
        bodies.push((path, body));
    }
    let (_, page) = &bodies[0];
    assert!(page.contains(r#"data-page="map""#) && page.contains("Mapa"));
    for (path, text) in &bodies[..3] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} names an outside URL"
        );
    }
    let (_, js) = &bodies[1];
    for word in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "tileLayer",
    ] {
        assert!(!js.contains(word), "map.js uses {word}");
    }
    for needed in [
        "subscribe(",
        "\"/v1/map\"",
        "window.faroMap",
        "/incident?id=",
    ] {
        assert!(js.contains(needed), "map.js lacks {needed}");
    }
    // The live feed the map subscribes to is desk.js's, shared by every page.
    let (status, _, desk_js) = raw(desk.addr, "GET", "/desk.js", &cookie, None).await;
    assert_eq!(status, 200);
    assert!(desk_js.contains("EventSource(\"/v1/stream\")"));
    let outlines: Value = serde_json::from_str(&bodies[5].1).unwrap();
    assert_eq!(outlines["type"], "FeatureCollection");
}

/// GET with the session cookie: status and JSON body.
async fn get_json(addr: SocketAddr, cookie: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = raw(addr, "GET", path, &[("Cookie", cookie)], None).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json)
}

fn populations(places: &Value) -> Vec<u64> {
    places
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["population"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_places_within_a_box_are_the_most_populous_first() {
    let desk = start().await;
    let around_sasabe = "/v1/places/within?west=-111.74&south=31.27&east=-111.34&north=31.67";
    let (status, _, _) = raw(desk.addr, "GET", around_sasabe, &[], None).await;
    assert_eq!(status, 401, "no session, no places");
    let (cookie, _) = login(desk.addr, "olga", "auditora de guardia").await;

    // Sásabe is in a box around it, with its municipality, state and label, and every place
    // answered is inside the box.
    let (status, found) = get_json(desk.addr, &cookie, around_sasabe).await;
    assert_eq!(status, 200, "{found}");
    let places = found.as_array().unwrap();
    let sasabe = places
        .iter()
        .find(|p| p["name"] == "Sásabe")
        .unwrap_or_else(|| panic!("no Sásabe in {found}"));
    assert_eq!(sasabe["municipality"], "Sáric");
    assert_eq!(sasabe["state"], "Sonora");
    assert_eq!(sasabe["country"], "MX");
    assert_eq!(sasabe["label"], "Sásabe, Sáric, Sonora");
    assert!(sasabe["population"].as_u64().unwrap() > 0);
    for p in places {
        let (lat, lon) = (p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap());
        assert!(
            (31.27..=31.67).contains(&lat) && (-111.74..=-111.34).contains(&lon),
            "{p}"
        );
    }

    // A wide box (northern Mexico): most populous first, the default limit of 200, a given
    // limit honoured, one above the most answered with the most.
    let north = "/v1/places/within?west=-118&south=24&east=-97&north=33";
    let (status, all) = get_json(desk.addr, &cookie, north).await;
    assert_eq!(status, 200, "{all}");
    let pops = populations(&all);
    assert_eq!(pops.len(), farod::api::PLACES_WITHIN_DEFAULT);
    assert!(pops.windows(2).all(|w| w[0] >= w[1]), "{pops:?}");
    let (_, five) = get_json(desk.addr, &cookie, &format!("{north}&limit=5")).await;
    assert_eq!(five.as_array().unwrap()[..], all.as_array().unwrap()[..5]);
    let (_, most) = get_json(desk.addr, &cookie, &format!("{north}&limit=100000")).await;
    assert_eq!(
        most.as_array().unwrap().len(),
        farod::api::PLACES_WITHIN_MAX
    );
    assert!(populations(&most).windows(2).all(|w| w[0] >= w[1]));
    // The biggest town in the box is among the first: a place of Sásabe's size is not.
    assert!(pops[0] > sasabe["population"].as_u64().unwrap());

    // The open sea: nothing.
    let sea = "/v1/places/within?west=-125&south=20&east=-124&north=21";
    assert_eq!(get_json(desk.addr, &cookie, sea).await, (200, json!([])));

    // A malformed box: a 400 with one line naming what is wrong.
    for (query, want) in [
        (
            "west=-111.7&south=31.2&east=-111.3",
            "give west, south, east and north",
        ),
        (
            "west=oeste&south=31.2&east=-111.3&north=31.6",
            "west \"oeste\" is not a number",
        ),
        (
            "west=-111.7&south=NaN&east=-111.3&north=31.6",
            "south \"NaN\" is not a number",
        ),
        (
            "west=-111.7&south=31.6&east=-111.3&north=31.2",
            "north of north",
        ),
        (
            "west=-111.3&south=31.2&east=-111.7&north=31.6",
            "antimeridian",
        ),
        (
            "west=-111.7&south=-95&east=-111.3&north=31.6",
            "south -95 is out of range",
        ),
        (
            "west=-190&south=31.2&east=-111.3&north=31.6",
            "west -190 is out of range",
        ),
        (
            "west=-111.7&south=31.2&east=-111.3&north=31.6&limit=-1",
            "limit \"-1\" is not a count",
        ),
        (
            "west=-111.7&south=31.2&east=-111.3&north=31.6&zoom=9",
            "zoom",
        ),
    ] {
        let path = format!("/v1/places/within?{query}");
        let (status, answer) = get_json(desk.addr, &cookie, &path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains(want), "{path}: {error}");
        assert!(!error.contains('\n'), "{path}: {error}");
    }
}

/// The keys of one language's dictionary in desk.js: the names at the first level of its
/// object (four spaces in).
fn i18n_keys<'a>(desk_js: &'a str, lang: &str) -> std::collections::HashSet<&'a str> {
    let start = desk_js
        .find(&format!("\n  {lang}: {{\n"))
        .unwrap_or_else(|| panic!("no {lang} in I18N"));
    let rest = &desk_js[start + 1..];
    let end = rest[1..].find("\n  }").unwrap();
    rest[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| !l.starts_with(' ') && !l.starts_with('/'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect()
}

/// The first argument of every `name("...")` call in a script.
fn string_args<'a>(js: &'a str, name: &str) -> Vec<&'a str> {
    js.match_indices(&format!("{name}(\""))
        .filter(|(at, _)| !js[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, m)| {
            let rest = &js[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn every_word_of_the_map_is_in_spanish_and_in_english() {
    let desk_js = include_str!("../web/desk.js");
    let map_js = include_str!("../web/map.js");
    let map_html = include_str!("../web/map.html");
    let (es, en) = (i18n_keys(desk_js, "es"), i18n_keys(desk_js, "en"));
    assert!(es.contains("title_map") && en.contains("title_map"));
    let mut keys: Vec<String> = string_args(map_js, "t")
        .into_iter()
        .chain(string_args(map_js, "tName"))
        .map(String::from)
        .collect();
    for key in string_args(map_js, "tn") {
        keys.push(format!("{key}_one"));
        keys.push(format!("{key}_other"));
    }
    for attr in ["data-i18n=\"", "data-i18n-title=\""] {
        for (at, m) in map_html.match_indices(attr) {
            let rest = &map_html[at + m.len()..];
            keys.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    assert!(keys.len() > 30, "{keys:?}");
    for key in &keys {
        assert!(es.contains(key.as_str()), "{key} is not in Spanish");
        assert!(en.contains(key.as_str()), "{key} is not in English");
    }
    // The map's own words are all looked up: no Spanish left written into the script.
    for word in [
        "personas",
        "equipo ",
        "oído",
        "Abrir",
        "ambulancia",
        "torre",
        "No se pudo",
    ] {
        assert!(!map_js.contains(word), "map.js writes {word:?} itself");
    }
    assert!(map_js.contains("\"/v1/places/within?west=\""));
    assert!(map_js.contains("maxZoom: FIT_MAX_ZOOM") && map_js.contains("FIT_MAX_ZOOM = 10"));
}
