//! The device side of the stream API for one station node, as a pure state machine.
//!
//! This models what firmware 2.7.x does between its radio and its phone connections
//! (`PhoneAPI`, `MeshService`, `ReliableRouter`), without any I/O: methods take the input
//! (a `ToRadio` from a client, a packet the radio heard, the current time) and change state;
//! frames for the clients are pulled with [`Device::pop`]; what must go on air and what the
//! shell must do with connections comes back as [`Output`]s. The thin shells in
//! [`crate::sim`] and [`crate::frontend`] move bytes.
//!
//! Faithful behaviours (see docs/meshtastic.md §2 to §10): STATE_SEND_NOTHING until
//! `want_config_id`; the config burst in firmware order; the special nonces; one shared
//! to-phone queue of [`MAX_RX_TOPHONE`] packets that drops the oldest (packets heard while no
//! client is in STATE_SEND_PACKETS wait there and come after the next handshake); a
//! `queueStatus` after every `ToRadio.packet` and every heartbeat; the client rate limits;
//! repeated client ids; `TOO_LARGE`; the hop-limit-0 rule; ACK / implicit ACK / NAK
//! `MAX_RETRANSMIT` with the firmware's retransmission interval; the silent 15-minute serial
//! timeout; `rebooted`; PKI direct messages ([`crate::pki`]): sent with the key of the
//! destination our NodeDB holds, received with the key it holds for `from` (`pki_encrypted`,
//! `public_key`), keys pinned on first sight.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use faro_proto::mesh::{
    self, channel, config, from_radio, mesh_packet, module_config, routing, routing_payload,
    telemetry, Channel, ChannelSettings, Config, Data, DeviceMetadata, DeviceMetrics,
    DeviceUiConfig, FromRadio, MeshPacket, Message, ModuleConfig, ModuleSettings, MyNodeInfo,
    NodeInfo, PortNum, Position, QueueStatus, Telemetry, ToRadio, User, BROADCAST, MAX_DATA_LEN,
    SPECIAL_NONCE_ONLY_CONFIG, SPECIAL_NONCE_ONLY_NODES,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::pki::{self, PrivateKey};
use crate::radio;
use crate::scenario::{NodeSpec, RadioSettings};

/// Size of the device's queue of packets toward the client (`MAX_RX_TOPHONE`).
pub const MAX_RX_TOPHONE: usize = 32;
/// Size of the radio's transmit queue, reported in `queueStatus.maxlen`.
pub const MAX_TX_QUEUE: usize = 16;
/// The firmware closes a serial PhoneAPI after this long without a valid ToRadio.
pub const SERIAL_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Minimum interval between client text messages (`RATE_LIMIT_EXCEEDED` otherwise).
pub const TEXT_INTERVAL: Duration = Duration::from_secs(2);
/// Minimum interval between client positions, waypoints, alerts, telemetry (dropped otherwise).
pub const SLOW_PORT_INTERVAL: Duration = Duration::from_secs(10);
/// Retransmissions of a reliable packet before NAK `MAX_RETRANSMIT` (`NUM_RELIABLE_RETX`).
pub const NUM_RELIABLE_RETX: u32 = 3;
/// Reliable packets awaiting an ACK at once.
pub const MAX_PENDING: usize = 32;
/// Client packet ids remembered for duplicate detection.
pub const RECENT_CLIENT_IDS: usize = 64;
/// Log lines waiting for a serial client (older ones are dropped).
pub const MAX_LOG_LINES: usize = 16;
/// Phone connections one device serves at once (serial, TCP, ...).
pub const MAX_APIS: usize = 4;
/// Nodes in the NodeDB besides our own.
pub const MAX_NODEDB: usize = 100;

/// Identifies one client connection (one PhoneAPI instance).
pub type ConnId = u64;

/// What kind of link a client uses; decides the idle timeout and reboot behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// USB serial (PTY, duplex): raw log text, 15-minute silent timeout, survives reboots.
    Serial,
    /// TCP API: closed on reboot; one client at a time (enforced by the shell).
    Tcp,
}

/// The PhoneAPI state, as the firmware names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiState {
    /// Nothing is sent until the client asks for the config.
    SendNothing,
    /// The config burst is being sent.
    SendConfig,
    /// Live: packets, queue status, node updates.
    SendPackets,
}

impl ApiState {
    /// `send_nothing`, `send_config`, `send_packets`.
    pub fn name(self) -> &'static str {
        match self {
            ApiState::SendNothing => "send_nothing",
            ApiState::SendConfig => "send_config",
            ApiState::SendPackets => "send_packets",
        }
    }
}

/// Something the device gives a client.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // frames are the common case; logs are rare
pub enum ToClient {
    /// A protobuf frame.
    Frame(FromRadio),
    /// A raw debug log line (serial firmware prints these between frames), with `\r\n`.
    Log(String),
}

/// What the shell must do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Put this packet on air from our node (the mesh floods it).
    Transmit(MeshPacket),
    /// Close this client connection (TCP after `disconnect` or a reboot).
    Close(ConnId),
    /// A state change worth an event: `(connection or None for the device, name)`.
    State(Option<ConnId>, String),
}

/// Wall clock of the simulation: epoch seconds at start plus elapsed tokio time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// tokio time at the start.
    pub start: Instant,
    /// Epoch seconds at the start.
    pub epoch0: u64,
}

impl Clock {
    /// Epoch seconds at `now`.
    pub fn epoch(&self, now: Instant) -> u32 {
        (self.epoch0 + now.saturating_duration_since(self.start).as_secs()) as u32
    }

