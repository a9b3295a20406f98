//! The shared channel ([`ChannelModel`]), driven synchronously: transmissions are started with
//! `tx_start` at chosen instants (no random back-off at submission) and the world's timers run
//! to their deadlines, so every outcome is deterministic. No sleeping, no runtime.

use super::*;

/// 1 km of latitude, degrees.
const KM: f64 = 1.0 / 111.195;
const A: u32 = 0xa;
const B: u32 = 0xb;
const C: u32 = 0xc;
const S: u32 = 0x5;

/// A scenario: station S far away (or at `station_km` north of C), and nodes A, B, C on one
/// meridian at the given km; range `range` km; hop limit 0 so nothing is relayed.
fn scenario(channel: &str, range: f64, a: f64, b: f64, c: f64, station_km: f64) -> Scenario {
    let node = |id: u32, name: &str, role: &str, km: f64| {
        format!(
            "[[node]]\nid = \"!{id:08x}\"\nlong_name = \"{name}\"\nshort_name = \"{name}\"\n\
             role = \"{role}\"\nposition = {{ lat = {}, lon = -111.0 }}\n",
            30.0 + km * KM
        )
    };
    let text = format!(
        "[radio]\nrange_km = {range}\nhop_limit = 0\nchannel = \"{channel}\"\n\n{}{}{}{}",
        node(S, "STA", "station", c + station_km),
        node(A, "A", "patrol", a),
        node(B, "B", "patrol", b),
        node(C, "C", "patrol", c),
    );
    Scenario::from_toml_str(&text).unwrap()
}

struct Bench {
    world: World,
    events: broadcast::Receiver<SimEvent>,
    t0: Instant,
}

