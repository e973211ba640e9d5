//! Comparison levels: how a field's graded score in `[0, 1]` falls into a few discrete outcomes
//! (`exact`, `close`, `partial`, `different`, …), the unit a probabilistic model learns its
//! m and u probabilities for (see [`super::model`]).
//!
//! # Specification
//!
//! A field's levels are an ordered list, best first, each with a `name` and a `min_score`: a
//! comparison falls into the *first* level whose `min_score` its score reaches (and whose
//! condition holds, for a level with one). The `min_score`s of the levels without a condition
//! strictly decrease and the last level is such a level with `0`, so every score in `[0, 1]`
//! has exactly one level (NaN, which the core never produces, falls into the last). A value
//! missing on either side has no level: it is the separate outcome *missing*, which weighs
//! nothing.
//!
//! A level may carry a condition (`"when"`) on *how* the values differ, which a score alone does
//! not tell: `digits_replaced` (identifiers only) holds when the two numbers have the same
//! length and differ only by digits replaced, in any number of places — how another invoice of
//! the same sequence or numbering scheme differs (`INV-001383` / `INV-001384`, `INV-003316` /
//! `INV-007101`), whereas an extraction error more often drops, adds or swaps a character. The
//! two can score alike; as separate levels, each is worth what the data says. (Narrowed to one
//! or two replaced digits, the level made neighbours of a sequence evidence *for* a match
//! against random pairs, and measured worse: invoices seed 1 F1 0.9994 and no-match 0.9933
//! instead of 1.0000 and 1.0000, the `hard` set 0.9918 / 0.9507 instead of 0.9932 / 0.9596.)
//!
//! Defaults per strategy ([`ComparisonLevels::default_for`]):
//!
//! | strategy | levels (`min_score`) |
//! |---|---|
//! | `exact` | `exact` (1), `different` (0) |
//! | `fuzzy` `text`, `name` | `exact` (1), `close` (0.92), `similar` (0.8), `partial` (0.6), `different` (0) |
//! | `fuzzy` `identifier` | `exact` (1), `same_digits` (0.95), `digits_replaced` (0, when digits replaced), `one_edit` (0.85), `close` (0.6), `different` (0) |
//! | `fuzzy` `short_text` | `exact` (1), `prefix` (0.85), `close` (0.6), `partial` (0.35), `different` (0) |
//! | `date_range` | `exact` (1), `close` (0.7), `within` (0.000001: anywhere in the window), `outside` (0) |
//! | `numeric_range` | `exact` (1), `close` (0.9), `within` (0.5: inside the tolerance), `near` (0.000001: inside twice the tolerance), `different` (0) |
//!
//! The thresholds follow each similarity function's documented grades (an identifier's
//! `same_digits` is [`crate::similarity::SAME_DIGITS_SCORE`]; a `numeric_range` score is `0.5`
//! at the tolerance), not any data set: what each level is *worth* is learned.
//!
//! `params.levels` replaces the defaults: `[{"name", "min_score", "when"?, "m"?, "u"?}, …]`, 2
//! to [`MAX_LEVELS`] levels, names unique and non-empty, `min_score` in `[0, 1]`, strictly
//! decreasing over the levels without `when`; when the last level has a condition or a
//! `min_score` above 0, a catch-all `other` (0) is appended. `m` and `u`, probabilities in
//! `(0, 1)`, fix that level's parameter: training leaves it as given.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{FuzzyKind, SpecError, Strategy};

/// The most levels a field may have.
pub const MAX_LEVELS: usize = 8;

/// The `min_score` of the "anywhere in the window" levels: any positive score reaches it.
pub const ANY_POSITIVE: f64 = 0.000_001;

/// One comparison level of a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSpec {
    /// The level's name (`exact`, `close`, …).
    pub name: String,
    /// A score reaching this (and no earlier level's) falls into this level.
    pub min_score: f64,
    /// A condition on how the values differ, besides the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<LevelCondition>,
    /// A fixed m = P(level | match), not trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<f64>,
    /// A fixed u = P(level | non-match), not trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<f64>,
}

