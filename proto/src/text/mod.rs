//! The short text protocol people type on stock Meshtastic apps: patrol commands
//! (`ACK SAS-17`, `CERRAR SAS-17 rescatado`), incident ids, closing outcomes, and [`fold()`], the
//! case- and accent-folding every text match in Faro goes through.
//!
//! Parsing forgives how people type on a phone (case, accents, a leading bell byte, `¡`/`¿`,
//! trailing punctuation, words after the arguments) and is strict about what changes an
//! incident: an id is always written in full (`SAS-17`, never `17`) and an outcome must be one
//! Faro knows. Errors carry a short Spanish usage hint to send back to the patrol.
//!
//! One module per thing parsed; everything public is used as `faro_proto::text::X`:
//! - `incident_id`: [`IncidentId`] (`SAS-17`);
//! - `outcome`: [`Outcome`], how an incident ended;
//! - `patrol`: [`parse_command`], the commands patrols send ([`PatrolCommand`]);
//! - `municipality`: [`parse_municipality_reply`], municipal dispatchers' answers to ambulance
//!   requests ([`MunicipalityReply`]), in the natural language they type;
//! - `fold`: [`fold()`], and the compacted form words are compared in;
//! - `words`: what both parsers share: the [`BELL`] byte, splitting off a word, quoting one.

mod fold;
mod incident_id;
mod municipality;
mod outcome;
mod patrol;
mod words;

pub use fold::fold;
pub use incident_id::{BadIncidentId, IncidentId};
pub use municipality::{
    parse_municipality_reply, MunicipalityReply, ReplyError, MAX_ETA_MINUTES, MAX_REASON_BYTES,
    USAGE_EXAMPLE_ID,
};
pub use outcome::{Outcome, UnknownOutcome};
pub use patrol::{
    parse_command, CommandError, LocateReport, PatrolCommand, LOCATE_PREFIX, MAX_FOUND,
    MAX_NOTE_BYTES,
};
pub use words::BELL;
