//! Meshtastic protobuf types (from the `meshtastic` crate's generated code) and the helpers
//! every part of Faro needs: node ids, coordinates in 1e-7 degrees, routing results, and the
//! payload budget.

use std::fmt;
use std::str::FromStr;

pub use meshtastic::protobufs::*;
pub use prost::Message;

/// `to` of a broadcast packet.
pub const BROADCAST: u32 = 0xFFFF_FFFF;
/// Nonces the firmware treats specially (`PhoneAPI.h`): never use them for a handshake.
pub const SPECIAL_NONCE_ONLY_CONFIG: u32 = 69420;
/// See [`SPECIAL_NONCE_ONLY_CONFIG`].
pub const SPECIAL_NONCE_ONLY_NODES: u32 = 69421;
/// Largest encoded `Data` the firmware accepts before refusing with `TOO_LARGE` (255 - 16).
pub const MAX_DATA_LEN: usize = 239;
/// Faro's own budget for the payload of anything it sends (bytes of UTF-8, not characters).
pub const PAYLOAD_BUDGET: usize = 200;
/// Default hop limit of the firmware (`HOP_RELIABLE`).
pub const DEFAULT_HOP_LIMIT: u32 = 3;
/// Highest hop limit the firmware allows.
pub const MAX_HOP_LIMIT: u32 = 7;

/// A node number, shown the way the apps show it: `!a1b2c3d4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == BROADCAST {
            f.write_str("^all")
        } else {
            write!(f, "!{:08x}", self.0)
        }
    }
}

/// Why a node id did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNodeId(pub String);

impl fmt::Display for BadNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad node id {:?}: expected !xxxxxxxx (8 hex digits) or a decimal number",
            self.0
        )
    }
}

impl std::error::Error for BadNodeId {}

impl FromStr for NodeId {
    type Err = BadNodeId;

    /// Accepts `!a1b2c3d4`, `0xa1b2c3d4`, `^all`, or a decimal node number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadNodeId(s.to_string());
        let t = s.trim();
        if t == "^all" {
            return Ok(NodeId(BROADCAST));
        }
        let n = if let Some(hex) = t.strip_prefix('!').or_else(|| t.strip_prefix("0x")) {
            if hex.is_empty() || hex.len() > 8 {
                return Err(bad());
            }
            u32::from_str_radix(hex, 16).map_err(|_| bad())?
        } else {
            t.parse::<u32>().map_err(|_| bad())?
        };
        if n == 0 {
            return Err(bad());
        }
        Ok(NodeId(n))
    }
}

/// Degrees from the protobuf's 1e-7 degree units.
pub fn degrees(i: i32) -> f64 {
    f64::from(i) * 1e-7
}

/// 1e-7 degree units from degrees (rounded).
pub fn degrees_i(deg: f64) -> i32 {
    (deg * 1e7).round() as i32
}

/// A valid latitude/longitude pair. `0,0` is "no fix" on these devices and is refused.
pub fn valid_coordinates(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
        && !(lat == 0.0 && lon == 0.0)
}

/// Meshtastic's `precision_bits` of an exact position.
pub const FULL_PRECISION: u32 = 32;

/// How far the true position may be from a reported one kept to `bits` of precision, in
/// metres (None: exact). A sender that shares a rounded position keeps the top `bits` bits of
/// the 1e-7 degree integers, so the true point lies in a cell `2^(32 - bits)` units on a
/// side, and the reported point is its centre: half a cell away at most, north-south (east-
/// west cells are narrower away from the equator). 13 bits: about ±2.9 km.
pub fn precision_radius_m(bits: u32) -> Option<f64> {
    if bits == 0 || bits >= FULL_PRECISION {
        return None;
    }
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let cell_deg = f64::from(1u32 << (FULL_PRECISION - bits)) * 1e-7;
    Some(cell_deg * METRES_PER_DEGREE / 2.0)
}

