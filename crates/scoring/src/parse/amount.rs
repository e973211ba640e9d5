//! Amounts as invoice extractors write them.
//!
//! An amount is one number, optionally with a currency (an ISO 4217 code, a symbol or a name —
//! see [`currency_from_text`]) before or after it, and optionally a sign: `-12.50`, `+12.50`,
//! `12.50-`, `(12.50)`, `−12,50` (U+2212), `-$12`, `$-12`, `(EUR 12.50)`. Spaces of any kind —
//! including the no-break space U+00A0, the narrow no-break space U+202F and the thin space —
//! may separate the parts and group thousands. `12,-` / `12.–` mean a whole amount (`12.00`).
//! Anything else in the string (words, `%`, a second number) makes it not an amount, and so
//! does an input longer than 256 bytes.
//!
//! # Decimal mark and grouping
//!
//! Spaces and apostrophes (`'`, `’`) only ever group thousands. For `.` and `,`:
//!
//! 1. with both kinds present, the last one is the decimal mark: it must occur once, and after it
//!    come only digits (`1.234,50`, `1,234.50`, `1.234.567,89`); the other kind groups thousands;
//! 2. one kind occurring more than once groups thousands (`1.234.567`, `1,234,567`);
//! 3. one kind occurring once is the decimal mark when followed by anything but exactly three
//!    digits (`1234.5`, `0,50`, `1,2345`);
//! 4. one kind occurring once and followed by exactly three digits is also the decimal mark when
//!    grouping cannot explain it: nothing or a leading `0` before it (`.125`, `0,125`), more than
//!    three digits before it (`1234.567`), or a space/apostrophe grouping before it
//!    (`1 234,567`); otherwise it is the decimal mark only when the caller says so with
//!    [`parse_amount_with`], and by default it groups thousands (`1.234` = `1,234` = 1234).
//!
//! Thousands groups must be well formed: the first group has one to three digits and every later
//! one exactly three (`1,234,567`), or, Indian style, the last group three and the ones before it
//! two (`12,34,567`); one character groups a whole number. Anything else is not an amount.
//!
//! Values are exact: an [`Amount`] is an integer count of minor units at the written scale, so
//! `1.234,50` and `1,234.50` are equal.

use super::fold_lower;
use crate::num::nearest_f64;

/// Inputs longer than this (in bytes, before trimming) are not amounts.
const MAX_INPUT_BYTES: usize = 256;
/// The most decimals an amount may have.
pub const MAX_SCALE: u8 = 18;

/// Which character separates the integer part from the decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecimalMark {
    /// `1,234.50`
    Point,
    /// `1.234,50`
    Comma,
}

impl DecimalMark {
    /// The character itself.
    pub fn as_char(self) -> char {
        match self {
            DecimalMark::Point => '.',
            DecimalMark::Comma => ',',
        }
    }
}

/// What a currency symbol, code or name says about the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurrencyHint {
    /// One ISO 4217 currency, upper case (`EUR`).
    Code(&'static str),
    /// A bare `$` or `dollar(s)`: one of [`DOLLAR_CURRENCIES`].
    Dollar,
    /// `kr`, `krone(r)`: one of [`KRONE_CURRENCIES`].
    Krone,
    /// A bare `¥`: one of [`YEN_CURRENCIES`].
    Yen,
}

/// The currencies a bare `$` may stand for.
pub const DOLLAR_CURRENCIES: &[&str] = &[
    "USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "ARS", "CLP", "COP",
];
/// The currencies `kr` may stand for.
pub const KRONE_CURRENCIES: &[&str] = &["SEK", "NOK", "DKK", "ISK"];
/// The currencies a bare `¥` may stand for.
pub const YEN_CURRENCIES: &[&str] = &["JPY", "CNY"];

impl CurrencyHint {
    /// The ISO 4217 code when the hint names exactly one currency.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            CurrencyHint::Code(code) => Some(code),
            CurrencyHint::Dollar | CurrencyHint::Krone | CurrencyHint::Yen => None,
        }
    }

    /// The currencies an ambiguous hint may stand for; empty for [`CurrencyHint::Code`].
    pub fn candidates(&self) -> &'static [&'static str] {
        match self {
            CurrencyHint::Code(_) => &[],
            CurrencyHint::Dollar => DOLLAR_CURRENCIES,
            CurrencyHint::Krone => KRONE_CURRENCIES,
            CurrencyHint::Yen => YEN_CURRENCIES,
        }
    }

    /// Whether the hint allows the ISO 4217 currency `code` (any case).
    pub fn admits(&self, code: &str) -> bool {
        match self {
            CurrencyHint::Code(own) => own.eq_ignore_ascii_case(code),
            _ => self
                .candidates()
                .iter()
                .any(|candidate| candidate.eq_ignore_ascii_case(code)),
        }
    }

    /// Whether both hints can name the same currency (`$` and `CAD` can; `€` and `£` cannot).
    pub fn is_compatible(&self, other: &CurrencyHint) -> bool {
        match (self, other) {
            (CurrencyHint::Code(code), hint) | (hint, CurrencyHint::Code(code)) => {
                hint.admits(code)
            }
            (a, b) => a == b,
        }
    }

    /// The more specific of two compatible hints (`$` and `USD` give `USD`); `None` when they
    /// cannot name the same currency.
    pub fn merge(&self, other: &CurrencyHint) -> Option<CurrencyHint> {
        if !self.is_compatible(other) {
            return None;
        }
        Some(match (self, other) {
            (CurrencyHint::Code(_), _) => *self,
            _ => *other,
        })
    }
}

