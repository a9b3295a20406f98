//! Configuration: the TOML file (`/etc/faro/faro.toml`, `--config`, `FARO_CONFIG`), the
//! command-line and environment overrides, validated into the settings the daemon runs with.
//! Unknown keys are errors; a bad configuration exits with status 78 (`EX_CONFIG`) and one line
//! naming the field. [`DEFAULT_CONFIG`] is the commented default `farod print-default-config`
//! prints: every key, each with its default or an example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::radio::{LinkConfig, RadioUri, SessionConfig};

/// Exit status for a configuration error (sysexits `EX_CONFIG`).
pub const EX_CONFIG: i32 = 78;

/// The commented default configuration (`farod print-default-config`). Tests hold it to the
/// structs below: it validates, and every key of every `Raw*` struct appears in it.
pub const DEFAULT_CONFIG: &str = include_str!("config/default.toml");

/// Where the configuration file is when neither `--config` nor `FARO_CONFIG` says.
pub const DEFAULT_PATH: &str = "/etc/faro/faro.toml";

/// The file to read: the one given (which must then exist), else [`DEFAULT_PATH`] when it
/// exists, else none (the built-in defaults, for trying farod out with `--radio` flags).
pub fn file_to_read(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()))
}

/// The longest Unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
const SOCKET_PATH_MAX: usize = 107;

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
    /// `[[team]]` patrols.
    #[serde(default)]
    pub team: Vec<RawTeam>,
    /// `[[tower]]` orientation towers with a panic button.
    #[serde(default)]
    pub tower: Vec<RawTower>,
    /// `[[water]]` drinking water points without a radio (tanks, barrels, wells).
    #[serde(default)]
    pub water: Vec<RawWater>,
    /// `[intake]`.
    #[serde(default)]
    pub intake: RawIntake,
    /// `[[municipality]]` ambulance contacts.
    #[serde(default)]
    pub municipality: Vec<RawMunicipality>,
    /// `[ambulance]`.
    #[serde(default)]
    pub ambulance: RawAmbulance,
    /// `[trust]`.
    #[serde(default)]
    pub trust: RawTrust,
    /// `[air]`.
    #[serde(default)]
    pub air: RawAir,
    /// `[surge]`.
    #[serde(default)]
    pub surge: RawSurge,
    /// `[[broadcast]]` scheduled broadcasts.
    #[serde(default)]
    pub broadcast: Vec<RawBroadcast>,
    /// `[[referral]]` where complaints are channelled.
    #[serde(default)]
    pub referral: Vec<RawReferral>,
    /// `[retention]`.
    #[serde(default)]
    pub retention: RawRetention,
    /// `[desk]`: the desk listener (issue 15).
    #[serde(default)]
    pub desk: RawDesk,
    /// `[uplink]`: the station's changes to headquarters (issue 16).
    #[serde(default)]
    pub uplink: RawUplink,
}

/// `[uplink]`: off unless `mqtt` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUplink {
    /// `mqtt://HOST[:PORT]`.
    pub mqtt: Option<String>,
    /// MQTT client id (default `faro-<station code>`).
    pub client_id: Option<String>,
    /// User name; the password comes from the systemd credential `faro-mqtt-password`.
    pub username: Option<String>,
}

/// `[desk]`: the desk on HTTP beside the control socket, off unless `listen` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDesk {
    /// `address:port` (e.g. `127.0.0.1:8470`, or a LAN address of the station's own network).
    pub listen: Option<String>,
    /// Hours a session lasts after login (1..=24, default 12).
    pub session_hours: Option<i64>,
    /// Mark the session cookie `Secure` (behind an HTTPS reverse proxy).
    pub secure_cookie: Option<bool>,
    /// Seconds between repeated desk alerts for an unacknowledged P1 (0..=3600, default
    /// 120; 0: alert once).
    pub p1_realert_secs: Option<i64>,
}

/// `[[referral]]`: an institution complaints are channelled to, with the contact the operator
/// uses (shown at the desk, never sent on air).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReferral {
    /// `prosecutor`, `consulate` or `human_rights`.
    pub kind: String,
    /// The institution's name.
    pub name: String,
    /// Phone, address or e-mail.
    pub contact: String,
    /// For a consulate: the country it represents (two letters, ISO 3166).
    pub country: Option<String>,
}

/// `[retention]`: how long personal data is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Days the personal data of a closed incident or finished casework record is kept after
    /// it ended (1..=3650, default 90).
    pub personal_days: Option<i64>,
    /// Days texts of no incident (questions, strangers) and the names and positions of
    /// phones outside the fleet are kept (1..=3650, default `personal_days`).
    pub messages_days: Option<i64>,
    /// How often the purge runs (`1h`; 1 min to 1 day).
    pub every: Option<String>,
}

/// `[[broadcast]]`: a text the station broadcasts on a schedule, per language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBroadcast {
    /// Its name, for the audit trail.
    pub name: String,
    /// How often (`6h`, `1d`; 10 min to 7 days).
    pub every: String,
    /// Language code -> text (at most 200 bytes, one line).
    pub text: std::collections::BTreeMap<String, String>,
}

/// `[air]`: how much of the channel Faro may use.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAir {
    /// Percent of each radio's channel time Faro's own transmissions may take (default 25).
    pub share_percent: Option<f64>,
    /// Percent of that share kept for urgent messages (default 20).
    pub reserve_percent: Option<f64>,
    /// Seconds the share is measured over (default 60).
    pub window_secs: Option<u64>,
}

/// `[surge]`: durations as `30s`, `3m`, `1h`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSurge {
    /// Estimated wait for the replies in the outbox above which P3/P4 acknowledgements are
    /// grouped (default 3m).
    pub after: Option<String>,
    /// What one direct text costs a radio within its airtime budget (default 4s).
    pub send_each: Option<String>,
    /// How often grouped broadcasts go (default 30s).
    pub group_every: Option<String>,
    /// Acknowledgements to incidents of this priority and less urgent are grouped (2..=4,
    /// default 3).
    pub group_from_priority: Option<u8>,
}

/// `[trust]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    /// SHA-256 (64 hex digits) of public keys known to be compromised.
    #[serde(default)]
    pub compromised_key_hashes: Vec<String>,
}

/// `[[municipality]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMunicipality {
    /// Name as in the gazetteer (`Sáric`).
    pub name: String,
    /// State (`Sonora`).
    pub state: String,
    /// Seat latitude; default: the municipality's largest place in the gazetteer.
    pub lat: Option<f64>,
    /// Seat longitude.
    pub lon: Option<f64>,
    /// Mesh nodes of its dispatchers.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Phone numbers (shown to operators, never sent on air).
    #[serde(default)]
    pub phones: Vec<String>,
    /// Languages its dispatchers read (es, en, fr, ht, pt); default es.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Public keys of its dispatchers' radios (base64): answers count only as PKI direct
    /// messages from one of them (or a key enrolled with `faroctl enroll`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Whether its radios send PKI direct messages (default true). `false`: its answers wait
    /// for an operator's confirmation (`faroctl confirm`).
    #[serde(default = "default_true")]
    pub pki: bool,
}

fn default_true() -> bool {
    true
}

