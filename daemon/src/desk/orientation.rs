//! Orientation on request: a question ("¿dónde hay agua?", "where am I", "DERECHOS") gets a
//! short answer from the station's own data, in the asker's language, within one packet: the
//! nearest registered water with distance and direction from the asker's last known position,
//! the nearest place of the gazetteer, or a reviewed text of the catalogue (rights, risks, what
//! to do while waiting, what one may ask). Each answer given is counted per day, topic and
//! language ([`Effect::Oriented`]); the same answer goes to the same node at most once per
//! `orientation_interval`, so that nobody can turn the station into an airtime amplifier.

use faro_proto::mesh::NodeId;

use super::{node_who, Desk, DeskResult, Effect, Facts, CLASS_BROADCAST};
use super::{Placed, Rx};
use crate::catalog::Msg;
use crate::geo::{bearing_deg, compass8, haversine_km, Gazetteer};
use crate::lang::Lang;
use crate::understand::question::{Question, Topic};

/// Water further than this is not worth naming to someone on foot, km.
pub const WATER_RADIUS_KM: f64 = 60.0;
/// The bytes the water points of one answer may take (`{points}`).
pub const WATER_POINTS_BUDGET: usize = 100;
/// Water points named in one answer.
const WATER_POINTS: usize = 2;

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// Answers a question from `node`.
    pub(super) fn orientation(&mut self, rx: &Rx, node: u32, q: Question) -> DeskResult<()> {
        let who = node_who(node);
        let lang = match q.language {
            Some(l) => l,
            None => self.facts.node_language(node)?.unwrap_or(Lang::Es),
        };
        let position = match q.topic {
            Topic::Water | Topic::Where => self.facts.last_known(node)?,
            _ => None,
        };
        let (msg, args) = answer(&self.cfg.water, q.topic, position, lang);
        let since = self.at - self.cfg.orientation_interval.as_millis() as i64;
        if self.facts.said_since(node, msg, since)? {
            let what = format!(
                "question ({}) from {}: already answered recently",
                q.topic,
                NodeId(node)
            );
            self.event(None, &who, &rx.radio, what);
            return Ok(());
        }
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.say(None, node, CLASS_BROADCAST, lang, msg, &args);
        self.out.effects.push(Effect::Oriented {
            topic: q.topic,
            language: lang,
        });
        let what = format!("question ({}) answered in {lang}", q.topic);
        self.event(None, &who, &rx.radio, what);
        Ok(())
    }
}

