//! The gazetteer: offline place lookup for the stations' operators and ambulance coordination.
//! It answers "where is this position?" in words people read ("14 km NO de Sásabe, Sáric,
//! Sonora"), "where is the place a caller named?" (accent- and case-insensitive, narrowed by
//! municipality or state), and "which municipality is this position in?" (the municipality of
//! the nearest populated place: GeoNames has no boundaries, and the nearest town's municipality
//! is what a dispatcher would say).
//!
//! The data is GeoNames (CC BY 4.0, see `data/gazetteer/SOURCES.md`): 17,681 populated places
//! of Mexico and Panama, compiled into the binary and indexed once, on first use. Lookups are
//! pure: no I/O, no locks after the first call, exact answers (no approximate search).
//!
//! - `sphere`: great-circle distance, bearing, compass points, `lat,lon` parsing.
//! - `csv`: the data file's format.
//! - `kdtree`: the exact nearest-place search.
//! - `names`: the folded name index.

mod csv;
mod kdtree;
mod names;
mod sphere;

use std::fmt;
use std::sync::OnceLock;

pub use sphere::{bearing_deg, compass8, haversine_km, parse_lat_lon, EARTH_RADIUS_KM};

use kdtree::KdTree;
use names::{key, qualifier_matches, NameIndex};
use sphere::{is_english, unit_vector};

/// The gazetteer compiled into farod.
const BUILTIN_CSV: &str = include_str!("../data/gazetteer/municipalities.csv");

/// A populated place.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 code: `MX`, `PA`.
    pub country: &'static str,
    /// State (MX) or province or comarca (PA), ISO 3166-2 names: "Coahuila de Zaragoza".
    pub state: String,
    /// Municipality (MX) or district (PA), GeoNames admin-2 names; empty for 329 places
    /// GeoNames gives none (Mexico City itself, among them).
    pub municipality: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// GeoNames population; 0 where unknown.
    pub population: u32,
}

impl Place {
    /// "Sásabe, Sáric, Sonora": name, municipality (when known) and state.
    pub fn label(&self) -> String {
        let mut label = self.name.clone();
        for part in [&self.municipality, &self.state] {
            if !part.is_empty() {
                label.push_str(", ");
                label.push_str(part);
            }
        }
        label
    }
}

/// A place near a position, and where the position lies from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest<'a> {
    pub place: &'a Place,
    /// Great-circle distance from the place to the position.
    pub distance_km: f64,
    /// Initial bearing from the place to the position, 0..360.
    pub bearing_deg: f64,
}

impl Nearest<'_> {
    /// The position in words, relative to the place: "14 km NO de Sásabe, Sáric, Sonora",
    /// "3.2 km SE de ...", "en Sásabe, Sáric, Sonora" under 1 km. English (`en`) reads
    /// "14 km NW of ..." and "at ..."; any other language gets Spanish, the stations' language.
    pub fn describe(&self, lang: &str) -> String {
        let english = is_english(lang);
        let place = self.place.label();
        if self.distance_km < 1.0 {
            let at = if english { "at" } else { "en" };
            return format!("{at} {place}");
        }
        let km = format_km(self.distance_km);
        let direction = compass8(self.bearing_deg, lang);
        let of = if english { "of" } else { "de" };
        format!("{km} km {direction} {of} {place}")
    }
}

/// Kilometres as people say them: one decimal under 10 km, whole kilometres from there.
fn format_km(km: f64) -> String {
    // 9.96 would print as "10.0" with one decimal; from there on, whole numbers.
    if km < 9.95 {
        format!("{km:.1}")
    } else {
        format!("{km:.0}")
    }
}

/// A box of latitudes and longitudes, degrees, edges included; it does not cross the
/// antimeridian (`west <= east`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl BBox {
    /// The box, or why it is not one (one line): non-finite or out-of-range degrees, south
    /// above north, west east of east.
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<BBox, String> {
        for (name, v, max) in [
            ("west", west, 180.0),
            ("south", south, 90.0),
            ("east", east, 180.0),
            ("north", north, 90.0),
        ] {
            if !(-max..=max).contains(&v) {
                return Err(format!("{name} {v} is out of range (-{max}..{max})"));
            }
        }
        if south > north {
            return Err(format!("south {south} is north of north {north}"));
        }
        if west > east {
            return Err(format!(
                "west {west} is east of east {east} (a box across the antimeridian is not \
                 supported)"
            ));
        }
        Ok(BBox {
            west,
            south,
            east,
            north,
        })
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }
}

