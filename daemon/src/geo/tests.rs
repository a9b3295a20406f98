//! The gazetteer against the real data (the built-in file) and against brute force.

use super::*;
use proptest::prelude::*;

/// The Grupos Beta station at Sásabe, Sonora (stations.csv).
const SASABE: (f64, f64) = (31.47463, -111.54485);

/// Bounding boxes of the two countries: (lat range, lon range).
const MX_BOX: ((f64, f64), (f64, f64)) = ((14.5, 32.7), (-118.4, -86.7));
const PA_BOX: ((f64, f64), (f64, f64)) = ((7.2, 9.7), (-83.1, -77.2));

fn g() -> &'static Gazetteer {
    Gazetteer::builtin()
}

/// The point `km` away from (lat, lon) on initial bearing `deg` (the direct geodesic problem
/// on the sphere), to place test points at a known distance and direction.
fn destination(lat: f64, lon: f64, deg: f64, km: f64) -> (f64, f64) {
    let (p1, l1, b) = (lat.to_radians(), lon.to_radians(), deg.to_radians());
    let d = km / EARTH_RADIUS_KM;
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * b.cos()).asin();
    let l2 = l1 + (b.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    (p2.to_degrees(), l2.to_degrees())
}

/// The nearest place by scanning every one: what the k-d tree must agree with.
fn brute_force(g: &Gazetteer, lat: f64, lon: f64) -> Vec<(f64, &Place)> {
    let mut all: Vec<(f64, &Place)> = g
        .places()
        .iter()
        .map(|p| (haversine_km(p.lat, p.lon, lat, lon), p))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all
}

/// Distances the tree and the scan computed for one answer agree to well under a millimetre.
const SAME_KM: f64 = 1e-7;

const HEADER_LINE: &str = "country,state,municipality,place,lat,lon,population\n";

// ---- the built-in data ----

#[test]
fn builtin_parses_every_place() {
    let g = g();
    assert_eq!(g.len(), 17_681);
    assert!(!g.is_empty());
    let count = |c: &str| g.places().iter().filter(|p| p.country == c).count();
    assert_eq!(count("MX"), 16_880);
    assert_eq!(count("PA"), 801);
    assert_eq!(
        format!("{g:?}"),
        format!(
            "Gazetteer {{ places: 17681, municipalities: {}, .. }}",
            g.municipalities().count()
        )
    );
}

#[test]
fn builtin_keeps_the_names_with_commas() {
    let names: Vec<&str> = g()
        .places()
        .iter()
        .filter(|p| p.name.contains(',') || p.municipality.contains(','))
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&"Barrio la Mesa, Rioyos Buenavista"));
    let found = g().find("Barrio la Mesa, Rioyos Buenavista");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].municipality, "San Felipe del Progreso");
    let tezoatlan = g().find("Tezoatlán de Segura y Luna");
    assert_eq!(
        tezoatlan[0].municipality,
        "Heroica Villa Tezoatlán de Segura y Luna, Cuna de la Independencia de Oaxaca"
    );
}

#[test]
fn every_station_is_its_own_nearest_place() {
    let stations = include_str!("../../data/gazetteer/stations.csv");
    for line in stations.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (lat, lon) = parse_lat_lon(&format!("{},{}", f[3], f[4])).unwrap();
        let n = g().nearest(lat, lon).unwrap();
        assert_eq!(n.distance_km, 0.0, "{line}");
        assert_eq!(
            (n.place.state.as_str(), n.place.municipality.as_str()),
            (f[1], f[2])
        );
        assert!(n.describe("es").starts_with("en "), "{}", n.describe("es"));
    }
}

// ---- nearest ----

#[test]
fn sasabe_station_is_at_sasabe() {
    let n = g().nearest(SASABE.0, SASABE.1).unwrap();
    assert_eq!(n.place.name, "Sásabe");
    assert_eq!(n.place.municipality, "Sáric");
    assert_eq!(n.place.state, "Sonora");
    assert!(n.distance_km < 1.0);
    assert_eq!(n.describe("es"), "en Sásabe, Sáric, Sonora");
    assert_eq!(n.describe("en"), "at Sásabe, Sáric, Sonora");
}

