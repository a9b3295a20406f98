//! `faroctl locate` against an in-process farod (a real SQLite file and the real control
//! socket in a temp dir): add, list, show, task, close, reported and matches, their `--json`,
//! and one bad input for each, refused in one line with exit status 1 (farod) or 2 (usage).

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use farod::api::{self, ApiState};
use farod::clock::Clock;
use farod::dispatch::Municipality;
use farod::lang::Lang;
use farod::store::{Store, StoreConfig, TeamConfig};
use serde_json::Value;

/// Every wait here is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

/// Two municipalities near Sásabe: Sáric on the mesh, Altar by phone only.
fn municipalities() -> Vec<Municipality> {
    vec![
        Municipality {
            name: "Sáric".into(),
            state: "Sonora".into(),
            lat: 31.1069,
            lon: -111.3752,
            nodes: vec![0x5a5a_0301],
            phones: vec![],
            languages: vec![Lang::Es],
            keys: Vec::new(),
            pki: true,
        },
        Municipality {
            name: "Altar".into(),
            state: "Sonora".into(),
            lat: 30.7136,
            lon: -111.8349,
            nodes: vec![],
            phones: vec!["+52 637 222 2222".into()],
            languages: vec![Lang::Es],
            keys: Vec::new(),
            pki: true,
        },
    ]
}

