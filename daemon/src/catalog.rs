//! The replies people read on their phones, in each station language.
//!
//! One TOML file per language (`daemon/catalog/<lang>.toml`) maps a [`Msg`] key to a template
//! with `{name}` placeholders. A part of a template in square brackets is optional: it is left
//! out when any placeholder in it is given an empty value (`{lat},{lon}[ ({place})]` renders
//! `31.47460,-111.54490` for an empty place); `[` and `]` have no other meaning and do not nest.
//! The files are compiled in and checked when loaded: no unknown key, every placeholder a
//! message needs and no other, brackets balanced around at least one placeholder, and Spanish
//! complete, because any language lacking a message falls back to it. Templates hold no personal
//! data, and a rendered reply never exceeds the mesh payload budget.

use std::collections::HashMap;

use faro_proto::mesh::PAYLOAD_BUDGET;

use crate::lang::Lang;

/// The shipped catalogue files.
const FILES: [(Lang, &str); 5] = [
    (Lang::Es, include_str!("../catalog/es.toml")),
    (Lang::En, include_str!("../catalog/en.toml")),
    (Lang::Fr, include_str!("../catalog/fr.toml")),
    (Lang::Ht, include_str!("../catalog/ht.toml")),
    (Lang::Pt, include_str!("../catalog/pt.toml")),
];

/// The bytes of names every translation of [`Msg::GroupAck`] leaves room for.
pub const GROUP_NAMES_MIN: usize = 80;

/// The language every other one falls back to.
const FALLBACK: Lang = Lang::Es;

/// A reply Faro sends over the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Msg {
    /// To someone in distress: the incident is open and help is coming. `{id}`.
    DistressAck,
    /// To a patrol: its command was applied. `{id}`, `{state}`.
    CmdOk,
    /// To a patrol: its command did not parse. `{usage}`.
    CmdUsage,
    /// To a patrol: no incident has that id. `{id}`.
    CmdUnknownIncident,
    /// To a patrol: the command was refused (an illegal transition). `{id}`, `{reason}`.
    CmdRefused,
    /// To a patrol: `ESTADO`, and nothing is assigned to it.
    StatusNone,
    /// To a patrol: `ESTADO`, with its incidents. `{list}`.
    StatusList,
    /// To a patrol that sent `SOS`. `{id}`.
    PatrolSosAck,
    /// To a node that sent a command without being a registered patrol.
    Stranger,
    /// To a municipality: please send an ambulance. `{id}`, `{priority}` (`P1`), `{people}`
    /// (`2`, or `?` when unknown), `{lat}`, `{lon}` (5 decimals), `{place}` (short, at most 60
    /// bytes, e.g. `14 km NO Sásabe`; empty leaves out the optional part around it). Ends with
    /// the reply instructions: `OK <id> <min> | NO <id>`.
    AmbulanceRequest,
    /// To a municipality that has not answered yet. `{id}`.
    AmbulanceReminder,
    /// To a municipality: the ambulance is no longer needed. `{id}`.
    AmbulanceCancel,
    /// To a municipality that accepted. `{id}`, `{eta}` (minutes; empty leaves out the ETA part).
    AmbulanceThanks,
    /// To a municipality that reported its ambulance on scene. `{id}`.
    AmbulanceArrivedThanks,
    /// To a municipality whose reply did not parse. `{usage}`: `ReplyError::usage` (or
    /// `usage_en` for an English-speaking municipality).
    ReplyUsage,
    /// To a municipality whose reply names an unknown or closed incident. `{id}`.
    ReplyUnknownIncident,
    /// To a patrol: a municipality accepted. `{id}`, `{municipality}` (at most 60 bytes),
    /// `{eta}` (minutes; empty leaves out the ETA part).
    PatrolAmbAccepted,
    /// To a patrol: a municipality declined; Faro asks the next. `{id}`, `{municipality}`,
    /// `{next}` (municipality names, at most 60 bytes each).
    PatrolAmbDeclined,
    /// To a patrol: a municipality did not answer in time; Faro asks the next. `{id}`,
    /// `{municipality}`, `{next}`.
    PatrolAmbEscalated,
    /// To a patrol: no municipality left to ask; the station will phone. `{id}`.
    PatrolAmbExhausted,
    /// During a surge, one broadcast to many distress senders at once (P3/P4): they were heard
    /// and what to do meanwhile. `{names}`: their short names, comma-separated (at least
    /// [`GROUP_NAMES_MIN`] bytes of them fit in every language).
    GroupAck,
    /// A broadcast from the station's schedule (`[[broadcast]]`). `{text}`: the configured
    /// text, as written.
    Scheduled,
    /// To a patrol: the ambulance is on scene. `{id}`.
    PatrolAmbArrived,
    /// To a patrol: an ambulance was requested. `{id}`, `{municipality}`.
    PatrolAmbRequested,
    /// To a patrol: the ambulance request was called off (the incident was closed).
    /// `{id}`, `{municipality}`.
    PatrolAmbCancelled,
    /// To someone whose message was unclear: do they need help?
    AskHelp,
    /// To someone in distress: a team is assigned and on its way. `{id}`.
    TeamOnTheWay,
    /// Orientation: the nearest water. `{points}`: one or two, `name, 4.2 km NE` each.
    OrientWater,
    /// Orientation: no registered water within `{km}` km.
    OrientWaterNone,
    /// Orientation that needs the sender's position, which the station does not have.
    OrientNeedPosition,
    /// Orientation: where the sender is. `{km}`, `{dir}`, `{place}`.
    OrientWhere,
    /// Orientation: the sender is at `{place}` (within a kilometre).
    OrientWhereAt,
    /// Orientation: a migrant's rights.
    OrientRights,
    /// Orientation: the route's risks.
    OrientRisks,
    /// Orientation: what to do while help comes.
    OrientWaiting,
    /// Orientation: what one may ask.
    OrientMenu,
    /// To a patrol's or municipality's node: a message in its name was refused (not a direct
    /// message from its enrolled radio).
    Impersonated,
    /// To a patrol: it is assigned an incident. `{id}`, `{priority}` (`P1`), `{kind}` (a short
    /// word in the patrol's language), `{people}` (or `?`), `{flags}` (short words, at most
    /// 32 bytes; empty leaves out its part), `{lat}`, `{lon}` (5 decimals, `?` when unknown),
    /// `{place}` (at most 60 bytes, e.g. `14 km NO Sásabe`; empty leaves out its part),
    /// `{reporter}` (`tel !5a5a0301`, a tower's name, `manual`; at most 24 bytes; empty leaves
    /// out its part).
    Dispatch,
    /// To a patrol: its incident moved or became more urgent. `{id}`, `{priority}`, `{kind}`,
    /// `{people}`, `{lat}`, `{lon}`, `{place}` (as in [`Msg::Dispatch`]).
    PatrolUpdate,
    /// To a patrol: a search task for a location request. `{id}` (`LOC-5`), `{people}` (how
    /// many are sought), `{date}` (last seen, `28/11`; empty leaves out its part), `{place}`
    /// (where they were last seen: the name the requester gave or a gazetteer description, at
    /// most 60 bytes), `{km}` (the search radius). Never a name or a description of anyone.
    /// Ends with the two answers Faro understands: `{id} HALLADOS <n>` and `{id} NADA`.
    LocateTask,
    /// To a patrol that reported people found on its search. `{id}`, `{people}` (the number
    /// recorded).
    LocateFound,
    /// To a patrol that reported nothing found on its search. `{id}`.
    LocateNothing,
    /// To a patrol whose search task ended (closed, or given to another team). `{id}`.
    LocateDone,
    /// To a patrol that reported on a search its team was not given. `{id}`.
    LocateNotTasked,
}

