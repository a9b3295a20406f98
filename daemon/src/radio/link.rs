//! The radio link: one task per radio that owns its port. It opens the transport, wakes the
//! device (32 x 0xC3), runs the [`Session`] over the [`FrameDecoder`], writes what the session
//! asks, and reconnects with capped exponential backoff when the port vanishes (USB unplug),
//! the TCP peer closes, or the session finds the radio silent or unresponsive.
//!
//! Queues: commands come in on a bounded channel (senders wait); events go out on a bounded
//! channel where incident-class traffic waits for room (backpressure reaches the device, whose
//! own queue then fills) while telemetry and other low-value packets are dropped and counted.
//! The link stops when every [`LinkHandle`] is dropped or one of them calls
//! [`LinkHandle::stop`], after telling the device goodbye (`ToRadio.disconnect`). A stopped
//! link reads nothing more; what it had read is already in the event queue, and the queue
//! closes when the last link sending into it has stopped ([`stop_links`]).

use std::sync::Arc;
use std::time::Duration;

use faro_proto::frame::{self, decode_as, FrameDecoder, Item};
use faro_proto::mesh::{self, to_radio, FromRadio, MeshPacket, NodeInfo, PortNum, ToRadio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::session::{
    Action, DeliveryOutcome, Outgoing, RadioInfo, SendError, Session, SessionConfig,
};
use super::transport::{BoxIo, Transport};

/// Bytes written before the first frame of every connection: wakes a sleeping device and
/// resets its parser (what the Python client does).
pub const WAKE_UP: [u8; 32] = [frame::START2; 32];
/// Pause after the wake-up bytes.
pub const WAKE_UP_PAUSE: Duration = Duration::from_millis(100);
/// A write that does not finish in this time means the device stopped reading.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands waiting for the link.
pub const COMMAND_QUEUE: usize = 64;

/// Settings of one link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Name of the radio in logs and status (`sas-main`).
    pub name: String,
    /// Session timings.
    pub session: SessionConfig,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Give up after this many failed connection attempts in a row (`None`: never; the
    /// daemon never gives up, `farod probe` tries once).
    pub max_attempts: Option<u32>,
}

impl LinkConfig {
    /// Defaults for a radio called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            session: SessionConfig::default(),
            backoff_initial: Duration::from_millis(500),
            // Short enough that a radio plugged back in is up within seconds (issue 5 target:
            // p99 under 10 s), cheap enough: a failed open costs nothing on air.
            backoff_max: Duration::from_secs(8),
            max_attempts: None,
        }
    }
}

/// What a link reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RadioEventKind {
    /// Handshake complete: the radio is live.
    Up(Box<RadioInfo>),
    /// The connection ended; the link will try again (unless it gave up).
    Down {
        /// One line: why.
        reason: String,
    },
    /// The link stopped trying (`max_attempts` reached).
    GaveUp {
        /// The last failure.
        reason: String,
    },
    /// A packet heard on the mesh.
    Packet(Box<MeshPacket>),
    /// A node database update.
    Node(Box<NodeInfo>),
    /// The result of a want_ack packet we sent.
    Delivery {
        /// Our packet id.
        id: u32,
        /// Its destination.
        to: u32,
        /// Result.
        outcome: DeliveryOutcome,
    },
    /// The device said it rebooted; the link is handshaking again.
    Rebooted,
}

/// An event from the link called `radio`.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioEvent {
    /// The link's name.
    pub radio: Arc<str>,
    /// What happened.
    pub kind: RadioEventKind,
}

/// Connection state for status lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkState {
    /// Opening the port or waiting to retry.
    #[default]
    Connecting,
    /// Port open, waiting for the configuration.
    Handshaking,
    /// Live.
    Up,
    /// Gave up or stopped.
    Stopped,
}

