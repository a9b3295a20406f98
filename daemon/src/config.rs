//! Configuration: the TOML file (`/etc/faro/faro.toml`, `--config`, `FARO_CONFIG`) and the
//! command-line overrides, validated into the settings the daemon runs with. Unknown keys are
//! errors; a bad configuration exits with status 78 (`EX_CONFIG`) and one line naming the field.
//!
//! This is the part the radio link needs; the station, teams and municipalities arrive with
//! the incident queue and ambulance coordination.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::radio::{LinkConfig, RadioUri, SessionConfig};

/// Exit status for a configuration error (sysexits `EX_CONFIG`).
pub const EX_CONFIG: i32 = 78;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[station]`.
    #[serde(default)]
    pub station: RawStation,
    /// `[[radio]]` entries.
    #[serde(default)]
    pub radio: Vec<RawRadio>,
    /// `[link]` timings shared by all radios.
    #[serde(default)]
    pub link: RawLink,
    /// `[paths]`.
    #[serde(default)]
    pub paths: RawPaths,
}

/// `[station]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStation {
    /// Short code used in incident ids (`SAS`): 2 to 5 capital letters.
    pub code: String,
    /// Name shown to operators.
    pub name: String,
}

impl Default for RawStation {
    fn default() -> Self {
        Self {
            code: "FARO".into(),
            name: "Faro station".into(),
        }
    }
}

/// `[[radio]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadio {
    /// Name in logs and status.
    pub name: String,
    /// `serial:/dev/serial/by-id/...`, `tcp:HOST:PORT` or `sim:SCENARIO`.
    pub uri: String,
    /// Local channel index Faro sends on (a private channel with full position precision).
    #[serde(default)]
    pub channel: u32,
}

/// `[link]`, in seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLink {
    /// Heartbeat period (at most 300: the firmware drops a silent serial client at 900).
    pub heartbeat_secs: u64,
    /// Reopen a radio from which nothing arrived for this long.
    pub silence_timeout_secs: u64,
    /// Wait for the configuration burst this long per attempt.
    pub handshake_timeout_secs: u64,
    /// Longest wait between reconnect attempts.
    pub backoff_max_secs: u64,
}

impl Default for RawLink {
    fn default() -> Self {
        let s = SessionConfig::default();
        Self {
            heartbeat_secs: s.heartbeat_interval.as_secs(),
            silence_timeout_secs: s.silence_timeout.as_secs(),
            handshake_timeout_secs: s.handshake_timeout.as_secs(),
            backoff_max_secs: 30,
        }
    }
}

/// `[paths]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaths {
    /// State directory (database); default `$STATE_DIRECTORY` or `/var/lib/faro`.
    pub data_dir: Option<PathBuf>,
    /// Control socket; default `$RUNTIME_DIRECTORY/faro.sock` or `/run/faro/faro.sock`.
    pub socket: Option<PathBuf>,
}

/// One validated radio.
#[derive(Debug, Clone)]
pub struct RadioConfig {
    /// Where it is.
    pub uri: RadioUri,
    /// Channel Faro sends on.
    pub channel: u32,
    /// Link settings (name, timings).
    pub link: LinkConfig,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Station code.
    pub station_code: String,
    /// Station name.
    pub station_name: String,
    /// Radios.
    pub radios: Vec<RadioConfig>,
    /// State directory.
    pub data_dir: PathBuf,
    /// Control socket path.
    pub socket: PathBuf,
}

/// A configuration error: one line naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Command-line overrides.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--radio` (replaces the file's radios when given).
    pub radios: Vec<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
}

impl Config {
    /// Reads `path` (when given) and applies `overrides`.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let raw = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
                parse(&text).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?
            }
            None => RawConfig::default(),
        };
        validate(raw, overrides)
    }
}

/// Parses the TOML text (unknown keys are errors).
pub fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().to_string();
        let at = e.span().map(|s| {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: ")
        });
        ConfigError(format!("{}{msg}", at.unwrap_or_default()))
    })
}