#[test]
fn a_point_14_km_northwest_of_sasabe() {
    let (lat, lon) = destination(SASABE.0, SASABE.1, 315.0, 14.0);
    let n = g().nearest(lat, lon).unwrap();
    assert_eq!(n.place.name, "Sásabe");
    assert!((n.distance_km - 14.0).abs() < 1e-6, "{}", n.distance_km);
    assert!((n.bearing_deg - 315.0).abs() < 0.1, "{}", n.bearing_deg);
    assert_eq!(n.describe("es"), "14 km NO de Sásabe, Sáric, Sonora");
    assert_eq!(n.describe("en"), "14 km NW of Sásabe, Sáric, Sonora");
}

#[test]
fn distances_under_10_km_have_one_decimal() {
    let (lat, lon) = destination(SASABE.0, SASABE.1, 135.0, 3.2);
    let n = g().nearest(lat, lon).unwrap();
    assert_eq!(n.describe("es-MX"), "3.2 km SE de Sásabe, Sáric, Sonora");
    assert_eq!(n.describe("EN"), "3.2 km SE of Sásabe, Sáric, Sonora");
    assert_eq!(n.describe("fr"), "3.2 km SE de Sásabe, Sáric, Sonora");
}

#[test]
fn describe_rounds_at_the_edges() {
    let place = &g().find("Sásabe")[0];
    let at = |km: f64, deg: f64| Nearest {
        place,
        distance_km: km,
        bearing_deg: deg,
    };
    assert_eq!(at(0.999, 90.0).describe("es"), "en Sásabe, Sáric, Sonora");
    assert_eq!(
        at(1.0, 90.0).describe("es"),
        "1.0 km E de Sásabe, Sáric, Sonora"
    );
    assert_eq!(
        at(9.94, 270.0).describe("es"),
        "9.9 km O de Sásabe, Sáric, Sonora"
    );
    assert_eq!(
        at(9.96, 270.0).describe("en"),
        "10 km W of Sásabe, Sáric, Sonora"
    );
    assert_eq!(
        at(137.6, 200.0).describe("es"),
        "138 km S de Sásabe, Sáric, Sonora"
    );
    assert_eq!(
        at(20.0, 240.0).describe("es"),
        "20 km SO de Sásabe, Sáric, Sonora"
    );
}

#[test]
fn a_place_without_municipality_is_described_by_state() {
    let mexico_city = g()
        .find("Mexico City")
        .into_iter()
        .find(|p| p.municipality.is_empty())
        .unwrap();
    assert_eq!(mexico_city.label(), "Mexico City, Ciudad de México");
}

#[test]
fn a_point_in_darien_finds_a_panamanian_place() {
    // Yaviza, Darién, at the end of the Pan-American Highway; a little off it.
    let n = g().nearest(8.12, -77.65).unwrap();
    assert_eq!(n.place.country, "PA");
    assert_eq!(n.place.state, "Darién");
    assert!(n.distance_km < 30.0, "{}", n.describe("es"));
}

#[test]
fn nearest_refuses_what_is_not_a_position() {
    assert!(g().nearest(f64::NAN, -111.0).is_none());
    assert!(g().nearest(31.0, f64::INFINITY).is_none());
    assert!(g().nearest(91.0, -111.0).is_none());
    assert!(g().nearest_n(31.0, -181.0, 3).is_empty());
    // Far from every place is still a position: the answer is just far.
    let n = g().nearest(-45.0, 100.0).unwrap();
    assert!(n.distance_km > 10_000.0);
}

