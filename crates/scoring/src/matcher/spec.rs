//! The matching configuration as users send it ([`FieldMapping`]), its validation into a
//! [`MatchSpec`], and the decision settings ([`MatchSettings`]).
//!
//! Validation is total and reports the *first* problem as a [`SpecError`] whose `path` names the
//! JSON location (`field_mappings[2].params.days`) and whose `message` says what is allowed, so an
//! API can hand it back to the user unchanged.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::levels::ComparisonLevels;
use super::model::{FrequencyKind, MatchModel, ModelWeights};

use crate::num::{saturating_i64, saturating_u64};
use crate::parse::DateOrder;
use crate::similarity::Tolerance;

/// The most field mappings one configuration may have.
pub const MAX_FIELD_MAPPINGS: usize = 32;
/// The widest `date_range` window, in days (about ten years).
pub const MAX_DATE_WINDOW_DAYS: u32 = 3650;
/// The default decision threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.85;
/// The default width of the review band below the threshold.
pub const DEFAULT_REVIEW_BAND: f64 = 0.15;
/// The default ambiguity margin.
pub const DEFAULT_AMBIGUITY_MARGIN: f64 = 0.02;
/// The widest ambiguity margin.
pub const MAX_AMBIGUITY_MARGIN: f64 = 0.5;

/// One field mapping of a matching configuration, as sent on the wire.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The document field name.
    pub source: String,
    /// The reference dataset column name.
    pub target: String,
    /// `"exact"`, `"fuzzy"`, `"date_range"` or `"numeric_range"`.
    pub strategy: String,
    /// The strategy's parameters (see [`Strategy`]).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// The field's weight (finite, > 0; default 1): in the confidence of the `weighted` mode;
    /// under `probabilistic` scoring only in ranking which proposed rows are compared in full,
    /// and only until a model is trained (what a field is worth there is learned, for proposing
    /// candidates too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// A validation failure: where it is (a JSON path such as `field_mappings[2].params.days`) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The JSON path of the offending value.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for SpecError {}

/// How the best candidate's confidence turns into a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchSettings {
    /// A best candidate at or above this (and not ambiguous) is a match. In `(0, 1]`.
    pub threshold: f64,
    /// A best candidate at or above this (but below the threshold, or ambiguous) goes to review.
    /// In `[0, threshold]`.
    pub review_floor: f64,
    /// Another row within this much of the best makes the result ambiguous. In `[0, 0.5]`.
    pub ambiguity_margin: f64,
    /// How many of the best candidates an outcome keeps (what an AI pass is offered), in
    /// `1..=`[`super::MAX_CANDIDATES`]; default [`super::TOP_CANDIDATES`].
    pub candidates: usize,
    /// How a candidate's confidence is computed.
    pub scoring: ScoringMode,
    /// Whether a reference row may be the match of several documents.
    pub assignment: Assignment,
}

/// How a candidate's confidence is computed (`"scoring"` of a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScoringMode {
    /// Fellegi–Sunter: the fields' learned weights add up into a posterior probability
    /// ([`super::model`]). The default for new configs.
    #[default]
    Probabilistic,
    /// The weighted mean of the field scores (configs made before the probabilistic model, and
    /// a baseline).
    Weighted,
}

impl ScoringMode {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            ScoringMode::Probabilistic => "probabilistic",
            ScoringMode::Weighted => "weighted",
        }
    }

    /// The mode of a wire name.
    pub fn from_name(name: &str) -> Option<ScoringMode> {
        match name {
            "probabilistic" => Some(ScoringMode::Probabilistic),
            "weighted" => Some(ScoringMode::Weighted),
            _ => None,
        }
    }
}

/// Whether a reference row may be matched more than once (`"assignment"` of a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Assignment {
    /// Each document takes its best candidate, whatever the others took.
    #[default]
    Independent,
    /// Each reference row is the match of at most one document across the whole run
    /// (payments): see [`super::assign`].
    OneToOne,
}

