//! CAP 1.2 alerts from `farod::feeds::cap` validate against the OASIS schema
//! (`tests/data/cap/CAP-v1.2.xsd`), checked with `xmllint --schema` (Debian's `libxml2-utils`,
//! installed by `.ci/run`). Several alerts are checked: a first alert, updates, a cancel, an
//! all-clear, one without a position, and one whose station name has `&<"'>`. A broken alert
//! (a `Z` time, which CAP forbids) must be refused, so the check is known to bite.
//!
//! Without `xmllint` the test says why and passes, unless `CI` or `FARO_REQUIRE_XMLLINT` is
//! set: then a missing `xmllint` fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use farod::feeds::{cap, IncidentFacts};
use farod::incident::{Flag, Kind, Outcome, State};

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/cap/CAP-v1.2.xsd")
}

fn xmllint_present() -> bool {
    match Command::new("xmllint").arg("--version").output() {
        Ok(out) => out.status.success(),
        Err(_) => false,
    }
}

/// Runs `xmllint --noout --schema` on one file: Ok, or xmllint's complaint.
fn validate(file: &Path) -> Result<(), String> {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output()
        .map_err(|e| format!("xmllint: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn first() -> IncidentFacts {
    IncidentFacts {
        station_code: "SAS".into(),
        station_name: "Estación Sásabe".into(),
        incident: "SAS-12".parse().expect("incident id"),
        state: State::New,
        priority: 1,
        kind: Kind::Medical,
        people: Some(3),
        flags: vec![Flag::Children, Flag::Dehydration],
        position: Some((31.48765, -111.54321)),
        team: None,
        created_at: 1_796_542_200_000,
        updated_at: 1_796_542_200_000,
        closed_at: None,
        outcome: None,
        version: 0,
    }
}

/// The alerts to check, each with a name for the file.
fn alerts() -> Vec<(&'static str, String)> {
    let sender = "faro@SAS";
    let f0 = first();

    let mut update = first();
    update.version = 1;
    update.state = State::EnRoute;
    update.team = Some("Alfa".into());
    update.updated_at += 600_000;

    let mut cancel = update.clone();
    cancel.version = 2;
    cancel.state = State::Closed;
    cancel.outcome = Some(Outcome::FalseAlarm);
    cancel.closed_at = Some(cancel.updated_at + 60_000);

    let mut all_clear = update.clone();
    all_clear.version = 3;
    all_clear.state = State::Closed;
    all_clear.outcome = Some(Outcome::TransferredHospital);
    all_clear.closed_at = Some(all_clear.updated_at + 3_600_000);

    let mut nowhere = first();
    nowhere.position = None;
    nowhere.people = None;
    nowhere.flags.clear();
    nowhere.kind = Kind::Lost;
    nowhere.priority = 3;

    let mut markup = first();
    markup.station_name = r#"Sásabe & <Altar> "norte" 'sur'"#.into();
    markup.team = Some("<b>&".into());
    markup.version = 4;
    markup.kind = Kind::Violence;
    markup.state = State::OnScene;

    let mut info = first();
    info.kind = Kind::Info;
    info.priority = 4;
    info.version = 1;
    info.state = State::Closed;
    info.outcome = None;

    vec![
        ("first", cap::alert(&f0, sender)),
        ("update", cap::alert(&update, sender)),
        ("cancel", cap::alert(&cancel, sender)),
        ("all_clear", cap::alert(&all_clear, sender)),
        ("no_position", cap::alert(&nowhere, sender)),
        ("markup", cap::alert(&markup, "faro@SAS <&, x>")),
        ("info_closed", cap::alert(&info, sender)),
    ]
}

#[test]
fn cap_alerts_validate_against_the_oasis_schema() {
    if !xmllint_present() {
        let required =
            std::env::var_os("CI").is_some() || std::env::var_os("FARO_REQUIRE_XMLLINT").is_some();
        assert!(
            !required,
            "xmllint is missing (Debian: apt-get install libxml2-utils) and CI or \
             FARO_REQUIRE_XMLLINT is set"
        );
        eprintln!("skipped: xmllint is missing (Debian: apt-get install libxml2-utils)");
        return;
    }
    assert!(schema().is_file(), "no schema at {}", schema().display());
    let dir = tempfile::tempdir().expect("temp dir");

    let mut failed = Vec::new();
    for (name, xml) in alerts() {
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, &xml).expect("write alert");
        if let Err(why) = validate(&file) {
            failed.push(format!("{name}: {why}\n{xml}"));
        }
    }
    assert!(failed.is_empty(), "invalid CAP:\n{}", failed.join("\n"));

    // The check bites: a `Z` time is not CAP 1.2, nor is an unknown msgType.
    let good = cap::alert(&first(), "faro@SAS");
    let broken = [
        ("z_time", good.replace("07:30:00-00:00", "07:30:00Z")),
        (
            "bad_msg_type",
            good.replace("<msgType>Alert</msgType>", "<msgType>Alarm</msgType>"),
        ),
    ];
    for (name, xml) in broken {
        assert_ne!(xml, good, "{name}: the test did not break anything");
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, &xml).expect("write alert");
        assert!(
            validate(&file).is_err(),
            "{name}: xmllint accepted an invalid alert"
        );
    }
}
