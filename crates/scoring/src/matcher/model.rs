//! The probabilistic (Fellegi–Sunter) decision model: what each comparison level of each field
//! is worth, and how the worth of a pair's fields turns into a confidence.
//!
//! # Specification
//!
//! For field `f` and level `l` (see [`super::levels`]), `m = P(l | match)`, and two kinds of
//! non-match:
//!
//! * `u = P(l | random non-match)`: a document against a random reference row — the classic
//!   Fellegi–Sunter u. A field's **weight** at level `l` is `log2(m / u)` bits, and a pair's
//!   **match weight** `W = Σ_f weight_f`. It ranks a document's candidates, and is what the
//!   evidence shows per field.
//! * `u_candidates = P(l | a candidate that is not the match)`: among the rows the index
//!   proposes for a document, which already share something with it (the vendor, a date, an
//!   amount). The **candidate weight** `log2(m / u_candidates)`, summed into `C`, answers a
//!   different question: is the match among these rows at all, or are they all just the
//!   neighbours the index finds for any document? Against random rows, a sibling invoice of
//!   the same vendor, date and purchase order looks like a match; against the candidates it
//!   does not.
//!
//! A value missing on either side weighs 0 in both.
//!
//! **Term frequencies.** Some levels' weights depend on the reference value `v` of the pair:
//! `u · freq(v) / ū` replaces `u` (likewise `u_candidates` with its own `ū`), where `ū` is the
//! mean `freq` over the level's non-matches — so the level's average worth is unchanged, but a
//! frequent value is worth less and a rare one more. Which levels and which frequency
//! ([`super::FieldRule::frequency_kind`]):
//!
//! * the first level, when it is exact agreement (`min_score` 1): `freq(v)` is how many
//!   reference rows hold `v` (identifiers: share its digits) — agreeing on a vendor with 500
//!   ledger rows is worth less than on one with 2;
//! * the other levels of a `fuzzy` `identifier` field but the last: `freq(v)` is how many
//!   distinct reference numbers lie within one edit of `v` — being one digit off a number of a
//!   dense sequence (`INV-001383` / `INV-001384`) is what a neighbouring invoice looks like, and
//!   is worth less than being one character off a number with no neighbours.
//!
//! The adjusted u stays in `[`[`PROB_FLOOR`]`, 1]`.
//!
//! **The anchor.** Fields are not independent among non-matches: another invoice of the same
//! vendor shares its currency, often its purchase order, and its invoice numbers differ from
//! the document's in a few digits, not in format. Summing the fields' weights as if they were
//! independent counts the vendor's agreement again in each of them, and a sibling invoice of
//! the same vendor and purchase order gains some 20 bits it has not earned. Training may
//! therefore pick one field, the **anchor** (see [`super::train`]), and give every other field a
//! second u: its levels' probabilities among non-matches **given that the anchor agrees** (is
//! at one of its leading levels that weigh for a match — exact, or a typo away for a vendor's
//! name; m is the same in both, `m_a = m`), `u_a` counted among the candidate non-matches whose anchor agrees (the
//! anchor's other rows; random pairs agree on it too rarely to count). A pair whose anchor
//! agrees takes the other fields' candidate weights from those tables, `log2(m_a / u_a)`, and
//! their match weights moved by as much: `weight + (log2(m_a / u_a) − candidate_weight)` (the
//! anchor changes a level's odds by the ratio measured among candidates) — so the currency of
//! the vendor's every invoice weighs nothing and a shared purchase order weighs what it says
//! beyond the vendor. Term frequencies apply as in the first table. Any other pair (the anchor
//! differs or is missing) takes the first table, its u estimated on such pairs. The anchor's own
//! weight is unchanged. In the evidence, each field shows the weights it was given, so the
//! fields still add up to `W` and `C`.
//!
//! **Confidence.** λ is the probability that a document's match is among the `n` rows the index
//! proposes for it (the rows compared in full), each of them a priori equally likely. A
//! document has at most one match, so:
//!
//! ```text
//! P(none)        = (1 − λ) / ((1 − λ) + (λ / n) Σ_k 2^{C_k})
//! P(j | some)    = 2^{W_j} / Σ_k 2^{W_k}
//! confidence_j   = (1 − P(none)) · P(j | some)
//! ```
//!
//! (`k` over the document's ranked candidates): the probability that `j`, and not another
//! candidate nor none, is the document's match. Two rows that both fit perfectly share the
//! probability (each at most ½), which is what an ambiguous document is.
//!
//! Every weight is clamped to `±`[`MAX_FIELD_BITS`] and every probability to
//! `[`[`PROB_FLOOR`]`, 1 − `[`PROB_FLOOR`]`]`: no input makes a weight infinite or NaN.