#[test]
fn nearest_n_is_ordered_and_bounded() {
    let near = g().nearest_n(SASABE.0, SASABE.1, 5);
    assert_eq!(near.len(), 5);
    assert_eq!(near[0].place.name, "Sásabe");
    assert!(near
        .windows(2)
        .all(|w| w[0].distance_km <= w[1].distance_km));
    assert!(g().nearest_n(SASABE.0, SASABE.1, 0).is_empty());
    let tiny = Gazetteer::from_csv(&format!(
        "{HEADER_LINE}MX,Sonora,Sáric,Sásabe,31.47463,-111.54485,1295\n"
    ))
    .unwrap();
    assert_eq!(tiny.nearest_n(0.0, 0.0, 10).len(), 1);
}

#[test]
fn empty_gazetteer_answers_nothing() {
    let empty = Gazetteer::from_csv(HEADER_LINE).unwrap();
    assert!(empty.is_empty());
    assert!(empty.nearest(31.0, -111.0).is_none());
    assert!(empty.nearest_n(31.0, -111.0, 3).is_empty());
    assert!(empty.find("Sásabe").is_empty());
    assert_eq!(empty.municipalities().count(), 0);
}

#[test]
fn ties_go_to_the_more_populous_place() {
    let csv = format!(
        "{HEADER_LINE}MX,Sonora,Altar,Rancho,30.7,-111.8,10\n\
         MX,Sonora,Altar,Altar,30.7,-111.8,9000\n\
         MX,Sonora,Altar,Otro,30.7,-111.8,50\n"
    );
    let g = Gazetteer::from_csv(&csv).unwrap();
    assert_eq!(g.nearest(30.8, -111.9).unwrap().place.name, "Altar");
    let names: Vec<_> = g
        .nearest_n(30.8, -111.9, 3)
        .iter()
        .map(|n| n.place.name.as_str())
        .collect();
    assert_eq!(names, ["Altar", "Otro", "Rancho"]);
}

// ---- find ----

#[test]
fn find_ignores_accents_and_case() {
    for query in ["sasabe", "SÁSABE", "  Sasabe ", "Sásabe"] {
        let found = g().find(query);
        assert_eq!(found[0].name, "Sásabe", "{query}");
        assert_eq!(found[0].municipality, "Sáric");
    }
}

#[test]
fn san_jose_returns_many_by_population() {
    let found = g().find("San Jose");
    assert!(found.len() > 100, "{}", found.len());
    let exact = found
        .iter()
        .take_while(|p| key(&p.name) == "san jose")
        .count();
    assert!(exact >= 10, "{exact}");
    let by_population = |ps: &[&Place]| ps.windows(2).all(|w| w[0].population >= w[1].population);
    assert!(by_population(&found[..exact]));
    assert!(by_population(&found[exact..]));
    assert!(found[exact..]
        .iter()
        .all(|p| key(&p.name).starts_with("san jose") && key(&p.name) != "san jose"));
}

#[test]
fn a_trailing_state_or_municipality_narrows() {
    let sonora = g().find("San José, Sonora");
    assert!(!sonora.is_empty());
    assert!(sonora.iter().all(|p| p.state == "Sonora"));
    assert!(sonora.len() < g().find("San José").len());
    let coahuila = g().find("san jose, coahuila");
    assert!(!coahuila.is_empty());
    assert!(coahuila.iter().all(|p| p.state == "Coahuila de Zaragoza"));
    let sasabe = g().find("Sásabe, Sáric");
    assert_eq!(sasabe.len(), 1);
    let both = g().find("sasabe, saric, sonora");
    assert_eq!(both, sasabe);
    assert!(g().find("Sásabe, Chiapas").is_empty());
    assert_eq!(g().find("Sásabe,")[0].name, "Sásabe");
}

#[test]
fn a_panamanian_district_narrows_without_its_prefix() {
    let found = g().find("Garachiné, Chepigana");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, "Darién");
}

#[test]
fn prefixes_and_later_words_are_found() {
    let tux = g().find("tuxtla");
    assert_eq!(tux[0].name, "Tuxtla", "exact first");
    assert!(tux.iter().any(|p| p.name == "Tuxtla Chico"));
    let matamoros = g().find("Matamoros, Tamaulipas");
    assert!(matamoros.iter().all(|p| p.state == "Tamaulipas"));
    assert!(matamoros.iter().any(|p| p.name == "Heroica Matamoros"));
    assert!(g().find("").is_empty());
    assert!(g().find(" , ").is_empty());
    assert!(g().find("zzzz no such place").is_empty());
}

