//! What a patrol is told about the incidents it takes: the dispatch when it is assigned one
//! (id, priority, kind, people, flags, position and place, who reported), and a short update
//! when the position changes or the priority rises while it is assigned. Every text is in the
//! team's language and within one packet: the optional parts (who reported, flags, place) are
//! left out, in that order, before the id, priority or position would be cut.

use faro_proto::mesh::NodeId;

use super::{Desk, DeskResult, Effect, Facts, IncidentFacts, Placed, CLASS_PATROL};
use crate::catalog::Msg;
use crate::incident::{Flag, Kind, State};
use crate::lang::Lang;

/// Flags in a dispatch, at most this many bytes (the rest is left out).
pub const FLAGS_BUDGET: usize = 32;
/// A reporter's name in a dispatch (a tower's), at most this many bytes.
pub const REPORTER_BUDGET: usize = 24;
/// A moved position is pushed to the assigned patrol at most this often per node (a manual
/// position and a priority rise always are).
pub const UPDATE_INTERVAL_MS: i64 = 60_000;
/// A new position closer than this to the one the patrol has is not pushed.
const MOVED_KM: f64 = 0.1;

/// The short word for a kind, in the patrol's language.
pub fn kind_word(kind: Kind, lang: Lang) -> &'static str {
    use Kind::*;
    use Lang::*;
    match (kind, lang) {
        (Medical, Es) => "médico",
        (Medical, En) => "medical",
        (Medical, Fr) => "médical",
        (Medical, Ht) => "medikal",
        (Medical, Pt) => "médico",
        (Drowning, Es) => "ahogamiento",
        (Drowning, En) => "drowning",
        (Drowning, Fr) => "noyade",
        (Drowning, Ht) => "nwaye",
        (Drowning, Pt) => "afogamento",
        (Heat, Es) => "calor",
        (Heat, En) => "heat",
        (Heat, Fr) => "chaleur",
        (Heat, Ht) => "chalè",
        (Heat, Pt) => "calor",
        (Violence, Es) => "violencia",
        (Violence, En) => "violence",
        (Violence, Fr) => "violence",
        (Violence, Ht) => "vyolans",
        (Violence, Pt) => "violência",
        (Lost, Es) => "extraviado",
        (Lost, En) => "lost",
        (Lost, Fr) => "perdu",
        (Lost, Ht) => "pèdi",
        (Lost, Pt) => "perdido",
        (Distress, Es) => "auxilio",
        (Distress, En) => "distress",
        (Distress, Fr) => "détresse",
        (Distress, Ht) => "sekou",
        (Distress, Pt) => "socorro",
        (Info, Es) => "info",
        (Info, En) => "info",
        (Info, Fr) => "info",
        (Info, Ht) => "enfo",
        (Info, Pt) => "info",
    }
}

/// The word for a state in a patrol's confirmations and `ESTADO` list, in its language.
pub fn state_word(state: State, lang: Lang) -> &'static str {
    use Lang::*;
    use State::*;
    match (state, lang) {
        (New, Es) => "nuevo",
        (New, En) => "new",
        (New, Fr) => "nouveau",
        (New, Ht) => "nouvo",
        (New, Pt) => "novo",
        (Acknowledged, Es) => "recibido",
        (Acknowledged, En) => "acknowledged",
        (Acknowledged, Fr) => "reçu",
        (Acknowledged, Ht) => "resevwa",
        (Acknowledged, Pt) => "recebido",
        (Assigned, Es) => "asignado",
        (Assigned, En) => "assigned",
        (Assigned, Fr) => "assigné",
        (Assigned, Ht) => "asiyen",
        (Assigned, Pt) => "designado",
        (EnRoute, Es) => "en camino",
        (EnRoute, En) => "en route",
        (EnRoute, Fr) => "en route",
        (EnRoute, Ht) => "sou wout",
        (EnRoute, Pt) => "a caminho",
        (OnScene, Es) => "en sitio",
        (OnScene, En) => "on scene",
        (OnScene, Fr) => "sur place",
        (OnScene, Ht) => "sou plas",
        (OnScene, Pt) => "no local",
        (Closed, Es) => "cerrado",
        (Closed, En) => "closed",
        (Closed, Fr) => "clôturé",
        (Closed, Ht) => "fèmen",
        (Closed, Pt) => "encerrado",
    }
}

/// The word confirming a patrol's note, in its language.
pub fn note_word(lang: Lang) -> &'static str {
    match lang {
        Lang::Es | Lang::Pt => "nota",
        Lang::En | Lang::Fr => "note",
        Lang::Ht => "nòt",
    }
}

