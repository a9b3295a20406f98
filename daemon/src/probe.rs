//! `farod probe RADIO`: an operator's diagnostic, like `meshtastic --info`. Connects once,
//! completes the handshake, prints the radio (node, names, firmware, hardware, region and
//! preset, channels, known nodes), then every packet heard for a while. Fails with one line
//! when the port is missing or busy, the peer refuses, or the handshake times out.

use std::io::Write;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::describe;
use crate::radio::{self, LinkConfig, RadioEventKind, RadioUri, Transport};

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The radio.
    pub uri: RadioUri,
    /// How long to print packets after the handshake.
    pub listen: Duration,
    /// One JSON object a line instead of text.
    pub json: bool,
    /// Handshake timeout per attempt (two attempts).
    pub handshake_timeout: Duration,
}

/// Why the probe failed: the one line printed before exiting non-zero.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

/// Runs the probe, writing to `out`.
pub async fn probe(opts: &ProbeOptions, out: &mut (dyn Write + Send)) -> Result<(), ProbeError> {
    let transport = Transport::from_uri(&opts.uri).map_err(|e| ProbeError(e.to_string()))?;
    let mut cfg = LinkConfig::new("probe");
    cfg.max_attempts = Some(1);
    cfg.session.handshake_timeout = opts.handshake_timeout;
    cfg.session.handshake_attempts = 2;
    let (tx, mut rx) = mpsc::channel(256);
    let link = radio::spawn(transport, cfg, tx);
    let uri = opts.uri.to_string();
    let io = |e: std::io::Error| ProbeError(format!("cannot write output: {e}"));

    let info = loop {
        match rx.recv().await.map(|e| e.kind) {
            Some(RadioEventKind::Up(info)) => break info,
            Some(RadioEventKind::GaveUp { reason } | RadioEventKind::Down { reason }) => {
                return Err(ProbeError(reason))
            }
            Some(_) => {}
            None => return Err(ProbeError(format!("{uri}: link stopped"))),
        }
    };
    if opts.json {
        writeln!(out, "{}", describe::radio_json(&uri, &info)).map_err(io)?;
    } else {
        for line in describe::radio_lines(&uri, &info) {
            writeln!(out, "{line}").map_err(io)?;
        }
        if !opts.listen.is_zero() {
            writeln!(out, "listening {} s ...", opts.listen.as_secs()).map_err(io)?;
        }
    }
    out.flush().map_err(io)?;

    let mut names = std::collections::HashMap::new();
    let until = tokio::time::Instant::now() + opts.listen;
    let mut heard = 0u64;
    loop {
        let ev = tokio::select! {
            _ = tokio::time::sleep_until(until) => break,
            ev = rx.recv() => ev,
        };
        match ev.map(|e| e.kind) {
            Some(RadioEventKind::Packet(p)) => {
                heard += 1;
                if opts.json {
                    writeln!(out, "{}", describe::packet_json(&p)).map_err(io)?;
                } else {
                    if let describe::Content::User { long_name, .. } = describe::content(&p) {
                        names.insert(p.from, long_name);
                    }
                    writeln!(
                        out,
                        "{}",
                        describe::packet_line(&p, |n| names.get(&n).cloned())
                    )
                    .map_err(io)?;
                }
                out.flush().map_err(io)?;
            }
            Some(RadioEventKind::Node(n)) => {
                if let Some(u) = n.user {
                    names.insert(n.num, u.long_name);
                }
            }
            Some(RadioEventKind::GaveUp { reason } | RadioEventKind::Down { reason }) => {
                return Err(ProbeError(format!(
                    "radio lost after {heard} packets: {reason}"
                )))
            }
            Some(_) => {}
            None => break,
        }
    }
    if !opts.json && !opts.listen.is_zero() {
        writeln!(out, "heard {heard} packets").map_err(io)?;
    }
    // Dropping the handle makes the link say goodbye (ToRadio.disconnect) and stop.
    let mut status = link.watch_status();
    drop(link);
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        status.wait_for(|s| s.state == radio::LinkState::Stopped),
    )
    .await;
    Ok(())
}
