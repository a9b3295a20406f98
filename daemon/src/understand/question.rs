//! Questions the station answers from its own data (orientation): where is water or shade,
//! where am I, what are my rights, what are the risks, what to do while help comes, and what
//! one may ask (the menu: `INFO`).
//!
//! A question is read only when the message is not a call for help: the caller reads distress
//! first ([`super::read`]), so "no tenemos agua, ayuda" is an emergency and "¿dónde hay agua?"
//! is a question. A topic word counts when the message is a bare keyword (`AGUA`, `DERECHOS`,
//! as an orientation poster tells people to write) or is asked: a question mark or a question
//! word (`dónde`, `where`, `kote`, `onde`, `hay`, `tem`...) is in it. Pure, like the rest of
//! [`super`].

use std::fmt;

use super::normalize::tokens;
use crate::lang::Lang;

/// What someone asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// The nearest registered water (and shade).
    Water,
    /// Where the sender is: the nearest place in the gazetteer.
    Where,
    /// Their rights as a migrant.
    Rights,
    /// The risks of the route.
    Risks,
    /// What to do while help comes.
    Waiting,
    /// What one may ask.
    Menu,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 6] = [
        Topic::Water,
        Topic::Where,
        Topic::Rights,
        Topic::Risks,
        Topic::Waiting,
        Topic::Menu,
    ];

    /// `water`, `where`, `rights`, `risks`, `waiting`, `menu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Water => "water",
            Topic::Where => "where",
            Topic::Rights => "rights",
            Topic::Risks => "risks",
            Topic::Waiting => "waiting",
            Topic::Menu => "menu",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A question, and the language its words belong to when they tell one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// What is asked.
    pub topic: Topic,
    /// The language of the words that asked (`água` is Portuguese), if they tell.
    pub language: Option<Lang>,
}

/// Words that name a topic, with the language they tell (None: shared by several).
const TOPIC_WORDS: &[(&str, Topic, Option<Lang>)] = &[
    // Water and shade.
    ("agua", Topic::Water, None), // es, pt (água)
    ("aguas", Topic::Water, Some(Lang::Es)),
    ("awa", Topic::Water, Some(Lang::Es)),
    ("sombra", Topic::Water, None),
    ("tanque", Topic::Water, None),
    ("tambo", Topic::Water, Some(Lang::Es)),
    ("tambos", Topic::Water, Some(Lang::Es)),
    ("bebedero", Topic::Water, Some(Lang::Es)),
    ("water", Topic::Water, Some(Lang::En)),
    ("shade", Topic::Water, Some(Lang::En)),
    ("eau", Topic::Water, Some(Lang::Fr)),
    ("ombre", Topic::Water, Some(Lang::Fr)),
    ("dlo", Topic::Water, Some(Lang::Ht)),
    ("lonbraj", Topic::Water, Some(Lang::Ht)),
    ("lombraj", Topic::Water, Some(Lang::Ht)),
    // Rights.
    ("derecho", Topic::Rights, Some(Lang::Es)),
    ("derechos", Topic::Rights, Some(Lang::Es)),
    ("asilo", Topic::Rights, None),
    ("refugio", Topic::Rights, None),
    ("deportar", Topic::Rights, None),
    ("deportan", Topic::Rights, Some(Lang::Es)),
    ("rights", Topic::Rights, Some(Lang::En)),
    ("asylum", Topic::Rights, Some(Lang::En)),
    ("deport", Topic::Rights, Some(Lang::En)),
    ("deported", Topic::Rights, Some(Lang::En)),
    ("droit", Topic::Rights, Some(Lang::Fr)),
    ("droits", Topic::Rights, Some(Lang::Fr)),
    ("asile", Topic::Rights, Some(Lang::Fr)),
    ("expulser", Topic::Rights, Some(Lang::Fr)),
    ("dwa", Topic::Rights, Some(Lang::Ht)),
    ("azil", Topic::Rights, Some(Lang::Ht)),
    ("depote", Topic::Rights, Some(Lang::Ht)),
    ("direito", Topic::Rights, Some(Lang::Pt)),
    ("direitos", Topic::Rights, Some(Lang::Pt)),
    ("deportado", Topic::Rights, None),
    // Risks.
    ("riesgo", Topic::Risks, Some(Lang::Es)),
    ("riesgos", Topic::Risks, Some(Lang::Es)),
    ("peligroso", Topic::Risks, Some(Lang::Es)),
    ("peligrosa", Topic::Risks, Some(Lang::Es)),
    ("peligros", Topic::Risks, Some(Lang::Es)),
    ("risk", Topic::Risks, Some(Lang::En)),
    ("risks", Topic::Risks, Some(Lang::En)),
    ("dangerous", Topic::Risks, Some(Lang::En)),
    ("dangers", Topic::Risks, Some(Lang::En)),
    ("risque", Topic::Risks, Some(Lang::Fr)),
    ("risques", Topic::Risks, Some(Lang::Fr)),
    ("dangereux", Topic::Risks, Some(Lang::Fr)),
    ("dangereuse", Topic::Risks, Some(Lang::Fr)),
    ("danje", Topic::Risks, Some(Lang::Ht)),
    ("danjere", Topic::Risks, Some(Lang::Ht)),
    ("risko", Topic::Risks, Some(Lang::Ht)),
    ("risco", Topic::Risks, Some(Lang::Pt)),
    ("riscos", Topic::Risks, Some(Lang::Pt)),
    ("perigoso", Topic::Risks, Some(Lang::Pt)),
    ("perigosa", Topic::Risks, Some(Lang::Pt)),
    ("perigos", Topic::Risks, Some(Lang::Pt)),
    // Waiting.
    ("espera", Topic::Waiting, None),
    ("esperar", Topic::Waiting, None),
    ("esperando", Topic::Waiting, None),
    ("esperamos", Topic::Waiting, None),
    ("espero", Topic::Waiting, None),
    ("wait", Topic::Waiting, Some(Lang::En)),
    ("waiting", Topic::Waiting, Some(Lang::En)),
    ("attendant", Topic::Waiting, Some(Lang::Fr)),
    ("attendre", Topic::Waiting, Some(Lang::Fr)),
    ("attente", Topic::Waiting, Some(Lang::Fr)),
    ("tann", Topic::Waiting, Some(Lang::Ht)),
    ("enquanto", Topic::Waiting, Some(Lang::Pt)),
    // The menu.
    ("info", Topic::Menu, None),
    ("infos", Topic::Menu, Some(Lang::Fr)),
    ("informacion", Topic::Menu, Some(Lang::Es)),
    ("information", Topic::Menu, None),
    ("informations", Topic::Menu, Some(Lang::Fr)),
    ("enfomasyon", Topic::Menu, Some(Lang::Ht)),
    ("informacao", Topic::Menu, Some(Lang::Pt)),
    ("orientacion", Topic::Menu, Some(Lang::Es)),
    ("orientation", Topic::Menu, None),
    ("orientacao", Topic::Menu, Some(Lang::Pt)),
    ("menu", Topic::Menu, None),
];

