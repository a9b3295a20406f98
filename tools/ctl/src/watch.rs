//! `faroctl watch`: follows farod's event stream (`GET /v1/events`, the backlog after an event
//! id, then live newline-delimited JSON) and keeps following it across farod's restarts.
//!
//! - When the stream ends or the socket goes away (farod restarting under systemd, a watchdog
//!   restart, no keepalive for longer than the client's timeout), one line on stderr,
//!   `faroctl: farod went away; reconnecting...`, then attempts every 0.5 s doubling up to
//!   10 s, forever unless `--give-up-after` says otherwise (then the last reason, exit 69).
//!   On reconnection, `faroctl: reconnected; N events missed meanwhile shown below` and the
//!   stream resumes after the last event id printed: no event lost, none shown twice. With
//!   `--json` stdout stays farod's JSON lines; the notices are on stderr in every mode.
//!   N counts the events farod sends back to back on reconnecting (those committed after the
//!   last one printed); a live event in that same burst may be counted among them.
//!   Started without `--after` and gone before any event came, there is no id to resume
//!   from: the trail is read again and shown from the second watch started (farod and
//!   faroctl read the same clock, the socket being local).
//! - The first connection must succeed (exit 69 otherwise: a wrong socket is no restart), and
//!   an `{"error": ...}` line from farod (its database refused the read) still ends the watch
//!   (exit 1).
//! - `--bell` writes BEL (`\x07`) to stderr (never stdout, so `--json` output and a redirected
//!   log stay clean; stderr is the terminal in ordinary use) when an event says a priority-1
//!   incident opened or rose to P1. Not for the backlog replayed at start (events stamped
//!   before the second watch started), but for the events missed while farod was away, which
//!   are news to the operator.
//!
//! Ctrl-C ends it at once (no handler: the default signal action).

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{Client, Error};
use crate::{json, render, Failure};

/// First pause before reconnecting; doubles on each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest pause between attempts.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// A stream silent this long after a line has finished replaying its backlog: farod sends the
/// stored events back to back, so a pause means what follows is live.
const QUIET: Duration = Duration::from_millis(300);
/// Longest time spent gathering the events missed before saying how many there were.
const GATHER: Duration = Duration::from_secs(5);
/// farod sends a keepalive every 20 s; a stream silent this long is dead.
const STREAM_TIMEOUT: Duration = Duration::from_secs(65);

/// What `faroctl watch` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print farod's JSON lines.
    pub json: bool,
    /// Replay the stored events after this id first.
    pub after: Option<i64>,
    /// Ring the terminal bell on P1 news.
    pub bell: bool,
    /// Stop trying to reconnect after this long (forever when none).
    pub give_up_after: Option<Duration>,
}

/// Whether an audit event's `what` says a priority-1 incident opened (`opened: P1 ...` from
/// the air, `opened by hand: P1 ...` at the desk) or rose to P1 on a follow-up
/// (`follow-up: ..., P2 -> P1` before any words quoted in parentheses).
pub fn p1_news(what: &str) -> bool {
    if what.starts_with("opened: P1 ") || what.starts_with("opened by hand: P1 ") {
        return true;
    }
    let Some(rest) = what.strip_prefix("follow-up: ") else {
        return false;
    };
    // The changes come first, then " (what was said)", which may quote anything.
    let changes = rest.split(" (").next().unwrap_or_default();
    changes.split(", ").any(|c| {
        c.split_once(" -> ").is_some_and(|(from, to)| {
            to == "P1" && from.len() == 2 && from.starts_with('P') && from != "P1"
        })
    })
}

/// One line of the stream, or why it ended.
type Line = Result<String, std::io::Error>;

/// The lines of one connection, read by a thread of their own so that silences can be timed.
/// The channel closes at the end of the stream, after an error if there was one.
fn connect(client: &Client, path: &str) -> Result<mpsc::Receiver<Line>, Error> {
    let mut body = client.request("GET", path, None, None)?.body;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut line = String::new();
        match body.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {
                if tx.send(Ok(line)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    });
    Ok(rx)
}

