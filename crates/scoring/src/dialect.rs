//! Dialects: how resolved values are written out — date format, number locale, delimiter, null
//! text, encoding and boolean pair. [`DialectSettings::parse`] reads the settings of
//! `POST /v1/dialects` (the `name` is the service's), [`DialectSettings::patched`] merges a
//! `PATCH`, [`DialectSettings::render`] writes one value and [`DialectSettings::encode`] turns
//! text into the dialect's bytes. Pure and total.
//!
//! | setting | default | allowed |
//! | --- | --- | --- |
//! | `date_format` | `YYYY-MM-DD` | tokens `YYYY` `YY` `MM` `M` `DD` `D` `MMM` (English month abbreviation, `Mar`) — upper case, each of year, month and day at most once, at least one — between literal characters that are not letters (`DD.MM.YYYY`, `D/M/YY`, `DD MMM YYYY`); or a chrono strftime string, recognised by a `%` (`%d.%m.%Y`, `%e %B %Y`), with date fields only |
//! | `number_locale` | `en-US` | one of [`NUMBER_LOCALES`] (case and `_`/`-` are free), which gives the decimal mark. Numbers are written without grouping and without exponent, as the shortest text that reads back as the same number: `1234.5` is `1234,5` in `de-DE`; integers have no decimals |
//! | `delimiter` | `,` | exactly one character, not `"`, `\r` or `\n` (`\t` is fine) |
//! | `null_representation` | empty | any text without a line break, at most 64 bytes |
//! | `encoding` | `utf-8` | `utf-8`, `utf-8-bom`, `iso-8859-1`, `windows-1252` (case-insensitive) |
//! | `boolean_format` | `{"true": "true", "false": "false"}` | two different non-empty texts without a line break |
//!
//! `null` for a setting means its default (in a patch: back to the default). Unknown keys are
//! rejected, naming the key; every problem is reported, not just the first.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

use crate::policy::{format_number, ResolvedValue};

/// The number locales a dialect may name, with their decimal mark.
pub const NUMBER_LOCALES: &[(&str, char)] = &[
    ("en-US", '.'),
    ("en-GB", '.'),
    ("en-CA", '.'),
    ("en-AU", '.'),
    ("en-NZ", '.'),
    ("en-IE", '.'),
    ("en-IN", '.'),
    ("de-CH", '.'),
    ("it-CH", '.'),
    ("es-MX", '.'),
    ("ja-JP", '.'),
    ("zh-CN", '.'),
    ("ko-KR", '.'),
    ("he-IL", '.'),
    ("th-TH", '.'),
    ("de-DE", ','),
    ("de-AT", ','),
    ("fr-FR", ','),
    ("fr-BE", ','),
    ("fr-CA", ','),
    ("nl-NL", ','),
    ("nl-BE", ','),
    ("es-ES", ','),
    ("es-AR", ','),
    ("it-IT", ','),
    ("pt-PT", ','),
    ("pt-BR", ','),
    ("pl-PL", ','),
    ("cs-CZ", ','),
    ("hu-HU", ','),
    ("ro-RO", ','),
    ("el-GR", ','),
    ("tr-TR", ','),
    ("ru-RU", ','),
    ("uk-UA", ','),
    ("sv-SE", ','),
    ("da-DK", ','),
    ("nb-NO", ','),
    ("fi-FI", ','),
    ("id-ID", ','),
];

const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The longest date format and null representation, in bytes.
const MAX_FORMAT_LEN: usize = 64;
const MAX_TEXT_LEN: usize = 64;

/// The setting keys, in the order [`DialectSettings::to_json`] writes them.
const KEYS: [&str; 6] = [
    "date_format",
    "number_locale",
    "delimiter",
    "null_representation",
    "encoding",
    "boolean_format",
];

/// A problem with a dialect setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectError {
    /// The setting (`delimiter`, `boolean_format.true`, or empty for the whole body).
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for DialectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for DialectError {}

