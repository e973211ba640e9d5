//! One-to-one assignment across a whole run: when each reference row can be the match of at
//! most one document (a payment received pays one payment sent), near-identical neighbours must
//! not both claim one row.
//!
//! # Specification
//!
//! The input is every document's ranked candidates as the matcher gave them — probabilistic:
//! each row's match weight `W` and candidate weight `C`, and how many rows the document's
//! candidates were drawn from; weighted: each row's confidence.
//!
//! 1. **The most probable assignment.** Each document either takes one of its candidate rows
//!    or none; the assignment maximises `Σ ln p` over the documents, where `p` is the taken
//!    row's confidence as the matcher gave it, or, for none, `1 − Σ` of the document's
//!    confidences (weighted scoring: `1 −` the best confidence). It is found by the auction
//!    algorithm (Bertsekas: documents bid for rows, raising their prices by at least
//!    [`EPSILON`]), so the total is within `n · ε` of the optimum.
//! 2. **Decisions again.** Each document is decided anew over its *available* candidates: those
//!    whose row no other document claimed. Probabilistic: the confidences are recomputed over
//!    the available rows ([`super::model::confidences`]), so a rival that took its row no
//!    longer dilutes a document's confidence; weighted: the confidences as they were. Then
//!    [`super::decide`]: threshold, review floor, ambiguity margin.
//!
//! No row is ever the match of two documents: a Matched document's row is the row it claimed.
//! Total on any input (NaN rank values rank last).

use std::collections::HashMap;

/// The auction's ε (in natural-log units of probability): the assignment's total is within
/// `n · ε` of the optimum.
pub const EPSILON: f64 = 1e-4;
/// The smallest probability the auction's benefits take (`ln` of it bounds them below).
const FLOOR: f64 = 1e-12;

use super::model::{confidences, Calibration};
use super::spec::{MatchSettings, ScoringMode};
use super::{decide, Decision, ScoredCandidate};
use crate::index::RowIdx;

/// One candidate of a document for the assignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankedRow {
    /// The row (any id the caller chooses).
    pub row: u32,
    /// Probabilistic: the match weight `W` in bits; weighted: the confidence.
    pub value: f64,
    /// Probabilistic: the candidate weight `C` in bits (unused under weighted scoring).
    pub candidate_weight: f64,
}

/// One document's candidates for the assignment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentCandidates {
    /// Its ranked candidates, in any order.
    pub rows: Vec<RankedRow>,
    /// How many rows its candidates were drawn from (`n` of [`super::model`]).
    pub considered: usize,
}

/// A document's outcome after the assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// The decision over the available candidates.
    pub decision: Decision,
    /// The matched row; `Some` iff `decision == Matched`.
    pub matched: Option<u32>,
    /// The best available candidate's confidence (0 when none is available).
    pub confidence: f64,
    /// Whether the runner-up among the available candidates is within the margin.
    pub ambiguous: bool,
    /// The available candidates, best first, with their confidences (and weights).
    pub candidates: Vec<ScoredCandidate>,
}

/// The benefits of a document: per candidate row `ln p`, and `ln p(none)`.
fn benefits(
    doc: &DocumentCandidates,
    settings: &MatchSettings,
    lambda: f64,
    calibration: &Calibration,
) -> (Vec<(u32, f64)>, f64) {
    let ps: Vec<f64> = match settings.scoring {
        ScoringMode::Weighted => doc
            .rows
            .iter()
            .map(|r| crate::clamp_score(r.value))
            .collect(),
        ScoringMode::Probabilistic => {
            let weights: Vec<(f64, f64)> = doc
                .rows
                .iter()
                .map(|r| (r.value, r.candidate_weight))
                .collect();
            confidences(
                &weights,
                doc.considered.max(doc.rows.len()),
                lambda,
                calibration,
            )
        }
    };
    let none = match settings.scoring {
        ScoringMode::Weighted => 1.0 - ps.iter().copied().fold(0.0, f64::max),
        ScoringMode::Probabilistic => 1.0 - ps.iter().sum::<f64>(),
    };
    let rows = doc
        .rows
        .iter()
        .zip(ps)
        .map(|(r, p)| (r.row, p.max(FLOOR).ln()))
        .collect();
    (rows, none.max(FLOOR).ln())
}

