//! Unit tests of the device state machine: no I/O, no runtime, time passed in by hand.

use super::*;
use crate::scenario::Scenario;
use faro_proto::mesh::{to_radio, Heartbeat};

const ME: u32 = 0x5a5a_0001;
const OTHER: u32 = 0x5a5a_0101;

fn device(now: Instant) -> Device {
    let sc = Scenario::builtin("default").unwrap();
    let me = sc.node(ME).unwrap().clone();
    let others: Vec<_> = sc.nodes.iter().map(|n| (n.clone(), Some(1))).collect();
    let clock = Clock {
        start: now,
        epoch0: 1_780_000_000,
    };
    Device::new(me, &others, sc.radio.clone(), clock, now, 7)
}

fn want_config(nonce: u32) -> ToRadio {
    ToRadio {
        payload_variant: Some(to_radio::PayloadVariant::WantConfigId(nonce)),
    }
}

fn packet_msg(p: MeshPacket) -> ToRadio {
    ToRadio {
        payload_variant: Some(to_radio::PayloadVariant::Packet(p)),
    }
}

fn text(to: u32, id: u32, s: &str) -> MeshPacket {
    let mut p = mesh::packet(PortNum::TextMessageApp, s.as_bytes().to_vec());
    p.to = to;
    p.id = id;
    p
}

/// Pops every frame (skipping log lines) for `conn`; bounded.
fn frames(dev: &mut Device, conn: ConnId) -> Vec<FromRadio> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match dev.pop(conn) {
            Some(ToClient::Frame(f)) => out.push(f),
            Some(ToClient::Log(_)) => {}
            None => break,
        }
    }
    out
}