/// The floor of a time to its second, as farod stamps events (RFC 3339, seconds).
fn second_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An event's stamp, in seconds.
fn stamped(v: &Value) -> Option<u64> {
    v.get("at")
        .and_then(Value::as_str)
        .and_then(|at| humantime::parse_rfc3339_weak(at).ok())
        .map(second_of)
}

struct Watcher {
    opts: Options,
    /// The second `watch` started: events stamped before it are old news.
    started: u64,
    /// The last event id printed (or asked to start after).
    last: Option<i64>,
    /// Events stamped before this second are not shown: set when watch started live and
    /// farod went away before any event came, so the trail is read again from its start.
    floor: Option<u64>,
}

/// How to treat the events of a batch for the bell.
#[derive(Clone, Copy, PartialEq)]
enum Ring {
    /// Live or missed meanwhile: news.
    Always,
    /// The backlog replayed at start: only what is stamped since watch started.
    IfRecent,
}

impl Watcher {
    fn path(&self) -> String {
        // Messages heard and sent come live too (they are not in the backlog).
        match self.last {
            Some(n) => format!("/v1/events?messages=true&after={n}"),
            None => "/v1/events?messages=true".to_string(),
        }
    }

    /// Parses a line; `None` for blank lines and events already printed. farod's error
    /// lines end the watch.
    fn parse(&self, line: &str) -> Result<Option<(Value, Option<i64>)>, Failure> {
        let text = line.trim_end();
        if text.is_empty() {
            return Ok(None);
        }
        let v = json(text.as_bytes())?;
        if let Some(reason) = v.get("error").and_then(Value::as_str) {
            return Err(Failure::Http(Error::Refused {
                reason: reason.to_string(),
            }));
        }
        let id = v.get("id").and_then(Value::as_i64);
        if let (Some(id), Some(last)) = (id, self.last) {
            if id <= last {
                return Ok(None);
            }
        }
        if let (Some(_), Some(floor)) = (id, self.floor) {
            if stamped(&v).is_some_and(|at| at < floor) {
                return Ok(None);
            }
        }
        Ok(Some((v, id)))
    }