/// Hops a received packet travelled (`hop_start - hop_limit`), when the sender told us. A
/// packet sent with hop limit 0 also has hop start 0, which old firmware (without hop start)
/// sends too; the last relayer's byte tells them apart: a packet whose last transmitter was
/// its sender (firmware 2.5 and later set `relay_node` on every transmission) came directly.
pub fn hops_travelled(p: &MeshPacket) -> Option<u32> {
    if p.hop_start == 0 {
        let direct = p.hop_limit == 0 && p.relay_node != 0 && p.relay_node == p.from & 0xff;
        return direct.then_some(0);
    }
    (p.hop_start >= p.hop_limit).then(|| p.hop_start - p.hop_limit)
}

/// The decoded `Data` of a packet, if it is not encrypted.
pub fn data(p: &MeshPacket) -> Option<&Data> {
    match &p.payload_variant {
        Some(mesh_packet::PayloadVariant::Decoded(d)) => Some(d),
        _ => None,
    }
}

/// The port of a decoded packet.
pub fn portnum(p: &MeshPacket) -> Option<PortNum> {
    data(p).and_then(|d| PortNum::try_from(d.portnum).ok())
}

/// The port name as the apps print it (`TEXT_MESSAGE_APP`), or the number.
pub fn port_name(portnum: i32) -> String {
    PortNum::try_from(portnum).map_or_else(|_| portnum.to_string(), |p| p.as_str_name().to_string())
}

/// What a `ROUTING_APP` packet says about a packet we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The destination acknowledged it.
    Ack,
    /// We heard a neighbour rebroadcast it: likely delivered (a real ACK may follow for a DM).
    ImplicitAck,
    /// The firmware gave up or refused it.
    Nak(routing::Error),
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Ack => f.write_str("ack"),
            Delivery::ImplicitAck => f.write_str("implicit-ack"),
            Delivery::Nak(e) => write!(f, "nak {}", e.as_str_name()),
        }
    }
}

/// Interprets a received routing packet as Python's `node.py` does: returns the id of the packet
/// it answers and the result. `our_node` is the local radio's node number and `destination`
/// the `to` of the packet we sent (the caller looks it up by the id).
pub fn routing_result(p: &MeshPacket) -> Option<(u32, Option<routing::Error>)> {
    let d = data(p)?;
    if d.portnum != PortNum::RoutingApp as i32 || d.request_id == 0 {
        return None;
    }
    let r = Routing::decode(d.payload.as_slice()).ok()?;
    let err = match r.variant {
        Some(routing::Variant::ErrorReason(e)) => routing::Error::try_from(e).ok(),
        _ => Some(routing::Error::None),
    };
    Some((d.request_id, err))
}

/// Classifies a routing result for a packet we sent to `destination`.
pub fn classify_delivery(
    from: u32,
    err: routing::Error,
    our_node: u32,
    destination: u32,
) -> Delivery {
    match err {
        routing::Error::None if from == our_node && destination != our_node => {
            Delivery::ImplicitAck
        }
        routing::Error::None => Delivery::Ack,
        e => Delivery::Nak(e),
    }
}

/// Encoded length of a packet's `Data`: what the firmware compares with [`MAX_DATA_LEN`].
pub fn data_len(p: &MeshPacket) -> usize {
    data(p).map_or(0, Message::encoded_len)
}

/// Encoded length of a packet's `Data` as it goes on air: the firmware sets `bitfield` on
/// every packet it originates (`has_bitfield = true`: 2 more bytes when the client left it
/// unset). For time on air; [`data_len`] is what a client controls.
pub fn air_data_len(p: &MeshPacket) -> usize {
    data(p).map_or(0, |d| {
        let bitfield = d.bitfield.unwrap_or(0);
        let extra = Data {
            bitfield: Some(bitfield),
            ..Default::default()
        }
        .encoded_len();
        let base = Data {
            bitfield: d.bitfield,
            ..Default::default()
        }
        .encoded_len();
        d.encoded_len() + extra - base
    })
}

/// A `Routing` payload with an error reason (NONE is an ACK).
pub fn routing_payload(err: routing::Error) -> Vec<u8> {
    Routing {
        variant: Some(routing::Variant::ErrorReason(err as i32)),
    }
    .encode_to_vec()
}