fn transmits(dev: &mut Device) -> Vec<MeshPacket> {
    dev.take_outputs()
        .into_iter()
        .filter_map(|o| match o {
            Output::Transmit(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn live(now: Instant) -> Device {
    let mut dev = device(now);
    dev.attach(1, Transport::Serial, now);
    dev.handle_to_radio(1, want_config(4242), now);
    let burst = frames(&mut dev, 1);
    assert!(matches!(
        burst.last().and_then(|f| f.payload_variant.clone()),
        Some(from_radio::PayloadVariant::ConfigCompleteId(4242))
    ));
    dev.take_outputs();
    dev
}

fn kind(f: &FromRadio) -> &'static str {
    use from_radio::PayloadVariant as F;
    match &f.payload_variant {
        Some(F::MyInfo(_)) => "my_info",
        Some(F::DeviceuiConfig(_)) => "deviceui",
        Some(F::NodeInfo(_)) => "node_info",
        Some(F::Metadata(_)) => "metadata",
        Some(F::Channel(_)) => "channel",
        Some(F::Config(_)) => "config",
        Some(F::ModuleConfig(_)) => "module",
        Some(F::FileInfo(_)) => "file",
        Some(F::ConfigCompleteId(_)) => "complete",
        Some(F::QueueStatus(_)) => "queue",
        Some(F::Packet(_)) => "packet",
        Some(F::Rebooted(_)) => "rebooted",
        _ => "other",
    }
}

fn routing_of(f: &FromRadio) -> Option<(u32, u32, routing::Error)> {
    let Some(from_radio::PayloadVariant::Packet(p)) = &f.payload_variant else {
        return None;
    };
    let (req, err) = mesh::routing_result(p)?;
    Some((p.from, req, err?))
}

fn queue_status(f: &FromRadio) -> Option<QueueStatus> {
    match &f.payload_variant {
        Some(from_radio::PayloadVariant::QueueStatus(q)) => Some(*q),
        _ => None,
    }
}

#[test]
fn nothing_is_sent_before_want_config() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(1, Transport::Serial, t0);
    let mut logs = 0;
    while let Some(item) = dev.pop(1) {
        assert!(matches!(item, ToClient::Log(_)), "{item:?}");
        logs += 1;
        assert!(logs < 100);
    }
    assert!(
        logs >= 1,
        "serial console prints its log before the handshake"
    );
    assert_eq!(dev.api_state(1), Some(ApiState::SendNothing));
}

#[test]
fn config_burst_in_firmware_order() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(1, Transport::Serial, t0);
    dev.handle_to_radio(1, want_config(987_654), t0);
    let burst = frames(&mut dev, 1);
    let kinds: Vec<&str> = burst.iter().map(kind).collect();
    let others = Scenario::builtin("default").unwrap().nodes.len() - 1;
    let mut expected = vec!["my_info", "deviceui", "node_info", "metadata"];
    expected.extend(["channel"; 8]);
    expected.extend(["config"; 10]);
    expected.extend(["module"; 13]);
    expected.extend(std::iter::repeat_n("node_info", others));
    expected.push("complete");
    assert_eq!(kinds, expected);
    use from_radio::PayloadVariant as F;
    let Some(F::MyInfo(my)) = &burst[0].payload_variant else {
        panic!()
    };
    assert_eq!(my.my_node_num, ME);
    let Some(F::NodeInfo(own)) = &burst[2].payload_variant else {
        panic!()
    };
    assert_eq!(own.num, ME);
    assert!(own.is_favorite);
    assert_eq!(own.user.as_ref().unwrap().id, "!5a5a0001");
    let Some(F::Metadata(md)) = &burst[3].payload_variant else {
        panic!()
    };
    assert_eq!(md.firmware_version, "2.7.15.567b8ea");
    assert!(md.has_pkc);
    let Some(F::Channel(ch0)) = &burst[4].payload_variant else {
        panic!()
    };
    assert_eq!(ch0.role, channel::Role::Primary as i32);
    let s = ch0.settings.as_ref().unwrap();
    assert_eq!(s.name, "Faro");
    assert_eq!(s.module_settings.as_ref().unwrap().position_precision, 32);
    for (i, f) in burst[5..12].iter().enumerate() {
        let Some(F::Channel(c)) = &f.payload_variant else {
            panic!()
        };
        assert_eq!(c.index as usize, i + 1);
        assert_eq!(c.role, channel::Role::Disabled as i32);
    }
    let config_tags: Vec<usize> = burst[12..22]
        .iter()
        .map(|f| match &f.payload_variant {
            Some(F::Config(Config {
                payload_variant: Some(v),
            })) => match v {
                config::PayloadVariant::Device(_) => 1,
                config::PayloadVariant::Position(_) => 2,
                config::PayloadVariant::Power(_) => 3,
                config::PayloadVariant::Network(_) => 4,
                config::PayloadVariant::Display(_) => 5,
                config::PayloadVariant::Lora(l) => {
                    assert!(l.use_preset && l.tx_enabled);
                    assert_eq!(l.hop_limit, 3);
                    assert_eq!(l.region, config::lo_ra_config::RegionCode::Us as i32);
                    6
                }
                config::PayloadVariant::Bluetooth(_) => 7,
                config::PayloadVariant::Security(_) => 8,
                config::PayloadVariant::Sessionkey(_) => 9,
                config::PayloadVariant::DeviceUi(_) => 10,
            },
            _ => 0,
        })
        .collect();
    assert_eq!(config_tags, (1..=10).collect::<Vec<_>>());
    let module_tags: Vec<i32> = burst[22..35]
        .iter()
        .map(|f| match &f.payload_variant {
            Some(F::ModuleConfig(m)) => {
                // The oneof tag number is the position in the firmware's order.
                let bytes = m.encode_to_vec();
                i32::from(bytes[0] >> 3)
            }
            _ => 0,
        })
        .collect();
    assert_eq!(module_tags, (1..=13).collect::<Vec<_>>());
    assert!(burst
        .iter()
        .all(|f| f.encoded_len() <= faro_proto::frame::MAX_LEN));
    assert_eq!(dev.api_state(1), Some(ApiState::SendPackets));
}

#[test]
fn special_nonces() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(1, Transport::Serial, t0);
    dev.handle_to_radio(1, want_config(SPECIAL_NONCE_ONLY_CONFIG), t0);
    let kinds: Vec<&str> = frames(&mut dev, 1).iter().map(kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "node_info").count(), 1);
    assert_eq!(kinds.len(), 4 + 8 + 10 + 13 + 1);
    dev.handle_to_radio(1, want_config(SPECIAL_NONCE_ONLY_NODES), t0);
    let kinds: Vec<&str> = frames(&mut dev, 1).iter().map(kind).collect();
    assert!(kinds[..kinds.len() - 1].iter().all(|k| *k == "node_info"));
    assert_eq!(*kinds.last().unwrap(), "complete");
    assert_eq!(
        kinds.len(),
        Scenario::builtin("default").unwrap().nodes.len() + 1
    );
}

