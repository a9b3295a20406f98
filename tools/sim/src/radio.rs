//! The LoRa physics the simulator needs, as plain functions: great-circle distance, which node
//! hears which, plausible RSSI/SNR from distance, and the firmware's timing rules derived from
//! the modem (slot time, rebroadcast contention window, the CSMA contention window that grows
//! with channel utilisation, retransmission interval), the capture threshold of a collision,
//! and [`AirtimeLog`], a node's record of its own and the channel's airtime (the firmware's
//! `AirTime`).

use std::time::Duration;

use faro_proto::airtime::Preset;

/// Mean Earth radius, km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle (haversine) distance in km.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// A point on the unit sphere, for [`may_be_within`]: computed once per position, so range
/// checks over many node pairs need no trigonometry.
pub fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (p, l) = (lat.to_radians(), lon.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

/// The squared chord between two unit vectors at most `km` apart on the ground, with a margin
/// (0.01 % + 1 m) so that [`may_be_within`] never refuses a pair [`distance_km`] accepts.
pub fn chord2_bound(km: f64) -> f64 {
    if !km.is_finite() || km < 0.0 {
        return if km.is_nan() || km < 0.0 { -1.0 } else { 4.0 };
    }
    let angle = ((km * 1.0001 + 0.001) / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    chord * chord
}

/// A cheap, conservative prefilter for `distance_km(a, b) <= km` given the points' unit
/// vectors and `chord2_bound(km)`: false means certainly farther; true means check
/// [`distance_km`].
pub fn may_be_within(a: &[f64; 3], b: &[f64; 3], chord2_bound: f64) -> bool {
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    dx * dx + dy * dy + dz * dz <= chord2_bound
}

/// Link quality of one reception.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkQuality {
    /// dBm.
    pub rssi: i32,
    /// dB.
    pub snr: f32,
}

/// A log-distance model calibrated so that 100 m gives about -60 dBm and 15 km about -125 dBm
/// (near the LONG_FAST sensitivity), with the noise floor of a 250 kHz channel (-114 dBm).
pub fn link_quality(distance_km: f64) -> LinkQuality {
    let d = distance_km.max(0.01);
    let rssi = (-90.0 - 30.0 * d.log10()).clamp(-137.0, -20.0);
    let snr = (rssi + 114.0).clamp(-20.0, 12.0);
    LinkQuality {
        rssi: rssi.round() as i32,
        snr: ((snr * 4.0).round() / 4.0) as f32,
    }
}

/// Duration of one LoRa symbol.
pub fn symbol_time(preset: Preset) -> Duration {
    let m = preset.modem();
    Duration::from_secs_f64(f64::from(1u32 << m.sf) / f64::from(m.bw_hz))
}

/// The firmware's CSMA slot (`RadioInterface::slotTimeMsec`: 2.5 symbols plus propagation and
/// turnaround, about 0.2 ms + 1 ms).
pub fn slot_time(preset: Preset) -> Duration {
    symbol_time(preset).mul_f64(2.5) + Duration::from_micros(1200)
}

/// Contention window exponents of the firmware (`CWmin`, `CWmax`).
pub const CW_MIN: u32 = 3;
/// See [`CW_MIN`].
pub const CW_MAX: u32 = 8;
/// `PROCESSING_TIME_MSEC` of the firmware.
pub const PROCESSING_TIME: Duration = Duration::from_millis(4500);

/// Delay before a node rebroadcasts a flooded packet (`getTxDelayMsecWeighted`): nodes that
/// heard it weakly (far away) wait less, so the flood moves outward. `jitter` in `[0, 1)`.
pub fn rebroadcast_delay(preset: Preset, snr: f32, jitter: f64) -> Duration {
    // SNR -20..+12 dB maps onto a window of 2^CW_MIN .. 2^(CW_MIN+2) slots: strong = late.
    let weight = ((f64::from(snr) + 20.0) / 32.0).clamp(0.0, 1.0);
    let slots = 2.0 * f64::from(1u32 << CW_MIN) * weight + f64::from(1u32 << CW_MIN) * jitter;
    slot_time(preset).mul_f64(slots + 1.0)
}

/// The firmware's CSMA back-off (`RadioInterface::getTxDelayMsec`): a random number of slots
/// in `[0, 2^cw)`, where the window exponent `cw` grows linearly (integer `map`) from
/// [`CW_MIN`] at an idle channel to [`CW_MAX`] at 100 % channel utilisation.
/// `channel_utilization` in percent; `jitter` in `[0, 1)` picks the slot.
pub fn tx_delay(preset: Preset, channel_utilization: f32, jitter: f64) -> Duration {
    let util = channel_utilization.clamp(0.0, 100.0) as u32;
    let cw = CW_MIN + util * (CW_MAX - CW_MIN) / 100;
    let slots = (jitter.clamp(0.0, 1.0) * f64::from(1u32 << cw)).floor();
    let slots = slots.min(f64::from((1u32 << cw) - 1));
    slot_time(preset).mul_f64(slots)
}

/// Capture threshold, dB: of two overlapping receptions at one receiver, one whose RSSI is at
/// least this much above the other's is still decoded (LoRa's co-channel rejection is about
/// 6 dB at one spreading factor); otherwise both are lost.
pub const CAPTURE_DB: i32 = 6;

/// Periods of the channel-utilisation window (`CHANNEL_UTILIZATION_PERIODS` in the firmware's
/// `airtime.h`), each [`UTIL_PERIOD`] long: the utilisation covers the last minute.
pub const UTIL_PERIODS: usize = 6;
/// See [`UTIL_PERIODS`].
pub const UTIL_PERIOD: Duration = Duration::from_secs(10);
/// Periods of the transmit-utilisation window (`MINUTES_IN_HOUR`), a minute each: an hour.
pub const TX_PERIODS: usize = 60;
/// See [`TX_PERIODS`].
pub const TX_PERIOD: Duration = Duration::from_secs(60);

/// A node's airtime record, as the firmware's `AirTime` keeps it: every transmission the node
/// sends or hears counts toward the channel utilisation (ring of 6 × 10 s: the percentage of
/// the last minute the channel was busy), its own transmissions also toward `air_util_tx`
/// (ring of 60 × 1 min: the percentage of the last hour it sent). Like the firmware, a packet's
/// whole airtime is booked into the period where it is logged. Times are mesh time since the
/// start of the simulation.
#[derive(Debug, Clone, Default)]
pub struct AirtimeLog {
    /// `(period number + 1, airtime µs)`; 0 marks an unused slot.
    channel: [(u64, u64); UTIL_PERIODS],
    tx: Vec<(u64, u64)>,
}

fn book(ring: &mut [(u64, u64)], period: u64, micros: u64) {
    let len = ring.len() as u64;
    let slot = &mut ring[(period % len) as usize];
    if slot.0 != period + 1 {
        *slot = (period + 1, 0);
    }
    slot.1 += micros;
}

fn window_sum(ring: &[(u64, u64)], period: u64) -> u64 {
    let len = ring.len() as u64;
    ring.iter()
        .filter(|(p, _)| *p != 0 && *p - 1 <= period && *p - 1 + len > period)
        .map(|(_, us)| us)
        .sum()
}

impl AirtimeLog {
    /// Books `airtime` at mesh time `at`: heard (or sent, when `own`).
    pub fn log(&mut self, at: Duration, airtime: Duration, own: bool) {
        let us = airtime.as_micros() as u64;
        book(&mut self.channel, period(at, UTIL_PERIOD), us);
        if own {
            if self.tx.is_empty() {
                self.tx = vec![(0, 0); TX_PERIODS];
            }
            book(&mut self.tx, period(at, TX_PERIOD), us);
        }
    }

    /// Percent of the last minute the channel was busy (`channelUtilizationPercent`).
    pub fn channel_utilization(&self, at: Duration) -> f32 {
        let us = window_sum(&self.channel, period(at, UTIL_PERIOD));
        percent(us, UTIL_PERIOD * UTIL_PERIODS as u32)
    }

    /// Percent of the last hour this node transmitted (`utilizationTXPercent`).
    pub fn air_util_tx(&self, at: Duration) -> f32 {
        let us = window_sum(&self.tx, period(at, TX_PERIOD));
        percent(us, TX_PERIOD * TX_PERIODS as u32)
    }
}

fn period(at: Duration, len: Duration) -> u64 {
    (at.as_micros() / len.as_micros()) as u64
}

fn percent(us: u64, window: Duration) -> f32 {
    (us as f64 * 100.0 / window.as_micros() as f64) as f32
}

/// Time a node waits for an ACK before it retransmits a reliable packet
/// (`RadioInterface::getRetransmissionMsec` with an idle channel).
pub fn retransmission_interval(preset: Preset, data_len: usize) -> Duration {
    let airtime = preset.packet_time_on_air(data_len);
    let slots = (1u32 << CW_MIN) + 2 * (1u32 << CW_MAX) + (1u32 << ((CW_MAX + CW_MIN) / 2));
    airtime * 2 + slot_time(preset) * slots + PROCESSING_TIME
}

/// Truncates a coordinate (1e-7 degrees) to `precision` high bits and centres it in the cell,
/// as the firmware does for the channel's `position_precision` (`PositionModule.cpp`).
pub fn truncate_coordinate(value: i32, precision: u32) -> i32 {
    if precision >= 32 || precision == 0 {
        return value;
    }
    let mask = u32::MAX << (32 - precision);
    let truncated = (value as u32) & mask;
    truncated.wrapping_add(1u32 << (31 - precision)) as i32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn distance_sasabe_to_altar() {
        // Sásabe to Altar, both from the gazetteer: about 89 km.
        let d = distance_km(31.47463, -111.54485, 30.71627, -111.83804);
        assert!((d - 88.8).abs() < 1.0, "{d}");
        assert!(distance_km(31.0, -111.0, 31.0, -111.0) < 1e-9);
    }

    #[test]
    fn the_prefilter_never_refuses_a_pair_in_range() {
        // A grid of pairs around the default scenario's area and far away, ranges 30 m..90 km.
        let mut checked = 0;
        for i in 0..40 {
            for j in 0..40 {
                let (lat1, lon1) = (31.47463, -111.54485);
                let lat2 = lat1 + (f64::from(i) - 20.0) * 0.013;
                let lon2 = lon1 + (f64::from(j) - 20.0) * 0.017;
                let (a, b) = (unit_vector(lat1, lon1), unit_vector(lat2, lon2));
                let d = distance_km(lat1, lon1, lat2, lon2);
                for km in [0.03, 0.5, 1.0, 5.0, 8.0, 15.0, 90.0, d, d * 0.999_999] {
                    if d <= km {
                        assert!(may_be_within(&a, &b, chord2_bound(km)), "{d} {km}");
                        checked += 1;
                    }
                }
                // Far beyond the range with its margin: refused.
                if d > 0.1 {
                    assert!(!may_be_within(&a, &b, chord2_bound(d * 0.9)), "{d}");
                }
            }
        }
        assert!(checked > 1000);
        let p = unit_vector(10.0, 20.0);
        assert!(may_be_within(&p, &p, chord2_bound(0.0)));
        assert!(may_be_within(
            &p,
            &unit_vector(-10.0, -160.0),
            chord2_bound(f64::INFINITY)
        ));
    }

    #[test]
    fn link_quality_falls_with_distance() {
        let near = link_quality(0.1);
        let far = link_quality(15.0);
        assert!(near.rssi > far.rssi);
        assert!((-62..=-58).contains(&near.rssi), "{near:?}");
        assert!((-127..=-123).contains(&far.rssi), "{far:?}");
        assert!(far.snr < 0.0 && near.snr > 0.0);
    }

    #[test]
    fn long_fast_retransmission_is_tens_of_seconds() {
        let t = retransmission_interval(Preset::LongFast, 40);
        assert!(
            t > Duration::from_secs(10) && t < Duration::from_secs(30),
            "{t:?}"
        );
        let d = rebroadcast_delay(Preset::LongFast, 0.0, 0.5);
        assert!(
            d > Duration::from_millis(50) && d < Duration::from_secs(1),
            "{d:?}"
        );
        assert!(
            rebroadcast_delay(Preset::LongFast, -15.0, 0.0)
                < rebroadcast_delay(Preset::LongFast, 10.0, 0.0)
        );
    }

    #[test]
    fn the_contention_window_grows_with_utilisation() {
        let slot = slot_time(Preset::LongFast);
        assert_eq!(tx_delay(Preset::LongFast, 0.0, 0.0), Duration::ZERO);
        // Idle: at most 2^CW_MIN - 1 slots; saturated: up to 2^CW_MAX - 1.
        assert_eq!(tx_delay(Preset::LongFast, 0.0, 0.999_999), slot * 7);
        assert_eq!(tx_delay(Preset::LongFast, 100.0, 0.999_999), slot * 255);
        assert_eq!(tx_delay(Preset::LongFast, 40.0, 0.999_999), slot * 31);
    }

    #[test]
    fn airtime_windows_forget_the_past() {
        let mut log = AirtimeLog::default();
        let s = Duration::from_secs;
        log.log(s(5), s(6), false);
        log.log(s(15), s(3), true);
        assert!((log.channel_utilization(s(20)) - 15.0).abs() < 1e-3);
        assert!((log.air_util_tx(s(20)) - 3.0 / 36.0).abs() < 1e-4);
        // A minute on, the first 10 s period has left the window; 70 s on, both have.
        assert!((log.channel_utilization(s(61)) - 5.0).abs() < 1e-3);
        assert_eq!(log.channel_utilization(s(75)), 0.0);
        // The hour window still holds the transmission, until an hour later.
        assert!(log.air_util_tx(s(75)) > 0.0);
        assert_eq!(log.air_util_tx(s(3700)), 0.0);
    }

    #[test]
    fn truncation_centres_the_cell() {
        assert_eq!(truncate_coordinate(314_746_300, 32), 314_746_300);
        let t = truncate_coordinate(314_746_300, 13);
        assert_eq!(t as u32 & ((1 << 19) - 1), 1 << 18);
        assert!((t - 314_746_300).abs() < 1 << 19);
    }
}
