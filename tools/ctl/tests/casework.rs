//! Casework end to end, as a station runs it: the built `farod run` with its personal-data key
//! from a systemd-style credentials directory (`$CREDENTIALS_DIRECTORY`), and the built
//! `faroctl`. Aid, a complaint with consent and its referral, consent and personal records,
//! a disclosure recorded and exported, what the database file holds (the raw bytes), the key
//! destroyed while the queue goes on, restarts with the right and the wrong key, and a bad key
//! refused with exit 78.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c";
const OTHER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Personal values with markers nobody types by accident: they must never be in the file.
const NAME: &str = "MARIAZAFIRO Lopez";
const NOTE: &str = "NOTAZAFIRO: la madre pide que no se llame a nadie";
const ACCOUNT: &str = "CUENTAZAFIRO: le quitaron 5000 pesos en el retén";

/// Kills the daemon when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Station {
    dir: tempfile::TempDir,
}

impl Station {
    fn new() -> Station {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("creds")).unwrap();
        std::fs::write(
            dir.path().join("faro.toml"),
            "[station]\ncode = \"SAS\"\nname = \"Sásabe\"\n\
             [[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\n\
             [[referral]]\nkind = \"prosecutor\"\nname = \"Fiscalía de Migrantes, Sonora\"\ncontact = \"+52 662 100 0000\"\n\
             [[referral]]\nkind = \"consulate\"\nname = \"Consulado de Honduras en Nogales\"\ncountry = \"HN\"\ncontact = \"+52 631 200 0000\"\n",
        )
        .unwrap();
        Station { dir }
    }

    fn key(&self, key: &str) {
        std::fs::write(self.dir.path().join("creds/faro-personal-key"), key).unwrap();
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("faro.sock")
    }

    fn farod(&self) -> Command {
        let mut c = Command::new(faro_tests::farod_binary());
        c.arg("run")
            .arg("--config")
            .arg(self.dir.path().join("faro.toml"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--socket")
            .arg(self.socket())
            .env("CREDENTIALS_DIRECTORY", self.dir.path().join("creds"))
            .env("FARO_LOG", "warn")
            .env_remove("FARO_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        c
    }

    fn start(&self) -> Daemon {
        let _ = std::fs::remove_file(self.socket());
        let d = Daemon(
            self.farod()
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(self.dir.path().join("farod.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ctl(&["status"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "farod did not come up: {}",
                std::fs::read_to_string(self.dir.path().join("farod.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_in(args, "")
    }

    fn ctl_in(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faroctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .env_remove("FARO_OPERATOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs faroctl, expecting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_in(args, "")
    }

    fn ok_in(&self, args: &[&str], stdin: &str) -> String {
        let out = self.ctl_in(args, stdin);
        assert!(
            out.status.success(),
            "faroctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs faroctl, expecting farod's refusal: exit 1 and one line on stderr.
    fn refused(&self, args: &[&str], stdin: &str) -> String {
        let out = self.ctl_in(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "faroctl {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// The database file and its WAL, as bytes.
    fn raw(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for f in ["faro.db", "faro.db-wal"] {
            if let Ok(b) = std::fs::read(self.dir.path().join("data").join(f)) {
                all.extend(b);
            }
        }
        all
    }

    fn trail(&self, id: &str) -> Vec<String> {
        self.json(&["show", id, "--json"])["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["what"].as_str().unwrap().to_string())
            .collect()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn casework_from_aid_to_a_destroyed_key() {
    let st = Station::new();
    st.key(KEY);
    let daemon = st.start();

    let id = st.ok(&[
        "report", "--place", "Sasabe", "--kind", "heat", "--people", "4",
    ]);
    let id = id.trim().split(':').next().unwrap().trim().to_string();
    assert_eq!(id, "SAS-1");

    // Aid, for the incident (with a note) and on its own; refusals change nothing.
    let out = st.ok(&[
        "assist",
        "SAS-1",
        "--kind",
        "agua,primeros_auxilios",
        "--people",
        "4",
        "--minors",
        "1",
        "--note",
        NOTE,
    ]);
    assert_eq!(out, "AID-1: aid recorded for 4 people (note sealed)\n");
    let out = st.ok(&[
        "assist",
        "--kind",
        "orientation,legal_advice",
        "--people",
        "12",
        "--women",
        "5",
        "--pregnant",
        "1",
        "--place",
        "Estación Sásabe",
    ]);
    assert_eq!(out, "AID-2: aid recorded for 12 people\n");
    assert!(st
        .refused(&["assist", "--kind", "magia", "--people", "3"], "")
        .contains("unknown kind of aid \"magia\""));
    assert!(st
        .refused(
            &["assist", "--kind", "water", "--people", "3", "--minors", "4"],
            ""
        )
        .contains("minors = 4 is more than the 3 people"));
    let aid = st.json(&["aid", "--json"]);
    assert_eq!(aid.as_array().unwrap().len(), 2, "{aid}");
    assert_eq!(aid[0]["id"], "AID-2");
    assert_eq!(aid[1]["kinds"], serde_json::json!(["first_aid", "water"]));
    assert_eq!(aid[1]["personal_records"], 1);
    let trail = st.trail("SAS-1");
    assert!(
        trail.contains(&"aid AID-1 recorded: water, first_aid for 4 people (1 minors)".into()),
        "{trail:?}"
    );
    assert!(
        trail.contains(&format!(
            "AID-1: note added (personal record 1, {} bytes)",
            NOTE.len()
        )),
        "{trail:?}"
    );

    let sheet = st.ok(&["show", "SAS-1"]);
    assert!(
        sheet.contains("casework: 1 aid records, 0 complaints, 0 sealed personal records"),
        "{sheet}"
    );

    // A complaint needs the person's consent to be kept; its referral shows the contact.
    let err = st.refused(
        &[
            "complaint",
            "add",
            "--from",
            "AID-2",
            "--category",
            "extorsion",
            "--consent-by",
            "person",
            "--consent-to",
            "authorities",
        ],
        "",
    );
    assert!(err.contains("only with the person's consent"), "{err}");
    let out = st.ok_in(
        &[
            "complaint",
            "add",
            "--from",
            "AID-2",
            "--category",
            "extorsion",
            "--occurred",
            "2026-11-30",
            "--consent-by",
            "person",
            "--consent-to",
            "record,consulate",
            "--account",
        ],
        ACCOUNT,
    );
    assert_eq!(out, "CMP-1: complaint recorded under consent 1\n");
    let out = st.ok(&["complaint", "refer", "CMP-1", "consulate:HN"]);
    assert!(
        out.contains("referred to Consulado de Honduras en Nogales (consulate)")
            && out.contains("contact: +52 631 200 0000"),
        "{out}"
    );
    assert!(st
        .refused(&["complaint", "refer", "CMP-1", "consulate:GT"], "")
        .contains("no referral \"consulate:GT\" is configured"));
    st.ok(&["complaint", "status", "CMP-1", "acknowledged"]);
    assert!(st
        .refused(&["complaint", "status", "CMP-1", "referred"], "")
        .contains("cannot go back"));
    let list = st.json(&["complaint", "list", "--json"]);
    assert_eq!(
        (
            list[0]["id"].as_str(),
            list[0]["status"].as_str(),
            list[0]["category"].as_str()
        ),
        (Some("CMP-1"), Some("acknowledged"), Some("extortion"))
    );

    // Consent, personal records, a disclosure recorded and exported.
    assert!(st
        .refused(
            &[
                "personal",
                "add",
                "SAS-1",
                "--field",
                "name",
                "--consent",
                "1"
            ],
            NAME
        )
        .contains("consent 1 is about CMP-1, not SAS-1"));
    assert_eq!(
        st.ok(&[
            "consent",
            "add",
            "SAS-1",
            "--by",
            "person",
            "--to",
            "record,consulate"
        ]),
        "consent 2 recorded for SAS-1\n"
    );
    st.ok_in(
        &[
            "personal",
            "add",
            "SAS-1",
            "--field",
            "name",
            "--consent",
            "2",
        ],
        NAME,
    );
    st.ok_in(
        &[
            "personal",
            "add",
            "SAS-1",
            "--field",
            "nationality",
            "--consent",
            "2",
        ],
        "hondureña",
    );
    let shown = st.ok(&["personal", "show", "SAS-1"]);
    assert!(
        shown.contains(NAME) && shown.contains("hondureña"),
        "{shown}"
    );
    let err = st.refused(
        &[
            "disclose",
            "SAS-1",
            "--to",
            "relative",
            "--recipient",
            "hermana",
            "--reason",
            "x",
        ],
        "",
    );
    assert!(err.contains("SAS-1 has no consent for relatives"), "{err}");
    let export = st.dir.path().join("export.json");
    let out = st.ctl(&[
        "disclose",
        "SAS-1",
        "--to",
        "consulate",
        "--recipient",
        "Consulado de Honduras en Nogales",
        "--reason",
        "localización de familiares",
        "-o",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let bytes = std::fs::read(&export).unwrap();
    let given: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(given["personal"]["name"], serde_json::json!([NAME]));
    assert_eq!(given["case"]["id"], "SAS-1");
    assert_eq!(given["consent"], 2);
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let record = st.json(&["personal", "show", "SAS-1", "--json"]);
    assert_eq!(record["disclosures"][0]["sha256"], digest.as_str());
    assert_eq!(record["disclosures"][0]["fields"], "name,nationality");
    // A municipality gets the place, the people and the medical side: nothing personal.
    let muni = st.ok(&[
        "disclose",
        "SAS-1",
        "--to",
        "municipality",
        "--recipient",
        "Sáric",
        "--reason",
        "ambulancia",
    ]);
    assert!(
        !muni.contains("MARIAZAFIRO") && muni.contains("\"people\": 4"),
        "{muni}"
    );
    let trail = st.trail("SAS-1");
    assert!(
        trail.iter().any(|w| w.starts_with(
            "disclosure 1: consulate export to Consulado de Honduras en Nogales (consulate): name, nationality; sha256 "
        )),
        "{trail:?}"
    );
    assert!(
        trail.contains(&"personal records of SAS-1 shown (2 of 2)".into()),
        "{trail:?}"
    );
    // The audit trail and the database's bytes never hold a personal value.
    let all = format!("{trail:?}{}", st.ok(&["aid", "--json"]));
    for secret in [NAME, NOTE, ACCOUNT, "hondureña"] {
        assert!(!all.contains(secret));
        assert!(
            !contains(&st.raw(), secret.as_bytes()),
            "{secret} in the file"
        );
    }

    // Headquarters gets the period's records and figures, nothing personal.
    let hq = st.ok(&["export", "--from", "2020-01-01"]);
    let v: Value = serde_json::from_str(&hq).unwrap();
    assert_eq!(v["profile"], "headquarters");
    assert_eq!(v["incidents"][0]["id"], "SAS-1");
    assert_eq!(v["aid"].as_array().unwrap().len(), 2);
    assert_eq!(v["complaints"][0]["category"], "extortion");
    assert_eq!(v["figures"]["assisted"], 16, "{hq}");
    for secret in [NAME, NOTE, ACCOUNT, "hondureña", "reporter", "Honduras"] {
        assert!(!hq.contains(secret), "{secret} in {hq}");
    }
    assert!(st.ctl(&["export", "--profile", "consulate"]).status.code() == Some(2));

    // The key destroyed: personal records unreadable, the queue goes on.
    assert!(st
        .refused(&["wipe-key", "--confirm", "XYZ"], "")
        .contains("not confirmed"));
    assert_eq!(
        st.ok(&["wipe-key", "--confirm", "SAS"]),
        "personal-data key destroyed: 4 personal records are unreadable\n"
    );
    let shown = st.json(&["personal", "show", "SAS-1", "--json"]);
    for r in shown["records"].as_array().unwrap() {
        assert!(r["value"].is_null(), "{shown}");
        assert!(r["unreadable"]
            .as_str()
            .unwrap()
            .starts_with("unreadable: its key was destroyed"));
    }
    assert!(st
        .refused(
            &[
                "disclose",
                "SAS-1",
                "--to",
                "consulate",
                "--recipient",
                "Consulado",
                "--reason",
                "x"
            ],
            ""
        )
        .contains("unreadable"));
    st.ok(&["ack", "SAS-1"]);
    assert_eq!(
        st.ok(&["report", "--place", "Altar", "--kind", "lost"])
            .split(':')
            .next()
            .unwrap()
            .trim(),
        "SAS-2"
    );
    // New records get a new key.
    st.ok_in(
        &[
            "personal",
            "add",
            "SAS-1",
            "--field",
            "origin",
            "--consent",
            "2",
        ],
        "Choluteca",
    );
    drop(daemon);

    // Restarted with the same credential: the new record opens, the old ones stay shut.
    let daemon = st.start();
    let shown = st.json(&["personal", "show", "SAS-1", "--json"]);
    let values: Vec<&Value> = shown["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["value"])
        .collect();
    assert_eq!(
        values.last().unwrap().as_str(),
        Some("Choluteca"),
        "{shown}"
    );
    assert_eq!(values.iter().filter(|v| v.is_null()).count(), 2, "{shown}");
    drop(daemon);

    // Restarted with another key: nothing personal opens or is written; the queue works.
    st.key(OTHER_KEY);
    let _daemon = st.start();
    let shown = st.json(&["personal", "show", "SAS-1", "--json"]);
    assert!(
        shown["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["value"].is_null()),
        "{shown}"
    );
    let err = st.refused(
        &[
            "personal",
            "add",
            "SAS-1",
            "--field",
            "name",
            "--consent",
            "2",
        ],
        NAME,
    );
    assert!(err.contains("personal records are off"), "{err}");
    st.ok(&["assign", "SAS-2", "P1"]);
}

#[test]
fn a_malformed_key_credential_is_a_configuration_error() {
    let st = Station::new();
    st.key("too short");
    let out = st.farod().output().unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("faro-personal-key is not 32 bytes"), "{err}");
}

#[test]
fn without_a_key_personal_records_are_refused_and_the_rest_works() {
    let st = Station::new();
    std::fs::remove_dir(st.dir.path().join("creds")).unwrap();
    let _daemon = st.start();
    st.ok(&["report", "--place", "Sasabe"]);
    st.ok(&["assist", "SAS-1", "--kind", "water", "--people", "2"]);
    let err = st.refused(&["note", "SAS-1", "llegó", "la", "patrulla"], "");
    assert!(
        err.contains("personal records are off: farod was given no personal-data key"),
        "{err}"
    );
    assert!(!st.trail("SAS-1").iter().any(|w| w.starts_with("note")));
}