use serde::{Deserialize, Serialize};

use super::levels::LevelCondition;
use super::spec::{FieldRule, MatchSpec};
use crate::num::count_f64;

/// The smallest probability a model holds (and `1 −` it the largest).
pub const PROB_FLOOR: f64 = 1e-6;
/// A field contributes at most this many bits either way.
pub const MAX_FIELD_BITS: f64 = 24.0;

/// A trained (or default) model for one [`MatchSpec`]: per field and level m, u, u among
/// candidates and the weights; the prior λ; how it was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchModel {
    /// [`MatchSpec::model_key`] of the spec it is for: another spec's model does not apply.
    pub model_key: String,
    /// One per field mapping, in mapping order.
    pub fields: Vec<FieldModel>,
    /// λ: the probability that a document's match is among its candidates (the prior).
    pub lambda: f64,
    /// How the model was estimated.
    pub training: TrainingReport,
    /// The field the others are conditioned on, when training found one (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
}

/// The anchor of a model: which field, and how much it explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// Its position among the field mappings.
    pub field: usize,
    /// Its document field.
    pub source: String,
    /// The anchor agrees at its first `levels` levels: those that weigh for a match (m above u
    /// among candidates) — exact, and for a name a typo away.
    pub levels: usize,
    /// How many bits the training non-matches' levels gain in log-likelihood when the other
    /// fields are conditioned on it (after the penalty for the parameters it adds).
    pub gain_bits: f64,
}

/// m, u and weights per level of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldModel {
    /// The document field.
    pub source: String,
    /// The reference column.
    pub target: String,
    /// Best first, as the field's comparison levels.
    pub levels: Vec<LevelModel>,
}

/// One level's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelModel {
    /// The level's name.
    pub name: String,
    /// Its `min_score`.
    pub min_score: f64,
    /// Its condition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<LevelCondition>,
    /// P(level | match).
    pub m: f64,
    /// P(level | random non-match).
    pub u: f64,
    /// P(level | a candidate that is not the match).
    pub u_candidates: f64,
    /// `log2(m / u)`, clamped to ±[`MAX_FIELD_BITS`]: the match weight of the level.
    pub weight: f64,
    /// `log2(m / u_candidates)`, likewise clamped.
    pub candidate_weight: f64,
    /// Whether m was fixed by the config rather than trained.
    pub m_fixed: bool,
    /// Whether u was fixed by the config rather than trained (then `u_candidates` = `u`).
    pub u_fixed: bool,
    /// The expected number of training candidate pairs at this level that are matches / not.
    pub matches: f64,
    /// See `matches`.
    pub non_matches: f64,
    /// How many random pairs fell into this level.
    pub random_pairs: usize,
    /// The term-frequency adjustment of this level, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_frequency: Option<TermFrequency>,
    /// This level given that the model's anchor agrees exactly (fields other than the anchor,
    /// when there is one); `m`, `u` and the weights above are then for pairs whose anchor does
    /// not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_anchor_agrees: Option<AnchoredLevel>,
}

