//! Field types, resolved values and the one coercion of text to a field type.

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
pub use rust_decimal::Decimal;
use serde_json::Value;

use crate::parse::{parse_amount_with, parse_boolean, parse_date, DateOrder, DecimalMark};

/// Confidence of a date read from an `A/B/Y` string whose day and month could be swapped.
pub const AMBIGUOUS_DATE_CONFIDENCE: f64 = 0.7;

/// The type of a policy field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Free text.
    String,
    /// A finite number (`f64`).
    Number,
    /// A calendar date.
    Date,
    /// `true` or `false`.
    Boolean,
    /// A canonical code (of a lookup table, an ISO code): text that is compared exactly.
    Code,
}

impl FieldType {
    /// Every type, in the order the error messages list them.
    pub const ALL: [FieldType; 5] = [
        FieldType::String,
        FieldType::Number,
        FieldType::Date,
        FieldType::Boolean,
        FieldType::Code,
    ];

    /// The wire name: `string`, `number`, `date`, `boolean` or `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Boolean => "boolean",
            FieldType::Code => "code",
        }
    }

    /// The type of a wire name (exact, lowercase); `None` for anything else.
    pub fn parse(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether values of this type are text.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::String | FieldType::Code)
    }
}

/// A resolved field value. Numbers are exact decimals (up to 28 decimal places, magnitude below
/// about 7.9 · 10^28): `0.1 + 0.2` is `0.3`, money keeps its cents.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedValue {
    String(String),
    Number(Decimal),
    Date(NaiveDate),
    Boolean(bool),
    Code(String),
}

impl ResolvedValue {
    /// The field type this value belongs to.
    pub fn field_type(&self) -> FieldType {
        match self {
            ResolvedValue::String(_) => FieldType::String,
            ResolvedValue::Number(_) => FieldType::Number,
            ResolvedValue::Date(_) => FieldType::Date,
            ResolvedValue::Boolean(_) => FieldType::Boolean,
            ResolvedValue::Code(_) => FieldType::Code,
        }
    }

    /// The JSON form: strings and codes as strings, numbers as numbers (integral values that fit
    /// an `i64` as integers; others as JSON's numbers are read, exact to 15 significant digits —
    /// the text forms, [`Self::to_text`] and the dialects' rendering, are exact to the last
    /// digit), dates as `"YYYY-MM-DD"`, booleans as booleans.
    pub fn to_json(&self) -> Value {
        match self {
            ResolvedValue::String(s) | ResolvedValue::Code(s) => Value::String(s.clone()),
            ResolvedValue::Number(n) => number_to_json(n),
            ResolvedValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            ResolvedValue::Boolean(b) => Value::Bool(*b),
        }
    }

    /// A value of type `field_type` from JSON, as a `default` rule or an LLM answer gives it:
    /// a string for `string` and `code` (trimmed, non-empty); a number (read from its JSON text,
    /// so `0.1` is exactly `0.1`), or a string that
    /// [`parse_amount_with`] reads, for `number`; a string that [`parse_date`] reads without
    /// ambiguity for `date` (`"2024-03-14"`); a boolean, or a string that [`parse_boolean`] reads,
    /// for `boolean`. `None` for anything else, `null` included.
    pub fn from_json(field_type: &FieldType, value: &Value) -> Option<Self> {
        match (field_type, value) {
            (FieldType::Number, Value::Number(n)) => decimal_of_json(n).map(ResolvedValue::Number),
            (FieldType::Boolean, Value::Bool(b)) => Some(ResolvedValue::Boolean(*b)),
            (_, Value::String(s)) => {
                let (value, confidence) = coerce_text(*field_type, s, None, None)?;
                (confidence >= 1.0).then_some(value)
            }
            _ => None,
        }
    }

    /// The canonical text of the value, as `from_field`, `format` templates and `compute` string
    /// conversions see it: text as is, numbers by [`format_number`] with a `.` mark, dates as
    /// `YYYY-MM-DD`, booleans as `true` / `false`.
    pub fn to_text(&self) -> String {
        match self {
            ResolvedValue::String(s) | ResolvedValue::Code(s) => s.clone(),
            ResolvedValue::Number(n) => format_number(n, '.'),
            ResolvedValue::Date(d) => iso_date(*d),
            ResolvedValue::Boolean(b) => b.to_string(),
        }
    }

    /// The value as a string slice when it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ResolvedValue::String(s) | ResolvedValue::Code(s) => Some(s),
            _ => None,
        }
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn iso_date(date: NaiveDate) -> String {
    let mut out = String::with_capacity(10);
    let _ = write!(out, "{}", date.format("%Y-%m-%d"));
    out
}

