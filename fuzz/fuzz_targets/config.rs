//! The configuration loader on arbitrary UTF-8: `farod::config::parse`, then the validation
//! `Config::load` applies (`farod::config::from_toml_str`).
//!
//! Properties: never panics; any error is one line (farod prints it and exits 78).
#![no_main]

use farod::config::{from_toml_str, parse, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Err(e) = parse(text) {
        let line = e.to_string();
        assert!(
            !line.contains('\n'),
            "parse error of more than one line: {line:?}"
        );
    }
    if let Err(e) = from_toml_str(text, &Overrides::default()) {
        let line = e.to_string();
        assert!(
            !line.contains('\n'),
            "config error of more than one line: {line:?}"
        );
    }
});
