//! Scenarios: the nodes of a simulated mesh, its radio settings and a timeline of what happens.
//!
//! A scenario is a TOML file read through raw serde structs (unknown keys are errors) and then
//! validated into [`Scenario`]: node references resolved to node numbers, texts checked against
//! the payload limit, the timeline sorted. Every error is one line that says where.
//!
//! ```toml
//! [radio]
//! preset = "LONG_FAST"      # every node uses the same modem preset
//! range_km = 8.0            # default link range; a node may override it (hills)
//! channel = "ideal"         # or "contention": CSMA, collisions, half duplex (see ChannelModel)
//! telemetry_secs = 0        # > 0: the station sends its client DeviceMetrics this often
//!
//! [[node]]
//! id = "!5a5a0001"
//! long_name = "Grupo Beta Sásabe"
//! short_name = "SAS"
//! role = "station"
//! position = { lat = 31.47463, lon = -111.54485 }
//!
//! [[event]]
//! at = 5
//! action = "telemetry"      # DeviceMetrics broadcast: battery 0-100 (101: powered),
//! node = "P1"               # again every every_secs if set, drain percent lower each time
//! battery = 80
//! every_secs = 1800
//! drain = 2
//!
//! [[event]]
//! at = 20                   # seconds from the start
//! action = "text"
//! from = "CEL1"             # "!xxxxxxxx", a short name or a long name
//! text = "AUXILIO somos 3"
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use faro_proto::airtime::Preset;
use faro_proto::mesh::{valid_coordinates, HardwareModel, NodeId, BROADCAST, MAX_HOP_LIMIT};
use serde::Deserialize;

use crate::pki::{self, PrivateKey};

/// Largest number of nodes in a scenario (a device's NodeDB is bounded too).
pub const MAX_NODES: usize = 100;
/// Largest number of timeline events.
pub const MAX_EVENTS: usize = 10_000;
/// Largest number of points in a track.
pub const MAX_TRACK_POINTS: usize = 1_000;
/// Largest text a scenario may put in one packet, in bytes (the firmware's payload budget).
pub const MAX_TEXT_BYTES: usize = 200;

/// Why a scenario was refused. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not fit the schema.
    #[error("scenario: {0}")]
    Syntax(String),
    /// The scenario parsed but does not make sense.
    #[error("scenario: {0}")]
    Invalid(String),
    /// No built-in scenario of that name.
    #[error("no built-in scenario {0:?} (available: default)")]
    UnknownBuiltin(String),
}

/// What a node is in the field. Decides the firmware role it reports and its default hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A rescue station's radio: the simulator serves it as a device over the stream API.
    Station,
    /// A patrol unit's handheld.
    Patrol,
    /// An orientation tower with a panic button (detection sensor).
    Tower,
    /// A municipality's radio (ambulance contact).
    Municipality,
    /// Somebody's phone paired with a node.
    Phone,
    /// An unattended relay, usually on a hill.
    Relay,
}

impl Role {
    /// The `Config.DeviceConfig.Role` number the node reports.
    pub fn device_role(self) -> i32 {
        use faro_proto::mesh::config::device_config::Role as R;
        match self {
            Role::Relay => R::Router as i32,
            _ => R::Client as i32,
        }
    }

    fn default_hw(self) -> HardwareModel {
        match self {
            Role::Station => HardwareModel::Rak4631,
            Role::Patrol => HardwareModel::Tbeam,
            Role::Tower => HardwareModel::StationG2,
            Role::Municipality => HardwareModel::HeltecV3,
            Role::Phone => HardwareModel::TEcho,
            Role::Relay => HardwareModel::Rak4631,
        }
    }
}

/// What a node answers, automatically, to a direct text message that contains a word.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRule {
    /// Matched case-insensitively against the received text.
    pub contains: String,
    /// The reply. `{id}` becomes the first word of the received text shaped like an incident
    /// id (`SAS-17`). `None`: the node never answers such a message.
    pub text: Option<String>,
    /// Simulated time between receiving and answering.
    pub after: Duration,
}

/// One node of the mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Node number.
    pub id: u32,
    /// Long name (`User.long_name`).
    pub long_name: String,
    /// Short name (`User.short_name`), e.g. a station code such as `SAS`.
    pub short_name: String,
    /// What the node is.
    pub role: Role,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Altitude, metres MSL.
    pub alt: Option<i32>,
    /// `HardwareModel` number.
    pub hw_model: i32,
    /// Link range in km (the link between two nodes uses the larger of their ranges).
    pub range_km: f64,
    /// Automatic replies, first match wins.
    pub replies: Vec<ReplyRule>,
}

impl NodeSpec {
    /// `!xxxxxxxx`.
    pub fn user_id(&self) -> String {
        NodeId(self.id).to_string()
    }
}