/// The public keys of `field` (`team[0].keys`), checked: base64 of 32 bytes, no repeats.
fn public_keys(
    field: &str,
    raw: &[String],
    compromised: &[[u8; 32]],
) -> Result<Vec<crate::trust::PublicKey>, ConfigError> {
    let mut keys = Vec::new();
    for (i, k) in raw.iter().enumerate() {
        let key: crate::trust::PublicKey = k
            .parse()
            .map_err(|e| ConfigError(format!("{field}[{i}]: {e}")))?;
        if key.is_compromised(compromised) {
            return Err(ConfigError(format!(
                "{field}[{i}]: this key is on the known-compromised list; the radio needs a new key pair"
            )));
        }
        if keys.contains(&key) {
            return Err(ConfigError(format!("{field}[{i}]: listed twice")));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// `[ambulance]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmbulance {
    /// Seconds a municipality has to answer (default 300).
    pub deadline_secs: Option<u64>,
    /// Seconds after a request to send one reminder (default 150; 0: none).
    pub reminder_secs: Option<u64>,
    /// Municipalities asked for one incident at most (default 3).
    pub max_municipalities: Option<usize>,
    /// Ask on its own for new P1 incidents of these kinds (e.g. ["medical"]; default none).
    #[serde(default)]
    pub auto_for_p1: Vec<String>,
}

/// `[[team]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    /// Name patrols and operators use (`P1`).
    pub name: String,
    /// Its nodes (`!a1b2c3d4`).
    pub nodes: Vec<String>,
    /// Expected seconds between positions (stale at 2x, lost at 6x).
    #[serde(default = "default_team_interval")]
    pub interval_secs: u64,
    /// Public keys of its radios (base64, 32 bytes, as the app shows them): its commands count
    /// only as PKI direct messages from one of them (or a key enrolled with `faroctl enroll`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// The language its patrols read (`es`, `en`, `fr`, `ht`, `pt`; default `es`): every
    /// message to its nodes is in it.
    #[serde(default)]
    pub language: Option<String>,
}

fn default_team_interval() -> u64 {
    120
}

/// `[[tower]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTower {
    /// Name shown to operators.
    pub name: String,
    /// Its node.
    pub node: String,
    /// Latitude of the tower, degrees.
    pub lat: f64,
    /// Longitude of the tower, degrees.
    pub lon: f64,
    /// The tower has drinking water: Faro names it to people who ask for water.
    #[serde(default)]
    pub water: bool,
}

/// `[[water]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWater {
    /// Name people will recognise on the ground ("Tanque El Sásabe"); sent on air.
    pub name: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// `[intake]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntake {
    /// Repeated distress from one node within this many seconds updates its open incident.
    pub repeat_window_secs: Option<u64>,
    /// Distress keywords per language (`es = ["SOS", "AUXILIO"]`); replaces the defaults of
    /// the languages given.
    #[serde(default)]
    pub keywords: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[station]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStation {
    /// Short code used in incident ids (`SAS`): 2 to 5 capital letters.
    pub code: String,
    /// Name shown to operators.
    pub name: String,
    /// The station's time zone, an IANA name (`America/Hermosillo`): faroctl shows times in
    /// it. The database and the API stay UTC.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The station's latitude, degrees (with `lon`): the desk's map shows it.
    #[serde(default)]
    pub lat: Option<f64>,
    /// The station's longitude, degrees.
    #[serde(default)]
    pub lon: Option<f64>,
}

fn default_timezone() -> String {
    "UTC".into()
}

impl Default for RawStation {
    fn default() -> Self {
        Self {
            code: "FARO".into(),
            name: "Faro station".into(),
            timezone: default_timezone(),
            lat: None,
            lon: None,
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
            backoff_max_secs: 8,
        }
    }
}

/// `[paths]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaths {
    /// State directory (database), absolute; `--data-dir` and `FARO_DATA_DIR` override it;
    /// default `$STATE_DIRECTORY` or `/var/lib/faro`.
    pub data_dir: Option<PathBuf>,
    /// Control socket, absolute; `--socket` and `FARO_SOCKET` override it; default
    /// `$RUNTIME_DIRECTORY/faro.sock` or `/run/faro/faro.sock`.
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
    /// Whether the station code was chosen (`station.code` other than the default, or
    /// `--station`): a simulated scenario's own code is used otherwise.
    pub station_code_set: bool,
    /// Station name.
    pub station_name: String,
    /// Where the station is (`[station] lat`, `lon`), if set: shown on the desk's map.
    pub station_position: Option<(f64, f64)>,
    /// The station's time zone (IANA name, e.g. `America/Hermosillo`; `UTC` by default), for
    /// display only: what is stored and what the API says stays UTC.
    pub timezone: String,
    /// Radios.
    pub radios: Vec<RadioConfig>,
    /// State directory.
    pub data_dir: PathBuf,
    /// Control socket path.
    pub socket: PathBuf,
    /// Patrol teams.
    pub teams: Vec<crate::store::TeamConfig>,
    /// Towers by node.
    pub towers: std::collections::HashMap<u32, crate::ingest::Tower>,
    /// Drinking water points (towers with water, then `[[water]]`), for orientation.
    pub water: Vec<crate::desk::WaterPoint>,
    /// SHA-256 of public keys known to be compromised (`[trust]`).
    pub compromised: Vec<[u8; 32]>,
    /// Distress keywords.
    pub keywords: crate::lang::Keywords,
    /// Repeat window.
    pub repeat_window: Duration,
    /// Municipalities that can send an ambulance.
    pub municipalities: Vec<crate::dispatch::Municipality>,
    /// Ambulance timings and rules.
    pub ambulance: AmbulanceConfig,
    /// The airtime budget of each radio.
    pub air: crate::outbox::plan::Budget,
    /// Surge mode (`[surge]`; `radios` is the number of radios configured).
    pub surge: crate::desk::SurgeConfig,
    /// Scheduled broadcasts.
    pub broadcasts: Vec<crate::desk::Broadcast>,
    /// Where complaints are channelled.
    pub referrals: Vec<crate::casework::request::Referral>,
    /// The station key of personal records: never from the configuration file, only from
    /// systemd's credentials (`farod run` reads `$CREDENTIALS_DIRECTORY/faro-personal-key`).
    pub personal_key: Option<crate::casework::seal::Key>,
    /// Retention of personal data (`[retention]`).
    pub retention: crate::desk::RetentionConfig,
    /// The desk listener (`[desk]`).
    pub desk: crate::api::DeskConfig,
    /// The uplink to headquarters (`[uplink]`), if any.
    pub uplink: Option<crate::uplink::UplinkConfig>,
}

/// Validated `[ambulance]`.
#[derive(Debug, Clone)]
pub struct AmbulanceConfig {
    /// Answer deadline.
    pub deadline: Duration,
    /// One reminder after this long.
    pub reminder: Option<Duration>,
    /// Municipalities asked at most.
    pub max_municipalities: usize,
    /// Kinds that get an ambulance on their own at P1.
    pub auto_for_p1: Vec<crate::incident::Kind>,
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
    /// `--station CODE`.
    pub station: Option<String>,
    /// What the environment says about paths.
    pub env: PathEnv,
}

/// The environment variables paths may come from, read once ([`PathEnv::from_process`]) so
/// that validation is a function of its inputs.
#[derive(Debug, Default, Clone)]
pub struct PathEnv {
    /// `FARO_DATA_DIR`.
    pub faro_data_dir: Option<PathBuf>,
    /// `FARO_SOCKET`.
    pub faro_socket: Option<PathBuf>,
    /// `STATE_DIRECTORY` (systemd's `StateDirectory=`; the first when several).
    pub state_directory: Option<PathBuf>,
    /// `RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`; the first when several).
    pub runtime_directory: Option<PathBuf>,
}

impl PathEnv {
    /// Reads the process environment; empty values count as unset.
    pub fn from_process() -> PathEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        // systemd joins several directories of one setting with ':'.
        let first = |name: &str| {
            var(name).and_then(|p| {
                p.to_str()
                    .map(|s| s.split(':').next().unwrap_or_default().to_string())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
        };
        PathEnv {
            faro_data_dir: var("FARO_DATA_DIR"),
            faro_socket: var("FARO_SOCKET"),
            state_directory: first("STATE_DIRECTORY"),
            runtime_directory: first("RUNTIME_DIRECTORY"),
        }
    }
}

/// How log records are written on stderr (`FARO_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line a record (the default).
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

impl LogFormat {
    /// From `FARO_LOG_FORMAT` (unset or empty: text).
    pub fn from_env() -> Result<LogFormat, ConfigError> {
        match std::env::var("FARO_LOG_FORMAT") {
            Err(std::env::VarError::NotPresent) => Ok(LogFormat::Text),
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError(format!(
                "FARO_LOG_FORMAT {v:?}: use text or json"
            ))),
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<LogFormat, ConfigError> {
        match s.trim() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError(format!(
                "FARO_LOG_FORMAT {other:?}: use text or json"
            ))),
        }
    }
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

/// Parses and validates a configuration given as TOML text, as [`Config::load`] does for a
/// file (without the file name in errors).
pub fn from_toml_str(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
    validate(parse(text)?, overrides)
}

/// Parses the TOML text (unknown keys are errors).
pub fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        // toml's messages can run over several lines (`invalid array\nexpected `]``).
        let msg = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let at = e.span().map(|s| {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: ")
        });
        ConfigError(format!("{}{msg}", at.unwrap_or_default()))
    })
}

