//! Municipality replies: a municipal dispatcher's answer to an ambulance request, in the
//! natural language people type (`OK SAS-17 25`, `No hay unidades`, `Llegamos en 20`), told
//! apart from ordinary chat.

use std::fmt;

use super::fold::{compact, fold};
use super::incident_id::{id_word, IncidentId};
use super::words::{quote, split_word, BELL};

/// Longest ETA a municipality can give, in minutes (ten hours).
pub const MAX_ETA_MINUTES: u32 = 600;
/// Longest decline reason kept from `NO <id> <reason>`, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 180;
/// The incident id in the usage examples of [`ReplyError::usage`] and [`ReplyError::usage_en`],
/// exactly as written there, for a caller that substitutes the real id.
pub const USAGE_EXAMPLE_ID: &str = "SAS-17";

/// A municipal dispatcher's answer to an ambulance request, typed on a stock Meshtastic app.
///
/// `id: None` means the dispatcher did not write an incident id: the caller may apply the reply
/// to the sender's request only when that sender has exactly one open request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MunicipalityReply {
    /// `OK SAS-17 25`: an ambulance is coming, in `eta_minutes` (1..=[`MAX_ETA_MINUTES`]) if given.
    Accept {
        /// The incident, as typed.
        id: Option<IncidentId>,
        /// Minutes until the ambulance arrives, as typed.
        eta_minutes: Option<u32>,
    },
    /// `NO SAS-17 sin unidades`: no ambulance.
    Decline {
        /// The incident, as typed.
        id: Option<IncidentId>,
        /// The words after the verb and the id, verbatim, at most [`MAX_REASON_BYTES`].
        reason: Option<String>,
    },
    /// `LLEGO SAS-17`: the ambulance is at the scene.
    Arrived {
        /// The incident, as typed.
        id: Option<IncidentId>,
    },
}

impl MunicipalityReply {
    /// The incident the reply names, if it names one.
    pub fn id(&self) -> Option<&IncidentId> {
        match self {
            MunicipalityReply::Accept { id, .. }
            | MunicipalityReply::Decline { id, .. }
            | MunicipalityReply::Arrived { id } => id.as_ref(),
        }
    }
}

impl fmt::Display for MunicipalityReply {
    /// The canonical form, which [`parse_municipality_reply`] reads back: `OK SAS-17 25`,
    /// `NO SAS-17 sin unidades`, `LLEGO SAS-17`. A decline with a reason and no id is written
    /// `NEGATIVO <reason>`, because `NO <reason>` is only a reply for a few reasons; so is one
    /// whose reason starts with `hay`, `tenemos` or `contamos`, which after `NO` would read back
    /// with the `NO` in the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, id, tail) = match self {
            MunicipalityReply::Accept { id, eta_minutes } => {
                ("OK", id, eta_minutes.map(|m| m.to_string()))
            }
            MunicipalityReply::Decline { id, reason } => {
                let negated = reason
                    .as_deref()
                    .is_some_and(|r| DECLINE_NEGATED.contains(&compact(split_word(r).0).as_str()));
                let verb = if (id.is_none() && reason.is_some()) || negated {
                    "NEGATIVO"
                } else {
                    "NO"
                };
                (verb, id, reason.clone())
            }
            MunicipalityReply::Arrived { id } => ("LLEGO", id, None),
        };
        f.write_str(verb)?;
        if let Some(id) = id {
            write!(f, " {id}")?;
        }
        if let Some(tail) = tail {
            write!(f, " {tail}")?;
        }
        Ok(())
    }
}

/// A municipality's text that reads as a reply but cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// An incident id among the first words, but no `OK`, `NO` or `LLEGO`.
    MissingVerb,
    /// A word shaped like an incident id that is not one (at most a few characters of it).
    BadId(String),
    /// An ETA that is not 1 to [`MAX_ETA_MINUTES`] minutes (at most a few characters of it).
    BadEta(String),
    /// The decline reason is longer than [`MAX_REASON_BYTES`].
    TooLong,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::MissingVerb => {
                write!(
                    f,
                    "reply has an incident id but no OK, NO or LLEGO before it"
                )
            }
            ReplyError::BadId(got) => write!(f, "reply: {got:?} is not an incident id like SAS-17"),
            ReplyError::BadEta(got) => write!(
                f,
                "reply: ETA {got:?} is not a number of minutes from 1 to {MAX_ETA_MINUTES}"
            ),
            ReplyError::TooLong => {
                write!(f, "reply reason is longer than {MAX_REASON_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for ReplyError {}

impl ReplyError {
    /// The short usage hint (Spanish) to send back to the municipality. Examples use the id
    /// [`USAGE_EXAMPLE_ID`].
    pub fn usage(&self) -> &'static str {
        match self {
            ReplyError::MissingVerb | ReplyError::BadId(_) => {
                "Responda: OK SAS-17 <min> | NO SAS-17 | LLEGO SAS-17"
            }
            ReplyError::BadEta(_) => "Responda: OK SAS-17 <min>, de 1 a 600 min",
            ReplyError::TooLong => "Responda: NO SAS-17 <motivo corto>",
        }
    }

    /// [`ReplyError::usage`] in English.
    pub fn usage_en(&self) -> &'static str {
        match self {
            ReplyError::MissingVerb | ReplyError::BadId(_) => {
                "Reply: OK SAS-17 <min> | NO SAS-17 | ARRIVED SAS-17"
            }
            ReplyError::BadEta(_) => "Reply: OK SAS-17 <min>, 1 to 600 min",
            ReplyError::TooLong => "Reply: NO SAS-17 <short reason>",
        }
    }
}