/// A condition of a level on how two values differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelCondition {
    /// Identifiers of the same length that differ only by replaced digits.
    DigitsReplaced,
}

impl LevelSpec {
    fn new(name: &str, min_score: f64) -> Self {
        LevelSpec {
            name: name.to_owned(),
            min_score,
            when: None,
            m: None,
            u: None,
        }
    }

    fn when(name: &str, condition: LevelCondition) -> Self {
        LevelSpec {
            when: Some(condition),
            ..LevelSpec::new(name, 0.0)
        }
    }
}

/// A field's comparison levels, best first; the last has `min_score` 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonLevels {
    levels: Vec<LevelSpec>,
}

impl ComparisonLevels {
    /// The default levels of a strategy (see the table in the module docs).
    pub fn default_for(strategy: &Strategy) -> Self {
        let levels: &[(&str, f64)] = match strategy {
            Strategy::Exact { .. } => &[("exact", 1.0), ("different", 0.0)],
            Strategy::Fuzzy { kind, .. } => match kind {
                FuzzyKind::Text | FuzzyKind::Name => &[
                    ("exact", 1.0),
                    ("close", 0.92),
                    ("similar", 0.8),
                    ("partial", 0.6),
                    ("different", 0.0),
                ],
                FuzzyKind::Identifier => {
                    return ComparisonLevels {
                        levels: vec![
                            LevelSpec::new("exact", 1.0),
                            LevelSpec::new("same_digits", crate::similarity::SAME_DIGITS_SCORE),
                            LevelSpec::when("digits_replaced", LevelCondition::DigitsReplaced),
                            LevelSpec::new("one_edit", 0.85),
                            LevelSpec::new("close", 0.6),
                            LevelSpec::new("different", 0.0),
                        ],
                    }
                }
                FuzzyKind::ShortText => &[
                    ("exact", 1.0),
                    ("prefix", 0.85),
                    ("close", 0.6),
                    ("partial", 0.35),
                    ("different", 0.0),
                ],
            },
            Strategy::DateRange { .. } => &[
                ("exact", 1.0),
                ("close", 0.7),
                ("within", ANY_POSITIVE),
                ("outside", 0.0),
            ],
            Strategy::NumericRange { .. } => &[
                ("exact", 1.0),
                ("close", 0.9),
                ("within", 0.5),
                ("near", ANY_POSITIVE),
                ("different", 0.0),
            ],
        };
        ComparisonLevels {
            levels: levels
                .iter()
                .map(|&(name, min)| LevelSpec::new(name, min))
                .collect(),
        }
    }

