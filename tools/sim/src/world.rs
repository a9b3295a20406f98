//! The simulated world: the LoRa mesh, the scenario's nodes, the station devices and the
//! timeline, owned by the one simulation task ([`crate::sim`]).
//!
//! Mesh model: a link exists when two powered, non-silent nodes are within the larger of their
//! ranges (great-circle distance); each reception may be lost with the scenario's loss
//! probability (seeded, so deterministic). A transmission occupies the sender's radio for its
//! time on air (`Preset::packet_time_on_air` of the encoded `Data`); receivers get it when it
//! ends. Flooding: a node that has not seen `(from, id)` delivers it locally when it is for it
//! (or broadcast) and, when `hop_limit > 0` and it is not the destination, rebroadcasts it once
//! with `hop_limit - 1` after a contention delay weighted by SNR; hearing the same packet again
//! while waiting cancels that rebroadcast (the firmware's duplicate suppression). The
//! originator sets `hop_start`. Every mesh and timeline delay is divided by the speed factor;
//! the device rules are not. Not modelled: next-hop (DM) routing of firmware 2.6+,
//! retransmissions by non-station nodes.
//!
//! The channel ([`ChannelModel`], `radio.channel`): in `Ideal` (the default) the above is all,
//! every transmission in range is heard. In `Contention` the channel is shared. Each node keeps
//! the transmissions it hears that are not over (`Heard`, filled by `tx_start`, which already
//! finds the receivers in range, so no extra pass over the nodes). Carrier sense: `tx_start`
//! of a node that hears a transmission on air for at least one slot (CAD needs one) backs off
//! [`radio::tx_delay`] (the firmware's window, growing with the node's channel utilisation;
//! at least a slot) and tries again; a node's own packets also wait such a delay before the
//! first try. A relay keeps its `pending_rebroadcast` while it backs off, so another copy
//! still cancels it. Collisions: a new transmission and each one still on air at a receiver
//! mark each other lost there unless one is [`radio::CAPTURE_DB`] stronger. Half duplex: a
//! node that starts sending loses what it was receiving, and a packet arriving at a node
//! that sends is lost. Losses are decided when the `Rx` timer fires and counted in
//! [`ChannelStats`]. A destination ACKs a reliable packet it hears again (the retransmission
//! after a lost ACK) without delivering it twice, as `ReliableRouter::sniffReceived` does.
//! In both models every node books its own and heard airtime ([`radio::AirtimeLog`], in mesh
//! time: speed-scaled back), and a station device reports the figures in its DeviceMetrics.
//!
//! PKI ([`crate::pki`]): every node has an X25519 key pair ([`Scenario::public_key`]) and every
//! scenario node knows every other's public key; a station device knows the keys of its
//! NodeDB (the scenario's at the start, then trust on first use from NodeInfo, pinned).
//! A DM on a PKI port (not TRACEROUTE, NODEINFO, ROUTING, POSITION) on channel 0 is sent PKI:
//! on the simulated air it carries its sender's X25519 shared secret instead of ciphertext,
//! and a receiver decodes it only if its own key agreement with the key it holds for the
//! packet's `from` gives the same secret. A station delivers it with `pki_encrypted = true`,
//! `public_key` = its NodeDB key for `from`, channel 0; one it cannot decode reaches the client
//! undecoded (`encrypted`), as in firmware 2.7.15. Channel-key text DMs to a node are refused
//! from firmware 2.7.14 on (`radio.firmware_version`). [`Action::Forge`] and
//! [`Action::ForgeNodeInfo`] put impostors on air. Not modelled for PKI: AES-CCM bytes, key
//! verification, admin keys, XEdDSA signatures, MQTT (only the `via_mqtt` header bit), the
//! `PKI_UNKNOWN_PUBKEY` key exchange that follows, non-station nodes learning keys.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use faro_proto::mesh::{
    self, mesh_packet, routing, telemetry, DeviceMetrics, MeshPacket, Message, PortNum, Telemetry,
    ToRadio, Waypoint, BROADCAST,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::device::{self, ApiState, Clock, ConnId, Device, Output, ToClient, Transport};
use crate::pki;
use crate::radio;
use crate::scenario::{Action, ChannelModel, ForgeMode, NodeSpec, Scenario};
use crate::SimEvent;

/// Timers held at once; beyond this, new timers are dropped (and logged).
pub const MAX_TIMERS: usize = 65_536;
/// How long past its end a heard transmission whose `Rx` timer has not fired is kept.
const HEARD_GRACE: Duration = Duration::from_secs(60);
/// `(from, id)` pairs each node remembers for duplicate suppression.
pub const SEEN_PER_NODE: usize = 4096;

/// Which front end a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontKind {
    /// In-process `tokio::io::duplex` (serial-like).
    Duplex,
    /// TCP API.
    Tcp,
    /// Pseudo-terminal (serial).
    Pty,
}

impl FrontKind {
    fn transport(self) -> Transport {
        match self {
            FrontKind::Tcp => Transport::Tcp,
            FrontKind::Duplex | FrontKind::Pty => Transport::Serial,
        }
    }
}

/// What the simulation task sends a connection's writer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // at most CONN_CHANNEL of them exist per connection
pub enum ConnOut {
    /// Bytes to render and write.
    Item(ToClient),
    /// Close the connection (EOF for the client).
    Close,
}

#[derive(Debug)]
struct Conn {
    station: u32,
    kind: FrontKind,
    out: mpsc::Sender<ConnOut>,
}

#[derive(Debug, Clone)]
struct Track {
    node: u32,
    every: Duration,
    speed_kmh: f64,
    points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A station device's own packet: report `tx_done`.
    Device,
    /// A non-station node's own packet.
    Node,
    /// A flooding rebroadcast.
    Relay,
}

#[derive(Debug)]
enum TimerKind {
    TxStart {
        node: u32,
        packet: MeshPacket,
        origin: Origin,
    },
    TxDone {
        node: u32,
    },
    Rx {
        node: u32,
        packet: MeshPacket,
        sender: u32,
        distance_km: f64,
        /// The transmission ([`World::next_tx`]), to find its [`Heard`] entry.
        tx: u64,
    },
    Timeline(usize),
    TrackStep {
        track: usize,
        step: u64,
    },
    Reply {
        node: u32,
        to: u32,
        text: String,
    },
    SilentEnd {
        node: u32,
    },
    Telemetry {
        node: u32,
        level: u32,
        every: Duration,
        drain: u32,
    },
    PowerOn {
        station: u32,
    },
}