/// The bytes text is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    /// UTF-8 after a byte-order mark ([`DialectSettings::bom`]).
    Utf8Bom,
    /// Latin-1: characters above U+00FF become `?`.
    Iso8859_1,
    /// Latin-1 with the printable characters of 0x80..0x9F (`€`, `‚`, `“`, ...); others `?`.
    Windows1252,
}

impl Encoding {
    const ALL: [Encoding; 4] = [
        Encoding::Utf8,
        Encoding::Utf8Bom,
        Encoding::Iso8859_1,
        Encoding::Windows1252,
    ];

    /// `utf-8`, `utf-8-bom`, `iso-8859-1` or `windows-1252`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Iso8859_1 => "iso-8859-1",
            Encoding::Windows1252 => "windows-1252",
        }
    }

    fn parse(name: &str) -> Option<Encoding> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// One piece of a token date format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DatePiece {
    Year4,
    Year2,
    MonthAbbr,
    Month2,
    Month1,
    Day2,
    Day1,
    Literal(String),
}

/// A validated date format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DateFormat {
    Tokens(Vec<DatePiece>),
    /// A strftime string known to format every date.
    Strftime(String),
}

impl DateFormat {
    fn parse(text: &str) -> Result<DateFormat, String> {
        if text.is_empty() {
            return Err("the date format is empty".into());
        }
        if text.len() > MAX_FORMAT_LEN {
            return Err(format!(
                "the date format is longer than {MAX_FORMAT_LEN} bytes"
            ));
        }
        if text.contains(['\r', '\n']) {
            return Err("the date format has a line break".into());
        }
        if text.contains('%') {
            return strftime(text).map(|()| DateFormat::Strftime(text.to_owned()));
        }
        tokens(text).map(DateFormat::Tokens)
    }

    fn render(&self, date: NaiveDate, out: &mut String) {
        match self {
            DateFormat::Strftime(f) => {
                let start = out.len();
                if write!(out, "{}", date.format(f)).is_err() {
                    out.truncate(start);
                    let _ = write!(out, "{}", date.format("%Y-%m-%d"));
                }
            }
            DateFormat::Tokens(pieces) => {
                for piece in pieces {
                    let _ = match piece {
                        DatePiece::Year4 => write!(out, "{:04}", date.year()),
                        DatePiece::Year2 => write!(out, "{:02}", date.year().rem_euclid(100)),
                        DatePiece::MonthAbbr => {
                            let i = date.month0() as usize;
                            out.push_str(MONTH_ABBREVIATIONS.get(i).copied().unwrap_or(""));
                            Ok(())
                        }
                        DatePiece::Month2 => write!(out, "{:02}", date.month()),
                        DatePiece::Month1 => write!(out, "{}", date.month()),
                        DatePiece::Day2 => write!(out, "{:02}", date.day()),
                        DatePiece::Day1 => write!(out, "{}", date.day()),
                        DatePiece::Literal(s) => {
                            out.push_str(s);
                            Ok(())
                        }
                    };
                }
            }
        }
    }
}

/// Checks a strftime string: no unknown specifier, and every specifier a date can fill.
fn strftime(text: &str) -> Result<(), String> {
    if StrftimeItems::new(text).any(|item| matches!(item, Item::Error)) {
        return Err(format!("\"{text}\" is not a valid strftime format"));
    }
    let sample = NaiveDate::from_ymd_opt(2024, 3, 14).unwrap_or_default();
    let mut out = String::new();
    if write!(out, "{}", sample.format(text)).is_err() {
        return Err(format!(
            "\"{text}\" names a time or a time zone, and a date has neither"
        ));
    }
    Ok(())
}

