//! The `farod` binary: parses the command line and hands over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use farod::config::{self, Config, LogFormat, Overrides, PathEnv, EX_CONFIG};

/// Faro: radio-mesh incident dispatch daemon for rescue stations.
#[derive(Debug, Parser)]
#[command(name = "farod", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    ///
    /// Exit status: 0 after SIGTERM or SIGINT (what the radios delivered is stored); 1 when it
    /// fails (the database, the control socket, or a task that panicked or ended: one line
    /// names it); 75 when another farod holds the data directory; 78 for a bad configuration.
    Run {
        /// Configuration file [default: /etc/faro/faro.toml when it exists].
        #[arg(long, env = "FARO_CONFIG")]
        config: Option<PathBuf>,
        /// Radio URI (serial:PATH, tcp:HOST:PORT, sim:SCENARIO); repeat for several; replaces
        /// the radios of the configuration file.
        #[arg(long = "radio", value_name = "URI")]
        radios: Vec<String>,
        /// State directory (database); overrides FARO_DATA_DIR and the file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Control socket path; overrides FARO_SOCKET and the file.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Station code for incident ids (overrides station.code).
        #[arg(long, value_name = "CODE")]
        station: Option<String>,
    },
    /// Connect to one radio, print what it is, then the packets it hears.
    Probe {
        /// Radio URI (serial:PATH, tcp:HOST:PORT, sim:SCENARIO).
        radio: String,
        /// Seconds to print received packets after the handshake.
        #[arg(long, default_value_t = 0, value_name = "SECS")]
        listen: u64,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the radio's configuration (per attempt, two attempts).
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        timeout: u64,
    },
    /// Run against the built-in simulated mesh (Sásabe, Sonora) and show what it hears, live.
    Demo {
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 10.0)]
        speed: f64,
        /// Stop after this many real seconds (default: when the scenario is over).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Control socket to serve for faroctl [default: faro.sock in the demo's temporary
        /// directory; the path is printed].
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Validate the configuration and exit (78 when it is bad, with one line naming the field).
    CheckConfig {
        /// Configuration file [default: /etc/faro/faro.toml when it exists].
        #[arg(long, env = "FARO_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the default configuration, every setting commented, and exit.
    PrintDefaultConfig,
}

fn init_logging(default_level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("FARO_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_logs());
    // journald stamps each line itself (and shows no colours: stderr is not a terminal).
    match (format, farod::systemd::stderr_is_journal()) {
        (LogFormat::Text, true) => builder.without_time().init(),
        (LogFormat::Text, false) => builder.init(),
        (LogFormat::Json, true) => builder.json().without_time().init(),
        (LogFormat::Json, false) => builder.json().init(),
    }
}

/// Colours only for a person at a terminal: never in a file, a pipe or the journal, and never
/// when `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colour_logs() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Reads and validates the configuration as `run` and `check-config` do.
fn load_config(given: Option<&Path>, ov: Overrides) -> Result<Config, config::ConfigError> {
    let mut c = Config::load(config::file_to_read(given).as_deref(), &ov)?;
    // Personal records' key comes from systemd's credentials, never from the file: a key that
    // is there but unreadable or malformed is a configuration error like any other.
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    c.personal_key = farod::casework::seal::Key::from_credentials(creds.as_deref())
        .map_err(config::ConfigError)?;
    Ok(c)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    // Before anything is created: whatever umask farod was started with, nothing it makes is
    // born readable by others (farod::access widens what must be: directories, the socket).
    farod::access::set_umask();
    let cli = Cli::parse();
    if let Command::PrintDefaultConfig = cli.command {
        print!("{}", config::DEFAULT_CONFIG);
        return ExitCode::SUCCESS;
    }
    let log_format = match LogFormat::from_env() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("farod: bad configuration: {e}");
            return ExitCode::from(EX_CONFIG as u8);
        }
    };
    // The daemon logs its life; the interactive commands print their own output on stdout and
    // only warnings on stderr (FARO_LOG overrides both).
    init_logging(
        match cli.command {
            Command::Run { .. } => "info",
            // The demo prints what an operator sees; log records would only interleave with it.
            Command::Demo { .. } => "error",
            // A failed probe is one line on stderr, not a log record and then the line.
            Command::Probe { .. } | Command::CheckConfig { .. } | Command::PrintDefaultConfig => {
                "error"
            }
        },
        log_format,
    );
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("farod: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::PrintDefaultConfig => ExitCode::SUCCESS,
        Command::Run {
            config,
            radios,
            data_dir,
            socket,
            station,
        } => {
            // Caught from now on: a stop while the configuration loads is a clean stop.
            let shutdown = {
                let _guard = rt.enter();
                farod::app::Shutdown::install()
            };
            let ov = Overrides {
                radios,
                data_dir,
                socket,
                station,
                env: PathEnv::from_process(),
            };
            let cfg = match load_config(config.as_deref(), ov) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("farod: bad configuration: {e}");
                    return ExitCode::from(EX_CONFIG as u8);
                }
            };
            match rt.block_on(farod::app::run(cfg, shutdown)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.is::<farod::app::AlreadyRunning>() => {
                    eprintln!("farod: {e}");
                    ExitCode::from(farod::app::EX_LOCKED)
                }
                Err(e) => {
                    eprintln!("farod: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { config } => {
            let ov = Overrides {
                env: PathEnv::from_process(),
                ..Overrides::default()
            };
            match load_config(config.as_deref(), ov) {
                Ok(c) => {
                    println!(
                        "configuration ok: station {} with {} radio(s)",
                        c.station_code,
                        c.radios.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("farod: bad configuration: {e}");
                    ExitCode::from(EX_CONFIG as u8)
                }
            }
        }
        Command::Probe {
            radio,
            listen,
            json,
            timeout,
        } => {
            let uri = match radio.parse() {
                Ok(u) => u,
                Err(e) => {
                    eprintln!("farod probe: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = farod::probe::ProbeOptions {
                uri,
                listen: Duration::from_secs(listen),
                json,
                handshake_timeout: Duration::from_secs(timeout.max(1)),
            };
            let mut out = std::io::stdout();
            match rt.block_on(farod::probe::probe(&opts, &mut out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("farod probe: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo {
            speed,
            duration,
            socket,
        } => {
            if !(speed.is_finite() && speed > 0.0 && speed <= 1000.0) {
                eprintln!("farod demo: --speed must be a number in (0, 1000]");
                return ExitCode::from(2);
            }
            let opts = farod::app::DemoOptions {
                speed,
                duration: duration.map(Duration::from_secs),
                socket,
            };
            demo(&rt, opts)
        }
    }
}

#[cfg(feature = "sim")]
fn demo(rt: &tokio::runtime::Runtime, opts: farod::app::DemoOptions) -> ExitCode {
    let mut out = std::io::stdout();
    match rt.block_on(farod::app::demo(opts, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("farod demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "sim"))]
fn demo(_rt: &tokio::runtime::Runtime, _opts: farod::app::DemoOptions) -> ExitCode {
    eprintln!("farod demo: needs the simulator: this farod was built without the sim feature");
    ExitCode::FAILURE
}