/// Words that ask, with the language they tell.
const ASKING: &[(&str, Option<Lang>)] = &[
    ("donde", Some(Lang::Es)),
    ("adonde", Some(Lang::Es)),
    ("hay", Some(Lang::Es)),
    ("cual", None),
    ("cuales", Some(Lang::Es)),
    ("puedo", Some(Lang::Es)),
    ("pueden", Some(Lang::Es)),
    ("cerca", Some(Lang::Es)),
    ("where", Some(Lang::En)),
    ("any", Some(Lang::En)),
    ("is", Some(Lang::En)),
    ("what", Some(Lang::En)),
    ("can", Some(Lang::En)),
    ("do", Some(Lang::En)),
    ("near", Some(Lang::En)),
    ("ou", Some(Lang::Fr)),
    ("quels", Some(Lang::Fr)),
    ("quoi", Some(Lang::Fr)),
    ("est", Some(Lang::Fr)),
    ("pres", Some(Lang::Fr)),
    ("kote", Some(Lang::Ht)),
    ("kot", Some(Lang::Ht)),
    ("gen", Some(Lang::Ht)),
    ("eske", Some(Lang::Ht)),
    ("kisa", Some(Lang::Ht)),
    ("ki", Some(Lang::Ht)),
    ("onde", Some(Lang::Pt)),
    ("tem", Some(Lang::Pt)),
    ("ha", None),
    ("quais", Some(Lang::Pt)),
    ("perto", Some(Lang::Pt)),
];

/// "Where am I": a place question word followed by a word for oneself.
const WHERE_WORDS: &[(&str, Lang)] = &[
    ("donde", Lang::Es),
    ("where", Lang::En),
    ("ou", Lang::Fr),
    ("kote", Lang::Ht),
    ("kot", Lang::Ht),
    ("onde", Lang::Pt),
];
/// Words for oneself after a place question word: "dónde *estoy*", "où *suis*-je", "kote m *ye*".
const SELF_WORDS: &[&str] = &[
    "estoy", "estamos", "toy", "ando", "andamos", "suis", "sommes", "ye", "estou",
];
/// "What do I do": a question word followed by a verb of doing.
const WHAT_WORDS: &[(&str, Lang)] = &[
    ("que", Lang::Es),
    ("what", Lang::En),
    ("quoi", Lang::Fr),
    ("kisa", Lang::Ht),
    ("ki", Lang::Ht),
];
const DO_WORDS: &[&str] = &[
    "hago", "hacemos", "hacer", "do", "should", "faire", "fais", "faisons", "fe", "faco",
    "fazemos", "fazer",
];