/// farod's store and control socket on a runtime of their own; stopped on drop.
struct Farod {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Farod {
    fn start() -> Farod {
        let dir = tempfile::tempdir().expect("temp dir");
        let sock = dir.path().join("faro.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let teams = vec![
            TeamConfig {
                name: "P1".into(),
                nodes: vec![0xa1b2_c3d4],
                interval: Duration::from_secs(300),
                keys: Vec::new(),
                language: farod::lang::Lang::Es,
            },
            TeamConfig {
                name: "P2".into(),
                nodes: vec![0x0000_beef],
                interval: Duration::from_secs(300),
                keys: Vec::new(),
                language: farod::lang::Lang::Es,
            },
        ];
        let mut cfg = StoreConfig::new("SAS");
        cfg.teams = teams.clone();
        cfg.municipalities = municipalities();
        let (store, _writer) = Store::open(&dir.path().join("faro.db"), cfg).expect("store");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = sock.clone();
        rt.spawn(async move {
            let state = ApiState {
                store,
                station: "SAS".into(),
                teams,
                radios: vec![],
                clock: Clock::start(),
                municipalities: municipalities(),
                surge: Default::default(),
                referrals: Vec::new(),
                timezone: "UTC".into(),
            };
            api::serve(&path, state, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        let deadline = Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(Instant::now() < deadline, "farod's socket did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        Farod {
            _dir: dir,
            sock,
            rt: Some(rt),
            stop: Some(stop),
        }
    }

    fn ctl(&self, args: &[&str]) -> Out {
        run(faroctl(&self.sock).args(args))
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

/// `faroctl` with a clean environment: the socket given, no operator label (`$USER` is not
/// one: farod names the operator by the socket's peer).
fn faroctl(sock: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faroctl"));
    c.env_remove("FARO_OPERATOR")
        .env("FARO_SOCKET", sock)
        .env("USER", "ana");
    c
}

/// The user these tests run as, as farod names it in the audit trail: `operator:<user>`.
fn me() -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = tempfile::tempfile()
        .and_then(|f| f.metadata())
        .expect("a file of ours")
        .uid();
    format!("operator:{}", farod::api::user_name(uid))
}

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        &self.stdout
    }

    /// A failure: the status and the one stderr line, nothing on stdout.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        assert!(
            self.stderr.starts_with("faroctl: ") && self.stderr.ends_with('\n'),
            "{self:?}"
        );
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
        self.stderr.trim_end()
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn drain(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(r).read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx
}

/// Runs to completion within `WAIT` (killed and failed otherwise).
fn run(cmd: &mut Command) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faroctl");
    let (out, err) = (
        drain(child.stdout.take().expect("stdout")),
        drain(child.stderr.take().expect("stderr")),
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faroctl {cmd:?} ran longer than {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |rx: mpsc::Receiver<String>| rx.recv_timeout(WAIT).expect("output");
    Out {
        code: status.code(),
        stdout: read(out),
        stderr: read(err),
    }
}

#[test]
fn a_location_request_by_command_line() {
    let f = Farod::start();
    let out = f.ctl(&[
        "locate",
        "add",
        "--requester",
        "consulate",
        "--people",
        "3",
        "--place",
        "Sasabe",
        "--radius",
        "12",
        "--last-seen",
        "2026-11-28",
    ]);
    assert_eq!(out.ok(), "LOC-1\n");
    let v = f
        .ctl(&[
            "locate",
            "add",
            "--requester",
            "relative",
            "--people",
            "1",
            "--lat",
            "31.48",
            "--lon",
            "-111.53",
            "--json",
        ])
        .json();
    assert_eq!(v["id"], "LOC-2");
    assert_eq!(v["radius_km"], 10.0);

    assert_eq!(
        f.ctl(&["locate", "task", "LOC-1", "--team", "P1"]).ok(),
        "LOC-1: searching (P1)\n"
    );
    let list = f.ctl(&["locate", "list"]);
    let text = list.ok();
    assert!(text.starts_with("ID "), "{text}");
    assert!(text.contains("LOC-1  searching  consulate  0/3"), "{text}");
    assert!(text.contains("Sasabe ("), "{text}");
    let j = f.ctl(&["locate", "list", "--json"]).json();
    assert_eq!(j.as_array().map(Vec::len), Some(2));

    assert_eq!(
        f.ctl(&[
            "locate",
            "close",
            "LOC-1",
            "--outcome",
            "localizados",
            "--found",
            "2"
        ])
        .ok(),
        "LOC-1: closed (found_alive, 2 of 3 found)\n"
    );
    assert_eq!(
        f.ctl(&["locate", "reported", "LOC-1", "--how", "phone"])
            .ok(),
        "LOC-1: closed (found_alive, 2 of 3 found), reported back\n"
    );
    let sheet = f.ctl(&["locate", "show", "loc-1"]);
    let text = sheet.ok();
    assert!(text.contains("requester  consulate"), "{text}");
    assert!(text.contains("people     3 sought, 2 found"), "{text}");
    assert!(
        text.contains(&format!(
            "{}  LOC-1: outcome reported back to the requester by phone",
            me()
        )),
        "{text}"
    );
    let j = f.ctl(&["locate", "show", "LOC-1", "--json"]).json();
    assert_eq!(j["events"].as_array().map(Vec::len), Some(4));

    // Matches: none yet, then an incident 5 km away.
    assert_eq!(
        f.ctl(&["locate", "matches", "LOC-2"]).ok(),
        "no candidates\n"
    );
    f.ctl(&["report", "--at", "31.525,-111.53", "--people", "2"])
        .ok();
    let text = f.ctl(&["locate", "matches", "LOC-2"]).ok().to_string();
    assert!(text.contains("SAS-1  incident"), "{text}");
    assert!(text.contains("5.0 km"), "{text}");
    assert!(text.contains("NO: do not pass on"), "{text}");
    let j = f.ctl(&["locate", "matches", "LOC-2", "--json"]).json();
    assert_eq!(j[0]["consent_to_locate"], false);
}

#[test]
fn bad_inputs_are_refused_in_one_line() {
    let f = Farod::start();
    f.ctl(&[
        "locate",
        "add",
        "--requester",
        "station",
        "--people",
        "2",
        "--place",
        "Sasabe",
    ])
    .ok();
    let cases: [(&[&str], i32, &str); 9] = [
        (
            &[
                "locate",
                "add",
                "--requester",
                "neighbour",
                "--people",
                "1",
                "--place",
                "Sasabe",
            ],
            1,
            "unknown requester",
        ),
        (
            &["locate", "add", "--requester", "relative", "--people", "1"],
            2,
            "--place",
        ),
        (
            &[
                "locate",
                "add",
                "--requester",
                "relative",
                "--people",
                "1",
                "--lat",
                "31.4",
            ],
            2,
            "--lon",
        ),
        (
            &[
                "locate",
                "add",
                "--requester",
                "relative",
                "--people",
                "1",
                "--place",
                "Sasabe",
                "--radius",
                "500",
            ],
            1,
            "radius",
        ),
        (&["locate", "show", "LOC-9"], 1, "no location request LOC-9"),
        (
            &["locate", "task", "LOC-1", "--team", "P9"],
            1,
            "unknown team",
        ),
        (
            &["locate", "close", "LOC-1", "--outcome", "found_alive"],
            1,
            "at least one person found",
        ),
        (
            &["locate", "reported", "LOC-1", "--how", "phone"],
            1,
            "not closed",
        ),
        (&["locate", "matches", "SAS-1"], 1, "bad location request"),
    ];
    for (args, code, why) in cases {
        let out = f.ctl(args);
        let line = out.failed(code);
        assert!(line.contains(why), "{args:?}: {line}");
    }
}
