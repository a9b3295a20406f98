//! The running simulation: a cheap `Clone` handle ([`Sim`]) over one task that owns the
//! [`World`](crate::world::World). Front-end tasks and test code talk to it through one bounded
//! command channel; the task runs timers on tokio time, so tests can use
//! `tokio::time::pause()`. The task ends when the last handle is dropped.
//!
//! Dependencies go one way: `sim` starts the [`frontend`] tasks and drains the `cmd` inbox
//! they send into; neither of those depends on `sim`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faro_proto::mesh::{FromRadio, MeshPacket, NodeId, ToRadio};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use crate::cmd::{Cmd, Link};
use crate::device::ConnId;
use crate::frontend::{self, Faults};
use crate::scenario::{Action, Scenario};
use crate::world::{ChannelStats, FrontKind, World};

/// Commands queued toward the simulation task.
pub const CMD_CHANNEL: usize = 256;
/// Events kept for slow observers (older ones are lost by lagging receivers).
pub const EVENT_CHANNEL: usize = 4096;

/// How to run a simulation.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Time scale of the mesh and the timeline: 10 = ten times faster. Device rules (rate
    /// limits, the serial timeout, ACK waits) always follow tokio time unscaled.
    pub speed: f64,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Run the scenario's timeline (off: only [`Sim::act`] makes things happen).
    pub run_timeline: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            speed: 1.0,
            seed: None,
            run_timeline: true,
        }
    }
}

/// What tests can observe.
#[derive(Debug, Clone)]
pub enum SimEvent {
    /// A non-station node got a packet addressed to it or broadcast.
    Received {
        /// The node.
        node: u32,
        /// The packet with its reception fields.
        packet: MeshPacket,
    },
    /// A client sent a station device a frame.
    ClientSent {
        /// The station.
        station: u32,
        /// The frame.
        msg: ToRadio,
    },
    /// A station device handed a frame to a client connection's writer.
    ToClient {
        /// The station.
        station: u32,
        /// The frame.
        msg: FromRadio,
    },
    /// A node began a transmission.
    Transmitted {
        /// The node on air.
        node: u32,
        /// The packet as sent. A PKI packet is marked `pki_encrypted` and carries in
        /// `public_key` its sender's X25519 shared secret, standing for its ciphertext (see
        /// [`crate::pki`]), not a public key.
        packet: MeshPacket,
        /// Its time on air (physical, not scaled by the speed factor).
        airtime: Duration,
    },
    /// A station device's state changed: `client_connected`, `client_disconnected`,
    /// `client_kicked`, `send_nothing`, `send_config`, `send_packets`,
    /// `lost_phone_connection`, `client_sent_disconnect`, `muted`, `rebooted`, `unplugged`,
    /// `replugged`.
    DeviceState {
        /// The station.
        station: u32,
        /// What happened.
        state: String,
    },
}

#[derive(Debug)]
struct Inner {
    scenario: Scenario,
    cmd: mpsc::Sender<Cmd>,
    wake: Arc<Notify>,
    events: broadcast::Sender<SimEvent>,
    powered: HashMap<u32, watch::Receiver<bool>>,
    next_conn: AtomicU64,
    stats: Arc<Mutex<ChannelStats>>,
}

/// A running simulation. Cheap to clone; the simulation stops when every clone is dropped.
#[derive(Debug, Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

fn not_a_station(station: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} is not a station of this scenario", NodeId(station)),
    )
}

fn unplugged(station: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        format!("station device {} is unplugged", NodeId(station)),
    )
}

