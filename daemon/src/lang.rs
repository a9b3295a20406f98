//! The languages the station speaks, by ISO 639-1 code ([`Lang`]), and the distress keywords of
//! each ([`Keywords`]): the words that make a text a call for help. Replies are written in one
//! of these languages, and each municipality names the ones its dispatchers read.

use std::fmt;
use std::str::FromStr;

use faro_proto::text::fold;

/// A language the station replies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Spanish: the station default.
    Es,
    /// English.
    En,
    /// French.
    Fr,
    /// Haitian Creole.
    Ht,
    /// Portuguese.
    Pt,
}

impl Lang {
    /// Every language, the station default first.
    pub const ALL: [Lang; 5] = [Lang::Es, Lang::En, Lang::Fr, Lang::Ht, Lang::Pt];

    /// The ISO 639-1 code (`es`).
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Ht => "ht",
            Lang::Pt => "pt",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A language code Faro has no replies for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown language {:?}: expected es, en, fr, ht or pt",
            self.0
        )
    }
}

impl std::error::Error for UnknownLang {}

impl FromStr for Lang {
    type Err = UnknownLang;

    /// Accepts the ISO 639-1 code in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLang(s.to_string()))
    }
}

/// Keywords no longer than this that carry an accent must carry it in the text too.
const SHORT_KEYWORD_CHARS: usize = 3;
/// The SOS emoji, read as the word SOS.
pub(crate) const SOS_EMOJI: char = '\u{1F198}';

/// One distress keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyword {
    /// Case- and accent-folded (`ed`).
    folded: String,
    /// Lower case with its accents, when they are required (`èd`).
    accented: Option<String>,
}

impl Keyword {
    /// A keyword as configured; `Err` names the problem.
    fn new(word: &str) -> Result<Keyword, String> {
        let word = word.trim();
        let folded = fold(word);
        if folded.is_empty() || !folded.chars().all(char::is_alphanumeric) {
            return Err(format!("keyword {word:?} is not a single word"));
        }
        let lower = word.to_lowercase();
        let short = folded.chars().count() <= SHORT_KEYWORD_CHARS;
        let accented = (short && lower != folded).then_some(lower);
        Ok(Keyword { folded, accented })
    }

    /// Whether a word of the text (lower case, and folded) is this keyword.
    fn matches(&self, lower: &str, folded: &str) -> bool {
        match &self.accented {
            Some(accented) => accented == lower,
            None => self.folded == folded,
        }
    }
}

/// Distress keywords of each language, in order of preference.
///
/// A keyword matches a whole word of the text (words are split on anything but letters and
/// digits), ignoring case and accents; the emoji 🆘 reads as `SOS`. A short keyword (up to 3
/// letters) written with an accent needs that accent in the text: the Haitian `ÈD` ("help")
/// matches `èd` and `ÈD` but not `ed` or `Ed`, which are common elsewhere. A word listed under
/// several languages (`SOS`, `SOCORRO`) is neutral among them: the language is the one most
/// keywords of the text belong to, the first in list order on a tie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    langs: Vec<(Lang, Vec<Keyword>)>,
}

impl Keywords {
    /// The station defaults: `SOS` in every language, Spanish first.
    pub fn defaults() -> Keywords {
        let lists = [
            (
                Lang::Es,
                &["SOS", "AUXILIO", "AYUDA", "SOCORRO", "EMERGENCIA"][..],
            ),
            (Lang::En, &["SOS", "HELP", "MAYDAY", "EMERGENCY"][..]),
            (Lang::Fr, &["SOS", "AIDE", "SECOURS"][..]),
            (Lang::Ht, &["SOS", "ÈD", "SEKOU"][..]),
            (Lang::Pt, &["SOS", "SOCORRO", "AJUDA"][..]),
        ];
        let lists = lists
            .iter()
            .map(|(lang, words)| (*lang, words.iter().map(|w| w.to_string()).collect()))
            .collect();
        Keywords::new(lists).unwrap_or_else(|e| panic!("default keywords are broken: {e}"))
    }

    /// Keywords from configuration, in order of preference; `Err` is a one-line reason.
    pub fn new(lists: Vec<(Lang, Vec<String>)>) -> Result<Keywords, String> {
        let mut langs: Vec<(Lang, Vec<Keyword>)> = Vec::with_capacity(lists.len());
        for (lang, words) in lists {
            if langs.iter().any(|(l, _)| *l == lang) {
                return Err(format!("keywords for {lang} are listed twice"));
            }
            let keywords = words.iter().map(|w| Keyword::new(w));
            let keywords = keywords
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{e} (keywords for {lang})"))?;
            langs.push((lang, keywords));
        }
        Ok(Keywords { langs })
    }

    /// The language of the distress keywords in `text`, or `None` when there are none.
    pub fn find(&self, text: &str) -> Option<Lang> {
        let votes = self.votes(text);
        self.winner(&votes.counts)
    }

    /// Like [`Keywords::find`], but only when every word of `text` is a keyword (a waypoint
    /// named `🆘 SOS`), not when keywords are merely among other words.
    pub fn whole(&self, text: &str) -> Option<Lang> {
        let votes = self.votes(text);
        (votes.words > 0 && votes.matched == votes.words)
            .then(|| self.winner(&votes.counts))
            .flatten()
    }