    /// `hh:mm:ss` (UTC) at `now`, for log lines.
    pub fn hms(&self, now: Instant) -> String {
        let s = u64::from(self.epoch(now)) % 86_400;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

#[derive(Debug)]
struct PhoneApi {
    conn: ConnId,
    transport: Transport,
    state: ApiState,
    burst: VecDeque<FromRadio>,
    control: VecDeque<FromRadio>,
    logs: VecDeque<String>,
    rebooted: bool,
    last_contact: Instant,
    last_text: Option<Instant>,
    last_slow: HashMap<i32, Instant>,
    muted: bool,
    next_frame_id: u32,
}

impl PhoneApi {
    fn new(conn: ConnId, transport: Transport, now: Instant) -> Self {
        PhoneApi {
            conn,
            transport,
            state: ApiState::SendNothing,
            burst: VecDeque::new(),
            control: VecDeque::new(),
            logs: VecDeque::new(),
            rebooted: false,
            last_contact: now,
            last_text: None,
            last_slow: HashMap::new(),
            muted: false,
            next_frame_id: 1,
        }
    }

    fn push_control(&mut self, msg: from_radio::PayloadVariant) {
        if self.state == ApiState::SendNothing {
            return;
        }
        if self.control.len() >= MAX_TX_QUEUE * 2 {
            self.control.pop_front();
        }
        self.control.push_back(FromRadio {
            id: 0,
            payload_variant: Some(msg),
        });
    }

    fn close(&mut self) {
        self.state = ApiState::SendNothing;
        self.burst.clear();
        self.control.clear();
    }
}

#[derive(Debug)]
struct Pending {
    packet: MeshPacket,
    retries_left: u32,
    next: Instant,
    interval: Duration,
}

/// A simulated station radio.
#[derive(Debug)]
pub struct Device {
    me: NodeSpec,
    radio: RadioSettings,
    clock: Clock,
    position: (f64, f64, Option<i32>),
    private_key: PrivateKey,
    nodedb: Vec<NodeInfo>,
    reboot_count: u32,
    booted_at: Instant,
    apis: Vec<PhoneApi>,
    to_phone: VecDeque<FromRadio>,
    to_phone_dropped: u64,
    pending: Vec<Pending>,
    tx_queued: usize,
    recent_client_ids: VecDeque<u32>,
    rng: StdRng,
    outputs: Vec<Output>,
    /// `(channel_utilization, air_util_tx)`, percent, as the radio last measured them.
    airtime: (f32, f32),
    /// When the next DeviceMetrics telemetry goes to the client (`radio.telemetry_secs`).
    next_telemetry: Option<Instant>,
}

/// Node info of a scenario node as another device's NodeDB holds it.
pub fn node_info(
    n: &NodeSpec,
    precision: u32,
    last_heard: u32,
    hops_away: Option<u32>,
) -> NodeInfo {
    NodeInfo {
        num: n.id,
        user: Some(user(n)),
        position: Some(position(n.lat, n.lon, n.alt, last_heard, precision)),
        snr: 0.0,
        last_heard,
        device_metrics: Some(DeviceMetrics {
            battery_level: Some(87),
            voltage: Some(4.02),
            channel_utilization: Some(3.5),
            air_util_tx: Some(0.4),
            uptime_seconds: Some(86_400),
        }),
        channel: 0,
        via_mqtt: false,
        hops_away,
        is_favorite: false,
        is_ignored: false,
        is_key_manually_verified: false,
        is_muted: false,
    }
}

/// The `User` of a scenario node.
#[allow(deprecated)] // macaddr is deprecated in the protos but still sent by 2.7 firmware
pub fn user(n: &NodeSpec) -> User {
    let mac = n.id.to_be_bytes();
    User {
        id: n.user_id(),
        long_name: n.long_name.clone(),
        short_name: n.short_name.clone(),
        macaddr: vec![0xd4, 0xd4, mac[0], mac[1], mac[2], mac[3]],
        hw_model: n.hw_model,
        is_licensed: false,
        role: n.role.device_role(),
        public_key: public_key(n.id).to_vec(),
        is_unmessagable: Some(false),
    }
}

/// The X25519 public key of node `id` when its scenario gives it no `private_key` (see
/// [`crate::Scenario::public_key`] for any scenario node).
pub fn public_key(id: u32) -> [u8; 32] {
    pki::derived_public_key(id)
}

/// The primary channel's deterministic 32-byte PSK (binary, may contain `94 C3`).
fn channel_psk() -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(u64::from(0x00fa_7001_u32) ^ 0x5eed_f00d);
    (0..32).map(|_| rng.random::<u8>()).collect()
}

/// What the client gets for a packet the device could not decode: still encrypted (a stand-in
/// ciphertext of the right length), channel hash as heard, no PKI marking.
fn undecoded(mut p: MeshPacket) -> MeshPacket {
    let mut bytes = mesh::data(&p)
        .map(Message::encode_to_vec)
        .unwrap_or_default();
    let key = p.id.to_le_bytes();
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= key[i % 4] ^ 0xa5;
    }
    if p.pki_encrypted {
        bytes.extend_from_slice(&[0u8; pki::PKC_OVERHEAD]);
    }
    p.payload_variant = Some(mesh_packet::PayloadVariant::Encrypted(bytes));
    pki::unseal(&mut p);
    p
}

/// A `Position` truncated to the channel precision.
pub fn position(lat: f64, lon: f64, alt: Option<i32>, time: u32, precision: u32) -> Position {
    Position {
        latitude_i: Some(radio::truncate_coordinate(mesh::degrees_i(lat), precision)),
        longitude_i: Some(radio::truncate_coordinate(mesh::degrees_i(lon), precision)),
        altitude: alt,
        time,
        location_source: mesh::position::LocSource::LocInternal as i32,
        sats_in_view: 9,
        precision_bits: precision,
        ..Default::default()
    }
}

/// A routing ACK/NAK packet from `from` to `to` answering `request_id`.
pub fn routing_packet(
    from: u32,
    to: u32,
    id: u32,
    request_id: u32,
    err: routing::Error,
    hop_limit: u32,
) -> MeshPacket {
    let mut p = mesh::packet(PortNum::RoutingApp, routing_payload(err));
    if let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut p.payload_variant {
        d.request_id = request_id;
    }
    p.from = from;
    p.to = to;
    p.id = id;
    p.hop_limit = hop_limit;
    p.hop_start = hop_limit;
    p.priority = mesh_packet::Priority::Ack as i32;
    p
}

fn log_line(
    clock: &Clock,
    now: Instant,
    booted_at: Instant,
    level: &str,
    module: &str,
    msg: &str,
) -> String {
    let colour = match level {
        "INFO" => "\x1b[32m",
        "WARN" => "\x1b[33m",
        "ERROR" => "\x1b[31m",
        _ => "\x1b[34m",
    };
    format!(
        "{colour}{level:<5}\x1b[0m | {} {} [{module}] {msg}\r\n",
        clock.hms(now),
        now.saturating_duration_since(booted_at).as_secs()
    )
}

impl Device {
    /// A device for station `me` whose NodeDB holds `others` (with their hop distance, if
    /// known). `seed` makes its packet ids deterministic.
    pub fn new(
        me: NodeSpec,
        others: &[(NodeSpec, Option<u32>)],
        radio: RadioSettings,
        clock: Clock,
        now: Instant,
        seed: u64,
    ) -> Device {
        let last_heard = clock.epoch(now).saturating_sub(600);
        let nodedb = others
            .iter()
            .filter(|(n, _)| n.id != me.id)
            .take(MAX_NODEDB)
            .map(|(n, hops)| node_info(n, radio.position_precision, last_heard, *hops))
            .collect();
        Device {
            position: (me.lat, me.lon, me.alt),
            private_key: pki::derived_private_key(me.id),
            me,
            clock,
            nodedb,
            reboot_count: 1,
            booted_at: now,
            apis: Vec::new(),
            to_phone: VecDeque::new(),
            to_phone_dropped: 0,
            pending: Vec::new(),
            tx_queued: 0,
            recent_client_ids: VecDeque::new(),
            next_telemetry: telemetry_interval(&radio).map(|d| now + d),
            radio,
            rng: StdRng::seed_from_u64(seed),
            outputs: Vec::new(),
            airtime: (0.0, 0.0),
        }
    }

