//! Radio transports: how a link reaches its device. Every transport yields one byte stream
//! (`AsyncRead + AsyncWrite`); the link does not care which.
//!
//! - `serial:PATH`: a USB serial radio, 115200 8N1, raw mode, exclusive, DTR/RTS set
//!   explicitly. Use `/dev/serial/by-id/...` paths: numbered ttys move when radios re-enumerate.
//! - `tcp:HOST:PORT`: the network API of a Wi-Fi/Ethernet node or meshtasticd (port 4403),
//!   with TCP keepalive so a dead peer is noticed.
//! - `sim:SCENARIO`: an in-process simulated station radio (`faro-sim`), `sim:default` for the
//!   built-in Sásabe scenario or `sim:PATH.toml`. Only with the `sim` cargo feature (on by
//!   default); a station build without it refuses `sim:` URIs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A radio address as written in the configuration and on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioUri {
    /// A serial device path.
    Serial(PathBuf),
    /// `host:port` of a network API.
    Tcp(String),
    /// A simulated scenario: a built-in name or a TOML file.
    Sim(String),
}

impl fmt::Display for RadioUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RadioUri::Serial(p) => write!(f, "serial:{}", p.display()),
            RadioUri::Tcp(a) => write!(f, "tcp:{a}"),
            RadioUri::Sim(s) => write!(f, "sim:{s}"),
        }
    }
}

impl FromStr for RadioUri {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once(':').ok_or_else(|| {
            format!("radio {s:?}: expected serial:PATH, tcp:HOST:PORT or sim:SCENARIO")
        })?;
        match scheme {
            "serial" if rest.starts_with('/') => Ok(RadioUri::Serial(PathBuf::from(rest))),
            "serial" => Err(format!(
                "radio {s:?}: the serial path must be absolute (/dev/serial/by-id/...)"
            )),
            "tcp" => {
                let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
                    format!("radio {s:?}: expected tcp:HOST:PORT (the API port is 4403)")
                })?;
                if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                    return Err(format!(
                        "radio {s:?}: expected tcp:HOST:PORT with a port 1..65535"
                    ));
                }
                Ok(RadioUri::Tcp(rest.to_string()))
            }
            "sim" if !cfg!(feature = "sim") => Err(format!(
                "radio {s:?}: this farod was built without the simulator (the sim feature); use serial: or tcp:"
            )),
            "sim" if !rest.is_empty() => Ok(RadioUri::Sim(rest.to_string())),
            "sim" => Err(format!(
                "radio {s:?}: expected sim:SCENARIO (sim:default is built in)"
            )),
            _ => Err(format!(
                "radio {s:?}: unknown transport {scheme:?}; use serial:, tcp: or sim:"
            )),
        }
    }
}

/// A connected byte stream to a device.
pub trait RadioIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> RadioIo for T {}

/// A boxed [`RadioIo`].
pub type BoxIo = Box<dyn RadioIo>;

/// A transport ready to open (and reopen) its device.
#[derive(Debug, Clone)]
pub enum Transport {
    /// A serial device.
    Serial(PathBuf),
    /// A TCP network API.
    Tcp(String),
    /// A station radio of a running simulation.
    #[cfg(feature = "sim")]
    Sim {
        /// The simulation (kept across reconnects: the mesh goes on while the port is closed).
        sim: faro_sim::Sim,
        /// Station node to connect to.
        station: u32,
        /// Faults the simulated device injects into the stream (tests).
        faults: faro_sim::Faults,
    },
}

/// Why a device could not be opened: one line an operator can act on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

/// How long connecting a TCP radio may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Transport {
    /// Prepares a transport; `sim:` starts the simulation (on the current runtime).
    pub fn from_uri(uri: &RadioUri) -> Result<Transport, OpenError> {
        match uri {
            RadioUri::Serial(p) => Ok(Transport::Serial(p.clone())),
            RadioUri::Tcp(a) => Ok(Transport::Tcp(a.clone())),
            #[cfg(not(feature = "sim"))]
            RadioUri::Sim(name) => Err(OpenError(format!(
                "sim:{name}: this farod was built without the simulator (the sim feature)"
            ))),
            #[cfg(feature = "sim")]
            RadioUri::Sim(name) => {
                let scenario = if name.ends_with(".toml") || name.contains('/') {
                    faro_sim::Scenario::load(std::path::Path::new(name))
                } else {
                    faro_sim::Scenario::builtin(name)
                }
                .map_err(|e| OpenError(format!("sim:{name}: {e}")))?;
                Ok(Self::sim(
                    faro_sim::Sim::start(scenario, faro_sim::SimOptions::default()),
                    None,
                )?)
            }
        }
    }

    #[cfg(feature = "sim")]
    /// A transport to a station of an already running simulation (the first when `None`).
    pub fn sim(sim: faro_sim::Sim, station: Option<u32>) -> Result<Transport, OpenError> {
        let station = match station {
            Some(s) => s,
            None => *sim
                .scenario()
                .stations()
                .first()
                .ok_or_else(|| OpenError("the scenario has no station node".into()))?,
        };
        Ok(Transport::Sim {
            sim,
            station,
            faults: faro_sim::Faults::default(),
        })
    }

    #[cfg(feature = "sim")]
    /// The same simulated transport with stream faults injected (garbage, 1-byte writes...).
    pub fn with_faults(self, faults: faro_sim::Faults) -> Transport {
        match self {
            Transport::Sim { sim, station, .. } => Transport::Sim {
                sim,
                station,
                faults,
            },
            other => other,
        }
    }

    /// Opens the device.
    pub async fn open(&self) -> Result<BoxIo, OpenError> {
        match self {
            Transport::Serial(path) => open_serial(path),
            Transport::Tcp(addr) => open_tcp(addr).await,
            #[cfg(feature = "sim")]
            Transport::Sim {
                sim,
                station,
                faults,
            } => sim
                .connect(*station, *faults)
                .map(|s| Box::new(s) as BoxIo)
                .map_err(|e| {
                    OpenError(format!(
                        "simulated radio {}: {e}",
                        faro_proto::mesh::NodeId(*station)
                    ))
                }),
        }
    }
}

