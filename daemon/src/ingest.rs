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
//! wins.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use faro_proto::mesh::{self, Data, MeshPacket, Message, PortNum, Position, User, Waypoint};
use faro_proto::text::{self, fold, PatrolCommand, BELL};

/// A language the station replies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Spanish: the station default.
    Es,
    /// English.
    En,
    /// French.
    Fr,
    /// Haitian Creole.
    Ht,
    /// Portuguese.
    Pt,
}

impl Lang {
    /// Every language, the station default first.
    pub const ALL: [Lang; 5] = [Lang::Es, Lang::En, Lang::Fr, Lang::Ht, Lang::Pt];

    /// The ISO 639-1 code (`es`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Ht => "ht",
            Lang::Pt => "pt",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A language code Faro has no replies for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown language {:?}: expected es, en, fr, ht or pt",
            self.0
        )
    }
}

impl std::error::Error for UnknownLang {}

impl FromStr for Lang {
    type Err = UnknownLang;

    /// Accepts the ISO 639-1 code in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLang(s.to_string()))
    }
}

/// Keywords no longer than this that carry an accent must carry it in the text too.
const SHORT_KEYWORD_CHARS: usize = 3;
/// The SOS emoji, read as the word SOS.
const SOS_EMOJI: char = '\u{1F198}';

/// One distress keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyword {
    /// Case- and accent-folded (`ed`).
    folded: String,
    /// Lower case with its accents, when they are required (`èd`).
    accented: Option<String>,
}

impl Keyword {
    /// A keyword as configured; `Err` names the problem.
    fn new(word: &str) -> Result<Keyword, String> {
        let word = word.trim();
        let folded = fold(word);
        if folded.is_empty() || !folded.chars().all(char::is_alphanumeric) {
            return Err(format!("keyword {word:?} is not a single word"));
        }
        let lower = word.to_lowercase();
        let short = folded.chars().count() <= SHORT_KEYWORD_CHARS;
        let accented = (short && lower != folded).then_some(lower);
        Ok(Keyword { folded, accented })
    }

    /// Whether a word of the text (lower case, and folded) is this keyword.
    fn matches(&self, lower: &str, folded: &str) -> bool {
        match &self.accented {
            Some(accented) => accented == lower,
            None => self.folded == folded,
        }
    }
}

/// Distress keywords of each language, in order of preference.
///
/// A keyword matches a whole word of the text (words are split on anything but letters and
/// digits), ignoring case and accents; the emoji 🆘 reads as `SOS`. A short keyword (up to 3
/// letters) written with an accent needs that accent in the text: the Haitian `ÈD` ("help")
/// matches `èd` and `ÈD` but not `ed` or `Ed`, which are common elsewhere. A word listed under
/// several languages (`SOS`, `SOCORRO`) is neutral among them: the language is the one most
/// keywords of the text belong to, the first in list order on a tie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    langs: Vec<(Lang, Vec<Keyword>)>,
}

impl Keywords {
    /// The station defaults: `SOS` in every language, Spanish first.
    pub fn defaults() -> Keywords {
        let lists = [
            (
                Lang::Es,
                &["SOS", "AUXILIO", "AYUDA", "SOCORRO", "EMERGENCIA"][..],
            ),
            (Lang::En, &["SOS", "HELP", "MAYDAY", "EMERGENCY"][..]),
            (Lang::Fr, &["SOS", "AIDE", "SECOURS"][..]),
            (Lang::Ht, &["SOS", "ÈD", "SEKOU"][..]),
            (Lang::Pt, &["SOS", "SOCORRO", "AJUDA"][..]),
        ];
        let lists = lists
            .iter()
            .map(|(lang, words)| (*lang, words.iter().map(|w| w.to_string()).collect()))
            .collect();
        Keywords::new(lists).unwrap_or_else(|e| panic!("default keywords are broken: {e}"))
    }

