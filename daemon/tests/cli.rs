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
    // A time zone the IANA database does not have.
    std::fs::write(
        &file,
        "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"America/Sasabe\"\n",
    )
    .unwrap();
    let out = farod(&["check-config", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(one_line(&out).contains("station.timezone \"America/Sasabe\""));
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

/// Waits until `cond` holds, polling, for at most `limit`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `farod run` with no radio in the background, its stderr in `log`; killed when dropped.
struct Background(std::process::Child);

impl Background {
    fn run(data: &std::path::Path, socket: &std::path::Path, log: &std::path::Path) -> Self {
        Background(
            Command::new(env!("CARGO_BIN_EXE_farod"))
                .arg("run")
                .arg("--data-dir")
                .arg(data)
                .arg("--socket")
                .arg(socket)
                .env("FARO_LOG", "info")
                .env_remove("FARO_CONFIG")
                .env_remove("NO_COLOR")
                .env_remove("NOTIFY_SOCKET")
                .env_remove("JOURNAL_STREAM")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap(),
        )
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let mut status = None;
        wait_until("farod exits after SIGTERM", Duration::from_secs(30), || {
            status = self.0.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One farod per data directory: a second one on the same directory refuses with one line
/// naming the directory and the first one's pid, and exit status 75 (EX_TEMPFAIL), before it
/// touches the database or the socket.
#[test]
fn a_second_farod_on_the_same_data_directory_refuses_with_75() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first_sock = dir.path().join("first.sock");
    let first = Background::run(&data, &first_sock, &dir.path().join("first.log"));
    wait_until("the first farod's socket", Duration::from_secs(60), || {
        first_sock.exists()
    });
    let second_sock = dir.path().join("second.sock");
    let out = farod(&[
        "run",
        "--data-dir",
        data.to_str().unwrap(),
        "--socket",
        second_sock.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let line = one_line(&out);
    assert_eq!(
        line,
        format!(
            "farod: another farod (pid {}) is running on the data directory {} (it holds {})",
            first.0.id(),
            data.display(),
            data.join("farod.lock").display()
        )
    );
    assert!(!second_sock.exists(), "the refused farod bound no socket");
    // The first one is untouched, and its lock dies with it: a new farod starts then.
    assert!(first.stop().success());
    let third_sock = dir.path().join("third.sock");
    let third = Background::run(&data, &third_sock, &dir.path().join("third.log"));
    wait_until("the third farod's socket", Duration::from_secs(60), || {
        third_sock.exists()
    });
    assert!(third.stop().success());
}

/// A control socket farod cannot bind fails the start with one line and a non-zero status
/// (a station faroctl cannot reach is not a station that runs): here another program listens
/// on the path, as a second farod with its own data directory but the same socket would find.
#[test]
fn a_control_socket_that_cannot_be_bound_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("faro.sock");
    let _other = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let out = farod(&[
        "run",
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--socket",
        socket.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        one_line(&out),
        format!(
            "farod: control socket: another farod is listening on {}",
            socket.display()
        )
    );
    // The other program's socket is left alone.
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
}

/// Logs that go to a file or a pipe carry no colour codes.
#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("faro.sock");
    let log = dir.path().join("farod.log");
    let daemon = Background::run(&dir.path().join("data"), &socket, &log);
    wait_until("the socket", Duration::from_secs(60), || socket.exists());
    assert!(daemon.stop().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("farod ready"), "{text}");
    assert!(text.contains("farod stopped"), "{text}");
    assert!(!text.contains("\u{1b}["), "colour codes in {text:?}");
}

const STATION: u32 = 0x5a5a_0001;
/// Node numbers of the stream's phones.
const PHONE_BASE: u32 = 0x5a60_0000;

/// The built-in station alone and `n` phones 1 km around it that hear only the station
/// (range 30 m, single hop): every beacon is one packet to the station and its own incident.
fn phones_scenario(n: u32) -> faro_sim::Scenario {
    let mut sc = faro_sim::Scenario::builtin("default")
        .unwrap()
        .without_timeline();
    sc.radio.hop_limit = 0;
    let station = sc.node(STATION).unwrap().clone();
    let template = sc
        .nodes
        .iter()
        .find(|n| n.role == faro_sim::Role::Phone)
        .unwrap()
        .clone();
    sc.nodes = vec![station.clone()];
    for i in 0..n {
        let angle = f64::from(i) * (360.0 / f64::from(n)).to_radians();
        sc.nodes.push(faro_sim::NodeSpec {
            id: PHONE_BASE + i,
            long_name: format!("Celular {i}"),
            short_name: format!("C{i:03}"),
            lat: station.lat + angle.sin() / 111.0,
            lon: station.lon + angle.cos() / (111.0 * station.lat.to_radians().cos()),
            range_km: 0.03,
            replies: Vec::new(),
            ..template.clone()
        });
    }
    sc
}

/// SIGTERM during a stream of distress beacons from faro-sim: the links stop reading, and
/// every packet farod had read from its radio (its debug log names each one) is in the
/// database when it exits 0. The supervisor is slowed down (debug builds:
/// `FARO_INJECT_SLOW_SUPERVISOR`) so that packets read and not yet committed are waiting in
/// its queue when the SIGTERM comes: those are what a stop that aborts its tasks would lose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_stream_stores_every_packet_farod_read() {
    use farod::store::query::{Filter, Reader};
    const PHONES: u32 = 400;
    let sim = faro_sim::Sim::start(
        phones_scenario(PHONES),
        faro_sim::SimOptions {
            speed: 20.0,
            seed: Some(7),
            run_timeline: false,
        },
    );
    let addr = sim
        .serve_tcp(
            STATION,
            "127.0.0.1:0".parse().unwrap(),
            faro_sim::Faults::default(),
        )
        .await
        .unwrap();
    for i in 0..PHONES {
        sim.act(faro_sim::Action::Silent {
            node: PHONE_BASE + i,
            for_secs: None,
        })
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("farod.log");
    let data = dir.path().join("data");
    let mut daemon = Background(
        Command::new(env!("CARGO_BIN_EXE_farod"))
            .args(["run", "--station", "SAS", "--radio", &format!("tcp:{addr}")])
            .arg("--data-dir")
            .arg(&data)
            .arg("--socket")
            .arg(dir.path().join("faro.sock"))
            // Each packet a link reads is logged at debug level.
            .env("FARO_LOG", "info,farod::radio::link=debug")
            .env("FARO_INJECT_SLOW_SUPERVISOR", "500")
            .env_remove("FARO_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let read_log = {
        let log = log.clone();
        move || std::fs::read_to_string(&log).unwrap_or_default()
    };
    // Phones whose beacon farod read, from its log.
    let read_from = |text: &str| -> Vec<u32> {
        text.lines()
            .filter(|l| l.contains("packet read") && l.contains("TextMessageApp"))
            .filter_map(|l| {
                let from = l
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("from=!"))?;
                u32::from_str_radix(from, 16).ok()
            })
            .filter(|n| *n >= PHONE_BASE)
            .collect()
    };
    tokio::task::spawn_blocking({
        let read_log = read_log.clone();
        move || {
            wait_until("the radio up", Duration::from_secs(60), || {
                read_log().contains("radio up")
            })
        }
    })
    .await
    .unwrap();
    // The stream: a beacon from a fresh phone every 40 ms (0.8 s of simulated air time).
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stream = tokio::spawn({
        let sim = sim.clone();
        let streaming = streaming.clone();
        async move {
            let mut sent = 0;
            while streaming.load(std::sync::atomic::Ordering::Relaxed) && sent < PHONES {
                let phone = PHONE_BASE + sent;
                sim.act(faro_sim::Action::Silent {
                    node: phone,
                    for_secs: Some(0.0),
                })
                .await;
                sim.act(faro_sim::Action::Text {
                    from: phone,
                    to: faro_proto::mesh::BROADCAST,
                    channel: 0,
                    text: "AUXILIO".into(),
                    want_ack: false,
                })
                .await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            sent
        }
    });
    let db = data.join("faro.db");
    let stored = move || -> std::collections::HashSet<u32> {
        Reader::open(&db)
            .and_then(|r| r.incidents(Filter::All, 10_000))
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let hex = i.reporter.as_deref()?.strip_prefix('!')?;
                u32::from_str_radix(hex, 16).ok()
            })
            .collect()
    };
    // SIGTERM in the middle of the stream, once farod has read a good part of it and has
    // beacons read but not committed yet (debug builds, where the supervisor is slowed).
    let status = tokio::task::spawn_blocking({
        let read_log = read_log.clone();
        let stored = stored.clone();
        move || {
            wait_until(
                "30 beacons read, some not committed",
                Duration::from_secs(120),
                || {
                    let read = read_from(&read_log());
                    let backlog = read.len().saturating_sub(stored().len());
                    read.len() >= 30 && (backlog >= 3 || !cfg!(debug_assertions))
                },
            );
            let pid = nix::unistd::Pid::from_raw(daemon.0.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            let mut status = None;
            wait_until("farod exits after SIGTERM", Duration::from_secs(30), || {
                status = daemon.0.try_wait().unwrap();
                status.is_some()
            });
            status.unwrap()
        }
    })
    .await
    .unwrap();
    streaming.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = stream.await.unwrap();
    let text = read_log();
    assert!(status.success(), "SIGTERM exits 0: {status:?}\n{text}");
    assert!(sent < PHONES, "the stream was still going at SIGTERM");
    let read = read_from(&text);
    let reporters = stored();
    let lost: Vec<String> = read
        .iter()
        .filter(|p| !reporters.contains(p))
        .map(|p| format!("!{p:08x}"))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} beacons farod read are not in the database: {lost:?}\n{text}",
        lost.len(),
        read.len()
    );
    let queued = text
        .lines()
        .find(|l| l.contains("radios stopped reading"))
        .unwrap_or("(no drain line)");
    println!(
        "beacons sent {sent}, read by farod {}, stored {}; {queued}",
        read.len(),
        reporters.len()
    );
}

/// `farod demo` serves a control socket too, and says where.
#[test]
fn the_demo_serves_a_control_socket_and_prints_its_path() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("demo.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_farod"))
        .args(["demo", "--speed", "50", "--duration", "5", "--socket"])
        .arg(&socket)
        .env("FARO_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let _title = lines.next().unwrap().unwrap();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!(
            "control socket {}: try `faroctl --socket {} incidents` in another terminal",
            socket.display(),
            socket.display()
        )
    );
    wait_until("the demo's socket answers", Duration::from_secs(60), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    let lines: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    assert!(!socket.exists(), "the socket is removed when the demo ends");
    // What the station says is printed live, and each incident's conversation at the end.
    let all = lines.join("\n");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("SAS-1   says to Celular Migrante: Faro SAS-1:")),
        "{all}"
    );
    let talk = lines
        .iter()
        .position(|l| l.starts_with("conversations, oldest first"))
        .unwrap_or_else(|| panic!("no conversations in:\n{all}"));
    assert_eq!(lines[talk + 1], "  SAS-1", "{all}");
    assert!(
        lines[talk + 2].ends_with(" <- Celular Migrante: AUXILIO somos 3, una niña, sin agua"),
        "{all}"
    );
    assert!(
        lines[talk + 3].contains(" -> Celular Migrante [")
            && lines[talk + 3].contains("]: Faro SAS-1:"),
        "{all}"
    );
}

