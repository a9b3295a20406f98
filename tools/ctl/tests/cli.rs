//! The built `faroctl` binary against an in-process farod (a real SQLite file and the real
//! control socket in a temp dir): the desk's flow by command line, the `--json` contract
//! scripts rely on, one-line refusals with their exit statuses, and `watch`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use farod::clock::Clock;
use farod::lang::Lang;
use farod::store::Store;
use serde_json::Value;

mod common;
use common::*;

#[test]
fn the_desk_flow_by_command_line() {
    let f = Farod::start();
    let id = f.ctl(&[
        "report",
        "--at",
        "31.4746,-111.5449",
        "--place",
        "Sásabe km 12",
        "--kind",
        "heat",
        "--people",
        "3",
        "--flag",
        "children",
        "--note",
        "llamada de su hermana",
        "--language",
        "es",
    ]);
    assert_eq!(id.ok(), "SAS-1\n");

    let table = f.ctl(&["incidents"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "P", "STATE", "KIND", "PEOPLE", "POSITION", "TEAM", "HEARD", "AGE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..8],
        [
            "SAS-1",
            "P1",
            "new",
            "heat",
            "3",
            "31.47460,-111.54490",
            "-",
            "1"
        ]
    );
    // Aligned: every column starts at the same offset in the header and the row.
    assert_eq!(lines[0].find("KIND"), lines[1].find("heat"));

    assert_eq!(f.ctl(&["ack", "sas-1"]).ok(), "SAS-1: acknowledged\n");
    assert_eq!(
        f.ctl(&["assign", "sas-1", "P1"]).ok(),
        "SAS-1: assigned (P1)\n"
    );
    assert_eq!(
        f.ctl(&["note", "SAS-1", "la", "patrulla", "lleva", "agua"])
            .ok(),
        "SAS-1: note added\n"
    );
    assert_eq!(
        f.ctl(&["close", "SAS-1", "rescued", "--note", "todos bien"])
            .ok(),
        "SAS-1: closed (rescued)\n"
    );
    assert_eq!(f.ctl(&["incidents"]).ok(), "no incidents (open)\n");
    assert!(f
        .ctl(&["incidents", "--state", "all"])
        .ok()
        .contains("closed (rescued)"));

    let sheet = f.ctl(&["show", "SAS-1"]);
    let sheet = sheet.ok();
    assert!(
        sheet.starts_with("SAS-1  P1  closed (rescued)\n"),
        "{sheet}"
    );
    for want in [
        "heat, 3 people (children)",
        "31.47460,-111.54490 (manual)",
        "kind heat: P1",
        "vulnerable (children): P1",
    ] {
        assert!(sheet.contains(want), "{want:?} missing from\n{sheet}");
    }
    assert!(sheet.contains("nearest teams"), "{sheet}");
    let trail: Vec<&str> = sheet
        .lines()
        .skip_while(|l| !l.starts_with("events"))
        .skip(1)
        .take_while(|l| !l.starts_with("conversation"))
        .collect();
    // Notes are sealed personal records: the trail says only that one was added.
    let ends = [
        "note added (personal record 1, 21 bytes)",
        "acknowledged",
        "assigned to P1",
        "note added (personal record 2, 22 bytes)",
        "closed: rescued",
        "note added (personal record 3, 10 bytes)",
    ];
    // No radio here: the patrol's dispatch never went on air, and the close drops it unsent.
    let (dropped, trail): (Vec<&str>, Vec<&str>) = trail
        .into_iter()
        .partition(|l| l.contains("  system  outbox  "));
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(
        dropped[0].ends_with("dispatch to !a1b2c3d4 dropped unsent: the incident was closed"),
        "{dropped:?}"
    );
    assert_eq!(trail.len(), 7, "{trail:?}");
    let me = format!("{}  faroctl", me());
    for (line, end) in trail[1..].iter().zip(ends) {
        assert!(
            line.contains(&me) && line.ends_with(end),
            "{line:?} / {end:?}"
        );
    }

    assert_eq!(f.ctl(&["reopen", "SAS-1"]).ok(), "SAS-1: assigned (P1)\n");
    assert!(f
        .ctl(&["status"])
        .ok()
        .contains("incidents: 1 open (P1 1, P2 0, P3 0, P4 0)"));
    assert!(f
        .ctl(&["teams"])
        .ok()
        .lines()
        .any(|l| l.starts_with("P1") && l.ends_with("SAS-1")));
    assert_eq!(
        f.ctl(&["send", "!a1b2c3d4", "regresen", "a", "la", "base"])
            .ok(),
        "queued\n"
    );
}

#[test]
fn times_are_shown_in_the_stations_zone_or_in_utc_with_utc() {
    let f = Farod::start_zoned("America/Hermosillo");
    assert_eq!(
        f.ctl(&["report", "--at", "31.4746,-111.5449", "--kind", "heat"])
            .ok(),
        "SAS-1\n"
    );
    assert_eq!(f.ctl(&["ack", "SAS-1"]).ok(), "SAS-1: acknowledged\n");
    // Scripts: farod's answer untouched, its times RFC 3339 UTC.
    assert_eq!(
        f.ctl(&["status", "--json"]).json()["timezone"],
        "America/Hermosillo"
    );
    let sheet = f.ctl(&["show", "SAS-1", "--json"]).json();
    let events = sheet["events"].as_array().expect("events");
    assert!(events.len() >= 2, "{sheet}");
    let utc: Vec<String> = events
        .iter()
        .map(|e| {
            let at = e["at"].as_str().expect("at");
            assert!(at.ends_with('Z'), "{at}");
            at.to_string()
        })
        .collect();
    // Hermosillo is UTC-7 all year: the time 7 hours earlier, written as UTC.
    let in_zone = |at: &str| {
        let t: jiff::Timestamp = at.parse().expect("RFC 3339");
        let local = t - jiff::SignedDuration::from_hours(7);
        format!("{} MST", local.strftime("%Y-%m-%d %H:%M:%S"))
    };
    let as_utc = |at: &str| at.trim_end_matches('Z').replacen('T', " ", 1);

    let out = f.ctl(&["show", "SAS-1"]);
    let out = out.ok();
    let events_part = out
        .split("events (America/Hermosillo)\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    for at in &utc {
        assert!(
            events_part.contains(&format!("  {}  ", in_zone(at))),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("opened     {} (", in_zone(&utc[0]))),
        "{out}"
    );
    assert!(
        !out.contains("UTC") && !out.contains(&as_utc(&utc[0])),
        "{out}"
    );

    // --utc, anywhere on the line: as before, in UTC.
    for args in [
        &["--utc", "show", "SAS-1"][..],
        &["show", "SAS-1", "--utc"][..],
    ] {
        let out = f.ctl(args);
        let out = out.ok();
        let events_part = out
            .split("events (UTC)\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{out}"));
        for at in &utc {
            assert!(
                events_part.contains(&format!("  {}  ", as_utc(at))),
                "{out}"
            );
        }
        assert!(
            out.contains(&format!("opened     {} UTC (", as_utc(&utc[0]))),
            "{out}"
        );
        assert!(!out.contains("MST") && !out.contains("Hermosillo"), "{out}");
    }

    // watch: the time of day in the zone, or in UTC with --utc.
    let local = Watch::start(&f.sock, &["--after", "0"]);
    let line = local.next();
    let time = &in_zone(&utc[0])[11..];
    assert!(line.starts_with(&format!("{time}  SAS-1 ")), "{line:?}");
    let plain = Watch::start(&f.sock, &["--utc", "--after", "0"]);
    let line = plain.next();
    let time = &as_utc(&utc[0])[11..];
    assert!(line.starts_with(&format!("{time}  SAS-1 ")), "{line:?}");
}

