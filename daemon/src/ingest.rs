//! Intake: what one received packet means for the station, as a [`Signal`].
//!
//! [`classify`] is pure: a packet and the station's [`IngestConfig`] in, a signal out. Nothing
//! is dropped silently: a packet that is neither a distress call, a position, a patrol command
//! nor a node's description is still [`Signal::Activity`] (the node is alive). Deciding what a
//! signal does to the incident queue (dedup, priority, replies) is the store's job, not this
//! module's.
//!
//! Distress comes from text with the alert bell or a distress keyword in one of the station's
//! languages ([`Keywords`]), any `ALERT_APP` packet, a panic button on a registered tower
//! (`DETECTION_SENSOR_APP`, `<name> detected`), a waypoint named like a keyword on the station
//! channel, and a patrol's `SOS` command. Only registered patrols may send commands; a command
//! from anyone else is refused and recorded, unless it asks for help: a distress keyword always
//! wins. A registered patrol's other text is a [`Signal::PatrolNote`]: whether it is a report
//! on the team's incident or the patrol's own call for help depends on what the team has
//! assigned, which the desk knows and ingest does not.

use std::collections::{HashMap, HashSet};
use std::fmt;

use faro_proto::mesh::{self, Data, MeshPacket, Message, PortNum, Position, User, Waypoint};
use faro_proto::text::{self, fold, PatrolCommand, BELL};

use crate::lang::{Keywords, Lang, SOS_EMOJI};
use crate::understand::{self, Verdict};

/// A tower with a panic button (Detection Sensor module) and its registered position.
#[derive(Debug, Clone, PartialEq)]
pub struct Tower {
    /// Shown to operators.
    pub name: String,
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

impl Tower {
    /// The tower's registered position, at full precision.
    fn fix(&self) -> Fix {
        Fix {
            lat: self.lat,
            lon: self.lon,
            alt: None,
            precision_bits: FULL_PRECISION,
            time: None,
        }
    }
}

/// What [`classify`] needs to know about the station.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Distress keywords per language.
    pub keywords: Keywords,
    /// Registered towers by node number.
    pub towers: HashMap<u32, Tower>,
    /// Registered patrol nodes by node number, with their team name.
    pub patrols: HashMap<u32, String>,
    /// Channel index on which waypoints can raise distress.
    pub station_channel: u32,
    /// The station's own radios: their packets are only activity.
    pub our_nodes: HashSet<u32>,
    /// Nodes of municipal dispatchers: their texts are answers to ambulance requests.
    pub municipal_nodes: HashSet<u32>,
}

/// Where a distress signal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistressKind {
    /// A text message with a distress keyword.
    Text,
    /// A text message with the alert bell byte.
    Bell,
    /// An `ALERT_APP` packet.
    Alert,
    /// A registered tower's panic button.
    Detection,
    /// A waypoint named like a distress keyword.
    Waypoint,
    /// A registered patrol's `SOS` command.
    PatrolSos,
}

impl DistressKind {
    /// The stable name used in events and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DistressKind::Text => "text",
            DistressKind::Bell => "bell",
            DistressKind::Alert => "alert",
            DistressKind::Detection => "detection",
            DistressKind::Waypoint => "waypoint",
            DistressKind::PatrolSos => "patrol_sos",
        }
    }
}

impl fmt::Display for DistressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bits of precision of an exact position (Meshtastic's `precision_bits`).
pub const FULL_PRECISION: u32 = faro_proto::mesh::FULL_PRECISION;

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Altitude in metres, when known.
    pub alt: Option<i32>,
    /// Bits of precision the sender kept (32 = exact); coarser positions are rounded areas.
    pub precision_bits: u32,
    /// When the sender took the fix (seconds since the Unix epoch), when it said.
    pub time: Option<u32>,
}

/// Someone asking for help.
#[derive(Debug, Clone, PartialEq)]
pub struct Distress {
    /// The sender.
    pub node: u32,
    /// The packet id: with `node`, the key that makes a packet heard twice one signal.
    pub packet_id: u32,
    /// How the call for help came.
    pub kind: DistressKind,
    /// The language to reply in.
    pub language: Lang,
    /// The message as received (lossy UTF-8). May hold personal data: never log it.
    pub text: String,
    /// The position the packet carried, if any.
    pub position: Option<Fix>,
    /// The channel index the packet came on.
    pub channel: u32,
}