    /// Keywords from configuration, in order of preference; `Err` is a one-line reason.
    pub fn new(lists: Vec<(Lang, Vec<String>)>) -> Result<Keywords, String> {
        let mut langs: Vec<(Lang, Vec<Keyword>)> = Vec::with_capacity(lists.len());
        for (lang, words) in lists {
            if langs.iter().any(|(l, _)| *l == lang) {
                return Err(format!("keywords for {lang} are listed twice"));
            }
            let keywords = words.iter().map(|w| Keyword::new(w));
            let keywords = keywords
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{e} (keywords for {lang})"))?;
            langs.push((lang, keywords));
        }
        Ok(Keywords { langs })
    }

    /// The language of the distress keywords in `text`, or `None` when there are none.
    pub fn find(&self, text: &str) -> Option<Lang> {
        let votes = self.votes(text);
        self.winner(&votes.counts)
    }

    /// Like [`Keywords::find`], but only when every word of `text` is a keyword (a waypoint
    /// named `🆘 SOS`), not when keywords are merely among other words.
    pub fn whole(&self, text: &str) -> Option<Lang> {
        let votes = self.votes(text);
        (votes.words > 0 && votes.matched == votes.words)
            .then(|| self.winner(&votes.counts))
            .flatten()
    }

    /// How many words of `text` are keywords of each language.
    fn votes(&self, text: &str) -> Votes {
        let text = text.replace(SOS_EMOJI, " sos ");
        let mut votes = Votes {
            counts: vec![0; self.langs.len()],
            words: 0,
            matched: 0,
        };
        for word in words(&text) {
            let (lower, folded) = (word.to_lowercase(), fold(word));
            let mut matched = false;
            for ((_, keywords), count) in self.langs.iter().zip(&mut votes.counts) {
                if keywords.iter().any(|k| k.matches(&lower, &folded)) {
                    *count += 1;
                    matched = true;
                }
            }
            votes.words += 1;
            votes.matched += usize::from(matched);
        }
        votes
    }

    /// The language with the most votes, the first in list order on a tie; none without votes.
    fn winner(&self, counts: &[usize]) -> Option<Lang> {
        let best = counts.iter().copied().max().filter(|&n| n > 0)?;
        let i = counts.iter().position(|&n| n == best)?;
        Some(self.langs[i].0)
    }
}

/// Keyword counts of one text.
struct Votes {
    /// Matching words per language, in list order.
    counts: Vec<usize>,
    /// Words in the text.
    words: usize,
    /// Words that are a keyword of some language.
    matched: usize,
}

/// The words of a text: runs of letters, digits and combining accents.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let separator = |c: char| !(c.is_alphanumeric() || ('\u{300}'..='\u{36f}').contains(&c));
    text.split(separator).filter(|w| !w.is_empty())
}

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
    /// A command from a node that is not a registered patrol: refused and recorded.
    CommandFromStranger {
        /// The sender.
        node: u32,
        /// Length of the text in bytes (the text itself is not kept).
        text_len: usize,
    },
    /// A node describes itself.
    NodeInfo {
        /// The node.
        node: u32,
        /// Its long name.
        long_name: String,
        /// Its short name.
        short_name: String,
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
        _ => activity(p, d),
    }
}

