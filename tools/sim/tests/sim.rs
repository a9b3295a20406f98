//! The simulation end to end through its front ends, under paused tokio time: a scripted
//! client speaks the real framing to a station device of the built-in scenario.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use faro_proto::frame::{decode_as, to_frame, FrameDecoder, Item};
use faro_proto::mesh::{
    self, from_radio, mesh_packet, routing, to_radio, FromRadio, Heartbeat, MeshPacket, PortNum,
    ToRadio, BROADCAST,
};
use faro_sim::{Action, ChannelModel, Faults, ForgeMode, Scenario, Sim, SimEvent, SimOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, Instant};

const SAS: u32 = 0x5a5a_0001;
const TOWER: u32 = 0x5a5a_0201;
const SARIC: u32 = 0x5a5a_0401;
const PATROL: u32 = 0x5a5a_0101;
const PATROL2: u32 = 0x5a5a_0102;

struct Client<S> {
    io: S,
    dec: FrameDecoder,
    logs: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Got {
    Frame(Box<FromRadio>),
    Eof,
    Timeout,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(io: S) -> Self {
        Client {
            io,
            dec: FrameDecoder::new(),
            logs: Vec::new(),
        }
    }

    async fn send(&mut self, msg: ToRadio) {
        self.io.write_all(&to_frame(&msg).unwrap()).await.unwrap();
    }

    async fn send_packet(&mut self, p: MeshPacket) {
        self.send(ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Packet(p)),
        })
        .await;
    }

    async fn next(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(item) = self.dec.next_item(decode_as::<FromRadio>) {
                match item {
                    Item::Frame(f) => return Got::Frame(Box::new(f)),
                    Item::Log(l) => self.logs.extend(l),
                }
            }
            match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                Err(_) => return Got::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Got::Eof,
                Ok(Ok(n)) => self.dec.push(&buf[..n]),
            }
        }
    }

    /// The first frame matching `pred` within `wait` (others are skipped).
    async fn until<T>(
        &mut self,
        wait: Duration,
        mut pred: impl FnMut(&FromRadio) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Got::Frame(f) => {
                    if let Some(t) = pred(&f) {
                        return Some(t);
                    }
                }
                Got::Eof | Got::Timeout => return None,
            }
        }
    }

    async fn handshake(&mut self, nonce: u32) -> Vec<FromRadio> {
        self.io.write_all(&[0xC3; 32]).await.unwrap();
        self.send(ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::WantConfigId(nonce)),
        })
        .await;
        let mut burst = Vec::new();
        for _ in 0..1000 {
            match self.next(Duration::from_secs(30)).await {
                Got::Frame(f) => {
                    let done = f.payload_variant
                        == Some(from_radio::PayloadVariant::ConfigCompleteId(nonce));
                    burst.push(*f);
                    if done {
                        return burst;
                    }
                }
                other => panic!("handshake: {other:?} after {} frames", burst.len()),
            }
        }
        panic!("handshake never completed");
    }
}

fn packet_of(f: &FromRadio) -> Option<&MeshPacket> {
    match &f.payload_variant {
        Some(from_radio::PayloadVariant::Packet(p)) => Some(p),
        _ => None,
    }
}

fn text_dm(to: u32, s: &str, want_ack: bool) -> MeshPacket {
    let mut p = mesh::packet(PortNum::TextMessageApp, s.as_bytes().to_vec());
    p.to = to;
    p.want_ack = want_ack;
    p.hop_limit = 3;
    p.id = 0x0102_0304;
    p
}

