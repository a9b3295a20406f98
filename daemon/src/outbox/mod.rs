//! The outbox task: sends the durable outbox rows through the radios, most urgent class first
//! (see `desk::CLASS_*`), as [`plan`] decides: which row, which radio, when, with which hop
//! limit and channel, within the firmware's rate limits (a text at most every 2 s, a
//! position/alert/waypoint/telemetry packet at most every 10 s per radio; we keep a margin),
//! the device's free transmit slots and Faro's airtime budget. It only ever sends rows that
//! are already committed, and checks each is still worth sending just before (a row the desk
//! dropped meanwhile is never transmitted); delivery results (ACK / implicit ACK / NAK) go
//! back to the store, which schedules retries with backoff.
//!
//! Queue policy: rows wait in the database (bounded by disk, never dropped for lack of room);
//! this task holds at most [`HELD_MAX`] claimed rows in memory, and when that is full still
//! claims rows more urgent than the least urgent held (which go back to the database). When
//! no radio is up, claimed rows go back to the database to be retried.

pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use faro_proto::mesh::{mesh_packet::Priority, PortNum};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::radio::{LinkHandle, LinkState, Outgoing, SendError};
use crate::store::{OutboxItem, Store, StoreError};
use plan::{Budget, Decision, Ms, Pace, RadioState, Row};

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
    budget: Budget,
) -> (OutboxWaker, tokio::task::JoinHandle<()>) {
    let waker = OutboxWaker::default();
    let radios = links
        .iter()
        .map(|l| RadioState {
            name: l.name().to_string(),
            up: false,
            queue_free: None,
            next_text: 0,
            next_slow: 0,
            sent: Vec::new(),
            air_util_tx: None,
        })
        .collect();
    let task = Outbox {
        store,
        links,
        clock,
        wake: waker.clone(),
        origin: Instant::now(),
        radios,
        budget,
        held: Vec::new(),
    };
    (waker, tokio::spawn(task.run()))
}

struct Outbox {
    store: Store,
    links: Vec<LinkHandle>,
    clock: Clock,
    wake: OutboxWaker,
    /// Zero of the planner's clock.
    origin: Instant,
    /// What the planner knows of each radio (same order as `links`).
    radios: Vec<RadioState>,
    budget: Budget,
    /// Claimed rows not sent yet, most urgent first.
    held: Vec<OutboxItem>,
}

/// The firmware's pace with our margin.
const PACE: Pace = Pace {
    text: TEXT_GAP.as_millis() as Ms,
    slow: SLOW_GAP.as_millis() as Ms,
};

/// The preset assumed for a radio that has not reported its own.
const DEFAULT_PRESET: faro_proto::airtime::Preset = faro_proto::airtime::Preset::LongFast;

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
            let now = self.ms(Instant::now());
            self.refresh(now);
            let rows: Vec<Row<'_>> = self
                .held
                .iter()
                .map(|i| Row {
                    class: i.class,
                    text: i.portnum == PortNum::TextMessageApp as i32,
                    airtime: self.airtime(None, i.payload.len()),
                    routes: &i.routes,
                    channel: i.channel,
                    broadcast: i.dest == faro_proto::mesh::BROADCAST,
                    want_ack: i.want_ack,
                })
                .collect();
            match plan::plan(&rows, &self.radios, now, &self.budget) {
                Decision::Idle => continue,
                Decision::Stranded(idx) => {
                    drop(rows);
                    // No radio is up: these go back to the database and are retried later.
                    let at = self.clock.now_ms();
                    for i in idx.into_iter().rev() {
                        let item = self.held.remove(i);
                        if let Err(StoreError::Stopped) =
                            self.store.outbox_retry(item.row, "no radio up", at).await
                        {
                            return;
                        }
                    }
                }
                Decision::Wait { until } => {
                    drop(rows);
                    // Every radio with work is pacing: wait for the first, unless new rows
                    // come (one may be for an idle radio) or a radio changes.
                    let at = self.origin + Duration::from_millis(until);
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.wake.0.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                Decision::Send {
                    row,
                    radio,
                    hop_limit,
                    want_ack,
                    channel,
                } => {
                    drop(rows);
                    let mut item = self.held.remove(row);
                    item.want_ack = want_ack;
                    if let Err(StoreError::Stopped) =
                        self.send_one(item, radio, hop_limit, channel).await
                    {
                        return;
                    }
                }
            }
        }
    }

    fn ms(&self, t: Instant) -> Ms {
        t.saturating_duration_since(self.origin).as_millis() as Ms
    }

    /// Time on air of a text of `len` bytes on radio `radio` (its preset, else LONG_FAST).
    fn airtime(&self, radio: Option<usize>, len: usize) -> Ms {
        let preset = radio
            .and_then(|r| self.links[r].status().preset)
            .unwrap_or(DEFAULT_PRESET);
        // Data header (port, flags) and the PKI overhead of a direct message, about 20 bytes.
        preset.packet_time_on_air(len + 20).as_millis() as Ms
    }

    /// Brings each radio's link state, queue and telemetry into the planner's view.
    fn refresh(&mut self, now: Ms) {
        let window = self.budget.window;
        for (r, l) in self.radios.iter_mut().zip(&self.links) {
            let st = l.status();
            r.up = st.state == LinkState::Up;
            r.queue_free = st.queue_free;
            r.air_util_tx = st.air_util_tx;
            r.forget_before(now.saturating_sub(window));
        }
    }

    async fn send_one(
        &mut self,
        item: OutboxItem,
        radio: usize,
        hop_limit: Option<u32>,
        channel: u32,
    ) -> Result<(), StoreError> {
        // The desk may have dropped it while it waited here (its reason ended).
        if !self.store.outbox_still_wanted(item.row).await? {
            return Ok(());
        }
        let link = self.links[radio].clone();
        tracing::debug!(
            row = item.row,
            class = item.class,
            radio = link.name(),
            ?hop_limit,
            channel,
            "outbox sends"
        );
        let slow = item.portnum != PortNum::TextMessageApp as i32;
        let portnum = PortNum::try_from(item.portnum).unwrap_or(PortNum::TextMessageApp);
        let airtime = self.airtime(Some(radio), item.payload.len());
        let want_ack = item.want_ack;
        let out = Outgoing {
            to: item.dest,
            channel,
            portnum,
            payload: item.payload,
            want_ack: item.want_ack,
            // Ambulance traffic, patrols and replies to P1 jump the radio's own queue.
            priority: if plan::urgent(item.class) {
                Priority::High
            } else {
                Priority::Reliable
            },
            hop_limit,
        };
        let sent = link.send(out).await;
        let now = self.ms(Instant::now());
        let r = &mut self.radios[radio];
        if slow {
            r.next_slow = now + PACE.slow;
        } else {
            r.next_text = now + PACE.text;
        }
        if sent.is_ok() {
            r.sent.push((now, airtime));
        }
        let now = self.clock.now_ms();
        match sent {
            Ok(packet_id) if want_ack => {
                self.store
                    .outbox_sent(item.row, link.name(), packet_id, now)
                    .await
            }
            Ok(packet_id) => {
                self.store
                    .outbox_sent_unacked(item.row, link.name(), packet_id, now)
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
