//! The radio session: the stream API conversation with one Meshtastic device, as a pure state
//! machine. It takes what the device sent and the current time and returns what to do; the
//! link task (`radio::link`) does the reading, writing and sleeping.
//!
//! Lifecycle on every (re)connect: the link writes the 32 x 0xC3 wake-up, then
//! [`Session::start`] asks for the configuration with a fresh random nonce; the session collects
//! the burst (own node, metadata, channels, LoRa config, node database) until
//! `config_complete_id == nonce` (an older nonce's completion is ignored), retrying with a new
//! nonce on timeout. Then it is live: it heartbeats at once and every `heartbeat_interval`,
//! re-handshakes when the device says `rebooted`, asks for a reopen when nothing has arrived
//! for `silence_timeout` (firmware stops forwarding after 15 min without client traffic and a
//! hung radio keeps the port open), and matches routing ACK / implicit ACK / NAK to the packets
//! we sent by id.

use std::collections::HashMap;
use std::time::Duration;

use faro_proto::mesh::{
    self, channel, config, from_radio, mesh_packet, to_radio, Channel, Data, DeviceMetadata,
    FromRadio, Heartbeat, MeshPacket, MyNodeInfo, NodeInfo, PortNum, ToRadio,
};
use tokio::time::Instant;

/// Timings and limits of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long to wait for `config_complete_id` before asking again with a new nonce.
    pub handshake_timeout: Duration,
    /// Attempts (want_config requests) before giving up and reopening the port.
    pub handshake_attempts: u32,
    /// Heartbeat period once live (the firmware needs client traffic at least every 15 min).
    pub heartbeat_interval: Duration,
    /// Nothing received for this long while live: the radio is hung or has stopped forwarding.
    pub silence_timeout: Duration,
    /// How long a want_ack packet waits for its routing result.
    pub ack_timeout: Duration,
    /// Most want_ack packets awaiting a result at once; further sends are refused.
    pub max_pending_acks: usize,
    /// Most nodes kept in the node database; the longest unheard is evicted beyond it.
    pub max_nodes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(30),
            handshake_attempts: 3,
            heartbeat_interval: Duration::from_secs(60),
            silence_timeout: Duration::from_secs(200),
            ack_timeout: Duration::from_secs(180),
            max_pending_acks: 256,
            max_nodes: 10_000,
        }
    }
}

/// What we learnt about our own radio during the handshake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RadioInfo {
    /// `my_info` (node number, reboot count, build environment).
    pub my_info: MyNodeInfo,
    /// Our own node's `node_info` (names, hardware), if the device sent it.
    pub own: Option<NodeInfo>,
    /// Firmware version, hardware model, role.
    pub metadata: Option<DeviceMetadata>,
    /// The channels the device reported (index order).
    pub channels: Vec<Channel>,
    /// The LoRa configuration (region, preset, hop limit).
    pub lora: Option<config::LoRaConfig>,
    /// Nodes in the device's node database when the handshake completed (not counting us).
    pub nodes_known: usize,
}

impl RadioInfo {
    /// Our node number.
    pub fn node_num(&self) -> u32 {
        self.my_info.my_node_num
    }

    /// Long name of our node, or its id.
    pub fn long_name(&self) -> String {
        self.own
            .as_ref()
            .and_then(|n| n.user.as_ref())
            .map(|u| u.long_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| mesh::NodeId(self.node_num()).to_string())
    }

    /// The hop limit the device is configured with (3 when unknown).
    pub fn hop_limit(&self) -> u32 {
        self.lora
            .as_ref()
            .map(|l| l.hop_limit)
            .filter(|h| *h > 0)
            .unwrap_or(mesh::DEFAULT_HOP_LIMIT)
    }

    /// Names of the enabled channels, by index (`0:Faro`).
    pub fn channel_names(&self) -> Vec<(i32, String)> {
        self.channels
            .iter()
            .filter(|c| c.role != channel::Role::Disabled as i32)
            .map(|c| {
                let name = c
                    .settings
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let name = if name.is_empty() {
                    "(default)".to_string()
                } else {
                    name
                };
                (c.index, name)
            })
            .collect()
    }
}

