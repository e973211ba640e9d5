//! Field values prepared once (normalised, parsed) and the per-field similarity on prepared values.

use crate::clamp_score;
use crate::index::{amount_key, date_key};
use crate::parse::{
    currency_from_text, parse_amount, parse_date, Amount, CurrencyHint, DateReadings,
};
#[cfg(doc)]
use crate::similarity::amount_similarity;
use crate::similarity::{
    date_window_similarity, identifier_keys_similarity, org_name_similarity_analysed,
    short_text_similarity, text_similarity, Tolerance,
};
use crate::text::{
    analyse_org_name, fold, identifier_keys, normalize_identifier, IdentifierKeys, OrgName,
};

use super::spec::{ExactNormalize, FuzzyKind, Strategy};

/// Raw values longer than this many bytes are cut (at a character boundary) before anything
/// else, on both sides alike: no real field value is longer, and it bounds the work per value.
pub(crate) const MAX_VALUE_BYTES: usize = 1024;

/// One value of one field, normalised or parsed as its strategy needs.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    /// `exact` (text, identifier, none): the normalised key.
    Key(Box<str>),
    /// `exact` with `normalize: currency`: the currency named, or the folded text when none is.
    Currency {
        hint: Option<CurrencyHint>,
        folded: Box<str>,
    },
    /// `fuzzy` text: the folded text.
    Text(Box<str>),
    /// `fuzzy` name: the analysed organisation name.
    Name(OrgName),
    /// `fuzzy` identifier: both identifier keys.
    Ident(IdentifierKeys),
    /// `date_range`: the reading(s).
    Date(DateReadings),
    /// `numeric_range`: the amount.
    Amount(AmountValue),
}

/// A parsed amount with what comparing it needs, computed once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AmountValue {
    pub amount: Amount,
    /// [`Amount::value`].
    pub value: f64,
    /// [`Amount::normalized`].
    pub normalized: (i128, u8),
}

impl AmountValue {
    fn new(amount: Amount) -> Self {
        AmountValue {
            amount,
            value: amount.value(),
            normalized: amount.normalized(),
        }
    }
}

/// [`amount_similarity`] on prepared amounts (the same result, without recomputing the values).
fn prepared_amount_similarity(
    a: &AmountValue,
    b: &AmountValue,
    tolerance: Option<Tolerance>,
) -> f64 {
    if let (Some(ca), Some(cb)) = (&a.amount.currency, &b.amount.currency) {
        if !ca.is_compatible(cb) {
            return 0.0;
        }
    }
    if a.normalized == b.normalized {
        return 1.0;
    }
    let (va, vb) = (a.value, b.value);
    let width = match tolerance {
        Some(Tolerance::Percent(pct)) if pct.is_finite() && pct > 0.0 => {
            pct / 100.0 * va.abs().max(vb.abs())
        }
        Some(Tolerance::Absolute(abs)) if abs.is_finite() && abs > 0.0 => abs,
        _ => return 0.0,
    };
    if !(width.is_finite() && width > 0.0) {
        return 0.0;
    }
    let r = (va - vb).abs() / width;
    if !r.is_finite() {
        return 0.0;
    }
    clamp_score(1.0 - r / 2.0)
}

/// The first [`MAX_VALUE_BYTES`] of `raw`, cut at a character boundary.
pub(crate) fn clip(raw: &str) -> &str {
    if raw.len() <= MAX_VALUE_BYTES {
        return raw;
    }
    let mut end = MAX_VALUE_BYTES;
    while end > 0 && !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw.get(..end).unwrap_or_default()
}

/// Prepares a raw value for `strategy`; `None` when the value is missing (nothing left after
/// normalising) or does not parse (a date or amount that is none).
pub(crate) fn prepare(strategy: &Strategy, raw: &str) -> Option<Prepared> {
    let raw = clip(raw);
    let prepared = match *strategy {
        Strategy::Exact { normalize } => match normalize {
            ExactNormalize::Text => Prepared::Key(fold(raw).into()),
            ExactNormalize::Identifier => Prepared::Key(normalize_identifier(raw).into()),
            ExactNormalize::None => Prepared::Key(raw.trim().into()),
            ExactNormalize::Currency => {
                let folded = fold(raw);
                if folded.is_empty() && raw.trim().is_empty() {
                    return None;
                }
                Prepared::Currency {
                    hint: currency_from_text(raw),
                    folded: if folded.is_empty() {
                        raw.trim().into()
                    } else {
                        folded.into()
                    },
                }
            }
        },
        Strategy::Fuzzy { kind, .. } => match kind {
            FuzzyKind::Text | FuzzyKind::ShortText => Prepared::Text(fold(raw).into()),
            FuzzyKind::Name => Prepared::Name(analyse_org_name(raw)),
            FuzzyKind::Identifier => Prepared::Ident(identifier_keys(raw)),
        },
        Strategy::DateRange { order, .. } => {
            let mut readings = parse_date(raw, order)?;
            if order.is_some() {
                readings.alternative = None;
            }
            Prepared::Date(readings)
        }
        Strategy::NumericRange { .. } => Prepared::Amount(AmountValue::new(parse_amount(raw)?)),
    };
    let missing = match &prepared {
        Prepared::Key(k) | Prepared::Text(k) => k.is_empty(),
        Prepared::Currency { .. } | Prepared::Date(_) | Prepared::Amount(_) => false,
        Prepared::Name(n) => n.name.is_empty(),
        Prepared::Ident(k) => k.normalized.is_empty(),
    };
    (!missing).then_some(prepared)
}

