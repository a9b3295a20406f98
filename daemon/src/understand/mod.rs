//! Understanding a message, pure and explainable: from a chat text, decide whether its sender
//! needs help (yes), may need it (maybe: worth asking them) or not (no), with the kind of
//! emergency, the people, the flags, the language, and the words that decided, which the desk
//! shows as it shows priority reasons.
//!
//! It reads text as people type it on a phone in the desert: no accents, capitals, letters
//! repeated (`AYUDAAA`), spelled (`S O S`), typos (`auxlio`, `alluda`, `nececito`), verb forms
//! (`ayúdenos`, `pueden ayudarnos`), situations with no plea in them (`no tenemos agua`,
//! `mi hijo no respira`, `nos dejó el coyote`), Spanish as a second language, Haitian Creole and
//! Portuguese; and it knows what is not an emergency: negation (`no necesito ayuda`), thanks
//! for past help, radio tests, and names (`Soy Socorro Hernández`).
//!
//! Rules, in order: a plea that is negated, thanked for or part of a name does not count; a
//! radio test with nothing else is no; a plea or an emergency told is yes; a sign alone (tired,
//! thirsty, "is anyone there") is maybe, except for a child, an elderly person or a pregnant
//! woman with two signs, or a child alone, which is yes; a guide who left means abandoned; a
//! message that says all is well, or laughs, with no plea is no; the rest is no. The lexicon is in [`lexicon`], the
//! text normalisation in [`normalize`]. No I/O, no allocation beyond the message's words.

pub mod corpus;
pub mod lexicon;
pub mod normalize;
pub mod question;

use std::fmt;

use crate::incident::{Flag, Kind};
use crate::lang::Lang;
use lexicon::{Entry, Sense, ENTRIES, MARKERS};
use normalize::{distance, phonetic, tokens, Token};

/// Does the sender need help?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A call for help: an incident.
    Yes,
    /// Unclear: ask the sender, show the desk.
    Maybe,
    /// Not an emergency.
    No,
}

impl Verdict {
    /// `yes`, `maybe`, `no`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::Maybe => "maybe",
            Verdict::No => "no",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Faro made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Yes, maybe, no.
    pub verdict: Verdict,
    /// The emergency's kind, when told.
    pub kind: Option<Kind>,
    /// How many people, when told.
    pub people: Option<u32>,
    /// Flags, sorted, no repeats.
    pub flags: Vec<Flag>,
    /// The language the words belong to, when they tell.
    pub language: Option<Lang>,
    /// The words that decided, each with what it meant (`"no respira": not breathing`).
    pub why: Vec<String>,
}

/// One phrase found in the text.
#[derive(Debug, Clone, Copy)]
struct Hit {
    entry: &'static Entry,
    /// First and last token.
    start: usize,
    end: usize,
    /// Every word matched as written (no typo, no sound-alike): only such hits tell the
    /// language (`perdido` is one typo from Spanish `perdio`, and Portuguese too).
    exact: bool,
}

