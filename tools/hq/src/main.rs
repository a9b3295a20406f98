//! faro-hq: headquarters. `faro-hq run` applies every station's changes from the broker to
//! its database; `faro-hq queue` and `faro-hq gaps` read it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "faro-hq",
    version,
    about = "Faro headquarters: every station's queue"
)]
struct Cli {
    /// Headquarters' database.
    #[arg(long, env = "FARO_HQ_DB", default_value = "/var/lib/faro-hq/hq.db")]
    db: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Subscribe to every station on the broker and apply what they publish.
    Run {
        /// The broker: mqtt://HOST[:PORT].
        #[arg(long, env = "FARO_HQ_BROKER")]
        broker: String,
        /// The MQTT client id (persistent session: keep it the same across restarts).
        #[arg(long, default_value = "faro-hq")]
        client_id: String,
    },
    /// The open incidents of every station, most urgent first.
    Queue,
    /// Each station's last sequence number and the ones missing.
    Gaps,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("FARO_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let hq = match faro_hq::Hq::open(&cli.db) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("faro-hq: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.cmd {
        Cmd::Run { broker, client_id } => run(&broker, &client_id, hq),
        Cmd::Queue => hq.open_incidents().map(|open| {
            for n in open {
                let i = &n.incident;
                println!(
                    "{:<4} {:<10} P{} {:<12} {:<9} {}",
                    n.station,
                    i.id,
                    i.priority,
                    i.state,
                    i.kind,
                    i.team.as_deref().unwrap_or("-")
                );
            }
        }),
        Cmd::Gaps => hq.stations().and_then(|stations| {
            for (station, last) in stations {
                let gaps = hq.gaps(&station)?;
                let missing: i64 = gaps.iter().map(|(a, b)| b - a + 1).sum();
                println!("{station:<4} last seq {last}, missing {missing} {gaps:?}");
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faro-hq: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(broker: &str, client_id: &str, hq: faro_hq::Hq) -> Result<(), String> {
    if let Err(e) = farod::uplink::UplinkConfig::from_url(broker) {
        eprintln!("faro-hq: {}", e.replacen("uplink.mqtt", "--broker", 1));
        std::process::exit(78);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = tx.send(true);
        });
        faro_hq::run(broker.to_string(), client_id.to_string(), hq, rx).await
    })
}