impl Msg {
    /// Every message.
    pub const ALL: [Msg; 44] = [
        Msg::DistressAck,
        Msg::GroupAck,
        Msg::Scheduled,
        Msg::CmdOk,
        Msg::CmdUsage,
        Msg::CmdUnknownIncident,
        Msg::CmdRefused,
        Msg::StatusNone,
        Msg::StatusList,
        Msg::PatrolSosAck,
        Msg::Stranger,
        Msg::AmbulanceRequest,
        Msg::AmbulanceReminder,
        Msg::AmbulanceCancel,
        Msg::AmbulanceThanks,
        Msg::AmbulanceArrivedThanks,
        Msg::ReplyUsage,
        Msg::ReplyUnknownIncident,
        Msg::PatrolAmbAccepted,
        Msg::PatrolAmbDeclined,
        Msg::PatrolAmbEscalated,
        Msg::PatrolAmbExhausted,
        Msg::PatrolAmbArrived,
        Msg::PatrolAmbRequested,
        Msg::PatrolAmbCancelled,
        Msg::AskHelp,
        Msg::TeamOnTheWay,
        Msg::OrientWater,
        Msg::OrientWaterNone,
        Msg::OrientNeedPosition,
        Msg::OrientWhere,
        Msg::OrientWhereAt,
        Msg::OrientRights,
        Msg::OrientRisks,
        Msg::OrientWaiting,
        Msg::OrientMenu,
        Msg::Impersonated,
        Msg::Dispatch,
        Msg::PatrolUpdate,
        Msg::LocateTask,
        Msg::LocateFound,
        Msg::LocateNothing,
        Msg::LocateDone,
        Msg::LocateNotTasked,
    ];