/// Reads a token date format.
fn tokens(text: &str) -> Result<Vec<DatePiece>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces: Vec<DatePiece> = Vec::new();
    let (mut year, mut month, mut day) = (false, false, false);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let token: String = chars[i..i + run].iter().collect();
        let (piece, seen) = match (c, run) {
            ('Y', 4) => (DatePiece::Year4, &mut year),
            ('Y', 2) => (DatePiece::Year2, &mut year),
            ('M', 3) => (DatePiece::MonthAbbr, &mut month),
            ('M', 2) => (DatePiece::Month2, &mut month),
            ('M', 1) => (DatePiece::Month1, &mut month),
            ('D', 2) => (DatePiece::Day2, &mut day),
            ('D', 1) => (DatePiece::Day1, &mut day),
            (c, _) if c.is_alphabetic() => {
                return Err(format!(
                    "unknown token \"{token}\" in the date format (tokens: YYYY, YY, MMM, MM, M, DD, D; or a strftime format with %)"
                ));
            }
            _ => {
                match pieces.last_mut() {
                    Some(DatePiece::Literal(s)) => s.push_str(&token),
                    _ => pieces.push(DatePiece::Literal(token)),
                }
                i += run;
                continue;
            }
        };
        if *seen {
            return Err(format!(
                "the date format has \"{token}\" after another {} token",
                match c {
                    'Y' => "year",
                    'M' => "month",
                    _ => "day",
                }
            ));
        }
        *seen = true;
        pieces.push(piece);
        i += run;
    }
    if !(year || month || day) {
        return Err("the date format has no YYYY, YY, MMM, MM, M, DD or D token".into());
    }
    Ok(pieces)
}

/// How resolved values are written out (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectSettings {
    date_format: String,
    date: DateFormat,
    number_locale: &'static str,
    decimal_mark: char,
    delimiter: char,
    null_representation: String,
    encoding: Encoding,
    boolean_true: String,
    boolean_false: String,
}

impl Default for DialectSettings {
    fn default() -> Self {
        DialectSettings {
            date_format: "YYYY-MM-DD".into(),
            date: DateFormat::Tokens(vec![
                DatePiece::Year4,
                DatePiece::Literal("-".into()),
                DatePiece::Month2,
                DatePiece::Literal("-".into()),
                DatePiece::Day2,
            ]),
            number_locale: "en-US",
            decimal_mark: '.',
            delimiter: ',',
            null_representation: String::new(),
            encoding: Encoding::Utf8,
            boolean_true: "true".into(),
            boolean_false: "false".into(),
        }
    }
}

fn error(field: &str, message: impl Into<String>) -> DialectError {
    DialectError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The text of a setting: `Ok(None)` for `null`.
fn text<'a>(key: &str, value: &'a Value) -> Result<Option<&'a str>, DialectError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(error(key, format!("{key} must be a string"))),
    }
}

impl DialectSettings {
    /// Reads the settings of a new dialect; absent settings take their defaults.
    pub fn parse(body: &Value) -> Result<DialectSettings, Vec<DialectError>> {
        DialectSettings::default().patched(body)
    }

