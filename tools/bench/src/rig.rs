//! A simulated station radio on a real PTY for the benchmarks: faro-sim's burst device
//! (`faro_sim::burst`) on a runtime thread of its own, its reports on a plain channel.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faro_sim::burst::{self, BurstEvent, BurstSpec};
use faro_sim::Scenario;

use crate::common::{nodes, station_config, Farod, Opts};

/// What the radio reports, with plain `std` instants.
#[derive(Debug, Clone)]
pub enum Report {
    /// The client finished its handshake; the stream starts now.
    Live(Instant),
    /// A timed frame (by index) was written.
    Written(usize, Instant),
    /// The whole stream was written.
    Finished,
    /// The client sent a text packet to `to`.
    ClientText {
        /// Destination node.
        to: u32,
        /// When its frame arrived.
        at: Instant,
    },
    /// The device failed.
    Failed(String),
}

/// One simulated radio on a PTY; stops when dropped.
#[derive(Debug)]
pub struct Radio {
    /// The PTY's slave, for the client (`/dev/pts/N`).
    pub path: PathBuf,
    /// Its reports.
    pub reports: mpsc::Receiver<Report>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Radio {
    /// Starts the built-in scenario's station radio (node `node`, or the Sásabe station) on a
    /// new PTY; it writes `spec` once its client is live.
    pub fn start(spec: BurstSpec, node: Option<u32>) -> Result<Radio> {
        let scenario = Scenario::builtin("default").context("the built-in scenario")?;
        let mut me = scenario
            .node(nodes::SAS)
            .cloned()
            .context("the station in the built-in scenario")?;
        if let Some(id) = node {
            me.id = id;
        }
        let others: Vec<_> = scenario
            .nodes
            .iter()
            .filter(|n| n.id != me.id)
            .cloned()
            .collect();
        let dev = burst::device(me, &others, scenario.radio.clone(), 7);
        let (path_tx, path_rx) = mpsc::channel::<std::io::Result<PathBuf>>();
        let (tx, reports) = mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-radio".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = path_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let pty = match burst::open_pty() {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = path_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = path_tx.send(Ok(pty.path.clone()));
                    // Unbounded on purpose, and bounded in practice: the device reports one
                    // event per timed frame, per packet its client sends and three more, and
                    // must never wait on (or drop) a measurement; the loop below drains it.
                    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel(); // bounded-ok
                    let device = tokio::spawn(burst::serve_pty(pty, dev, spec, etx));
                    loop {
                        let ev = tokio::select! {
                            ev = erx.recv() => match ev {
                                Some(ev) => ev,
                                None => break,
                            },
                            _ = &mut stopped => break,
                        };
                        let r = match ev {
                            BurstEvent::Live { at } => Report::Live(at.into_std()),
                            BurstEvent::Written { index, at } => {
                                Report::Written(index, at.into_std())
                            }
                            BurstEvent::Finished { .. } => Report::Finished,
                            BurstEvent::ClientPacket { at, packet } => {
                                let text = faro_proto::mesh::data(&packet).is_some_and(|d| {
                                    d.portnum == faro_proto::mesh::PortNum::TextMessageApp as i32
                                });
                                if !text {
                                    continue;
                                }
                                Report::ClientText {
                                    to: packet.to,
                                    at: at.into_std(),
                                }
                            }
                            BurstEvent::Failed { error } => Report::Failed(error),
                        };
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                    drop(erx);
                    let _ = device.await;
                });
            })
            .context("starting the radio thread")?;
        let path = path_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the radio thread did not open a PTY")?
            .context("opening a PTY")?;
        Ok(Radio {
            path,
            reports,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `serial:/dev/pts/N`, for farod's configuration.
    pub fn uri(&self) -> String {
        format!("serial:{}", self.path.display())
    }

    /// Starts `farod run` in `dir` with this radio as its only one ("main") and waits for it
    /// to finish its handshake; the farod and when its stream started.
    pub fn serve_farod(&self, opts: &Opts, dir: &Path) -> Result<(Farod, Instant)> {
        let config = station_config(&[("main", self.uri())]);
        let farod = Farod::start(opts, dir, &config, Duration::from_secs(30))?;
        let live = self.wait_live(Duration::from_secs(60))?;
        Ok((farod, live))
    }

    /// Fails when the device reported a failure (other reports are drained and dropped).
    pub fn check(&self) -> Result<()> {
        while let Ok(r) = self.reports.try_recv() {
            if let Report::Failed(e) = r {
                bail!("the simulated radio on {}: {e}", self.path.display());
            }
        }
        Ok(())
    }

    /// Waits (bounded) for the client to go live; when it did.
    pub fn wait_live(&self, within: Duration) -> Result<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok(Report::Live(at)) => return Ok(at),
                Ok(Report::Failed(e)) => bail!("the simulated radio failed: {e}"),
                Ok(_) => continue,
                Err(_) => bail!("no client finished its handshake within {within:?}"),
            }
        }
    }
}

impl Drop for Radio {
    fn drop(&mut self) {
        // Stopping the forwarder closes the device's channel; the device then stops and the
        // runtime thread returns.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
