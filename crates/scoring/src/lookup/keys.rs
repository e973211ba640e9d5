//! The keys a raw value is looked up by, all derived from the crate's one normaliser
//! ([`fold`] and its symbol-keeping sibling [`fold_letters`]); nothing here folds text itself.

use crate::text::{fold, fold_letters};

/// Key of the exact-code step: the trimmed code, lowercased when it is made of letters and digits
/// only (`usd` finds `USD`); `None` for a code that must match case-sensitively.
pub(super) fn code_key_insensitive(trimmed: &str) -> Option<String> {
    if !trimmed.is_empty() && trimmed.chars().all(char::is_alphanumeric) {
        Some(trimmed.chars().flat_map(char::to_lowercase).collect())
    } else {
        None
    }
}

/// The folded form of `raw` ([`fold`]): case, accents, punctuation and spacing folded.
pub(super) fn fold_key(raw: &str) -> String {
    fold(raw)
}

/// [`fold_key`] without its spaces: `U S A`, `U.S.A.` and `USA` meet, and so do `Hong Kong` and
/// `HongKong`.
pub(super) fn compact_key(folded: &str) -> String {
    folded.chars().filter(|c| *c != ' ').collect()
}

/// The letters and digits of [`fold_letters`] plus the *symbols* it keeps (`$`, `€`, `£`, `₹`,
/// `°`, ...), with whitespace, punctuation, controls and invisible characters dropped.
///
/// [`fold`] turns symbols into separators, so `US$` and `US` or `R$` and `R` fold alike; this key
/// keeps them apart, and it is what is left of a value made of symbols only (`€`, `£`).
pub(super) fn symbol_key(raw: &str) -> String {
    fold_letters(raw)
        .chars()
        .filter(|&c| c.is_alphanumeric() || is_symbol(c))
        .collect()
}

/// A character that carries meaning in a value although it is neither a letter nor a digit:
/// the ASCII symbols of Unicode's symbol categories and every non-ASCII character that is not
/// whitespace, control, or punctuation of the general-punctuation, Latin-1 or CJK blocks
/// (currency signs, degree and other signs, letterlike symbols).
fn is_symbol(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '|' | '~' | '%' | '#');
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    !matches!(c,
        '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}'
        | '\u{2000}'..='\u{206F}'
        | '\u{3000}'..='\u{303F}'
        | '\u{FE10}'..='\u{FE1F}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FE50}'..='\u{FE6B}'
        | '\u{FF01}'..='\u{FF0F}'
        | '\u{FF1A}'..='\u{FF20}'
        | '\u{FFF0}'..='\u{FFFF}'
    )
}

/// Character count of a string.
pub(super) fn char_len(s: &str) -> usize {
    s.chars().count()
}