/// What one received packet means for the station.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// Someone asks for help.
    Distress(Distress),
    /// A node reports where it is.
    Position {
        /// The node.
        node: u32,
        /// Its position.
        fix: Fix,
        /// The team name, if the node is a registered patrol.
        patrol: Option<String>,
    },
    /// A node's device metrics with its battery (`TELEMETRY_APP`, `DeviceMetrics`): recorded
    /// for the teams page, never an incident. Telemetry without a battery reading, or that
    /// does not decode, is [`Signal::Activity`].
    Battery {
        /// The node.
        node: u32,
        /// Percent, 0-100; 101 means powered (plugged in). None when the node does not know.
        level: Option<u32>,
        /// Volts, when the node measured them.
        voltage: Option<f32>,
        /// The sender's clock when it measured (seconds since the epoch), if it has one.
        time: Option<u32>,
        /// The team name, if the node is a registered patrol.
        patrol: Option<String>,
    },
    /// A position that cannot be right (out of range, or exactly 0,0): ignored with a warning.
    BadPosition {
        /// The node.
        node: u32,
        /// Latitude as sent, in 1e-7 degrees (0 when missing).
        lat_i: i32,
        /// Longitude as sent, in 1e-7 degrees (0 when missing).
        lon_i: i32,
    },
    /// A registered patrol's command, or a command verb with bad arguments.
    Command {
        /// The patrol node.
        node: u32,
        /// Its team name.
        patrol: String,
        /// The packet id.
        packet_id: u32,
        /// The command, or why it does not parse (reply with [`text::CommandError::usage`]).
        command: Result<PatrolCommand, text::CommandError>,
    },
    /// A registered patrol's text that is not a command (and has no alert bell): a report from
    /// the field ("Llegamos, 2 personas, una con insolación"). The desk decides what it means:
    /// a note on the team's open incident, or, when the team has none and the words ask for
    /// help, the patrol's own distress.
    PatrolNote {
        /// The patrol node.
        node: u32,
        /// Its team name.
        patrol: String,
        /// The packet id.
        packet_id: u32,
        /// The text as received (lossy UTF-8). May hold personal data: never log it.
        text: String,
    },
    /// A command from a node that is not a registered patrol: refused and recorded.
    CommandFromStranger {
        /// The sender.
        node: u32,
        /// Length of the text in bytes (the text itself is not kept).
        text_len: usize,
    },
    /// A text that may be a call for help, and may not ("estamos cansados", "hay alguien?"):
    /// no incident on a guess; the sender is asked, the desk sees it.
    Unsure {
        /// The sender.
        node: u32,
        /// The packet id.
        packet_id: u32,
        /// The language to ask in.
        language: Lang,
        /// The message as received. May hold personal data: never log it.
        text: String,
    },
    /// A question the station answers from its own data (water, where am I, rights...).
    Question {
        /// The sender.
        node: u32,
        /// The packet id.
        packet_id: u32,
        /// What is asked, and the language of its words when they tell.
        question: understand::question::Question,
    },
    /// A direct message to the station in a patrol's or municipality's name that the radio
    /// could not decrypt: refused and shown to the desk.
    Undecodable {
        /// The node it claims.
        node: u32,
    },
    /// A node describes itself.
    NodeInfo {
        /// The node.
        node: u32,
        /// Its long name.
        long_name: String,
        /// Its short name.
        short_name: String,
        /// The public key it carries, if any.
        key: Option<crate::trust::PublicKey>,
        /// Whether the key is the one the station's radio holds for the node (its node
        /// database, at connection) rather than a claim anyone could broadcast.
        from_radio: bool,
    },
    /// Anything else: the node is alive. `portnum` is 0 for an encrypted packet.
    /// A text from a municipal dispatcher's node (configured): an answer to an ambulance
    /// request, parsed by the store against the requests it holds.
    MunicipalityText {
        /// The municipality's node.
        node: u32,
        /// The text as received (lossy UTF-8).
        text: String,
    },
    Activity {
        /// The node.
        node: u32,
        /// The port of the packet.
        portnum: i32,
        /// Payload bytes.
        bytes: usize,
    },
}

/// Classifies one received packet.
pub fn classify(p: &MeshPacket, cfg: &IngestConfig) -> Signal {
    let Some(d) = mesh::data(p) else {
        // A direct message to the station in a patrol's or municipality's name that our radio
        // could not decrypt: with firmware 2.7.14+ that is a channel-key DM or a PKI message
        // made with another key (a forgery, or a radio whose key changed).
        let claimed = cfg.patrols.contains_key(&p.from) || cfg.municipal_nodes.contains(&p.from);
        if claimed && cfg.our_nodes.contains(&p.to) {
            return Signal::Undecodable { node: p.from };
        }
        return encrypted(p);
    };
    if cfg.our_nodes.contains(&p.from) {
        return activity(p, d);
    }
    match PortNum::try_from(d.portnum) {
        Ok(PortNum::TextMessageApp) if cfg.municipal_nodes.contains(&p.from) => {
            Signal::MunicipalityText {
                node: p.from,
                text: lossy(d),
            }
        }
        Ok(PortNum::TextMessageApp) => classify_text(p, d, cfg),
        Ok(PortNum::AlertApp) => classify_alert(p, d, cfg),
        Ok(PortNum::DetectionSensorApp) => classify_detection(p, d, cfg),
        Ok(PortNum::WaypointApp) => classify_waypoint(p, d, cfg),
        Ok(PortNum::PositionApp) => classify_position(p, d, cfg),
        Ok(PortNum::NodeinfoApp) => classify_node_info(p, d),
        Ok(PortNum::TelemetryApp) => classify_telemetry(p, d, cfg),
        _ => activity(p, d),
    }
}

/// A text message: a patrol's command or note, or else [`classify_chat`]. A patrol's text
/// with the alert bell is read like anyone's (the bell is distress).
fn classify_text(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let text = lossy(d);
    match (cfg.patrols.get(&p.from), text::parse_command(&text)) {
        (Some(team), Some(command)) => patrol_command(p, team, command, text),
        (Some(team), None) if !text.contains(BELL) => Signal::PatrolNote {
            node: p.from,
            patrol: team.clone(),
            packet_id: p.id,
            text,
        },
        (_, command) => classify_chat(p, d, cfg, text, command),
    }
}