/// A decoded `MeshPacket` with the given port and payload; the caller fills in addressing.
pub fn packet(portnum: PortNum, payload: Vec<u8>) -> MeshPacket {
    MeshPacket {
        payload_variant: Some(mesh_packet::PayloadVariant::Decoded(Data {
            portnum: portnum as i32,
            payload,
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_from_hop_start_or_the_last_relayer() {
        let p = |from: u32, start: u32, limit: u32, relay: u32| MeshPacket {
            from,
            hop_start: start,
            hop_limit: limit,
            relay_node: relay,
            ..Default::default()
        };
        assert_eq!(hops_travelled(&p(0x7e00_0012, 3, 1, 0x55)), Some(2));
        assert_eq!(hops_travelled(&p(0x7e00_0012, 3, 3, 0x12)), Some(0));
        // Sent with hop limit 0 and heard from its sender itself: direct.
        assert_eq!(hops_travelled(&p(0x7e00_0012, 0, 0, 0x12)), Some(0));
        // Old firmware: no hop start, no relayer, or a relayer that is not the sender.
        assert_eq!(hops_travelled(&p(0x7e00_0012, 0, 0, 0)), None);
        assert_eq!(hops_travelled(&p(0x7e00_0012, 0, 0, 0x55)), None);
        assert_eq!(hops_travelled(&p(0x7e00_0012, 0, 2, 0x12)), None);
    }

    #[test]
    fn precision_radius_follows_the_apps_table() {
        assert_eq!(precision_radius_m(32), None);
        assert_eq!(precision_radius_m(0), None);
        // The Meshtastic apps label 13 bits "2.9 km" and 16 bits "364 m".
        let r13 = precision_radius_m(13).unwrap();
        assert!((2_900.0..2_950.0).contains(&r13), "{r13}");
        let r16 = precision_radius_m(16).unwrap();
        assert!((360.0..370.0).contains(&r16), "{r16}");
        assert!(precision_radius_m(31).unwrap() < 1.0);
    }

    #[test]
    fn on_air_data_counts_the_firmware_bitfield() {
        let mut p = packet(PortNum::TextMessageApp, b"SOS".to_vec());
        // portnum (2) + payload (2 + 3); on air + bitfield (2).
        assert_eq!(data_len(&p), 7);
        assert_eq!(air_data_len(&p), 9);
        if let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut p.payload_variant {
            d.bitfield = Some(1);
        }
        assert_eq!(data_len(&p), 9);
        assert_eq!(air_data_len(&p), 9, "already set: nothing added");
    }

    #[test]
    fn node_ids_print_and_parse() {
        assert_eq!(NodeId(0xa1b2c3d4).to_string(), "!a1b2c3d4");
        assert_eq!(NodeId(1).to_string(), "!00000001");
        assert_eq!("!a1b2c3d4".parse::<NodeId>(), Ok(NodeId(0xa1b2c3d4)));
        assert_eq!("0x10".parse::<NodeId>(), Ok(NodeId(16)));
        assert_eq!("305419896".parse::<NodeId>(), Ok(NodeId(305_419_896)));
        assert_eq!("^all".parse::<NodeId>(), Ok(NodeId(BROADCAST)));
        for bad in ["", "!", "!123456789", "!xyz", "-1", "0", "!00000000"] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn coordinates() {
        assert_eq!(degrees_i(31.47463), 314_746_300);
        assert!((degrees(-1_115_448_500) + 111.54485).abs() < 1e-9);
        assert!(valid_coordinates(31.4, -111.5));
        assert!(!valid_coordinates(0.0, 0.0));
        assert!(!valid_coordinates(91.0, 0.5));
        assert!(!valid_coordinates(f64::NAN, 1.0));
    }

    #[test]
    fn delivery_classification_follows_python() {
        let mut ack = packet(PortNum::RoutingApp, routing_payload(routing::Error::None));
        if let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut ack.payload_variant {
            d.request_id = 42;
        }
        ack.from = 5;
        let (id, err) = routing_result(&ack).unwrap();
        assert_eq!(id, 42);
        let err = err.unwrap();
        assert_eq!(classify_delivery(5, err, 1, 5), Delivery::Ack);
        assert_eq!(classify_delivery(1, err, 1, 5), Delivery::ImplicitAck);
        assert_eq!(
            classify_delivery(1, routing::Error::MaxRetransmit, 1, 5),
            Delivery::Nak(routing::Error::MaxRetransmit)
        );
    }
}