fn validate(raw: RawConfig, ov: &Overrides) -> Result<Config, ConfigError> {
    let station_code_set = ov.station.is_some() || raw.station.code != RawStation::default().code;
    let code = ov
        .station
        .clone()
        .unwrap_or(raw.station.code)
        .trim()
        .to_string();
    if !(2..=5).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ConfigError(format!(
            "station.code {code:?}: use 2 to 5 capital letters (e.g. SAS)"
        )));
    }
    if crate::casework::RESERVED_CODES.contains(&code.as_str()) {
        return Err(ConfigError(format!(
            "station.code {code:?}: reserved for casework records (AID-3, CMP-2, LOC-5); choose another"
        )));
    }
    let timezone = validate_timezone(&raw.station.timezone)?;
    let station_position = match (raw.station.lat, raw.station.lon) {
        (None, None) => None,
        (Some(lat), Some(lon)) if faro_proto::mesh::valid_coordinates(lat, lon) => Some((lat, lon)),
        (Some(lat), Some(lon)) => {
            return Err(ConfigError(format!(
                "station: {lat},{lon} is not a valid position"
            )))
        }
        _ => {
            return Err(ConfigError(
                "station: lat and lon go together (both or neither)".into(),
            ))
        }
    };
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
    let (data_dir, socket) = validate_paths(raw.paths, ov)?;
    let compromised = raw
        .trust
        .compromised_key_hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            crate::trust::parse_sha256(h).ok_or_else(|| {
                ConfigError(format!(
                    "trust.compromised_key_hashes[{i}]: expected 64 hexadecimal digits (a SHA-256)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let teams = validate_teams(&raw.team, &compromised)?;
    let towers = validate_towers(&raw.tower)?;
    let water = validate_water(&raw.tower, &raw.water)?;
    let keywords = validate_keywords(&raw.intake)?;
    let repeat_window = match raw.intake.repeat_window_secs {
        None => crate::incident::DEFAULT_REPEAT_WINDOW,
        Some(s) if (60..=24 * 3600).contains(&s) => Duration::from_secs(s),
        Some(s) => {
            return Err(ConfigError(format!(
                "intake.repeat_window_secs = {s}: must be 60..=86400"
            )))
        }
    };
    let municipalities = validate_municipalities(&raw.municipality, &compromised)?;
    // One key pinned for two holders proves neither.
    let mut pinned: Vec<(crate::trust::PublicKey, String)> = Vec::new();
    let holders = teams
        .iter()
        .map(|t| (format!("team {}", t.name), &t.keys))
        .chain(
            municipalities
                .iter()
                .map(|m| (format!("municipality {}", m.name), &m.keys)),
        );
    for (holder, keys) in holders {
        for k in keys {
            if let Some((_, other)) = pinned.iter().find(|(p, _)| p == k) {
                return Err(ConfigError(format!(
                    "{holder}: key {} is also pinned for {other}; one key proves neither",
                    k.fingerprint()
                )));
            }
            pinned.push((*k, holder.clone()));
        }
    }
    let ambulance = validate_ambulance(&raw.ambulance)?;
    let air = validate_air(&raw.air)?;
    let mut surge = validate_surge(&raw.surge)?;
    surge.radios = radios.len().max(1) as u32;
    let broadcasts = validate_broadcasts(&raw.broadcast)?;
    let referrals = validate_referrals(&raw.referral)?;
    let retention = validate_retention(&raw.retention)?;
    let desk = validate_desk(&raw.desk)?;
    let uplink = validate_uplink(&raw.uplink)?;
    Ok(Config {
        personal_key: None,
        desk,
        uplink,
        referrals,
        broadcasts,
        retention,
        air,
        surge,
        municipalities,
        ambulance,
        station_code: code,
        station_code_set,
        station_name: raw.station.name,
        station_position,
        timezone,
        radios,
        data_dir,
        socket,
        teams,
        towers,
        water,
        compromised,
        keywords,
        repeat_window,
    })
}

/// `station.timezone`: an IANA time zone name this farod knows (the system's zoneinfo, else the
/// database built in), returned as the database spells it.
fn validate_timezone(name: &str) -> Result<String, ConfigError> {
    let name = name.trim();
    let tz = jiff::tz::TimeZone::get(name).map_err(|_| {
        ConfigError(format!(
            "station.timezone {name:?}: not a known IANA time zone (e.g. \"America/Hermosillo\", \"America/Panama\", \"UTC\")"
        ))
    })?;
    Ok(tz.iana_name().unwrap_or(name).to_string())
}

/// The first path given, naming where it came from: the command line, the environment, the
/// file, systemd's directories, the default.
fn first_path(candidates: [(&str, Option<PathBuf>); 4], default: &str) -> (String, PathBuf) {
    candidates
        .into_iter()
        .find_map(|(field, p)| p.map(|p| (field.to_string(), p)))
        .unwrap_or_else(|| ("default".to_string(), PathBuf::from(default)))
}

fn validate_paths(raw: RawPaths, ov: &Overrides) -> Result<(PathBuf, PathBuf), ConfigError> {
    let env = &ov.env;
    let (field, data_dir) = first_path(
        [
            ("--data-dir", ov.data_dir.clone()),
            ("FARO_DATA_DIR", env.faro_data_dir.clone()),
            ("paths.data_dir", raw.data_dir),
            ("STATE_DIRECTORY", env.state_directory.clone()),
        ],
        "/var/lib/faro",
    );
    let bad = |field: &str, p: &Path, why: &str| {
        Err(ConfigError(format!(
            "{field} {:?}: {why}",
            p.display().to_string()
        )))
    };
    // The daemon runs with / as its working directory under systemd: a relative path would
    // mean something else there than where it was tested.
    if !data_dir.is_absolute() {
        return bad(&field, &data_dir, "must be an absolute path");
    }
    if data_dir.exists() && !data_dir.is_dir() {
        return bad(&field, &data_dir, "exists and is not a directory");
    }
    let (field, socket) = first_path(
        [
            ("--socket", ov.socket.clone()),
            ("FARO_SOCKET", env.faro_socket.clone()),
            ("paths.socket", raw.socket),
            (
                "RUNTIME_DIRECTORY",
                env.runtime_directory.as_ref().map(|d| d.join("faro.sock")),
            ),
        ],
        "/run/faro/faro.sock",
    );
    if !socket.is_absolute() {
        return bad(&field, &socket, "must be an absolute path");
    }
    if socket.file_name().is_none() {
        return bad(&field, &socket, "must name a file, not a directory");
    }
    if socket.as_os_str().len() > SOCKET_PATH_MAX {
        return bad(
            &field,
            &socket,
            &format!("longer than the {SOCKET_PATH_MAX} bytes a Unix socket path may have"),
        );
    }
    if let Ok(m) = std::fs::symlink_metadata(&socket) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            return bad(&field, &socket, "exists and is not a socket");
        }
    }
    if let Some(dir) = socket.parent().filter(|d| d.exists() && !d.is_dir()) {
        return bad(&field, dir, "the socket's directory is not a directory");
    }
    Ok((data_dir, socket))
}

fn node_id(field: &str, s: &str) -> Result<u32, ConfigError> {
    match s.parse::<faro_proto::mesh::NodeId>() {
        Ok(n) if n.0 != faro_proto::mesh::BROADCAST => Ok(n.0),
        Ok(_) => Err(ConfigError(format!(
            "{field}: the broadcast address is not a node"
        ))),
        Err(e) => Err(ConfigError(format!("{field}: {e}"))),
    }
}

fn validate_teams(
    raw: &[RawTeam],
    compromised: &[[u8; 32]],
) -> Result<Vec<crate::store::TeamConfig>, ConfigError> {
    let mut teams: Vec<crate::store::TeamConfig> = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let field = format!("team[{i}]");
        let name = t.name.trim();
        if name.is_empty()
            || name.len() > 16
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError(format!(
                "{field}.name {name:?}: 1 to 16 letters, digits, - or _ (patrols type it)"
            )));
        }
        if teams.iter().any(|o| o.name.eq_ignore_ascii_case(name)) {
            return Err(ConfigError(format!("{field}.name {name:?}: used twice")));
        }
        if t.nodes.is_empty() {
            return Err(ConfigError(format!(
                "{field}.nodes: a team needs at least one node"
            )));
        }
        let mut nodes = Vec::new();
        for (j, n) in t.nodes.iter().enumerate() {
            let n = node_id(&format!("{field}.nodes[{j}]"), n)?;
            if teams.iter().any(|o| o.nodes.contains(&n)) {
                return Err(ConfigError(format!(
                    "{field}.nodes[{j}]: node {} is already in another team",
                    faro_proto::mesh::NodeId(n)
                )));
            }
            nodes.push(n);
        }
        if !(10..=86_400).contains(&t.interval_secs) {
            return Err(ConfigError(format!(
                "{field}.interval_secs = {}: must be 10..=86400",
                t.interval_secs
            )));
        }
        let language = match t.language.as_deref() {
            None => crate::lang::Lang::Es,
            Some(l) => l.parse::<crate::lang::Lang>().map_err(|_| {
                ConfigError(format!(
                    "{field}.language: unknown {l:?} (es, en, fr, ht, pt)"
                ))
            })?,
        };
        teams.push(crate::store::TeamConfig {
            name: name.to_string(),
            nodes,
            interval: Duration::from_secs(t.interval_secs),
            keys: public_keys(&format!("{field}.keys"), &t.keys, compromised)?,
            language,
        });
    }
    Ok(teams)
}