impl Assignment {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Assignment::Independent => "independent",
            Assignment::OneToOne => "one_to_one",
        }
    }

    /// The assignment of a wire name.
    pub fn from_name(name: &str) -> Option<Assignment> {
        match name {
            "independent" => Some(Assignment::Independent),
            "one_to_one" => Some(Assignment::OneToOne),
            _ => None,
        }
    }
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            threshold: DEFAULT_THRESHOLD,
            review_floor: DEFAULT_THRESHOLD - DEFAULT_REVIEW_BAND,
            ambiguity_margin: DEFAULT_AMBIGUITY_MARGIN,
            candidates: super::TOP_CANDIDATES,
            scoring: ScoringMode::default(),
            assignment: Assignment::default(),
        }
    }
}

impl MatchSettings {
    /// Validates the settings, filling in defaults: `threshold` 0.85, must be in `(0, 1]`
    /// (path `threshold`); `review_floor` `max(0, threshold − 0.15)`, must be in
    /// `[0, threshold]` (path `review_band.lower`); `ambiguity_margin` 0.02, must be in
    /// `[0, 0.5]` (path `ambiguity_margin`). Non-finite numbers are rejected.
    pub fn new(
        threshold: Option<f64>,
        review_floor: Option<f64>,
        ambiguity_margin: Option<f64>,
    ) -> Result<MatchSettings, SpecError> {
        let threshold = threshold.unwrap_or(DEFAULT_THRESHOLD);
        if !(threshold.is_finite() && threshold > 0.0 && threshold <= 1.0) {
            return Err(SpecError::new(
                "threshold",
                "must be a number greater than 0 and at most 1",
            ));
        }
        let review_floor = review_floor.unwrap_or((threshold - DEFAULT_REVIEW_BAND).max(0.0));
        if !(review_floor.is_finite() && (0.0..=threshold).contains(&review_floor)) {
            return Err(SpecError::new(
                "review_band.lower",
                format!("must be a number between 0 and the threshold ({threshold})"),
            ));
        }
        let ambiguity_margin = ambiguity_margin.unwrap_or(DEFAULT_AMBIGUITY_MARGIN);
        if !(ambiguity_margin.is_finite()
            && (0.0..=MAX_AMBIGUITY_MARGIN).contains(&ambiguity_margin))
        {
            return Err(SpecError::new(
                "ambiguity_margin",
                format!("must be a number between 0 and {MAX_AMBIGUITY_MARGIN}"),
            ));
        }
        Ok(MatchSettings {
            threshold,
            review_floor,
            ambiguity_margin,
            candidates: super::TOP_CANDIDATES,
            scoring: ScoringMode::default(),
            assignment: Assignment::default(),
        })
    }

    /// These settings with another scoring mode.
    pub fn with_scoring(self, scoring: ScoringMode) -> MatchSettings {
        MatchSettings { scoring, ..self }
    }

    /// These settings with another assignment.
    pub fn with_assignment(self, assignment: Assignment) -> MatchSettings {
        MatchSettings { assignment, ..self }
    }

    /// These settings keeping the `k` best candidates (a recall-first list for an AI pass).
    pub fn with_candidates(self, k: usize) -> Result<MatchSettings, SpecError> {
        if !(1..=super::MAX_CANDIDATES).contains(&k) {
            return Err(SpecError::new(
                "candidates",
                format!("must be an integer from 1 to {}", super::MAX_CANDIDATES),
            ));
        }
        Ok(MatchSettings {
            candidates: k,
            ..self
        })
    }
}

/// How an `exact` field is normalised before the values are compared for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExactNormalize {
    /// Case, accents, whitespace and punctuation folded ([`crate::text::fold()`]).
    Text,
    /// Identifier keys ([`crate::text::normalize_identifier`]): labels, separators, leading
    /// zeros, OCR-confusable characters.
    Identifier,
    /// The ISO 4217 currency named by a code, symbol or name (`US dollars` == `USD`,
    /// `€` == `EUR`); values that name no currency are compared as text.
    Currency,
    /// Byte-equal after trimming surrounding whitespace.
    None,
}

