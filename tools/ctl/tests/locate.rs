//! `faroctl locate` against an in-process farod (a real SQLite file and the real control
//! socket in a temp dir): add, list, show, task, close, reported and matches, their `--json`,
//! and one bad input for each, refused in one line with exit status 1 (farod) or 2 (usage).

mod common;
use common::*;

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