// ---- municipalities ----

#[test]
fn municipality_seats() {
    // Sáric's seat is the town of Sáric, though Sásabe is bigger.
    let saric = g().municipality_seat("saric", "SONORA").unwrap();
    assert_eq!(
        (saric.name.as_str(), saric.municipality.as_str()),
        ("Sáric", "Sáric")
    );
    assert!(g()
        .places()
        .iter()
        .any(|p| p.municipality == "Sáric" && p.population > saric.population));
    // Altar is also its own seat.
    let altar = g().municipality_seat("Altar", "Sonora").unwrap();
    assert_eq!(altar.name, "Altar");
    let tuxtla = g()
        .municipality_seat("Tuxtla Gutiérrez", "Chiapas")
        .unwrap();
    assert_eq!(tuxtla.name, "Tuxtla");
    let agua_prieta = g().municipality_seat("Agua Prieta", "Sonora").unwrap();
    assert_eq!(agua_prieta.municipality, "Agua Prieta Municipality");
    let chepigana = g().municipality_seat("Chepigana", "Darién").unwrap();
    assert_eq!(chepigana.municipality, "Distrito de Chepigana");
    assert!(g().municipality_seat("Sáric", "Chiapas").is_none());
    assert!(g().municipality_seat("", "Ciudad de México").is_none());
}

#[test]
fn municipalities_are_distinct_and_named() {
    let all: Vec<(&str, &str)> = g().municipalities().collect();
    let distinct: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len());
    assert!(all.iter().all(|(s, m)| !s.is_empty() && !m.is_empty()));
    assert!(all.contains(&("Sonora", "Sáric")));
    assert!(all.contains(&("Darién", "Distrito de Chepigana")));
    assert_eq!(all.len(), 2_475);
}

// ---- the CSV ----

#[test]
fn quoted_names_with_commas_and_quotes() {
    let csv = format!(
        "{HEADER_LINE}MX,Oaxaca,\"Heroica Villa, Cuna\",\"El \"\"Nuevo\"\", Barrio\",17.6,-97.8,695\n"
    );
    let g = Gazetteer::from_csv(&csv).unwrap();
    assert_eq!(g.places()[0].municipality, "Heroica Villa, Cuna");
    assert_eq!(g.places()[0].name, "El \"Nuevo\", Barrio");
    assert_eq!(g.find("el \"nuevo\", barrio").len(), 1);
    assert_eq!(g.find("El \"Nuevo\", Barrio, Heroica Villa, Cuna").len(), 1);
}

#[test]
fn bad_lines_give_one_line_errors_with_the_line_number() {
    let good = "MX,Sonora,Sáric,Sásabe,31.47463,-111.54485,1295\n";
    let cases = [
        ("", "gazetteer line 1: expected the header"),
        ("country,state\n", "gazetteer line 1: expected the header"),
        (
            "MX,Sonora,Sáric,Sásabe,31.4,-111.5\n",
            "gazetteer line 3: expected 7 fields, got 6",
        ),
        (
            "MX,Sonora,Sáric,Sásabe,31.4,-111.5,1,2\n",
            "gazetteer line 3: expected 7 fields, got 8",
        ),
        (
            "XX,Sonora,Sáric,Sásabe,31.4,-111.5,1\n",
            "gazetteer line 3: unknown country \"XX\"",
        ),
        (
            "MX,,Sáric,Sásabe,31.4,-111.5,1\n",
            "gazetteer line 3: empty state",
        ),
        (
            "MX,Sonora,Sáric,,31.4,-111.5,1\n",
            "gazetteer line 3: empty place name",
        ),
        (
            "MX,Sonora,Sáric,Sásabe,north,-111.5,1\n",
            "gazetteer line 3: latitude \"north\" is not a number",
        ),
        (
            "MX,Sonora,Sáric,Sásabe,31.4,NaN,1\n",
            "gazetteer line 3: longitude \"NaN\" is not a number",
        ),
        (
            "MX,Sonora,Sáric,Sásabe,95,-111.5,1\n",
            "gazetteer line 3: 95,-111.5 is not a position",
        ),
        (
            "MX,Sonora,Sáric,Sásabe,31.4,-111.5,-4\n",
            "gazetteer line 3: population \"-4\" is not a whole number",
        ),
        (
            "MX,Sonora,\"Sáric,Sásabe,31.4,-111.5,1\n",
            "gazetteer line 3: a quoted field is not closed",
        ),
    ];
    for (line, want) in cases {
        let text = if want.contains("line 1") {
            line.to_string()
        } else {
            format!("{HEADER_LINE}{good}{line}")
        };
        let err = Gazetteer::from_csv(&text).unwrap_err();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        assert!(!err.contains('\n'), "{err:?}");
    }
}