/// A packet to send, as the rest of farod describes it. The session fills in everything the
/// firmware would otherwise guess (id, hop limit, priority).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Destination node number, or [`mesh::BROADCAST`].
    pub to: u32,
    /// Local channel index, 0..=7.
    pub channel: u32,
    /// Port.
    pub portnum: PortNum,
    /// Payload bytes (UTF-8 for text ports); at most [`mesh::PAYLOAD_BUDGET`].
    pub payload: Vec<u8>,
    /// Ask for a routing ACK.
    pub want_ack: bool,
    /// Priority on air.
    pub priority: mesh_packet::Priority,
    /// Hops; `None` uses the radio's configured hop limit.
    pub hop_limit: Option<u32>,
}

impl Outgoing {
    /// A text message (direct when `to` is a node, broadcast otherwise).
    pub fn text(to: u32, channel: u32, text: &str) -> Self {
        Self {
            to,
            channel,
            portnum: PortNum::TextMessageApp,
            payload: text.as_bytes().to_vec(),
            want_ack: to != mesh::BROADCAST,
            priority: mesh_packet::Priority::Reliable,
            hop_limit: None,
        }
    }
}

/// Why a packet was refused before it went to the radio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The radio is not connected or still handshaking.
    #[error("radio not connected")]
    NotConnected,
    /// The payload is over Faro's airtime budget.
    #[error("payload is {len} bytes; the budget is {max}")]
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// Budget.
        max: usize,
    },
    /// Channel index outside 0..=7.
    #[error("channel {0} does not exist (0..=7)")]
    BadChannel(u32),
    /// Hop limit over 7.
    #[error("hop limit {0} is over the firmware's maximum of 7")]
    BadHopLimit(u32),
    /// Destination 0 is not a node.
    #[error("destination 0 is not a node")]
    BadDestination,
    /// Too many packets awaiting their ACK.
    #[error("{0} packets already await an ACK; try again later")]
    TooManyPending(usize),
    /// The link's command queue is gone (the link stopped).
    #[error("radio link stopped")]
    LinkStopped,
}

/// The result of a packet we sent with want_ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The destination acknowledged it.
    Acked,
    /// A neighbour rebroadcast it (broadcasts), or only that was heard before the timeout (DMs).
    ImplicitAck,
    /// The firmware refused it or gave up (`RATE_LIMIT_EXCEEDED`, `MAX_RETRANSMIT`, ...).
    Nak(mesh::routing::Error),
    /// No routing result arrived within the ack timeout (or the link dropped).
    TimedOut,
}

impl std::fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryOutcome::Acked => f.write_str("acked"),
            DeliveryOutcome::ImplicitAck => f.write_str("implicit-ack"),
            DeliveryOutcome::Nak(e) => write!(f, "nak {}", e.as_str_name()),
            DeliveryOutcome::TimedOut => f.write_str("timed-out"),
        }
    }
}

/// Why the session wants the port closed and opened again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReopenReason {
    /// No `config_complete_id` after every attempt.
    HandshakeFailed {
        /// Attempts made.
        attempts: u32,
    },
    /// Nothing from the radio for this long while live.
    Silent(Duration),
}

impl std::fmt::Display for ReopenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReopenReason::HandshakeFailed { attempts } => {
                write!(
                    f,
                    "no config_complete_id after {attempts} want_config attempts"
                )
            }
            ReopenReason::Silent(d) => write!(f, "radio silent for {} s", d.as_secs()),
        }
    }
}

/// What the session asks its link to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write this message to the radio.
    Send(ToRadio),
    /// The handshake completed (again, after a reboot).
    Up(Box<RadioInfo>),
    /// A mesh packet for the rest of farod (routing results are consumed here).
    Packet(Box<MeshPacket>),
    /// A node database entry arrived or changed while live.
    Node(Box<NodeInfo>),
    /// A want_ack packet has its result.
    Delivery {
        /// Our packet id.
        id: u32,
        /// Its destination.
        to: u32,
        /// The result.
        outcome: DeliveryOutcome,
    },
    /// The device rebooted: the session is handshaking again.
    Rebooted,
    /// The device reported its transmit queue (after each packet we send and each heartbeat).
    QueueStatus {
        /// Free slots in the device's transmit queue.
        free: u32,
        /// Non-zero when the device did not queue the packet.
        res: i32,
        /// The packet it refers to (0 for a heartbeat).
        packet_id: u32,
    },
    /// Close the port and open it again.
    Reopen(ReopenReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Opened, `start` not called yet.
    Idle,
    /// Waiting for `config_complete_id == nonce`.
    Handshake {
        nonce: u32,
        attempt: u32,
        deadline: Instant,
    },
    /// Live.
    Live,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    to: u32,
    deadline: Instant,
    implicit: bool,
}

