//! faro-sim: a simulated Meshtastic mesh and station devices that speak the stream API the way
//! firmware 2.7.x does, for testing `farod` (and for judging with the official Python client).
//!
//! Modules, each owning one thing:
//! - [`scenario`]: scenario files (TOML): nodes, radio settings, the timeline of [`Action`]s;
//!   the built-in `default` scenario around the Grupos Beta station at Sásabe, Sonora.
//! - [`radio`]: LoRa physics as plain functions: distance, link quality, firmware timings
//!   (CSMA window, capture threshold), airtime records.
//! - [`device`]: one station radio's stream-API side as a pure state machine (config burst,
//!   rate limits, ACK/NAK, timeouts, reboot).
//! - [`pki`]: X25519 key pairs and the PKI direct-message rules of firmware >= 2.5.
//! - [`world`]: the mesh (links, the shared channel, airtime, flooding, duplicates), the
//!   non-station nodes (ACKs, scripted replies), the timeline; owned by the simulation task.
//! - [`sim`]: the [`Sim`] handle and the task that runs the world on tokio time.
//! - [`frontend`]: the I/O shells (duplex, TCP, PTY) and fault injection ([`Faults`]).
//! - `cmd`: the simulation task's inbox (the commands `sim` and `frontend` send it).
//!
//! `sim` depends on `frontend`, and both on `cmd` and `world`; never the other way.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use faro_sim::{Faults, Scenario, Sim, SimOptions};
//! let scenario = Scenario::builtin("default").expect("built in");
//! let station = scenario.stations()[0];
//! let sim = Sim::start(scenario, SimOptions::default());
//! let stream = sim.connect(station, Faults::default())?; // AsyncRead + AsyncWrite
//! # drop(stream); Ok(()) }
//! ```

pub mod burst;
mod cmd;
pub mod device;
pub mod frontend;
pub mod pki;
pub mod radio;
pub mod scenario;
pub mod sim;
pub mod world;

pub use frontend::{Faults, UnknownFault};
pub use scenario::{
    Action, ChannelModel, ForgeMode, NodeSpec, RadioSettings, ReplyRule, Role, Scenario,
    ScenarioError, TimedAction,
};
pub use sim::{Sim, SimEvent, SimOptions};
pub use world::ChannelStats;
