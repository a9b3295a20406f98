//! Shared helpers for the end-to-end tests: start the built-in simulated mesh, connect farod's
//! radio link to one of its stations, and wait (always bounded) for the events a test expects.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod desk;

use faro_sim::{Faults, Scenario, Sim, SimOptions};
use farod::radio::{self, LinkConfig, LinkHandle, RadioEvent, RadioEventKind, Transport};
use tokio::sync::mpsc;

/// Node numbers of the built-in scenario (tools/sim/scenarios/default.toml).
pub mod nodes {
    /// Grupo Beta Sásabe, the station radio.
    pub const SAS: u32 = 0x5a5a_0001;
    /// Patrulla Beta 1, next to the station.
    pub const P1: u32 = 0x5a5a_0101;
    /// "Patrulla —Él": its long name holds the bytes 94 C3.
    pub const P2: u32 = 0x5a5a_0102;
    /// Torre de Auxilio 7, 24 km out, two relays away.
    pub const T7: u32 = 0x5a5a_0201;
    /// A node number nobody in the mesh has.
    pub const NOBODY: u32 = 0x0bad_0bad;
}

/// Installs a test log subscriber once (`FARO_LOG=debug cargo test` to see it).
pub fn init_logging() {
    let filter = std::env::var("FARO_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The built-in scenario with its timeline removed: tests drive the mesh with `Sim::act`.
pub fn quiet_scenario() -> Scenario {
    Scenario::builtin("default")
        .expect("built-in scenario")
        .without_timeline()
}

/// Starts the quiet built-in mesh on the current runtime.
pub fn quiet_sim() -> Sim {
    sim_of(quiet_scenario())
}

/// Starts `scenario` on the current runtime, with the tests' fixed seed.
pub fn sim_of(scenario: Scenario) -> Sim {
    Sim::start(
        scenario,
        SimOptions {
            seed: Some(7),
            ..SimOptions::default()
        },
    )
}

/// Link settings for tests: short backoff so reconnects are quick in real time too.
pub fn test_link_config(name: &str) -> LinkConfig {
    let mut cfg = LinkConfig::new(name);
    cfg.backoff_initial = Duration::from_millis(200);
    cfg.backoff_max = Duration::from_secs(2);
    cfg
}

/// A link to the sim's first station over an in-process duplex stream.
pub fn duplex_link(
    sim: &Sim,
    faults: Faults,
    cfg: LinkConfig,
) -> (LinkHandle, mpsc::Receiver<RadioEvent>) {
    let transport = Transport::sim(sim.clone(), None)
        .expect("a station")
        .with_faults(faults);
    link_over(transport, cfg)
}

/// A link over any transport.
pub fn link_over(
    transport: Transport,
    cfg: LinkConfig,
) -> (LinkHandle, mpsc::Receiver<RadioEvent>) {
    let (tx, rx) = mpsc::channel(1024);
    (radio::spawn(transport, cfg, tx), rx)
}

/// Waits up to `within` for the first event `pick` accepts; panics with what was seen
/// otherwise. Events before it are returned too, for assertions about them.
pub async fn wait_for<T>(
    rx: &mut mpsc::Receiver<RadioEvent>,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&RadioEventKind) -> Option<T>,
) -> (T, Vec<RadioEventKind>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                if let Some(t) = pick(&ev.kind) {
                    return (t, seen);
                }
                seen.push(ev.kind);
            }
            Ok(None) => panic!(
                "link stopped while waiting for {what}; saw {}",
                summary(&seen)
            ),
            Err(_) => panic!("no {what} within {within:?}; saw {}", summary(&seen)),
        }
    }
}

/// Waits for the link to come up and returns what it learnt.
pub async fn wait_up(
    rx: &mut mpsc::Receiver<RadioEvent>,
    within: Duration,
) -> farod::radio::RadioInfo {
    wait_for(rx, within, "radio up", |k| match k {
        RadioEventKind::Up(info) => Some((**info).clone()),
        _ => None,
    })
    .await
    .0
}

fn summary(seen: &[RadioEventKind]) -> String {
    let names: Vec<String> = seen
        .iter()
        .map(|k| match k {
            RadioEventKind::Packet(p) => format!("Packet(from {:#x})", p.from),
            RadioEventKind::Down { reason } => format!("Down({reason})"),
            other => format!("{other:?}").chars().take(60).collect(),
        })
        .collect();
    format!("[{}]", names.join(", "))
}

/// The text of a text-like packet.
pub fn text_of(k: &RadioEventKind) -> Option<(u32, String, Option<u32>)> {
    match k {
        RadioEventKind::Packet(p) => match farod::describe::content(p) {
            farod::describe::Content::Text(t) => {
                Some((p.from, t, faro_proto::mesh::hops_travelled(p)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The farod binary for a test that runs it as a process: `FARO_FAROD`, or built now next to
/// the calling test's profile (cargo hands a test only its own crate's binaries).
pub fn farod_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FARO_FAROD") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test>-<hash>
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target/").to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a profile name")
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "farod", "--bin", "farod"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p farod failed");
    profile_dir.join("farod")
}