#[derive(Debug)]
struct Timer {
    at: Instant,
    seq: u64,
    kind: TimerKind,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Why a reception failed in [`ChannelModel::Contention`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxLoss {
    /// Another transmission overlapped it at the receiver, not weaker by the capture threshold.
    Collision,
    /// The receiver transmitted during it.
    HalfDuplex,
}

/// A transmission a node hears (or heard until `end`), in [`ChannelModel::Contention`].
#[derive(Debug, Clone, Copy)]
struct Heard {
    tx: u64,
    start: Instant,
    end: Instant,
    rssi: i32,
    lost: Option<RxLoss>,
    /// An `Rx` timer will look for this entry (false when the random `loss` took it).
    rx_pending: bool,
}

/// Counters of the shared channel since the start ([`World::channel_stats`],
/// [`crate::Sim::channel_stats`]). Receptions are counted per receiver in range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Transmissions put on air (originals, relays, ACKs, retransmissions).
    pub transmissions: u64,
    /// Receptions a radio decoded (duplicates included).
    pub receptions: u64,
    /// Receptions lost to the scenario's random `loss`.
    pub lost_random: u64,
    /// Receptions lost to a collision at the receiver (both colliding packets count).
    pub lost_collision: u64,
    /// Receptions lost because the receiver was transmitting (half duplex).
    pub lost_half_duplex: u64,
    /// Times a node found the channel busy and backed off (CSMA).
    pub deferrals: u64,
}

#[derive(Debug)]
struct NodeState {
    spec: NodeSpec,
    lat: f64,
    lon: f64,
    /// `lat`, `lon` on the unit sphere ([`radio::unit_vector`]), kept in step with them.
    xyz: [f64; 3],
    /// [`radio::chord2_bound`] of the node's range.
    chord2: f64,
    alt: Option<i32>,
    /// `Some(None)`: silent for good; `Some(Some(t))`: silent until t.
    silent: Option<Option<Instant>>,
    powered: bool,
    seen: HashSet<(u32, u32)>,
    seen_order: VecDeque<(u32, u32)>,
    pending_rebroadcast: HashSet<(u32, u32)>,
    tx_busy_until: Instant,
    /// Transmissions in range not yet over (and finished ones not yet pruned), Contention only.
    hearing: Vec<Heard>,
    /// Own and heard airtime, for the channel and transmit utilisation.
    airtime: radio::AirtimeLog,
}

impl NodeState {
    fn on_air(&self) -> bool {
        self.powered && self.silent.is_none()
    }

    /// Forgets transmissions that are over and have no reception left to decide (an entry
    /// whose `Rx` timer has not fired yet stays, even when the task runs late, up to a bound).
    fn prune(&mut self, now: Instant) {
        self.hearing
            .retain(|h| h.end >= now || (h.rx_pending && h.end + HEARD_GRACE >= now));
    }

    /// Whether carrier sense finds the channel busy at `now`: a transmission in range has been
    /// on air for at least `sense` (channel activity detection needs a slot) and is not over.
    fn channel_busy(&self, now: Instant, sense: Duration) -> bool {
        self.hearing
            .iter()
            .any(|h| h.end > now && h.start + sense <= now)
    }

    /// Marks `key` seen; returns false if it was already.
    fn see(&mut self, key: (u32, u32)) -> bool {
        if !self.seen.insert(key) {
            return false;
        }
        if self.seen_order.len() >= SEEN_PER_NODE {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen_order.push_back(key);
        true
    }
}

/// The whole simulated state. Methods take the current time; nothing here does I/O except
/// non-blocking sends on bounded channels.
#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    clock: Clock,
    speed: f64,
    rng: StdRng,
    nodes: Vec<NodeState>,
    index: HashMap<u32, usize>,
    devices: HashMap<u32, Device>,
    conns: HashMap<ConnId, Conn>,
    timers: BinaryHeap<Reverse<Timer>>,
    seq: u64,
    tracks: Vec<Track>,
    events: broadcast::Sender<SimEvent>,
    powered: HashMap<u32, watch::Sender<bool>>,
    /// Number of the last transmission put on air.
    next_tx: u64,
    stats: Arc<Mutex<ChannelStats>>,
}

/// Hops (relays in between) from `from` to every node over the links at the start.
fn relay_counts(sc: &Scenario, from: u32) -> HashMap<u32, u32> {
    let mut dist: HashMap<u32, u32> = HashMap::new();
    let mut at: HashMap<u32, usize> = HashMap::with_capacity(sc.nodes.len());
    for (i, n) in sc.nodes.iter().enumerate() {
        at.entry(n.id).or_insert(i); // the first, as `Scenario::node`
    }
    let cheap: Vec<([f64; 3], f64)> = sc
        .nodes
        .iter()
        .map(|n| {
            (
                radio::unit_vector(n.lat, n.lon),
                radio::chord2_bound(n.range_km),
            )
        })
        .collect();
    let mut queue = VecDeque::from([(from, 0u32)]);
    dist.insert(from, 0);
    while let Some((id, d)) = queue.pop_front() {
        let Some(&ia) = at.get(&id) else { continue };
        let a = &sc.nodes[ia];
        for (ib, b) in sc.nodes.iter().enumerate() {
            if dist.contains_key(&b.id) {
                continue;
            }
            if !radio::may_be_within(&cheap[ia].0, &cheap[ib].0, cheap[ia].1.max(cheap[ib].1)) {
                continue;
            }
            let km = radio::distance_km(a.lat, a.lon, b.lat, b.lon);
            if km <= a.range_km.max(b.range_km) {
                dist.insert(b.id, d + 1);
                queue.push_back((b.id, d + 1));
            }
        }
    }
    dist.into_iter()
        .filter(|(id, _)| *id != from)
        .map(|(id, d)| (id, d - 1))
        .collect()
}

/// The first word of `text` shaped like an incident id (`SAS-17`).
pub fn incident_id(text: &str) -> Option<&str> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .find(|w| {
            let Some((letters, digits)) = w.split_once('-') else {
                return false;
            };
            !letters.is_empty()
                && !digits.is_empty()
                && letters.chars().all(|c| c.is_ascii_alphabetic())
                && digits.chars().all(|c| c.is_ascii_digit())
        })
}