fn number_to_json(n: &Decimal) -> Value {
    let n = n.normalize();
    if n.fract().is_zero() {
        if let Some(i) = n.to_i64() {
            return Value::from(i);
        }
    }
    // JSON numbers are read as binary floats by most clients (and by serde_json here).
    n.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A JSON number as an exact decimal: integers as they are, others from their text (`0.1` is
/// `0.1`, `1e-3` is `0.001`); `None` beyond the decimal's range.
pub(crate) fn decimal_of_json(n: &serde_json::Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Decimal::from_u64(u);
    }
    let text = n.to_string();
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// A number as text: exact, never with an exponent, without trailing zero decimals (`12.50` is
/// `12.5`, `12.0` is `12`), with `mark` as the decimal mark and no grouping; `-0` is `0`.
pub fn format_number(n: &Decimal, mark: char) -> String {
    let n = n.normalize();
    let text = if n.is_zero() {
        "0".to_owned()
    } else {
        n.to_string()
    };
    if mark == '.' {
        text
    } else {
        text.replace('.', mark.encode_utf8(&mut [0; 4]))
    }
}

/// An amount as an exact decimal; `None` when it has more than 28 decimals or does not fit.
pub(crate) fn decimal_of_amount(amount: &crate::parse::Amount) -> Option<Decimal> {
    let (units, scale) = amount.normalized();
    if u32::from(scale) > 28 {
        return None;
    }
    Decimal::try_from_i128_with_scale(units, u32::from(scale)).ok()
}

/// Text (trimmed) to a value of `field_type` with the core's parsers, and the confidence of the
/// reading: 1.0, or [`AMBIGUOUS_DATE_CONFIDENCE`] for a date whose day and month could be
/// swapped. `None` when the text is empty or does not read as the type.
pub(crate) fn coerce_text(
    field_type: FieldType,
    raw: &str,
    order: Option<DateOrder>,
    decimal_mark: Option<DecimalMark>,
) -> Option<(ResolvedValue, f64)> {
    let text = raw.trim();
    if text.is_empty() {
        return None;
    }
    match field_type {
        FieldType::String => Some((ResolvedValue::String(text.to_owned()), 1.0)),
        FieldType::Code => Some((ResolvedValue::Code(text.to_owned()), 1.0)),
        FieldType::Number => parse_amount_with(text, decimal_mark)
            .and_then(|a| decimal_of_amount(&a))
            .map(|v| (ResolvedValue::Number(v), 1.0)),
        FieldType::Date => parse_date(text, order).map(|readings| {
            let confidence = if readings.is_ambiguous() {
                AMBIGUOUS_DATE_CONFIDENCE
            } else {
                1.0
            };
            (ResolvedValue::Date(readings.preferred), confidence)
        }),
        FieldType::Boolean => parse_boolean(text).map(|b| (ResolvedValue::Boolean(b), 1.0)),
    }
}

/// A resolved value converted to `field_type`: text types take the canonical text of any value
/// ([`ResolvedValue::to_text`]); the other types take a value of their own type, or read text
/// with [`coerce_text`]. The confidence factor is that of the reading (1.0 when no text was
/// read).
pub(crate) fn convert(
    field_type: FieldType,
    value: &ResolvedValue,
) -> Option<(ResolvedValue, f64)> {
    match (field_type, value) {
        (FieldType::String, ResolvedValue::String(_))
        | (FieldType::Code, ResolvedValue::Code(_))
        | (FieldType::Date, ResolvedValue::Date(_))
        | (FieldType::Boolean, ResolvedValue::Boolean(_)) => Some((value.clone(), 1.0)),
        (FieldType::Number, ResolvedValue::Number(_)) => Some((value.clone(), 1.0)),
        (FieldType::String, other) => {
            let text = other.to_text();
            (!text.is_empty()).then_some((ResolvedValue::String(text), 1.0))
        }
        (FieldType::Code, other) => {
            let text = other.to_text();
            (!text.is_empty()).then_some((ResolvedValue::Code(text), 1.0))
        }
        (_, ResolvedValue::String(s) | ResolvedValue::Code(s)) => {
            coerce_text(field_type, s, None, None)
        }
        _ => None,
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

    /// A decimal from its text (tests only).
    pub(crate) fn d(text: &str) -> Decimal {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[rstest]
    #[case("1234.5", '.', "1234.5")]
    #[case("1234.5", ',', "1234,5")]
    #[case("1.0", '.', "1")]
    #[case("12.50", '.', "12.5")]
    #[case("-0.0", '.', "0")]
    #[case("1000000000000000000000", '.', "1000000000000000000000")]
    #[case("0.00000015", '.', "0.00000015")]
    #[case("-12.25", ',', "-12,25")]
    #[case(
        "0.1234567890123456789012345678",
        '.',
        "0.1234567890123456789012345678"
    )]
    fn numbers_print_exactly_without_exponent(
        #[case] n: &str,
        #[case] mark: char,
        #[case] expected: &str,
    ) {
        assert_eq!(format_number(&d(n), mark), expected);
    }

    #[test]
    fn money_adds_up_exactly() {
        assert_eq!(format_number(&(d("0.1") + d("0.2")), '.'), "0.3");
        let total = (0..1000).fold(Decimal::ZERO, |sum, _| sum + d("19.99"));
        assert_eq!(format_number(&total, '.'), "19990");
    }

    #[rstest]
    #[case(json!(0.1), "0.1")]
    #[case(json!(12), "12")]
    #[case(json!(-3.75), "-3.75")]
    #[case(json!(u64::MAX), "18446744073709551615")]
    #[case(json!(1.5e-7), "0.00000015")]
    fn json_numbers_read_as_the_decimal_they_write(#[case] v: Value, #[case] expected: &str) {
        let read = ResolvedValue::from_json(&FieldType::Number, &v);
        assert_eq!(read, Some(ResolvedValue::Number(d(expected))), "{v}");
    }

    #[rstest]
    #[case(FieldType::Number, json!(12.5), Some(ResolvedValue::Number(d("12.5"))))]
    #[case(FieldType::Number, json!("1.234,50"), Some(ResolvedValue::Number(d("1234.5"))))]
    #[case(FieldType::Number, json!(true), None)]
    #[case(FieldType::Boolean, json!(false), Some(ResolvedValue::Boolean(false)))]
    #[case(FieldType::Boolean, json!("yes"), Some(ResolvedValue::Boolean(true)))]
    #[case(FieldType::Boolean, json!(0), None)]
    #[case(FieldType::Date, json!("2024-03-14"), Some(ResolvedValue::Date(date(2024, 3, 14))))]
    #[case(FieldType::Date, json!("03/04/2024"), None)]
    #[case(FieldType::Date, json!("not a date"), None)]
    #[case(FieldType::String, json!(" a "), Some(ResolvedValue::String("a".into())))]
    #[case(FieldType::String, json!(""), None)]
    #[case(FieldType::String, json!(5), None)]
    #[case(FieldType::Code, json!("DE"), Some(ResolvedValue::Code("DE".into())))]
    #[case(FieldType::Code, json!(null), None)]
    fn values_from_json_must_fit_the_type(
        #[case] t: FieldType,
        #[case] v: Value,
        #[case] expected: Option<ResolvedValue>,
    ) {
        assert_eq!(ResolvedValue::from_json(&t, &v), expected);
    }

    #[rstest]
    #[case(ResolvedValue::Number(d("5.0")), json!(5))]
    #[case(ResolvedValue::Number(d("5.25")), json!(5.25))]
    #[case(ResolvedValue::Number(d("12.50")), json!(12.5))]
    #[case(ResolvedValue::Number(d("-9007199254740993")), json!(-9007199254740993i64))]
    #[case(ResolvedValue::Date(date(2024, 1, 2)), json!("2024-01-02"))]
    #[case(ResolvedValue::Boolean(true), json!(true))]
    #[case(ResolvedValue::Code("EA".into()), json!("EA"))]
    fn values_to_json(#[case] v: ResolvedValue, #[case] expected: Value) {
        assert_eq!(v.to_json(), expected);
    }

    #[rstest]
    #[case(FieldType::Date, "03/04/2024", Some(DateOrder::MonthFirst), Some((ResolvedValue::Date(date(2024, 3, 4)), AMBIGUOUS_DATE_CONFIDENCE)))]
    #[case(FieldType::Date, "14.03.2024", None, Some((ResolvedValue::Date(date(2024, 3, 14)), 1.0)))]
    #[case(FieldType::Number, "1,5", Some(DateOrder::DayFirst), Some((ResolvedValue::Number(d("1.5")), 1.0)))]
    #[case(FieldType::Number, "abc", None, None)]
    #[case(FieldType::Boolean, "  ", None, None)]
    fn text_coerces_with_the_core_parsers(
        #[case] t: FieldType,
        #[case] raw: &str,
        #[case] order: Option<DateOrder>,
        #[case] expected: Option<(ResolvedValue, f64)>,
    ) {
        assert_eq!(coerce_text(t, raw, order, None), expected);
    }

    #[test]
    fn every_type_round_trips_its_name() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
        assert_eq!(FieldType::parse("Number"), None);
    }
}