impl Prepared {
    /// Calls `sink` with each exact key this value is indexed under / looked up by (exact and
    /// identifier fields). Keys of different kinds cannot collide: currency codes are upper
    /// case, folded texts lower case, ambiguous-symbol keys start with `~`; an identifier's
    /// normalised and digit keys may coincide, which is meant (`123` is both).
    pub(crate) fn for_each_key(&self, mut sink: impl FnMut(&str)) {
        match self {
            Prepared::Key(k) => sink(k),
            Prepared::Currency { hint, folded } => match hint {
                Some(CurrencyHint::Code(code)) => sink(code),
                Some(hint) => {
                    sink(match hint {
                        CurrencyHint::Dollar => "~$",
                        CurrencyHint::Krone => "~kr",
                        CurrencyHint::Yen => "~yen",
                        CurrencyHint::Code(_) => "~",
                    });
                    for code in hint.candidates() {
                        sink(code);
                    }
                }
                None => sink(folded),
            },
            Prepared::Ident(k) => {
                sink(&k.normalized);
                if !k.digits.is_empty() && k.digits != k.normalized {
                    sink(&k.digits);
                }
            }
            Prepared::Text(_) | Prepared::Name(_) | Prepared::Date(_) | Prepared::Amount(_) => {}
        }
    }

    /// The range keys of a date or amount value.
    pub(crate) fn range_keys(&self) -> [Option<i64>; 2] {
        match self {
            Prepared::Date(r) => [Some(date_key(r.preferred)), r.alternative.map(date_key)],
            Prepared::Amount(a) => [amount_key(&a.amount), None],
            _ => [None, None],
        }
    }
}

/// Whether a document value and a reference value are identifiers whose numbers differ only by
/// replaced digits ([`crate::similarity::identifier_digits_replaced`]).
pub(crate) fn digits_replaced(doc: &Prepared, reference: &Prepared) -> bool {
    match (doc, reference) {
        (Prepared::Ident(a), Prepared::Ident(b)) => {
            crate::similarity::identifier_digits_replaced(a, b)
        }
        _ => false,
    }
}

/// The similarity of a document value and a reference value of one field, in `[0, 1]`, before
/// the field's `min_score`. Values prepared for different strategies score 0.
pub(crate) fn similarity(strategy: &Strategy, doc: &Prepared, reference: &Prepared) -> f64 {
    let score = match (strategy, doc, reference) {
        (_, Prepared::Key(a), Prepared::Key(b)) => f64::from(u8::from(a == b)),
        (
            _,
            Prepared::Currency {
                hint: ha,
                folded: fa,
            },
            Prepared::Currency {
                hint: hb,
                folded: fb,
            },
        ) => match (ha, hb) {
            (Some(a), Some(b)) => f64::from(u8::from(a.is_compatible(b))),
            _ => f64::from(u8::from(fa == fb)),
        },
        (
            Strategy::Fuzzy {
                kind: FuzzyKind::ShortText,
                ..
            },
            Prepared::Text(a),
            Prepared::Text(b),
        ) => short_text_similarity(a, b),
        (_, Prepared::Text(a), Prepared::Text(b)) => text_similarity(a, b),
        (_, Prepared::Name(a), Prepared::Name(b)) => org_name_similarity_analysed(a, b),
        (_, Prepared::Ident(a), Prepared::Ident(b)) => identifier_keys_similarity(a, b),
        (
            Strategy::DateRange {
                min_days, max_days, ..
            },
            Prepared::Date(a),
            Prepared::Date(b),
        ) => date_window_similarity(a, b, *min_days, *max_days),
        (Strategy::NumericRange { tolerance }, Prepared::Amount(a), Prepared::Amount(b)) => {
            prepared_amount_similarity(a, b, *tolerance)
        }
        _ => 0.0,
    };
    let score = clamp_score(score);
    match strategy {
        Strategy::Fuzzy {
            min_score: Some(min),
            ..
        } if score < *min => 0.0,
        _ => score,
    }
}