#[test]
fn json_output_is_farods_answer_for_scripts() {
    let f = Farod::start();
    assert_eq!(
        f.ctl(&["report", "--kind", "lost", "--people", "2"]).ok(),
        "SAS-1\n"
    );
    f.ctl(&[
        "report",
        "--at",
        "8.0286,-77.7273",
        "--kind",
        "drowning",
        "--language",
        "fr",
    ])
    .ok();

    // Pages: a full page says how to get the next; the last one does not.
    let first = f.ctl(&["incidents", "--limit", "1"]);
    assert!(
        first
            .ok()
            .ends_with("(first 1 from 0; more: faroctl incidents --state open --offset 1)\n"),
        "{}",
        first.ok()
    );
    let second = f
        .ctl(&["incidents", "--limit", "1", "--offset", "1", "--json"])
        .json();
    let third = f.ctl(&["incidents", "--offset", "1"]);
    assert!(!third.ok().contains("more:"), "{}", third.ok());
    assert!(f
        .ctl(&["incidents", "--limit", "0"])
        .failed(2)
        .contains("--limit"));

    let list = f.ctl(&["incidents", "--json"]).json();
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(
        second.as_array().map(|a| a[0]["id"].clone()),
        Some(list[1]["id"].clone())
    );
    // Most urgent first: the drowning (P1) before the lost pair (P2).
    assert_eq!(
        (list[0]["id"].as_str(), list[1]["id"].as_str()),
        (Some("SAS-2"), Some("SAS-1"))
    );
    let lost = &list[1];
    assert_eq!(
        (
            lost["state"].as_str(),
            lost["priority"].as_u64(),
            lost["kind"].as_str()
        ),
        (Some("new"), Some(2), Some("lost"))
    );
    assert!(
        lost["lat"].is_null() && lost["lon"].is_null() && lost["reporter"].is_null(),
        "{lost}"
    );
    assert_eq!(
        (lost["heard_count"].as_u64(), lost["language"].as_str()),
        (Some(1), Some("es"))
    );
    assert!(
        humantime::parse_rfc3339(lost["created_at"].as_str().expect("created_at")).is_ok(),
        "{lost}"
    );
    assert_eq!(
        (list[0]["lat"].as_f64(), list[0]["language"].as_str()),
        (Some(8.0286), Some("fr"))
    );
    assert!(lost.get("events").is_none());

    let shown = f.ctl(&["show", "sas-2", "--json"]).json();
    assert_eq!(shown["id"], "SAS-2");
    assert!(
        shown["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{shown}"
    );
    assert_eq!(shown["nearest_teams"].as_array().map(Vec::len), Some(2));
    assert!(
        f.ctl(&["show", "SAS-1", "--json"])
            .json()
            .get("nearest_teams")
            .is_none(),
        "no position, no distances"
    );

    assert_eq!(f.ctl(&["teams", "--json"]).json()[1]["name"], "P2");
    assert_eq!(f.ctl(&["nodes", "--json"]).json(), serde_json::json!([]));
    assert_eq!(
        f.ctl(&["status", "--json"]).json()["counts"]["open_incidents"],
        2
    );
    assert_eq!(
        f.ctl(&["incidents", "--state", "closed", "--json"]).ok(),
        "[]\n"
    );
}

#[test]
fn refusals_are_one_line_with_an_exit_status() {
    let f = Farod::start();
    f.ctl(&["report", "--at", "31.4746,-111.5449"]).ok();

    assert_eq!(
        f.ctl(&["ack", "SAS-99"]).failed(1),
        "faroctl: no incident SAS-99"
    );
    assert_eq!(
        f.ctl(&["show", "sas-99"]).failed(1),
        "faroctl: no incident SAS-99"
    );
    assert_eq!(
        f.ctl(&["reopen", "SAS-1"]).failed(1),
        "faroctl: SAS-1: cannot reopen: not closed (new)"
    );
    f.ctl(&["ack", "SAS-1"]).ok();
    assert_eq!(
        f.ctl(&["ack", "SAS-1"]).failed(1),
        "faroctl: SAS-1: cannot acknowledge: already acknowledged"
    );
    assert!(f
        .ctl(&["assign", "SAS-1", "P9"])
        .failed(1)
        .contains("unknown team \"P9\""));
    assert!(f
        .ctl(&["close", "SAS-1", "maybe"])
        .failed(1)
        .contains("maybe"));
    assert!(f
        .ctl(&["report", "--kind", "alien"])
        .failed(1)
        .contains("unknown kind \"alien\""));
    assert!(f.ctl(&["show", "17"]).failed(1).contains("bad incident id"));
    assert!(f
        .ctl(&["incidents", "--state", "lost"])
        .failed(1)
        .contains("unknown state"));
    assert!(f
        .ctl(&["send", "!nothex", "hola"])
        .failed(1)
        .contains("bad node id"));

    // Usage: clap's errors shrink to one line, exit 2.
    assert!(f.ctl(&["frobnicate"]).failed(2).contains("frobnicate"));
    assert!(f.ctl(&[]).failed(2).contains("a command is needed"));
    assert!(f
        .ctl(&["report", "--at", "here"])
        .failed(2)
        .contains("LAT,LON"));
    assert!(f
        .ctl(&["report", "--at", "95,10"])
        .failed(2)
        .contains("off the globe"));
    assert!(f
        .ctl(&["report", "--language", "de"])
        .failed(2)
        .contains("de"));
    // No label needed (nor $USER): farod knows who is on the socket.
    run(faroctl(&f.sock)
        .env_remove("USER")
        .args(["note", "SAS-1", "cero"]))
    .ok();

    // The operator's label: --operator over FARO_OPERATOR, kept beside the real user.
    run(faroctl(&f.sock)
        .env("FARO_OPERATOR", "lucía")
        .args(["note", "SAS-1", "uno"]))
    .ok();
    run(faroctl(&f.sock).env("FARO_OPERATOR", "lucía").args([
        "--operator",
        "beto",
        "note",
        "SAS-1",
        "dos",
    ]))
    .ok();
    let trail = f.ctl(&["show", "SAS-1", "--json"]).json();
    let who: Vec<&str> = trail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["who"].as_str())
        .collect();
    let me = me();
    assert_eq!(
        who[who.len() - 3..],
        [
            me.clone(),
            format!("{me} (label \"lucía\")"),
            format!("{me} (label \"beto\")")
        ]
    );
    let long = "x".repeat(41);
    assert!(f
        .ctl(&["--operator", &long, "note", "SAS-1", "tres"])
        .failed(1)
        .contains("X-Faro-Operator"));
}