impl ExactNormalize {
    fn name(self) -> &'static str {
        match self {
            ExactNormalize::Text => "text",
            ExactNormalize::Identifier => "identifier",
            ExactNormalize::Currency => "currency",
            ExactNormalize::None => "none",
        }
    }
}

/// What a `fuzzy` field holds, which decides the normaliser and the similarity function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuzzyKind {
    /// Any text: [`crate::similarity::text_similarity`] of the folded values.
    Text,
    /// Organisation or person names: [`crate::similarity::org_name_similarity`] (legal forms,
    /// `&`/`and`, accents, business abbreviations).
    Name,
    /// Invoice, order or account numbers: [`crate::similarity::identifier_similarity`]
    /// (graded, with sequential-number hard negatives).
    Identifier,
    /// Short free text whose *beginning* identifies it and whose end varies or is cut off
    /// (payment memos, references, descriptions truncated by a system):
    /// [`crate::similarity::short_text_similarity`] of the folded values — mostly the shared
    /// prefix, partly the shared words; unrelated texts score near 0. With a date and an amount
    /// field, the joint date-and-amount scan also ranks its rows by the shared prefix.
    ShortText,
}

impl FuzzyKind {
    fn name(self) -> &'static str {
        match self {
            FuzzyKind::Text => "text",
            FuzzyKind::Name => "name",
            FuzzyKind::Identifier => "identifier",
            FuzzyKind::ShortText => "short_text",
        }
    }
}

/// The parsed form of a mapping's `strategy` and `params`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// `exact`, param `normalize` (default `text`): 1.0 when equal after normalising, else 0.0.
    Exact {
        /// The normaliser.
        normalize: ExactNormalize,
    },
    /// `fuzzy`, params `kind` (default `text`) and `min_score` (scores below it count 0).
    Fuzzy {
        /// What the field holds.
        kind: FuzzyKind,
        /// Scores below this count as 0; `None` keeps every grade.
        min_score: Option<f64>,
    },
    /// `date_range`: params `days` (default 0), or `min_days` and `max_days`, and `order`
    /// (`dmy` / `mdy`).
    ///
    /// With `d` = document date − reference date in days (under the closest pair of readings
    /// of ambiguous dates), the accepted window is `min_days ≤ d ≤ max_days`; `days: n` is the
    /// symmetric window `−n..=n`. Inside the window the score is 1.0 at the *best* difference
    /// `b` (0 when the window holds it, else the bound nearest 0) and falls linearly with
    /// `|d − b|`, reaching `1 / (span + 1)` at the far bound (`span` the largest `|bound − b|`);
    /// outside it is 0. So `days: 7` scores 1.0 on the same day and `1/8` seven days apart, and
    /// `min_days: 1, max_days: 21` (a document dated 1–21 days *after* its reference, such as a
    /// payment received after it was sent) scores 1.0 one day after, 0.95 two days after and 0
    /// on the same day or before.
    DateRange {
        /// The widest `|bound|` of the window, in days (`days` when symmetric).
        days: u32,
        /// A forced reading of ambiguous numeric dates; `None` keeps both readings.
        order: Option<DateOrder>,
        /// The smallest accepted document date − reference date, in days (`−days` when
        /// symmetric).
        min_days: i32,
        /// The largest accepted document date − reference date, in days (`days` when
        /// symmetric).
        max_days: i32,
    },
    /// `numeric_range`, params `tolerance_pct` or `tolerance_abs` (neither: the exact value).
    NumericRange {
        /// The tolerance; `None` accepts the same value only.
        tolerance: Option<Tolerance>,
    },
}