impl Bench {
    fn new(sc: Scenario) -> Bench {
        let (tx, events) = broadcast::channel(4096);
        let t0 = Instant::now();
        let world = World::new(sc, 1.0, 7, t0, 1_767_225_600, tx, HashMap::new(), false);
        Bench { world, events, t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// `node` starts sending a broadcast text at `ms` (carrier sense applies; no initial
    /// back-off).
    fn send_at(&mut self, node: u32, ms: u64, id: u32) {
        self.run_until(self.at(ms));
        let mut p = mesh::packet(PortNum::TextMessageApp, b"hola desde el cerro".to_vec());
        p.from = node;
        p.to = BROADCAST;
        p.id = id;
        if let Some(n) = self.world.node_mut(node) {
            n.see((node, id));
        }
        let now = self.at(ms);
        self.world.tx_start(node, p, Origin::Node, now);
    }

    /// Runs every timer due up to `until`.
    fn run_until(&mut self, until: Instant) {
        while let Some(d) = self.world.next_deadline() {
            if d > until {
                break;
            }
            self.world.on_timers(d);
        }
    }

    fn run_secs(&mut self, s: u64) {
        let until = self.t0 + Duration::from_secs(s);
        self.run_until(until);
    }

    /// `(receiver, from)` of every delivery to a non-station node so far.
    fn received(&mut self) -> Vec<(u32, u32)> {
        let mut got = Vec::new();
        while let Ok(ev) = self.events.try_recv() {
            if let SimEvent::Received { node, packet } = ev {
                got.push((node, packet.from));
            }
        }
        got
    }
}

#[test]
fn hidden_terminals_collide_at_the_node_between_them() {
    // A and B are 14 km apart (range 8): they cannot hear each other, C hears both equally.
    let mut b = Bench::new(scenario("contention", 8.0, 0.0, 14.0, 7.0, 500.0));
    b.send_at(A, 0, 1);
    b.send_at(B, 100, 2);
    b.run_secs(10);
    let got = b.received();
    assert!(!got.iter().any(|(n, _)| *n == C), "{got:?}");
    let st = b.world.channel_stats();
    assert_eq!(st.transmissions, 2);
    assert_eq!(st.lost_collision, 2, "{st:?}");
    assert_eq!(st.receptions, 0);
    assert_eq!(st.deferrals, 0, "hidden: nobody sensed the other");
}

#[test]
fn the_ideal_channel_delivers_both() {
    let mut b = Bench::new(scenario("ideal", 8.0, 0.0, 14.0, 7.0, 500.0));
    b.send_at(A, 0, 1);
    b.send_at(B, 100, 2);
    b.run_secs(10);
    let got = b.received();
    assert!(got.contains(&(C, A)) && got.contains(&(C, B)), "{got:?}");
    let st = b.world.channel_stats();
    assert_eq!((st.receptions, st.lost_collision, st.deferrals), (2, 0, 0));
}

#[test]
fn a_much_stronger_signal_is_captured() {
    // Range 7.2: A is 7 km from C, B 1 km on the other side (8 km from A: hidden). B's
    // signal at C is about 25 dB stronger than A's.
    let mut b = Bench::new(scenario("contention", 7.2, 0.0, 8.0, 7.0, 500.0));
    b.send_at(A, 0, 1);
    b.send_at(B, 100, 2);
    b.run_secs(10);
    let got = b.received();
    assert!(got.contains(&(C, B)), "{got:?}");
    assert!(!got.contains(&(C, A)), "{got:?}");
    let st = b.world.channel_stats();
    assert_eq!((st.receptions, st.lost_collision), (1, 1), "{st:?}");
}

#[test]
fn a_node_that_hears_the_channel_busy_defers_and_both_get_through() {
    // A and B 1 km apart, C between them.
    let mut b = Bench::new(scenario("contention", 8.0, 0.0, 1.0, 0.5, 500.0));
    b.send_at(A, 0, 1);
    b.send_at(B, 300, 2); // A has been on air for 300 ms: B senses it
    b.run_secs(20);
    let got = b.received();
    for pair in [(C, A), (C, B), (B, A), (A, B)] {
        assert!(got.contains(&pair), "{pair:?} missing from {got:?}");
    }
    let st = b.world.channel_stats();
    assert!(st.deferrals >= 1, "{st:?}");
    assert_eq!((st.lost_collision, st.lost_half_duplex), (0, 0), "{st:?}");
}

#[test]
fn a_node_cannot_receive_while_it_transmits() {
    // C starts, then A starts within the first slot (before carrier sense can detect C): each
    // is transmitting while the other's packet arrives.
    let mut b = Bench::new(scenario("contention", 8.0, 0.0, 100.0, 1.0, 500.0));
    b.send_at(C, 0, 1);
    b.send_at(A, 5, 2);
    b.run_secs(10);
    let got = b.received();
    assert!(!got.contains(&(C, A)) && !got.contains(&(A, C)), "{got:?}");
    let st = b.world.channel_stats();
    assert_eq!(st.lost_half_duplex, 2, "{st:?}");
    assert_eq!(st.receptions, 0);
}

#[test]
fn a_pending_rebroadcast_is_cancelled_by_another_copy() {
    // hop_limit 1 this time: A's packet is heard by B and C (close together), both schedule a
    // rebroadcast; whoever goes first makes the other cancel.
    let mut sc = scenario("contention", 8.0, 0.0, 2.0, 2.2, 500.0);
    sc.radio.hop_limit = 1;
    let mut b = Bench::new(sc);
    b.send_at(A, 0, 1);
    b.run_secs(30);
    let relays = b.world.channel_stats().transmissions - 1;
    assert!(relays <= 1, "{relays} rebroadcasts");
}

#[test]
fn the_station_measures_the_busy_channel() {
    // The station is 1 km from C; A and B are within range of it too.
    let mut b = Bench::new(scenario("contention", 8.0, 0.0, 1.0, 0.5, 1.0));
    b.run_secs(1);
    let idle = b.world.airtime_of(S, b.at(1000)).unwrap();
    assert_eq!(idle, (0.0, 0.0));
    let mut t = 1000;
    for id in 1..=6 {
        b.send_at(A, t, id);
        t += 5000;
    }
    b.run_secs(35);
    let (cu, tx) = b.world.airtime_of(S, b.at(35_000)).unwrap();
    assert!(cu > 5.0, "{cu}");
    assert_eq!(tx, 0.0, "the station itself sent nothing");
    let (_, a_tx) = b.world.airtime_of(A, b.at(35_000)).unwrap();
    assert!(a_tx > 0.0);
    // The device reports what the radio measured.
    b.world.refresh_airtime(S, b.at(35_000));
    let m = b.world.devices[&S].device_metrics(b.at(35_000));
    assert_eq!(m.channel_utilization, Some(cu));
    // Two minutes of silence later, the minute window is empty again.
    b.run_secs(200);
    let (cu, _) = b.world.airtime_of(S, b.at(200_000)).unwrap();
    assert_eq!(cu, 0.0);
}

#[test]
fn a_retransmitted_reliable_packet_is_acked_again_but_delivered_once() {
    // A sends C a reliable DM twice (same id: a retransmission after a lost ACK).
    let mut b = Bench::new(scenario("contention", 8.0, 0.0, 100.0, 1.0, 500.0));
    for (ms, _) in [(0, 1), (20_000, 2)] {
        b.run_until(b.at(ms));
        // A PKI text DM, as a text to a node is since firmware 2.7.14.
        let mut p = mesh::packet(PortNum::TextMessageApp, b"me oyes".to_vec());
        let (a_key, c_key) = (
            b.world.scenario.private_key(A),
            b.world.scenario.public_key(C),
        );
        pki::seal(&mut p, &a_key, &c_key);
        (p.from, p.to, p.id, p.want_ack) = (A, C, 77, true);
        if let Some(n) = b.world.node_mut(A) {
            n.see((A, 77));
        }
        let now = b.at(ms);
        b.world.tx_start(A, p, Origin::Node, now);
    }
    b.run_secs(40);
    let (mut delivered, mut acks) = (0, 0);
    while let Ok(ev) = b.events.try_recv() {
        match ev {
            SimEvent::Received { node: C, packet } if packet.from == A => delivered += 1,
            SimEvent::Transmitted {
                node: C, packet, ..
            } if mesh::routing_result(&packet).is_some_and(|(req, _)| req == 77) => acks += 1,
            _ => {}
        }
    }
    assert_eq!((delivered, acks), (1, 2));
}