/// What a reply verb says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyKind {
    Accept,
    Decline,
    Arrived,
}

/// A reply verb: what it says, and whether it is *strong* (a word nobody starts ordinary chat
/// with) or *weak* (`OK`, `SI`, `NO`…, see [`parse_municipality_reply`]).
#[derive(Debug, Clone, Copy)]
struct ReplyVerb {
    kind: ReplyKind,
    strong: bool,
    /// Words it takes: 1, or 2 for `EN SITIO`.
    words: usize,
}

/// One-word reply verbs, compacted (folded, letters and digits only), and whether each is strong.
const REPLY_VERBS: [(&str, ReplyKind, bool); 32] = [
    ("ok", ReplyKind::Accept, false),
    ("okay", ReplyKind::Accept, false),
    ("okey", ReplyKind::Accept, false),
    ("si", ReplyKind::Accept, false),
    ("yes", ReplyKind::Accept, false),
    ("vamos", ReplyKind::Accept, false),
    ("acepto", ReplyKind::Accept, true),
    ("aceptado", ReplyKind::Accept, true),
    ("aceptada", ReplyKind::Accept, true),
    ("aceptamos", ReplyKind::Accept, true),
    ("accept", ReplyKind::Accept, true),
    ("accepted", ReplyKind::Accept, true),
    ("confirmado", ReplyKind::Accept, true),
    ("confirmamos", ReplyKind::Accept, true),
    ("no", ReplyKind::Decline, false),
    ("nop", ReplyKind::Decline, false),
    ("nope", ReplyKind::Decline, false),
    ("negativo", ReplyKind::Decline, true),
    ("decline", ReplyKind::Decline, true),
    ("declined", ReplyKind::Decline, true),
    ("declinado", ReplyKind::Decline, true),
    ("declinamos", ReplyKind::Decline, true),
    ("rechazado", ReplyKind::Decline, true),
    ("rechazamos", ReplyKind::Decline, true),
    ("llego", ReplyKind::Arrived, false),
    ("llegue", ReplyKind::Arrived, false),
    ("llegamos", ReplyKind::Arrived, true),
    ("llegaron", ReplyKind::Arrived, true),
    ("arrived", ReplyKind::Arrived, true),
    ("onsite", ReplyKind::Arrived, true),
    ("onscene", ReplyKind::Arrived, true),
    ("ensitio", ReplyKind::Arrived, true),
];

/// Two-word reply verbs (always strong), compacted word by word.
const REPLY_PHRASES: [(&str, &str, ReplyKind); 4] = [
    ("en", "sitio", ReplyKind::Arrived),
    ("on", "site", ReplyKind::Arrived),
    ("on", "scene", ReplyKind::Arrived),
    ("en", "camino", ReplyKind::Accept),
];

/// Words after a bare `NO` that make it a decline (`NO sin unidades`); `*` ends a prefix.
const DECLINE_OPENERS: [&str; 10] = [
    "sin",
    "fuera",
    "lejos",
    "busy",
    "unavailable",
    "units",
    "ocupad*",
    "unidad*",
    "disponib*",
    "ambulanc*",
];

/// Verbs after a bare `NO` that make it a decline only when one of [`NO_RESOURCES`] follows
/// within two words (`NO hay unidades`, `NO contamos con ambulancia`; not `NO hay problema`).
const DECLINE_NEGATED: [&str; 3] = ["hay", "tenemos", "contamos"];

/// What a municipality has none of; `*` ends a prefix.
const NO_RESOURCES: [&str; 8] = [
    "unidad*",
    "ambulanc*",
    "disponib*",
    "personal",
    "nadie",
    "chofer*",
    "paramedic*",
    "operador*",
];

/// Words that introduce an ETA (`en 20`, `in 20`, `ETA 20`): the number after them is minutes.
const ETA_INTRO: [&str; 10] = [
    "en", "in", "eta", "aprox", "approx", "unos", "about", "around", "dentro", "within",
];

/// Words skipped on the way to the ETA (`llegamos en 20`, `tiempo de llegada 20`).
const ETA_FILLER: [&str; 9] = [
    "llegamos", "llego", "llegada", "arrive", "arriving", "arrival", "tiempo", "time", "de",
];

/// Minute and hour units, compacted.
const MINUTE_UNITS: [&str; 8] = [
    "m", "min", "mins", "mn", "minuto", "minutos", "minute", "minutes",
];
const HOUR_UNITS: [&str; 7] = ["h", "hr", "hrs", "hora", "horas", "hour", "hours"];

/// How many words [`parse_municipality_reply`] looks at; the rest is only kept as a reason.
const MAX_SCANNED_WORDS: usize = 12;