fn quiet() -> Sim {
    let sc = Scenario::builtin("default").unwrap();
    Sim::start(
        sc,
        SimOptions {
            run_timeline: false,
            ..SimOptions::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn handshake_over_duplex_through_every_fault() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::all()).unwrap());
    let burst = c.handshake(31337).await;
    let own = burst.iter().find_map(|f| match &f.payload_variant {
        Some(from_radio::PayloadVariant::NodeInfo(n)) if n.num == SAS => n.user.clone(),
        _ => None,
    });
    assert_eq!(own.unwrap().long_name, "Grupo Beta Sásabe");
    assert!(burst.iter().any(|f| matches!(&f.payload_variant,
        Some(from_radio::PayloadVariant::NodeInfo(n)) if n.user.as_ref().is_some_and(|u| u.long_name.contains("—É")))));
    let logs = String::from_utf8_lossy(&c.logs);
    assert!(logs.contains("—É"), "log text between frames");
    assert!(c.dec.stats().malformed_bodies > 0 && c.dec.stats().oversize_headers > 0);
}

#[tokio::test(start_paused = true)]
async fn tower_sos_arrives_over_two_relays_after_three_airtimes() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(1).await;
    let start = Instant::now();
    sim.act(Action::Text {
        from: TOWER,
        to: BROADCAST,
        channel: 0,
        text: "\u{7}SOS".into(),
        want_ack: false,
    })
    .await;
    let p = c
        .until(Duration::from_secs(60), |f| {
            packet_of(f).filter(|p| p.from == TOWER).cloned()
        })
        .await
        .expect("SOS heard");
    let elapsed = start.elapsed();
    assert_eq!(mesh::hops_travelled(&p), Some(2));
    assert_eq!((p.hop_start, p.hop_limit), (3, 1));
    assert_eq!(mesh::data(&p).unwrap().payload, b"\x07SOS");
    let airtime = faro_proto::airtime::Preset::LongFast.packet_time_on_air(mesh::data_len(&p));
    assert!(elapsed >= airtime * 3, "{elapsed:?} < 3 x {airtime:?}");
    assert!(
        elapsed < airtime * 3 + Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert!(p.rx_snr < 10.0 && p.rx_rssi < -60 && p.rx_time > 1_700_000_000);
}

