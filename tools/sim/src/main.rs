//! `faro-sim`: serve a simulated station device, or print and check a scenario.
//!
//! ```text
//! faro-sim device [--scenario FILE] [--node ID] (--tcp HOST:PORT | --pty [--link PATH])
//!                 [--speed X] [--seed N] [--fault KIND]... [--no-timeline]
//! faro-sim scenario [--scenario FILE]
//! ```
//!
//! `device` prints exactly one line on stdout first: the listening address (`127.0.0.1:40123`)
//! or the PTY path (the `--link` path when given); then it runs until SIGTERM or SIGINT and
//! exits 0. Logs go to stderr. A bad scenario exits 78 with one line; bad arguments exit 2
//! with one line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use faro_proto::mesh::NodeId;
use faro_sim::{Action, Faults, Role, Scenario, Sim, SimOptions};

/// Exit status for a bad scenario (`EX_CONFIG`).
const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "faro-sim",
    version,
    about = "A simulated Meshtastic mesh and station devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one station node of a scenario as a device (TCP API or a pseudo-terminal).
    Device(DeviceArgs),
    /// Print (and validate) a scenario.
    Scenario(ScenarioArgs),
}

#[derive(Debug, Args)]
struct ScenarioArgs {
    /// Scenario file (TOML); default: the built-in scenario.
    #[arg(long, value_name = "FILE", env = "FARO_SIM_SCENARIO")]
    scenario: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DeviceArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Station node to serve: `!xxxxxxxx` or its short name; default: the first station.
    #[arg(long, value_name = "ID")]
    node: Option<String>,
    /// Serve the TCP API here (port 0 = any free port).
    #[arg(
        long,
        value_name = "HOST:PORT",
        conflicts_with = "pty",
        required_unless_present = "pty"
    )]
    tcp: Option<SocketAddr>,
    /// Serve on a pseudo-terminal.
    #[arg(long)]
    pty: bool,
    /// With --pty: keep a symlink to the PTY here (re-pointed after an unplug).
    #[arg(long, value_name = "PATH", requires = "pty")]
    link: Option<PathBuf>,
    /// Time scale of the mesh and timeline (10 = ten times faster).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
    /// Override the scenario's random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Inject a fault: log-text, stray-headers, one-byte, corrupt, all (repeatable).
    #[arg(long = "fault", value_name = "KIND")]
    faults: Vec<String>,
    /// Do not run the scenario's timeline.
    #[arg(long)]
    no_timeline: bool,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("speed must be a number in (0, 1000], got {s:?}")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: the message and whatever it lists, without the usage block.
            let text = e.to_string();
            let line = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("faro-sim: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let scenario_arg = match &cli.command {
        Command::Device(d) => &d.scenario,
        Command::Scenario(s) => s,
    };
    let scenario = match load(scenario_arg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faro-sim: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let result = match cli.command {
        Command::Scenario(_) => print_scenario(&scenario),
        Command::Device(args) => run_device(scenario, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faro-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &ScenarioArgs) -> Result<Scenario, faro_sim::ScenarioError> {
    match &args.scenario {
        Some(path) => Scenario::load(path),
        None => Scenario::builtin("default"),
    }
}

fn print_scenario(sc: &Scenario) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scenario {:?}: {} nodes, {} events, preset {}, hop limit {}, range {} km, loss {}, seed {}",
        sc.name,
        sc.nodes.len(),
        sc.timeline.len(),
        sc.radio.preset.name(),
        sc.radio.hop_limit,
        sc.radio.range_km,
        sc.radio.loss,
        sc.radio.seed
    )?;
    writeln!(out, "\nnodes:")?;
    for n in &sc.nodes {
        writeln!(
            out,
            "  {}  {:<5} {:<12} {:>9.5},{:<10.5} {:>5.1} km  {}",
            NodeId(n.id),
            n.short_name,
            format!("{:?}", n.role).to_lowercase(),
            n.lat,
            n.lon,
            n.range_km,
            n.long_name
        )?;
        for r in &n.replies {
            writeln!(
                out,
                "      reply to DMs containing {:?}: {}",
                r.contains,
                r.text.as_ref().map_or("never".to_string(), |t| format!(
                    "{t:?} after {:?}",
                    r.after
                ))
            )?;
        }
    }
    writeln!(out, "\ntimeline:")?;
    let name = |id: u32| {
        sc.node(id)
            .map_or_else(|| NodeId(id).to_string(), |n| n.short_name.clone())
    };
    for t in &sc.timeline {
        writeln!(
            out,
            "  {:>7.1} s  {:<5} {}",
            t.at.as_secs_f64(),
            name(t.action.node()),
            describe(&t.action, &name)
        )?;
    }
    Ok(())
}