    /// Validates `params.levels` of mapping `i` (see the module docs for the rules); errors name
    /// `field_mappings[i].params.levels[j].<key>`.
    pub fn parse(i: usize, value: &Value, strategy: &Strategy) -> Result<Self, SpecError> {
        let base = format!("field_mappings[{i}].params.levels");
        let Some(items) = value.as_array() else {
            return Err(SpecError::new(
                base,
                "must be a list of levels {name, min_score, m?, u?}, best first",
            ));
        };
        if items.is_empty() || items.len() > MAX_LEVELS {
            return Err(SpecError::new(
                base,
                format!("must hold between 1 and {MAX_LEVELS} levels"),
            ));
        }
        let mut levels: Vec<LevelSpec> = Vec::with_capacity(items.len() + 1);
        for (j, item) in items.iter().enumerate() {
            let at = |key: &str| format!("{base}[{j}].{key}");
            let level: LevelSpec = serde_json::from_value(item.clone()).map_err(|e| {
                SpecError::new(
                    format!("{base}[{j}]"),
                    format!("must be {{name, min_score, m?, u?}}: {e}"),
                )
            })?;
            let name = level.name.trim();
            if name.is_empty() || name.chars().count() > 40 {
                return Err(SpecError::new(at("name"), "must be 1 to 40 characters"));
            }
            if levels.iter().any(|l| l.name == name) {
                return Err(SpecError::new(
                    at("name"),
                    format!("`{name}` is already the name of an earlier level"),
                ));
            }
            if !(level.min_score.is_finite() && (0.0..=1.0).contains(&level.min_score)) {
                return Err(SpecError::new(
                    at("min_score"),
                    "must be a number between 0 and 1",
                ));
            }
            if let Some(condition) = level.when {
                let allowed = match condition {
                    LevelCondition::DigitsReplaced => matches!(
                        strategy,
                        Strategy::Fuzzy {
                            kind: FuzzyKind::Identifier,
                            ..
                        }
                    ),
                };
                if !allowed {
                    return Err(SpecError::new(
                        at("when"),
                        "digits_replaced applies to fuzzy identifier fields only",
                    ));
                }
            } else if let Some(previous) = levels.iter().rev().find(|l| l.when.is_none()) {
                if level.min_score >= previous.min_score {
                    return Err(SpecError::new(
                        at("min_score"),
                        format!(
                            "must be below the previous level's ({}): levels go best first",
                            previous.min_score
                        ),
                    ));
                }
            }
            for (key, p) in [("m", level.m), ("u", level.u)] {
                if let Some(p) = p {
                    if !(p.is_finite() && p > 0.0 && p < 1.0) {
                        return Err(SpecError::new(
                            at(key),
                            "must be a probability greater than 0 and less than 1",
                        ));
                    }
                }
            }
            levels.push(LevelSpec {
                name: name.to_owned(),
                ..level
            });
        }
        if levels
            .last()
            .is_some_and(|l| l.min_score > 0.0 || l.when.is_some())
        {
            let name = if levels.iter().any(|l| l.name == "other") {
                "other_catch_all"
            } else {
                "other"
            };
            levels.push(LevelSpec::new(name, 0.0));
        }
        if levels.len() < 2 {
            return Err(SpecError::new(
                base,
                "must tell at least two outcomes apart (a level above 0 and the rest)",
            ));
        }
        for key in ["m", "u"] {
            let fixed: f64 = levels
                .iter()
                .filter_map(|l| if key == "m" { l.m } else { l.u })
                .sum();
            if fixed >= 1.0 + 1e-9 {
                return Err(SpecError::new(
                    base.clone(),
                    format!("the fixed `{key}` probabilities sum to {fixed}; they must leave room for the other levels (below 1)"),
                ));
            }
        }
        Ok(ComparisonLevels { levels })
    }

    /// The levels, best first.
    pub fn levels(&self) -> &[LevelSpec] {
        &self.levels
    }

    /// How many levels (missing not counted).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Never true: a field has at least two levels.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Whether a level has a condition (so [`Self::level_of`] needs to know how values differ).
    pub fn conditional(&self) -> bool {
        self.levels.iter().any(|l| l.when.is_some())
    }

    /// The level of a comparison: the first level whose `min_score` the score reaches and whose
    /// condition holds (`digits_replaced` tells whether that one does); the last for NaN. An
    /// exact agreement (score 1) never falls into a conditional level.
    pub fn level_of(&self, score: f64, digits_replaced: bool) -> usize {
        self.levels
            .iter()
            .position(|l| {
                score >= l.min_score
                    && match l.when {
                        None => true,
                        Some(LevelCondition::DigitsReplaced) => digits_replaced && score < 1.0,
                    }
            })
            .unwrap_or(self.levels.len().saturating_sub(1))
    }

    /// A canonical text of the levels (part of a model's key: a model trained for other levels
    /// does not apply).
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::new();
        for l in &self.levels {
            out.push_str(&format!("{}>={};", l.name, l.min_score));
            if let Some(LevelCondition::DigitsReplaced) = l.when {
                out.push_str("when=digits_replaced;");
            }
            if let Some(m) = l.m {
                out.push_str(&format!("m={m};"));
            }
            if let Some(u) = l.u {
                out.push_str(&format!("u={u};"));
            }
        }
        out
    }
}