#[tokio::test(start_paused = true)]
async fn dm_to_saric_gets_implicit_then_real_ack_then_scripted_reply() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(2).await;
    c.send_packet(text_dm(SARIC, "FARO SAS-17 AMBULANCIA P1 2 pers", true))
        .await;
    let qs = c
        .until(Duration::from_secs(5), |f| match &f.payload_variant {
            Some(from_radio::PayloadVariant::QueueStatus(q)) => Some(*q),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!((qs.res, qs.maxlen, qs.mesh_packet_id), (0, 16, 0x0102_0304));
    let mut results = Vec::new();
    let reply = c
        .until(Duration::from_secs(120), |f| {
            let p = packet_of(f)?;
            if let Some((req, err)) = mesh::routing_result(p) {
                results.push((p.from, req, err));
                return None;
            }
            (p.from == SARIC).then(|| p.clone())
        })
        .await
        .expect("Sáric answers");
    assert_eq!(
        results[0],
        (SAS, 0x0102_0304, Some(routing::Error::None)),
        "implicit ACK first"
    );
    assert!(
        results.contains(&(SARIC, 0x0102_0304, Some(routing::Error::None))),
        "{results:?}"
    );
    assert_eq!(mesh::data(&reply).unwrap().payload, b"OK SAS-17 25");
    assert_eq!(reply.to, SAS);
    assert!(reply.pki_encrypted, "a municipality's answer is a PKI DM");
    assert_eq!(
        reply.public_key,
        Scenario::builtin("default")
            .unwrap()
            .public_key(SARIC)
            .to_vec()
    );
    assert_eq!(mesh::hops_travelled(&reply), Some(2));
}

#[tokio::test(start_paused = true)]
async fn dm_to_a_silent_node_gets_only_the_implicit_ack() {
    let sim = quiet();
    sim.act(Action::Silent {
        node: SARIC,
        for_secs: None,
    })
    .await;
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(3).await;
    c.send_packet(text_dm(SARIC, "AMBULANCIA SAS-18", true))
        .await;
    let mut results = Vec::new();
    c.until(Duration::from_secs(300), |f| {
        results.push(mesh::routing_result(packet_of(f)?)?);
        None::<()>
    })
    .await;
    // A1 relays it (implicit ACK, which also stops the retransmissions); Sáric never answers.
    assert_eq!(results, vec![(0x0102_0304, Some(routing::Error::None))]);
}

#[tokio::test(start_paused = true)]
async fn isolated_station_naks_max_retransmit() {
    let sim = quiet();
    for n in sim.scenario().nodes.clone() {
        if n.id != SAS {
            sim.act(Action::Silent {
                node: n.id,
                for_secs: None,
            })
            .await;
        }
    }
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(3).await;
    let start = Instant::now();
    c.send_packet(text_dm(SARIC, "AMBULANCIA SAS-18", true))
        .await;
    let nak = c
        .until(Duration::from_secs(300), |f| {
            mesh::routing_result(packet_of(f)?)
        })
        .await
        .expect("a routing result");
    assert_eq!(nak, (0x0102_0304, Some(routing::Error::MaxRetransmit)));
    let t = start.elapsed();
    let interval = faro_sim::radio::retransmission_interval(
        faro_proto::airtime::Preset::LongFast,
        mesh::data_len(&text_dm(SARIC, "AMBULANCIA SAS-18", true)),
    );
    assert!(
        t >= interval * 4 && t < interval * 4 + Duration::from_secs(1),
        "{t:?}"
    );
    assert!(t > Duration::from_secs(40), "tens of seconds: {t:?}");
}

#[tokio::test(start_paused = true)]
async fn hop_limit_zero_reaches_only_neighbours() {
    let sim = quiet();
    let mut events = sim.events();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(4).await;
    let mut p = text_dm(BROADCAST, "vecinos", false);
    p.hop_limit = 0;
    c.send_packet(p).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let mut receivers = Vec::new();
    let mut relays = 0;
    while let Ok(ev) = events.try_recv() {
        match ev {
            SimEvent::Received { node, packet } if packet.from == SAS => receivers.push(node),
            SimEvent::Transmitted { node, packet, .. } if packet.from == SAS && node != SAS => {
                relays += 1
            }
            _ => {}
        }
    }
    assert_eq!(relays, 0, "nobody rebroadcasts a hop_limit 0 packet");
    assert!(
        receivers.contains(&0x5a5a_0501),
        "R1 is a neighbour: {receivers:x?}"
    );
    assert!(!receivers.contains(&TOWER) && !receivers.contains(&SARIC));
}

#[tokio::test(start_paused = true)]
async fn serial_timeout_then_rehandshake() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(5).await;
    tokio::time::sleep(Duration::from_secs(15 * 60 + 1)).await;
    sim.act(Action::Text {
        from: PATROL,
        to: BROADCAST,
        channel: 0,
        text: "¿me oyen?".into(),
        want_ack: false,
    })
    .await;
    assert_eq!(
        c.next(Duration::from_secs(60)).await,
        Got::Timeout,
        "silent, no EOF"
    );
    c.send(ToRadio {
        payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce: 9 })),
    })
    .await;
    assert_eq!(
        c.next(Duration::from_secs(5)).await,
        Got::Timeout,
        "heartbeat unanswered"
    );
    c.handshake(6).await;
    let p = c
        .until(Duration::from_secs(5), |f| {
            packet_of(f).filter(|p| p.from == PATROL).cloned()
        })
        .await;
    assert!(p.is_some(), "the packet waited in the device's queue");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_serial_alive() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(7).await;
    for n in 0..6 {
        tokio::time::sleep(Duration::from_secs(300)).await;
        c.send(ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce: n })),
        })
        .await;
        let qs = c
            .until(Duration::from_secs(5), |f| {
                matches!(
                    f.payload_variant,
                    Some(from_radio::PayloadVariant::QueueStatus(_))
                )
                .then_some(())
            })
            .await;
        assert!(qs.is_some(), "heartbeat {n} answered");
    }
}

