//! farod's link over in-process duplex streams, under paused time: handshake, packets, ACK and
//! NAK matching, reboot, unplug and return, a silent radio, garbage between frames.

use std::time::Duration;

use faro_proto::mesh::{self, routing, BROADCAST};
use faro_sim::{Action, Faults, SimEvent};
use faro_tests::nodes::*;
use faro_tests::*;
use farod::radio::{DeliveryOutcome, Outgoing, RadioEventKind, SendError};

const MINUTE: Duration = Duration::from_secs(60);

fn text(from: u32, to: u32, text: &str) -> Action {
    Action::Text {
        from,
        to,
        channel: 0,
        text: text.into(),
        want_ack: false,
    }
}

#[tokio::test(start_paused = true)]
async fn handshake_learns_the_station_and_its_node_database() {
    init_logging();
    let sim = quiet_sim();
    let (_link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    let info = wait_up(&mut rx, MINUTE).await;
    assert_eq!(info.node_num(), SAS);
    assert_eq!(info.long_name(), "Grupo Beta Sásabe");
    assert_eq!(info.channel_names(), vec![(0, "Faro".to_string())]);
    assert_eq!(info.hop_limit(), 3);
    assert!(info
        .metadata
        .as_ref()
        .is_some_and(|m| m.firmware_version.starts_with("2.7.")));
    // Every other node of the scenario is in the node database, including "Patrulla —Él"
    // whose name holds 94 C3 (the meshtastic crate's reader loses that frame and stalls).
    assert_eq!(info.nodes_known, sim.scenario().nodes.len() - 1);
}

#[tokio::test(start_paused = true)]
async fn tower_sos_arrives_two_hops_later() {
    init_logging();
    let sim = quiet_sim();
    let (_link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let sent_at = tokio::time::Instant::now();
    sim.act(text(T7, BROADCAST, "\u{7}SOS auxilio")).await;
    let ((from, body, hops), _) = wait_for(&mut rx, MINUTE, "the tower's SOS", text_of).await;
    assert_eq!(
        (from, body.as_str(), hops),
        (T7, "\u{7}SOS auxilio", Some(2))
    );
    // Three transmissions (tower, relay 1, relay 2) of at least one LONG_FAST airtime each.
    let airtime = faro_proto::airtime::Preset::LongFast.packet_time_on_air(10);
    assert!(
        sent_at.elapsed() >= airtime * 3,
        "arrived after {:?}",
        sent_at.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn node_whose_name_holds_94_c3_is_heard() {
    init_logging();
    let sim = quiet_sim();
    let (_link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    sim.act(Action::NodeInfo { node: P2 }).await;
    sim.act(text(P2, BROADCAST, "P2 en posición —É")).await;
    let ((from, body, _), _) = wait_for(&mut rx, MINUTE, "P2's text", text_of).await;
    assert_eq!((from, body.as_str()), (P2, "P2 en posición —É"));
}

#[tokio::test(start_paused = true)]
async fn direct_message_is_acked_by_its_destination() {
    init_logging();
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let id = link
        .send(Outgoing::text(P1, 0, "Faro SAS-1: asignado"))
        .await
        .unwrap();
    let (outcome, _) = wait_for(&mut rx, MINUTE, "the delivery", |k| match k {
        RadioEventKind::Delivery {
            id: got,
            to,
            outcome,
        } if *got == id => Some((*to, *outcome)),
        _ => None,
    })
    .await;
    assert_eq!(outcome, (P1, DeliveryOutcome::Acked));
    // The patrol really received it, with every field set explicitly.
    let got = tokio::time::timeout(MINUTE, async {
        loop {
            if let Ok(SimEvent::Received { node, packet }) = sim_events.recv().await {
                if node == P1 && packet.id == id {
                    return packet;
                }
            }
        }
    })
    .await
    .expect("the patrol got the message");
    assert_eq!(
        mesh::data(&got).map(|d| d.payload.clone()),
        Some(b"Faro SAS-1: asignado".to_vec())
    );
}

#[tokio::test(start_paused = true)]
async fn dm_to_a_node_nobody_has_is_never_acked() {
    init_logging();
    let sim = quiet_sim();
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let id = link
        .send(Outgoing::text(NOBODY, 0, "¿hay alguien?"))
        .await
        .unwrap();
    // The firmware stops retransmitting when it hears a relay repeat the packet and reports
    // that as an implicit ACK (from our own node); no real ACK ever comes, so the link reports
    // "implicit" once its ack timeout passes, never "acked".
    let (outcome, _) = wait_for(&mut rx, 5 * MINUTE, "the delivery result", |k| match k {
        RadioEventKind::Delivery {
            id: got, outcome, ..
        } if *got == id => Some(*outcome),
        _ => None,
    })
    .await;
    assert_eq!(outcome, DeliveryOutcome::ImplicitAck);
}

/// A station with nobody in range: the device retransmits three times, then NAKs.
const ISOLATED: &str = r#"
name = "isolated"
[[node]]
id = "!5a5a0001"
long_name = "Estación aislada"
short_name = "ISO"
role = "station"
position = { lat = 31.47463, lon = -111.54485 }
[[node]]
id = "!5a5a0101"
long_name = "Patrulla lejana"
short_name = "P1"
role = "patrol"
position = { lat = 30.0, lon = -110.0 }
"#;

#[tokio::test(start_paused = true)]
async fn dm_without_a_neighbour_is_naked_after_the_retransmissions() {
    init_logging();
    let scenario = faro_sim::Scenario::from_toml_str(ISOLATED).unwrap();
    let sim = faro_sim::Sim::start(scenario, faro_sim::SimOptions::default());
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("iso"));
    wait_up(&mut rx, MINUTE).await;
    let t0 = tokio::time::Instant::now();
    let id = link.send(Outgoing::text(P1, 0, "¿me oyen?")).await.unwrap();
    let (outcome, _) = wait_for(&mut rx, 5 * MINUTE, "the NAK", |k| match k {
        RadioEventKind::Delivery {
            id: got, outcome, ..
        } if *got == id => Some(*outcome),
        _ => None,
    })
    .await;
    assert_eq!(outcome, DeliveryOutcome::Nak(routing::Error::MaxRetransmit));
    // Four transmissions of a LONG_FAST packet and the waits between them: seconds, not ms.
    assert!(
        t0.elapsed() >= faro_proto::airtime::Preset::LongFast.packet_time_on_air(20) * 4,
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn second_text_within_two_seconds_is_rate_limited() {
    init_logging();
    let sim = quiet_sim();
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let a = link.send(Outgoing::text(P1, 0, "uno")).await.unwrap();
    let b = link.send(Outgoing::text(P1, 0, "dos")).await.unwrap();
    let mut results = std::collections::HashMap::new();
    while results.len() < 2 {
        let ((id, outcome), _) = wait_for(&mut rx, MINUTE, "deliveries", |k| match k {
            RadioEventKind::Delivery { id, outcome, .. } => Some((*id, *outcome)),
            _ => None,
        })
        .await;
        results.insert(id, outcome);
    }
    assert_eq!(results[&a], DeliveryOutcome::Acked);
    assert_eq!(
        results[&b],
        DeliveryOutcome::Nak(routing::Error::RateLimitExceeded)
    );
}

#[tokio::test(start_paused = true)]
async fn oversize_payload_is_refused_before_it_reaches_the_radio() {
    init_logging();
    let sim = quiet_sim();
    let mut sim_events = sim.events();
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let big = "ñ".repeat(101); // 202 bytes of UTF-8, 101 characters
    assert_eq!(
        link.send(Outgoing::text(P1, 0, &big)).await,
        Err(SendError::TooLarge { len: 202, max: 200 })
    );
    // Nothing but the handshake and heartbeats reached the device.
    tokio::time::sleep(Duration::from_secs(5)).await;
    while let Ok(ev) = sim_events.try_recv() {
        if let SimEvent::ClientSent { msg, .. } = ev {
            assert!(
                !matches!(
                    msg.payload_variant,
                    Some(mesh::to_radio::PayloadVariant::Packet(_))
                ),
                "a packet reached the radio: {msg:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn device_reboot_is_followed_by_a_new_handshake() {
    init_logging();
    let sim = quiet_sim();
    let (_link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    sim.act(Action::Reboot { node: SAS }).await;
    wait_for(&mut rx, MINUTE, "rebooted", |k| {
        matches!(k, RadioEventKind::Rebooted).then_some(())
    })
    .await;
    let (_, between) = wait_for(&mut rx, MINUTE, "up again", |k| {
        matches!(k, RadioEventKind::Up(_)).then_some(())
    })
    .await;
    assert!(
        !between
            .iter()
            .any(|k| matches!(k, RadioEventKind::Down { .. })),
        "no reconnect needed: {between:?}"
    );
    sim.act(text(P1, BROADCAST, "después del reinicio")).await;
    let ((from, body, _), _) = wait_for(&mut rx, MINUTE, "a text after the reboot", text_of).await;
    assert_eq!((from, body.as_str()), (P1, "después del reinicio"));
}

#[tokio::test(start_paused = true)]
async fn unplugged_radio_is_reconnected_when_it_returns() {
    init_logging();
    let sim = quiet_sim();
    let (link, mut rx) = duplex_link(&sim, Faults::default(), test_link_config("sas"));
    wait_up(&mut rx, MINUTE).await;
    let t0 = tokio::time::Instant::now();
    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 30.0,
    })
    .await;
    let (reason, _) = wait_for(&mut rx, MINUTE, "down", |k| match k {
        RadioEventKind::Down { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        reason.contains("closed") || reason.contains("read failed"),
        "{reason}"
    );
    assert_eq!(
        link.send(Outgoing::text(P1, 0, "x")).await,
        Err(SendError::NotConnected)
    );
    wait_up(&mut rx, 2 * MINUTE).await;
    let back = t0.elapsed();
    assert!(
        back >= Duration::from_secs(30),
        "up after {back:?}, before the radio returned"
    );
    // Backoff is capped at 2 s in tests: up within a few seconds of the return.
    assert!(back <= Duration::from_secs(40), "up only after {back:?}");
    assert!(link.send(Outgoing::text(P1, 0, "de vuelta")).await.is_ok());
    assert_eq!(link.status().connects, 2);
}

#[tokio::test(start_paused = true)]
async fn silent_radio_is_reopened() {
    init_logging();
    let sim = quiet_sim();
    let cfg = test_link_config("sas");
    let silence = cfg.session.silence_timeout;
    let (_link, mut rx) = duplex_link(&sim, Faults::default(), cfg);
    wait_up(&mut rx, MINUTE).await;
    let t0 = tokio::time::Instant::now();
    sim.act(Action::Mute { node: SAS }).await;
    let (reason, _) = wait_for(&mut rx, silence * 2, "down", |k| match k {
        RadioEventKind::Down { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("silent"), "{reason}");
    assert!(
        t0.elapsed() >= silence - Duration::from_secs(61),
        "reopened too early: {:?}",
        t0.elapsed()
    );
    wait_up(&mut rx, MINUTE).await;
}

#[tokio::test(start_paused = true)]
async fn garbage_between_frames_loses_no_packet() {
    init_logging();
    let sim = quiet_sim();
    let faults = Faults {
        log_text: true,
        stray_headers: true,
        one_byte: true,
        corrupt: true,
    };
    let (link, mut rx) = duplex_link(&sim, faults, test_link_config("sas"));
    let info = wait_up(&mut rx, 5 * MINUTE).await;
    assert_eq!(info.nodes_known, sim.scenario().nodes.len() - 1);
    let mut want = Vec::new();
    for i in 0..10 {
        let t = format!("AUXILIO {i} —É");
        sim.act(text(P1, BROADCAST, &t)).await;
        want.push(t);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let mut got = Vec::new();
    while got.len() < want.len() {
        let ((_, body, _), _) =
            wait_for(&mut rx, 5 * MINUTE, "texts through the garbage", text_of).await;
        got.push(body);
    }
    assert_eq!(got, want);
    let st = link.status();
    assert!(st.log_bytes > 0, "log text was seen: {st:?}");
    assert!(
        st.oversize_headers > 0,
        "false headers were skipped: {st:?}"
    );
    assert!(st.malformed > 0, "corrupt bodies were dropped: {st:?}");
    assert_eq!(st.connects, 1, "no reconnect was needed: {st:?}");
}