/// The auction: which document takes which row (rows no document takes are absent).
fn auction(
    documents: &[DocumentCandidates],
    settings: &MatchSettings,
    lambda: f64,
    calibration: &Calibration,
) -> HashMap<u32, usize> {
    let docs: Vec<(Vec<(u32, f64)>, f64)> = documents
        .iter()
        .map(|d| benefits(d, settings, lambda, calibration))
        .collect();
    let mut price: HashMap<u32, f64> = HashMap::new();
    let mut owner: HashMap<u32, usize> = HashMap::new();
    let spread = docs
        .iter()
        .flat_map(|(rows, none)| rows.iter().map(move |&(_, b)| (b - none).abs()))
        .fold(0.0f64, f64::max)
        .min(-FLOOR.ln());
    let mut queue: std::collections::VecDeque<usize> = (0..docs.len()).collect();
    // Each bid raises a price by at least ε and no document bids on a row priced above its
    // spread, so a correct run ends long before this bound; it keeps the loop total.
    let mut budget = docs
        .len()
        .saturating_mul(64)
        .saturating_add((docs.len() as f64 * (spread / EPSILON + 1.0)).min(1e9) as usize);
    while let Some(d) = queue.pop_front() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let Some((rows, none)) = docs.get(d) else {
            continue;
        };
        // The best and second-best net values; none is a private object at price 0.
        let mut best: (f64, Option<u32>) = (*none, None);
        let mut second = f64::NEG_INFINITY;
        for &(row, b) in rows {
            let net = b - price.get(&row).copied().unwrap_or(0.0);
            if net > best.0 {
                second = best.0;
                best = (net, Some(row));
            } else {
                second = second.max(net);
            }
        }
        let (value, Some(row)) = best else {
            continue;
        };
        let bid = value - second.max(value - spread) + EPSILON;
        *price.entry(row).or_insert(0.0) += bid;
        if let Some(previous) = owner.insert(row, d) {
            queue.push_back(previous);
        }
    }
    owner
}

/// Assigns rows one-to-one (see the module docs); the result is aligned with `documents`.
pub fn one_to_one(
    documents: &[DocumentCandidates],
    settings: &MatchSettings,
    lambda: f64,
    calibration: &Calibration,
) -> Vec<Assigned> {
    let clean = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    let claimed = auction(documents, settings, lambda, calibration);
    documents
        .iter()
        .enumerate()
        .map(|(d, doc)| {
            let mut available: Vec<RankedRow> = doc
                .rows
                .iter()
                .copied()
                .filter(|r| claimed.get(&r.row).is_none_or(|&owner| owner == d))
                .collect();
            available.sort_by(|a, b| {
                clean(b.value)
                    .total_cmp(&clean(a.value))
                    .then(a.row.cmp(&b.row))
            });
            available.dedup_by_key(|r| r.row);
            let ranked: Vec<ScoredCandidate> = match settings.scoring {
                ScoringMode::Weighted => available
                    .iter()
                    .map(|r| ScoredCandidate {
                        row: RowIdx(r.row),
                        confidence: crate::clamp_score(r.value),
                        match_weight: None,
                        candidate_weight: None,
                    })
                    .collect(),
                ScoringMode::Probabilistic => {
                    let weights: Vec<(f64, f64)> = available
                        .iter()
                        .map(|r| (r.value, r.candidate_weight))
                        .collect();
                    let n = doc.considered.max(available.len());
                    available
                        .iter()
                        .zip(confidences(&weights, n, lambda, calibration))
                        .map(|(r, p)| ScoredCandidate {
                            row: RowIdx(r.row),
                            confidence: p,
                            match_weight: Some(r.value),
                            candidate_weight: Some(r.candidate_weight),
                        })
                        .collect()
                }
            };
            let (decision, ambiguous) = decide(&ranked, settings);
            // The best available row is the one this document claimed (or no one's).
            let best = ranked.first();
            let matched = match (decision, best) {
                (Decision::Matched, Some(b)) if claimed.get(&b.row.0) == Some(&d) => Some(b.row.0),
                _ => None,
            };
            let decision = if decision == Decision::Matched && matched.is_none() {
                Decision::Review
            } else {
                decision
            };
            Assigned {
                decision,
                matched,
                confidence: best.map_or(0.0, |b| b.confidence),
                ambiguous,
                candidates: ranked,
            }
        })
        .collect()
}