/// A snapshot of a link for `STATUS=` lines and `faroctl`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStatus {
    /// State.
    pub state: LinkState,
    /// Our radio's node number once known.
    pub node: Option<u32>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Connections that reached the live state.
    pub connects: u64,
    /// Frames decoded on all connections.
    pub frames: u64,
    /// Bytes of device log text seen between frames.
    pub log_bytes: u64,
    /// Frames dropped because the body did not decode.
    pub malformed: u64,
    /// False headers (LEN > 512) skipped.
    pub oversize_headers: u64,
    /// Low-value packets dropped because the event queue was full.
    pub dropped_packets: u64,
    /// Free slots in the device's transmit queue, from its last queueStatus.
    pub queue_free: Option<u32>,
    /// The modem preset the device reported (None: not yet, or custom settings).
    pub preset: Option<faro_proto::airtime::Preset>,
    /// Percent of the last minute the device heard the channel busy (its own telemetry).
    pub channel_utilization: Option<f32>,
    /// Percent of the last hour the device itself transmitted (its own telemetry; relays and
    /// retransmissions included).
    pub air_util_tx: Option<f32>,
}

enum Command {
    Send(Outgoing, oneshot::Sender<Result<u32, SendError>>),
}

/// A handle to a running link. Cheap to clone; the link stops when the last clone is dropped
/// or when [`LinkHandle::stop`] is called.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    name: Arc<str>,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<LinkStatus>,
    stop: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Send(o, _) => f.debug_tuple("Send").field(o).finish(),
        }
    }
}

impl LinkHandle {
    /// The radio's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends a packet: returns its id once written to the radio (its delivery result arrives
    /// later as a [`RadioEventKind::Delivery`] when `want_ack` is set).
    pub async fn send(&self, out: Outgoing) -> Result<u32, SendError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Send(out, tx))
            .await
            .map_err(|_| SendError::LinkStopped)?;
        rx.await.map_err(|_| SendError::LinkStopped)?
    }

    /// The current status.
    pub fn status(&self) -> LinkStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Stops the link even while other handles remain: it reads nothing more from the radio,
    /// hands over the packets it had already read, says goodbye and ends (its state becomes
    /// [`LinkState::Stopped`] and its task returns).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// Starts the link task for `transport`. Events go to `events`.
pub fn spawn(
    transport: Transport,
    cfg: LinkConfig,
    events: mpsc::Sender<RadioEvent>,
) -> LinkHandle {
    spawn_task(transport, cfg, events).0
}