/// A level's parameters among pairs whose anchor agrees (its m is the level's own: a match's noise
/// does not depend on the anchor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchoredLevel {
    /// P(level | non-match, anchor agrees), counted among candidates.
    pub u: f64,
    /// The level's match weight given the anchor: its weight moved by the change of its
    /// candidate weight.
    pub weight: f64,
    /// `log2(m / u)`, clamped: the level's candidate weight given the anchor.
    pub candidate_weight: f64,
    /// The expected number of training pairs at this level with the anchor agreeing that are
    /// matches / not.
    pub matches: f64,
    /// See `matches`.
    pub non_matches: f64,
}

/// Which frequency of a pair's reference value adjusts a level (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyKind {
    /// How many reference rows hold the value.
    Value,
    /// How many distinct reference numbers lie within one edit of it.
    Neighbourhood,
}

/// The term-frequency adjustment of a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermFrequency {
    /// What is counted.
    pub kind: FrequencyKind,
    /// ū: the mean count over the level's random pairs.
    pub mean_frequency: f64,
    /// ū among the level's candidate non-matches.
    pub mean_frequency_candidates: f64,
}

/// How a model was estimated: sample sizes and the convergence of expectation maximisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// `em` (unsupervised, possibly with labels), or `default` (not trained: built-in priors).
    pub method: String,
    /// Documents in the training sample.
    pub documents: usize,
    /// Candidate pairs compared.
    pub pairs: usize,
    /// Random pairs compared (for u).
    pub random_pairs: usize,
    /// Labelled pairs used: approved (matches) and rejected (non-matches).
    pub labelled_matches: usize,
    /// See `labelled_matches`.
    pub labelled_non_matches: usize,
    /// EM iterations run.
    pub iterations: usize,
    /// The iteration cap.
    pub max_iterations: usize,
    /// The largest change of any m or u at the last iteration.
    pub last_change: f64,
    /// The change below which EM stops.
    pub tolerance: f64,
    /// Whether the change fell below the tolerance before the cap.
    pub converged: bool,
    /// The expected share of sampled documents that have their match among their candidates.
    pub documents_with_match: f64,
}

/// Clamps a probability into `[PROB_FLOOR, 1 − PROB_FLOOR]` (NaN to the floor).
pub fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() {
        PROB_FLOOR
    } else {
        p.clamp(PROB_FLOOR, 1.0 - PROB_FLOOR)
    }
}

/// `log2(m / u)` of two probabilities, clamped to ±[`MAX_FIELD_BITS`].
pub fn level_weight(m: f64, u: f64) -> f64 {
    let w = (clamp_probability(m) / clamp_probability(u)).log2();
    if w.is_nan() {
        0.0
    } else {
        w.clamp(-MAX_FIELD_BITS, MAX_FIELD_BITS)
    }
}

impl MatchModel {
    /// The model a probabilistic spec uses before it is trained: per field, m falls by a factor
    /// 4 per level from the best and u rises by the same (the best level of a 5-level field is
    /// worth +8 bits, the worst −8), no term frequencies, λ ½. Honest about being
    /// untrained: `training.method` is `default` and `converged` false.
    pub fn untrained(spec: &MatchSpec) -> MatchModel {
        Self::untrained_for(&spec.model_key(), spec.fields())
    }