/// The places, their spatial index and their name index. Immutable once built.
pub struct Gazetteer {
    places: Vec<Place>,
    tree: KdTree,
    names: NameIndex,
    /// One place per distinct (country, state, municipality), its most populous, in that
    /// order; municipalities borrow their names from it.
    seats: Vec<u32>,
}

impl fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gazetteer")
            .field("places", &self.places.len())
            .field("municipalities", &self.seats.len())
            .finish_non_exhaustive()
    }
}

impl Gazetteer {
    /// The gazetteer compiled into farod, parsed and indexed on first use (a few ms).
    pub fn builtin() -> &'static Gazetteer {
        static BUILTIN: OnceLock<Gazetteer> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The unit tests parse the very same bytes, so this cannot fail in a build that
            // passed them.
            Gazetteer::from_csv(BUILTIN_CSV).expect("the built-in gazetteer parses")
        })
    }

    /// Parses and indexes a gazetteer CSV (`country,state,municipality,place,lat,lon,population`
    /// with that header row). The error is one line naming the line at fault.
    pub fn from_csv(text: &str) -> Result<Gazetteer, String> {
        let places = csv::parse(text)?;
        let tree = KdTree::build(&places);
        let names = NameIndex::build(&places);
        let seats = seats(&places);
        Ok(Gazetteer {
            places,
            tree,
            names,
            seats,
        })
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Every place, in file order.
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// The nearest place to a position by great-circle distance (ties: the more populous).
    /// None for an empty gazetteer or a position that is not one (non-finite, out of range).
    pub fn nearest(&self, lat: f64, lon: f64) -> Option<Nearest<'_>> {
        let q = query_vector(lat, lon)?;
        let rank = self.tree.nearest(q)?;
        Some(self.nearest_from(rank.place, lat, lon))
    }

    /// The `n` nearest places, nearest first (fewer if the gazetteer has fewer).
    pub fn nearest_n(&self, lat: f64, lon: f64, n: usize) -> Vec<Nearest<'_>> {
        let Some(q) = query_vector(lat, lon) else {
            return Vec::new();
        };
        self.tree
            .nearest_n(q, n)
            .into_iter()
            .map(|rank| self.nearest_from(rank.place, lat, lon))
            .collect()
    }

    fn nearest_from(&self, place: u32, lat: f64, lon: f64) -> Nearest<'_> {
        let place = &self.places[place as usize];
        Nearest {
            place,
            distance_km: haversine_km(place.lat, place.lon, lat, lon),
            bearing_deg: bearing_deg(place.lat, place.lon, lat, lon),
        }
    }

    /// The `limit` most populous places inside a box (edges included), most populous first
    /// (ties in file order). The box does not cross the antimeridian: `west <= east`. One scan
    /// of the places; only the matches are collected, as references.
    pub fn within(&self, bbox: BBox, limit: usize) -> Vec<&Place> {
        if limit == 0 {
            return Vec::new();
        }
        let mut found: Vec<(usize, &Place)> = self
            .places
            .iter()
            .enumerate()
            .filter(|(_, p)| bbox.contains(p.lat, p.lon))
            .collect();
        let order = |a: &(usize, &Place), b: &(usize, &Place)| {
            b.1.population.cmp(&a.1.population).then(a.0.cmp(&b.0))
        };
        if found.len() > limit {
            found.select_nth_unstable_by(limit - 1, order);
            found.truncate(limit);
        }
        found.sort_unstable_by(order);
        found.into_iter().map(|(_, p)| p).collect()
    }

    /// Places by name, accent- and case-insensitive ("sasabe" finds Sásabe): exact matches
    /// first, then names that begin with the query, each by population descending; if neither
    /// exists, names with a later word that begins with it ("matamoros": Heroica Matamoros).
    /// Trailing `, municipality` or `, state` parts narrow the search ("San José, Sonora",
    /// "San José, Altar, Sonora"); a comma that belongs to a place's own name still matches.
    pub fn find(&self, query: &str) -> Vec<&Place> {
        let parts: Vec<&str> = query.trim().trim_end_matches(',').split(',').collect();
        // The whole query as a name first, then with one, two... trailing parts as qualifiers
        // (a place's or a municipality's own name may hold a comma).
        for qualifiers in 0..parts.len() {
            let (name, tail) = parts.split_at(parts.len() - qualifiers);
            let tail: Vec<String> = tail.iter().map(|q| key(q)).collect();
            if tail.iter().any(String::is_empty) {
                continue;
            }
            let name = key(&name.join(","));
            let found = self.find_narrowed(&name, &tail);
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    fn find_narrowed(&self, name: &str, tail: &[String]) -> Vec<&Place> {
        let pick = |found: Vec<u32>| -> Vec<&Place> {
            found
                .into_iter()
                .map(|i| &self.places[i as usize])
                .filter(|p| tail_matches(tail, p))
                .collect()
        };
        let found = pick(self.names.exact_then_prefix(name, &self.places));
        if found.is_empty() {
            pick(self.names.word_prefix(name, &self.places))
        } else {
            found
        }
    }

    /// The place that stands in for a municipality's seat (GeoNames' feature codes are not in
    /// the data): the place named like the municipality, else its most populous place. Names compare folded; if none is equal, a unique
    /// municipality whose name begins with the given words ("Agua Prieta" for "Agua Prieta
    /// Municipality", "Chepigana" for "Distrito de Chepigana") is taken.
    pub fn municipality_seat(&self, municipality: &str, state: &str) -> Option<&Place> {
        let (m, s) = (key(municipality), key(state));
        if m.is_empty() {
            return None;
        }
        let seats = || self.seats.iter().map(|&i| &self.places[i as usize]);
        if let Some(seat) = seats().find(|p| key(&p.municipality) == m && key(&p.state) == s) {
            return Some(seat);
        }
        let mut loose = seats()
            .filter(|p| qualifier_matches(&m, &p.municipality) && qualifier_matches(&s, &p.state));
        match (loose.next(), loose.next()) {
            (Some(seat), None) => Some(seat),
            _ => None,
        }
    }

    /// The distinct (state, municipality) pairs, by country, state and municipality; places
    /// without a municipality are left out.
    pub fn municipalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.seats.iter().map(|&i| {
            let p = &self.places[i as usize];
            (p.state.as_str(), p.municipality.as_str())
        })
    }
}

