//! The uplink to headquarters (issue 16): the station's changes, published at QoS 1 on an MQTT
//! broker from a durable outbox in the station's own database.
//!
//! - **Noted in the same transaction.** Triggers (migration 15) write a row in `uplink` for every
//!   change headquarters may see, in the transaction that makes it: what was committed will be
//!   published, and nothing is published that was not committed.
//! - **Published in order, acknowledged, resumed.** The [`run`] task reads the rows after the
//!   last one the broker acknowledged, publishes each as a [`message::Message`] at QoS 1 (at
//!   most [`WINDOW`] unacknowledged at a time), and records the highest sequence number below
//!   which everything was acknowledged (`uplink_state.acked`; those rows are deleted). After a
//!   broken connection, a restart or an outage of any length it starts again from there: a
//!   message may be delivered twice, never lost, and receivers apply by `(station, seq)`.
//! - **The station does not depend on it.** The task never blocks the station; without a broker
//!   changes wait in the table (bounded by what a station changes: a row per change, deleted
//!   once acknowledged).
//! - Each connection attempt uses a fresh client, so nothing queued for a dead connection can be
//!   confused with the new one; reconnects back off from 1 s to 60 s.
//! - **Feeds for others** go with each incident change, on their own topics: a CAP 1.2 alert
//!   on `<prefix>/<station>/cap` (the first alert when the change is the incident's opening,
//!   else an update or cancel referencing it; [`crate::feeds::cap`]) and a Cursor-on-Target
//!   event on `<prefix>/<station>/cot` when the incident has a position
//!   ([`crate::feeds::cot`]). A change counts as acknowledged once all its packets are.
//! - Not yet: TLS (`mqtts://`), client certificates, patrols in CoT (their positions are not
//!   in the uplink yet).

pub mod message;

/// How long a TAK client keeps showing an incident or a patrol after its last event.
pub const COT_STALE_SECS: u64 = 3600;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;

use crate::store::query::Reader;
use crate::store::Store;
use message::{IncidentState, Message, Payload, SCHEMA};

/// Messages published and not yet acknowledged, at most.
pub const WINDOW: usize = 64;
/// How often the table is looked at when nothing woke the task.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// `[uplink]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    /// The broker's host.
    pub host: String,
    /// Its port (1883 by default).
    pub port: u16,
    /// The MQTT client id (`faro-<station>` by default).
    pub client_id: Option<String>,
    /// User name, if the broker asks for one.
    pub username: Option<String>,
    /// Password (from the systemd credential `faro-mqtt-password`, never the configuration).
    pub password: Option<String>,
    /// Topic prefix (`faro/v1`).
    pub prefix: String,
}

impl UplinkConfig {
    /// Reads `mqtt://host[:port]`; refuses anything else in one line.
    pub fn from_url(url: &str) -> Result<UplinkConfig, String> {
        let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
            if url.starts_with("mqtts://") {
                format!("uplink.mqtt = {url:?}: TLS (mqtts://) is not supported yet; use mqtt:// on a trusted link or a local TLS tunnel")
            } else {
                format!("uplink.mqtt = {url:?}: expected mqtt://HOST[:PORT]")
            }
        })?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("uplink.mqtt = {url:?}: bad port {p:?}"))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (rest, 1883),
        };
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(format!(
                "uplink.mqtt = {url:?}: expected mqtt://HOST[:PORT] (credentials go in uplink.username and the faro-mqtt-password credential)"
            ));
        }
        Ok(UplinkConfig {
            host: host.to_string(),
            port,
            client_id: None,
            username: None,
            password: None,
            prefix: SCHEMA.to_string(),
        })
    }
}

/// What the station can read of the uplink's connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkView {
    /// Connected to the broker now.
    pub connected: bool,
    /// The last connection error, if the link is down.
    pub error: Option<String>,
}

