//! Geometry on a spherical Earth: great-circle distance, initial bearing, the eight compass
//! points people read, and `lat,lon` as operators type it. Pure functions, no state.

use faro_proto::mesh::valid_coordinates;

/// Mean Earth radius (IUGG R1), the radius GeoNames distances and `SOURCES.md` checks use.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two points in degrees (haversine formula, which stays
/// accurate for short distances, where the spherical law of cosines does not).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    // Rounding can push `a` a hair above 1 for antipodal points; asin would return NaN.
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Initial bearing (forward azimuth) from point 1 towards point 2, degrees clockwise from true
/// north in `0.0..360.0`. Coincident points give 0.
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    normalize_deg(y.atan2(x).to_degrees())
}

/// An angle in degrees brought into `0.0..360.0`.
fn normalize_deg(deg: f64) -> f64 {
    let d = deg.rem_euclid(360.0);
    // rem_euclid of a tiny negative number rounds to exactly 360.0.
    if d >= 360.0 {
        0.0
    } else {
        d
    }
}

const COMPASS_ES: [&str; 8] = ["N", "NE", "E", "SE", "S", "SO", "O", "NO"];
const COMPASS_EN: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];

/// The compass point (of eight, each 45° wide and centred on its direction) of a bearing in
/// degrees. English (`en`, `en-US`) gives N NE E SE S SW W NW; every other language gets the
/// Spanish letters N NE E SE S SO O NO, which French and Portuguese readers also use.
pub fn compass8(bearing: f64, lang: &str) -> &'static str {
    let sector = ((normalize_deg(bearing) + 22.5) / 45.0).floor() as usize % 8;
    if is_english(lang) {
        COMPASS_EN[sector]
    } else {
        COMPASS_ES[sector]
    }
}

/// Whether a language tag (`en`, `EN`, `en-US`, `en_GB`) is English.
pub(super) fn is_english(lang: &str) -> bool {
    lang.split(['-', '_'])
        .next()
        .is_some_and(|primary| primary.eq_ignore_ascii_case("en"))
}

/// Longest piece of bad input an error message quotes.
const MAX_QUOTED_CHARS: usize = 40;

/// Parses `lat,lon` in decimal degrees (`31.47463,-111.54485`, spaces allowed around either
/// number) and refuses what cannot be a position (out of range, not finite, or 0,0, as
/// [`valid_coordinates`] defines it). Errors are one line.
pub fn parse_lat_lon(s: &str) -> Result<(f64, f64), String> {
    let Some((lat, lon)) = s.split_once(',') else {
        return Err(format!(
            "expected latitude,longitude (e.g. 31.47463,-111.54485), got {:?}",
            quote(s)
        ));
    };
    let lat = parse_degrees(lat, "latitude")?;
    let lon = parse_degrees(lon, "longitude")?;
    if !valid_coordinates(lat, lon) {
        return Err(format!(
            "{lat},{lon} is not a position (latitude -90..90, longitude -180..180, not 0,0)"
        ));
    }
    Ok((lat, lon))
}

/// One decimal number of degrees; `inf` and `NaN`, which `f64::from_str` accepts, are refused.
fn parse_degrees(s: &str, what: &str) -> Result<f64, String> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{what} {:?} is not a number of degrees", quote(s))),
    }
}