impl Strategy {
    /// The wire name of the strategy.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Exact { .. } => "exact",
            Strategy::Fuzzy { .. } => "fuzzy",
            Strategy::DateRange { .. } => "date_range",
            Strategy::NumericRange { .. } => "numeric_range",
        }
    }

    /// A canonical text of the strategy and every parameter (defaults written out).
    fn canonical(&self) -> String {
        match self {
            Strategy::Exact { normalize } => format!("exact(normalize={})", normalize.name()),
            Strategy::Fuzzy { kind, min_score } => match min_score {
                Some(min) => format!("fuzzy(kind={},min_score={min})", kind.name()),
                None => format!("fuzzy(kind={})", kind.name()),
            },
            Strategy::DateRange {
                days,
                order,
                min_days,
                max_days,
            } => {
                let order = match order {
                    Some(DateOrder::DayFirst) => "dmy",
                    Some(DateOrder::MonthFirst) => "mdy",
                    None => "either",
                };
                let symmetric = i64::from(*min_days) == -i64::from(*days)
                    && i64::from(*max_days) == i64::from(*days);
                if symmetric {
                    // The key of a symmetric window is what it always was.
                    format!("date_range(days={days},order={order})")
                } else {
                    format!("date_range(min_days={min_days},max_days={max_days},order={order})")
                }
            }
            Strategy::NumericRange { tolerance } => match tolerance {
                Some(Tolerance::Percent(p)) => format!("numeric_range(tolerance_pct={p})"),
                Some(Tolerance::Absolute(a)) => format!("numeric_range(tolerance_abs={a})"),
                None => "numeric_range(exact)".to_owned(),
            },
        }
    }
}

/// One validated field mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRule {
    /// The document field name.
    pub source: String,
    /// The reference dataset column name.
    pub target: String,
    /// The parsed strategy.
    pub strategy: Strategy,
    /// The weight as configured (finite, > 0; 1 when not given).
    pub weight: f64,
    /// The comparison levels (defaults of the strategy, or `params.levels`).
    pub levels: ComparisonLevels,
}

impl FieldRule {
    /// Which frequency of the reference value adjusts the weight of `level` (see
    /// [`super::model`]): the first level when it is exact agreement, by how many rows hold the
    /// value; the other levels of a `fuzzy` `identifier` field but the last, by how many numbers
    /// lie within one edit; none otherwise.
    pub fn frequency_kind(&self, level: usize) -> Option<FrequencyKind> {
        let levels = self.levels.levels();
        let last = levels.len().checked_sub(1)?;
        if level == 0 && levels.first().is_some_and(|l| l.min_score >= 1.0) {
            return Some(FrequencyKind::Value);
        }
        let identifier = matches!(
            self.strategy,
            Strategy::Fuzzy {
                kind: FuzzyKind::Identifier,
                ..
            }
        );
        (identifier && level < last).then_some(FrequencyKind::Neighbourhood)
    }
}

/// A validated, compiled matching configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchSpec {
    fields: Vec<FieldRule>,
    /// The weights scaled so that the largest is 1 (same ratios, no overflow when summed).
    scaled_weights: Vec<f64>,
    /// What each field's evidence counts for when candidates are proposed (largest 1): the scaled
    /// weights, or with a trained model how well each field tells a match from the other
    /// candidates ([`proposal_weights`]).
    proposal_weights: ProposalWeights,
    settings: MatchSettings,
    index_key: String,
    model_key: String,
    /// The probabilistic model (trained, or [`MatchModel::untrained`]) and its compiled weights.
    model: Arc<(MatchModel, ModelWeights)>,
}