/// Publishes the station's changes until `stop` turns true. Errors of the broker are retried
/// forever; only the database going away ends the task early.
pub async fn run(
    cfg: UplinkConfig,
    station: String,
    station_name: String,
    store: Store,
    view: watch::Sender<LinkView>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_MIN;
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| format!("faro-{}", station.to_ascii_lowercase()));
    loop {
        if *stop.borrow() {
            return;
        }
        let mut opts = MqttOptions::new(client_id.clone(), cfg.host.clone(), cfg.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        opts.set_inflight(WINDOW as u16);
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            opts.set_credentials(u.clone(), p.clone());
        } else if let Some(u) = &cfg.username {
            opts.set_credentials(u.clone(), "");
        }
        let (client, eventloop) = AsyncClient::new(opts, WINDOW * 2);
        let mut session = Session {
            client,
            store: store.clone(),
            station: station.clone(),
            station_name: station_name.clone(),
            prefix: cfg.prefix.clone(),
            queued: VecDeque::new(),
            by_pkid: BTreeMap::new(),
            sent: BTreeMap::new(),
            next: 0,
        };
        let ended = session.serve(eventloop, &view, &mut stop).await;
        let _ = session.client.disconnect().await;
        match ended {
            End::Stopped => return,
            End::Broken(e) => {
                let had_connected = view.borrow().connected;
                view.send_replace(LinkView {
                    connected: false,
                    error: Some(e.clone()),
                });
                if had_connected {
                    tracing::warn!(error = %e, "uplink: connection to the broker lost; changes wait in the database");
                    backoff = BACKOFF_MIN;
                } else {
                    tracing::debug!(error = %e, "uplink: broker not reachable");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

enum End {
    Stopped,
    Broken(String),
}

/// One connection's bookkeeping.
struct Session {
    client: AsyncClient,
    store: Store,
    station: String,
    station_name: String,
    prefix: String,
    /// Sequence numbers handed to the client, not yet seen going out (in order).
    queued: VecDeque<i64>,
    /// Packet id -> sequence number, for what went out and awaits its PUBACK.
    by_pkid: BTreeMap<u16, i64>,
    /// Every sequence number published on this connection and how many of its packets (the
    /// message, its CAP alert, its CoT event) await their PUBACK.
    sent: BTreeMap<i64, u8>,
    /// The highest sequence number handed to the client.
    next: i64,
}

impl Session {
    async fn serve(
        &mut self,
        mut eventloop: rumqttc::EventLoop,
        view: &watch::Sender<LinkView>,
        stop: &mut watch::Receiver<bool>,
    ) -> End {
        let mut live = self.store.subscribe();
        let mut poll = tokio::time::interval(IDLE_POLL);
        let mut connected = false;
        loop {
            tokio::select! {
                ev = eventloop.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        view.send_replace(LinkView { connected: true, error: None });
                        tracing::info!("uplink: connected to the broker");
                        // Everything after the last acknowledged change, again.
                        match self.acked().await {
                            Ok(a) => self.next = a,
                            Err(e) => return End::Broken(e),
                        }
                        if let Err(e) = self.fill().await {
                            return End::Broken(e);
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(seq) = self.queued.pop_front() {
                            self.by_pkid.insert(pkid, seq);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some(seq) = self.by_pkid.remove(&ack.pkid) {
                            if let Some(n) = self.sent.get_mut(&seq) {
                                *n = n.saturating_sub(1);
                            }
                            if let Err(e) = self.advance().await {
                                return End::Broken(e);
                            }
                            if let Err(e) = self.fill().await {
                                return End::Broken(e);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return End::Broken(e.to_string()),
                },
                r = live.recv(), if connected => {
                    if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return End::Stopped;
                    }
                    if let Err(e) = self.fill().await {
                        return End::Broken(e);
                    }
                }
                _ = poll.tick(), if connected => {
                    if let Err(e) = self.fill().await {
                        return End::Broken(e);
                    }
                }
                _ = stop.changed() => return End::Stopped,
            }
        }
    }

    async fn acked(&self) -> Result<i64, String> {
        let path = self.store.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            Reader::open(&path)
                .and_then(|r| r.uplink_status())
                .map(|s| s.acked)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// Hands the client what fits in the window.
    async fn fill(&mut self) -> Result<(), String> {
        let room = WINDOW.saturating_sub(self.sent.values().filter(|n| **n > 0).count());
        if room == 0 {
            return Ok(());
        }
        let path = self.store.path().to_path_buf();
        let after = self.next;
        let pending = tokio::task::spawn_blocking(move || {
            Reader::open(&path).and_then(|r| r.uplink_pending(after, room))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        for p in pending {
            let mut packets: Vec<(String, Vec<u8>)> = Vec::with_capacity(3);
            if let Payload::Incident(i) = &p.payload {
                if let Some(f) = facts(&self.station, &self.station_name, i, p.seq) {
                    let sender = format!("faro@{}", self.station.to_ascii_lowercase());
                    packets.push((
                        self.topic("cap"),
                        crate::feeds::cap::alert(&f, &sender).into_bytes(),
                    ));
                    if let Some(ev) = crate::feeds::cot::incident_event(&f, COT_STALE_SECS) {
                        packets.push((self.topic("cot"), ev.into_bytes()));
                    }
                }
            }
            let topic = self.topic(p.payload.topic());
            let msg = Message {
                schema: SCHEMA.to_string(),
                station: self.station.clone(),
                seq: p.seq,
                at: p.at,
                payload: p.payload,
            };
            let body = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
            packets.insert(0, (topic, body));
            self.sent.insert(p.seq, packets.len() as u8);
            for (topic, body) in packets {
                self.client
                    .try_publish(topic, QoS::AtLeastOnce, false, body)
                    .map_err(|e| format!("publish: {e}"))?;
                self.queued.push_back(p.seq);
            }
            self.next = p.seq;
        }
        Ok(())
    }

    fn topic(&self, what: &str) -> String {
        format!("{}/{}/{}", self.prefix, self.station, what)
    }

    /// Records the highest sequence number below which everything was acknowledged.
    async fn advance(&mut self) -> Result<(), String> {
        let mut upto = None;
        while let Some((&seq, &waiting)) = self.sent.first_key_value() {
            if waiting > 0 {
                break;
            }
            self.sent.remove(&seq);
            upto = Some(seq);
        }
        if let Some(seq) = upto {
            self.store
                .uplink_acked(seq)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What the CAP and CoT feeds say of an incident change numbered `seq`: the first alert
/// (version 0) when the change is the incident's opening (nothing changed since it was
/// created), else version `seq` (unique and growing). None when a stored word is not one
/// farod knows (it never happens with what farod writes; the JSON message still goes).
pub fn facts(
    station: &str,
    station_name: &str,
    i: &IncidentState,
    seq: i64,
) -> Option<crate::feeds::IncidentFacts> {
    let opening = i.state == "new" && i.updated_at == i.created_at;
    Some(crate::feeds::IncidentFacts {
        station_code: station.to_string(),
        station_name: station_name.to_string(),
        incident: i.id.parse().ok()?,
        state: i.state.parse().ok()?,
        priority: i.priority,
        kind: i.kind.parse().ok()?,
        people: i.people,
        flags: i
            .flags
            .iter()
            .map(|f| f.parse())
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
        position: i.lat.zip(i.lon),
        team: i.team.clone(),
        created_at: i.created_at,
        updated_at: i.updated_at,
        closed_at: i.closed_at,
        outcome: match &i.outcome {
            Some(o) => Some(o.parse().ok()?),
            None => None,
        },
        version: if opening {
            0
        } else {
            u32::try_from(seq).ok()?.max(1)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_are_read_or_refused_in_one_line() {
        let c = UplinkConfig::from_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1884));
        let c = UplinkConfig::from_url("mqtt://hq.example").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("hq.example", 1883));
        let c = UplinkConfig::from_url("mqtt://[::1]:1883").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 1883));
        for bad in [
            "tcp://x:1883",
            "mqtt://",
            "mqtt://x:0",
            "mqtt://x:port",
            "mqtt://user:pw@x",
            "mqtts://x:8883",
        ] {
            let e = UplinkConfig::from_url(bad).unwrap_err();
            assert!(e.starts_with("uplink.mqtt = "), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