#[test]
fn want_config_again_restarts_the_burst() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(1, Transport::Serial, t0);
    dev.handle_to_radio(1, want_config(1), t0);
    for _ in 0..5 {
        dev.pop(1);
    }
    dev.handle_to_radio(1, want_config(2), t0);
    let burst = frames(&mut dev, 1);
    assert_eq!(kind(&burst[0]), "my_info");
    assert!(matches!(
        burst.last().unwrap().payload_variant,
        Some(from_radio::PayloadVariant::ConfigCompleteId(2))
    ));
    assert!(!burst.iter().any(|f| matches!(
        f.payload_variant,
        Some(from_radio::PayloadVariant::ConfigCompleteId(1))
    )));
}

#[test]
fn client_packet_gets_queue_status_and_our_from() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = text(OTHER, 0, "hola");
    p.from = 0x1234;
    dev.handle_to_radio(1, packet_msg(p), t0);
    let sent = transmits(&mut dev);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].from, ME);
    assert_ne!(sent[0].id, 0, "the device picks an id");
    let out = frames(&mut dev, 1);
    let qs = queue_status(&out[0]).unwrap();
    assert_eq!((qs.res, qs.maxlen, qs.mesh_packet_id), (0, 16, sent[0].id));
    assert_eq!(qs.free, 15);
    dev.tx_done();
    dev.handle_to_radio(
        1,
        ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce: 1 })),
        },
        t0,
    );
    let qs = queue_status(&frames(&mut dev, 1)[0]).unwrap();
    assert_eq!(qs.free, 16, "heartbeat answered with queueStatus");
}

#[test]
fn repeated_client_id_is_ignored() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.handle_to_radio(1, packet_msg(text(OTHER, 77, "uno")), t0);
    dev.handle_to_radio(
        1,
        packet_msg(text(OTHER, 77, "uno")),
        t0 + Duration::from_secs(5),
    );
    assert_eq!(transmits(&mut dev).len(), 1);
}

#[test]
fn text_rate_limit_naks() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.handle_to_radio(1, packet_msg(text(OTHER, 1, "a")), t0);
    dev.handle_to_radio(
        1,
        packet_msg(text(OTHER, 2, "b")),
        t0 + Duration::from_millis(1500),
    );
    assert_eq!(transmits(&mut dev).len(), 1);
    let out = frames(&mut dev, 1);
    let nak = out.iter().find_map(routing_of).unwrap();
    assert_eq!(nak, (ME, 2, routing::Error::RateLimitExceeded));
    assert_eq!(routing::Error::RateLimitExceeded as i32, 38);
    assert_eq!(out.iter().filter(|f| queue_status(f).is_some()).count(), 2);
    dev.handle_to_radio(
        1,
        packet_msg(text(OTHER, 3, "c")),
        t0 + Duration::from_millis(2000),
    );
    assert_eq!(
        transmits(&mut dev).len(),
        1,
        "2 s after the last accepted text"
    );
}

#[test]
fn position_rate_limit_drops_silently() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let pos = |id| {
        let mut p = mesh::packet(
            PortNum::PositionApp,
            position(31.0, -111.0, None, 0, 32).encode_to_vec(),
        );
        p.to = BROADCAST;
        p.id = id;
        p
    };
    dev.handle_to_radio(1, packet_msg(pos(10)), t0);
    dev.handle_to_radio(1, packet_msg(pos(11)), t0 + Duration::from_secs(9));
    // Another slow port has its own window.
    let mut alert = mesh::packet(PortNum::AlertApp, b"x".to_vec());
    alert.to = BROADCAST;
    alert.id = 12;
    dev.handle_to_radio(1, packet_msg(alert), t0 + Duration::from_secs(9));
    assert_eq!(transmits(&mut dev).len(), 2);
    let out = frames(&mut dev, 1);
    assert!(out.iter().all(|f| routing_of(f).is_none()), "no NAK");
    let dropped = out
        .iter()
        .filter_map(queue_status)
        .find(|q| q.mesh_packet_id == 11)
        .unwrap();
    assert_eq!(dropped.res, 0);
    dev.handle_to_radio(1, packet_msg(pos(13)), t0 + Duration::from_secs(10));
    assert_eq!(transmits(&mut dev).len(), 1);
}