fn validate(raw: RawConfig, ov: &Overrides) -> Result<Config, ConfigError> {
    let code = raw.station.code.trim().to_string();
    if !(2..=5).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ConfigError(format!(
            "station.code {code:?}: use 2 to 5 capital letters (e.g. SAS)"
        )));
    }
    let l = &raw.link;
    if !(10..=300).contains(&l.heartbeat_secs) {
        return Err(ConfigError(format!(
            "link.heartbeat_secs = {}: must be 10..=300 (the firmware drops a silent client after 900 s)",
            l.heartbeat_secs
        )));
    }
    if l.silence_timeout_secs <= l.heartbeat_secs {
        return Err(ConfigError(format!(
            "link.silence_timeout_secs = {}: must be longer than link.heartbeat_secs ({})",
            l.silence_timeout_secs, l.heartbeat_secs
        )));
    }
    if !(1..=300).contains(&l.handshake_timeout_secs) {
        return Err(ConfigError(format!(
            "link.handshake_timeout_secs = {}: must be 1..=300",
            l.handshake_timeout_secs
        )));
    }
    if !(1..=3600).contains(&l.backoff_max_secs) {
        return Err(ConfigError(format!(
            "link.backoff_max_secs = {}: must be 1..=3600",
            l.backoff_max_secs
        )));
    }
    let session = SessionConfig {
        heartbeat_interval: Duration::from_secs(l.heartbeat_secs),
        silence_timeout: Duration::from_secs(l.silence_timeout_secs),
        handshake_timeout: Duration::from_secs(l.handshake_timeout_secs),
        ..SessionConfig::default()
    };
    let mut radios = Vec::new();
    let entries: Vec<(String, String, u32)> = if ov.radios.is_empty() {
        raw.radio
            .into_iter()
            .map(|r| (r.name, r.uri, r.channel))
            .collect()
    } else {
        ov.radios
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("radio{}", i + 1), u.clone(), 0))
            .collect()
    };
    for (i, (name, uri, channel)) in entries.into_iter().enumerate() {
        let field = format!("radio[{i}]");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError(format!(
                "{field}.name {name:?}: use letters, digits, - and _"
            )));
        }
        if radios.iter().any(|r: &RadioConfig| r.link.name == name) {
            return Err(ConfigError(format!("{field}.name {name:?}: used twice")));
        }
        let uri: RadioUri = uri
            .parse()
            .map_err(|e| ConfigError(format!("{field}.uri: {e}")))?;
        if channel > 7 {
            return Err(ConfigError(format!(
                "{field}.channel = {channel}: must be 0..=7"
            )));
        }
        let mut link = LinkConfig::new(name);
        link.session = session.clone();
        link.backoff_max = Duration::from_secs(l.backoff_max_secs);
        radios.push(RadioConfig { uri, channel, link });
    }
    let data_dir = ov
        .data_dir
        .clone()
        .or(raw.paths.data_dir)
        .or_else(|| std::env::var_os("STATE_DIRECTORY").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/faro"));
    let socket = ov
        .socket
        .clone()
        .or(raw.paths.socket)
        .or_else(|| {
            std::env::var_os("RUNTIME_DIRECTORY").map(|d| PathBuf::from(d).join("faro.sock"))
        })
        .unwrap_or_else(|| PathBuf::from("/run/faro/faro.sock"));
    Ok(Config {
        station_code: code,
        station_name: raw.station.name,
        radios,
        data_dir,
        socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        validate(parse(text)?, &Overrides::default())
    }

    #[test]
    fn a_full_file_loads() {
        let c = load(
            r#"
[station]
code = "SAS"
name = "Grupo Beta Sásabe"
[[radio]]
name = "main"
uri = "serial:/dev/serial/by-id/usb-RAK4631-if00"
channel = 1
[[radio]]
name = "mast"
uri = "tcp:10.0.0.5:4403"
[link]
heartbeat_secs = 120
"#,
        )
        .unwrap();
        assert_eq!(c.station_code, "SAS");
        assert_eq!(c.radios.len(), 2);
        assert_eq!(c.radios[0].channel, 1);
        assert_eq!(
            c.radios[1].link.session.heartbeat_interval,
            Duration::from_secs(120)
        );
    }

    #[test]
    fn errors_name_the_field_in_one_line() {
        for (text, want) in [
            ("[station]\ncode = \"sas\"\nname = \"x\"", "station.code"),
            ("[[radio]]\nname = \"a\"\nuri = \"usb:/dev/x\"", "radio[0].uri"),
            ("[[radio]]\nname = \"a\"\nuri = \"sim:default\"\nchannel = 9", "radio[0].channel"),
            ("[[radio]]\nname = \"a\"\nuri = \"sim:default\"\n[[radio]]\nname = \"a\"\nuri = \"sim:default\"", "used twice"),
            ("[link]\nheartbeat_secs = 900", "link.heartbeat_secs"),
            ("[link]\nheartbeat_secs = 60\nsilence_timeout_secs = 30", "link.silence_timeout_secs"),
            ("[station]\ncode = \"SAS\"\nname = \"x\"\ncolour = \"red\"", "unknown field `colour`"),
        ] {
            let e = load(text).err().unwrap_or_else(|| panic!("{text} must fail")).to_string();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    #[test]
    fn command_line_radios_replace_the_file() {
        let raw = parse("[[radio]]\nname = \"a\"\nuri = \"sim:default\"").unwrap();
        let ov = Overrides {
            radios: vec!["tcp:127.0.0.1:4403".into()],
            ..Default::default()
        };
        let c = validate(raw, &ov).unwrap();
        assert_eq!(c.radios.len(), 1);
        assert_eq!(c.radios[0].uri, RadioUri::Tcp("127.0.0.1:4403".into()));
    }
}