/// Radio settings shared by the whole mesh.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioSettings {
    /// Modem preset of every node.
    pub preset: Preset,
    /// Default link range, km.
    pub range_km: f64,
    /// Probability that one reception is lost (0 = none).
    pub loss: f64,
    /// Hop limit of packets the nodes originate (the devices' `lora.hop_limit`).
    pub hop_limit: u32,
    /// Seed of the simulation's random numbers (loss, packet ids, delays).
    pub seed: u64,
    /// Name of the primary channel.
    pub channel_name: String,
    /// `position_precision` of the primary channel (32 = full).
    pub position_precision: u32,
    /// Firmware version the station devices report.
    pub firmware_version: String,
    /// How the shared radio channel is modelled (`channel = "ideal"` or `"contention"`;
    /// default [`ChannelModel::Ideal`]).
    pub channel: ChannelModel,
    /// Seconds between the station device's own DeviceMetrics telemetry packets to its client
    /// (`telemetry_secs`; the firmware's `DeviceTelemetryModule` sends one a minute). 0 (the
    /// default) sends none, so that clients and tests see only the traffic they cause.
    pub telemetry_secs: u32,
}

/// The model of the shared LoRa channel ([`RadioSettings::channel`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelModel {
    /// Every transmission in range is heard (subject only to `loss`): no collisions, no
    /// carrier sense, a node may receive while it sends. The model of earlier versions.
    #[default]
    Ideal,
    /// The channel is shared: a node senses the carrier before it sends and waits a random
    /// contention window while the channel is busy (CSMA, as the firmware does); receptions
    /// that overlap at a receiver collide unless the wanted signal is stronger by
    /// [`crate::radio::CAPTURE_DB`]; a node cannot receive while it transmits (half duplex).
    /// Losses are counted ([`crate::world::ChannelStats`]).
    Contention,
}

/// Something that happens on the mesh or to a station device, from the timeline or from a test.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A node sends a text (TEXT_MESSAGE_APP). Put `\u{7}` in the text for the alert bell.
    Text {
        /// Sender.
        from: u32,
        /// Destination node, or [`BROADCAST`].
        to: u32,
        /// Channel index.
        channel: u32,
        /// UTF-8 text.
        text: String,
        /// Ask for an ACK.
        want_ack: bool,
    },
    /// A node sends an ALERT_APP text with priority ALERT.
    Alert {
        /// Sender.
        from: u32,
        /// Destination node, or [`BROADCAST`].
        to: u32,
        /// UTF-8 text.
        text: String,
    },
    /// A node's detection sensor fires: `"<name> detected"` on DETECTION_SENSOR_APP, broadcast.
    Detection {
        /// Sender.
        from: u32,
        /// The sensor's name.
        name: String,
        /// Append the bell byte 0x07.
        bell: bool,
    },
    /// A node moves to a point and broadcasts its position.
    Position {
        /// The node.
        node: u32,
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lon: f64,
        /// Altitude, metres.
        alt: Option<i32>,
    },
    /// A node moves along waypoints at a speed, broadcasting its position every `every`.
    Track {
        /// The node.
        node: u32,
        /// Interval between position broadcasts (simulated time).
        every: Duration,
        /// Speed along the track, km/h.
        speed_kmh: f64,
        /// Waypoints (lat, lon); the node starts at the first.
        points: Vec<(f64, f64)>,
    },
    /// A node sends a waypoint (WAYPOINT_APP).
    Waypoint {
        /// Sender.
        from: u32,
        /// Destination node, or [`BROADCAST`].
        to: u32,
        /// Waypoint id.
        id: u32,
        /// Name.
        name: String,
        /// Description.
        description: String,
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lon: f64,
        /// Seconds until it expires (0 = never).
        expire_secs: u32,
    },
    /// A node broadcasts its `User` (NODEINFO_APP).
    NodeInfo {
        /// The node.
        node: u32,
    },
    /// A node broadcasts its DeviceMetrics (TELEMETRY_APP, as the firmware's
    /// `DeviceTelemetryModule` does on `device_update_interval`): its battery `level` now,
    /// then, with `every`, again at that interval, `drain` percent lower each time (down to 0;
    /// 101, powered, stays).
    Telemetry {
        /// The node.
        node: u32,
        /// Battery percent, 0-100, or 101: on external power.
        level: u32,
        /// Interval between broadcasts (simulated time); None: once.
        every: Option<Duration>,
        /// Percent lost between two broadcasts.
        drain: u32,
    },
    /// A node's radio goes off: it neither sends nor hears, for a while or for good.
    Silent {
        /// The node.
        node: u32,
        /// How long (simulated seconds); `None` = until the end.
        for_secs: Option<f64>,
    },
    /// A station device reboots: `FromRadio{rebooted}` on serial, TCP clients are dropped,
    /// every PhoneAPI back to STATE_SEND_NOTHING.
    Reboot {
        /// The station.
        node: u32,
    },
    /// A station device is unplugged for a while: every connection gets EOF, the PTY goes
    /// away, new TCP connections are closed; then it boots again.
    Unplug {
        /// The station.
        node: u32,
        /// Outage, simulated seconds.
        for_secs: f64,
    },
    /// A station device hangs toward its current client: the connection stays open but the
    /// device sends nothing on it and ignores what it receives, until the client reconnects
    /// (for a PTY, where a reopen is invisible to the device: until a new `want_config_id`).
    Mute {
        /// The station.
        node: u32,
    },
    /// An impostor: node `by` transmits, from where it is, a text whose header claims
    /// `from = claimed_from` (anyone holding the channel key can). How it is encrypted is
    /// `mode`; only `by`'s own key pair is ever used, so a station decrypts a PKI forgery only
    /// if its NodeDB holds `by`'s public key for `claimed_from` (see [`Action::ForgeNodeInfo`]).
    Forge {
        /// The node that really transmits.
        by: u32,
        /// The `from` in the header.
        claimed_from: u32,
        /// Destination node, or [`BROADCAST`] (forced for [`ForgeMode::Broadcast`]).
        to: u32,
        /// Channel index (0 for PKI).
        channel: u32,
        /// UTF-8 text (TEXT_MESSAGE_APP).
        text: String,
        /// How it is sent.
        mode: ForgeMode,
    },
    /// Node `by` broadcasts a NodeInfo claiming to be `claimed_from` but carrying `by`'s own
    /// public key. A station whose NodeDB has no key for `claimed_from` installs it (trust on
    /// first use); one that has a key drops the NodeInfo ("Public Key mismatch").
    ForgeNodeInfo {
        /// The node that really transmits.
        by: u32,
        /// The node it claims to be.
        claimed_from: u32,
    },
}