    /// The key in the catalogue files (`distress_ack`).
    pub fn as_str(self) -> &'static str {
        match self {
            Msg::DistressAck => "distress_ack",
            Msg::GroupAck => "group_ack",
            Msg::Scheduled => "scheduled_broadcast",
            Msg::CmdOk => "cmd_ok",
            Msg::CmdUsage => "cmd_usage",
            Msg::CmdUnknownIncident => "cmd_unknown_incident",
            Msg::CmdRefused => "cmd_refused",
            Msg::StatusNone => "status_none",
            Msg::StatusList => "status_list",
            Msg::PatrolSosAck => "patrol_sos_ack",
            Msg::Stranger => "stranger",
            Msg::AmbulanceRequest => "ambulance_request",
            Msg::AmbulanceReminder => "ambulance_reminder",
            Msg::AmbulanceCancel => "ambulance_cancel",
            Msg::AmbulanceThanks => "ambulance_thanks",
            Msg::AmbulanceArrivedThanks => "ambulance_arrived_thanks",
            Msg::ReplyUsage => "reply_usage",
            Msg::ReplyUnknownIncident => "reply_unknown_incident",
            Msg::PatrolAmbAccepted => "patrol_amb_accepted",
            Msg::PatrolAmbDeclined => "patrol_amb_declined",
            Msg::PatrolAmbEscalated => "patrol_amb_escalated",
            Msg::PatrolAmbExhausted => "patrol_amb_exhausted",
            Msg::PatrolAmbArrived => "patrol_amb_arrived",
            Msg::PatrolAmbRequested => "patrol_amb_requested",
            Msg::PatrolAmbCancelled => "patrol_amb_cancelled",
            Msg::AskHelp => "ask_help",
            Msg::TeamOnTheWay => "team_on_the_way",
            Msg::OrientWater => "orient_water",
            Msg::OrientWaterNone => "orient_water_none",
            Msg::OrientNeedPosition => "orient_need_position",
            Msg::OrientWhere => "orient_where",
            Msg::OrientWhereAt => "orient_where_at",
            Msg::OrientRights => "orient_rights",
            Msg::OrientRisks => "orient_risks",
            Msg::OrientWaiting => "orient_waiting",
            Msg::OrientMenu => "orient_menu",
            Msg::Impersonated => "impersonated",
            Msg::Dispatch => "dispatch",
            Msg::PatrolUpdate => "patrol_update",
            Msg::LocateTask => "locate_task",
            Msg::LocateFound => "locate_found",
            Msg::LocateNothing => "locate_nothing",
            Msg::LocateDone => "locate_done",
            Msg::LocateNotTasked => "locate_not_tasked",
        }
    }

    /// The placeholders every translation of the message must use, sorted.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Msg::DistressAck
            | Msg::CmdUnknownIncident
            | Msg::PatrolSosAck
            | Msg::AmbulanceReminder
            | Msg::AmbulanceCancel
            | Msg::AmbulanceArrivedThanks
            | Msg::ReplyUnknownIncident
            | Msg::PatrolAmbExhausted
            | Msg::PatrolAmbArrived
            | Msg::TeamOnTheWay
            | Msg::LocateNothing
            | Msg::LocateDone
            | Msg::LocateNotTasked => &["id"],
            Msg::LocateTask => &["date", "id", "km", "people", "place"],
            Msg::LocateFound => &["id", "people"],
            Msg::CmdOk => &["id", "state"],
            Msg::CmdUsage | Msg::ReplyUsage => &["usage"],
            Msg::AmbulanceRequest => &["id", "lat", "lon", "people", "place", "priority"],
            Msg::AmbulanceThanks => &["eta", "id"],
            Msg::PatrolAmbAccepted => &["eta", "id", "municipality"],
            Msg::PatrolAmbDeclined | Msg::PatrolAmbEscalated => &["id", "municipality", "next"],
            Msg::PatrolAmbRequested | Msg::PatrolAmbCancelled => &["id", "municipality"],
            Msg::CmdRefused => &["id", "reason"],
            Msg::StatusList => &["list"],
            Msg::GroupAck => &["names"],
            Msg::Scheduled => &["text"],
            Msg::OrientWater => &["points"],
            Msg::OrientWaterNone => &["km"],
            Msg::OrientWhere => &["dir", "km", "place"],
            Msg::OrientWhereAt => &["place"],
            Msg::Dispatch => &[
                "flags", "id", "kind", "lat", "lon", "people", "place", "priority", "reporter",
            ],
            Msg::PatrolUpdate => &["id", "kind", "lat", "lon", "people", "place", "priority"],
            Msg::StatusNone
            | Msg::Stranger
            | Msg::AskHelp
            | Msg::OrientNeedPosition
            | Msg::OrientRights
            | Msg::OrientRisks
            | Msg::OrientWaiting
            | Msg::OrientMenu
            | Msg::Impersonated => &[],
        }
    }

    /// The message with this key.
    fn from_key(key: &str) -> Option<Msg> {
        Msg::ALL.into_iter().find(|m| m.as_str() == key)
    }
}

/// Reply templates of every language.
#[derive(Debug, Clone)]
pub struct Catalog {
    templates: HashMap<(Lang, Msg), String>,
}

impl Catalog {
    /// The catalogue shipped with farod. Panics only if a shipped file is broken, which the
    /// unit tests rule out.
    pub fn builtin() -> Catalog {
        Catalog::parse(&FILES)
            .unwrap_or_else(|e| panic!("the built-in reply catalogue is broken: {e}"))
    }

    /// A reply in `lang` (Spanish when `lang` lacks the message), with `{name}` placeholders
    /// replaced by `args`, cut to [`PAYLOAD_BUDGET`] bytes on a character boundary.
    pub fn render(&self, lang: Lang, msg: Msg, args: &[(&str, &str)]) -> String {
        truncate(fill(self.template(lang, msg), args), PAYLOAD_BUDGET)
    }