    /// The radio's current airtime figures, percent: the channel utilisation of the last
    /// minute and our own transmit utilisation of the last hour (reported in our
    /// DeviceMetrics).
    pub fn set_airtime(&mut self, channel_utilization: f32, air_util_tx: f32) {
        self.airtime = (channel_utilization, air_util_tx);
    }

    /// Our DeviceMetrics now.
    pub fn device_metrics(&self, now: Instant) -> DeviceMetrics {
        DeviceMetrics {
            battery_level: Some(101),
            voltage: Some(4.2),
            channel_utilization: Some(self.airtime.0),
            air_util_tx: Some(self.airtime.1),
            uptime_seconds: Some(now.saturating_duration_since(self.booted_at).as_secs() as u32),
        }
    }

    /// A reliable packet to us heard again (a retransmission: our ACK was lost): ACK it again
    /// without handing it to the client twice.
    pub fn ack_duplicate(&mut self, p: &MeshPacket) {
        let id = self.new_packet_id();
        let ack = routing_packet(
            self.me.id,
            p.from,
            id,
            p.id,
            routing::Error::None,
            self.radio.hop_limit,
        );
        self.transmit(ack);
    }

    /// Sets our key pair and the public keys the NodeDB holds at the start (the scenario's).
    pub(crate) fn set_keys(
        &mut self,
        private_key: PrivateKey,
        public_of: impl Fn(u32) -> [u8; 32],
    ) {
        self.private_key = private_key;
        for n in &mut self.nodedb {
            if let Some(u) = &mut n.user {
                u.public_key = public_of(n.num).to_vec();
            }
        }
    }

    /// Our public key (`security.public_key`, our `User.public_key`).
    pub fn own_public_key(&self) -> [u8; 32] {
        pki::public_of(&self.private_key)
    }

    /// The public key our NodeDB holds for `node`, if any.
    pub fn nodedb_key(&self, node: u32) -> Option<[u8; 32]> {
        let n = self.nodedb.iter().find(|n| n.num == node)?;
        pki::as_key(&n.user.as_ref()?.public_key)
    }

    /// Our node number.
    pub fn node_num(&self) -> u32 {
        self.me.id
    }

    /// Packets dropped from the to-phone queue because it was full.
    pub fn dropped_to_phone(&self) -> u64 {
        self.to_phone_dropped
    }

    /// State of a connection's PhoneAPI.
    pub fn api_state(&self, conn: ConnId) -> Option<ApiState> {
        self.api(conn).map(|a| a.state)
    }

    /// Connections currently attached.
    pub fn connections(&self) -> Vec<(ConnId, Transport)> {
        self.apis.iter().map(|a| (a.conn, a.transport)).collect()
    }

    /// Reliable packets still waiting for an ACK.
    pub fn pending_acks(&self) -> usize {
        self.pending.len()
    }