#[test]
fn blank_lines_are_skipped_and_counted() {
    let csv =
        format!("{HEADER_LINE}\nMX,Sonora,Sáric,Sásabe,31.47463,-111.54485,1295\n\nMX,Sonora,x\n");
    let err = Gazetteer::from_csv(&csv).unwrap_err();
    assert!(err.starts_with("gazetteer line 5: "), "{err}");
}

// ---- properties ----

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn in_box(b: ((f64, f64), (f64, f64))) -> impl Strategy<Value = (f64, f64)> {
    (b.0 .0..b.0 .1, b.1 .0..b.1 .1)
}

fn in_mx_or_pa() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![in_box(MX_BOX), in_box(PA_BOX)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn nearest_equals_brute_force((lat, lon) in in_mx_or_pa()) {
        let g = g();
        let n = g.nearest(lat, lon).unwrap();
        let (best_km, best) = brute_force(g, lat, lon)[0];
        // The same place, or one exactly as far (a floating-point tie).
        prop_assert!(
            std::ptr::eq(n.place, best) || (n.distance_km - best_km).abs() < SAME_KM,
            "tree {} at {} km, scan {} at {} km", n.place.name, n.distance_km, best.name, best_km
        );
        prop_assert!((n.distance_km - best_km).abs() < SAME_KM);
        prop_assert!((0.0..360.0).contains(&n.bearing_deg));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn nearest_n_equals_brute_force((lat, lon) in in_mx_or_pa(), n in 1usize..40) {
        let g = g();
        let tree = g.nearest_n(lat, lon, n);
        let scan = brute_force(g, lat, lon);
        prop_assert_eq!(tree.len(), n);
        for (t, (km, _)) in tree.iter().zip(&scan) {
            prop_assert!((t.distance_km - km).abs() < SAME_KM, "{} vs {}", t.distance_km, km);
        }
    }

    #[test]
    fn nearest_anywhere_on_earth(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0) {
        // Far from the data, across the antimeridian and at the poles the tree stays exact.
        let g = g();
        let n = g.nearest(lat, lon).unwrap();
        prop_assert!((n.distance_km - brute_force(g, lat, lon)[0].0).abs() < SAME_KM);
    }

    #[test]
    fn every_place_is_found_by_its_name(i in 0usize..17_681, upper in any::<bool>()) {
        let place = &g().places()[i];
        let query = if upper { place.name.to_uppercase() } else { fold(&place.name) };
        let found = g().find(&query);
        prop_assert!(found.iter().any(|p| std::ptr::eq(*p, place)), "{}", query);
        // Narrowed by its own state, it is still there.
        let narrowed = g().find(&format!("{query}, {}", place.state));
        prop_assert!(narrowed.iter().any(|p| std::ptr::eq(*p, place)), "{}", query);
    }

    #[test]
    fn csv_round_trips(
        rows in proptest::collection::vec(
            ("[A-Za-zÁÉÍÓÚáéíóúñÑ ,\"().-]{0,24}", "[A-Za-z ,\"]{1,12}[a-z]",
             -89.0f64..89.0, -179.0f64..179.0, any::<u32>()),
            0..20,
        )
    ) {
        let mut csv = HEADER_LINE.to_string();
        for (municipality, name, lat, lon, population) in &rows {
            csv.push_str(&format!(
                "PA,Darién,{},{},{lat},{lon},{population}\n",
                csv_field(municipality),
                csv_field(name)
            ));
        }
        let g = Gazetteer::from_csv(&csv).unwrap();
        prop_assert_eq!(g.len(), rows.len());
        for (p, (municipality, name, lat, lon, population)) in g.places().iter().zip(&rows) {
            prop_assert_eq!(&p.municipality, municipality);
            prop_assert_eq!(&p.name, name);
            prop_assert_eq!((p.lat, p.lon, p.population), (*lat, *lon, *population));
        }
    }

    #[test]
    fn from_csv_never_panics(body in "[A-Z0-9a-z,\".\\- \n]{0,200}") {
        if let Err(e) = Gazetteer::from_csv(&format!("{HEADER_LINE}{body}")) {
            prop_assert!(e.starts_with("gazetteer line "), "{}", e);
            prop_assert!(!e.contains('\n'));
        }
    }
}

use faro_proto::text::fold;

/// `within` by sorting every place in the box: what the selection must agree with.
fn within_by_sorting(g: &Gazetteer, bbox: BBox, limit: usize) -> Vec<&Place> {
    let mut all: Vec<&Place> = g
        .places()
        .iter()
        .filter(|p| bbox.contains(p.lat, p.lon))
        .collect();
    // A stable sort: ties stay in file order.
    all.sort_by_key(|p| std::cmp::Reverse(p.population));
    all.truncate(limit);
    all
}

#[test]
fn within_a_box_around_sasabe() {
    let bbox = BBox::new(
        SASABE.1 - 0.2,
        SASABE.0 - 0.2,
        SASABE.1 + 0.2,
        SASABE.0 + 0.2,
    )
    .unwrap();
    let found = g().within(bbox, 500);
    assert!(found.iter().any(|p| p.name == "Sásabe"), "{found:?}");
    assert!(found.iter().all(|p| bbox.contains(p.lat, p.lon)));
    assert!(found.windows(2).all(|w| w[0].population >= w[1].population));
    assert!(g().within(bbox, 0).is_empty());
    // A box that is a single point still holds the place exactly on it.
    let point = BBox::new(SASABE.1, SASABE.0, SASABE.1, SASABE.0).unwrap();
    assert_eq!(g().within(point, 10)[0].name, "Sásabe");
}

#[test]
fn boxes_that_are_not_refused_in_one_line() {
    for (w, s, e, n, want) in [
        (-112.0, 32.0, -111.0, 31.0, "north of north"),
        (-111.0, 31.0, -112.0, 32.0, "antimeridian"),
        (-181.0, 31.0, -111.0, 32.0, "west -181 is out of range"),
        (-112.0, -91.0, -111.0, 32.0, "south -91 is out of range"),
        (-112.0, 31.0, f64::NAN, 32.0, "east NaN is out of range"),
        (
            -112.0,
            31.0,
            -111.0,
            f64::INFINITY,
            "north inf is out of range",
        ),
    ] {
        let e = BBox::new(w, s, e, n).unwrap_err();
        assert!(e.contains(want), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

proptest! {
    #[test]
    fn within_agrees_with_sorting_everything(
        lat in 5.0f64..35.0,
        lon in -120.0f64..-75.0,
        dlat in 0.0f64..8.0,
        dlon in 0.0f64..8.0,
        limit in 0usize..600,
    ) {
        let bbox = BBox::new(lon, lat, lon + dlon, lat + dlat).unwrap();
        let got: Vec<*const Place> = g().within(bbox, limit).into_iter().map(|p| p as *const _).collect();
        let want: Vec<*const Place> =
            within_by_sorting(g(), bbox, limit).into_iter().map(|p| p as *const _).collect();
        prop_assert_eq!(got, want);
    }
}
