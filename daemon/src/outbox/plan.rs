//! The outbox planner, pure: given the claimed rows (most urgent first), each radio's state
//! and the time, which row goes next, on which radio, with which hop limit and channel, or
//! how long to wait. No I/O and no clock: the outbox task feeds it and carries out its
//! decision, and the unit tests below drive it directly.
//!
//! Rules, in order:
//! - **Radios.** A row goes out on one of the radios that heard its destination recently
//!   (its routes); on any radio that is up when none of those is; nowhere when no radio is up
//!   (the row is stranded and goes back to the database).
//! - **Pace.** A radio sends a text at most every [`Pace::text`] and a position, alert or
//!   telemetry packet at most every [`Pace::slow`] (the firmware's rate limits, with margin).
//! - **Queue slots.** A radio whose device reported no free transmit slot takes nothing until
//!   it reports one; with [`FEW_SLOTS`] or fewer it takes only urgent rows.
//! - **Airtime budget.** Faro's own time on air on a radio, over the last [`Budget::window`],
//!   stays under [`Budget::share`] of it, in tiers ([`cap`]): [`MARGIN`] of the share is left
//!   for what the device sends that Faro does not see (its retransmissions, ACKs, beacons);
//!   ambulance and patrol rows may use the rest; replies to P1 leave half of
//!   [`Budget::reserve`] free for those; everything else leaves the whole reserve. When the
//!   device's own figure of its hourly transmit share (`air_util_tx`, which counts its relays
//!   and retransmissions too) is at or above the share, only urgent rows go.
//! - **Order.** On each radio the most urgent row that would use it goes first, whatever the
//!   others' readiness; across radios, the row ready soonest.
//! - **Hops and channel.** A row to a node a radio heard directly goes with hop limit 0; one
//!   heard through relays with one hop more than its last packet took (at most
//!   [`MAX_HOPS`]); otherwise the device's own limit. The firmware reads hop limit 0 on a
//!   packet that wants an ACK as "no preference" and floods it with its default
//!   (`Router::send`), and a first direct message to a node floods anyway (the firmware
//!   learns a next hop only from an answer). So: an ambulance or patrol row to a node heard
//!   directly keeps its ACK and goes with hop limit 1, the least the firmware honours with
//!   one; any other row to such a node (replies to people, P1 included) goes once with hop
//!   limit 0 and no ACK: nobody relays it, and the desk sees it handed to the radio, not
//!   confirmed. A person who did not hear it writes again and is answered again. A surge's
//!   grouped acknowledgement (a broadcast in a reply class) goes with hop limit 0 too; other
//!   broadcasts with the device's own limit. It goes out on the channel its
//!   destination was last heard on by that radio, else on the row's own channel.

use crate::desk::{CLASS_P1, CLASS_P3};

/// Milliseconds on the outbox's own monotonic clock.
pub type Ms = u64;

/// The firmware's largest hop limit.
pub const MAX_HOPS: u32 = 7;
/// With this many free slots or fewer in a device's transmit queue, only urgent rows go.
pub const FEW_SLOTS: u32 = 2;
/// Part of the share left for what the device sends on its own.
pub const MARGIN: f64 = 0.05;

/// How long a radio that cannot take a row now (full device queue, spent hourly share) is
/// left before the planner looks again.
pub const RECHECK: Ms = 2_000;

/// The airtime budget of each radio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Faro's share of the channel, 0..=1 (default 0.25, the firmware's polite limit).
    pub share: f64,
    /// Part of the share that only urgent rows may use, 0..1.
    pub reserve: f64,
    /// The sliding window the share is measured over.
    pub window: Ms,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            share: 0.25,
            reserve: 0.2,
            window: 60_000,
        }
    }
}

/// The firmware's minimum gaps between two packets from its client, with margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Between two texts.
    pub text: Ms,
    /// Between two position/alert/waypoint/telemetry packets.
    pub slow: Ms,
}