    /// Takes what the shell must do.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    fn api(&self, conn: ConnId) -> Option<&PhoneApi> {
        self.apis.iter().find(|a| a.conn == conn)
    }

    fn api_mut(&mut self, conn: ConnId) -> Option<&mut PhoneApi> {
        self.apis.iter_mut().find(|a| a.conn == conn)
    }

    fn state_event(&mut self, conn: Option<ConnId>, name: impl Into<String>) {
        self.outputs.push(Output::State(conn, name.into()));
    }

    /// A line of device log text for the serial clients.
    pub fn log(&mut self, now: Instant, level: &str, module: &str, msg: &str) {
        let line = log_line(&self.clock, now, self.booted_at, level, module, msg);
        for api in self
            .apis
            .iter_mut()
            .filter(|a| a.transport == Transport::Serial)
        {
            if api.logs.len() >= MAX_LOG_LINES {
                api.logs.pop_front();
            }
            api.logs.push_back(line.clone());
        }
    }

    /// A client connected: a new PhoneAPI in STATE_SEND_NOTHING.
    pub fn attach(&mut self, conn: ConnId, transport: Transport, now: Instant) {
        if self.apis.len() >= MAX_APIS {
            let old = self.apis.remove(0);
            self.outputs.push(Output::Close(old.conn));
        }
        self.apis.push(PhoneApi::new(conn, transport, now));
        self.state_event(Some(conn), "client_connected");
        let msg = match transport {
            Transport::Serial => "Serial console ready",
            Transport::Tcp => "API client connected",
        };
        self.log(now, "INFO", "SerialConsole", msg);
    }

    /// A client connection went away (EOF, socket closed, kicked).
    pub fn detach(&mut self, conn: ConnId) {
        let before = self.apis.len();
        self.apis.retain(|a| a.conn != conn);
        if self.apis.len() != before {
            self.state_event(Some(conn), "client_disconnected");
        }
    }

    /// The station hangs toward this connection (see [`crate::Action::Mute`]).
    pub fn mute(&mut self, conn: ConnId) {
        if let Some(api) = self.api_mut(conn) {
            api.muted = true;
            self.state_event(Some(conn), "muted");
        }
    }

    /// Whether this connection is muted.
    pub fn is_muted(&self, conn: ConnId) -> bool {
        self.api(conn).is_some_and(|a| a.muted)
    }

    /// The next thing this connection's client gets, if any.
    pub fn pop(&mut self, conn: ConnId) -> Option<ToClient> {
        let idx = self.apis.iter().position(|a| a.conn == conn)?;
        let api = &mut self.apis[idx];
        if api.muted {
            return None;
        }
        if let Some(line) = api.logs.pop_front() {
            return Some(ToClient::Log(line));
        }
        let mut msg = if api.rebooted {
            api.rebooted = false;
            FromRadio {
                id: 0,
                payload_variant: Some(from_radio::PayloadVariant::Rebooted(true)),
            }
        } else {
            match api.state {
                ApiState::SendNothing => return None,
                ApiState::SendConfig => {
                    let m = api.burst.pop_front()?;
                    if matches!(
                        m.payload_variant,
                        Some(from_radio::PayloadVariant::ConfigCompleteId(_))
                    ) {
                        api.state = ApiState::SendPackets;
                        self.outputs.push(Output::State(
                            Some(conn),
                            ApiState::SendPackets.name().into(),
                        ));
                    }
                    m
                }
                ApiState::SendPackets => match api.control.pop_front() {
                    Some(m) => m,
                    None => self.to_phone.pop_front()?,
                },
            }
        };
        let api = &mut self.apis[idx];
        msg.id = api.next_frame_id;
        api.next_frame_id = api.next_frame_id.wrapping_add(1).max(1);
        Some(ToClient::Frame(msg))
    }

    /// Earliest time [`Device::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeouts = self
            .apis
            .iter()
            .filter(|a| a.transport == Transport::Serial && a.state != ApiState::SendNothing)
            .map(|a| a.last_contact + SERIAL_CONNECTION_TIMEOUT);
        self.pending
            .iter()
            .map(|p| p.next)
            .chain(timeouts)
            .chain(self.next_telemetry)
            .min()
    }

    /// Timers: retransmissions, NAK `MAX_RETRANSMIT`, the serial idle timeout, our telemetry.
    pub fn poll(&mut self, now: Instant) {
        if let (Some(at), Some(every)) = (self.next_telemetry, telemetry_interval(&self.radio)) {
            if at <= now {
                self.next_telemetry = Some(now + every);
                // `DeviceTelemetryModule::runOnce`: to the phone only while its queue is empty.
                if self.to_phone.is_empty() {
                    let p = self.telemetry_packet(now);
                    self.queue_to_phone(from_radio::PayloadVariant::Packet(p));
                }
            }
        }
        let mut lost = Vec::new();
        for api in &mut self.apis {
            if api.transport == Transport::Serial
                && api.state != ApiState::SendNothing
                && now >= api.last_contact + SERIAL_CONNECTION_TIMEOUT
            {
                api.close();
                lost.push(api.conn);
            }
        }
        for conn in lost {
            self.log(now, "INFO", "PhoneAPI", "Lost phone connection");
            self.state_event(Some(conn), "lost_phone_connection");
            self.state_event(Some(conn), ApiState::SendNothing.name());
        }
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].next > now {
                i += 1;
                continue;
            }
            if self.pending[i].retries_left > 0 {
                let p = &mut self.pending[i];
                p.retries_left -= 1;
                p.next = now + p.interval;
                let packet = p.packet.clone();
                let msg = format!(
                    "Resending packet id=0x{:08x} retries left {}",
                    packet.id, p.retries_left
                );
                self.transmit(packet);
                self.log(now, "DEBUG", "ReliableRouter", &msg);
                i += 1;
            } else {
                let p = self.pending.remove(i);
                let msg = format!(
                    "Reliable send failed id=0x{:08x}, returning a nak",
                    p.packet.id
                );
                self.log(now, "WARN", "ReliableRouter", &msg);
                self.nak_to_phone(p.packet.id, routing::Error::MaxRetransmit, now);
            }
        }
    }

    /// Our own DeviceMetrics as the firmware hands them to the phone: TELEMETRY_APP from us to
    /// broadcast, never on air.
    fn telemetry_packet(&mut self, now: Instant) -> MeshPacket {
        let t = Telemetry {
            time: self.clock.epoch(now),
            variant: Some(telemetry::Variant::DeviceMetrics(self.device_metrics(now))),
        };
        let mut p = mesh::packet(PortNum::TelemetryApp, t.encode_to_vec());
        p.from = self.me.id;
        p.to = BROADCAST;
        p.id = self.new_packet_id();
        p.rx_time = self.clock.epoch(now);
        p.priority = mesh_packet::Priority::Background as i32;
        p
    }

    fn transmit(&mut self, p: MeshPacket) {
        self.tx_queued += 1;
        self.outputs.push(Output::Transmit(p));
    }

    /// The radio finished sending one of our packets.
    pub fn tx_done(&mut self) {
        self.tx_queued = self.tx_queued.saturating_sub(1);
    }

    fn new_packet_id(&mut self) -> u32 {
        loop {
            let id = self.rng.random::<u32>() & 0x7fff_ffff;
            if id != 0 {
                return id;
            }
        }
    }

    fn queue_to_phone(&mut self, msg: from_radio::PayloadVariant) {
        if self.to_phone.len() >= MAX_RX_TOPHONE {
            self.to_phone.pop_front();
            self.to_phone_dropped += 1;
        }
        self.to_phone.push_back(FromRadio {
            id: 0,
            payload_variant: Some(msg),
        });
    }

    fn nak_to_phone(&mut self, request_id: u32, err: routing::Error, now: Instant) {
        let id = self.new_packet_id();
        let mut p = routing_packet(self.me.id, self.me.id, id, request_id, err, 0);
        p.rx_time = self.clock.epoch(now);
        self.queue_to_phone(from_radio::PayloadVariant::Packet(p));
    }

    fn queue_status(&self, res: i32, packet_id: u32) -> from_radio::PayloadVariant {
        from_radio::PayloadVariant::QueueStatus(QueueStatus {
            res,
            free: MAX_TX_QUEUE.saturating_sub(self.tx_queued) as u32,
            maxlen: MAX_TX_QUEUE as u32,
            mesh_packet_id: packet_id,
        })
    }

    /// A frame from a client.
    pub fn handle_to_radio(&mut self, conn: ConnId, msg: ToRadio, now: Instant) {
        let Some(api) = self.api_mut(conn) else {
            return;
        };
        if api.muted {
            return;
        }
        api.last_contact = now;
        use faro_proto::mesh::to_radio::PayloadVariant as V;
        match msg.payload_variant {
            Some(V::WantConfigId(nonce)) => self.want_config(conn, nonce, now),
            Some(V::Packet(p)) => self.client_packet(conn, p, now),
            Some(V::Heartbeat(_)) => {
                let qs = self.queue_status(0, 0);
                if let Some(api) = self.api_mut(conn) {
                    api.push_control(qs);
                }
            }
            Some(V::Disconnect(_)) => {
                let transport = self.api(conn).map(|a| a.transport);
                if let Some(api) = self.api_mut(conn) {
                    api.close();
                }
                self.state_event(Some(conn), "client_sent_disconnect");
                self.state_event(Some(conn), ApiState::SendNothing.name());
                if transport == Some(Transport::Tcp) {
                    self.outputs.push(Output::Close(conn));
                }
            }
            // xmodem, MQTT proxy: accepted and ignored, as on a node without those features.
            Some(_) => {}
            None => self.log(now, "WARN", "PhoneAPI", "Error: unhandled ToRadio variant"),
        }
    }

    fn want_config(&mut self, conn: ConnId, nonce: u32, now: Instant) {
        let burst = self.config_burst(nonce, now);
        let Some(api) = self.api_mut(conn) else {
            return;
        };
        api.state = ApiState::SendConfig;
        api.burst = burst.into();
        api.control.clear();
        self.state_event(Some(conn), ApiState::SendConfig.name());
        self.log(
            now,
            "INFO",
            "PhoneAPI",
            &format!("Start API client config nonce={nonce}"),
        );
    }

    /// The frames answering `want_config_id = nonce`, in firmware order.
    pub fn config_burst(&self, nonce: u32, now: Instant) -> Vec<FromRadio> {
        use from_radio::PayloadVariant as F;
        let mut out: Vec<F> = Vec::with_capacity(40 + self.nodedb.len());
        let only_nodes = nonce == SPECIAL_NONCE_ONLY_NODES;
        let skip_nodes = nonce == SPECIAL_NONCE_ONLY_CONFIG;
        if !only_nodes {
            out.push(F::MyInfo(self.my_info()));
            out.push(F::DeviceuiConfig(device_ui()));
        }
        out.push(F::NodeInfo(self.own_node_info(now)));
        if !only_nodes {
            out.push(F::Metadata(self.metadata()));
            out.extend(self.channels().into_iter().map(F::Channel));
            out.extend(self.configs().into_iter().map(F::Config));
            out.extend(module_configs().into_iter().map(F::ModuleConfig));
        }
        if !skip_nodes {
            out.extend(self.nodedb.iter().cloned().map(F::NodeInfo));
        }
        // File manifest: this device reports no files.
        out.push(F::ConfigCompleteId(nonce));
        out.into_iter()
            .map(|v| FromRadio {
                id: 0,
                payload_variant: Some(v),
            })
            .collect()
    }

    fn my_info(&self) -> MyNodeInfo {
        MyNodeInfo {
            my_node_num: self.me.id,
            reboot_count: self.reboot_count,
            min_app_version: 30200,
            device_id: self.me.id.to_be_bytes().repeat(4),
            pio_env: "rak4631".into(),
            firmware_edition: 0,
            nodedb_count: (self.nodedb.len() + 1) as u32,
        }
    }

    fn own_node_info(&self, now: Instant) -> NodeInfo {
        let (lat, lon, alt) = self.position;
        let epoch = self.clock.epoch(now);
        let mut info = node_info(&self.me, self.radio.position_precision, epoch, None);
        if let Some(u) = &mut info.user {
            u.public_key = self.own_public_key().to_vec();
        }
        info.position = Some(position(
            lat,
            lon,
            alt,
            epoch,
            self.radio.position_precision,
        ));
        info.is_favorite = true;
        info.device_metrics = Some(self.device_metrics(now));
        info
    }

    fn metadata(&self) -> DeviceMetadata {
        DeviceMetadata {
            firmware_version: self.radio.firmware_version.clone(),
            device_state_version: 24,
            can_shutdown: true,
            has_wifi: false,
            has_bluetooth: true,
            has_ethernet: false,
            role: self.me.role.device_role(),
            position_flags: 811,
            hw_model: self.me.hw_model,
            has_remote_hardware: false,
            has_pkc: true,
            excluded_modules: 0,
        }
    }

    fn channels(&self) -> Vec<Channel> {
        (0..8)
            .map(|index| {
                if index == 0 {
                    Channel {
                        index,
                        role: channel::Role::Primary as i32,
                        settings: Some(ChannelSettings {
                            psk: channel_psk(),
                            name: self.radio.channel_name.clone(),
                            id: 0x4641_524f,
                            module_settings: Some(ModuleSettings {
                                position_precision: self.radio.position_precision,
                                is_muted: false,
                            }),
                            ..Default::default()
                        }),
                    }
                } else {
                    Channel {
                        index,
                        role: channel::Role::Disabled as i32,
                        settings: Some(ChannelSettings::default()),
                    }
                }
            })
            .collect()
    }

    #[allow(deprecated)] // DeviceConfig.serial_enabled: still sent by 2.7 firmware
    fn configs(&self) -> Vec<Config> {
        use config::PayloadVariant as C;
        let lora = config::LoRaConfig {
            use_preset: true,
            modem_preset: self.radio.preset.proto_value(),
            region: config::lo_ra_config::RegionCode::Us as i32,
            hop_limit: self.radio.hop_limit,
            tx_enabled: true,
            tx_power: 30,
            sx126x_rx_boosted_gain: true,
            ..Default::default()
        };
        [
            C::Device(config::DeviceConfig {
                role: self.me.role.device_role(),
                serial_enabled: true,
                node_info_broadcast_secs: 10_800,
                ..Default::default()
            }),
            C::Position(config::PositionConfig {
                position_broadcast_secs: 900,
                position_broadcast_smart_enabled: true,
                fixed_position: true,
                gps_update_interval: 120,
                position_flags: 811,
                broadcast_smart_minimum_distance: 100,
                broadcast_smart_minimum_interval_secs: 30,
                gps_mode: config::position_config::GpsMode::NotPresent as i32,
                ..Default::default()
            }),
            C::Power(config::PowerConfig {
                wait_bluetooth_secs: 60,
                sds_secs: u32::MAX,
                ls_secs: 300,
                min_wake_secs: 10,
                ..Default::default()
            }),
            C::Network(config::NetworkConfig::default()),
            C::Display(config::DisplayConfig {
                screen_on_secs: 600,
                ..Default::default()
            }),
            C::Lora(lora),
            C::Bluetooth(config::BluetoothConfig {
                enabled: true,
                mode: config::bluetooth_config::PairingMode::RandomPin as i32,
                fixed_pin: 123_456,
            }),
            C::Security(config::SecurityConfig {
                public_key: self.own_public_key().to_vec(),
                serial_enabled: true,
                ..Default::default()
            }),
            C::Sessionkey(config::SessionkeyConfig {}),
            C::DeviceUi(device_ui()),
        ]
        .into_iter()
        .map(|v| Config {
            payload_variant: Some(v),
        })
        .collect()
    }

    fn client_packet(&mut self, conn: ConnId, mut p: MeshPacket, now: Instant) {
        let port = mesh::portnum(&p);
        // Duplicate client ids are ignored.
        if p.id != 0 {
            if self.recent_client_ids.contains(&p.id) {
                let msg = format!("Ignore packet from phone, duplicate id=0x{:08x}", p.id);
                self.log(now, "DEBUG", "PhoneAPI", &msg);
                self.reply_status(conn, 0, p.id);
                return;
            }
            if self.recent_client_ids.len() >= RECENT_CLIENT_IDS {
                self.recent_client_ids.pop_front();
            }
            self.recent_client_ids.push_back(p.id);
        } else {
            p.id = self.new_packet_id();
        }
        // Rate limits (PhoneAPI::handleToRadioPacket).
        let Some(api) = self.api_mut(conn) else {
            return;
        };
        match port {
            Some(PortNum::TextMessageApp) => {
                if api.last_text.is_some_and(|t| now < t + TEXT_INTERVAL) {
                    self.log(
                        now,
                        "WARN",
                        "PhoneAPI",
                        "Rate limit: text messages once every 2 seconds",
                    );
                    self.nak_to_phone(p.id, routing::Error::RateLimitExceeded, now);
                    self.reply_status(conn, 0, p.id);
                    return;
                }
                api.last_text = Some(now);
            }
            Some(
                slow @ (PortNum::PositionApp
                | PortNum::WaypointApp
                | PortNum::AlertApp
                | PortNum::TelemetryApp),
            ) => {
                let key = slow as i32;
                if api
                    .last_slow
                    .get(&key)
                    .is_some_and(|t| now < *t + SLOW_PORT_INTERVAL)
                {
                    let msg = format!("Rate limit: dropping {} from phone", slow.as_str_name());
                    self.log(now, "DEBUG", "PhoneAPI", &msg);
                    self.reply_status(conn, 0, p.id);
                    return;
                }
                api.last_slow.insert(key, now);
            }
            _ => {}
        }
        if mesh::data_len(&p) > MAX_DATA_LEN {
            self.log(
                now,
                "WARN",
                "Router",
                "Packet too large, returning TOO_LARGE nak",
            );
            self.nak_to_phone(p.id, routing::Error::TooLarge, now);
            self.reply_status(conn, routing::Error::TooLarge as i32, p.id);
            return;
        }
        if p.channel != 0 {
            self.nak_to_phone(p.id, routing::Error::NoChannel, now);
            self.reply_status(conn, routing::Error::NoChannel as i32, p.id);
            return;
        }
        if self.tx_queued >= MAX_TX_QUEUE {
            self.log(
                now,
                "WARN",
                "Router",
                "TX queue full, dropping packet from phone",
            );
            self.reply_status(conn, 1, p.id);
            return;
        }
        let pid = p.id;
        if let Err(err) = self.send_from_client(p, now) {
            self.nak_to_phone(pid, err, now);
            self.reply_status(conn, err as i32, pid);
            return;
        }
        let id = self.outputs.iter().rev().find_map(|o| match o {
            Output::Transmit(t) => Some(t.id),
            _ => None,
        });
        self.reply_status(conn, 0, id.unwrap_or(0));
    }

    fn reply_status(&mut self, conn: ConnId, res: i32, id: u32) {
        let qs = self.queue_status(res, id);
        if let Some(api) = self.api_mut(conn) {
            api.push_control(qs);
        }
    }

    /// Originates a client's packet: fills in the fields the firmware fills in, encrypts it
    /// (PKI or channel key, `perhapsEncode`), tracks ACKs.
    fn send_from_client(&mut self, mut p: MeshPacket, now: Instant) -> Result<(), routing::Error> {
        p.from = self.me.id;
        if p.want_ack && p.hop_limit == 0 {
            p.hop_limit = self.radio.hop_limit;
        }
        p.hop_limit = p.hop_limit.min(mesh::MAX_HOP_LIMIT);
        p.hop_start = p.hop_limit;
        p.rx_time = 0;
        p.rx_snr = 0.0;
        p.rx_rssi = 0;
        p.next_hop = 0;
        p.relay_node = self.me.id & 0xff;
        self.truncate_client_position(&mut p);
        if p.priority == 0 {
            p.priority = match mesh::portnum(&p) {
                Some(PortNum::RoutingApp) => mesh_packet::Priority::Ack,
                Some(PortNum::AlertApp) => mesh_packet::Priority::Alert,
                _ if p.want_ack => mesh_packet::Priority::Reliable,
                _ => mesh_packet::Priority::Default,
            } as i32;
        }
        let text = mesh::data(&p)
            .filter(|d| d.portnum == PortNum::TextMessageApp as i32)
            .map(|d| String::from_utf8_lossy(&d.payload).into_owned());
        let msg = format!(
            "Enqueued local (id=0x{:08x} fr=0x{:08x} to=0x{:08x}, WantAck={}, HopLim={} Ch=0x0 Portnum={}{})",
            p.id,
            p.from,
            p.to,
            u8::from(p.want_ack),
            p.hop_limit,
            mesh::data(&p).map_or(0, |d| d.portnum),
            text.map(|t| format!(" msg={t}")).unwrap_or_default()
        );
        self.log(now, "DEBUG", "Router", &msg);
        if p.to != self.me.id {
            self.encrypt(&mut p, now)?;
        }
        if p.to == self.me.id {
            // Addressed to ourselves: delivered locally, acknowledged at once.
            if p.want_ack {
                let id = self.new_packet_id();
                let mut ack =
                    routing_packet(self.me.id, self.me.id, id, p.id, routing::Error::None, 0);
                ack.rx_time = self.clock.epoch(now);
                self.queue_to_phone(from_radio::PayloadVariant::Packet(ack));
            }
            return Ok(());
        }
        if p.want_ack {
            let interval = radio::retransmission_interval(self.radio.preset, mesh::data_len(&p));
            let mut on_air = p.clone();
            if p.to == BROADCAST {
                // The firmware clears want_ack on air for broadcasts and waits for a rebroadcast.
                on_air.want_ack = false;
            }
            if self.pending.len() >= MAX_PENDING {
                let old = self.pending.remove(0);
                self.nak_to_phone(old.packet.id, routing::Error::MaxRetransmit, now);
            }
            self.pending.push(Pending {
                packet: on_air.clone(),
                retries_left: NUM_RELIABLE_RETX,
                next: now + interval,
                interval,
            });
            self.transmit(on_air);
        } else {
            self.transmit(p);
        }
        Ok(())
    }

    /// `perhapsEncode` (`src/mesh/Router.cpp`, 2.7.15): PKI for a DM on a PKI port when we are
    /// the originator and hold the destination's key; otherwise the channel key. A client that
    /// asked for PKI (`pki_encrypted`) where none applies, or named a `public_key` other than
    /// the one we hold, gets `PKI_FAILED`.
    fn encrypt(&mut self, p: &mut MeshPacket, now: Instant) -> Result<(), routing::Error> {
        let port = mesh::portnum(p);
        let dest = self.nodedb_key(p.to);
        if let (true, Some(dest)) = (pki::wants_pki(p.to, port, p.channel), dest) {
            let asked = pki::as_key(&p.public_key).filter(|k| *k != [0u8; 32]);
            if p.pki_encrypted && asked.is_some_and(|k| k != dest) {
                self.log(
                    now,
                    "WARN",
                    "Router",
                    "Client public key differs from requested",
                );
                return Err(routing::Error::PkiFailed);
            }
            self.log(now, "DEBUG", "Router", "Use PKI!");
            pki::seal(p, &self.private_key, &dest);
            Ok(())
        } else if p.pki_encrypted {
            // Client specifically requested PKI encryption.
            Err(routing::Error::PkiFailed)
        } else {
            pki::unseal(p);
            Ok(())
        }
    }

    /// The firmware truncates positions a client sends to the channel's `position_precision`
    /// (`PositionModule.cpp`); with 32 bits nothing changes.
    fn truncate_client_position(&self, p: &mut MeshPacket) {
        let precision = self.radio.position_precision;
        if precision >= 32 {
            return;
        }
        let Some(mesh_packet::PayloadVariant::Decoded(d)) = &mut p.payload_variant else {
            return;
        };
        if d.portnum != PortNum::PositionApp as i32 {
            return;
        }
        if let Ok(mut pos) = Position::decode(d.payload.as_slice()) {
            pos.latitude_i = pos
                .latitude_i
                .map(|v| radio::truncate_coordinate(v, precision));
            pos.longitude_i = pos
                .longitude_i
                .map(|v| radio::truncate_coordinate(v, precision));
            pos.precision_bits = precision;
            d.payload = pos.encode_to_vec();
        }
    }

    /// Originates a packet of our own (not from a client): the device's firmware acting alone,
    /// e.g. a scripted text from the station node. Fills in id, hop limit and hop start.
    pub fn originate(&mut self, mut p: MeshPacket, now: Instant) -> u32 {
        if p.id == 0 {
            p.id = self.new_packet_id();
        }
        if p.hop_limit == 0 {
            p.hop_limit = self.radio.hop_limit;
        }
        let id = p.id;
        if let Err(err) = self.send_from_client(p, now) {
            let msg = format!("Own packet id=0x{id:08x} not sent: {}", err.as_str_name());
            self.log(now, "WARN", "Router", &msg);
        }
        id
    }

    /// The radio heard a neighbour rebroadcast one of our packets: an implicit ACK.
    pub fn heard_rebroadcast(&mut self, id: u32, now: Instant) {
        if let Some(i) = self.pending.iter().position(|p| p.packet.id == id) {
            self.pending.remove(i);
            let msg = format!("Rebroadcast heard for id=0x{id:08x}: implicit ack");
            self.log(now, "DEBUG", "ReliableRouter", &msg);
            let ack_id = self.new_packet_id();
            let mut ack =
                routing_packet(self.me.id, self.me.id, ack_id, id, routing::Error::None, 0);
            ack.rx_time = self.clock.epoch(now);
            self.queue_to_phone(from_radio::PayloadVariant::Packet(ack));
        }
    }

    /// The radio received a packet for us (addressed to us or broadcast). `p` carries the
    /// reception fields (`rx_time`, `rx_snr`, `rx_rssi`, `hop_limit`, `relay_node`).
    pub fn receive(&mut self, p: MeshPacket, now: Instant) {
        let p = match self.decode(p, now) {
            Ok(p) => p,
            Err((p, err)) => {
                // `ReliableRouter::sniffReceived`: a reliable packet to us we cannot decode gets
                // a NAK; in 2.7.15 the undecoded packet still reaches the client through the
                // promiscuous, `encryptedOk` RoutingModule (`src/modules/RoutingModule.cpp`:
                // `service->handleFromRadio`), as `encrypted` with no PKI marking.
                if p.want_ack && p.to == self.me.id {
                    let id = self.new_packet_id();
                    let nak =
                        routing_packet(self.me.id, p.from, id, p.id, err, self.radio.hop_limit);
                    self.transmit(nak);
                }
                self.update_nodedb(&p, None);
                self.queue_to_phone(from_radio::PayloadVariant::Packet(p));
                return;
            }
        };
        let d = mesh::data(&p).cloned();
        // A routing answer to one of our reliable packets stops its retransmission.
        if let Some(d) = &d {
            if d.portnum == PortNum::RoutingApp as i32 && d.request_id != 0 && p.to == self.me.id {
                self.pending.retain(|x| x.packet.id != d.request_id);
            }
        }
        // Acknowledge a reliable DM to us (not an ACK itself).
        if p.want_ack
            && p.to == self.me.id
            && d.as_ref()
                .is_some_and(|d| d.portnum != PortNum::RoutingApp as i32)
        {
            let id = self.new_packet_id();
            let ack = routing_packet(
                self.me.id,
                p.from,
                id,
                p.id,
                routing::Error::None,
                self.radio.hop_limit,
            );
            self.transmit(ack);
        }
        self.update_nodedb(&p, d.as_ref());
        if let Some(d) = &d {
            if matches!(
                PortNum::try_from(d.portnum),
                Ok(PortNum::TextMessageApp | PortNum::AlertApp | PortNum::DetectionSensorApp)
            ) {
                let text = String::from_utf8_lossy(&d.payload).replace('\u{7}', "\\a");
                let msg = format!(
                    "Received text msg from=0x{:08x}, id=0x{:08x}, msg={text}",
                    p.from, p.id
                );
                self.log(now, "INFO", "TextMessage", &msg);
            }
        }
        self.queue_to_phone(from_radio::PayloadVariant::Packet(p));
    }

    /// `perhapsDecode` (`src/mesh/Router.cpp`, 2.7.15) for a packet heard on the simulated
    /// air: PKI first for a DM to us with channel hash 0, using the key our NodeDB holds for
    /// `p.from`; then the channel key, which refuses a text DM to us on firmware >= 2.7.14
    /// ("Rejecting legacy DM"). `Err` carries the undecoded packet and the NAK reason
    /// (`PKI_UNKNOWN_PUBKEY` when we hold no key for `from`, else `NO_CHANNEL`).
    #[allow(clippy::result_large_err)] // the packet goes on either way
    fn decode(
        &mut self,
        mut p: MeshPacket,
        now: Instant,
    ) -> Result<MeshPacket, (MeshPacket, routing::Error)> {
        let to_us = p.to == self.me.id;
        if p.pki_encrypted {
            let from_key = self.nodedb_key(p.from);
            if to_us && p.channel == 0 && pki::opens(&p, &self.private_key, from_key) {
                self.log(now, "INFO", "Router", "Packet decrypted using PKI!");
                p.pki_encrypted = true;
                p.public_key = from_key.map(|k| k.to_vec()).unwrap_or_default();
                p.channel = 0; // the channel index firmware stores on PKI success (chIndex 0)
                return Ok(p);
            }
            let err = if from_key.is_none() {
                routing::Error::PkiUnknownPubkey
            } else {
                routing::Error::NoChannel
            };
            self.log(now, "WARN", "Router", "PKC decrypt attempted but failed!");
            let msg = format!(
                "No suitable channel found for decoding, hash was 0x{:x}!",
                p.channel
            );
            self.log(now, "WARN", "Router", &msg);
            return Err((undecoded(p), err));
        }
        pki::unseal(&mut p);
        let text = mesh::portnum(&p) == Some(PortNum::TextMessageApp);
        if to_us && text && pki::rejects_legacy_dm(&self.radio.firmware_version) {
            self.log(now, "WARN", "Router", "Rejecting legacy DM");
            return Err((undecoded(p), routing::Error::NoChannel));
        }
        Ok(p)
    }

    fn update_nodedb(&mut self, p: &MeshPacket, d: Option<&Data>) {
        let i = match self.nodedb.iter().position(|n| n.num == p.from) {
            Some(i) => i,
            None if p.from == self.me.id || self.nodedb.len() >= MAX_NODEDB => return,
            None => {
                self.nodedb.push(NodeInfo {
                    num: p.from,
                    ..Default::default()
                });
                self.nodedb.len() - 1
            }
        };
        let info = &mut self.nodedb[i];
        info.last_heard = p.rx_time;
        info.snr = p.rx_snr;
        info.hops_away = mesh::hops_travelled(p);
        let Some(d) = d else { return };
        match PortNum::try_from(d.portnum) {
            Ok(PortNum::PositionApp) => {
                if let Ok(pos) = Position::decode(d.payload.as_slice()) {
                    info.position = Some(pos);
                }
            }
            Ok(PortNum::NodeinfoApp) => {
                if let Ok(mut u) = User::decode(d.payload.as_slice()) {
                    // `NodeDB::updateUser` (`src/mesh/NodeDB.cpp`): a node advertising our own
                    // key is refused; a known key is never replaced ("Public Key mismatch,
                    // dropping NodeInfo"); with no key yet, whatever key comes is installed.
                    let ours = self.own_public_key();
                    if u.public_key.as_slice() == ours.as_slice() {
                        return;
                    }
                    let info = &mut self.nodedb[i];
                    let known = info.user.as_ref().and_then(|x| pki::as_key(&x.public_key));
                    if let Some(k) = known {
                        if u.public_key.as_slice() != k.as_slice() {
                            return;
                        }
                    }
                    u.id = mesh::NodeId(p.from).to_string();
                    info.user = Some(u);
                    let update = info.clone();
                    self.queue_to_phone(from_radio::PayloadVariant::NodeInfo(update));
                }
            }
            _ => {}
        }
    }

    /// Our position changed (scenario action).
    pub fn set_position(&mut self, lat: f64, lon: f64, alt: Option<i32>) {
        self.position = (lat, lon, alt);
    }

    /// The device reboots: serial clients get `rebooted` and must ask for the config again;
    /// TCP clients are dropped; RAM state (queues, pending ACKs, duplicate ids) is lost.
    pub fn reboot(&mut self, now: Instant) {
        self.power_cycle(now);
        let mut closes = Vec::new();
        for api in &mut self.apis {
            api.close();
            api.logs.clear();
            api.last_text = None;
            api.last_slow.clear();
            api.muted = false;
            match api.transport {
                Transport::Serial => api.rebooted = true,
                Transport::Tcp => closes.push(api.conn),
            }
        }
        for conn in closes {
            self.detach(conn);
            self.outputs.push(Output::Close(conn));
        }
        self.state_event(None, "rebooted");
        self.log(now, "INFO", "Main", "Meshtastic firmware booted");
    }

    /// The device loses power (unplugged): every client connection ends.
    pub fn power_off(&mut self) {
        let conns: Vec<ConnId> = self.apis.iter().map(|a| a.conn).collect();
        for conn in conns {
            self.detach(conn);
            self.outputs.push(Output::Close(conn));
        }
        self.to_phone.clear();
        self.pending.clear();
        self.tx_queued = 0;
        self.next_telemetry = None;
        self.state_event(None, "unplugged");
    }

    /// Power is back: the device boots with empty RAM.
    pub fn power_on(&mut self, now: Instant) {
        self.power_cycle(now);
        self.state_event(None, "replugged");
    }

    fn power_cycle(&mut self, now: Instant) {
        self.reboot_count += 1;
        self.booted_at = now;
        self.to_phone.clear();
        self.pending.clear();
        self.tx_queued = 0;
        self.recent_client_ids.clear();
        self.next_telemetry = telemetry_interval(&self.radio).map(|d| now + d);
    }
}