/// Parses a municipal dispatcher's reply to an ambulance request.
///
/// `None`: not a reply (ordinary chat; show it to the operator). `Some(Err)`: reads as a reply
/// but cannot be applied (answer with [`ReplyError::usage`]).
///
/// Shape: `<verb> [id] [ETA | reason]`, or `<id> <verb> …`. Case, accents, a leading bell,
/// spaces, `¡` and punctuation around words are ignored; words split at spaces, `,` and `;`.
/// - Verbs: accept `OK`, `SI`, `YES`, `VAMOS`, `ACEPTADO`, `EN CAMINO`…; decline `NO`,
///   `NEGATIVO`, `DECLINE`, `RECHAZADO`…; arrived `LLEGO`, `LLEGAMOS`, `ARRIVED`, `EN SITIO`….
///   An arrival verb followed by `en <n>` / `in <n>` (`LLEGAMOS EN 20`) is an accept with ETA.
/// - The id is the first word shaped like one among the three words after the verb (or the
///   word before it); a word shaped like an id that is not one (`SAS17`, `S-1`) is
///   [`ReplyError::BadId`]. A bare number is never an id: `OK 17` is an ETA of 17 minutes.
/// - ETA (accept only): the first word after the verb and id, past fillers (`en`, `in`, `ETA`,
///   `llegamos`…), if it starts with a digit. `25`, `25min`, `25'`, `25 minutos`, `1 h`
///   (60), `20-30` (30: the later bound) are minutes; a number is taken as the ETA only when a
///   unit follows it, `en`/`in`/`ETA` precedes it, or it ends the sentence (`OK SAS-17 2
///   unidades` has no ETA). Outside 1..=[`MAX_ETA_MINUTES`], or malformed (`14:30`), is
///   [`ReplyError::BadEta`].
/// - Reason (decline only): the rest of the text without the verb and the id, verbatim.
///
/// A *weak* verb (`OK`, `OKAY`, `SI`, `YES`, `VAMOS`, `NO`, `NOPE`, `LLEGO`, `LLEGUE`: words
/// that also start ordinary chat, `Si pueden…`, `No sé dónde…`, `Llegó el mensaje`) makes a
/// reply only when one of these holds; otherwise the text is chat (`None`):
/// 1. an id, or a word shaped like one, follows it within three words (`NO SAS-17`);
/// 2. nothing follows it but punctuation or emoji (`NO`, `¡Sí!`, `OK 👍`);
/// 3. for an accept, an ETA follows (`OK 25`, `Si, en 30 min`);
/// 4. for `NO`, the next word opens a reason: `sin`, `fuera`, `lejos`, `busy`, `unavailable`,
///    `units`, `ocupad*`, `unidad*`, `disponib*`, `ambulanc*`; or `hay`, `tenemos`,
///    `contamos` followed within two words by `unidad*`, `ambulanc*`, `disponib*`, `personal`,
///    `nadie`, `chofer*`, `paramedic*`, `operador*` (`No hay unidades`, never `No hay problema`);
/// 5. for an arrival, `en <n>` / `in <n>` follows (then it is an accept).
///
/// A text starting with `¿`, or whose verb ends with `?` (`¿OK?`, `No?`), is a question: `None`.
/// A text without a verb but with an incident id among its first three words (`SAS-17 25`) is
/// [`ReplyError::MissingVerb`].
pub fn parse_municipality_reply(text: &str) -> Option<Result<MunicipalityReply, ReplyError>> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == BELL);
    if text.starts_with('¿') {
        return None;
    }
    let words = reply_words(text);
    let (lead, verb) = match reply_verb(&words, 0) {
        Some(verb) => (0, verb),
        None => match words.first().filter(|w| looks_like_id(w.bare())) {
            Some(_) => match reply_verb(&words, 1) {
                Some(verb) => (1, verb),
                None => return missing_verb(&words),
            },
            None => return missing_verb(&words),
        },
    };
    let verb_words = &words[lead..lead + verb.words];
    if verb_words.iter().any(|w| w.text.contains(['?', '¿'])) {
        return None;
    }
    let after = &words[lead + verb.words..];
    // The id: the first word shaped like one before the verb or among the three after it.
    let id_at = (0..lead)
        .chain(lead + verb.words..(lead + verb.words + 3).min(words.len()))
        .find(|&i| looks_like_id(words[i].bare()));
    let id = id_at.map(|i| {
        let w = &words[i];
        id_word(w.text).map_err(|_| ReplyError::BadId(quote(w.bare())))
    });
    let rest: Vec<Word<'_>> = (lead + verb.words..words.len())
        .filter(|&i| Some(i) != id_at)
        .map(|i| words[i])
        .collect();
    let arriving_in = verb.kind == ReplyKind::Arrived && arriving_in(&rest);
    let qualifies = verb.strong
        || id.is_some()
        || rest.is_empty()
        || match verb.kind {
            ReplyKind::Accept => eta(&rest) != Ok(None),
            ReplyKind::Decline => opens_decline(&rest),
            ReplyKind::Arrived => arriving_in,
        };
    if !qualifies {
        return None;
    }
    Some(reply(
        text,
        verb,
        verb_words,
        after,
        id_at.map(|i| words[i]),
        id,
        &rest,
    ))
}