    /// These settings with the ones in `patch` changed (a `PATCH`): absent settings stay, `null`
    /// ones go back to their defaults, and `boolean_format` may give one of its two texts.
    pub fn patched(&self, patch: &Value) -> Result<DialectSettings, Vec<DialectError>> {
        let Value::Object(map) = patch else {
            return Err(vec![error("", "dialect settings are a JSON object")]);
        };
        let defaults = DialectSettings::default();
        let mut out = self.clone();
        let mut errors = Vec::new();
        for (key, value) in map {
            let result = match key.as_str() {
                "name" => Ok(()),
                "date_format" => text(key, value).and_then(|t| {
                    let t = t.unwrap_or(&defaults.date_format);
                    let format = DateFormat::parse(t).map_err(|m| error(key, m))?;
                    out.date_format = t.to_owned();
                    out.date = format;
                    Ok(())
                }),
                "number_locale" => text(key, value).and_then(|t| {
                    let t = t.unwrap_or(defaults.number_locale);
                    let wanted = t.trim().replace('_', "-");
                    let (name, mark) = NUMBER_LOCALES
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(&wanted))
                        .ok_or_else(|| {
                            let names: Vec<&str> = NUMBER_LOCALES.iter().map(|l| l.0).collect();
                            error(
                                key,
                                format!(
                                    "unknown number_locale \"{t}\" (expected one of {})",
                                    names.join(", ")
                                ),
                            )
                        })?;
                    out.number_locale = name;
                    out.decimal_mark = *mark;
                    Ok(())
                }),
                "delimiter" => text(key, value).and_then(|t| {
                    let t = t.unwrap_or(",");
                    let mut chars = t.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if !matches!(c, '"' | '\r' | '\n') => {
                            out.delimiter = c;
                            Ok(())
                        }
                        (Some('"' | '\r' | '\n'), None) => Err(error(
                            key,
                            "the delimiter cannot be a quote or a line break",
                        )),
                        _ => Err(error(
                            key,
                            format!("the delimiter must be exactly one character, not \"{t}\""),
                        )),
                    }
                }),
                "null_representation" => text(key, value).and_then(|t| {
                    let t = t.unwrap_or("");
                    if t.contains(['\r', '\n']) {
                        Err(error(key, "the null representation has a line break"))
                    } else if t.len() > MAX_TEXT_LEN {
                        Err(error(
                            key,
                            format!("the null representation is longer than {MAX_TEXT_LEN} bytes"),
                        ))
                    } else {
                        out.null_representation = t.to_owned();
                        Ok(())
                    }
                }),
                "encoding" => text(key, value).and_then(|t| {
                    let t = t.unwrap_or("utf-8");
                    out.encoding = Encoding::parse(t).ok_or_else(|| {
                        error(
                            key,
                            format!(
                                "unknown encoding \"{t}\" (expected utf-8, utf-8-bom, iso-8859-1 or windows-1252)"
                            ),
                        )
                    })?;
                    Ok(())
                }),
                "boolean_format" => {
                    boolean_format(value, &defaults, &mut out, &mut errors);
                    Ok(())
                }
                other => Err(error(
                    other,
                    format!(
                        "unknown setting \"{other}\" (expected name, {})",
                        KEYS.join(", ")
                    ),
                )),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The date format as given.
    pub fn date_format(&self) -> &str {
        &self.date_format
    }

    /// The number locale, as listed in [`NUMBER_LOCALES`].
    pub fn number_locale(&self) -> &str {
        self.number_locale
    }

    /// The locale's decimal mark.
    pub fn decimal_mark(&self) -> char {
        self.decimal_mark
    }

    pub fn delimiter(&self) -> char {
        self.delimiter
    }

    pub fn null_representation(&self) -> &str {
        &self.null_representation
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The texts of `true` and `false`.
    pub fn boolean_format(&self) -> (&str, &str) {
        (&self.boolean_true, &self.boolean_false)
    }

    /// One value as text: `None` is the null representation; text as it is; a number exactly,
    /// with the locale's decimal mark, without trailing zero decimals, grouping or exponent; a
    /// date in the date format; a boolean as the boolean pair says.
    pub fn render(&self, value: Option<&ResolvedValue>) -> String {
        match value {
            None => self.null_representation.clone(),
            Some(ResolvedValue::String(s) | ResolvedValue::Code(s)) => s.clone(),
            Some(ResolvedValue::Number(n)) => format_number(n, self.decimal_mark),
            Some(ResolvedValue::Date(d)) => {
                let mut out = String::with_capacity(16);
                self.date.render(*d, &mut out);
                out
            }
            Some(ResolvedValue::Boolean(b)) => {
                if *b {
                    self.boolean_true.clone()
                } else {
                    self.boolean_false.clone()
                }
            }
        }
    }

    /// `text` in the dialect's encoding (without the byte-order mark: see [`Self::bom`]).
    /// Characters Latin-1 or Windows-1252 cannot represent become `?`.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        match self.encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => text.as_bytes().to_vec(),
            Encoding::Iso8859_1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Encoding::Windows1252 => text.chars().map(windows_1252).collect(),
        }
    }