/// `radio.telemetry_secs` as an interval; None when off.
fn telemetry_interval(radio: &RadioSettings) -> Option<Duration> {
    (radio.telemetry_secs > 0).then(|| Duration::from_secs(u64::from(radio.telemetry_secs)))
}

fn device_ui() -> DeviceUiConfig {
    DeviceUiConfig {
        version: 1,
        screen_brightness: 153,
        screen_timeout: 30,
        alert_enabled: true,
        banner_enabled: true,
        language: 1, // Spanish? (0 = English); the UI language does not matter to the API.
        ..Default::default()
    }
}

fn module_configs() -> Vec<ModuleConfig> {
    use module_config::PayloadVariant as M;
    [
        M::Mqtt(module_config::MqttConfig::default()),
        M::Serial(module_config::SerialConfig::default()),
        M::ExternalNotification(module_config::ExternalNotificationConfig {
            enabled: true,
            output_ms: 1000,
            alert_bell: true,
            alert_bell_buzzer: true,
            alert_message: true,
            ..Default::default()
        }),
        M::StoreForward(module_config::StoreForwardConfig::default()),
        M::RangeTest(module_config::RangeTestConfig::default()),
        M::Telemetry(module_config::TelemetryConfig {
            device_update_interval: 1800,
            environment_update_interval: 1800,
            ..Default::default()
        }),
        M::CannedMessage(module_config::CannedMessageConfig::default()),
        M::Audio(module_config::AudioConfig::default()),
        M::RemoteHardware(module_config::RemoteHardwareConfig::default()),
        M::NeighborInfo(module_config::NeighborInfoConfig::default()),
        M::AmbientLighting(module_config::AmbientLightingConfig {
            current: 10,
            ..Default::default()
        }),
        M::DetectionSensor(module_config::DetectionSensorConfig::default()),
        M::Paxcounter(module_config::PaxcounterConfig::default()),
    ]
    .into_iter()
    .map(|v| ModuleConfig {
        payload_variant: Some(v),
    })
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