    pub(crate) fn untrained_for(model_key: &str, rules: &[FieldRule]) -> MatchModel {
        let fields = rules
            .iter()
            .map(|rule| {
                let n = rule.levels.len();
                // m at level `l` is 4^-l, u the same from the other end (u at `l` is 4^-(n-1-l)).
                let raw_m: Vec<f64> = (0i32..).take(n).map(|l| 0.25f64.powi(l)).collect();
                let raw_u: Vec<f64> = raw_m.iter().rev().copied().collect();
                let (sm, su) = (raw_m.iter().sum::<f64>(), raw_u.iter().sum::<f64>());
                let levels = rule
                    .levels
                    .levels()
                    .iter()
                    .enumerate()
                    .map(|(l, spec)| {
                        let m = spec.m.unwrap_or(raw_m[l] / sm);
                        let u = spec.u.unwrap_or(raw_u[l] / su);
                        LevelModel {
                            name: spec.name.clone(),
                            min_score: spec.min_score,
                            when: spec.when,
                            m,
                            u,
                            u_candidates: u,
                            weight: level_weight(m, u),
                            candidate_weight: level_weight(m, u),
                            m_fixed: spec.m.is_some(),
                            u_fixed: spec.u.is_some(),
                            matches: 0.0,
                            non_matches: 0.0,
                            random_pairs: 0,
                            term_frequency: None,
                            when_anchor_agrees: None,
                        }
                    })
                    .collect();
                FieldModel {
                    source: rule.source.clone(),
                    target: rule.target.clone(),
                    levels,
                }
            })
            .collect();
        MatchModel {
            model_key: model_key.to_owned(),
            fields,
            lambda: 0.5,
            training: TrainingReport {
                method: "default".to_owned(),
                documents: 0,
                pairs: 0,
                random_pairs: 0,
                labelled_matches: 0,
                labelled_non_matches: 0,
                iterations: 0,
                max_iterations: 0,
                last_change: 0.0,
                tolerance: 0.0,
                converged: false,
                documents_with_match: 0.0,
            },
            anchor: None,
        }
    }

    /// Whether this model was made for `spec` (same fields, strategies, parameters and levels).
    pub fn fits(&self, spec: &MatchSpec) -> bool {
        self.model_key == spec.model_key()
            && self.fields.len() == spec.fields().len()
            && self
                .fields
                .iter()
                .zip(spec.fields())
                .all(|(f, r)| f.levels.len() == r.levels.len())
    }
}

/// A model compiled for scoring: per field and level the two weights in bits, their
/// term-frequency terms, and the largest match weight each field can add (for pruning).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelWeights {
    /// Per field and level: `log2(m / u)`, and its term-frequency terms.
    pub rank: Vec<Vec<LevelBits>>,
    /// Per field and level: `log2(m / u_candidates)`, and its term-frequency terms.
    pub exist: Vec<Vec<LevelBits>>,
    /// Per field and level, the candidate weight given that the anchor agrees (the same as
    /// `exist` for the anchor itself), and its term-frequency terms.
    pub anchored: Vec<Vec<LevelBits>>,
    /// The anchor, if the model has one.
    pub anchor: Option<AnchorLevels>,
    /// Per field: the most match weight it can add (its best level in either table, term
    /// frequencies included).
    pub max_bits: Vec<f64>,
    /// λ.
    pub lambda: f64,
}

/// Which pairs an anchor conditions: those whose field `field` is at one of its first `levels`
/// levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnchorLevels {
    pub field: usize,
    pub levels: usize,
}

impl AnchorLevels {
    pub fn of(anchor: &Anchor) -> AnchorLevels {
        AnchorLevels {
            field: anchor.field,
            levels: anchor.levels.max(1),
        }
    }

    /// Whether the anchor agrees at `level` (`None`: missing, which does not).
    pub fn agrees(&self, level: Option<usize>) -> bool {
        level.is_some_and(|l| l < self.levels)
    }
}

/// A field's `(match weight, candidate weight)` at one level, when the pair's anchor does not
/// agree and when it does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FieldWeights {
    pub free: (f64, f64),
    pub anchored: (f64, f64),
}

/// A level's weight, and its term-frequency terms when it has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LevelBits {
    pub bits: f64,
    pub tf: Option<TfTerms>,
}

