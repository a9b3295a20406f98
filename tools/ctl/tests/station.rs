//! The whole desk flow through faroctl against a running station (radio link to the simulated
//! mesh, store, outbox, control socket): a tower's SOS becomes an incident, the operator
//! acknowledges and assigns it with faroctl, the patrol receives the assignment over the mesh
//! and closes the incident by text, and faroctl shows the audit trail. Real time, bounded.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::Command;
use std::time::{Duration, Instant};

use faro_sim::{Action, Scenario, Sim, SimEvent, SimOptions};
use farod::radio::{LinkConfig, Transport};
use farod::station::Station;
use serde_json::Value;

const T7: u32 = 0x5a5a_0201;
const P1: u32 = 0x5a5a_0101;
const SAS: u32 = 0x5a5a_0001;
const WAIT: Duration = Duration::from_secs(30);

fn ctl(sock: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faroctl"))
        .args(args)
        .env("FARO_SOCKET", sock)
        .env("FARO_OPERATOR", "lupita")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn ctl_json(sock: &std::path::Path, args: &[&str]) -> Value {
    let sock = sock.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = ctl(&sock, &a);
        assert_eq!(code, 0, "faroctl {a:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    })
    .await
    .unwrap()
}

async fn ctl_ok(sock: &std::path::Path, args: &[&str]) {
    let sock = sock.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = ctl(&sock, &a);
        assert_eq!(code, 0, "faroctl {a:?}: {err}");
    })
    .await
    .unwrap();
}

async fn until_json(
    sock: &std::path::Path,
    args: &[&str],
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = ctl_json(sock, args).await;
        if cond(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "not within {WAIT:?}: {what}; last {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn patrol_receives(
    events: &mut tokio::sync::broadcast::Receiver<SimEvent>,
    prefix: &str,
) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(SimEvent::Received { node, packet }) = events.recv().await {
                if node == P1 {
                    let text = faro_proto::mesh::data(&packet)
                        .map(|d| String::from_utf8_lossy(&d.payload).into_owned());
                    if let Some(t) = text.filter(|t| t.starts_with(prefix)) {
                        return t;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("P1 never received {prefix:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faroctl_drives_an_incident_from_a_tower_sos_to_closed() {
    let sim = Sim::start(
        Scenario::builtin("default").unwrap().without_timeline(),
        SimOptions::default(),
    );
    let mut sim_events = sim.events();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("faro.sock");
    let mut cfg = farod::app::scenario_station_config(sim.scenario(), dir.path().join("faro.db"));
    cfg.socket = Some(sock.clone());
    let station = Station::start(
        cfg,
        vec![(
            LinkConfig::new("sas"),
            Transport::sim(sim.clone(), None).unwrap(),
        )],
    )
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    while !(sock.exists() && station.radios_up().0 == 1) {
        assert!(Instant::now() < deadline, "station not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    sim.act(Action::Text {
        from: T7,
        to: faro_proto::mesh::BROADCAST,
        channel: 0,
        text: "\u{7}SOS".into(),
        want_ack: false,
    })
    .await;
    let list = until_json(
        &sock,
        &["incidents", "--json"],
        "the tower's incident",
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert_eq!(list[0]["id"], "SAS-1");
    assert_eq!(list[0]["reporter"], "!5a5a0201");
    assert_eq!(list[0]["state"], "new");

    ctl_ok(&sock, &["ack", "SAS-1"]).await;
    ctl_ok(&sock, &["assign", "sas-1", "P1"]).await;
    patrol_receives(&mut sim_events, "Faro SAS-1").await;
    // Each command is sent once the station has taken the one before it.
    let mut shown = Value::Null;
    for (cmd, state) in [
        ("RUTA SAS-1", "en_route"),
        ("LLEGUE SAS-1", "on_scene"),
        ("CERRAR SAS-1 rescatado", "closed"),
    ] {
        sim.act(Action::Text {
            from: P1,
            to: SAS,
            channel: 0,
            text: cmd.into(),
            want_ack: true,
        })
        .await;
        shown = until_json(
            &sock,
            &["show", "SAS-1", "--json"],
            &format!("{cmd:?} taken"),
            |v| v["state"] == state,
        )
        .await;
    }
    assert_eq!(shown["outcome"], "rescued");
    let trail: Vec<String> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["who"].as_str().unwrap(),
                e["what"].as_str().unwrap()
            )
        })
        .collect();
    use std::os::unix::fs::MetadataExt;
    let uid = tempfile::tempfile().unwrap().metadata().unwrap().uid();
    let lupita = format!("operator:{} (label \"lupita\")", farod::api::user_name(uid));
    let (acked, assigned) = (
        format!("{lupita} acknowledged"),
        format!("{lupita} assigned to P1"),
    );
    for want in [
        acked.as_str(),
        assigned.as_str(),
        "patrol:P1 P1 en route",
        "patrol:P1 P1 on scene",
        "patrol:P1 closed: rescued",
    ] {
        assert!(
            trail.iter().any(|t| t == want),
            "{want:?} missing from {trail:#?}"
        );
    }
    // Refusals are one line and change nothing.
    let s = sock.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || ctl(&s, &["close", "SAS-1", "rescued"]))
            .await
            .unwrap();
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already closed"), "{err}");
    station.stop().await;
}
