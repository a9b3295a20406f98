//! `parse_municipality_reply` on arbitrary UTF-8.
//!
//! Properties: never panics; a parsed reply's `Display` form (its canonical form) parses back
//! to the same reply; its id re-prints and re-parses to itself; an error is one line and has
//! usage hints.
#![no_main]

use faro_proto::text::{
    parse_municipality_reply, IncidentId, MunicipalityReply, MAX_ETA_MINUTES, MAX_REASON_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    match parse_municipality_reply(text) {
        None => {}
        Some(Ok(reply)) => {
            let canonical = reply.to_string();
            assert_eq!(
                parse_municipality_reply(&canonical),
                Some(Ok(reply.clone())),
                "{text:?} gave {reply:?}, printed {canonical:?}"
            );
            if let Some(id) = reply.id() {
                assert_eq!(id.to_string().parse::<IncidentId>().as_ref(), Ok(id));
            }
            match &reply {
                MunicipalityReply::Accept {
                    eta_minutes: Some(m),
                    ..
                } => assert!((1..=MAX_ETA_MINUTES).contains(m)),
                MunicipalityReply::Decline {
                    reason: Some(r), ..
                } => assert!(!r.is_empty() && r.len() <= MAX_REASON_BYTES, "{r:?}"),
                _ => {}
            }
        }
        Some(Err(e)) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line:?}");
            assert!(!e.usage().is_empty() && !e.usage_en().is_empty());
        }
    }
});