    /// What a file in this dialect starts with: the UTF-8 byte-order mark for `utf-8-bom`,
    /// nothing otherwise.
    pub fn bom(&self) -> &'static [u8] {
        match self.encoding {
            Encoding::Utf8Bom => b"\xEF\xBB\xBF",
            _ => b"",
        }
    }

    /// The settings as JSON (for a run's snapshot); [`DialectSettings::parse`] reads it back.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("date_format".into(), Value::from(self.date_format.clone()));
        map.insert("number_locale".into(), Value::from(self.number_locale));
        map.insert("delimiter".into(), Value::from(self.delimiter.to_string()));
        map.insert(
            "null_representation".into(),
            Value::from(self.null_representation.clone()),
        );
        map.insert("encoding".into(), Value::from(self.encoding.as_str()));
        let mut pair = Map::new();
        pair.insert("true".into(), Value::from(self.boolean_true.clone()));
        pair.insert("false".into(), Value::from(self.boolean_false.clone()));
        map.insert("boolean_format".into(), Value::Object(pair));
        Value::Object(map)
    }
}

fn boolean_format(
    value: &Value,
    defaults: &DialectSettings,
    out: &mut DialectSettings,
    errors: &mut Vec<DialectError>,
) {
    const KEY: &str = "boolean_format";
    let pair = match value {
        Value::Null => {
            out.boolean_true = defaults.boolean_true.clone();
            out.boolean_false = defaults.boolean_false.clone();
            return;
        }
        Value::Object(pair) => pair,
        _ => {
            errors.push(error(
                KEY,
                "boolean_format must be an object {\"true\": \"...\", \"false\": \"...\"}",
            ));
            return;
        }
    };
    let before = errors.len();
    let (mut t, mut f) = (out.boolean_true.clone(), out.boolean_false.clone());
    for (k, v) in pair {
        let field = format!("{KEY}.{k}");
        let slot = match k.as_str() {
            "true" => &mut t,
            "false" => &mut f,
            _ => {
                errors.push(error(
                    &field,
                    format!("unknown key \"{k}\" (expected \"true\" and \"false\")"),
                ));
                continue;
            }
        };
        match v {
            Value::String(s) if s.trim().is_empty() => {
                errors.push(error(&field, "the text is empty"));
            }
            Value::String(s) if s.contains(['\r', '\n']) || s.len() > MAX_TEXT_LEN => {
                errors.push(error(
                    &field,
                    format!("the text has a line break or is longer than {MAX_TEXT_LEN} bytes"),
                ));
            }
            Value::String(s) => *slot = s.clone(),
            _ => errors.push(error(&field, "the text must be a string")),
        }
    }
    if errors.len() > before {
        return;
    }
    if t == f {
        errors.push(error(
            KEY,
            format!("true and false are both \"{t}\": they must differ"),
        ));
        return;
    }
    out.boolean_true = t;
    out.boolean_false = f;
}

/// One character in Windows-1252.
fn windows_1252(c: char) -> u8 {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    let code = u32::from(c);
    match code {
        0..=0x7F | 0xA0..=0xFF => u8::try_from(code).unwrap_or(b'?'),
        // The five bytes Windows-1252 leaves undefined map to the C1 controls (as WHATWG does).
        0x81 | 0x8D | 0x8F | 0x90 | 0x9D => u8::try_from(code).unwrap_or(b'?'),
        _ => HIGH
            .iter()
            .find(|(ch, _)| *ch == c)
            .map_or(b'?', |(_, b)| *b),
    }
}

