//! What the faroctl tests share: an in-process farod (a real SQLite file and the real control
//! socket in a temp dir, two teams, two municipalities, a personal-data key) that can stop and
//! start again on the same files, and the built faroctl run with a bound on its time.

#![allow(dead_code)] // each test binary uses its own part of it

use farod::api::{self, ApiState};
use farod::clock::Clock;
use farod::dispatch::Municipality;
use farod::lang::Lang;
use farod::store::{Store, StoreConfig, TeamConfig};
use serde_json::Value;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Every wait here is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// Two municipalities near Sásabe: Sáric on the mesh, Altar by phone only.
pub fn municipalities() -> Vec<Municipality> {
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

pub fn teams() -> Vec<TeamConfig> {
    vec![
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
    ]
}

pub fn store_config(key: &farod::casework::seal::Key) -> StoreConfig {
    let mut cfg = StoreConfig::new("SAS");
    cfg.teams = teams();
    cfg.municipalities = municipalities();
    cfg.personal_key = Some(key.clone());
    cfg
}

/// farod's store and control socket on a runtime of their own; stopped on drop.
pub struct Farod {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// The writer, for what comes from the air.
    pub store: Store,
    pub rt: Option<tokio::runtime::Runtime>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The personal-data key, kept for a restart.
    pub key: farod::casework::seal::Key,
}

impl Farod {
    pub fn start() -> Farod {
        Farod::open(
            tempfile::tempdir().expect("temp dir"),
            farod::casework::seal::Key::random(),
            "UTC",
        )
    }

    /// A farod whose station is in `timezone` (`[station] timezone`).
    pub fn start_zoned(timezone: &str) -> Farod {
        Farod::open(
            tempfile::tempdir().expect("temp dir"),
            farod::casework::seal::Key::random(),
            timezone,
        )
    }

    /// farod on the database and socket in `dir` (a restart when they are an earlier one's).
    pub fn start_in(dir: tempfile::TempDir, key: farod::casework::seal::Key) -> Farod {
        Farod::open(dir, key, "UTC")
    }

    pub fn open(dir: tempfile::TempDir, key: farod::casework::seal::Key, timezone: &str) -> Farod {
        let sock = dir.path().join("faro.sock");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let teams = teams();
        let (store, _writer) =
            Store::open(&dir.path().join("faro.db"), store_config(&key)).expect("store");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = sock.clone();
        let writer = store.clone();
        let timezone = timezone.to_string();
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
                timezone,
                map: Default::default(),
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
            dir,
            sock,
            store: writer,
            rt: Some(rt),
            stop: Some(stop),
            key,
        }
    }

    pub fn ctl(&self, args: &[&str]) -> Out {
        run(faroctl(&self.sock).args(args))
    }

    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }

    /// Stops farod (its streams end, its socket goes away) and hands back its directory, the
    /// database kept.
    pub fn stop(mut self) -> (tempfile::TempDir, farod::casework::seal::Key) {
        self.shutdown();
        let placeholder = tempfile::tempdir().expect("temp dir");
        (
            std::mem::replace(&mut self.dir, placeholder),
            self.key.clone(),
        )
    }
}

impl Drop for Farod {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `faroctl` with a clean environment: the socket given, no operator label (`$USER` is not
/// one: farod names the operator by the socket's peer).
pub fn faroctl(sock: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faroctl"));
    c.env_remove("FARO_OPERATOR")
        .env("FARO_SOCKET", sock)
        .env("USER", "ana");
    c
}

/// The user these tests run as, as farod names it in the audit trail: `operator:<user>`.
pub fn me() -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = tempfile::tempfile()
        .and_then(|f| f.metadata())
        .expect("a file of ours")
        .uid();
    format!("operator:{}", farod::api::user_name(uid))
}

#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        &self.stdout
    }

    /// A failure: the status and the one stderr line, nothing on stdout.
    pub fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert_eq!(self.stdout, "", "{self:?}");
        assert!(
            self.stderr.starts_with("faroctl: ") && self.stderr.ends_with('\n'),
            "{self:?}"
        );
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
        self.stderr.trim_end()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

pub fn drain(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(r).read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx
}

/// Runs to completion within `WAIT` (killed and failed otherwise), with nothing on its
/// standard input.
pub fn run(cmd: &mut Command) -> Out {
    run_with_input(cmd, None)
}

/// [`run`], with `input` written to its standard input (a pipe, not a terminal) when given.
pub fn run_with_input(cmd: &mut Command, input: Option<&str>) -> Out {
    use std::io::Write;
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn faroctl");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
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
