//! The LoRa physics the simulator needs, as plain functions: great-circle distance, which node
//! hears which, plausible RSSI/SNR from distance, and the firmware's timing rules derived from
//! the modem (slot time, rebroadcast contention window, retransmission interval).

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
    fn truncation_centres_the_cell() {
        assert_eq!(truncate_coordinate(314_746_300, 32), 314_746_300);
        let t = truncate_coordinate(314_746_300, 13);
        assert_eq!(t as u32 & ((1 << 19) - 1), 1 << 18);
        assert!((t - 314_746_300).abs() < 1 << 19);
    }
}
