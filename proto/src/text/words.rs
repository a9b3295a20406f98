//! What both parsers do to typed text before reading it: the bell byte around it, the first
//! word and the rest, and a bad word quoted back short.

/// The bell byte stock apps and detection sensors add to alert the receiver.
pub const BELL: char = '\u{7}';
/// Longest piece of a bad argument an error quotes back, in characters.
pub(super) const MAX_QUOTED_CHARS: usize = 24;

/// The first whitespace-separated word and the rest, trimmed at the start.
pub(super) fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// A bad argument as an error quotes it: its first few characters only.
pub(super) fn quote(word: &str) -> String {
    word.chars().take(MAX_QUOTED_CHARS).collect()
}
