//! Trying the desk in one command: `farod run --radio sim:default` is a whole simulated
//! station (the scenario's station code, patrols, towers and municipalities) serving its
//! control socket, and `faroctl` works against it at once. Real processes: the built `farod`
//! and `faroctl` binaries.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills the daemon when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn faroctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faroctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn farod_run_sim_default_serves_the_desk_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("faro.sock");
    let log = std::fs::File::create(dir.path().join("farod.log")).unwrap();
    let mut daemon = Daemon(
        Command::new(faro_tests::farod_binary())
            .args(["run", "--radio", "sim:default", "--data-dir"])
            .arg(&data)
            .arg("--socket")
            .arg(&socket)
            .env("FARO_LOG", "info")
            .env_remove("FARO_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let farod_log = || std::fs::read_to_string(dir.path().join("farod.log")).unwrap_or_default();
    // Polled, bounded: a debug farod on a loaded machine takes a few seconds to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    let teams = loop {
        let out = faroctl(&socket, &["teams"]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break stdout;
        }
        if let Some(st) = daemon.0.try_wait().unwrap() {
            panic!("farod exited: {st}\n{}", farod_log());
        }
        assert!(
            Instant::now() < deadline,
            "faroctl teams did not answer within 60 s: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            farod_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The built-in scenario's patrols, by their short names.
    for patrol in ["P1", "P2"] {
        assert!(
            teams
                .lines()
                .any(|l| l.split_whitespace().next() == Some(patrol)),
            "{patrol} missing from:\n{teams}"
        );
    }
    // And the scenario's station code, not the configuration's default (FARO).
    let status = faroctl(&socket, &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.starts_with("station SAS "), "{status}");
}