fn validate_towers(
    raw: &[RawTower],
) -> Result<std::collections::HashMap<u32, crate::ingest::Tower>, ConfigError> {
    let mut towers = std::collections::HashMap::new();
    for (i, t) in raw.iter().enumerate() {
        let field = format!("tower[{i}]");
        let node = node_id(&format!("{field}.node"), &t.node)?;
        if !faro_proto::mesh::valid_coordinates(t.lat, t.lon) {
            return Err(ConfigError(format!(
                "{field}: {},{} is not a valid position",
                t.lat, t.lon
            )));
        }
        let tower = crate::ingest::Tower {
            name: t.name.clone(),
            lat: t.lat,
            lon: t.lon,
        };
        if towers.insert(node, tower).is_some() {
            // {:?}: the raw text may hold a newline; an error is one line.
            return Err(ConfigError(format!(
                "{field}.node: {:?} is listed twice",
                t.node
            )));
        }
    }
    Ok(towers)
}

/// Water points: the towers that have water, then the `[[water]]` entries. A name goes on air
/// as it is written, so it must be short, one line and not empty.
fn validate_water(
    towers: &[RawTower],
    raw: &[RawWater],
) -> Result<Vec<crate::desk::WaterPoint>, ConfigError> {
    let mut out = Vec::new();
    let from_towers = towers
        .iter()
        .filter(|t| t.water)
        .map(|t| (&t.name, t.lat, t.lon));
    for (name, lat, lon) in from_towers {
        out.push(crate::desk::WaterPoint {
            name: name.clone(),
            lat,
            lon,
        });
    }
    for (i, w) in raw.iter().enumerate() {
        let field = format!("water[{i}]");
        let name = w.name.trim();
        if name.is_empty()
            || name.len() > crate::desk::WATER_NAME_MAX
            || name.chars().any(char::is_control)
        {
            return Err(ConfigError(format!(
                "{field}.name = {:?}: must be 1..={} bytes on one line",
                w.name,
                crate::desk::WATER_NAME_MAX
            )));
        }
        if !faro_proto::mesh::valid_coordinates(w.lat, w.lon) {
            return Err(ConfigError(format!(
                "{field}: {},{} is not a valid position",
                w.lat, w.lon
            )));
        }
        out.push(crate::desk::WaterPoint {
            name: name.to_string(),
            lat: w.lat,
            lon: w.lon,
        });
    }
    Ok(out)
}

