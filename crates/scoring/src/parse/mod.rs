//! Value parsers: dates and amounts as upstream extractors write them.
//!
//! Both parsers are total: any `&str` goes in, and either a parsed value or `None` comes out.
//! Neither panics, allocates more than a few small buffers, nor looks at anything but its input.

pub mod amount;
pub mod date;

pub use amount::{
    currency_from_text, parse_amount, parse_amount_with, Amount, CurrencyHint, DecimalMark,
};
pub use date::{days_between, parse_date, DateOrder, DateReadings};

/// Lower-cases `text` and strips the diacritics of Latin letters (`März` → `marz`, `złoty` →
/// `zloty`, `lørdag` → `lordag`); combining marks of decomposed input are dropped as well.
/// Characters of other scripts pass through unchanged.
fn fold_lower(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(fold_char)
        .collect()
}

/// The base letter of one lower-case character, or `None` for a combining mark.
fn fold_char(c: char) -> Option<char> {
    let folded = match c {
        '\u{0300}'..='\u{036f}' => return None,
        'à'..='å' | 'ā' | 'ă' | 'ą' | 'ª' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'º' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => 's',
        'ţ' | 'ť' | 'ț' => 't',
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    };
    Some(folded)
}

#[cfg(test)]
mod tests {
    use super::fold_lower;
    use rstest::rstest;

    #[rstest]
    #[case("März", "marz")]
    #[case("FÉVRIER", "fevrier")]
    #[case("Złotych", "zlotych")]
    #[case("LØRDAG", "lordag")]
    #[case("Ma\u{0308}rz", "marz")]
    #[case("İstanbul", "istanbul")]
    #[case("марта", "марта")]
    #[case("", "")]
    fn folds_case_and_latin_diacritics(#[case] input: &str, #[case] expected: &str) {
        assert_eq!(fold_lower(input), expected);
    }
}