impl World {
    /// A world for `scenario`, starting `now`.
    #[allow(clippy::too_many_arguments)] // called once, from `Sim::start`
    pub fn new(
        scenario: Scenario,
        speed: f64,
        seed: u64,
        now: Instant,
        epoch0: u64,
        events: broadcast::Sender<SimEvent>,
        powered: HashMap<u32, watch::Sender<bool>>,
        run_timeline: bool,
    ) -> World {
        let clock = Clock { start: now, epoch0 };
        let nodes: Vec<NodeState> = scenario
            .nodes
            .iter()
            .map(|n| NodeState {
                spec: n.clone(),
                lat: n.lat,
                lon: n.lon,
                xyz: radio::unit_vector(n.lat, n.lon),
                chord2: radio::chord2_bound(n.range_km),
                alt: n.alt,
                silent: None,
                powered: true,
                seen: HashSet::new(),
                seen_order: VecDeque::new(),
                pending_rebroadcast: HashSet::new(),
                tx_busy_until: now,
                hearing: Vec::new(),
                airtime: radio::AirtimeLog::default(),
            })
            .collect();
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.spec.id, i))
            .collect();
        let mut devices = HashMap::new();
        for (k, id) in scenario.stations().into_iter().enumerate() {
            let hops = relay_counts(&scenario, id);
            let others: Vec<(NodeSpec, Option<u32>)> = scenario
                .nodes
                .iter()
                .map(|n| (n.clone(), hops.get(&n.id).copied()))
                .collect();
            let me = scenario
                .node(id)
                .cloned()
                .unwrap_or_else(|| others[0].0.clone());
            let mut dev = Device::new(
                me,
                &others,
                scenario.radio.clone(),
                clock,
                now,
                seed ^ ((k as u64 + 1) * 0x9e37_79b9),
            );
            dev.set_keys(scenario.private_key(id), |n| scenario.public_key(n));
            devices.insert(id, dev);
        }
        let mut world = World {
            clock,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            rng: StdRng::seed_from_u64(seed),
            nodes,
            index,
            devices,
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            tracks: Vec::new(),
            events,
            powered,
            next_tx: 0,
            stats: Arc::new(Mutex::new(ChannelStats::default())),
            scenario,
        };
        if run_timeline {
            for i in 0..world.scenario.timeline.len() {
                let at = now + world.scaled(world.scenario.timeline[i].at);
                world.schedule(at, TimerKind::Timeline(i));
            }
        }
        world
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// Mesh time since the start (tokio time times the speed factor), for airtime records.
    fn mesh_time(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.clock.start)
            .mul_f64(self.speed)
    }

    fn count(&self, f: impl FnOnce(&mut ChannelStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The channel counters so far.
    pub fn channel_stats(&self) -> ChannelStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A shared view of the channel counters, kept up to date by the world.
    pub fn channel_stats_handle(&self) -> Arc<Mutex<ChannelStats>> {
        self.stats.clone()
    }

    /// A node's channel utilisation (percent of the last minute the channel was busy as it
    /// heard it, its own transmissions included) and transmit utilisation (percent of the
    /// last hour it transmitted), as its firmware would report them.
    pub fn airtime_of(&self, node: u32, now: Instant) -> Option<(f32, f32)> {
        let at = self.mesh_time(now);
        self.node(node)
            .map(|n| (n.airtime.channel_utilization(at), n.airtime.air_util_tx(at)))
    }

    /// Gives a station device its current airtime figures before it reports them.
    fn refresh_airtime(&mut self, station: u32, now: Instant) {
        if let Some((cu, tx)) = self.airtime_of(station, now) {
            if let Some(dev) = self.devices.get_mut(&station) {
                dev.set_airtime(cu, tx);
            }
        }
    }

    fn emit(&self, ev: SimEvent) {
        // Nobody listening is fine; lagging receivers lose old events.
        let _ = self.events.send(ev);
    }

    fn schedule(&mut self, at: Instant, kind: TimerKind) {
        if self.timers.len() >= MAX_TIMERS {
            tracing::warn!(?kind, "timer queue full; dropping");
            return;
        }
        self.seq += 1;
        self.timers.push(Reverse(Timer {
            at,
            seq: self.seq,
            kind,
        }));
    }

    fn node(&self, id: u32) -> Option<&NodeState> {
        self.index.get(&id).map(|&i| &self.nodes[i])
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut NodeState> {
        self.index.get(&id).map(|&i| &mut self.nodes[i])
    }

    /// Earliest time [`World::on_timers`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.timers.peek().map(|Reverse(t)| t.at);
        self.devices
            .values()
            .filter_map(Device::next_deadline)
            .chain(t)
            .min()
    }

    /// Runs every timer due at `now`, then the devices' own timers.
    pub fn on_timers(&mut self, now: Instant) {
        // Bounded: each round handles the timers due now; new ones due now run next round.
        for _ in 0..MAX_TIMERS {
            let due = matches!(self.timers.peek(), Some(Reverse(t)) if t.at <= now);
            if !due {
                break;
            }
            let Some(Reverse(timer)) = self.timers.pop() else {
                break;
            };
            self.fire(timer.kind, now);
        }
        let stations: Vec<u32> = self.devices.keys().copied().collect();
        for st in stations {
            if self.devices[&st].next_deadline().is_some_and(|d| d <= now) {
                self.refresh_airtime(st, now);
            }
            if let Some(dev) = self.devices.get_mut(&st) {
                if dev.next_deadline().is_some_and(|d| d <= now) {
                    dev.poll(now);
                }
            }
            self.drain_device(st, now);
        }
    }

    fn fire(&mut self, kind: TimerKind, now: Instant) {
        match kind {
            TimerKind::TxStart {
                node,
                packet,
                origin,
            } => self.tx_start(node, packet, origin, now),
            TimerKind::TxDone { node } => {
                if let Some(dev) = self.devices.get_mut(&node) {
                    dev.tx_done();
                }
            }
            TimerKind::Rx {
                node,
                packet,
                sender,
                distance_km,
                tx,
            } => self.rx(node, packet, sender, distance_km, tx, now),
            TimerKind::Timeline(i) => {
                if let Some(t) = self.scenario.timeline.get(i) {
                    let action = t.action.clone();
                    self.act(action, now);
                }
            }
            TimerKind::TrackStep { track, step } => self.track_step(track, step, now),
            TimerKind::Telemetry {
                node,
                level,
                every,
                drain,
            } => self.telemetry(node, level, Some(every), drain, now),
            TimerKind::Reply { node, to, text } => {
                let mut p = mesh::packet(PortNum::TextMessageApp, text.into_bytes());
                p.to = to;
                p.want_ack = true;
                self.originate(node, p, now);
            }
            TimerKind::SilentEnd { node } => {
                if let Some(n) = self.node_mut(node) {
                    if n.silent == Some(Some(now)) || matches!(n.silent, Some(Some(t)) if t <= now)
                    {
                        n.silent = None;
                    }
                }
            }
            TimerKind::PowerOn { station } => {
                if let Some(n) = self.node_mut(station) {
                    n.powered = true;
                }
                if let Some(dev) = self.devices.get_mut(&station) {
                    dev.power_on(now);
                }
                if let Some(w) = self.powered.get(&station) {
                    w.send_replace(true);
                }
                self.drain_device(station, now);
            }
        }
    }

    // ---- actions ------------------------------------------------------------------------

    /// Runs an action now.
    pub fn act(&mut self, action: Action, now: Instant) {
        tracing::debug!(?action, "action");
        match action {
            Action::Text {
                from,
                to,
                channel,
                text,
                want_ack,
            } => {
                let mut p = mesh::packet(PortNum::TextMessageApp, text.into_bytes());
                p.to = to;
                p.channel = channel;
                p.want_ack = want_ack;
                self.originate(from, p, now);
            }
            Action::Alert { from, to, text } => {
                let mut p = mesh::packet(PortNum::AlertApp, text.into_bytes());
                p.to = to;
                p.priority = mesh_packet::Priority::Alert as i32;
                self.originate(from, p, now);
            }
            Action::Detection { from, name, bell } => {
                let mut text = format!("{name} detected");
                if bell {
                    text.push('\u{7}');
                }
                let mut p = mesh::packet(PortNum::DetectionSensorApp, text.into_bytes());
                p.to = BROADCAST;
                self.originate(from, p, now);
            }
            Action::Position {
                node,
                lat,
                lon,
                alt,
            } => {
                self.move_node(node, lat, lon, alt);
                self.send_position(node, now);
            }
            Action::Track {
                node,
                every,
                speed_kmh,
                points,
            } => {
                self.tracks.push(Track {
                    node,
                    every,
                    speed_kmh,
                    points,
                });
                let track = self.tracks.len() - 1;
                self.track_step(track, 0, now);
            }
            Action::Waypoint {
                from,
                to,
                id,
                name,
                description,
                lat,
                lon,
                expire_secs,
            } => {
                let expire = if expire_secs == 0 {
                    0
                } else {
                    self.clock.epoch(now).saturating_add(expire_secs)
                };
                let w = Waypoint {
                    id,
                    latitude_i: Some(mesh::degrees_i(lat)),
                    longitude_i: Some(mesh::degrees_i(lon)),
                    expire,
                    locked_to: 0,
                    name,
                    description,
                    icon: 0x1F4CD,
                };
                let mut p = mesh::packet(PortNum::WaypointApp, w.encode_to_vec());
                p.to = to;
                self.originate(from, p, now);
            }
            Action::NodeInfo { node } => {
                let Some(n) = self.node(node) else { return };
                let mut u = device::user(&n.spec);
                u.public_key = self.scenario.public_key(node).to_vec();
                let mut p = mesh::packet(PortNum::NodeinfoApp, u.encode_to_vec());
                p.to = BROADCAST;
                p.priority = mesh_packet::Priority::Background as i32;
                self.originate(node, p, now);
            }
            Action::Telemetry {
                node,
                level,
                every,
                drain,
            } => self.telemetry(node, level, every, drain, now),
            Action::Silent { node, for_secs } => {
                let until = for_secs.map(|s| now + self.scaled(Duration::from_secs_f64(s)));
                if let Some(n) = self.node_mut(node) {
                    n.silent = Some(until);
                }
                if let Some(t) = until {
                    self.schedule(t, TimerKind::SilentEnd { node });
                }
            }
            Action::Reboot { node } => {
                if let Some(dev) = self.devices.get_mut(&node) {
                    dev.reboot(now);
                }
                self.drain_device(node, now);
            }
            Action::Unplug { node, for_secs } => self.unplug(node, for_secs, now),
            Action::Mute { node } => {
                let current = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.station == node)
                    .map(|(id, _)| *id)
                    .max();
                if let (Some(conn), Some(dev)) = (current, self.devices.get_mut(&node)) {
                    dev.mute(conn);
                }
                self.drain_device(node, now);
            }
            Action::Forge {
                by,
                claimed_from,
                to,
                channel,
                text,
                mode,
            } => {
                let mut p = mesh::packet(PortNum::TextMessageApp, text.into_bytes());
                p.to = to;
                p.channel = channel;
                match mode {
                    ForgeMode::Broadcast => p.to = BROADCAST,
                    ForgeMode::ChannelDm => {}
                    ForgeMode::ViaMqtt => p.via_mqtt = true,
                    ForgeMode::WrongKey => {
                        // `by` knows the destination's real key; its own private key is all it
                        // can encrypt with.
                        let dest = self.scenario.public_key(to);
                        pki::seal(&mut p, &self.scenario.private_key(by), &dest);
                    }
                }
                self.transmit_as(by, claimed_from, p, now);
            }
            Action::ForgeNodeInfo { by, claimed_from } => {
                let mut u = match self.node(claimed_from) {
                    Some(n) => device::user(&n.spec),
                    None => faro_proto::mesh::User {
                        id: mesh::NodeId(claimed_from).to_string(),
                        long_name: format!("Meshtastic {:04x}", claimed_from & 0xffff),
                        short_name: format!("{:04x}", claimed_from & 0xffff),
                        ..Default::default()
                    },
                };
                u.public_key = self.scenario.public_key(by).to_vec();
                let mut p = mesh::packet(PortNum::NodeinfoApp, u.encode_to_vec());
                p.to = BROADCAST;
                p.priority = mesh_packet::Priority::Background as i32;
                self.transmit_as(by, claimed_from, p, now);
            }
        }
    }

    /// Node `by` puts `p` on air with `from = claimed_from`, as it is (no device, no PKI
    /// decision: the caller chose the encryption).
    fn transmit_as(&mut self, by: u32, claimed_from: u32, mut p: MeshPacket, now: Instant) {
        if self.node(by).is_none() {
            return;
        }
        p.from = claimed_from;
        p.id = self.random_id();
        p.hop_limit = self.scenario.radio.hop_limit;
        p.hop_start = p.hop_limit;
        p.relay_node = by & 0xff;
        if p.priority == 0 {
            p.priority = mesh_packet::Priority::Default as i32;
        }
        self.submit(by, p, Origin::Node, now);
    }

    fn random_id(&mut self) -> u32 {
        loop {
            let id = self.rng.random::<u32>() & 0x7fff_ffff;
            if id != 0 {
                return id;
            }
        }
    }

    fn unplug(&mut self, station: u32, for_secs: f64, now: Instant) {
        let Some(dev) = self.devices.get_mut(&station) else {
            return;
        };
        dev.power_off();
        if let Some(n) = self.node_mut(station) {
            n.powered = false;
        }
        if let Some(w) = self.powered.get(&station) {
            w.send_replace(false);
        }
        self.drain_device(station, now);
        let back = now + self.scaled(Duration::from_secs_f64(for_secs));
        self.schedule(back, TimerKind::PowerOn { station });
    }

    fn move_node(&mut self, node: u32, lat: f64, lon: f64, alt: Option<i32>) {
        if let Some(n) = self.node_mut(node) {
            n.lat = lat;
            n.lon = lon;
            n.xyz = radio::unit_vector(lat, lon);
            if alt.is_some() {
                n.alt = alt;
            }
        }
        if let Some(dev) = self.devices.get_mut(&node) {
            dev.set_position(lat, lon, alt);
        }
    }

    fn send_position(&mut self, node: u32, now: Instant) {
        let Some(n) = self.node(node) else { return };
        let pos = device::position(
            n.lat,
            n.lon,
            n.alt,
            self.clock.epoch(now),
            self.scenario.radio.position_precision,
        );
        let mut p = mesh::packet(PortNum::PositionApp, pos.encode_to_vec());
        p.to = BROADCAST;
        p.priority = mesh_packet::Priority::Background as i32;
        self.originate(node, p, now);
    }

    /// `DeviceTelemetryModule::sendTelemetry`: DeviceMetrics from the node to broadcast, at
    /// background priority, stamped with the node's clock; again after `every`, `drain`
    /// percent lower (101, powered, stays).
    fn telemetry(
        &mut self,
        node: u32,
        level: u32,
        every: Option<Duration>,
        drain: u32,
        now: Instant,
    ) {
        if self.node(node).is_none() {
            return;
        }
        let t = Telemetry {
            time: self.clock.epoch(now),
            variant: Some(telemetry::Variant::DeviceMetrics(DeviceMetrics {
                battery_level: Some(level),
                // A Li-ion cell: 3.3 V empty, 4.2 V full.
                voltage: Some(if level > 100 {
                    4.2
                } else {
                    3.3 + 0.9 * level as f32 / 100.0
                }),
                channel_utilization: None,
                air_util_tx: None,
                uptime_seconds: Some(
                    now.saturating_duration_since(self.clock.start).as_secs() as u32
                ),
            })),
        };
        let mut p = mesh::packet(PortNum::TelemetryApp, t.encode_to_vec());
        p.to = BROADCAST;
        p.priority = mesh_packet::Priority::Background as i32;
        self.originate(node, p, now);
        if let Some(every) = every {
            let level = if level > 100 {
                level
            } else {
                level.saturating_sub(drain)
            };
            let next = now + self.scaled(every);
            self.schedule(
                next,
                TimerKind::Telemetry {
                    node,
                    level,
                    every,
                    drain,
                },
            );
        }
    }

    fn track_step(&mut self, track: usize, step: u64, now: Instant) {
        let Some(t) = self.tracks.get(track).cloned() else {
            return;
        };
        let km_per_step = t.speed_kmh * t.every.as_secs_f64() / 3600.0;
        let mut remaining = km_per_step * step as f64;
        let mut at = *t.points.last().unwrap_or(&(0.0, 0.0));
        let mut finished = true;
        for w in t.points.windows(2) {
            let seg = radio::distance_km(w[0].0, w[0].1, w[1].0, w[1].1);
            if remaining <= seg {
                let f = if seg > 0.0 { remaining / seg } else { 0.0 };
                at = (
                    w[0].0 + (w[1].0 - w[0].0) * f,
                    w[0].1 + (w[1].1 - w[0].1) * f,
                );
                finished = false;
                break;
            }
            remaining -= seg;
        }
        self.move_node(t.node, at.0, at.1, None);
        self.send_position(t.node, now);
        if !finished {
            let next = now + self.scaled(t.every);
            self.schedule(
                next,
                TimerKind::TrackStep {
                    track,
                    step: step + 1,
                },
            );
        }
    }

    // ---- the mesh -----------------------------------------------------------------------

    /// A node originates a packet: fills in id, from, hop limit and hop start.
    fn originate(&mut self, node: u32, mut p: MeshPacket, now: Instant) {
        if let Some(dev) = self.devices.get_mut(&node) {
            dev.originate(p, now);
            self.drain_device(node, now);
            return;
        }
        p.from = node;
        p.id = self.random_id();
        // `perhapsEncode` (2.7.15): a DM on a PKI port goes PKI with the destination's key, which
        // every scenario node knows; to a node outside the scenario, under the channel key.
        if pki::wants_pki(p.to, mesh::portnum(&p), p.channel) && self.scenario.node(p.to).is_some()
        {
            let dest = self.scenario.public_key(p.to);
            pki::seal(&mut p, &self.scenario.private_key(node), &dest);
        } else {
            pki::unseal(&mut p);
        }
        if p.hop_limit == 0 {
            p.hop_limit = self.scenario.radio.hop_limit;
        }
        p.hop_start = p.hop_limit;
        p.relay_node = node & 0xff;
        if p.priority == 0 {
            p.priority = if p.want_ack {
                mesh_packet::Priority::Reliable
            } else {
                mesh_packet::Priority::Default
            } as i32;
        }
        if p.to == BROADCAST {
            p.want_ack = false;
        }
        self.submit(node, p, Origin::Node, now);
    }

    fn contention(&self) -> bool {
        self.scenario.radio.channel == ChannelModel::Contention
    }

    /// The CSMA back-off of `node` now (`getTxDelayMsec`, window from its channel
    /// utilisation), scaled by the speed factor.
    fn backoff(&mut self, node: u32, now: Instant) -> Duration {
        let util = self.airtime_of(node, now).map_or(0.0, |(cu, _)| cu);
        let jitter = self.rng.random::<f64>();
        self.scaled(radio::tx_delay(self.scenario.radio.preset, util, jitter))
    }

    fn submit(&mut self, node: u32, p: MeshPacket, origin: Origin, now: Instant) {
        if let Some(n) = self.node_mut(node) {
            n.see((p.from, p.id));
        }
        // The firmware queues its own packets behind a random contention delay
        // (`startTransmitTimer(true)`); the ideal channel sends them at once.
        let at = if self.contention() {
            now + self.backoff(node, now)
        } else {
            now
        };
        self.schedule(
            at,
            TimerKind::TxStart {
                node,
                packet: p,
                origin,
            },
        );
    }

    fn tx_start(&mut self, node: u32, packet: MeshPacket, origin: Origin, now: Instant) {
        let key = (packet.from, packet.id);
        let preset = self.scenario.radio.preset;
        let airtime = preset.packet_time_on_air(
            mesh::air_data_len(&packet)
                + if packet.pki_encrypted {
                    pki::PKC_OVERHEAD
                } else {
                    0
                },
        );
        let speed = self.speed;
        let contention = self.contention();
        let sense = self.scaled(radio::slot_time(preset));
        let Some(n) = self.node_mut(node) else { return };
        if origin == Origin::Relay && !n.pending_rebroadcast.contains(&key) {
            return; // cancelled: somebody else rebroadcast it first
        }
        if !n.on_air() {
            n.pending_rebroadcast.remove(&key);
            if origin == Origin::Device {
                if let Some(dev) = self.devices.get_mut(&node) {
                    dev.tx_done();
                }
            }
            return;
        }
        if n.tx_busy_until > now {
            let at = n.tx_busy_until;
            self.schedule(
                at,
                TimerKind::TxStart {
                    node,
                    packet,
                    origin,
                },
            );
            return;
        }
        if contention {
            n.prune(now);
            if n.channel_busy(now, sense) {
                // Carrier sense: the channel is busy; back off a random contention window
                // (at least one slot, so that the retry is later) and sense again. A relay
                // stays pending, so hearing another copy meanwhile still cancels it.
                let wait = self.backoff(node, now).max(sense);
                self.count(|s| s.deferrals += 1);
                self.schedule(
                    now + wait,
                    TimerKind::TxStart {
                        node,
                        packet,
                        origin,
                    },
                );
                return;
            }
        }
        let Some(n) = self.node_mut(node) else { return };
        n.pending_rebroadcast.remove(&key);
        let end = now + airtime.div_f64(speed);
        n.tx_busy_until = end;
        if contention {
            // Half duplex: whatever the node was still receiving is lost.
            for h in n.hearing.iter_mut().filter(|h| h.end > now) {
                h.lost.get_or_insert(RxLoss::HalfDuplex);
            }
        }
        let (lat, lon, range, xyz, chord2) = (n.lat, n.lon, n.spec.range_km, n.xyz, n.chord2);
        let at = self.mesh_time(now);
        if let Some(n) = self.node_mut(node) {
            n.airtime.log(at, airtime, true);
        }
        self.next_tx += 1;
        let tx = self.next_tx;
        self.count(|s| s.transmissions += 1);
        self.emit(SimEvent::Transmitted {
            node,
            packet: packet.clone(),
            airtime,
        });
        let loss = self.scenario.radio.loss;
        let mut receivers = Vec::new();
        for (i, m) in self.nodes.iter().enumerate() {
            if m.spec.id == node || !m.on_air() {
                continue;
            }
            // Cheap and conservative: most pairs of a large mesh are far apart.
            if !radio::may_be_within(&xyz, &m.xyz, chord2.max(m.chord2)) {
                continue;
            }
            let km = radio::distance_km(lat, lon, m.lat, m.lon);
            if km <= range.max(m.spec.range_km) {
                receivers.push((i, m.spec.id, km));
            }
        }
        for (i, id, km) in receivers {
            let m = &mut self.nodes[i];
            m.airtime.log(at, airtime, false);
            if contention {
                m.prune(now);
                let rssi = radio::link_quality(km).rssi;
                let mut lost = (m.tx_busy_until > now).then_some(RxLoss::HalfDuplex);
                for h in m.hearing.iter_mut().filter(|h| h.end > now) {
                    if rssi < h.rssi + radio::CAPTURE_DB {
                        lost.get_or_insert(RxLoss::Collision);
                    }
                    if h.rssi < rssi + radio::CAPTURE_DB {
                        h.lost.get_or_insert(RxLoss::Collision);
                    }
                }
                m.hearing.push(Heard {
                    tx,
                    start: now,
                    end,
                    rssi,
                    lost,
                    rx_pending: true,
                });
            }
            if loss > 0.0 && self.rng.random::<f64>() < loss {
                self.count(|s| s.lost_random += 1);
                if let Some(h) = self.nodes[i].hearing.last_mut().filter(|h| h.tx == tx) {
                    h.rx_pending = false;
                }
                continue;
            }
            self.schedule(
                end,
                TimerKind::Rx {
                    node: id,
                    packet: packet.clone(),
                    sender: node,
                    distance_km: km,
                    tx,
                },
            );
        }
        if origin == Origin::Device {
            self.schedule(end, TimerKind::TxDone { node });
        }
    }

    #[allow(clippy::too_many_arguments)] // the fields of one `Rx` timer
    fn rx(&mut self, node: u32, mut p: MeshPacket, sender: u32, km: f64, tx: u64, now: Instant) {
        let key = (p.from, p.id);
        let Some(n) = self.node_mut(node) else { return };
        let heard = n
            .hearing
            .iter()
            .position(|h| h.tx == tx)
            .map(|i| n.hearing.swap_remove(i));
        if !n.on_air() {
            return;
        }
        if let Some(h) = heard {
            if let Some(cause) = h.lost {
                self.count(|s| match cause {
                    RxLoss::Collision => s.lost_collision += 1,
                    RxLoss::HalfDuplex => s.lost_half_duplex += 1,
                });
                tracing::trace!(
                    node = %mesh::NodeId(node),
                    sender = %mesh::NodeId(sender),
                    id = p.id,
                    ?cause,
                    "reception lost"
                );
                return;
            }
        }
        self.count(|s| s.receptions += 1);
        let contention = self.contention();
        let Some(n) = self.node_mut(node) else { return };
        if p.from == node {
            // Our own packet, rebroadcast by a neighbour: an implicit ACK.
            if let Some(dev) = self.devices.get_mut(&node) {
                dev.heard_rebroadcast(p.id, now);
                self.drain_device(node, now);
            }
            return;
        }
        if !n.see(key) {
            n.pending_rebroadcast.remove(&key);
            if contention {
                self.ack_duplicate(node, &p, now);
            }
            return;
        }
        let q = radio::link_quality(km);
        p.rx_time = self.clock.epoch(now);
        p.rx_snr = q.snr;
        p.rx_rssi = q.rssi;
        p.relay_node = sender & 0xff;
        let for_me = p.to == node || p.to == BROADCAST;
        if p.hop_limit > 0 && p.to != node {
            let mut relay = p.clone();
            relay.hop_limit -= 1;
            relay.rx_time = 0;
            relay.rx_snr = 0.0;
            relay.rx_rssi = 0;
            relay.relay_node = node & 0xff;
            let jitter = self.rng.random::<f64>();
            let delay = radio::rebroadcast_delay(self.scenario.radio.preset, q.snr, jitter);
            let at = now + self.scaled(delay);
            if let Some(n) = self.node_mut(node) {
                n.pending_rebroadcast.insert(key);
            }
            self.schedule(
                at,
                TimerKind::TxStart {
                    node,
                    packet: relay,
                    origin: Origin::Relay,
                },
            );
        }
        if !for_me {
            return;
        }
        if let Some(dev) = self.devices.get_mut(&node) {
            dev.receive(p, now);
            self.drain_device(node, now);
            return;
        }
        self.deliver_to_node(node, p, now);
    }

    /// A reliable packet to `node` heard again: its sender did not get our ACK (it was lost
    /// on a contended channel) and retransmitted, so ACK again without delivering it twice
    /// (`ReliableRouter::sniffReceived` ACKs every `want_ack` packet to us, seen or not).
    fn ack_duplicate(&mut self, node: u32, p: &MeshPacket, now: Instant) {
        let port = mesh::portnum(p);
        if !p.want_ack || p.to != node || port.is_none() || port == Some(PortNum::RoutingApp) {
            return;
        }
        if let Some(dev) = self.devices.get_mut(&node) {
            dev.ack_duplicate(p);
            self.drain_device(node, now);
            return;
        }
        // As `deliver_to_node`: what the node could not decode it did not ACK the first time.
        let decodable = if p.pki_encrypted {
            let from_key = self
                .scenario
                .node(p.from)
                .map(|_| self.scenario.public_key(p.from));
            pki::opens(p, &self.scenario.private_key(node), from_key)
        } else {
            port != Some(PortNum::TextMessageApp)
                || !pki::rejects_legacy_dm(&self.scenario.radio.firmware_version)
        };
        if !decodable {
            return;
        }
        let mut ack = device::routing_packet(node, p.from, 0, p.id, routing::Error::None, 0);
        ack.want_ack = false;
        self.originate(node, ack, now);
    }

    /// A non-station node got a packet for it: report it, ACK it, maybe answer it.
    fn deliver_to_node(&mut self, node: u32, mut p: MeshPacket, now: Instant) {
        // The node decodes as a station does (`Device::decode`), with the scenario's keys; what
        // it cannot decode it ignores (it has no client to hand it to).
        if p.pki_encrypted {
            let from_key = self
                .scenario
                .node(p.from)
                .map(|_| self.scenario.public_key(p.from));
            if p.to != node || !pki::opens(&p, &self.scenario.private_key(node), from_key) {
                return;
            }
            p.public_key = from_key.map(|k| k.to_vec()).unwrap_or_default();
        } else {
            pki::unseal(&mut p);
            if p.to == node
                && mesh::portnum(&p) == Some(PortNum::TextMessageApp)
                && pki::rejects_legacy_dm(&self.scenario.radio.firmware_version)
            {
                return;
            }
        }
        self.emit(SimEvent::Received {
            node,
            packet: p.clone(),
        });
        let Some(d) = mesh::data(&p).cloned() else {
            return;
        };
        let is_routing = d.portnum == PortNum::RoutingApp as i32;
        if p.want_ack && p.to == node && !is_routing {
            let mut ack = device::routing_packet(node, p.from, 0, p.id, routing::Error::None, 0);
            ack.want_ack = false;
            self.originate(node, ack, now);
        }
        if p.to != node || d.portnum != PortNum::TextMessageApp as i32 {
            return;
        }
        let text = String::from_utf8_lossy(&d.payload).into_owned();
        let Some(spec) = self.node(node).map(|n| n.spec.clone()) else {
            return;
        };
        let lower = text.to_lowercase();
        let Some(rule) = spec
            .replies
            .iter()
            .find(|r| lower.contains(&r.contains.to_lowercase()))
        else {
            return;
        };
        let Some(template) = &rule.text else { return }; // this node never answers
        let reply = template.replace("{id}", incident_id(&text).unwrap_or(""));
        let at = now + self.scaled(rule.after);
        self.schedule(
            at,
            TimerKind::Reply {
                node,
                to: p.from,
                text: reply,
            },
        );
    }

    // ---- station devices and their connections -------------------------------------------

    /// Applies a device's outputs: transmissions, closed connections, events.
    fn drain_device(&mut self, station: u32, now: Instant) {
        let Some(dev) = self.devices.get_mut(&station) else {
            return;
        };
        let outputs = dev.take_outputs();
        for o in outputs {
            match o {
                Output::Transmit(p) => self.submit(station, p, Origin::Device, now),
                Output::Close(conn) => {
                    if let Some(c) = self.conns.remove(&conn) {
                        let _ = c.out.try_send(ConnOut::Close);
                    }
                }
                Output::State(conn, state) => {
                    tracing::debug!(station = %mesh::NodeId(station), ?conn, %state, "device state");
                    self.emit(SimEvent::DeviceState { station, state });
                }
            }
        }
    }

    /// A client connected through a front end. Returns false when the station is unplugged
    /// (the connection is closed at once).
    pub fn attach(
        &mut self,
        station: u32,
        conn: ConnId,
        kind: FrontKind,
        out: mpsc::Sender<ConnOut>,
        now: Instant,
    ) -> bool {
        let powered = self.node(station).is_some_and(|n| n.powered);
        if !powered || !self.devices.contains_key(&station) {
            let _ = out.try_send(ConnOut::Close);
            return false;
        }
        // One TCP client (a new one force-closes the previous); one host on a serial line.
        if kind != FrontKind::Pty {
            let old: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| c.station == station && c.kind == kind)
                .map(|(id, _)| *id)
                .collect();
            for id in old {
                if let Some(c) = self.conns.remove(&id) {
                    let _ = c.out.try_send(ConnOut::Close);
                }
                if let Some(dev) = self.devices.get_mut(&station) {
                    dev.detach(id);
                }
                self.emit(SimEvent::DeviceState {
                    station,
                    state: "client_kicked".into(),
                });
            }
        }
        self.conns.insert(conn, Conn { station, kind, out });
        if let Some(dev) = self.devices.get_mut(&station) {
            dev.attach(conn, kind.transport(), now);
        }
        self.drain_device(station, now);
        true
    }

    /// The client side of a connection went away.
    pub fn detach(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(dev) = self.devices.get_mut(&c.station) {
                dev.detach(conn);
            }
            self.drain_device(c.station, now);
        }
    }

    /// A frame from a client.
    pub fn to_radio(&mut self, conn: ConnId, msg: ToRadio, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let (station, kind) = (c.station, c.kind);
        self.refresh_airtime(station, now);
        self.emit(SimEvent::ClientSent {
            station,
            msg: msg.clone(),
        });
        let Some(dev) = self.devices.get_mut(&station) else {
            return;
        };
        if kind == FrontKind::Pty
            && dev.is_muted(conn)
            && matches!(
                msg.payload_variant,
                Some(faro_proto::mesh::to_radio::PayloadVariant::WantConfigId(_))
            )
        {
            // A reopened PTY is invisible to the device: a new handshake ends the hang.
            dev.detach(conn);
            dev.attach(conn, Transport::Serial, now);
        }
        dev.handle_to_radio(conn, msg, now);
        self.drain_device(station, now);
    }

    /// Moves frames from the devices to the connections while their channels have room.
    pub fn flush(&mut self, now: Instant) {
        let conns: Vec<(ConnId, u32)> = self.conns.iter().map(|(id, c)| (*id, c.station)).collect();
        for (conn, station) in conns {
            let Some(dev) = self.devices.get_mut(&station) else {
                continue;
            };
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            // Bounded by the channel's capacity.
            while c.out.capacity() > 0 {
                let Some(item) = dev.pop(conn) else { break };
                if let ToClient::Frame(m) = &item {
                    let _ = self.events.send(SimEvent::ToClient {
                        station,
                        msg: m.clone(),
                    });
                }
                if c.out.try_send(ConnOut::Item(item)).is_err() {
                    break;
                }
            }
        }
        let stations: Vec<u32> = self.devices.keys().copied().collect();
        for st in stations {
            self.drain_device(st, now);
        }
    }

    /// PhoneAPI state of a connection (for tests).
    pub fn api_state(&self, conn: ConnId) -> Option<ApiState> {
        let c = self.conns.get(&conn)?;
        self.devices.get(&c.station)?.api_state(conn)
    }

    /// Current position of a node.
    pub fn position_of(&self, node: u32) -> Option<(f64, f64)> {
        self.node(node).map(|n| (n.lat, n.lon))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod channel_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids() {
        assert_eq!(incident_id("FARO SAS-17 AMBULANCIA P1"), Some("SAS-17"));
        assert_eq!(incident_id("ok (TIJ-3)."), Some("TIJ-3"));
        assert_eq!(incident_id("nothing here 12-3 A-"), None);
    }

    #[test]
    fn default_scenario_topology() {
        let sc = Scenario::builtin("default").unwrap();
        let st = sc.stations()[0];
        let hops = relay_counts(&sc, st);
        let id = |s: &str| sc.node_by_name(s).unwrap().id;
        assert_eq!(hops[&id("T7")], 2, "tower over two relays");
        assert_eq!(hops[&id("SAR")], 2, "Sáric over two relays");
        assert_eq!(hops[&id("ALT")], 3, "Altar over three relays");
        assert_eq!(hops[&id("R1")], 0);
        assert_eq!(hops[&id("A1")], 0);
        for n in &sc.nodes {
            assert!(
                hops.contains_key(&n.id) || n.id == st,
                "{} unreachable",
                n.long_name
            );
        }
    }
}