fn validate_municipalities(
    raw: &[RawMunicipality],
    compromised: &[[u8; 32]],
) -> Result<Vec<crate::dispatch::Municipality>, ConfigError> {
    let gaz = crate::geo::Gazetteer::builtin();
    let mut out: Vec<crate::dispatch::Municipality> = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let field = format!("municipality[{i}]");
        let seat = gaz.municipality_seat(&m.name, &m.state).ok_or_else(|| {
            ConfigError(format!(
                "{field}: no municipality {:?} in {:?} in the gazetteer",
                m.name, m.state
            ))
        })?;
        if out
            .iter()
            .any(|o| o.name == seat.municipality && o.state == seat.state)
        {
            return Err(ConfigError(format!("{field}: {} is listed twice", m.name)));
        }
        let (lat, lon) = match (m.lat, m.lon) {
            (Some(lat), Some(lon)) if faro_proto::mesh::valid_coordinates(lat, lon) => (lat, lon),
            (None, None) => (seat.lat, seat.lon),
            _ => {
                return Err(ConfigError(format!(
                    "{field}: give both lat and lon of the seat, valid, or neither"
                )))
            }
        };
        let nodes = m
            .nodes
            .iter()
            .enumerate()
            .map(|(j, n)| node_id(&format!("{field}.nodes[{j}]"), n))
            .collect::<Result<Vec<_>, _>>()?;
        for (j, p) in m.phones.iter().enumerate() {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            if !(6..=15).contains(&digits)
                || !p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
            {
                return Err(ConfigError(format!(
                    "{field}.phones[{j}] {p:?}: not a phone number"
                )));
            }
        }
        if nodes.is_empty() && m.phones.is_empty() {
            return Err(ConfigError(format!(
                "{field}: give nodes or phones: a municipality without a contact cannot be asked"
            )));
        }
        let languages = m
            .languages
            .iter()
            .map(|l| {
                l.parse::<crate::lang::Lang>().map_err(|_| {
                    ConfigError(format!(
                        "{field}.languages: unknown {l:?} (es, en, fr, ht, pt)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(crate::dispatch::Municipality {
            name: seat.municipality.clone(),
            state: seat.state.clone(),
            lat,
            lon,
            nodes,
            phones: m.phones.clone(),
            languages,
            keys: public_keys(&format!("{field}.keys"), &m.keys, compromised)?,
            pki: m.pki,
        });
    }
    Ok(out)
}

fn validate_air(raw: &RawAir) -> Result<crate::outbox::plan::Budget, ConfigError> {
    let d = crate::outbox::plan::Budget::default();
    let share = raw.share_percent.unwrap_or(d.share * 100.0);
    // The firmware stops its own polite sends above 25 % and every send above 40 %.
    if !(1.0..=40.0).contains(&share) {
        return Err(ConfigError(format!(
            "air.share_percent = {share}: must be 1..=40 (the firmware refuses more)"
        )));
    }
    let reserve = raw.reserve_percent.unwrap_or(d.reserve * 100.0);
    if !(0.0..=90.0).contains(&reserve) {
        return Err(ConfigError(format!(
            "air.reserve_percent = {reserve}: must be 0..=90"
        )));
    }
    let window = raw.window_secs.unwrap_or(d.window / 1000);
    if !(10..=3600).contains(&window) {
        return Err(ConfigError(format!(
            "air.window_secs = {window}: must be 10..=3600"
        )));
    }
    Ok(crate::outbox::plan::Budget {
        share: share / 100.0,
        reserve: reserve / 100.0,
        window: window * 1000,
    })
}

fn validate_referrals(
    raw: &[RawReferral],
) -> Result<Vec<crate::casework::request::Referral>, ConfigError> {
    use crate::casework::ReferralKind;
    let mut out: Vec<crate::casework::request::Referral> = Vec::new();
    for r in raw {
        let bad = |why: String| ConfigError(format!("referral {:?}: {why}", r.name));
        let label = |what: &str, v: &str| {
            if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
                Err(bad(format!("{what}: 1 to 200 bytes, one line")))
            } else {
                Ok(())
            }
        };
        label("name", &r.name)?;
        label("contact", &r.contact)?;
        let kind: ReferralKind = r.kind.parse().map_err(bad)?;
        let country = match (&r.country, kind) {
            (Some(c), ReferralKind::Consulate)
                if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                Some(c.to_ascii_uppercase())
            }
            (Some(c), ReferralKind::Consulate) => {
                return Err(bad(format!(
                    "country = {c:?}: two letters (ISO 3166), e.g. HN"
                )))
            }
            (None, ReferralKind::Consulate) => {
                return Err(bad(
                    "a consulate needs its country (e.g. country = \"HN\")".into()
                ))
            }
            (Some(_), _) => return Err(bad("only a consulate has a country".into())),
            (None, _) => None,
        };
        let clash = out.iter().any(|o| {
            o.name.eq_ignore_ascii_case(r.name.trim())
                || (o.kind == kind && o.country == country && kind == ReferralKind::Consulate)
        });
        if clash {
            return Err(bad("configured twice".into()));
        }
        out.push(crate::casework::request::Referral {
            kind,
            name: r.name.trim().to_string(),
            contact: r.contact.trim().to_string(),
            country,
        });
    }
    Ok(out)
}

fn validate_broadcasts(raw: &[RawBroadcast]) -> Result<Vec<crate::desk::Broadcast>, ConfigError> {
    let mut out = Vec::new();
    for b in raw {
        let name = b.name.trim();
        if name.is_empty() || name.len() > 40 || name.chars().any(char::is_control) {
            return Err(ConfigError(format!(
                "broadcast.name {:?}: 1 to 40 bytes, one line",
                b.name
            )));
        }
        let every = humantime::parse_duration(b.every.trim()).map_err(|_| {
            ConfigError(format!(
                "broadcast {name:?}: every = {:?}: expected a duration such as 6h or 1d",
                b.every
            ))
        })?;
        if every < Duration::from_secs(600) || every > Duration::from_secs(7 * 86_400) {
            return Err(ConfigError(format!(
                "broadcast {name:?}: every = {:?}: must be 10 min to 7 days",
                b.every
            )));
        }
        if b.text.is_empty() {
            return Err(ConfigError(format!(
                "broadcast {name:?}: text: at least one language"
            )));
        }
        let mut texts = Vec::new();
        for (code, text) in &b.text {
            let lang: crate::lang::Lang = code.parse().map_err(|_| {
                ConfigError(format!("broadcast {name:?}: text.{code}: unknown language"))
            })?;
            let t = text.trim();
            if t.is_empty()
                || t.len() > faro_proto::mesh::PAYLOAD_BUDGET
                || t.chars().any(char::is_control)
            {
                return Err(ConfigError(format!(
                    "broadcast {name:?}: text.{code}: 1 to {} bytes, one line (it is {})",
                    faro_proto::mesh::PAYLOAD_BUDGET,
                    t.len()
                )));
            }
            texts.push((lang, t.to_string()));
        }
        out.push(crate::desk::Broadcast {
            name: name.to_string(),
            every,
            texts,
        });
    }
    Ok(out)
}

fn validate_surge(raw: &RawSurge) -> Result<crate::desk::SurgeConfig, ConfigError> {
    let d = crate::desk::SurgeConfig::default();
    let field = |name: &str, v: &Option<String>, default: Duration, min: u64, max: u64| {
        let Some(text) = v else {
            return Ok(default);
        };
        let bad = |why: &str| ConfigError(format!("surge.{name} = {text:?}: {why}"));
        let t = humantime::parse_duration(text.trim())
            .map_err(|_| bad("expected a duration such as 30s, 3m or 1h"))?;
        if t < Duration::from_secs(min) || t > Duration::from_secs(max) {
            return Err(bad(&format!("must be {min} s to {max} s")));
        }
        Ok(t)
    };
    Ok(crate::desk::SurgeConfig {
        after: field("after", &raw.after, d.after, 10, 24 * 3600)?,
        send_each: field("send_each", &raw.send_each, d.send_each, 1, 600)?,
        group_every: field("group_every", &raw.group_every, d.group_every, 5, 600)?,
        radios: 1,
        group_from: match raw.group_from_priority.unwrap_or(d.group_from) {
            p @ 2..=4 => p,
            p => {
                return Err(ConfigError(format!(
                    "surge.group_from_priority = {p}: must be 2..=4 (P1 always stays direct)"
                )))
            }
        },
    })
}

/// Days a `[retention]` setting may say.
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

/// Session hours allowed.
const SESSION_HOURS: std::ops::RangeInclusive<i64> = 1..=24;

/// Seconds between P1 re-alerts allowed (0: none).
const P1_REALERT_SECS: std::ops::RangeInclusive<i64> = 0..=3600;

fn validate_desk(raw: &RawDesk) -> Result<crate::api::DeskConfig, ConfigError> {
    let listen = match &raw.listen {
        None => None,
        Some(text) => Some(text.trim().parse::<std::net::SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "desk.listen = {text:?}: expected an address and port, such as \"127.0.0.1:8470\""
            ))
        })?),
    };
    let session = match raw.session_hours {
        None => crate::api::DeskConfig::default().session,
        Some(h) if SESSION_HOURS.contains(&h) => Duration::from_secs(h.unsigned_abs() * 3600),
        Some(h) => {
            return Err(ConfigError(format!(
                "desk.session_hours = {h}: must be {}..={} hours",
                SESSION_HOURS.start(),
                SESSION_HOURS.end()
            )))
        }
    };
    let p1_realert_secs = match raw.p1_realert_secs {
        None => crate::api::DEFAULT_P1_REALERT_SECS,
        Some(s) if P1_REALERT_SECS.contains(&s) => s.unsigned_abs(),
        Some(s) => {
            return Err(ConfigError(format!(
                "desk.p1_realert_secs = {s}: must be {}..={} seconds (0: no repeated alerts)",
                P1_REALERT_SECS.start(),
                P1_REALERT_SECS.end()
            )))
        }
    };
    Ok(crate::api::DeskConfig {
        listen,
        session,
        secure_cookie: raw.secure_cookie.unwrap_or(false),
        p1_realert_secs,
    })
}

/// The credential the uplink's password comes from (`LoadCredential=faro-mqtt-password:...`).
pub const MQTT_PASSWORD_CREDENTIAL: &str = "faro-mqtt-password";

fn validate_uplink(raw: &RawUplink) -> Result<Option<crate::uplink::UplinkConfig>, ConfigError> {
    let Some(url) = &raw.mqtt else {
        if raw.client_id.is_some() || raw.username.is_some() {
            return Err(ConfigError(
                "uplink: client_id or username without uplink.mqtt (the broker)".into(),
            ));
        }
        return Ok(None);
    };
    let mut cfg = crate::uplink::UplinkConfig::from_url(url.trim()).map_err(ConfigError)?;
    if let Some(id) = &raw.client_id {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError(format!(
                "uplink.client_id = {id:?}: 1 to 64 visible ASCII characters"
            )));
        }
        cfg.client_id = Some(id.clone());
    }
    cfg.username = raw.username.clone();
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = std::path::Path::new(&dir).join(MQTT_PASSWORD_CREDENTIAL);
        if let Ok(p) = std::fs::read_to_string(&path) {
            cfg.password = Some(p.trim_end_matches(['\n', '\r']).to_string());
        }
    }
    Ok(Some(cfg))
}

