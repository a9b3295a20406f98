//! What the control-socket tests share: a station (a real SQLite file and the real control
//! socket in a temp dir, two teams, two municipalities), HTTP over the Unix socket, and how
//! the audit trail names whoever runs the tests.

#![allow(dead_code)] // each test binary uses its own part of it

pub mod desk;

use std::path::{Path, PathBuf};
use std::time::Duration;

use farod::api::{self, ApiState};
use farod::clock::Clock;
use farod::dispatch::Municipality;
use farod::lang::Lang;
use farod::store::{Store, StoreConfig, TeamConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Station {
    pub _dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// The writer, for what comes from the air rather than the socket.
    pub store: Store,
    pub stop: Option<oneshot::Sender<()>>,
    pub server: JoinHandle<std::io::Result<()>>,
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

/// Sáric's dispatcher on the mesh.
pub const SARIC_NODE: u32 = 0x5a5a_0301;

/// Two municipalities near Sásabe: Sáric on the mesh, Altar by phone only.
pub fn municipalities() -> Vec<Municipality> {
    vec![
        Municipality {
            name: "Sáric".into(),
            state: "Sonora".into(),
            lat: 31.1069,
            lon: -111.3752,
            nodes: vec![SARIC_NODE],
            phones: vec!["+52 637 111 1111".into()],
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

pub async fn start() -> Station {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StoreConfig::new("SAS");
    cfg.teams = teams();
    cfg.municipalities = municipalities();
    cfg.personal_key = Some(farod::casework::seal::Key::random());
    let (store, _writer) = Store::open(&dir.path().join("faro.db"), cfg).expect("open the store");
    let state = ApiState {
        store: store.clone(),
        station: "SAS".into(),
        teams: teams(),
        radios: vec![],
        clock: Clock::start(),
        municipalities: municipalities(),
        surge: Default::default(),
        referrals: Vec::new(),
        timezone: "UTC".into(),
        map: Default::default(),
    };
    // The socket's directory does not exist yet: serve creates it.
    let sock = dir.path().join("run/faro.sock");
    let (stop, stopped) = oneshot::channel::<()>();
    let path = sock.clone();
    let server = tokio::spawn(async move {
        api::serve(&path, state, async {
            let _ = stopped.await;
        })
        .await
    });
    timeout(WAIT, async {
        while UnixStream::connect(&sock).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the control socket came up");
    Station {
        _dir: dir,
        sock,
        store,
        stop: Some(stop),
        server,
    }
}

/// An answer: status, headers (lower-case names) and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.json))
    }
}

pub fn request(method: &str, path: &str, operator: Option<&str>, body: Option<&str>) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: farod\r\nConnection: close\r\n");
    if let Some(who) = operator {
        req.push_str(&format!("X-Faro-Operator: {who}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    req
}

pub async fn call(
    sock: &Path,
    method: &str,
    path: &str,
    operator: Option<&str>,
    body: Option<&str>,
) -> Answer {
    timeout(WAIT, async {
        let mut s = UnixStream::connect(sock).await.expect("connect");
        s.write_all(request(method, path, operator, body).as_bytes())
            .await
            .expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("UTF-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "content-type" && v.starts_with("application/json")),
            "{method} {path}: not JSON: {head}"
        );
        let json =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"));
        Answer {
            status,
            headers,
            json,
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no answer within {WAIT:?}"))
}

pub async fn get(sock: &Path, path: &str) -> Answer {
    call(sock, "GET", path, None, None).await
}

pub async fn post(sock: &Path, path: &str, body: Value) -> Answer {
    call(sock, "POST", path, None, Some(&body.to_string())).await
}

/// How the audit trail names whoever runs these tests (the socket's peer, no label).
pub fn me() -> String {
    format!(
        "operator:{}",
        api::user_name(nix::unistd::getuid().as_raw())
    )
}
