//! faro-proto: Faro's wire formats. Pure code: no tokio, no I/O.
//!
//! - [`frame`]: the Meshtastic stream framing (`94 C3` + big-endian length), with resync and
//!   device log text between frames.
//! - [`mesh`]: the Meshtastic protobuf types (re-exported from the `meshtastic` crate) and
//!   helpers: node ids, coordinates in 1e-7 degrees, routing results, payload budget.
//! - [`airtime`]: LoRa time on air (Semtech formula) for the Meshtastic modem presets.
//! - [`text`]: the short text protocol people type on stock apps: patrol commands, municipality
//!   replies, incident ids, outcomes, and the case- and accent-folding used for every text match.

pub mod airtime;
pub mod frame;
pub mod mesh;
pub mod text;