/// A bad input as an error quotes it: its first few characters, on one line.
pub(super) fn quote(s: &str) -> String {
    s.chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The point as a unit vector (x towards 0°N 0°E, z towards the North Pole). The straight-line
/// (chord) distance between two such vectors grows with the great-circle distance, so a
/// nearest-neighbour search in 3-D is an exact nearest search on the sphere.
pub(super) fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (p, l) = (lat.to_radians(), lon.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_distances_match_the_sources_checks() {
        // SOURCES.md: Tijuana - Tecate 35.6 km, Tapachula - Tuxtla Gutiérrez 225.0 km.
        let tt = haversine_km(32.50270, -117.00371, 32.56600, -116.63187);
        assert!((tt - 35.6).abs() < 0.05, "{tt}");
        let tg = haversine_km(14.90541, -92.25891, 16.75357, -93.11578);
        assert!((tg - 225.0).abs() < 0.05, "{tg}");
        // A quarter of the equator.
        let q = haversine_km(0.0, 0.0, 0.0, 90.0);
        assert!((q - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        assert_eq!(haversine_km(10.0, 20.0, 10.0, 20.0), 0.0);
    }

    #[test]
    fn antipodes_do_not_give_nan() {
        // Near antipodes haversine is ill-conditioned (asin near 1): metres, not NaN.
        let d = haversine_km(31.5, -111.5, -31.5, 68.5);
        assert!(
            (d - EARTH_RADIUS_KM * std::f64::consts::PI).abs() < 0.01,
            "{d}"
        );
    }

    #[test]
    fn bearings_of_the_cardinal_directions() {
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(bearing_deg(0.0, 0.0, 1.0, 0.0), 0.0));
        assert!(near(bearing_deg(0.0, 0.0, 0.0, 1.0), 90.0));
        assert!(near(bearing_deg(0.0, 0.0, -1.0, 0.0), 180.0));
        assert!(near(bearing_deg(0.0, 0.0, 0.0, -1.0), 270.0));
        assert_eq!(bearing_deg(5.0, 5.0, 5.0, 5.0), 0.0);
    }

    #[test]
    fn compass_points_in_spanish_and_english() {
        let es: Vec<_> = (0..8).map(|i| compass8(i as f64 * 45.0, "es")).collect();
        assert_eq!(es, COMPASS_ES);
        let en: Vec<_> = (0..8).map(|i| compass8(i as f64 * 45.0, "en-US")).collect();
        assert_eq!(en, COMPASS_EN);
        assert_eq!(compass8(22.49, "es"), "N");
        assert_eq!(compass8(22.5, "es"), "NE");
        assert_eq!(compass8(337.5, "es"), "N");
        assert_eq!(compass8(337.49, "es"), "NO");
        assert_eq!(compass8(-45.0, "EN"), "NW");
        assert_eq!(compass8(720.0 + 270.0, "fr"), "O");
        assert_eq!(
            compass8(315.0, "english"),
            "NO",
            "only the tag `en` is English"
        );
    }

    #[test]
    fn parse_lat_lon_accepts_what_operators_type() {
        assert_eq!(
            parse_lat_lon("31.47463,-111.54485"),
            Ok((31.47463, -111.54485))
        );
        assert_eq!(
            parse_lat_lon("  31.47463 ,  -111.54485 "),
            Ok((31.47463, -111.54485))
        );
        assert_eq!(parse_lat_lon("8,-78"), Ok((8.0, -78.0)));
        assert_eq!(parse_lat_lon("-90,180"), Ok((-90.0, 180.0)));
    }

    #[test]
    fn parse_lat_lon_refuses_with_one_line() {
        for bad in [
            "",
            "31.47463",
            "31.47463 -111.54485",
            "31.4,-111.5,7",
            "abc,-111.5",
            "31.4,",
            "NaN,-111.5",
            "31.4,inf",
            "91,-111.5",
            "31.4,-180.5",
            "0,0",
            "31.4\n,-111.5x",
        ] {
            let err = parse_lat_lon(bad).expect_err(bad);
            assert!(!err.contains('\n'), "{err:?}");
            assert!(!err.is_empty());
        }
        assert_eq!(
            parse_lat_lon("91,-111.5").unwrap_err(),
            "91,-111.5 is not a position (latitude -90..90, longitude -180..180, not 0,0)"
        );
        assert_eq!(
            parse_lat_lon("abc,-111.5").unwrap_err(),
            "latitude \"abc\" is not a number of degrees"
        );
    }

    proptest! {
        #[test]
        fn parse_lat_lon_round_trips(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0) {
            prop_assume!(valid_coordinates(lat, lon));
            prop_assert_eq!(parse_lat_lon(&format!("{lat}, {lon}")), Ok((lat, lon)));
        }

        #[test]
        fn parse_lat_lon_never_panics(s in "\\PC{0,40}") {
            if let Err(e) = parse_lat_lon(&s) {
                prop_assert!(!e.contains('\n'));
            }
        }

        #[test]
        fn haversine_is_a_symmetric_metric(
            a in (-90.0f64..=90.0, -180.0f64..=180.0),
            b in (-90.0f64..=90.0, -180.0f64..=180.0),
            c in (-90.0f64..=90.0, -180.0f64..=180.0),
        ) {
            let ab = haversine_km(a.0, a.1, b.0, b.1);
            let ba = haversine_km(b.0, b.1, a.0, a.1);
            let ac = haversine_km(a.0, a.1, c.0, c.1);
            let cb = haversine_km(c.0, c.1, b.0, b.1);
            prop_assert!((0.0..=EARTH_RADIUS_KM * std::f64::consts::PI + 1e-9).contains(&ab));
            prop_assert!((ab - ba).abs() < 1e-9);
            prop_assert!(ab <= ac + cb + 1e-6, "triangle: {} > {} + {}", ab, ac, cb);
        }

        #[test]
        fn chord_order_is_great_circle_order(
            a in (-90.0f64..=90.0, -180.0f64..=180.0),
            b in (-90.0f64..=90.0, -180.0f64..=180.0),
        ) {
            // The k-d tree ranks by chord; the chord must give back the haversine distance.
            let (u, v) = (unit_vector(a.0, a.1), unit_vector(b.0, b.1));
            let chord = ((u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2)).sqrt();
            let arc = 2.0 * EARTH_RADIUS_KM * (chord / 2.0).min(1.0).asin();
            prop_assert!((arc - haversine_km(a.0, a.1, b.0, b.1)).abs() < 1e-6);
        }

        #[test]
        fn bearing_is_in_range_and_compass_is_periodic(
            a in (-89.0f64..=89.0, -180.0f64..=180.0),
            b in (-89.0f64..=89.0, -180.0f64..=180.0),
            turns in -3i32..3,
        ) {
            let brg = bearing_deg(a.0, a.1, b.0, b.1);
            prop_assert!((0.0..360.0).contains(&brg), "{}", brg);
            let turned = brg + 360.0 * f64::from(turns);
            // Away from sector edges, whole turns do not change the compass point.
            let edge = ((brg + 22.5) % 45.0).min(45.0 - (brg + 22.5) % 45.0);
            prop_assume!(edge > 1e-6);
            prop_assert_eq!(compass8(turned, "es"), compass8(brg, "es"));
        }
    }
}
