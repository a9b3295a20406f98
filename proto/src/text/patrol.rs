//! Patrol commands: `ACK SAS-17`, `CERRAR SAS-17 rescatado`, `NOTA SAS-17 <text>`… and the
//! short Spanish usage hints sent back when their arguments do not fit.
//!
//! A search for missing people (a location request, `LOC-5`) is answered the other way round,
//! id first: `LOC-5 HALLADOS 2` (the team has found 2 of the people sought so far) or
//! `LOC-5 NADA` (searched, nothing found).

use std::fmt;

use super::fold::compact;
use super::incident_id::{id_word, IncidentId};
use super::outcome::{Outcome, OUTCOME_LIST};
use super::words::{quote, split_word, BELL};

/// Longest note kept from `NOTA <id> <text>`, in bytes of UTF-8.
pub const MAX_NOTE_BYTES: usize = 180;

/// A command a patrol sends by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatrolCommand {
    /// `ACK <id>`: the patrol takes the incident.
    Ack(IncidentId),
    /// `RUTA <id>`: on the way.
    EnRoute(IncidentId),
    /// `LLEGUE <id>`: at the scene.
    OnScene(IncidentId),
    /// `CERRAR <id> <outcome>`.
    Close(IncidentId, Outcome),
    /// `NOTA <id> <text>`: the text verbatim, at most [`MAX_NOTE_BYTES`].
    Note(IncidentId, String),
    /// `ESTADO`: the patrol asks for its assigned incidents.
    Status,
    /// `SOS [text]`: the patrol itself needs help.
    Sos(Option<String>),
    /// `AMB [id]`: ambulance for the incident, or for the patrol's current one.
    Ambulance(Option<IncidentId>),
    /// `LOC-5 HALLADOS 2` / `LOC-5 NADA`: what the team's search for location request 5 gave.
    Locate(u32, LocateReport),
}

/// What a patrol reports on its search task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocateReport {
    /// `HALLADOS <n>` (`FOUND <n>`): the team has found `n` of the people sought so far
    /// (1..=[`MAX_FOUND`]).
    Found(u32),
    /// `NADA` (`NOTHING`): searched, nobody found.
    Nothing,
}

/// The prefix of a location request's id (`LOC-5`); no station may use it as its code.
pub const LOCATE_PREFIX: &str = "LOC";
/// Most people a patrol can report found in one command.
pub const MAX_FOUND: u32 = 10_000;

