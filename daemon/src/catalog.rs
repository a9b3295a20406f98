//! The replies people read on their phones, in each station language.
//!
//! One TOML file per language (`daemon/catalog/<lang>.toml`) maps a [`Msg`] key to a template
//! with `{name}` placeholders. The files are compiled in and checked when loaded: no unknown
//! key, every placeholder a message needs and no other, and Spanish complete, because any
//! language lacking a message falls back to it. Templates hold no personal data, and a rendered
//! reply never exceeds the mesh payload budget.

use std::collections::HashMap;

use faro_proto::mesh::PAYLOAD_BUDGET;

use crate::ingest::Lang;

/// The shipped catalogue files.
const FILES: [(Lang, &str); 5] = [
    (Lang::Es, include_str!("../catalog/es.toml")),
    (Lang::En, include_str!("../catalog/en.toml")),
    (Lang::Fr, include_str!("../catalog/fr.toml")),
    (Lang::Ht, include_str!("../catalog/ht.toml")),
    (Lang::Pt, include_str!("../catalog/pt.toml")),
];

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
}

impl Msg {
    /// Every message.
    pub const ALL: [Msg; 9] = [
        Msg::DistressAck,
        Msg::CmdOk,
        Msg::CmdUsage,
        Msg::CmdUnknownIncident,
        Msg::CmdRefused,
        Msg::StatusNone,
        Msg::StatusList,
        Msg::PatrolSosAck,
        Msg::Stranger,
    ];

    /// The key in the catalogue files (`distress_ack`).
    pub fn as_str(self) -> &'static str {
        match self {
            Msg::DistressAck => "distress_ack",
            Msg::CmdOk => "cmd_ok",
            Msg::CmdUsage => "cmd_usage",
            Msg::CmdUnknownIncident => "cmd_unknown_incident",
            Msg::CmdRefused => "cmd_refused",
            Msg::StatusNone => "status_none",
            Msg::StatusList => "status_list",
            Msg::PatrolSosAck => "patrol_sos_ack",
            Msg::Stranger => "stranger",
        }
    }

    /// The placeholders every translation of the message must use, sorted.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Msg::DistressAck | Msg::CmdUnknownIncident | Msg::PatrolSosAck => &["id"],
            Msg::CmdOk => &["id", "state"],
            Msg::CmdUsage => &["usage"],
            Msg::CmdRefused => &["id", "reason"],
            Msg::StatusList => &["list"],
            Msg::StatusNone | Msg::Stranger => &[],
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

/// The `{name}` placeholders of a template, in order; `Err` on an unclosed brace.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
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

/// The template with each `{name}` in `args` replaced by its value (values are not expanded
/// again); a placeholder without an argument stays as it is.
fn fill(template: &str, args: &[(&str, &str)]) -> String {
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
    use faro_proto::text::CommandError;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The longest realistic arguments of every placeholder.
    fn longest_args() -> Vec<(&'static str, String)> {
        let longest_usage = [CommandError::MissingOutcome, CommandError::MissingNote]
            .iter()
            .map(|e| e.usage())
            .max_by_key(|u| u.len())
            .unwrap_or_default();
        vec![
            ("id", "SAS-99999".to_string()),
            ("state", "en_route".to_string()),
            ("usage", longest_usage.to_string()),
            (
                "reason",
                "ya está cerrado; pida a la estación que lo reabra".into(),
            ),
            ("list", "x".repeat(120)),
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
            "Faro SAS-17: recibido. Ayuda en camino. Quédese donde está si es seguro."
        );
        let ok = c.render(
            Lang::Es,
            Msg::CmdOk,
            &[("state", "en_route"), ("id", "SAS-3")],
        );
        assert_eq!(ok, "Faro SAS-3: en_route");
        assert_eq!(
            c.render(Lang::Es, Msg::StatusNone, &[]),
            "Faro: sin incidentes asignados"
        );
    }

    #[test]
    fn renders_the_haitian_acknowledgement() {
        assert_eq!(
            Catalog::builtin().render(Lang::Ht, Msg::DistressAck, &[("id", "SAS-17")]),
            "Faro SAS-17: nou resevwa mesaj ou. Èd ap vini. Rete kote ou ye si li an sekirite."
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
