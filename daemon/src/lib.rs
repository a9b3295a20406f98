//! farod: the Faro station daemon, as a library with a thin binary (`src/main.rs`).
//!
//! Modules and what each owns:
//! - [`radio`]: one task per radio owning its port. `session` is the pure stream API state
//!   machine (handshake, heartbeat, liveness, ACK matching); `link` is the I/O task around it
//!   (wake-up, framing, reconnect with backoff); `transport` opens `serial:`, `tcp:` and `sim:`.
//! - [`config`]: the TOML configuration and command-line overrides, validated (exit 78).
//! - [`app`]: the supervisor (`farod run`) and the live demo (`farod demo`).
//! - [`probe`]: `farod probe`, the operator's radio diagnostic.
//! - [`describe`]: human and JSON descriptions of radios and packets.

pub mod app;
pub mod config;
pub mod describe;
pub mod probe;
pub mod radio;
