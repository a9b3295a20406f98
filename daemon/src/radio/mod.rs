//! Radios: the stream API session (pure), the link task that owns a port, and transports.

pub mod link;
pub mod session;
pub mod transport;

pub use link::{
    spawn, spawn_task, stop_links, LinkConfig, LinkHandle, LinkState, LinkStatus, RadioEvent,
    RadioEventKind,
};
pub use session::{DeliveryOutcome, Outgoing, RadioInfo, SendError, SessionConfig};
pub use transport::{RadioUri, Transport};