/// How an [`Action::Forge`] is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeMode {
    /// To [`BROADCAST`] under the channel key.
    Broadcast,
    /// To a node under the channel key, not PKI (a "legacy DM"; firmware >= 2.7.14 drops a
    /// text DM like this, see [`crate::pki::rejects_legacy_dm`]).
    ChannelDm,
    /// PKI to a node, with `by`'s own key pair.
    WrongKey,
    /// Under the channel key with `via_mqtt` set in the header, as a packet an MQTT gateway
    /// put on air; never PKI.
    ViaMqtt,
}

impl Action {
    /// The node the action is about.
    pub fn node(&self) -> u32 {
        match self {
            Action::Text { from, .. }
            | Action::Alert { from, .. }
            | Action::Detection { from, .. }
            | Action::Waypoint { from, .. } => *from,
            Action::Forge { by, .. } | Action::ForgeNodeInfo { by, .. } => *by,
            Action::Position { node, .. }
            | Action::Track { node, .. }
            | Action::NodeInfo { node }
            | Action::Telemetry { node, .. }
            | Action::Silent { node, .. }
            | Action::Reboot { node }
            | Action::Unplug { node, .. }
            | Action::Mute { node } => *node,
        }
    }
}

/// An action at a time from the start of the simulation (simulated time).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedAction {
    /// When, from the start.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name (from the file, or the built-in's name).
    pub name: String,
    /// Radio settings.
    pub radio: RadioSettings,
    /// The nodes, in file order.
    pub nodes: Vec<NodeSpec>,
    /// The timeline, sorted by time (stable).
    pub timeline: Vec<TimedAction>,
    /// Private keys given in the file (`private_key`); other nodes' keys derive from their
    /// node number.
    private_keys: BTreeMap<u32, PrivateKey>,
}

const DEFAULT_TOML: &str = include_str!("../scenarios/default.toml");

impl Scenario {
    /// A scenario shipped in the binary: `default` (Grupos Beta Sásabe, Sonora).
    pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
        match name {
            "default" => Scenario::from_toml_str(DEFAULT_TOML),
            other => Err(ScenarioError::UnknownBuiltin(other.to_string())),
        }
    }

    /// The TOML text of a built-in scenario.
    pub fn builtin_toml(name: &str) -> Option<&'static str> {
        (name == "default").then_some(DEFAULT_TOML)
    }

    /// Reads and validates a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml_str(&text)
    }

    /// Parses and validates a scenario.
    pub fn from_toml_str(text: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| syntax(text, &e))?;
        raw.validate(text)
    }

    /// Node numbers of the station nodes, in file order.
    pub fn stations(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| n.role == Role::Station)
            .map(|n| n.id)
            .collect()
    }

    /// The node with this number.
    pub fn node(&self, id: u32) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node with this short name or long name (exact), or `!xxxxxxxx`.
    pub fn node_by_name(&self, short_or_long: &str) -> Option<&NodeSpec> {
        self.nodes
            .iter()
            .find(|n| n.short_name == short_or_long)
            .or_else(|| self.nodes.iter().find(|n| n.long_name == short_or_long))
            .or_else(|| {
                let id = short_or_long.parse::<NodeId>().ok()?;
                self.node(id.0)
            })
    }

    /// The X25519 private key of a node (from the file, or derived from its number).
    pub(crate) fn private_key(&self, node: u32) -> PrivateKey {
        self.private_keys
            .get(&node)
            .copied()
            .unwrap_or_else(|| pki::derived_private_key(node))
    }

    /// The X25519 public key of a node: what its `User.public_key` carries and what every
    /// other scenario node (and each station's NodeDB at the start) holds for it.
    pub fn public_key(&self, node: u32) -> [u8; 32] {
        pki::public_of(&self.private_key(node))
    }

    /// The scenario without its timeline (tests that drive everything through `Sim::act`).
    pub fn without_timeline(mut self) -> Scenario {
        self.timeline.clear();
        self
    }
}

