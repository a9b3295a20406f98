//! `parse_command`, `IncidentId::from_str` and `fold` on arbitrary UTF-8.
//!
//! Properties: never panics; a parsed id re-prints and re-parses to itself (whether it came
//! from a command or from the text as a whole); an error is one line and has a usage hint;
//! `fold` is idempotent.
#![no_main]

use faro_proto::text::{fold, parse_command, IncidentId, PatrolCommand, MAX_NOTE_BYTES};
use libfuzzer_sys::fuzz_target;

fn round_trips(id: &IncidentId) {
    let printed = id.to_string();
    assert_eq!(
        printed.parse::<IncidentId>().as_ref(),
        Ok(id),
        "{printed:?}"
    );
    assert!((2..=5).contains(&id.station.len()), "{id:?}");
    assert!(id.station.bytes().all(|b| b.is_ascii_uppercase()), "{id:?}");
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    match parse_command(text) {
        None => {}
        Some(Ok(cmd)) => match &cmd {
            PatrolCommand::Ack(id) | PatrolCommand::EnRoute(id) | PatrolCommand::OnScene(id) => {
                round_trips(id)
            }
            PatrolCommand::Close(id, outcome) => {
                round_trips(id);
                assert_eq!(outcome.as_str().parse().as_ref(), Ok(outcome));
            }
            PatrolCommand::Note(id, note) => {
                round_trips(id);
                assert!(!note.is_empty() && note.len() <= MAX_NOTE_BYTES, "{note:?}");
            }
            PatrolCommand::Ambulance(id) => {
                if let Some(id) = id {
                    round_trips(id)
                }
            }
            PatrolCommand::Status | PatrolCommand::Sos(_) | PatrolCommand::Locate(..) => {}
        },
        Some(Err(e)) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line:?}");
            assert!(!e.usage().is_empty());
        }
    }
    if let Ok(id) = text.parse::<IncidentId>() {
        round_trips(&id);
    }
    let once = fold(text);
    assert_eq!(fold(&once), once, "fold is not idempotent on {text:?}");
});
