//! The stream the ingest and latency benchmarks write: a realistic, seeded mix of what a border
//! station's radio hands its client, encoded once so farod and the Python client get the very
//! same bytes.
//!
//! Shares (of all packets): positions 67% (a fifth of them from the registered patrols, whose
//! fixes go into `team_positions`; the rest from phones and trackers), text 23% (chatter in the
//! five languages: no distress word), distress 5% (SOS texts from phones never heard before, one
//! per node, so every one is a new incident with a reply to queue), telemetry 5% (device
//! metrics). The last packet is always a distress. Senders are 1,500 nodes around Sásabe, Sonora; packet ids are unique per sender.

use faro_proto::frame::to_frame;
use faro_proto::mesh::{
    self, from_radio, mesh_packet, telemetry, DeviceMetrics, FromRadio, Message, PortNum, Position,
    Telemetry, BROADCAST,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::nodes;

/// What kind of packet a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A position from a phone or tracker.
    Position,
    /// A position from a registered patrol.
    PatrolPosition,
    /// Chatter (no distress word).
    Text,
    /// An SOS text from a new node.
    Distress,
    /// Device metrics.
    Telemetry,
}

/// The encoded stream and what is in it.
#[derive(Debug, Clone, Default)]
pub struct Mix {
    /// Encoded frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// Each frame's kind.
    pub kinds: Vec<Kind>,
    /// `(frame index, sender)` of every distress frame.
    pub distress: Vec<(usize, u32)>,
}

impl Mix {
    /// How many frames are of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.kinds.iter().filter(|k| **k == kind).count()
    }

    /// Bytes in all.
    pub fn bytes(&self) -> usize {
        self.frames.iter().map(Vec::len).sum()
    }

    /// One line: how many of each.
    pub fn describe(&self) -> String {
        format!(
            "{} packets, {} bytes: {} positions ({} from patrols), {} texts, {} distress, {} telemetry",
            self.frames.len(),
            self.bytes(),
            self.count(Kind::Position) + self.count(Kind::PatrolPosition),
            self.count(Kind::PatrolPosition),
            self.count(Kind::Text),
            self.count(Kind::Distress),
            self.count(Kind::Telemetry)
        )
    }
}

/// Phones and trackers that send positions, texts and telemetry.
pub const CHATTY_NODES: u32 = 1_500;
/// First node number of the chatty nodes.
pub const CHATTY_BASE: u32 = 0x3000_0000;
/// First node number of the distress senders (one new node per distress).
pub const DISTRESS_BASE: u32 = 0x4000_0000;

const STATION: (f64, f64) = (31.4567, -111.5467);

const CHATTER: &[&str] = &[
    "hola, ya llegamos al punto de agua",
    "estamos bien, seguimos caminando",
    "¿alguien sabe dónde está el camino a Altar?",
    "we are fine, resting under the tree",
    "nous sommes à l'ombre, tout va bien",
    "nou byen, n ap mache",
    "estamos bem, descansando",
    "batería al 40%",
    "ok",
    "¿cuánto falta para la carretera?",
];

const DISTRESS: &[&str] = &[
    "SOS",
    "AUXILIO somos 3, sin agua",
    "SOS necesitamos ayuda, una mujer herida",
    "HELP we are lost, 2 people, no water",
    "AU SECOURS nous sommes perdus",
    "SOS nou pèdi, 4 moun",
    "SOCORRO estamos perdidos",
    "AYUDA niño con calor",
];

/// The seeded mix of `n` packets.
pub fn generate(n: usize, seed: u64) -> Mix {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mix = Mix {
        frames: Vec::with_capacity(n),
        kinds: Vec::with_capacity(n),
        distress: Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1_800_000_000, |d| d.as_secs() as u32);
    let mut next_id: u32 = 0x0100_0000;
    let mut distress_node = DISTRESS_BASE;
    for i in 0..n {
        // The last packet is a distress: once its incident is committed, everything before it
        // is (one writer, in order).
        let roll: f64 = if i + 1 == n { 0.925 } else { rng.random() };
        let chatty = CHATTY_BASE + rng.random_range(0..CHATTY_NODES);
        let (kind, from, to, port, payload) = if roll < 0.134 {
            let (_, node) = nodes::PATROLS[rng.random_range(0..nodes::PATROLS.len())];
            (
                Kind::PatrolPosition,
                node,
                BROADCAST,
                PortNum::PositionApp,
                position(&mut rng, now),
            )
        } else if roll < 0.67 {
            (
                Kind::Position,
                chatty,
                BROADCAST,
                PortNum::PositionApp,
                position(&mut rng, now),
            )
        } else if roll < 0.90 {
            let text = CHATTER[rng.random_range(0..CHATTER.len())];
            (
                Kind::Text,
                chatty,
                BROADCAST,
                PortNum::TextMessageApp,
                text.as_bytes().to_vec(),
            )
        } else if roll < 0.95 {
            let node = distress_node;
            distress_node += 1;
            let text = DISTRESS[rng.random_range(0..DISTRESS.len())];
            // Half are sent to the station directly, half to the channel.
            let to = if rng.random_bool(0.5) {
                nodes::SAS
            } else {
                BROADCAST
            };
            (
                Kind::Distress,
                node,
                to,
                PortNum::TextMessageApp,
                text.as_bytes().to_vec(),
            )
        } else {
            (
                Kind::Telemetry,
                chatty,
                BROADCAST,
                PortNum::TelemetryApp,
                telemetry(&mut rng, now),
            )
        };
        next_id = next_id.wrapping_add(1 + rng.random_range(0..7));
        let hop_start = 3;
        let hop_limit = rng.random_range(0..=hop_start);
        let mut p = mesh::packet(port, payload);
        p.from = from;
        p.to = to;
        p.id = next_id;
        p.channel = 0;
        p.rx_time = now;
        p.rx_snr = rng.random_range(-15.0..10.0);
        p.rx_rssi = rng.random_range(-125..-60);
        p.hop_start = hop_start;
        p.hop_limit = hop_limit;
        p.want_ack = to != BROADCAST;
        p.priority = mesh_packet::Priority::Default as i32;
        let frame = FromRadio {
            id: (i as u32).wrapping_add(1),
            payload_variant: Some(from_radio::PayloadVariant::Packet(p)),
        };
        let bytes = to_frame(&frame).unwrap_or_default();
        if kind == Kind::Distress {
            mix.distress.push((i, from));
        }
        mix.frames.push(bytes);
        mix.kinds.push(kind);
    }
    mix
}

fn position(rng: &mut StdRng, now: u32) -> Vec<u8> {
    let lat = STATION.0 + rng.random_range(-0.4..0.4);
    let lon = STATION.1 + rng.random_range(-0.4..0.4);
    Position {
        latitude_i: Some((lat * 1e7) as i32),
        longitude_i: Some((lon * 1e7) as i32),
        altitude: Some(rng.random_range(600..1200)),
        time: now.saturating_sub(rng.random_range(0..60)),
        precision_bits: 32,
        ..Default::default()
    }
    .encode_to_vec()
}

fn telemetry(rng: &mut StdRng, now: u32) -> Vec<u8> {
    Telemetry {
        time: now,
        variant: Some(telemetry::Variant::DeviceMetrics(DeviceMetrics {
            battery_level: Some(rng.random_range(5..100)),
            voltage: Some(rng.random_range(3.3..4.2)),
            channel_utilization: Some(rng.random_range(0.0..30.0)),
            air_util_tx: Some(rng.random_range(0.0..5.0)),
            uptime_seconds: Some(rng.random_range(0..100_000)),
        })),
    }
    .encode_to_vec()
}
