//! Case- and accent-folding: [`fold`], which every text match in Faro goes through, and the
//! compacted form (folded, letters and digits only) the parsers compare words in.

/// Case- and accent-folds text for matching: lower case, Latin letters without diacritics
/// (`á` → `a`, `È` → `e`, `ñ` → `n`, `ç` → `c`, `ß` → `ss`, `œ` → `oe`), combining accents
/// (U+0300..U+036F, as in decomposed text) dropped, every other character kept. Idempotent.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match base_letter(c) {
            Some(base) => out.push_str(base),
            None if is_combining_accent(c) => {}
            None => out.push(c),
        }
    }
    out
}

/// Folded, with only letters and digits kept: `EN_ROUTE` and `¡Llegué!` become `enroute`, `llegue`.
pub(super) fn compact(s: &str) -> String {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// A combining diacritical mark (U+0300..U+036F).
fn is_combining_accent(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The plain letters of a lower-case Latin letter with diacritics (Latin-1 and Latin
/// Extended-A, which cover Spanish, Portuguese, French, Haitian Creole and their neighbours).
fn base_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fold_strips_case_and_latin_accents() {
        assert_eq!(fold("ÁÉÍÓÚ Ñ Ü Ç È Ò"), "aeiou n u c e o");
        assert_eq!(fold("Ayúdenos"), "ayudenos");
        assert_eq!(fold("ÈD"), "ed");
        assert_eq!(fold("Straße Œuvre Æ"), "strasse oeuvre ae");
        assert_eq!(fold("e\u{301}"), "e");
        assert_eq!(fold("SOS 🆘 Ωμέγα 123"), "sos 🆘 ωμέγα 123");
        assert_eq!(fold("İ"), "i");
        assert_eq!(fold("EſTADO"), "estado");
    }

    proptest! {
        #[test]
        fn fold_is_idempotent(s in ".*") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn fold_keeps_ascii_but_lowers_it(s in "[ -~]*") {
            prop_assert_eq!(fold(&s), s.to_ascii_lowercase());
        }

    }
}