/// Text that is not a patrol's command: distress, a stranger's command, or chat.
fn classify_chat(
    p: &MeshPacket,
    d: &Data,
    cfg: &IngestConfig,
    text: String,
    command: Option<Result<PatrolCommand, text::CommandError>>,
) -> Signal {
    let text_len = text.len();
    // Anyone typing SOS or AMBULANCIA is asking for help, whatever the keyword lists say.
    let asks_help = matches!(
        command,
        Some(Ok(PatrolCommand::Sos(_) | PatrolCommand::Ambulance(_)))
    );
    match text_distress(p, text, cfg, asks_help) {
        Some(distress) => distress,
        None if command.is_some() => Signal::CommandFromStranger {
            node: p.from,
            text_len,
        },
        None => activity(p, d),
    }
}

/// A registered patrol's command; its `SOS` is distress.
fn patrol_command(
    p: &MeshPacket,
    team: &str,
    command: Result<PatrolCommand, text::CommandError>,
    text: String,
) -> Signal {
    match command {
        Ok(PatrolCommand::Sos(_)) => distress(p, DistressKind::PatrolSos, Lang::Es, text, None),
        command => Signal::Command {
            node: p.from,
            patrol: team.to_string(),
            packet_id: p.id,
            command,
        },
    }
}

/// Distress in a text message: the bell, a plea for help (`asks_help`: `SOS`, `AMB` typed by
/// anyone), or what [`understand::read`] makes of the words: yes is distress, maybe is
/// [`Signal::Unsure`], no is nothing. A station's own configured keywords count as pleas when
/// the reader found nothing else in the words (no negation, thanks or name).
fn text_distress(
    p: &MeshPacket,
    text: String,
    cfg: &IngestConfig,
    asks_help: bool,
) -> Option<Signal> {
    let reading = understand::read(&text);
    let keyword = cfg.keywords.find(&text);
    let language = reading.language.or(keyword).unwrap_or(Lang::Es);
    let kind = if text.contains(BELL) {
        DistressKind::Bell
    } else if asks_help
        || reading.verdict == Verdict::Yes
        || (keyword.is_some() && reading.why.is_empty())
    {
        DistressKind::Text
    } else if let Some(question) = understand::question::question(&text) {
        // Not a call for help: a question ("¿dónde hay agua?"), answered from the station's
        // data. A question wins over a maybe: the answer itself ends with how to ask for help.
        return Some(Signal::Question {
            node: p.from,
            packet_id: p.id,
            question,
        });
    } else if reading.verdict == Verdict::Maybe {
        return Some(Signal::Unsure {
            node: p.from,
            packet_id: p.id,
            language,
            text,
        });
    } else {
        return None;
    };
    Some(distress(p, kind, language, text, None))
}

/// Every `ALERT_APP` packet is distress.
fn classify_alert(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let text = lossy(d);
    let language = cfg.keywords.find(&text).unwrap_or(Lang::Es);
    distress(p, DistressKind::Alert, language, text, None)
}

/// A registered tower's `<name> detected` is distress at the tower; anything else is activity
/// (the periodic `<name> state: 0` reports, and unregistered nodes).
fn classify_detection(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let text = lossy(d);
    match cfg.towers.get(&p.from) {
        Some(tower) if is_detection(&text) => {
            let language = cfg.keywords.find(&text).unwrap_or(Lang::Es);
            distress(
                p,
                DistressKind::Detection,
                language,
                text,
                Some(tower.fix()),
            )
        }
        _ => activity(p, d),
    }
}

/// The Detection Sensor module's trigger text, `<name> detected`, with or without the bell.
fn is_detection(text: &str) -> bool {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == BELL);
    fold(text).ends_with("detected")
}

/// A waypoint named like a distress keyword (or with the 🆘 icon) on the station channel.
fn classify_waypoint(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let waypoint = match Waypoint::decode(d.payload.as_slice()) {
        Ok(w) if p.channel == cfg.station_channel => w,
        _ => return activity(p, d),
    };
    let language = match cfg.keywords.whole(&waypoint.name) {
        Some(language) => language,
        None if waypoint.icon == u32::from(SOS_EMOJI) => Lang::Es,
        None => return activity(p, d),
    };
    let fix = coordinates_fix(waypoint.latitude_i, waypoint.longitude_i);
    let text = waypoint_text(&waypoint);
    distress(p, DistressKind::Waypoint, language, text, fix)
}

/// A waypoint's name, and its description when it has one.
fn waypoint_text(w: &Waypoint) -> String {
    if w.description.is_empty() {
        w.name.clone()
    } else {
        format!("{}: {}", w.name, w.description)
    }
}