#[test]
fn an_unreachable_socket_exits_69_with_a_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("nobody.sock");
    let out = run(faroctl(&sock).arg("status"));
    let line = out.failed(69);
    assert!(
        line.contains(&format!("is farod running? (socket {})", sock.display())),
        "{line}"
    );
    // --socket wins over FARO_SOCKET.
    let f = Farod::start();
    run(faroctl(&sock).args(["--socket", f.sock.to_str().expect("UTF-8 path"), "status"])).ok();
    let _ = &f.dir;
}

/// A `faroctl watch` child; killed (by its own handle) when dropped.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything it wrote to stderr so far.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Watch {
    fn start(sock: &Path, args: &[&str]) -> Watch {
        let mut child = faroctl(sock)
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Watch {
            child,
            lines,
            stderr,
        }
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("a watch line within the bound")
    }

    /// Its stderr so far.
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    /// Waits (bounded) until its stderr holds `what`.
    fn wait_stderr(&self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let err = self.stderr();
            if err.contains(what) {
                return err;
            }
            assert!(Instant::now() < deadline, "no {what:?} on stderr: {err:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_replays_then_follows_live() {
    let f = Farod::start();
    f.ctl(&["report", "--kind", "heat"]).ok();

    let json = Watch::start(&f.sock, &["--json", "--after", "0"]);
    let first: Value = serde_json::from_str(&json.next()).expect("JSON");
    assert_eq!(first["incident"], "SAS-1");
    assert!(
        first["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("opened by hand")),
        "{first}"
    );
    let people = Watch::start(&f.sock, &["--after", &first["id"].to_string()]);

    f.ctl(&["ack", "SAS-1"]).ok();
    let live: Value = serde_json::from_str(&json.next()).expect("JSON");
    assert_eq!(
        (
            live["incident"].as_str(),
            live["what"].as_str(),
            live["who"].as_str()
        ),
        (Some("SAS-1"), Some("acknowledged"), Some(me().as_str()))
    );
    let line = people.next();
    assert!(
        line.contains("SAS-1") && line.contains(&format!("{}  faroctl  acknowledged", me())),
        "{line}"
    );
    // Messages come live too: the text sent, escaped, then its audit event.
    f.ctl(&["send", "!00000042", "hola\u{1b}[2J"]).ok();
    let line = people.next();
    assert!(
        line.contains("-> !00000042  operator text  -: hola\\u{1b}[2J"),
        "{line:?}"
    );
    assert!(people.next().contains("message queued to !00000042"));
    let m: Value = serde_json::from_str(&json.next()).expect("JSON");
    assert_eq!(m["message"]["text"], "hola\u{1b}[2J");
}

/// A distress text from a node on the air, as farod's radio side records it (an audit event
/// `opened: P2 text from ...`), committed straight into `store`.
fn distress_from_the_air(
    store: &Store,
    rt: &tokio::runtime::Runtime,
    (node, packet_id): (u32, u32),
    text: &str,
) {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    let rx = Rx {
        radio: "r0".into(),
        from: node,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: Some(text.into()),
        auth: Default::default(),
    };
    let distress = Signal::Distress(Distress {
        node,
        packet_id,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: text.into(),
        position: None,
        channel: 0,
    });
    rt.block_on(store.ingest(rx, distress, Clock::start().now_ms()))
        .expect("ingest the distress");
}

/// The audit events of a `watch --json` line list: (id, what), messages left out.
fn events_of(lines: &[String]) -> Vec<(i64, String)> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter_map(|v| Some((v["id"].as_i64()?, v["what"].as_str()?.to_string())))
        .collect()
}

#[test]
fn watch_reconnects_after_a_restart_and_loses_no_event() {
    let f = Farod::start();
    let sock = f.sock.clone();
    f.ctl(&["report", "--kind", "lost"]).ok();
    let watch = Watch::start(&sock, &["--json", "--after", "0"]);
    let mut seen = vec![watch.next()];
    assert_eq!(events_of(&seen).len(), 1, "{seen:?}");

    // farod stops (its stream ends, its socket goes away); while it is down, something
    // commits that watch never saw: the last commit of the old farod or a first one of the
    // new, here written to the database with no control socket up.
    let (dir, key) = f.stop();
    watch.wait_stderr("faroctl: farod went away; reconnecting...\n");
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (store, writer) =
            Store::open(&dir.path().join("faro.db"), store_config(&key)).expect("store");
        distress_from_the_air(&store, &rt, (0x5a5a_0301, 7), "AUXILIO perdidos");
        drop(store);
        writer.join().expect("the writer stops");
    }
    // Stays away a while: watch keeps trying, and says so only once.
    std::thread::sleep(Duration::from_millis(1200));
    let f = Farod::start_in(dir, key);
    watch.wait_stderr("missed meanwhile");
    f.ctl(&["ack", "SAS-1"]).ok();
    loop {
        seen.push(watch.next());
        if events_of(&seen).iter().any(|(_, w)| w == "acknowledged") {
            break;
        }
    }
    let err = watch.stderr();
    assert_eq!(
        err.matches("faroctl: farod went away; reconnecting...\n")
            .count(),
        1,
        "{err:?}"
    );
    let shown = events_of(&seen);
    let missed = shown.len() - 2;
    assert!(missed >= 1, "{shown:?}");
    let noun = if missed == 1 { "event" } else { "events" };
    assert!(
        err.ends_with(&format!(
            "faroctl: reconnected; {missed} {noun} missed meanwhile shown below\n"
        )),
        "{err:?} {shown:?}"
    );
    assert!(
        shown[1].1.starts_with("opened: P2 text from !5a5a0301"),
        "{shown:?}"
    );
    // Each event once, in order, none missing: what a fresh watch replays from the start.
    let all = Watch::start(&f.sock, &["--json", "--after", "0"]);
    let mut replay = Vec::new();
    while replay.len() < shown.len() {
        replay.extend(events_of(&[all.next()]));
    }
    assert_eq!(shown, replay);
}

