//! Fault harnesses in CI (issue 5, items 3 and 4): the `faro-crash` and `faro-reconnect`
//! binaries of this crate, run as processes, their invariants asserted, their times never.
//!
//! - `crash_harness_loses_no_acknowledged_beacon`: the real `farod run` binary killed with
//!   SIGKILL at random moments during a storm of distress beacons, 20 cycles
//!   (`FARO_CRASH_CYCLES=N` for more). `FARO_FAROD=PATH` picks the farod binary; otherwise
//!   this test builds it (`cargo build -p farod`, same profile and target directory).
//! - `reconnect_after_unplug_reboot_mute_and_garbage`: farod's radio link over TCP and over a
//!   PTY, a few unplug cycles (`FARO_RECONNECT_CYCLES=N` for more), a reboot, a silent radio,
//!   garbage on the line.
//!
//! docs/FAULTS.md has the full runs and their figures.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use serde_json::Value;

/// The `RESULT {json}` lines of a harness run; panics with its output when it failed.
fn run(program: &str, args: &[String]) -> Vec<Value> {
    let out = Command::new(program)
        .args(args)
        .env_remove("FARO_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, and on failure.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect()
}

#[test]
fn crash_harness_loses_no_acknowledged_beacon() {
    let cycles = std::env::var("FARO_CRASH_CYCLES").unwrap_or_else(|_| "20".into());
    let results = run(
        env!("CARGO_BIN_EXE_faro-crash"),
        &[
            "--cycles".into(),
            cycles.clone(),
            "--farod".into(),
            faro_tests::farod_binary().display().to_string(),
            // A lighter storm than the binary's default: every reply waits its turn (one text
            // per 2.5 s per radio, the firmware's limit), and CI must drain them all.
            "--every".into(),
            "4000..7000".into(),
        ],
    );
    let r = &results[0];
    assert_eq!(r["cycles"].to_string(), cycles);
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicates"], 0, "{r}");
    assert_eq!(r["integrity_after_kills"], "ok", "{r}");
    assert_eq!(r["integrity_final"], "ok", "{r}");
    assert_eq!(r["outbox_drained"], true, "the outbox resumes: {r}");
    assert_eq!(r["outbox_failed"], 0, "{r}");
    assert_eq!(
        r["unanswered"], 0,
        "every incident's sender hears back: {r}"
    );
    assert_eq!(r["clean_stop"], true, "{r}");
    assert!(r["acknowledged"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn reconnect_after_unplug_reboot_mute_and_garbage() {
    let cycles = std::env::var("FARO_RECONNECT_CYCLES").unwrap_or_else(|_| "3".into());
    let results = run(
        env!("CARGO_BIN_EXE_faro-reconnect"),
        &[
            "--cycles".into(),
            cycles.clone(),
            "--outage".into(),
            "1..4".into(),
            "--transport".into(),
            "both".into(),
        ],
    );
    assert_eq!(results.len(), 2, "one result per transport");
    for r in &results {
        assert_eq!(r["reconnects"].to_string(), cycles, "{r}");
        assert_eq!(r["missing_reconnects"], 0, "{r}");
        assert_eq!(r["missing_deliveries"], 0, "{r}");
        assert_eq!(r["missing_texts"], 0, "{r}");
        assert_eq!(r["reboot_recovered"], true, "{r}");
        assert_eq!(r["mute_recovered"], true, "{r}");
        assert_eq!(r["garbage_recovered"], true, "{r}");
        assert!(
            !r["down_reasons"].as_array().unwrap().is_empty(),
            "each fault is reported: {r}"
        );
        assert_eq!(r["failures"].as_array().unwrap().len(), 0, "{r}");
    }
}
