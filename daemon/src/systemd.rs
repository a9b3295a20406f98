//! The systemd contract: `sd_notify` messages (`READY=1`, `STATUS=`, `WATCHDOG=1`,
//! `STOPPING=1`) through a [`Notifier`] that does nothing outside systemd, the one-line status
//! an operator reads in `systemctl status farod` ([`status_line`]), and whether stderr goes to
//! the journal (which stamps each line itself). When to send what is decided by `farod run`
//! ([`crate::app::run`]): READY once the database is open and migrated and the control socket
//! is bound, WATCHDOG only after the store thread answered and while every task of the station
//! runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

use crate::store::query::Counts;

/// Sends state changes to the service manager; a no-op when `NOTIFY_SOCKET` is unset.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
    warned: AtomicBool,
}

impl Notifier {
    /// From the environment systemd gives a `Type=notify` service: `NOTIFY_SOCKET`, and
    /// `WATCHDOG_USEC` (with `WATCHDOG_PID`, when set, naming this process).
    pub fn from_env() -> Notifier {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty()),
            watchdog: sd_notify::watchdog_enabled().filter(|d| !d.is_zero()),
            warned: AtomicBool::new(false),
        }
    }

    /// Whether anything is listening.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often to feed the watchdog: half its timeout, as sd_watchdog_enabled(3) advises
    /// (`None`: no watchdog).
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// `READY=1` with the first status line.
    pub fn ready(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// `STATUS=`.
    pub fn status(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Status(&status)]);
    }

    /// `WATCHDOG=1` (only when systemd watches).
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    /// `STOPPING=1` with what stopping does.
    pub fn stopping(&self, status: &str) {
        let status = one_line(status);
        self.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            // Once: a broken notify socket would otherwise fill the log every few seconds.
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
            }
        }
    }
}

/// A status line must not carry a newline: it would end the `STATUS=` assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// What the status line is made of.
#[derive(Debug, Default)]
pub struct Health<'a> {
    /// The store thread answered the last ping.
    pub store_answers: bool,
    /// Why the last transaction failed (locked, full, read-only...), while it does.
    pub database_error: Option<&'a str>,
    /// Names of the configured radios that are not up.
    pub radios_down: Vec<&'a str>,
    /// Radios configured.
    pub radios_total: usize,
    /// Counts from the database (`None`: they could not be read).
    pub counts: Option<&'a Counts>,
}

/// The line `systemctl status` shows, e.g. `DEGRADED: database: database is locked; radio mast
/// down; 1/2 radios up, 3 open incidents (P1: 1), outbox 2`.
pub fn status_line(h: &Health<'_>) -> String {
    let mut problems = Vec::new();
    if !h.store_answers {
        problems.push("database: the store thread does not answer".to_string());
    }
    if let Some(e) = h.database_error {
        problems.push(format!("database: {e}"));
    }
    match h.radios_down.as_slice() {
        [] if h.radios_total == 0 => problems.push("no radio configured".to_string()),
        [] => {}
        [one] => problems.push(format!("radio {one} down")),
        many => problems.push(format!("radios {} down", many.join(", "))),
    }
    let up = h.radios_total - h.radios_down.len().min(h.radios_total);
    let mut line = format!("{up}/{} radios up, ", h.radios_total);
    match h.counts {
        Some(c) => {
            let plural = if c.open_incidents == 1 { "" } else { "s" };
            line += &format!("{} open incident{plural}", c.open_incidents);
            if c.open_by_priority[0] > 0 {
                line += &format!(" (P1: {})", c.open_by_priority[0]);
            }
            line += &format!(", outbox {}", c.outbox_pending + c.outbox_awaiting_ack);
            if c.outbox_failed > 0 {
                line += &format!(" ({} failed)", c.outbox_failed);
            }
        }
        None => line += "open incidents and outbox unknown (database unreadable)",
    }
    if problems.is_empty() {
        line
    } else {
        format!("DEGRADED: {}; {line}", problems.join("; "))
    }
}

/// Whether stderr is the journal's stream (`JOURNAL_STREAM` names its device and inode,
/// systemd.exec(5)); a redirected stderr of a child of the service is not.
pub fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        // No /proc to look at: trust the variable.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(open: u64, p1: u64, pending: u64, failed: u64) -> Counts {
        Counts {
            open_incidents: open,
            open_by_priority: [p1, 0, open - p1, 0],
            outbox_pending: pending,
            outbox_awaiting_ack: 0,
            outbox_failed: failed,
        }
    }

    #[test]
    fn a_healthy_station_reads_plainly() {
        let c = counts(3, 1, 2, 0);
        let h = Health {
            store_answers: true,
            radios_total: 2,
            counts: Some(&c),
            ..Default::default()
        };
        assert_eq!(
            status_line(&h),
            "2/2 radios up, 3 open incidents (P1: 1), outbox 2"
        );
        let c = counts(1, 0, 0, 4);
        let h = Health {
            counts: Some(&c),
            ..h
        };
        assert_eq!(
            status_line(&h),
            "2/2 radios up, 1 open incident, outbox 0 (4 failed)"
        );
    }

    #[test]
    fn storage_faults_and_missing_radios_are_degraded() {
        let c = counts(3, 1, 2, 0);
        let h = Health {
            store_answers: true,
            database_error: Some("database is locked"),
            radios_down: vec!["mast"],
            radios_total: 2,
            counts: Some(&c),
        };
        assert_eq!(
            status_line(&h),
            "DEGRADED: database: database is locked; radio mast down; 1/2 radios up, 3 open incidents (P1: 1), outbox 2"
        );
        let h = Health {
            store_answers: false,
            database_error: None,
            radios_down: vec![],
            radios_total: 0,
            counts: None,
        };
        assert_eq!(
            status_line(&h),
            "DEGRADED: database: the store thread does not answer; no radio configured; 0/0 radios up, open incidents and outbox unknown (database unreadable)"
        );
    }

    #[test]
    fn status_is_one_line() {
        assert_eq!(
            one_line("disk I/O error\nat commit"),
            "disk I/O error at commit"
        );
    }
}