impl LevelBits {
    fn new(m: f64, u: f64, mean_frequency: Option<f64>) -> LevelBits {
        LevelBits {
            bits: level_weight(m, u),
            tf: mean_frequency
                .filter(|mean| mean.is_finite() && *mean >= 1.0)
                .map(|mean| TfTerms {
                    log2_mean: mean.log2(),
                    log2_u: clamp_probability(u).log2(),
                    log2_m: clamp_probability(m).log2(),
                }),
        }
    }

    /// The weight for a reference value of frequency `2^log2_freq`.
    pub fn at(&self, log2_freq: f64) -> f64 {
        self.tf.map_or(self.bits, |tf| tf.weight(log2_freq))
    }
}

/// The term-frequency terms of a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TfTerms {
    pub log2_mean: f64,
    pub log2_u: f64,
    pub log2_m: f64,
}

impl TfTerms {
    /// The log2 frequencies where [`Self::weight`] bends: where `u'` or the weight reaches a
    /// clamp.
    pub fn kinks(&self) -> [f64; 4] {
        let at_u = |log2_u: f64| log2_u - self.log2_u + self.log2_mean;
        [
            at_u(PROB_FLOOR.log2()),
            at_u(0.0),
            at_u(self.log2_m - MAX_FIELD_BITS),
            at_u(self.log2_m + MAX_FIELD_BITS),
        ]
    }

    /// The weight of a value of frequency `2^log2_freq`: `log2 m − log2 u'` with
    /// `u' = u · freq / ū` kept in `[PROB_FLOOR, 1]`.
    pub fn weight(&self, log2_freq: f64) -> f64 {
        let log2_u = (self.log2_u + log2_freq - self.log2_mean).clamp(PROB_FLOOR.log2(), 0.0);
        let w = self.log2_m - log2_u;
        if w.is_nan() {
            0.0
        } else {
            w.clamp(-MAX_FIELD_BITS, MAX_FIELD_BITS)
        }
    }
}