#[test]
fn too_large_is_naked() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let big = "x".repeat(236);
    let p = text(OTHER, 5, &big);
    assert!(mesh::data_len(&p) > MAX_DATA_LEN);
    dev.handle_to_radio(1, packet_msg(p), t0);
    assert!(transmits(&mut dev).is_empty());
    let out = frames(&mut dev, 1);
    assert_eq!(
        out.iter().find_map(routing_of),
        Some((ME, 5, routing::Error::TooLarge))
    );
    let fits = text(OTHER, 6, &"x".repeat(233));
    assert!(mesh::data_len(&fits) <= MAX_DATA_LEN);
    dev.handle_to_radio(1, packet_msg(fits), t0 + Duration::from_secs(3));
    assert_eq!(transmits(&mut dev).len(), 1);
}

#[test]
fn hop_limit_zero_rule() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.handle_to_radio(1, packet_msg(text(BROADCAST, 1, "a")), t0);
    let mut reliable = text(OTHER, 2, "b");
    reliable.want_ack = true;
    dev.handle_to_radio(1, packet_msg(reliable), t0 + Duration::from_secs(3));
    let mut five = text(OTHER, 3, "c");
    five.hop_limit = 5;
    dev.handle_to_radio(1, packet_msg(five), t0 + Duration::from_secs(6));
    let sent = transmits(&mut dev);
    let hops: Vec<(u32, u32)> = sent.iter().map(|p| (p.hop_limit, p.hop_start)).collect();
    assert_eq!(hops, vec![(0, 0), (3, 3), (5, 5)]);
    assert!(sent[1].want_ack);
}

#[test]
fn ack_from_destination_stops_retransmission() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = text(OTHER, 9, "ambulancia");
    p.want_ack = true;
    dev.handle_to_radio(1, packet_msg(p), t0);
    transmits(&mut dev);
    frames(&mut dev, 1);
    assert_eq!(dev.pending_acks(), 1);
    let mut ack = routing_packet(OTHER, ME, 500, 9, routing::Error::None, 3);
    ack.hop_limit = 2;
    dev.receive(ack, t0 + Duration::from_secs(8));
    assert_eq!(dev.pending_acks(), 0);
    let out = frames(&mut dev, 1);
    assert_eq!(
        out.iter().find_map(routing_of),
        Some((OTHER, 9, routing::Error::None))
    );
    dev.poll(t0 + Duration::from_secs(600));
    assert!(transmits(&mut dev).is_empty());
    assert!(frames(&mut dev, 1).is_empty(), "no NAK after the ACK");
}

#[test]
fn implicit_ack_for_broadcast() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = text(BROADCAST, 21, "a todos");
    p.want_ack = true;
    dev.handle_to_radio(1, packet_msg(p), t0);
    let sent = transmits(&mut dev);
    assert!(!sent[0].want_ack, "want_ack cleared on air for broadcasts");
    frames(&mut dev, 1);
    dev.heard_rebroadcast(21, t0 + Duration::from_secs(2));
    let out = frames(&mut dev, 1);
    assert_eq!(
        out.iter().find_map(routing_of),
        Some((ME, 21, routing::Error::None))
    );
    assert_eq!(dev.pending_acks(), 0);
}

#[test]
fn max_retransmit_nak_after_three_retransmissions() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = text(OTHER, 31, "hola?");
    p.want_ack = true;
    let interval = radio::retransmission_interval(Preset::LongFast, mesh::data_len(&p));
    dev.handle_to_radio(1, packet_msg(p), t0);
    assert_eq!(transmits(&mut dev).len(), 1);
    frames(&mut dev, 1);
    let mut retx = 0;
    let mut nak_at = None;
    for _ in 0..20 {
        let Some(d) = dev.next_deadline() else { break };
        let now = d;
        dev.poll(now);
        retx += transmits(&mut dev).iter().filter(|p| p.id == 31).count();
        if let Some(n) = frames(&mut dev, 1).iter().find_map(routing_of) {
            nak_at = Some((n, now));
            break;
        }
    }
    assert_eq!(retx, 3);
    let ((from, id, err), at) = nak_at.unwrap();
    assert_eq!((from, id, err), (ME, 31, routing::Error::MaxRetransmit));
    assert_eq!(at - t0, interval * 4);
    assert!(
        at - t0 > Duration::from_secs(40),
        "tens of seconds on LONG_FAST: {:?}",
        at - t0
    );
}

