//! faro-hq as a process: a bad broker address is a configuration error (exit 78, one line);
//! the readers work on an empty database.

use std::process::Command;

fn hq(dir: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faro-hq"))
        .arg("--db")
        .arg(dir.path().join("hq.db"))
        .args(args)
        .env("FARO_LOG", "warn")
        .output()
        .expect("run faro-hq")
}

#[test]
fn a_bad_broker_is_refused_with_exit_78_and_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    for bad in ["tcp://hq:1883", "mqtts://hq:8883", "mqtt://hq:0"] {
        let out = hq(&dir, &["run", "--broker", bad]);
        assert_eq!(out.status.code(), Some(78), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("faro-hq: --broker = "), "{err}");
    }
}

#[test]
fn an_empty_headquarters_has_no_queue_and_no_gaps() {
    let dir = tempfile::tempdir().expect("dir");
    for cmd in ["queue", "gaps"] {
        let out = hq(&dir, &[cmd]);
        assert!(out.status.success(), "{cmd}: {:?}", out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{cmd}");
    }
}