    /// Prints one parsed line (and rings for it when it is P1 news).
    fn show(&mut self, text: &str, v: &Value, id: Option<i64>, ring: Ring) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        if self.opts.json {
            // Keepalives are transport, not events: scripts see events and lag notices only.
            if v.get("keepalive").is_none() {
                writeln!(out, "{}", text.trim_end())?;
            }
        } else if let Some(l) = render::event_line(v) {
            writeln!(out, "{l}")?;
        }
        out.flush()?;
        drop(out);
        if let Some(id) = id {
            self.last = Some(id);
            if self.opts.bell && self.rings(v, ring) {
                let mut err = std::io::stderr().lock();
                err.write_all(b"\x07")?;
                err.flush()?;
            }
        }
        Ok(())
    }

    fn rings(&self, v: &Value, ring: Ring) -> bool {
        if !v.get("what").and_then(Value::as_str).is_some_and(p1_news) {
            return false;
        }
        // Unreadable stamps ring: a bell too many beats one missing.
        ring == Ring::Always || stamped(v).is_none_or(|at| at >= self.started)
    }

    /// Follows one connection until it ends. At start (`backlog`), the lines read before the
    /// first pause are the replay, rung for only when recent.
    fn follow(&mut self, lines: &mpsc::Receiver<Line>, mut backlog: bool) -> Result<(), Failure> {
        loop {
            let line = if backlog {
                match lines.recv_timeout(QUIET) {
                    Ok(l) => l,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        backlog = false;
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else {
                match lines.recv() {
                    Ok(l) => l,
                    Err(mpsc::RecvError) => return Ok(()),
                }
            };
            let Ok(line) = line else {
                return Ok(());
            };
            let ring = if backlog {
                Ring::IfRecent
            } else {
                Ring::Always
            };
            if let Some((v, id)) = self.parse(&line)? {
                self.show(&line, &v, id, ring)?;
            }
        }
    }

    /// Connects again, pausing longer after each failure; the last failure once
    /// `--give-up-after` has passed.
    fn reconnect(&self, client: &Client) -> Result<mpsc::Receiver<Line>, Failure> {
        let since = Instant::now();
        let mut pause = FIRST_RETRY;
        loop {
            let pause_now = match self.opts.give_up_after {
                Some(limit) => pause.min(limit.saturating_sub(since.elapsed())),
                None => pause,
            };
            std::thread::sleep(pause_now);
            match connect(client, &self.path()) {
                Ok(lines) => return Ok(lines),
                Err(e) => {
                    if self
                        .opts
                        .give_up_after
                        .is_some_and(|limit| since.elapsed() >= limit)
                    {
                        return Err(Failure::Http(e));
                    }
                }
            }
            pause = (pause * 2).min(MAX_RETRY);
        }
    }

    /// After a reconnection: gathers the lines sent back to back (the events missed), says
    /// how many events they hold, then prints them. False when the stream ended meanwhile.
    fn catch_up(&mut self, lines: &mpsc::Receiver<Line>) -> Result<bool, Failure> {
        let deadline = Instant::now() + GATHER;
        let mut missed = Vec::new();
        let mut open = true;
        while Instant::now() < deadline {
            match lines.recv_timeout(QUIET) {
                Ok(Ok(line)) => missed.push(line),
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
        let mut parsed = Vec::new();
        for line in &missed {
            if let Some((v, id)) = self.parse(line)? {
                parsed.push((line, v, id));
            }
        }
        let n = parsed.iter().filter(|(_, _, id)| id.is_some()).count();
        let events = if n == 1 { "event" } else { "events" };
        let tail = if n == 0 { "" } else { " shown below" };
        eprintln!("faroctl: reconnected; {n} {events} missed meanwhile{tail}");
        for (line, v, id) in parsed {
            self.show(line, &v, id, Ring::Always)?;
        }
        Ok(open)
    }
}

/// `faroctl watch`. The first connection must succeed (a wrong socket is an error, exit 69);
/// after that, farod going away is waited out.
pub fn run(mut client: Client, opts: Options) -> Result<(), Failure> {
    client.timeout = STREAM_TIMEOUT;
    let mut w = Watcher {
        last: opts.after,
        opts,
        started: second_of(SystemTime::now()),
        floor: None,
    };
    let lines = connect(&client, &w.path())?;
    w.follow(&lines, w.last.is_some())?;
    loop {
        eprintln!("faroctl: farod went away; reconnecting...");
        // Started live with nothing printed: read the trail again from its start and show
        // what is stamped since the second watch started (farod and faroctl share the clock
        // of the machine the socket is on).
        if w.last.is_none() {
            w.last = Some(0);
            w.floor = Some(w.started);
        }
        let lines = w.reconnect(&client)?;
        if w.catch_up(&lines)? {
            w.follow(&lines, false)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p1_news_is_an_opening_or_a_rise_to_p1() {
        assert!(p1_news(
            "opened: P1 text from !5a5a0301 over 2 hops with no position; kind heat: P1"
        ));
        assert!(p1_news(
            "opened by hand: P1 heat with no position; kind heat: P1"
        ));
        assert!(!p1_news(
            "opened: P2 text from !5a5a0301; kind distress: P2"
        ));
        assert!(!p1_news(
            "opened by hand: P3 info; kind info: P4; 5 people: up to P3"
        ));
        assert!(!p1_news("opened: P10 nonsense"));
        assert!(!p1_news("acknowledged"));
        assert!(!p1_news("note: opened: P1 quoted"));
        assert!(p1_news("follow-up: kind lost -> heat, 3 people, P2 -> P1"));
        assert!(p1_news("follow-up: +children, P3 -> P1 (niños, agua)"));
        assert!(!p1_news("follow-up: 3 people"));
        assert!(!p1_news("follow-up: P3 -> P2"));
        // Words quoted from the air cannot ring.
        assert!(!p1_news("follow-up: 3 people (x, P2 -> P1)"));
    }
}