impl MatchSpec {
    /// Validates and compiles the mappings. `columns` are the reference dataset's column names.
    ///
    /// Errors (the first one found, mapping by mapping, each checked in the order below):
    /// `field_mappings` — not between 1 and 32 mappings; `field_mappings[i].source` — empty;
    /// `field_mappings[i].target` — not a column (the message lists the known ones);
    /// `field_mappings[i].strategy` — unknown; `field_mappings[i].params.<name>` — an unknown
    /// parameter or a bad value; `field_mappings[i].weight` — not finite and > 0.
    pub fn compile(
        mappings: &[FieldMapping],
        settings: MatchSettings,
        columns: &[&str],
    ) -> Result<MatchSpec, SpecError> {
        if mappings.is_empty() || mappings.len() > MAX_FIELD_MAPPINGS {
            return Err(SpecError::new(
                "field_mappings",
                format!(
                    "must hold between 1 and {MAX_FIELD_MAPPINGS} mappings (got {})",
                    mappings.len()
                ),
            ));
        }
        let mut fields = Vec::with_capacity(mappings.len());
        for (i, mapping) in mappings.iter().enumerate() {
            fields.push(compile_one(i, mapping, columns)?);
        }
        let max_weight = fields.iter().map(|f| f.weight).fold(0.0f64, f64::max);
        let scaled_weights: Vec<f64> = fields
            .iter()
            .map(|f| {
                let w = f.weight / max_weight;
                if w.is_finite() && w > 0.0 {
                    w
                } else {
                    f64::MIN_POSITIVE
                }
            })
            .collect();
        let index_key = index_key_of(&fields);
        let model_key = model_key_of(&index_key, &fields);
        let model = MatchModel::untrained_for(&model_key, &fields);
        let weights = ModelWeights::new(&model);
        Ok(MatchSpec {
            fields,
            proposal_weights: ProposalWeights {
                weights: scaled_weights.clone(),
                learned: false,
            },
            scaled_weights,
            settings,
            index_key,
            model_key,
            model: Arc::new((model, weights)),
        })
    }

    /// The same spec scoring with `model` (probabilistic mode). The model must have been made
    /// for this spec ([`MatchModel::fits`]); otherwise the error names `model`.
    pub fn with_model(&self, model: MatchModel) -> Result<MatchSpec, SpecError> {
        if !model.fits(self) {
            return Err(SpecError::new(
                "model",
                "the model was trained for other field mappings or levels; train it again",
            ));
        }
        let weights = ModelWeights::new(&model);
        let proposal_weights = proposal_weights(self.settings, &model, &self.scaled_weights);
        Ok(MatchSpec {
            model: Arc::new((model, weights)),
            proposal_weights,
            ..self.clone()
        })
    }

    /// The probabilistic model the spec scores with ([`MatchModel::untrained`] until one is
    /// given with [`Self::with_model`]).
    pub fn model(&self) -> &MatchModel {
        &self.model.0
    }

    pub(crate) fn weights(&self) -> &ModelWeights {
        &self.model.1
    }

    /// A canonical string of what a [`MatchModel`] depends on: the index key, the sources and
    /// every field's levels (with fixed m and u).
    pub fn model_key(&self) -> String {
        self.model_key.clone()
    }

    /// The validated field rules, in mapping order.
    pub fn fields(&self) -> &[FieldRule] {
        &self.fields
    }

    /// The decision settings.
    pub fn settings(&self) -> MatchSettings {
        self.settings
    }

    /// The same spec with other decision settings (the index key does not change).
    pub fn with_settings(&self, settings: MatchSettings) -> MatchSpec {
        MatchSpec {
            settings,
            proposal_weights: proposal_weights(settings, self.model(), &self.scaled_weights),
            ..self.clone()
        }
    }

    /// A canonical string of what a [`super::ReferenceIndex`] depends on: the targets, the
    /// strategies and all their parameters, in mapping order — not the sources, the weights nor
    /// the settings. Two specs with the same key can share one index.
    pub fn index_key(&self) -> String {
        self.index_key.clone()
    }

    pub(crate) fn index_key_ref(&self) -> &str {
        &self.index_key
    }

    /// Weights relative to the largest (which is 1).
    pub(crate) fn scaled_weights(&self) -> &[f64] {
        &self.scaled_weights
    }

    /// Per field, what its evidence counts for when candidates are proposed.
    pub(crate) fn proposal_weights(&self) -> &ProposalWeights {
        &self.proposal_weights
    }
}