#[tokio::test(start_paused = true)]
async fn reboot_over_serial_sends_rebooted() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(8).await;
    sim.act(Action::Reboot { node: SAS }).await;
    let f = c.next(Duration::from_secs(5)).await;
    assert!(
        matches!(&f, Got::Frame(m) if m.payload_variant == Some(from_radio::PayloadVariant::Rebooted(true))),
        "{f:?}"
    );
    c.handshake(9).await;
}

#[tokio::test(start_paused = true)]
async fn unplug_gives_eof_refuses_then_returns() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(10).await;
    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 20.0,
    })
    .await;
    assert_eq!(c.next(Duration::from_secs(5)).await, Got::Eof);
    assert!(sim.connect(SAS, Faults::none()).is_err());
    tokio::time::sleep(Duration::from_secs(21)).await;
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    let burst = c.handshake(11).await;
    let Some(from_radio::PayloadVariant::MyInfo(my)) = &burst[0].payload_variant else {
        panic!()
    };
    assert_eq!(my.reboot_count, 2);
}

#[tokio::test(start_paused = true)]
async fn mute_hangs_until_reconnect() {
    let sim = quiet();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(12).await;
    sim.act(Action::Mute { node: SAS }).await;
    c.send(ToRadio {
        payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce: 1 })),
    })
    .await;
    sim.act(Action::Text {
        from: PATROL,
        to: BROADCAST,
        channel: 0,
        text: "hola".into(),
        want_ack: false,
    })
    .await;
    assert_eq!(
        c.next(Duration::from_secs(30)).await,
        Got::Timeout,
        "connection open, nothing sent"
    );
    let mut c2 = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c2.handshake(13).await;
    assert_eq!(
        c.next(Duration::from_secs(1)).await,
        Got::Eof,
        "the old connection is gone"
    );
}

#[tokio::test(start_paused = true)]
async fn tcp_new_client_kicks_the_old_one() {
    let sim = quiet();
    let addr = sim
        .serve_tcp(SAS, "127.0.0.1:0".parse().unwrap(), Faults::none())
        .await
        .unwrap();
    let mut a = Client::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    a.handshake(20).await;
    let mut b = Client::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    b.handshake(21).await;
    assert_eq!(a.next(Duration::from_secs(5)).await, Got::Eof);
    // Unplugged: connections are closed at once.
    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 30.0,
    })
    .await;
    assert_eq!(b.next(Duration::from_secs(5)).await, Got::Eof);
    let mut c = Client::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    assert_eq!(c.next(Duration::from_secs(5)).await, Got::Eof);
    tokio::time::sleep(Duration::from_secs(31)).await;
    let mut d = Client::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    d.handshake(22).await;
}

#[tokio::test(start_paused = true)]
async fn timeline_runs_at_speed() {
    let sc = Scenario::builtin("default").unwrap();
    let sim = Sim::start(
        sc,
        SimOptions {
            speed: 10.0,
            ..SimOptions::default()
        },
    );
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(30).await;
    // The tower's detection at t=45 s and SOS at t=60 s arrive within ~6-7 real seconds.
    let det = c
        .until(Duration::from_secs(8), |f| {
            let p = packet_of(f)?;
            (mesh::portnum(p) == Some(PortNum::DetectionSensorApp)).then(|| p.clone())
        })
        .await
        .expect("detection sensor");
    assert_eq!(
        mesh::data(&det).unwrap().payload,
        "Botón de pánico T7 detected\u{7}".as_bytes()
    );
    assert_eq!(det.from, TOWER);
    let _ = mesh_packet::Priority::Alert;
}

