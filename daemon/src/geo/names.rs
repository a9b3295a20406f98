//! Place names as typed on a phone call: folded (lower case, no accents, single spaces) and
//! kept in one sorted index, so that an exact name and every name it begins are one binary
//! search away. The folded names live in a single string, not one allocation per place.

use std::cmp::Reverse;

use faro_proto::text::fold;

use super::Place;

/// A name or qualifier as the index compares it: folded, words separated by one space.
pub(super) fn key(s: &str) -> String {
    let folded = fold(s);
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[derive(Debug, Default)]
pub(super) struct NameIndex {
    /// Every place's key, concatenated in place order.
    keys: String,
    /// Place `i`'s key is `keys[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    /// Place indices sorted by key, then population descending, then index.
    sorted: Vec<u32>,
}

impl NameIndex {
    pub(super) fn build(places: &[Place]) -> NameIndex {
        let mut keys = String::new();
        let mut starts = Vec::with_capacity(places.len() + 1);
        for place in places {
            starts.push(offset(&keys));
            keys.push_str(&key(&place.name));
        }
        starts.push(offset(&keys));
        let mut sorted: Vec<u32> = (0..places.len() as u32).collect();
        let by_name = |&i: &u32| {
            let name = key_in(&keys, &starts, i);
            (name, Reverse(places[i as usize].population), i)
        };
        sorted.sort_unstable_by(|a, b| by_name(a).cmp(&by_name(b)));
        NameIndex {
            keys,
            starts,
            sorted,
        }
    }

    fn key_of(&self, place: u32) -> &str {
        key_in(&self.keys, &self.starts, place)
    }

    /// Places named exactly `key`, then places whose name begins with it; each group by
    /// population descending.
    pub(super) fn exact_then_prefix(&self, key: &str, places: &[Place]) -> Vec<u32> {
        if key.is_empty() {
            return Vec::new();
        }
        let start = self.sorted.partition_point(|&i| self.key_of(i) < key);
        let rest = &self.sorted[start..];
        let exact = rest.partition_point(|&i| self.key_of(i) == key);
        let prefixed = rest.partition_point(|&i| self.key_of(i).starts_with(key));
        let mut found = rest[..prefixed].to_vec();
        found[exact..].sort_unstable_by_key(|&i| (Reverse(places[i as usize].population), i));
        found
    }

    /// Places with a word (after a space, hyphen, parenthesis...) beginning with `key` but not
    /// the name itself: "matamoros" finds "Heroica Matamoros". A scan of every name, for when
    /// [`Self::exact_then_prefix`] finds nothing. By population descending.
    pub(super) fn word_prefix(&self, key: &str, places: &[Place]) -> Vec<u32> {
        if key.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<u32> = (0..places.len() as u32)
            .filter(|&i| inner_word_starts_with(self.key_of(i), key))
            .collect();
        found.sort_unstable_by_key(|&i| (Reverse(places[i as usize].population), i));
        found
    }
}

fn key_in<'a>(keys: &'a str, starts: &[u32], place: u32) -> &'a str {
    let i = place as usize;
    &keys[starts[i] as usize..starts[i + 1] as usize]
}

fn offset(keys: &str) -> u32 {
    // The CSV parser refuses more places than u32 holds; names are far shorter than 4 GiB.
    u32::try_from(keys.len()).unwrap_or(u32::MAX)
}

/// Whether a word of `name` other than the first begins with `key`.
fn inner_word_starts_with(name: &str, key: &str) -> bool {
    name.char_indices()
        .filter(|&(_, c)| !c.is_alphanumeric())
        .any(|(i, c)| {
            let word = &name[i + c.len_utf8()..];
            word.starts_with(key) && word.chars().next().is_some_and(char::is_alphanumeric)
        })
}

/// Whether a typed qualifier (already a [`key`]) names this state or municipality: its key
/// equals the field's, or is the field's first words ("coahuila" for "Coahuila de Zaragoza",
/// "agua prieta" for "Agua Prieta Municipality"), also after Panama's "Distrito de" prefix.
pub(super) fn qualifier_matches(qualifier: &str, field: &str) -> bool {
    let field = key(field);
    let begins = |f: &str| {
        f.strip_prefix(qualifier)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    };
    !qualifier.is_empty()
        && (begins(&field) || field.strip_prefix("distrito de ").is_some_and(begins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_accents_and_spaces() {
        assert_eq!(key("  Sásabe "), "sasabe");
        assert_eq!(key("SAN  JOSÉ\tde Gracia"), "san jose de gracia");
        assert_eq!(key(""), "");
    }

    #[test]
    fn qualifiers_match_whole_leading_words() {
        assert!(qualifier_matches("sonora", "Sonora"));
        assert!(qualifier_matches("coahuila", "Coahuila de Zaragoza"));
        assert!(qualifier_matches("agua prieta", "Agua Prieta Municipality"));
        assert!(qualifier_matches("chepigana", "Distrito de Chepigana"));
        assert!(qualifier_matches(
            "distrito de chepigana",
            "Distrito de Chepigana"
        ));
        assert!(!qualifier_matches("son", "Sonora"));
        assert!(!qualifier_matches("", "Sonora"));
        assert!(!qualifier_matches("sonora", ""));
    }

    #[test]
    fn inner_words() {
        assert!(inner_word_starts_with("heroica matamoros", "matamoros"));
        assert!(inner_word_starts_with("cereso (para varones)", "para"));
        assert!(!inner_word_starts_with("matamoros", "matamoros"));
        assert!(!inner_word_starts_with("heroica matamoros", "atamoros"));
    }
}