/// What the planner knows of one radio.
#[derive(Debug, Clone, PartialEq)]
pub struct RadioState {
    /// Its name (as in [`Route::radio`](crate::store::Route)).
    pub name: String,
    /// Connected and handshaken.
    pub up: bool,
    /// Free slots in the device's transmit queue, from its last report.
    pub queue_free: Option<u32>,
    /// Earliest next text.
    pub next_text: Ms,
    /// Earliest next slow packet.
    pub next_slow: Ms,
    /// Faro's own transmissions on it: (start, time on air), oldest first.
    pub sent: Vec<(Ms, Ms)>,
    /// The device's hourly transmit share, percent.
    pub air_util_tx: Option<f32>,
}

impl RadioState {
    /// Faro's time on air within `(now - window, now]`.
    pub fn airtime_in(&self, now: Ms, window: Ms) -> Ms {
        self.sent
            .iter()
            .filter(|(at, _)| at + window > now)
            .map(|(_, d)| d)
            .sum()
    }

    /// Forgets transmissions that left every window.
    pub fn forget_before(&mut self, t: Ms) {
        self.sent.retain(|(at, _)| *at >= t);
    }
}

/// One claimed row as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// Outbox class (see `desk::CLASS_*`); lower is more urgent.
    pub class: u8,
    /// A text (paced by [`Pace::text`]), else a slow packet.
    pub text: bool,
    /// Its time on air.
    pub airtime: Ms,
    /// The radios that heard its destination recently, the latest first.
    pub routes: &'a [crate::store::Route],
    /// Its own channel.
    pub channel: u32,
    /// Sent to everyone (no hop limit of its own).
    pub broadcast: bool,
    /// Asks for an ACK.
    pub want_ack: bool,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send row `row` (an index into the rows given) on radio `radio` (an index).
    Send {
        /// Row index.
        row: usize,
        /// Radio index.
        radio: usize,
        /// Hop limit (None: the device's own).
        hop_limit: Option<u32>,
        /// Ask for an ACK (the row's wish, unless it goes with hop limit 0).
        want_ack: bool,
        /// Channel index.
        channel: u32,
    },
    /// Nothing can go before `until`.
    Wait {
        /// When to look again.
        until: Ms,
    },
    /// No radio is up: these rows (indices) go back to the database.
    Stranded(Vec<usize>),
    /// No rows.
    Idle,
}

/// Whether rows of `class` are urgent (may use the whole budget and the last queue slots).
pub fn urgent(class: u8) -> bool {
    class <= crate::desk::CLASS_URGENT_MAX
}

/// The earliest time at or after `now` when `airtime` more fits the budget on `r` for a row
/// of `class`.
pub fn budget_ready(r: &RadioState, class: u8, airtime: Ms, now: Ms, b: &Budget) -> Ms {
    let cap = (cap(class, b) * b.window as f64) as Ms;
    let mut used = r.airtime_in(now, b.window);
    if used + airtime <= cap {
        return now;
    }
    // Wait for old transmissions to leave the window, oldest first.
    for (at, d) in r.sent.iter().filter(|(at, _)| at + b.window > now) {
        used -= d;
        let t = at + b.window;
        if used + airtime <= cap {
            return t.max(now);
        }
    }
    // A row longer than the whole budget goes when the window is empty.
    r.sent
        .last()
        .map_or(now, |(at, _)| (at + b.window).max(now))
}

/// The part of each window rows of `class` may fill with Faro's transmissions.
pub fn cap(class: u8, b: &Budget) -> f64 {
    let tier = if class <= crate::desk::CLASS_PATROL {
        0.0
    } else if urgent(class) {
        b.reserve / 2.0
    } else {
        b.reserve
    };
    b.share * (1.0 - MARGIN - tier).max(0.0)
}

/// When `row` could go on radio `r`.
fn ready(r: &RadioState, row: &Row<'_>, now: Ms, b: &Budget) -> Ms {
    let pace = if row.text { r.next_text } else { r.next_slow }.max(now);
    let mut t = pace.max(budget_ready(r, row.class, row.airtime, now, b));
    let spent = r
        .air_util_tx
        .is_some_and(|u| f64::from(u) >= b.share * 100.0);
    let full = match r.queue_free {
        Some(0) => true,
        Some(n) => n <= FEW_SLOTS && !urgent(row.class),
        None => false,
    };
    if full || (spent && !urgent(row.class)) {
        t = t.max(now + RECHECK);
    }
    t
}