/// Runs farod with `mounts` (shell commands) done first in a mount namespace of its own, so a
/// file or directory can be read-only for farod alone. None where that cannot be done here
/// (not root, or no mount namespaces): the caller skips.
fn farod_in_mount_namespace(mounts: &str, args: &[&str]) -> Option<Output> {
    let can = Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can {
        eprintln!("skipped: no mount namespace here (needs root and unshare)");
        return None;
    }
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "set -e; {mounts}; exec '{}' {}",
        env!("CARGO_BIN_EXE_farod"),
        quoted.join(" ")
    );
    Some(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("FARO_LOG", "error")
            .env_remove("FARO_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap(),
    )
}

/// A station without the system's time zone database (`/usr/share/zoneinfo` hidden under an
/// empty mount): `[station] timezone` is still known, from the database built into farod, and
/// a zone that does not exist is still refused.
#[test]
fn the_station_time_zone_is_known_without_the_systems_zoneinfo() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faro.toml");
    let f = file.to_str().unwrap();
    let hide = "if [ -d /usr/share/zoneinfo ]; then mount -t tmpfs none /usr/share/zoneinfo; fi";
    std::fs::write(
        &file,
        "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"America/Hermosillo\"\n",
    )
    .unwrap();
    let Some(out) = farod_in_mount_namespace(hide, &["check-config", "--config", f]) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    std::fs::write(
        &file,
        "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"America/Sasabe\"\n",
    )
    .unwrap();
    let out = farod_in_mount_namespace(hide, &["check-config", "--config", f]).unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    assert!(one_line(&out).contains("station.timezone"), "{out:?}");
}