/// Reads one message.
pub fn read(text: &str) -> Reading {
    let mut toks = tokens(text);
    for t in &mut toks {
        t.except = EXCEPT.contains(&t.word.as_str());
    }
    let hits = find(&toks);
    let original_caps = capitalised_words(text);
    let mut why = Vec::new();
    let mut kind: Option<Kind> = None;
    let mut flags: Vec<Flag> = Vec::new();
    // "Se me va a morir el cel", "phone is dying": the death of a battery is a sign, not an
    // emergency.
    let device = toks.iter().any(|t| {
        matches!(
            t.word.as_str(),
            "cel"
                | "celular"
                | "telefono"
                | "phone"
                | "telefon"
                | "telephone"
                | "celu"
                | "bateria"
                | "battery"
                | "batterie"
                | "batri"
                | "pila"
                | "telefone"
        )
    });
    let dying = |w: &str| {
        [
            "mori", "muer", "muri", "dying", "die", "mouri", "morr", "meur", "mour",
        ]
        .iter()
        .any(|p| w.starts_with(p))
    };
    let mut plea = false;
    let mut emergency = false;
    let mut sign = false;
    let mut no_need = false;
    let mut test = false;
    let mut thanks = false;
    let phrase = |h: &Hit| {
        toks[h.start..=h.end]
            .iter()
            .map(|t| t.word.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for h in &hits {
        match h.entry.1 {
            Sense::NoNeed => no_need = true,
            Sense::Test => test = true,
            Sense::Thanks => thanks = true,
            _ => {}
        }
    }
    for h in &hits {
        let words = phrase(h);
        match h.entry.1 {
            Sense::Plea => {
                if is_name(&toks, &hits, h, &original_caps) {
                    why.push(format!("\"{words}\": a name, not a plea"));
                    continue;
                }
                if compound(&toks, h) {
                    why.push(format!("\"{words}\": a service, not a plea"));
                    continue;
                }
                if negated(&toks, &hits, h) || no_need {
                    why.push(format!("\"{words}\": help not needed"));
                    continue;
                }
                if thanks && past_help(&toks, h) {
                    why.push(format!("\"{words}\": thanks for help given"));
                    continue;
                }
                plea = true;
                why.push(format!("\"{words}\": asks for help"));
            }
            Sense::Emergency(k, f) => {
                if permission(&toks, h) {
                    why.push(format!("\"{words}\": let, not left"));
                    continue;
                }
                if device && toks[h.start..=h.end].iter().any(|t| dying(&t.word)) {
                    sign = true;
                    why.push(format!("\"{words}\": the phone, worth asking"));
                    continue;
                }
                emergency = true;
                if let Some(k) = k {
                    kind = Some(stronger(kind, k));
                }
                if let Some(f) = f {
                    flags.push(f);
                }
                why.push(format!("\"{words}\": {}", meaning(k, f)));
            }
            Sense::Detail(k, f) => {
                if let Some(f) = f {
                    flags.push(f);
                    why.push(format!("\"{words}\": {}", f.as_str().replace('_', " ")));
                }
                if let Some(k) = k {
                    sign = true;
                    kind = Some(stronger(kind, k));
                }
            }
            Sense::Sign => {
                sign = true;
                why.push(format!("\"{words}\": worth asking"));
            }
            _ => {}
        }
    }
    if !emergency && guide_left(&toks) {
        emergency = true;
        flags.push(Flag::Abandoned);
        why.push("the guide left: abandoned".into());
    }
    // An emergency told counts unless the message also says no help is needed ("ya no
    // estamos perdidos") or only thanks for help given.
    let told = emergency && !no_need && (sign || !thanks);
    // A child, an elderly person, a pregnant woman or a disabled person with two signs
    // ("baby hasn't eaten and is really hot", "la abuela tiene sed y mucho calor") is distress.
    let vulnerable = flags.iter().any(|f| {
        matches!(
            f,
            Flag::Children | Flag::Elderly | Flag::Pregnant | Flag::Disability
        )
    });
    let signs = hits
        .iter()
        .filter(|h| matches!(h.entry.1, Sense::Sign))
        .count();
    let told = told || (vulnerable && signs >= 2 && !no_need && !thanks && !test);
    let mut verdict = if plea || told {
        Verdict::Yes
    } else if (test && !emergency) || (no_need && !plea) {
        // A test, or "all is well", a joke, the news: nothing to ask about.
        Verdict::No
    } else if emergency || sign {
        Verdict::Maybe
    } else {
        Verdict::No
    };
    if verdict == Verdict::No {
        flags.clear();
        kind = None;
    }
    // A child said to be alone travels unaccompanied.
    let alone = toks.iter().any(|t| {
        matches!(
            t.word.as_str(),
            "solo"
                | "sola"
                | "solito"
                | "solita"
                | "alone"
                | "seul"
                | "seule"
                | "sozinho"
                | "sozinha"
        )
    });
    if alone && flags.contains(&Flag::Children) {
        flags.push(Flag::UnaccompaniedMinor);
        // A child alone with a sign of trouble ("un niño solo llorando junto al río").
        if verdict == Verdict::Maybe && !no_need {
            verdict = Verdict::Yes;
        }
    }
    flags.sort();
    flags.dedup();
    if kind == Some(Kind::Distress) && flags.is_empty() && verdict == Verdict::Yes {
        kind = None;
    }
    Reading {
        verdict,
        kind,
        people: people(&toks),
        flags,
        language: language(&toks, &hits),
        why,
    }
}

/// The more urgent of two kinds (medical and water first).
fn stronger(cur: Option<Kind>, new: Kind) -> Kind {
    let rank = |k: Kind| match k {
        Kind::Medical => 0,
        Kind::Drowning => 1,
        Kind::Heat => 2,
        Kind::Violence => 3,
        Kind::Lost => 4,
        Kind::Distress => 5,
        Kind::Info => 6,
    };
    match cur {
        Some(c) if rank(c) <= rank(new) => c,
        _ => new,
    }
}

fn meaning(k: Option<Kind>, f: Option<Flag>) -> String {
    match (k, f) {
        (_, Some(f)) => f.as_str().replace('_', " "),
        (Some(k), None) => k.as_str().to_string(),
        (None, None) => "emergency".into(),
    }
}

/// Every phrase of the lexicon found in the text; a longer phrase covering the same words
/// hides its parts.
fn find(toks: &[Token]) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    for (entry, &(first, key)) in ENTRIES.iter().zip(heads()) {
        let pattern = entry.0;
        for start in 0..toks.len() {
            // Every way a word matches starts with the same letter or the same sound.
            let t = &toks[start];
            if t.word.as_bytes().first() != Some(&first) && t.key.as_bytes().first() != key {
                continue;
            }
            if let Some((end, exact)) = matches_at(toks, start, pattern) {
                hits.push(Hit {
                    entry,
                    start,
                    end,
                    exact,
                });
            }
        }
    }
    // "No estamos bien", "não estamos bem", "not ok": a negated "all is well" says the opposite.
    // "Ça va pas": French says it after.
    let negated_before = |h: &Hit| {
        h.start > 0
            && !NEGATIONS.contains(&h.entry.0[0])
            && NEGATIONS.contains(&toks[h.start - 1].word.as_str())
    };
    let negated_after = |h: &Hit| toks.get(h.end + 1).is_some_and(|t| t.word == "pas");
    hits.retain(|h| {
        !matches!(h.entry.1, Sense::NoNeed) || !(negated_before(h) || negated_after(h))
    });
    // Drop a hit whose words lie inside a longer hit of the same sense family.
    let covered = |a: &Hit, b: &Hit| {
        b.start <= a.start && a.end <= b.end && (b.end - b.start) > (a.end - a.start)
    };
    let all = hits.clone();
    hits.retain(|a| !all.iter().any(|b| covered(a, b) && same_family(a, b)));
    // One hit per start position and sense (two entries for the same words).
    hits.sort_by_key(|h| (h.start, h.end, !h.exact));
    hits.dedup_by(|a, b| a.start == b.start && a.end == b.end && a.entry.1 == b.entry.1);
    hits
}

/// For each entry of the lexicon, the first letter and the first sound of its first word
/// (computed once): a word that starts with neither cannot match it.
fn heads() -> &'static [(u8, Option<&'static u8>)] {
    static HEADS: std::sync::OnceLock<Vec<(u8, Option<&'static u8>)>> = std::sync::OnceLock::new();
    HEADS.get_or_init(|| {
        ENTRIES
            .iter()
            .map(|e| (e.0[0].as_bytes()[0], key_of(e.0[0]).as_bytes().first()))
            .collect()
    })
}

fn same_family(a: &Hit, b: &Hit) -> bool {
    let fam = |s: Sense| match s {
        Sense::Plea => 0,
        Sense::Emergency(..) | Sense::Detail(..) | Sense::Sign => 1,
        Sense::NoNeed | Sense::Thanks | Sense::Test => 2,
        Sense::NameBefore => 3,
    };
    // A "no need" phrase also hides the emergency word inside it ("ya no", "no agua").
    fam(a.entry.1) == fam(b.entry.1) || matches!(b.entry.1, Sense::NoNeed)
}

/// Where `pattern` matches starting at token `start` (one extra word allowed between pattern
/// words): the index of its last token, and whether every word matched as written.
fn matches_at(toks: &[Token], start: usize, pattern: &[&'static str]) -> Option<(usize, bool)> {
    let mut i = start;
    let mut exact = true;
    for (n, p) in pattern.iter().enumerate() {
        if n == 0 {
            exact &= word_matches(toks.get(i)?, p)?;
            continue;
        }
        if let Some(e) = toks.get(i + 1).and_then(|t| word_matches(t, p)) {
            i += 1;
            exact &= e;
        } else if let Some(e) = toks.get(i + 2).and_then(|t| word_matches(t, p)) {
            i += 2;
            exact &= e;
        } else {
            return None;
        }
    }
    Some((i, exact))
}

/// A word of the text against a word of the lexicon: None, or whether it matched as written
/// (true) or by a typo or a sound-alike (false).
fn word_matches(t: &Token, p: &'static str) -> Option<bool> {
    if let Some(prefix) = p.strip_suffix('*') {
        if t.except {
            return None;
        }
        if t.word.starts_with(prefix) {
            return Some(true);
        }
        return (prefix.len() >= 6 && t.key.starts_with(key_of(p))).then_some(false);
    }
    if t.word == p {
        return Some(true);
    }
    let len = p.len();
    if len < 5 || t.word.len() < 4 || t.except {
        return None;
    }
    if t.key == key_of(p) {
        return Some(false);
    }
    // Sounds alike from five letters; one typo only from seven, never in the first letter
    // (`parte` is not `parto`, `Marcos` is not `narcos`, `muero` is not `muerto`).
    let typo = len >= 7
        && t.word.as_bytes().first() == p.as_bytes().first()
        && t.word.len().abs_diff(len) <= 1
        && distance(&t.word, p, 1).is_some();
    typo.then_some(false)
}

/// The phonetic key of a lexicon word (its `*` left out), computed once for the lexicon.
fn key_of(p: &'static str) -> &'static str {
    static KEYS: std::sync::OnceLock<std::collections::HashMap<&'static str, String>> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        ENTRIES
            .iter()
            .flat_map(|e| e.0.iter())
            .map(|w| (*w, phonetic(w.trim_end_matches('*'))))
            .collect()
    });
    keys.get(p).map_or("", String::as_str)
}

/// Words that negate what follows.
const NEGATIONS: &[&str] = &[
    "no", "nao", "not", "pas", "pa", "never", "nunca", "jamas", "ni",
];

/// Who leads or drives people on the route: when such a one left, ran or vanished, the people
/// were abandoned ("el coyote se fue", "the guide ran off", "o guia foi embora", "gid la kouri").
const GUIDES: &[&str] = &[
    "coyote",
    "coyot",
    "coyotes",
    "pollero",
    "polleros",
    "guia",
    "guias",
    "guide",
    "guides",
    "smuggler",
    "smugglers",
    "passeur",
    "passeurs",
    "gid",
    "pase",
    "coiote",
    "coiotes",
    "lanchero",
    "pasador",
];

/// Whether a guide word and a word of leaving are both in the message.
fn guide_left(toks: &[Token]) -> bool {
    const LEAVE_STEMS: &[&str] = &[
        "dej",
        "abandon",
        "huy",
        "huir",
        "desaparec",
        "laiss",
        "kite",
        "kouri",
        "largou",
        "deix",
        "sumi",
        "fugi",
        "embora",
        "escap",
        "ditch",
        "vanish",
        "disappear",
        "disparu",
        "enfui",
    ];
    const LEAVE: &[&str] = &[
        "fue",
        "fueron",
        "left",
        "ran",
        "parti",
        "partis",
        "partit",
        "ale",
        "corrio",
        "corrieron",
        "gone",
    ];
    toks.iter().any(|t| GUIDES.contains(&t.word.as_str()))
        && toks.iter().any(|t| {
            let w = t.word.as_str();
            LEAVE.contains(&w) || LEAVE_STEMS.iter().any(|s| w.starts_with(s))
        })
}

/// "Nos dejaron pasar", "nos dejó quedarnos": being let do something is not being left.
fn permission(toks: &[Token], h: &Hit) -> bool {
    toks[h.end].word.starts_with("dej")
        && toks.get(h.end + 1).is_some_and(|t| {
            let w = t.word.as_str();
            [
                "ar", "er", "ir", "arnos", "ernos", "irnos", "arme", "erme", "irme",
            ]
            .iter()
            .any(|s| w.len() > s.len() + 2 && w.ends_with(s))
        })
}

/// Words a prefix would take that mean something else.
const EXCEPT: &[&str] = &[
    "ayudante",
    "ayudantes",
    "socorrista",
    "socorristas",
    "aidee",
    "rescatista",
    "sangria",
    "kidding",
    "kids",
    "heridas",
    "perdiz",
    "bebida",
    "bebidas",
    "enfermera",
    "enfermero",
    "enfermeria",
    "hijole",
    "rescatado",
    "rescatados",
    "rescatada",
    "rescatadas",
    "helpful",
    "helper",
    "helping",
    "secouriste",
    "secouristes",
    "enfermagem",
    "salvo",
    "salud",
    "saludos",
    "saludo",
    "saluda",
    "saludame",
    "salida",
    "salvador",
    "salvadoreno",
    "salvadorenos",
    "salvavidas",
    "gravemente_no",
    "marea",
    "mareas",
    "rapidamente",
    "cartelera",
    "burning_no",
    "illegal",
    "illinois",
    "vitesse",
    "salvar_no",
    "mareo_no",
];

/// Whether a plea is negated: "no necesito ayuda", "don't need help", "pa bezwen èd".
fn negated(toks: &[Token], hits: &[Hit], h: &Hit) -> bool {
    let from = h.start.saturating_sub(4);
    hits.iter()
        .any(|o| matches!(o.entry.1, Sense::NoNeed) && o.start >= from && o.start < h.start)
        || toks[from..h.start].iter().any(|t| {
            matches!(
                t.word.as_str(),
                "no" | "nao" | "not" | "pas" | "pa" | "never" | "nunca" | "jamas"
            )
        }) && toks[from..h.start].iter().any(|t| {
            t.word.starts_with("necesit")
                || t.word.starts_with("precis")
                || t.word == "need"
                || t.word == "needed"
                || t.word == "besoin"
                || t.word == "bezwen"
                || t.word == "es"
                || t.word == "e"
        })
}

/// A plea in a thank-you for help given: "gracias por la ayuda", "thanks for all your help",
/// "pou èd nou te ban nou": "for", then at most two small words (an article, "all", "your"),
/// then the plea ("gracias, por favor ayuda" is still a plea).
fn past_help(toks: &[Token], h: &Hit) -> bool {
    const FOR: &[&str] = &["por", "for", "pour", "pela", "pelo", "pou", "pra"];
    const SMALL: &[&str] = &[
        "la", "el", "los", "las", "su", "sus", "tu", "toda", "todo", "the", "your", "all", "a",
        "l", "le", "les", "votre", "vos", "toute", "o", "as", "os", "sua", "tanta", "tanto",
        "esta", "this", "that", "tout", "tou", "todas", "todos", "tous", "tudo", "much", "so",
    ];
    let mut i = h.start;
    for _ in 0..3 {
        let Some(prev) = i.checked_sub(1) else {
            return false;
        };
        let w = toks[prev].word.as_str();
        if FOR.contains(&w) {
            return true;
        }
        if !SMALL.contains(&w) {
            return false;
        }
        i = prev;
    }
    false
}

/// A plea word that names a service, not a call: "help desk", "help wanted", "helpline".
fn compound(toks: &[Token], h: &Hit) -> bool {
    toks.get(h.end + 1).is_some_and(|t| {
        matches!(
            t.word.as_str(),
            "desk" | "wanted" | "center" | "centre" | "line" | "lines" | "page" | "hours"
        )
    })
}

/// A plea word that is a name: `Soy Socorro`, `doña Socorro`, `Socorro Hernández`.
fn is_name(toks: &[Token], hits: &[Hit], h: &Hit, caps: &[bool]) -> bool {
    let word = &toks[h.start].word;
    // An offer or a title right before a plea word: "puedo ayudar", "nurse's aide", "doña
    // Socorro".
    let offered = h.start > 0
        && hits
            .iter()
            .any(|o| matches!(o.entry.1, Sense::NameBefore) && o.end + 1 == h.start);
    let named_as = |i: usize| caps.get(i).copied().unwrap_or(false);
    // "Auxilio Gómez", "Socorro Hernández": a plea word written as a name before a surname.
    if h.start == h.end && named_as(h.start) && named_as(h.start + 1) && !caps.iter().all(|c| *c) {
        return true;
    }
    // "Socorro dice que ya llegó", "Socorro says hi": a capitalised plea word that someone
    // does something with speech is a person.
    const SAYS: &[&str] = &[
        "dice",
        "dijo",
        "manda",
        "mando",
        "pregunta",
        "pregunto",
        "says",
        "said",
        "asks",
        "asked",
        "dit",
        "diz",
        "disse",
        "pergunta",
        "perguntou",
        "llego",
        "vino",
        "arrived",
        "chegou",
        "quiere",
        "wants",
        "veut",
        "quer",
    ];
    if h.start == h.end
        && named_as(h.start)
        && !caps.iter().all(|c| *c)
        && toks
            .get(h.end + 1)
            .is_some_and(|t| SAYS.contains(&t.word.as_str()))
    {
        return true;
    }
    if !word.starts_with("socorr") || h.start != h.end {
        return offered;
    }
    let titled = h.start > 0
        && hits
            .iter()
            .any(|o| matches!(o.entry.1, Sense::NameBefore) && o.end + 1 == h.start);
    // "Socorro Hernández": written as a name, followed by a capitalised word.
    let named = caps.get(h.start).copied().unwrap_or(false)
        && caps.get(h.start + 1).copied().unwrap_or(false)
        && !caps.iter().all(|c| *c);
    titled || named
}

/// For each word of the text (as [`tokens`] splits it), whether it was written with a capital
/// and the rest in lower case (a name), as opposed to all capitals or all lower case.
fn capitalised_words(text: &str) -> Vec<bool> {
    let text = text.replace('\u{1F198}', " sos ");
    let raw: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // The same words as `tokens` finds: a spelled word is never a name.
    normalize::spans(&raw)
        .into_iter()
        .map(|(start, len)| {
            let mut cs = raw[start].chars();
            let first_upper = cs.next().is_some_and(char::is_uppercase);
            let rest_lower = cs.clone().any(char::is_alphabetic) && cs.all(|c| !c.is_uppercase());
            len == 1 && first_upper && rest_lower
        })
        .collect()
}

/// The language most of the text's words mark (phrases count double); none when nothing does.
fn language(toks: &[Token], hits: &[Hit]) -> Option<Lang> {
    let mut votes = [0u32; 5];
    let idx = |l: Lang| Lang::ALL.iter().position(|x| *x == l).unwrap_or(0);
    for h in hits.iter().filter(|h| h.exact) {
        if let Some(l) = h.entry.2 {
            votes[idx(l)] += 2;
        }
    }
    for t in toks {
        for (w, l) in MARKERS {
            if t.word == *w {
                votes[idx(*l)] += 1;
            }
        }
    }
    let best = *votes.iter().max()?;
    if best == 0 {
        return None;
    }
    // Ties go to the station's order (Spanish first).
    Lang::ALL.iter().copied().find(|l| votes[idx(*l)] == best)
}

/// "somos 3", "3 personas", "we are 4", "nou se 2 moun", "nous sommes 5", "somos tres",
/// "somos 3 adultos y 2 niños" (adds up what is counted).
fn people(toks: &[Token]) -> Option<u32> {
    const NUMBERS: &[(&str, u32)] = &[
        ("un", 1),
        ("una", 1),
        ("uno", 1),
        ("one", 1),
        ("yon", 1),
        ("um", 1),
        ("uma", 1),
        ("dos", 2),
        ("two", 2),
        ("deux", 2),
        ("de", 2),
        ("dois", 2),
        ("duas", 2),
        ("tres", 3),
        ("three", 3),
        ("trois", 3),
        ("twa", 3),
        ("cuatro", 4),
        ("four", 4),
        ("quatre", 4),
        ("kat", 4),
        ("quatro", 4),
        ("cinco", 5),
        ("five", 5),
        ("cinq", 5),
        ("senk", 5),
        ("seis", 6),
        ("six", 6),
        ("sis", 6),
        ("siete", 7),
        ("seven", 7),
        ("sept", 7),
        ("set", 7),
        ("sete", 7),
        ("ocho", 8),
        ("eight", 8),
        ("huit", 8),
        ("uit", 8),
        ("oito", 8),
        ("nueve", 9),
        ("nine", 9),
        ("neuf", 9),
        ("nef", 9),
        ("nove", 9),
        ("diez", 10),
        ("ten", 10),
        ("dix", 10),
        ("dis", 10),
        ("dez", 10),
        ("doce", 12),
        ("quince", 15),
        ("veinte", 20),
        ("twenty", 20),
    ];
    let num = |w: &str| {
        w.parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .or_else(|| NUMBERS.iter().find(|(k, _)| *k == w).map(|(_, n)| *n))
    };
    const BEFORE: &[&str] = &["somos", "are", "sommes", "se", "son", "estamos", "were"];
    const AFTER: &[&str] = &[
        "personas",
        "persona",
        "people",
        "persons",
        "personnes",
        "moun",
        "pessoas",
        "migrantes",
        "adultos",
        "adults",
        "adultes",
        "adulto",
        "ninos",
        "ninas",
        "children",
        "kids",
        "enfants",
        "timoun",
        "criancas",
        "hombres",
        "mujeres",
        "men",
        "women",
        "hommes",
        "femmes",
        "fanm",
        "gason",
        "homens",
        "mulheres",
        "de",
        "menores",
        "bebes",
        "companeros",
        "amigos",
        "pers",
    ];
    // A stated total ("somos 7 con 3 niños": 7); groups joined by "y"/"and" add up ("somos 4
    // adultos y 2 niños": 6); a part of the group alone ("una con insolación") is no count.
    const AND: &[&str] = &["y", "and", "et", "e", "ak", "mas", "plus"];
    let mut total = 0u32;
    let mut found = false;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let Some(n) = num(&t.word) else {
            i += 1;
            continue;
        };
        let weak = matches!(
            t.word.as_str(),
            "un" | "una" | "uno" | "de" | "um" | "uma" | "yon" | "one"
        );
        let after = toks
            .get(i + 1)
            .is_some_and(|n| AFTER.contains(&n.word.as_str()));
        let before = i > 0 && BEFORE.contains(&toks[i - 1].word.as_str());
        if weak || !(after || before) {
            i += 1;
            continue;
        }
        total = n;
        found = true;
        // Further groups: "y 2 niños".
        let mut j = i + 1 + usize::from(after);
        while j + 2 < toks.len() + 1 {
            let joined = toks.get(j).is_some_and(|c| AND.contains(&c.word.as_str()));
            let more = toks.get(j + 1).and_then(|c| num(&c.word));
            let counted = toks
                .get(j + 2)
                .is_some_and(|c| AFTER.contains(&c.word.as_str()));
            match (joined, more, counted) {
                (true, Some(m), true) => {
                    total += m;
                    j += 3;
                }
                _ => break,
            }
        }
        break;
    }
    found.then_some(total).filter(|n| (1..=500).contains(n))
}

#[cfg(test)]
mod tests;
