//! Dates as invoice extractors write them.
//!
//! Accepted shapes (surrounding whitespace and punctuation, a weekday name, ordinal suffixes such
//! as `14th` / `1er` / `1º`, filler words such as `de` / `of` / `the` / `le` / `den` / `am`, and a
//! trailing time of day such as `T10:30:00Z` or ` 10:30 AM` are all ignored):
//!
//! - year first: `2024-03-14`, `2024/03/14`, `2024.03.14`, `20240314`, `2024年3月14日`;
//! - year last, numeric: `14/03/2024`, `03/14/2024`, `14.03.2024`, `14-03-2024`, `14/03/24`,
//!   and eight digits `14032024` when they are no year-first date;
//! - with a month name, in English, German, French, Spanish, Italian, Portuguese, Dutch,
//!   Swedish, Danish, Norwegian and Polish (nominative and genitive), full or abbreviated, any
//!   case, with or without accents: `March 14, 2024`, `14 Mar 2024`, `14. März 2024`,
//!   `14 de marzo de 2024`, `14 maart 2024`, `14 marca 2024`, `2024-Mar-14`, `14-Mar-24`.
//!
//! Years must lie in [`MIN_YEAR`]..=[`MAX_YEAR`]; a two-digit year `yy` means `20yy` when
//! `yy < 70` and `19yy` otherwise. Unknown words, a second date, six-digit `140324`, and inputs
//! longer than 256 bytes are not dates.
//!
//! # Day/month disambiguation
//!
//! Only the year-last numeric shape is ever ambiguous (year-first is always year-month-day, and a
//! month name leaves nothing to decide). For `A/B/Y`:
//!
//! 1. every reading that is not a real calendar date is dropped — so a component above 12 decides
//!    (`14/03/2024` can only be day-first, `03/14/2024` only month-first), and `31/02/2024` or
//!    `13/13/2024` have no reading at all (`None`);
//! 2. when both readings are real and equal (`05/05/2024`) there is one reading;
//! 3. when both are real and differ, a weekday name in the input that matches exactly one of them
//!    decides (`Mon 03/04/2024` is 4 March 2024);
//! 4. otherwise both are returned: [`DateReadings::preferred`] follows a dotted separator
//!    (`03.04.2024` — dots are day-first in every locale that writes them), else the caller's
//!    [`DateOrder`], else day-first; [`DateReadings::alternative`] holds the other reading so that
//!    a scorer can compare against either.

use chrono::{Datelike, NaiveDate, Weekday};

use super::fold_lower;

/// The earliest year a parsed date may have.
pub const MIN_YEAR: i32 = 1900;
/// The latest year a parsed date may have.
pub const MAX_YEAR: i32 = 2100;

/// Inputs longer than this (in bytes, before trimming) are not dates.
const MAX_INPUT_BYTES: usize = 256;
/// Inputs with more tokens than this are not dates.
const MAX_TOKENS: usize = 16;
/// Two-digit years below this pivot are in the 2000s, the others in the 1900s.
const TWO_DIGIT_YEAR_PIVOT: u32 = 70;

/// Which component of an ambiguous numeric date (`03/04/2024`) is the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `03/04/2024` is 3 April (most of the world).
    DayFirst,
    /// `03/04/2024` is 4 March (the United States, the Philippines).
    MonthFirst,
}

impl DateOrder {
    /// The order customary where an ISO 4217 currency (any case) is used, when one order
    /// dominates: `USD` and `PHP` are month-first; the euro, the pound and the other European,
    /// Latin-American, Oceanian and South-Asian currencies listed here are day-first; anything
    /// else (`CAD`, where both are common, or year-first locales such as `JPY`) gives `None`.
    pub fn for_currency(code: &str) -> Option<DateOrder> {
        const MONTH_FIRST: &[&str] = &["USD", "PHP"];
        const DAY_FIRST: &[&str] = &[
            "EUR", "GBP", "CHF", "PLN", "SEK", "NOK", "DKK", "ISK", "CZK", "HUF", "RON", "BGN",
            "RSD", "TRY", "RUB", "UAH", "AUD", "NZD", "INR", "PKR", "BRL", "ARS", "MXN", "CLP",
            "COP", "PEN", "ZAR", "ILS", "SGD", "HKD", "MYR", "IDR", "THB", "VND",
        ];
        let code = code.trim();
        if MONTH_FIRST.iter().any(|c| c.eq_ignore_ascii_case(code)) {
            Some(DateOrder::MonthFirst)
        } else if DAY_FIRST.iter().any(|c| c.eq_ignore_ascii_case(code)) {
            Some(DateOrder::DayFirst)
        } else {
            None
        }
    }
}

/// The reading(s) of one date string: one date, or two when day and month cannot be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateReadings {
    /// The reading to use when only one can be used.
    pub preferred: NaiveDate,
    /// The other reading of an ambiguous `A/B/Y` date; `None` when the input is unambiguous.
    pub alternative: Option<NaiveDate>,
}