/// A database farod can only read (its file on a read-only mount, as after a disk error
/// remounted it) and a data directory it cannot write: each fails the start with one line that
/// names the path once and says why, before READY.
#[test]
fn a_read_only_database_or_data_directory_fails_the_start_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sock = dir.path().join("faro.sock");
    let log = dir.path().join("first.log");
    // A database with a station's schema in it.
    let first = Background::run(&data, &sock, &log);
    wait_until("the first farod's socket", Duration::from_secs(60), || {
        sock.exists()
    });
    assert!(first.stop().success());
    let db = data.join("faro.db");
    let (d, s) = (data.to_str().unwrap(), sock.to_str().unwrap());
    let args = ["run", "--data-dir", d, "--socket", s];
    let ro_file = format!(
        "mount --bind '{0}' '{0}'; mount -o remount,ro,bind '{0}'",
        db.display()
    );
    let Some(out) = farod_in_mount_namespace(&ro_file, &args) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        one_line(&out),
        format!(
            "farod: cannot open the database {}: read-only file system",
            db.display()
        )
    );
    let ro_dir = format!("mount --bind '{d}' '{d}'; mount -o remount,ro,bind '{d}'");
    let out = farod_in_mount_namespace(&ro_dir, &args).unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line = one_line(&out);
    assert!(
        line.starts_with(&format!(
            "farod: cannot open the lock file {d}/farod.lock: "
        )) && line.contains("Read-only file system"),
        "{line}"
    );
    assert!(!sock.exists(), "no socket for a station that did not start");
}