#[test]
fn serial_timeout_is_silent_and_want_config_revives() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let heard = |id| {
        let mut p = text(BROADCAST, id, "ruido");
        p.from = OTHER;
        p
    };
    dev.poll(t0 + SERIAL_CONNECTION_TIMEOUT - Duration::from_secs(1));
    assert_eq!(dev.api_state(1), Some(ApiState::SendPackets));
    dev.poll(t0 + SERIAL_CONNECTION_TIMEOUT);
    assert_eq!(dev.api_state(1), Some(ApiState::SendNothing));
    assert!(dev
        .take_outputs()
        .iter()
        .any(|o| matches!(o, Output::State(Some(1), s) if s == "lost_phone_connection")));
    let mut logs = String::new();
    dev.receive(
        heard(100),
        t0 + SERIAL_CONNECTION_TIMEOUT + Duration::from_secs(5),
    );
    while let Some(item) = dev.pop(1) {
        match item {
            ToClient::Log(l) => logs.push_str(&l),
            ToClient::Frame(f) => panic!("forwarded after the timeout: {f:?}"),
        }
    }
    assert!(logs.contains("Lost phone connection"));
    // A heartbeat is a valid ToRadio but does not revive the API: no queueStatus either.
    dev.handle_to_radio(
        1,
        ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce: 2 })),
        },
        t0 + SERIAL_CONNECTION_TIMEOUT + Duration::from_secs(6),
    );
    assert!(frames(&mut dev, 1).is_empty());
    dev.handle_to_radio(
        1,
        want_config(77),
        t0 + SERIAL_CONNECTION_TIMEOUT + Duration::from_secs(7),
    );
    let out = frames(&mut dev, 1);
    let pos = out.iter().position(|f| kind(f) == "complete").unwrap();
    assert!(
        matches!(&out[pos + 1].payload_variant, Some(from_radio::PayloadVariant::Packet(p)) if p.id == 100),
        "the packet heard meanwhile waited in the to-phone queue"
    );
}

#[test]
fn tcp_has_no_idle_timeout() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(2, Transport::Tcp, t0);
    dev.handle_to_radio(2, want_config(5), t0);
    frames(&mut dev, 2);
    assert_eq!(dev.next_deadline(), None);
    dev.poll(t0 + Duration::from_secs(3600));
    assert_eq!(dev.api_state(2), Some(ApiState::SendPackets));
}

#[test]
fn to_phone_queue_drops_oldest() {
    let t0 = Instant::now();
    let mut dev = device(t0);
    dev.attach(1, Transport::Serial, t0);
    for id in 1..=40 {
        let mut p = text(BROADCAST, id, "x");
        p.from = OTHER;
        dev.receive(p, t0);
    }
    assert_eq!(dev.dropped_to_phone(), 8);
    dev.handle_to_radio(1, want_config(9), t0);
    let ids: Vec<u32> = frames(&mut dev, 1)
        .iter()
        .filter_map(|f| match &f.payload_variant {
            Some(from_radio::PayloadVariant::Packet(p)) => Some(p.id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, (9..=40).collect::<Vec<_>>());
}

#[test]
fn reboot_sends_rebooted_on_serial_and_closes_tcp() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.attach(2, Transport::Tcp, t0);
    dev.handle_to_radio(2, want_config(3), t0);
    frames(&mut dev, 2);
    dev.take_outputs();
    dev.reboot(t0 + Duration::from_secs(1));
    let outputs = dev.take_outputs();
    assert!(outputs.contains(&Output::Close(2)));
    let out = frames(&mut dev, 1);
    assert_eq!(out.iter().map(kind).collect::<Vec<_>>(), vec!["rebooted"]);
    assert_eq!(dev.api_state(1), Some(ApiState::SendNothing));
    dev.handle_to_radio(1, want_config(4), t0 + Duration::from_secs(2));
    let burst = frames(&mut dev, 1);
    let Some(from_radio::PayloadVariant::MyInfo(my)) = &burst[0].payload_variant else {
        panic!()
    };
    assert_eq!(my.reboot_count, 2);
}

#[test]
fn disconnect_closes_the_phone_api() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.handle_to_radio(
        1,
        ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Disconnect(true)),
        },
        t0,
    );
    assert_eq!(dev.api_state(1), Some(ApiState::SendNothing));
    let mut p = text(BROADCAST, 1, "x");
    p.from = OTHER;
    dev.receive(p, t0);
    assert!(frames(&mut dev, 1).is_empty());
}

