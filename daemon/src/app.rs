//! The supervisor: starts one link per radio, consumes their events, and stops cleanly on
//! SIGTERM or SIGINT. Also the demo, which runs the same links against the built-in simulated
//! mesh and prints what it hears as it happens.
//!
//! What the daemon does with what it hears (incidents, replies, tracking) arrives with the
//! incident queue; for now every packet is counted and logged without its content (text may
//! carry personal data, which never goes into logs).

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use faro_proto::mesh::{self, NodeId};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::describe;
use crate::radio::{
    self, LinkConfig, LinkHandle, LinkState, RadioEvent, RadioEventKind, Transport,
};

/// Events from all radios waiting for the supervisor.
pub const EVENT_QUEUE: usize = 1024;
/// How long stopping may take before the process exits anyway.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Stops the links (each says goodbye to its radio) and waits for them, up to [`STOP_DEADLINE`].
pub async fn stop_links(links: Vec<LinkHandle>) {
    let mut watches: Vec<_> = links.iter().map(LinkHandle::watch_status).collect();
    drop(links);
    let all = async {
        for w in &mut watches {
            let _ = w.wait_for(|s| s.state == LinkState::Stopped).await;
        }
    };
    if tokio::time::timeout(STOP_DEADLINE, all).await.is_err() {
        tracing::warn!(
            "radio links did not stop within {} s",
            STOP_DEADLINE.as_secs()
        );
    }
}

/// `farod run`: the daemon.
pub async fn run(config: Config) -> anyhow::Result<()> {
    if config.radios.is_empty() {
        tracing::warn!("no radio configured: nothing to listen to (add [[radio]] or --radio)");
    }
    tracing::info!(
        station = %config.station_code,
        radios = config.radios.len(),
        data_dir = %config.data_dir.display(),
        "farod starting"
    );
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let mut links = Vec::new();
    for r in &config.radios {
        let transport = Transport::from_uri(&r.uri)
            .map_err(|e| anyhow::anyhow!("radio {}: {e}", r.link.name))?;
        links.push(radio::spawn(transport, r.link.clone(), tx.clone()));
    }
    drop(tx);
    let mut heard: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown_signal() => break,
            ev = rx.recv() => match ev {
                Some(ev) => { heard += 1; log_event(&ev); }
                None => break,
            },
        }
    }
    tracing::info!(events = heard, "farod stopping");
    stop_links(links).await;
    Ok(())
}

fn log_event(ev: &RadioEvent) {
    match &ev.kind {
        RadioEventKind::Packet(p) => tracing::debug!(
            radio = %ev.radio,
            from = %NodeId(p.from),
            to = %NodeId(p.to),
            port = %mesh::data(p).map_or_else(|| "ENCRYPTED".into(), |d| mesh::port_name(d.portnum)),
            bytes = mesh::data(p).map_or(0, |d| d.payload.len()),
            hops = ?mesh::hops_travelled(p),
            "heard"
        ),
        RadioEventKind::Delivery { id, to, outcome } => {
            tracing::info!(radio = %ev.radio, id = format!("{id:#010x}"), to = %NodeId(*to), %outcome, "delivery")
        }
        RadioEventKind::GaveUp { reason } => {
            tracing::error!(radio = %ev.radio, %reason, "radio link gave up")
        }
        // Up, Down and Rebooted are logged by the link itself.
        _ => {}
    }
}

/// Options of `farod demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Stop after this much real time (default: when the scenario's timeline is over).
    pub duration: Option<Duration>,
}

/// `farod demo`: the daemon's radio side against the built-in simulated mesh, printing live.
pub async fn demo(opts: DemoOptions, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let scenario = faro_sim::Scenario::builtin("default")?;
    let names: HashMap<u32, String> = scenario
        .nodes
        .iter()
        .map(|n| (n.id, n.long_name.clone()))
        .collect();
    let station = scenario
        .stations()
        .first()
        .and_then(|s| scenario.node(*s))
        .map(|n| n.long_name.clone());
    // Play the whole timeline, and a little more for the last packets to cross the mesh.
    let sim_secs = scenario.timeline.last().map_or(0.0, |t| t.at.as_secs_f64()) + 30.0;
    let duration = opts
        .duration
        .unwrap_or_else(|| Duration::from_secs_f64(sim_secs / opts.speed));
    writeln!(
        out,
        "Faro demo: {} simulated nodes around {}, at {}x speed, for {} s (Ctrl-C stops)",
        names.len(),
        station.unwrap_or_else(|| scenario.name.clone()),
        opts.speed,
        duration.as_secs()
    )?;
    let sim = faro_sim::Sim::start(
        scenario,
        faro_sim::SimOptions {
            speed: opts.speed,
            ..Default::default()
        },
    );
    let transport = Transport::sim(sim, None)?;
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let link = radio::spawn(transport, LinkConfig::new("demo"), tx);
    let start = tokio::time::Instant::now();
    let until = start + duration;
    let mut packets = 0u64;
    let mut by_port: HashMap<String, u64> = HashMap::new();
    loop {
        let ev = tokio::select! {
            _ = tokio::time::sleep_until(until) => break,
            _ = shutdown_signal() => break,
            ev = rx.recv() => match ev { Some(ev) => ev, None => break },
        };
        let t = start.elapsed().as_secs_f64() * opts.speed;
        let stamp = format!("[sim {:02}:{:02}]", (t / 60.0) as u64, (t % 60.0) as u64);
        match ev.kind {
            RadioEventKind::Up(info) => {
                writeln!(out, "{stamp} radio up")?;
                for line in describe::radio_lines("sim:default", &info) {
                    writeln!(out, "    {line}")?;
                }
            }
            RadioEventKind::Packet(p) => {
                packets += 1;
                *by_port
                    .entry(
                        mesh::data(&p)
                            .map_or_else(|| "ENCRYPTED".into(), |d| mesh::port_name(d.portnum)),
                    )
                    .or_default() += 1;
                writeln!(
                    out,
                    "{stamp} {}",
                    describe::packet_line(&p, |n| names.get(&n).cloned())
                )?;
            }
            RadioEventKind::Down { reason } => writeln!(out, "{stamp} radio down: {reason}")?,
            RadioEventKind::Rebooted => writeln!(out, "{stamp} radio rebooted; handshaking again")?,
            RadioEventKind::Delivery { id, to, outcome } => writeln!(
                out,
                "{stamp} delivery of {id:#010x} to {}: {outcome}",
                NodeId(to)
            )?,
            RadioEventKind::GaveUp { reason } => anyhow::bail!("radio gave up: {reason}"),
            RadioEventKind::Node(_) => {}
        }
        out.flush()?;
    }
    let st = link.status();
    let mut ports: Vec<_> = by_port.into_iter().collect();
    ports.sort();
    writeln!(
        out,
        "heard {packets} packets: {}",
        ports
            .iter()
            .map(|(p, n)| format!("{p} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "link: {} connection(s), {} frames, {} log bytes, {} malformed, {} false headers skipped",
        st.connects, st.frames, st.log_bytes, st.malformed, st.oversize_headers
    )?;
    stop_links(vec![link]).await;
    Ok(())
}