fn validate_retention(raw: &RawRetention) -> Result<crate::desk::RetentionConfig, ConfigError> {
    // Signed, so that a negative number is refused naming its field.
    let days = |name: &str, v: Option<i64>, default: i64| -> Result<Duration, ConfigError> {
        let d = v.unwrap_or(default);
        if !RETENTION_DAYS.contains(&d) {
            return Err(ConfigError(format!(
                "retention.{name} = {d}: must be {}..={} days",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            )));
        }
        Ok(Duration::from_secs(d.unsigned_abs() * 86_400))
    };
    let personal_days = raw
        .personal_days
        .unwrap_or(crate::desk::DEFAULT_RETENTION_DAYS as i64);
    let personal = days("personal_days", Some(personal_days), personal_days)?;
    let messages = days("messages_days", raw.messages_days, personal_days)?;
    let every = match &raw.every {
        None => crate::desk::RetentionConfig::default().every,
        Some(text) => {
            let bad = |why: &str| ConfigError(format!("retention.every = {text:?}: {why}"));
            let t = humantime::parse_duration(text.trim())
                .map_err(|_| bad("expected a duration such as 30m, 1h or 6h"))?;
            if t < Duration::from_secs(60) || t > Duration::from_secs(86_400) {
                return Err(bad("must be 1 min to 1 day"));
            }
            t
        }
    };
    Ok(crate::desk::RetentionConfig {
        personal,
        messages,
        every,
    })
}