/// A command verb with arguments that do not fit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The verb needs an incident id and there is none.
    MissingId {
        /// The verb, in its canonical Spanish form (`CERRAR`).
        verb: &'static str,
    },
    /// The word where the id belongs is not an incident id.
    BadId {
        /// The verb, in its canonical Spanish form.
        verb: &'static str,
        /// The word found instead (at most a few characters of it).
        got: String,
    },
    /// `CERRAR <id>` without an outcome.
    MissingOutcome,
    /// `CERRAR <id> <word>` where the word is not an outcome (at most a few characters of it).
    BadOutcome(String),
    /// `NOTA <id>` without text.
    MissingNote,
    /// The note is longer than [`MAX_NOTE_BYTES`].
    TooLong,
    /// `LOC-5` without `HALLADOS <n>` or `NADA` after it (the word found, quoted short).
    BadLocateReport(String),
    /// `LOC-5 HALLADOS` without a number of people from 1 to [`MAX_FOUND`] (the word found).
    BadFoundCount(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::MissingId { verb } => {
                write!(f, "{verb} needs an incident id: {}", example(verb))
            }
            CommandError::BadId { verb, got } => {
                write!(f, "{verb}: {got:?} is not an incident id like SAS-17")
            }
            CommandError::MissingOutcome => {
                write!(f, "CERRAR needs an outcome: {}", Verb::Close.example())
            }
            CommandError::BadOutcome(got) => {
                write!(f, "unknown outcome {got:?}: expected {OUTCOME_LIST}")
            }
            CommandError::MissingNote => write!(f, "NOTA needs a text: {}", Verb::Note.example()),
            CommandError::TooLong => write!(f, "NOTA text is longer than {MAX_NOTE_BYTES} bytes"),
            CommandError::BadLocateReport(got) => write!(
                f,
                "{LOCATE_PREFIX}-<n> needs HALLADOS <n> or NADA, got {got:?}: LOC-5 HALLADOS 2"
            ),
            CommandError::BadFoundCount(got) => write!(
                f,
                "HALLADOS needs a number of people from 1 to {MAX_FOUND}, got {got:?}: LOC-5 HALLADOS 2"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

impl CommandError {
    /// The short usage hint (Spanish) to send back to the patrol.
    pub fn usage(&self) -> &'static str {
        match self {
            CommandError::MissingId { verb } | CommandError::BadId { verb, .. } => {
                Verb::named(verb).map_or(USAGE_ALL, Verb::usage)
            }
            CommandError::MissingOutcome | CommandError::BadOutcome(_) => Verb::Close.usage(),
            CommandError::MissingNote | CommandError::TooLong => Verb::Note.usage(),
            CommandError::BadLocateReport(_) | CommandError::BadFoundCount(_) => USAGE_LOCATE,
        }
    }
}

/// Usage of every verb, for a verb Faro does not know.
const USAGE_ALL: &str = "Uso: ACK, RUTA, LLEGUE, CERRAR, NOTA, ESTADO, SOS, AMB";

/// Usage of a search report.
const USAGE_LOCATE: &str = "Uso: LOC-<n> HALLADOS <n> | LOC-<n> NADA";

/// Accepted spellings of a search report's word, compacted: found (the count follows) ...
const FOUND_WORDS: [&str; 17] = [
    "hallados",
    "hallado",
    "halladas",
    "hallada",
    "halle",
    "encontrados",
    "encontrado",
    "encontradas",
    "encontrada",
    "encontre",
    "found",
    "trouves",
    "trouve",
    "trouvees",
    "jwenn",
    "achados",
    "achado",
];
/// ... and nothing found.
const NOTHING_WORDS: [&str; 6] = ["nada", "nothing", "none", "rien", "anyen", "ninguno"];

/// An example of the verb in use, for error messages.
fn example(verb: &str) -> &'static str {
    Verb::named(verb).map_or(USAGE_ALL, Verb::example)
}

/// The verbs, apart from their arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ack,
    EnRoute,
    OnScene,
    Close,
    Note,
    Status,
    Sos,
    Ambulance,
}

/// Accepted spellings of each verb, compacted (folded, letters and digits only).
const VERB_ALIASES: [(&str, Verb); 14] = [
    ("ack", Verb::Ack),
    ("ruta", Verb::EnRoute),
    ("enroute", Verb::EnRoute),
    ("llegue", Verb::OnScene),
    ("onscene", Verb::OnScene),
    ("cerrar", Verb::Close),
    ("close", Verb::Close),
    ("nota", Verb::Note),
    ("note", Verb::Note),
    ("estado", Verb::Status),
    ("status", Verb::Status),
    ("sos", Verb::Sos),
    ("amb", Verb::Ambulance),
    ("ambulancia", Verb::Ambulance),
];

impl Verb {
    const ALL: [Verb; 8] = [
        Verb::Ack,
        Verb::EnRoute,
        Verb::OnScene,
        Verb::Close,
        Verb::Note,
        Verb::Status,
        Verb::Sos,
        Verb::Ambulance,
    ];