/// A text message: a patrol's command, or else [`classify_chat`].
fn classify_text(p: &MeshPacket, d: &Data, cfg: &IngestConfig) -> Signal {
    let text = lossy(d);
    match (cfg.patrols.get(&p.from), text::parse_command(&text)) {
        (Some(team), Some(command)) => patrol_command(p, team, command, text),
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

/// Distress in a text message: the bell, a keyword, or a plea for help (`asks_help`).
fn text_distress(
    p: &MeshPacket,
    text: String,
    cfg: &IngestConfig,
    asks_help: bool,
) -> Option<Signal> {
    let language = cfg.keywords.find(&text);
    let kind = if text.contains(BELL) {
        DistressKind::Bell
    } else if language.is_some() || asks_help {
        DistressKind::Text
    } else {
        return None;
    };
    Some(distress(p, kind, language.unwrap_or(Lang::Es), text, None))
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
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
    fn keywords_match_whole_words_only() {
        for chat in [
            "Ayúdenos por favor",
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
    fn a_patrols_chat_with_a_keyword_is_distress() {
        let d = distress(text_from(PATROL, "Necesitamos ayuda aquí"));
        assert_eq!((d.kind, d.language), (DistressKind::Text, Lang::Es));
        assert!(matches!(
            text_from(PATROL, "todo bien"),
            Signal::Activity { .. }
        ));
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
                short_name: "PB1".into()
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
    fn keyword_lists_are_validated() {
        let list = |lang, words: &[&str]| (lang, words.iter().map(|w| w.to_string()).collect());
        let twice = Keywords::new(vec![list(Lang::Es, &["SOS"]), list(Lang::Es, &["AYUDA"])]);
        assert_eq!(twice.unwrap_err(), "keywords for es are listed twice");
        let phrase = Keywords::new(vec![list(Lang::En, &["help me"])]);
        assert_eq!(
            phrase.unwrap_err(),
            "keyword \"help me\" is not a single word (keywords for en)"
        );
        assert!(Keywords::new(vec![list(Lang::Fr, &[" "])]).is_err());
        let custom = Keywords::new(vec![
            list(Lang::Pt, &["socorro"]),
            list(Lang::Es, &["socorro"]),
        ]);
        assert_eq!(custom.unwrap().find("SOCORRO"), Some(Lang::Pt));
    }

    #[test]
    fn whole_requires_every_word_to_be_a_keyword() {
        let k = Keywords::defaults();
        assert_eq!(k.whole("🆘 SOS"), Some(Lang::Es));
        assert_eq!(k.whole("sekou"), Some(Lang::Ht));
        assert_eq!(k.whole("SOS camino"), None);
        assert_eq!(k.whole(" \u{7} "), None);
    }

    #[test]
    fn languages_print_and_parse() {
        for lang in Lang::ALL {
            assert_eq!(lang.to_string().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.as_str().to_uppercase().parse::<Lang>(), Ok(lang));
        }
        assert_eq!(
            "de".parse::<Lang>().unwrap_err().to_string(),
            "unknown language \"de\": expected es, en, fr, ht or pt"
        );
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

    const DEFAULT_KEYWORDS: [&str; 14] = [
        "SOS",
        "AUXILIO",
        "AYUDA",
        "SOCORRO",
        "EMERGENCIA",
        "HELP",
        "MAYDAY",
        "EMERGENCY",
        "AIDE",
        "SECOURS",
        "ÈD",
        "SEKOU",
        "AJUDA",
        "🆘",
    ];

    // Property tests: seeded random cases (farod has no proptest dev-dependency yet).
    const CASES: usize = 2000;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0xFA20)
    }

    /// Random text mixing any characters with the pieces commands and keywords are made of.
    fn random_text(rng: &mut StdRng) -> String {
        const PIECES: [&str; 12] = [
            "SOS", "èd", "ACK", "cerrar", "SAS-1", " ", " ", "\u{7}", "ñ", "!", "AMB", "nota",
        ];
        let len = rng.random_range(0..12);
        (0..len)
            .map(|_| match rng.random_range(0..3) {
                0 => rng.random::<char>().to_string(),
                1 => char::from(rng.random_range(b' '..=b'~')).to_string(),
                _ => PIECES[rng.random_range(0..PIECES.len())].to_string(),
            })
            .collect()
    }

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
            assert!(!matches!(stranger, Signal::Command { .. }), "{text:?}");
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
    fn a_keyword_among_punctuation_is_found() {
        const AROUND: [&str; 8] = ["", " ", ",", ".", "!", "¡", "¿", "\u{7}"];
        let mut rng = rng();
        let mut around = || -> String {
            (0..rng.random_range(0..3))
                .map(|_| AROUND[rng.random_range(0..AROUND.len())])
                .collect()
        };
        let k = Keywords::defaults();
        for keyword in DEFAULT_KEYWORDS {
            for word in [keyword.to_string(), keyword.to_lowercase()] {
                let text = format!("{}{word}{}", around(), around());
                assert!(k.find(&text).is_some(), "{text:?}");
            }
        }
    }

    #[test]
    fn find_ignores_ascii_case() {
        let mut rng = rng();
        let k = Keywords::defaults();
        for _ in 0..CASES {
            let text = random_text(&mut rng).replace(|c: char| !c.is_ascii(), "");
            assert_eq!(k.find(&text), k.find(&text.to_uppercase()), "{text:?}");
        }
    }
}