#[test]
fn reliable_dm_to_us_is_acked_on_air() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = pki_dm(OTHER, OTHER, 444, "Llegamos");
    p.want_ack = true;
    p.hop_start = 3;
    p.hop_limit = 2;
    dev.receive(p, t0);
    let sent = transmits(&mut dev);
    assert_eq!(sent.len(), 1);
    let ack = &sent[0];
    assert_eq!((ack.from, ack.to), (ME, OTHER));
    assert_eq!(
        mesh::routing_result(ack),
        Some((444, Some(routing::Error::None)))
    );
}

#[test]
fn muted_connection_gets_nothing() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.mute(1);
    let mut p = text(BROADCAST, 1, "x");
    p.from = OTHER;
    dev.receive(p, t0);
    assert!(dev.pop(1).is_none());
    dev.handle_to_radio(1, packet_msg(text(OTHER, 2, "y")), t0);
    assert!(
        transmits(&mut dev).is_empty(),
        "a hung radio ignores its client"
    );
}

use faro_proto::airtime::Preset;

// ---- PKI -----------------------------------------------------------------------------------

/// A text to ME as heard on air: `from = claimed`, PKI-encrypted with `signer`'s key pair.
fn pki_dm(signer: u32, claimed: u32, id: u32, s: &str) -> MeshPacket {
    let mut p = text(ME, id, s);
    p.from = claimed;
    pki::seal(&mut p, &pki::derived_private_key(signer), &public_key(ME));
    p
}

fn delivered(dev: &mut Device) -> Vec<MeshPacket> {
    frames(dev, 1)
        .into_iter()
        .filter_map(|f| match f.payload_variant {
            Some(from_radio::PayloadVariant::Packet(p)) => Some(p),
            _ => None,
        })
        .collect()
}

fn nodeinfo_from(claimed: u32, key: [u8; 32]) -> MeshPacket {
    let u = User {
        id: mesh::NodeId(claimed).to_string(),
        long_name: "x".into(),
        short_name: "x".into(),
        public_key: key.to_vec(),
        ..Default::default()
    };
    let mut p = mesh::packet(PortNum::NodeinfoApp, u.encode_to_vec());
    p.to = BROADCAST;
    p.from = claimed;
    p.id = 900;
    p
}

#[test]
fn keys_are_real_x25519_and_announced() {
    let t0 = Instant::now();
    let dev = device(t0);
    assert_eq!(dev.own_public_key(), public_key(ME));
    assert_eq!(dev.nodedb_key(OTHER), Some(public_key(OTHER)));
    let burst = dev.config_burst(1, t0);
    let sec = burst.iter().find_map(|f| match &f.payload_variant {
        Some(from_radio::PayloadVariant::Config(Config {
            payload_variant: Some(config::PayloadVariant::Security(s)),
        })) => Some(s.public_key.clone()),
        _ => None,
    });
    assert_eq!(sec.unwrap(), public_key(ME).to_vec());
}

#[test]
fn pki_dm_from_its_sender_is_delivered_with_the_nodedb_key() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.receive(pki_dm(OTHER, OTHER, 5, "hola"), t0);
    let got = delivered(&mut dev);
    assert_eq!(got.len(), 1);
    let p = &got[0];
    assert!(p.pki_encrypted);
    assert_eq!(p.public_key, public_key(OTHER).to_vec());
    assert_eq!(p.channel, 0);
    assert_eq!(mesh::data(p).unwrap().payload, b"hola");
}

#[test]
fn pki_dm_with_another_key_is_undecoded_and_naked() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let impostor = 0x5a5a_0102;
    let mut p = pki_dm(impostor, OTHER, 6, "soy P1");
    p.want_ack = true;
    dev.receive(p, t0);
    let sent = transmits(&mut dev);
    assert_eq!(
        mesh::routing_result(&sent[0]),
        Some((6, Some(routing::Error::NoChannel)))
    );
    let got = delivered(&mut dev);
    assert_eq!(got.len(), 1);
    assert!(!got[0].pki_encrypted && got[0].public_key.is_empty());
    assert!(mesh::data(&got[0]).is_none(), "not decoded");
    // From a node we hold no key for: PKI_UNKNOWN_PUBKEY.
    let mut p = pki_dm(impostor, 0x0bad_0001, 7, "?");
    p.want_ack = true;
    dev.receive(p, t0);
    assert_eq!(
        mesh::routing_result(&transmits(&mut dev)[0]),
        Some((7, Some(routing::Error::PkiUnknownPubkey)))
    );
}