/// The reply, once the text is known to be one.
fn reply(
    text: &str,
    verb: ReplyVerb,
    verb_words: &[Word<'_>],
    after: &[Word<'_>],
    id_word: Option<Word<'_>>,
    id: Option<Result<IncidentId, ReplyError>>,
    rest: &[Word<'_>],
) -> Result<MunicipalityReply, ReplyError> {
    let id = id.transpose()?;
    Ok(match verb.kind {
        ReplyKind::Accept => MunicipalityReply::Accept {
            id,
            eta_minutes: eta(rest)?,
        },
        ReplyKind::Arrived if arriving_in(rest) => MunicipalityReply::Accept {
            id,
            eta_minutes: eta(rest)?,
        },
        ReplyKind::Arrived => MunicipalityReply::Arrived { id },
        ReplyKind::Decline => {
            let verb_end = verb_words.last().map_or(0, |w| w.end);
            let id_span = id_word
                .filter(|w| after.first().is_some_and(|a| w.start >= a.start))
                .map(|w| (w.start, w.end));
            let mut reason = decline_reason(text, verb_end, id_span);
            // `NO hay unidades`: keep the NO so the reason reads as what was meant.
            if let (false, Some(r)) = (verb.strong, &reason) {
                let first = compact(split_word(r).0);
                if DECLINE_NEGATED.contains(&first.as_str()) {
                    let no = verb_words.first().map_or("NO", |w| w.bare());
                    reason = Some(format!("{no} {r}"));
                }
            }
            if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON_BYTES) {
                return Err(ReplyError::TooLong);
            }
            MunicipalityReply::Decline { id, reason }
        }
    })
}

/// No verb: a reply only if an incident id is among the first three words.
fn missing_verb(words: &[Word<'_>]) -> Option<Result<MunicipalityReply, ReplyError>> {
    words
        .iter()
        .take(3)
        .any(|w| id_word(w.text).is_ok())
        .then_some(Err(ReplyError::MissingVerb))
}

/// A word of a reply: its text as typed and where it is.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    /// As typed, with any punctuation stuck to it (`SAS-17.`).
    text: &'a str,
    /// Byte offsets in the trimmed text.
    start: usize,
    end: usize,
    /// A sentence break follows: `.`, `!`, `:` on the word, or a `,` `;` or lone dash after it.
    pause: bool,
}

impl Word<'_> {
    /// Without the punctuation around it (`(SAS-17),` → `SAS-17`).
    fn bare(&self) -> &str {
        self.text.trim_matches(|c: char| !c.is_alphanumeric())
    }

    /// Folded, letters and digits only.
    fn key(&self) -> String {
        compact(self.text)
    }
}

/// The first [`MAX_SCANNED_WORDS`] words, split at whitespace, `,`, `;`; words that are only
/// punctuation or symbols are dropped (they mark a pause after the previous word).
fn reply_words(text: &str) -> Vec<Word<'_>> {
    let is_sep = |c: char| c.is_whitespace() || c == ',' || c == ';' || c == BELL;
    let mut words: Vec<Word<'_>> = Vec::new();
    let mut start = None;
    let ends = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    for (i, c) in ends {
        match (start, is_sep(c)) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                start = None;
                let word = &text[s..i];
                let next = text[i..].trim_start_matches(char::is_whitespace);
                let pause = word.ends_with(['.', '!', ':']) || next.starts_with([',', ';']);
                if word.chars().any(char::is_alphanumeric) {
                    words.push(Word {
                        text: word,
                        start: s,
                        end: i,
                        pause,
                    });
                    if words.len() == MAX_SCANNED_WORDS {
                        break;
                    }
                } else if let Some(last) = words.last_mut() {
                    last.pause = true;
                }
            }
            _ => {}
        }
    }
    words
}