fn validate_ambulance(raw: &RawAmbulance) -> Result<AmbulanceConfig, ConfigError> {
    let deadline = Duration::from_secs(
        raw.deadline_secs
            .unwrap_or(crate::dispatch::DEFAULT_DEADLINE.as_secs()),
    );
    if !(30..=3600).contains(&deadline.as_secs()) {
        return Err(ConfigError(format!(
            "ambulance.deadline_secs = {}: must be 30..=3600",
            deadline.as_secs()
        )));
    }
    let reminder = match raw.reminder_secs.unwrap_or(150) {
        0 => None,
        s if Duration::from_secs(s) < deadline => Some(Duration::from_secs(s)),
        s => {
            return Err(ConfigError(format!(
                "ambulance.reminder_secs = {s}: must be shorter than the deadline (0: none)"
            )))
        }
    };
    let max_municipalities = raw
        .max_municipalities
        .unwrap_or(crate::dispatch::DEFAULT_MAX_MUNICIPALITIES);
    if !(1..=20).contains(&max_municipalities) {
        return Err(ConfigError(format!(
            "ambulance.max_municipalities = {max_municipalities}: must be 1..=20"
        )));
    }
    let auto_for_p1 = raw
        .auto_for_p1
        .iter()
        .map(|k| {
            k.parse::<crate::incident::Kind>()
                .map_err(|e| ConfigError(format!("ambulance.auto_for_p1: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AmbulanceConfig {
        deadline,
        reminder,
        max_municipalities,
        auto_for_p1,
    })
}

fn validate_keywords(raw: &RawIntake) -> Result<crate::lang::Keywords, ConfigError> {
    if raw.keywords.is_empty() {
        return Ok(crate::lang::Keywords::defaults());
    }
    let mut lists = Vec::new();
    for (lang, words) in &raw.keywords {
        let l: crate::lang::Lang = lang.parse().map_err(|_| {
            ConfigError(format!(
                "intake.keywords.{lang:?}: unknown language (es, en, fr, ht, pt)"
            ))
        })?;
        lists.push((l, words.clone()));
    }
    crate::lang::Keywords::new(lists).map_err(|e| ConfigError(format!("intake.keywords: {e}")))
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
    fn the_station_position_is_optional_and_both_or_neither() {
        assert_eq!(load("").unwrap().station_position, None);
        let at = |extra: &str| load(&format!("[station]\ncode = \"SAS\"\nname = \"x\"\n{extra}"));
        let c = at("lat = 31.472\nlon = -111.547").unwrap();
        assert_eq!(c.station_position, Some((31.472, -111.547)));
        for bad in ["lat = 31.472", "lon = -111.547", "lat = 91.0\nlon = 0.0"] {
            let e = at(bad).unwrap_err().to_string();
            assert!(e.starts_with("station: "), "{bad}: {e}");
        }
    }

    #[test]
    fn the_station_time_zone_is_an_iana_name_utc_by_default() {
        assert_eq!(load("").unwrap().timezone, "UTC");
        for zone in [
            "America/Hermosillo",
            "America/Panama",
            "America/Mexico_City",
            "UTC",
        ] {
            let c = load(&format!(
                "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"{zone}\""
            ))
            .unwrap();
            assert_eq!(c.timezone, zone);
        }
        for bad in [
            "America/Sasabe",
            "",
            "Mars/Olympus_Mons",
            "../../etc/passwd",
        ] {
            let e = load(&format!(
                "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"{bad}\""
            ))
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("station.timezone "), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn errors_name_the_field_in_one_line() {
        for (text, want) in [
            ("[station]\ncode = \"sas\"\nname = \"x\"", "station.code"),
            (
                "[station]\ncode = \"SAS\"\nname = \"x\"\ntimezone = \"America/Sasabe\"",
                "station.timezone \"America/Sasabe\": not a known IANA time zone",
            ),
            ("[[radio]]\nname = \"a\"\nuri = \"usb:/dev/x\"", "radio[0].uri"),
            ("[[radio]]\nname = \"a\"\nuri = \"sim:default\"\nchannel = 9", "radio[0].channel"),
            ("[[radio]]\nname = \"a\"\nuri = \"sim:default\"\n[[radio]]\nname = \"a\"\nuri = \"sim:default\"", "used twice"),
            ("[link]\nheartbeat_secs = 900", "link.heartbeat_secs"),
            ("[[municipality]]\nname = \"Atlantis\"\nstate = \"Sonora\"\nnodes = [\"!5a5a0401\"]", "municipality[0]: no municipality \"Atlantis\""),
            ("[[municipality]]\nname = \"Sáric\"\nstate = \"Sonora\"\nnodes = [\"!xyz\"]", "municipality[0].nodes[0]"),
            ("[[municipality]]\nname = \"Sáric\"\nstate = \"Sonora\"", "without a contact"),
            ("[ambulance]\ndeadline_secs = 5", "ambulance.deadline_secs"),
            ("[air]\nshare_percent = 60", "air.share_percent"),
            (
                "[[broadcast]]\nname = \"calor\"\nevery = \"1m\"\ntext = { es = \"Calor\" }",
                "every = \"1m\": must be 10 min",
            ),
            (
                "[[broadcast]]\nname = \"calor\"\nevery = \"6h\"\ntext = { xx = \"Calor\" }",
                "text.xx: unknown language",
            ),
            ("[air]\nwindow_secs = 1", "air.window_secs"),
            ("[[water]]\nname = \"\"\nlat = 31.4\nlon = -111.5", "water[0].name"),
            ("[trust]\ncompromised_key_hashes = [\"abc\"]", "trust.compromised_key_hashes[0]"),
            ("[[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\nkeys = [\"xyz\"]", "team[0].keys[0]: not base64"),
            ("[[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\nkeys = [\"AAEC\"]", "team[0].keys[0]: 3 bytes"),
            ("[[municipality]]\nname = \"Sáric\"\nstate = \"Sonora\"\nnodes = [\"!5a5a0401\"]\nkeys = [\"Y2xhdmUgZGUgZWplbXBsbzogY2FtYmllbGEgeWEhISE=\", \"Y2xhdmUgZGUgZWplbXBsbzogY2FtYmllbGEgeWEhISE=\"]", "municipality[0].keys[1]: listed twice"),
            ("[[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\nkeys = [\"Y2xhdmUgZGUgZWplbXBsbzogY2FtYmllbGEgeWEhISE=\"]\n[[team]]\nname = \"P2\"\nnodes = [\"!5a5a0102\"]\nkeys = [\"Y2xhdmUgZGUgZWplbXBsbzogY2FtYmllbGEgeWEhISE=\"]", "also pinned for team P1"),
            ("[[water]]\nname = \"T\\nx\"\nlat = 31.4\nlon = -111.5", "water[0].name"),
            ("[[water]]\nname = \"Tanque\"\nlat = 0\nlon = 0", "water[0]: 0,0"),
            ("[[team]]\nname = \"P1\"\nnodes = [\"^all\"]", "team[0].nodes[0]"),
            ("[[team]]\nname = \"P1\"\nnodes = [\"!5a5a0101\"]\nlanguage = \"de\"", "team[0].language: unknown \"de\""),
            ("[link]\nheartbeat_secs = 60\nsilence_timeout_secs = 30", "link.silence_timeout_secs"),
            ("[station]\ncode = \"SAS\"\nname = \"x\"\ncolour = \"red\"", "unknown field `colour`"),
        ] {
            let e = load(text).err().unwrap_or_else(|| panic!("{text} must fail")).to_string();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    #[test]
    fn water_points_are_the_towers_with_water_then_the_water_entries() {
        let c = load(
            "[[tower]]\nname = \"Torre 7\"\nnode = \"!5a5a0201\"\nlat = 31.4387\nlon = -111.7976\nwater = true\n\
             [[tower]]\nname = \"Torre 8\"\nnode = \"!5a5a0202\"\nlat = 31.5\nlon = -111.7\n\
             [[water]]\nname = \" Tanque El Sasabe \"\nlat = 31.46\nlon = -111.60",
        )
        .unwrap();
        let names: Vec<&str> = c.water.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["Torre 7", "Tanque El Sasabe"]);
    }

    #[test]
    fn municipalities_take_their_seat_from_the_gazetteer() {
        let c = load(
            "[[municipality]]\nname = \"saric\"\nstate = \"Sonora\"\nnodes = [\"!5a5a0401\"]\nlanguages = [\"es\"]\n\
             [[municipality]]\nname = \"Altar\"\nstate = \"Sonora\"\nphones = [\"+52 637 374 0000\"]\n\
             [ambulance]\ndeadline_secs = 240\nreminder_secs = 0\nauto_for_p1 = [\"medical\"]",
        )
        .unwrap();
        assert_eq!(c.municipalities.len(), 2);
        let saric = &c.municipalities[0];
        assert_eq!(
            (
                saric.name.as_str(),
                saric.state.as_str(),
                saric.nodes.clone()
            ),
            ("Sáric", "Sonora", vec![0x5a5a_0401])
        );
        assert!(
            (saric.lat - 31.1).abs() < 0.1 && (saric.lon + 111.37).abs() < 0.1,
            "{saric:?}"
        );
        assert!(c.municipalities[1].nodes.is_empty());
        assert_eq!(c.ambulance.deadline, Duration::from_secs(240));
        assert_eq!(c.ambulance.reminder, None);
        assert_eq!(
            c.ambulance.auto_for_p1,
            vec![crate::incident::Kind::Medical]
        );
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

    /// The keys a `Raw*` struct accepts, from serde's own refusal of an unknown one: a field
    /// added to a struct is a field the default configuration must show.
    fn keys_of(table: &str) -> Vec<String> {
        let text = format!("{table}\nzz_not_a_key = 1\n");
        let e = parse(&text)
            .expect_err("an unknown key is an error")
            .to_string();
        let expected = e.split("expected").nth(1).unwrap_or_else(|| panic!("{e}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// The default with its commented settings switched on.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_printed_default_validates_and_is_the_default() {
        let printed = load(DEFAULT_CONFIG).unwrap();
        let builtin = validate(RawConfig::default(), &Overrides::default()).unwrap();
        assert_eq!(printed.station_code, builtin.station_code);
        assert_eq!(printed.station_name, builtin.station_name);
        assert_eq!(printed.timezone, builtin.timezone);
        assert_eq!(printed.repeat_window, builtin.repeat_window);
        assert_eq!(printed.data_dir, builtin.data_dir);
        assert_eq!(printed.socket, builtin.socket);
        assert_eq!(printed.ambulance.deadline, builtin.ambulance.deadline);
        assert_eq!(printed.air, builtin.air);
        assert_eq!(printed.ambulance.reminder, builtin.ambulance.reminder);
        assert_eq!(printed.surge, builtin.surge);
        assert_eq!(printed.retention, builtin.retention);
        assert_eq!(printed.desk, builtin.desk);
        let l = parse(DEFAULT_CONFIG).unwrap().link;
        let d = RawLink::default();
        assert_eq!(
            (
                l.heartbeat_secs,
                l.silence_timeout_secs,
                l.handshake_timeout_secs,
                l.backoff_max_secs
            ),
            (
                d.heartbeat_secs,
                d.silence_timeout_secs,
                d.handshake_timeout_secs,
                d.backoff_max_secs
            )
        );
        assert!(printed.radios.is_empty() && printed.teams.is_empty());
        // The examples, switched on, are a valid station too.
        let full = load(&uncommented(DEFAULT_CONFIG)).unwrap();
        assert_eq!(
            (
                full.radios.len(),
                full.teams.len(),
                full.towers.len(),
                full.municipalities.len()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(full.teams[0].language, crate::lang::Lang::Es);
    }

    #[test]
    fn the_printed_default_names_every_key() {
        let lines: Vec<&str> = DEFAULT_CONFIG
            .lines()
            .map(|l| l.trim_start_matches('#'))
            .collect();
        let top = keys_of("");
        assert!(top.contains(&"municipality".to_string()), "{top:?}");
        for table in &top {
            let header = lines
                .iter()
                .any(|l| *l == format!("[{table}]") || *l == format!("[[{table}]]"));
            assert!(
                header,
                "[{table}] is missing from the default configuration"
            );
            let array = lines.iter().any(|l| *l == format!("[[{table}]]"));
            let keys = keys_of(&if array {
                format!("[[{table}]]")
            } else {
                format!("[{table}]")
            });
            assert!(!keys.is_empty(), "{table}");
            for key in keys {
                assert!(
                    lines.iter().any(|l| l.starts_with(&format!("{key} = "))),
                    "{table}.{key} is missing from the default configuration"
                );
            }
        }
    }

    #[test]
    fn referrals_are_read_and_bad_ones_refused() {
        let c = load(
            "[[referral]]\nkind = \"fiscalia\"\nname = \"Fiscalía\"\ncontact = \"+52 1\"\n\
             [[referral]]\nkind = \"consulate\"\nname = \"Consulado HN\"\ncontact = \"+52 2\"\ncountry = \"hn\"\n",
        )
        .unwrap();
        assert_eq!(c.referrals.len(), 2);
        assert_eq!(
            c.referrals[0].kind,
            crate::casework::ReferralKind::Prosecutor
        );
        assert_eq!(c.referrals[1].country.as_deref(), Some("HN"));
        assert!(c.personal_key.is_none(), "never from the file");
        for (bad, why) in [
            (
                "kind = \"police\"\nname = \"x\"\ncontact = \"1\"",
                "unknown referral",
            ),
            (
                "kind = \"consulate\"\nname = \"x\"\ncontact = \"1\"",
                "needs its country",
            ),
            (
                "kind = \"consulate\"\nname = \"x\"\ncontact = \"1\"\ncountry = \"HND\"",
                "two letters",
            ),
            (
                "kind = \"prosecutor\"\nname = \"x\"\ncontact = \"1\"\ncountry = \"MX\"",
                "only a consulate",
            ),
            (
                "kind = \"prosecutor\"\nname = \"x\"\ncontact = \"\"",
                "contact",
            ),
        ] {
            let e = load(&format!("[[referral]]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("referral \"x\": ") && e.contains(why), "{e}");
        }
        let twice = "[[referral]]\nkind = \"prosecutor\"\nname = \"F\"\ncontact = \"1\"\n";
        assert!(load(&format!("{twice}{twice}"))
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let e = load("[station]\ncode = \"LOC\"\nname = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reserved for casework records"), "{e}");
    }

    #[test]
    fn surge_durations_are_read_and_bad_ones_refused() {
        let c =
            load("[surge]\nafter = \"90s\"\nsend_each = \"3s\"\ngroup_every = \"20s\"\n").unwrap();
        assert_eq!(c.surge.after, Duration::from_secs(90));
        assert_eq!(c.surge.send_each, Duration::from_secs(3));
        assert_eq!(c.surge.group_every, Duration::from_secs(20));
        assert_eq!(c.surge.radios, 1);
        let d = load("").unwrap().surge;
        assert_eq!(
            (d.after, d.send_each, d.group_every),
            (
                Duration::from_secs(180),
                Duration::from_secs(4),
                Duration::from_secs(30)
            )
        );
        for (bad, field) in [
            ("after = \"soon\"", "surge.after"),
            ("after = \"2s\"", "surge.after"),
            ("send_each = \"0s\"", "surge.send_each"),
            ("group_every = \"2h\"", "surge.group_every"),
            ("every = \"30s\"", "every"),
        ] {
            let e = load(&format!("[surge]\n{bad}\n")).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }

    #[test]
    fn retention_is_read_defaulted_and_bad_values_refused() {
        let d = load("").unwrap().retention;
        let day = Duration::from_secs(86_400);
        assert_eq!(
            (d.personal, d.messages, d.every),
            (day * 90, day * 90, Duration::from_secs(3600))
        );
        // messages_days follows personal_days unless given.
        let c = load("[retention]\npersonal_days = 30\nevery = \"15m\"\n")
            .unwrap()
            .retention;
        assert_eq!(
            (c.personal, c.messages, c.every),
            (day * 30, day * 30, Duration::from_secs(900))
        );
        let c = load("[retention]\npersonal_days = 365\nmessages_days = 7\n")
            .unwrap()
            .retention;
        assert_eq!((c.personal, c.messages), (day * 365, day * 7));
        assert_eq!(
            load("[retention]\npersonal_days = 3650")
                .unwrap()
                .retention
                .personal,
            day * 3650
        );
        for (bad, field) in [
            (
                "personal_days = 0",
                "retention.personal_days = 0: must be 1..=3650 days",
            ),
            ("personal_days = 3651", "retention.personal_days"),
            ("messages_days = 0", "retention.messages_days"),
            (
                "personal_days = 4000\nmessages_days = 10",
                "retention.personal_days",
            ),
            ("every = \"soon\"", "retention.every"),
            ("every = \"10s\"", "retention.every"),
            ("every = \"2d\"", "retention.every"),
            ("personal_days = -1", "retention.personal_days = -1"),
            ("keep = 3", "unknown field `keep`"),
        ] {
            let e = load(&format!("[retention]\n{bad}\n"))
                .err()
                .unwrap_or_else(|| panic!("{bad} must fail"))
                .to_string();
            assert!(e.contains(field), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    #[test]
    fn the_desk_listener_is_off_by_default_and_bad_values_are_refused() {
        let d = load("").unwrap().desk;
        assert_eq!(d, crate::api::DeskConfig::default());
        assert_eq!(d.listen, None);
        assert_eq!(d.session, Duration::from_secs(12 * 3600));
        assert_eq!(d.p1_realert_secs, 120);
        let c = load(
            "[desk]\nlisten = \"192.168.4.1:8470\"\nsession_hours = 8\nsecure_cookie = true\np1_realert_secs = 45\n",
        )
        .unwrap()
        .desk;
        assert_eq!(c.listen, Some("192.168.4.1:8470".parse().unwrap()));
        assert_eq!(c.session, Duration::from_secs(8 * 3600));
        assert!(c.secure_cookie);
        assert_eq!(c.p1_realert_secs, 45);
        let once = load("[desk]\np1_realert_secs = 0\n").unwrap().desk;
        assert_eq!(once.p1_realert_secs, 0);
        assert!(load("[desk]\nlisten = \"[::1]:8470\"\n").is_ok());
        for (bad, field) in [
            ("listen = \"localhost\"", "desk.listen = \"localhost\""),
            ("listen = \"127.0.0.1\"", "desk.listen"),
            ("listen = \"127.0.0.1:99999\"", "desk.listen"),
            (
                "session_hours = 0",
                "desk.session_hours = 0: must be 1..=24 hours",
            ),
            ("session_hours = 25", "desk.session_hours"),
            (
                "p1_realert_secs = -1",
                "desk.p1_realert_secs = -1: must be 0..=3600 seconds",
            ),
            ("p1_realert_secs = 3601", "desk.p1_realert_secs = 3601"),
            ("p1_realert_secs = \"2m\"", "expected i64"),
            ("password = \"x\"", "unknown field `password`"),
        ] {
            let e = load(&format!("[desk]\n{bad}\n"))
                .err()
                .unwrap_or_else(|| panic!("{bad} must fail"))
                .to_string();
            assert!(e.contains(field), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    fn paths(text: &str, ov: &Overrides) -> Result<(PathBuf, PathBuf), ConfigError> {
        validate(parse(text)?, ov).map(|c| (c.data_dir, c.socket))
    }

    #[test]
    fn the_uplink_is_off_by_default_and_its_broker_is_checked() {
        assert_eq!(load("").unwrap().uplink, None);
        let u = load("[uplink]\nmqtt = \"mqtt://127.0.0.1:1884\"\nusername = \"sas\"\n")
            .unwrap()
            .uplink
            .unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.username.as_deref()),
            ("127.0.0.1", 1884, Some("sas"))
        );
        for (text, says) in [
            (
                "[uplink]\nmqtt = \"mqtts://hq:8883\"\n",
                "TLS (mqtts://) is not supported yet",
            ),
            (
                "[uplink]\nmqtt = \"hq:1883\"\n",
                "expected mqtt://HOST[:PORT]",
            ),
            ("[uplink]\nusername = \"sas\"\n", "without uplink.mqtt"),
            (
                "[uplink]\nmqtt = \"mqtt://hq\"\nclient_id = \"a b\"\n",
                "visible ASCII",
            ),
            ("[uplink]\nbroker = \"mqtt://hq\"\n", "unknown field"),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn paths_come_from_flags_then_environment_then_file_then_systemd() {
        let file = "[paths]\ndata_dir = \"/srv/faro\"\nsocket = \"/srv/faro.sock\"\n";
        let mut ov = Overrides::default();
        ov.env.state_directory = Some("/var/lib/faro-sd".into());
        ov.env.runtime_directory = Some("/run/faro-sd".into());
        assert_eq!(
            paths("", &ov).unwrap(),
            ("/var/lib/faro-sd".into(), "/run/faro-sd/faro.sock".into())
        );
        assert_eq!(
            paths(file, &ov).unwrap(),
            ("/srv/faro".into(), "/srv/faro.sock".into())
        );
        ov.env.faro_data_dir = Some("/env/data".into());
        ov.env.faro_socket = Some("/env/faro.sock".into());
        assert_eq!(
            paths(file, &ov).unwrap(),
            ("/env/data".into(), "/env/faro.sock".into())
        );
        ov.data_dir = Some("/flag/data".into());
        ov.socket = Some("/flag/faro.sock".into());
        assert_eq!(
            paths(file, &ov).unwrap(),
            ("/flag/data".into(), "/flag/faro.sock".into())
        );
    }

    #[test]
    fn bad_paths_name_where_they_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let long = format!("/run/{}/faro.sock", "x".repeat(120));
        let mut env_rel = Overrides::default();
        env_rel.env.faro_data_dir = Some("faro".into());
        let flag_file = Overrides {
            data_dir: Some(file.clone()),
            ..Default::default()
        };
        let sock_file = Overrides {
            socket: Some(file),
            ..Default::default()
        };
        for (text, ov, want) in [
            (
                "[paths]\ndata_dir = \"var/faro\"",
                Overrides::default(),
                "paths.data_dir \"var/faro\": must be an absolute path",
            ),
            (
                "",
                env_rel,
                "FARO_DATA_DIR \"faro\": must be an absolute path",
            ),
            ("", flag_file, "--data-dir"),
            ("", sock_file, "exists and is not a socket"),
            (
                &format!("[paths]\nsocket = \"{long}\""),
                Overrides::default(),
                "paths.socket",
            ),
        ] {
            let e = paths(text, &ov)
                .err()
                .unwrap_or_else(|| panic!("{text} {ov:?} must fail"))
                .to_string();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
            assert!(!e.contains('\n'), "{e:?} is one line");
        }
    }

    #[test]
    fn log_formats() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert!("xml"
            .parse::<LogFormat>()
            .unwrap_err()
            .to_string()
            .contains("FARO_LOG_FORMAT"));
    }
}
