//! farod: the Faro station daemon, as a library with a thin binary (`src/main.rs`).
//!
//! Modules and what each owns:
//! - [`radio`]: one task per radio owning its port. `session` is the pure stream API state
//!   machine (handshake, heartbeat, liveness, ACK matching); `link` is the I/O task around it
//!   (wake-up, framing, reconnect with backoff); `transport` opens `serial:`, `tcp:` and `sim:`.
//! - [`config`]: the TOML configuration and command-line overrides, validated (exit 78).
//! - [`app`]: `farod run` and the live demo (`farod demo`).
//! - [`access`]: who may read what farod creates (umask, directory, database and socket modes).
//! - [`probe`]: `farod probe`, the operator's radio diagnostic.
//! - [`describe`]: human and JSON descriptions of radios and packets.
//! - [`geo`]: the offline gazetteer (GeoNames, built in): nearest place, place names,
//!   municipality seats, great-circle distance and bearing.
//! - [`ingest`]: pure classification of one received packet into a signal (distress,
//!   position, patrol command, node info, activity).
//! - [`lang`]: the languages the station speaks (`es`, `en`, `fr`, `ht`, `pt`) and the distress
//!   keywords of each, with how a text matches them.
//! - [`catalog`]: the replies people read on their phones, in each station language.
//! - [`desk`]: the station's rules, pure: one input (a signal, an operator's request, a
//!   delivery result, a timer) and the facts it reads give effects the store applies.
//! - [`error`]: typed refusals and database failures, from the desk to the control socket.
//! - [`incident`]: the incident rules as a pure state machine: states, priority, triage.
//! - [`store`]: the SQLite database; one writer thread (group commit), read-only queries.
//! - [`dispatch`]: ambulance coordination rules (pure): whom to ask next, request states.
//! - [`outbox`]: the paced sender: durable rows out through the radios within firmware limits.
//! - [`uplink`]: the station's changes to headquarters over an MQTT broker, at QoS 1 from a
//!   durable outbox in the database (issue 16).
//! - [`station`]: everything `farod run` starts, wired together (supervisor, outbox, timers).
//! - [`trust`]: who sent a packet: public keys, how a packet arrived, and whether a message
//!   in a patrol's or municipality's name is from the key pinned for it.
//! - [`api`]: the control socket (HTTP/JSON on a Unix socket) that `faroctl` talks to: the
//!   server (routes, errors, `serve`) and one submodule per resource (incidents, ambulance,
//!   places, status, nodes, events).
//! - [`clock`]: wall-clock milliseconds that follow tokio's (pausable) time.
//! - [`understand`]: what a chat message means, pure and explainable: help yes / maybe / no,
//!   kind, people, flags, language, and the words that decided.
//! - [`feeds`]: feeds for others, pure formatting: CAP 1.2 alerts (scope Restricted) and
//!   Cursor-on-Target events for TAK users, from facts that hold no personal data.
//! - [`systemd`]: the service manager contract: `sd_notify` (READY, STATUS, WATCHDOG,
//!   STOPPING), the operator's status line, journald detection.

pub mod access;
pub mod api;
pub mod app;
pub mod casework;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod describe;
pub mod desk;
pub mod dispatch;
pub mod error;
pub mod feeds;
pub mod geo;
pub mod incident;
pub mod ingest;
pub mod lang;
pub mod outbox;
pub mod probe;
pub mod radio;
pub mod station;
pub mod store;
pub mod systemd;
pub mod trust;
pub mod understand;
pub mod uplink;