/// Per field, what its evidence counts for when candidates are proposed (the largest is 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProposalWeights {
    /// In mapping order.
    pub(crate) weights: Vec<f64>,
    /// Whether they were learned from a trained model rather than taken from the config.
    pub(crate) learned: bool,
}

/// The proposal weights: in weighted mode `fallback` (the config's scaled weights); in
/// probabilistic mode, what a trained model gives: per field, how many bits it separates a
/// document's match from its other candidates on average — the Jeffreys divergence
/// `Σ (m − u_candidates) · log2(m / u_candidates)` over its levels — relative to the field that
/// separates most. A field on which all of a document's candidates agree (the date of a bank
/// transaction, whose window every candidate shares) proposes with little weight; one that tells
/// them apart (its memo) with the most. An untrained model (built-in priors), or one where no
/// field separates anything, gives `fallback`.
fn proposal_weights(
    settings: MatchSettings,
    model: &MatchModel,
    fallback: &[f64],
) -> ProposalWeights {
    let configured = || ProposalWeights {
        weights: fallback.to_vec(),
        learned: false,
    };
    if settings.scoring == ScoringMode::Weighted
        || model.training.method != "em"
        || model.fields.len() != fallback.len()
    {
        return configured();
    }
    let divergences: Vec<f64> = model
        .fields
        .iter()
        .map(|field| {
            field
                .levels
                .iter()
                .map(|l| (l.m - l.u_candidates) * l.candidate_weight)
                .sum::<f64>()
        })
        .collect();
    let widest = divergences.iter().copied().fold(0.0f64, f64::max);
    if !(widest.is_finite() && widest > 0.0) {
        return configured();
    }
    let weights = divergences
        .iter()
        .map(|&d| {
            let w = d / widest;
            if w.is_finite() && w > 0.0 {
                w
            } else {
                f64::MIN_POSITIVE
            }
        })
        .collect();
    ProposalWeights {
        weights,
        learned: true,
    }
}

fn model_key_of(index_key: &str, fields: &[FieldRule]) -> String {
    let mut key = format!("concord-model-v1|{index_key}");
    for field in fields {
        key.push('|');
        key.push_str(
            &serde_json::to_string(&field.source).unwrap_or_else(|_| field.source.clone()),
        );
        key.push(':');
        key.push_str(&field.levels.canonical());
    }
    key
}

fn index_key_of(fields: &[FieldRule]) -> String {
    let mut key = String::from("concord-match-v1");
    for field in fields {
        key.push('|');
        // A JSON string is an unambiguous quoting of any column name.
        key.push_str(
            &serde_json::to_string(&field.target).unwrap_or_else(|_| field.target.clone()),
        );
        key.push(':');
        key.push_str(&field.strategy.canonical());
    }
    key
}

fn compile_one(i: usize, m: &FieldMapping, columns: &[&str]) -> Result<FieldRule, SpecError> {
    let at = |name: &str| format!("field_mappings[{i}].{name}");
    if m.source.trim().is_empty() {
        return Err(SpecError::new(at("source"), "must not be empty"));
    }
    if !columns.contains(&m.target.as_str()) {
        let known = if columns.is_empty() {
            "the reference dataset has no columns".to_owned()
        } else {
            format!("known columns: {}", columns.join(", "))
        };
        return Err(SpecError::new(
            at("target"),
            format!(
                "unknown column {}; {known}",
                serde_json::to_string(&m.target).unwrap_or_default()
            ),
        ));
    }
    let strategy = match m.strategy.as_str() {
        "exact" => exact_params(i, &m.params)?,
        "fuzzy" => fuzzy_params(i, &m.params)?,
        "date_range" => date_params(i, &m.params)?,
        "numeric_range" => numeric_params(i, &m.params)?,
        other => {
            return Err(SpecError::new(
                at("strategy"),
                format!(
                    "unknown strategy {}; expected one of exact, fuzzy, date_range, numeric_range",
                    serde_json::to_string(other).unwrap_or_default()
                ),
            ))
        }
    };
    let weight = m.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(SpecError::new(
            at("weight"),
            "must be a finite number greater than 0",
        ));
    }
    let levels = match m.params.get("levels") {
        Some(value) => ComparisonLevels::parse(i, value, &strategy)?,
        None => ComparisonLevels::default_for(&strategy),
    };
    Ok(FieldRule {
        source: m.source.clone(),
        target: m.target.clone(),
        strategy,
        weight,
        levels,
    })
}