    /// The verb a patrol typed as the first word, if it is one.
    fn parse(word: &str) -> Option<Verb> {
        let key = compact(word);
        VERB_ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|&(_, verb)| verb)
    }

    /// The verb with this canonical name.
    fn named(name: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Canonical Spanish name, as errors quote it.
    fn name(self) -> &'static str {
        match self {
            Verb::Ack => "ACK",
            Verb::EnRoute => "RUTA",
            Verb::OnScene => "LLEGUE",
            Verb::Close => "CERRAR",
            Verb::Note => "NOTA",
            Verb::Status => "ESTADO",
            Verb::Sos => "SOS",
            Verb::Ambulance => "AMB",
        }
    }

    /// Usage hint sent back to a patrol (Spanish, short).
    fn usage(self) -> &'static str {
        match self {
            Verb::Ack => "Uso: ACK <id>",
            Verb::EnRoute => "Uso: RUTA <id>",
            Verb::OnScene => "Uso: LLEGUE <id>",
            Verb::Close => {
                "Uso: CERRAR <id> rescatado|hospital|albergue|falsa|noencontrado|cancelado"
            }
            Verb::Note => "Uso: NOTA <id> <texto>",
            Verb::Status => "Uso: ESTADO",
            Verb::Sos => "Uso: SOS [texto]",
            Verb::Ambulance => "Uso: AMB [id]",
        }
    }

    /// A complete example, for error messages.
    fn example(self) -> &'static str {
        match self {
            Verb::Ack => "ACK SAS-17",
            Verb::EnRoute => "RUTA SAS-17",
            Verb::OnScene => "LLEGUE SAS-17",
            Verb::Close => "CERRAR SAS-17 rescatado",
            Verb::Note => "NOTA SAS-17 <text>",
            Verb::Status => "ESTADO",
            Verb::Sos => "SOS <text>",
            Verb::Ambulance => "AMB SAS-17",
        }
    }

    /// The command from the text after the verb.
    fn command(self, rest: &str) -> Result<PatrolCommand, CommandError> {
        Ok(match self {
            Verb::Ack => PatrolCommand::Ack(self.id(rest)?.0),
            Verb::EnRoute => PatrolCommand::EnRoute(self.id(rest)?.0),
            Verb::OnScene => PatrolCommand::OnScene(self.id(rest)?.0),
            Verb::Close => {
                let (id, rest) = self.id(rest)?;
                PatrolCommand::Close(id, outcome(rest)?)
            }
            Verb::Note => {
                let (id, rest) = self.id(rest)?;
                PatrolCommand::Note(id, note(rest)?)
            }
            Verb::Status => PatrolCommand::Status,
            Verb::Sos => PatrolCommand::Sos((!rest.is_empty()).then(|| rest.to_string())),
            Verb::Ambulance => PatrolCommand::Ambulance(id_word(split_word(rest).0).ok()),
        })
    }

    /// The incident id that must come first in `rest`, and what follows it.
    fn id(self, rest: &str) -> Result<(IncidentId, &str), CommandError> {
        let (word, rest) = split_word(rest);
        if word.is_empty() {
            return Err(CommandError::MissingId { verb: self.name() });
        }
        let id = id_word(word).map_err(|_| CommandError::BadId {
            verb: self.name(),
            got: quote(word),
        })?;
        Ok((id, rest))
    }
}

/// Parses a patrol command.
///
/// `None`: the text is not a command at all (ordinary chat). `Some(Err)`: a command verb with
/// bad arguments. The verb is the first word, in any case, with or without accents; a bell
/// byte, spaces, `¡`/`¿` and punctuation around the text or the words are tolerated. Words
/// after the arguments are ignored (except for `NOTA` and `SOS`, whose text is kept verbatim).
pub fn parse_command(text: &str) -> Option<Result<PatrolCommand, CommandError>> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == BELL);
    let (first, rest) = split_word(text);
    match Verb::parse(first) {
        Some(verb) => Some(verb.command(rest)),
        None => {
            let id = id_word(first)
                .ok()
                .filter(|id| id.station == LOCATE_PREFIX)?;
            Some(locate_report(rest).map(|r| PatrolCommand::Locate(id.seq, r)))
        }
    }
}

/// `HALLADOS <n>` or `NADA` (any case, accents, punctuation around the words; words after
/// them are ignored).
fn locate_report(rest: &str) -> Result<LocateReport, CommandError> {
    let (word, rest) = split_word(rest);
    let key = compact(word);
    if NOTHING_WORDS.contains(&key.as_str()) {
        return Ok(LocateReport::Nothing);
    }
    if !FOUND_WORDS.contains(&key.as_str()) {
        return Err(CommandError::BadLocateReport(quote(word)));
    }
    let (count, _) = split_word(rest);
    let digits = count.trim_matches(|c: char| !c.is_alphanumeric());
    match digits.parse::<u32>() {
        Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_FOUND).contains(&n) => {
            Ok(LocateReport::Found(n))
        }
        _ => Err(CommandError::BadFoundCount(quote(count))),
    }
}

/// The closing outcome at the start of `rest`: one word, or two (`no encontrado`).
fn outcome(rest: &str) -> Result<Outcome, CommandError> {
    let words: Vec<&str> = rest.split_whitespace().take(2).collect();
    let first = words.first().ok_or(CommandError::MissingOutcome)?;
    (1..=words.len())
        .rev()
        .find_map(|n| words[..n].concat().parse::<Outcome>().ok())
        .ok_or_else(|| CommandError::BadOutcome(quote(first)))
}