impl DateReadings {
    /// An unambiguous reading.
    pub fn single(date: NaiveDate) -> Self {
        DateReadings {
            preferred: date,
            alternative: None,
        }
    }

    /// Whether a second reading exists.
    pub fn is_ambiguous(&self) -> bool {
        self.alternative.is_some()
    }

    /// The preferred reading, then the alternative if any.
    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> {
        std::iter::once(self.preferred).chain(self.alternative)
    }

    /// Whether `date` is one of the readings.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.iter().any(|reading| reading == date)
    }

    /// The smallest absolute number of days between any reading and `date`.
    pub fn min_abs_days_to(&self, date: NaiveDate) -> i64 {
        self.iter()
            .map(|reading| days_between(reading, date).abs())
            .min()
            .unwrap_or(0)
    }

    /// The smallest absolute number of days between any reading of `self` and any of `other`.
    pub fn min_abs_days_between(&self, other: &DateReadings) -> i64 {
        other
            .iter()
            .map(|date| self.min_abs_days_to(date))
            .min()
            .unwrap_or(0)
    }
}

/// Days from `from` to `to`: positive when `to` is later, negative when earlier.
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    to.signed_duration_since(from).num_days()
}

/// Parses one raw date string (see the module documentation for the accepted shapes and the
/// disambiguation rules). `order` is the caller's preference for ambiguous `A/B/Y` dates, for
/// example from [`DateOrder::for_currency`]; it never overrides an unambiguous reading.
///
/// Returns `None` for anything that is not exactly one calendar date between [`MIN_YEAR`] and
/// [`MAX_YEAR`]: empty or over-long input, unknown words, a missing day or year, impossible dates.
pub fn parse_date(raw: &str, order: Option<DateOrder>) -> Option<DateReadings> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    if let Some(date) = iso_date(raw.trim()) {
        return Some(DateReadings::single(date));
    }
    parse_general(raw, order)
}

/// The common `YYYY-MM-DD` without tokenizing; `None` for anything else. Gives what
/// [`parse_general`] gives for the same input.
fn iso_date(text: &str) -> Option<NaiveDate> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *text.as_bytes() else {
        return None;
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| u32::from(b - b'0'));
    let number = |digits: &[u8]| {
        digits
            .iter()
            .try_fold(0u32, |value, &b| Some(value * 10 + digit(b)?))
    };
    let year = i32::try_from(number(&[y1, y2, y3, y4])?).ok()?;
    ymd(year, number(&[m1, m2])?, number(&[d1, d2])?)
}

/// [`parse_date`] for every accepted shape.
fn parse_general(raw: &str, order: Option<DateOrder>) -> Option<DateReadings> {
    let tokens = tokenize(&fold_lower(without_time_of_day(raw)))?;
    let mut numbers = Vec::new();
    let mut words = Vec::new();
    for (position, token) in tokens.items.iter().enumerate() {
        match token {
            Token::Number(number) => numbers.push((position, *number)),
            Token::Word {
                text,
                attached_to_number,
            } => words.push((position, classify(text, *attached_to_number)?)),
        }
    }
    let named = month_and_weekday(&words)?;
    match (named.month, named.month_as_weekday) {
        // `mar. 12/03/2024`: before three numbers, a word that may be a weekday is one.
        (Some((position, _)), Some(as_weekday))
            if numbers.len() == 3 && numbers.iter().all(|(after, _)| *after > position) =>
        {
            let weekday = named.weekday.or(as_weekday);
            numeric(&numbers, order, tokens.dotted, weekday)
        }
        (Some((_, month)), _) => with_month_name(&numbers, month),
        (None, _) => numeric(&numbers, order, tokens.dotted, named.weekday),
    }
}

/// A run of ASCII digits: its value and how many digits were written (`03` has two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Number {
    value: u32,
    digits: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Number(Number),
    /// A run of letters, and whether it directly follows a number (`14th`).
    Word {
        text: String,
        attached_to_number: bool,
    },
}

/// What separated the current run from the previous token.
#[derive(Debug, Default)]
struct Gap {
    /// Any separator character.
    any: bool,
    /// A dot among them.
    dot: bool,
}

/// The tokens of a folded date string, and whether two numbers were separated by a dot.
#[derive(Debug, Default)]
struct Tokens {
    items: Vec<Token>,
    dotted: bool,
}

/// Cuts a time of day off: everything from the first `H:MM`-like digits-colon-digits onwards.
fn without_time_of_day(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    let is_digit_at = |index: usize| bytes.get(index).is_some_and(u8::is_ascii_digit);
    let colon = (1..bytes.len()).find(|&index| {
        bytes.get(index) == Some(&b':') && is_digit_at(index - 1) && is_digit_at(index + 1)
    });
    let Some(colon) = colon else {
        return raw;
    };
    let mut start = colon;
    while start > 0 && is_digit_at(start - 1) {
        start -= 1;
    }
    // `start` is at an ASCII digit, hence on a character boundary.
    raw.get(..start).unwrap_or(raw)
}

/// What kind of characters the tokenizer is in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Separators,
    Digits,
    Letters,
}