/// The catalogue message that answers `topic`, and its arguments.
fn answer(
    water: &[super::WaterPoint],
    topic: Topic,
    position: Option<Placed>,
    lang: Lang,
) -> (Msg, Vec<(&'static str, String)>) {
    match (topic, position) {
        (Topic::Water | Topic::Where, None) => (Msg::OrientNeedPosition, vec![]),
        (Topic::Water, Some(p)) => match water_points(water, p.lat, p.lon, lang) {
            Some(points) => (Msg::OrientWater, vec![("points", points)]),
            None => (
                Msg::OrientWaterNone,
                vec![("km", format!("{WATER_RADIUS_KM:.0}"))],
            ),
        },
        (Topic::Where, Some(p)) => match Gazetteer::builtin().nearest(p.lat, p.lon) {
            Some(n) if n.distance_km < 1.0 => (Msg::OrientWhereAt, vec![("place", place(n))]),
            Some(n) => {
                // The gazetteer's bearing is from the place to the position: where the asker
                // is, seen from the place.
                let args = vec![
                    ("km", km(n.distance_km)),
                    ("dir", compass8(n.bearing_deg, lang.as_str()).to_string()),
                    ("place", place(n)),
                ];
                (Msg::OrientWhere, args)
            }
            None => (Msg::OrientNeedPosition, vec![]),
        },
        (Topic::Rights, _) => (Msg::OrientRights, vec![]),
        (Topic::Risks, _) => (Msg::OrientRisks, vec![]),
        (Topic::Waiting, _) => (Msg::OrientWaiting, vec![]),
        (Topic::Menu, _) => (Msg::OrientMenu, vec![]),
    }
}

/// The nearest water points within [`WATER_RADIUS_KM`], nearest first: `name, 4.2 km NE` each
/// (the direction to walk), joined with `; `, within [`WATER_POINTS_BUDGET`] bytes. None when
/// there is none that near.
fn water_points(water: &[super::WaterPoint], lat: f64, lon: f64, lang: Lang) -> Option<String> {
    let mut near: Vec<(f64, &super::WaterPoint)> = water
        .iter()
        .map(|w| (haversine_km(lat, lon, w.lat, w.lon), w))
        .filter(|(d, _)| *d <= WATER_RADIUS_KM)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::new();
    for (d, w) in near.into_iter().take(WATER_POINTS) {
        let name = cut(&w.name, super::WATER_NAME_MAX);
        let one = if d < 0.1 {
            name.to_string()
        } else {
            let dir = compass8(bearing_deg(lat, lon, w.lat, w.lon), lang.as_str());
            format!("{name}, {} km {dir}", km(d))
        };
        let sep = if out.is_empty() { "" } else { "; " };
        if out.len() + sep.len() + one.len() > WATER_POINTS_BUDGET {
            break;
        }
        out.push_str(sep);
        out.push_str(&one);
    }
    (!out.is_empty()).then_some(out)
}

/// A place's name with its state, within 60 bytes.
fn place(n: crate::geo::Nearest<'_>) -> String {
    let label = format!("{}, {}", n.place.name, n.place.state);
    let label = if label.len() <= 60 {
        label
    } else {
        n.place.name.clone()
    };
    cut(&label, 60).to_string()
}

/// Kilometres as people say them: one decimal under 10 km.
fn km(d: f64) -> String {
    if d < 9.95 {
        format!("{d:.1}")
    } else {
        format!("{d:.0}")
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::WaterPoint;

    fn wp(name: &str, lat: f64, lon: f64) -> WaterPoint {
        WaterPoint {
            name: name.into(),
            lat,
            lon,
        }
    }

    #[test]
    fn names_the_nearest_water_first_with_the_direction_to_walk() {
        let water = [
            wp("Tanque Lejos", 31.60, -111.55),
            wp("Torre 7", 31.4387, -111.7976),
            wp("Tambo Norte", 31.50, -111.55),
        ];
        // From Sásabe (31.4746, -111.5449): Tambo Norte ~2.9 km N, Tanque Lejos ~14 km N.
        let s = water_points(&water, 31.4746, -111.5449, Lang::Es).unwrap();
        assert!(
            s.starts_with("Tambo Norte, 2.9 km N; Tanque Lejos, 14 km N"),
            "{s}"
        );
        assert!(!s.contains("Torre 7"), "two points at most: {s}");
        // Nothing within the radius.
        assert_eq!(water_points(&water, 20.0, -100.0, Lang::Es), None);
        // English directions.
        let s = water_points(&[wp("W", 31.4746, -111.60)], 31.4746, -111.5449, Lang::En);
        assert_eq!(s.as_deref(), Some("W, 5.2 km W"));
    }

    const PHONE: u32 = 0x5a5a_0301;
    const MIN: i64 = 60_000;

    fn ask(
        m: &mut crate::desk::model::Model,
        c: &super::super::StoreConfig,
        at: i64,
        text: &str,
    ) -> super::super::Decision {
        let q = crate::understand::question::question(text).expect("a question");
        let rx = Rx {
            radio: "r0".into(),
            from: PHONE,
            packet_id: 1,
            text: Some(text.into()),
            ..Default::default()
        };
        let s = crate::ingest::Signal::Question {
            node: PHONE,
            packet_id: 1,
            question: q,
        };
        m.run(c, at, |d| d.signal(&rx, s)).expect("question").1
    }

    fn answers(d: &super::super::Decision) -> Vec<(Msg, String)> {
        d.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Queue(m) => Some((m.msg.expect("a catalogue message"), m.text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn water_is_named_from_the_askers_last_position_and_counted() {
        let mut c = super::super::StoreConfig::new("SAS");
        c.water = vec![wp("Tambo Norte", 31.50, -111.55)];
        let mut m = crate::desk::model::Model::default();
        // No position yet: the answer asks for it, honestly.
        let d = ask(&mut m, &c, MIN, "donde hay agua?");
        assert_eq!(answers(&d)[0].0, Msg::OrientNeedPosition);
        m.nodes.insert(
            PHONE,
            Placed {
                lat: 31.4746,
                lon: -111.5449,
                precision_bits: 32,
                at: MIN,
            },
        );
        let d = ask(&mut m, &c, 2 * MIN, "water?");
        let (msg, text) = &answers(&d)[0];
        assert_eq!(*msg, Msg::OrientWater);
        assert_eq!(
            text,
            "Faro: water: Tambo Norte, 2.9 km N. If you cannot walk, reply SOS."
        );
        // The same answer to the same node waits for the interval: recorded, not sent.
        let d = ask(&mut m, &c, 3 * MIN, "agua");
        assert!(answers(&d).is_empty());
        assert!(m.events.last().unwrap().1.contains("already answered"));
        let d = ask(&mut m, &c, 13 * MIN, "agua");
        assert_eq!(answers(&d)[0].0, Msg::OrientWater);
        // Counted per day, topic and language (no node kept): three answers about water, one of
        // them asking for the position.
        let water: u32 = m
            .oriented
            .iter()
            .filter(|((_, topic, _), _)| *topic == "water")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(water, 3, "{:?}", m.oriented);
    }

    #[test]
    fn the_answer_is_in_the_askers_language_and_fits_one_packet() {
        let c = super::super::StoreConfig::new("SAS");
        let mut m = crate::desk::model::Model::default();
        for (i, (text, lang_word)) in [
            ("cuales son mis derechos", "derecho"),
            ("what are my rights", "right"),
            ("quais são meus direitos", "direito"),
            ("kisa dwa m yo", "dwa"),
            ("quels sont mes droits ?", "droit"),
        ]
        .into_iter()
        .enumerate()
        {
            let d = ask(&mut m, &c, i as i64 * 20 * MIN, text);
            let (msg, reply) = &answers(&d)[0];
            assert_eq!(*msg, Msg::OrientRights);
            assert!(reply.contains(lang_word), "{text:?}: {reply}");
            assert!(reply.len() <= faro_proto::mesh::PAYLOAD_BUDGET);
        }
    }

    #[test]
    fn where_am_i_names_the_nearest_place() {
        let c = super::super::StoreConfig::new("SAS");
        let mut m = crate::desk::model::Model::default();
        m.nodes.insert(
            PHONE,
            Placed {
                lat: 31.52,
                lon: -111.60,
                precision_bits: 32,
                at: 0,
            },
        );
        let d = ask(&mut m, &c, MIN, "donde estoy");
        let (msg, reply) = &answers(&d)[0];
        assert_eq!(*msg, Msg::OrientWhere);
        assert!(
            reply.starts_with("Faro: está a ") && reply.contains("Sonora"),
            "{reply}"
        );
    }

    #[test]
    fn long_names_stay_within_the_budget() {
        let long = "Ñ".repeat(40);
        let water = [wp(&long, 31.48, -111.55), wp(&long, 31.49, -111.55)];
        let s = water_points(&water, 31.4746, -111.5449, Lang::Es).unwrap();
        assert!(s.len() <= WATER_POINTS_BUDGET, "{} bytes", s.len());
        assert!(s.starts_with(&"Ñ".repeat(20)), "{s}");
    }
}
