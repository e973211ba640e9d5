//! Value parsers: dates, amounts and booleans as upstream extractors write them.
//!
//! The parsers are total: any `&str` goes in, and either a parsed value or `None` comes out.
//! None panics, allocates more than a few small buffers, nor looks at anything but its input.

pub mod amount;
pub mod boolean;
pub mod date;

pub use amount::{
    currency_from_text, parse_amount, parse_amount_with, Amount, CurrencyHint, DecimalMark,
};
pub use boolean::parse_boolean;
pub use date::{days_between, parse_date, DateOrder, DateReadings};

/// The parsers fold letters with the core's one normaliser, keeping the punctuation and symbols
/// that carry meaning to them.
use crate::text::fold_letters as fold_lower;