/// One line: message and line number of a TOML error.
fn syntax(text: &str, e: &toml::de::Error) -> ScenarioError {
    let msg = e.message().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            ScenarioError::Syntax(format!("line {line}: {msg}"))
        }
        None => ScenarioError::Syntax(msg),
    }
}

fn invalid(msg: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid(msg.into())
}

// ---- raw serde structs -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    radio: RawRadio,
    #[serde(default, rename = "node")]
    nodes: Vec<RawNode>,
    #[serde(default, rename = "event")]
    events: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRadio {
    preset: String,
    range_km: f64,
    loss: f64,
    hop_limit: u32,
    seed: u64,
    channel_name: String,
    position_precision: u32,
    firmware_version: String,
    channel: ChannelModel,
    telemetry_secs: u32,
}

impl Default for RawRadio {
    fn default() -> Self {
        RawRadio {
            preset: "LONG_FAST".into(),
            range_km: 10.0,
            loss: 0.0,
            hop_limit: 3,
            seed: 1,
            channel_name: "Faro".into(),
            position_precision: 32,
            firmware_version: "2.7.15.567b8ea".into(),
            channel: ChannelModel::Ideal,
            telemetry_secs: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    long_name: String,
    short_name: String,
    role: Role,
    position: RawPoint,
    #[serde(default)]
    hw_model: Option<String>,
    #[serde(default)]
    range_km: Option<f64>,
    #[serde(default, rename = "reply")]
    replies: Vec<RawReply>,
    /// Base64 of a 32-byte X25519 private key.
    #[serde(default)]
    private_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    lat: f64,
    lon: f64,
    #[serde(default)]
    alt: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    contains: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default = "default_reply_after")]
    after_secs: f64,
}

fn default_reply_after() -> f64 {
    30.0
}

fn default_to() -> String {
    "broadcast".into()
}

fn default_every() -> f64 {
    60.0
}

