//! Human and JSON descriptions of radios and packets, for `farod probe`, `farod demo` and
//! logs. Pure formatting: nothing here decides anything.

use faro_proto::mesh::{
    self, config, mesh_packet, HardwareModel, MeshPacket, Message, NodeId, PortNum, Position, User,
    Waypoint,
};
use serde_json::{json, Value};

use crate::radio::RadioInfo;

/// Text from the air, safe for a terminal on one line: control characters (C0 with ESC, BEL, CR,
/// LF and TAB, DEL, C1), the bidirectional controls that reorder what is shown (U+202A..U+202E,
/// U+2066..U+2069, U+200E, U+200F, U+061C) and the line and paragraph separators are written as
/// `\u{..}`; a backslash is doubled so nothing can pass for one. `farod demo`
/// prints every text heard or sent through it; faroctl's `render::clean` is the same escape
/// (faroctl does not link farod; its tests check that the two agree).
pub fn clean(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Bidirectional controls (embeddings, overrides, isolates, marks) and the line and
        // paragraph separators some terminals break lines at.
        let bidi = matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// What a packet carries, decoded as far as Faro understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// TEXT, ALERT or DETECTION_SENSOR text (lossy UTF-8).
    Text(String),
    /// A position in degrees.
    Position {
        lat: f64,
        lon: f64,
        alt: Option<i32>,
        precision_bits: u32,
    },
    /// A waypoint.
    Waypoint {
        name: String,
        lat: Option<f64>,
        lon: Option<f64>,
    },
    /// A node announcing its names.
    User {
        long_name: String,
        short_name: String,
    },
    /// A routing result answering packet `request_id`.
    Routing { request_id: u32, error: String },
    /// Encrypted (we lack the channel key).
    Encrypted,
    /// Something else (telemetry, traceroute, ...), by size.
    Other(usize),
}

/// Decodes the payload of `p`.
pub fn content(p: &MeshPacket) -> Content {
    let Some(d) = mesh::data(p) else {
        return match p.payload_variant {
            Some(mesh_packet::PayloadVariant::Encrypted(_)) => Content::Encrypted,
            _ => Content::Other(0),
        };
    };
    match PortNum::try_from(d.portnum) {
        Ok(PortNum::TextMessageApp | PortNum::AlertApp | PortNum::DetectionSensorApp) => {
            Content::Text(String::from_utf8_lossy(&d.payload).into_owned())
        }
        Ok(PortNum::PositionApp) => match Position::decode(d.payload.as_slice()) {
            Ok(pos) => match (pos.latitude_i, pos.longitude_i) {
                (Some(la), Some(lo)) => Content::Position {
                    lat: mesh::degrees(la),
                    lon: mesh::degrees(lo),
                    alt: pos.altitude,
                    precision_bits: pos.precision_bits,
                },
                _ => Content::Other(d.payload.len()),
            },
            Err(_) => Content::Other(d.payload.len()),
        },
        Ok(PortNum::WaypointApp) => match Waypoint::decode(d.payload.as_slice()) {
            Ok(w) => Content::Waypoint {
                name: w.name,
                lat: w.latitude_i.map(mesh::degrees),
                lon: w.longitude_i.map(mesh::degrees),
            },
            Err(_) => Content::Other(d.payload.len()),
        },
        Ok(PortNum::NodeinfoApp) => match User::decode(d.payload.as_slice()) {
            Ok(u) => Content::User {
                long_name: u.long_name,
                short_name: u.short_name,
            },
            Err(_) => Content::Other(d.payload.len()),
        },
        Ok(PortNum::RoutingApp) => {
            let error = mesh::routing_result(p)
                .and_then(|(_, e)| e)
                .map_or_else(|| "?".to_string(), |e| e.as_str_name().to_string());
            Content::Routing {
                request_id: d.request_id,
                error,
            }
        }
        _ => Content::Other(d.payload.len()),
    }
}

fn content_text(c: &Content) -> String {
    match c {
        Content::Text(t) => format!("{:?}", t),
        Content::Position {
            lat,
            lon,
            alt,
            precision_bits,
        } => {
            let alt = alt.map(|a| format!(" {a} m")).unwrap_or_default();
            format!("{lat:.5},{lon:.5}{alt} ({precision_bits} bits)")
        }
        Content::Waypoint { name, lat, lon } => match (lat, lon) {
            (Some(la), Some(lo)) => format!("waypoint {name:?} at {la:.5},{lo:.5}"),
            _ => format!("waypoint {name:?}"),
        },
        Content::User {
            long_name,
            short_name,
        } => format!("node info {long_name:?} ({short_name})"),
        Content::Routing { request_id, error } => format!("routing {error} for {request_id:#010x}"),
        Content::Encrypted => "encrypted".into(),
        Content::Other(n) => format!("{n} bytes"),
    }
}

/// One line an operator reads: `!1111aaaa (Patrulla Norte) -> ^all ch0 TEXT_MESSAGE_APP 2 hops snr 5.5 rssi -90: "AUXILIO"`.
pub fn packet_line(p: &MeshPacket, name_of: impl Fn(u32) -> Option<String>) -> String {
    let who = |n: u32| match name_of(n) {
        Some(name) => format!("{} ({name})", NodeId(n)),
        None => NodeId(n).to_string(),
    };
    let port =
        mesh::data(p).map_or_else(|| "ENCRYPTED".to_string(), |d| mesh::port_name(d.portnum));
    let hops = mesh::hops_travelled(p)
        .map(|h| format!(" {h} hops"))
        .unwrap_or_default();
    format!(
        "{} -> {} ch{} {port}{hops} snr {:.1} rssi {}: {}",
        who(p.from),
        who(p.to),
        p.channel,
        p.rx_snr,
        p.rx_rssi,
        content_text(&content(p))
    )
}