/// One radio's stream API session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
    info: RadioInfo,
    nodes: HashMap<u32, NodeInfo>,
    pending: HashMap<u32, Pending>,
    last_rx: Instant,
    next_heartbeat: Instant,
    rng: rand::rngs::StdRng,
}

impl Session {
    /// A session that has not started yet. `seed` drives nonces and packet ids (random in the
    /// daemon, fixed in tests).
    pub fn new(cfg: SessionConfig, seed: u64, now: Instant) -> Self {
        use rand::SeedableRng;
        Self {
            cfg,
            phase: Phase::Idle,
            info: RadioInfo::default(),
            nodes: HashMap::new(),
            pending: HashMap::new(),
            last_rx: now,
            next_heartbeat: now,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// True once the handshake completed.
    pub fn is_live(&self) -> bool {
        self.phase == Phase::Live
    }

    /// What the handshake told us (valid once live).
    pub fn info(&self) -> &RadioInfo {
        &self.info
    }

    /// The node database (from the handshake and later updates).
    pub fn nodes(&self) -> &HashMap<u32, NodeInfo> {
        &self.nodes
    }

    /// Packets awaiting a routing result.
    pub fn pending_acks(&self) -> usize {
        self.pending.len()
    }

    /// Starts (or restarts) the handshake. Call after the wake-up bytes are written.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        self.last_rx = now;
        self.begin_handshake(1, now)
    }

    fn begin_handshake(&mut self, attempt: u32, now: Instant) -> Vec<Action> {
        let nonce = self.fresh_nonce();
        self.phase = Phase::Handshake {
            nonce,
            attempt,
            deadline: now + self.cfg.handshake_timeout,
        };
        self.info = RadioInfo::default();
        self.nodes.clear();
        vec![Action::Send(ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::WantConfigId(nonce)),
        })]
    }

    fn fresh_nonce(&mut self) -> u32 {
        use rand::Rng;
        loop {
            let n: u32 = self.rng.random();
            if n != 0 && n != mesh::SPECIAL_NONCE_ONLY_CONFIG && n != mesh::SPECIAL_NONCE_ONLY_NODES
            {
                return n;
            }
        }
    }

    fn fresh_packet_id(&mut self) -> u32 {
        use rand::Rng;
        loop {
            let n: u32 = self.rng.random();
            if n != 0 && !self.pending.contains_key(&n) {
                return n;
            }
        }
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.deadline).min();
        let own = match self.phase {
            Phase::Idle => None,
            Phase::Handshake { deadline, .. } => Some(deadline),
            Phase::Live => Some(
                self.next_heartbeat
                    .min(self.last_rx + self.cfg.silence_timeout),
            ),
        };
        [pending, own].into_iter().flatten().min()
    }

    /// Timers: handshake retry, heartbeat, silence, ACK timeouts.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                let outcome = if p.implicit {
                    DeliveryOutcome::ImplicitAck
                } else {
                    DeliveryOutcome::TimedOut
                };
                out.push(Action::Delivery {
                    id,
                    to: p.to,
                    outcome,
                });
            }
        }
        match self.phase {
            Phase::Idle => {}
            Phase::Handshake {
                attempt, deadline, ..
            } if now >= deadline => {
                if attempt >= self.cfg.handshake_attempts {
                    self.phase = Phase::Idle;
                    out.push(Action::Reopen(ReopenReason::HandshakeFailed {
                        attempts: attempt,
                    }));
                } else {
                    out.extend(self.begin_handshake(attempt + 1, now));
                }
            }
            Phase::Handshake { .. } => {}
            Phase::Live => {
                let silent = now.saturating_duration_since(self.last_rx);
                if silent >= self.cfg.silence_timeout {
                    self.phase = Phase::Idle;
                    out.push(Action::Reopen(ReopenReason::Silent(silent)));
                } else if now >= self.next_heartbeat {
                    out.push(self.heartbeat(now));
                }
            }
        }
        out
    }

    fn heartbeat(&mut self, now: Instant) -> Action {
        use rand::Rng;
        self.next_heartbeat = now + self.cfg.heartbeat_interval;
        let nonce = self.rng.random();
        Action::Send(ToRadio {
            payload_variant: Some(to_radio::PayloadVariant::Heartbeat(Heartbeat { nonce })),
        })
    }

    /// The link lost the port: every ACK still awaited is reported as timed out.
    pub fn on_closed(&mut self) -> Vec<Action> {
        self.phase = Phase::Idle;
        let mut out: Vec<Action> = self
            .pending
            .drain()
            .map(|(id, p)| Action::Delivery {
                id,
                to: p.to,
                outcome: if p.implicit {
                    DeliveryOutcome::ImplicitAck
                } else {
                    DeliveryOutcome::TimedOut
                },
            })
            .collect();
        out.sort_by_key(|a| match a {
            Action::Delivery { id, .. } => *id,
            _ => 0,
        });
        out
    }

    /// Handles one message from the device.
    pub fn on_from_radio(&mut self, msg: FromRadio, now: Instant) -> Vec<Action> {
        use from_radio::PayloadVariant as V;
        self.last_rx = now;
        let Some(variant) = msg.payload_variant else {
            // A variant newer than our protobufs (e.g. lockdown_status): tolerated.
            return Vec::new();
        };
        if let V::Rebooted(_) = variant {
            let mut out = vec![Action::Rebooted];
            out.extend(self.begin_handshake(1, now));
            return out;
        }
        match &self.phase {
            Phase::Idle => Vec::new(),
            Phase::Handshake { nonce, .. } => {
                let nonce = *nonce;
                self.on_config(variant, nonce, now)
            }
            Phase::Live => self.on_live(variant),
        }
    }

    fn on_config(
        &mut self,
        variant: from_radio::PayloadVariant,
        nonce: u32,
        now: Instant,
    ) -> Vec<Action> {
        use from_radio::PayloadVariant as V;
        match variant {
            V::MyInfo(m) => self.info.my_info = m,
            V::NodeInfo(n) => {
                if n.num == self.info.my_info.my_node_num && n.num != 0 {
                    self.info.own = Some(n);
                } else {
                    self.remember_node(n);
                }
            }
            V::Metadata(m) => self.info.metadata = Some(m),
            V::Channel(c) => {
                self.info.channels.retain(|k| k.index != c.index);
                self.info.channels.push(c);
                self.info.channels.sort_by_key(|c| c.index);
            }
            V::Config(c) => {
                if let Some(config::PayloadVariant::Lora(l)) = c.payload_variant {
                    self.info.lora = Some(l);
                }
            }
            V::ConfigCompleteId(id) if id == nonce => {
                self.phase = Phase::Live;
                self.info.nodes_known = self.nodes.len();
                self.next_heartbeat = now;
                let mut out = vec![Action::Up(Box::new(self.info.clone()))];
                out.push(self.heartbeat(now));
                // The node database from the burst, for whoever keeps names and positions.
                out.extend(
                    self.nodes
                        .values()
                        .map(|n| Action::Node(Box::new(n.clone()))),
                );
                return out;
            }
            // An older request's completion, packets before we are live, and the rest of the
            // burst (module config, file manifest, UI config) are not needed.
            _ => {}
        }
        Vec::new()
    }

    fn on_live(&mut self, variant: from_radio::PayloadVariant) -> Vec<Action> {
        use from_radio::PayloadVariant as V;
        match variant {
            V::Packet(p) => self.on_packet(p),
            V::NodeInfo(n) => {
                if n.num == self.info.node_num() {
                    self.info.own = Some(n);
                    Vec::new()
                } else {
                    self.remember_node(n.clone());
                    vec![Action::Node(Box::new(n))]
                }
            }
            V::QueueStatus(q) => {
                vec![Action::QueueStatus {
                    free: q.free,
                    res: q.res,
                    packet_id: q.mesh_packet_id,
                }]
            }
            V::Config(c) => {
                if let Some(config::PayloadVariant::Lora(l)) = c.payload_variant {
                    self.info.lora = Some(l);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_packet(&mut self, p: MeshPacket) -> Vec<Action> {
        if let Some((id, err)) = mesh::routing_result(&p) {
            if let Some(pending) = self.pending.get_mut(&id) {
                let err = err.unwrap_or(mesh::routing::Error::BadRequest);
                let outcome =
                    match mesh::classify_delivery(p.from, err, self.info.node_num(), pending.to) {
                        mesh::Delivery::Ack => DeliveryOutcome::Acked,
                        mesh::Delivery::ImplicitAck if pending.to != mesh::BROADCAST => {
                            // A DM may still get its real ACK: keep waiting, remember we heard this.
                            pending.implicit = true;
                            return Vec::new();
                        }
                        mesh::Delivery::ImplicitAck => DeliveryOutcome::ImplicitAck,
                        mesh::Delivery::Nak(e) => DeliveryOutcome::Nak(e),
                    };
                let to = pending.to;
                self.pending.remove(&id);
                return vec![Action::Delivery { id, to, outcome }];
            }
            // A routing packet for someone else's request (or a late duplicate) is still traffic.
        }
        if let Some(n) = self.nodes.get_mut(&p.from) {
            n.last_heard = p.rx_time.max(n.last_heard);
        }
        vec![Action::Packet(Box::new(p))]
    }

    fn remember_node(&mut self, n: NodeInfo) {
        if !self.nodes.contains_key(&n.num) && self.nodes.len() >= self.cfg.max_nodes {
            if let Some(oldest) = self
                .nodes
                .values()
                .min_by_key(|n| n.last_heard)
                .map(|n| n.num)
            {
                self.nodes.remove(&oldest);
            }
        }
        self.nodes.insert(n.num, n);
    }

    /// Builds the packet for `out` with every field the firmware would otherwise guess, checks
    /// it against the budget, and registers it for ACK matching. Returns the message to write
    /// and the packet id.
    pub fn prepare_send(
        &mut self,
        out: &Outgoing,
        now: Instant,
    ) -> Result<(ToRadio, u32), SendError> {
        if !self.is_live() {
            return Err(SendError::NotConnected);
        }
        if out.payload.len() > mesh::PAYLOAD_BUDGET {
            return Err(SendError::TooLarge {
                len: out.payload.len(),
                max: mesh::PAYLOAD_BUDGET,
            });
        }
        if out.channel > 7 {
            return Err(SendError::BadChannel(out.channel));
        }
        let hop_limit = out.hop_limit.unwrap_or_else(|| self.info.hop_limit());
        if hop_limit > mesh::MAX_HOP_LIMIT {
            return Err(SendError::BadHopLimit(hop_limit));
        }
        if out.to == 0 {
            return Err(SendError::BadDestination);
        }
        if out.want_ack && self.pending.len() >= self.cfg.max_pending_acks {
            return Err(SendError::TooManyPending(self.pending.len()));
        }
        let id = self.fresh_packet_id();
        let packet = MeshPacket {
            from: self.info.node_num(),
            to: out.to,
            channel: out.channel,
            id,
            hop_limit,
            hop_start: hop_limit,
            want_ack: out.want_ack,
            priority: out.priority as i32,
            payload_variant: Some(mesh_packet::PayloadVariant::Decoded(Data {
                portnum: out.portnum as i32,
                payload: out.payload.clone(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let len = mesh::data_len(&packet);
        if len > mesh::MAX_DATA_LEN {
            return Err(SendError::TooLarge {
                len,
                max: mesh::MAX_DATA_LEN,
            });
        }
        if out.want_ack {
            self.pending.insert(
                id,
                Pending {
                    to: out.to,
                    deadline: now + self.cfg.ack_timeout,
                    implicit: false,
                },
            );
        }
        Ok((
            ToRadio {
                payload_variant: Some(to_radio::PayloadVariant::Packet(packet)),
            },
            id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_proto::mesh::{routing, ChannelSettings, Config, User};

    const ME: u32 = 0x0a0b_0c0d;
    const PATROL: u32 = 0x1111_2222;

    fn fr(v: from_radio::PayloadVariant) -> FromRadio {
        FromRadio {
            id: 0,
            payload_variant: Some(v),
        }
    }

    fn nonce_of(actions: &[Action]) -> u32 {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Send(ToRadio {
                    payload_variant: Some(to_radio::PayloadVariant::WantConfigId(n)),
                }) => Some(*n),
                _ => None,
            })
            .expect("a want_config_id")
    }

    fn burst(nonce: u32) -> Vec<FromRadio> {
        use from_radio::PayloadVariant as V;
        vec![
            fr(V::MyInfo(MyNodeInfo {
                my_node_num: ME,
                ..Default::default()
            })),
            fr(V::NodeInfo(NodeInfo {
                num: ME,
                user: Some(User {
                    id: "!0a0b0c0d".into(),
                    long_name: "Estación —Él".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            fr(V::Metadata(DeviceMetadata {
                firmware_version: "2.7.15.567b8ea".into(),
                ..Default::default()
            })),
            fr(V::Channel(Channel {
                index: 0,
                role: channel::Role::Primary as i32,
                settings: Some(ChannelSettings {
                    name: "Faro".into(),
                    ..Default::default()
                }),
            })),
            fr(V::Channel(Channel {
                index: 1,
                role: channel::Role::Disabled as i32,
                settings: None,
            })),
            fr(V::Config(Config {
                payload_variant: Some(config::PayloadVariant::Lora(config::LoRaConfig {
                    hop_limit: 4,
                    ..Default::default()
                })),
            })),
            fr(V::NodeInfo(NodeInfo {
                num: PATROL,
                ..Default::default()
            })),
            fr(V::ConfigCompleteId(nonce)),
        ]
    }

    fn live(now: Instant) -> Session {
        let mut s = Session::new(SessionConfig::default(), 7, now);
        let nonce = nonce_of(&s.start(now));
        for m in burst(nonce) {
            s.on_from_radio(m, now);
        }
        assert!(s.is_live());
        s
    }

    fn routing(from: u32, request_id: u32, err: routing::Error) -> FromRadio {
        let mut p = mesh::packet(PortNum::RoutingApp, mesh::routing_payload(err));
        p.from = from;
        p.to = ME;
        if let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut p.payload_variant {
            d.request_id = request_id;
        }
        fr(from_radio::PayloadVariant::Packet(p))
    }

    #[test]
    fn handshake_completes_only_on_our_nonce() {
        let now = Instant::now();
        let mut s = Session::new(SessionConfig::default(), 1, now);
        let nonce = nonce_of(&s.start(now));
        assert!(![0, 69420, 69421].contains(&nonce));
        let mut actions = Vec::new();
        for m in burst(nonce.wrapping_add(1)) {
            actions.extend(s.on_from_radio(m, now));
        }
        assert!(!s.is_live(), "a stale nonce's completion is ignored");
        assert!(actions.is_empty());
        let actions: Vec<_> = burst(nonce)
            .into_iter()
            .flat_map(|m| s.on_from_radio(m, now))
            .collect();
        let Some(Action::Up(info)) = actions.first() else {
            panic!("{actions:?}")
        };
        assert_eq!(info.node_num(), ME);
        assert_eq!(info.long_name(), "Estación —Él");
        assert_eq!(info.hop_limit(), 4);
        assert_eq!(info.channel_names(), vec![(0, "Faro".to_string())]);
        assert_eq!(info.nodes_known, 1);
        assert!(
            matches!(
                &actions[1],
                Action::Send(ToRadio {
                    payload_variant: Some(to_radio::PayloadVariant::Heartbeat(_))
                })
            ),
            "heartbeat at once"
        );
        assert!(
            matches!(&actions[2..], [Action::Node(n)] if n.num == PATROL),
            "then the node database"
        );
    }

    #[test]
    fn handshake_retries_with_a_new_nonce_then_reopens() {
        let t0 = Instant::now();
        let cfg = SessionConfig::default();
        let mut s = Session::new(cfg.clone(), 3, t0);
        let n1 = nonce_of(&s.start(t0));
        assert!(s.poll(t0 + cfg.handshake_timeout / 2).is_empty());
        let n2 = nonce_of(&s.poll(t0 + cfg.handshake_timeout));
        assert_ne!(n1, n2);
        let n3 = nonce_of(&s.poll(t0 + cfg.handshake_timeout * 2));
        assert_ne!(n2, n3);
        assert_eq!(
            s.poll(t0 + cfg.handshake_timeout * 3),
            vec![Action::Reopen(ReopenReason::HandshakeFailed {
                attempts: 3
            })]
        );
    }

    #[test]
    fn heartbeats_keep_coming_and_silence_reopens() {
        let t0 = Instant::now();
        let mut s = live(t0);
        let cfg = SessionConfig::default();
        assert_eq!(s.next_deadline(), Some(t0 + cfg.heartbeat_interval));
        let a = s.poll(t0 + cfg.heartbeat_interval);
        assert!(matches!(
            &a[..],
            [Action::Send(ToRadio {
                payload_variant: Some(to_radio::PayloadVariant::Heartbeat(_))
            })]
        ));
        // A queueStatus answering the heartbeat keeps the link alive.
        let t1 = t0 + cfg.silence_timeout - Duration::from_secs(1);
        s.on_from_radio(
            fr(from_radio::PayloadVariant::QueueStatus(Default::default())),
            t1,
        );
        assert!(!s
            .poll(t0 + cfg.silence_timeout)
            .iter()
            .any(|a| matches!(a, Action::Reopen(_))));
        let late = t1 + cfg.silence_timeout;
        assert_eq!(
            s.poll(late),
            vec![Action::Reopen(ReopenReason::Silent(cfg.silence_timeout))]
        );
        assert!(!s.is_live());
    }

    #[test]
    fn rebooted_restarts_the_handshake() {
        let t0 = Instant::now();
        let mut s = live(t0);
        let a = s.on_from_radio(fr(from_radio::PayloadVariant::Rebooted(true)), t0);
        assert_eq!(a[0], Action::Rebooted);
        let nonce = nonce_of(&a);
        assert!(!s.is_live());
        for m in burst(nonce) {
            s.on_from_radio(m, t0);
        }
        assert!(s.is_live());
    }

    #[test]
    fn sends_carry_every_field_and_acks_match_by_id() {
        let t0 = Instant::now();
        let mut s = live(t0);
        let (msg, id) = s
            .prepare_send(&Outgoing::text(PATROL, 0, "Faro SAS-1: recibido"), t0)
            .unwrap();
        let Some(to_radio::PayloadVariant::Packet(p)) = msg.payload_variant else {
            panic!()
        };
        assert_eq!(
            (p.to, p.channel, p.hop_limit, p.want_ack, p.id),
            (PATROL, 0, 4, true, id)
        );
        assert_eq!(p.priority, mesh_packet::Priority::Reliable as i32);
        // A routing result for another id is ordinary traffic; ours is consumed.
        assert!(matches!(
            &s.on_from_radio(routing(PATROL, id ^ 1, routing::Error::None), t0)[..],
            [Action::Packet(_)]
        ));
        // Implicit ACK of a DM: keep waiting for the real one.
        assert!(s
            .on_from_radio(routing(ME, id, routing::Error::None), t0)
            .is_empty());
        assert_eq!(
            s.on_from_radio(routing(PATROL, id, routing::Error::None), t0),
            vec![Action::Delivery {
                id,
                to: PATROL,
                outcome: DeliveryOutcome::Acked
            }]
        );
        assert_eq!(s.pending_acks(), 0);
    }

    #[test]
    fn naks_timeouts_and_broadcast_implicit_acks() {
        let t0 = Instant::now();
        let mut s = live(t0);
        let (_, a) = s
            .prepare_send(&Outgoing::text(PATROL, 0, "uno"), t0)
            .unwrap();
        let mut b_out = Outgoing::text(mesh::BROADCAST, 0, "dos");
        b_out.want_ack = true;
        let (_, b) = s.prepare_send(&b_out, t0).unwrap();
        let (_, c) = s
            .prepare_send(&Outgoing::text(PATROL, 0, "tres"), t0)
            .unwrap();
        assert_eq!(
            s.on_from_radio(routing(ME, a, routing::Error::RateLimitExceeded), t0),
            vec![Action::Delivery {
                id: a,
                to: PATROL,
                outcome: DeliveryOutcome::Nak(routing::Error::RateLimitExceeded)
            }]
        );
        assert_eq!(
            s.on_from_radio(routing(ME, b, routing::Error::None), t0),
            vec![Action::Delivery {
                id: b,
                to: mesh::BROADCAST,
                outcome: DeliveryOutcome::ImplicitAck
            }]
        );
        let late = t0 + SessionConfig::default().ack_timeout;
        assert!(s.poll(late).contains(&Action::Delivery {
            id: c,
            to: PATROL,
            outcome: DeliveryOutcome::TimedOut
        }));
    }

    #[test]
    fn refusals_before_sending() {
        let t0 = Instant::now();
        let mut idle = Session::new(SessionConfig::default(), 1, t0);
        assert_eq!(
            idle.prepare_send(&Outgoing::text(PATROL, 0, "x"), t0),
            Err(SendError::NotConnected)
        );
        let mut s = live(t0);
        let big = "á".repeat(101); // 202 bytes
        assert_eq!(
            s.prepare_send(&Outgoing::text(PATROL, 0, &big), t0),
            Err(SendError::TooLarge { len: 202, max: 200 })
        );
        assert_eq!(
            s.prepare_send(&Outgoing::text(PATROL, 8, "x"), t0),
            Err(SendError::BadChannel(8))
        );
        let mut o = Outgoing::text(PATROL, 0, "x");
        o.hop_limit = Some(8);
        assert_eq!(s.prepare_send(&o, t0), Err(SendError::BadHopLimit(8)));
        assert_eq!(
            s.prepare_send(&Outgoing::text(0, 0, "x"), t0),
            Err(SendError::BadDestination)
        );
        assert_eq!(s.pending_acks(), 0, "refused sends leave nothing pending");
    }

    #[test]
    fn pending_acks_are_bounded() {
        let t0 = Instant::now();
        let mut s = Session::new(
            SessionConfig {
                max_pending_acks: 2,
                ..Default::default()
            },
            9,
            t0,
        );
        let nonce = nonce_of(&s.start(t0));
        for m in burst(nonce) {
            s.on_from_radio(m, t0);
        }
        s.prepare_send(&Outgoing::text(PATROL, 0, "1"), t0).unwrap();
        s.prepare_send(&Outgoing::text(PATROL, 0, "2"), t0).unwrap();
        assert_eq!(
            s.prepare_send(&Outgoing::text(PATROL, 0, "3"), t0),
            Err(SendError::TooManyPending(2))
        );
        // Without want_ack nothing waits, so it is not limited.
        let mut o = Outgoing::text(PATROL, 0, "4");
        o.want_ack = false;
        assert!(s.prepare_send(&o, t0).is_ok());
        assert_eq!(s.on_closed().len(), 2);
    }

    #[test]
    fn node_database_is_bounded() {
        let t0 = Instant::now();
        let mut s = Session::new(
            SessionConfig {
                max_nodes: 3,
                ..Default::default()
            },
            1,
            t0,
        );
        let nonce = nonce_of(&s.start(t0));
        s.on_from_radio(
            fr(from_radio::PayloadVariant::MyInfo(MyNodeInfo {
                my_node_num: ME,
                ..Default::default()
            })),
            t0,
        );
        for i in 1..=5u32 {
            s.on_from_radio(
                fr(from_radio::PayloadVariant::NodeInfo(NodeInfo {
                    num: i,
                    last_heard: i,
                    ..Default::default()
                })),
                t0,
            );
        }
        s.on_from_radio(fr(from_radio::PayloadVariant::ConfigCompleteId(nonce)), t0);
        let mut kept: Vec<u32> = s.nodes().keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![3, 4, 5]);
    }
}
