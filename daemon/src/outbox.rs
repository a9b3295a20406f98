//! The outbox task: sends the durable outbox rows through the radios, paced within the
//! firmware's limits (a text at most every 2 s, position/alert/waypoint/telemetry at most every
//! 10 s per radio; we keep a margin), most urgent class first (distress replies, then patrol
//! confirmations, then the rest). It only ever sends rows that are already committed; their
//! delivery results (ACK / implicit ACK / NAK) go back to the store, which schedules retries
//! with backoff.
//!
//! Queue policy: rows wait in the database (bounded by disk, never dropped); this task holds
//! at most [`CLAIM_BATCH`] claimed rows in memory. When no radio is up, claimed rows go back
//! to the database to be retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use faro_proto::mesh::{mesh_packet::Priority, PortNum};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::radio::{LinkHandle, LinkState, Outgoing, SendError};
use crate::store::{OutboxItem, Store, StoreError};

/// Gap between two texts on one radio (firmware: 2 s, else NAK RATE_LIMIT_EXCEEDED).
pub const TEXT_GAP: Duration = Duration::from_millis(2_500);
/// Gap between two position/alert/waypoint/telemetry packets on one radio (firmware: 10 s,
/// else silently dropped).
pub const SLOW_GAP: Duration = Duration::from_millis(10_500);
/// Rows claimed at a time.
pub const CLAIM_BATCH: usize = 8;
/// How often the task looks for rows whose retry time came, without being woken.
pub const POLL: Duration = Duration::from_secs(1);

/// Wakes the outbox when new rows are committed.
#[derive(Debug, Clone, Default)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    /// New rows are waiting.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Starts the outbox task; it ends when the store stops.
pub fn spawn(
    store: Store,
    links: Vec<LinkHandle>,
    clock: Clock,
) -> (OutboxWaker, tokio::task::JoinHandle<()>) {
    let waker = OutboxWaker::default();
    let task = Outbox {
        store,
        links,
        clock,
        wake: waker.clone(),
        next: HashMap::new(),
    };
    (waker, tokio::spawn(task.run()))
}

struct Outbox {
    store: Store,
    links: Vec<LinkHandle>,
    clock: Clock,
    wake: OutboxWaker,
    /// Earliest next send per (radio, slow port?).
    next: HashMap<(String, bool), Instant>,
}

impl Outbox {
    async fn run(mut self) {
        let mut db_failures = 0u32;
        loop {
            let items = match self
                .store
                .outbox_claim(self.clock.now_ms(), CLAIM_BATCH)
                .await
            {
                Ok(items) => {
                    db_failures = 0;
                    items
                }
                Err(StoreError::Stopped) => return,
                Err(e) => {
                    db_failures += 1;
                    if db_failures == 1 {
                        tracing::error!(error = %e, "outbox cannot read the database; retrying");
                    }
                    tokio::time::sleep(POLL * db_failures.min(30)).await;
                    continue;
                }
            };
            if items.is_empty() {
                tokio::select! {
                    _ = self.wake.0.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            for item in items {
                if let Err(StoreError::Stopped) = self.send_one(item).await {
                    return;
                }
            }
        }
    }

    fn pick_link(&self, preferred: Option<&str>) -> Option<&LinkHandle> {
        let up = |l: &&LinkHandle| l.status().state == LinkState::Up;
        preferred
            .and_then(|name| self.links.iter().filter(up).find(|l| l.name() == name))
            .or_else(|| self.links.iter().find(up))
    }

    async fn send_one(&mut self, item: OutboxItem) -> Result<(), StoreError> {
        let Some(link) = self.pick_link(item.radio.as_deref()).cloned() else {
            return self
                .store
                .outbox_retry(item.row, "no radio up", self.clock.now_ms())
                .await;
        };
        let slow = item.portnum != PortNum::TextMessageApp as i32;
        let key = (link.name().to_string(), slow);
        if let Some(at) = self.next.get(&key) {
            tokio::time::sleep_until(*at).await;
        }
        let portnum = PortNum::try_from(item.portnum).unwrap_or(PortNum::TextMessageApp);
        let out = Outgoing {
            to: item.dest,
            channel: item.channel,
            portnum,
            payload: item.payload,
            want_ack: item.want_ack,
            priority: if item.class == 0 {
                Priority::High
            } else {
                Priority::Reliable
            },
            hop_limit: None,
        };
        let sent = link.send(out).await;
        self.next
            .insert(key, Instant::now() + if slow { SLOW_GAP } else { TEXT_GAP });
        let now = self.clock.now_ms();
        match sent {
            Ok(packet_id) => {
                self.store
                    .outbox_sent(item.row, link.name(), packet_id, now)
                    .await
            }
            Err(
                e @ (SendError::NotConnected
                | SendError::LinkStopped
                | SendError::TooManyPending(_)),
            ) => self.store.outbox_retry(item.row, &e.to_string(), now).await,
            Err(e) => {
                tracing::error!(row = item.row, error = %e, "outbox row refused by the radio link");
                self.store
                    .outbox_failed(item.row, &e.to_string(), now)
                    .await
            }
        }
    }
}