fn default_speed() -> f64 {
    5.0
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum RawAction {
    Text {
        from: String,
        #[serde(default = "default_to")]
        to: String,
        #[serde(default)]
        channel: u32,
        text: String,
        #[serde(default)]
        want_ack: bool,
        #[serde(default)]
        bell: bool,
    },
    Alert {
        from: String,
        #[serde(default = "default_to")]
        to: String,
        text: String,
        #[serde(default)]
        bell: bool,
    },
    Detection {
        from: String,
        name: String,
        #[serde(default)]
        bell: bool,
    },
    Position {
        node: String,
        lat: f64,
        lon: f64,
        #[serde(default)]
        alt: Option<i32>,
    },
    Track {
        node: String,
        #[serde(default = "default_every")]
        every_secs: f64,
        #[serde(default = "default_speed")]
        speed_kmh: f64,
        points: Vec<[f64; 2]>,
    },
    Waypoint {
        from: String,
        #[serde(default = "default_to")]
        to: String,
        id: u32,
        name: String,
        #[serde(default)]
        description: String,
        lat: f64,
        lon: f64,
        #[serde(default)]
        expire_secs: u32,
    },
    NodeInfo {
        node: String,
    },
    Telemetry {
        node: String,
        battery: u32,
        #[serde(default)]
        every_secs: Option<f64>,
        #[serde(default)]
        drain: u32,
    },
    Silent {
        node: String,
        #[serde(default)]
        for_secs: Option<f64>,
    },
    Reboot {
        node: String,
    },
    Unplug {
        node: String,
        for_secs: f64,
    },
    Mute {
        node: String,
    },
    Forge {
        by: String,
        claimed_from: String,
        #[serde(default = "default_to")]
        to: String,
        #[serde(default)]
        channel: u32,
        text: String,
        mode: ForgeMode,
    },
    ForgeNodeInfo {
        by: String,
        claimed_from: String,
    },
}

// ---- validation --------------------------------------------------------------------------

impl RawScenario {
    fn validate(self, _text: &str) -> Result<Scenario, ScenarioError> {
        let _ = &self.description;
        let radio = self.radio.validate()?;
        if self.nodes.is_empty() {
            return Err(invalid(
                "no [[node]]: a scenario needs at least one station",
            ));
        }
        if self.nodes.len() > MAX_NODES {
            return Err(invalid(format!(
                "{} nodes; at most {MAX_NODES}",
                self.nodes.len()
            )));
        }
        let mut nodes = Vec::with_capacity(self.nodes.len());
        let mut ids = HashSet::new();
        let mut shorts = HashSet::new();
        let mut private_keys = BTreeMap::new();
        for (i, mut raw) in self.nodes.into_iter().enumerate() {
            let key = raw.private_key.take();
            let node = raw.validate(i, &radio)?;
            if let Some(b64) = key {
                let k = pki::parse_private_key(&b64).ok_or_else(|| {
                    invalid(format!(
                        "node {}: private_key must be base64 of 32 bytes",
                        node.user_id()
                    ))
                })?;
                private_keys.insert(node.id, k);
            }
            if !ids.insert(node.id) {
                return Err(invalid(format!("node {}: duplicate id", node.user_id())));
            }
            if !shorts.insert(node.short_name.clone()) {
                return Err(invalid(format!(
                    "node {}: duplicate short_name {:?}",
                    node.user_id(),
                    node.short_name
                )));
            }
            nodes.push(node);
        }
        if !nodes.iter().any(|n| n.role == Role::Station) {
            return Err(invalid("no node with role = \"station\""));
        }
        let mut scenario = Scenario {
            name: self.name.unwrap_or_else(|| "unnamed".into()),
            radio,
            nodes,
            timeline: Vec::new(),
            private_keys,
        };
        // Two nodes with one key pair would be one identity twice: refused, so that only a
        // node itself can produce its PKI packets.
        let mut publics = HashSet::new();
        for n in &scenario.nodes {
            if !publics.insert(scenario.public_key(n.id)) {
                return Err(invalid(format!(
                    "node {}: private_key is another node's",
                    n.user_id()
                )));
            }
        }
        if self.events.len() > MAX_EVENTS {
            return Err(invalid(format!("more than {MAX_EVENTS} events")));
        }
        let mut timeline = Vec::with_capacity(self.events.len());
        for (i, table) in self.events.into_iter().enumerate() {
            timeline.push(resolve_event(&scenario, i, table)?);
        }
        timeline.sort_by_key(|t| t.at);
        scenario.timeline = timeline;
        Ok(scenario)
    }
}

impl RawRadio {
    fn validate(self) -> Result<RadioSettings, ScenarioError> {
        let preset = Preset::from_name(&self.preset)
            .ok_or_else(|| invalid(format!("radio.preset: unknown preset {:?}", self.preset)))?;
        if !(self.range_km.is_finite() && self.range_km > 0.0) {
            return Err(invalid("radio.range_km must be > 0"));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(invalid("radio.loss must be in [0, 1)"));
        }
        if self.hop_limit > MAX_HOP_LIMIT {
            return Err(invalid(format!(
                "radio.hop_limit must be <= {MAX_HOP_LIMIT}"
            )));
        }
        if !(1..=32).contains(&self.position_precision) {
            return Err(invalid("radio.position_precision must be 1..=32"));
        }
        if self.channel_name.len() > 11 {
            return Err(invalid("radio.channel_name: at most 11 bytes"));
        }
        Ok(RadioSettings {
            preset,
            range_km: self.range_km,
            loss: self.loss,
            hop_limit: self.hop_limit,
            seed: self.seed,
            channel_name: self.channel_name,
            position_precision: self.position_precision,
            firmware_version: self.firmware_version,
            channel: self.channel,
            telemetry_secs: self.telemetry_secs,
        })
    }
}

impl RawNode {
    fn validate(self, i: usize, radio: &RadioSettings) -> Result<NodeSpec, ScenarioError> {
        let id = self
            .id
            .parse::<NodeId>()
            .map_err(|e| invalid(format!("node #{}: {e}", i + 1)))?
            .0;
        let at = NodeId(id);
        if id == BROADCAST {
            return Err(invalid(format!("node #{}: id cannot be broadcast", i + 1)));
        }
        if self.long_name.is_empty() || self.long_name.len() > 39 {
            return Err(invalid(format!(
                "node {at}: long_name must be 1..=39 bytes"
            )));
        }
        if self.short_name.is_empty() || self.short_name.chars().count() > 4 {
            return Err(invalid(format!(
                "node {at}: short_name must be 1..=4 characters"
            )));
        }
        if !valid_coordinates(self.position.lat, self.position.lon) {
            return Err(invalid(format!("node {at}: invalid position")));
        }
        let hw_model = match &self.hw_model {
            None => self.role.default_hw() as i32,
            Some(name) => HardwareModel::from_str_name(&name.to_ascii_uppercase())
                .ok_or_else(|| invalid(format!("node {at}: unknown hw_model {name:?}")))?
                as i32,
        };
        let range_km = self.range_km.unwrap_or(radio.range_km);
        if !(range_km.is_finite() && range_km > 0.0) {
            return Err(invalid(format!("node {at}: range_km must be > 0")));
        }
        let mut replies = Vec::with_capacity(self.replies.len());
        for r in self.replies {
            if r.contains.trim().is_empty() {
                return Err(invalid(format!("node {at}: reply.contains is empty")));
            }
            if !(r.after_secs.is_finite() && r.after_secs >= 0.0) {
                return Err(invalid(format!("node {at}: reply.after_secs must be >= 0")));
            }
            if let Some(t) = &r.text {
                check_text(t, &format!("node {at}: reply.text"))?;
            }
            replies.push(ReplyRule {
                contains: r.contains,
                text: r.text,
                after: Duration::from_secs_f64(r.after_secs),
            });
        }
        Ok(NodeSpec {
            id,
            long_name: self.long_name,
            short_name: self.short_name,
            role: self.role,
            lat: self.position.lat,
            lon: self.position.lon,
            alt: self.position.alt,
            hw_model,
            range_km,
            replies,
        })
    }
}

fn check_text(text: &str, what: &str) -> Result<(), ScenarioError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(invalid(format!(
            "{what}: {} bytes; at most {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn with_bell(text: String, bell: bool) -> String {
    if bell {
        format!("\u{7}{text}")
    } else {
        text
    }
}

fn resolve_event(
    sc: &Scenario,
    i: usize,
    mut table: toml::Table,
) -> Result<TimedAction, ScenarioError> {
    let what = format!("event #{}", i + 1);
    let at = match table.remove("at") {
        Some(toml::Value::Integer(n)) => n as f64,
        Some(toml::Value::Float(f)) => f,
        Some(_) => return Err(invalid(format!("{what}: `at` must be a number of seconds"))),
        None => {
            return Err(invalid(format!(
                "{what}: missing `at` (seconds from start)"
            )))
        }
    };
    if !(at.is_finite() && at >= 0.0) {
        return Err(invalid(format!("{what}: `at` must be >= 0")));
    }
    let raw = RawAction::deserialize(toml::Value::Table(table))
        .map_err(|e| invalid(format!("{what}: {}", e.message().replace('\n', " "))))?;
    let node = |r: &str| -> Result<u32, ScenarioError> {
        sc.node_by_name(r)
            .map(|n| n.id)
            .ok_or_else(|| invalid(format!("{what}: unknown node {r:?}")))
    };
    // A claimed identity may be any node number, in the scenario or not.
    let node_or_id = |r: &str| -> Result<u32, ScenarioError> {
        match sc.node_by_name(r) {
            Some(n) => Ok(n.id),
            None => r
                .parse::<NodeId>()
                .map(|id| id.0)
                .map_err(|_| invalid(format!("{what}: unknown node {r:?}"))),
        }
    };
    let dest = |r: &str| -> Result<u32, ScenarioError> {
        if matches!(r, "broadcast" | "^all" | "all") {
            Ok(BROADCAST)
        } else {
            node(r)
        }
    };
    let station = |r: &str| -> Result<u32, ScenarioError> {
        let id = node(r)?;
        match sc.node(id) {
            Some(n) if n.role == Role::Station => Ok(id),
            _ => Err(invalid(format!("{what}: {r:?} is not a station"))),
        }
    };
    let point = |lat: f64, lon: f64| -> Result<(), ScenarioError> {
        if valid_coordinates(lat, lon) {
            Ok(())
        } else {
            Err(invalid(format!("{what}: invalid coordinates {lat},{lon}")))
        }
    };
    let secs = |s: f64, field: &str| -> Result<f64, ScenarioError> {
        if s.is_finite() && s > 0.0 && s < 1e9 {
            Ok(s)
        } else {
            Err(invalid(format!("{what}: {field} must be > 0")))
        }
    };
    let action = match raw {
        RawAction::Text {
            from,
            to,
            channel,
            text,
            want_ack,
            bell,
        } => {
            let text = with_bell(text, bell);
            check_text(&text, &what)?;
            if channel > 7 {
                return Err(invalid(format!("{what}: channel must be 0..=7")));
            }
            Action::Text {
                from: node(&from)?,
                to: dest(&to)?,
                channel,
                text,
                want_ack,
            }
        }
        RawAction::Alert {
            from,
            to,
            text,
            bell,
        } => {
            let text = with_bell(text, bell);
            check_text(&text, &what)?;
            Action::Alert {
                from: node(&from)?,
                to: dest(&to)?,
                text,
            }
        }
        RawAction::Detection { from, name, bell } => {
            check_text(&name, &what)?;
            Action::Detection {
                from: node(&from)?,
                name,
                bell,
            }
        }
        RawAction::Position {
            node: n,
            lat,
            lon,
            alt,
        } => {
            point(lat, lon)?;
            Action::Position {
                node: node(&n)?,
                lat,
                lon,
                alt,
            }
        }
        RawAction::Track {
            node: n,
            every_secs,
            speed_kmh,
            points,
        } => {
            if points.len() < 2 || points.len() > MAX_TRACK_POINTS {
                return Err(invalid(format!(
                    "{what}: a track needs 2..={MAX_TRACK_POINTS} points"
                )));
            }
            for p in &points {
                point(p[0], p[1])?;
            }
            Action::Track {
                node: node(&n)?,
                every: Duration::from_secs_f64(secs(every_secs, "every_secs")?),
                speed_kmh: secs(speed_kmh, "speed_kmh")?,
                points: points.into_iter().map(|p| (p[0], p[1])).collect(),
            }
        }
        RawAction::Waypoint {
            from,
            to,
            id,
            name,
            description,
            lat,
            lon,
            expire_secs,
        } => {
            point(lat, lon)?;
            if name.len() > 29 || description.len() > 99 {
                return Err(invalid(format!(
                    "{what}: waypoint name <= 29 bytes, description <= 99 bytes"
                )));
            }
            Action::Waypoint {
                from: node(&from)?,
                to: dest(&to)?,
                id,
                name,
                description,
                lat,
                lon,
                expire_secs,
            }
        }
        RawAction::NodeInfo { node: n } => Action::NodeInfo { node: node(&n)? },
        RawAction::Telemetry {
            node: n,
            battery,
            every_secs,
            drain,
        } => {
            if battery > 101 || drain > 100 {
                return Err(invalid(format!(
                    "{what}: battery must be 0..=101 (101: powered), drain 0..=100"
                )));
            }
            Action::Telemetry {
                node: node(&n)?,
                level: battery,
                every: every_secs
                    .map(|s| secs(s, "every_secs").map(Duration::from_secs_f64))
                    .transpose()?,
                drain,
            }
        }
        RawAction::Silent { node: n, for_secs } => Action::Silent {
            node: node(&n)?,
            for_secs: for_secs.map(|s| secs(s, "for_secs")).transpose()?,
        },
        RawAction::Reboot { node: n } => Action::Reboot { node: station(&n)? },
        RawAction::Unplug { node: n, for_secs } => Action::Unplug {
            node: station(&n)?,
            for_secs: secs(for_secs, "for_secs")?,
        },
        RawAction::Mute { node: n } => Action::Mute { node: station(&n)? },
        RawAction::Forge {
            by,
            claimed_from,
            to,
            channel,
            text,
            mode,
        } => {
            check_text(&text, &what)?;
            if channel > 7 {
                return Err(invalid(format!("{what}: channel must be 0..=7")));
            }
            Action::Forge {
                by: node(&by)?,
                claimed_from: node_or_id(&claimed_from)?,
                to: dest(&to)?,
                channel,
                text,
                mode,
            }
        }
        RawAction::ForgeNodeInfo { by, claimed_from } => Action::ForgeNodeInfo {
            by: node(&by)?,
            claimed_from: node_or_id(&claimed_from)?,
        },
    };
    Ok(TimedAction {
        at: Duration::from_secs_f64(at),
        action,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINI: &str = r#"
        [[node]]
        id = "!00000001"
        long_name = "Estación"
        short_name = "EST"
        role = "station"
        position = { lat = 31.0, lon = -111.0 }
    "#;

    #[test]
    fn builtin_default_is_valid() {
        let sc = Scenario::builtin("default").unwrap();
        assert_eq!(sc.stations().len(), 1);
        let st = sc.node(sc.stations()[0]).unwrap();
        assert_eq!(st.short_name, "SAS");
        assert!(sc.nodes.iter().any(|n| n
            .long_name
            .as_bytes()
            .windows(2)
            .any(|w| w == [0x94, 0xC3])));
        assert!(sc.node_by_name("Sáric").is_some() || sc.node_by_name("SAR").is_some());
        assert!(!sc.timeline.is_empty());
        assert!(sc.timeline.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(Scenario::builtin("nope").is_err());
    }

    #[test]
    fn minimal_scenario_defaults() {
        let sc = Scenario::from_toml_str(MINI).unwrap();
        assert_eq!(sc.radio.preset, Preset::LongFast);
        assert_eq!(sc.radio.hop_limit, 3);
        assert_eq!(sc.stations(), vec![1]);
        assert_eq!(sc.node_by_name("EST").unwrap().id, 1);
        assert_eq!(sc.node_by_name("!00000001").unwrap().id, 1);
    }

    #[test]
    fn errors_are_one_line() {
        let bad = [
            format!("{MINI}\nbogus = 1\n"),
            MINI.replace("station", "king"),
            MINI.replace("\"!00000001\"", "\"!zz\""),
            format!("{MINI}\n[[event]]\nat = 5\naction = \"text\"\nfrom = \"X\"\ntext = \"a\"\n"),
            format!("{MINI}\n[[event]]\nat = 5\naction = \"text\"\nfrom = \"EST\"\ntext = \"a\"\ncolour = 1\n"),
            format!("{MINI}\n[[event]]\naction = \"mute\"\nnode = \"EST\"\n"),
            format!("{MINI}\n[[event]]\nat = 1\naction = \"explode\"\n"),
            MINI.replace("station", "relay"),
        ];
        for text in bad {
            let err = Scenario::from_toml_str(&text).unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
            assert!(err.starts_with("scenario: "), "{err}");
        }
    }

    #[test]
    fn timeline_is_resolved_and_sorted() {
        let text = format!(
            "{MINI}\n[[event]]\nat = 9\naction = \"mute\"\nnode = \"EST\"\n\
             [[event]]\nat = 2.5\naction = \"text\"\nfrom = \"EST\"\ntext = \"SOS\"\nbell = true\n"
        );
        let sc = Scenario::from_toml_str(&text).unwrap();
        assert_eq!(sc.timeline[0].at, Duration::from_millis(2500));
        assert_eq!(
            sc.timeline[0].action,
            Action::Text {
                from: 1,
                to: BROADCAST,
                channel: 0,
                text: "\u{7}SOS".into(),
                want_ack: false
            }
        );
        assert_eq!(sc.timeline[1].action, Action::Mute { node: 1 });
    }

    #[test]
    fn telemetry_from_toml() {
        let ev = |body: &str| {
            format!("{MINI}\n[[event]]\nat = 1\naction = \"telemetry\"\nnode = \"EST\"\n{body}")
        };
        let sc =
            Scenario::from_toml_str(&ev("battery = 80\nevery_secs = 1800\ndrain = 2\n")).unwrap();
        assert_eq!(
            sc.timeline[0].action,
            Action::Telemetry {
                node: 1,
                level: 80,
                every: Some(Duration::from_secs(1800)),
                drain: 2
            }
        );
        let once = Scenario::from_toml_str(&ev("battery = 101\n")).unwrap();
        assert!(matches!(
            once.timeline[0].action,
            Action::Telemetry {
                level: 101,
                every: None,
                drain: 0,
                ..
            }
        ));
        for bad in [
            "battery = 102\n",
            "battery = 5\ndrain = 101\n",
            "battery = 5\nevery_secs = 0\n",
        ] {
            let err = Scenario::from_toml_str(&ev(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with("scenario: ") && !err.contains('\n'),
                "{err}"
            );
        }
    }

    #[test]
    fn keys_and_forgeries_from_toml() {
        let key = [9u8; 32];
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let text = format!(
            "{MINI}private_key = \"{b64}\"\n\
             [[node]]\nid = \"!00000002\"\nlong_name = \"Otro\"\nshort_name = \"OT\"\n\
             role = \"patrol\"\nposition = {{ lat = 31.0, lon = -111.0 }}\n\
             [[event]]\nat = 1\naction = \"forge\"\nby = \"OT\"\nclaimed_from = \"!0badf00d\"\n\
             to = \"EST\"\ntext = \"x\"\nmode = \"wrong_key\"\n\
             [[event]]\nat = 2\naction = \"forge_node_info\"\nby = \"OT\"\nclaimed_from = \"EST\"\n"
        );
        let sc = Scenario::from_toml_str(&text).unwrap();
        assert_eq!(sc.public_key(1), pki::public_of(&key));
        assert_eq!(sc.public_key(2), pki::derived_public_key(2));
        assert_eq!(
            sc.timeline[0].action,
            Action::Forge {
                by: 2,
                claimed_from: 0x0bad_f00d,
                to: 1,
                channel: 0,
                text: "x".into(),
                mode: ForgeMode::WrongKey
            }
        );
        assert_eq!(
            sc.timeline[1].action,
            Action::ForgeNodeInfo {
                by: 2,
                claimed_from: 1
            }
        );
        // A bad key, and one node's key given to another, are refused.
        assert!(Scenario::from_toml_str(&format!("{MINI}private_key = \"AAAA\"\n")).is_err());
        let twice = text.replace(
            "role = \"patrol\"",
            &format!("role = \"patrol\"\nprivate_key = \"{b64}\""),
        );
        let err = Scenario::from_toml_str(&twice).unwrap_err().to_string();
        assert!(err.contains("another node"), "{err}");
    }
}
