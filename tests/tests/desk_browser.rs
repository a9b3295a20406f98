//! The desk in a real browser: Debian's Chromium, headless, driven through chromedriver
//! (WebDriver), against a whole station (links, intake, store, outbox, the desk listener on
//! 127.0.0.1) and the simulated mesh, on a real SQLite file and in real time.
//!
//! One scenario, as an operator lives it: the API refuses a browser with no session; ana logs
//! in; a phone's plea arrives through faro-sim and appears in the open queue without a reload;
//! the P1 alert shows; ana acknowledges and assigns from the incident's page; the map shows
//! the incident at the phone's position; ana closes it; the audit trail names her for each.
//! Screenshots go to `target/desk-screenshots/` (the README's come from there).
//!
//! Chromium and chromedriver come from Debian's packages `chromium` and `chromium-driver`,
//! which `.ci/run` installs. Where they are missing the test says so and passes, unless
//! `FARO_REQUIRE_BROWSER` (set by `.ci/run`) or `CI` is set: then a missing browser fails.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use faro_proto::mesh::BROADCAST;
use faro_tests::desk::*;
use faro_tests::nodes::*;
use faro_tests::*;
use farod::store::users::{Role, UserRequest};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Every wait in the browser is bounded by this.
const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery";
/// The phone of the scenario that asks for help, and where it is.
const CEL1: u32 = 0x5a5a_0301;
const CEL1_AT: (f64, f64) = (31.42073, -111.75547);

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the browser is installed; without it, a skip outside CI and a failure in CI.
fn browser_present() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("FARO_REQUIRE_BROWSER").is_none(),
            "{CHROMIUM} or {CHROMEDRIVER} is missing (.ci/run installs chromium and chromium-driver)"
        );
        eprintln!(
            "skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
    }
    present
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver on 127.0.0.1 and a headless Chromium session through it.
async fn browser(profile: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    // The closed network of these machines refuses Chromium's own background requests: the
    // flags keep it from making them at all.
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--disable-dev-shm-usage", "--window-size=1280,860", "--lang=es",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {"intl.accept_languages": "es"}
        }
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    let client = loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                assert!(started.elapsed() < WAIT, "chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    (driver, client)
}

/// Waits (bounded) until `script` returns true in the page.
async fn until_js(c: &Client, what: &str, script: &str) {
    let started = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if v == Value::Bool(true) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "not within {WAIT:?}: {what} ({script} gave {v})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/desk-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(shots().join(name), png).unwrap();
}

