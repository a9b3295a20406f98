//! Inputs the fuzz targets (`fuzz/`, see fuzz/README.md) failed on, kept as ordinary tests.
//! Each input is committed under `fuzz/regressions/<target>/` exactly as libFuzzer wrote it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use farod::config::{from_toml_str, parse, Overrides};

/// The `config` target's property: parsing and validating never panic, and any error is one
/// line (farod prints it and exits 78).
fn config_errors_are_one_line(input: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(input).unwrap();
    let mut errors = Vec::new();
    if let Err(e) = parse(text) {
        errors.push(e.to_string());
    }
    if let Err(e) = from_toml_str(text, &Overrides::default()) {
        errors.push(e.to_string());
    }
    for e in &errors {
        assert!(!e.contains('\n'), "{e:?} is more than one line");
    }
    errors
}

/// toml's "invalid array" message is two lines (`invalid array\nexpected `]``); `parse` passed
/// it on as is, so `farod` printed a configuration error over two lines.
#[test]
fn config_toml_message_over_two_lines() {
    let errors = config_errors_are_one_line(include_bytes!(
        "../../fuzz/regressions/config/crash-d1f7d4e3aa1518f77d4825ad2ce61d4e60bd5037"
    ));
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0], "line 3: invalid array: expected `]`");
    // The same, minimised, and an unknown key holding a newline (serde quotes it raw).
    let errors = config_errors_are_one_line(b"[station]\ncode = \"SAS\"\nname = [intake]\n");
    assert_eq!(errors[0], "line 3: invalid array: expected `]`");
    let errors = config_errors_are_one_line(b"[station]\n\"a\\nb\" = 1\n");
    assert!(
        errors[0].starts_with("line 2: unknown field `a: b`"),
        "{errors:?}"
    );
}