/// A position report. No coordinates at all (a position request, no GPS fix) is activity.
fn classify_position(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let position = match Position::decode(d.payload.as_slice()) {
        Ok(pos) if pos.latitude_i.is_some() || pos.longitude_i.is_some() => pos,
        _ => return activity(p, d),
    };
    match position_fix(&position) {
        Some(fix) => Signal::Position {
            node: p.from,
            fix,
            patrol: cfg.patrols.get(&p.from).cloned(),
        },
        None => Signal::BadPosition {
            node: p.from,
            lat_i: position.latitude_i.unwrap_or(0),
            lon_i: position.longitude_i.unwrap_or(0),
        },
    }
}

/// The fix a `Position` carries, if its coordinates are valid. Precision 0 comes from firmware
/// older than precision reporting, which sent exact positions.
fn position_fix(pos: &Position) -> Option<Fix> {
    let fix = coordinates_fix(pos.latitude_i, pos.longitude_i)?;
    let precision_bits = match pos.precision_bits {
        0 => FULL_PRECISION,
        bits => bits.min(FULL_PRECISION),
    };
    Some(Fix {
        alt: pos.altitude,
        precision_bits,
        time: (pos.time != 0).then_some(pos.time),
        ..fix
    })
}

/// A node's telemetry: its battery when the packet carries device metrics with a level or a
/// voltage; anything else (environment metrics, garbage) is activity.
fn classify_telemetry(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let Ok(t) = mesh::Telemetry::decode(d.payload.as_slice()) else {
        return activity(p, d);
    };
    let Some(mesh::telemetry::Variant::DeviceMetrics(m)) = t.variant else {
        return activity(p, d);
    };
    // A level above 101 is no reading; a voltage must be a number.
    let level = m.battery_level.filter(|l| *l <= POWERED);
    let voltage = m.voltage.filter(|v| v.is_finite() && *v > 0.0);
    if level.is_none() && voltage.is_none() {
        return activity(p, d);
    }
    Signal::Battery {
        node: p.from,
        level,
        voltage,
        time: (t.time != 0).then_some(t.time),
        patrol: cfg.patrols.get(&p.from).cloned(),
    }
}

/// The battery level a node on external power reports (Meshtastic's `101`).
pub const POWERED: u32 = 101;

/// An exact fix from coordinates in 1e-7 degrees, if both are present and valid.
fn coordinates_fix(lat_i: Option<i32>, lon_i: Option<i32>) -> Option<Fix> {
    let (lat, lon) = (mesh::degrees(lat_i?), mesh::degrees(lon_i?));
    mesh::valid_coordinates(lat, lon).then_some(Fix {
        lat,
        lon,
        alt: None,
        precision_bits: FULL_PRECISION,
        time: None,
    })
}

/// A node's description of itself.
fn classify_node_info(p: &MeshPacket, d: &Data) -> Signal {
    match User::decode(d.payload.as_slice()) {
        Ok(user) => Signal::NodeInfo {
            node: p.from,
            long_name: user.long_name,
            short_name: user.short_name,
            key: crate::trust::PublicKey::from_bytes(&user.public_key),
            from_radio: false,
        },
        Err(_) => activity(p, d),
    }
}

/// A distress signal from this packet.
fn distress(
    p: &MeshPacket,
    kind: DistressKind,
    language: Lang,
    text: String,
    position: Option<Fix>,
) -> Signal {
    Signal::Distress(Distress {
        node: p.from,
        packet_id: p.id,
        kind,
        language,
        text,
        position,
        channel: p.channel,
    })
}

/// The payload as text, invalid UTF-8 replaced.
fn lossy(d: &Data) -> String {
    String::from_utf8_lossy(&d.payload).into_owned()
}

/// Node activity for a decoded packet.
fn activity(p: &MeshPacket, d: &Data) -> Signal {
    Signal::Activity {
        node: p.from,
        portnum: d.portnum,
        bytes: d.payload.len(),
    }
}