/// The reply verb starting at word `i`.
fn reply_verb(words: &[Word<'_>], i: usize) -> Option<ReplyVerb> {
    let first = words.get(i)?.key();
    if let Some(second) = words.get(i + 1).map(Word::key) {
        if let Some(&(_, _, kind)) = REPLY_PHRASES
            .iter()
            .find(|(a, b, _)| *a == first && *b == second)
        {
            return Some(ReplyVerb {
                kind,
                strong: true,
                words: 2,
            });
        }
    }
    REPLY_VERBS
        .iter()
        .find(|(alias, _, _)| *alias == first)
        .map(|&(_, kind, strong)| ReplyVerb {
            kind,
            strong,
            words: 1,
        })
}

/// Shaped like an incident id, valid or not: letters, a dash and a digit or nothing (`SAS-17`,
/// `S-1`, `SASABE-1`, `SAS-1a`), or 2 to 8 letters run into digits (`SAS17`). Never a number.
fn looks_like_id(bare: &str) -> bool {
    let letters = bare.bytes().take_while(u8::is_ascii_alphabetic).count();
    let tail = &bare[letters..];
    match tail.strip_prefix('-') {
        Some(after) => {
            (1..=8).contains(&letters) && after.bytes().next().is_none_or(|b| b.is_ascii_digit())
        }
        None => {
            (2..=8).contains(&letters)
                && !tail.is_empty()
                && tail.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// Whether `key` (compacted) matches one of `words`, where a trailing `*` matches a prefix.
fn matches_any(key: &str, words: &[&str]) -> bool {
    words.iter().any(|w| match w.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *w,
    })
}

/// Rule 4 of [`parse_municipality_reply`]: the words after a bare `NO` open a decline reason.
fn opens_decline(rest: &[Word<'_>]) -> bool {
    let Some(first) = rest.first().map(Word::key) else {
        return false;
    };
    matches_any(&first, &DECLINE_OPENERS)
        || (DECLINE_NEGATED.contains(&first.as_str())
            && rest[1..]
                .iter()
                .take(2)
                .any(|w| matches_any(&w.key(), &NO_RESOURCES)))
}

/// `en <n>` / `in <n>` after an arrival verb: arriving in so many minutes, an accept.
fn arriving_in(rest: &[Word<'_>]) -> bool {
    matches!(
        rest.first().map(Word::key).as_deref(),
        Some("en" | "in" | "dentro" | "within")
    ) && rest.get(1).is_some_and(|w| starts_with_digit(w.bare()))
}

fn starts_with_digit(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Minute or hour, from a compacted unit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EtaUnit {
    Minute,
    Hour,
}

fn eta_unit(key: &str) -> Option<EtaUnit> {
    if MINUTE_UNITS.contains(&key) {
        Some(EtaUnit::Minute)
    } else if HOUR_UNITS.contains(&key) {
        Some(EtaUnit::Hour)
    } else {
        None
    }
}

/// The ETA in the words after the verb and id (see [`parse_municipality_reply`]).
fn eta(rest: &[Word<'_>]) -> Result<Option<u32>, ReplyError> {
    let mut introduced = false;
    let mut at = 0;
    while let Some(w) = rest.get(at).filter(|_| at < 4) {
        let key = w.key();
        if ETA_INTRO.contains(&key.as_str()) {
            introduced = true;
        } else if !ETA_FILLER.contains(&key.as_str()) {
            break;
        }
        at += 1;
    }
    match rest.get(at) {
        Some(w) if starts_with_digit(w.bare()) => minutes(w, rest.get(at + 1), introduced),
        _ => Ok(None),
    }
}

/// The minutes written in `word` (with the unit in it or in `next`); `Ok(None)` for a bare
/// number that is not clearly an ETA.
fn minutes(
    word: &Word<'_>,
    next: Option<&Word<'_>>,
    introduced: bool,
) -> Result<Option<u32>, ReplyError> {
    let bad = || ReplyError::BadEta(quote(word.bare()));
    let folded = fold(word.bare());
    let (low, tail) = leading_number(&folded).ok_or_else(bad)?;
    let (n, tail) = match tail.strip_prefix('-') {
        Some(range) => {
            let (high, tail) = leading_number(range).ok_or_else(bad)?;
            (low.max(high), tail)
        }
        None => (low, tail),
    };
    let attached = match tail {
        "" => None,
        unit => Some(eta_unit(unit).ok_or_else(bad)?),
    };
    let unit = attached
        .or_else(|| next.and_then(|n| eta_unit(&n.key())))
        .or_else(|| {
            word.text
                .ends_with(['\'', '’', '´'])
                .then_some(EtaUnit::Minute)
        });
    if unit.is_none() && !introduced && !word.pause && next.is_some() {
        return Ok(None);
    }
    let factor = if unit == Some(EtaUnit::Hour) { 60 } else { 1 };
    match n.checked_mul(factor) {
        Some(m) if (1..=MAX_ETA_MINUTES).contains(&m) => Ok(Some(m)),
        _ => Err(bad()),
    }
}

/// The ASCII digits at the start of `s` as a number, and what follows them.
fn leading_number(s: &str) -> Option<(u32, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n = s[..digits].parse().ok()?;
    Some((n, &s[digits..]))
}

/// The text after the verb without the id word, verbatim; `None` if nothing is left.
fn decline_reason(text: &str, verb_end: usize, id_span: Option<(usize, usize)>) -> Option<String> {
    let pieces = match id_span {
        Some((start, end)) => [&text[verb_end..start], &text[end..]],
        None => [&text[verb_end..], ""],
    };
    let trim =
        |c: char| c.is_whitespace() || c == BELL || matches!(c, ',' | ';' | ':' | '-' | '–' | '—');
    let reason = pieces
        .iter()
        .map(|p| p.trim_matches(trim))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!reason.is_empty()).then_some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::words::MAX_QUOTED_CHARS;
    use proptest::prelude::*;

    fn id(s: &str) -> IncidentId {
        s.parse().unwrap()
    }

    fn parse(text: &str) -> MunicipalityReply {
        match parse_municipality_reply(text) {
            Some(Ok(r)) => r,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn err(text: &str) -> ReplyError {
        match parse_municipality_reply(text) {
            Some(Err(e)) => e,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn accept(id_: Option<&str>, eta: Option<u32>) -> MunicipalityReply {
        MunicipalityReply::Accept {
            id: id_.map(id),
            eta_minutes: eta,
        }
    }

    fn decline(id_: Option<&str>, reason: Option<&str>) -> MunicipalityReply {
        MunicipalityReply::Decline {
            id: id_.map(id),
            reason: reason.map(str::to_string),
        }
    }

    fn arrived(id_: Option<&str>) -> MunicipalityReply {
        MunicipalityReply::Arrived { id: id_.map(id) }
    }

    #[test]
    fn accepts_with_id_and_eta() {
        let cases = [
            ("OK SAS-17 25", Some(25)),
            ("ok sas-17 25", Some(25)),
            ("SI SAS-17 30 min", Some(30)),
            ("SÍ SAS-17 30 minutos", Some(30)),
            ("YES SAS-17 in 20", Some(20)),
            ("yes sas-17 20 minutes", Some(20)),
            ("VAMOS SAS-17 15", Some(15)),
            ("ACEPTADO SAS-17", None),
            ("Aceptado SAS-17, llegamos en 15 minutos", Some(15)),
            ("OK SAS-17 25'", Some(25)),
            ("OK SAS-17 25min", Some(25)),
            ("OK SAS-17 25 mins.", Some(25)),
            ("OK, SAS-17, 25", Some(25)),
            ("OK: SAS-17 ETA 25", Some(25)),
            ("OK SAS-17 ETA:25", None),
            ("OK SAS-17 en 25 min", Some(25)),
            ("OK SAS-17 aprox 40", Some(40)),
            ("OK SAS-17 tiempo de llegada 35", Some(35)),
            ("OK SAS-17 1 hora", Some(60)),
            ("OK SAS-17 2h", Some(120)),
            ("OK SAS-17 20-30 min", Some(30)),
            ("OK SAS-17 25, gracias", Some(25)),
            ("OK SAS-17 25. Gracias", Some(25)),
            ("OK SAS-17 600", Some(600)),
            ("OK SAS-17 1", Some(1)),
            ("\u{7}OK SAS-17 25", Some(25)),
            ("  ¡Ok!  (SAS-17)  25  ", Some(25)),
            ("EN CAMINO SAS-17 20 min", Some(20)),
            ("Confirmado SAS-17", None),
            ("OK SAS-17 gracias", None),
            ("OK SAS-17 2 unidades", None),
            ("OK SAS-17 LLEGO", None),
        ];
        for (t, eta) in cases {
            assert_eq!(parse(t), accept(Some("SAS-17"), eta), "{t}");
        }
    }

    #[test]
    fn the_id_may_come_anywhere_in_the_first_words() {
        assert_eq!(parse("OK 25 SAS-17"), accept(Some("SAS-17"), Some(25)));
        assert_eq!(parse("OK para SAS-17"), accept(Some("SAS-17"), None));
        assert_eq!(parse("SAS-17 OK 25"), accept(Some("SAS-17"), Some(25)));
        assert_eq!(parse("SAS-17: no"), decline(Some("SAS-17"), None));
        assert_eq!(parse("sas-17 llegamos"), arrived(Some("SAS-17")));
        assert_eq!(
            parse("NO sin unidades SAS-17"),
            decline(Some("SAS-17"), Some("sin unidades"))
        );
        // Beyond the third word after the verb, an id is only part of the text.
        assert_eq!(
            parse("NEGATIVO por falta de SAS-17"),
            decline(None, Some("por falta de SAS-17"))
        );
    }

    #[test]
    fn accepts_without_an_id_are_left_to_the_caller() {
        for (t, eta) in [
            ("OK", None),
            ("ok.", None),
            ("SÍ", None),
            ("¡Sí!", None),
            ("OK 👍", None),
            ("Yes", None),
            ("ACEPTADO", None),
            ("Vamos", None),
            ("OK 25", Some(25)),
            ("OK 17", Some(17)),
            ("Si, en 30 min", Some(30)),
            ("Vamos en 15", Some(15)),
            ("ok 20 minutos", Some(20)),
            ("Aceptamos, llegamos en 20", Some(20)),
        ] {
            assert_eq!(parse(t), accept(None, eta), "{t}");
        }
    }

    #[test]
    fn declines_with_and_without_a_reason() {
        let cases = [
            ("NO SAS-17", Some("SAS-17"), None),
            ("no sas-17", Some("SAS-17"), None),
            ("No, SAS-17.", Some("SAS-17"), None),
            (
                "NO SAS-17 sin unidades",
                Some("SAS-17"),
                Some("sin unidades"),
            ),
            (
                "NO SAS-17: sin unidades, lo siento.",
                Some("SAS-17"),
                Some("sin unidades, lo siento."),
            ),
            ("NEGATIVO SAS-17", Some("SAS-17"), None),
            ("DECLINE SAS-17 no units", Some("SAS-17"), Some("no units")),
            ("Rechazado SAS-17", Some("SAS-17"), None),
            (
                "NO SAS-17 hay unidades libres",
                Some("SAS-17"),
                Some("NO hay unidades libres"),
            ),
            ("NO", None, None),
            ("No.", None, None),
            ("no!!", None, None),
            ("NOPE", None, None),
            ("NO sin unidades", None, Some("sin unidades")),
            ("No, ocupados", None, Some("ocupados")),
            (
                "No unidades disponibles",
                None,
                Some("unidades disponibles"),
            ),
            ("No disponible", None, Some("disponible")),
            ("No, fuera de zona", None, Some("fuera de zona")),
            ("no lejos", None, Some("lejos")),
            ("No busy", None, Some("busy")),
            ("no units", None, Some("units")),
            ("No hay unidades", None, Some("No hay unidades")),
            (
                "No hay ninguna ambulancia",
                None,
                Some("No hay ninguna ambulancia"),
            ),
            (
                "No contamos con unidades",
                None,
                Some("No contamos con unidades"),
            ),
            ("NO tenemos personal", None, Some("NO tenemos personal")),
            ("Negativo, sin chofer", None, Some("sin chofer")),
        ];
        for (t, i, r) in cases {
            assert_eq!(parse(t), decline(i, r), "{t}");
        }
    }

    #[test]
    fn ordinary_chat_is_not_a_reply() {
        for t in [
            "",
            " ",
            "\u{7}",
            "Hola",
            "No sé dónde queda eso",
            "no se donde queda",
            "No entiendo el mensaje",
            "No hay problema",
            "No hay señal aquí",
            "No puedo leer bien",
            "Si pueden mandar más datos",
            "Si no hay unidades les avisamos",
            "Sí claro",
            "OK gracias",
            "ok 2 personas",
            "Vamos a revisar",
            "Llegó el mensaje",
            "llego mañana",
            "yes we can talk later",
            "No 25",
            "¿OK?",
            "¿Sí?",
            "No?",
            "OK? SAS-17",
            "¿SAS-17?",
            "¿NO SAS-17?",
            "gracias SAS",
            "Qué pasó con SAS-17",
        ] {
            assert_eq!(parse_municipality_reply(t), None, "{t:?}");
        }
    }

    #[test]
    fn arrivals() {
        for t in [
            "LLEGO SAS-17",
            "LLEGÓ SAS-17",
            "llegue sas-17",
            "LLEGAMOS SAS-17",
            "ARRIVED SAS-17",
            "arrived: SAS-17",
            "EN SITIO SAS-17",
            "On scene SAS-17",
            "LLEGAMOS SAS-17 todo bien",
        ] {
            assert_eq!(parse(t), arrived(Some("SAS-17")), "{t}");
        }
        for t in [
            "LLEGÓ",
            "Llegó.",
            "LLEGAMOS",
            "Llegamos al lugar",
            "En sitio",
        ] {
            assert_eq!(parse(t), arrived(None), "{t}");
        }
    }

    #[test]
    fn arriving_in_minutes_is_an_accept() {
        assert_eq!(parse("Llegamos en 20"), accept(None, Some(20)));
        assert_eq!(parse("LLEGO EN 10 MIN"), accept(None, Some(10)));
        assert_eq!(
            parse("LLEGAMOS SAS-17 en 20 minutos"),
            accept(Some("SAS-17"), Some(20))
        );
        assert_eq!(parse("arrived in 5"), accept(None, Some(5)));
        assert_eq!(err("Llegamos en 0"), ReplyError::BadEta("0".into()));
    }

    #[test]
    fn bad_etas_are_refused() {
        for (t, got) in [
            ("OK SAS-17 0", "0"),
            ("OK SAS-17 601", "601"),
            ("OK SAS-17 11 horas", "11"),
            ("OK SAS-17 14:30", "14:30"),
            ("OK SAS-17 2pm", "2pm"),
            ("OK SAS-17 1.5h", "1.5h"),
            ("OK SAS-17 99999999999", "99999999999"),
            ("OK 0", "0"),
            ("Si 3er piso", "3er"),
            ("OK SAS-17 en 0 min", "0"),
        ] {
            assert_eq!(err(t), ReplyError::BadEta(got.into()), "{t}");
        }
    }

    #[test]
    fn bad_ids_are_refused_and_numbers_are_not_ids() {
        for (t, got) in [
            ("OK SAS17 25", "SAS17"),
            ("NO S-1", "S-1"),
            ("LLEGO SASABE-1", "SASABE-1"),
            ("OK SAS-1a", "SAS-1a"),
            ("OK SAS-99999999999", "SAS-99999999999"),
            ("SAS17 OK", "SAS17"),
        ] {
            assert_eq!(err(t), ReplyError::BadId(got.into()), "{t}");
        }
        // `17` is not an id and not clearly an ETA (a word follows): chat for the operator.
        assert_eq!(parse_municipality_reply("OK 17 25"), None);
        assert_eq!(parse("OK 17"), accept(None, Some(17)));
        let long = format!("OK {}-1", "A".repeat(8));
        assert_eq!(err(&long), ReplyError::BadId("AAAAAAAA-1".into()));
        let quoted = err(&format!("OK SAS-1{}", "a".repeat(100)));
        assert!(
            matches!(quoted, ReplyError::BadId(ref g) if g.chars().count() == MAX_QUOTED_CHARS)
        );
    }

    #[test]
    fn an_id_without_a_verb_is_missing_the_verb() {
        for t in ["SAS-17", "SAS-17 25", "sas-17.", "Sobre SAS-17 ya vamos"] {
            assert_eq!(err(t), ReplyError::MissingVerb, "{t}");
        }
    }

    #[test]
    fn long_reasons_are_refused() {
        let ok = "a".repeat(MAX_REASON_BYTES);
        assert_eq!(
            parse(&format!("NO SAS-1 {ok}")),
            decline(Some("SAS-1"), Some(&ok))
        );
        let long = "ñ".repeat(MAX_REASON_BYTES / 2 + 1);
        assert_eq!(err(&format!("NO SAS-1 {long}")), ReplyError::TooLong);
    }

    #[test]
    fn reply_errors_are_one_line() {
        let cases = [
            (
                ReplyError::MissingVerb,
                "reply has an incident id but no OK, NO or LLEGO before it",
            ),
            (
                ReplyError::BadId("SAS17".into()),
                "reply: \"SAS17\" is not an incident id like SAS-17",
            ),
            (
                ReplyError::BadEta("0".into()),
                "reply: ETA \"0\" is not a number of minutes from 1 to 600",
            ),
            (ReplyError::TooLong, "reply reason is longer than 180 bytes"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn usage_hints_in_spanish_and_english() {
        let all = [
            ReplyError::MissingVerb,
            ReplyError::BadId("x".into()),
            ReplyError::BadEta("0".into()),
            ReplyError::TooLong,
        ];
        assert_eq!(
            all[0].usage(),
            "Responda: OK SAS-17 <min> | NO SAS-17 | LLEGO SAS-17"
        );
        assert_eq!(
            all[0].usage_en(),
            "Reply: OK SAS-17 <min> | NO SAS-17 | ARRIVED SAS-17"
        );
        for e in all {
            for hint in [e.usage(), e.usage_en()] {
                assert!(
                    hint.len() <= 60 && hint.contains(USAGE_EXAMPLE_ID),
                    "{hint}"
                );
                assert!(!hint.contains('\n'));
            }
        }
    }

    #[test]
    fn usage_examples_parse() {
        for (t, want) in [
            ("OK SAS-17 25", accept(Some("SAS-17"), Some(25))),
            ("NO SAS-17", decline(Some("SAS-17"), None)),
            ("LLEGO SAS-17", arrived(Some("SAS-17"))),
            ("ARRIVED SAS-17", arrived(Some("SAS-17"))),
            (
                "NO SAS-17 motivo corto",
                decline(Some("SAS-17"), Some("motivo corto")),
            ),
        ] {
            assert_eq!(parse(t), want, "{t}");
        }
    }

    #[test]
    fn canonical_forms_print() {
        assert_eq!(accept(Some("SAS-17"), Some(25)).to_string(), "OK SAS-17 25");
        assert_eq!(accept(None, Some(25)).to_string(), "OK 25");
        assert_eq!(accept(None, None).to_string(), "OK");
        assert_eq!(
            decline(Some("SAS-17"), Some("sin unidades")).to_string(),
            "NO SAS-17 sin unidades"
        );
        assert_eq!(decline(None, Some("lejos")).to_string(), "NEGATIVO lejos");
        assert_eq!(decline(None, None).to_string(), "NO");
        assert_eq!(arrived(Some("SAS-17")).to_string(), "LLEGO SAS-17");
        assert_eq!(arrived(None).to_string(), "LLEGO");
        assert_eq!(accept(Some("SAS-1"), None).id(), Some(&id("SAS-1")));
        assert_eq!(decline(None, None).id(), None);
    }

    #[test]
    fn patrol_commands_name_no_reply_verb() {
        for t in [
            "ACK SAS-17",
            "RUTA SAS-17",
            "CERRAR SAS-17 rescatado",
            "SOS SAS-17",
        ] {
            assert_eq!(
                parse_municipality_reply(t),
                Some(Err(ReplyError::MissingVerb)),
                "{t}"
            );
        }
        assert_eq!(parse_municipality_reply("ESTADO"), None);
    }

    fn any_id() -> impl Strategy<Value = IncidentId> {
        ("[A-Z]{2,5}", any::<u32>()).prop_map(|(station, seq)| IncidentId { station, seq })
    }

    /// Any reply in canonical form: reasons of plain lower-case words that do not start with
    /// `hay`, `tenemos` or `contamos` (which keep the `NO`).
    fn any_reply() -> impl Strategy<Value = MunicipalityReply> {
        let reason = proptest::option::of("[a-zñ]{1,10}([.,]? [a-zñ]{1,10}){0,4}[.!]?")
            .prop_filter("keeps NO", |r| {
                r.as_deref()
                    .is_none_or(|r| !DECLINE_NEGATED.contains(&split_word(r).0))
            });
        let id = || proptest::option::of(any_id());
        prop_oneof![
            (id(), proptest::option::of(1..=MAX_ETA_MINUTES))
                .prop_map(|(id, eta_minutes)| MunicipalityReply::Accept { id, eta_minutes }),
            (id(), reason).prop_map(|(id, reason)| MunicipalityReply::Decline { id, reason }),
            id().prop_map(|id| MunicipalityReply::Arrived { id }),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_municipality_reply(&s);
        }

        #[test]
        fn never_panics_on_reply_shapes(
            verb in "(?i)(ok|s[ií]|no|llegu?[eéoó]|vamos|negativo|en sitio|aceptado)",
            rest in "[ \\-a-zA-Z0-9ñé.,:;'!?¿\u{7}]{0,40}",
        ) {
            let _ = parse_municipality_reply(&format!("{verb} {rest}"));
            let _ = parse_municipality_reply(&format!("{rest} {verb}"));
        }

        #[test]
        fn canonical_forms_round_trip(reply in any_reply()) {
            let text = reply.to_string();
            prop_assert_eq!(parse_municipality_reply(&text), Some(Ok(reply.clone())), "{}", text);
            let lower = text.to_lowercase();
            let parsed = parse_municipality_reply(&lower);
            prop_assert_eq!(parsed.and_then(Result::ok).map(|r| r.id().cloned()),
                Some(reply.id().cloned()), "{}", lower);
        }

        #[test]
        fn the_typed_id_is_the_parsed_id(
            a in any_id(),
            b in any_id(),
            eta in 1..=MAX_ETA_MINUTES,
            form in 0usize..12,
        ) {
            prop_assume!(a != b);
            let text = match form {
                0 => format!("OK {a} {eta}"),
                1 => format!("ok {} {eta} min", a.to_string().to_lowercase()),
                2 => format!("SI {a} en {eta} minutos ({b})"),
                3 => format!("{a} OK {eta} {b}"),
                4 => format!("OK {eta} {a} {b}"),
                5 => format!("NO {a} sin unidades, pidan a {b}"),
                6 => format!("\u{7}No, {a}. {b} tampoco"),
                7 => format!("NEGATIVO {a} {b}"),
                8 => format!("LLEGO {a} {b}"),
                9 => format!("EN SITIO {a}, {b}"),
                10 => format!("Llegamos {a} en {eta} ({b})"),
                _ => format!("¡Aceptado! {a} {eta}' {b}"),
            };
            let reply = parse_municipality_reply(&text);
            let got = reply.as_ref().and_then(|r| r.as_ref().ok()).and_then(MunicipalityReply::id);
            prop_assert_eq!(got, Some(&a), "{} gave {:?}", text, reply);
            prop_assert_ne!(got, Some(&b));
        }

        #[test]
        fn any_eta_in_range_is_read(eta in 1..=MAX_ETA_MINUTES, unit in "(|min|mins|minutos|minutes|')") {
            let text = format!("OK SAS-1 {eta}{unit}");
            prop_assert_eq!(parse(&text), accept(Some("SAS-1"), Some(eta)));
            let spaced = format!("OK SAS-1 {eta} {unit}");
            prop_assert_eq!(parse(&spaced), accept(Some("SAS-1"), Some(eta)));
        }

        #[test]
        fn etas_out_of_range_are_refused(eta in (MAX_ETA_MINUTES + 1)..=u32::MAX) {
            prop_assert_eq!(
                parse_municipality_reply(&format!("OK SAS-1 {eta}")),
                Some(Err(ReplyError::BadEta(eta.to_string())))
            );
        }

        #[test]
        fn chat_after_a_weak_verb_is_not_a_reply(
            verb in "(?i)(si|s[ií]|ok|vamos|yes|llego)",
            chat in "[a-zñ][a-zñ ]{0,40}",
        ) {
            prop_assume!(!chat.split_whitespace().next().is_some_and(|w| {
                ETA_INTRO.contains(&w) || ETA_FILLER.contains(&w) || REPLY_VERBS.iter().any(|v| v.0 == w)
            }));
            let text = format!("{verb} {chat}");
            prop_assume!(reply_verb(&reply_words(&text), 0).is_some_and(|v| v.words == 1));
            prop_assert_eq!(parse_municipality_reply(&text), None, "{}", text);
        }

        #[test]
        fn no_then_chat_is_not_a_decline(chat in "(se|sé|puedo|entiendo|hay problema|creo|sabemos) [a-zñ ]{0,40}") {
            let text = format!("No {chat}");
            prop_assert_eq!(parse_municipality_reply(&text), None, "{}", text);
        }
    }
}