#[tokio::test(start_paused = true)]
async fn the_timelines_patrol_dms_reach_the_station_as_pki() {
    let sc = Scenario::builtin("default").unwrap();
    let keys: Vec<(u32, Vec<u8>)> = [PATROL, PATROL2]
        .iter()
        .map(|&n| (n, sc.public_key(n).to_vec()))
        .collect();
    let sim = Sim::start(
        sc,
        SimOptions {
            speed: 10.0,
            ..SimOptions::default()
        },
    );
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(31).await;
    // P1 at t=420 s and P2 at t=660 s text the station (DMs, want_ack).
    let mut texts = Vec::new();
    c.until(Duration::from_secs(75), |f| {
        let p = packet_of(f)?;
        if p.to == SAS && mesh::portnum(p) == Some(PortNum::TextMessageApp) {
            texts.push(p.clone());
        }
        (texts.len() == 2).then_some(())
    })
    .await
    .expect("both patrol DMs");
    for p in &texts {
        let key = &keys.iter().find(|(n, _)| *n == p.from).unwrap().1;
        assert!(
            p.pki_encrypted && &p.public_key == key && p.channel == 0,
            "{p:?}"
        );
    }
}

/// Real time (file descriptors), every wait bounded, no sleeps.
#[tokio::test]
async fn pty_serves_the_device_and_comes_back_after_an_unplug() {
    let sc = Scenario::builtin("default").unwrap();
    let sim = Sim::start(
        sc,
        SimOptions {
            speed: 20.0,
            run_timeline: false,
            ..SimOptions::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("faro-sim-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("radio");
    let shown = sim
        .serve_pty(SAS, Some(link.clone()), Faults::all())
        .unwrap();
    assert_eq!(shown, link);
    let first = std::fs::read_link(&link).unwrap();
    assert!(first.starts_with("/dev/pts"), "{first:?}");
    let mut c = Client::new(faro_sim::frontend::open_tty(&link).unwrap());
    c.handshake(40).await;
    assert!(String::from_utf8_lossy(&c.logs).contains("—É"));

    let mut events = sim.events();
    sim.act(Action::Unplug {
        node: SAS,
        for_secs: 4.0, // 0.2 s at speed 20
    })
    .await;
    assert_eq!(
        c.next(Duration::from_secs(5)).await,
        Got::Eof,
        "the master was closed"
    );
    drop(c);
    let back = timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(SimEvent::DeviceState { state, .. }) if state == "client_connected" => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(back.is_ok(), "a new PTY after the outage");
    let mut c = Client::new(faro_sim::frontend::open_tty(&link).unwrap());
    let burst = c.handshake(41).await;
    let Some(from_radio::PayloadVariant::MyInfo(my)) = &burst[0].payload_variant else {
        panic!()
    };
    assert_eq!(my.reboot_count, 2);
    drop(c);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- PKI and impostors ----------------------------------------------------------------------

/// Runs `action` and returns the packets the station's client gets within `wait` whose `from`
/// is `from` (routing answers skipped).
async fn heard_from<S: AsyncRead + AsyncWrite + Unpin>(
    sim: &Sim,
    c: &mut Client<S>,
    action: Action,
    from: u32,
    wait: Duration,
) -> Vec<MeshPacket> {
    sim.act(action).await;
    let mut got = Vec::new();
    c.until(wait, |f| {
        if let Some(p) = packet_of(f) {
            if p.from == from && mesh::routing_result(p).is_none() {
                got.push(p.clone());
            }
        }
        None::<()>
    })
    .await;
    got
}

fn forge(by: u32, claimed_from: u32, to: u32, mode: ForgeMode) -> Action {
    Action::Forge {
        by,
        claimed_from,
        to,
        channel: 0,
        text: "FARO OK SAS-1".into(),
        mode,
    }
}

#[tokio::test(start_paused = true)]
async fn patrol_dm_is_pki_with_its_key_and_forgeries_are_not() {
    let sim = quiet();
    let key = sim.scenario().public_key(PATROL).to_vec();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(3).await;
    let wait = Duration::from_secs(30);
    let real = Action::Text {
        from: PATROL,
        to: SAS,
        channel: 0,
        text: "Llegamos".into(),
        want_ack: true,
    };
    let got = heard_from(&sim, &mut c, real, PATROL, wait).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].pki_encrypted && got[0].public_key == key && got[0].channel == 0);

    // Broadcast on the channel key: decoded, not PKI.
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, PATROL, SAS, ForgeMode::Broadcast),
        PATROL,
        wait,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, BROADCAST);
    assert!(mesh::data(&got[0]).is_some() && !got[0].pki_encrypted && got[0].public_key.is_empty());

    // A channel-key text DM: firmware 2.7.15 refuses it (legacy DM): undecoded.
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, PATROL, SAS, ForgeMode::ChannelDm),
        PATROL,
        wait,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert!(mesh::data(&got[0]).is_none() && !got[0].pki_encrypted);

    // PKI with the impostor's own key: the station holds P1's real key, so it fails.
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, PATROL, SAS, ForgeMode::WrongKey),
        PATROL,
        wait,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert!(mesh::data(&got[0]).is_none() && !got[0].pki_encrypted && got[0].public_key.is_empty());

    // Through an MQTT gateway: via_mqtt, never PKI.
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, PATROL, BROADCAST, ForgeMode::ViaMqtt),
        PATROL,
        wait,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert!(got[0].via_mqtt && !got[0].pki_encrypted && mesh::data(&got[0]).is_some());

    // A forged NodeInfo cannot replace P1's pinned key: still undecodable afterwards.
    heard_from(
        &sim,
        &mut c,
        Action::ForgeNodeInfo {
            by: PATROL2,
            claimed_from: PATROL,
        },
        PATROL,
        wait,
    )
    .await;
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, PATROL, SAS, ForgeMode::WrongKey),
        PATROL,
        wait,
    )
    .await;
    assert!(
        got.iter()
            .all(|p| !p.pki_encrypted && mesh::data(p).is_none()),
        "{got:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn forged_nodeinfo_for_an_unknown_node_makes_its_pki_the_impostors() {
    let sim = quiet();
    let stranger = 0x0bad_0001;
    let mine = sim.scenario().public_key(PATROL2).to_vec();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(4).await;
    let wait = Duration::from_secs(30);
    // Before the NodeInfo: no key for the stranger, undecodable.
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, stranger, SAS, ForgeMode::WrongKey),
        stranger,
        wait,
    )
    .await;
    assert!(got.iter().all(|p| !p.pki_encrypted), "{got:?}");
    heard_from(
        &sim,
        &mut c,
        Action::ForgeNodeInfo {
            by: PATROL2,
            claimed_from: stranger,
        },
        stranger,
        wait,
    )
    .await;
    let got = heard_from(
        &sim,
        &mut c,
        forge(PATROL2, stranger, SAS, ForgeMode::WrongKey),
        stranger,
        wait,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert!(got[0].pki_encrypted, "trust on first use");
    assert_eq!(
        got[0].public_key, mine,
        "the key is the impostor's, not anyone else's"
    );
}

