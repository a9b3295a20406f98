//! The daemon's clock: wall-clock milliseconds for the database, derived from the wall clock
//! at start plus tokio's monotonic time since. Under paused tokio time (tests) it advances
//! with the virtual clock, so repeat windows, retries and team timeouts are testable without
//! sleeping; in production it cannot jump backwards when the system clock is stepped.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// A clock started once per daemon (or test) and passed to whoever needs the time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: i64,
    mono: Instant,
}

impl Clock {
    /// Starts the clock now (inside the runtime whose time it follows).
    pub fn start() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Clock {
            wall,
            mono: Instant::now(),
        }
    }

    /// Unix milliseconds, now.
    pub fn now_ms(&self) -> i64 {
        self.wall + self.mono.elapsed().as_millis() as i64
    }
}