/// A status code of `fetch(path)` made by the page (with its cookie, if any).
async fn status_of(c: &Client, method: &str, path: &str) -> i64 {
    let script = "const [m, p, done] = arguments; \
                  fetch(p, {method: m, credentials: 'same-origin'}).then(r => done(r.status), e => done(-1));";
    c.execute_async(script, vec![json!(method), json!(path)])
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

/// Clicks the incident page's action `action`, waiting until it is there and enabled.
async fn act(c: &Client, action: &str) {
    let sel = format!("button[data-action=\"{action}\"]");
    until_js(
        c,
        &format!("the {action} button shown and enabled"),
        &format!(
            "const b = document.querySelector('{}'); \
             return !!b && !b.disabled && b.offsetParent !== null;",
            sel.replace('"', "\\\"")
        ),
    )
    .await;
    c.find(Locator::Css(&sel))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_acknowledges_assigns_maps_and_closes_a_plea_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    init_logging();
    let sim = quiet_sim();
    let d = station_with(&sim, 1, tempfile::tempdir().unwrap(), |cfg| {
        cfg.desk.listen = Some("127.0.0.1:0".parse().unwrap());
        cfg.timezone = "America/Hermosillo".into();
    })
    .await;
    let base = format!("http://{}", d.station.desk.unwrap());
    let hash = farod::api::hash_password(PASSWORD).unwrap();
    let add = UserRequest::Add {
        name: "ana".into(),
        role: Role::Desk,
        password_hash: hash,
    };
    d.station
        .store
        .users("root", "faroctl", add, 1)
        .await
        .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = browser(profile.path()).await;

    // Nothing without a session: the API refuses, the queue page sends to the login.
    c.goto(&format!("{base}/login")).await.unwrap();
    assert_eq!(status_of(&c, "GET", "/v1/incidents").await, 401);
    assert_eq!(status_of(&c, "GET", "/v1/map").await, 401);
    assert_eq!(status_of(&c, "POST", "/v1/incidents/SAS-1/ack").await, 401);
    c.goto(&format!("{base}/")).await.unwrap();
    until_js(
        &c,
        "the login page",
        "return location.pathname === '/login' && !!document.getElementById('login');",
    )
    .await;

    // ana logs in.
    let form = c.find(Locator::Id("login")).await.unwrap();
    form.find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("ana")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    screenshot(&c, "login.png").await;
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_js(
        &c,
        "the live queue",
        "return location.pathname === '/' && document.querySelector('#live.on') !== null;",
    )
    .await;
    // A mark on this page: if it is still there later, the page was never reloaded.
    c.execute("window.faroNoReload = 'same page'; return true;", vec![])
        .await
        .unwrap();

    // Patrol P1 is out, a few kilometres away, and heard; P2 has not been heard for hours.
    sim.act(faro_sim::Action::Position {
        node: P1,
        lat: CEL1_AT.0 + 0.03,
        lon: CEL1_AT.1 + 0.02,
        alt: None,
    })
    .await;
    // A phone shares its position and pleads for help, in plain words, through the mesh.
    sim.act(faro_sim::Action::Position {
        node: CEL1,
        lat: CEL1_AT.0,
        lon: CEL1_AT.1,
        alt: None,
    })
    .await;
    until(&d, WAIT, "the position recorded", |d| {
        reader(d)
            .nodes(100)
            .unwrap()
            .iter()
            .any(|n| n.node == "!5a5a0301" && n.lat.is_some())
    })
    .await;
    sim.act(text(CEL1, BROADCAST, "alluda porfa mi hijo no respira"))
        .await;
    until(&d, WAIT, "the incident", |d| !incidents(d).is_empty()).await;
    let inc = show(&d, "SAS-1");
    assert_eq!(inc.priority, 1, "{inc:?}");

    // It appears in the open page, pushed, and the P1 alert shows.
    until_js(
        &c,
        "SAS-1 in the queue",
        "return document.querySelector('#queue li[data-id=\"SAS-1\"]') !== null;",
    )
    .await;
    // Why it is a P1, in Spanish (farod writes its reasons in English), the words quoted as
    // the phone wrote them.
    until_js(
        &c,
        "the reasons in Spanish",
        "const t = document.querySelector('#queue li[data-id=\"SAS-1\"]').textContent; \
         return t.includes('tipo emergencia médica: P1') && t.includes('dijo \"alluda\": pide ayuda') \
             && !t.includes('asks for help');",
    )
    .await;
    let mark = c
        .execute("return window.faroNoReload;", vec![])
        .await
        .unwrap();
    assert_eq!(mark, json!("same page"), "the queue page was reloaded");
    until_js(
        &c,
        "the P1 alert",
        "const a = document.getElementById('alert'); \
         return !!a && !a.hidden && (a.dataset.incidents || '').split(' ').includes('SAS-1');",
    )
    .await;
    screenshot(&c, "queue.png").await;

    // The incident's page: acknowledge, then assign the nearest team.
    c.goto(&format!("{base}/incident?id=SAS-1")).await.unwrap();
    act(&c, "ack").await;
    until(&d, WAIT, "acknowledged", |d| {
        show(d, "SAS-1").state != "new"
    })
    .await;
    // The nearest available team is the default choice.
    act(&c, "assign").await;
    until(&d, WAIT, "assigned", |d| show(d, "SAS-1").team.is_some()).await;
    assert_eq!(show(&d, "SAS-1").team.as_deref(), Some("P1"));
    until_js(
        &c,
        "the audit trail on the page names ana",
        "return [...document.querySelectorAll('#audit li')].filter(li => li.textContent.includes('ana')).length >= 2;",
    )
    .await;
    screenshot(&c, "incident.png").await;

    // The map shows the incident where the phone is.
    c.goto(&format!("{base}/map")).await.unwrap();
    until_js(
        &c,
        "SAS-1 on the map",
        "return !!(window.faroMap && window.faroMap.incidents && window.faroMap.incidents['SAS-1']);",
    )
    .await;
    let at = c
        .execute(
            "const p = window.faroMap.incidents['SAS-1'].getLatLng(); return [p.lat, p.lng];",
            vec![],
        )
        .await
        .unwrap();
    let (lat, lon) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    assert!(
        (lat - CEL1_AT.0).abs() < 0.01 && (lon - CEL1_AT.1).abs() < 0.01,
        "SAS-1 drawn at {lat},{lon}, the phone is at {CEL1_AT:?}"
    );
    // Drawn, not only known: its marker is in the map's SVG.
    until_js(
        &c,
        "the marker drawn",
        "return document.querySelector('#map path.incident') !== null;",
    )
    .await;
    // Fitted to what it shows, but no closer than zoom 10; the gazetteer's towns around it
    // are drawn for context, under the incident, and the nearest named on the map.
    let zoom = c
        .execute("return window.faroMap.map.getZoom();", vec![])
        .await
        .unwrap();
    assert!(zoom.as_f64().is_some_and(|z| z <= 10.0), "zoom {zoom}");
    until_js(
        &c,
        "the towns around drawn",
        "return document.querySelectorAll('#map .leaflet-places-pane path.place').length > 3 \
         && document.querySelector('#map .leaflet-placeNames-pane .place-name') !== null;",
    )
    .await;
    screenshot(&c, "map.png").await;
    // Zoomed out to 8: dots with no names, each named on hover (the panes above let the
    // pointer through to it); below 7 they go.
    c.execute("window.faroMap.map.setZoom(8, {animate: false});", vec![])
        .await
        .unwrap();
    until_js(
        &c,
        "unnamed towns at zoom 8, reachable by the pointer",
        "const dots = [...document.querySelectorAll('#map .leaflet-places-pane path.place')]; \
         if (!dots.length || document.querySelector('#map .place-name')) return false; \
         return dots.some(d => { const r = d.getBoundingClientRect(); \
           return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === d; });",
    )
    .await;
    c.execute("window.faroMap.map.setZoom(6, {animate: false});", vec![])
        .await
        .unwrap();
    until_js(
        &c,
        "no towns below zoom 7",
        "return document.querySelector('#map path.place') === null;",
    )
    .await;

    // Back to the incident: close it.
    c.goto(&format!("{base}/incident?id=SAS-1")).await.unwrap();
    close_from_page(&c).await;
    until(&d, WAIT, "closed", |d| show(d, "SAS-1").state == "closed").await;

    // The audit trail names the operator for each of her actions.
    let events = show(&d, "SAS-1").events.unwrap();
    let by_ana: Vec<_> = events
        .iter()
        .filter(|e| e.who == "operator:web:ana")
        .map(|e| e.what.clone())
        .collect();
    for word in ["acknowledged", "assigned", "closed"] {
        assert!(
            by_ana.iter().any(|w| w.contains(word)),
            "no {word} by operator:web:ana in {events:#?}"
        );
    }
    c.close().await.unwrap();
    d.station.stop().await;
}

/// Closes the open incident page's incident as the page asks (a reason, then confirm).
async fn close_from_page(c: &Client) {
    act(c, "close").await;
}
