//! The one text folder shared by matching and resolution.
//!
//! [`fold`] turns any string into a canonical, comparison-ready form: compatibility-decomposed
//! (NFKD), stripped of combining marks, with the Latin letters that do not decompose spelled out
//! (`ß` → `ss`, `æ` → `ae`, `ø` → `o`, `ł` → `l`, ...), lowercased, and with every run of
//! characters that are neither letters nor digits collapsed into one ASCII space, trimmed.
//!
//! Three smaller choices, applied identically to every input so that equal things stay equal:
//!
//! * Apostrophes (`'`, `` ` ``, `’`, `‘`, `ʼ`, `´`) are deleted rather than turned into a space, so
//!   `McDonald's` == `McDonalds` and `Int'l` == `Intl` (people drop apostrophes far more often than
//!   they replace them with a space).
//! * Invisible format characters (soft hyphen, zero-width space / joiners, bidi marks and
//!   isolates, byte-order mark) are deleted, so they never split a word.
//! * Decimal digits of other scripts (Arabic-Indic, Persian, Devanagari, Thai, ...) become ASCII
//!   digits; fullwidth and other compatibility forms already do through NFKD.
//!
//! The result holds only lowercase letters and digits (ASCII where the input allows) separated by
//! single spaces; `fold(&fold(x)) == fold(x)` for every `x`. Plain ASCII input takes a fast path
//! that does no Unicode work and allocates once.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Folds `raw` for comparison: NFKD, combining marks dropped, special letters spelled out
/// (`ß`→`ss`, `æ`→`ae`, `ø`→`o`, `ł`→`l`, `đ`→`d`, `þ`→`th`, `œ`→`oe`, `ı`→`i`, ...), lowercase,
/// apostrophes and invisible format characters deleted, every other run of non-alphanumeric
/// characters replaced by one space, and the result trimmed.
///
/// Total and allocation-light: one `String` of at most the input's capacity on the ASCII path.
/// Returns an empty string when `raw` holds no letter or digit.
pub fn fold(raw: &str) -> String {
    fold_with(raw, false)
}

/// The letters of [`fold`] (lowercase, diacritics stripped, the same special letters and digits)
/// with every other character kept where it stands: for parsers, to which punctuation, spacing and
/// symbols (`.`, `'`, `€`, `zł` → `zl`) carry meaning. Invisible format characters are deleted.
pub fn fold_letters(raw: &str) -> String {
    fold_with(raw, true)
}

fn fold_with(raw: &str, keep_separators: bool) -> String {
    let mut out = Folder {
        out: String::with_capacity(raw.len()),
        pending_space: false,
        keep_separators,
    };
    if raw.is_ascii() {
        for &b in raw.as_bytes() {
            out.ascii(b);
        }
    } else {
        for c in raw.chars() {
            if c.is_ascii() {
                out.ascii(c as u8);
            } else {
                out.non_ascii(c);
            }
        }
    }
    out.out
}

/// Splits a folded string into its tokens (the space-separated words).
///
/// Meant for the output of [`fold`] (or of the normalisers built on it), but total on any input:
/// any ASCII whitespace separates tokens and empty tokens are never yielded.
pub fn tokens(folded: &str) -> impl Iterator<Item = &str> {
    folded.split_ascii_whitespace()
}

/// The output under construction: separators are only written lazily, before the next
/// alphanumeric character, which collapses runs and trims both ends for free.
struct Folder {
    out: String,
    pending_space: bool,
    /// Keep non-alphanumeric characters as they are instead of collapsing them into spaces.
    keep_separators: bool,
}

impl Folder {
    #[inline]
    fn ascii(&mut self, b: u8) {
        if b.is_ascii_alphanumeric() {
            self.push_alnum(char::from(b.to_ascii_lowercase()));
        } else if self.keep_separators {
            self.out.push(char::from(b));
        } else if !is_ascii_apostrophe(b) {
            self.pending_space = true;
        }
    }

    #[inline]
    fn push_alnum(&mut self, c: char) {
        if self.pending_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push(c);
    }

    fn push_ascii_word(&mut self, s: &str) {
        for b in s.bytes() {
            self.ascii(b);
        }
    }

    fn non_ascii(&mut self, c: char) {
        if is_deleted(c) || is_combining_mark(c) {
            return;
        }
        if let Some(s) = special_letter(c) {
            self.push_ascii_word(s);
            return;
        }
        decompose_compatible(c, |d| self.decomposed(d));
    }

    /// One character of a compatibility decomposition: lowercase it and emit what survives.
    fn decomposed(&mut self, d: char) {
        if d.is_ascii() {
            self.ascii(d as u8);
            return;
        }
        if is_deleted(d) || is_combining_mark(d) {
            return;
        }
        for l in d.to_lowercase() {
            if l.is_ascii() {
                self.ascii(l as u8);
            } else if is_deleted(l) || is_combining_mark(l) {
                // e.g. the dot above that `İ` lowercases into
            } else if let Some(s) = special_letter(l) {
                self.push_ascii_word(s);
            } else if let Some(digit) = script_digit(l) {
                self.push_alnum(digit);
            } else if l.is_alphanumeric() {
                self.push_alnum(l);
            } else if self.keep_separators {
                self.out.push(l);
            } else {
                self.pending_space = true;
            }
        }
    }
}

#[inline]
fn is_ascii_apostrophe(b: u8) -> bool {
    b == b'\'' || b == b'`'
}

/// Characters removed without leaving a separator: apostrophe look-alikes and invisible
/// format characters (soft hyphen, zero-width space and joiners, bidi marks, embeddings and
/// isolates, word joiner, invisible operators, byte-order mark, Arabic letter mark, Mongolian
/// vowel separator).
fn is_deleted(c: char) -> bool {
    matches!(
        c,
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{00B4}' | '\u{2032}' | '\u{02B9}'
            | '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{061C}'
            | '\u{180E}'
    )
}

