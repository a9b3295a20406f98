//! The outbox task: sends the durable outbox rows through the radios, paced within the
//! firmware's limits (a text at most every 2 s, position/alert/waypoint/telemetry at most every
//! 10 s per radio; we keep a margin), most urgent class first (ambulance requests and cancels,
//! distress replies, patrol confirmations, then the rest). It only ever sends rows that are already committed; their
//! delivery results (ACK / implicit ACK / NAK) go back to the store, which schedules retries
//! with backoff.
//!
//! Radios: a row goes out on the radio free soonest among those that heard its destination in
//! the last half hour (a phone heard by two radios is answered by whichever is free), any
//! radio that is up if none of them is. A row waiting for one radio's pace never holds back a
//! row for another radio.
//!
//! Queue policy: rows wait in the database (bounded by disk, never dropped); this task holds
//! at most [`HELD_MAX`] claimed rows in memory. When no radio is up, claimed rows go back to
//! the database to be retried.

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
/// Claimed rows held in memory at most (they wait for their radio's pace there; a crash puts
/// them back to pending in the database).
pub const HELD_MAX: usize = 32;
/// Rows claimed at once past a full memory, when more urgent than the least urgent held.
const URGENT_MAX: usize = 4;
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
        held: Vec::new(),
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
    /// Claimed rows not sent yet, most urgent first.
    held: Vec<OutboxItem>,
}

impl Outbox {
    async fn run(mut self) {
        let mut db_failures = 0u32;
        loop {
            // Room for any row; when full, still for a row more urgent than the least urgent
            // held (an ambulance request never waits behind a memory full of replies): that
            // one goes back to the queue.
            let (room, below) = if self.held.len() < HELD_MAX {
                (HELD_MAX - self.held.len(), u8::MAX)
            } else {
                let worst = self.held.last().map_or(0, |i| i.class);
                (URGENT_MAX, worst)
            };
            if below > 0 {
                match self
                    .store
                    .outbox_claim_below(self.clock.now_ms(), room, below)
                    .await
                {
                    Ok(items) => {
                        db_failures = 0;
                        if !items.is_empty() {
                            self.held.extend(items);
                            self.held.sort_by_key(|i| (i.class, i.row));
                            let extra: Vec<i64> = self
                                .held
                                .drain(HELD_MAX.min(self.held.len())..)
                                .map(|i| i.row)
                                .collect();
                            if !extra.is_empty() {
                                if let Err(StoreError::Stopped) =
                                    self.store.outbox_release(extra).await
                                {
                                    return;
                                }
                            }
                        }
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
                }
            }
            if self.held.is_empty() {
                tokio::select! {
                    _ = self.wake.0.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            // The row that can go soonest, on the radio free soonest among those that heard
            // its destination; the most urgent first when several can go.
            let mut best: Option<(usize, LinkHandle, Instant)> = None;
            let mut stranded = Vec::new();
            for (i, item) in self.held.iter().enumerate() {
                match self.choose(item) {
                    None => stranded.push(i),
                    Some((link, at)) => {
                        if best.as_ref().is_none_or(|(_, _, b)| at < *b) {
                            best = Some((i, link, at));
                        }
                    }
                }
            }
            if !stranded.is_empty() {
                // No radio is up: these go back to the database and are retried later.
                let now = self.clock.now_ms();
                for i in stranded.into_iter().rev() {
                    let item = self.held.remove(i);
                    if let Err(StoreError::Stopped) =
                        self.store.outbox_retry(item.row, "no radio up", now).await
                    {
                        return;
                    }
                }
                continue;
            }
            let Some((i, link, at)) = best else { continue };
            if at > Instant::now() {
                // Every radio with work is pacing: wait for the first, unless new rows come
                // (one may be for an idle radio).
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = self.wake.0.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let item = self.held.remove(i);
            if let Err(StoreError::Stopped) = self.send_one(item, link).await {
                return;
            }
        }
    }

    /// The radio for `item` and when it may send: among the radios that are up and heard the
    /// destination recently, the one free soonest (the latest hearer on a tie); any radio that
    /// is up when none of those is. `None`: no radio is up.
    fn choose(&self, item: &OutboxItem) -> Option<(LinkHandle, Instant)> {
        let up: Vec<&LinkHandle> = self
            .links
            .iter()
            .filter(|l| l.status().state == LinkState::Up)
            .collect();
        let heard: Vec<&LinkHandle> = item
            .radios
            .iter()
            .filter_map(|name| up.iter().copied().find(|l| l.name() == name))
            .collect();
        let candidates = if heard.is_empty() { up } else { heard };
        let slow = item.portnum != PortNum::TextMessageApp as i32;
        let now = Instant::now();
        let mut best: Option<(&LinkHandle, Instant)> = None;
        for l in candidates {
            let at = self
                .next
                .get(&(l.name().to_string(), slow))
                .map_or(now, |t| (*t).max(now));
            if best.is_none_or(|(_, b)| at < b) {
                best = Some((l, at));
            }
        }
        best.map(|(l, at)| (l.clone(), at))
    }

    async fn send_one(&mut self, item: OutboxItem, link: LinkHandle) -> Result<(), StoreError> {
        let slow = item.portnum != PortNum::TextMessageApp as i32;
        let key = (link.name().to_string(), slow);
        let portnum = PortNum::try_from(item.portnum).unwrap_or(PortNum::TextMessageApp);
        let out = Outgoing {
            to: item.dest,
            channel: item.channel,
            portnum,
            payload: item.payload,
            want_ack: item.want_ack,
            // Ambulance traffic and replies to people in distress jump the radio's own queue.
            priority: if item.class <= crate::desk::CLASS_URGENT_MAX {
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