/// The short word for a flag, in the patrol's language.
pub fn flag_word(flag: Flag, lang: Lang) -> &'static str {
    use Flag::*;
    use Lang::*;
    match (flag, lang) {
        (UnaccompaniedMinor, Es) => "menor solo",
        (UnaccompaniedMinor, En) => "lone minor",
        (UnaccompaniedMinor, Fr) => "mineur seul",
        (UnaccompaniedMinor, Ht) => "timoun pou kont li",
        (UnaccompaniedMinor, Pt) => "menor só",
        (Children, Es) => "niños",
        (Children, En) => "children",
        (Children, Fr) => "enfants",
        (Children, Ht) => "timoun",
        (Children, Pt) => "crianças",
        (Disability, Es) => "discapacidad",
        (Disability, En) => "disability",
        (Disability, Fr) => "handicap",
        (Disability, Ht) => "andikap",
        (Disability, Pt) => "deficiência",
        (Pregnant, Es) => "embarazada",
        (Pregnant, En) => "pregnant",
        (Pregnant, Fr) => "enceinte",
        (Pregnant, Ht) => "ansent",
        (Pregnant, Pt) => "grávida",
        (Injured, Es) => "herido",
        (Injured, En) => "injured",
        (Injured, Fr) => "blessé",
        (Injured, Ht) => "blese",
        (Injured, Pt) => "ferido",
        (Unconscious, Es) => "inconsciente",
        (Unconscious, En) => "unconscious",
        (Unconscious, Fr) => "inconscient",
        (Unconscious, Ht) => "san konesans",
        (Unconscious, Pt) => "inconsciente",
        (NotBreathing, Es) => "no respira",
        (NotBreathing, En) => "not breathing",
        (NotBreathing, Fr) => "ne respire pas",
        (NotBreathing, Ht) => "pa respire",
        (NotBreathing, Pt) => "não respira",
        (Bleeding, Es) => "sangrado",
        (Bleeding, En) => "bleeding",
        (Bleeding, Fr) => "saigne",
        (Bleeding, Ht) => "senyen",
        (Bleeding, Pt) => "sangrando",
        (Dehydration, Es) => "deshidratación",
        (Dehydration, En) => "dehydrated",
        (Dehydration, Fr) => "déshydraté",
        (Dehydration, Ht) => "dezidrate",
        (Dehydration, Pt) => "desidratado",
        (Elderly, Es) => "mayor",
        (Elderly, En) => "elderly",
        (Elderly, Fr) => "âgé",
        (Elderly, Ht) => "granmoun",
        (Elderly, Pt) => "idoso",
        (Abandoned, Es) => "abandonados",
        (Abandoned, En) => "abandoned",
        (Abandoned, Fr) => "abandonnés",
        (Abandoned, Ht) => "abandone",
        (Abandoned, Pt) => "abandonados",
        (Trapped, Es) => "atrapados",
        (Trapped, En) => "trapped",
        (Trapped, Fr) => "coincés",
        (Trapped, Ht) => "bloke",
        (Trapped, Pt) => "presos",
        (BodyFound, Es) => "cuerpo",
        (BodyFound, En) => "body",
        (BodyFound, Fr) => "corps",
        (BodyFound, Ht) => "kadav",
        (BodyFound, Pt) => "corpo",
    }
}

/// The flags as the patrol reads them, most urgent first, within [`FLAGS_BUDGET`].
pub fn flags_text(flags: &[Flag], lang: Lang) -> String {
    let mut out = String::new();
    for f in flags {
        let w = flag_word(*f, lang);
        let sep = if out.is_empty() { "" } else { "/" };
        if out.len() + sep.len() + w.len() > FLAGS_BUDGET {
            break;
        }
        out.push_str(sep);
        out.push_str(w);
    }
    out
}