    /// How many words of `text` are keywords of each language.
    fn votes(&self, text: &str) -> Votes {
        let text = text.replace(SOS_EMOJI, " sos ");
        let mut votes = Votes {
            counts: vec![0; self.langs.len()],
            words: 0,
            matched: 0,
        };
        for word in words(&text) {
            let (lower, folded) = (word.to_lowercase(), fold(word));
            let mut matched = false;
            for ((_, keywords), count) in self.langs.iter().zip(&mut votes.counts) {
                if keywords.iter().any(|k| k.matches(&lower, &folded)) {
                    *count += 1;
                    matched = true;
                }
            }
            votes.words += 1;
            votes.matched += usize::from(matched);
        }
        votes
    }

    /// The language with the most votes, the first in list order on a tie; none without votes.
    fn winner(&self, counts: &[usize]) -> Option<Lang> {
        let best = counts.iter().copied().max().filter(|&n| n > 0)?;
        let i = counts.iter().position(|&n| n == best)?;
        Some(self.langs[i].0)
    }
}

/// Keyword counts of one text.
struct Votes {
    /// Matching words per language, in list order.
    counts: Vec<usize>,
    /// Words in the text.
    words: usize,
    /// Words that are a keyword of some language.
    matched: usize,
}

/// The words of a text: runs of letters, digits and combining accents.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let separator = |c: char| !(c.is_alphanumeric() || ('\u{300}'..='\u{36f}').contains(&c));
    text.split(separator).filter(|w| !w.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn languages_print_and_parse() {
        for lang in Lang::ALL {
            assert_eq!(lang.to_string().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.as_str().to_uppercase().parse::<Lang>(), Ok(lang));
        }
        assert_eq!(
            "de".parse::<Lang>().unwrap_err().to_string(),
            "unknown language \"de\": expected es, en, fr, ht or pt"
        );
    }

    #[test]
    fn keyword_lists_are_validated() {
        let list = |lang, words: &[&str]| (lang, words.iter().map(|w| w.to_string()).collect());
        let twice = Keywords::new(vec![list(Lang::Es, &["SOS"]), list(Lang::Es, &["AYUDA"])]);
        assert_eq!(twice.unwrap_err(), "keywords for es are listed twice");
        let phrase = Keywords::new(vec![list(Lang::En, &["help me"])]);
        assert_eq!(
            phrase.unwrap_err(),
            "keyword \"help me\" is not a single word (keywords for en)"
        );
        assert!(Keywords::new(vec![list(Lang::Fr, &[" "])]).is_err());
        let custom = Keywords::new(vec![
            list(Lang::Pt, &["socorro"]),
            list(Lang::Es, &["socorro"]),
        ]);
        assert_eq!(custom.unwrap().find("SOCORRO"), Some(Lang::Pt));
    }

    #[test]
    fn whole_requires_every_word_to_be_a_keyword() {
        let k = Keywords::defaults();
        assert_eq!(k.whole("🆘 SOS"), Some(Lang::Es));
        assert_eq!(k.whole("sekou"), Some(Lang::Ht));
        assert_eq!(k.whole("SOS camino"), None);
        assert_eq!(k.whole(" \u{7} "), None);
    }

    const DEFAULT_KEYWORDS: [&str; 14] = [
        "SOS",
        "AUXILIO",
        "AYUDA",
        "SOCORRO",
        "EMERGENCIA",
        "HELP",
        "MAYDAY",
        "EMERGENCY",
        "AIDE",
        "SECOURS",
        "ÈD",
        "SEKOU",
        "AJUDA",
        "🆘",
    ];

    // Property tests: seeded random cases, shared with `ingest`'s.
    pub(crate) const CASES: usize = 2000;

    pub(crate) fn rng() -> StdRng {
        StdRng::seed_from_u64(0xFA20)
    }

    /// Random text mixing any characters with the pieces commands and keywords are made of.
    pub(crate) fn random_text(rng: &mut StdRng) -> String {
        const PIECES: [&str; 12] = [
            "SOS", "èd", "ACK", "cerrar", "SAS-1", " ", " ", "\u{7}", "ñ", "!", "AMB", "nota",
        ];
        let len = rng.random_range(0..12);
        (0..len)
            .map(|_| match rng.random_range(0..3) {
                0 => rng.random::<char>().to_string(),
                1 => char::from(rng.random_range(b' '..=b'~')).to_string(),
                _ => PIECES[rng.random_range(0..PIECES.len())].to_string(),
            })
            .collect()
    }

    #[test]
    fn a_keyword_among_punctuation_is_found() {
        const AROUND: [&str; 8] = ["", " ", ",", ".", "!", "¡", "¿", "\u{7}"];
        let mut rng = rng();
        let mut around = || -> String {
            (0..rng.random_range(0..3))
                .map(|_| AROUND[rng.random_range(0..AROUND.len())])
                .collect()
        };
        let k = Keywords::defaults();
        for keyword in DEFAULT_KEYWORDS {
            for word in [keyword.to_string(), keyword.to_lowercase()] {
                let text = format!("{}{word}{}", around(), around());
                assert!(k.find(&text).is_some(), "{text:?}");
            }
        }
    }

    #[test]
    fn find_ignores_ascii_case() {
        let mut rng = rng();
        let k = Keywords::defaults();
        for _ in 0..CASES {
            let text = random_text(&mut rng).replace(|c: char| !c.is_ascii(), "");
            assert_eq!(k.find(&text), k.find(&text.to_uppercase()), "{text:?}");
        }
    }
}