/// Node activity for a packet we cannot read (encrypted on a channel we lack the key for).
fn encrypted(p: &MeshPacket) -> Signal {
    let bytes = match &p.payload_variant {
        Some(mesh::mesh_packet::PayloadVariant::Encrypted(b)) => b.len(),
        _ => 0,
    };
    Signal::Activity {
        node: p.from,
        portnum: PortNum::UnknownApp as i32,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_proto::text::{CommandError, IncidentId};
    use rand::Rng;

    const TOWER: u32 = 0x1000_0007;
    const PATROL: u32 = 0x2000_0001;
    const STRANGER: u32 = 0x3000_0042;
    const OURS: u32 = 0x9000_0001;

    fn cfg() -> IngestConfig {
        let tower = Tower {
            name: "Torre 7".into(),
            lat: 31.4746,
            lon: -111.5449,
        };
        IngestConfig {
            keywords: Keywords::defaults(),
            towers: HashMap::from([(TOWER, tower)]),
            patrols: HashMap::from([(PATROL, "Beta 1".to_string())]),
            station_channel: 0,
            our_nodes: HashSet::from([OURS]),
            municipal_nodes: HashSet::from([MUNICIPALITY]),
        }
    }

    const MUNICIPALITY: u32 = 0x5a5a_0401;

    #[test]
    fn texts_from_a_municipality_are_answers_not_distress() {
        let p = packet(
            MUNICIPALITY,
            PortNum::TextMessageApp,
            b"OK SAS-17 25".to_vec(),
        );
        assert_eq!(
            classify(&p, &cfg()),
            Signal::MunicipalityText {
                node: MUNICIPALITY,
                text: "OK SAS-17 25".into()
            }
        );
    }

    fn packet(from: u32, port: PortNum, payload: Vec<u8>) -> MeshPacket {
        MeshPacket {
            from,
            id: 77,
            channel: 0,
            ..mesh::packet(port, payload)
        }
    }

    fn text_from(from: u32, text: &str) -> Signal {
        classify(&packet(from, PortNum::TextMessageApp, text.into()), &cfg())
    }

    fn distress(signal: Signal) -> Distress {
        match signal {
            Signal::Distress(d) => d,
            other => panic!("not distress: {other:?}"),
        }
    }

    /// Kind and language of a stranger's text, or `None` when it is not distress.
    fn heard(text: &str) -> Option<(DistressKind, Lang)> {
        match text_from(STRANGER, text) {
            Signal::Distress(d) => Some((d.kind, d.language)),
            _ => None,
        }
    }

    fn position(lat_i: Option<i32>, lon_i: Option<i32>) -> Position {
        Position {
            latitude_i: lat_i,
            longitude_i: lon_i,
            ..Default::default()
        }
    }

    fn waypoint(name: &str, icon: u32, lat_i: i32, lon_i: i32) -> Vec<u8> {
        Waypoint {
            id: 5,
            name: name.into(),
            icon,
            latitude_i: Some(lat_i),
            longitude_i: Some(lon_i),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn sas(seq: u32) -> IncidentId {
        IncidentId {
            station: "SAS".into(),
            seq,
        }
    }

    #[test]
    fn bell_sos_is_distress_in_spanish() {
        let d = distress(text_from(STRANGER, "\u{7}SOS"));
        assert_eq!(
            d,
            Distress {
                node: STRANGER,
                packet_id: 77,
                kind: DistressKind::Bell,
                language: Lang::Es,
                text: "\u{7}SOS".into(),
                position: None,
                channel: 0,
            }
        );
    }

    #[test]
    fn the_bell_alone_is_distress() {
        assert_eq!(heard("\u{7}"), Some((DistressKind::Bell, Lang::Es)));
        assert_eq!(heard("hello\u{7}"), Some((DistressKind::Bell, Lang::Es)));
        assert_eq!(heard("\u{7}HELP"), Some((DistressKind::Bell, Lang::En)));
    }

    #[test]
    fn keywords_in_each_language() {
        let text = |lang| Some((DistressKind::Text, lang));
        assert_eq!(heard("auxilio!"), text(Lang::Es));
        assert_eq!(heard("ayuda"), text(Lang::Es));
        assert_eq!(heard("Por favor, AYUDA."), text(Lang::Es));
        assert_eq!(heard("ÈD! Nou se 2 moun"), text(Lang::Ht));
        assert_eq!(heard("AIDE s'il vous plaît"), text(Lang::Fr));
        assert_eq!(heard("HELP we are lost"), text(Lang::En));
        assert_eq!(heard("socorro, ajuda"), text(Lang::Pt));
        assert_eq!(heard("socorro"), text(Lang::Es));
        assert_eq!(heard("SOS help"), text(Lang::En));
        assert_eq!(heard("🆘"), text(Lang::Es));
        assert_eq!(heard("Emergência"), text(Lang::Es));
    }

    #[test]
    fn pleas_in_any_verb_form_are_heard_and_look_alikes_are_not() {
        assert_eq!(
            heard("Ayúdenos por favor"),
            Some((DistressKind::Text, Lang::Es))
        );
        for chat in [
            "helpful",
            "SOSA y limón",
            "Ed is here",
            "ed",
            "éd",
            "hola",
            "",
        ] {
            assert_eq!(heard(chat), None, "{chat:?}");
        }
    }

    #[test]
    fn chat_is_activity() {
        let signal = text_from(STRANGER, "helpful");
        assert_eq!(
            signal,
            Signal::Activity {
                node: STRANGER,
                portnum: PortNum::TextMessageApp as i32,
                bytes: 7
            }
        );
    }

    #[test]
    fn a_patrols_commands() {
        let command = |text| match text_from(PATROL, text) {
            Signal::Command {
                node,
                patrol,
                packet_id,
                command,
            } => {
                assert_eq!((node, patrol.as_str(), packet_id), (PATROL, "Beta 1", 77));
                command
            }
            other => panic!("not a command: {other:?}"),
        };
        assert_eq!(command("ACK SAS-1"), Ok(PatrolCommand::Ack(sas(1))));
        assert_eq!(command("AMB"), Ok(PatrolCommand::Ambulance(None)));
        assert_eq!(command("estado"), Ok(PatrolCommand::Status));
        assert_eq!(
            command("Cerrar sas-1 no encontrado"),
            Ok(PatrolCommand::Close(sas(1), text::Outcome::NotFound))
        );
    }

    #[test]
    fn a_patrols_bad_command_is_still_a_command() {
        assert!(matches!(
            text_from(PATROL, "CERRAR SAS-1"),
            Signal::Command {
                command: Err(CommandError::MissingOutcome),
                ..
            }
        ));
    }

    #[test]
    fn a_patrols_sos_is_patrol_distress() {
        let d = distress(text_from(PATROL, "SOS caída, pierna rota"));
        assert_eq!(d.kind, DistressKind::PatrolSos);
        assert_eq!(d.language, Lang::Es);
        assert_eq!(d.text, "SOS caída, pierna rota");
        assert_eq!(d.position, None);
    }

    #[test]
    fn a_patrols_free_text_is_a_note_the_desk_reads() {
        // Whether "we need help here" is the patrol's own distress or a report on the incident
        // it works depends on its assignments: the desk decides (desk::tests).
        for text in [
            "Necesitamos ayuda aquí",
            "Llegamos al punto, 2 personas, una con insolación",
            "todo bien",
        ] {
            assert_eq!(
                text_from(PATROL, text),
                Signal::PatrolNote {
                    node: PATROL,
                    patrol: "Beta 1".into(),
                    packet_id: 77,
                    text: text.into()
                },
                "{text}"
            );
        }
        // The alert bell is distress from anyone, a patrol too.
        let d = distress(text_from(PATROL, "\u{7}caída"));
        assert_eq!(d.kind, DistressKind::Bell);
        // The same words from a stranger are read as before.
        assert_eq!(
            heard("Necesitamos ayuda aquí"),
            Some((DistressKind::Text, Lang::Es))
        );
    }

    #[test]
    fn a_strangers_command_is_refused() {
        for text in [
            "ACK SAS-1",
            "CERRAR SAS-1 rescatado",
            "ESTADO",
            "ruta segura?",
        ] {
            assert_eq!(
                text_from(STRANGER, text),
                Signal::CommandFromStranger {
                    node: STRANGER,
                    text_len: text.len()
                },
                "{text}"
            );
        }
    }

    #[test]
    fn a_stranger_asking_for_help_is_distress() {
        assert_eq!(heard("SOS"), Some((DistressKind::Text, Lang::Es)));
        assert_eq!(heard("SOS ayuda"), Some((DistressKind::Text, Lang::Es)));
        assert_eq!(
            heard("AMBULANCIA por favor"),
            Some((DistressKind::Text, Lang::Es))
        );
        assert_eq!(heard("NOTA ayuda"), Some((DistressKind::Text, Lang::Es)));
        assert_eq!(
            heard("\u{7}ACK SAS-1"),
            Some((DistressKind::Bell, Lang::Es))
        );
    }

    #[test]
    fn alerts_are_always_distress() {
        let alert = |from, text: &str| {
            distress(classify(
                &packet(from, PortNum::AlertApp, text.into()),
                &cfg(),
            ))
        };
        let d = alert(STRANGER, "Alert!");
        assert_eq!((d.kind, d.language), (DistressKind::Alert, Lang::Es));
        assert_eq!(alert(PATROL, "HELP").language, Lang::En);
    }

    #[test]
    fn a_towers_panic_button_is_distress_at_the_tower() {
        for text in [
            "Botón de pánico T7 detected\u{7}",
            "Botón de pánico T7 detected",
        ] {
            let p = packet(TOWER, PortNum::DetectionSensorApp, text.into());
            let d = distress(classify(&p, &cfg()));
            assert_eq!((d.kind, d.language), (DistressKind::Detection, Lang::Es));
            assert_eq!(d.text, text);
            let fix = d.position.unwrap();
            assert_eq!((fix.lat, fix.lon), (31.4746, -111.5449));
            assert_eq!((fix.precision_bits, fix.alt, fix.time), (32, None, None));
        }
    }

    #[test]
    fn detection_from_a_stranger_or_a_state_report_is_activity() {
        let signal = |from, text: &str| {
            classify(
                &packet(from, PortNum::DetectionSensorApp, text.into()),
                &cfg(),
            )
        };
        let text = "Botón de pánico T7 detected\u{7}";
        assert_eq!(
            signal(STRANGER, text),
            Signal::Activity {
                node: STRANGER,
                portnum: PortNum::DetectionSensorApp as i32,
                bytes: text.len()
            }
        );
        assert!(matches!(
            signal(TOWER, "Botón de pánico T7 state: 1"),
            Signal::Activity { .. }
        ));
    }

    #[test]
    fn a_waypoint_named_sos_is_distress_where_it_points() {
        let p = packet(
            STRANGER,
            PortNum::WaypointApp,
            waypoint("SOS", 0, 314_746_000, -1_115_449_000),
        );
        let d = distress(classify(&p, &cfg()));
        assert_eq!((d.kind, d.language), (DistressKind::Waypoint, Lang::Es));
        assert_eq!(d.text, "SOS");
        let fix = d.position.unwrap();
        assert!((fix.lat - 31.4746).abs() < 1e-9 && (fix.lon + 111.5449).abs() < 1e-9);
    }

    #[test]
    fn waypoint_names_and_icons() {
        let classify_waypoint = |name: &str, icon| {
            let p = packet(STRANGER, PortNum::WaypointApp, waypoint(name, icon, 1, 1));
            classify(&p, &cfg())
        };
        assert_eq!(
            distress(classify_waypoint(" 🆘 sos\u{7} ", 0)).language,
            Lang::Es
        );
        assert_eq!(distress(classify_waypoint("HELP!", 0)).language, Lang::En);
        assert_eq!(
            distress(classify_waypoint("Herido", 0x1F198)).text,
            "Herido"
        );
        let ordinary = classify_waypoint("Campamento de ayuda humanitaria", 0);
        assert!(matches!(ordinary, Signal::Activity { .. }));
    }

    #[test]
    fn a_waypoint_without_a_valid_position_is_still_distress() {
        let p = packet(STRANGER, PortNum::WaypointApp, waypoint("SOS", 0, 0, 0));
        assert_eq!(distress(classify(&p, &cfg())).position, None);
    }

    #[test]
    fn waypoints_off_the_station_channel_are_activity() {
        let mut p = packet(STRANGER, PortNum::WaypointApp, waypoint("SOS", 0, 1, 1));
        p.channel = 1;
        assert!(matches!(classify(&p, &cfg()), Signal::Activity { .. }));
    }

    #[test]
    fn positions_of_patrols_and_others() {
        let pos = Position {
            altitude: Some(812),
            time: 1_700_000_000,
            precision_bits: 13,
            ..position(Some(314_746_300), Some(-1_115_448_500))
        };
        let p = packet(PATROL, PortNum::PositionApp, pos.encode_to_vec());
        let Signal::Position { node, fix, patrol } = classify(&p, &cfg()) else {
            panic!("not a position")
        };
        assert_eq!((node, patrol.as_deref()), (PATROL, Some("Beta 1")));
        assert!((fix.lat - 31.47463).abs() < 1e-9 && (fix.lon + 111.54485).abs() < 1e-9);
        assert_eq!(
            (fix.alt, fix.precision_bits, fix.time),
            (Some(812), 13, Some(1_700_000_000))
        );
        let p = packet(STRANGER, PortNum::PositionApp, pos.encode_to_vec());
        assert!(matches!(
            classify(&p, &cfg()),
            Signal::Position { patrol: None, .. }
        ));
    }

    #[test]
    fn precision_zero_is_an_exact_position_from_old_firmware() {
        let pos = position(Some(314_746_300), Some(-1_115_448_500));
        let p = packet(STRANGER, PortNum::PositionApp, pos.encode_to_vec());
        let Signal::Position { fix, .. } = classify(&p, &cfg()) else {
            panic!("not a position")
        };
        assert_eq!((fix.precision_bits, fix.time, fix.alt), (32, None, None));
    }

    #[test]
    fn impossible_positions_are_bad() {
        for (lat_i, lon_i) in [
            (Some(0), Some(0)),
            (Some(910_000_000), Some(1)),
            (Some(5), None),
        ] {
            let p = packet(
                STRANGER,
                PortNum::PositionApp,
                position(lat_i, lon_i).encode_to_vec(),
            );
            assert_eq!(
                classify(&p, &cfg()),
                Signal::BadPosition {
                    node: STRANGER,
                    lat_i: lat_i.unwrap_or(0),
                    lon_i: lon_i.unwrap_or(0)
                }
            );
        }
    }

    #[test]
    fn a_position_without_coordinates_is_activity() {
        let p = packet(STRANGER, PortNum::PositionApp, Vec::new());
        assert!(matches!(
            classify(&p, &cfg()),
            Signal::Activity { bytes: 0, .. }
        ));
    }

    #[test]
    fn node_info() {
        let user = User {
            long_name: "Patrulla Beta 1".into(),
            short_name: "PB1".into(),
            ..Default::default()
        };
        let p = packet(PATROL, PortNum::NodeinfoApp, user.encode_to_vec());
        assert_eq!(
            classify(&p, &cfg()),
            Signal::NodeInfo {
                node: PATROL,
                long_name: "Patrulla Beta 1".into(),
                short_name: "PB1".into(),
                key: None,
                from_radio: false,
            }
        );
    }

    #[test]
    fn undecodable_payloads_are_activity() {
        for port in [
            PortNum::PositionApp,
            PortNum::NodeinfoApp,
            PortNum::WaypointApp,
        ] {
            let p = packet(STRANGER, port, vec![0xff, 0xff, 0xff]);
            assert_eq!(
                classify(&p, &cfg()),
                Signal::Activity {
                    node: STRANGER,
                    portnum: port as i32,
                    bytes: 3
                },
                "{port:?}"
            );
        }
    }

    #[test]
    fn encrypted_packets_are_activity() {
        let p = MeshPacket {
            from: STRANGER,
            payload_variant: Some(mesh::mesh_packet::PayloadVariant::Encrypted(vec![1; 20])),
            ..Default::default()
        };
        assert_eq!(
            classify(&p, &cfg()),
            Signal::Activity {
                node: STRANGER,
                portnum: 0,
                bytes: 20
            }
        );
    }

    #[test]
    fn our_own_radios_are_only_activity() {
        assert!(matches!(
            text_from(OURS, "\u{7}SOS"),
            Signal::Activity { node: OURS, .. }
        ));
    }

    fn telemetry(from: u32, level: Option<u32>, voltage: Option<f32>, time: u32) -> MeshPacket {
        let t = mesh::Telemetry {
            time,
            variant: Some(mesh::telemetry::Variant::DeviceMetrics(
                mesh::DeviceMetrics {
                    battery_level: level,
                    voltage,
                    ..Default::default()
                },
            )),
        };
        packet(from, PortNum::TelemetryApp, t.encode_to_vec())
    }

    #[test]
    fn device_metrics_are_a_battery_reading() {
        assert_eq!(
            classify(
                &telemetry(PATROL, Some(18), Some(3.61), 1_700_000_000),
                &cfg()
            ),
            Signal::Battery {
                node: PATROL,
                level: Some(18),
                voltage: Some(3.61),
                time: Some(1_700_000_000),
                patrol: Some("Beta 1".into()),
            }
        );
        // Anyone's battery is recorded; powered is kept as sent.
        assert_eq!(
            classify(&telemetry(STRANGER, Some(101), None, 0), &cfg()),
            Signal::Battery {
                node: STRANGER,
                level: Some(101),
                voltage: None,
                time: None,
                patrol: None,
            }
        );
    }

    #[test]
    fn telemetry_without_a_battery_or_garbage_is_activity() {
        // No level, no voltage; an impossible level; not device metrics; not a Telemetry.
        let env = mesh::Telemetry {
            time: 0,
            variant: Some(mesh::telemetry::Variant::EnvironmentMetrics(
                Default::default(),
            )),
        };
        for p in [
            telemetry(PATROL, None, None, 0),
            telemetry(PATROL, Some(250), Some(f32::NAN), 0),
            packet(PATROL, PortNum::TelemetryApp, env.encode_to_vec()),
            packet(PATROL, PortNum::TelemetryApp, vec![0xff, 0xff, 0xff]),
        ] {
            assert!(
                matches!(classify(&p, &cfg()), Signal::Activity { node: PATROL, .. }),
                "{p:?}"
            );
        }
    }

    #[test]
    fn other_ports_are_activity() {
        let p = packet(STRANGER, PortNum::TelemetryApp, vec![1, 2]);
        assert!(matches!(
            classify(&p, &cfg()),
            Signal::Activity { bytes: 2, .. }
        ));
    }

    #[test]
    fn invalid_utf8_text_is_read_lossily() {
        let p = packet(STRANGER, PortNum::TextMessageApp, b"\xffSOS\xfe".to_vec());
        assert_eq!(distress(classify(&p, &cfg())).text, "\u{fffd}SOS\u{fffd}");
    }

    #[test]
    fn distress_kinds_have_distinct_names() {
        let kinds = [
            DistressKind::Text,
            DistressKind::Bell,
            DistressKind::Alert,
            DistressKind::Detection,
            DistressKind::Waypoint,
            DistressKind::PatrolSos,
        ];
        let names: HashSet<&str> = kinds.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), kinds.len());
    }

    // Property tests: seeded random cases.
    use crate::lang::tests::{random_text, rng, CASES};

    #[test]
    fn classify_never_panics() {
        let mut rng = rng();
        let nodes = [TOWER, PATROL, STRANGER, OURS, rng.random()];
        for _ in 0..CASES {
            let port = match rng.random_bool(0.8) {
                true => rng.random_range(0..80),
                false => rng.random(),
            };
            let len = rng.random_range(0..240);
            let p = MeshPacket {
                from: nodes[rng.random_range(0..nodes.len())],
                channel: rng.random_range(0..8),
                payload_variant: Some(mesh::mesh_packet::PayloadVariant::Decoded(Data {
                    portnum: port,
                    payload: (0..len).map(|_| rng.random()).collect(),
                    ..Default::default()
                })),
                ..Default::default()
            };
            let _ = classify(&p, &cfg());
        }
    }

    #[test]
    fn text_never_panics_and_commands_need_a_patrol() {
        let mut rng = rng();
        for _ in 0..CASES {
            let text = random_text(&mut rng);
            let _ = text_from(PATROL, &text);
            let stranger = text_from(STRANGER, &text);
            assert!(
                !matches!(stranger, Signal::Command { .. } | Signal::PatrolNote { .. }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_strangers_bell_is_always_distress() {
        let mut rng = rng();
        for _ in 0..CASES {
            let mut text = random_text(&mut rng);
            let at = rng.random_range(0..=text.chars().count());
            let i = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
            text.insert(i, BELL);
            let d = distress(text_from(STRANGER, &text));
            assert_eq!(d.kind, DistressKind::Bell, "{text:?}");
        }
    }

    #[test]
    fn an_undecodable_dm_to_us_in_a_patrols_or_municipalitys_name_is_a_refused_claim() {
        let sealed = |from: u32, to: u32| MeshPacket {
            from,
            to,
            id: 9,
            payload_variant: Some(mesh::mesh_packet::PayloadVariant::Encrypted(vec![1; 40])),
            ..MeshPacket::default()
        };
        for node in [PATROL, MUNICIPALITY] {
            assert_eq!(
                classify(&sealed(node, OURS), &cfg()),
                Signal::Undecodable { node }
            );
            // Sealed traffic to someone else (a channel we lack) is only activity.
            assert!(matches!(
                classify(&sealed(node, 0x1234_5678), &cfg()),
                Signal::Activity { .. }
            ));
        }
        assert!(matches!(
            classify(&sealed(0x0bad_0bad, OURS), &cfg()),
            Signal::Activity { .. }
        ));
    }
}