    /// Whether the reply fits [`PAYLOAD_BUDGET`] whole, so that [`Catalog::render`] does not
    /// cut it (a caller with optional parts leaves one out instead).
    pub fn fits(&self, lang: Lang, msg: Msg, args: &[(&str, &str)]) -> bool {
        fill(self.template(lang, msg), args).len() <= PAYLOAD_BUDGET
    }

    /// A reply for a reader of `langs`, in order of preference (a municipality's configured
    /// languages): in the first of them the catalogue has the message in, else in Spanish.
    pub fn render_for(&self, langs: &[Lang], msg: Msg, args: &[(&str, &str)]) -> String {
        let lang = langs
            .iter()
            .copied()
            .find(|&lang| self.templates.contains_key(&(lang, msg)))
            .unwrap_or(FALLBACK);
        self.render(lang, msg, args)
    }

    /// The template of `msg` in `lang`, or in the fallback language.
    fn template(&self, lang: Lang, msg: Msg) -> &str {
        self.templates
            .get(&(lang, msg))
            .or_else(|| self.templates.get(&(FALLBACK, msg)))
            .map_or("", String::as_str)
    }

    /// A catalogue from `(language, TOML)` files; `Err` is a one-line reason.
    fn parse(files: &[(Lang, &str)]) -> Result<Catalog, String> {
        let mut templates = HashMap::new();
        for &(lang, src) in files {
            let entries = parse_file(src).map_err(|e| format!("{lang}.toml: {e}"))?;
            templates.extend(entries.into_iter().map(|(msg, t)| ((lang, msg), t)));
        }
        match Msg::ALL
            .into_iter()
            .find(|&m| !templates.contains_key(&(FALLBACK, m)))
        {
            Some(missing) => Err(format!("{FALLBACK}.toml: {} is missing", missing.as_str())),
            None => Ok(Catalog { templates }),
        }
    }
}

/// The templates of one catalogue file.
fn parse_file(src: &str) -> Result<Vec<(Msg, String)>, String> {
    let table: toml::Table = src.parse().map_err(|e: toml::de::Error| one_line(&e))?;
    table
        .into_iter()
        .map(|(key, value)| entry(&key, value))
        .collect()
}

/// A TOML error on one line.
fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `key = "template"` line, checked.
fn entry(key: &str, value: toml::Value) -> Result<(Msg, String), String> {
    let msg = Msg::from_key(key).ok_or_else(|| format!("unknown key {key:?}"))?;
    let toml::Value::String(template) = value else {
        return Err(format!("{key} is not a string"));
    };
    let mut found = placeholders(&template).map_err(|e| format!("{key}: {e}"))?;
    found.sort_unstable();
    found.dedup();
    if found != msg.placeholders() {
        let expected = msg.placeholders();
        return Err(format!("{key} uses {found:?}, expected {expected:?}"));
    }
    Ok((msg, template))
}

/// The `{name}` placeholders of a template, in order; `Err` on an unclosed brace or a bad
/// optional part.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    check_optional_parts(template)?;
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a { is not closed")?;
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// `Err` unless every `[` is closed by a `]` before the next `[`, and encloses a placeholder.
fn check_optional_parts(template: &str) -> Result<(), String> {
    let mut open = None;
    for (i, c) in template.char_indices() {
        match (c, open) {
            ('[', Some(_)) => return Err("a [ is inside another".into()),
            ('[', None) => open = Some(i),
            (']', None) => return Err("a ] is not opened".into()),
            (']', Some(start)) => {
                if !template[start..i].contains('{') {
                    return Err("a [ ] part has no placeholder".into());
                }
                open = None;
            }
            _ => {}
        }
    }
    match open {
        Some(_) => Err("a [ is not closed".into()),
        None => Ok(()),
    }
}

/// The template with its optional `[...]` parts kept or left out (left out when a placeholder
/// in it has an empty argument) and each `{name}` in `args` replaced by its value (values are
/// not expanded again); a placeholder without an argument stays as it is.
fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        out.push_str(&fill_plain(&rest[..open], args));
        let part = &rest[open + 1..close];
        let empty = |name: &str| args.iter().any(|(k, v)| *k == name && v.is_empty());
        if !placeholders(part)
            .unwrap_or_default()
            .into_iter()
            .any(empty)
        {
            out.push_str(&fill_plain(part, args));
        }
        rest = &rest[close + 1..];
    }
    out.push_str(&fill_plain(rest, args));
    out
}

