//! Column types, inferred while the rows stream by: each column keeps the set of types that all
//! its non-empty values so far fit, and a type, once ruled out, is never checked again — so a
//! text column costs one failed check per type, not one per value.
//!
//! A value (trimmed) fits
//! - `integer`: an optional sign and 1 to 18 digits, without a leading zero (`007` is a code);
//! - `number`: an integer, or an amount that [`concord_scoring::parse::parse_amount`] reads
//!   (`1.234,50`, `-12.5`, `EUR 12.50`), again without a leading zero;
//! - `date`: one that [`concord_scoring::parse::parse_date`] reads (`2024-03-14`, `14.03.2024`,
//!   `March 14, 2024`, ...);
//! - `boolean`: `true`, `false`, `yes` or `no`, in any case.
//!
//! The column's type is the narrowest that every non-empty value fits, in the order integer,
//! number, date, boolean; otherwise, and for a column without values, `string`.

use concord_models::reference_datasets::{ColumnType, ReferenceColumn};
use concord_scoring::parse::{parse_amount, parse_date};

const INTEGER: u8 = 1;
const NUMBER: u8 = 2;
const DATE: u8 = 4;
const BOOLEAN: u8 = 8;
const ALL: u8 = INTEGER | NUMBER | DATE | BOOLEAN;

#[derive(Debug, Clone)]
struct ColumnStats {
    /// The types every value so far fits.
    candidates: u8,
    non_empty: i64,
}

/// The running inference over a dataset's columns.
#[derive(Debug, Clone)]
pub struct ColumnInference {
    names: Vec<String>,
    stats: Vec<ColumnStats>,
}

impl ColumnInference {
    pub fn new(names: Vec<String>) -> ColumnInference {
        let stats = vec![
            ColumnStats {
                candidates: ALL,
                non_empty: 0,
            };
            names.len()
        ];
        ColumnInference { names, stats }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Counts a non-empty value of column `index`.
    pub fn observe(&mut self, index: usize, value: &str) {
        let Some(stats) = self.stats.get_mut(index) else {
            return;
        };
        stats.non_empty += 1;
        if stats.candidates != 0 {
            stats.candidates &= fits(value.trim(), stats.candidates);
        }
    }

    /// The columns with their types, in order.
    pub fn columns(&self) -> Vec<ReferenceColumn> {
        self.names
            .iter()
            .zip(&self.stats)
            .map(|(name, stats)| ReferenceColumn {
                name: name.clone(),
                column_type: column_type(stats),
                non_empty: stats.non_empty,
            })
            .collect()
    }
}

fn column_type(stats: &ColumnStats) -> ColumnType {
    if stats.non_empty == 0 {
        return ColumnType::String;
    }
    [
        (INTEGER, ColumnType::Integer),
        (NUMBER, ColumnType::Number),
        (DATE, ColumnType::Date),
        (BOOLEAN, ColumnType::Boolean),
    ]
    .into_iter()
    .find(|(bit, _)| stats.candidates & bit != 0)
    .map_or(ColumnType::String, |(_, t)| t)
}

/// Which of the `candidates` types the trimmed value fits.
fn fits(value: &str, candidates: u8) -> u8 {
    let mut fit = 0;
    if candidates & (INTEGER | NUMBER) != 0 && !has_leading_zero(value) {
        if is_integer(value) {
            fit |= INTEGER | NUMBER;
        } else if candidates & NUMBER != 0 && parse_amount(value).is_some() {
            fit |= NUMBER;
        }
    }
    if candidates & DATE != 0 && parse_date(value, None).is_some() {
        fit |= DATE;
    }
    if candidates & BOOLEAN != 0 && is_boolean(value) {
        fit |= BOOLEAN;
    }
    fit & candidates
}

fn is_integer(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `007`, `-0012`, `00.5`: codes rather than numbers (`0`, `0.5` and `0,5` are numbers).
fn has_leading_zero(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

fn is_boolean(value: &str) -> bool {
    ["true", "false", "yes", "no"]
        .iter()
        .any(|word| value.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    // Test data: a handful of values, whose count casts exactly.
    #![allow(clippy::cast_possible_wrap)]

    use super::*;
    use rstest::rstest;

    fn infer(values: &[&str]) -> (ColumnType, i64) {
        let mut inference = ColumnInference::new(vec!["c".to_owned()]);
        for value in values {
            inference.observe(0, value);
        }
        let column = inference.columns().remove(0);
        (column.column_type, column.non_empty)
    }

    #[rstest]
    #[case(&["1", "-2", "+30", "123456789012345678"], ColumnType::Integer)]
    #[case(&["0", "10"], ColumnType::Integer)]
    #[case(&["1", "2.5"], ColumnType::Number)]
    #[case(&["1.234,50", "1,234.50", "-12.5", "EUR 12.50", "0,5"], ColumnType::Number)]
    #[case(&["1234567890123456789"], ColumnType::Number)]
    #[case(&["2024-03-14", "14.03.2024", "March 14, 2024", "14/03/24"], ColumnType::Date)]
    #[case(&["20240314", "20240315"], ColumnType::Integer)]
    #[case(&["2024-03-14", "20240315"], ColumnType::Date)]
    #[case(&["true", "FALSE", "Yes", "no"], ColumnType::Boolean)]
    #[case(&["true", "1"], ColumnType::String)]
    #[case(&["007", "008"], ColumnType::String)]
    #[case(&["1", "x"], ColumnType::String)]
    #[case(&["2024-03-14", "not a date"], ColumnType::String)]
    #[case(&["12%"], ColumnType::String)]
    #[case(&[" 42 "], ColumnType::Integer)]
    #[case(&[], ColumnType::String)]
    fn the_narrowest_type_that_every_value_fits(
        #[case] values: &[&str],
        #[case] expected: ColumnType,
    ) {
        assert_eq!(infer(values), (expected, values.len() as i64), "{values:?}");
    }

    #[test]
    fn a_ruled_out_type_stays_out() {
        let mut inference = ColumnInference::new(vec!["a".to_owned(), "b".to_owned()]);
        inference.observe(0, "x");
        inference.observe(0, "1");
        inference.observe(1, "2024-01-01");
        let columns = inference.columns();
        assert_eq!(columns[0].column_type, ColumnType::String);
        assert_eq!(columns[1].column_type, ColumnType::Date);
        assert_eq!(columns[1].non_empty, 1);
    }
}
