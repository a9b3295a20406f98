//! What `farod run` creates is for farod (and, for the socket, its group) alone, whatever umask
//! it was started with: the real binary under `umask 022`, then every file under its data
//! directory and its socket checked (docs/SECURITY.md, `farod::access`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Farod(Child);

impl Drop for Farod {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `farod run` on the simulated station, started with `umask 022` (as a shell would leave it)
/// and `env` added.
fn farod(data: &Path, sock: &Path, env: &[(&str, &str)]) -> Farod {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_farod"));
    cmd.args(["run", "--radio", "sim:default"])
        .arg("--data-dir")
        .arg(data)
        .arg("--socket")
        .arg(sock)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("FARO_CONFIG")
        .env_remove("FARO_SOCKET_GROUP")
        .env("FARO_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    under_umask_022(&mut cmd);
    Farod(cmd.spawn().unwrap())
}

/// Makes `cmd` start under `umask 022`, as a shell commonly leaves it (`sh -c 'umask 022; exec
/// …'`: no unsafe code between fork and exec).
fn under_umask_022(cmd: &mut Command) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(program)
        .args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.stdout(Stdio::null()).stderr(Stdio::null());
    *cmd = sh;
}

/// Waits until `sock` accepts connections and the database's WAL exists.
fn wait_up(sock: &Path, db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    while std::os::unix::net::UnixStream::connect(sock).is_err() || !wal.exists() {
        assert!(Instant::now() < deadline, "farod did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir`, itself included.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if std::fs::symlink_metadata(dir).unwrap().is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            walk(&e.unwrap().path(), out);
        }
    }
}

#[test]
fn nothing_farod_creates_is_open_to_others_even_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let (data, sock) = (dir.path().join("data"), dir.path().join("run/faro.sock"));
    let db = data.join("faro.db");
    let _farod = farod(&data, &sock, &[]);
    wait_up(&sock, &db);

    assert_eq!(mode(&data), 0o750, "the data directory");
    assert_eq!(
        mode(sock.parent().unwrap()),
        0o750,
        "the socket's directory"
    );
    assert_eq!(mode(&sock), 0o660, "the socket");
    let mut files = Vec::new();
    walk(&data, &mut files);
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for want in ["faro.db", "faro.db-wal", "faro.db-shm", "farod.lock"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for p in files.iter().chain([&sock]) {
        assert_eq!(mode(p) & 0o007, 0, "{} is open to others", p.display());
    }
    for p in files.iter().filter(|p| p.is_file()) {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
}

#[test]
fn an_old_database_readable_by_others_is_narrowed_and_the_socket_takes_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let (data, sock) = (dir.path().join("data"), dir.path().join("run/faro.sock"));
    let db = data.join("faro.db");
    // An earlier farod under umask 022 left a 0644 database.
    std::fs::create_dir(&data).unwrap();
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A group this process is in, so that farod may give it to the socket without privilege.
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    let _farod = farod(&data, &sock, &[("FARO_SOCKET_GROUP", &gid.to_string())]);
    wait_up(&sock, &db);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(std::fs::metadata(&sock).unwrap().gid(), gid);
    assert_eq!(
        std::fs::metadata(sock.parent().unwrap()).unwrap().gid(),
        gid
    );

    // An unknown group is a start that fails with one line naming it, not a socket nobody
    // can reach.
    let other = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_farod"));
    let out = cmd
        .args(["run", "--radio", "sim:default"])
        .arg("--data-dir")
        .arg(other.path().join("data"))
        .arg("--socket")
        .arg(other.path().join("faro.sock"))
        .env_remove("NOTIFY_SOCKET")
        .env("FARO_SOCKET_GROUP", "no-such-faro-group")
        .env("FARO_LOG", "off")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-faro-group"), "{err}");
}