/// An exact amount: `minor_units / 10^scale`, in the currency the string named, if any.
///
/// `scale` is the number of decimals as written (`12.5` has scale 1, `12.50` scale 2); the
/// derived equality compares the written form, [`Amount::same_value`] the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    /// The value in units of `10^-scale`, negative for negative amounts.
    pub minor_units: i128,
    /// How many decimals were written, at most [`MAX_SCALE`].
    pub scale: u8,
    /// The currency named next to the number.
    pub currency: Option<CurrencyHint>,
}

impl Amount {
    /// The value as a float (exact up to `f64` precision).
    pub fn value(&self) -> f64 {
        nearest_f64(self.minor_units) / 10f64.powi(i32::from(self.scale))
    }

    /// The value in units of `10^-scale`, when exactly representable there without overflow
    /// (`12.50` at scale 1 is 125; `12.55` at scale 1 is `None`).
    pub fn at_scale(&self, scale: u8) -> Option<i128> {
        if scale >= self.scale {
            let factor = 10i128.checked_pow(u32::from(scale - self.scale))?;
            self.minor_units.checked_mul(factor)
        } else {
            let factor = 10i128.checked_pow(u32::from(self.scale - scale))?;
            (self.minor_units % factor == 0).then_some(self.minor_units / factor)
        }
    }

    /// The value with trailing zero decimals dropped: `(minor_units, scale)` of `12.50` is
    /// `(125, 1)`, of `12.00` is `(12, 0)`.
    pub fn normalized(&self) -> (i128, u8) {
        let (mut units, mut scale) = (self.minor_units, self.scale);
        while scale > 0 && units % 10 == 0 {
            units /= 10;
            scale -= 1;
        }
        (units, scale)
    }

    /// Whether both amounts have exactly the same value, whatever their scales and currencies.
    pub fn same_value(&self, other: &Amount) -> bool {
        self.normalized() == other.normalized()
    }
}

/// Parses one raw amount, deciding the decimal mark by the rules of the module documentation.
/// Returns `None` for anything that is not exactly one number with an optional currency and
/// sign, and for numbers beyond 38 digits or [`MAX_SCALE`] decimals.
pub fn parse_amount(raw: &str) -> Option<Amount> {
    parse_amount_with(raw, None)
}

/// Like [`parse_amount`], but a single `.` or `,` followed by exactly three digits that grouping
/// could explain (`1.234`) is read as `decimal_mark` says: the decimal mark if it is that
/// character, a thousands separator otherwise. Use it when other values of the same source show
/// which mark it uses. Unambiguous inputs are read the same either way.
pub fn parse_amount_with(raw: &str, decimal_mark: Option<DecimalMark>) -> Option<Amount> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let chars = normalized_chars(raw);
    let first_digit = chars.iter().position(char::is_ascii_digit)?;
    let last_digit = chars.iter().rposition(char::is_ascii_digit)?;
    let core_start = match (
        first_digit.checked_sub(1).and_then(|i| chars.get(i)),
        first_digit.checked_sub(2).and_then(|i| chars.get(i)),
    ) {
        // A leading decimal mark (`.50`), unless it ends a word (`Rs.100`).
        (Some('.' | ','), before) if !before.is_some_and(|c| c.is_alphanumeric()) => {
            first_digit - 1
        }
        _ => first_digit,
    };
    let prefix = chars.get(..core_start)?;
    let mut core: Vec<char> = chars.get(core_start..=last_digit)?.to_vec();
    let mut suffix = chars.get(last_digit + 1..)?;
    // `12,-` and `12.–` are whole amounts: read them as `12,00` and `12.00`.
    if let [mark @ ('.' | ','), '-', rest @ ..] = suffix {
        core.extend([*mark, '0', '0']);
        suffix = rest;
    }

    let prefix = Surroundings::of(prefix)?;
    let suffix = Surroundings::of(suffix)?;
    if prefix.closing_paren || suffix.opening_paren || suffix.plus {
        return None;
    }
    if prefix.opening_paren != suffix.closing_paren {
        return None;
    }
    let minus_signs = usize::from(prefix.minus) + usize::from(suffix.minus);
    let negative = match (minus_signs, prefix.opening_paren, prefix.plus) {
        (0, parens, _) => parens,
        (1, false, false) => true,
        _ => return None,
    };
    let currency = match (prefix.currency, suffix.currency) {
        (Some(a), Some(b)) => Some(a.merge(&b)?),
        (a, b) => a.or(b),
    };

    let (magnitude, scale) = parse_number(&core, decimal_mark)?;
    Some(Amount {
        minor_units: if negative { -magnitude } else { magnitude },
        scale,
        currency,
    })
}