fn open_serial(path: &std::path::Path) -> Result<BoxIo, OpenError> {
    use tokio_serial::SerialPort;
    let shown = path.display();
    if !path.exists() {
        return Err(OpenError(format!(
            "serial port {shown} does not exist (radio unplugged?)"
        )));
    }
    let builder = tokio_serial::new(path.to_string_lossy(), 115_200)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None);
    // Not the meshtastic crate's helper: it fails on PTYs (ENOTTY on DTR) and toggles control
    // lines on every open. SerialStream::open sets raw mode and takes the port exclusively.
    let mut port = tokio_serial::SerialStream::open(&builder).map_err(|e| {
        // serialport reports EBUSY (TIOCEXCL held by another process) and a held flock as
        // NoDevice; the path exists (checked above), so that means busy.
        let why = match e.kind {
            tokio_serial::ErrorKind::NoDevice => {
                format!("port busy, another program has it open ({})", e.description)
            }
            tokio_serial::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => {
                "permission denied (is farod in the dialout group?)".to_string()
            }
            tokio_serial::ErrorKind::Io(std::io::ErrorKind::NotFound) => {
                "no such device (radio unplugged?)".to_string()
            }
            _ => e.description.clone(),
        };
        OpenError(format!("cannot open serial port {shown}: {why}"))
    })?;
    // DTR asserted (native-USB boards treat DTR low as "no host"), RTS released (ESP32 auto-reset
    // circuits). A PTY has no control lines and answers ENOTTY, which pyserial also ignores.
    if let Err(e) = port.write_data_terminal_ready(true) {
        tracing::debug!(port = %shown, error = %e, "DTR not set (not a real UART?)");
    }
    if let Err(e) = port.write_request_to_send(false) {
        tracing::debug!(port = %shown, error = %e, "RTS not set (not a real UART?)");
    }
    Ok(Box::new(port))
}

async fn open_tcp(addr: &str) -> Result<BoxIo, OpenError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| {
            OpenError(format!(
                "cannot connect to tcp:{addr}: timed out after {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| OpenError(format!("cannot connect to tcp:{addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(%addr, error = %e, "TCP keepalive not set");
    }
    Ok(Box::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_print() {
        for s in [
            "serial:/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0",
            "tcp:127.0.0.1:4403",
            "tcp:[::1]:4403",
        ] {
            assert_eq!(s.parse::<RadioUri>().unwrap().to_string(), s);
        }
        if cfg!(feature = "sim") {
            assert_eq!(
                "sim:default".parse::<RadioUri>().unwrap().to_string(),
                "sim:default"
            );
        } else {
            assert!("sim:default".parse::<RadioUri>().is_err());
        }
        for bad in [
            "",
            "serial:dev/ttyUSB0",
            "tcp:host",
            "tcp:host:0",
            "tcp::4403",
            "sim:",
            "usb:/dev/x",
            "/dev/ttyUSB0",
        ] {
            assert!(bad.parse::<RadioUri>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn missing_serial_port_is_one_clear_line() {
        let t = Transport::Serial("/dev/serial/by-id/no-such-radio".into());
        let e = t.open().await.err().expect("must fail");
        assert_eq!(
            e.to_string(),
            "serial port /dev/serial/by-id/no-such-radio does not exist (radio unplugged?)"
        );
    }

    #[tokio::test]
    async fn closed_tcp_port_is_one_clear_line() {
        // Bind then drop a listener to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Transport::Tcp(format!("127.0.0.1:{port}"))
            .open()
            .await
            .err()
            .expect("must fail");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot connect to tcp:127.0.0.1:{port}: ")),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