impl ModelWeights {
    pub fn new(model: &MatchModel) -> ModelWeights {
        let compile = |candidates: bool| -> Vec<Vec<LevelBits>> {
            model
                .fields
                .iter()
                .map(|f| {
                    f.levels
                        .iter()
                        .map(|l| {
                            let tf = l.term_frequency.as_ref();
                            if candidates {
                                LevelBits::new(
                                    l.m,
                                    l.u_candidates,
                                    tf.map(|t| t.mean_frequency_candidates),
                                )
                            } else {
                                LevelBits::new(l.m, l.u, tf.map(|t| t.mean_frequency))
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let rank = compile(false);
        let exist = compile(true);
        let anchor = model.anchor.as_ref().map(AnchorLevels::of);
        let anchored: Vec<Vec<LevelBits>> = model
            .fields
            .iter()
            .zip(&rank)
            .map(|(f, free)| {
                f.levels
                    .iter()
                    .zip(free)
                    .map(|(l, free)| match (&l.when_anchor_agrees, anchor) {
                        (Some(a), Some(_)) => LevelBits::new(
                            l.m,
                            a.u,
                            l.term_frequency
                                .as_ref()
                                .map(|t| t.mean_frequency_candidates),
                        ),
                        _ => *free,
                    })
                    .collect()
            })
            .collect();
        let mut weights = ModelWeights {
            rank,
            exist,
            anchored,
            anchor,
            max_bits: Vec::new(),
            lambda: clamp_probability(model.lambda),
        };
        // A weight is piecewise linear in the log frequency, with its kinks where a clamp
        // starts: its largest value over all frequencies is at one of them or at a count of one.
        weights.max_bits = (0..weights.rank.len())
            .map(|f| {
                let levels = weights.rank.get(f).map_or(0, Vec::len);
                let mut best = 0.0f64;
                for l in 0..levels {
                    let mut points = vec![0.0, 64.0];
                    for table in [&weights.rank, &weights.exist, &weights.anchored] {
                        if let Some(tf) = table.get(f).and_then(|t| t.get(l)).and_then(|b| b.tf) {
                            points.extend(tf.kinks());
                        }
                    }
                    for lf in points.into_iter().filter(|x| x.is_finite() && *x >= 0.0) {
                        for anchored in [false, true] {
                            best = best.max(weights.field_bits(f, l, lf, anchored).0);
                        }
                    }
                }
                best
            })
            .collect();
        weights
    }

    /// The match weight and candidate weight of field `f` at `level`, for a reference value of
    /// frequency `2^log2_freq`, when the pair's anchor agrees (`anchored`) or not.
    pub fn field_bits(&self, f: usize, level: usize, log2_freq: f64, anchored: bool) -> (f64, f64) {
        let bits = self.field_weights(f, level, log2_freq);
        if anchored {
            bits.anchored
        } else {
            bits.free
        }
    }

    /// [`Self::field_bits`] both ways at once, each table read once (the anchored weights are
    /// the free ones without an anchor, and for the anchor itself).
    pub fn field_weights(&self, f: usize, level: usize, log2_freq: f64) -> FieldWeights {
        let get = |table: &Vec<Vec<LevelBits>>| {
            table
                .get(f)
                .and_then(|levels| levels.get(level))
                .map_or(0.0, |l| l.at(log2_freq))
        };
        let free = (get(&self.rank), get(&self.exist));
        let anchored = if self.anchor.is_some_and(|a| a.field != f) {
            let exist = get(&self.anchored);
            (free.0 + exist - free.1, exist)
        } else {
            free
        };
        FieldWeights { free, anchored }
    }

    /// The confidences of a document's ranked candidates, in the same order, from their match
    /// weights `W` and candidate weights `C`, `n` the rows compared in full (see the module
    /// docs).
    pub fn confidences(&self, weights: &[(f64, f64)], n: usize) -> Vec<f64> {
        confidences(weights, n, self.lambda)
    }
}

/// The most evidence a weight can carry, in bits: larger (and `+∞`) weights count as this, so
/// that weights compare and subtract as finite numbers.
pub const MAX_EVIDENCE_BITS: f64 = 1e6;

/// The confidences of a document's candidates from their `(W, C)` (see the module docs), in the
/// same order. Total: NaN weights count as no evidence at all (`−∞`), and `+∞` as
/// [`MAX_EVIDENCE_BITS`].
pub fn confidences(weights: &[(f64, f64)], n: usize, lambda: f64) -> Vec<f64> {
    let clean = |w: f64| {
        if w.is_nan() {
            f64::NEG_INFINITY
        } else {
            w.min(MAX_EVIDENCE_BITS)
        }
    };
    let lambda = clamp_probability(lambda);
    // P(some) = λ/n Σ 2^C / ((1 − λ) + λ/n Σ 2^C), with the largest exponent factored out.
    let log2_prior = lambda.log2() - count_f64(n.max(1)).log2();
    let top_c = weights
        .iter()
        .map(|&(_, c)| clean(c) + log2_prior)
        .fold((1.0 - lambda).log2(), f64::max);
    let some: f64 = weights
        .iter()
        .map(|&(_, c)| (clean(c) + log2_prior - top_c).exp2())
        .sum();
    let none = ((1.0 - lambda).log2() - top_c).exp2();
    let p_some = if some + none > 0.0 {
        some / (some + none)
    } else {
        0.0
    };
    let top_w = weights
        .iter()
        .map(|&(w, _)| clean(w))
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = weights
        .iter()
        .map(|&(w, _)| (clean(w) - top_w).exp2())
        .sum();
    weights
        .iter()
        .map(|&(w, _)| {
            let share = if total > 0.0 && top_w.is_finite() {
                (clean(w) - top_w).exp2() / total
            } else {
                1.0 / count_f64(weights.len().max(1))
            };
            let p = p_some * share;
            clamp_probability(if p.is_finite() { p } else { 0.0 })
        })
        .collect()
}