/// The hop limit and ACK wish for a row of `class` to a node last heard `hops` away (None:
/// the device's own limit).
pub fn hop_limit(hops: Option<u32>, class: u8, want_ack: bool) -> (Option<u32>, bool) {
    match hops {
        None => (None, want_ack),
        Some(0) if want_ack && class <= crate::desk::CLASS_PATROL => (Some(1), true),
        Some(0) => (Some(0), false),
        Some(h) => (Some((h + 1).min(MAX_HOPS)), want_ack),
    }
}

/// Decides what the outbox does at `now`. `rows` must be most urgent first (class, then
/// age).
pub fn plan(rows: &[Row<'_>], radios: &[RadioState], now: Ms, b: &Budget) -> Decision {
    if rows.is_empty() {
        return Decision::Idle;
    }
    let up: Vec<usize> = (0..radios.len()).filter(|&i| radios[i].up).collect();
    if up.is_empty() {
        return Decision::Stranded((0..rows.len()).collect());
    }
    // Each radio's head: the most urgent row that chose it, and when it can go.
    let mut head: Vec<Option<(usize, Ms)>> = vec![None; radios.len()];
    for (i, row) in rows.iter().enumerate() {
        let heard: Vec<usize> = row
            .routes
            .iter()
            .filter_map(|route| up.iter().copied().find(|&r| radios[r].name == route.radio))
            .collect();
        let candidates = if heard.is_empty() { &up } else { &heard };
        let best = candidates
            .iter()
            .copied()
            .filter(|&r| head[r].is_none())
            .map(|r| (r, ready(&radios[r], row, now, b)))
            .min_by_key(|&(r, t)| (t, candidates.iter().position(|&c| c == r)));
        if let Some((r, t)) = best {
            head[r] = Some((i, t));
        }
        if head
            .iter()
            .enumerate()
            .all(|(r, h)| h.is_some() || !radios[r].up)
        {
            break;
        }
    }
    let Some((radio, (row, at))) = head
        .iter()
        .enumerate()
        .filter_map(|(r, h)| h.map(|h| (r, h)))
        .min_by_key(|&(_, (row, t))| (t, row))
    else {
        return Decision::Wait {
            until: now + RECHECK,
        };
    };
    if at > now {
        return Decision::Wait { until: at };
    }
    let r = &rows[row];
    let route = r.routes.iter().find(|x| x.radio == radios[radio].name);
    let (hop_limit, want_ack) = if r.broadcast && (CLASS_P1..=CLASS_P3).contains(&r.class) {
        // A surge's grouped acknowledgement names senders the station heard: no flood.
        (Some(0), false)
    } else if r.broadcast {
        (None, r.want_ack)
    } else {
        hop_limit(route.and_then(|x| x.hops), r.class, r.want_ack)
    };
    Decision::Send {
        row,
        radio,
        hop_limit,
        want_ack,
        channel: route.and_then(|x| x.channel).unwrap_or(r.channel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::{CLASS_AMBULANCE, CLASS_BROADCAST, CLASS_PATROL};
    use crate::store::Route;

    fn radio(name: &str) -> RadioState {
        RadioState {
            name: name.into(),
            up: true,
            queue_free: Some(16),
            next_text: 0,
            next_slow: 0,
            sent: Vec::new(),
            air_util_tx: None,
        }
    }

    fn route(radio: &str, hops: Option<u32>, channel: Option<u32>) -> Route {
        Route {
            radio: radio.into(),
            hops,
            channel,
        }
    }

    fn row(class: u8, routes: &[Route]) -> Row<'_> {
        Row {
            class,
            text: true,
            airtime: 1_000,
            routes,
            channel: 0,
            broadcast: false,
            want_ack: false,
        }
    }

    const B: Budget = Budget {
        share: 0.25,
        reserve: 0.2,
        window: 60_000,
    };

    #[test]
    fn nothing_to_do_and_nowhere_to_send() {
        assert_eq!(plan(&[], &[radio("a")], 0, &B), Decision::Idle);
        let mut down = radio("a");
        down.up = false;
        let rows = [row(CLASS_P3, &[]), row(CLASS_P1, &[])];
        assert_eq!(plan(&rows, &[down], 0, &B), Decision::Stranded(vec![0, 1]));
    }

    #[test]
    fn the_most_urgent_row_goes_first_on_its_radio() {
        let rows = [row(CLASS_AMBULANCE, &[]), row(CLASS_P3, &[])];
        assert!(matches!(
            plan(&rows, &[radio("a")], 0, &B),
            Decision::Send {
                row: 0,
                radio: 0,
                ..
            }
        ));
        // Even when the radio is pacing, the urgent row waits for it rather than the other
        // going first.
        let mut a = radio("a");
        a.next_text = 2_000;
        assert_eq!(plan(&rows, &[a], 0, &B), Decision::Wait { until: 2_000 });
    }

    #[test]
    fn a_row_for_another_radio_is_not_held_back() {
        let only_b = [route("b", Some(1), None)];
        let rows = [row(CLASS_P1, &[]), row(CLASS_P3, &only_b)];
        let mut a = radio("a");
        a.next_text = 2_500;
        // Row 0 may go anywhere: it takes b, the radio free now; row 1, heard by b only,
        // waits behind it.
        let d = plan(&rows, &[a.clone(), radio("b")], 0, &B);
        assert!(
            matches!(
                d,
                Decision::Send {
                    row: 0,
                    radio: 1,
                    ..
                }
            ),
            "{d:?}"
        );
        // Row 1 heard by b only: with row 0 pinned to a, it goes on b at once.
        let only_a = [route("a", Some(0), None)];
        let rows = [row(CLASS_P1, &only_a), row(CLASS_P3, &only_b)];
        let d = plan(&rows, &[a, radio("b")], 0, &B);
        assert!(
            matches!(
                d,
                Decision::Send {
                    row: 1,
                    radio: 1,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn the_radios_that_heard_the_destination_are_preferred() {
        let heard = [route("b", Some(0), Some(2))];
        let mut r = row(CLASS_P3, &heard);
        r.want_ack = true;
        let rows = [r];
        let d = plan(&rows, &[radio("a"), radio("b")], 0, &B);
        assert_eq!(
            d,
            Decision::Send {
                row: 0,
                radio: 1,
                hop_limit: Some(0),
                want_ack: false,
                channel: 2
            }
        );
        // b is down: any radio that is up, with the device's own hop limit and the row's
        // channel.
        let mut b = radio("b");
        b.up = false;
        let d = plan(&rows, &[radio("a"), b], 0, &B);
        assert_eq!(
            d,
            Decision::Send {
                row: 0,
                radio: 0,
                hop_limit: None,
                want_ack: true,
                channel: 0
            }
        );
    }

    #[test]
    fn hops_with_one_of_margin() {
        assert_eq!(hop_limit(None, CLASS_P3, true), (None, true));
        // 0 with want_ack would flood with the device's default: ambulance and patrol rows
        // keep their ACK with one hop, replies to people go unacknowledged with none.
        assert_eq!(hop_limit(Some(0), CLASS_PATROL, true), (Some(1), true));
        assert_eq!(hop_limit(Some(0), CLASS_P1, true), (Some(0), false));
        assert_eq!(hop_limit(Some(0), CLASS_P3, true), (Some(0), false));
        assert_eq!(hop_limit(Some(1), CLASS_P3, true), (Some(2), true));
        assert_eq!(hop_limit(Some(7), CLASS_AMBULANCE, true), (Some(7), true));
        let heard = [route("a", Some(2), None)];
        let mut r = row(CLASS_BROADCAST, &heard);
        r.broadcast = true;
        assert!(matches!(
            plan(&[r], &[radio("a")], 0, &B),
            Decision::Send {
                hop_limit: None,
                ..
            }
        ));
        // A surge's grouped acknowledgement (a broadcast in a reply class) is not flooded.
        let mut r = row(CLASS_P3, &[]);
        r.broadcast = true;
        assert!(matches!(
            plan(&[r], &[radio("a")], 0, &B),
            Decision::Send {
                hop_limit: Some(0),
                want_ack: false,
                ..
            }
        ));
    }

    #[test]
    fn the_budget_keeps_a_reserve_for_the_urgent() {
        // Caps of a minute at 25 %: 14.25 s for ambulance and patrol rows, 12.75 s for P1
        // replies, 11.25 s for the rest.
        assert_eq!((cap(CLASS_AMBULANCE, &B) * 60_000.0).round(), 14_250.0);
        assert_eq!((cap(CLASS_P1, &B) * 60_000.0).round(), 12_750.0);
        assert_eq!((cap(CLASS_P3, &B) * 60_000.0).round(), 11_250.0);
        // 11 s are spent, the last at 40 s.
        let mut a = radio("a");
        a.sent = (0..11).map(|i| (31_000 + i * 900, 1_000)).collect();
        let now = 41_000;
        // A P3 row waits until the first leaves the window; a P1 row goes now.
        let rows = [row(CLASS_P3, &[])];
        assert_eq!(
            plan(&rows, std::slice::from_ref(&a), now, &B),
            Decision::Wait { until: 91_000 }
        );
        let rows = [row(CLASS_P1, &[]), row(CLASS_P3, &[])];
        assert!(matches!(
            plan(&rows, std::slice::from_ref(&a), now, &B),
            Decision::Send { row: 0, .. }
        ));
        // With 12.5 s spent, P1 waits too and an ambulance request still goes.
        a.sent.push((40_500, 1_500));
        assert!(matches!(
            plan(&rows, std::slice::from_ref(&a), now, &B),
            Decision::Wait { .. }
        ));
        assert!(matches!(
            plan(
                &[row(CLASS_AMBULANCE, &[])],
                std::slice::from_ref(&a),
                now,
                &B
            ),
            Decision::Send { .. }
        ));
        // Never more than the share in any window: fill the radio as fast as allowed.
        let mut r = radio("a");
        let mut t = 0;
        for _ in 0..500 {
            match plan(&[row(CLASS_PATROL, &[])], std::slice::from_ref(&r), t, &B) {
                Decision::Send { .. } => {
                    r.sent.push((t, 1_000));
                    r.next_text = t + 2_500;
                }
                Decision::Wait { until } => t = until,
                d => panic!("{d:?}"),
            }
            assert!(r.airtime_in(t, 60_000) <= 14_250);
        }
        assert!(r.sent.len() > 100, "it still sends: {}", r.sent.len());
    }

    #[test]
    fn a_full_device_queue_or_a_spent_hour_hold_all_but_the_urgent() {
        let mut a = radio("a");
        a.queue_free = Some(1);
        let rows = [row(CLASS_P3, &[])];
        assert_eq!(
            plan(&rows, std::slice::from_ref(&a), 0, &B),
            Decision::Wait { until: RECHECK }
        );
        assert!(matches!(
            plan(
                &[row(CLASS_AMBULANCE, &[])],
                std::slice::from_ref(&a),
                0,
                &B
            ),
            Decision::Send { .. }
        ));
        a.queue_free = Some(0);
        assert_eq!(
            plan(
                &[row(CLASS_AMBULANCE, &[])],
                std::slice::from_ref(&a),
                0,
                &B
            ),
            Decision::Wait { until: RECHECK }
        );
        let mut b = radio("b");
        b.air_util_tx = Some(26.0);
        assert_eq!(
            plan(&rows, std::slice::from_ref(&b), 0, &B),
            Decision::Wait { until: RECHECK }
        );
        assert!(matches!(
            plan(&[row(CLASS_P1, &[])], &[b], 0, &B),
            Decision::Send { .. }
        ));
    }
}