/// Reads a question in a message that is not a call for help.
pub fn question(text: &str) -> Option<Question> {
    let toks = tokens(text);
    if toks.is_empty() || toks.len() > 12 {
        return None;
    }
    let words: Vec<&str> = toks.iter().map(|t| t.word.as_str()).collect();
    let asked = text.contains('?') || text.contains('¿');
    // A place question word alone (`DONDE`, `where?`, `kote`) asks where one is.
    if let [w] = words[..] {
        if let Some(&(_, lang)) = WHERE_WORDS.iter().find(|(q, _)| *q == w) {
            return Some(Question {
                topic: Topic::Where,
                language: Some(lang),
            });
        }
    }
    // Patterns of two or three words first: they say more than a topic word.
    for (i, w) in words.iter().enumerate() {
        if let Some(&(_, lang)) = WHERE_WORDS.iter().find(|(q, _)| q == w) {
            let next = &words[i + 1..words.len().min(i + 4)];
            let me = next.iter().any(|n| SELF_WORDS.contains(n))
                || next.first() == Some(&"am")
                || next.starts_with(&["are", "we"]);
            if me {
                return Some(Question {
                    topic: Topic::Where,
                    language: Some(lang),
                });
            }
        }
        if let Some(&(_, lang)) = WHAT_WORDS.iter().find(|(q, _)| q == w) {
            if let Some(verb) = words.get(i + 1).filter(|v| DO_WORDS.contains(v)) {
                let lang = match *verb {
                    "faco" | "fazemos" | "fazer" => Lang::Pt,
                    _ => lang,
                };
                return Some(Question {
                    topic: Topic::Waiting,
                    language: Some(lang),
                });
            }
        }
    }
    let mut found: Option<(Topic, Option<Lang>)> = None;
    for w in &words {
        if let Some(&(_, topic, lang)) = TOPIC_WORDS.iter().find(|(t, _, _)| t == w) {
            found = match found {
                // The first topic named decides; a later word may still tell the language.
                Some((t, None)) => Some((t, lang)),
                Some(f) => Some(f),
                None => Some((topic, lang)),
            };
        }
    }
    let (topic, mut language) = found?;
    let asking = words
        .iter()
        .filter_map(|w| ASKING.iter().find(|(a, _)| a == w))
        .collect::<Vec<_>>();
    // A bare keyword (`AGUA`, `agua por favor`) or a question.
    let bare = words.len() <= 3;
    if !(bare || asked || !asking.is_empty()) {
        return None;
    }
    if language.is_none() {
        language = asking.iter().find_map(|(_, l)| *l);
    }
    Some(Question { topic, language })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(text: &str) -> Option<Topic> {
        question(text).map(|q| q.topic)
    }

    #[test]
    fn bare_keywords_and_questions_name_their_topic() {
        for (text, want) in [
            ("AGUA", Topic::Water),
            ("agua?", Topic::Water),
            ("¿Dónde hay agua?", Topic::Water),
            ("donde hay sombra", Topic::Water),
            ("where is water", Topic::Water),
            ("où trouver de l'eau ?", Topic::Water),
            ("onde tem água", Topic::Water),
            ("donde estoy", Topic::Where),
            ("where are we?", Topic::Where),
            ("ou sommes nous", Topic::Where),
            ("kote nou ye", Topic::Where),
            ("onde estou?", Topic::Where),
            ("where are the water tanks?", Topic::Water),
            ("kote m ka jwenn dlo", Topic::Water),
            ("cuales son mis derechos", Topic::Rights),
            ("DERECHOS", Topic::Rights),
            ("me pueden deportar?", Topic::Rights),
            ("what are my rights", Topic::Rights),
            ("kisa dwa m yo", Topic::Rights),
            ("quais são meus direitos", Topic::Rights),
            ("es peligroso el camino?", Topic::Risks),
            ("riesgos", Topic::Risks),
            ("que hago mientras espero", Topic::Waiting),
            ("what should we do", Topic::Waiting),
            ("INFO", Topic::Menu),
            ("DONDE", Topic::Where),
            ("Où ?", Topic::Where),
            ("KOTE", Topic::Where),
        ] {
            assert_eq!(topic(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn the_words_tell_the_language() {
        let lang = |t: &str| question(t).and_then(|q| q.language);
        assert_eq!(lang("where is water"), Some(Lang::En));
        assert_eq!(lang("onde tem água"), Some(Lang::Pt));
        assert_eq!(lang("kote dlo"), Some(Lang::Ht));
        assert_eq!(lang("où est l'eau"), Some(Lang::Fr));
        assert_eq!(lang("donde hay agua"), Some(Lang::Es));
        assert_eq!(lang("que faço enquanto espero"), Some(Lang::Pt));
    }

    #[test]
    fn topic_words_in_other_talk_are_not_questions() {
        for text in [
            "ayer tomamos agua en el rancho y seguimos caminando hacia el norte",
            "hola buenas tardes",
            "gracias por todo",
            "the water was cold this morning when we crossed the little stream",
            "",
        ] {
            assert_eq!(topic(text), None, "{text:?}");
        }
    }
}