/// Whether the qualifier parts after a name (keys) are the place's municipality, its state,
/// or its municipality then its state.
fn tail_matches(tail: &[String], place: &Place) -> bool {
    if tail.is_empty() {
        return true;
    }
    (0..=tail.len()).any(|split| {
        let (municipality, state) = tail.split_at(split);
        let fits = |parts: &[String], field: &str| {
            parts.is_empty() || qualifier_matches(&parts.join(", "), field)
        };
        fits(municipality, &place.municipality) && fits(state, &place.state)
    })
}

/// The query position as a unit vector, if it is a position.
fn query_vector(lat: f64, lon: f64) -> Option<[f64; 3]> {
    let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
    valid.then(|| unit_vector(lat, lon))
}

/// For each distinct (country, state, municipality) with a name, the place that stands in for
/// its seat: the place named like the municipality (Mexican municipalities mostly carry their
/// seat's name: the seat of Sáric is the town of Sáric, not Sásabe, its most populous place),
/// else the most populous place.
fn seats(places: &[Place]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..places.len() as u32)
        .filter(|&i| !places[i as usize].municipality.is_empty())
        .collect();
    let municipality = |i: u32| {
        let p = &places[i as usize];
        (p.country, p.state.as_str(), p.municipality.as_str())
    };
    let named_like = |i: u32| {
        let p = &places[i as usize];
        let m = key(&p.municipality);
        let m = m.strip_suffix(" municipality").unwrap_or(&m);
        key(&p.name) == m
    };
    order.sort_unstable_by_key(|&i| {
        (
            municipality(i),
            !named_like(i),
            std::cmp::Reverse(places[i as usize].population),
            i,
        )
    });
    order.dedup_by_key(|i| municipality(*i));
    order
}

#[cfg(test)]
mod tests;
