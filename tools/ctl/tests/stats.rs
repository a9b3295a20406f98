//! The casework figures end to end (issue 14 §5): a month of records (November 2026) written
//! with plain SQL into a real SQLite file that farod migrated, with records just outside the
//! month that must not count; then farod serves it and the built `faroctl` asks: `stats
//! --json` (every key against a count by hand), `--by day`, `--csv`, `report --month`, and
//! bad input refused on one line.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use farod::api::{self, ApiState};
use farod::casework::stats::date_ms;
use farod::clock::Clock;
use farod::store::{Store, StoreConfig};
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Unix ms of `date` (UTC midnight) plus `plus` ms.
fn at(date: &str, plus: i64) -> i64 {
    date_ms(date).unwrap() + plus
}

/// Just before November: 2026-10-31 23:59:59.999.
fn before() -> i64 {
    at("2026-11-01", -1)
}

/// Just after November: 2026-12-01 00:00.
fn after() -> i64 {
    at("2026-12-01", 0)
}

/// farod's control socket on a runtime of its own, over the database in `dir`.
struct Farod {
    sock: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Farod {
    fn start(dir: &Path) -> Farod {
        let sock = dir.join("faro.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (store, _writer) = Store::open(&dir.join("faro.db"), StoreConfig::new("SAS")).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = sock.clone();
        rt.spawn(async move {
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
            api::serve(&path, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "farod's socket did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        Farod {
            sock,
            rt: Some(rt),
            stop: Some(stop),
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_faroctl"))
            .env_remove("FARO_OPERATOR")
            .env("FARO_SOCKET", &self.sock)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "faroctl {args:?}: {stderr}");
        assert_eq!(stderr, "");
        String::from_utf8(out.stdout).unwrap()
    }

    /// A refusal: non-zero, nothing on stdout, one line on stderr (returned).
    fn refused(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(!out.status.success(), "faroctl {args:?} should fail");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.starts_with("faroctl: "), "{err}");
        err
    }
}

impl Drop for Farod {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// The month's records (and their neighbours outside it).
#[rustfmt::skip] // one record a line
fn fixture(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    // Incidents: id, priority, people, created, state, outcome, closed.
    type IncidentRow<'a> = (&'a str, i64, Option<i64>, i64, &'a str, Option<&'a str>, Option<i64>);
    let incidents: [IncidentRow<'_>; 10] = [
        // Closed rescued on Nov 2.
        ("SAS-1", 1, Some(3), at("2026-11-02", 10 * HOUR), "closed", Some("rescued"), Some(at("2026-11-02", 12 * HOUR))),
        // People unknown (counts as 1), to hospital, no aid record: counted by the incident.
        ("SAS-2", 2, None, at("2026-11-02", 11 * HOUR), "closed", Some("transferred_hospital"), Some(at("2026-11-03", 9 * HOUR))),
        // To hospital with an aid record of that kind (AID-3): counted by the aid record.
        ("SAS-3", 1, Some(2), at("2026-11-05", 8 * HOUR), "closed", Some("transferred_hospital"), Some(at("2026-11-05", 12 * HOUR))),
        ("SAS-4", 3, Some(4), at("2026-11-10", 14 * HOUR), "closed", Some("transferred_shelter"), Some(at("2026-11-10", 20 * HOUR))),
        ("SAS-5", 4, Some(1), at("2026-11-12", 0), "closed", Some("false_alarm"), Some(at("2026-11-12", HOUR))),
        ("SAS-6", 2, Some(5), at("2026-11-20", 10 * HOUR), "acknowledged", None, None),
        // Opened in the month's last millisecond.
        ("SAS-10", 3, Some(2), at("2026-12-01", -1), "new", None, None),
        // Opened in October, closed at November's first millisecond: closed in November.
        ("SAS-7", 1, Some(7), at("2026-10-31", 23 * HOUR), "closed", Some("rescued"), Some(at("2026-11-01", 0))),
        // Wholly outside.
        ("SAS-8", 1, Some(6), before(), "closed", Some("rescued"), Some(before())),
        ("SAS-9", 2, Some(8), after(), "closed", Some("transferred_shelter"), Some(after())),
    ];
    for (i, (id, p, people, created, state, outcome, closed)) in incidents.iter().enumerate() {
        c.execute(
            "INSERT INTO incidents(id, seq, state, outcome, kind, priority, priority_why, people,
                                   source, language, created_at, updated_at, last_heard_at, closed_at)
             VALUES (?1, ?2, ?3, ?4, 'lost', ?5, '[]', ?6, 'manual', 'es', ?7, ?7, ?7, ?8)",
            rusqlite::params![id, i as i64 + 1, state, outcome, p, people, created, closed],
        )
        .unwrap();
    }
    // The audit trail, as incident::transition words it.
    let events: [(&str, i64, &str); 14] = [
        ("SAS-1", at("2026-11-02", 10 * HOUR + MIN), "acknowledged"), // 60 s
        ("SAS-1", at("2026-11-02", 10 * HOUR + 30 * MIN), "P1 on scene"), // 1800 s
        ("SAS-1", at("2026-11-02", 12 * HOUR), "closed: rescued"),
        ("SAS-2", at("2026-11-02", 11 * HOUR + 2 * MIN), "assigned to P1"), // ack 120 s
        ("SAS-2", at("2026-11-02", 11 * HOUR + 10 * MIN), "P1 en route"),
        ("SAS-2", at("2026-11-02", 12 * HOUR), "P1 on scene"), // 3600 s
        // A note is free text: neither an acknowledgement nor an arrival.
        ("SAS-3", at("2026-11-05", 8 * HOUR) + 100_000, "note: P2 on scene"),
        ("SAS-3", at("2026-11-05", 8 * HOUR + 5 * MIN), "acknowledged"), // 300 s
        ("SAS-3", at("2026-11-05", 9 * HOUR + 30 * MIN), "P2 on scene"), // 5400 s
        ("SAS-4", at("2026-11-10", 14 * HOUR) + 40_000, "acknowledged by the patrol"), // 40 s
        // A close alone is no acknowledgement.
        ("SAS-5", at("2026-11-12", HOUR), "closed: false_alarm"),
        ("SAS-6", at("2026-11-20", 10 * HOUR + 10 * MIN), "acknowledged"), // 600 s
        // Opened in October: not in November's times.
        ("SAS-7", at("2026-11-01", 0) - 10 * MIN, "acknowledged"),
        ("SAS-9", after() + MIN, "acknowledged"),
    ];
    for (id, t, what) in events {
        c.execute(
            "INSERT INTO events(incident, at, who, via, what) VALUES (?1, ?2, 'operator:ana', 'socket', ?3)",
            rusqlite::params![id, t, what],
        )
        .unwrap();
    }
    // Aid: id, at, incident, people, minors, unaccompanied, women, pregnant, kinds.
    type AidRow<'a> = (i64, i64, Option<&'a str>, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>, &'a [&'a str]);
    let aid: [AidRow<'_>; 7] = [
        (1, at("2026-11-01", 0), None, 4, Some(1), Some(0), Some(2), Some(1), &["water", "food", "orientation"]),
        (2, at("2026-11-02", 12 * HOUR), Some("SAS-1"), 3, Some(2), Some(1), Some(1), Some(0), &["first_aid", "water"]),
        (3, at("2026-11-05", 11 * HOUR), Some("SAS-3"), 2, None, None, None, None, &["hospital_transfer", "first_aid"]),
        (4, at("2026-11-15", 9 * HOUR), None, 6, Some(3), Some(2), Some(2), Some(1), &["shelter_transfer", "food", "phone_call"]),
        (5, at("2026-12-01", -1), None, 1, Some(0), None, Some(1), Some(0), &["legal_advice", "orientation"]),
        (6, before(), None, 10, Some(5), Some(5), Some(5), Some(5), &["water", "orientation", "hospital_transfer"]),
        (7, after(), None, 20, Some(5), Some(5), Some(5), Some(5), &["food", "shelter_transfer"]),
    ];
    for (id, t, inc, people, minors, unacc, women, pregnant, kinds) in aid {
        c.execute(
            "INSERT INTO assistance(id, at, incident, people, minors, unaccompanied_minors, women,
                                    pregnant, recorded_by, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'operator:ana', ?2)",
            rusqlite::params![id, t, inc, people, minors, unacc, women, pregnant],
        )
        .unwrap();
        for k in kinds {
            c.execute(
                "INSERT INTO assistance_kinds(assistance, kind) VALUES (?1, ?2)",
                rusqlite::params![id, k],
            )
            .unwrap();
        }
    }
    // Orientations answered over the mesh, per day.
    for (day, topic, lang, n) in [
        ("2026-10-31", "water", "es", 9),
        ("2026-11-01", "water", "es", 3),
        ("2026-11-01", "rights", "en", 2),
        ("2026-11-02", "where", "es", 1),
        ("2026-11-30", "risks", "fr", 4),
        ("2026-12-01", "water", "es", 11),
    ] {
        c.execute(
            "INSERT INTO orientations(day, topic, language, count) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![day, topic, lang, n],
        )
        .unwrap();
    }
    // Complaints, each with its consent.
    for (i, (t, category, people)) in [
        (at("2026-11-03", 10 * HOUR), "robbery", 2),
        (at("2026-11-03", 11 * HOUR), "extortion", 1),
        (at("2026-11-20", 0), "robbery", 3),
        (before(), "assault", 5),
        (after(), "kidnapping", 4),
    ]
    .into_iter()
    .enumerate()
    {
        let id = i as i64 + 1;
        c.execute(
            "INSERT INTO consents(id, subject, given_by, purposes, at, recorded_by)
             VALUES (?1, ?2, 'person', 'record,authorities', ?3, 'operator:ana')",
            rusqlite::params![id, format!("CMP-{id}"), t],
        )
        .unwrap();
        c.execute(
            "INSERT INTO complaints(id, at, category, people, status, consent, recorded_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'recorded', ?1, 'operator:ana', ?2)",
            rusqlite::params![id, t, category, people],
        )
        .unwrap();
    }
    // Location requests: at, people sought, found.
    for (t, sought, found) in [
        (at("2026-11-04", 0), 2, 1),
        (at("2026-11-25", 0), 1, 0),
        (before(), 3, 3),
        (after(), 1, 0),
    ] {
        c.execute(
            "INSERT INTO location_requests(at, requester_kind, people_sought, state, found,
                                           recorded_by, updated_at)
             VALUES (?1, 'relative', ?2, 'open', ?3, 'operator:ana', ?1)",
            rusqlite::params![t, sought, found],
        )
        .unwrap();
    }
}