#[test]
fn watch_bell_rings_once_for_a_live_p1_opening_and_a_rise_to_p1() {
    let f = Farod::start();
    f.ctl(&["report", "--kind", "heat"]).ok();
    // The backlog is stamped before the second watch starts in: old news, no bell.
    next_second();
    let watch = Watch::start(&f.sock, &["--bell", "--after", "0"]);
    assert!(watch.next().contains("opened by hand: P1 heat"));
    // Five people asking for information: P3.
    f.ctl(&["report", "--kind", "info", "--people", "5"]).ok();
    assert!(watch.next().contains("opened by hand: P3 info"));
    f.ctl(&["report", "--kind", "medical"]).ok();
    assert!(watch.next().contains("opened by hand: P1 medical"));
    watch.wait_stderr("\u{7}");
    // Something after it, so a second bell would have been written by now.
    f.ctl(&["ack", "SAS-2"]).ok();
    assert!(watch.next().contains("acknowledged"));
    assert_eq!(watch.stderr(), "\u{7}");
    // A P2 from the air, no bell; heard again with a child among them, it rises to P1: a bell.
    let rt = f.rt.as_ref().expect("runtime");
    distress_from_the_air(&f.store, rt, (0x5a5a_0301, 1), "AUXILIO perdidos");
    let mut lines = vec![watch.next()];
    while !lines.iter().any(|l| l.contains("opened: P2 text")) {
        lines.push(watch.next());
    }
    distress_from_the_air(&f.store, rt, (0x5a5a_0301, 2), "AUXILIO somos 3, una niña");
    while !lines.iter().any(|l| l.contains("follow-up: ")) {
        lines.push(watch.next());
    }
    let rise = lines.iter().find(|l| l.contains("follow-up: "));
    assert!(rise.is_some_and(|l| l.contains("P2 -> P1")), "{lines:#?}");
    watch.wait_stderr("\u{7}\u{7}");
    f.ctl(&["ack", "SAS-3"]).ok();
    while !lines
        .last()
        .is_some_and(|l| l.contains("SAS-3") && l.contains("acknowledged"))
    {
        lines.push(watch.next());
    }
    assert_eq!(watch.stderr(), "\u{7}\u{7}", "{lines:#?}");
}