/// The note text, verbatim, checked against [`MAX_NOTE_BYTES`].
fn note(rest: &str) -> Result<String, CommandError> {
    match rest.len() {
        0 => Err(CommandError::MissingNote),
        n if n > MAX_NOTE_BYTES => Err(CommandError::TooLong),
        _ => Ok(rest.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::words::MAX_QUOTED_CHARS;
    use proptest::prelude::*;

    fn id(s: &str) -> IncidentId {
        s.parse().unwrap()
    }

    fn ok(text: &str) -> PatrolCommand {
        match parse_command(text) {
            Some(Ok(c)) => c,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn err(text: &str) -> CommandError {
        match parse_command(text) {
            Some(Err(e)) => e,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn ack_en_route_and_on_scene_with_every_alias() {
        let sas = id("SAS-17");
        for t in [
            "ACK SAS-17",
            "ack sas-17",
            "Ack  SAS-17.",
            "\u{7}ACK SAS-17",
            "ACK: SAS-17",
        ] {
            assert_eq!(ok(t), PatrolCommand::Ack(sas.clone()), "{t}");
        }
        for t in [
            "RUTA SAS-17",
            "enroute sas-17",
            "EN_ROUTE SAS-17",
            "en-route SAS-17",
        ] {
            assert_eq!(ok(t), PatrolCommand::EnRoute(sas.clone()), "{t}");
        }
        for t in [
            "LLEGUE SAS-17",
            "Llegué SAS-17",
            "LLEGUÉ SAS-17!",
            "ONSCENE SAS-17",
        ] {
            assert_eq!(ok(t), PatrolCommand::OnScene(sas.clone()), "{t}");
        }
        assert_eq!(ok("on_scene sas-17"), PatrolCommand::OnScene(sas));
    }

    #[test]
    fn words_after_the_arguments_are_ignored() {
        assert_eq!(
            ok("LLEGUE SAS-3 todo bien"),
            PatrolCommand::OnScene(id("SAS-3"))
        );
        assert_eq!(
            ok("CERRAR SAS-3 rescatado, 3 personas"),
            PatrolCommand::Close(id("SAS-3"), Outcome::Rescued)
        );
    }

    #[test]
    fn close_takes_an_outcome_of_one_or_two_words() {
        let close = |o| PatrolCommand::Close(id("SAS-17"), o);
        assert_eq!(ok("CERRAR SAS-17 rescatado"), close(Outcome::Rescued));
        assert_eq!(
            ok("close sas-17 HOSPITAL"),
            close(Outcome::TransferredHospital)
        );
        assert_eq!(ok("Cerrar SAS-17 no encontrado"), close(Outcome::NotFound));
        assert_eq!(ok("CERRAR SAS-17 falsa alarma"), close(Outcome::FalseAlarm));
        assert_eq!(
            ok("CERRAR SAS-17 Albergue."),
            close(Outcome::TransferredShelter)
        );
    }

    #[test]
    fn close_refuses_a_missing_or_unknown_outcome() {
        assert_eq!(err("CERRAR SAS-17"), CommandError::MissingOutcome);
        assert_eq!(
            err("CERRAR SAS-17 no se"),
            CommandError::BadOutcome("no".into())
        );
        assert_eq!(err("CERRAR"), CommandError::MissingId { verb: "CERRAR" });
        assert_eq!(
            err("close 17 rescued"),
            CommandError::BadId {
                verb: "CERRAR",
                got: "17".into()
            }
        );
    }

    #[test]
    fn note_keeps_its_text_verbatim() {
        assert_eq!(
            ok("NOTA SAS-17 Dos adultos, un niño. Agua OK."),
            PatrolCommand::Note(id("SAS-17"), "Dos adultos, un niño. Agua OK.".into())
        );
        assert_eq!(
            ok("note sas-2   Herida leve  \u{7}"),
            PatrolCommand::Note(id("SAS-2"), "Herida leve".into())
        );
        let longest = "ñ".repeat(MAX_NOTE_BYTES / 2);
        assert_eq!(
            ok(&format!("NOTA SAS-1 {longest}")),
            PatrolCommand::Note(id("SAS-1"), longest)
        );
    }

    #[test]
    fn note_refuses_no_text_or_too_much() {
        assert_eq!(err("NOTA SAS-17"), CommandError::MissingNote);
        assert_eq!(err("NOTA SAS-17   "), CommandError::MissingNote);
        let long = format!("NOTA SAS-17 {}", "a".repeat(MAX_NOTE_BYTES + 1));
        assert_eq!(err(&long), CommandError::TooLong);
    }

    #[test]
    fn status_sos_and_ambulance() {
        assert_eq!(ok("ESTADO"), PatrolCommand::Status);
        assert_eq!(ok("status?"), PatrolCommand::Status);
        assert_eq!(ok("\u{7}SOS"), PatrolCommand::Sos(None));
        assert_eq!(ok("¡SOS!"), PatrolCommand::Sos(None));
        assert_eq!(
            ok("sos Caída en barranco, 2 heridos"),
            PatrolCommand::Sos(Some("Caída en barranco, 2 heridos".into()))
        );
        assert_eq!(ok("AMB"), PatrolCommand::Ambulance(None));
        assert_eq!(
            ok("ambulancia SAS-4"),
            PatrolCommand::Ambulance(Some(id("SAS-4")))
        );
        assert_eq!(ok("Ambulancia urgente"), PatrolCommand::Ambulance(None));
    }

    #[test]
    fn missing_and_bad_ids_name_the_verb() {
        for (t, verb) in [("ACK", "ACK"), ("ruta", "RUTA"), ("onscene", "LLEGUE")] {
            assert_eq!(err(t), CommandError::MissingId { verb }, "{t}");
        }
        assert_eq!(err("NOTE"), CommandError::MissingId { verb: "NOTA" });
        assert_eq!(
            err("ACK SAS17"),
            CommandError::BadId {
                verb: "ACK",
                got: "SAS17".into()
            }
        );
    }

    #[test]
    fn bad_arguments_are_quoted_short() {
        let long = format!("ACK {}", "x".repeat(500));
        let CommandError::BadId { got, .. } = err(&long) else {
            panic!("not a bad id")
        };
        assert_eq!(got.chars().count(), MAX_QUOTED_CHARS);
    }

    #[test]
    fn chat_is_not_a_command() {
        for t in [
            "",
            " ",
            "\u{7}",
            "hola",
            "ACKNOWLEDGED",
            "Ayuda",
            "en camino",
            "ruta1 SAS-1",
            "¿dónde están?",
            "SOS-17",
        ] {
            assert_eq!(parse_command(t), None, "{t:?}");
        }
    }

    #[test]
    fn errors_are_one_line_with_an_example() {
        let cases = [
            (
                CommandError::MissingId { verb: "CERRAR" },
                "CERRAR needs an incident id: CERRAR SAS-17 rescatado",
            ),
            (
                CommandError::BadId {
                    verb: "ACK",
                    got: "17".into(),
                },
                "ACK: \"17\" is not an incident id like SAS-17",
            ),
            (
                CommandError::MissingOutcome,
                "CERRAR needs an outcome: CERRAR SAS-17 rescatado",
            ),
            (
                CommandError::BadOutcome("no".into()),
                "unknown outcome \"no\": expected rescatado, hospital, albergue, falsa, \
                 noencontrado or cancelado",
            ),
            (
                CommandError::MissingNote,
                "NOTA needs a text: NOTA SAS-17 <text>",
            ),
            (CommandError::TooLong, "NOTA text is longer than 180 bytes"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn usage_hints_fit_the_verb() {
        assert_eq!(err("ACK").usage(), "Uso: ACK <id>");
        assert_eq!(err("llegue x").usage(), "Uso: LLEGUE <id>");
        assert!(err("CERRAR SAS-1")
            .usage()
            .starts_with("Uso: CERRAR <id> rescatado|"));
        assert_eq!(err("NOTA SAS-1").usage(), "Uso: NOTA <id> <texto>");
        assert_eq!(CommandError::MissingId { verb: "?" }.usage(), USAGE_ALL);
        for v in Verb::ALL {
            assert!(v.usage().len() <= 100, "{v:?}");
            assert_eq!(Verb::named(v.name()), Some(v));
            assert_eq!(Verb::parse(v.name()), Some(v));
        }
    }

    #[test]
    fn search_reports_name_the_request_first() {
        let found = |n| PatrolCommand::Locate(5, LocateReport::Found(n));
        for t in [
            "LOC-5 HALLADOS 2",
            "loc-5 hallados 2",
            "LOC-5 FOUND 2",
            "Loc-5 encontrados: 2 personas",
            "\u{7}LOC-5  Hallados  2.",
            "LOC-5 trouvés 2",
        ] {
            assert_eq!(ok(t), found(2), "{t}");
        }
        for t in [
            "LOC-5 NADA",
            "loc-5 nothing",
            "LOC-5 Nada.",
            "LOC-5 rien",
            "LOC-5 NADA, seguimos",
        ] {
            assert_eq!(
                ok(t),
                PatrolCommand::Locate(5, LocateReport::Nothing),
                "{t}"
            );
        }
        assert_eq!(
            ok("LOC-10000 found 10000"),
            PatrolCommand::Locate(10_000, LocateReport::Found(10_000))
        );
    }

    #[test]
    fn search_reports_refuse_a_missing_word_or_count() {
        assert_eq!(err("LOC-5"), CommandError::BadLocateReport(String::new()));
        assert_eq!(
            err("LOC-5 hola"),
            CommandError::BadLocateReport("hola".into())
        );
        assert_eq!(
            err("LOC-5 HALLADOS"),
            CommandError::BadFoundCount(String::new())
        );
        assert_eq!(
            err("LOC-5 HALLADOS dos"),
            CommandError::BadFoundCount("dos".into())
        );
        assert_eq!(
            err("LOC-5 HALLADOS 0"),
            CommandError::BadFoundCount("0".into())
        );
        assert_eq!(
            err("LOC-5 HALLADOS 10001"),
            CommandError::BadFoundCount("10001".into())
        );
        assert_eq!(err("LOC-5 x").usage(), USAGE_LOCATE);
        assert_eq!(err("LOC-5 found").usage(), USAGE_LOCATE);
        assert!(!err("LOC-5 x").to_string().contains('\n'));
        // Another prefix, or an id not written in full, is chat.
        for t in [
            "SAS-5 HALLADOS 2",
            "LOC5 HALLADOS 2",
            "LOC HALLADOS 2",
            "LOCA-5 NADA",
        ] {
            assert_eq!(parse_command(t), None, "{t:?}");
        }
    }

    fn any_id() -> impl Strategy<Value = IncidentId> {
        ("[A-Z]{2,5}", any::<u32>()).prop_map(|(station, seq)| IncidentId { station, seq })
    }

    proptest! {
        #[test]
        fn search_reports_carry_any_request_and_count(seq in any::<u32>(), n in 1u32..=MAX_FOUND) {
            prop_assert_eq!(
                parse_command(&format!("loc-{seq} hallados {n}")),
                Some(Ok(PatrolCommand::Locate(seq, LocateReport::Found(n))))
            );
            prop_assert_eq!(
                parse_command(&format!("LOC-{seq} NADA")),
                Some(Ok(PatrolCommand::Locate(seq, LocateReport::Nothing)))
            );
        }

        #[test]
        fn search_report_shapes_never_panic(rest in "[ \\-a-zA-Z0-9ñé.,:!\u{7}]{0,40}") {
            let text = format!("LOC-1 {rest}");
            prop_assert!(parse_command(&text).is_some());
        }

        #[test]
        fn parse_command_never_panics(s in ".*") {
            let _ = parse_command(&s);
        }

        #[test]
        fn parse_command_never_panics_on_command_shapes(
            verb in "(?i)(ack|ruta|llegu[eé]|cerrar|nota|estado|sos|amb)",
            rest in "[ \\-a-zA-Z0-9ñé.,!\u{7}]{0,40}",
        ) {
            let text = format!("{verb} {rest}");
            prop_assert!(parse_command(&text).is_some());
        }

        #[test]
        fn commands_carry_any_id(id in any_id()) {
            prop_assert_eq!(
                parse_command(&format!("ack {id}")),
                Some(Ok(PatrolCommand::Ack(id)))
            );
        }

        #[test]
        fn notes_within_budget_are_kept_verbatim(text in "[^\\s\u{7}][^\u{7}]{0,60}[^\\s\u{7}]") {
            let parsed = parse_command(&format!("NOTA SAS-1 {text}"));
            if text.len() <= MAX_NOTE_BYTES {
                prop_assert_eq!(parsed, Some(Ok(PatrolCommand::Note(
                    IncidentId { station: "SAS".into(), seq: 1 }, text))));
            }
        }
    }
}