/// The characters of `raw` with every kind of space turned into `' '` (runs collapsed into
/// one), every apostrophe into `'\''` and every minus or dash into `'-'`.
fn normalized_chars(raw: &str) -> Vec<char> {
    let mut chars: Vec<char> = Vec::with_capacity(raw.len());
    for c in raw.trim().chars() {
        let c = match c {
            c if c.is_whitespace() => ' ',
            '\u{200b}' | '\u{feff}' => ' ',
            '\u{2019}' | '\u{2018}' | '\u{02bc}' | '\u{00b4}' | '`' => '\'',
            '\u{2212}' | '\u{2010}'..='\u{2015}' | '\u{fe63}' | '\u{ff0d}' => '-',
            c => c,
        };
        if c == ' ' && chars.last() == Some(&' ') {
            continue;
        }
        chars.push(c);
    }
    chars
}

/// What surrounds the number on one side: signs, parentheses and a currency.
#[derive(Debug, Default)]
struct Surroundings {
    minus: bool,
    plus: bool,
    opening_paren: bool,
    closing_paren: bool,
    currency: Option<CurrencyHint>,
}

impl Surroundings {
    /// Reads one side of the number. `None` when a sign or parenthesis occurs twice, or what is
    /// left besides them is not a currency.
    fn of(chars: &[char]) -> Option<Surroundings> {
        let mut found = Surroundings::default();
        let mut rest = String::new();
        for &c in chars {
            let flag = match c {
                '-' => &mut found.minus,
                '+' => &mut found.plus,
                '(' => &mut found.opening_paren,
                ')' => &mut found.closing_paren,
                other => {
                    rest.push(other);
                    continue;
                }
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        found.currency = currency_in(&rest)?;
        Some(found)
    }
}

/// The currency of the text beside a number: `Some(None)` when there is only whitespace,
/// `None` when the text is not a currency. Several words must agree (`USD $`).
fn currency_in(text: &str) -> Option<Option<CurrencyHint>> {
    if text.trim().is_empty() {
        return Some(None);
    }
    if let Some(hint) = currency_from_text(text) {
        return Some(Some(hint));
    }
    let mut merged: Option<CurrencyHint> = None;
    for word in text.split_whitespace() {
        let hint = currency_from_text(word)?;
        merged = Some(match merged {
            Some(so_far) => so_far.merge(&hint)?,
            None => hint,
        });
    }
    Some(merged)
}

/// Splits the number into digit groups and separators, decides the decimal mark and counts the
/// minor units. `None` for anything but digits, `.`, `,`, `'` and single spaces, malformed
/// grouping, more than 38 digits or more than [`MAX_SCALE`] decimals.
fn parse_number(core: &[char], hint: Option<DecimalMark>) -> Option<(i128, u8)> {
    let mut groups: Vec<&[char]> = Vec::new();
    let mut separators: Vec<char> = Vec::new();
    let mut group_start = 0;
    for (index, &c) in core.iter().enumerate() {
        if c.is_ascii_digit() {
            continue;
        }
        if !matches!(c, '.' | ',' | ' ' | '\'') {
            return None;
        }
        groups.push(core.get(group_start..index)?);
        separators.push(c);
        group_start = index + 1;
    }
    groups.push(core.get(group_start..)?);
    // Only the first group may be empty (`.50`); two separators in a row are not a number.
    if groups.iter().skip(1).any(|group| group.is_empty()) {
        return None;
    }

    let decimal = decimal_index(&groups, &separators, hint)?;
    let (integer_groups, thousands, fraction): (&[&[char]], &[char], &[char]) = match decimal {
        Some(index) => (
            groups.get(..=index)?,
            separators.get(..index)?,
            groups.get(index + 1).copied()?,
        ),
        None => (&groups, &separators, &[]),
    };
    if !well_grouped(integer_groups, thousands) {
        return None;
    }
    let scale = u8::try_from(fraction.len()).ok()?;
    if scale > MAX_SCALE {
        return None;
    }
    let digits = integer_groups.iter().copied().flatten().chain(fraction);
    let mut units: i128 = 0;
    for digit in digits {
        let value = i128::from(digit.to_digit(10)?);
        units = units.checked_mul(10)?.checked_add(value)?;
    }
    Some((units, scale))
}

/// The index (into `separators`) of the decimal mark, `Some(None)` when there is none, or
/// `None` when the marks contradict each other (rules 1–4 of the module documentation).
fn decimal_index(
    groups: &[&[char]],
    separators: &[char],
    hint: Option<DecimalMark>,
) -> Option<Option<usize>> {
    let is_mark = |c: &char| matches!(c, '.' | ',');
    let Some(last_mark) = separators.iter().rposition(is_mark) else {
        return Some(None);
    };
    let mark = *separators.get(last_mark)?;
    let mark_count = separators.iter().filter(|&&c| c == mark).count();
    let other_marks = separators.iter().any(|&c| is_mark(&c) && c != mark);
    let is_last_separator = last_mark + 1 == separators.len();

    if other_marks {
        // Rule 1: the last of two kinds is the decimal mark.
        return (mark_count == 1 && is_last_separator).then_some(Some(last_mark));
    }
    if mark_count > 1 || !is_last_separator {
        // Rule 2 (or a mark followed by spaces/apostrophes, which the grouping check refuses).
        return Some(None);
    }
    let after = groups.get(last_mark + 1)?.len();
    if after != 3 {
        // Rule 3.
        return Some(Some(last_mark));
    }
    // Rule 4.
    let first = groups.first()?;
    let grouping_impossible =
        first.is_empty() || first.first() == Some(&'0') || first.len() > 3 || last_mark > 0;
    let decimal = grouping_impossible || hint.is_some_and(|hint| hint.as_char() == mark);
    Some(decimal.then_some(last_mark))
}

/// Whether digit groups joined by `thousands` separators form a well-grouped integer.
fn well_grouped(groups: &[&[char]], thousands: &[char]) -> bool {
    let Some(first_separator) = thousands.first() else {
        return true;
    };
    if thousands.iter().any(|c| c != first_separator) {
        return false;
    }
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    let [first, rest @ ..] = lengths.as_slice() else {
        return false;
    };
    let western = (1..=3).contains(first) && rest.iter().all(|&len| len == 3);
    let indian = match rest {
        [middle @ .., 3] => (1..=2).contains(first) && middle.iter().all(|&len| len == 2),
        _ => false,
    };
    western || indian
}

/// Every ISO 4217 currency code in use.
const ISO_4217_CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU",
    "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG", "ZWL",
];

/// Currency symbols and names (folded, lower case, without dots) and what they name. Symbols that
/// several currencies share map to an ambiguous [`CurrencyHint`].
const CURRENCY_NAMES: &[(&str, CurrencyHint)] = &[
    ("€", CurrencyHint::Code("EUR")),
    ("euro", CurrencyHint::Code("EUR")),
    ("euros", CurrencyHint::Code("EUR")),
    ("£", CurrencyHint::Code("GBP")),
    ("gb£", CurrencyHint::Code("GBP")),
    ("uk£", CurrencyHint::Code("GBP")),
    ("pound", CurrencyHint::Code("GBP")),
    ("pounds", CurrencyHint::Code("GBP")),
    ("sterling", CurrencyHint::Code("GBP")),
    ("pound sterling", CurrencyHint::Code("GBP")),
    ("pounds sterling", CurrencyHint::Code("GBP")),
    ("british pound", CurrencyHint::Code("GBP")),
    ("british pounds", CurrencyHint::Code("GBP")),
    ("$", CurrencyHint::Dollar),
    ("dollar", CurrencyHint::Dollar),
    ("dollars", CurrencyHint::Dollar),
    ("us$", CurrencyHint::Code("USD")),
    ("u$s", CurrencyHint::Code("USD")),
    ("us dollar", CurrencyHint::Code("USD")),
    ("us dollars", CurrencyHint::Code("USD")),
    ("c$", CurrencyHint::Code("CAD")),
    ("ca$", CurrencyHint::Code("CAD")),
    ("can$", CurrencyHint::Code("CAD")),
    ("canadian dollar", CurrencyHint::Code("CAD")),
    ("canadian dollars", CurrencyHint::Code("CAD")),
    ("a$", CurrencyHint::Code("AUD")),
    ("au$", CurrencyHint::Code("AUD")),
    ("australian dollar", CurrencyHint::Code("AUD")),
    ("australian dollars", CurrencyHint::Code("AUD")),
    ("nz$", CurrencyHint::Code("NZD")),
    ("new zealand dollar", CurrencyHint::Code("NZD")),
    ("new zealand dollars", CurrencyHint::Code("NZD")),
    ("hk$", CurrencyHint::Code("HKD")),
    ("s$", CurrencyHint::Code("SGD")),
    ("mex$", CurrencyHint::Code("MXN")),
    ("r$", CurrencyHint::Code("BRL")),
    ("sfr", CurrencyHint::Code("CHF")),
    ("fr", CurrencyHint::Code("CHF")),
    ("swiss franc", CurrencyHint::Code("CHF")),
    ("swiss francs", CurrencyHint::Code("CHF")),
    ("franken", CurrencyHint::Code("CHF")),
    ("zl", CurrencyHint::Code("PLN")),
    ("zloty", CurrencyHint::Code("PLN")),
    ("zlotys", CurrencyHint::Code("PLN")),
    ("zlotych", CurrencyHint::Code("PLN")),
    ("zlote", CurrencyHint::Code("PLN")),
    ("kr", CurrencyHint::Krone),
    ("krone", CurrencyHint::Krone),
    ("kroner", CurrencyHint::Krone),
    ("krona", CurrencyHint::Code("SEK")),
    ("kronor", CurrencyHint::Code("SEK")),
    ("skr", CurrencyHint::Code("SEK")),
    ("nkr", CurrencyHint::Code("NOK")),
    ("dkr", CurrencyHint::Code("DKK")),
    ("kc", CurrencyHint::Code("CZK")),
    ("ft", CurrencyHint::Code("HUF")),
    ("lei", CurrencyHint::Code("RON")),
    ("¥", CurrencyHint::Yen),
    ("円", CurrencyHint::Code("JPY")),
    ("yen", CurrencyHint::Code("JPY")),
    ("元", CurrencyHint::Code("CNY")),
    ("yuan", CurrencyHint::Code("CNY")),
    ("rmb", CurrencyHint::Code("CNY")),
    ("renminbi", CurrencyHint::Code("CNY")),
    ("₹", CurrencyHint::Code("INR")),
    ("₽", CurrencyHint::Code("RUB")),
    ("₺", CurrencyHint::Code("TRY")),
    ("₩", CurrencyHint::Code("KRW")),
    ("₪", CurrencyHint::Code("ILS")),
    ("฿", CurrencyHint::Code("THB")),
    ("₫", CurrencyHint::Code("VND")),
    ("₴", CurrencyHint::Code("UAH")),
    ("₦", CurrencyHint::Code("NGN")),
    ("₱", CurrencyHint::Code("PHP")),
];

/// The currency a piece of text names on its own: an ISO 4217 code (`EUR`, `eur`), a symbol
/// (`€`, `£`, `US$`, `C$`, `A$`, `SFr.`, `zł`, `kr`, `$`, …) or a name (`euro`, `euros`,
/// `US dollars`, `pound sterling`, `złoty`, …), in any case, with or without accents, dots and
/// surrounding whitespace. Symbols shared by several currencies give an ambiguous hint (`$` →
/// [`CurrencyHint::Dollar`], `kr` → [`CurrencyHint::Krone`], `¥` → [`CurrencyHint::Yen`]).
/// `None` for anything else, including the empty string. This is the one table of currency
/// spellings: a currency field should be read with it too.
pub fn currency_from_text(text: &str) -> Option<CurrencyHint> {
    if text.len() > MAX_INPUT_BYTES {
        return None;
    }
    let trimmed = text.trim();
    if let Some(code) = ISO_4217_CODES
        .iter()
        .find(|code| code.eq_ignore_ascii_case(trimmed))
    {
        return Some(CurrencyHint::Code(code));
    }
    let folded = fold_lower(trimmed).replace('.', "");
    let spaced = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    let unspaced: String = folded.split_whitespace().collect();
    CURRENCY_NAMES
        .iter()
        .find(|(name, _)| *name == spaced || *name == unspaced)
        .map(|(_, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;
    use rstest::rstest;

    const EUR: Option<CurrencyHint> = Some(CurrencyHint::Code("EUR"));
    const USD: Option<CurrencyHint> = Some(CurrencyHint::Code("USD"));
    const GBP: Option<CurrencyHint> = Some(CurrencyHint::Code("GBP"));
    const CHF: Option<CurrencyHint> = Some(CurrencyHint::Code("CHF"));
    const PLN: Option<CurrencyHint> = Some(CurrencyHint::Code("PLN"));
    const CAD: Option<CurrencyHint> = Some(CurrencyHint::Code("CAD"));
    const AUD: Option<CurrencyHint> = Some(CurrencyHint::Code("AUD"));
    const DOLLAR: Option<CurrencyHint> = Some(CurrencyHint::Dollar);
    const KRONE: Option<CurrencyHint> = Some(CurrencyHint::Krone);

    fn amount(minor_units: i128, scale: u8, currency: Option<CurrencyHint>) -> Option<Amount> {
        Some(Amount {
            minor_units,
            scale,
            currency,
        })
    }

    #[rstest]
    // Decimal mark and grouping.
    #[case("1,234.50", amount(123_450, 2, None))]
    #[case("1.234,50", amount(123_450, 2, None))]
    #[case("1 234,50", amount(123_450, 2, None))]
    #[case("1\u{a0}234,50", amount(123_450, 2, None))]
    #[case("1\u{202f}234,50", amount(123_450, 2, None))]
    #[case("1\u{2009}234,50", amount(123_450, 2, None))]
    #[case("1'234.50", amount(123_450, 2, None))]
    #[case("1’234.50", amount(123_450, 2, None))]
    #[case("1234.5", amount(12_345, 1, None))]
    #[case("1234,5", amount(12_345, 1, None))]
    #[case("1234", amount(1234, 0, None))]
    #[case("0.50", amount(50, 2, None))]
    #[case(".50", amount(50, 2, None))]
    #[case(",5", amount(5, 1, None))]
    #[case("1.234", amount(1234, 0, None))]
    #[case("1,234", amount(1234, 0, None))]
    #[case("1,234,567", amount(1_234_567, 0, None))]
    #[case("1.234.567", amount(1_234_567, 0, None))]
    #[case("1.234.567,89", amount(123_456_789, 2, None))]
    #[case("1,234,567.89", amount(123_456_789, 2, None))]
    #[case("1 234 567,89", amount(123_456_789, 2, None))]
    #[case("1'234'567.89", amount(123_456_789, 2, None))]
    #[case("12,34,567.00", amount(123_456_700, 2, None))]
    #[case("1,23,45,678", amount(12_345_678, 0, None))]
    #[case("0.125", amount(125, 3, None))]
    #[case("0,125", amount(125, 3, None))]
    #[case("1234.567", amount(1_234_567, 3, None))]
    #[case("1 234,567", amount(1_234_567, 3, None))]
    #[case("1,2345", amount(12_345, 4, None))]
    #[case("007", amount(7, 0, None))]
    #[case("12,-", amount(1200, 2, None))]
    #[case("1.234,-", amount(123_400, 2, None))]
    #[case("Fr. 12.–", amount(1200, 2, CHF))]
    // Currencies before or after.
    #[case("$1,234.50", amount(123_450, 2, DOLLAR))]
    #[case("1234.5 EUR", amount(12_345, 1, EUR))]
    #[case("EUR 1.234,50", amount(123_450, 2, EUR))]
    #[case("EUR1.234,50", amount(123_450, 2, EUR))]
    #[case("eur 12", amount(12, 0, EUR))]
    #[case("€1.234,50", amount(123_450, 2, EUR))]
    #[case("1.234,50 €", amount(123_450, 2, EUR))]
    #[case("1.234,50\u{a0}€", amount(123_450, 2, EUR))]
    #[case("12,50 euros", amount(1250, 2, EUR))]
    #[case("US$ 99", amount(99, 0, USD))]
    #[case("US$99.00", amount(9900, 2, USD))]
    #[case("99 US dollars", amount(99, 0, USD))]
    #[case("USD $99", amount(99, 0, USD))]
    #[case("$99 USD", amount(99, 0, USD))]
    #[case("C$ 12.50", amount(1250, 2, CAD))]
    #[case("A$12.50", amount(1250, 2, AUD))]
    #[case("SFr. 1'200.00", amount(120_000, 2, CHF))]
    #[case("CHF 1'200.00", amount(120_000, 2, CHF))]
    #[case("kr 4 500", amount(4500, 0, KRONE))]
    #[case("4 500 kr", amount(4500, 0, KRONE))]
    #[case("4.500 kr.", amount(4500, 0, KRONE))]
    #[case("4 500 SEK", amount(4500, 0, Some(CurrencyHint::Code("SEK"))))]
    #[case("1 234,50 zł", amount(123_450, 2, PLN))]
    #[case("1 234,50 PLN", amount(123_450, 2, PLN))]
    #[case("£12", amount(12, 0, GBP))]
    #[case("12 pounds sterling", amount(12, 0, GBP))]
    #[case("¥1,200", amount(1200, 0, Some(CurrencyHint::Yen)))]
    #[case("JPY 1,200", amount(1200, 0, Some(CurrencyHint::Code("JPY"))))]
    // Negatives.
    #[case("-12.50", amount(-1250, 2, None))]
    #[case("+12.50", amount(1250, 2, None))]
    #[case("12.50-", amount(-1250, 2, None))]
    #[case("(12.50)", amount(-1250, 2, None))]
    #[case("−12,50", amount(-1250, 2, None))]
    #[case("– 12,50", amount(-1250, 2, None))]
    #[case("-$12", amount(-12, 0, DOLLAR))]
    #[case("$-12", amount(-12, 0, DOLLAR))]
    #[case("(EUR 1.234,50)", amount(-123_450, 2, EUR))]
    #[case("EUR -1.234,50", amount(-123_450, 2, EUR))]
    #[case("1.234,50- EUR", amount(-123_450, 2, EUR))]
    #[case("-0.00", amount(0, 2, None))]
    // Whitespace around.
    #[case("  \t12.50\n ", amount(1250, 2, None))]
    fn parses_amounts(#[case] raw: &str, #[case] expected: Option<Amount>) {
        assert_eq!(parse_amount(raw), expected, "{raw:?}");
    }

    #[rstest]
    #[case("1.234", Some(DecimalMark::Point), amount(1234, 3, None))]
    #[case("1.234", Some(DecimalMark::Comma), amount(1234, 0, None))]
    #[case("1,234", Some(DecimalMark::Comma), amount(1234, 3, None))]
    #[case("1,234", Some(DecimalMark::Point), amount(1234, 0, None))]
    #[case("1.234,50", Some(DecimalMark::Point), amount(123_450, 2, None))]
    #[case("1,5", Some(DecimalMark::Point), amount(15, 1, None))]
    #[case("1.234.567", Some(DecimalMark::Point), amount(1_234_567, 0, None))]
    fn a_decimal_mark_hint_decides_only_the_ambiguous_case(
        #[case] raw: &str,
        #[case] mark: Option<DecimalMark>,
        #[case] expected: Option<Amount>,
    ) {
        assert_eq!(parse_amount_with(raw, mark), expected, "{raw:?}");
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("\u{a0}\u{202f}")]
    #[case(".,-'()")]
    #[case("-")]
    #[case("$")]
    #[case("EUR")]
    #[case("NaN")]
    #[case("inf")]
    #[case("-inf")]
    #[case("1e5")]
    #[case("12%")]
    #[case("12 50")]
    #[case("1 2345")]
    #[case("12,34,56")]
    #[case("1,,234")]
    #[case("1.,234")]
    #[case("1. 234")]
    #[case("1.234.5")]
    #[case("1,234.567,89")]
    #[case("1.234,567.89")]
    #[case("1 234.567.890")]
    #[case("1'234 567")]
    #[case("1234,567,890")]
    #[case("12 EUR 50")]
    #[case("12.50 XYZ")]
    #[case("12.50 EUR GBP")]
    #[case("€12 $")]
    #[case("€12 GBP")]
    #[case("--12")]
    #[case("-12-")]
    #[case("(12.50")]
    #[case("12.50)")]
    #[case(")12.50(")]
    #[case("(-12.50)")]
    #[case("+-12")]
    #[case("12.50+")]
    #[case("Rs.100")]
    #[case("14/03/2024")]
    #[case("Total: 12.50")]
    #[case("1O.50")]
    #[case("0.1234567890123456789")]
    #[case("1234567890123456789012345678901234567890")]
    #[case("1,234,567,890,123,456,789,012,345,678,901,234,567,890")]
    #[case("🎉")]
    #[case("12🎉50")]
    #[case("\u{0}\u{1}\u{7f}")]
    #[case("12\u{0}50")]
    #[case("12\u{fffd}50")]
    #[case("\u{fffd}12.50")]
    #[case("12.50 â‚¬")]
    #[case("١٢٣")]
    #[case("一二三")]
    #[case("12 рублей")]
    fn rejects_what_is_not_one_amount(#[case] raw: &str) {
        assert_eq!(parse_amount(raw), None, "{raw:?}");
    }

    #[test]
    fn huge_inputs_are_not_amounts() {
        let huge = "9".repeat(1 << 20);
        assert_eq!(parse_amount(&huge), None);
        let padded = format!("{}12.50", " ".repeat(1 << 20));
        assert_eq!(parse_amount(&padded), None);
        assert_eq!(currency_from_text(&"€".repeat(1 << 20)), None);
    }

    #[test]
    fn the_largest_amounts_stay_exact() {
        let digits = "9".repeat(38);
        let parsed = parse_amount(&digits).expect("38 digits fit");
        assert_eq!(parsed.minor_units.to_string(), digits);
        assert_eq!(parse_amount(&"9".repeat(39)), None);
        let negative = parse_amount(&format!("-{digits}")).expect("and their negation");
        assert_eq!(negative.minor_units, -parsed.minor_units);
    }

    #[test]
    fn both_decimal_conventions_are_exactly_equal() {
        let english = parse_amount("1,234.50");
        let german = parse_amount("1.234,50");
        assert!(english.is_some());
        assert_eq!(english, german);
        let one_decimal = parse_amount("1234.5").expect("parses");
        let two_decimals = parse_amount("1 234,50").expect("parses");
        assert!(one_decimal.same_value(&two_decimals));
        assert!(!one_decimal.same_value(&parse_amount("1234.51").expect("parses")));
        assert_eq!(two_decimals.normalized(), (12_345, 1));
        assert_eq!(two_decimals.at_scale(1), Some(12_345));
        assert_eq!(two_decimals.at_scale(4), Some(12_345_000));
        assert_eq!(parse_amount("12.55").and_then(|a| a.at_scale(1)), None);
        assert!((two_decimals.value() - 1234.5).abs() < 1e-9);
        assert!((parse_amount("(12.50)").expect("parses").value() + 12.5).abs() < 1e-12);
    }

    #[rstest]
    #[case("EUR", EUR)]
    #[case(" eur ", EUR)]
    #[case("€", EUR)]
    #[case("Euro", EUR)]
    #[case("EUROS", EUR)]
    #[case("£", GBP)]
    #[case("Pound Sterling", GBP)]
    #[case("pounds  sterling", GBP)]
    #[case("US$", USD)]
    #[case("US $", USD)]
    #[case("U.S. Dollars", USD)]
    #[case("us dollars", USD)]
    #[case("$", DOLLAR)]
    #[case("dollars", DOLLAR)]
    #[case("C$", CAD)]
    #[case("CA$", CAD)]
    #[case("A$", AUD)]
    #[case("SFr.", CHF)]
    #[case("Fr.", CHF)]
    #[case("CHF", CHF)]
    #[case("zł", PLN)]
    #[case("ZŁ", PLN)]
    #[case("złoty", PLN)]
    #[case("kr", KRONE)]
    #[case("kr.", KRONE)]
    #[case("kronor", Some(CurrencyHint::Code("SEK")))]
    #[case("Kč", Some(CurrencyHint::Code("CZK")))]
    #[case("R$", Some(CurrencyHint::Code("BRL")))]
    #[case("¥", Some(CurrencyHint::Yen))]
    #[case("jpy", Some(CurrencyHint::Code("JPY")))]
    #[case("RMB", Some(CurrencyHint::Code("CNY")))]
    #[case("yen", Some(CurrencyHint::Code("JPY")))]
    #[case("SFR", CHF)]
    #[case("XYZ", None)]
    #[case("", None)]
    #[case("dollar bill", None)]
    #[case("€€", None)]
    fn reads_currency_text(#[case] text: &str, #[case] expected: Option<CurrencyHint>) {
        assert_eq!(currency_from_text(text), expected, "{text:?}");
    }

    #[rstest]
    #[case(CurrencyHint::Dollar, CurrencyHint::Code("CAD"), true)]
    #[case(CurrencyHint::Code("USD"), CurrencyHint::Dollar, true)]
    #[case(CurrencyHint::Dollar, CurrencyHint::Code("EUR"), false)]
    #[case(CurrencyHint::Krone, CurrencyHint::Code("NOK"), true)]
    #[case(CurrencyHint::Krone, CurrencyHint::Dollar, false)]
    #[case(CurrencyHint::Code("EUR"), CurrencyHint::Code("EUR"), true)]
    #[case(CurrencyHint::Code("EUR"), CurrencyHint::Code("GBP"), false)]
    #[case(CurrencyHint::Yen, CurrencyHint::Yen, true)]
    fn compares_currency_hints(
        #[case] a: CurrencyHint,
        #[case] b: CurrencyHint,
        #[case] compatible: bool,
    ) {
        assert_eq!(a.is_compatible(&b), compatible);
        assert_eq!(b.is_compatible(&a), compatible);
        assert_eq!(a.merge(&b).is_some(), compatible);
    }

    #[test]
    fn currency_tables_are_consistent() {
        for code in ISO_4217_CODES {
            assert_eq!(code.len(), 3);
            assert_eq!(currency_from_text(code), Some(CurrencyHint::Code(code)));
        }
        for (_, hint) in CURRENCY_NAMES {
            for code in hint
                .code()
                .into_iter()
                .chain(hint.candidates().iter().copied())
            {
                assert!(
                    ISO_4217_CODES.contains(&code),
                    "{code} is not in the ISO table"
                );
            }
        }
        for (name, hint) in CURRENCY_NAMES {
            assert_eq!(currency_from_text(name), Some(*hint), "{name:?}");
        }
    }

    /// `digits` grouped by three from the right with `separator`.
    fn grouped(digits: &str, separator: &str) -> String {
        let chars: Vec<char> = digits.chars().collect();
        let groups: Vec<String> = chars
            .rchunks(3)
            .rev()
            .map(|group| group.iter().collect())
            .collect();
        groups.join(separator)
    }

    /// Formats `minor_units / 10^scale` with the given thousands separator and decimal mark.
    fn format_amount(minor_units: i128, scale: u8, thousands: &str, mark: char) -> String {
        let divisor = 10i128.pow(u32::from(scale));
        let magnitude = minor_units.unsigned_abs();
        let unsigned_divisor = divisor.unsigned_abs();
        let integer = grouped(&(magnitude / unsigned_divisor).to_string(), thousands);
        if scale == 0 {
            integer
        } else {
            let fraction = magnitude % unsigned_divisor;
            format!(
                "{integer}{mark}{fraction:0width$}",
                width = usize::from(scale)
            )
        }
    }

    #[test]
    fn formatted_amounts_parse_back_and_random_strings_never_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..4_000 {
            let magnitude = match rng.below_u64(3) {
                0 => rng.below_u64(1_000),
                1 => rng.below_u64(10_000_000),
                _ => rng.below_u64(1_000_000_000_000_000),
            };
            let negative = rng.below_u64(4) == 0;
            let minor_units = if negative {
                -i128::from(magnitude)
            } else {
                i128::from(magnitude)
            };
            let scale = u8::try_from(rng.below_u64(3)).unwrap_or(2);
            let styles = [
                format_amount(minor_units.abs(), scale, ",", '.'),
                format_amount(minor_units.abs(), scale, ".", ','),
                format_amount(minor_units.abs(), scale, "\u{202f}", ','),
                format_amount(minor_units.abs(), scale, "'", '.'),
            ];
            let decorations: [(&str, &str, Option<CurrencyHint>); 4] = [
                ("", "", None),
                ("$", "", DOLLAR),
                ("", "\u{a0}€", EUR),
                ("CHF ", "", CHF),
            ];
            for (index, text) in styles.iter().enumerate() {
                let (before, after, currency) = decorations[index];
                let signed = match (negative, index) {
                    (false, _) => format!("{before}{text}{after}"),
                    (true, 0) => format!("-{before}{text}{after}"),
                    (true, 1) => format!("({before}{text}{after})"),
                    (true, 2) => format!("−{text}{after}"),
                    (true, _) => format!("{before}{text}-"),
                };
                let parsed = parse_amount(&signed).expect("a formatted amount parses");
                assert_eq!(parsed.minor_units, minor_units, "{signed:?}");
                assert_eq!(parsed.scale, scale, "{signed:?}");
                assert_eq!(parsed.currency, currency, "{signed:?}");
            }
        }

        const PIECES: &[&str] = &[
            "1",
            "12",
            "123",
            "1234",
            "0",
            ".",
            ",",
            " ",
            "'",
            "-",
            "−",
            "(",
            ")",
            "+",
            "$",
            "€",
            "EUR",
            "kr",
            "zł",
            "\u{a0}",
            "\u{202f}",
            "e",
            "NaN",
            "🎉",
            "\u{0}",
            "\u{301}",
            "рубль",
            "9999999999999999999999",
            ",-",
        ];
        for _ in 0..5_000 {
            let pieces = rng.below_u64(10);
            let text: String = (0..pieces)
                .map(|_| {
                    let index = usize::try_from(rng.below_u64(PIECES.len() as u64)).unwrap_or(0);
                    PIECES[index]
                })
                .collect();
            if let Some(parsed) = parse_amount(&text) {
                assert!(parsed.scale <= MAX_SCALE);
                assert!(parsed.value().is_finite(), "{text:?}");
            }
            let _ = parse_amount_with(&text, Some(DecimalMark::Comma));
            let _ = currency_from_text(&text);
        }
    }
}