/// Waits (bounded) until the second of the wall clock turns: what was stamped before is older
/// than a watch started after.
fn next_second() {
    let second = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    };
    let now = second();
    while second() == now {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn watch_started_live_rings_for_a_p1_opened_while_farod_was_away() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    let f = Farod::start();
    // Before watch: a live watch never shows it, even after reading the trail again.
    f.ctl(&["report", "--kind", "heat"]).ok();
    next_second();
    let watch = Watch::start(&f.sock, &["--json", "--bell"]);
    // Connected once a text heard comes through: a message, no event id known to resume from.
    let rt = f.rt.as_ref().expect("runtime");
    let deadline = Instant::now() + WAIT;
    for packet_id in 100.. {
        let rx = Rx {
            radio: "r0".into(),
            from: 0x0000_0042,
            packet_id,
            hops: Some(1),
            channel: 0,
            snr: None,
            text: Some("hola".into()),
            auth: Default::default(),
        };
        let chatter = Signal::Activity {
            node: 0x0000_0042,
            portnum: 1,
            bytes: 4,
        };
        rt.block_on(f.store.ingest(rx, chatter, Clock::start().now_ms()))
            .expect("ingest");
        if let Ok(line) = watch.lines.recv_timeout(Duration::from_millis(200)) {
            assert!(line.starts_with("{\"message\":"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "watch did not connect");
    }
    let (dir, key) = f.stop();
    watch.wait_stderr("faroctl: farod went away; reconnecting...\n");
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (store, writer) =
            Store::open(&dir.path().join("faro.db"), store_config(&key)).expect("store");
        distress_from_the_air(&store, &rt, (0x5a5a_0301, 7), "AUXILIO somos 3, una niña");
        drop(store);
        writer.join().expect("the writer stops");
    }
    let f = Farod::start_in(dir, key);
    watch.wait_stderr("faroctl: reconnected; 1 event missed meanwhile shown below\n");
    let next_event = || loop {
        let line = watch.next();
        if let [(_, what)] = &events_of(std::slice::from_ref(&line))[..] {
            return what.clone();
        }
    };
    let opened = next_event();
    assert!(
        opened.starts_with("opened: P1 text from !5a5a0301"),
        "{opened}"
    );
    f.ctl(&["ack", "SAS-2"]).ok();
    assert_eq!(next_event(), "acknowledged");
    assert_eq!(
        watch.stderr(),
        "faroctl: farod went away; reconnecting...\n\
         faroctl: reconnected; 1 event missed meanwhile shown below\n\u{7}"
    );
}

#[test]
fn watch_gives_up_when_told() {
    let f = Farod::start();
    let mut watch = Watch::start(&f.sock, &["--give-up-after", "1s", "--after", "0"]);
    f.ctl(&["report", "--kind", "lost"]).ok();
    assert!(watch.next().contains("opened by hand: P2 lost"));
    drop(f);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = watch.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "watch did not give up");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(69));
    let err = watch.wait_stderr("is farod running?");
    assert!(
        err.starts_with("faroctl: farod went away; reconnecting...\nfaroctl: cannot connect: "),
        "{err:?}"
    );
    assert_eq!(err.lines().count(), 2, "{err:?}");
}