impl serde::Serialize for DialectSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for DialectSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DialectSettings::parse(&value).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            serde::de::Error::custom(text.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn settings(body: Value) -> DialectSettings {
        match DialectSettings::parse(&body) {
            Ok(s) => s,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn errors(body: Value) -> Vec<(String, String)> {
        match DialectSettings::parse(&body) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => e.into_iter().map(|e| (e.field, e.message)).collect(),
        }
    }

    #[test]
    fn defaults() {
        let s = settings(json!({}));
        assert_eq!(s, DialectSettings::default());
        assert_eq!(
            s.to_json(),
            json!({
                "date_format": "YYYY-MM-DD",
                "number_locale": "en-US",
                "delimiter": ",",
                "null_representation": "",
                "encoding": "utf-8",
                "boolean_format": {"true": "true", "false": "false"}
            })
        );
        assert_eq!(
            s.render(Some(&ResolvedValue::Date(date(2024, 3, 4)))),
            "2024-03-04"
        );
        assert_eq!(
            s.render(Some(&ResolvedValue::Number(dec("1234.5")))),
            "1234.5"
        );
        assert_eq!(s.render(Some(&ResolvedValue::Boolean(true))), "true");
        assert_eq!(s.render(None), "");
        assert_eq!(s.bom(), b"");
    }

    #[test]
    fn the_documented_example() {
        let s = settings(json!({
            "name": "German ERP",
            "date_format": "DD.MM.YYYY",
            "number_locale": "de-DE",
            "delimiter": ";",
            "null_representation": "",
            "encoding": "utf-8",
            "boolean_format": {"true": "ja", "false": "nein"}
        }));
        assert_eq!(
            s.render(Some(&ResolvedValue::Date(date(2024, 3, 4)))),
            "04.03.2024"
        );
        assert_eq!(
            s.render(Some(&ResolvedValue::Number(dec("1234.5")))),
            "1234,5"
        );
        assert_eq!(s.render(Some(&ResolvedValue::Number(dec("12.0")))), "12");
        assert_eq!(s.render(Some(&ResolvedValue::Boolean(false))), "nein");
        assert_eq!(s.render(Some(&ResolvedValue::Code("DE".into()))), "DE");
        assert_eq!(s.delimiter(), ';');
        assert_eq!(s.decimal_mark(), ',');
        // Snapshots read back.
        assert_eq!(DialectSettings::parse(&s.to_json()).ok(), Some(s.clone()));
        let via_serde: Result<DialectSettings, _> =
            serde_json::from_value(serde_json::to_value(&s).unwrap_or_default());
        assert_eq!(via_serde.ok(), Some(s));
    }

    #[rstest]
    #[case("YYYY-MM-DD", "2024-03-04")]
    #[case("DD.MM.YYYY", "04.03.2024")]
    #[case("D/M/YY", "4/3/24")]
    #[case("MM/DD/YYYY", "03/04/2024")]
    #[case("DD MMM YYYY", "04 Mar 2024")]
    #[case("MMM D, YYYY", "Mar 4, 2024")]
    #[case("YYYYMMDD", "20240304")]
    #[case("DD-MM", "04-03")]
    #[case("%d.%m.%Y", "04.03.2024")]
    #[case("%e %B %Y", " 4 March 2024")]
    #[case("%Y-W%V", "2024-W10")]
    fn date_formats(#[case] format: &str, #[case] expected: &str) {
        let s = settings(json!({ "date_format": format }));
        assert_eq!(
            s.render(Some(&ResolvedValue::Date(date(2024, 3, 4)))),
            expected
        );
        assert_eq!(s.date_format(), format);
    }

    #[rstest]
    #[case("de-DE", "1234.5", "1234,5")]
    #[case("de_de", "-0.25", "-0,25")]
    #[case("en-US", "1000000000000000000000", "1000000000000000000000")]
    #[case("fr-FR", "0.30", "0,3")]
    #[case("de-CH", "1234.5", "1234.5")]
    #[case("pt-BR", "0.0000001", "0,0000001")]
    #[case("en-GB", "3.00", "3")]
    fn numbers(#[case] locale: &str, #[case] n: &str, #[case] expected: &str) {
        let s = settings(json!({ "number_locale": locale }));
        assert_eq!(s.render(Some(&ResolvedValue::Number(dec(n)))), expected);
    }

    fn dec(text: &str) -> crate::policy::Decimal {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn missing_values_are_the_null_representation() {
        let s = settings(json!({"null_representation": "NULL"}));
        assert_eq!(s.render(None), "NULL");
    }

    #[rstest]
    #[case("utf-8", "€ä日", b"\xE2\x82\xAC\xC3\xA4\xE6\x97\xA5".to_vec(), b"".as_slice())]
    #[case("UTF-8-BOM", "ä", b"\xC3\xA4".to_vec(), b"\xEF\xBB\xBF".as_slice())]
    #[case("iso-8859-1", "aä€日", b"a\xE4??".to_vec(), b"".as_slice())]
    #[case("windows-1252", "aä€“日”\u{81}\u{80}", b"a\xE4\x80\x93?\x94\x81?".to_vec(), b"".as_slice())]
    fn encodings(
        #[case] encoding: &str,
        #[case] text: &str,
        #[case] expected: Vec<u8>,
        #[case] bom: &[u8],
    ) {
        let s = settings(json!({ "encoding": encoding }));
        assert_eq!(s.encode(text), expected);
        assert_eq!(s.bom(), bom);
    }

    #[rstest]
    #[case(json!({"delimiter": "\t"}), '\t')]
    #[case(json!({"delimiter": "|"}), '|')]
    #[case(json!({"delimiter": "§"}), '§')]
    #[case(json!({"delimiter": null}), ',')]
    fn delimiters(#[case] body: Value, #[case] expected: char) {
        assert_eq!(settings(body).delimiter(), expected);
    }

    #[rstest]
    #[case(json!([]), "", "dialect settings are a JSON object")]
    #[case(json!({"colour": "red"}), "colour", "unknown setting \"colour\" (expected name, date_format, number_locale, delimiter, null_representation, encoding, boolean_format)")]
    #[case(json!({"date_format": "yyyy-mm-dd"}), "date_format", "unknown token \"yyyy\" in the date format (tokens: YYYY, YY, MMM, MM, M, DD, D; or a strftime format with %)")]
    #[case(json!({"date_format": "YYY-MM-DD"}), "date_format", "unknown token \"YYY\" in the date format (tokens: YYYY, YY, MMM, MM, M, DD, D; or a strftime format with %)")]
    #[case(json!({"date_format": "MMMM D"}), "date_format", "unknown token \"MMMM\" in the date format (tokens: YYYY, YY, MMM, MM, M, DD, D; or a strftime format with %)")]
    #[case(json!({"date_format": "DD.MM.DD"}), "date_format", "the date format has \"DD\" after another day token")]
    #[case(json!({"date_format": "--"}), "date_format", "the date format has no YYYY, YY, MMM, MM, M, DD or D token")]
    #[case(json!({"date_format": ""}), "date_format", "the date format is empty")]
    #[case(json!({"date_format": "%Q"}), "date_format", "\"%Q\" is not a valid strftime format")]
    #[case(json!({"date_format": "%Y %H:%M"}), "date_format", "\"%Y %H:%M\" names a time or a time zone, and a date has neither")]
    #[case(json!({"date_format": 5}), "date_format", "date_format must be a string")]
    #[case(json!({"number_locale": "xx-XX"}), "number_locale", "unknown number_locale")]
    #[case(json!({"delimiter": ";;"}), "delimiter", "the delimiter must be exactly one character, not \";;\"")]
    #[case(json!({"delimiter": ""}), "delimiter", "the delimiter must be exactly one character, not \"\"")]
    #[case(json!({"delimiter": "\""}), "delimiter", "the delimiter cannot be a quote or a line break")]
    #[case(json!({"delimiter": "\n"}), "delimiter", "the delimiter cannot be a quote or a line break")]
    #[case(json!({"null_representation": "a\nb"}), "null_representation", "the null representation has a line break")]
    #[case(json!({"encoding": "utf-16"}), "encoding", "unknown encoding \"utf-16\" (expected utf-8, utf-8-bom, iso-8859-1 or windows-1252)")]
    #[case(json!({"boolean_format": {"true": "ja", "false": "ja"}}), "boolean_format", "true and false are both \"ja\": they must differ")]
    #[case(json!({"boolean_format": {"true": ""}}), "boolean_format.true", "the text is empty")]
    #[case(json!({"boolean_format": {"yes": "J"}}), "boolean_format.yes", "unknown key \"yes\" (expected \"true\" and \"false\")")]
    #[case(json!({"boolean_format": {"true": 1}}), "boolean_format.true", "the text must be a string")]
    #[case(json!({"boolean_format": "ja/nein"}), "boolean_format", "boolean_format must be an object {\"true\": \"...\", \"false\": \"...\"}")]
    #[case(json!({"boolean_format": {"true": "false"}}), "boolean_format", "true and false are both \"false\": they must differ")]
    fn invalid_settings(#[case] body: Value, #[case] field: &str, #[case] message: &str) {
        let errors = errors(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, field);
        assert!(errors[0].1.starts_with(message), "{}", errors[0].1);
    }

    #[test]
    fn every_error_is_reported() {
        let errors = errors(json!({"delimiter": "", "encoding": "ebcdic", "x": 1}));
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["delimiter", "encoding", "x"]);
    }

    /// Any settings body parses or is rejected, and any value renders, without panicking.
    #[test]
    fn parsing_and_rendering_are_total() {
        let formats = [
            "Y", "M", "D", "%", "-", ".", " ", "x", "日", "%Y", "%H", "%Q", "MMM", "%%",
        ];
        let values = [
            ResolvedValue::Date(NaiveDate::MIN),
            ResolvedValue::Date(NaiveDate::MAX),
            ResolvedValue::Date(date(1900, 1, 1)),
            ResolvedValue::Number(crate::policy::Decimal::MAX),
            ResolvedValue::Number(crate::policy::Decimal::MIN),
            ResolvedValue::Number(dec("0.0000000000000000000000000001")),
            ResolvedValue::Number(dec("-0.0")),
            ResolvedValue::Boolean(true),
            ResolvedValue::String("\u{FEFF}€".into()),
        ];
        let mut rng = crate::test_rng::XorShift(0x0D1A_1EC7);
        for _ in 0..3000 {
            let mut format = String::new();
            for _ in 0..rng.below(7) {
                format.push_str(rng.pick(&formats));
            }
            if let Ok(s) = DialectSettings::parse(&json!({ "date_format": format })) {
                for v in &values {
                    let text = s.render(Some(v));
                    let _ = s.encode(&text);
                }
            }
        }
    }

    #[test]
    fn a_patch_merges() {
        let base = settings(json!({
            "date_format": "DD.MM.YYYY",
            "number_locale": "de-DE",
            "boolean_format": {"true": "ja", "false": "nein"}
        }));
        let patched = match base.patched(&json!({
            "delimiter": ";",
            "number_locale": null,
            "boolean_format": {"false": "N"}
        })) {
            Ok(p) => p,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(patched.date_format(), "DD.MM.YYYY");
        assert_eq!(patched.number_locale(), "en-US");
        assert_eq!(patched.delimiter(), ';');
        assert_eq!(patched.boolean_format(), ("ja", "N"));
        // A failed patch changes nothing and says why.
        assert!(base.patched(&json!({"delimiter": "ab"})).is_err());
        assert_eq!(base.delimiter(), ',');
    }
}