#[tokio::test(start_paused = true)]
async fn no_forgery_delivers_pki_with_the_victims_key() {
    let sim = quiet();
    let sc = sim.scenario().clone();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(5).await;
    let wait = Duration::from_secs(20);
    for victim in [PATROL, SARIC] {
        let key = sc.public_key(victim).to_vec();
        for by in [PATROL2, TOWER] {
            heard_from(
                &sim,
                &mut c,
                Action::ForgeNodeInfo {
                    by,
                    claimed_from: victim,
                },
                victim,
                wait,
            )
            .await;
            for mode in [
                ForgeMode::Broadcast,
                ForgeMode::ChannelDm,
                ForgeMode::WrongKey,
                ForgeMode::ViaMqtt,
            ] {
                for to in [SAS, BROADCAST] {
                    let got =
                        heard_from(&sim, &mut c, forge(by, victim, to, mode), victim, wait).await;
                    assert!(
                        got.iter()
                            .all(|p| !(p.pki_encrypted && p.public_key == key)),
                        "{mode:?} by {by:x} as {victim:x} to {to:x}: {got:?}"
                    );
                }
            }
        }
    }
}

/// The built-in scenario on a contended channel, with the station's telemetry every minute.
fn contended() -> Sim {
    let mut sc = Scenario::builtin("default").unwrap();
    sc.radio.channel = ChannelModel::Contention;
    sc.radio.telemetry_secs = 60;
    Sim::start(
        sc,
        SimOptions {
            run_timeline: false,
            ..SimOptions::default()
        },
    )
}