#[test]
fn ctrl_c_ends_a_watch_waiting_for_farod_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let f = Farod::start();
    let mut watch = Watch::start(&f.sock, &["--after", "0"]);
    f.ctl(&["report", "--kind", "lost"]).ok();
    assert!(watch.next().contains("opened by hand"));
    drop(f);
    watch.wait_stderr("reconnecting...");
    let sent = Command::new("kill")
        .args(["-INT", &watch.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(2);
    let status = loop {
        if let Some(s) = watch.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "watch outlived Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.signal(), Some(2), "{status:?}");
}

#[test]
fn report_by_place_position_ambulance_and_where() {
    let f = Farod::start();
    // No --at: farod finds the place in its gazetteer.
    assert_eq!(
        f.ctl(&["report", "--place", "Sasabe", "--kind", "heat"])
            .ok(),
        "SAS-1\n"
    );
    let shown = f.ctl(&["show", "SAS-1", "--json"]).json();
    assert!(
        (shown["lat"].as_f64().expect("lat") - 31.47).abs() < 0.05,
        "{shown}"
    );
    assert_eq!(shown["where"], "en Sásabe, Sáric, Sonora");
    assert_eq!(shown["where_en"], "at Sásabe, Sáric, Sonora");
    assert!(f
        .ctl(&["report", "--place", "Atlantis"])
        .failed(1)
        .contains("no place \"Atlantis\""));

    // An incident without a position: Faro does not guess.
    assert_eq!(f.ctl(&["report", "--kind", "medical"]).ok(), "SAS-2\n");
    let refused = f.ctl(&["ambulance", "SAS-2"]);
    assert!(
        refused
            .failed(1)
            .starts_with("faroctl: SAS-2 has no position"),
        "{refused:?}"
    );
    assert_eq!(
        f.ctl(&["ambulance", "SAS-2", "--cancel"]).failed(1),
        "faroctl: SAS-2 has no ambulance request in play"
    );
    assert_eq!(
        f.ctl(&["position", "sas-2", "31.47463,-111.54485"]).ok(),
        "SAS-2: position 31.47463,-111.54485 (at Sásabe, Sáric, Sonora)\n"
    );
    assert!(f
        .ctl(&["position", "SAS-2", "--place", "Altar, Sonora"])
        .ok()
        .contains("Altar, Altar, Sonora"));
    f.ctl(&["position", "SAS-2", "--place", "Sásabe"]).ok();
    assert!(f
        .ctl(&["ambulance", "SAS-2", "--municipality", "Hermosillo"])
        .failed(1)
        .contains("no municipality \"Hermosillo\""));

    // The nearest municipality with a contact, on the mesh.
    let asked = f.ctl(&["ambulance", "SAS-2"]);
    let line = asked.ok();
    assert!(
        line.starts_with("SAS-2: ambulance #1 Sáric, Sonora (")
            && line.contains("pending, by mesh to !5a5a0301; answer due"),
        "{line}"
    );
    assert!(f
        .ctl(&["ambulance", "SAS-2"])
        .failed(1)
        .contains("already asked of Sáric"));
    // Sáric declines: Altar is next, by phone.
    let declined = f.ctl(&["ambulance", "SAS-2", "--declined"]);
    let lines: Vec<&str> = declined.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(": declined"), "{lines:?}");
    assert!(
        lines[1].starts_with("SAS-2: ambulance #2 Altar, Sonora")
            && lines[1].contains("call +52 637 222 2222"),
        "{lines:?}"
    );
    assert!(f
        .ctl(&["ambulance", "SAS-2", "--accepted", "25"])
        .ok()
        .ends_with(": accepted, ETA 25 min\n"));

    let sheet = f.ctl(&["show", "SAS-2"]);
    let sheet = sheet.ok();
    assert!(
        sheet.contains("  where      at Sásabe, Sáric, Sonora\n"),
        "{sheet}"
    );
    let amb: Vec<&str> = sheet
        .lines()
        .skip_while(|l| !l.starts_with("ambulance"))
        .skip(1)
        .take_while(|l| !l.starts_with("events"))
        .collect();
    assert_eq!(amb.len(), 3, "{sheet}");
    let head: Vec<&str> = amb[0].split_whitespace().collect();
    assert_eq!(
        head,
        [
            "#",
            "MUNICIPALITY",
            "STATE",
            "DISTANCE",
            "STATUS",
            "ETA",
            "CONTACT",
            "DEADLINE"
        ]
    );
    let first: Vec<&str> = amb[1].split_whitespace().collect();
    assert_eq!(
        (first[0], first[1], first[2], first[5], first[7], first[8]),
        ("1", "Sáric", "Sonora", "declined", "mesh", "!5a5a0301"),
        "{sheet}"
    );
    assert!(
        amb[2].contains("accepted")
            && amb[2].contains("25 min")
            && amb[2].contains("phone +52 637 222 2222"),
        "{sheet}"
    );

    // The --json contract: the attempts in escalation order.
    let v = f.ctl(&["show", "SAS-2", "--json"]).json();
    let a = v["ambulance"].as_array().expect("ambulance array");
    for (got, (muni, node, eta)) in a.iter().zip([
        ("Sáric", Some("!5a5a0301"), None),
        ("Altar", None, Some(25)),
    ]) {
        assert_eq!(got["municipality"], muni);
        assert_eq!(got["municipality_state"], "Sonora");
        assert_eq!(got["node"].as_str(), node);
        assert_eq!(got["eta_minutes"].as_u64(), eta);
        assert!(
            got["requested_at"].is_string() && got["answered_at"].is_string(),
            "{got}"
        );
    }

    assert!(f
        .ctl(&["ambulance", "SAS-2", "--cancel"])
        .ok()
        .ends_with(": cancelled\n"));
    assert_eq!(
        f.ctl(&["ambulance", "SAS-2", "--cancel"]).failed(1),
        "faroctl: SAS-2 has no ambulance request in play"
    );

    // Usage errors: exit 2, one line.
    assert!(f
        .ctl(&["ambulance", "SAS-2", "--cancel", "--declined"])
        .failed(2)
        .contains("--declined"));
    assert!(f
        .ctl(&["ambulance", "SAS-2", "--accepted", "soon"])
        .failed(2)
        .contains("soon"));
    assert!(f.ctl(&["position", "SAS-2"]).failed(2).contains("LAT,LON"));
    assert!(f
        .ctl(&["position", "SAS-2", "31.4,-111.5", "--place", "Altar"])
        .failed(2)
        .contains("--place"));
}

#[test]
fn where_tells_the_place_the_municipality_and_whom_to_call() {
    let f = Farod::start();
    let out = f.ctl(&["where", "31.47463,-111.54485"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(
        lines[0], "31.47463,-111.54485  en Sásabe, Sáric, Sonora",
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("  place         Sásabe (MX, 0."),
        "{lines:?}"
    );
    assert_eq!(lines[2], "  municipality  Sáric, Sonora");
    assert_eq!(lines[3], "ambulance contacts, nearest first");
    let saric: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(
        (saric[0], saric[1], saric[3], saric[4], saric[5]),
        ("Sáric", "Sonora", "km", "mesh", "!5a5a0301"),
        "{lines:?}"
    );
    assert!(
        lines[6].trim_start().starts_with("Altar")
            && lines[6].ends_with("phone only +52 637 222 2222"),
        "{lines:?}"
    );

    let v = f.ctl(&["where", "31.47463,-111.54485", "--json"]).json();
    assert_eq!(v["place"]["name"], "Sásabe");
    assert_eq!(
        v["municipality"],
        serde_json::json!({"name": "Sáric", "state": "Sonora"})
    );
    let names: Vec<&str> = v["nearest_municipalities"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["Sáric", "Altar"]);
    assert_eq!(v["nearest_municipalities"][1]["mesh"], false);

    assert!(f.ctl(&["where", "Sasabe"]).failed(2).contains("LAT,LON"));
    assert!(f
        .ctl(&["where", "95,10"])
        .failed(2)
        .contains("off the globe"));

    let places = f.ctl(&["places", "sásabe"]);
    let lines: Vec<&str> = places.ok().lines().collect();
    assert!(lines[0].starts_with("PLACE"), "{lines:?}");
    assert!(
        lines[1].starts_with("Sásabe  ") && lines[1].contains("Sáric"),
        "{lines:?}"
    );
    let v = f
        .ctl(&["places", "San", "José,", "Sonora", "--json"])
        .json();
    assert!(
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|p| p["state"] == "Sonora")),
        "{v}"
    );
    assert_eq!(
        f.ctl(&["places", "Atlantis"]).ok(),
        "no such place in the gazetteer\n"
    );
}

#[test]
fn the_conversation_by_command_line_escaped_for_the_terminal() {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    let f = Farod::start();
    let phone = 0x5a5a_0301_u32;
    let rt = f.rt.as_ref().expect("runtime");
    let now = Clock::start().now_ms();
    // A distress whose text tries to clear the screen and retitle the terminal.
    let hostile = "AUXILIO\u{1b}[2J\u{1b}]0;pwned\u{7} somos 2";
    let rx = |packet_id: u32, text: &str| Rx {
        radio: "r0".into(),
        from: phone,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: Some(text.into()),
        auth: Default::default(),
    };
    let distress = Signal::Distress(Distress {
        node: phone,
        packet_id: 1,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: hostile.into(),
        position: None,
        channel: 0,
    });
    rt.block_on(f.store.ingest(rx(1, hostile), distress, now))
        .expect("ingest");
    let chatter = Signal::Activity {
        node: 0x0000_0042,
        portnum: 1,
        bytes: 4,
    };
    let mut other = rx(2, "hola\nlinea");
    other.from = 0x0000_0042;
    rt.block_on(f.store.ingest(other, chatter, now))
        .expect("ingest");

    let show = f.ctl(&["show", "SAS-1"]).ok().to_string();
    assert!(
        !show.contains('\u{1b}') && !show.contains('\u{7}'),
        "{show}"
    );
    let conv = show
        .split("conversation (UTC)\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no conversation: {show}"));
    let lines: Vec<&str> = conv.lines().collect();
    assert!(
        lines[1].contains("<-") && lines[1].contains("!5a5a0301"),
        "{show}"
    );
    assert!(
        lines[1].contains("AUXILIO\\u{1b}[2J\\u{1b}]0;pwned\\u{7} somos 2"),
        "{show}"
    );
    assert!(
        lines[1].contains("distress") && lines[1].contains(" es "),
        "{show}"
    );
    assert!(
        lines[2].contains("->") && lines[2].contains("pending"),
        "{show}"
    );
    // The JSON is farod's, untouched (the text as heard).
    let v = f.ctl(&["show", "SAS-1", "--json"]).json();
    assert_eq!(v["messages"][0]["text"], hostile);

    f.ctl(&["send", "!00000042", "¿dónde", "están?"]).ok();
    let list = f.ctl(&["messages"]).ok().to_string();
    assert!(list.contains("hola\\u{a}linea"), "{list}");
    assert!(
        !list.contains("AUXILIO"),
        "an incident's messages are not loose: {list}"
    );
    let rows: Vec<&str> = list.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(
        rows[1].contains("->") && rows[1].contains("¿dónde están?"),
        "{list}"
    );
    let v = f
        .ctl(&[
            "messages",
            "--node",
            "!00000042",
            "--since",
            "1h",
            "--limit",
            "1",
            "--json",
        ])
        .json();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["text"], "¿dónde están?");
    assert_eq!(v[0]["delivery"], "pending");
    let none = f.ctl(&["messages", "--node", "!00000043"]).ok().to_string();
    assert_eq!(none, "no messages\n");
    assert!(f
        .ctl(&["messages", "--since", "yesterday"])
        .failed(2)
        .contains("since"));
    assert!(f
        .ctl(&["messages", "--node", "fred"])
        .failed(1)
        .contains("fred"));
}