/// The packet as one JSON object (`farod probe --json`).
pub fn packet_json(p: &MeshPacket) -> Value {
    let mut v = json!({
        "from": NodeId(p.from).to_string(),
        "to": NodeId(p.to).to_string(),
        "id": p.id,
        "portnum": mesh::data(p).map(|d| mesh::port_name(d.portnum)),
        "channel": p.channel,
        "hops": mesh::hops_travelled(p),
        "hop_limit": p.hop_limit,
        "snr": p.rx_snr,
        "rssi": p.rx_rssi,
        "rx_time": p.rx_time,
        "want_ack": p.want_ack,
    });
    let extra = match content(p) {
        Content::Text(t) => json!({ "text": t }),
        Content::Position {
            lat,
            lon,
            alt,
            precision_bits,
        } => {
            json!({ "position": { "lat": lat, "lon": lon, "alt": alt, "precision_bits": precision_bits } })
        }
        Content::Waypoint { name, lat, lon } => {
            json!({ "waypoint": { "name": name, "lat": lat, "lon": lon } })
        }
        Content::User {
            long_name,
            short_name,
        } => json!({ "user": { "long_name": long_name, "short_name": short_name } }),
        Content::Routing { request_id, error } => {
            json!({ "routing": { "request_id": request_id, "error": error } })
        }
        Content::Encrypted => json!({ "encrypted": true }),
        Content::Other(n) => json!({ "payload_bytes": n }),
    };
    if let (Some(obj), Value::Object(e)) = (v.as_object_mut(), extra) {
        obj.extend(e);
    }
    v
}

fn hw_name(hw: i32) -> String {
    HardwareModel::try_from(hw).map_or_else(|_| hw.to_string(), |h| h.as_str_name().to_string())
}

/// The radio as JSON (first line of `farod probe --json`).
pub fn radio_json(uri: &str, info: &RadioInfo) -> Value {
    let user = info
        .own
        .as_ref()
        .and_then(|n| n.user.clone())
        .unwrap_or_default();
    let lora = info.lora.clone().unwrap_or_default();
    json!({
        "radio": uri,
        "node": NodeId(info.node_num()).to_string(),
        "long_name": user.long_name,
        "short_name": user.short_name,
        "firmware_version": info.metadata.as_ref().map(|m| m.firmware_version.clone()),
        "hw_model": info.metadata.as_ref().map(|m| hw_name(m.hw_model)).unwrap_or_else(|| hw_name(user.hw_model)),
        "region": config::lo_ra_config::RegionCode::try_from(lora.region).map(|r| r.as_str_name()).ok(),
        "modem_preset": config::lo_ra_config::ModemPreset::try_from(lora.modem_preset).map(|r| r.as_str_name()).ok(),
        "hop_limit": info.hop_limit(),
        "channels": info.channel_names().into_iter().map(|(i, n)| json!({"index": i, "name": n})).collect::<Vec<_>>(),
        "nodes_known": info.nodes_known,
        "reboot_count": info.my_info.reboot_count,
    })
}

/// The radio for people, a few aligned lines.
pub fn radio_lines(uri: &str, info: &RadioInfo) -> Vec<String> {
    let v = radio_json(uri, info);
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    let channels: Vec<String> = info
        .channel_names()
        .into_iter()
        .map(|(i, n)| format!("{i}:{n}"))
        .collect();
    vec![
        format!("radio     {uri}"),
        format!(
            "node      {}  {} ({})",
            s("node"),
            s("long_name"),
            s("short_name")
        ),
        format!(
            "firmware  {}  hardware {}",
            s("firmware_version"),
            s("hw_model")
        ),
        format!(
            "lora      region {}  preset {}  hop limit {}",
            s("region"),
            s("modem_preset"),
            info.hop_limit()
        ),
        format!(
            "channels  {}",
            if channels.is_empty() {
                "(none reported)".into()
            } else {
                channels.join(" ")
            }
        ),
        format!("nodes     {} known", info.nodes_known),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_air_is_escaped_for_a_terminal() {
        assert_eq!(clean("ñandú ¿qué?"), "ñandú ¿qué?");
        assert_eq!(clean("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\u{a}");
        assert_eq!(clean("\u{202e}olleh"), "\\u{202e}olleh");
        assert_eq!(clean("\\u{7}"), "\\\\u{7}");
    }

    #[test]
    fn text_and_position_lines() {
        let mut p = mesh::packet(
            PortNum::TextMessageApp,
            "\u{7}AUXILIO —É".as_bytes().to_vec(),
        );
        p.from = 0x1111_aaaa;
        p.to = mesh::BROADCAST;
        p.hop_start = 3;
        p.hop_limit = 1;
        let line = packet_line(&p, |n| {
            (n == 0x1111_aaaa).then(|| "Torre Norte".to_string())
        });
        assert_eq!(
            line,
            "!1111aaaa (Torre Norte) -> ^all ch0 TEXT_MESSAGE_APP 2 hops snr 0.0 rssi 0: \"\\u{7}AUXILIO —É\""
        );
        let v = packet_json(&p);
        assert_eq!(v["text"], "\u{7}AUXILIO —É");
        assert_eq!(v["hops"], 2);
        let pos = Position {
            latitude_i: Some(314_746_300),
            longitude_i: Some(-1_115_448_500),
            precision_bits: 32,
            ..Default::default()
        };
        let q = mesh::packet(PortNum::PositionApp, pos.encode_to_vec());
        assert_eq!(
            packet_json(&q)["position"]["lat"]
                .as_f64()
                .map(|x| (x * 1e5).round()),
            Some(3_147_463.0)
        );
        assert!(packet_line(&q, |_| None).ends_with("31.47463,-111.54485 (32 bits)"));
    }
}