fn describe(a: &Action, name: &dyn Fn(u32) -> String) -> String {
    let dest = |to: u32| {
        if to == faro_proto::mesh::BROADCAST {
            "all".to_string()
        } else {
            name(to)
        }
    };
    match a {
        Action::Text {
            to, text, want_ack, ..
        } => format!(
            "text -> {}{}: {:?}",
            dest(*to),
            if *want_ack { " (want_ack)" } else { "" },
            text
        ),
        Action::Alert { to, text, .. } => format!("alert -> {}: {text:?}", dest(*to)),
        Action::Detection { name: n, bell, .. } => {
            format!("detection {n:?}{}", if *bell { " + bell" } else { "" })
        }
        Action::Position { lat, lon, .. } => format!("position {lat:.5},{lon:.5}"),
        Action::Track {
            every,
            speed_kmh,
            points,
            ..
        } => format!(
            "track of {} points at {speed_kmh} km/h, position every {:?}",
            points.len(),
            every
        ),
        Action::Waypoint { to, name: n, .. } => format!("waypoint -> {}: {n:?}", dest(*to)),
        Action::NodeInfo { .. } => "node info broadcast".into(),
        Action::Telemetry { level, every, .. } => match every {
            Some(e) => format!("battery {level}% broadcast, every {e:?}"),
            None => format!("battery {level}% broadcast"),
        },
        Action::Silent { for_secs, .. } => match for_secs {
            Some(s) => format!("silent for {s} s"),
            None => "silent".into(),
        },
        Action::Reboot { .. } => "reboot".into(),
        Action::Unplug { for_secs, .. } => format!("unplugged for {for_secs} s"),
        Action::Mute { .. } => "mute (hung radio)".into(),
        Action::Forge {
            claimed_from,
            to,
            text,
            mode,
            ..
        } => format!(
            "forged {mode:?} as {} -> {}: {text:?}",
            name(*claimed_from),
            dest(*to)
        ),
        Action::ForgeNodeInfo { claimed_from, .. } => {
            format!("forged node info as {}", name(*claimed_from))
        }
    }
}

fn run_device(scenario: Scenario, args: DeviceArgs) -> anyhow::Result<()> {
    let station = match &args.node {
        None => *scenario
            .stations()
            .first()
            .context("the scenario has no station")?,
        Some(r) => {
            let Some(n) = scenario.node_by_name(r) else {
                bail!("no node {r:?} in scenario {:?}", scenario.name);
            };
            if n.role != Role::Station {
                bail!("node {r:?} is a {:?}, not a station", n.role);
            }
            n.id
        }
    };
    let mut faults = Faults::default();
    for f in &args.faults {
        faults.add(f)?;
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async move {
        let sim = Sim::start(
            scenario,
            SimOptions {
                speed: args.speed,
                seed: args.seed,
                run_timeline: !args.no_timeline,
            },
        );
        let shown = match args.tcp {
            Some(addr) => sim
                .serve_tcp(station, addr, faults)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?
                .to_string(),
            None => sim
                .serve_pty(station, args.link.clone(), faults)
                .context("cannot open a pseudo-terminal")?
                .display()
                .to_string(),
        };
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{shown}")?;
            out.flush()?;
        }
        tracing::info!(station = %NodeId(station), %shown, ?faults, "serving");
        wait_for_signal().await?;
        tracing::info!("stopping");
        if let Some(link) = &args.link {
            faro_sim::frontend::remove_link(link);
        }
        Ok(())
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