#[test]
fn the_figures_of_november_counted_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("faro.db");
    // Created and migrated by farod, then closed before the fixture is written.
    {
        let (store, writer) = Store::open(&db, StoreConfig::new("SAS")).unwrap();
        drop(store);
        writer.join().unwrap();
    }
    fixture(&db);
    let f = Farod::start(dir.path());

    let out = f.ok(&[
        "stats",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let expected = json!({
        "from": "2026-11-01",
        "to": "2026-11-30",
        // orientations 3 + 2 + 1 + 4 = 10, plus aid with orientation AID-1 4 + AID-5 1 = 5
        "oriented": 15,
        // AID-1..5: 4 + 3 + 2 + 6 + 1
        "assisted": 16,
        "assisted_by_kind": {
            "first_aid": 5,          // AID-2 3 + AID-3 2
            "hospital_transfer": 2,  // AID-3
            "shelter_transfer": 6,   // AID-4
            "water": 7,              // AID-1 4 + AID-2 3
            "food": 10,              // AID-1 4 + AID-4 6
            "phone_call": 6,         // AID-4
            "orientation": 5,        // AID-1 4 + AID-5 1
            "legal_advice": 1,       // AID-5
        },
        // SAS-1 3 + SAS-2 1 (unknown) + SAS-3 2 + SAS-4 4 + SAS-7 7 (closed Nov 1 00:00)
        "rescued": 17,
        // AID-3 2 + SAS-2 1 (SAS-3's 2 are AID-3's)
        "hospital_transfers": 3,
        // AID-4 6 + SAS-4 4
        "shelter_transfers": 10,
        // 2 + 1 + 3
        "complaints": 6,
        "complaints_by_category": {
            "robbery": 5, "assault": 0, "extortion": 1, "kidnapping": 0,
            "abuse_by_official": 0, "other": 0,
        },
        // Nov 4 (2 sought, 1 found) and Nov 25 (1, 0)
        "location_requests": { "requests": 2, "people_sought": 3, "found": 1 },
        "incidents": {
            // P1 SAS-1, SAS-3; P2 SAS-2, SAS-6; P3 SAS-4, SAS-10; P4 SAS-5
            "opened_by_priority": { "1": 2, "2": 2, "3": 2, "4": 1 },
            // rescued SAS-1, SAS-7; hospital SAS-2, SAS-3; shelter SAS-4; false alarm SAS-5
            "closed_by_outcome": {
                "rescued": 2, "transferred_hospital": 2, "transferred_shelter": 1,
                "false_alarm": 1, "not_found": 0, "cancelled": 0,
            },
        },
        // 40, 60, 120, 300, 600 (SAS-5 and SAS-10 never acknowledged)
        "median_ack_secs": 120,
        // 1800, 3600, 5400
        "median_reach_secs": 3600,
        // AID-1 1 + AID-2 2 + AID-4 3 (AID-3 unknown)
        "minors": 6,
        // AID-2 1 + AID-4 2
        "unaccompanied_minors": 3,
        // AID-1 2 + AID-2 1 + AID-4 2 + AID-5 1
        "women": 6,
        // AID-1 1 + AID-4 1
        "pregnant": 2,
    });
    assert_eq!(v, expected, "{}", serde_json::to_string_pretty(&v).unwrap());

    // By day: November 1 and 2.
    let out = f.ok(&[
        "stats",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--by",
        "day",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let days = v["periods"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(v["assisted"], 16);
    let nov1 = &days[0];
    assert_eq!(
        (nov1["from"].as_str(), nov1["to"].as_str()),
        (Some("2026-11-01"), Some("2026-11-01"))
    );
    assert_eq!(nov1["assisted"], 4); // AID-1
    assert_eq!(nov1["oriented"], 9); // 3 + 2 + AID-1 4
    assert_eq!(nov1["rescued"], 7); // SAS-7 at 00:00:00.000
    assert_eq!(nov1["incidents"]["opened_by_priority"]["1"], 0);
    let nov2 = &days[1];
    assert_eq!(nov2["from"], "2026-11-02");
    assert_eq!(nov2["assisted"], 3); // AID-2
    assert_eq!(nov2["oriented"], 1);
    assert_eq!(nov2["rescued"], 3); // SAS-1
    assert_eq!(
        nov2["incidents"]["opened_by_priority"],
        json!({"1": 1, "2": 1, "3": 0, "4": 0})
    );
    assert_eq!(nov2["median_ack_secs"], 90); // (60 + 120) / 2
    assert_eq!(nov2["median_reach_secs"], 2700); // (1800 + 3600) / 2
    assert_eq!(days[29]["assisted"], 1); // AID-5 at 23:59:59.999
    assert_eq!(days[29]["oriented"], 5); // 4 + AID-5 1

    // The readable table.
    let table = f.ok(&["stats", "--from", "2026-11-01", "--to", "2026-11-30"]);
    assert!(
        table.starts_with("figures 2026-11-01 to 2026-11-30"),
        "{table}"
    );
    let assisted = table
        .lines()
        .find(|l| l.starts_with("people assisted"))
        .unwrap();
    assert_eq!(assisted.split_whitespace().nth(2), Some("16"), "{table}");

    // CSV: a header and one row for the period.
    let csv = f.ok(&[
        "stats",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with("from,to,oriented,assisted,assisted_first_aid,"),
        "{csv}"
    );
    assert!(
        lines[1].starts_with("2026-11-01,2026-11-30,15,16,5,"),
        "{csv}"
    );
    assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("median_ack_secs"), "120");
    assert_eq!(cell("closed_rescued"), "2");
    assert_eq!(cell("opened_p4"), "1");
    let csv = f.ok(&[
        "stats",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--csv",
        "--by",
        "month",
    ]);
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // The monthly report, to stdout and to a file.
    let page = f.ok(&["report", "--month", "2026-11"]);
    assert!(page.contains("Informe mensual"), "{page}");
    assert!(page.contains("SAS"));
    assert!(
        page.contains("Personas asistidas <small>people assisted</small></th><td>16</td>"),
        "{page}"
    );
    assert!(page.contains("<svg"));
    let file = dir.path().join("informe.html");
    assert_eq!(
        f.ok(&["report", "--month", "2026-11", "-o", file.to_str().unwrap()]),
        ""
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), page);

    // Bad input: one line, non-zero.
    let e = f.refused(&["stats", "--from", "2026-13-01"]);
    assert!(e.contains("bad date"), "{e}");
    let e = f.refused(&["stats", "--from", "2026-12-01", "--to", "2026-11-30"]);
    assert!(e.contains("after"), "{e}");
    let e = f.refused(&["report", "--month", "2026-13"]);
    assert!(e.contains("bad month"), "{e}");
    f.refused(&["stats", "--by", "week"]);
    f.refused(&["report", "--month", "2026-11", "--people", "3"]);
}