/// Splits a folded string into digit runs and letter runs; everything else separates them.
/// `None` when a digit run is longer than eight digits or there are too many tokens.
fn tokenize(folded: &str) -> Option<Tokens> {
    let mut tokens = Tokens::default();
    let mut run = Run::Separators;
    let mut current = String::new();
    let mut gap = Gap::default();
    for c in folded.chars() {
        let kind = if c.is_ascii_digit() {
            Run::Digits
        } else if c.is_alphabetic() {
            Run::Letters
        } else {
            Run::Separators
        };
        if kind != run {
            end_run(run, &mut current, &mut gap, &mut tokens)?;
            run = kind;
        }
        match run {
            Run::Separators => {
                gap.any = true;
                gap.dot |= c == '.';
            }
            Run::Digits | Run::Letters => current.push(c),
        }
    }
    end_run(run, &mut current, &mut gap, &mut tokens)?;
    Some(tokens)
}

/// Turns the characters of a finished run into a token. `None` when a digit run is longer than
/// eight digits or there are too many tokens.
fn end_run(run: Run, current: &mut String, gap: &mut Gap, tokens: &mut Tokens) -> Option<()> {
    let text = std::mem::take(current);
    let after_number = matches!(tokens.items.last(), Some(Token::Number(_)));
    let token = match run {
        Run::Separators => return Some(()),
        Run::Digits => {
            if text.len() > 8 {
                return None;
            }
            if gap.dot && after_number {
                tokens.dotted = true;
            }
            Token::Number(Number {
                value: text.parse().ok()?,
                digits: text.len(),
            })
        }
        Run::Letters => Token::Word {
            attached_to_number: after_number && !gap.any,
            text,
        },
    };
    *gap = Gap::default();
    tokens.items.push(token);
    (tokens.items.len() <= MAX_TOKENS).then_some(())
}

/// What a word of a date string can be. A word may be both a month and a weekday (`mar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WordClass {
    month: Option<u32>,
    /// `Some(None)`: a weekday word that does not say which weekday (`ma`: Monday in Dutch,
    /// Tuesday-like in Romance languages).
    weekday: Option<Option<Weekday>>,
}

/// Classifies one folded word; `None` for a word that has no place in a date.
fn classify(word: &str, attached_to_number: bool) -> Option<WordClass> {
    let ordinal_suffix = attached_to_number && ORDINAL_SUFFIXES.contains(&word);
    if ordinal_suffix || FILLER_WORDS.contains(&word) {
        return Some(WordClass {
            month: None,
            weekday: None,
        });
    }
    let class = WordClass {
        month: month_of(word),
        weekday: weekday_of(word),
    };
    (class.month.is_some() || class.weekday.is_some()).then_some(class)
}

/// The month and weekday the words of a date string name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Named {
    /// The month word's token position and month.
    month: Option<(usize, u32)>,
    /// The month word's reading as a weekday, when it can be one (`mar`: March or Tuesday).
    month_as_weekday: Option<Option<Weekday>>,
    /// The weekday, when the other weekday words name exactly one.
    weekday: Option<Weekday>,
}

/// Picks the month word and the weekday a date string names. A word that could be a month or a
/// weekday (`mar`) is the month unless another word is a month (`mar., 14 de marzo`).
/// `None` when two words name months.
fn month_and_weekday(words: &[(usize, WordClass)]) -> Option<Named> {
    let months: Vec<&(usize, WordClass)> = words
        .iter()
        .filter(|(_, class)| class.month.is_some())
        .collect();
    let month_word = match months.as_slice() {
        [] => None,
        [only] => Some(*only),
        several => {
            let mut proper = several.iter().filter(|(_, class)| class.weekday.is_none());
            let chosen = proper.next()?;
            if proper.next().is_some() {
                return None;
            }
            Some(*chosen)
        }
    };
    let month_position = month_word.map(|(position, _)| *position);
    let mut weekdays = words
        .iter()
        .filter(|(position, _)| Some(*position) != month_position)
        .filter_map(|(_, class)| class.weekday);
    let first = weekdays.next().flatten();
    let weekday = if weekdays.all(|other| other == first) {
        first
    } else {
        None
    };
    Some(Named {
        month: month_word.and_then(|(position, class)| Some((*position, class.month?))),
        month_as_weekday: month_word.and_then(|(_, class)| class.weekday),
        weekday,
    })
}

/// A date written with a month name: exactly one day and one year around it.
fn with_month_name(numbers: &[(usize, Number)], month: u32) -> Option<DateReadings> {
    let [(_, first), (_, second)] = numbers else {
        return None;
    };
    let (day, year) = match (first.digits, second.digits) {
        (1 | 2, 4) | (1 | 2, 2) => (first, second),
        (4, 1 | 2) => (second, first),
        _ => return None,
    };
    ymd(expand_year(*year)?, month, day.value).map(DateReadings::single)
}

