//! Chat text as people type it, made comparable: case and accents folded, letters repeated for
//! emphasis squeezed (`AYUDAAAA`), spelled-out words joined (`S O S`, `S.O.S`), the 🆘 emoji
//! read as `sos`, apostrophes split (`s'il`, `l'eau`), and a phonetic key per word for the
//! spellings Spanish chat is full of (`alluda`, `nececito`, `aiuda`).

use faro_proto::text::fold;

/// The SOS emoji, read as the word `sos`.
const SOS_EMOJI: char = '\u{1F198}';

/// One word of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Folded, repeated letters squeezed: `ayuda` for `AYUDAAA`.
    pub word: String,
    /// A phonetic key of `word` for fuzzy comparison (see [`phonetic`]).
    pub key: String,
    /// A word that looks like a lexicon word and means something else (`ayudante`): it
    /// matches nothing but itself.
    pub except: bool,
}

/// The words of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let text = text.replace(SOS_EMOJI, " sos ");
    let folded = fold(&text);
    // Words: runs of letters and digits; apostrophes and every other mark separate.
    let raw: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    spans(&raw)
        .into_iter()
        .map(|(start, len)| raw[start..start + len].concat())
        .map(|w| {
            // "kkkkk" (laughter in Portuguese and Creole chat) stays a word of its own, not `k`.
            let laugh = w.len() >= 3 && w.bytes().all(|b| b == b'k');
            let word = if laugh {
                "kkk".to_string()
            } else {
                squeeze(&w)
            };
            let key = phonetic(&word);
            Token {
                word,
                key,
                except: false,
            }
        })
        .collect()
}

/// The words of a split text as spans `(first piece, pieces)`: a run of three or more single
/// letters spells one word ("s o s", "s.o.s", "a y u d a"); an English negation cut by its
/// apostrophe is one word ("can't" is `cant`); every other piece is a word.
pub fn spans(raw: &[&str]) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let run = raw[i..]
            .iter()
            .take_while(|w| w.chars().count() == 1 && w.chars().all(char::is_alphabetic))
            .count();
        let len = if run >= 3 { run } else { 1 };
        // "can't", "won't", "don't": the `t` cut off by the apostrophe joins its word.
        let contraction = len == 1
            && raw[i].eq_ignore_ascii_case("t")
            && i > 0
            && raw[i - 1].ends_with(['n', 'N']);
        match out.last_mut() {
            Some((_, last)) if contraction && *last == 1 => *last = 2,
            _ => out.push((i, len)),
        }
        i += len;
    }
    out
}

/// Letters typed three times or more become one (`ayudaaaa`, `sooos`); doubled letters stay
/// (`llegue`, `ee`), since words are spelt with them.
pub fn squeeze(w: &str) -> String {
    let chars: Vec<char> = w.chars().collect();
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let keep = if run >= 3 && c.is_alphabetic() {
            1
        } else {
            run
        };
        out.extend(std::iter::repeat_n(c, keep));
        i += run;
    }
    out
}

/// A phonetic key for folded words, so that the spellings of people who write as they speak
/// compare equal: `h` is silent, `ll` and `y` and `i` between vowels sound alike, `v` is `b`,
/// `z` and soft `c` are `s`, hard `c`, `qu` and `k` are `k`, `x` before a consonant is `s`,
/// doubled letters count once. Used only to compare, never shown.
pub fn phonetic(w: &str) -> String {
    let c: Vec<char> = w.chars().collect();
    let vowel = |x: Option<&char>| matches!(x, Some('a' | 'e' | 'i' | 'o' | 'u'));
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1);
        let (sound, used): (&str, usize) = match c[i] {
            'h' => ("", 1),
            'l' if next == Some(&'l') => ("y", 2),
            'y' => ("y", 1),
            'i' if i > 0 && vowel(c.get(i - 1)) && vowel(next) => ("y", 1),
            'v' | 'w' if next != Some(&'h') => ("b", 1),
            'z' => ("s", 1),
            'c' if matches!(next, Some('e' | 'i')) => ("s", 1),
            'c' if next == Some(&'h') => ("ch", 2),
            'c' | 'k' => ("k", 1),
            'q' if next == Some(&'u') => ("k", 2),
            'q' => ("k", 1),
            'x' if next.is_some_and(|n| !vowel(Some(n))) => ("s", 1),
            'g' if matches!(next, Some('e' | 'i')) => ("j", 1),
            _ => {
                let s = &w[w.char_indices().nth(i).map_or(0, |(b, _)| b)..];
                let len = s.chars().next().map_or(1, char::len_utf8);
                out.push_str(&s[..len]);
                i += 1;
                continue;
            }
        };
        out.push_str(sound);
        i += used;
    }
    // Doubled letters once (`aggua`, `pessoas` -> `agua`, `pesoas`).
    let mut dedup = String::with_capacity(out.len());
    for ch in out.chars() {
        if !dedup.ends_with(ch) {
            dedup.push(ch);
        }
    }
    dedup
}

/// Edit distance (insertions, deletions, substitutions and swaps of neighbours) of two short
/// words, stopping early past `max`: `auxlio`/`auxilio` is 1.
pub fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (i, row) in d.chunks_mut(w).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let mut best = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            best = best.min(v);
        }
        if best > max {
            return None;
        }
    }
    Some(d[a.len() * w + b.len()]).filter(|&v| v <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &str) -> Vec<String> {
        tokens(t).into_iter().map(|t| t.word).collect()
    }

    #[test]
    fn chat_spellings_become_words() {
        assert_eq!(words("AYUDAAAA!!!"), ["ayuda"]);
        assert_eq!(words("S O S"), ["sos"]);
        assert_eq!(words("s.o.s."), ["sos"]);
        assert_eq!(words("🆘🆘"), ["sos", "sos"]);
        assert_eq!(words("Ayúdenos por favor"), ["ayudenos", "por", "favor"]);
        assert_eq!(words("s'il vous plaît"), ["s", "il", "vous", "plait"]);
        assert_eq!(words("llegué"), ["llegue"]);
        assert_eq!(words("I can't walk, won't"), ["i", "cant", "walk", "wont"]);
    }

    #[test]
    fn phonetic_keys_join_what_sounds_alike() {
        assert_eq!(phonetic("alluda"), phonetic("ayuda"));
        assert_eq!(phonetic("aiuda"), phonetic("ayuda"));
        assert_eq!(phonetic("nececito"), phonetic("necesito"));
        assert_eq!(phonetic("rescaten"), phonetic("reskaten"));
        assert_eq!(phonetic("ahogando"), phonetic("aogando"));
        assert_ne!(phonetic("sosa"), phonetic("sos"));
    }

    #[test]
    fn distance_counts_typos() {
        assert_eq!(distance("auxlio", "auxilio", 1), Some(1));
        assert_eq!(distance("socoro", "socorro", 1), Some(1));
        assert_eq!(distance("ayduda", "ayuda", 1), Some(1));
        assert_eq!(distance("ayuda", "ayduas", 1), None);
        assert_eq!(distance("auxiloi", "auxilio", 1), Some(1));
    }
}
