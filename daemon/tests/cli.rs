//! The `farod` binary's command-line contract: exit statuses and one-line refusals.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Output};
use std::time::Duration;

fn farod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_farod"))
        .args(args)
        .env("FARO_LOG", "error")
        .output()
        .expect("farod runs")
}

async fn farod_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        farod(&args)
    })
    .await
    .unwrap()
}

fn one_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr, got {err:?}"
    );
    err.trim_end().to_string()
}

#[test]
fn probe_of_a_closed_tcp_port_fails_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = farod(&["probe", &format!("tcp:127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(
        line.starts_with(&format!(
            "farod probe: cannot connect to tcp:127.0.0.1:{port}: "
        )),
        "{line}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn probe_of_a_missing_serial_port_fails_with_one_line() {
    let out = farod(&["probe", "serial:/dev/serial/by-id/usb-no-such-radio-if00"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line(&out),
        "farod probe: serial port /dev/serial/by-id/usb-no-such-radio-if00 does not exist (radio unplugged?)"
    );
}

#[test]
fn probe_of_a_bad_uri_is_a_usage_error() {
    let out = farod(&["probe", "/dev/ttyUSB0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out).contains("expected serial:PATH, tcp:HOST:PORT or sim:SCENARIO"));
}

#[test]
fn probe_of_a_silent_peer_times_out_with_one_line() {
    // Accepts the connection and never answers, like a radio that is not a Meshtastic device.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let conn = listener.accept().map(|(c, _)| c);
        std::thread::sleep(Duration::from_secs(4));
        drop(conn);
    });
    let out = farod(&["probe", &format!("tcp:127.0.0.1:{port}"), "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(
        line.contains("no config_complete_id after 2 want_config attempts"),
        "{line}"
    );
    holder.join().unwrap();
}

#[tokio::test]
async fn probe_of_a_simulated_radio_prints_it_and_what_it_hears() {
    let sim = faro_sim::Sim::start(
        faro_sim::Scenario::builtin("default").unwrap(),
        faro_sim::SimOptions {
            speed: 20.0,
            ..Default::default()
        },
    );
    let station = sim.scenario().stations()[0];
    let addr = sim
        .serve_tcp(
            station,
            "127.0.0.1:0".parse().unwrap(),
            faro_sim::Faults::default(),
        )
        .await
        .unwrap();
    let out = farod_async(vec![
        "probe".into(),
        format!("tcp:{addr}"),
        "--listen".into(),
        "8".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout {stdout}\nstderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("node      !5a5a0001  Grupo Beta Sásabe (SAS)"),
        "{stdout}"
    );
    assert!(stdout.contains("preset LONG_FAST"), "{stdout}");
    assert!(stdout.contains("channels  0:Faro"), "{stdout}");
    // At 20x the timeline's first minutes pass in a few seconds: patrol positions at least.
    assert!(stdout.contains("POSITION_APP"), "{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("heard ")),
        "{stdout}"
    );
}

#[test]
fn bad_configuration_exits_78_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("farod-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("faro.toml");
    std::fs::write(&file, "[station]\ncode = \"SAS\"\nname = \"x\"\n[[radio]]\nname = \"main\"\nuri = \"usb:/dev/x\"\n").unwrap();
    let out = farod(&["check-config", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(one_line(&out).contains("radio[0].uri"));
    let out = farod(&["run", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    std::fs::write(&file, "[station]\ncode = \"SAS\"\nname = \"x\"\n").unwrap();
    let out = farod(&["check-config", "--config", file.to_str().unwrap()]);
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

/// `farod run` killed with SIGKILL right after a distress is committed: on restart the
/// incident and its audit trail are intact and the database passes `integrity_check`; a
/// SIGTERM then stops it cleanly.
#[tokio::test]
async fn killed_daemon_keeps_every_incident_and_event() {
    use farod::store::query::{Filter, Reader};
    let sim = faro_sim::Sim::start(
        faro_sim::Scenario::builtin("default")
            .unwrap()
            .without_timeline(),
        faro_sim::SimOptions::default(),
    );
    let addr = sim
        .serve_tcp(
            0x5a5a_0001,
            "127.0.0.1:0".parse().unwrap(),
            faro_sim::Faults::default(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("faro.toml");
    std::fs::write(
        &cfg,
        format!(
            "[station]\ncode = \"SAS\"\nname = \"Sásabe\"\n[[radio]]\nname = \"main\"\nuri = \"tcp:{addr}\"\n\
             [[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\n\
             [[tower]]\nname = \"T7\"\nnode = \"!5a5a0201\"\nlat = 31.4387\nlon = -111.7976\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("faro.db");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_farod"))
            .args([
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "--data-dir",
                dir.path().to_str().unwrap(),
            ])
            .args(["--socket", dir.path().join("faro.sock").to_str().unwrap()])
            .env("FARO_LOG", "warn")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "not within 30 s: {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let incidents = || {
        Reader::open(&db)
            .and_then(|r| r.incidents(Filter::All, 10))
            .unwrap_or_default()
    };

    let mut first = spawn();
    // Give the daemon time to connect before the tower presses its button.
    tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !db.exists() {
                assert!(std::time::Instant::now() < deadline, "no database");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.act(faro_sim::Action::Text {
        from: 0x5a5a_0201,
        to: faro_proto::mesh::BROADCAST,
        channel: 0,
        text: "\u{7}SOS".into(),
        want_ack: false,
    })
    .await;
    let before = tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            let incidents = || {
                Reader::open(&db)
                    .and_then(|r| r.incidents(Filter::All, 10))
                    .unwrap_or_default()
            };
            wait_for("the incident", &|| !incidents().is_empty());
            Reader::open(&db)
                .unwrap()
                .incident("SAS-1")
                .unwrap()
                .unwrap()
        }
    })
    .await
    .unwrap();
    first.kill().unwrap(); // SIGKILL: no chance to flush anything
    first.wait().unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let after = Reader::open(&db)
        .unwrap()
        .incident("SAS-1")
        .unwrap()
        .unwrap();
    assert_eq!(after.id, before.id);
    assert_eq!(after.position_source.as_deref(), Some("tower"));
    let before_events = before.events.unwrap();
    assert_eq!(
        after.events.unwrap()[..before_events.len()],
        before_events[..],
        "every committed event survives"
    );
    assert_eq!(incidents().len(), 1);

    // A second life starts on the same database and stops cleanly on SIGTERM: once it is
    // ready (its control socket is there), and also while it is still starting.
    let _ = std::fs::remove_file(dir.path().join("faro.sock"));
    let second = spawn();
    let sock = dir.path().join("faro.sock");
    tokio::task::spawn_blocking(move || wait_for("the control socket", &|| sock.exists()))
        .await
        .unwrap();
    let pid = second.id();
    let status = tokio::task::spawn_blocking(move || {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let mut second = second;
        second.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert_eq!(incidents().len(), 1);

    let third = spawn();
    let pid = third.id();
    let status = tokio::task::spawn_blocking(move || {
        // As soon as it catches SIGTERM (bit 15 of SigCgt), which is before it reads its
        // configuration and opens the database.
        wait_for("SIGTERM caught", &|| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    let hex = s
                        .lines()
                        .find_map(|l| l.strip_prefix("SigCgt:"))?
                        .trim()
                        .to_string();
                    u64::from_str_radix(&hex, 16).ok()
                })
                .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
        });
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let mut third = third;
        third.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "SIGTERM while starting exits 0: {status:?}"
    );
    assert_eq!(incidents().len(), 1);
}

#[test]
fn the_example_configuration_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../systemd/faro.toml.example");
    let out = farod(&["check-config", "--config", example]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configuration ok: station SAS with 2 radio(s)\n"
    );
}