fn device_metrics_of(p: &MeshPacket) -> Option<mesh::DeviceMetrics> {
    let d = mesh::data(p)?;
    if d.portnum != PortNum::TelemetryApp as i32 {
        return None;
    }
    match <mesh::Telemetry as mesh::Message>::decode(d.payload.as_slice())
        .ok()?
        .variant?
    {
        mesh::telemetry::Variant::DeviceMetrics(m) => Some(m),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn contended_channel_still_delivers_a_reliable_dm_and_the_station_reports_airtime() {
    let sim = contended();
    let mut evs = sim.events();
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(4).await;
    // The mesh gets busy: every patrol and the tower broadcast at once.
    for n in [PATROL, PATROL2, TOWER] {
        sim.act(Action::Text {
            from: n,
            to: BROADCAST,
            channel: 0,
            text: "posición y novedades del turno".into(),
            want_ack: false,
        })
        .await;
    }
    // They collide here and there; once the flood has settled, a reliable DM.
    let mut metrics = Vec::new();
    c.until(Duration::from_secs(20), |f| {
        metrics.extend(device_metrics_of(packet_of(f)?));
        None::<()>
    })
    .await;
    let busy = sim.channel_stats();
    assert!(busy.lost_collision + busy.deferrals > 0, "{busy:?}");
    c.send_packet(text_dm(SARIC, "FARO SAS-17 AMBULANCIA P1 2 pers", true))
        .await;
    let mut acked = false;
    c.until(Duration::from_secs(120), |f| {
        let p = packet_of(f)?;
        metrics.extend(device_metrics_of(p).inspect(|_| assert_eq!(p.from, SAS)));
        if mesh::routing_result(p) == Some((0x0102_0304, Some(routing::Error::None))) {
            acked = true;
        }
        None::<()>
    })
    .await;
    assert!(acked, "the DM was acknowledged");
    let mut heard = false;
    while let Ok(ev) = evs.try_recv() {
        if let SimEvent::Received { node, packet } = ev {
            heard |= node == SARIC && packet.id == 0x0102_0304;
        }
    }
    assert!(heard, "Sáric got the DM over the contended mesh");
    // The station's own DeviceMetrics come once a minute, with the measured figures.
    let m = c
        .until(Duration::from_secs(61), |f| {
            device_metrics_of(packet_of(f)?)
        })
        .await
        .expect("telemetry within a minute");
    metrics.push(m);
    assert!(
        metrics
            .iter()
            .any(|m| m.channel_utilization.is_some_and(|u| u > 0.0)),
        "{metrics:?}"
    );
    assert!(metrics
        .iter()
        .any(|m| m.air_util_tx.is_some_and(|u| u > 0.0)));
    let st = sim.channel_stats();
    assert!(st.transmissions >= 6 && st.receptions > 0, "{st:?}");
}

#[tokio::test(start_paused = true)]
async fn no_telemetry_by_default_and_the_ideal_channel_loses_nothing() {
    let sim = quiet();
    assert_eq!(sim.scenario().radio.channel, ChannelModel::Ideal);
    let mut c = Client::new(sim.connect(SAS, Faults::none()).unwrap());
    c.handshake(5).await;
    sim.act(Action::Text {
        from: TOWER,
        to: BROADCAST,
        channel: 0,
        text: "\u{7}SOS".into(),
        want_ack: false,
    })
    .await;
    let telemetry = c
        .until(Duration::from_secs(180), |f| {
            device_metrics_of(packet_of(f)?)
        })
        .await;
    assert_eq!(telemetry, None);
    let st = sim.channel_stats();
    assert!(st.transmissions > 1, "{st:?}");
    assert_eq!(
        (st.lost_collision, st.lost_half_duplex, st.deferrals),
        (0, 0, 0)
    );
}