/// `14 km NO Sásabe` (or the place's name within a kilometre), empty when none is known.
pub fn place_text(lat: f64, lon: f64, lang: Lang) -> String {
    crate::geo::Gazetteer::builtin()
        .nearest(lat, lon)
        .map(|n| {
            if n.distance_km < 1.0 {
                n.place.name.clone()
            } else {
                format!(
                    "{} km {} {}",
                    n.distance_km.round(),
                    crate::geo::compass8(n.bearing_deg, lang.as_str()),
                    n.place.name
                )
            }
        })
        .unwrap_or_default()
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let end = (0..=max.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

impl<F: Facts + ?Sized> Desk<'_, F> {
    /// The team's language (Spanish for a name the configuration does not know).
    pub(super) fn team_lang(&self, team: &str) -> Lang {
        self.cfg
            .teams
            .iter()
            .find(|t| t.name == team)
            .map_or(Lang::Es, |t| t.language)
    }

    /// Who reported the incident, as a patrol reads it: a tower's name, `tel !5a5a0301`, or
    /// `manual`.
    fn reporter_text(&self, inc: &IncidentFacts) -> String {
        match inc.reporter {
            None => "manual".into(),
            Some(n) => match self.cfg.towers.get(&n) {
                Some(t) => cut(&t.name, REPORTER_BUDGET).to_string(),
                None => format!("tel {}", NodeId(n)),
            },
        }
    }

    /// The dispatch text for a patrol reading `lang`.
    pub(super) fn dispatch_text(&self, inc: &IncidentFacts, lang: Lang) -> String {
        let p = format!("P{}", inc.priority);
        let people = inc.people.map_or("?".to_string(), |n| n.to_string());
        let (la, lo, place) = match inc.position {
            Some(pos) => (
                format!("{:.5}", pos.lat),
                format!("{:.5}", pos.lon),
                place_text(pos.lat, pos.lon, lang),
            ),
            None => ("?".into(), "?".into(), String::new()),
        };
        let mut flags = flags_text(&inc.flags, lang);
        let mut reporter = self.reporter_text(inc);
        let mut place = place;
        loop {
            let args = [
                ("id", inc.id.as_str()),
                ("priority", &p),
                ("kind", kind_word(inc.kind, lang)),
                ("people", &people),
                ("flags", &flags),
                ("lat", &la),
                ("lon", &lo),
                ("place", &place),
                ("reporter", &reporter),
            ];
            // Too long for one packet: leave out an optional part rather than cut the text.
            if self.cfg.catalog.fits(lang, Msg::Dispatch, &args) {
                return self.render(lang, Msg::Dispatch, &args);
            }
            if !reporter.is_empty() {
                reporter.clear();
            } else if !flags.is_empty() {
                flags.clear();
            } else if !place.is_empty() {
                place.clear();
            } else {
                return self.render(lang, Msg::Dispatch, &args);
            }
        }
    }

    /// Tells the team just assigned `inc` what it is and where.
    pub(super) fn dispatch(&mut self, inc: &IncidentFacts, team: &str) {
        let Some(node) = self.team_node(team) else {
            return;
        };
        let lang = self.team_lang(team);
        let text = self.dispatch_text(inc, lang);
        self.out.effects.push(Effect::Queue(super::Message {
            incident: Some(inc.id.clone()),
            dest: node,
            text,
            class: CLASS_PATROL,
            max_attempts: None,
            msg: Some(Msg::Dispatch),
        }));
    }

    /// After an input that may have moved incident `id` or raised its priority: the team
    /// assigned to it hears the new picture, once per input. A priority rise or a position an
    /// operator set (`always`) is pushed at once; a reporter's new position only when it moved
    /// at least 100 m, and at most once a minute per patrol node.
    pub(super) fn push_update(
        &mut self,
        id: &str,
        always: bool,
        who: &str,
        via: &str,
    ) -> DeskResult<()> {
        let Some(inc) = self.facts.incident(id)? else {
            return Ok(());
        };
        let Some(team) = inc
            .status
            .team
            .clone()
            .filter(|_| inc.status.state.is_open())
        else {
            return Ok(());
        };
        let Some(node) = self.team_node(&team) else {
            return Ok(());
        };
        let mut now = inc.clone();
        let mut moved = false;
        for e in &self.out.effects {
            match e {
                Effect::Position { id: i, pos, .. } if i == id => {
                    now.position = Some(*pos);
                }
                Effect::Triage {
                    id: i,
                    kind,
                    priority,
                    people,
                    flags,
                    ..
                } if i == id => {
                    now.kind = *kind;
                    now.priority = *priority;
                    now.people = *people;
                    now.flags = flags.clone();
                }
                Effect::Queue(m)
                    if m.msg == Some(Msg::PatrolUpdate) && m.incident.as_deref() == Some(id) =>
                {
                    return Ok(());
                }
                _ => {}
            }
        }
        if let Some(p) = now.position {
            moved = inc.position.is_none_or(|old: Placed| {
                crate::geo::haversine_km(old.lat, old.lon, p.lat, p.lon) >= MOVED_KM
            });
        }
        let rose = now.priority < inc.priority;
        if !rose && !moved {
            return Ok(());
        }
        if !rose && !always {
            let since = self.at - UPDATE_INTERVAL_MS;
            if self.facts.said_since(node, Msg::PatrolUpdate, since)? {
                return Ok(());
            }
        }
        let lang = self.team_lang(&team);
        let p = format!("P{}", now.priority);
        let people = now.people.map_or("?".to_string(), |n| n.to_string());
        let (la, lo, place) = match now.position {
            Some(pos) => (
                format!("{:.5}", pos.lat),
                format!("{:.5}", pos.lon),
                place_text(pos.lat, pos.lon, lang),
            ),
            None => ("?".into(), "?".into(), String::new()),
        };
        let args = |place| {
            [
                ("id", id),
                ("priority", p.as_str()),
                ("kind", kind_word(now.kind, lang)),
                ("people", people.as_str()),
                ("lat", la.as_str()),
                ("lon", lo.as_str()),
                ("place", place),
            ]
        };
        let text = if self
            .cfg
            .catalog
            .fits(lang, Msg::PatrolUpdate, &args(&place))
        {
            self.render(lang, Msg::PatrolUpdate, &args(&place))
        } else {
            self.render(lang, Msg::PatrolUpdate, &args(""))
        };
        self.out.effects.push(Effect::Queue(super::Message {
            incident: Some(id.to_string()),
            dest: node,
            text,
            class: CLASS_PATROL,
            max_attempts: None,
            msg: Some(Msg::PatrolUpdate),
        }));
        let why = match (rose, moved) {
            (true, true) => "priority and position",
            (true, false) => "priority",
            _ => "position",
        };
        self.event(
            Some(id),
            who,
            via,
            format!("patrol {team} told the new {why}"),
        );
        Ok(())
    }
}