/// Raw terminal controls: none may reach a terminal from faroctl's human output.
fn raw_controls(out: &str) -> Vec<char> {
    out.chars()
        .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
        .collect()
}

#[test]
fn a_hostile_node_name_is_shown_escaped_by_nodes_show_and_watch() {
    use farod::ingest::{Distress, DistressKind, Signal};
    use farod::store::Rx;
    let f = Farod::start();
    let node = 0x5a5a_0777_u32;
    let rt = f.rt.as_ref().expect("runtime");
    let now = Clock::start().now_ms();
    // ESC (colour), BEL, CR and LF (a forged line), and a right-to-left override.
    let hostile = "Ana\u{1b}[31m\u{7}\r\nSAS-9  P1  fake\u{202e}olleh";
    let escaped = "Ana\\u{1b}[31m\\u{7}\\u{d}\\u{a}SAS-9  P1  fake\\u{202e}olleh";
    let rx = |packet_id: u32, text: Option<&str>| Rx {
        radio: "r0".into(),
        from: node,
        packet_id,
        hops: Some(1),
        channel: 0,
        snr: None,
        text: text.map(Into::into),
        auth: Default::default(),
    };
    let info = Signal::NodeInfo {
        node,
        long_name: hostile.into(),
        short_name: "\u{1b}[2J".into(),
        key: None,
        from_radio: false,
    };
    rt.block_on(f.store.ingest(rx(1, None), info, now))
        .expect("ingest the node's names");
    let watch = Watch::start(&f.sock, &[]);
    let text = format!("AUXILIO {hostile}");
    let distress = Signal::Distress(Distress {
        node,
        packet_id: 2,
        kind: DistressKind::Text,
        language: Lang::Es,
        text: text.clone(),
        position: None,
        channel: 0,
    });
    rt.block_on(f.store.ingest(rx(2, Some(&text)), distress, now))
        .expect("ingest the distress");

    let nodes = f.ctl(&["nodes"]).ok().to_string();
    assert!(raw_controls(&nodes).is_empty(), "{nodes:?}");
    assert!(nodes.contains(escaped), "{nodes}");
    assert!(nodes.contains("\\u{1b}[2J"), "{nodes}");
    // One header and one row: the name forged no line.
    assert_eq!(nodes.lines().count(), 2, "{nodes}");

    let show = f.ctl(&["show", "SAS-1"]).ok().to_string();
    assert!(raw_controls(&show).is_empty(), "{show:?}");
    let reporter = show
        .lines()
        .find(|l| l.trim_start().starts_with("reporter"))
        .unwrap_or_else(|| panic!("no reporter: {show}"));
    assert!(reporter.contains(escaped), "{show}");

    // An operator's note with the same words is refused (personal records hold no terminal
    // controls); one without them is sealed, and watch says only that a note was added.
    let refused = f.ctl(&["note", "SAS-1", hostile]);
    assert!(refused
        .failed(1)
        .contains("the note holds control characters"));
    f.ctl(&["note", "SAS-1", "AUXILIO sin controles"]).ok();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("note added")) {
        seen.push(watch.next());
    }
    for line in &seen {
        assert!(raw_controls(line).is_empty(), "{line:?}");
    }
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("AUXILIO {escaped}"))),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("sin controles")),
        "{seen:#?}"
    );
    // --json stays farod's, exact.
    let v = f.ctl(&["nodes", "--json"]).json();
    assert_eq!(v[0]["long_name"], hostile, "{v}");
}