/// A date written with numbers only.
fn numeric(
    numbers: &[(usize, Number)],
    order: Option<DateOrder>,
    dotted: bool,
    weekday: Option<Weekday>,
) -> Option<DateReadings> {
    match numbers {
        [(_, compact)] if compact.digits == 8 => {
            let value = compact.value;
            let year_first = i32::try_from(value / 10_000)
                .ok()
                .and_then(|year| ymd(year, value / 100 % 100, value % 100));
            match year_first {
                Some(date) => Some(DateReadings::single(date)),
                None => {
                    let year = i32::try_from(value % 10_000).ok()?;
                    let (first, second) = (value / 1_000_000, value / 10_000 % 100);
                    day_and_month(first, second, year, order, false, weekday)
                }
            }
        }
        [(_, a), (_, b), (_, c)] => match (a.digits, b.digits, c.digits) {
            (4, 1 | 2, 1 | 2) => {
                let year = i32::try_from(a.value).ok()?;
                ymd(year, b.value, c.value).map(DateReadings::single)
            }
            (1 | 2, 1 | 2, 2 | 4) => {
                let year = expand_year(*c)?;
                day_and_month(a.value, b.value, year, order, dotted, weekday)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Resolves `first/second/year` into its day-first and month-first readings (module docs).
fn day_and_month(
    first: u32,
    second: u32,
    year: i32,
    order: Option<DateOrder>,
    dotted: bool,
    weekday: Option<Weekday>,
) -> Option<DateReadings> {
    let day_first = ymd(year, second, first);
    let month_first = ymd(year, first, second);
    match (day_first, month_first) {
        (Some(day_first), Some(month_first)) if day_first != month_first => {
            let matches = |date: NaiveDate| weekday == Some(date.weekday());
            match (matches(day_first), matches(month_first)) {
                (true, false) => return Some(DateReadings::single(day_first)),
                (false, true) => return Some(DateReadings::single(month_first)),
                _ => {}
            }
            let prefer_day_first = dotted || order != Some(DateOrder::MonthFirst);
            let (preferred, alternative) = if prefer_day_first {
                (day_first, month_first)
            } else {
                (month_first, day_first)
            };
            Some(DateReadings {
                preferred,
                alternative: Some(alternative),
            })
        }
        (Some(date), _) | (None, Some(date)) => Some(DateReadings::single(date)),
        (None, None) => None,
    }
}

/// A four-digit year as written, or a two-digit one around [`TWO_DIGIT_YEAR_PIVOT`].
fn expand_year(year: Number) -> Option<i32> {
    let full = match year.digits {
        4 => year.value,
        2 if year.value < TWO_DIGIT_YEAR_PIVOT => 2000 + year.value,
        2 => 1900 + year.value,
        _ => return None,
    };
    i32::try_from(full).ok()
}

/// A calendar date within the accepted years.
fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Ordinal suffixes, accepted right after a number only: `14th`, `1er`, `1re`, `2e`, `2eme`,
/// `1º`, `1ª`.
const ORDINAL_SUFFIXES: &[&str] = &["st", "nd", "rd", "th", "er", "re", "e", "eme", "o", "a"];

/// Words that may surround the parts of a date without meaning anything: prepositions and
/// articles (`14 de marzo de 2024`, `the 14th of March`,
/// `le 14 mars`, `den 14 mars`, `am 14. März`), the ISO `T` or a word such as `at` / `um` /
/// `à` / `kl.` before a cut-off time and a time zone after it, the
/// Portuguese `-feira` of weekday names, and the CJK year/month/day markers.
const FILLER_WORDS: &[&str] = &[
    "de", "del", "of", "the", "le", "el", "den", "der", "am", "on", "t", "z", "utc", "gmt", "at",
    "um", "om", "kl", "las", "alle", "as", "feira", "年", "月", "日", "년", "월", "일",
];

/// Month names (folded) in English, German, French, Spanish, Italian, Portuguese, Dutch, Swedish,
/// Danish, Norwegian and Polish (nominative and genitive), and the abbreviations that are not a
/// prefix of one of them.
const MONTH_NAMES: &[(&str, u32)] = &[
    // English
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    // German (and Austrian Jänner)
    ("januar", 1),
    ("janner", 1),
    ("februar", 2),
    ("marz", 3),
    ("mrz", 3),
    ("mai", 5),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
    // French
    ("janvier", 1),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("juin", 6),
    ("juillet", 7),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("decembre", 12),
    // Spanish
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    // Italian
    ("gennaio", 1),
    ("febbraio", 2),
    ("aprile", 4),
    ("maggio", 5),
    ("giugno", 6),
    ("luglio", 7),
    ("settembre", 9),
    ("ottobre", 10),
    ("dicembre", 12),
    // Portuguese
    ("janeiro", 1),
    ("fevereiro", 2),
    ("marco", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
    // Dutch
    ("januari", 1),
    ("februari", 2),
    ("maart", 3),
    ("mrt", 3),
    ("mei", 5),
    ("augustus", 8),
    // Swedish
    ("augusti", 8),
    ("maj", 5),
    // Danish and Norwegian
    ("marts", 3),
    ("desember", 12),
    // Polish, nominative
    ("styczen", 1),
    ("luty", 2),
    ("marzec", 3),
    ("kwiecien", 4),
    ("czerwiec", 6),
    ("lipiec", 7),
    ("sierpien", 8),
    ("wrzesien", 9),
    ("pazdziernik", 10),
    ("listopad", 11),
    ("grudzien", 12),
    // Polish, genitive (`14 marca 2024`)
    ("stycznia", 1),
    ("lutego", 2),
    ("marca", 3),
    ("kwietnia", 4),
    ("maja", 5),
    ("czerwca", 6),
    ("lipca", 7),
    ("sierpnia", 8),
    ("wrzesnia", 9),
    ("pazdziernika", 10),
    ("listopada", 11),
    ("grudnia", 12),
];

/// The shortest abbreviation accepted as a prefix of a month name (`mar`, `sept`, `févr`).
const MIN_MONTH_PREFIX: usize = 3;

/// The month a folded word names: a full name, or a prefix of at least three letters that
/// every matching name agrees on (`jui` is `juin` or `juillet`, so it names none).
fn month_of(word: &str) -> Option<u32> {
    if let Some((_, month)) = MONTH_NAMES.iter().find(|(name, _)| *name == word) {
        return Some(*month);
    }
    if word.chars().count() < MIN_MONTH_PREFIX {
        return None;
    }
    let mut matches = MONTH_NAMES
        .iter()
        .filter(|(name, _)| name.starts_with(word))
        .map(|(_, month)| *month);
    let first = matches.next()?;
    matches.all(|month| month == first).then_some(first)
}

/// Weekday names (folded) in the same languages as [`MONTH_NAMES`].
const WEEKDAY_NAMES: &[(&str, Weekday)] = &[
    // English
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    // German
    ("montag", Weekday::Mon),
    ("dienstag", Weekday::Tue),
    ("mittwoch", Weekday::Wed),
    ("donnerstag", Weekday::Thu),
    ("freitag", Weekday::Fri),
    ("samstag", Weekday::Sat),
    ("sonnabend", Weekday::Sat),
    ("sonntag", Weekday::Sun),
    // French
    ("lundi", Weekday::Mon),
    ("mardi", Weekday::Tue),
    ("mercredi", Weekday::Wed),
    ("jeudi", Weekday::Thu),
    ("vendredi", Weekday::Fri),
    ("samedi", Weekday::Sat),
    ("dimanche", Weekday::Sun),
    // Spanish
    ("lunes", Weekday::Mon),
    ("martes", Weekday::Tue),
    ("miercoles", Weekday::Wed),
    ("jueves", Weekday::Thu),
    ("viernes", Weekday::Fri),
    ("sabado", Weekday::Sat),
    ("domingo", Weekday::Sun),
    // Italian
    ("lunedi", Weekday::Mon),
    ("martedi", Weekday::Tue),
    ("mercoledi", Weekday::Wed),
    ("giovedi", Weekday::Thu),
    ("venerdi", Weekday::Fri),
    ("sabato", Weekday::Sat),
    ("domenica", Weekday::Sun),
    // Portuguese (`segunda-feira`: `feira` is a filler word)
    ("segunda", Weekday::Mon),
    ("terca", Weekday::Tue),
    ("quarta", Weekday::Wed),
    ("quinta", Weekday::Thu),
    ("sexta", Weekday::Fri),
    // Dutch
    ("maandag", Weekday::Mon),
    ("dinsdag", Weekday::Tue),
    ("woensdag", Weekday::Wed),
    ("donderdag", Weekday::Thu),
    ("vrijdag", Weekday::Fri),
    ("zaterdag", Weekday::Sat),
    ("zondag", Weekday::Sun),
    // Swedish, Danish, Norwegian
    ("mandag", Weekday::Mon),
    ("tisdag", Weekday::Tue),
    ("tirsdag", Weekday::Tue),
    ("onsdag", Weekday::Wed),
    ("torsdag", Weekday::Thu),
    ("fredag", Weekday::Fri),
    ("lordag", Weekday::Sat),
    ("sondag", Weekday::Sun),
    // Polish
    ("poniedzialek", Weekday::Mon),
    ("wtorek", Weekday::Tue),
    ("sroda", Weekday::Wed),
    ("czwartek", Weekday::Thu),
    ("piatek", Weekday::Fri),
    ("sobota", Weekday::Sat),
    ("niedziela", Weekday::Sun),
];

/// Whether a folded word is a weekday name or an abbreviation of one (a prefix of at least two
/// letters), and which weekday when every matching name agrees (`Some(None)` when they do not:
/// `do` is Thursday in German and Dutch but Sunday in Spanish).
fn weekday_of(word: &str) -> Option<Option<Weekday>> {
    if word.chars().count() < 2 {
        return None;
    }
    let mut matches = WEEKDAY_NAMES
        .iter()
        .filter(|(name, _)| name.starts_with(word))
        .map(|(_, weekday)| *weekday);
    let first = matches.next()?;
    Some(matches.all(|weekday| weekday == first).then_some(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;
    use rstest::rstest;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("a valid test date")
    }

    fn single(year: i32, month: u32, day: u32) -> Option<DateReadings> {
        Some(DateReadings::single(date(year, month, day)))
    }

    fn both(preferred: (i32, u32, u32), alternative: (i32, u32, u32)) -> Option<DateReadings> {
        Some(DateReadings {
            preferred: date(preferred.0, preferred.1, preferred.2),
            alternative: Some(date(alternative.0, alternative.1, alternative.2)),
        })
    }

    #[rstest]
    // Year first.
    #[case("2024-03-14", single(2024, 3, 14))]
    #[case("2024/03/14", single(2024, 3, 14))]
    #[case("2024.03.14", single(2024, 3, 14))]
    #[case("2024-3-4", single(2024, 3, 4))]
    #[case("20240314", single(2024, 3, 14))]
    #[case("2024-03-14T10:30:00Z", single(2024, 3, 14))]
    #[case("2024-03-14T10:30:00+01:00", single(2024, 3, 14))]
    #[case("2024-03-14 00:00:00.000", single(2024, 3, 14))]
    #[case("2024-03-14Z", single(2024, 3, 14))]
    #[case("2024年3月14日", single(2024, 3, 14))]
    // Year last, decided by a component above 12.
    #[case("14/03/2024", single(2024, 3, 14))]
    #[case("03/14/2024", single(2024, 3, 14))]
    #[case("14.03.2024", single(2024, 3, 14))]
    #[case("14-03-2024", single(2024, 3, 14))]
    #[case("14 03 2024", single(2024, 3, 14))]
    #[case("14/03/24", single(2024, 3, 14))]
    #[case("14/3/24", single(2024, 3, 14))]
    #[case("31/12/99", single(1999, 12, 31))]
    #[case("14032024", single(2024, 3, 14))]
    #[case("14/03/2024 10:30 AM", single(2024, 3, 14))]
    #[case("March 14, 2024 at 10:30", single(2024, 3, 14))]
    #[case("14.03.2024 um 10:30 Uhr", single(2024, 3, 14))]
    #[case("Tue, 12 Mar 2024 10:00:00 +0000", single(2024, 3, 12))]
    #[case("  (14/03/2024).  ", single(2024, 3, 14))]
    #[case("05/05/2024", single(2024, 5, 5))]
    // Month names.
    #[case("March 14, 2024", single(2024, 3, 14))]
    #[case("march 14th, 2024", single(2024, 3, 14))]
    #[case("14 Mar 2024", single(2024, 3, 14))]
    #[case("14-Mar-2024", single(2024, 3, 14))]
    #[case("14-MAR-24", single(2024, 3, 14))]
    #[case("2024-Mar-14", single(2024, 3, 14))]
    #[case("the 14th of March 2024", single(2024, 3, 14))]
    #[case("Thursday, March 14, 2024", single(2024, 3, 14))]
    #[case("Thu 14 Mar 2024", single(2024, 3, 14))]
    #[case("Sept. 3, 2024", single(2024, 9, 3))]
    #[case("14. März 2024", single(2024, 3, 14))]
    #[case("14. MÄRZ 2024", single(2024, 3, 14))]
    #[case("14. Marz 2024", single(2024, 3, 14))]
    #[case("14. Mrz. 2024", single(2024, 3, 14))]
    #[case("Donnerstag, 14. März 2024", single(2024, 3, 14))]
    #[case("am 3. Jänner 2024", single(2024, 1, 3))]
    #[case("14 mars 2024", single(2024, 3, 14))]
    #[case("jeudi 14 mars 2024", single(2024, 3, 14))]
    #[case("1er février 2024", single(2024, 2, 1))]
    #[case("1 févr. 2024", single(2024, 2, 1))]
    #[case("le 14 juil. 2024", single(2024, 7, 14))]
    #[case("15 août 2024", single(2024, 8, 15))]
    #[case("14 de marzo de 2024", single(2024, 3, 14))]
    #[case("jueves, 14 de marzo de 2024", single(2024, 3, 14))]
    #[case("mar., 12 de marzo de 2024", single(2024, 3, 12))]
    #[case("1º de enero de 2024", single(2024, 1, 1))]
    #[case("14 dic 2024", single(2024, 12, 14))]
    #[case("14 marzo 2024", single(2024, 3, 14))]
    #[case("14 giugno 2024", single(2024, 6, 14))]
    #[case("14 de março de 2024", single(2024, 3, 14))]
    #[case("quinta-feira, 14 de março de 2024", single(2024, 3, 14))]
    #[case("14 out 2024", single(2024, 10, 14))]
    #[case("14 maart 2024", single(2024, 3, 14))]
    #[case("14 mrt 2024", single(2024, 3, 14))]
    #[case("14 mei 2024", single(2024, 5, 14))]
    #[case("den 14 mars 2024", single(2024, 3, 14))]
    #[case("14 maj 2024", single(2024, 5, 14))]
    #[case("14 augusti 2024", single(2024, 8, 14))]
    #[case("14. marts 2024", single(2024, 3, 14))]
    #[case("14. desember 2024", single(2024, 12, 14))]
    #[case("14 marca 2024", single(2024, 3, 14))]
    #[case("14 października 2024", single(2024, 10, 14))]
    #[case("1 stycznia 2024", single(2024, 1, 1))]
    #[case("14 LISTOPADA 2024", single(2024, 11, 14))]
    #[case("29 February 2024", single(2024, 2, 29))]
    // Digits of other scripts fold to ASCII digits (the core's one normaliser).
    #[case("١٤/٠٣/٢٠٢٤", single(2024, 3, 14))]
    fn parses_unambiguous_dates(#[case] raw: &str, #[case] expected: Option<DateReadings>) {
        assert_eq!(parse_date(raw, None), expected, "{raw:?}");
        // A preference never changes an unambiguous reading.
        assert_eq!(
            parse_date(raw, Some(DateOrder::MonthFirst)),
            expected,
            "{raw:?}"
        );
        assert_eq!(
            parse_date(raw, Some(DateOrder::DayFirst)),
            expected,
            "{raw:?}"
        );
    }

    #[rstest]
    #[case("03/04/2024", None, both((2024, 4, 3), (2024, 3, 4)))]
    #[case("03/04/2024", Some(DateOrder::DayFirst), both((2024, 4, 3), (2024, 3, 4)))]
    #[case("03/04/2024", Some(DateOrder::MonthFirst), both((2024, 3, 4), (2024, 4, 3)))]
    #[case("3/4/24", Some(DateOrder::MonthFirst), both((2024, 3, 4), (2024, 4, 3)))]
    #[case("03-04-2024", Some(DateOrder::MonthFirst), both((2024, 3, 4), (2024, 4, 3)))]
    #[case("03042024", Some(DateOrder::MonthFirst), both((2024, 3, 4), (2024, 4, 3)))]
    // Dots are day-first whatever the caller prefers.
    #[case("03.04.2024", Some(DateOrder::MonthFirst), both((2024, 4, 3), (2024, 3, 4)))]
    // A weekday that fits only one reading decides: 4 March 2024 is a Monday.
    #[case("Mon 03/04/2024", None, single(2024, 3, 4))]
    #[case("mar. 05/03/2024", None, single(2024, 3, 5))]
    #[case("mar. 03/05/2024", None, single(2024, 3, 5))]
    #[case("Montag, 04/03/2024", Some(DateOrder::MonthFirst), single(2024, 3, 4))]
    // A weekday that fits neither leaves both.
    #[case("Sun 03/04/2024", None, both((2024, 4, 3), (2024, 3, 4)))]
    fn returns_both_readings_when_day_and_month_are_ambiguous(
        #[case] raw: &str,
        #[case] order: Option<DateOrder>,
        #[case] expected: Option<DateReadings>,
    ) {
        assert_eq!(parse_date(raw, order), expected, "{raw:?}");
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("./-,;:()")]
    #[case("31/02/2024")]
    #[case("02/31/2024")]
    #[case("30/02/2024")]
    #[case("13/13/2024")]
    #[case("29/02/2023")]
    #[case("2024-02-30")]
    #[case("2024-13-01")]
    #[case("2024-00-10")]
    #[case("1899-12-31")]
    #[case("2024-1x-10")]
    #[case("14 e 03 2024")]
    #[case("14 er mars 2024")]
    #[case("2024-03-1x")]
    #[case("00/00/0000")]
    #[case("14/03/1899")]
    #[case("14/03/2101")]
    #[case("14 March 1850")]
    #[case("2024-03")]
    #[case("March 2024")]
    #[case("14 March")]
    #[case("14/03")]
    #[case("14/03/202")]
    #[case("14/03/2024/1")]
    #[case("140324")]
    #[case("2024031415")]
    #[case("14 Foo 2024")]
    #[case("Invoice 14/03/2024")]
    #[case("14 jui 2024")]
    #[case("March 14 April 2024")]
    #[case("NaN")]
    #[case("inf")]
    #[case("1234567890123456789012345678901234567890")]
    #[case("14 марта 2024")]
    #[case("🎉📅")]
    #[case("\u{0}\u{1}\u{7f}")]
    #[case("14\u{0}03")]
    #[case("14 MÃ¤rz 2024")]
    #[case("\u{fffd}\u{fffd}\u{fffd}")]
    #[case("14 mar 03/2024")]
    fn rejects_what_is_not_exactly_one_date(#[case] raw: &str) {
        assert_eq!(parse_date(raw, None), None, "{raw:?}");
    }

    #[rstest]
    #[case("📅 14/03/2024 🎉", single(2024, 3, 14))]
    #[case("\t14/03/2024\r\n", single(2024, 3, 14))]
    #[case("\u{0}14/03/2024\u{7}", single(2024, 3, 14))]
    #[case("\u{fffd}14/03/2024\u{fffd}", single(2024, 3, 14))]
    fn ignores_symbols_and_control_characters_around_a_date(
        #[case] raw: &str,
        #[case] expected: Option<DateReadings>,
    ) {
        assert_eq!(parse_date(raw, None), expected);
    }

    #[test]
    fn huge_inputs_are_not_dates() {
        let huge = "1".repeat(1 << 20);
        assert_eq!(parse_date(&huge, None), None);
        let padded = format!("{}14/03/2024", " ".repeat(1 << 20));
        assert_eq!(parse_date(&padded, None), None);
        let many_tokens = "1 ".repeat(100);
        assert_eq!(parse_date(&many_tokens, None), None);
    }

    #[rstest]
    #[case("USD", Some(DateOrder::MonthFirst))]
    #[case("eur", Some(DateOrder::DayFirst))]
    #[case(" GBP ", Some(DateOrder::DayFirst))]
    #[case("CAD", None)]
    #[case("", None)]
    fn suggests_an_order_for_a_currency(#[case] code: &str, #[case] expected: Option<DateOrder>) {
        assert_eq!(DateOrder::for_currency(code), expected);
    }

    #[test]
    fn readings_measure_distances() {
        let readings = both((2024, 4, 3), (2024, 3, 4)).expect("two readings");
        assert!(readings.is_ambiguous());
        assert!(readings.contains(date(2024, 3, 4)));
        assert_eq!(readings.min_abs_days_to(date(2024, 3, 6)), 2);
        assert_eq!(readings.min_abs_days_to(date(2024, 4, 1)), 2);
        let other = DateReadings::single(date(2024, 3, 5));
        assert_eq!(readings.min_abs_days_between(&other), 1);
        assert_eq!(days_between(date(2024, 3, 1), date(2024, 3, 14)), 13);
        assert_eq!(days_between(date(2024, 3, 14), date(2024, 3, 1)), -13);
        assert_eq!(days_between(date(2024, 2, 28), date(2024, 3, 1)), 2);
    }

    #[test]
    fn month_prefixes_agree_across_languages() {
        // Every prefix of three letters or more names at most one month, except the French
        // `jui` (juin / juillet), which names none.
        for (name, month) in MONTH_NAMES {
            let letters: Vec<char> = name.chars().collect();
            for end in MIN_MONTH_PREFIX..=letters.len() {
                let prefix: String = letters.iter().take(end).collect();
                let found = month_of(&prefix);
                assert!(
                    found == Some(*month) || (prefix == "jui" && found.is_none()),
                    "{prefix:?} of {name:?} gives {found:?}"
                );
            }
        }
    }

    const ENGLISH: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const GERMAN: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];

    #[test]
    fn formatted_dates_parse_back_and_random_strings_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let start = date(1990, 1, 1);
        for _ in 0..3_000 {
            let offset = i64::try_from(rng.below(29_000)).unwrap_or(0);
            let expected = start + chrono::Duration::days(offset);
            let (y, m, d) = (expected.year(), expected.month(), expected.day());
            let month_index = usize::try_from(m - 1).unwrap_or(0);
            let day_first = format!("{d:02}/{m:02}/{y}");
            let month_first = format!("{m}/{d}/{y}");
            let formats = [
                format!("{y}-{m:02}-{d:02}"),
                format!("{y}{m:02}{d:02}"),
                format!("{d}.{m}.{y}"),
                format!("{} {d}, {y}", ENGLISH[month_index]),
                format!("{d}. {} {y}", GERMAN[month_index]),
                format!("{d}-{}-{:02}", &ENGLISH[month_index][..3], y % 100),
            ];
            for text in &formats {
                let readings = parse_date(text, None).expect("a formatted date parses");
                assert_eq!(readings.preferred, expected, "{text:?}");
                assert_eq!(parse_general(text, None), Some(readings), "{text:?}");
            }
            let readings = parse_date(&day_first, None).expect("day-first parses");
            assert_eq!(readings.preferred, expected, "{day_first:?}");
            let readings =
                parse_date(&month_first, Some(DateOrder::MonthFirst)).expect("month-first parses");
            assert_eq!(readings.preferred, expected, "{month_first:?}");
        }

        const PIECES: &[&str] = &[
            "1",
            "12",
            "31",
            "2024",
            "99",
            "0",
            "/",
            "-",
            ".",
            ",",
            " ",
            ":",
            "T",
            "März",
            "mar",
            "de",
            "th",
            "Mon",
            "ma",
            "\u{0}",
            "\u{301}",
            "🎉",
            "марта",
            "年",
            "\u{a0}",
            "9999",
            "20240314",
            "(",
            ")",
            "é",
            "İ",
        ];
        for _ in 0..5_000 {
            let pieces = rng.below(12);
            let text: String = (0..pieces)
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect();
            if let Some(readings) = parse_date(&text, None) {
                assert!((MIN_YEAR..=MAX_YEAR).contains(&readings.preferred.year()));
            }
            let _ = parse_date(&text, Some(DateOrder::MonthFirst));
        }
    }
}