impl Sim {
    /// Starts the simulation on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(scenario: Scenario, opts: SimOptions) -> Sim {
        let (cmd_tx, cmd_rx) = mpsc::channel(CMD_CHANNEL);
        let (events, _) = broadcast::channel(EVENT_CHANNEL);
        let wake = Arc::new(Notify::new());
        let mut powered_tx = HashMap::new();
        let mut powered_rx = HashMap::new();
        for st in scenario.stations() {
            let (tx, rx) = watch::channel(true);
            powered_tx.insert(st, tx);
            powered_rx.insert(st, rx);
        }
        let epoch0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1_767_225_600, |d| d.as_secs());
        let seed = opts.seed.unwrap_or(scenario.radio.seed);
        let world = World::new(
            scenario.clone(),
            opts.speed,
            seed,
            Instant::now(),
            epoch0,
            events.clone(),
            powered_tx,
            opts.run_timeline,
        );
        let stats = world.channel_stats_handle();
        tokio::spawn(run(world, cmd_rx, wake.clone()));
        Sim {
            inner: Arc::new(Inner {
                scenario,
                cmd: cmd_tx,
                wake,
                events,
                powered: powered_rx,
                next_conn: AtomicU64::new(1),
                stats,
            }),
        }
    }

    /// The scenario being simulated.
    pub fn scenario(&self) -> &Scenario {
        &self.inner.scenario
    }

    /// The shared channel's counters so far: transmissions, receptions, and receptions lost
    /// to random loss, collisions and half duplex, CSMA deferrals (see
    /// [`crate::scenario::ChannelModel`]).
    pub fn channel_stats(&self) -> ChannelStats {
        *self
            .inner
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to what happens from now on.
    pub fn events(&self) -> broadcast::Receiver<SimEvent> {
        self.inner.events.subscribe()
    }

    /// Runs an action now; returns once the simulation has applied it.
    pub async fn act(&self, action: Action) {
        let (done, wait) = oneshot::channel();
        if self.inner.cmd.send(Cmd::Act { action, done }).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Whether a station device has power (false while unplugged).
    pub fn is_powered(&self, station: u32) -> bool {
        self.inner
            .powered
            .get(&station)
            .is_some_and(|rx| *rx.borrow())
    }

    fn link(&self) -> Link {
        Link {
            cmd: self.inner.cmd.downgrade(),
            wake: self.inner.wake.clone(),
        }
    }

    fn new_conn(&self) -> ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn check_station(&self, station: u32) -> io::Result<()> {
        if !self.inner.powered.contains_key(&station) {
            return Err(not_a_station(station));
        }
        Ok(())
    }

    /// A serial-like client connection to a station device, in process: returns the client's
    /// end. A new `connect` to the same station closes the previous one (one host per serial
    /// line). Fails while the station is unplugged.
    pub fn connect(&self, station: u32, faults: Faults) -> io::Result<tokio::io::DuplexStream> {
        self.check_station(station)?;
        if !self.is_powered(station) {
            return Err(unplugged(station));
        }
        let (client, device) = tokio::io::duplex(64 * 1024);
        let conn = self.new_conn();
        tokio::spawn(frontend::serve(
            device,
            station,
            conn,
            FrontKind::Duplex,
            faults,
            self.link(),
        ));
        Ok(client)
    }

    /// Serves a station device's TCP API on `addr` (use port 0 for any); returns the bound
    /// address. One client at a time: a new connection force-closes the previous one. While
    /// the station is unplugged, connections are accepted and closed at once.
    pub async fn serve_tcp(
        &self,
        station: u32,
        addr: SocketAddr,
        faults: Faults,
    ) -> io::Result<SocketAddr> {
        self.check_station(station)?;
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Ok((sock, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Some(inner) = sim.upgrade() else { return };
                let me = Sim { inner };
                if !me.is_powered(station) {
                    tracing::info!(%peer, "station unplugged: closing TCP connection");
                    drop(sock);
                    continue;
                }
                let _ = sock.set_nodelay(true);
                tracing::info!(%peer, station = %NodeId(station), "TCP client connected");
                let conn = me.new_conn();
                tokio::spawn(frontend::serve(
                    sock,
                    station,
                    conn,
                    FrontKind::Tcp,
                    faults,
                    me.link(),
                ));
            }
        });
        Ok(local)
    }

    /// Serves a station device on a pseudo-terminal; returns the slave path, or `link` when
    /// given (a symlink to the slave, re-pointed when the PTY is re-created after an unplug).
    /// The slave is raw and held open by the simulator. An unplug closes the master (the
    /// client reads EOF/EIO), removes the link, and after the outage opens a new PTY.
    pub fn serve_pty(
        &self,
        station: u32,
        link: Option<PathBuf>,
        faults: Faults,
    ) -> io::Result<PathBuf> {
        self.check_station(station)?;
        let first = frontend::open_pty()?;
        let shown = match &link {
            Some(l) => {
                frontend::point_link(l, &first.path)?;
                l.clone()
            }
            None => first.path.clone(),
        };
        let sim = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut pty = Some(first);
            loop {
                let Some(inner) = sim.upgrade() else { break };
                let me = Sim { inner };
                let current = match pty.take() {
                    Some(p) => p,
                    None => {
                        let mut powered = me.inner.powered[&station].clone();
                        drop(me);
                        if powered.wait_for(|p| *p).await.is_err() {
                            break;
                        }
                        let Some(inner) = sim.upgrade() else { break };
                        let again = Sim { inner };
                        match frontend::open_pty() {
                            Ok(p) => {
                                if let Some(l) = &link {
                                    if let Err(e) = frontend::point_link(l, &p.path) {
                                        tracing::error!(%e, link = %l.display(), "cannot re-point PTY link");
                                    }
                                }
                                tracing::info!(path = %p.path.display(), "PTY re-created");
                                drop(again);
                                p
                            }
                            Err(e) => {
                                tracing::error!(%e, "cannot open a PTY; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        }
                    }
                };
                let Some(inner) = sim.upgrade() else { break };
                let me = Sim { inner };
                let conn = me.new_conn();
                let link_handle = me.link();
                drop(me);
                let frontend::Pty {
                    master,
                    slave,
                    path,
                } = current;
                frontend::serve(master, station, conn, FrontKind::Pty, faults, link_handle).await;
                drop(slave);
                tracing::info!(path = %path.display(), "PTY closed");
                if let Some(l) = &link {
                    frontend::remove_link(l);
                }
            }
            if let Some(l) = &link {
                frontend::remove_link(l);
            }
        });
        Ok(shown)
    }
}

async fn run(mut world: World, mut cmd_rx: mpsc::Receiver<Cmd>, wake: Arc<Notify>) {
    loop {
        world.flush(Instant::now());
        let deadline = world.next_deadline();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                match cmd {
                    Cmd::Attach { station, conn, kind, out } => {
                        world.attach(station, conn, kind, out, now);
                    }
                    Cmd::ToRadio { conn, msg } => world.to_radio(conn, msg, now),
                    Cmd::Detached { conn } => world.detach(conn, now),
                    Cmd::Act { action, done } => {
                        world.act(action, now);
                        let _ = done.send(());
                    }
                }
            }
            () = wake.notified() => {}
            () = sleep => world.on_timers(Instant::now()),
        }
    }
    tracing::debug!("simulation stopped");
}