#[test]
fn purge_prints_its_counts_on_one_line_or_farods_json() {
    use farod::ingest::Signal;
    use farod::store::Rx;
    let f = Farod::start();
    let rt = f.rt.as_ref().expect("runtime");
    let now = Clock::start().now_ms();
    let chat = |from: u32, at: i64| {
        let rx = Rx {
            radio: "r0".into(),
            from,
            packet_id: from,
            hops: Some(1),
            channel: 0,
            snr: None,
            text: Some("hola".into()),
            auth: Default::default(),
        };
        let s = Signal::Activity {
            node: from,
            portnum: 1,
            bytes: 4,
        };
        rt.block_on(f.store.ingest(rx, s, at)).expect("ingest");
    };
    // Heard 100 days ago (the default keeps 90 days), and now.
    chat(0x42, now - 100 * 86_400_000);
    chat(0x43, now);
    let out = f.ctl(&["purge"]).ok().to_string();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("purged 0 personal records, 1 messages, "),
        "{out}"
    );
    assert!(out.contains("texts and phones heard before 20"), "{out}");
    let v = f.ctl(&["purge", "--json"]).json();
    assert_eq!(v["messages"], 0, "{v}");
    assert_eq!(v["personal_records"], 0, "{v}");
    let left = f.ctl(&["messages", "--json"]).json();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
}

/// `faroctl ARGS` with `input` on standard input (a pipe, not a terminal).
fn ctl_with_stdin(f: &Farod, args: &[&str], input: &str) -> Out {
    run_with_input(faroctl(&f.sock).args(args), Some(input))
}

#[test]
fn desk_users_are_added_with_a_password_from_stdin_listed_and_disabled() {
    let f = Farod::start();
    let password = "una clave bastante larga";
    let out = ctl_with_stdin(
        &f,
        &["user", "add", "ana", "--role", "desk"],
        &format!("{password}\n"),
    );
    assert_eq!(out.ok(), "user ana added (desk)\n");
    // Twice the same name, a bad role, a short password: refused in one line.
    let again = ctl_with_stdin(
        &f,
        &["user", "add", "ana", "--role", "desk"],
        "otra clave muy larga\n",
    );
    assert!(again.failed(1).contains("user ana exists"), "{again:?}");
    let bad = ctl_with_stdin(
        &f,
        &["user", "add", "olga", "--role", "root"],
        "otra clave muy larga\n",
    );
    assert!(bad.failed(1).contains("unknown role"), "{bad:?}");
    let short = ctl_with_stdin(&f, &["user", "add", "olga", "--role", "auditor"], "corta\n");
    assert!(short.failed(1).contains("12 to 128 bytes"), "{short:?}");
    let none = ctl_with_stdin(&f, &["user", "add", "olga", "--role", "auditor"], "");
    assert!(none.failed(2).contains("no password"), "{none:?}");
    let out = ctl_with_stdin(
        &f,
        &["user", "add", "olga", "--role", "auditor"],
        "auditora de guardia",
    );
    assert_eq!(out.ok(), "user olga added (auditor)\n");
    // The list: name, role, state, who added them; never a password or its hash.
    let list = f.ctl(&["user", "list"]).ok().to_string();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("NAME"), "{list}");
    assert!(
        lines[1].starts_with("ana") && lines[1].contains("desk") && lines[1].contains("enabled"),
        "{list}"
    );
    assert!(lines[1].contains(&me()), "{list}");
    assert!(
        lines[2].starts_with("olga") && lines[2].contains("auditor"),
        "{list}"
    );
    assert!(
        !list.contains("argon2") && !list.contains(password),
        "{list}"
    );
    let v = f.ctl(&["user", "list", "--json"]).json();
    assert_eq!(v["users"][0]["name"], "ana", "{v}");
    assert!(v["users"][0].get("password_hash").is_none(), "{v}");
    // The database holds the password only as Argon2id.
    let db = rusqlite::Connection::open(f.dir.path().join("faro.db")).expect("open");
    let phc: String = db
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'ana'",
            [],
            |r| r.get(0),
        )
        .expect("ana");
    assert!(
        phc.starts_with("$argon2id$") && !phc.contains(password),
        "{phc}"
    );
    // A new password, from standard input too.
    let out = ctl_with_stdin(
        &f,
        &["user", "password", "olga"],
        "la nueva clave de olga\n",
    );
    assert_eq!(out.ok(), "password of olga changed\n");
    let after: String = db
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'olga'",
            [],
            |r| r.get(0),
        )
        .expect("olga");
    assert!(after.starts_with("$argon2id$"), "{after}");
    // Disabled: listed as such, and once only.
    assert_eq!(
        f.ctl(&["user", "disable", "ana"]).ok(),
        "user ana disabled\n"
    );
    assert!(f
        .ctl(&["user", "disable", "ana"])
        .failed(1)
        .contains("no enabled user"));
    let v = f.ctl(&["user", "list", "--json"]).json();
    assert!(v["users"][0]["disabled_at"].is_string(), "{v}");
    assert!(f
        .ctl(&["user", "disable", "Ana/../x"])
        .failed(2)
        .contains("not a user name"));
}