/// Letters that NFKD leaves alone but that readers (and ASCII-only systems) spell with plain
/// Latin letters.
fn special_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' | 'ð' | 'Ð' => "d",
        'þ' | 'Þ' => "th",
        'œ' | 'Œ' => "oe",
        'ı' => "i",
        'ħ' | 'Ħ' => "h",
        'ŧ' | 'Ŧ' => "t",
        'ƒ' => "f",
        'ĸ' => "k",
        'ŋ' | 'Ŋ' => "ng",
        _ => return None,
    })
}

/// The first code point (digit zero) of each contiguous block of ten decimal digits outside
/// ASCII that NFKD does not map to ASCII digits.
const DIGIT_ZEROS: [u32; 35] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
];

/// The ASCII digit for a decimal digit of another script, if `c` is one.
fn script_digit(c: char) -> Option<char> {
    let cp = u32::from(c);
    let idx = DIGIT_ZEROS.partition_point(|&zero| zero <= cp);
    let zero = *DIGIT_ZEROS.get(idx.checked_sub(1)?)?;
    let value = cp - zero;
    if value < 10 {
        char::from_digit(value, 10)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Müller", "muller")]
    #[case("Lefèvre", "lefevre")]
    #[case("Woźniak", "wozniak")]
    #[case("Åberg", "aberg")]
    #[case("Søren", "soren")]
    #[case("Łódź", "lodz")]
    #[case("Straße", "strasse")]
    #[case("STRASSE", "strasse")]
    #[case("Ærø", "aero")]
    #[case("Œuvre", "oeuvre")]
    #[case("Þórður", "thordur")]
    #[case("Đorđe", "dorde")]
    #[case("Işık", "isik")]
    #[case("İstanbul", "istanbul")]
    #[case("Ñandú", "nandu")]
    #[case("Crème Brûlée", "creme brulee")]
    #[case("ÉCOLE", "ecole")]
    #[case("Ｆｕｌｌｗｉｄｔｈ １２３", "fullwidth 123")]
    #[case("ﬁnance", "finance")]
    #[case("Apex Logistics Inc.", "apex logistics inc")]
    #[case("  APEX -- LOGISTICS  ", "apex logistics")]
    #[case("A&B", "a b")]
    #[case("McDonald's", "mcdonalds")]
    #[case("McDonald’s", "mcdonalds")]
    #[case("Int'l", "intl")]
    #[case("S.A.", "s a")]
    #[case("Sp. z o.o.", "sp z o o")]
    #[case("Mül\u{00AD}ler", "muller")]
    #[case("zero\u{200B}width", "zerowidth")]
    #[case("e\u{0301}te\u{0301}", "ete")]
    #[case("١٢٣", "123")]
    #[case("۴۵۶", "456")]
    #[case("१२३", "123")]
    #[case("Ω²", "ω2")]
    fn folds(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(fold(raw), expected);
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("\t\n\r ")]
    #[case("!!!...---///")]
    #[case("\u{0301}\u{0308}\u{0327}")]
    #[case("😀🎉👍🏽")]
    #[case("\u{0000}\u{0007}\u{001B}\u{007F}")]
    #[case("\u{200B}\u{200D}\u{FEFF}")]
    #[case("'’`")]
    fn nothing_to_keep_gives_empty(#[case] raw: &str) {
        assert_eq!(fold(raw), "");
    }

    #[rstest]
    #[case("שלום עולם", "שלום עולם")]
    #[case("\u{202B}مرحبا\u{202C} 42", "مرحبا 42")]
    #[case("Москва", "москва")]
    #[case("東京 2024", "東京 2024")]
    #[case("ΑΘΗΝΑ", "αθηνα")]
    #[case("a\u{0000}b", "a b")]
    #[case("👨‍👩‍👧 family", "family")]
    fn other_scripts_and_controls(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(fold(raw), expected);
    }

    #[test]
    fn tokens_split_on_spaces() {
        assert_eq!(
            tokens(&fold(" Apex,  Logistics-Inc ")).collect::<Vec<_>>(),
            ["apex", "logistics", "inc"]
        );
        assert_eq!(tokens("").count(), 0);
        assert_eq!(tokens("  a \t b  ").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_megabyte_is_fine() {
        let ascii = "Ab-".repeat(350_000);
        let folded = fold(&ascii);
        assert_eq!(folded.len(), 350_000 * 3 - 1);
        let unicode = "Ünïcödé ß 😀 ".repeat(60_000);
        assert!(unicode.len() > 1_000_000);
        let folded = fold(&unicode);
        assert!(folded.starts_with("unicode ss unicode"));
        assert_eq!(fold(&folded), folded);
    }

    #[test]
    fn script_digit_blocks_are_digits() {
        for zero in DIGIT_ZEROS {
            for value in 0..10 {
                let c = char::from_u32(zero + value).expect("valid code point");
                assert!(c.is_numeric(), "{c:?} should be numeric");
                assert_eq!(script_digit(c), char::from_digit(value, 10));
            }
        }
        assert_eq!(script_digit('a'), None);
        assert_eq!(script_digit('\u{065F}'), None);
    }

    /// Every Unicode scalar value folds to a string that folds to itself, so `fold` is
    /// idempotent on every string (it works one character at a time).
    #[test]
    fn idempotent_on_every_character() {
        let mut buf = [0u8; 4];
        for cp in 0..=0x10_FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let once = fold(c.encode_utf8(&mut buf));
            let twice = fold(&once);
            assert_eq!(once, twice, "U+{cp:04X}");
            assert!(!once.starts_with(' ') && !once.ends_with(' '), "U+{cp:04X}");
        }
    }
}