/// The parameters of one mapping, checked against the names its strategy allows.
struct Params<'a> {
    i: usize,
    map: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    fn new(
        i: usize,
        map: &'a Map<String, Value>,
        strategy: &str,
        allowed: &[&str],
    ) -> Result<Self, SpecError> {
        // serde_json's Map is ordered by key (BTreeMap), so "first" is deterministic.
        if let Some(name) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(SpecError::new(
                format!("field_mappings[{i}].params.{name}"),
                format!(
                    "unknown parameter for strategy {strategy}; allowed: {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Params { i, map })
    }

    fn path(&self, name: &str) -> String {
        format!("field_mappings[{}].params.{name}", self.i)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    /// One of `choices` (a string), or `None` when absent.
    fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, SpecError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        value
            .as_str()
            .and_then(|s| choices.iter().copied().find(|c| *c == s))
            .map(Some)
            .ok_or_else(|| {
                SpecError::new(
                    self.path(name),
                    format!("must be one of {}", choices.join(", ")),
                )
            })
    }

    /// A finite number in `[lo, hi]`, or `None` when absent.
    fn number(
        &self,
        name: &str,
        lo: f64,
        hi: f64,
        message: &str,
    ) -> Result<Option<f64>, SpecError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.as_f64() {
            Some(x) if x.is_finite() && x >= lo && x <= hi => Ok(Some(x)),
            _ => Err(SpecError::new(self.path(name), message)),
        }
    }
}

fn exact_params(i: usize, map: &Map<String, Value>) -> Result<Strategy, SpecError> {
    let p = Params::new(i, map, "exact", &["normalize", "levels"])?;
    let normalize = match p.choice("normalize", &["text", "identifier", "currency", "none"])? {
        Some("identifier") => ExactNormalize::Identifier,
        Some("currency") => ExactNormalize::Currency,
        Some("none") => ExactNormalize::None,
        _ => ExactNormalize::Text,
    };
    Ok(Strategy::Exact { normalize })
}

fn fuzzy_params(i: usize, map: &Map<String, Value>) -> Result<Strategy, SpecError> {
    let p = Params::new(i, map, "fuzzy", &["kind", "min_score", "levels"])?;
    let kind = match p.choice("kind", &["text", "name", "identifier", "short_text"])? {
        Some("name") => FuzzyKind::Name,
        Some("identifier") => FuzzyKind::Identifier,
        Some("short_text") => FuzzyKind::ShortText,
        _ => FuzzyKind::Text,
    };
    let min_score = p.number("min_score", 0.0, 1.0, "must be a number between 0 and 1")?;
    Ok(Strategy::Fuzzy { kind, min_score })
}

fn date_params(i: usize, map: &Map<String, Value>) -> Result<Strategy, SpecError> {
    let p = Params::new(
        i,
        map,
        "date_range",
        &["days", "levels", "max_days", "min_days", "order"],
    )?;
    let days = match p.get("days") {
        None => 0,
        Some(value) => whole_days(value).ok_or_else(|| {
            SpecError::new(
                p.path("days"),
                format!("must be a whole number of days between 0 and {MAX_DATE_WINDOW_DAYS}"),
            )
        })?,
    };
    let signed = |name: &str| -> Result<Option<i32>, SpecError> {
        match p.get(name) {
            None => Ok(None),
            Some(value) => signed_days(value).map(Some).ok_or_else(|| {
                SpecError::new(
                    p.path(name),
                    format!(
                        "must be a whole number of days between -{MAX_DATE_WINDOW_DAYS} and \
                         {MAX_DATE_WINDOW_DAYS} (document date minus reference date)"
                    ),
                )
            }),
        }
    };
    let (min, max) = (signed("min_days")?, signed("max_days")?);
    let (days, min_days, max_days) = match (min, max) {
        (None, None) => {
            let d = i32::try_from(days).unwrap_or(i32::MAX);
            (days, -d, d)
        }
        (Some(_), Some(_)) if p.get("days").is_some() => {
            return Err(SpecError::new(
                p.path("days"),
                "give either days or min_days and max_days, not both",
            ))
        }
        (Some(min), Some(max)) if min > max => {
            return Err(SpecError::new(
                p.path("max_days"),
                format!("must be at least min_days ({min})"),
            ))
        }
        (Some(min), Some(max)) => (min.unsigned_abs().max(max.unsigned_abs()), min, max),
        (None, Some(_)) => {
            return Err(SpecError::new(p.path("min_days"), "required with max_days"))
        }
        (Some(_), None) => {
            return Err(SpecError::new(p.path("max_days"), "required with min_days"))
        }
    };
    let order = match p.choice("order", &["dmy", "mdy"])? {
        Some("dmy") => Some(DateOrder::DayFirst),
        Some("mdy") => Some(DateOrder::MonthFirst),
        _ => None,
    };
    Ok(Strategy::DateRange {
        days,
        order,
        min_days,
        max_days,
    })
}

/// A JSON number that is a whole number of days in `−MAX..=MAX` (`-3`, `7` or `7.0`).
fn signed_days(value: &Value) -> Option<i32> {
    let days = match value.as_i64() {
        Some(n) => n,
        None => {
            let x = value.as_f64()?;
            if !(x.is_finite() && x.fract() == 0.0 && x.abs() <= f64::from(MAX_DATE_WINDOW_DAYS)) {
                return None;
            }
            saturating_i64(x) // exact: whole and in range
        }
    };
    let max = i64::from(MAX_DATE_WINDOW_DAYS);
    (-max..=max)
        .contains(&days)
        .then(|| i32::try_from(days).ok())
        .flatten()
}

/// A JSON number that is a whole number of days in range (`7` or `7.0`).
fn whole_days(value: &Value) -> Option<u32> {
    let days = match value.as_u64() {
        Some(n) => n,
        None => {
            let x = value.as_f64()?;
            if !(x.is_finite()
                && x >= 0.0
                && x.fract() == 0.0
                && x <= f64::from(MAX_DATE_WINDOW_DAYS))
            {
                return None;
            }
            saturating_u64(x) // exact: whole and in range
        }
    };
    u32::try_from(days)
        .ok()
        .filter(|d| *d <= MAX_DATE_WINDOW_DAYS)
}

fn numeric_params(i: usize, map: &Map<String, Value>) -> Result<Strategy, SpecError> {
    let p = Params::new(
        i,
        map,
        "numeric_range",
        &["levels", "tolerance_abs", "tolerance_pct"],
    )?;
    let pct = p.number(
        "tolerance_pct",
        0.0,
        100.0,
        "must be a percentage between 0 and 100",
    )?;
    let abs = p.number(
        "tolerance_abs",
        0.0,
        f64::MAX,
        "must be a finite number of at least 0",
    )?;
    let tolerance = match (pct, abs) {
        (Some(_), Some(_)) => {
            return Err(SpecError::new(
                p.path("tolerance_abs"),
                "give either tolerance_pct or tolerance_abs, not both",
            ))
        }
        (Some(pct), None) => (pct > 0.0).then_some(Tolerance::Percent(pct)),
        (None, Some(abs)) => (abs > 0.0).then_some(Tolerance::Absolute(abs)),
        (None, None) => None,
    };
    Ok(Strategy::NumericRange { tolerance })
}