/// A database that turns read-only under a running farod (here SQLite's own refusal, injected
/// in debug builds: the kernel will not remount a file system read-only while farod holds the
/// database open for writing) ends farod with status 1 and the database's line, instead of a
/// station that retries forever and answers nobody.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the fault injection exists in debug builds only"
)]
fn a_database_that_turns_read_only_ends_farod_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sock = dir.path().join("faro.sock");
    let trigger = dir.path().join("readonly-now");
    let log = dir.path().join("farod.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_farod"))
        .arg("run")
        .arg("--data-dir")
        .arg(&data)
        .arg("--socket")
        .arg(&sock)
        .env("FARO_LOG", "error")
        .env("FARO_INJECT_READONLY", &trigger)
        .env_remove("FARO_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("farod's socket", Duration::from_secs(60), || sock.exists());
    std::fs::write(&trigger, b"").unwrap();
    // The next transaction (a timer, the watchdog's ping) meets the refusal.
    let mut status = None;
    wait_until("farod ends on its own", Duration::from_secs(60), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(1));
    let err = std::fs::read_to_string(&log).unwrap();
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "farod: database is read-only: attempt to write a readonly database; farod stops \
         (systemd restarts it once the database is fixed)",
        "{err}"
    );
}

/// `[desk] listen`: a bad address is a configuration error (78); an address farod cannot bind
/// fails the start with one line naming it; a free one serves the desk, which answers 401 to
/// whoever has no session.
#[test]
fn the_desk_listener_is_checked_bound_and_serves_only_sessions() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faro.toml");
    std::fs::write(&file, "[desk]\nlisten = \"localhost\"\n").unwrap();
    let out = farod(&["check-config", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    assert!(
        one_line(&out).contains("desk.listen = \"localhost\""),
        "{out:?}"
    );
    // Taken by another program.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = other.local_addr().unwrap();
    std::fs::write(&file, format!("[desk]\nlisten = \"{taken}\"\n")).unwrap();
    let run = |data: &str, sock: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_farod"));
        c.arg("run")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join(data))
            .arg("--socket")
            .arg(dir.path().join(sock))
            .env("FARO_LOG", "error")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        c
    };
    let out = run("data1", "one.sock").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let line = one_line(&out);
    assert!(
        line.starts_with(&format!("farod: desk listener: cannot listen on {taken}: ")),
        "{line}"
    );
    // A free port: the desk answers, and nothing without a session.
    drop(other);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(&file, format!("[desk]\nlisten = \"{free}\"\n")).unwrap();
    let child = run("data2", "two.sock")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let farod = Background(child);
    let mut answer = String::new();
    wait_until("the desk answers", Duration::from_secs(60), || {
        let Ok(mut s) = std::net::TcpStream::connect(free) else {
            return false;
        };
        answer.clear();
        s.write_all(b"GET /v1/incidents HTTP/1.1\r\nHost: desk\r\nConnection: close\r\n\r\n")
            .is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && !answer.is_empty()
    });
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    assert!(farod.stop().success());
}