/// Starts the link task for `transport` and returns its join handle too, for a caller that
/// supervises its tasks (the station). Events go to `events`.
pub fn spawn_task(
    transport: Transport,
    cfg: LinkConfig,
    events: mpsc::Sender<RadioEvent>,
) -> (LinkHandle, tokio::task::JoinHandle<()>) {
    let name: Arc<str> = cfg.name.as_str().into();
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (status_tx, status_rx) = watch::channel(LinkStatus::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let seed = rand::random();
    let link = Link {
        name: name.clone(),
        transport,
        cfg,
        events,
        commands: cmd_rx,
        status: status_tx,
        stop: stop_rx,
        decoder: FrameDecoder::new(),
        seed,
    };
    let task = tokio::spawn(link.run());
    let handle = LinkHandle {
        name,
        commands: cmd_tx,
        status: status_rx,
        stop: Arc::new(stop_tx),
    };
    (handle, task)
}

/// Stops the links ([`LinkHandle::stop`]: each stops reading and says goodbye to its radio)
/// and waits until each is stopped, up to `deadline`; false when one was not stopped by then.
pub async fn stop_links(links: Vec<LinkHandle>, deadline: Duration) -> bool {
    let mut watches: Vec<_> = links.iter().map(LinkHandle::watch_status).collect();
    for l in &links {
        l.stop();
    }
    drop(links);
    let all = async {
        for w in &mut watches {
            let _ = w.wait_for(|s| s.state == LinkState::Stopped).await;
        }
    };
    if tokio::time::timeout(deadline, all).await.is_err() {
        tracing::warn!("radio links did not stop within {} s", deadline.as_secs());
        return false;
    }
    true
}

struct Link {
    name: Arc<str>,
    transport: Transport,
    cfg: LinkConfig,
    events: mpsc::Sender<RadioEvent>,
    commands: mpsc::Receiver<Command>,
    status: watch::Sender<LinkStatus>,
    /// Turns true when a handle asks the link to stop.
    stop: watch::Receiver<bool>,
    decoder: FrameDecoder,
    seed: u64,
}

/// How a connection ended.
enum End {
    /// Every handle dropped: stop.
    Shutdown,
    /// The port failed or the session asked for a reopen.
    Lost { reason: String, was_live: bool },
}

impl Link {
    async fn run(mut self) {
        let mut backoff = self.cfg.backoff_initial;
        let mut failures = 0u32;
        loop {
            if self.stopping() {
                break;
            }
            self.set_status(|s| s.state = LinkState::Connecting);
            let mut stop = self.stop.clone();
            let opened = tokio::select! {
                o = self.transport.open() => o,
                () = stop_requested(&mut stop) => break,
            };
            let reason = match opened {
                Ok(io) => match self.serve(io).await {
                    End::Shutdown => break,
                    End::Lost { reason, was_live } => {
                        if was_live {
                            failures = 0;
                            backoff = self.cfg.backoff_initial;
                        }
                        reason
                    }
                },
                Err(e) => e.to_string(),
            };
            failures += 1;
            // Loud when the radio goes down, then quieter while it stays away.
            if failures == 1 || failures % 20 == 0 {
                tracing::warn!(radio = %self.name, %reason, failures, retry_in_ms = backoff.as_millis() as u64, "radio down");
            } else {
                tracing::debug!(radio = %self.name, %reason, failures, retry_in_ms = backoff.as_millis() as u64, "radio still down");
            }
            self.set_status(|s| {
                s.state = LinkState::Connecting;
                s.last_error = Some(reason.clone());
                s.queue_free = None;
            });
            if self.cfg.max_attempts.is_some_and(|max| failures >= max) {
                self.emit(RadioEventKind::GaveUp { reason }).await;
                break;
            }
            self.emit(RadioEventKind::Down { reason }).await;
            if !self.wait(backoff).await {
                break;
            }
            backoff = (backoff * 2).min(self.cfg.backoff_max);
        }
        self.set_status(|s| s.state = LinkState::Stopped);
    }

    /// Whether a handle asked the link to stop.
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits `d` while refusing sends; false when every handle is gone or one asked to stop.
    async fn wait(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                () = stop_requested(&mut stop) => return false,
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(Command::Send(_, reply)) => { let _ = reply.send(Err(SendError::NotConnected)); }
                },
            }
        }
    }

    async fn serve(&mut self, io: BoxIo) -> End {
        let (mut rd, mut wr) = tokio::io::split(io);
        self.decoder.reset();
        self.set_status(|s| s.state = LinkState::Handshaking);
        self.seed = self.seed.wrapping_add(1);
        let mut session = Session::new(self.cfg.session.clone(), self.seed, Instant::now());
        if let Err(e) = write_raw(&mut wr, &WAKE_UP).await {
            return End::Lost {
                reason: format!("write failed: {e}"),
                was_live: false,
            };
        }
        tokio::time::sleep(WAKE_UP_PAUSE).await;
        let mut was_live = false;
        let first = session.start(Instant::now());
        let end = match self.perform(first, &mut wr, &mut was_live).await {
            Some(end) => end,
            None => {
                self.live_loop(&mut rd, &mut wr, &mut session, &mut was_live)
                    .await
            }
        };
        // Whatever awaited an ACK on this connection will not get one now.
        for a in session.on_closed() {
            if let Action::Delivery { id, to, outcome } = a {
                self.emit(RadioEventKind::Delivery { id, to, outcome })
                    .await;
            }
        }
        if let End::Shutdown = end {
            let bye = ToRadio {
                payload_variant: Some(to_radio::PayloadVariant::Disconnect(true)),
            };
            let _ = write_msg(&mut wr, &bye).await;
        }
        end
    }

    async fn live_loop(
        &mut self,
        rd: &mut tokio::io::ReadHalf<BoxIo>,
        wr: &mut tokio::io::WriteHalf<BoxIo>,
        session: &mut Session,
        was_live: &mut bool,
    ) -> End {
        let mut buf = vec![0u8; 4096];
        let mut stop = self.stop.clone();
        loop {
            let deadline = session
                .next_deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let actions = tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) => return End::Lost { reason: "radio closed the connection".into(), was_live: *was_live },
                    Ok(n) => {
                        self.decoder.push(&buf[..n]);
                        let mut actions = Vec::new();
                        while let Some(item) = self.decoder.next_item(decode_as::<FromRadio>) {
                            match item {
                                Item::Frame(msg) => actions.extend(session.on_from_radio(msg, Instant::now())),
                                // Device log text can hold received messages: trace level only.
                                Item::Log(bytes) => tracing::trace!(radio = %self.name, text = %crate::describe::clean(String::from_utf8_lossy(&bytes).trim_end()), "device log"),
                            }
                        }
                        self.record_decoder_stats();
                        actions
                    }
                    Err(e) => return End::Lost { reason: format!("read failed: {e}"), was_live: *was_live },
                },
                _ = tokio::time::sleep_until(deadline) => session.poll(Instant::now()),
                // Asked to stop: read no more. Every packet of the last read was handed over
                // above (perform waits for room in the event queue), so none is lost here.
                () = stop_requested(&mut stop) => return End::Shutdown,
                cmd = self.commands.recv() => match cmd {
                    None => return End::Shutdown,
                    Some(Command::Send(out, reply)) => match session.prepare_send(&out, Instant::now()) {
                        Ok((msg, id)) => {
                            if let Err(e) = write_msg(wr, &msg).await {
                                let _ = reply.send(Err(SendError::NotConnected));
                                return End::Lost { reason: format!("write failed: {e}"), was_live: *was_live };
                            }
                            let _ = reply.send(Ok(id));
                            Vec::new()
                        }
                        Err(e) => { let _ = reply.send(Err(e)); Vec::new() }
                    },
                },
            };
            if let Some(end) = self.perform(actions, wr, was_live).await {
                return end;
            }
        }
    }

    /// Carries out the session's decisions; `Some` ends the connection.
    async fn perform(
        &mut self,
        actions: Vec<Action>,
        wr: &mut tokio::io::WriteHalf<BoxIo>,
        was_live: &mut bool,
    ) -> Option<End> {
        for action in actions {
            match action {
                Action::Send(msg) => {
                    if let Err(e) = write_msg(wr, &msg).await {
                        return Some(End::Lost {
                            reason: format!("write failed: {e}"),
                            was_live: *was_live,
                        });
                    }
                }
                Action::Up(info) => {
                    *was_live = true;
                    tracing::info!(
                        radio = %self.name,
                        node = %mesh::NodeId(info.node_num()),
                        // A node's name is anyone's text: escaped for the log.
                        name = %crate::describe::clean(&info.long_name()),
                        firmware = info.metadata.as_ref().map_or("?", |m| m.firmware_version.as_str()),
                        nodes = info.nodes_known,
                        "radio up"
                    );
                    let preset = info.lora.as_ref().filter(|l| l.use_preset).and_then(|l| {
                        faro_proto::airtime::Preset::from_proto_value(l.modem_preset)
                    });
                    let metrics = info.own.as_ref().and_then(|n| n.device_metrics);
                    self.set_status(|s| {
                        s.state = LinkState::Up;
                        s.node = Some(info.node_num());
                        s.connects += 1;
                        s.last_error = None;
                        s.preset = preset;
                        if let Some(m) = metrics {
                            s.channel_utilization = m.channel_utilization;
                            s.air_util_tx = m.air_util_tx;
                        }
                    });
                    self.emit(RadioEventKind::Up(info)).await;
                }
                Action::Packet(p) => self.emit_packet(p).await,
                Action::Node(n) => {
                    if self.try_emit(RadioEventKind::Node(n)).is_err() {
                        self.set_status(|s| s.dropped_packets += 1);
                    }
                }
                Action::Delivery { id, to, outcome } => {
                    self.emit(RadioEventKind::Delivery { id, to, outcome })
                        .await
                }
                Action::Rebooted => {
                    tracing::warn!(radio = %self.name, "radio rebooted; handshaking again");
                    self.set_status(|s| s.state = LinkState::Handshaking);
                    self.emit(RadioEventKind::Rebooted).await;
                }
                Action::QueueStatus {
                    free,
                    res,
                    packet_id,
                } => {
                    if res != 0 {
                        tracing::warn!(radio = %self.name, res, packet_id, "radio did not queue a packet");
                    }
                    self.set_status(|s| s.queue_free = Some(free));
                }
                Action::Reopen(reason) => {
                    return Some(End::Lost {
                        reason: format!("reopening: {reason}"),
                        was_live: *was_live,
                    })
                }
            }
        }
        None
    }

    async fn emit_packet(&mut self, p: Box<MeshPacket>) {
        // The device's own telemetry: how busy the channel is and how much it sent.
        if mesh::portnum(&p) == Some(PortNum::TelemetryApp)
            && self.status.borrow().node == Some(p.from)
        {
            if let Some(m) = own_metrics(&p) {
                self.set_status(|s| {
                    s.channel_utilization = m.channel_utilization.or(s.channel_utilization);
                    s.air_util_tx = m.air_util_tx.or(s.air_util_tx);
                });
            }
        }
        tracing::debug!(radio = %self.name, from = %mesh::NodeId(p.from), id = p.id, port = ?mesh::portnum(&p), "packet read");
        let droppable = matches!(
            mesh::portnum(&p),
            Some(
                PortNum::TelemetryApp
                    | PortNum::RangeTestApp
                    | PortNum::NeighborinfoApp
                    | PortNum::TracerouteApp
                    | PortNum::PaxcounterApp
                    | PortNum::StoreForwardApp
                    | PortNum::NodeinfoApp
            )
        );
        let kind = RadioEventKind::Packet(p);
        if droppable {
            if self.try_emit(kind).is_err() {
                self.set_status(|s| s.dropped_packets += 1);
            }
        } else {
            self.emit(kind).await;
        }
    }

    fn try_emit(&self, kind: RadioEventKind) -> Result<(), ()> {
        self.events
            .try_send(RadioEvent {
                radio: self.name.clone(),
                kind,
            })
            .map_err(|_| ())
    }

    /// Waits for room: the consumer must see this event.
    async fn emit(&self, kind: RadioEventKind) {
        // A consumer that went away is not an error here: the link keeps the radio serviced
        // until its handles are dropped.
        let _ = self
            .events
            .send(RadioEvent {
                radio: self.name.clone(),
                kind,
            })
            .await;
    }

    fn record_decoder_stats(&self) {
        let st = self.decoder.stats();
        self.status.send_if_modified(|s| {
            let changed =
                s.malformed != st.malformed_bodies || s.oversize_headers != st.oversize_headers;
            s.frames = st.frames;
            s.log_bytes = st.log_bytes;
            s.malformed = st.malformed_bodies;
            s.oversize_headers = st.oversize_headers;
            changed
        });
    }

    fn set_status(&self, f: impl FnOnce(&mut LinkStatus)) {
        self.status.send_modify(f);
    }
}

/// The device metrics a telemetry packet carries, if any.
fn own_metrics(p: &MeshPacket) -> Option<mesh::DeviceMetrics> {
    use faro_proto::mesh::Message as _;
    let d = mesh::data(p)?;
    let t = mesh::Telemetry::decode(d.payload.as_slice()).ok()?;
    match t.variant? {
        mesh::telemetry::Variant::DeviceMetrics(m) => Some(m),
        _ => None,
    }
}

/// Resolves once a handle asked the link to stop (or every handle is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn write_raw(wr: &mut tokio::io::WriteHalf<BoxIo>, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, async {
        wr.write_all(bytes).await?;
        wr.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "radio stopped reading"))?
}

async fn write_msg(wr: &mut tokio::io::WriteHalf<BoxIo>, msg: &ToRadio) -> std::io::Result<()> {
    let bytes = frame::to_frame(msg)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    write_raw(wr, &bytes).await
}