/// [`fill`] for text without optional parts.
fn fill_plain(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let name = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        match args.iter().find(|(k, _)| *k == name) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use faro_proto::text::{CommandError, ReplyError};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The longest realistic arguments of every placeholder.
    fn longest_args() -> Vec<(&'static str, String)> {
        let reply_errors = [
            ReplyError::MissingVerb,
            ReplyError::BadEta("0".into()),
            ReplyError::TooLong,
        ];
        let longest_usage = [CommandError::MissingOutcome, CommandError::MissingNote]
            .iter()
            .map(|e| e.usage())
            .chain(reply_errors.iter().flat_map(|e| [e.usage(), e.usage_en()]))
            .max_by_key(|u| u.len())
            .unwrap_or_default();
        // 60 bytes, the documented maximum of a place or municipality name.
        let longest_name = "Dolores Hidalgo Cuna de la Independencia Nacional ñññññ".to_string();
        assert_eq!(longest_name.len(), 60);
        vec![
            ("id", "SAS-99999".to_string()),
            ("state", "en_route".to_string()),
            ("usage", longest_usage.to_string()),
            (
                "reason",
                "ya está cerrado; pida a la estación que lo reabra".into(),
            ),
            ("list", "x".repeat(120)),
            ("names", "ñ".repeat(GROUP_NAMES_MIN / 2)),
            ("text", "ñ".repeat(100)),
            ("priority", "P4".into()),
            ("people", "999".into()),
            ("lat", "-89.99999".into()),
            ("lon", "-179.99999".into()),
            ("place", longest_name.clone()),
            ("eta", "600".into()),
            ("municipality", longest_name.clone()),
            ("next", longest_name),
            ("points", "x".repeat(crate::desk::WATER_POINTS_BUDGET)),
            ("km", "999".into()),
            ("dir", "NO".into()),
            (
                "kind",
                crate::incident::Kind::ALL
                    .iter()
                    .flat_map(|k| Lang::ALL.iter().map(|l| crate::desk::kind_word(*k, *l)))
                    .max_by_key(|w| w.len())
                    .unwrap_or_default()
                    .to_string(),
            ),
            ("flags", "ñ".repeat(crate::desk::FLAGS_BUDGET / 2)),
            ("reporter", "ñ".repeat(crate::desk::REPORTER_BUDGET / 2)),
            ("date", "28/11".into()),
        ]
    }

    #[test]
    fn the_shipped_catalogue_loads_and_is_complete() {
        let catalog = Catalog::builtin();
        for lang in Lang::ALL {
            for msg in Msg::ALL {
                assert!(
                    catalog.templates.contains_key(&(lang, msg)),
                    "{lang} lacks {}",
                    msg.as_str()
                );
            }
        }
    }

    #[test]
    fn every_reply_fits_with_the_longest_arguments() {
        let catalog = Catalog::builtin();
        let owned = longest_args();
        let args: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for lang in Lang::ALL {
            for msg in Msg::ALL {
                let full = fill(catalog.template(lang, msg), &args);
                let name = format!("{lang} {}", msg.as_str());
                assert!(full.len() <= PAYLOAD_BUDGET, "{name}: {} bytes", full.len());
                assert!(!full.contains('{'), "{name}: {full}");
                assert_eq!(catalog.render(lang, msg, &args), full, "{name}");
            }
        }
    }

    #[test]
    fn renders_the_spanish_replies() {
        let c = Catalog::builtin();
        assert_eq!(
            c.render(Lang::Es, Msg::DistressAck, &[("id", "SAS-17")]),
            "Faro SAS-17: la estación le escuchó. Quédese donde está si es seguro, envíe su ubicación y ahorre batería."
        );
        let ok = c.render(
            Lang::Es,
            Msg::CmdOk,
            &[("state", "en camino"), ("id", "SAS-3")],
        );
        assert_eq!(ok, "Faro SAS-3: en camino");
        assert_eq!(
            c.render(Lang::Es, Msg::StatusNone, &[]),
            "Faro: sin incidentes asignados"
        );
    }

    /// The arguments of an ambulance request, with a place.
    const REQUEST: [(&str, &str); 6] = [
        ("id", "SAS-17"),
        ("priority", "P1"),
        ("people", "2"),
        ("lat", "31.47460"),
        ("lon", "-111.54490"),
        ("place", "14 km NO Sásabe"),
    ];

    #[test]
    fn renders_the_ambulance_request_with_and_without_a_place() {
        let c = Catalog::builtin();
        assert_eq!(
            c.render(Lang::Es, Msg::AmbulanceRequest, &REQUEST),
            "FARO SAS-17 AMBULANCIA P1 2 pers. 31.47460,-111.54490 (14 km NO Sásabe) \
             Resp: OK SAS-17 <min> | NO SAS-17"
        );
        let mut no_place = REQUEST;
        no_place[5].1 = "";
        no_place[2].1 = "?";
        assert_eq!(
            c.render(Lang::Es, Msg::AmbulanceRequest, &no_place),
            "FARO SAS-17 AMBULANCIA P1 ? pers. 31.47460,-111.54490 Resp: OK SAS-17 <min> | NO SAS-17"
        );
        assert_eq!(
            c.render(Lang::En, Msg::AmbulanceRequest, &no_place),
            "FARO SAS-17 AMBULANCE P1 ? people 31.47460,-111.54490 Reply: OK SAS-17 <min> | NO SAS-17"
        );
    }

    #[test]
    fn renders_the_patrol_dispatch_and_update_in_spanish() {
        let c = Catalog::builtin();
        let mut args = vec![
            ("id", "SAS-17"),
            ("priority", "P1"),
            ("kind", "calor"),
            ("people", "2"),
            ("flags", "niños/herido"),
            ("lat", "31.47460"),
            ("lon", "-111.54490"),
            ("place", "14 km NO Sásabe"),
            ("reporter", "tel !5a5a0301"),
        ];
        assert_eq!(
            c.render(Lang::Es, Msg::Dispatch, &args),
            "Faro SAS-17 P1 calor, 2 pers., niños/herido: 31.47460,-111.54490 (14 km NO Sásabe), \
             aviso tel !5a5a0301"
        );
        for k in ["flags", "place", "reporter"] {
            args.iter_mut().filter(|a| a.0 == k).for_each(|a| a.1 = "");
        }
        assert_eq!(
            c.render(Lang::Es, Msg::Dispatch, &args),
            "Faro SAS-17 P1 calor, 2 pers.: 31.47460,-111.54490"
        );
        args.retain(|a| !["flags", "reporter"].contains(&a.0));
        assert_eq!(
            c.render(Lang::Es, Msg::PatrolUpdate, &args),
            "Faro SAS-17 cambio: P1 calor, 2 pers.: 31.47460,-111.54490"
        );
        // `fits` tells a whole reply from one `render` would cut.
        let long = "x".repeat(300);
        assert!(c.fits(Lang::Es, Msg::PatrolUpdate, &args));
        assert!(!c.fits(Lang::Es, Msg::StatusList, &[("list", &long)]));
    }

    #[test]
    fn renders_the_search_task_and_its_answers_faro_understands() {
        use faro_proto::text::{parse_command, LocateReport, PatrolCommand};
        let c = Catalog::builtin();
        let args = [
            ("id", "LOC-5"),
            ("people", "3"),
            ("date", "28/11"),
            ("place", "Sásabe"),
            ("km", "12"),
        ];
        assert_eq!(
            c.render(Lang::Es, Msg::LocateTask, &args),
            "Faro BUSQUEDA LOC-5: 3 pers., vistas 28/11 cerca de Sásabe (12 km). \
             Si las halla: LOC-5 HALLADOS <n>. Si no: LOC-5 NADA"
        );
        let mut no_date = args;
        no_date[2].1 = "";
        assert_eq!(
            c.render(Lang::En, Msg::LocateTask, &no_date),
            "Faro SEARCH LOC-5: 3 people near Sásabe (12 km). If found: LOC-5 FOUND <n>. \
             If not: LOC-5 NOTHING"
        );
        // The longest rendering of every language fits one packet whole, people and radius
        // at their maxima, and ends with the two answers, which Faro parses back.
        let place = "Dolores Hidalgo Cuna de la Independencia Nacional ñññññ";
        let longest = [
            ("id", "LOC-999999"),
            ("people", "10000"),
            ("date", "28/11"),
            ("place", place),
            ("km", "200"),
        ];
        for lang in Lang::ALL {
            assert!(c.fits(lang, Msg::LocateTask, &longest), "{lang}");
            let text = c.render(lang, Msg::LocateTask, &longest);
            let (found, nothing) = text
                .rsplit_once(". ")
                .map(|(a, b)| {
                    (
                        a.rsplit(": ").next().unwrap_or(""),
                        b.rsplit(": ").next().unwrap_or(""),
                    )
                })
                .unwrap_or_default();
            let found = found.replace("<n>", "2");
            assert_eq!(
                parse_command(&found),
                Some(Ok(PatrolCommand::Locate(999_999, LocateReport::Found(2)))),
                "{lang}: {text}"
            );
            assert_eq!(
                parse_command(nothing),
                Some(Ok(PatrolCommand::Locate(999_999, LocateReport::Nothing))),
                "{lang}: {text}"
            );
            for msg in [
                Msg::LocateFound,
                Msg::LocateNothing,
                Msg::LocateDone,
                Msg::LocateNotTasked,
            ] {
                assert!(c.fits(lang, msg, &longest), "{lang} {}", msg.as_str());
            }
        }
    }

    #[test]
    fn municipality_messages_keep_the_reply_words_faro_understands() {
        use faro_proto::text::{parse_municipality_reply, MunicipalityReply};
        let c = Catalog::builtin();
        let id = "SAS-17".parse().ok();
        for lang in Lang::ALL {
            for msg in [Msg::AmbulanceRequest, Msg::AmbulanceReminder] {
                let text = c.render(lang, msg, &REQUEST);
                assert!(
                    text.ends_with("OK SAS-17 <min> | NO SAS-17"),
                    "{lang}: {text}"
                );
            }
            let thanks = c.render(lang, Msg::AmbulanceThanks, &[("id", "SAS-17"), ("eta", "")]);
            let arrival = thanks.rsplit(": ").next().unwrap_or_default();
            assert_eq!(
                parse_municipality_reply(arrival),
                Some(Ok(MunicipalityReply::Arrived { id: id.clone() })),
                "{lang}: {thanks}"
            );
        }
    }

    #[test]
    fn renders_the_ambulance_conversation_in_spanish() {
        let c = Catalog::builtin();
        let id = ("id", "SAS-17");
        type Case<'a> = (Msg, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case<'_>; 14] = [
            (
                Msg::AmbulanceReminder,
                &[id],
                "FARO SAS-17: ¿pueden enviar ambulancia? Resp: OK SAS-17 <min> | NO SAS-17",
            ),
            (
                Msg::AmbulanceCancel,
                &[id],
                "FARO SAS-17: ambulancia ya no necesaria, gracias.",
            ),
            (
                Msg::AmbulanceThanks,
                &[id, ("eta", "25")],
                "FARO SAS-17: gracias, confirmado. ETA 25 min. Al llegar: LLEGO SAS-17",
            ),
            (
                Msg::AmbulanceThanks,
                &[id, ("eta", "")],
                "FARO SAS-17: gracias, confirmado. Al llegar: LLEGO SAS-17",
            ),
            (
                Msg::AmbulanceArrivedThanks,
                &[id],
                "FARO SAS-17: gracias, llegada registrada.",
            ),
            (
                Msg::ReplyUsage,
                &[("usage", ReplyError::MissingVerb.usage())],
                "FARO: no entendí. Responda: OK SAS-17 <min> | NO SAS-17 | LLEGO SAS-17",
            ),
            (
                Msg::ReplyUnknownIncident,
                &[id],
                "FARO: SAS-17 no existe o está cerrado.",
            ),
            (
                Msg::PatrolAmbAccepted,
                &[id, ("municipality", "Altar"), ("eta", "25")],
                "Faro SAS-17: ambulancia de Altar en camino, ETA 25 min",
            ),
            (
                Msg::PatrolAmbAccepted,
                &[id, ("municipality", "Altar"), ("eta", "")],
                "Faro SAS-17: ambulancia de Altar en camino",
            ),
            (
                Msg::PatrolAmbDeclined,
                &[id, ("municipality", "Altar"), ("next", "Sáric")],
                "Faro SAS-17: Altar no puede; pidiendo a Sáric",
            ),
            (
                Msg::PatrolAmbEscalated,
                &[id, ("municipality", "Altar"), ("next", "Sáric")],
                "Faro SAS-17: sin respuesta de Altar; pidiendo a Sáric",
            ),
            (
                Msg::PatrolAmbExhausted,
                &[id],
                "Faro SAS-17: ninguna ambulancia disponible; la estación llamará por teléfono",
            ),
            (
                Msg::PatrolAmbArrived,
                &[id],
                "Faro SAS-17: ambulancia en el lugar",
            ),
            (
                Msg::PatrolAmbRequested,
                &[id, ("municipality", "Altar")],
                "Faro SAS-17: ambulancia solicitada a Altar",
            ),
        ];
        for (msg, args, want) in cases {
            assert_eq!(c.render(Lang::Es, msg, args), want, "{}", msg.as_str());
        }
    }

    #[test]
    fn renders_for_the_first_language_a_reader_has() {
        let c = Catalog::builtin();
        let args = [("id", "SAS-1")];
        let en = c.render(Lang::En, Msg::AmbulanceCancel, &args);
        let es = c.render(Lang::Es, Msg::AmbulanceCancel, &args);
        assert_eq!(
            c.render_for(&[Lang::En, Lang::Es], Msg::AmbulanceCancel, &args),
            en
        );
        assert_eq!(c.render_for(&[], Msg::AmbulanceCancel, &args), es);
        let partial = Catalog::parse(&[
            (Lang::Es, FILES[0].1),
            (Lang::Pt, "status_none = \"Faro: nada\""),
        ])
        .unwrap();
        assert_eq!(
            partial.render_for(&[Lang::Pt, Lang::En], Msg::StatusNone, &[]),
            "Faro: nada"
        );
        // Portuguese lacks the message and English is not loaded: Spanish.
        assert_eq!(
            partial.render_for(&[Lang::Pt, Lang::En], Msg::AmbulanceCancel, &args),
            es
        );
    }

    #[test]
    fn optional_parts_are_left_out_only_for_empty_arguments() {
        let t = "a[ ({x})] b[ {x}{y}]";
        assert_eq!(fill(t, &[("x", "1"), ("y", "2")]), "a (1) b 12");
        assert_eq!(fill(t, &[("x", ""), ("y", "2")]), "a b");
        assert_eq!(fill(t, &[("x", "1"), ("y", "")]), "a (1) b");
        // A missing argument stays visible, like everywhere else.
        assert_eq!(fill(t, &[("y", "2")]), "a ({x}) b {x}2");
        // Values are not read as template syntax.
        assert_eq!(fill(t, &[("x", "[{y}]"), ("y", "]")]), "a ([{y}]) b [{y}]]");
        assert_eq!(placeholders(t), Ok(vec!["x", "x", "y"]));
    }

    #[test]
    fn renders_the_haitian_acknowledgement() {
        assert_eq!(
            Catalog::builtin().render(Lang::Ht, Msg::DistressAck, &[("id", "SAS-17")]),
            "Faro SAS-17: estasyon an resevwa mesaj ou. Rete kote ou ye si li an sekirite, voye pozisyon ou, sere batri ou."
        );
    }

    #[test]
    fn a_missing_message_falls_back_to_spanish() {
        let es = FILES[0].1;
        let c =
            Catalog::parse(&[(Lang::Es, es), (Lang::Pt, "status_none = \"Faro: nada\"")]).unwrap();
        assert_eq!(c.render(Lang::Pt, Msg::StatusNone, &[]), "Faro: nada");
        assert_eq!(
            c.render(Lang::Pt, Msg::CmdUnknownIncident, &[("id", "SAS-1")]),
            "Faro: no existe SAS-1"
        );
        assert_eq!(
            c.render(Lang::En, Msg::StatusNone, &[]),
            "Faro: sin incidentes asignados"
        );
    }

    #[test]
    fn arguments_are_not_expanded_twice_and_missing_ones_stay_visible() {
        let c = Catalog::builtin();
        assert_eq!(
            c.render(Lang::En, Msg::StatusList, &[("list", "{list} {id}")]),
            "Faro: {list} {id}"
        );
        assert_eq!(
            c.render(Lang::En, Msg::CmdOk, &[("id", "SAS-1")]),
            "Faro SAS-1: {state}"
        );
    }

    #[test]
    fn long_replies_are_cut_on_a_character_boundary() {
        let c = Catalog::builtin();
        let list = "ñ".repeat(200);
        // "Faro : " is 7 bytes, so 200 bytes would end inside a 2-byte ñ.
        let out = c.render(Lang::Fr, Msg::StatusList, &[("list", &list)]);
        assert_eq!(out.len(), PAYLOAD_BUDGET - 1);
        assert!(out.ends_with('ñ'));
    }

    #[test]
    fn broken_catalogues_are_refused_with_a_reason() {
        let es = FILES[0].1;
        let cases = [
            ("hello = \"x\"", "en.toml: unknown key \"hello\""),
            ("cmd_ok = 3", "en.toml: cmd_ok is not a string"),
            (
                "cmd_ok = \"Faro {id}\"",
                "en.toml: cmd_ok uses [\"id\"], expected [\"id\", \"state\"]",
            ),
            (
                "stranger = \"Faro {name}\"",
                "en.toml: stranger uses [\"name\"], expected []",
            ),
            (
                "cmd_ok = \"Faro {id\"",
                "en.toml: cmd_ok: a { is not closed",
            ),
            (
                "cmd_ok = \"Faro {id}[ {state}\"",
                "en.toml: cmd_ok: a [ is not closed",
            ),
            (
                "cmd_ok = \"Faro {id}] {state}\"",
                "en.toml: cmd_ok: a ] is not opened",
            ),
            (
                "cmd_ok = \"Faro [{id}[ {state}]]\"",
                "en.toml: cmd_ok: a [ is inside another",
            ),
            (
                "cmd_ok = \"Faro {id}[:] {state}\"",
                "en.toml: cmd_ok: a [ ] part has no placeholder",
            ),
        ];
        for (en, reason) in cases {
            let err = Catalog::parse(&[(Lang::Es, es), (Lang::En, en)]).unwrap_err();
            assert_eq!(err, reason);
        }
        let no_spanish = Catalog::parse(&[(Lang::En, FILES[1].1)]).unwrap_err();
        assert_eq!(no_spanish, "es.toml: distress_ack is missing");
        let syntax = Catalog::parse(&[(Lang::Es, "cmd_ok = ")]).unwrap_err();
        assert!(
            syntax.starts_with("es.toml: ") && !syntax.contains('\n'),
            "{syntax}"
        );
    }

    #[test]
    fn keys_and_placeholders_are_consistent() {
        for msg in Msg::ALL {
            assert_eq!(Msg::from_key(msg.as_str()), Some(msg));
            assert!(msg.placeholders().windows(2).all(|w| w[0] < w[1]));
        }
    }

    // Property tests: seeded random cases (farod has no proptest dev-dependency yet).
    const CASES: usize = 2000;

    fn random_string(rng: &mut StdRng, max_chars: usize) -> String {
        let len = rng.random_range(0..=max_chars);
        (0..len).map(|_| rng.random::<char>()).collect()
    }

    #[test]
    fn renders_within_budget_as_a_prefix() {
        let c = Catalog::builtin();
        let mut rng = StdRng::seed_from_u64(0xFA20);
        for _ in 0..CASES {
            let (id, list) = (random_string(&mut rng, 120), random_string(&mut rng, 120));
            let lang = Lang::ALL[rng.random_range(0..Lang::ALL.len())];
            let msg = Msg::ALL[rng.random_range(0..Msg::ALL.len())];
            let args = [("id", id.as_str()), ("list", list.as_str())];
            let out = c.render(lang, msg, &args);
            assert!(out.len() <= PAYLOAD_BUDGET);
            assert!(fill(c.template(lang, msg), &args).starts_with(&out));
        }
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        let mut rng = StdRng::seed_from_u64(0xFA20);
        for _ in 0..CASES {
            let (s, max) = (random_string(&mut rng, 40), rng.random_range(0..64));
            let cut = truncate(s.clone(), max);
            assert!(s.starts_with(&cut));
            match s[cut.len()..].chars().next() {
                None => assert!(s.len() <= max),
                Some(next) => assert!(cut.len() <= max && cut.len() + next.len_utf8() > max),
            }
        }
    }
}