#[test]
fn legacy_text_dm_is_refused_by_2_7_14_and_later_only() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let mut p = text(ME, 8, "canal");
    p.from = OTHER;
    dev.receive(p.clone(), t0);
    let got = delivered(&mut dev);
    assert!(mesh::data(&got[0]).is_none() && !got[0].pki_encrypted);
    // A broadcast on the channel key is fine.
    let mut b = text(BROADCAST, 9, "todos");
    b.from = OTHER;
    dev.receive(b, t0);
    let got = delivered(&mut dev);
    assert!(mesh::data(&got[0]).is_some() && !got[0].pki_encrypted);
    // Older firmware delivers the channel DM, without PKI.
    let mut old = device(t0);
    old.radio.firmware_version = "2.6.11.60ec05e".into();
    old.attach(1, Transport::Serial, t0);
    old.handle_to_radio(1, want_config(1), t0);
    frames(&mut old, 1);
    p.id = 10;
    old.receive(p, t0);
    let got = delivered(&mut old);
    assert_eq!(mesh::data(&got[0]).unwrap().payload, b"canal");
    assert!(!got[0].pki_encrypted && got[0].public_key.is_empty());
}

#[test]
fn nodedb_keys_are_pinned_on_first_sight() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    let impostor = 0x5a5a_0102;
    // A known node: a NodeInfo with another key is dropped.
    dev.receive(nodeinfo_from(OTHER, public_key(impostor)), t0);
    assert_eq!(dev.nodedb_key(OTHER), Some(public_key(OTHER)));
    // One claiming our own key is dropped too.
    dev.receive(nodeinfo_from(0x0bad_0002, public_key(ME)), t0);
    assert_eq!(dev.nodedb_key(0x0bad_0002), None);
    // An unknown node: the first key is installed (trust on first use), then pinned.
    let stranger = 0x0bad_0003;
    dev.receive(nodeinfo_from(stranger, public_key(impostor)), t0);
    assert_eq!(dev.nodedb_key(stranger), Some(public_key(impostor)));
    dev.receive(nodeinfo_from(stranger, public_key(OTHER)), t0);
    assert_eq!(dev.nodedb_key(stranger), Some(public_key(impostor)));
    delivered(&mut dev);
    // Now the impostor's PKI DMs as the stranger decrypt, with the impostor's key.
    dev.receive(pki_dm(impostor, stranger, 11, "x"), t0);
    let got = delivered(&mut dev);
    assert!(got[0].pki_encrypted);
    assert_eq!(got[0].public_key, public_key(impostor).to_vec());
}

#[test]
fn client_dms_go_pki_and_pki_requests_are_checked() {
    let t0 = Instant::now();
    let mut dev = live(t0);
    dev.handle_to_radio(1, packet_msg(text(OTHER, 20, "hola")), t0);
    let sent = transmits(&mut dev);
    assert!(sent[0].pki_encrypted, "DM to a known node goes PKI");
    assert!(pki::opens(
        &sent[0],
        &pki::derived_private_key(OTHER),
        Some(public_key(ME))
    ));
    // A client cannot smuggle a key onto the air: a broadcast asking for PKI fails.
    let mut b = text(BROADCAST, 21, "x");
    b.pki_encrypted = true;
    b.public_key = vec![1; 32];
    dev.handle_to_radio(1, packet_msg(b), t0 + Duration::from_secs(3));
    assert!(transmits(&mut dev).is_empty());
    // A DM to a node we hold no key for goes under the channel key (2.7.15).
    dev.handle_to_radio(
        1,
        packet_msg(text(0x0bad_0004, 22, "x")),
        t0 + Duration::from_secs(6),
    );
    let sent = transmits(&mut dev);
    assert!(!sent[0].pki_encrypted && sent[0].public_key.is_empty());
    // Unless the client insists on PKI.
    let mut p = text(0x0bad_0004, 23, "x");
    p.pki_encrypted = true;
    dev.handle_to_radio(1, packet_msg(p), t0 + Duration::from_secs(9));
    assert!(transmits(&mut dev).is_empty());
    let naks: Vec<_> = delivered(&mut dev)
        .iter()
        .filter_map(mesh::routing_result)
        .collect();
    assert!(
        naks.contains(&(21, Some(routing::Error::PkiFailed))),
        "{naks:?}"
    );
    assert!(
        naks.contains(&(23, Some(routing::Error::PkiFailed))),
        "{naks:?}"
    );
}
